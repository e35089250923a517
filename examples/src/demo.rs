//! The zero-configuration demo: the development identity provider, the demo application
//! and the gateway in front of it, all on loopback.

use std::future::Future;

use tokio::net::TcpListener;

use crate::flags::Options;
use crate::gateway::Gateway;

/// The demo's policy: `/admin` is for the group `admins`.
pub const POLICY: &str = include_str!("../demo/policy.yaml");

/// Binds the gateway's port: 4180 (oauth2-proxy's) when free, else any.
async fn gateway_listener() -> std::io::Result<TcpListener> {
    match crate::gateway::listen(([127, 0, 0, 1], 4180).into()) {
        Ok(l) => Ok(l),
        Err(_) => crate::gateway::listen(([127, 0, 0, 1], 0).into()),
    }
}

/// Starts the provider, the demo application and the gateway; prints the URL to open
/// (stdout: `open http://127.0.0.1:PORT/ ...`) and serves until `shutdown` completes.
pub async fn run(shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let (_provider, issuer, _serving) = crate::dev_idp::start_on_loopback().await.map_err(io)?;
    let app = TcpListener::bind("127.0.0.1:0").await.map_err(io)?;
    let app_url = format!("http://127.0.0.1:{}/", app.local_addr().map_err(io)?.port());
    tokio::spawn(async move { axum::serve(app, crate::demo_app::router()).await });
    let listener = gateway_listener().await.map_err(io)?;
    let gateway_url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().map_err(io)?.port()
    );

    let policy = std::env::temp_dir().join(format!("edge-sso-demo-{}.yaml", std::process::id()));
    std::fs::write(&policy, POLICY).map_err(|e| format!("{}: {e}", policy.display()))?;
    let cookie_secret = crate::random_cookie_secret().map_err(io)?;
    let options = Options::from_map(
        serde_json::json!({
            "http_address": listener.local_addr().map_err(io)?.to_string(),
            "upstreams": [app_url],
            "upstream_timeout": "10s",
            "provider": "oidc",
            "oidc_issuer_url": issuer,
            "client_id": "dev-client",
            "client_secret": "dev-secret",
            "redirect_url": format!("{gateway_url}/oauth2/callback"),
            "cookie_secret": cookie_secret,
            "email_domains": ["*"],
            "skip_jwt_bearer_tokens": true,
            "set_xauthrequest": true,
            "pass_authorization_header": true,
            "provider_logout": true,
            "policies": [policy.display().to_string()],
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    let gateway = Gateway::build(options).await?;
    let _ = std::fs::remove_file(&policy);
    eprintln!("identity provider: {issuer}");
    eprintln!("demo application: {app_url} (behind the gateway)");
    println!(
        "open {gateway_url}/ and log in as alice or bob (password = user name); /admin is for alice's group only"
    );
    gateway.serve(listener, None, None, shutdown).await
}
