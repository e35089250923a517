//! `JwtAuthLayer`: Istio `RequestAuthentication` for APIs. A bad token is a 401 (403 for a
//! wrong audience); no token continues with no identity; a good token's identity is in the
//! request extensions (`authz_policy::Identity`) and its header outputs are applied.

use std::sync::Arc;
use std::task::{Context, Poll};

use authz_policy::{Authentication, HeaderChanges, PolicySet, Workload};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::Either;

use crate::request::{attributes, now};
use crate::sso::respond::{self, Body};

/// Applies the RequestAuthentication objects of a [`PolicySet`] for one workload.
#[derive(Debug, Clone)]
#[must_use]
pub struct JwtAuthLayer {
    policies: Arc<PolicySet>,
    workload: Arc<Workload>,
    port: Option<u16>,
}

impl JwtAuthLayer {
    /// The layer for `workload` (its namespace and labels select the policies).
    pub fn new(policies: Arc<PolicySet>, workload: Workload) -> Self {
        Self {
            policies,
            workload: Arc::new(workload),
            port: None,
        }
    }

    /// The server's port, for policies that match ports.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }
}

impl<S> tower::Layer<S> for JwtAuthLayer {
    type Service = JwtAuth<S>;

    fn layer(&self, inner: S) -> JwtAuth<S> {
        JwtAuth {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service of [`JwtAuthLayer`].
#[derive(Debug, Clone)]
pub struct JwtAuth<S> {
    layer: JwtAuthLayer,
    inner: S,
}

/// Applies header changes to the upstream request. A removed header goes under every
/// spelling an upstream may read as it (`x_jwt_payload` for `x-jwt-payload`).
pub(crate) fn apply(parts: &mut http::request::Parts, changes: &HeaderChanges) {
    if !changes.remove.is_empty() {
        let spelled: Vec<HeaderName> = parts
            .headers
            .keys()
            .filter(|n| {
                changes
                    .remove
                    .iter()
                    .any(|r| crate::sso::headers::same_name(n.as_str(), r))
            })
            .cloned()
            .collect();
        for name in &spelled {
            parts.headers.remove(name);
        }
    }
    for (name, value) in &changes.add {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            parts.headers.append(n, v);
        }
    }
    if !changes.remove_query_params.is_empty()
        && let Some(query) = parts.uri.query()
    {
        let kept: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| !changes.remove_query_params.iter().any(|p| p == k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut path = parts.uri.path().to_owned();
        if !kept.is_empty() {
            path.push('?');
            path.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(kept)
                    .finish(),
            );
        }
        let mut uri_parts = parts.uri.clone().into_parts();
        if let Ok(pq) = path.parse() {
            uri_parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(uri_parts) {
                parts.uri = uri;
            }
        }
    }
}

fn rejected(status: u16, reason: &str, uri: &Uri) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
    respond::invalid_token(status, uri.path(), reason)
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for JwtAuth<S>
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
        if self.layer.policies.has_no_request_authentications() {
            // Without RequestAuthentication, Istio does not look at tokens.
            return Box::pin(async move { inner.call(req).await.map(|r| r.map(Either::Left)) });
        }
        let layer = self.layer.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let decide = |parts: &http::request::Parts| {
                layer
                    .policies
                    .authenticate(&layer.workload, &attributes(parts, layer.port), now())
            };
            let mut outcome = decide(&parts);
            if let Authentication::Rejected {
                keys_missing: true, ..
            } = outcome
            {
                // An unknown kid may be a rotated key: refetch (rate-limited) and retry once.
                for (cache, _) in layer.policies.jwks_sources() {
                    cache.refresh_for_unknown_kid().await;
                }
                outcome = decide(&parts);
            }
            match outcome {
                Authentication::Rejected { status, reason, .. } => {
                    tracing::info!(status, %reason, "token rejected");
                    Ok(rejected(status, &reason, &parts.uri).map(Either::Right))
                }
                Authentication::Anonymous(changes) => {
                    apply(&mut parts, &changes);
                    inner
                        .call(Request::from_parts(parts, body))
                        .await
                        .map(|r| r.map(Either::Left))
                }
                Authentication::Authenticated(identity, changes) => {
                    apply(&mut parts, &changes);
                    parts.extensions.insert(identity);
                    inner
                        .call(Request::from_parts(parts, body))
                        .await
                        .map(|r| r.map(Either::Left))
                }
                _ => Ok(respond::json(
                    StatusCode::UNAUTHORIZED,
                    &serde_json::json!({"error": "unauthorized"}),
                )
                .map(Either::Right)),
            }
        })
    }
}
