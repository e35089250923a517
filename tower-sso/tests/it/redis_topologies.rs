//! The Redis session store on a Redis Cluster and behind Sentinel, as oauth2-proxy's
//! `--redis-use-cluster` and `--redis-use-sentinel` configure them; real servers started
//! on 127.0.0.1 by the test (`redis-server`, `redis-cli` for the cluster, `redis-server
//! --sentinel`).

use std::process::Command;
use std::time::{Duration, Instant};

use oidc_core::testing::DevProvider;
use tower_sso::sso::SsoConfig;
use tower_sso::sso::session::redis::RedisTopology;
use tower_sso::sso::settings::SsoSettings;

use crate::browser::Browser;
use crate::redis::{ISS, RedisServer, SECRET, free_port, instance_on};

fn config(op: &DevProvider) -> SsoConfig {
    crate::browser::dev_config(op)
}

/// The base SSO settings as `OAUTH2_PROXY_*` variables, plus `extra`.
fn settings(extra: &[(&str, &str)]) -> SsoSettings {
    let base = [
        ("OAUTH2_PROXY_OIDC_ISSUER_URL", ISS),
        ("OAUTH2_PROXY_CLIENT_ID", "dev-client"),
        ("OAUTH2_PROXY_CLIENT_SECRET", "dev-secret"),
        (
            "OAUTH2_PROXY_REDIRECT_URL",
            "http://127.0.0.1:8080/oauth2/callback",
        ),
        ("OAUTH2_PROXY_COOKIE_SECRET", SECRET),
        ("OAUTH2_PROXY_EMAIL_DOMAINS", "*"),
    ];
    SsoSettings::from_env_vars(
        base.iter()
            .chain(extra)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    )
    .unwrap()
}

