//! RequestAuthentication as Envoy's jwt_authn filter applies it: find tokens where the
//! rules say, verify each with the rule of its issuer, and say what goes upstream.

use std::borrow::Cow;

use base64::Engine as _;
use oidc_core::error::TokenError;
use oidc_core::jwks::KeySet;
use serde_json::Value;

use super::decision::{HeaderChanges, Identity};
use crate::PolicySet;
use crate::compile::jwt_rule::{CompiledJwtRule, Location};
use crate::request::{Request, Workload};

/// What RequestAuthentication alone decides for a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Authentication {
    /// No RequestAuthentication applies, or no token was sent: the request continues with
    /// no identity (the upstream changes still remove client-sent output headers).
    Anonymous(HeaderChanges),
    /// Every token verified.
    Authenticated(Identity, HeaderChanges),
    /// A token failed: answer `status` (401, or 403 for a wrong audience).
    Rejected {
        /// 401 or 403.
        status: u16,
        /// Envoy's message and ours.
        reason: String,
        /// The failure may be cured by fetching the issuer's keys again (unknown `kid`,
        /// keys unavailable): a caller with an async context can refresh the key caches
        /// and ask once more.
        keys_missing: bool,
    },
}

/// A token and where it was found.
struct Found<'r> {
    token: Cow<'r, str>,
    location: &'r Location,
}

fn is_base64url_or_dot(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

/// Envoy's header extraction (`extractor.cc`): the prefix anywhere in the value
/// (case-sensitive), then the first run of base64url-and-dot characters after it; nothing
/// after the prefix yields the raw value (which then fails to parse). Values are bytes: one
/// that is not text is still a token (a malformed one, 401), never "no token".
fn from_header_value<'v>(value: &'v [u8], prefix: Option<&str>) -> Option<Cow<'v, str>> {
    let raw = || Some(String::from_utf8_lossy(value));
    let Some(prefix) = prefix.filter(|p| !p.is_empty()) else {
        return raw();
    };
    let prefix = prefix.as_bytes();
    let at = value.windows(prefix.len()).position(|w| w == prefix)?;
    let rest = &value[at + prefix.len()..];
    let Some(start) = rest.iter().position(|b| is_base64url_or_dot(*b)) else {
        return raw();
    };
    let token = &rest[start..];
    let end = token
        .iter()
        .position(|b| !is_base64url_or_dot(*b))
        .unwrap_or(token.len());
    // Only ASCII characters were taken, so this is text.
    Some(String::from_utf8_lossy(&token[..end]))
}

fn extract<'r>(req: &Request<'r>, location: &'r Location, out: &mut Vec<Found<'r>>) {
    match location {
        Location::Header(name, prefix) => {
            for value in req.headers.get_all(name) {
                if let Some(token) = from_header_value(value, prefix.as_deref()) {
                    out.push(Found { token, location });
                }
            }
        }
        Location::Param(name) => {
            if let Some(query) = req.query()
                && let Some((_, v)) =
                    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name)
            {
                out.push(Found {
                    token: Cow::Owned(v.into_owned()),
                    location,
                });
            }
        }
        Location::Cookie(name) => {
            for header in req.headers.get_all("cookie") {
                for pair in header.split(|b| *b == b';') {
                    let pair = pair.trim_ascii();
                    if let Some(eq) = pair.iter().position(|b| *b == b'=')
                        && &pair[..eq] == name.as_bytes()
                    {
                        out.push(Found {
                            token: String::from_utf8_lossy(&pair[eq + 1..]),
                            location,
                        });
                        return;
                    }
                }
            }
        }
    }
}

/// Envoy's messages, with our reason after them; a refusal Envoy does not make (a
/// sender-constrained token) is our reason alone.
fn failure(error: &TokenError) -> (u16, String) {
    let status = if matches!(error, TokenError::WrongAudience { .. }) {
        403
    } else {
        401
    };
    match envoy_message(error) {
        Some(envoy) => (status, format!("{envoy}: {error}")),
        None => (status, error.to_string()),
    }
}

