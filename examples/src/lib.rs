//! Runnable programs built from the edge-sso crates, and the pieces they share: the
//! development identity provider served over HTTP, the demo application, and a small
//! helper to serve any tower service with hyper.
//!
//! - `gateway` (bin): the SSO gateway and ext_authz server with oauth2-proxy's options
//!   ([`flags`], [`gateway`], [`proxy`]); with no options, the demo ([`demo`]).
//! - `authz-check` (bin): decide a request against Istio policies (see ARCHITECTURE.md).
//! - `axum-app`, `hyper-app` (bins): the demo application behind `SsoLayer`, with a
//!   built-in development provider, in axum and in plain hyper.
//!
//! An oauth2-proxy command line, read as the gateway reads it:
//!
//! ```
//! use examples::flags::{Launch, Upstream};
//!
//! let launch = Launch::parse_from([
//!     "gateway", "--upstream=static://200", "--provider=oidc",
//!     "--oidc-issuer-url=https://idp.example.com", "--client-id=app",
//!     "--client-secret=s3cret", "--cookie-secret=q1dRp0KYQ3lPZ6sS8gGk3R0w5h6f9T2aJmQe1vXcB7U=",
//!     "--redirect-url=https://app.example.com/oauth2/callback", "--email-domain=*",
//! ], []).unwrap(); // the environment: the binary passes std::env::vars_os()
//! let Launch::Gateway(options) = launch else { panic!("options were given") };
//! assert_eq!(options.upstream, Upstream::Static(http::StatusCode::OK)); // ext_authz mode
//!
//! let error = Launch::parse_from(["gateway", "--upstream=static://200", "--cookie-expire=7d"], [])
//!     .unwrap_err();
//! assert!(error.to_string().contains("--oidc-issuer-url"));      // one line, naming the flag
//!
//! // oauth2-proxy's options this gateway lacks are refused, never ignored.
//! let env = [("OAUTH2_PROXY_ALLOWED_GROUPS".into(), "admins".into())];
//! let error = Launch::parse_from(["gateway", "--upstream=static://200"], env).unwrap_err();
//! assert!(error.to_string().contains("unknown option OAUTH2_PROXY_ALLOWED_GROUPS (--allowed-group)"));
//! ```

pub mod demo;
pub mod demo_app;
pub mod dev_idp;
pub mod flags;
pub mod gateway;
pub mod ingress;
pub mod logging;
pub mod proxy;
pub mod serve;

use std::sync::Arc;

use base64::Engine as _;
use oidc_core::testing::DevProvider;
use tokio::net::TcpListener;
use tower_sso::{Sso, SsoConfig};

/// A development provider served on a loopback port, and an SSO configured for it.
#[derive(Debug)]
pub struct Demo {
    /// The provider (its users: alice and bob, password = user name).
    pub provider: DevProvider,
    /// The provider's issuer URL.
    pub issuer: String,
    /// The SSO state for an application at `app_url`.
    pub sso: Sso,
    /// Where the application is to be served.
    pub app_url: String,
    /// The listener for the application.
    pub app_listener: TcpListener,
}

impl Demo {
    /// Prints where the provider runs (stderr) and the URL to open (stdout, one line that
    /// the tests read: `open http://127.0.0.1:PORT/ ...`).
    pub fn announce(&self) {
        eprintln!("identity provider: {}", self.issuer);
        println!(
            "open {}/ and log in as alice or bob (password = user name)",
            self.app_url
        );
    }
}

/// [`start_demo`] on the port given as the program's first argument (default: a free one).
pub async fn start_demo_from_args() -> std::io::Result<Demo> {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    start_demo(port).await
}

/// Starts the development provider on a free loopback port and prepares an SSO for an
/// application on `app_port` (0: a free port). The provider runs until the process ends.
pub async fn start_demo(app_port: u16) -> std::io::Result<Demo> {
    let (provider, issuer, _serving) = dev_idp::start_on_loopback().await?;
    let app_listener = TcpListener::bind(("127.0.0.1", app_port)).await?;
    let app_url = format!("http://127.0.0.1:{}", app_listener.local_addr()?.port());
    let secret = random_cookie_secret()?;
    let config = SsoConfig::new(
        &issuer,
        "dev-client",
        "dev-secret",
        &format!("{app_url}/oauth2/callback"),
        &secret,
    )
    .map_err(std::io::Error::other)?
    .http(Arc::new(provider.clone()));
    let sso = Sso::new(config).map_err(std::io::Error::other)?;
    Ok(Demo {
        provider,
        issuer,
        sso,
        app_url,
        app_listener,
    })
}

/// A fresh cookie secret (32 random bytes, base64url) for a demo run: its sessions do not
/// outlive the process.
pub fn random_cookie_secret() -> std::io::Result<String> {
    let mut secret = [0u8; 32];
    tower_sso::sso::session::codec::fill_random(&mut secret).map_err(std::io::Error::other)?;
    Ok(base64::engine::general_purpose::URL_SAFE.encode(secret))
}
