//! The same demo with plain hyper 1: the layers go on any tower service through
//! `tower::ServiceBuilder`, no framework needed.
//!
//! ```text
//! cargo run -p examples --bin hyper-app [PORT]
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use tower::ServiceBuilder;
use tower_sso::SsoLayer;

async fn hello(
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let user = req
        .headers()
        .get("x-forwarded-email")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("nobody")
        .to_owned();
    Ok(http::Response::new(Full::new(Bytes::from(format!(
        "hello {user}\n"
    )))))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let demo = examples::start_demo_from_args().await?;
    demo.announce();
    let service = ServiceBuilder::new()
        .layer(SsoLayer::new(demo.sso))
        .service(tower::service_fn(hello));
    examples::serve::serve(demo.app_listener, service).await;
    Ok(())
}
