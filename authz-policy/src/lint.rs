//! Warnings for the mistakes Istio users make most. Each cites the Istio page it comes from.

use serde::Serialize;

use crate::PolicySet;
use crate::model::{Action, AuthorizationPolicy, RequestAuthentication, Rule};
use crate::path::normalize;
use crate::request::Workload;

/// One lint warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LintWarning {
    /// `namespace/name` of the object.
    pub object: String,
    /// The field path (`spec.rules[0].to[0].operation.hosts[1]`).
    pub field: String,
    /// What is likely wrong, and the Istio page that says so.
    pub warning: String,
}

const DOC_RA: &str =
    "https://istio.io/latest/docs/reference/config/security/request_authentication/";
const DOC_JWT: &str = "https://istio.io/latest/docs/tasks/security/authorization/authz-jwt/";
const DOC_BP: &str = "https://istio.io/latest/docs/ops/best-practices/security/";
const DOC_NORM: &str = "https://istio.io/latest/docs/reference/config/security/normalization/";

fn id(meta: &crate::model::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or("?")
    )
}

fn labels(selector: &Option<crate::model::WorkloadSelector>) -> Vec<(&str, &str)> {
    selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
        .unwrap_or_default()
}

/// Two selectors can select the same workload unless they require different values for
/// the same label.
fn may_overlap(a: &[(&str, &str)], b: &[(&str, &str)]) -> bool {
    a.iter()
        .all(|(k, v)| b.iter().all(|(k2, v2)| k != k2 || v == v2))
}

fn rule_requires_principal(rule: &Rule) -> bool {
    let from = rule.from.iter().flatten().filter_map(|f| f.source.as_ref());
    let by_source = from
        .clone()
        .any(|s| s.request_principals.as_ref().is_some_and(|v| !v.is_empty()));
    let by_when = rule.when.iter().flatten().any(|c| {
        c.key.starts_with("request.auth.") && c.values.as_ref().is_some_and(|v| !v.is_empty())
    });
    by_source || by_when
}

fn requires_principal(p: &AuthorizationPolicy) -> bool {
    let rules = p.spec.rules.as_deref().unwrap_or_default();
    match p.spec.action.unwrap_or(Action::ALLOW) {
        Action::ALLOW => !rules.is_empty() && rules.iter().all(rule_requires_principal),
        Action::DENY => rules.iter().any(|r| {
            r.from
                .iter()
                .flatten()
                .filter_map(|f| f.source.as_ref())
                .any(|s| {
                    s.not_request_principals
                        .as_ref()
                        .is_some_and(|v| v.iter().any(|x| x == "*"))
                })
        }),
        _ => false,
    }
}

fn lint_request_authentication(
    set: &PolicySet,
    ra: &RequestAuthentication,
    out: &mut Vec<LintWarning>,
) {
    let ns = ra.metadata.namespace.as_deref().unwrap_or("default");
    let root = set.root_namespace();
    let mine = labels(&ra.spec.selector);
    let guarded = set.objects().authorization_policies.iter().any(|p| {
        let pns = p.metadata.namespace.as_deref().unwrap_or("default");
        (pns == ns || pns == root || ns == root)
            && may_overlap(&mine, &labels(&p.spec.selector))
            && requires_principal(p)
    });
    if !guarded {
        out.push(LintWarning {
            object: id(&ra.metadata),
            field: "spec.jwtRules".into(),
            warning: format!(
                "no AuthorizationPolicy requires a request principal on these workloads: requests without a token pass with no identity ({DOC_RA})"
            ),
        });
    }
    for (i, rule) in ra.spec.jwt_rules.iter().flatten().enumerate() {
        if rule.audiences.as_ref().is_none_or(Vec::is_empty) {
            out.push(LintWarning {
                object: id(&ra.metadata),
                field: format!("spec.jwtRules[{i}].audiences"),
                warning: format!(
                    "no audiences: any token of issuer {:?} is accepted, whichever service it was issued for ({DOC_RA})",
                    rule.issuer.as_deref().unwrap_or("")
                ),
            });
        }
    }
}

