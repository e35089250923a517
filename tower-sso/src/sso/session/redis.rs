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
use super::store::{BoxFuture, SessionStore};
use crate::error::ConfigError;

/// The Redis session store.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
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
    /// Connects to `url` (`redis://[:password@]host:port/db`, `rediss://` for TLS). Sessions
    /// expire after `ttl` (the cookie's lifetime; at least a minute).
    pub async fn connect(
        url: &str,
        codec: Arc<Codec>,
        attrs: CookieAttributes,
        ttl: Duration,
    ) -> Result<RedisStore, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            what: "redis-connection-url",
            reason,
        };
        let client = redis::Client::open(url).map_err(|e| invalid(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| invalid(format!("cannot connect: {e}")))?;
        Ok(RedisStore {
            conn,
            codec,
            attrs,
            prefix: "sso:".into(),
            ttl: ttl.max(Duration::from_secs(60)),
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

    async fn delete_ids(&self, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let mut conn = self.conn.clone();
        if let Err(e) = conn.del::<_, ()>(keys).await {
            tracing::warn!(error = %e, "redis delete failed");
        }
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
    ) -> BoxFuture<'a, Vec<HeaderValue>> {
        Box::pin(async move {
            let Ok(value) = self
                .codec
                .seal(&format!("redis:{}", session.id), &session.to_bytes())
            else {
                return Vec::new();
            };
            let ttl = self.ttl.as_millis() as u64;
            let mut pipe = redis::pipe();
            pipe.cmd("SET")
                .arg(self.key(&session.id))
                .arg(value)
                .arg("PX")
                .arg(ttl)
                .ignore();
            for (kind, v) in [
                ("sid", session.user.sid.as_deref()),
                ("sub", Some(session.user.sub.as_str())),
            ] {
                if let Some(v) = v {
                    let index = self.index(kind, v);
                    pipe.cmd("SADD").arg(&index).arg(&session.id).ignore();
                    pipe.cmd("PEXPIRE").arg(&index).arg(ttl).ignore();
                }
            }
            let mut conn = self.conn.clone();
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                tracing::warn!(error = %e, "redis write failed; the session is not kept");
                return Vec::new();
            }
            // The cookie carries the ticket only; it changes only with a new session.
            if self.ticket(headers).as_deref() == Some(session.id.as_str()) {
                return Vec::new();
            }
            let present = cookie::present_names(headers, &self.attrs.name);
            match self.codec.seal(&self.attrs.name, session.id.as_bytes()) {
                Ok(sealed) => header_values(cookie::set(&self.attrs, &sealed, &present)),
                Err(_) => Vec::new(),
            }
        })
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
            self.delete_ids(&ids).await;
            let _ = conn.del::<_, ()>(&index).await;
            true
        })
    }
}
