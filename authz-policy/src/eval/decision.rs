//! A decision that explains itself.

use std::borrow::Cow;
use std::sync::Arc;

use oidc_core::verify::{Claims, VerifiedToken};

/// The outcome of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Let through (200).
    Allow,
    /// Denied by policy (403).
    Deny,
    /// A token was present and failed (401, or 403 for a wrong audience).
    Unauthenticated,
}

impl Outcome {
    /// `allow`, `deny` or `unauthenticated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
            Outcome::Unauthenticated => "unauthenticated",
        }
    }
}

/// What the external authorizer of a CUSTOM policy answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CustomVerdict {
    /// The provider lets the request through.
    #[default]
    Allow,
    /// The provider denies it.
    Deny,
}

/// A CUSTOM policy whose rule matched: its provider must be consulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomCall {
    /// `namespace/name` of the policy.
    pub policy: Arc<str>,
    /// The rule index.
    pub rule: usize,
    /// The provider's name.
    pub provider: Arc<str>,
}

/// The identity a verified token gives a request (Istio's `request.auth.*`).
#[derive(Debug, Clone)]
pub struct Identity {
    pub(crate) source: Source,
    pub(crate) split_claims: Arc<[String]>,
}

#[derive(Debug, Clone)]
pub(crate) enum Source {
    Token(VerifiedToken),
    Claims(Arc<Claims>),
}

fn default_split() -> Arc<[String]> {
    ["scope".to_owned(), "permission".to_owned()].into()
}

impl Identity {
    /// The identity of a token verified elsewhere; the claims `scope` and `permission`
    /// are split on spaces when matched, as Istio configures Envoy.
    pub fn new(token: VerifiedToken) -> Self {
        Identity {
            source: Source::Token(token),
            split_claims: default_split(),
        }
    }

    /// The identity of claims verified elsewhere, e.g. those of a login session whose
    /// ID token was verified at login.
    pub fn from_claims(claims: Claims) -> Self {
        Identity {
            source: Source::Claims(Arc::new(claims)),
            split_claims: default_split(),
        }
    }

    /// `iss/sub` (`request.auth.principal`); `None` when there is no `sub`.
    pub fn principal(&self) -> Option<String> {
        let c = self.claims();
        c.sub.as_ref().map(|sub| format!("{}/{sub}", c.iss))
    }

    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        match &self.source {
            Source::Token(t) => t.claims(),
            Source::Claims(c) => c,
        }
    }

    /// The verified token, when the identity comes from one.
    pub fn token(&self) -> Option<&VerifiedToken> {
        match &self.source {
            Source::Token(t) => Some(t),
            Source::Claims(_) => None,
        }
    }
}

/// Header changes for the upstream request that RequestAuthentication asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderChanges {
    /// Headers to remove (lower-case names): the token's header unless
    /// `forwardOriginalToken`, and any client-sent copy of an output header.
    pub remove: Vec<String>,
    /// Query parameters to remove from the path (a token taken from the query).
    pub remove_query_params: Vec<String>,
    /// Headers to add: `outputPayloadToHeader` and `outputClaimToHeaders`.
    pub add: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
enum Reason {
    Text(Cow<'static, str>),
    AllowedByRule,
    DeniedByRule,
}

/// The decision for one request, with what decided it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Decision {
    /// 200, 401 or 403.
    pub status: u16,
    /// Allow, deny or unauthenticated.
    pub outcome: Outcome,
    /// The policy whose rule decided (`namespace/name`); `None` when no rule decided.
    pub policy: Option<Arc<str>>,
    /// That rule's index in the policy.
    pub rule: Option<usize>,
    /// The CUSTOM policy whose provider must be (or was) consulted.
    pub custom: Option<CustomCall>,
    /// The authenticated identity, if a token was verified.
    pub identity: Option<Identity>,
    /// Why; see [`Decision::reason`]. Rendered only when asked for.
    reason: Reason,
    /// Header changes for the upstream request (applied only when allowed).
    pub upstream: HeaderChanges,
    /// AUDIT policies whose rules matched (`namespace/name`, rule).
    pub audited: Vec<(Arc<str>, usize)>,
}

impl Decision {
    /// True when the request may proceed.
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// True when a CUSTOM provider must be consulted.
    pub fn custom_called(&self) -> bool {
        self.custom.is_some()
    }

    /// `request.auth.principal`, if authenticated with a `sub`.
    pub fn principal(&self) -> Option<String> {
        self.identity.as_ref().and_then(Identity::principal)
    }

    /// A one-line reason.
    pub fn reason(&self) -> Cow<'_, str> {
        let by = |verb: &str| {
            Cow::Owned(format!(
                "{verb} by {} rule {}",
                self.policy.as_deref().unwrap_or("?"),
                self.rule.unwrap_or_default()
            ))
        };
        match &self.reason {
            Reason::Text(text) => Cow::Borrowed(text),
            Reason::AllowedByRule => by("allowed"),
            Reason::DeniedByRule => by("denied"),
        }
    }

    /// An allow or deny decided by `policy`'s rule `rule`; the reason is rendered lazily,
    /// so the hot path does not format strings.
    pub(crate) fn by_rule(outcome: Outcome, policy: Arc<str>, rule: usize) -> Self {
        let (status, reason) = match outcome {
            Outcome::Allow => (200, Reason::AllowedByRule),
            _ => (403, Reason::DeniedByRule),
        };
        let mut d = Decision::with_reason(status, outcome, reason);
        d.policy = Some(policy);
        d.rule = Some(rule);
        d
    }

    pub(crate) fn new(status: u16, outcome: Outcome, reason: impl Into<Cow<'static, str>>) -> Self {
        Decision::with_reason(status, outcome, Reason::Text(reason.into()))
    }

    fn with_reason(status: u16, outcome: Outcome, reason: Reason) -> Self {
        Decision {
            status,
            outcome,
            policy: None,
            rule: None,
            custom: None,
            identity: None,
            reason,
            upstream: HeaderChanges::default(),
            audited: Vec::new(),
        }
    }
}