/// jwt_verify_lib's `Status` text (`src/status.cc`) for a token error, if it has one.
fn envoy_message(error: &TokenError) -> Option<&'static str> {
    Some(match error {
        TokenError::WrongAudience { .. } => "Audiences in Jwt are not allowed",
        TokenError::Expired { .. } => "Jwt is expired",
        TokenError::NotYetValid { .. } => "Jwt not yet valid",
        TokenError::UnknownKey { .. } | TokenError::AlgorithmNotAllowed { .. } => {
            "Jwks doesn't have key to match kid or alg from Jwt"
        }
        TokenError::BadSignature { .. } => "Jwt verification fails",
        TokenError::WrongIssuer { .. } => "Jwt issuer is not configured",
        TokenError::KeysUnavailable(_) => "Jwks remote fetch is failed",
        TokenError::UnsupportedAlgorithm(_) => "Jwt header [alg] is not supported",
        TokenError::InvalidClaim { claim, expected } => invalid_claim_message(claim, expected),
        TokenError::SenderConstrained { .. } => return None,
        _ => "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    })
}

fn invalid_claim_message(claim: &str, expected: &str) -> &'static str {
    let wrong_type = expected == "a number" || expected.starts_with("a string");
    match (claim, wrong_type) {
        ("iss", _) => "Jwt payload [iss] field is not a string",
        ("sub", _) => "Jwt payload [sub] field is not a string",
        ("jti", _) => "Jwt payload [jti] field is not a string",
        ("aud", _) => "Jwt payload [aud] field is not a string or string list",
        ("iat", true) => "Jwt payload [iat] field is not an integer",
        ("iat", false) => "Jwt payload [iat] field is not a positive 64 bit integer",
        ("nbf", true) => "Jwt payload [nbf] field is not an integer",
        ("nbf", false) => "Jwt payload [nbf] field is not a positive 64 bit integer",
        ("exp", true) => "Jwt payload [exp] field is not an integer",
        ("exp", false) => "Jwt payload [exp] field is not a positive 64 bit integer",
        _ => "Jwt payload is an invalid JSON",
    }
}

/// Verifies `token` with the rules configured at its location (sorted by issuer): the
/// first rule that accepts it wins; a token no rule's issuer names is "issuer not
/// configured".
fn verify<'s>(
    token: &str,
    rules: &[&'s CompiledJwtRule],
    now: i64,
) -> Result<(&'s CompiledJwtRule, oidc_core::verify::VerifiedToken), TokenError> {
    let empty = KeySet::default();
    let mut first_failure: Option<TokenError> = None;
    for rule in rules {
        let (keys, unavailable) = match rule.keys.snapshot() {
            Ok(keys) => (keys, None),
            Err(reason) => (std::sync::Arc::new(empty.clone()), Some(reason)),
        };
        match rule.verifier.verify_at(token, &keys, now) {
            Ok(verified) => return Ok((rule, verified)),
            Err(TokenError::WrongIssuer { .. }) => continue,
            Err(TokenError::UnknownKey { .. }) if unavailable.is_some() => {
                first_failure
                    .get_or_insert(TokenError::KeysUnavailable(unavailable.unwrap_or_default()));
            }
            Err(
                e @ (TokenError::Malformed(_)
                | TokenError::TooLarge { .. }
                | TokenError::InvalidClaim { .. }
                | TokenError::MissingClaim(_)
                | TokenError::UnsupportedAlgorithm(_)
                | TokenError::UnknownCritical(_)),
            ) => {
                return Err(e);
            }
            Err(e) => {
                first_failure.get_or_insert(e);
            }
        }
    }
    Err(first_failure.unwrap_or_else(|| TokenError::WrongIssuer {
        found: "(no rule names it)".into(),
    }))
}

fn claim_header_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::String(_) | Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => u.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && (0.0..1.8e19).contains(&f) => format!("{f:.0}"),
            (None, Some(f)) => format!("{f:.6}"),
            (None, None) => n.to_string(),
        }),
        other => Some(base64::engine::general_purpose::STANDARD.encode(other.to_string())),
    }
}

fn lookup<'v>(claims: &'v serde_json::Map<String, Value>, path: &str) -> Option<&'v Value> {
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

