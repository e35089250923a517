//! The code flow against the in-process development provider: fast checks of what the
//! real provider does not exercise (at_hash, error mapping, URL shapes).

use std::sync::Arc;

use oidc_core::error::{Error, FlowError, TokenError};
use oidc_core::flow::{Client, ClientAuth, ClientConfig, LogoutRequest};
use oidc_core::secret::{ClientSecret, State};
use oidc_core::testing::{DevClient, DevProvider};

const ISS: &str = "http://127.0.0.1:9";
const REDIRECT: &str = "http://127.0.0.1:8080/oauth2/callback";

async fn client(op: &DevProvider, auth: ClientAuth) -> Client {
    let config = ClientConfig::new("dev-client", auth, REDIRECT).unwrap();
    Client::discover(ISS, config, Arc::new(op.clone()))
        .await
        .unwrap()
}

/// Logs `user` in at the dev provider and exchanges the code: the whole flow.
async fn sign_in(
    client: &Client,
    op: &DevProvider,
    user: &str,
) -> Result<oidc_core::flow::TokenSet, Error> {
    let request = client.authorization_request().build()?;
    let callback = op.login(request.url.as_str(), user).unwrap();
    let code = client.parse_callback(callback.as_str(), &request.state)?;
    client.exchange_code(&code, &request).await
}

fn basic() -> ClientAuth {
    ClientAuth::ClientSecretBasic(ClientSecret::new("dev-secret"))
}

#[tokio::test]
async fn full_flow_verifies_nonce_and_at_hash() {
    let op = DevProvider::new(ISS);
    let client = client(&op, basic()).await;
    let request = client
        .authorization_request()
        .login_hint("alice")
        .prompt("login")
        .acr_values("urn:mace:incommon:iap:silver")
        .build()
        .unwrap();
    let pairs: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    for required in [
        "response_type",
        "client_id",
        "state",
        "code_challenge",
        "code_challenge_method",
        "redirect_uri",
        "scope",
        "nonce",
        "login_hint",
        "prompt",
        "acr_values",
    ] {
        assert!(
            names.contains(&required),
            "{required} missing from {}",
            request.url
        );
    }
    assert!(pairs.contains(&("scope".into(), "openid email profile".into())));
    assert!(pairs.contains(&("redirect_uri".into(), REDIRECT.into())));
    assert!(pairs.contains(&("prompt".into(), "login".into())));
    assert!(pairs.contains(&("acr_values".into(), "urn:mace:incommon:iap:silver".into())));

    let callback = op.login(request.url.as_str(), "alice").unwrap();
    let code = client
        .parse_callback(callback.as_str(), &request.state)
        .unwrap();
    let tokens = client.exchange_code(&code, &request).await.unwrap();
    let claims = tokens.id_token().unwrap().claims();
    assert_eq!(claims.sub.as_deref(), Some("alice-sub"));
    assert!(
        claims.at_hash.is_some(),
        "the dev provider sends at_hash, and it was checked"
    );
    assert_eq!(claims.groups, ["admins", "group1"]);
    assert_eq!(tokens.token_type(), "Bearer");
    // Codes are single use.
    let err = client.exchange_code(&code, &request).await.unwrap_err();
    assert!(
        matches!(&err, Error::Flow(FlowError::TokenEndpoint { error, .. }) if error == "invalid_grant"),
        "{err}"
    );
}

