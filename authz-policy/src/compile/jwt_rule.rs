//! `jwtRules` compiled: a verifier per rule, its key source, where its tokens are found,
//! and what it writes upstream.

use std::sync::Arc;
use std::time::Duration;

use oidc_core::jwks::{JwksCache, JwksCacheConfig, KeySet};
use oidc_core::verify::{IssuerMatch, Verifier};

use crate::model::JwtRule;

/// Where a rule looks for tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Location {
    /// A header (lower-case name) and the prefix before the token.
    Header(String, Option<String>),
    /// A query parameter.
    Param(String),
    /// A cookie.
    Cookie(String),
}

/// Where a rule's keys come from.
#[derive(Debug, Clone)]
pub(crate) enum Keys {
    Inline(Arc<KeySet>),
    Remote(JwksCache),
    /// `jwksUri` with no HTTP client configured: every token of the rule fails.
    Unavailable(String),
}

impl Keys {
    pub(crate) fn snapshot(&self) -> Result<Arc<KeySet>, String> {
        match self {
            Keys::Inline(set) => Ok(set.clone()),
            Keys::Remote(cache) => {
                let keys = cache.keys();
                if keys.is_empty() {
                    Err(cache
                        .last_error()
                        .unwrap_or_else(|| format!("keys of {} not fetched", cache.url())))
                } else {
                    Ok(keys)
                }
            }
            Keys::Unavailable(reason) => Err(reason.clone()),
        }
    }
}

#[derive(Debug)]
pub(crate) struct CompiledJwtRule {
    pub(crate) issuer: String,
    pub(crate) verifier: Verifier,
    pub(crate) keys: Keys,
    pub(crate) locations: Vec<Location>,
    pub(crate) forward_original_token: bool,
    pub(crate) payload_header: Option<String>,
    pub(crate) claim_headers: Vec<(String, String)>,
    pub(crate) split_claims: Arc<[String]>,
    pub(crate) timeout: Option<Duration>,
}

/// Envoy's clock skew for JWT time checks.
pub(crate) const SKEW: Duration = Duration::from_secs(60);

pub(crate) fn compile(
    rule: &JwtRule,
    http: Option<&oidc_core::http::SharedHttpClient>,
    jwks_caches: &mut Vec<JwksCache>,
) -> CompiledJwtRule {
    let issuer = rule.issuer.clone().unwrap_or_default();
    let audiences = rule.audiences.clone().unwrap_or_default();
    let builder = if issuer.is_empty() {
        Verifier::builder_with_issuer(IssuerMatch::Any)
    } else {
        Verifier::builder(issuer.clone())
    };
    let builder = builder
        .clock_skew(SKEW)
        .require_exp(false)
        .reject_future_iat(false)
        .zero_exp_is_absent(true)
        .normalize_audience_urls(true);
    let builder = if audiences.is_empty() {
        builder.insecure_accept_any_audience()
    } else {
        builder.audiences(audiences)
    };
    // The issuer was validated non-empty or replaced by IssuerMatch::Any, and the audience
    // rule is set: build cannot fail.
    let verifier = builder
        .build()
        .unwrap_or_else(|e| unreachable!("verifier config: {e}"));

    let keys = match (rule.jwks.as_deref(), rule.jwks_uri.as_deref()) {
        (Some(jwks), _) if !jwks.is_empty() => match KeySet::from_json(jwks.as_bytes()) {
            Ok(set) => Keys::Inline(Arc::new(set)),
            Err(e) => Keys::Unavailable(e.to_string()),
        },
        (_, Some(uri)) => match (url::Url::parse(uri), http) {
            (Ok(url), Some(http)) => {
                let existing = jwks_caches.iter().find(|c| c.url() == &url).cloned();
                let cache = existing.unwrap_or_else(|| {
                    let c = JwksCache::new(url, http.clone(), JwksCacheConfig::default());
                    jwks_caches.push(c.clone());
                    c
                });
                Keys::Remote(cache)
            }
            (Ok(_), None) => Keys::Unavailable(format!("no HTTP client to fetch {uri}")),
            (Err(e), _) => Keys::Unavailable(e.to_string()),
        },
        _ => Keys::Unavailable("the rule has neither jwks nor jwksUri".into()),
    };

    let mut locations: Vec<Location> = Vec::new();
    for h in rule.from_headers.iter().flatten() {
        locations.push(Location::Header(
            h.name.to_ascii_lowercase(),
            h.prefix.clone(),
        ));
    }
    for p in rule.from_params.iter().flatten() {
        locations.push(Location::Param(p.clone()));
    }
    for c in rule.from_cookies.iter().flatten() {
        locations.push(Location::Cookie(c.clone()));
    }
    if locations.is_empty() {
        locations.push(Location::Header(
            "authorization".into(),
            Some("Bearer ".into()),
        ));
        locations.push(Location::Param("access_token".into()));
    }
    let mut split: Vec<String> = vec!["scope".into(), "permission".into()];
    split.extend(rule.space_delimited_claims.iter().flatten().cloned());
    CompiledJwtRule {
        issuer,
        verifier,
        keys,
        locations,
        forward_original_token: rule.forward_original_token.unwrap_or(false),
        payload_header: rule
            .output_payload_to_header
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| h.to_ascii_lowercase()),
        claim_headers: rule
            .output_claim_to_headers
            .iter()
            .flatten()
            .map(|c| (c.header.to_ascii_lowercase(), c.claim.clone()))
            .collect(),
        split_claims: split.into(),
        timeout: rule
            .timeout
            .as_deref()
            .and_then(|t| crate::validate::parse_duration(t).ok()),
    }
}
