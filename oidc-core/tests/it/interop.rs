//! Interop against a real OpenID Provider: the npm package `oidc-provider` (OpenID
//! Certified), installed and started on 127.0.0.1 by `provider.rs`.

use std::sync::Arc;
use std::time::Duration;

use oidc_core::error::{Error, FlowError, TokenError};
use oidc_core::flow::{Client, ClientAuth, ClientConfig, LogoutRequest, PrivateKey, TokenKind};
use oidc_core::http::{ReqwestClient, SharedHttpClient};
use oidc_core::jwks::JwksCacheConfig;
use oidc_core::secret::{ClientSecret, State};
use oidc_core::testing::{SigningKey, mint_with_header};
use oidc_core::verify::Algorithm;
use serde_json::json;

use crate::provider::*;

/// Bound on every interop test.
const LIMIT: Duration = Duration::from_secs(60);

fn http() -> SharedHttpClient {
    Arc::new(ReqwestClient::new().unwrap())
}

async fn client(op: &OidcProvider, id: &str, auth: ClientAuth, jwks: JwksCacheConfig) -> Client {
    let config = ClientConfig::new(id, auth, REDIRECT_URI)
        .unwrap()
        .scopes(["openid", "email", "profile", "groups", "offline_access"])
        .jwks(jwks);
    Client::discover(&op.issuer, config, http())
        .await
        .unwrap_or_else(|e| panic!("discovery failed: {e}\n{}", op.logs()))
}

/// Runs the whole code flow for `login` and returns the token set.
async fn code_flow(
    client: &Client,
    browser: &mut Browser,
    login: &str,
) -> oidc_core::flow::TokenSet {
    let request = client
        .authorization_request()
        .prompt("consent")
        .build()
        .unwrap();
    let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("code_challenge_method").as_deref(), Some("S256"));
    assert!(
        get("state").unwrap().len() >= 32,
        "state has at least 32 characters"
    );
    assert!(get("nonce").unwrap().len() >= 32);
    let callback = browser.login(request.url.as_str(), login).await.unwrap();
    let code = client
        .parse_callback(callback.as_str(), &request.state)
        .unwrap();
    client.exchange_code(&code, &request).await.unwrap()
}

fn assert_identity(tokens: &oidc_core::flow::TokenSet, login: &str, client_id: &str) {
    let id = tokens.id_token().expect("verified id token");
    let claims = id.claims();
    assert_eq!(claims.sub.as_deref(), Some(login));
    assert_eq!(claims.aud, [client_id]);
    assert_eq!(
        claims.email.as_deref(),
        Some(format!("{login}@example.com").as_str())
    );
    assert_eq!(claims.groups, ["group1", "group2"]);
    assert!(
        claims.nonce.is_some(),
        "the nonce was checked against the request"
    );
    assert!(
        tokens.refresh_token().is_some(),
        "offline_access with consent issues a refresh token"
    );
}

