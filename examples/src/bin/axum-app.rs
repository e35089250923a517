//! The demo application in axum behind `SsoLayer`, with a built-in development provider:
//!
//! ```text
//! cargo run -p examples --bin axum-app [PORT]
//! ```
//!
//! Open the printed URL, log in as `alice` or `bob` (the password is the user name), see
//! the identity headers and the ID token's claims, and sign out.

use tower_sso::SsoLayer;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let demo = examples::start_demo_from_args().await?;
    demo.announce();
    let app = examples::demo_app::router().layer(SsoLayer::new(demo.sso));
    axum::serve(demo.app_listener, app).await
}