#[tokio::test]
async fn an_id_token_whose_at_hash_does_not_match_is_rejected() {
    // A provider that swaps the access token after signing the ID token.
    #[derive(Debug)]
    struct SwapAccessToken(DevProvider);
    impl oidc_core::http::HttpClient for SwapAccessToken {
        fn execute(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> oidc_core::http::BoxFuture<
            '_,
            Result<http::Response<Vec<u8>>, oidc_core::http::HttpError>,
        > {
            let is_token = request.uri().path() == "/token";
            let response = self.0.handle(request);
            Box::pin(async move {
                if !is_token {
                    return Ok(response);
                }
                let (parts, body) = response.into_parts();
                let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
                json["access_token"] = "substituted-token".into();
                Ok(http::Response::from_parts(
                    parts,
                    json.to_string().into_bytes(),
                ))
            })
        }
    }
    let op = DevProvider::new(ISS);
    let config = ClientConfig::new("dev-client", basic(), REDIRECT).unwrap();
    let client = Client::discover(ISS, config, Arc::new(SwapAccessToken(op.clone())))
        .await
        .unwrap();
    let err = sign_in(&client, &op, "bob").await.unwrap_err();
    assert!(
        matches!(err, Error::Token(TokenError::AccessTokenHashMismatch)),
        "{err}"
    );
}

#[tokio::test]
async fn client_secret_post_and_public_clients() {
    let op = DevProvider::new(ISS);
    op.add_client(DevClient {
        id: "spa".into(),
        secret: None,
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![],
    });
    for (id, auth) in [
        (
            "dev-client",
            ClientAuth::ClientSecretPost(ClientSecret::new("dev-secret")),
        ),
        ("spa", ClientAuth::None),
    ] {
        let config = ClientConfig::new(id, auth, REDIRECT).unwrap();
        let client = Client::discover(ISS, config, Arc::new(op.clone()))
            .await
            .unwrap();
        let tokens = sign_in(&client, &op, "bob").await.unwrap();
        assert_eq!(tokens.id_token().unwrap().claims().aud, [id]);
    }
}

#[tokio::test]
async fn callback_parsing_rejects_what_it_must() {
    let op = DevProvider::new(ISS);
    let client = client(&op, basic()).await;
    let state = State::new("s".repeat(43));
    let ok = format!("code=abc&state={}&iss={}", "s".repeat(43), urlencode(ISS));
    assert_eq!(client.parse_callback(&ok, &state).unwrap().secret(), "abc");
    let full = format!("{REDIRECT}?{ok}");
    assert_eq!(
        client.parse_callback(&full, &state).unwrap().secret(),
        "abc"
    );
    let cases = [
        (format!("code=abc&state={}", "t".repeat(43)), "state"),
        ("code=abc".to_owned(), "state"),
        (
            format!("code=abc&state={0}&state={0}", "s".repeat(43)),
            "repeated",
        ),
        (
            format!(
                "code=abc&state={}&iss=https%3A%2F%2Fevil.example",
                "s".repeat(43)
            ),
            "mix-up",
        ),
        (format!("state={}", "s".repeat(43)), "no code"),
        (
            format!(
                "error=access_denied&error_description=User+said+no&state={}",
                "s".repeat(43)
            ),
            "access_denied: User said no",
        ),
    ];
    for (query, expected) in cases {
        let err = client.parse_callback(&query, &state).unwrap_err();
        assert!(err.to_string().contains(expected), "{query}: {err}");
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn refresh_userinfo_revoke_and_logout_url() {
    let op = DevProvider::new(ISS);
    let client = client(&op, basic()).await;
    let tokens = sign_in(&client, &op, "alice").await.unwrap();

    let refreshed = client
        .refresh(tokens.refresh_token().unwrap(), Some("alice-sub"))
        .await
        .unwrap();
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        tokens.refresh_token().unwrap().secret(),
        "rotated"
    );
    // The old refresh token was rotated out.
    assert!(
        client
            .refresh(tokens.refresh_token().unwrap(), None)
            .await
            .is_err()
    );
    // An ID token for another subject on refresh is refused.
    let err = client
        .refresh(refreshed.refresh_token().unwrap(), Some("mallory"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Token(TokenError::SubjectMismatch)),
        "{err}"
    );

    let info = client
        .userinfo(refreshed.access_token(), Some("alice-sub"))
        .await
        .unwrap();
    assert_eq!(info.claims["email"], "alice@example.com");
    client
        .revoke(
            refreshed.access_token(),
            oidc_core::flow::TokenKind::AccessToken,
        )
        .await
        .unwrap();
    assert!(
        client
            .userinfo(refreshed.access_token(), None)
            .await
            .is_err()
    );

    let url = client
        .logout_url(&LogoutRequest {
            id_token_hint: Some("the.id.token"),
            post_logout_redirect_uri: Some("http://127.0.0.1:8080/"),
            state: Some("xyz"),
        })
        .unwrap();
    assert_eq!(
        url.as_str(),
        "http://127.0.0.1:9/end_session?id_token_hint=the.id.token&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2F&state=xyz&client_id=dev-client"
    );
    let bad = client.logout_url(&LogoutRequest {
        post_logout_redirect_uri: Some("not a url"),
        ..Default::default()
    });
    assert!(bad.is_err());
}

#[tokio::test]
async fn reserved_parameters_cannot_be_overridden_and_openid_is_always_requested() {
    let op = DevProvider::new(ISS);
    let client = client(&op, basic()).await;
    assert!(
        client
            .authorization_request()
            .param("state", "fixed")
            .build()
            .is_err()
    );
    assert!(
        client
            .authorization_request()
            .param("nonce", "fixed")
            .build()
            .is_err()
    );
    let request = client
        .authorization_request()
        .scopes(["email"])
        .param("resource", "urn:api")
        .build()
        .unwrap();
    let scope: String = request
        .url
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(scope, "openid email");
    // Two requests never share state, nonce or verifier.
    let other = client.authorization_request().build().unwrap();
    assert_ne!(request.state.secret(), other.state.secret());
    assert_ne!(request.nonce.secret(), other.nonce.secret());
    assert_ne!(request.pkce_verifier.secret(), other.pkce_verifier.secret());
    // Debug output is safe to log: no state, nonce or verifier.
    let shown = format!("{request:?}");
    for secret in [
        request.state.secret(),
        request.nonce.secret(),
        request.pkce_verifier.secret(),
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("http://127.0.0.1:9/authorize"));
}

#[tokio::test]
async fn discovery_for_another_issuer_is_refused() {
    let op = DevProvider::new(ISS);
    let config = ClientConfig::new("dev-client", basic(), REDIRECT).unwrap();
    let err = Client::discover("http://127.0.0.1:9/", config, Arc::new(op))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expected exactly"), "{err}");
}

#[test]
fn configuration_errors_are_reported() {
    assert!(ClientConfig::new("", basic(), REDIRECT).is_err());
    assert!(ClientConfig::new("c", basic(), "not a url").is_err());
    assert!(ClientConfig::new("c", basic(), "https://app.example/cb#frag").is_err());
    assert_eq!(format!("{:?}", basic()), "ClientAuth(client_secret_basic)");
}

/// Compile-time: the flow's futures are `Send` for every lifetime, so tower services and
/// `tokio::spawn` can await them (a closure bridging to `oauth2` once made them not).
#[allow(dead_code)]
fn flow_futures_are_send(
    client: &'static Client,
    request: &'static oidc_core::flow::AuthorizationRequest,
) {
    fn send<T: Send>(_: T) {}
    let code = oidc_core::secret::TokenSecret::new("c");
    send(async move { client.exchange_code(&code, request).await });
    let rt = oidc_core::secret::TokenSecret::new("r");
    send(async move { client.refresh(&rt, None).await });
    let at = oidc_core::secret::TokenSecret::new("a");
    send(async move { client.userinfo(&at, None).await });
    let token = oidc_core::secret::TokenSecret::new("t");
    send(async move {
        client
            .revoke(&token, oidc_core::flow::TokenKind::AccessToken)
            .await
    });
}
