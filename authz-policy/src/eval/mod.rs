//! Evaluation in Istio's order: CUSTOM, then RequestAuthentication, then AUDIT, DENY and
//! ALLOW.

mod authn;
mod decision;

pub use self::authn::Authentication;
pub use self::decision::{CustomCall, CustomVerdict, Decision, HeaderChanges, Identity, Outcome};

use std::net::IpAddr;

use serde_json::Value;

use crate::PolicySet;
use crate::compile::CompiledPolicy;
use crate::compile::rule::{
    Check, CompiledRule, Cond, PathMatch, first_segment, namespace_matches, segment_hash,
    service_account_matches,
};
use crate::model::Action;
use crate::path::normalize;
use crate::request::{Request, Workload};

/// What a rule is matched against.
struct Ctx<'r> {
    req: &'r Request<'r>,
    path: &'r str,
    /// Hash of the path's first segment, for rules' path gates.
    segment: u64,
    principal: Option<&'r str>,
    remote_ip: Option<IpAddr>,
    identity: Option<&'r Identity>,
}

impl PolicySet {
    /// Decides `request` for `workload`, taking a CUSTOM provider's answer as `custom`
    /// (whether it is consulted at all is in [`Decision::custom`]).
    ///
    /// ```
    /// use authz_policy::{CompileOptions, CustomVerdict, PolicySet, Request, Workload};
    /// let set = PolicySet::from_yaml(r#"
    /// apiVersion: security.istio.io/v1
    /// kind: AuthorizationPolicy
    /// metadata: {name: get-only, namespace: foo}
    /// spec: {rules: [{to: [{operation: {methods: [GET]}}]}]}
    /// "#, CompileOptions::default())?;
    /// let workload = Workload::new("foo", [("app", "httpbin")]);
    /// let get = set.evaluate(&workload, &Request::new("GET", "/"), CustomVerdict::Allow);
    /// assert_eq!((get.status, get.policy.as_deref(), get.rule), (200, Some("foo/get-only"), Some(0)));
    /// let post = set.evaluate(&workload, &Request::new("POST", "/"), CustomVerdict::Allow);
    /// assert_eq!(post.status, 403);
    /// # Ok::<_, authz_policy::Error>(())
    /// ```
    pub fn evaluate(
        &self,
        workload: &Workload,
        request: &Request<'_>,
        custom: CustomVerdict,
    ) -> Decision {
        self.run(workload, request, custom, None)
    }

    /// Like [`PolicySet::evaluate`] for a request whose token the caller verified already
    /// (or that has none): RequestAuthentication is skipped and `identity` is used for
    /// `requestPrincipals` and `request.auth.*`.
    pub fn authorize(
        &self,
        workload: &Workload,
        request: &Request<'_>,
        identity: Option<&Identity>,
        custom: CustomVerdict,
    ) -> Decision {
        self.run(workload, request, custom, Some(identity))
    }

