//! `[events]`: the local journal every event is written to first, and the optional sinks
//! (NATS/JetStream, Redis Streams, signed webhooks) that read from it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigIssue;

/// `[events]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSection {
    /// This node's id in every event (default `signaling-1`).
    pub node_id: String,
    /// Journal folder, relative to the config file (default `events`).
    pub journal_dir: String,
    /// Journal size bound in MiB (default 256); the oldest segments go first.
    pub journal_max_mb: u64,
    /// `[events.nats]`: publish to NATS (JetStream when the server has it).
    pub nats: Option<NatsSection>,
    /// `[events.redis]`: append to a Redis Stream.
    pub redis: Option<RedisSection>,
    /// `[[events.webhooks]]`: HMAC-SHA256-signed HTTP POSTs.
    pub webhooks: Vec<WebhookSection>,
}

impl Default for EventsSection {
    fn default() -> Self {
        EventsSection {
            node_id: "signaling-1".into(),
            journal_dir: "events".into(),
            journal_max_mb: 256,
            nats: None,
            redis: None,
            webhooks: Vec::new(),
        }
    }
}

/// `[events.nats]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSection {
    /// `nats://host:port` (comma-separated for several).
    pub url: String,
    /// Subject template; `{type}` is the event type (default `switchboard.events.{type}`).
    pub subject: Option<String>,
    /// How long to wait for a connection, a JetStream ack or a flush, in milliseconds (100-60000,
    /// default 5000); after a broker crash, the sink reconnects once this passes.
    pub timeout_ms: Option<u64>,
}

/// `[events.redis]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://host:port/db`.
    pub url: String,
    /// Stream key (default `switchboard:events`).
    pub stream: Option<String>,
    /// Keep about this many entries (`XADD MAXLEN ~`, default 1,000,000).
    pub maxlen: Option<u64>,
}

/// `[[events.webhooks]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// `http://` or `https://` URL.
    pub url: String,
    /// HMAC key shared with the receiver (at least 16 characters).
    pub secret: String,
}

/// Validated `[events]`.
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Node id.
    pub node_id: String,
    /// Journal folder.
    pub journal_dir: PathBuf,
    /// Journal bound in bytes.
    pub journal_max_bytes: u64,
    /// NATS sink.
    pub nats: Option<NatsSection>,
    /// Redis sink.
    pub redis: Option<RedisSection>,
    /// Webhook sinks.
    pub webhooks: Vec<WebhookSection>,
}

impl EventsSection {
    /// Validates, recording problems in `issues`.
    pub(super) fn validate(
        &self,
        base: Option<&Path>,
        issues: &mut Vec<ConfigIssue>,
    ) -> EventsConfig {
        let mut issue = |key: &str, message: String| {
            issues.push(ConfigIssue {
                key: format!("events.{key}"),
                message,
            })
        };
        if self.node_id.is_empty()
            || !self
                .node_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            issue(
                "node_id",
                "must be non-empty letters, digits, '-' or '_'".into(),
            );
        }
        if self.journal_dir.trim().is_empty() {
            issue("journal_dir", "must not be empty".into());
        }
        if self.journal_max_mb == 0 {
            issue("journal_max_mb", "must be at least 1".into());
        }
        if let Some(n) = &self.nats {
            if !n.url.starts_with("nats://") && !n.url.starts_with("tls://") {
                issue("nats.url", format!("`{}` is not a nats:// URL", n.url));
            }
            if let Some(t) = n.timeout_ms.filter(|t| !(100..=60_000).contains(t)) {
                issue(
                    "nats.timeout_ms",
                    format!("{t}: must be between 100 and 60000"),
                );
            }
        }
        if let Some(r) = &self.redis {
            if !r.url.starts_with("redis://") && !r.url.starts_with("rediss://") {
                issue("redis.url", format!("`{}` is not a redis:// URL", r.url));
            }
            if r.maxlen == Some(0) {
                issue("redis.maxlen", "must be at least 1".into());
            }
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            if !w.url.starts_with("http://") && !w.url.starts_with("https://") {
                issue(
                    &format!("webhooks[{i}].url"),
                    format!("`{}` is not an http(s) URL", w.url),
                );
            }
            if w.secret.len() < 16 {
                issue(
                    &format!("webhooks[{i}].secret"),
                    "must be at least 16 characters".into(),
                );
            }
        }
        let dir = PathBuf::from(&self.journal_dir);
        EventsConfig {
            node_id: self.node_id.clone(),
            journal_dir: match base {
                Some(b) if dir.is_relative() => b.join(dir),
                _ => dir,
            },
            journal_max_bytes: self.journal_max_mb.saturating_mul(1024 * 1024),
            nats: self.nats.clone(),
            redis: self.redis.clone(),
            webhooks: self.webhooks.clone(),
        }
    }
}

/// `[commands]`: operator commands over NATS request-reply (see `crate::commands`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandsSection {
    /// NATS server to take commands from; unset (the default) = no NATS commands.
    pub nats_url: Option<String>,
    /// Broadcast subject; `<subject>.<events.node_id>` reaches this node only.
    pub subject: String,
}

impl Default for CommandsSection {
    fn default() -> Self {
        CommandsSection {
            nats_url: None,
            subject: "switchboard.commands".into(),
        }
    }
}

impl CommandsSection {
    /// Validates, recording problems in `issues`.
    pub(super) fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        if let Some(u) = &self.nats_url {
            if !u.starts_with("nats://") && !u.starts_with("tls://") {
                issues.push(ConfigIssue {
                    key: "commands.nats_url".into(),
                    message: format!("`{u}` is not a nats:// URL"),
                });
            }
        }
        let valid = |t: &str| !t.is_empty() && !t.contains(['*', '>', ' ']);
        if !self.subject.split('.').all(valid) {
            issues.push(ConfigIssue {
                key: "commands.subject".into(),
                message: format!("`{}` is not a NATS subject without wildcards", self.subject),
            });
        }
    }
}
