//! Sessions in Redis (feature `redis`): the cookie holds only a sealed ticket (the session
//! id), the session lives in Redis with a TTL, sealed too, so a copy of the Redis data
//! reveals no token. Any number of replicas with the same cookie secret and Redis share
//! sessions, and back-channel logout deletes them for all.
//!
//! A Redis error never becomes an error page: the request is treated as having no session
//! (the user logs in again at worst), and the connection manager reconnects in the
//! background.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;

use super::Session;
use super::codec::Codec;
use super::cookie::{self, CookieAttributes};
use super::store::{BoxFuture, SessionStore, StoreError};
use crate::error::ConfigError;

/// Where Redis is, as oauth2-proxy configures it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisTopology {
    /// One server: `--redis-connection-url` (`redis://[:password@]host:port/db`,
    /// `rediss://` for TLS).
    Single(String),
    /// A master found through Sentinel: `--redis-use-sentinel`,
    /// `--redis-sentinel-master-name`, `--redis-sentinel-connection-urls`,
    /// `--redis-password` (the master's), `--redis-sentinel-password`.
    Sentinel {
        /// The monitored master's name.
        master_name: String,
        /// The sentinels' URLs (`redis://host:26379`).
        sentinels: Vec<String>,
        /// The master's password, if any.
        password: Option<String>,
        /// The sentinels' password, if any.
        sentinel_password: Option<String>,
    },
    /// A Redis Cluster: `--redis-use-cluster`, `--redis-cluster-connection-urls` (any
    /// of its nodes), `--redis-password`.
    Cluster {
        /// Seed nodes' URLs.
        nodes: Vec<String>,
        /// The nodes' password, if any.
        password: Option<String>,
    },
}

impl std::fmt::Debug for RedisTopology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // URLs may carry passwords: show the kind and the node count only.
        match self {
            RedisTopology::Single(_) => f.write_str("Single"),
            RedisTopology::Sentinel {
                master_name,
                sentinels,
                ..
            } => f
                .debug_struct("Sentinel")
                .field("master_name", master_name)
                .field("sentinels", &sentinels.len())
                .finish_non_exhaustive(),
            RedisTopology::Cluster { nodes, .. } => f
                .debug_struct("Cluster")
                .field("nodes", &nodes.len())
                .finish_non_exhaustive(),
        }
    }
}

/// A connection to whichever topology, answering Redis commands.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
    Sentinel(Arc<SentinelConn>),
}

/// The master behind Sentinel: resolved on first use and again after a failure (a failover
/// leaves the old address answering READONLY or not at all).
struct SentinelConn {
    client: tokio::sync::Mutex<redis::sentinel::SentinelClient>,
    current: std::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
}

fn connection_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
}

