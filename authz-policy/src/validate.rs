//! The checks Istio's validating webhook (and the CRD schema) apply: a policy they reject
//! is an error here too, naming the object and the field.
//!
//! Sources: istio/istio `pkg/config/validation/validation.go` and
//! `pkg/config/security/security.go`; the CRD schema in `manifests/charts/base`.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::Error;
use crate::model::{
    Action, AuthorizationPolicy, Condition, Operation, PolicyTargetReference,
    RequestAuthentication, Source, WorkloadSelector,
};

/// Collects the object name for messages.
pub(crate) struct Ctx {
    pub(crate) object: String,
}

impl Ctx {
    fn err(&self, field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            object: self.object.clone(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// `Kind namespace/name` of an object.
pub(crate) fn object_name(kind: &str, meta: &crate::model::ObjectMeta) -> String {
    format!(
        "{kind} {}/{}",
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or("?")
    )
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn metadata(ctx: &Ctx, meta: &crate::model::ObjectMeta) -> Result<(), Error> {
    match meta.name.as_deref() {
        None => return Err(ctx.err("metadata.name", "is required")),
        Some(name) if !is_dns_subdomain(name) => {
            return Err(ctx.err(
                "metadata.name",
                format!("{name:?} is not a DNS-1123 subdomain"),
            ));
        }
        _ => {}
    }
    if let Some(ns) = meta.namespace.as_deref()
        && !is_dns_label(ns)
    {
        return Err(ctx.err(
            "metadata.namespace",
            format!("{ns:?} is not a DNS-1123 label"),
        ));
    }
    Ok(())
}

/// The `istio.io/dry-run` annotation, parsed as Go's `strconv.ParseBool`.
pub(crate) fn dry_run(meta: &crate::model::ObjectMeta) -> Option<Result<bool, String>> {
    let value = meta.annotations.get("istio.io/dry-run")?;
    Some(match value.as_str() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!("{other:?} is not a boolean")),
    })
}

fn targeting(
    ctx: &Ctx,
    selector: &Option<WorkloadSelector>,
    target_ref: &Option<PolicyTargetReference>,
    target_refs: &Option<Vec<PolicyTargetReference>>,
) -> Result<(), Error> {
    let refs = target_refs.as_ref().is_some_and(|r| !r.is_empty());
    let set = [selector.is_some(), target_ref.is_some(), refs];
    if set.iter().filter(|b| **b).count() > 1 {
        return Err(ctx.err(
            "spec",
            "only one of selector, targetRef or targetRefs may be set",
        ));
    }
    if let Some(labels) = selector.as_ref().and_then(|s| s.match_labels.as_ref()) {
        for (key, value) in labels {
            let field = format!("spec.selector.matchLabels[{key}]");
            if key.is_empty() {
                return Err(ctx.err(field, "a label key is empty"));
            }
            if key.contains('*') || value.contains('*') {
                return Err(ctx.err(field, "wildcards are not allowed in label selectors"));
            }
            if value.len() > 63 {
                return Err(ctx.err(field, "a label value is at most 63 characters"));
            }
        }
    }
    let mut all: Vec<(String, &PolicyTargetReference)> = Vec::new();
    if let Some(r) = target_ref {
        all.push(("spec.targetRef".into(), r));
    }
    for (i, r) in target_refs.iter().flatten().enumerate() {
        all.push((format!("spec.targetRefs[{i}]"), r));
    }
    if all.len() > 16 {
        return Err(ctx.err("spec.targetRefs", "at most 16 target references"));
    }
    for (field, r) in all {
        if r.name.as_deref().is_none_or(str::is_empty) {
            return Err(ctx.err(format!("{field}.name"), "is required"));
        }
        if r.namespace.as_deref().is_some_and(|n| !n.is_empty()) {
            return Err(ctx.err(
                format!("{field}.namespace"),
                "cross-namespace references are not supported",
            ));
        }
        let group = r.group.as_deref().unwrap_or("");
        let kind = r.kind.as_deref().unwrap_or("");
        let allowed = matches!(
            (group, kind),
            ("" | "core", "Service")
                | ("networking.istio.io", "ServiceEntry")
                | ("gateway.networking.k8s.io", "Gateway" | "GatewayClass")
        );
        if !allowed {
            return Err(ctx.err(
                field,
                format!("{group}/{kind} is not a supported target (Service, ServiceEntry, Gateway, GatewayClass)"),
            ));
        }
    }
    Ok(())
}

/// Checks an `AuthorizationPolicy` as Istio's webhook does.
pub(crate) fn authorization_policy(policy: &AuthorizationPolicy) -> Result<(), Error> {
    let ctx = Ctx {
        object: object_name("AuthorizationPolicy", &policy.metadata),
    };
    metadata(&ctx, &policy.metadata)?;
    let spec = &policy.spec;
    let action = spec.action.unwrap_or(Action::ALLOW);
    if let Some(dry) = dry_run(&policy.metadata) {
        if let Err(reason) = dry {
            return Err(ctx.err("metadata.annotations[istio.io/dry-run]", reason));
        }
        if !matches!(action, Action::ALLOW | Action::DENY) {
            return Err(ctx.err(
                "metadata.annotations[istio.io/dry-run]",
                "dry-run is only supported with ALLOW and DENY",
            ));
        }
    }
    targeting(&ctx, &spec.selector, &spec.target_ref, &spec.target_refs)?;
    match action {
        Action::CUSTOM => {
            if spec.rules.is_none() {
                return Err(ctx.err(
                    "spec.rules",
                    "a CUSTOM policy without rules is never triggered; add an empty rule {}",
                ));
            }
            if spec
                .provider
                .as_ref()
                .and_then(|p| p.name.as_deref())
                .is_none_or(str::is_empty)
            {
                return Err(ctx.err("spec.provider.name", "CUSTOM requires a provider name"));
            }
        }
        _ if spec.provider.is_some() => {
            return Err(ctx.err("spec.provider", "a provider is only allowed with CUSTOM"));
        }
        Action::DENY if spec.rules.is_none() => {
            return Err(ctx.err("spec.rules", "a DENY policy without rules is meaningless"));
        }
        _ => {}
    }
    let rules = spec.rules.as_deref().unwrap_or_default();
    if rules.len() > 512 {
        return Err(ctx.err("spec.rules", "at most 512 rules"));
    }
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("spec.rules[{i}]");
        if let Some(from) = &rule.from {
            if from.is_empty() {
                return Err(ctx.err(format!("{at}.from"), "must not be an empty list"));
            }
            for (j, f) in from.iter().enumerate() {
                let field = format!("{at}.from[{j}].source");
                let source = f
                    .source
                    .as_ref()
                    .ok_or_else(|| ctx.err(&field, "is required"))?;
                check_source(&ctx, &field, source, action)?;
            }
        }
        if let Some(to) = &rule.to {
            if to.is_empty() {
                return Err(ctx.err(format!("{at}.to"), "must not be an empty list"));
            }
            for (j, t) in to.iter().enumerate() {
                let field = format!("{at}.to[{j}].operation");
                let op = t
                    .operation
                    .as_ref()
                    .ok_or_else(|| ctx.err(&field, "is required"))?;
                check_operation(&ctx, &field, op)?;
            }
        }
        for (j, c) in rule.when.iter().flatten().enumerate() {
            check_condition(&ctx, &format!("{at}.when[{j}]"), c, action)?;
        }
    }
    Ok(())
}

fn values<'a>(
    ctx: &Ctx,
    field: &str,
    name: &str,
    list: &'a Option<Vec<String>>,
) -> Result<&'a [String], Error> {
    let list = list.as_deref().unwrap_or_default();
    if let Some(i) = list.iter().position(String::is_empty) {
        return Err(ctx.err(format!("{field}.{name}[{i}]"), "empty value"));
    }
    Ok(list)
}