impl PolicySet {
    /// RequestAuthentication alone: finds the tokens where the applicable rules say,
    /// verifies them, and says what goes upstream. `now` (seconds since the epoch) is the
    /// time for token checks.
    pub fn authenticate(&self, workload: &Workload, req: &Request<'_>, now: i64) -> Authentication {
        let mut rules: Vec<&CompiledJwtRule> = self
            .authns
            .iter()
            .filter(|a| a.scope.applies(workload, &self.root_namespace))
            .flat_map(|a| &a.rules)
            .collect();
        if rules.is_empty() {
            return Authentication::Anonymous(HeaderChanges::default());
        }
        rules.sort_by(|a, b| a.issuer.cmp(&b.issuer));

        // Output headers are never taken from the client.
        let mut changes = HeaderChanges::default();
        for rule in &rules {
            for h in rule
                .payload_header
                .iter()
                .chain(rule.claim_headers.iter().map(|(h, _)| h))
            {
                if !changes.remove.contains(h) {
                    changes.remove.push(h.clone());
                }
            }
        }
        // CORS preflight skips JWT checks (Envoy's bypass_cors_preflight, as Istio sets).
        let non_empty = |name: &str| req.headers.get_all(name).any(|v| !v.is_empty());
        if req.method == "OPTIONS"
            && non_empty("origin")
            && non_empty("access-control-request-method")
        {
            return Authentication::Anonymous(changes);
        }

        let mut locations: Vec<&Location> = rules.iter().flat_map(|r| &r.locations).collect();
        locations.sort();
        locations.dedup();
        let mut found = Vec::new();
        for location in locations {
            extract(req, location, &mut found);
        }
        if found.is_empty() {
            return Authentication::Anonymous(changes);
        }
        let mut identity: Option<Identity> = None;
        for f in &found {
            let at_location: Vec<&CompiledJwtRule> = rules
                .iter()
                .copied()
                .filter(|r| r.locations.contains(f.location))
                .collect();
            match verify(&f.token, &at_location, now) {
                Err(e) => {
                    let (status, reason) = failure(&e);
                    let keys_missing = matches!(
                        e,
                        TokenError::UnknownKey { .. } | TokenError::KeysUnavailable(_)
                    );
                    return Authentication::Rejected {
                        status,
                        reason,
                        keys_missing,
                    };
                }
                Ok((rule, verified)) => {
                    if !rule.forward_original_token {
                        match f.location {
                            Location::Header(name, _) => changes.remove.push(name.clone()),
                            Location::Param(name) => changes.remove_query_params.push(name.clone()),
                            Location::Cookie(_) => {}
                        }
                    }
                    if let Some(header) = &rule.payload_header
                        && let Some(payload) = f.token.split('.').nth(1)
                    {
                        changes.add.push((header.clone(), payload.to_owned()));
                    }
                    for (header, claim) in &rule.claim_headers {
                        if let Some(value) =
                            lookup(&verified.claims().all, claim).and_then(claim_header_value)
                        {
                            changes.add.push((header.clone(), value));
                        }
                    }
                    if identity.is_none() {
                        identity = Some(Identity {
                            source: super::decision::Source::Token(verified),
                            split_claims: rule.split_claims.clone(),
                        });
                    }
                }
            }
        }
        match identity {
            Some(identity) => Authentication::Authenticated(identity, changes),
            None => Authentication::Anonymous(changes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_extraction_follows_envoy() {
        let b = Some("Bearer ");
        let x = |v: &str, p: Option<&str>| {
            from_header_value(v.as_bytes(), p).map(std::borrow::Cow::into_owned)
        };
        let some = |v: &str| Some(v.to_owned());
        assert_eq!(x("Bearer abc.def.ghi", b), some("abc.def.ghi"));
        assert_eq!(x("Bearer   abc", b), some("abc"));
        assert_eq!(
            x("Bearer ", b),
            some("Bearer "),
            "raw value: malformed later"
        );
        assert_eq!(x("Bearer", b), None);
        assert_eq!(x("bearer abc", b), None, "the prefix is case-sensitive");
        assert_eq!(x("Basic abc", b), None);
        assert_eq!(x("x Bearer abc", b), some("abc"), "prefix anywhere");
        assert_eq!(x("tok", None), some("tok"));
        assert_eq!(x("Bearer a.b.c trailing", b), some("a.b.c"));
        assert_eq!(x("Bearer a.b.c, x", b), some("a.b.c"));
    }

    #[test]
    fn a_value_that_is_not_text_is_a_token_not_an_absence() {
        // Not text after the prefix: the whole value is the token, and it fails to parse.
        let found = from_header_value(b"Bearer \xff\xfe", Some("Bearer "));
        assert!(found.is_some_and(|t| t.contains('\u{fffd}')));
        let found = from_header_value(b"\xffa.b.c", None);
        assert!(found.is_some(), "no prefix: the value is the token");
    }

    #[test]
    fn refusals_read_as_envoy_writes_them_and_cnf_as_ours() {
        let (status, reason) = failure(&TokenError::InvalidClaim {
            claim: "exp",
            expected: "a number",
        });
        assert_eq!(status, 401);
        assert!(reason.starts_with("Jwt payload [exp] field is not an integer: "));
        let (_, reason) = failure(&TokenError::InvalidClaim {
            claim: "exp",
            expected: "a non-negative number below 2^64",
        });
        assert!(reason.starts_with("Jwt payload [exp] field is not a positive 64 bit integer"));
        let (status, reason) = failure(&TokenError::SenderConstrained { binding: "jkt" });
        assert_eq!(status, 401);
        assert_eq!(
            reason,
            "token is sender-constrained (cnf jkt) and cannot be used as a bearer token"
        );
    }

    #[test]
    fn claim_headers_as_envoy_writes_them() {
        assert_eq!(
            claim_header_value(&serde_json::json!("a")),
            Some("a".into())
        );
        assert_eq!(claim_header_value(&serde_json::json!("")), None);
        assert_eq!(
            claim_header_value(&serde_json::json!(true)),
            Some("true".into())
        );
        assert_eq!(
            claim_header_value(&serde_json::json!(42)),
            Some("42".into())
        );
        assert_eq!(
            claim_header_value(&serde_json::json!(1.5)),
            Some("1.500000".into())
        );
        assert_eq!(
            claim_header_value(&serde_json::json!(["a"])),
            Some("WyJhIl0=".into())
        );
    }
}
