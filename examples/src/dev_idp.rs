//! The in-process development provider (`oidc_core::testing::DevProvider`) served over
//! HTTP/1 on a listener, for the demo and for tests that need a real server.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use oidc_core::testing::DevProvider;
use tokio::net::TcpListener;

/// Serves `provider` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, provider: DevProvider) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let provider = provider.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: http::Request<Incoming>| {
                let provider = provider.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = match Limited::new(body, 64 * 1024).collect().await {
                        Ok(b) => b.to_bytes().to_vec(),
                        Err(_) => Vec::new(),
                    };
                    let response = provider.handle(http::Request::from_parts(parts, body));
                    Ok::<_, Infallible>(response.map(|b| Full::new(Bytes::from(b))))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}
