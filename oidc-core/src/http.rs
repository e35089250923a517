//! The HTTP seam: every call to the provider goes through an [`HttpClient`].
//!
//! The trait is object-safe and takes and returns whole buffered messages, so a test can
//! answer in-process (see `testing::DevProvider`) and another stack can bring its own client.
//! The default [`ReqwestClient`] (feature `reqwest`) uses rustls, follows no redirects, caps
//! response bodies at 1 MiB and times every call out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed, `Send` future, as returned by [`HttpClient::execute`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Largest response body accepted from a provider by default.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// Default time limit for one provider call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends one HTTP request and returns the whole response.
pub trait HttpClient: Send + Sync + std::fmt::Debug {
    /// Executes `request`. Implementations must not follow redirects, must bound the time
    /// spent and the size of the body they read.
    fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>>;
}

/// A shared HTTP client.
pub type SharedHttpClient = Arc<dyn HttpClient>;

/// Why a provider call failed at the transport level.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The request could not be sent or the connection failed.
    #[error("cannot reach {url}: {reason}")]
    Connect {
        /// The URL called (no query string).
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The provider did not answer in time.
    #[error("{url} did not answer within {timeout:?}")]
    Timeout {
        /// The URL called (no query string).
        url: String,
        /// The time limit.
        timeout: Duration,
    },
    /// The response body was larger than allowed.
    #[error("response from {url} exceeds {limit} bytes")]
    BodyTooLarge {
        /// The URL called (no query string).
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The request could not be built.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// The URL of a request without its query, safe to show in errors and logs.
#[cfg_attr(not(any(feature = "reqwest", feature = "testing")), allow(dead_code))]
pub(crate) fn display_url(uri: &http::Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}{}", uri.path()),
        _ => uri.path().to_owned(),
    }
}

#[cfg(feature = "reqwest")]
pub use self::reqwest_client::ReqwestClient;

#[cfg(feature = "reqwest")]
mod reqwest_client {
    use super::*;

    /// The default [`HttpClient`]: reqwest with rustls, redirects off, a timeout and a body cap.
    #[derive(Debug, Clone)]
    pub struct ReqwestClient {
        client: reqwest::Client,
        timeout: Duration,
        max_body: usize,
    }

    impl ReqwestClient {
        /// A client with [`DEFAULT_TIMEOUT`] and [`DEFAULT_MAX_BODY`].
        pub fn new() -> Result<Self, HttpError> {
            Self::with_limits(DEFAULT_TIMEOUT, DEFAULT_MAX_BODY)
        }

        /// A client with the given per-call timeout and response body cap.
        pub fn with_limits(timeout: Duration, max_body: usize) -> Result<Self, HttpError> {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()
                .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
            Ok(Self {
                client,
                timeout,
                max_body,
            })
        }

        async fn run(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> Result<http::Response<Vec<u8>>, HttpError> {
            let url = display_url(request.uri());
            let request = reqwest::Request::try_from(request.map(reqwest::Body::from))
                .map_err(|e| HttpError::InvalidRequest(e.to_string()))?;
            let classify = |e: reqwest::Error| {
                if e.is_timeout() {
                    HttpError::Timeout {
                        url: url.clone(),
                        timeout: self.timeout,
                    }
                } else {
                    HttpError::Connect {
                        url: url.clone(),
                        reason: e.without_url().to_string(),
                    }
                }
            };
            let mut response = self.client.execute(request).await.map_err(classify)?;
            if response
                .content_length()
                .is_some_and(|len| len > self.max_body as u64)
            {
                return Err(HttpError::BodyTooLarge {
                    url,
                    limit: self.max_body,
                });
            }
            let mut out = http::Response::builder()
                .status(response.status())
                .version(response.version());
            if let Some(headers) = out.headers_mut() {
                *headers = std::mem::take(response.headers_mut());
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > self.max_body {
                    return Err(HttpError::BodyTooLarge {
                        url,
                        limit: self.max_body,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            out.body(body)
                .map_err(|e| HttpError::InvalidRequest(e.to_string()))
        }
    }

    impl HttpClient for ReqwestClient {
        fn execute(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> BoxFuture<'_, Result<http::Response<Vec<u8>>, HttpError>> {
            Box::pin(self.run(request))
        }
    }
}

/// Builds a default shared client.
#[cfg(feature = "reqwest")]
pub fn default_client() -> Result<SharedHttpClient, HttpError> {
    Ok(Arc::new(ReqwestClient::new()?))
}
