//! The demo application: shows the headers it receives and the claims of the bearer JWT
//! the SSO layer sends it.

use axum::Router;
use axum::http::HeaderMap;
use axum::response::Html;
use axum::routing::get;
use base64::Engine as _;

/// The claims of the `Authorization: Bearer` JWT, decoded for display (the SSO layer
/// verified the token; the application only reads it).
pub fn bearer_claims(headers: &HeaderMap) -> Option<serde_json::Value> {
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

async fn page(headers: HeaderMap) -> Html<String> {
    let user = headers
        .get("x-forwarded-preferred-username")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(anonymous)");
    let mut rows = String::new();
    for (name, value) in &headers {
        let shown = if name == "authorization" || name == "cookie" {
            "(hidden)".to_owned()
        } else {
            value.to_str().unwrap_or("?").to_owned()
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(name.as_str()),
            escape(&shown)
        ));
    }
    let claims = bearer_claims(&headers)
        .map(|c| serde_json::to_string_pretty(&c).unwrap_or_default())
        .unwrap_or_else(|| "(no bearer token)".into());
    Html(format!(
        "<!doctype html><html><head><title>edge-sso demo</title></head><body>\
         <h1 id=\"hello\">Hello, {}</h1>\
         <p><a id=\"sign-out\" href=\"/oauth2/sign_out\">Sign out</a></p>\
         <h2>Claims of the ID token</h2><pre id=\"claims\">{}</pre>\
         <h2>Request headers</h2><table>{rows}</table></body></html>",
        escape(user),
        escape(&claims)
    ))
}

/// The demo application's routes.
pub fn router() -> Router {
    Router::new()
        .route("/", get(page))
        .route("/{*rest}", get(page))
}
