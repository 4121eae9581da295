//! The Redis Streams sink: each event is an `XADD` entry with the fields `id`, `type`,
//! `call_uuid` (empty for non-call events), `seq` (journal), `call_seq` (empty for non-call
//! events) and `json` (the whole envelope), with approximate trimming by length
//! (`MAXLEN ~ N`) or by age (`MINID ~ <now - age>`). A batch is sent as one pipeline and
//! confirmed when every `XADD` has returned an entry id. A connection lost mid-batch can leave
//! part of it in the stream, so a retry may add those entries again: consumers de-duplicate on
//! the `id` field.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{DeliveryError, Sink};
use crate::journal::StoredEvent;

/// How the sink trims its streams on every `XADD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisTrim {
    /// No trimming.
    None,
    /// `MAXLEN ~ n`: keep about the newest `n` entries.
    MaxLen(u64),
    /// `MINID ~ <now - age>`: drop entries older than `age` (auto-generated ids are times).
    MinAge(Duration),
}

/// Settings of a [`RedisSink`].
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Server URL (`redis://127.0.0.1:6379/0`).
    pub url: String,
    /// Stream key template: `{type}` becomes the event type, `{node}` the node id.
    /// Default `switchboard:events`.
    pub stream: String,
    /// Trimming (default `MAXLEN ~ 1,000,000`).
    pub trim: RedisTrim,
    /// Connect and response timeout (default 5 s).
    pub timeout: Duration,
}

impl RedisConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            stream: "switchboard:events".into(),
            trim: RedisTrim::MaxLen(1_000_000),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Appends events to Redis Streams; see the module docs.
pub struct RedisSink {
    config: RedisConfig,
    conn: Option<redis::aio::MultiplexedConnection>,
}

impl std::fmt::Debug for RedisSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSink")
            .field("stream", &self.config.stream)
            .finish_non_exhaustive()
    }
}

impl RedisSink {
    /// A sink that connects on its first delivery and reconnects after a failure.
    pub fn new(config: RedisConfig) -> Self {
        RedisSink { config, conn: None }
    }

    async fn connect(&self) -> Result<redis::aio::MultiplexedConnection, DeliveryError> {
        let client = redis::Client::open(self.config.url.as_str())
            .map_err(|e| DeliveryError::new(0, format!("redis url: {e}")))?;
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.config.timeout))
            .set_response_timeout(Some(self.config.timeout));
        client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(|e| DeliveryError::new(0, format!("redis connect: {e}")))
    }

    fn xadd(&self, e: &StoredEvent) -> redis::Cmd {
        let env = &e.envelope;
        let stream = self
            .config
            .stream
            .replace("{type}", env.event.type_name())
            .replace("{node}", &env.node_id);
        let mut cmd = redis::cmd("XADD");
        cmd.arg(stream);
        match self.config.trim {
            RedisTrim::None => {}
            RedisTrim::MaxLen(n) => {
                cmd.arg("MAXLEN").arg("~").arg(n);
            }
            RedisTrim::MinAge(age) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let min = now.saturating_sub(age).as_millis();
                cmd.arg("MINID").arg("~").arg(min.to_string());
            }
        }
        cmd.arg("*")
            .arg("id")
            .arg(&env.id)
            .arg("type")
            .arg(env.event.type_name())
            .arg("call_uuid")
            .arg(env.call_uuid.as_deref().unwrap_or(""))
            .arg("seq")
            .arg(env.seq)
            .arg("call_seq")
            .arg(env.call_seq.map(|s| s.to_string()).unwrap_or_default())
            .arg("json")
            .arg(&e.json[..]);
        cmd
    }
}

impl Sink for RedisSink {
    async fn deliver(&mut self, events: &[Arc<StoredEvent>]) -> Result<(), DeliveryError> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut pipe = redis::pipe();
        for e in events {
            pipe.add_command(self.xadd(e));
        }
        let result: redis::RedisResult<Vec<String>> = pipe.query_async(&mut conn).await;
        match result {
            Ok(ids) if ids.len() == events.len() => {
                self.conn = Some(conn);
                Ok(())
            }
            Ok(ids) => Err(DeliveryError::new(
                0,
                format!("redis: {} replies for {} XADDs", ids.len(), events.len()),
            )),
            // The connection is dropped: the next attempt reconnects.
            Err(e) => Err(DeliveryError::new(0, format!("redis XADD: {e}"))),
        }
    }
}
