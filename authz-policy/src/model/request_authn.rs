use serde::Deserialize;

use super::meta::{PolicyTargetReference, WorkloadSelector};

/// `RequestAuthentication.spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RequestAuthenticationSpec {
    /// `selector`.
    pub selector: Option<WorkloadSelector>,
    /// `targetRef`.
    pub target_ref: Option<PolicyTargetReference>,
    /// `targetRefs`.
    pub target_refs: Option<Vec<PolicyTargetReference>>,
    /// `jwtRules`.
    pub jwt_rules: Option<Vec<JwtRule>>,
}

/// `jwtRules[]`: how tokens of one issuer are found and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct JwtRule {
    /// `issuer`: the token's `iss`.
    pub issuer: Option<String>,
    /// `audiences`: accepted `aud` values (empty: any).
    pub audiences: Option<Vec<String>>,
    /// `jwksUri`: where the keys are fetched.
    pub jwks_uri: Option<String>,
    /// `jwks`: the key set, inline (JSON text).
    pub jwks: Option<String>,
    /// `fromHeaders`.
    pub from_headers: Option<Vec<JwtHeader>>,
    /// `fromParams`.
    pub from_params: Option<Vec<String>>,
    /// `fromCookies`.
    pub from_cookies: Option<Vec<String>>,
    /// `outputPayloadToHeader`.
    pub output_payload_to_header: Option<String>,
    /// `forwardOriginalToken` (default false: the token is removed).
    pub forward_original_token: Option<bool>,
    /// `outputClaimToHeaders`.
    pub output_claim_to_headers: Option<Vec<ClaimToHeader>>,
    /// `timeout` of the key fetch, a duration such as `5s`.
    pub timeout: Option<String>,
    /// `spaceDelimitedClaims`: claims split on spaces before matching (besides `scope`
    /// and `permission`).
    pub space_delimited_claims: Option<Vec<String>>,
}

/// `fromHeaders[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct JwtHeader {
    /// The header name.
    pub name: String,
    /// The prefix before the token, e.g. `Bearer `.
    pub prefix: Option<String>,
}

/// `outputClaimToHeaders[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ClaimToHeader {
    /// The header to set.
    pub header: String,
    /// The claim (dots for nesting).
    pub claim: String,
}
