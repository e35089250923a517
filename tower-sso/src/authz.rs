//! `AuthorizationLayer`: Istio `AuthorizationPolicy` for one workload. A denied request is
//! a 403 with a short body; the decision is in the request extensions
//! (`authz_policy::Decision`) and in a tracing event.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use authz_policy::{CustomVerdict, Identity, PolicySet, Workload};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Either;
use tracing::Instrument as _;

use crate::ext_authz::{ExtAuthzHttp, Verdict};
use crate::request::attributes;
use crate::sso::Sso;
use crate::sso::respond::{self, Body};

/// What a CUSTOM policy's provider name stands for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CustomProvider {
    /// An in-process SSO: a request its rules match needs a login session (seed 000's
    /// `provider: httpextauth-oidc` against our SSO).
    Sso(Sso),
    /// A remote HTTP authorization service, as Istio's `envoyExtAuthzHttp` (an existing
    /// oauth2-proxy, or the gateway in ext_authz mode).
    ExtAuthzHttp(ExtAuthzHttp),
}

/// Applies the AuthorizationPolicy objects of a [`PolicySet`] for one workload.
#[derive(Debug, Clone)]
#[must_use]
pub struct AuthorizationLayer {
    policies: Arc<PolicySet>,
    workload: Arc<Workload>,
    port: Option<u16>,
    providers: Arc<HashMap<String, CustomProvider>>,
    unauthenticated_401: bool,
}

impl AuthorizationLayer {
    /// The layer for `workload`.
    pub fn new(policies: Arc<PolicySet>, workload: Workload) -> Self {
        Self {
            policies,
            workload: Arc::new(workload),
            port: None,
            providers: Arc::new(HashMap::new()),
            unauthenticated_401: false,
        }
    }

    /// The server's port, for policies that match ports.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Maps a CUSTOM policy's `provider.name` to a provider. A CUSTOM rule whose provider
    /// is not mapped denies what it matches (403), as Istio does for a provider missing
    /// from the mesh config.
    pub fn custom_provider(mut self, name: &str, provider: CustomProvider) -> Self {
        Arc::make_mut(&mut self.providers).insert(name.to_owned(), provider);
        self
    }

    /// Answers a request that has no identity and is denied with 401 and
    /// `WWW-Authenticate: Bearer` instead of Istio's 403 (istio/istio#26559). Off by default.
    pub fn unauthenticated_as_401(mut self, on: bool) -> Self {
        self.unauthenticated_401 = on;
        self
    }
}

impl<S> tower::Layer<S> for AuthorizationLayer {
    type Service = Authorization<S>;

    fn layer(&self, inner: S) -> Authorization<S> {
        Authorization {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service of [`AuthorizationLayer`].
#[derive(Debug, Clone)]
pub struct Authorization<S> {
    layer: AuthorizationLayer,
    inner: S,
}

fn denied(as_401: bool) -> Response<Body> {
    let body = serde_json::json!({"error": "access_denied", "message": "RBAC: access denied"});
    if as_401 {
        let mut r = respond::json(StatusCode::UNAUTHORIZED, &body);
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    respond::json(StatusCode::FORBIDDEN, &body)
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Authorization<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    ReqBody: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<Either<ResBody, Body>>;
    type Error = S::Error;
    type Future = crate::sso::ResponseFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let mut inner = crate::take_ready(&mut self.inner);
        if self.layer.policies.has_no_authorization_policies() {
            // No AuthorizationPolicy: Istio allows everything, and so do we, at no cost.
            return Box::pin(async move { inner.call(req).await.map(|r| r.map(Either::Left)) });
        }
        let layer = self.layer.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let identity = parts.extensions.get::<Identity>().cloned().or_else(|| {
                parts
                    .extensions
                    .get::<crate::sso::session::SessionUser>()
                    .map(crate::sso::session_identity)
            });
            let decide = |parts: &http::request::Parts, identity: Option<&Identity>| {
                layer.policies.authorize(
                    &layer.workload,
                    &attributes(parts, layer.port),
                    identity,
                    CustomVerdict::Allow,
                )
            };
            let mut decision = decide(&parts, identity.as_ref());
            let mut downstream = http::HeaderMap::new();
            if let Some(call) = decision.custom.clone() {
                match layer.providers.get(&*call.provider) {
                    None => {
                        tracing::warn!(provider = %call.provider, policy = %call.policy, "CUSTOM provider not configured: denied");
                        return Ok(denied(false).map(Either::Right));
                    }
                    Some(CustomProvider::Sso(sso)) => {
                        // The request needs a login session (refreshed when due); SSO
                        // answers when there is none.
                        let (session, cookies) = sso.session_refreshed(&parts.headers).await;
                        for cookie in cookies {
                            downstream.append(http::header::SET_COOKIE, cookie);
                        }
                        let Some(session) = session else {
                            let request = Request::from_parts(parts, ());
                            let mut answer = sso.unauthenticated_response(request).await;
                            for (name, value) in &downstream {
                                answer.headers_mut().append(name.clone(), value.clone());
                            }
                            return Ok(answer.map(Either::Right));
                        };
                        let identity = crate::sso::session_identity(&session.user);
                        sso.set_upstream_identity(&mut parts.headers, &session);
                        parts.extensions.insert(identity.clone());
                        decision = decide(&parts, Some(&identity));
                    }
                    Some(CustomProvider::ExtAuthzHttp(remote)) => {
                        match remote.check(&parts).await {
                            Verdict::Deny(answer) => return Ok(answer.map(Either::Right)),
                            Verdict::Allow {
                                upstream,
                                downstream: to_client,
                            } => {
                                remote.apply_upstream(&mut parts.headers, &upstream);
                                downstream = to_client;
                            }
                        }
                    }
                }
            }
            // The decision travels with the rest of the request's handling.
            let span = tracing::info_span!(
                "authorization",
                status = decision.status,
                outcome = decision.outcome.as_str(),
                policy = decision.policy.as_deref().unwrap_or("-"),
                rule = ?decision.rule,
                principal = decision.principal().as_deref().unwrap_or("-"),
            );
            if !decision.is_allowed() {
                span.in_scope(|| tracing::info!(reason = %decision.reason(), "request denied"));
                let as_401 = layer.unauthenticated_401 && decision.identity.is_none();
                return Ok(denied(as_401).map(Either::Right));
            }
            parts.extensions.insert(decision);
            inner
                .call(Request::from_parts(parts, body))
                .instrument(span)
                .await
                .map(|mut r| {
                    for (name, value) in &downstream {
                        r.headers_mut().append(name.clone(), value.clone());
                    }
                    r.map(Either::Left)
                })
        })
    }
}