    fn run(
        &self,
        workload: &Workload,
        request: &Request<'_>,
        custom: CustomVerdict,
        known_identity: Option<Option<&Identity>>,
    ) -> Decision {
        let path = match normalize(request.path, self.normalization) {
            Ok(path) => path,
            Err(e) => return Decision::new(403, Outcome::Deny, e.to_string()),
        };
        let principal = request
            .peer
            .principal
            .map(|p| p.strip_prefix("spiffe://").unwrap_or(p))
            .filter(|p| !p.is_empty());
        let mut ctx = Ctx {
            req: request,
            path: &path,
            segment: segment_hash(first_segment(&path)),
            principal,
            remote_ip: request.remote_ip(),
            identity: None,
        };
        let applicable = self.index.applicable(self, workload);
        let of = |action: Action| {
            applicable
                .iter()
                .map(|i| &self.policies[*i as usize])
                .filter(move |p| p.action == action)
        };

        // 1. CUSTOM, before authentication.
        let mut custom_call = None;
        if let Some((policy, rule)) = first_match(of(Action::CUSTOM), &ctx) {
            let provider = policy.provider.clone().unwrap_or_else(|| "".into());
            let call = CustomCall {
                policy: policy.id.clone(),
                rule,
                provider: provider.clone(),
            };
            let mut providers: Vec<&str> = of(Action::CUSTOM)
                .filter_map(|p| p.provider.as_deref())
                .collect();
            providers.sort_unstable();
            providers.dedup();
            let deny_reason = if providers.len() > 1 {
                Some(format!(
                    "several CUSTOM providers ({}) on one workload: Istio denies the requests their rules match",
                    providers.join(", ")
                ))
            } else if custom == CustomVerdict::Deny {
                Some(format!(
                    "denied by CUSTOM provider {provider} ({} rule {rule})",
                    policy.id
                ))
            } else {
                None
            };
            if let Some(reason) = deny_reason {
                let mut d = Decision::new(403, Outcome::Deny, reason);
                d.policy = Some(policy.id.clone());
                d.rule = Some(rule);
                // With several providers istiod builds no ext_authz filter at all, only
                // an RBAC deny: the provider is never called.
                d.custom = (providers.len() == 1).then_some(call);
                return d;
            }
            custom_call = Some(call);
        }

        // 2. RequestAuthentication, unless the caller verified the token.
        let (identity, upstream) = match known_identity {
            Some(identity) => (identity.cloned(), HeaderChanges::default()),
            None => {
                let now = request.now.unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0)
                });
                match self.authenticate(workload, request, now) {
                    Authentication::Rejected { status, reason, .. } => {
                        let mut d = Decision::new(status, Outcome::Unauthenticated, reason);
                        d.custom = custom_call;
                        return d;
                    }
                    Authentication::Anonymous(changes) => (None, changes),
                    Authentication::Authenticated(identity, changes) => (Some(identity), changes),
                }
            }
        };
        ctx.identity = identity.as_ref();

        // 3. AUDIT marks, 4. DENY, 5. ALLOW.
        let audited: Vec<_> = of(Action::AUDIT)
            .filter_map(|p| rule_index(p, &ctx).map(|r| (p.id.clone(), r)))
            .collect();
        let enforcing = |action: Action| of(action).filter(|p| !p.dry_run);
        let mut decision = if let Some((policy, rule)) = first_match(enforcing(Action::DENY), &ctx)
        {
            Decision::by_rule(Outcome::Deny, policy.id.clone(), rule)
        } else if enforcing(Action::ALLOW).next().is_none() {
            Decision::new(
                200,
                Outcome::Allow,
                "no ALLOW policy applies to the workload",
            )
        } else if let Some((policy, rule)) = first_match(enforcing(Action::ALLOW), &ctx) {
            Decision::by_rule(Outcome::Allow, policy.id.clone(), rule)
        } else {
            Decision::new(
                403,
                Outcome::Deny,
                "ALLOW policies apply and none matched (RBAC: access denied)",
            )
        };
        decision.custom = custom_call;
        decision.identity = identity;
        decision.audited = audited;
        if decision.is_allowed() {
            decision.upstream = upstream;
        }
        decision
    }
}

fn first_match<'p>(
    policies: impl Iterator<Item = &'p CompiledPolicy>,
    ctx: &Ctx<'_>,
) -> Option<(&'p CompiledPolicy, usize)> {
    policies
        .filter_map(|p| rule_index(p, ctx).map(|r| (p, r)))
        .next()
}

fn rule_index(policy: &CompiledPolicy, ctx: &Ctx<'_>) -> Option<usize> {
    policy.rules.iter().position(|r| rule_matches(r, ctx))
}

fn rule_matches(rule: &CompiledRule, ctx: &Ctx<'_>) -> bool {
    if let Some(gate) = &rule.path_gate
        && !gate.contains(&ctx.segment)
    {
        return false;
    }
    let clause = |c: &Vec<Cond>| c.iter().all(|cond| cond_matches(cond, ctx));
    // Operations are usually the cheapest to rule out, identities and claims the dearest.
    (rule.to.is_empty() || rule.to.iter().any(clause))
        && (rule.from.is_empty() || rule.from.iter().any(clause))
        && clause(&rule.when)
}

