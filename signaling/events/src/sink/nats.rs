//! The NATS sink: JetStream when the server has it (each event published with
//! `Nats-Msg-Id` = event id, so the stream de-duplicates redeliveries within its duplicate
//! window, and confirmed only by the stream's publish ack), core NATS otherwise (publish +
//! flush: confirmed once written to the server's socket, so a broken connection can still
//! lose what was in flight; JetStream is the durable choice).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage};

use super::{DeliveryError, Sink};
use crate::journal::StoredEvent;

/// Which NATS API the sink uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NatsMode {
    /// JetStream if the server has it enabled, core NATS otherwise (decided on each connect).
    #[default]
    Auto,
    /// JetStream only; deliveries fail (and are retried) while it is unavailable.
    JetStream,
    /// Core NATS publish + flush.
    Core,
}

/// A JetStream stream the sink creates if it does not exist yet.
#[derive(Debug, Clone)]
pub struct NatsStreamConfig {
    /// Stream name (no `.`, spaces or `*`/`>`).
    pub name: String,
    /// Subjects it captures, e.g. `switchboard.events.>`.
    pub subjects: Vec<String>,
    /// Oldest message kept (zero: no limit).
    pub max_age: Duration,
    /// Window in which a repeated `Nats-Msg-Id` is dropped (server default 2 min when zero).
    pub duplicate_window: Duration,
}

/// Settings of a [`NatsSink`].
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// Server URL(s), comma separated (`nats://127.0.0.1:4222`).
    pub url: String,
    /// Subject template: `{type}` becomes the event type, `{node}` the node id.
    /// Default `switchboard.events.{type}`.
    pub subject: String,
    /// API choice (default [`NatsMode::Auto`]).
    pub mode: NatsMode,
    /// Stream to create on connect in JetStream mode; `None` expects one to exist.
    pub stream: Option<NatsStreamConfig>,
    /// How long to wait for a connection, a publish ack or a flush (default 5 s).
    pub timeout: Duration,
}

impl NatsConfig {
    /// Defaults for `url`, with a stream `SWITCHBOARD_EVENTS` on `switchboard.events.>`.
    pub fn new(url: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            subject: "switchboard.events.{type}".into(),
            mode: NatsMode::Auto,
            stream: Some(NatsStreamConfig {
                name: "SWITCHBOARD_EVENTS".into(),
                subjects: vec!["switchboard.events.>".into()],
                max_age: Duration::from_secs(7 * 24 * 3600),
                duplicate_window: Duration::from_secs(120),
            }),
            timeout: Duration::from_secs(5),
        }
    }
}

enum Conn {
    JetStream(jetstream::Context),
    Core(async_nats::Client),
}

/// Publishes events to NATS; see the module docs.
pub struct NatsSink {
    config: NatsConfig,
    conn: Option<Conn>,
}

impl std::fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSink")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl NatsSink {
    /// A sink that connects on its first delivery (and reconnects by itself afterwards).
    pub fn new(config: NatsConfig) -> Self {
        NatsSink { config, conn: None }
    }

    /// Whether the sink is connected and using JetStream (`None` before the first connect).
    pub fn uses_jetstream(&self) -> Option<bool> {
        self.conn.as_ref().map(|c| matches!(c, Conn::JetStream(_)))
    }

    async fn connect(&self) -> Result<Conn, DeliveryError> {
        let c = &self.config;
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(c.timeout)
            .request_timeout(Some(c.timeout))
            .max_reconnects(None)
            .connect(c.url.as_str())
            .await
            .map_err(|e| DeliveryError::new(0, format!("nats connect: {e}")))?;
        if c.mode == NatsMode::Core {
            return Ok(Conn::Core(client));
        }
        let js = jetstream::ContextBuilder::new()
            .timeout(c.timeout)
            .build(client.clone());
        match jetstream_available(&client, c.timeout).await {
            Ok(true) => {}
            Ok(false) if c.mode == NatsMode::Auto => {
                tracing::info!(url = %c.url, "NATS server has no JetStream: core publish + flush");
                return Ok(Conn::Core(client));
            }
            Ok(false) => return Err(DeliveryError::new(0, "nats: JetStream not enabled")),
            Err(e) => return Err(e),
        }
        if let Some(s) = &c.stream {
            let config = jetstream::stream::Config {
                name: s.name.clone(),
                subjects: s.subjects.clone(),
                max_age: s.max_age,
                duplicate_window: s.duplicate_window,
                ..Default::default()
            };
            js.get_or_create_stream(config)
                .await
                .map_err(|e| DeliveryError::new(0, format!("nats stream {}: {e}", s.name)))?;
        }
        Ok(Conn::JetStream(js))
    }

    fn subject(&self, e: &StoredEvent) -> String {
        self.config
            .subject
            .replace("{type}", e.envelope.event.type_name())
            .replace("{node}", &e.envelope.node_id)
    }
}

