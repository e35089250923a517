//! The in-process development provider (`oidc_core::testing::DevProvider`) served over
//! HTTP/1 on a listener, for the demo and for tests that need a real server.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use oidc_core::testing::DevProvider;
use tokio::net::TcpListener;

/// Starts a development provider on a free loopback port: the provider, its issuer URL
/// (`http://127.0.0.1:PORT`) and the serving task (it runs until aborted, or until the
/// process ends when the handle is dropped).
pub async fn start_on_loopback()
-> std::io::Result<(DevProvider, String, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let provider = DevProvider::new(&issuer);
    let task = tokio::spawn(serve(listener, provider.clone()));
    Ok((provider, issuer, task))
}

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