#[test]
fn incomplete_redis_settings_name_the_missing_option() {
    let err = |extra: &[(&str, &str)]| settings(extra).redis_topology().unwrap_err().to_string();
    assert!(err(&[("OAUTH2_PROXY_SESSION_STORE_TYPE", "redis")]).contains("redis-connection-url"));
    assert!(
        err(&[
            ("OAUTH2_PROXY_SESSION_STORE_TYPE", "redis"),
            ("OAUTH2_PROXY_REDIS_USE_SENTINEL", "true"),
        ])
        .contains("redis-sentinel-master-name")
    );
    assert!(
        err(&[
            ("OAUTH2_PROXY_SESSION_STORE_TYPE", "redis"),
            ("OAUTH2_PROXY_REDIS_USE_CLUSTER", "true"),
        ])
        .contains("redis-cluster-connection-urls")
    );
    assert!(
        err(&[("OAUTH2_PROXY_SESSION_STORE_TYPE", "memcached")]).contains("session-store-type")
    );
    assert_eq!(
        settings(&[]).redis_topology().unwrap(),
        None,
        "the cookie store by default"
    );
    // The Debug of a topology never shows URLs (they may carry passwords).
    let t = RedisTopology::Single("redis://:hunter2@10.0.0.1:6379/".into());
    assert!(!format!("{t:?}").contains("hunter2"));
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tower-sso-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("redis-cli is required for these tests (apt-get install redis-tools): {e}")
        });
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Polls `check` every 100 ms until it holds or `limit` passes.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn sessions_live_in_a_redis_cluster_shared_by_two_instances() {
    let dir = scratch("cluster");
    let nodes: Vec<RedisServer> = (0..3)
        .map(|i| {
            let conf = dir.join(format!("nodes-{i}.conf"));
            RedisServer::start_with(
                None,
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    conf.to_str().unwrap(),
                    "--dir",
                    dir.to_str().unwrap(),
                ],
            )
        })
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let mut create = vec!["--cluster", "create"];
    create.extend(addrs.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    let created = redis_cli(&create);
    assert!(created.contains("All 16384 slots covered"), "{created}");
    let port = nodes[0].port.to_string();
    wait_for("cluster_state:ok", Duration::from_secs(20), || {
        redis_cli(&["-p", &port, "cluster", "info"]).contains("cluster_state:ok")
    });

    let topology = RedisTopology::Cluster {
        nodes: nodes.iter().map(|n| n.url()).collect(),
        password: None,
    };
    // oauth2-proxy's options say the same.
    let urls: Vec<String> = nodes.iter().map(|n| n.url()).collect();
    let settings = settings(&[
        ("OAUTH2_PROXY_SESSION_STORE_TYPE", "redis"),
        ("OAUTH2_PROXY_REDIS_USE_CLUSTER", "true"),
        (
            "OAUTH2_PROXY_REDIS_CLUSTER_CONNECTION_URLS",
            &urls.join(","),
        ),
    ]);
    assert_eq!(settings.redis_topology().unwrap(), Some(topology.clone()));
    settings.build().await.expect("connects to the cluster");
    let op = DevProvider::new(ISS);
    let mut a = instance_on(config(&op), topology.clone()).await;
    let mut b = instance_on(config(&op), topology).await;
    // Several users, so sessions and indexes spread over the three nodes' slots.
    let mut browsers = Vec::new();
    for user in ["alice", "bob", "alice", "bob"] {
        let mut browser = Browser::default();
        assert_eq!(browser.visit(&mut a, &op, "/", user).await.status, 200);
        let on_b = browser
            .send(&mut b, "GET", "/api", &[("accept", "application/json")])
            .await;
        assert_eq!(on_b.status, 200, "{}", on_b.body);
        assert_eq!(
            on_b.json()["headers"]["x-forwarded-user"],
            format!("{user}-sub")
        );
        browsers.push(browser);
    }
    let keys: usize = nodes
        .iter()
        .map(|n| {
            redis_cli(&["-p", &n.port.to_string(), "dbsize"])
                .trim()
                .parse::<usize>()
                .unwrap_or(0)
        })
        .sum();
    assert!(keys >= 4, "sessions are in the cluster: {keys} keys");
    // Sign-out on B deletes the session for A too (one DEL per key: no CROSSSLOT).
    let stolen = browsers[0].clone();
    browsers[0]
        .send(&mut b, "GET", "/oauth2/sign_out", &[])
        .await;
    let mut replay = stolen;
    let after = replay
        .send(&mut a, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(after.status, 401);
    let other = browsers[1]
        .send(&mut a, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(other.status, 200, "other sessions stand");
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sentinel_finds_the_master_and_a_failover_needs_no_restart() {
    let dir = scratch("sentinel");
    let mut master = RedisServer::start(None);
    let replica_of = ["--replicaof", "127.0.0.1", &master.port.to_string()].map(str::to_owned);
    let replica = RedisServer::start_with(
        None,
        &replica_of.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let sentinel_port = free_port();
    let conf = dir.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {sentinel_port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster 127.0.0.1 {} 1\nsentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n",
            dir.display(),
            master.port
        ),
    )
    .unwrap();
    let _sentinel =
        RedisServer::start_with(Some(sentinel_port), &[conf.to_str().unwrap(), "--sentinel"]);
    let sport = sentinel_port.to_string();
    wait_for(
        "the sentinel to see the replica",
        Duration::from_secs(20),
        || {
            redis_cli(&["-p", &sport, "sentinel", "replicas", "mymaster"])
                .contains(&replica.port.to_string())
        },
    );

    let topology = RedisTopology::Sentinel {
        master_name: "mymaster".into(),
        sentinels: vec![format!("redis://127.0.0.1:{sentinel_port}")],
        password: None,
        sentinel_password: None,
    };
    let settings = settings(&[
        ("OAUTH2_PROXY_SESSION_STORE_TYPE", "redis"),
        ("OAUTH2_PROXY_REDIS_USE_SENTINEL", "true"),
        ("OAUTH2_PROXY_REDIS_SENTINEL_MASTER_NAME", "mymaster"),
        (
            "OAUTH2_PROXY_REDIS_SENTINEL_CONNECTION_URLS",
            &format!("redis://127.0.0.1:{sentinel_port}"),
        ),
    ]);
    assert_eq!(settings.redis_topology().unwrap(), Some(topology.clone()));
    settings
        .build()
        .await
        .expect("finds the master through Sentinel");
    let op = DevProvider::new(ISS);
    let mut a = instance_on(config(&op), topology.clone()).await;
    let mut b = instance_on(config(&op), topology).await;
    let mut browser = Browser::default();
    assert_eq!(browser.visit(&mut a, &op, "/", "alice").await.status, 200);
    let on_b = browser
        .send(&mut b, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(on_b.status, 200, "shared through the master Sentinel named");

    // The master dies; Sentinel promotes the replica. While the failover runs no master
    // takes writes: a login then ends on a 503 page, never a 500 or a redirect loop; once
    // the new master is known, logins work again without restarting the instances.
    master.stop();
    let rport = replica.port.to_string();
    wait_for("the failover", Duration::from_secs(30), || {
        redis_cli(&[
            "-p",
            &sport,
            "sentinel",
            "get-master-addr-by-name",
            "mymaster",
        ])
        .contains(&rport)
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut fresh = Browser::default();
    loop {
        let page = fresh.visit(&mut a, &op, "/", "bob").await;
        assert!(
            matches!(page.status, 200 | 503),
            "{}: {}",
            page.status,
            page.body
        );
        if page.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no login after the failover: {}",
            page.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let on_b = fresh
        .send(&mut b, "GET", "/api", &[("accept", "application/json")])
        .await;
    assert_eq!(
        on_b.status, 200,
        "B follows the failover too: {}",
        on_b.body
    );
    let _ = std::fs::remove_dir_all(&dir);
}
