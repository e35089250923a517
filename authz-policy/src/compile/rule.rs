//! Rules compiled into checks: every value parsed once, nothing parsed per request.

use ipnet::IpNet;

use crate::matcher::{PathTemplate, Presence, StrMatch, glob_matches};
use crate::model::{Condition, Operation, Rule, Source};
use crate::validate::{Key, parse_ip_or_cidr, parse_key, parse_port};

/// One attribute check with its values (ORed).
#[derive(Debug, Clone)]
pub(crate) enum Check {
    /// The mTLS peer identity (without `spiffe://`).
    Principal(Vec<StrMatch>),
    /// `iss` and `sub` of the verified token.
    RequestPrincipal(Vec<(StrMatch, StrMatch)>),
    /// Globs over `spiffe://<principal>`, shaped `*/ns/<value>/*`.
    Namespace(Vec<String>),
    /// `(namespace, service account)`.
    ServiceAccount(Vec<(String, String)>),
    /// Trust-domain matchers over the principal's first segment.
    TrustDomain(Vec<StrMatch>),
    SourceIp(Vec<IpNet>),
    RemoteIp(Vec<IpNet>),
    DestinationIp(Vec<IpNet>),
    /// Lower-cased, matched case-insensitively against `:authority`.
    Host(Vec<StrMatch>),
    Port(Vec<u16>),
    Method(Vec<StrMatch>),
    Path(Vec<PathMatch>),
    /// Lower-cased header name and its values.
    Header(String, Vec<StrMatch>),
    Audience(Vec<StrMatch>),
    Presenter(Vec<StrMatch>),
    Claim(Vec<String>, Vec<StrMatch>),
    Sni(Vec<StrMatch>),
    /// Dynamic metadata never present on a request here: no value matches.
    Never,
}

/// A path value: Istio syntax or a template.
#[derive(Debug, Clone)]
pub(crate) enum PathMatch {
    Str(StrMatch),
    Template(PathTemplate),
}

/// A check, possibly negated (the `not*` fields and `notValues`).
#[derive(Debug, Clone)]
pub(crate) struct Cond {
    pub(crate) check: Check,
    pub(crate) negate: bool,
}

/// All conditions must hold.
pub(crate) type Clause = Vec<Cond>;

/// One rule: any `from` clause, and any `to` clause, and every `when` condition.
#[derive(Debug, Clone, Default)]
pub(crate) struct CompiledRule {
    pub(crate) from: Vec<Clause>,
    pub(crate) to: Vec<Clause>,
    pub(crate) when: Clause,
    /// When every `to` clause pins the first path segment, the hashes of those segments:
    /// a request whose first segment is not among them cannot match, and is turned away
    /// with one comparison.
    pub(crate) path_gate: Option<Box<[u64]>>,
}

/// The first segment of a path: up to (not including) its second `/`.
pub(crate) fn first_segment(path: &str) -> &str {
    match path.get(1..).and_then(|rest| rest.find('/')) {
        Some(i) => &path[..=i],
        None => path,
    }
}