fn lint_policy(p: &AuthorizationPolicy, out: &mut Vec<LintWarning>) {
    let object = id(&p.metadata);
    let action = p.spec.action.unwrap_or(Action::ALLOW);
    for (i, rule) in p.spec.rules.iter().flatten().enumerate() {
        let at = format!("spec.rules[{i}]");
        for (j, source) in rule
            .from
            .iter()
            .flatten()
            .filter_map(|f| f.source.as_ref())
            .enumerate()
        {
            for (k, v) in source.request_principals.iter().flatten().enumerate() {
                if v == "*" || v.ends_with("/*") {
                    out.push(LintWarning {
                        object: object.clone(),
                        field: format!("{at}.from[{j}].source.requestPrincipals[{k}]"),
                        warning: format!(
                            "{v:?} needs a token with a sub claim (Istio matches iss and sub separately): tokens of issuers that omit sub, such as many client-credentials tokens, never match; match request.auth.claims[iss] for those ({DOC_JWT})"
                        ),
                    });
                }
            }
        }
        if action == Action::ALLOW && only_negative(rule) {
            out.push(LintWarning {
                object: object.clone(),
                field: at.clone(),
                warning: format!(
                    "an ALLOW rule made only of not* fields allows almost everything, including requests you did not think of; use positive matching with ALLOW and negative matching with DENY ({DOC_BP})"
                ),
            });
        }
        for (j, condition) in rule.when.iter().flatten().enumerate() {
            if let Some(warning) = repeated_header_warning(action, condition) {
                out.push(LintWarning {
                    object: object.clone(),
                    field: format!("{at}.when[{j}]"),
                    warning,
                });
            }
        }
        for (j, op) in rule
            .to
            .iter()
            .flatten()
            .filter_map(|t| t.operation.as_ref())
            .enumerate()
        {
            for (name, list) in [("hosts", &op.hosts), ("notHosts", &op.not_hosts)] {
                for (k, host) in list.iter().flatten().enumerate() {
                    if host_has_port(host) {
                        out.push(LintWarning {
                            object: object.clone(),
                            field: format!("{at}.to[{j}].operation.{name}[{k}]"),
                            warning: format!(
                                "{host:?} has a port: hosts are matched against the Host header verbatim, so it matches only clients that send this port, and the host without the port is not matched; list both forms ({DOC_BP})"
                            ),
                        });
                    }
                }
            }
            for (name, list) in [("paths", &op.paths), ("notPaths", &op.not_paths)] {
                for (k, path) in list.iter().flatten().enumerate() {
                    if let Some(why) = unreachable_path(path) {
                        out.push(LintWarning {
                            object: object.clone(),
                            field: format!("{at}.to[{j}].operation.{name}[{k}]"),
                            warning: format!(
                                "{path:?} never matches a request: {why} ({DOC_NORM})"
                            ),
                        });
                    }
                }
            }
        }
    }
}

fn only_negative(rule: &Rule) -> bool {
    let sources = rule
        .from
        .iter()
        .flatten()
        .filter_map(|f| f.source.as_ref())
        .flat_map(|s| s.fields());
    let operations = rule
        .to
        .iter()
        .flatten()
        .filter_map(|t| t.operation.as_ref())
        .flat_map(|o| o.fields());
    let conditions = rule
        .when
        .iter()
        .flatten()
        .flat_map(|c| [("values", &c.values), ("notValues", &c.not_values)]);
    let set: Vec<bool> = sources
        .chain(operations)
        .chain(conditions)
        .filter(|(_, list)| list.as_ref().is_some_and(|v| !v.is_empty()))
        .map(|(name, _)| name.starts_with("not"))
        .collect();
    !set.is_empty() && set.iter().all(|negative| *negative)
}