#[tokio::test]
async fn code_flow_with_each_client_authentication_method() {
    tokio::time::timeout(LIMIT, async {
        let dir = scratch_dir("client-auth");
        let client_key = SigningKey::ec("client-key-1", Algorithm::ES256);
        let client_jwks = write_public_jwks(&dir, &json!({"keys": [client_key.public_jwk()]}));
        let op = OidcProvider::start(None, Some(&client_jwks), None).await;
        let pkcs8 = client_key.pkcs8_der().unwrap();
        let cases = [
            (CLIENT_BASIC, ClientAuth::ClientSecretBasic(ClientSecret::new(CLIENT_BASIC_SECRET))),
            (CLIENT_POST, ClientAuth::ClientSecretPost(ClientSecret::new(CLIENT_POST_SECRET))),
            (CLIENT_SECRET_JWT, ClientAuth::ClientSecretJwt(ClientSecret::new(CLIENT_SECRET_JWT_SECRET))),
            (
                CLIENT_PRIVATE_KEY_JWT,
                ClientAuth::PrivateKeyJwt(PrivateKey::from_encoding_key(
                    jsonwebtoken::EncodingKey::from_ec_der(&pkcs8),
                    jsonwebtoken::Algorithm::ES256,
                    Some("client-key-1".into()),
                )),
            ),
            (CLIENT_PUBLIC, ClientAuth::None),
        ];
        for (id, auth) in cases {
            let method = auth.method();
            let client = client(&op, id, auth, JwksCacheConfig::default()).await;
            let tokens = code_flow(&client, &mut Browser::new(), "alice").await;
            assert_identity(&tokens, "alice", id);
            eprintln!("{method}: ok");
        }
        // A wrong secret is refused by the provider and surfaces its error code.
        let wrong = client(
            &op,
            CLIENT_BASIC,
            ClientAuth::ClientSecretBasic(ClientSecret::new("wrong-secret")),
            JwksCacheConfig::default(),
        )
        .await;
        let request = wrong.authorization_request().build().unwrap();
        let callback = login(request.url.as_str(), "alice").await.unwrap();
        let code = wrong.parse_callback(callback.as_str(), &request.state).unwrap();
        let err = wrong.exchange_code(&code, &request).await.unwrap_err();
        assert!(
            matches!(&err, Error::Flow(FlowError::TokenEndpoint { error, .. }) if error == "invalid_client"),
            "{err}"
        );
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn callback_checks_state_and_surfaces_provider_errors() {
    tokio::time::timeout(LIMIT, async {
        let op = OidcProvider::start(None, None, None).await;
        let client = client(&op, CLIENT_PUBLIC, ClientAuth::None, JwksCacheConfig::default()).await;
        let request = client.authorization_request().build().unwrap();
        let callback = login(request.url.as_str(), "alice").await.unwrap();
        // The provider sends iss (RFC 9207); it must be the discovered issuer.
        assert!(callback.query_pairs().any(|(k, v)| k == "iss" && v == op.issuer));
        let other_state = State::new("x".repeat(43));
        assert!(matches!(
            client.parse_callback(callback.as_str(), &other_state),
            Err(Error::Flow(FlowError::StateMismatch))
        ));
        // prompt=none without a session: the provider answers login_required.
        let silent = client.authorization_request().prompt("none").build().unwrap();
        let callback = login(silent.url.as_str(), "alice").await.unwrap();
        match client.parse_callback(callback.as_str(), &silent.state) {
            Err(Error::Flow(FlowError::Provider { error, .. })) => assert_eq!(error, "login_required"),
            other => panic!("expected login_required, got {other:?}"),
        }
        // A code exchanged with another request's nonce is rejected by ID-token checks.
        let first = client.authorization_request().build().unwrap();
        let second = client.authorization_request().build().unwrap();
        let callback = login(first.url.as_str(), "alice").await.unwrap();
        let code = client.parse_callback(callback.as_str(), &first.state).unwrap();
        let mixed = oidc_core::flow::AuthorizationRequest {
            nonce: second.nonce.clone(),
            ..first.clone()
        };
        let err = client.exchange_code(&code, &mixed).await.unwrap_err();
        assert!(matches!(err, Error::Token(TokenError::NonceMismatch)), "{err}");
        // A wrong PKCE verifier is refused by the provider.
        let callback = login(second.url.as_str(), "alice").await.unwrap();
        let code = client.parse_callback(callback.as_str(), &second.state).unwrap();
        let wrong_pkce = oidc_core::flow::AuthorizationRequest {
            pkce_verifier: first.pkce_verifier.clone(),
            ..second.clone()
        };
        let err = client.exchange_code(&code, &wrong_pkce).await.unwrap_err();
        assert!(
            matches!(&err, Error::Flow(FlowError::TokenEndpoint { error, .. }) if error == "invalid_grant"),
            "{err}"
        );
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn refresh_userinfo_revocation_and_logout() {
    tokio::time::timeout(LIMIT, async {
        let op = OidcProvider::start(None, None, None).await;
        let client = client(
            &op,
            CLIENT_BASIC,
            ClientAuth::ClientSecretBasic(ClientSecret::new(CLIENT_BASIC_SECRET)),
            JwksCacheConfig::default(),
        )
        .await;
        let mut browser = Browser::new();
        let tokens = code_flow(&client, &mut browser, "bob").await;
        let sub = tokens.id_token().unwrap().claims().sub.clone().unwrap();

        let info = client.userinfo(tokens.access_token(), Some(&sub)).await.unwrap();
        assert_eq!(info.sub, "bob");
        assert_eq!(info.claims["email"], "bob@example.com");
        let err = client.userinfo(tokens.access_token(), Some("someone-else")).await.unwrap_err();
        assert!(matches!(err, Error::Token(TokenError::SubjectMismatch)), "{err}");

        let refreshed = client.refresh(tokens.refresh_token().unwrap(), Some(&sub)).await.unwrap();
        assert_ne!(refreshed.access_token().secret(), tokens.access_token().secret());
        let new_id = refreshed.id_token().expect("the provider re-issues an ID token");
        assert_eq!(new_id.claims().sub.as_deref(), Some("bob"));
        assert!(refreshed.expires_at().is_some());

        // Revoke the new access token: userinfo refuses it afterwards.
        client.revoke(refreshed.access_token(), TokenKind::AccessToken).await.unwrap();
        let err = client.userinfo(refreshed.access_token(), None).await.unwrap_err();
        assert!(err.to_string().contains("status 401"), "{err}");
        // Revoke the refresh token: refreshing fails with invalid_grant.
        let rt = refreshed.refresh_token().or(tokens.refresh_token()).unwrap().clone();
        client.revoke(&rt, TokenKind::RefreshToken).await.unwrap();
        let err = client.refresh(&rt, Some(&sub)).await.unwrap_err();
        assert!(
            matches!(&err, Error::Flow(FlowError::TokenEndpoint { error, .. }) if error == "invalid_grant"),
            "{err}"
        );

        // RP-initiated logout ends the provider session and comes back with our state.
        let url = client
            .logout_url(&LogoutRequest {
                id_token_hint: tokens.id_token_raw().map(|t| t.secret()),
                post_logout_redirect_uri: Some(POST_LOGOUT_REDIRECT_URI),
                state: Some("bye-123"),
            })
            .unwrap();
        let back = browser.logout(url.as_str()).await.unwrap();
        assert!(back.as_str().starts_with(POST_LOGOUT_REDIRECT_URI), "{back}");
        assert!(back.query_pairs().any(|(k, v)| k == "state" && v == "bye-123"));
        // The session is gone: a silent login now needs interaction.
        let silent = client.authorization_request().prompt("none").build().unwrap();
        let callback = browser.login(silent.url.as_str(), "bob").await.unwrap();
        assert!(matches!(
            client.parse_callback(callback.as_str(), &silent.state),
            Err(Error::Flow(FlowError::Provider { .. }))
        ));
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn key_rotation_costs_exactly_one_refetch_and_a_stopped_provider_keeps_cached_keys() {
    tokio::time::timeout(LIMIT, async {
        let op = OidcProvider::start(None, None, None).await;
        let jwks = JwksCacheConfig {
            min_refresh_interval: Duration::ZERO,
            ..JwksCacheConfig::default()
        };
        let client = client(&op, CLIENT_PUBLIC, ClientAuth::None, jwks).await;
        let first = code_flow(&client, &mut Browser::new(), "alice").await;
        let fetches = client.jwks().fetch_count();
        assert_eq!(fetches, 1);
        let old_kid = first.id_token().unwrap().header().kid.clone();

        // Same issuer, new key set: the next token names a kid we have not seen.
        let op = op.restart(None, None).await;
        let second = code_flow(&client, &mut Browser::new(), "alice").await;
        assert_ne!(second.id_token().unwrap().header().kid, old_kid);
        assert_eq!(
            client.jwks().fetch_count(),
            fetches + 1,
            "exactly one refetch"
        );
        let raw = second.id_token_raw().unwrap().secret().to_owned();

        // Provider gone: the cached keys still verify its tokens, even once their max-age
        // has passed (the failed refetch keeps the last good set).
        op.stop().await;
        let verifier = oidc_core::verify::Verifier::builder(client.metadata().issuer.clone())
            .audience(CLIENT_PUBLIC)
            .build()
            .unwrap();
        let verified = verifier
            .verify_with_cache(&raw, client.jwks())
            .await
            .unwrap();
        assert_eq!(verified.claims().sub.as_deref(), Some("alice"));
        let before = client.jwks().fetch_count();
        client
            .jwks()
            .refresh_now()
            .await
            .expect_err("provider is down");
        assert!(client.jwks().last_error().is_some());
        assert!(client.jwks().fetch_count() > before);
        assert!(
            verifier
                .verify_with_cache(&raw, client.jwks())
                .await
                .is_ok()
        );
    })
    .await
    .expect("bounded");
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_at_most_one_refetch_per_interval() {
    tokio::time::timeout(LIMIT, async {
        let op = OidcProvider::start(None, None, None).await;
        let client = client(&op, CLIENT_PUBLIC, ClientAuth::None, JwksCacheConfig::default()).await;
        let tokens = code_flow(&client, &mut Browser::new(), "alice").await;
        assert!(tokens.id_token().is_some());
        let start = client.jwks().fetch_count();
        let attacker = SigningKey::ec("attacker", Algorithm::ES256);
        let verifier = oidc_core::verify::Verifier::builder(op.issuer.clone())
            .audience(CLIENT_PUBLIC)
            .build()
            .unwrap();
        let forged: Vec<String> = (0..300)
            .map(|i| {
                mint_with_header(
                    &attacker,
                    &json!({"alg": "ES256", "kid": format!("random-{i}")}),
                    &json!({"iss": op.issuer, "sub": "admin", "aud": CLIENT_PUBLIC, "exp": 4_000_000_000i64}),
                )
            })
            .collect();
        let results = futures_join_all(forged.iter().map(|t| verifier.verify_with_cache(t, client.jwks()))).await;
        assert!(results.iter().all(|r| matches!(r, Err(TokenError::UnknownKey { .. }))));
        let refetches = client.jwks().fetch_count() - start;
        assert!(refetches <= 1, "{refetches} refetches for 300 forged tokens");
    })
    .await
    .expect("bounded");
}

/// Polls the futures concurrently on this task (no extra dependency).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|v| v.unwrap()).collect()
}

#[tokio::test]
async fn discovery_exposes_every_endpoint_and_capability_the_provider_announces() {
    tokio::time::timeout(LIMIT, async {
        let op = OidcProvider::start(None, None, None).await;
        let m = oidc_core::discovery::ProviderMetadata::discover(&*http(), &op.issuer)
            .await
            .unwrap_or_else(|e| panic!("discovery failed: {e}\n{}", op.logs()));
        assert_eq!(m.issuer, op.issuer);
        let endpoint = |u: &Option<url::Url>, name: &str| {
            let u = u.as_ref().unwrap_or_else(|| panic!("{name} missing"));
            assert!(u.as_str().starts_with(&op.issuer), "{name}: {u}");
        };
        assert!(m.authorization_endpoint.as_str().starts_with(&op.issuer));
        assert!(m.jwks_uri.as_str().starts_with(&op.issuer));
        endpoint(&m.token_endpoint, "token_endpoint");
        endpoint(&m.userinfo_endpoint, "userinfo_endpoint");
        endpoint(&m.revocation_endpoint, "revocation_endpoint");
        endpoint(&m.introspection_endpoint, "introspection_endpoint");
        endpoint(&m.end_session_endpoint, "end_session_endpoint");
        endpoint(
            &m.device_authorization_endpoint,
            "device_authorization_endpoint",
        );
        for scope in ["openid", "offline_access", "email", "profile"] {
            assert!(
                m.scopes_supported.iter().any(|s| s == scope),
                "{scope}: {:?}",
                m.scopes_supported
            );
        }
        for method in [
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "none",
        ] {
            assert!(
                m.token_endpoint_auth_methods_supported
                    .iter()
                    .any(|s| s == method),
                "{method}: {:?}",
                m.token_endpoint_auth_methods_supported
            );
        }
        assert!(
            m.id_token_signing_alg_values_supported
                .iter()
                .any(|a| a == "RS256")
        );
        assert!(
            m.code_challenge_methods_supported
                .iter()
                .any(|a| a == "S256")
        );
        assert!(m.backchannel_logout_supported);
    })
    .await
    .expect("bounded");
}