fn cond_matches(cond: &Cond, ctx: &Ctx<'_>) -> bool {
    check_matches(&cond.check, ctx) != cond.negate
}

fn ip_in(nets: &[ipnet::IpNet], ip: Option<IpAddr>) -> bool {
    ip.is_some_and(|ip| nets.iter().any(|n| n.contains(&ip)))
}

fn check_matches(check: &Check, ctx: &Ctx<'_>) -> bool {
    let req = ctx.req;
    match check {
        Check::Principal(ms) => ctx
            .principal
            .is_some_and(|p| ms.iter().any(|m| m.matches(p))),
        Check::RequestPrincipal(pairs) => ctx.identity.is_some_and(|id| {
            let claims = id.claims();
            claims.sub.as_deref().is_some_and(|sub| {
                pairs
                    .iter()
                    .any(|(iss, s)| iss.matches(&claims.iss) && s.matches(sub))
            })
        }),
        Check::Namespace(patterns) => ctx
            .principal
            .is_some_and(|p| patterns.iter().any(|pat| namespace_matches(p, pat))),
        Check::ServiceAccount(accounts) => ctx.principal.is_some_and(|p| {
            accounts
                .iter()
                .any(|(ns, sa)| service_account_matches(p, ns, sa))
        }),
        Check::TrustDomain(ms) => ctx.principal.is_some_and(|p| {
            let td = p.split('/').next().unwrap_or_default();
            p.contains('/') && ms.iter().any(|m| m.matches(td))
        }),
        Check::SourceIp(nets) => ip_in(nets, req.peer.ip),
        Check::RemoteIp(nets) => ip_in(nets, ctx.remote_ip),
        Check::DestinationIp(nets) => ip_in(nets, req.destination_ip),
        Check::Host(ms) => req
            .host
            .is_some_and(|h| ms.iter().any(|m| m.matches_ignore_case(h))),
        Check::Port(ports) => req.port.is_some_and(|p| ports.contains(&p)),
        Check::Method(ms) => ms.iter().any(|m| m.matches(req.method)),
        Check::Path(ms) => ms.iter().any(|m| match m {
            PathMatch::Str(s) => s.matches(ctx.path),
            PathMatch::Template(t) => t.matches(ctx.path),
        }),
        Check::Header(name, ms) => req
            .headers
            .joined(name)
            .is_some_and(|v| ms.iter().any(|m| m.matches_bytes(&v))),
        Check::Audience(ms) => ctx.identity.is_some_and(|id| {
            id.claims()
                .aud
                .iter()
                .any(|a| ms.iter().any(|m| m.matches(a)))
        }),
        Check::Presenter(ms) => ctx.identity.is_some_and(|id| {
            id.claims()
                .azp
                .as_deref()
                .is_some_and(|azp| ms.iter().any(|m| m.matches(azp)))
        }),
        Check::Claim(path, ms) => ctx.identity.is_some_and(|id| claim_matches(id, path, ms)),
        Check::Sni(ms) => req.sni.is_some_and(|s| ms.iter().any(|m| m.matches(s))),
        Check::Never => false,
    }
}

/// A claim at `path` matches when it is a string that matches, or a list with a string
/// element that matches; `scope`, `permission` and `spaceDelimitedClaims` strings are split
/// on spaces first (top-level claims only). Numbers, booleans and objects never match.
fn claim_matches(id: &Identity, path: &[String], ms: &[crate::matcher::StrMatch]) -> bool {
    let mut value: Option<&Value> = None;
    for (i, key) in path.iter().enumerate() {
        value = match (i, value) {
            (0, _) => id.claims().all.get(key.as_str()),
            (_, Some(Value::Object(map))) => map.get(key.as_str()),
            _ => None,
        };
        if value.is_none() {
            return false;
        }
    }
    let any = |s: &str| ms.iter().any(|m| m.matches(s));
    match value {
        Some(Value::String(s)) => {
            if path.len() == 1 && id.split_claims.iter().any(|c| *c == path[0]) {
                s.split(' ').filter(|p| !p.is_empty()).any(any)
            } else {
                any(s)
            }
        }
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(any),
        _ => false,
    }
}
