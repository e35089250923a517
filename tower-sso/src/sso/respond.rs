//! Responses we make ourselves: redirects for browsers, 401 JSON for API clients, error
//! pages. Never a 500 for what a client or the provider did.

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// Our own response body.
pub type Body = Full<Bytes>;

/// True when the request looks like a browser navigation: GET or HEAD, no bearer token, not
/// XHR, and HTML acceptable. Everything else is treated as an API call (401, never 302).
pub fn is_browser(req: &Parts) -> bool {
    let h = &req.headers;
    let method_ok = matches!(req.method, http::Method::GET | http::Method::HEAD);
    let xhr = h
        .get("x-requested-with")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest"));
    let bearer = h.contains_key(header::AUTHORIZATION);
    let accept = h.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let wants_html = match accept {
        None => true,
        Some(a) => {
            a.contains("text/html") || (a.contains("*/*") && !a.contains("application/json"))
        }
    };
    method_ok && !xhr && !bearer && wants_html
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A 302 to `location` (already checked), with `set_cookies`.
pub fn redirect(location: &str, set_cookies: Vec<HeaderValue>) -> Response<Body> {
    let mut r = respond(StatusCode::FOUND, "text/html; charset=utf-8", String::new());
    match HeaderValue::try_from(location) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => *r.status_mut() = StatusCode::BAD_REQUEST,
    }
    for c in set_cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An error for a person (HTML) or a program (JSON), by what the request accepts.
pub fn error(req: &Parts, status: StatusCode, code: &str, message: &str) -> Response<Body> {
    if is_browser(req) {
        respond(
            status,
            "text/html; charset=utf-8",
            format!(
                "<!doctype html><html><head><title>{s}</title></head><body><h1>{s}</h1><p>{m}</p><p><a href=\"/\">Back to the start</a></p></body></html>",
                s = escape(status.canonical_reason().unwrap_or("Error")),
                m = escape(message)
            ),
        )
    } else {
        respond(
            status,
            "application/json",
            serde_json::json!({"error": code, "message": message}).to_string(),
        )
    }
}

/// 401 for an API client, with `WWW-Authenticate`.
pub fn unauthorized(realm: &str) -> Response<Body> {
    let mut r = respond(
        StatusCode::UNAUTHORIZED,
        "application/json",
        serde_json::json!({"error": "unauthorized", "message": "a login session or bearer token is required"})
            .to_string(),
    );
    if let Ok(v) = HeaderValue::try_from(format!("Bearer realm=\"{}\"", realm.replace('"', ""))) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// `status` (401, or 403 for a wrong audience) for a bearer token that did not verify:
/// RFC 6750 `invalid_token` with the reason, never the token.
pub fn invalid_token(status: StatusCode, realm: &str, reason: &str) -> Response<Body> {
    let mut r = json(
        status,
        &serde_json::json!({"error": "invalid_token", "message": reason}),
    );
    let challenge = format!(
        "Bearer realm=\"{}\", error=\"invalid_token\"",
        realm.replace('"', "")
    );
    if let Ok(v) = HeaderValue::try_from(challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// JSON with status 200 (or `status`).
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    respond(status, "application/json", value.to_string())
}