impl SentinelConn {
    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        if let Some(conn) = self.current.lock().ok().and_then(|c| c.clone()) {
            return Ok(conn);
        }
        let mut client = self.client.lock().await;
        let conn = client
            .get_async_connection_with_config(&connection_config())
            .await?;
        if let Ok(mut current) = self.current.lock() {
            *current = Some(conn.clone());
        }
        Ok(conn)
    }

    /// Forgets the master after an error that says it moved or went away; `true` then
    /// (the command is worth one more try against the master Sentinel names now).
    fn on_error(&self, e: &redis::RedisError) -> bool {
        let moved = e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly);
        if moved && let Ok(mut current) = self.current.lock() {
            *current = None;
        }
        moved
    }
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(s) => Box::pin(async move {
                // Once more with the master Sentinel names now, if the old one went away.
                let mut conn = s.connection().await?;
                match conn.req_packed_command(cmd).await {
                    Err(e) if s.on_error(&e) => s.connection().await?.req_packed_command(cmd).await,
                    result => result,
                }
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Sentinel(s) => Box::pin(async move {
                let mut conn = s.connection().await?;
                match conn.req_packed_commands(pipeline, offset, count).await {
                    Err(e) if s.on_error(&e) => {
                        s.connection()
                            .await?
                            .req_packed_commands(pipeline, offset, count)
                            .await
                    }
                    result => result,
                }
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(_) => 0,
        }
    }
}

/// The Redis session store.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    codec: Arc<Codec>,
    attrs: CookieAttributes,
    prefix: String,
    ttl: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to one server at `url` (`redis://[:password@]host:port/db`, `rediss://`
    /// for TLS). Sessions expire after `ttl` (the session's maximum age,
    /// [`SsoConfig::session_max_age`](crate::sso::SsoConfig::session_max_age); at least a
    /// minute; zero: [`BROWSER_SESSION_MAX_AGE`](crate::sso::config::BROWSER_SESSION_MAX_AGE)).
    pub async fn connect(
        url: &str,
        codec: Arc<Codec>,
        attrs: CookieAttributes,
        ttl: Duration,
    ) -> Result<RedisStore, ConfigError> {
        Self::connect_to(&RedisTopology::Single(url.to_owned()), codec, attrs, ttl).await
    }

    /// Connects to `topology`: one server, a master behind Sentinel, or a Cluster.
    pub async fn connect_to(
        topology: &RedisTopology,
        codec: Arc<Codec>,
        attrs: CookieAttributes,
        ttl: Duration,
    ) -> Result<RedisStore, ConfigError> {
        let conn = match topology {
            RedisTopology::Single(url) => {
                let invalid = |reason: String| ConfigError::Invalid {
                    what: "redis-connection-url",
                    reason,
                };
                let client =
                    redis::Client::open(url.as_str()).map_err(|e| invalid(e.to_string()))?;
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_number_of_retries(2);
                Conn::Single(
                    client
                        .get_connection_manager_with_config(config)
                        .await
                        .map_err(|e| invalid(format!("cannot connect: {e}")))?,
                )
            }
            RedisTopology::Cluster { nodes, password } => {
                let invalid = |reason: String| ConfigError::Invalid {
                    what: "redis-cluster-connection-urls",
                    reason,
                };
                if nodes.is_empty() {
                    return Err(invalid("at least one node is needed".into()));
                }
                let mut builder = redis::cluster::ClusterClientBuilder::new(nodes.clone())
                    .connection_timeout(Duration::from_secs(2))
                    .response_timeout(Duration::from_secs(2));
                if let Some(password) = password {
                    builder = builder.password(password.clone());
                }
                let client = builder.build().map_err(|e| invalid(e.to_string()))?;
                Conn::Cluster(
                    client
                        .get_async_connection()
                        .await
                        .map_err(|e| invalid(format!("cannot connect: {e}")))?,
                )
            }
            RedisTopology::Sentinel {
                master_name,
                sentinels,
                password,
                sentinel_password,
            } => {
                let invalid = |reason: String| ConfigError::Invalid {
                    what: "redis-sentinel-connection-urls",
                    reason,
                };
                if sentinels.is_empty() || master_name.is_empty() {
                    return Err(invalid(
                        "a master name and at least one sentinel are needed".into(),
                    ));
                }
                let mut infos = Vec::new();
                for url in sentinels {
                    let mut info = redis::IntoConnectionInfo::into_connection_info(url.as_str())
                        .map_err(|e| invalid(e.to_string()))?;
                    if let Some(p) = sentinel_password {
                        let settings = info.redis_settings().clone().set_password(p.clone());
                        info = info.set_redis_settings(settings);
                    }
                    infos.push(info);
                }
                let mut node = redis::RedisConnectionInfo::default();
                if let Some(p) = password {
                    node = node.set_password(p.clone());
                }
                let node = redis::sentinel::SentinelNodeConnectionInfo::default()
                    .set_redis_connection_info(node);
                let client = redis::sentinel::SentinelClient::build(
                    infos,
                    master_name.clone(),
                    Some(node),
                    redis::sentinel::SentinelServerType::Master,
                )
                .map_err(|e| invalid(e.to_string()))?;
                let sentinel = Arc::new(SentinelConn {
                    client: tokio::sync::Mutex::new(client),
                    current: std::sync::Mutex::new(None),
                });
                sentinel
                    .connection()
                    .await
                    .map_err(|e| invalid(format!("cannot reach master {master_name:?}: {e}")))?;
                Conn::Sentinel(sentinel)
            }
        };
        Ok(RedisStore {
            conn,
            codec,
            attrs,
            prefix: "sso:".into(),
            ttl: if ttl.is_zero() {
                crate::sso::config::BROWSER_SESSION_MAX_AGE
            } else {
                ttl.max(Duration::from_secs(60))
            },
        })
    }

    fn key(&self, id: &str) -> String {
        format!("{}session:{id}", self.prefix)
    }

    fn index(&self, kind: &str, value: &str) -> String {
        format!("{}{kind}:{value}", self.prefix)
    }

    /// The session id the request's ticket names, if it opens.
    fn ticket(&self, headers: &HeaderMap) -> Option<String> {
        let sealed = cookie::read(headers, &self.attrs.name)?;
        let plain = self.codec.open(&self.attrs.name, &sealed).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }

    async fn load_id(&self, id: &str) -> Option<Session> {
        let mut conn = self.conn.clone();
        let value: Option<String> = match conn.get(self.key(id)).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "redis read failed; treating the request as logged out");
                return None;
            }
        };
        let plain = self.codec.open(&format!("redis:{id}"), &value?).ok()?;
        let session = Session::from_bytes(&plain)?;
        (session.id == id).then_some(session)
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// The session sealed for its Redis value (bound to its id).
    fn seal(&self, session: &Session) -> Result<String, StoreError> {
        self.codec
            .seal(&format!("redis:{}", session.id), &session.to_bytes())
            .map_err(|e| StoreError(e.to_string()))
    }

    /// Adds `session` to its sid and sub indexes in the last of `pipes` (in a Cluster, one
    /// pipeline per key: the keys live in different slots).
    fn add_to_indexes(&self, pipes: &mut Vec<redis::Pipeline>, session: &Session) {
        let cluster = matches!(self.conn, Conn::Cluster(_));
        for (kind, v) in [
            ("sid", session.user.sid.as_deref()),
            ("sub", Some(session.user.sub.as_str())),
        ] {
            if let Some(v) = v {
                if cluster || pipes.is_empty() {
                    pipes.push(redis::pipe());
                }
                let index = self.index(kind, v);
                if let Some(pipe) = pipes.last_mut() {
                    pipe.cmd("SADD").arg(&index).arg(&session.id).ignore();
                    pipe.cmd("PEXPIRE").arg(&index).arg(self.ttl_ms()).ignore();
                }
            }
        }
    }

    async fn run(&self, pipes: &[redis::Pipeline]) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        for pipe in pipes {
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                tracing::warn!(error = %e, "redis write failed; the session is not kept");
                return Err(StoreError(format!("redis: {e}")));
            }
        }
        Ok(())
    }

    /// The cookie carries the ticket only; it changes only with a new session.
    fn ticket_cookie(
        &self,
        headers: &HeaderMap,
        session: &Session,
    ) -> Result<Vec<HeaderValue>, StoreError> {
        if self.ticket(headers).as_deref() == Some(session.id.as_str()) {
            return Ok(Vec::new());
        }
        let present = cookie::present_names(headers, &self.attrs.name);
        let sealed = self
            .codec
            .seal(&self.attrs.name, session.id.as_bytes())
            .map_err(|e| StoreError(e.to_string()))?;
        Ok(header_values(cookie::set(&self.attrs, &sealed, &present)))
    }

    /// Deletes the sessions `ids`; `false` when Redis refused.
    async fn delete_ids(&self, ids: &[String]) -> bool {
        if ids.is_empty() {
            return true;
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let mut conn = self.conn.clone();
        // A Cluster refuses a DEL of keys in several slots (CROSSSLOT).
        let result = if matches!(conn, Conn::Cluster(_)) {
            let mut result = Ok(());
            for key in keys {
                result = result.and(conn.del::<_, ()>(key).await);
            }
            result
        } else {
            conn.del::<_, ()>(keys).await
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "redis delete failed");
            return false;
        }
        true
    }
}