/// A header condition a client can step around by sending the header twice: the values
/// are matched joined with `,` (Istio's documented semantics, which the authz-check
/// contract keeps), so `x-role: user` + `x-role: admin` reads `user,admin`. That misses a
/// DENY's `values` and satisfies an ALLOW's `notValues` (Envoy's CVE-2026-26308).
fn repeated_header_warning(action: Action, c: &crate::model::Condition) -> Option<String> {
    let name = c.key.strip_prefix("request.headers[")?.strip_suffix(']')?;
    let (field, list) = match action {
        Action::DENY => ("values", c.values.as_ref()),
        Action::ALLOW => ("notValues", c.not_values.as_ref()),
        _ => return None,
    };
    let value = list?.iter().find(|v| !v.is_empty() && v.as_str() != "*")?;
    let also = if value.contains('*') {
        String::new()
    } else {
        format!("also list \"*,{value}\" and \"{value},*\", or ")
    };
    Some(format!(
        "a client that sends {name} twice is matched on its values joined with ',' (\"other,{value}\"), which these {field} do not match, so it steps around this {action:?} rule (Envoy CVE-2026-26308); {also}refuse a repeated {name} in front of the policy ({DOC_NORM})"
    ))
}

fn host_has_port(host: &str) -> bool {
    match host.rsplit_once(':') {
        Some((name, port)) => {
            !name.is_empty()
                && name.ends_with(']') == host.starts_with('[')
                && (port == "*" || (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())))
        }
        None => false,
    }
}

fn unreachable_path(path: &str) -> Option<&'static str> {
    if path == "*" || path.starts_with('*') || path.contains("{*}") || path.contains("{**}") {
        return None;
    }
    let literal = path.strip_suffix('*').unwrap_or(path);
    if !literal.starts_with('/') {
        return Some("request paths start with /");
    }
    if literal.contains('?') || literal.contains('#') {
        return Some("the query and fragment are not part of the matched path");
    }
    match normalize(literal, crate::path::PathNormalization::Base) {
        Err(_) => Some("Envoy rejects paths with %00"),
        Ok(n) if n != literal => Some(
            "Envoy normalizes request paths (dot segments, backslashes, encoded unreserved characters) before matching, so no request path has this form",
        ),
        Ok(_) => None,
    }
}

impl PolicySet {
    /// Lint warnings for the compiled objects. With `workloads` given, policies whose
    /// selector selects none of them are reported too.
    pub fn lint(&self, workloads: &[Workload]) -> Vec<LintWarning> {
        let mut out = Vec::new();
        for ra in &self.objects().request_authentications {
            lint_request_authentication(self, ra, &mut out);
        }
        for p in &self.objects().authorization_policies {
            lint_policy(p, &mut out);
        }
        if !workloads.is_empty() {
            for policy in &self.policies {
                if !workloads
                    .iter()
                    .any(|w| policy.scope.applies(w, self.root_namespace()))
                {
                    out.push(LintWarning {
                        object: policy.id.to_string(),
                        field: if policy.scope.has_targets() { "spec.targetRefs".into() } else { "spec.selector".into() },
                        warning: format!(
                            "applies to none of the {} known workloads: check the namespace and the labels ({DOC_BP})",
                            workloads.len()
                        ),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_with_ports() {
        assert!(host_has_port("example.com:80"));
        assert!(host_has_port("example.com:*"));
        assert!(!host_has_port("example.com"));
        assert!(!host_has_port("*.example.com"));
        assert!(host_has_port("[::1]:8080"));
        assert!(!host_has_port("[::1]"));
    }

    #[test]
    fn paths_that_never_match() {
        assert!(unreachable_path("/a/../b").is_some());
        assert!(unreachable_path("/a/%62").is_some());
        assert!(unreachable_path("/a?x=1").is_some());
        assert!(unreachable_path("admin").is_some());
        assert!(unreachable_path("/admin*").is_none());
        assert!(unreachable_path("*.html").is_none());
        assert!(
            unreachable_path("/a//b").is_none(),
            "BASE keeps // so it can match"
        );
    }
}