/// FNV-1a of a segment (a filter only: a collision costs a full check, nothing more).
pub(crate) fn segment_hash(segment: &str) -> u64 {
    segment.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The first segment every path matching `m` has, if it is fixed.
fn pinned_segment(m: &PathMatch) -> Option<&str> {
    let literal = match m {
        PathMatch::Str(StrMatch::Exact(v)) => return Some(first_segment(v)),
        PathMatch::Str(StrMatch::Prefix(v)) => &**v,
        PathMatch::Template(t) => t.literal_start()?,
        PathMatch::Str(_) => return None,
    };
    let end = literal.get(1..)?.find('/')? + 1;
    Some(&literal[..end])
}

fn path_gate(to: &[Clause]) -> Option<Box<[u64]>> {
    if to.is_empty() {
        return None;
    }
    let mut hashes = Vec::new();
    for clause in to {
        let paths = clause.iter().find_map(|c| match &c.check {
            Check::Path(values) if !c.negate => Some(values),
            _ => None,
        })?;
        for value in paths {
            hashes.push(segment_hash(pinned_segment(value)?));
        }
    }
    hashes.sort_unstable();
    hashes.dedup();
    Some(hashes.into_boxed_slice())
}

fn strs(values: &[String], presence: Presence) -> Vec<StrMatch> {
    values
        .iter()
        .map(|v| StrMatch::parse(v, presence))
        .collect()
}

fn push(
    out: &mut Clause,
    values: &Option<Vec<String>>,
    negate: bool,
    make: impl Fn(&[String]) -> Check,
) {
    if let Some(v) = values.as_deref().filter(|v| !v.is_empty()) {
        out.push(Cond {
            check: make(v),
            negate,
        });
    }
}

fn principal_check(v: &[String]) -> Check {
    Check::Principal(
        v.iter()
            .map(|p| StrMatch::parse(p.strip_prefix("spiffe://").unwrap_or(p), Presence::NonEmpty))
            .collect(),
    )
}

/// `iss/sub` split at the last `/`, each side with Istio's syntax (see istio/istio
/// `pilot/pkg/security/authz/model/generator.go`, requestPrincipalGenerator).
fn request_principal(value: &str) -> (StrMatch, StrMatch) {
    let exact = |s: &str| StrMatch::Exact(s.into());
    if value == "*" {
        return (StrMatch::NonEmpty, StrMatch::NonEmpty);
    }
    if let Some(rest) = value.strip_prefix('*') {
        return match value.rsplit_once('/') {
            Some((iss, sub)) => {
                let iss = iss.strip_prefix('*').unwrap_or(iss);
                let iss = if iss.is_empty() {
                    StrMatch::NonEmpty
                } else {
                    StrMatch::Suffix(iss.into())
                };
                (iss, exact(sub))
            }
            None => (StrMatch::NonEmpty, StrMatch::Suffix(rest.into())),
        };
    }
    if let Some(rest) = value.strip_suffix('*') {
        return match value.rsplit_once('/') {
            Some((iss, sub)) => {
                let sub = sub.strip_suffix('*').unwrap_or(sub);
                let sub = if sub.is_empty() {
                    StrMatch::NonEmpty
                } else {
                    StrMatch::Prefix(sub.into())
                };
                (exact(iss), sub)
            }
            None => (StrMatch::Prefix(rest.into()), StrMatch::NonEmpty),
        };
    }
    match value.rsplit_once('/') {
        Some((iss, sub)) => (exact(iss), exact(sub)),
        None => (exact(value), exact("")),
    }
}

fn ips(v: &[String]) -> Vec<IpNet> {
    // Validation already rejected anything else.
    v.iter().filter_map(|s| parse_ip_or_cidr(s)).collect()
}

fn service_accounts(v: &[String], policy_namespace: &str) -> Vec<(String, String)> {
    v.iter()
        .map(|s| match s.split_once('/') {
            Some((ns, sa)) => (ns.to_owned(), sa.to_owned()),
            None => (policy_namespace.to_owned(), s.clone()),
        })
        .collect()
}

fn source(s: &Source, policy_namespace: &str) -> Clause {
    let mut out = Clause::new();
    push(&mut out, &s.principals, false, principal_check);
    push(&mut out, &s.not_principals, true, principal_check);
    let rp =
        |v: &[String]| Check::RequestPrincipal(v.iter().map(|p| request_principal(p)).collect());
    push(&mut out, &s.request_principals, false, rp);
    push(&mut out, &s.not_request_principals, true, rp);
    let ns = |v: &[String]| Check::Namespace(v.to_vec());
    push(&mut out, &s.namespaces, false, ns);
    push(&mut out, &s.not_namespaces, true, ns);
    let sa = |v: &[String]| Check::ServiceAccount(service_accounts(v, policy_namespace));
    push(&mut out, &s.service_accounts, false, sa);
    push(&mut out, &s.not_service_accounts, true, sa);
    push(&mut out, &s.ip_blocks, false, |v| Check::SourceIp(ips(v)));
    push(&mut out, &s.not_ip_blocks, true, |v| {
        Check::SourceIp(ips(v))
    });
    push(&mut out, &s.remote_ip_blocks, false, |v| {
        Check::RemoteIp(ips(v))
    });
    push(&mut out, &s.not_remote_ip_blocks, true, |v| {
        Check::RemoteIp(ips(v))
    });
    let td = |v: &[String]| Check::TrustDomain(strs(v, Presence::NonEmpty));
    push(&mut out, &s.trust_domains, false, td);
    push(&mut out, &s.not_trust_domains, true, td);
    out
}

fn paths(v: &[String]) -> Check {
    Check::Path(
        v.iter()
            .map(|p| {
                if PathTemplate::is_template(p) {
                    PathMatch::Template(PathTemplate::parse(p))
                } else {
                    PathMatch::Str(StrMatch::parse(p, Presence::NonEmpty))
                }
            })
            .collect(),
    )
}

fn operation(op: &Operation) -> Clause {
    let mut out = Clause::new();
    let hosts = |v: &[String]| {
        Check::Host(
            v.iter()
                .map(|h| StrMatch::parse_lowercase(h, Presence::Exists))
                .collect(),
        )
    };
    push(&mut out, &op.hosts, false, hosts);
    push(&mut out, &op.not_hosts, true, hosts);
    let ports = |v: &[String]| Check::Port(v.iter().filter_map(|p| parse_port(p)).collect());
    push(&mut out, &op.ports, false, ports);
    push(&mut out, &op.not_ports, true, ports);
    let methods = |v: &[String]| Check::Method(strs(v, Presence::Exists));
    push(&mut out, &op.methods, false, methods);
    push(&mut out, &op.not_methods, true, methods);
    push(&mut out, &op.paths, false, paths);
    push(&mut out, &op.not_paths, true, paths);
    out
}

fn condition(c: &Condition, policy_namespace: &str, out: &mut Clause) {
    // Validation already parsed the key.
    let Ok(key) = parse_key(&c.key) else { return };
    let make = |v: &[String]| match &key {
        Key::Header(name) => Check::Header(name.clone(), strs(v, Presence::Exists)),
        Key::SourceIp => Check::SourceIp(ips(v)),
        Key::RemoteIp => Check::RemoteIp(ips(v)),
        Key::DestinationIp => Check::DestinationIp(ips(v)),
        Key::SourceNamespace => Check::Namespace(v.to_vec()),
        Key::SourcePrincipal => principal_check(v),
        Key::SourceServiceAccount => Check::ServiceAccount(service_accounts(v, policy_namespace)),
        Key::SourceTrustDomain => Check::TrustDomain(strs(v, Presence::NonEmpty)),
        Key::RequestPrincipal => {
            Check::RequestPrincipal(v.iter().map(|p| request_principal(p)).collect())
        }
        Key::Audiences => Check::Audience(strs(v, Presence::NonEmpty)),
        Key::Presenter => Check::Presenter(strs(v, Presence::NonEmpty)),
        Key::Claims(path) => Check::Claim(path.clone(), strs(v, Presence::NonEmpty)),
        Key::DestinationPort => Check::Port(v.iter().filter_map(|p| parse_port(p)).collect()),
        Key::Sni => Check::Sni(strs(v, Presence::NonEmpty)),
        Key::Metadata => Check::Never,
    };
    push(out, &c.values, false, make);
    push(out, &c.not_values, true, make);
}

/// A rough cost of a check, so that conditions ANDed together are tried cheapest first
/// (the order of an AND does not change its result).
fn cost(check: &Check) -> u8 {
    match check {
        Check::Never | Check::Port(_) => 0,
        Check::Method(_) | Check::SourceIp(_) | Check::RemoteIp(_) | Check::DestinationIp(_) => 1,
        Check::Host(_) | Check::Sni(_) | Check::Principal(_) | Check::TrustDomain(_) => 2,
        Check::Path(_) | Check::RequestPrincipal(_) | Check::Audience(_) | Check::Presenter(_) => 3,
        Check::Header(..) | Check::Claim(..) => 4,
        Check::Namespace(_) | Check::ServiceAccount(_) => 5,
    }
}

fn by_cost(mut clause: Clause) -> Clause {
    clause.sort_by_key(|c| cost(&c.check));
    clause
}

pub(crate) fn compile_rule(rule: &Rule, policy_namespace: &str) -> CompiledRule {
    let mut when = Clause::new();
    for c in rule.when.iter().flatten() {
        condition(c, policy_namespace, &mut when);
    }
    let to: Vec<Clause> = rule
        .to
        .iter()
        .flatten()
        .filter_map(|t| t.operation.as_ref())
        .map(|o| by_cost(operation(o)))
        .collect();
    CompiledRule {
        from: rule
            .from
            .iter()
            .flatten()
            .filter_map(|f| f.source.as_ref())
            .map(|s| by_cost(source(s, policy_namespace)))
            .collect(),
        path_gate: path_gate(&to),
        to,
        when: by_cost(when),
    }
}

/// The service-account regex of Istio, `spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?`, over a
/// principal without its `spiffe://`.
pub(crate) fn service_account_matches(principal: &str, ns: &str, sa: &str) -> bool {
    let marker = format!("/ns/{ns}/");
    let mut from = 0;
    while let Some(i) = principal[from..].find(&marker) {
        let at = from + i;
        if at > 0 {
            let rest = &principal[at + marker.len()..];
            let target = format!("sa/{sa}");
            let mut search = 0;
            while let Some(j) = rest[search..].find(&target) {
                let pos = search + j;
                let before_ok = pos == 0 || (pos >= 2 && rest.as_bytes()[pos - 1] == b'/');
                let after = &rest[pos + target.len()..];
                let after_ok = after.is_empty() || (after.starts_with('/') && after.len() > 1);
                if before_ok && after_ok {
                    return true;
                }
                search = pos + 1;
            }
        }
        from = at + 1;
    }
    false
}

/// `*/ns/<pattern>/*` over `spiffe://<principal>`.
pub(crate) fn namespace_matches(principal: &str, pattern: &str) -> bool {
    let full = format!("spiffe://{principal}");
    glob_matches(&format!("*/ns/{pattern}/*"), &full)
}