impl Sink for NatsSink {
    async fn deliver(&mut self, events: &[Arc<StoredEvent>]) -> Result<(), DeliveryError> {
        if self.conn.is_none() {
            self.conn = Some(self.connect().await?);
        }
        match &self.conn {
            Some(Conn::JetStream(js)) => publish_jetstream(js, self, events).await,
            Some(Conn::Core(client)) => publish_core(client, self, events).await,
            None => Err(DeliveryError::new(0, "not connected")),
        }
    }
}

/// Asks `$JS.API.INFO` directly (the typed account query of newer clients does not parse
/// every server version's reply): `false` when nobody answers or the account has no JetStream.
async fn jetstream_available(
    client: &async_nats::Client,
    timeout: Duration,
) -> Result<bool, DeliveryError> {
    use async_nats::RequestErrorKind;
    let reply =
        tokio::time::timeout(timeout, client.request("$JS.API.INFO", bytes::Bytes::new())).await;
    match reply {
        Err(_) => Err(DeliveryError::new(0, "nats: JetStream info timed out")),
        Ok(Err(e)) if e.kind() == RequestErrorKind::NoResponders => Ok(false),
        Ok(Err(e)) => Err(DeliveryError::new(0, format!("nats: JetStream info: {e}"))),
        Ok(Ok(msg)) => {
            let v: serde_json::Value = serde_json::from_slice(&msg.payload)
                .map_err(|e| DeliveryError::new(0, format!("nats: JetStream info reply: {e}")))?;
            Ok(v.get("error").is_none())
        }
    }
}

/// Sends every event, then waits for the acks in order; confirms the acked prefix.
async fn publish_jetstream(
    js: &jetstream::Context,
    sink: &NatsSink,
    events: &[Arc<StoredEvent>],
) -> Result<(), DeliveryError> {
    let mut pending = Vec::with_capacity(events.len());
    let mut send_error = None;
    for e in events {
        let msg = PublishMessage::build()
            .payload(e.json.clone())
            .message_id(&e.envelope.id);
        match js.send_publish(sink.subject(e), msg).await {
            Ok(ack) => pending.push(ack),
            Err(err) => {
                send_error = Some(err.to_string());
                break;
            }
        }
    }
    let sent = pending.len();
    for (confirmed, ack) in pending.into_iter().enumerate() {
        if let Err(err) = ack.await {
            return Err(DeliveryError::new(
                confirmed,
                format!("nats publish ack: {err}"),
            ));
        }
    }
    match send_error {
        None => Ok(()),
        Some(err) => Err(DeliveryError::new(sent, format!("nats publish: {err}"))),
    }
}

/// Publishes every event and flushes; confirms all or nothing.
async fn publish_core(
    client: &async_nats::Client,
    sink: &NatsSink,
    events: &[Arc<StoredEvent>],
) -> Result<(), DeliveryError> {
    for e in events {
        client
            .publish(sink.subject(e), e.json.clone())
            .await
            .map_err(|err| DeliveryError::new(0, format!("nats publish: {err}")))?;
    }
    match tokio::time::timeout(sink.config.timeout, client.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(DeliveryError::new(0, format!("nats flush: {err}"))),
        Err(_) => Err(DeliveryError::new(0, "nats flush timed out")),
    }
}
