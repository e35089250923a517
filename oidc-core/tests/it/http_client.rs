//! The default HTTP client's guarantees, against raw loopback servers: every provider call
//! is timed out, response bodies are capped, and redirects are never followed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oidc_core::http::{HttpClient, HttpError, ReqwestClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves every connection on a loopback port with `respond`, after reading the request
/// head; counts the connections. `None` from `respond` holds the connection open, silent.
async fn serve(
    respond: impl Fn() -> Option<Vec<u8>> + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let respond = Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let respond = respond.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                match respond() {
                    Some(bytes) => {
                        let _ = socket.write_all(&bytes).await;
                        let _ = socket.shutdown().await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    (base, hits)
}

fn get(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(url).body(Vec::new()).unwrap()
}

#[tokio::test]
async fn a_provider_that_never_answers_times_out() {
    let (base, _) = serve(|| None).await;
    let client = ReqwestClient::with_limits(Duration::from_millis(300), 1024).unwrap();
    let started = std::time::Instant::now();
    let err = client
        .execute(get(&format!("{base}/jwks?secret=x")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HttpError::Timeout { timeout, .. } if *timeout == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the call was bounded"
    );
    assert!(
        !err.to_string().contains("secret"),
        "no query string in errors: {err}"
    );
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_whether_announced_or_streamed() {
    let limit = 64 * 1024;
    let announced = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", limit + 1);
    let (base, _) = serve(move || {
        let mut bytes = announced.clone().into_bytes();
        bytes.resize(bytes.len() + limit + 1, b'a');
        Some(bytes)
    })
    .await;
    let client = ReqwestClient::with_limits(Duration::from_secs(5), limit).unwrap();
    let err = client.execute(get(&base)).await.unwrap_err();
    assert!(
        matches!(err, HttpError::BodyTooLarge { limit: l, .. } if l == limit),
        "{err:?}"
    );

    // No Content-Length: chunked, two chunks that together pass the cap.
    let (base, _) = serve(move || {
        let chunk = "b".repeat(limit / 2 + 1);
        let size = format!("{:x}", chunk.len());
        Some(
            format!(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{size}\r\n{chunk}\r\n{size}\r\n{chunk}\r\n0\r\n\r\n"
            )
            .into_bytes(),
        )
    })
    .await;
    let err = client.execute(get(&base)).await.unwrap_err();
    assert!(matches!(err, HttpError::BodyTooLarge { .. }), "{err:?}");

    // At the cap exactly: accepted.
    let (base, _) = serve(move || {
        let mut bytes = format!("HTTP/1.1 200 OK\r\ncontent-length: {limit}\r\n\r\n").into_bytes();
        bytes.resize(bytes.len() + limit, b'c');
        Some(bytes)
    })
    .await;
    let ok = client.execute(get(&base)).await.unwrap();
    assert_eq!(ok.body().len(), limit);
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let (elsewhere, elsewhere_hits) =
        serve(|| Some(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec())).await;
    let location = format!("{elsewhere}/.well-known/openid-configuration");
    let (base, _) = serve(move || {
        Some(
            format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n")
                .into_bytes(),
        )
    })
    .await;
    let client = ReqwestClient::new().unwrap();
    let response = client.execute(get(&base)).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::FOUND);
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );

    // Discovery through such a provider fails with a status error, not the other document.
    let err = oidc_core::discovery::ProviderMetadata::discover(&client, &base)
        .await
        .unwrap_err();
    assert_eq!(elsewhere_hits.load(Ordering::SeqCst), 0);
    assert!(err.to_string().contains("302"), "{err}");
}