fn check_ips(ctx: &Ctx, field: &str, list: &[String]) -> Result<(), Error> {
    for (i, v) in list.iter().enumerate() {
        if parse_ip_or_cidr(v).is_none() {
            return Err(ctx.err(
                format!("{field}[{i}]"),
                format!("{v:?} is not an IP address or CIDR"),
            ));
        }
    }
    Ok(())
}

/// An IP (as a /32 or /128) or a CIDR; host bits may be set, as Go's `netip.ParsePrefix`.
pub(crate) fn parse_ip_or_cidr(v: &str) -> Option<IpNet> {
    if v.contains('/') {
        let (addr, len) = v.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        IpNet::new(addr, len.parse().ok()?).ok()
    } else {
        let addr: IpAddr = v.parse().ok()?;
        Some(IpNet::from(addr))
    }
}

/// A port as Istio accepts it: decimal digits, at most 65535 (`080` is 80).
pub(crate) fn parse_port(v: &str) -> Option<u16> {
    if v.is_empty() || v.len() > 5 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn check_ports(ctx: &Ctx, field: &str, list: &[String]) -> Result<(), Error> {
    for (i, v) in list.iter().enumerate() {
        if parse_port(v).is_none() {
            return Err(ctx.err(
                format!("{field}[{i}]"),
                format!("{v:?} is not a port number (0-65535)"),
            ));
        }
    }
    Ok(())
}

fn check_service_accounts(ctx: &Ctx, field: &str, list: &[String]) -> Result<(), Error> {
    if list.len() > 16 {
        return Err(ctx.err(field, "at most 16 service accounts"));
    }
    for (i, v) in list.iter().enumerate() {
        let bad = v.contains('*')
            || v.len() > 320
            || v.matches('/').count() > 1
            || v.split_once('/')
                .is_some_and(|(a, b)| a.is_empty() || b.is_empty());
        if bad {
            return Err(ctx.err(
                format!("{field}[{i}]"),
                format!("{v:?} is not `sa` or `namespace/sa` (no wildcards)"),
            ));
        }
    }
    Ok(())
}

fn check_wildcards(v: &str) -> bool {
    let stars = v.matches('*').count();
    stars == 0 || (stars == 1 && (v == "*" || v.starts_with('*') || v.ends_with('*')))
}

fn check_trust_domains(ctx: &Ctx, field: &str, list: &[String]) -> Result<(), Error> {
    for (i, v) in list.iter().enumerate() {
        if !check_wildcards(v) || v.contains('/') {
            return Err(ctx.err(
                format!("{field}[{i}]"),
                format!("{v:?}: a trust domain has no `/` and at most one `*`, at an end"),
            ));
        }
    }
    Ok(())
}

fn check_source(ctx: &Ctx, field: &str, s: &Source, action: Action) -> Result<(), Error> {
    let lists = s.fields();
    if lists
        .iter()
        .all(|(_, l)| l.as_ref().is_none_or(Vec::is_empty))
    {
        return Err(ctx.err(field, "must not be empty"));
    }
    for (name, list) in lists {
        let list = values(ctx, field, name, list)?;
        if list.is_empty() {
            continue;
        }
        let at = format!("{field}.{name}");
        match name {
            "ipBlocks" | "notIpBlocks" | "remoteIpBlocks" | "notRemoteIpBlocks" => {
                check_ips(ctx, &at, list)?
            }
            "serviceAccounts" | "notServiceAccounts" => check_service_accounts(ctx, &at, list)?,
            "trustDomains" | "notTrustDomains" => check_trust_domains(ctx, &at, list)?,
            _ => {}
        }
        let identity = !matches!(
            name,
            "ipBlocks" | "notIpBlocks" | "remoteIpBlocks" | "notRemoteIpBlocks"
        );
        if action == Action::CUSTOM && identity {
            return Err(ctx.err(
                at,
                "CUSTOM runs before authentication and cannot match identities",
            ));
        }
    }
    let has = |l: &Option<Vec<String>>| l.as_ref().is_some_and(|v| !v.is_empty());
    if (has(&s.service_accounts) || has(&s.not_service_accounts))
        && (has(&s.principals)
            || has(&s.not_principals)
            || has(&s.namespaces)
            || has(&s.not_namespaces))
    {
        return Err(ctx.err(
            field,
            "serviceAccounts cannot be combined with principals or namespaces",
        ));
    }
    Ok(())
}

fn check_operation(ctx: &Ctx, field: &str, op: &Operation) -> Result<(), Error> {
    let lists = op.fields();
    if lists
        .iter()
        .all(|(_, l)| l.as_ref().is_none_or(Vec::is_empty))
    {
        return Err(ctx.err(field, "must not be empty"));
    }
    for (name, list) in lists {
        let list = values(ctx, field, name, list)?;
        let at = format!("{field}.{name}");
        match name {
            "ports" | "notPorts" => check_ports(ctx, &at, list)?,
            "paths" | "notPaths" => {
                for (i, v) in list.iter().enumerate() {
                    check_path_template(v)
                        .map_err(|reason| ctx.err(format!("{at}[{i}]"), reason))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Istio's `CheckValidPathTemplate`.
pub(crate) fn check_path_template(path: &str) -> Result<(), String> {
    if !path.contains('{') && !path.contains('}') {
        return Ok(());
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut seen_many = false;
    for segment in &segments {
        match *segment {
            "{**}" | "{*}" if seen_many => {
                return Err(format!("{path:?}: no {{*}} or {{**}} may follow {{**}}"));
            }
            "{**}" => seen_many = true,
            "{*}" => {}
            literal if literal.contains('{') || literal.contains('}') => {
                return Err(format!(
                    "{path:?}: a segment is either {{*}}, {{**}} or has no braces"
                ));
            }
            literal => {
                let ok = literal
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()+,;:@=".contains(&b));
                if !ok {
                    return Err(format!(
                        "{path:?}: segment {literal:?} has characters a template cannot match"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A parsed `when` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    Header(String),
    SourceIp,
    RemoteIp,
    SourceNamespace,
    SourcePrincipal,
    SourceServiceAccount,
    SourceTrustDomain,
    RequestPrincipal,
    Audiences,
    Presenter,
    Claims(Vec<String>),
    DestinationIp,
    DestinationPort,
    Sni,
    /// `experimental.envoy.filters.*[...]`: Envoy dynamic metadata, which a request here
    /// never carries.
    Metadata,
}

/// The text between the first `[` and the last `]`: `[a][b]` gives `a][b`.
fn bracketed(rest: &str) -> Option<&str> {
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?;
    (!inner.is_empty()).then_some(inner)
}

/// Parses `request.auth.claims[a][b]` paths: `[a][b]` is two keys, `[a.b]` one.
fn claim_path(inner: &str) -> Option<Vec<String>> {
    let parts: Vec<String> = inner.split("][").map(str::to_owned).collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || p.contains('[') || p.contains(']'))
    {
        return None;
    }
    Some(parts)
}

pub(crate) fn parse_key(key: &str) -> Result<Key, String> {
    let exact = match key {
        "source.ip" => Some(Key::SourceIp),
        "remote.ip" => Some(Key::RemoteIp),
        "source.namespace" => Some(Key::SourceNamespace),
        "source.principal" => Some(Key::SourcePrincipal),
        "source.serviceAccount" => Some(Key::SourceServiceAccount),
        "source.trustDomain" => Some(Key::SourceTrustDomain),
        "request.auth.principal" => Some(Key::RequestPrincipal),
        "request.auth.audiences" => Some(Key::Audiences),
        "request.auth.presenter" => Some(Key::Presenter),
        "destination.ip" => Some(Key::DestinationIp),
        "destination.port" => Some(Key::DestinationPort),
        "connection.sni" => Some(Key::Sni),
        "destination.namespace" => {
            return Err("destination.namespace is replaced by metadata.namespace".into());
        }
        "destination.name" | "destination.user" => {
            return Err(format!("{key} is only supported in v1alpha1"));
        }
        _ => None,
    };
    if let Some(k) = exact {
        return Ok(k);
    }
    if key.starts_with("destination.labels") {
        return Err("destination.labels is replaced by the workload selector".into());
    }
    if let Some(rest) = key.strip_prefix("request.headers") {
        // Istio accepts only a prefix here and then drops the rule at translation; we
        // reject anything but the exact form instead.
        let name = bracketed(rest)
            .filter(|n| !n.contains('[') && !n.contains(']'))
            .ok_or_else(|| format!("{key:?} is not request.headers[<name>]"))?;
        return Ok(Key::Header(name.to_ascii_lowercase()));
    }
    if let Some(rest) = key.strip_prefix("request.auth.claims") {
        let path = bracketed(rest)
            .and_then(claim_path)
            .ok_or_else(|| format!("{key:?} is not request.auth.claims[<claim>]([<claim>]...)"))?;
        return Ok(Key::Claims(path));
    }
    if let Some(rest) = key.strip_prefix("experimental.envoy.filters.") {
        let open = rest
            .find('[')
            .ok_or_else(|| format!("{key:?} has no [<key>]"))?;
        if open == 0 || bracketed(&rest[open..]).is_none() {
            return Err(format!(
                "{key:?} is not experimental.envoy.filters.<filter>[<key>]"
            ));
        }
        return Ok(Key::Metadata);
    }
    Err(format!("unknown attribute {key:?}"))
}

fn check_condition(ctx: &Ctx, field: &str, c: &Condition, action: Action) -> Result<(), Error> {
    if c.key.is_empty() {
        return Err(ctx.err(format!("{field}.key"), "is required"));
    }
    let key = parse_key(&c.key).map_err(|reason| ctx.err(format!("{field}.key"), reason))?;
    let vals = values(ctx, field, "values", &c.values)?;
    let not = values(ctx, field, "notValues", &c.not_values)?;
    if vals.is_empty() && not.is_empty() {
        return Err(ctx.err(field, "values or notValues must be set"));
    }
    for (name, list) in [("values", vals), ("notValues", not)] {
        let at = format!("{field}.{name}");
        match key {
            Key::SourceIp | Key::RemoteIp | Key::DestinationIp => check_ips(ctx, &at, list)?,
            Key::DestinationPort => check_ports(ctx, &at, list)?,
            Key::SourceServiceAccount => check_service_accounts(ctx, &at, list)?,
            Key::SourceTrustDomain => {
                for (i, v) in list.iter().enumerate() {
                    if !check_wildcards(v) {
                        return Err(ctx.err(format!("{at}[{i}]"), "at most one `*`, at an end"));
                    }
                }
            }
            _ => {}
        }
    }
    let identity = matches!(
        key,
        Key::SourceNamespace
            | Key::SourcePrincipal
            | Key::SourceServiceAccount
            | Key::SourceTrustDomain
            | Key::RequestPrincipal
            | Key::Audiences
            | Key::Presenter
            | Key::Claims(_)
    );
    if action == Action::CUSTOM && identity {
        return Err(ctx.err(
            format!("{field}.key"),
            "CUSTOM runs before authentication and cannot match identities",
        ));
    }
    Ok(())
}

/// Checks a `RequestAuthentication` as Istio's webhook and CRD schema do.
pub(crate) fn request_authentication(ra: &RequestAuthentication) -> Result<(), Error> {
    let ctx = Ctx {
        object: object_name("RequestAuthentication", &ra.metadata),
    };
    metadata(&ctx, &ra.metadata)?;
    if dry_run(&ra.metadata).is_some() {
        return Err(ctx.err(
            "metadata.annotations[istio.io/dry-run]",
            "dry-run is only supported on AuthorizationPolicy",
        ));
    }
    let spec = &ra.spec;
    targeting(&ctx, &spec.selector, &spec.target_ref, &spec.target_refs)?;
    for (i, rule) in spec.jwt_rules.iter().flatten().enumerate() {
        let at = format!("spec.jwtRules[{i}]");
        let issuer = rule.issuer.as_deref().unwrap_or("");
        let uri = rule.jwks_uri.as_deref().unwrap_or("");
        if issuer.is_empty() && uri.is_empty() {
            return Err(ctx.err(format!("{at}.issuer"), "issuer or jwksUri is required"));
        }
        if rule.issuer.as_deref() == Some("") {
            return Err(ctx.err(format!("{at}.issuer"), "must not be empty when set"));
        }
        if let Some(j) = rule.audiences.iter().flatten().position(String::is_empty) {
            return Err(ctx.err(format!("{at}.audiences[{j}]"), "empty value"));
        }
        if !uri.is_empty() {
            let parsed = url::Url::parse(uri)
                .map_err(|e| ctx.err(format!("{at}.jwksUri"), format!("{uri:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ctx.err(format!("{at}.jwksUri"), "scheme must be http or https"));
            }
            if uri.len() > 2048 {
                return Err(ctx.err(format!("{at}.jwksUri"), "at most 2048 characters"));
            }
        }
        if rule.jwks_uri.is_some() && rule.jwks.as_deref().is_some_and(|j| !j.is_empty()) {
            return Err(ctx.err(at.clone(), "only one of jwks or jwksUri may be set"));
        }
        if let Some(jwks) = rule.jwks.as_deref().filter(|j| !j.is_empty()) {
            oidc_core::jwks::KeySet::from_json(jwks.as_bytes())
                .map_err(|e| ctx.err(format!("{at}.jwks"), e.to_string()))?;
        }
        for (j, h) in rule.from_headers.iter().flatten().enumerate() {
            if h.name.is_empty() {
                return Err(ctx.err(format!("{at}.fromHeaders[{j}].name"), "is required"));
            }
        }
        for (name, list) in [
            ("fromParams", &rule.from_params),
            ("fromCookies", &rule.from_cookies),
        ] {
            if let Some(j) = list.iter().flatten().position(String::is_empty) {
                return Err(ctx.err(format!("{at}.{name}[{j}]"), "empty value"));
            }
        }
        for (j, c) in rule.output_claim_to_headers.iter().flatten().enumerate() {
            let f = format!("{at}.outputClaimToHeaders[{j}]");
            if c.claim.is_empty() {
                return Err(ctx.err(format!("{f}.claim"), "is required"));
            }
            if c.header.is_empty()
                || !c
                    .header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(ctx.err(
                    format!("{f}.header"),
                    format!("{:?} is not a header name ([-_A-Za-z0-9]+)", c.header),
                ));
            }
        }
        if let Some(timeout) = &rule.timeout {
            parse_duration(timeout).map_err(|r| ctx.err(format!("{at}.timeout"), r))?;
        }
    }
    Ok(())
}

/// A protobuf JSON duration (`5s`, `0.250s`, `1.5s`) of at least 1 ms, in whole ms.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let number = text
        .strip_suffix('s')
        .ok_or_else(|| format!("{text:?} is not a duration such as 5s"))?;
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 9
    {
        return Err(format!("{text:?} is not a duration such as 5s"));
    }
    let secs: u64 = whole
        .parse()
        .map_err(|_| format!("{text:?} is too large"))?;
    let nanos: u32 = format!("{frac:0<9}").parse().unwrap_or(0);
    let d = std::time::Duration::new(secs, nanos);
    if d < std::time::Duration::from_millis(1) || !nanos.is_multiple_of(1_000_000) {
        return Err(format!("{text:?}: at least 1ms, in whole milliseconds"));
    }
    Ok(d)
}