fn header_values(lines: Vec<String>) -> Vec<HeaderValue> {
    lines
        .into_iter()
        .filter_map(|l| HeaderValue::try_from(l).ok())
        .collect()
}

impl SessionStore for RedisStore {
    fn load<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Option<Arc<Session>>> {
        Box::pin(async move {
            let id = self.ticket(headers)?;
            self.load_id(&id).await.map(Arc::new)
        })
    }

    fn save<'a>(
        &'a self,
        headers: &'a HeaderMap,
        session: &'a Session,
    ) -> BoxFuture<'a, Result<Vec<HeaderValue>, StoreError>> {
        Box::pin(async move {
            let value = self.seal(session)?;
            // The session, then its sid and sub indexes: one pipeline, or in a Cluster one
            // per key (the keys live in different slots).
            let mut pipes = vec![redis::pipe()];
            pipes[0]
                .cmd("SET")
                .arg(self.key(&session.id))
                .arg(value)
                .arg("PX")
                .arg(self.ttl_ms())
                .ignore();
            self.add_to_indexes(&mut pipes, session);
            self.run(&pipes).await?;
            self.ticket_cookie(headers, session)
        })
    }

    fn save_refreshed<'a>(
        &'a self,
        headers: &'a HeaderMap,
        fresh: &'a Session,
    ) -> BoxFuture<'a, Result<Option<Vec<HeaderValue>>, StoreError>> {
        Box::pin(async move {
            let value = self.seal(fresh)?;
            // XX: written only if the key still exists. Ids are never reused, so a session
            // that a sign-out or a back-channel logout deleted stays deleted.
            let mut conn = self.conn.clone();
            let written: Option<String> = redis::cmd("SET")
                .arg(self.key(&fresh.id))
                .arg(value)
                .arg("XX")
                .arg("PX")
                .arg(self.ttl_ms())
                .query_async(&mut conn)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "redis write failed; the refreshed session is not kept");
                    StoreError(format!("redis: {e}"))
                })?;
            if written.is_none() {
                tracing::info!(user = %fresh.user.sub, "the session ended while it was refreshed");
                return Ok(None);
            }
            let mut pipes = Vec::new();
            self.add_to_indexes(&mut pipes, fresh);
            self.run(&pipes).await?;
            self.ticket_cookie(headers, fresh).map(Some)
        })
    }

    fn keeps_sessions(&self) -> bool {
        true
    }

    fn clear<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Vec<HeaderValue>> {
        Box::pin(async move {
            if let Some(id) = self.ticket(headers) {
                self.delete_ids(&[id]).await;
            }
            let present = cookie::present_names(headers, &self.attrs.name);
            header_values(cookie::clear(&self.attrs, &present))
        })
    }

    fn end_session<'a>(&'a self, id: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move { self.delete_ids(&[id.to_owned()]).await })
    }

    fn lock_refresh<'a>(
        &'a self,
        id: &'a str,
        token: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Option<bool>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let set: redis::RedisResult<Option<String>> = redis::cmd("SET")
                .arg(self.index("lock", id))
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(lease.as_millis() as u64)
                .query_async(&mut conn)
                .await;
            match set {
                Ok(reply) => Some(reply.is_some()),
                Err(e) => {
                    tracing::warn!(error = %e, "redis lock failed; refreshing without it");
                    None
                }
            }
        })
    }

    fn extend_refresh_lock<'a>(
        &'a self,
        id: &'a str,
        token: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            // Extend only our own lock.
            let script = redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end",
            );
            let mut conn = self.conn.clone();
            let extended: redis::RedisResult<i64> = script
                .key(self.index("lock", id))
                .arg(token)
                .arg(lease.as_millis() as u64)
                .invoke_async(&mut conn)
                .await;
            matches!(extended, Ok(1))
        })
    }

    fn unlock_refresh<'a>(&'a self, id: &'a str, token: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let script = redis::Script::new(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
            );
            let mut conn = self.conn.clone();
            let _: redis::RedisResult<i64> = script
                .key(self.index("lock", id))
                .arg(token)
                .invoke_async(&mut conn)
                .await;
        })
    }

    fn load_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Option<Arc<Session>>> {
        Box::pin(async move { self.load_id(id).await.map(Arc::new) })
    }

    fn end_sessions<'a>(
        &'a self,
        sid: Option<&'a str>,
        sub: Option<&'a str>,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let index = match (sid, sub) {
                (Some(sid), _) => self.index("sid", sid),
                (None, Some(sub)) => self.index("sub", sub),
                (None, None) => return true,
            };
            let mut conn = self.conn.clone();
            let ids: Vec<String> = match conn.smembers(&index).await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::warn!(error = %e, "redis read failed during back-channel logout");
                    return false;
                }
            };
            if !self.delete_ids(&ids).await {
                return false;
            }
            // Only the members read: a login that joined the index meanwhile stays in it,
            // for the next logout to find.
            if !ids.is_empty() {
                let _ = conn.srem::<_, _, ()>(&index, &ids).await;
            }
            true
        })
    }
}
