//! Typed standard claims, read strictly from the payload, and the time checks.

use serde_json::{Map, Value};

use crate::error::TokenError;

/// The registered and OpenID Connect standard claims of a verified token, plus the whole
/// claim map for everything else.
///
/// Protocol claims are typed strictly (a string `exp`, a numeric or `null` `iss` or a
/// non-string `nonce` make the token malformed, as Envoy's jwt_verify_lib does; see
/// [`Claims::from_map`]); a float `exp` is accepted and rounded down. Profile claims of an unexpected type are left out of the typed
/// fields but stay in [`Claims::all`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Claims {
    /// `iss`.
    pub iss: String,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud`, as a list (a single string becomes one entry).
    pub aud: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub exp: Option<i64>,
    /// `nbf`, seconds since the epoch.
    pub nbf: Option<i64>,
    /// `iat`, seconds since the epoch.
    pub iat: Option<i64>,
    /// `azp`, the authorized party.
    pub azp: Option<String>,
    /// `jti`.
    pub jti: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `at_hash`.
    pub at_hash: Option<String>,
    /// `c_hash`.
    pub c_hash: Option<String>,
    /// `sid`, the provider's session id.
    pub sid: Option<String>,
    /// `tid`, the tenant id (Entra ID).
    pub tid: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// `email_verified` (a `"true"` string is accepted, as some providers send it).
    pub email_verified: Option<bool>,
    /// `name`.
    pub name: Option<String>,
    /// `preferred_username`.
    pub preferred_username: Option<String>,
    /// `given_name`.
    pub given_name: Option<String>,
    /// `family_name`.
    pub family_name: Option<String>,
    /// `groups` (a list of strings, or one string).
    pub groups: Vec<String>,
    /// `scope` (a space-separated string or a list).
    pub scope: Vec<String>,
    /// Every claim of the payload, standard ones included.
    pub all: Map<String, Value>,
}

impl Claims {
    /// Reads the typed fields from a claim map.
    ///
    /// The claims Envoy's jwt_verify_lib reads are typed as it types them
    /// (`src/jwt.cc`, `src/struct_utils.cc`): `iss`, `sub` and `jti` are strings; `exp`,
    /// `nbf` and `iat` are numbers in `[0, 2^64)` (a float loses its decimals); `aud` is a
    /// string or an array of strings. For these, a JSON `null` is a value of the wrong type,
    /// not an absent claim. Other protocol claims (`azp`, `nonce`, `at_hash`, `c_hash`,
    /// `sid`, `tid`) must be strings when present; `null` counts as absent for them.
    pub fn from_map(all: Map<String, Value>) -> Result<Claims, TokenError> {
        let iss = strict_string(&all, "iss")?.ok_or(TokenError::MissingClaim("iss"))?;
        let sub = strict_string(&all, "sub")?;
        let aud = match all.get("aud") {
            None => Vec::new(),
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(TokenError::InvalidClaim {
                    claim: "aud",
                    expected: "a string or an array of strings",
                })?,
            Some(_) => {
                return Err(TokenError::InvalidClaim {
                    claim: "aud",
                    expected: "a string or an array of strings",
                });
            }
        };
        Ok(Claims {
            exp: numeric_date(&all, "exp")?,
            nbf: numeric_date(&all, "nbf")?,
            iat: numeric_date(&all, "iat")?,
            azp: protocol_string(&all, "azp")?,
            jti: strict_string(&all, "jti")?,
            nonce: protocol_string(&all, "nonce")?,
            at_hash: protocol_string(&all, "at_hash")?,
            c_hash: protocol_string(&all, "c_hash")?,
            sid: protocol_string(&all, "sid")?,
            tid: protocol_string(&all, "tid")?,
            email: profile_string(&all, "email"),
            // Present and anything but true (or the string "true" some providers send)
            // is unverified: "FALSE", 0 or null never pass as "not said".
            email_verified: match all.get("email_verified") {
                None => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(Value::String(s)) => Some(s == "true"),
                Some(_) => Some(false),
            },
            name: profile_string(&all, "name"),
            preferred_username: profile_string(&all, "preferred_username"),
            given_name: profile_string(&all, "given_name"),
            family_name: profile_string(&all, "family_name"),
            groups: string_list(all.get("groups"), false),
            scope: string_list(all.get("scope"), true),
            iss,
            sub,
            aud,
            all,
        })
    }
}

/// A claim jwt_verify_lib reads with `GetString`: absent, or a string (`null` is not).
fn strict_string(
    all: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<String>, TokenError> {
    match all.get(claim) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::InvalidClaim {
            claim,
            expected: "a string",
        }),
    }
}

fn protocol_string(
    all: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<String>, TokenError> {
    match all.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::InvalidClaim {
            claim,
            expected: "a string",
        }),
    }
}

fn profile_string(all: &Map<String, Value>, claim: &str) -> Option<String> {
    all.get(claim).and_then(Value::as_str).map(str::to_owned)
}

fn string_list(value: Option<&Value>, split_spaces: bool) -> Vec<String> {
    match value {
        Some(Value::String(s)) if split_spaces => s
            .split(' ')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// A NumericDate as jwt_verify_lib reads it (`GetUInt64`): absent, or a JSON number in
/// `[0, 2^64)` whose decimals are dropped; `null`, a string or a number out of that range
/// is malformed. Values above `i64::MAX` saturate (they are beyond any clock).
fn numeric_date(all: &Map<String, Value>, claim: &'static str) -> Result<Option<i64>, TokenError> {
    /// 2^64, the first value jwt_verify_lib's `GetUInt64` reports out of range.
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    let Some(value) = all.get(claim) else {
        return Ok(None);
    };
    let Value::Number(n) = value else {
        return Err(TokenError::InvalidClaim {
            claim,
            expected: "a number",
        });
    };
    // jwt_verify_lib reads every number as a double: an integer within 1024 of u64::MAX
    // rounds to 2^64 and is out of range there, so it is here too.
    if let Some(u) = n.as_u64()
        && (u as f64) < TWO_POW_64
    {
        return Ok(Some(i64::try_from(u).unwrap_or(i64::MAX)));
    }
    // A negative integer, or a float (JSON cannot spell NaN or infinity).
    match n.as_f64() {
        // -0.0 is not below zero: accepted as 0, as jwt_verify_lib does.
        Some(f) if (0.0..TWO_POW_64).contains(&f) => {
            // Saturating float-to-int conversion, dropping the decimals.
            Ok(Some(f.floor() as i64))
        }
        _ => Err(TokenError::InvalidClaim {
            claim,
            expected: "a non-negative number below 2^64",
        }),
    }
}

/// Which time claims are required and checked; see [`check_time`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeRules {
    pub(crate) skew: i64,
    pub(crate) require_exp: bool,
    pub(crate) require_iat: bool,
    pub(crate) reject_future_iat: bool,
    pub(crate) zero_exp_is_absent: bool,
}

/// Checks `exp`, `nbf` and `iat` against `now` with `skew` seconds of tolerance, with
/// Envoy's boundaries: a token is expired when `now > exp + skew` and not yet valid when
/// `now < nbf - skew`.
pub(crate) fn check_time(claims: &Claims, now: i64, rules: TimeRules) -> Result<(), TokenError> {
    let TimeRules {
        skew,
        require_exp,
        require_iat,
        reject_future_iat,
        zero_exp_is_absent,
    } = rules;
    let exp = claims.exp.filter(|e| !(zero_exp_is_absent && *e == 0));
    match exp {
        Some(exp) if now > exp.saturating_add(skew) => {
            return Err(TokenError::Expired { exp, now, skew });
        }
        None if require_exp => return Err(TokenError::MissingClaim("exp")),
        _ => {}
    }
    if let Some(nbf) = claims.nbf
        && nbf > now.saturating_add(skew)
    {
        return Err(TokenError::NotYetValid { nbf, now, skew });
    }
    match claims.iat {
        Some(iat) if reject_future_iat && iat > now.saturating_add(skew) => {
            Err(TokenError::IssuedInFuture { iat, now, skew })
        }
        None if require_iat => Err(TokenError::MissingClaim("iat")),
        _ => Ok(()),
    }
}
