//! The signaling side of the event pipeline (`switchboard-events`): opening the journal with the
//! configured sinks, and turning registrar and media-pool happenings into typed events. Publishing
//! never waits: a full journal queue drops the event with a warning and a count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchboard_events::sink::nats::{NatsConfig, NatsSink};
use switchboard_events::sink::redis::{RedisConfig, RedisSink, RedisTrim};
use switchboard_events::sink::webhook::{WebhookConfig, WebhookSink};
use switchboard_events::{Event, EventBus, EventBusConfig, SinkConfig};
use switchboard_registrar::RegistrationEvent;

use crate::config::EventsConfig;

/// A cheap handle to the bus for the code that reports events.
#[derive(Clone, Debug)]
pub struct Events {
    bus: Arc<EventBus>,
    refused: Arc<AtomicU64>,
    auth_failures: Arc<AtomicU64>,
    /// Sources banned for failing authentication; set once at start (`Events::with_bans`).
    bans: Option<Arc<super::bans::Bans>>,
}

impl Events {
    /// Opens (and recovers) the journal in `config.journal_dir` and starts the configured sinks.
    /// Blocking: call at startup inside the runtime.
    pub fn open(config: &EventsConfig) -> std::io::Result<Events> {
        std::fs::create_dir_all(&config.journal_dir)?;
        let mut bus_config = EventBusConfig::new(&config.node_id, &config.journal_dir);
        bus_config.journal.max_bytes = config.journal_max_bytes;
        let bus = EventBus::open(bus_config).map_err(std::io::Error::other)?;
        let add = |name: &str, r: Result<(), switchboard_events::JournalError>| {
            r.map_err(|e| std::io::Error::other(format!("event sink {name}: {e}")))
        };
        if let Some(n) = &config.nats {
            let mut c = NatsConfig::new(&n.url);
            if let Some(s) = &n.subject {
                c.subject = s.clone();
            }
            if let Some(ms) = n.timeout_ms {
                c.timeout = std::time::Duration::from_millis(ms);
            }
            add(
                "nats",
                bus.add_sink(SinkConfig::new("nats"), NatsSink::new(c)),
            )?;
        }
        if let Some(r) = &config.redis {
            let mut c = RedisConfig::new(&r.url);
            if let Some(s) = &r.stream {
                c.stream = s.clone();
            }
            if let Some(n) = r.maxlen {
                c.trim = RedisTrim::MaxLen(n);
            }
            add(
                "redis",
                bus.add_sink(SinkConfig::new("redis"), RedisSink::new(c)),
            )?;
        }
        for (i, w) in config.webhooks.iter().enumerate() {
            let name = format!("webhook{i}");
            let sink = WebhookSink::new(WebhookConfig::new(&w.url, w.secret.as_bytes()))
                .map_err(|e| std::io::Error::other(format!("event sink {name}: {}", e.message)))?;
            add(&name, bus.add_sink(SinkConfig::new(&name), sink))?;
        }
        Ok(Events {
            bus: Arc::new(bus),
            refused: Arc::new(AtomicU64::new(0)),
            auth_failures: Arc::new(AtomicU64::new(0)),
            bans: None,
        })
    }

    /// This handle, counting authentication failures towards `bans`.
    pub(crate) fn with_bans(mut self, bans: Arc<super::bans::Bans>) -> Events {
        self.bans = Some(bans);
        self
    }

    /// The bus (subscriptions, stats).
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// Events refused because the journal writer was too far behind.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Failed digest authentications (REGISTER and INVITE).
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures.load(Ordering::Relaxed)
    }

    /// Counts and publishes a failed digest authentication; one too many from an address bans it
    /// (`ban` event).
    pub(crate) fn auth_failure(&self, username: &str, source: &str) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
        let event = Event::AuthFailure {
            username: username.to_owned(),
            source: source.to_owned(),
        };
        self.publish(None, event);
        // `ip:port` (INVITE) or `ip` (REGISTER).
        let ip = source
            .parse::<std::net::SocketAddr>()
            .map(|s| s.ip())
            .or_else(|_| source.parse::<std::net::IpAddr>());
        if let (Some(bans), Ok(ip)) = (&self.bans, ip) {
            if bans.record_failure(ip, std::time::Instant::now()) {
                tracing::warn!(%ip, "banned: too many failed authentications");
                let source = ip.to_string();
                self.publish(None, Event::Ban { source });
            }
        }
    }

    /// Queues an event; never blocks.
    pub fn publish(&self, call_uuid: Option<&str>, event: Event) {
        if let Err(e) = self.bus.publish(call_uuid, event) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "event not journaled");
        }
    }

    /// Writes out what is queued and stops the sinks (at most `limit`).
    pub async fn shutdown(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, self.bus.shutdown()).await;
    }

    /// Logs a registrar happening and publishes it.
    pub(crate) fn registration(&self, e: &RegistrationEvent, user_agent: Option<&str>) {
        use switchboard_events::event::Registration;
        let reg = |aor: &switchboard_registrar::Aor, contact: &str, expires: u32| Registration {
            aor: aor.to_string(),
            contact: contact.to_owned(),
            expires,
            user_agent: user_agent.map(str::to_owned),
        };
        let event = match e {
            RegistrationEvent::Added {
                aor,
                contact,
                expires,
            } => {
                tracing::info!(%aor, contact, expires, "registration added");
                Event::RegistrationAdded(reg(aor, contact, *expires))
            }
            RegistrationEvent::Refreshed {
                aor,
                contact,
                expires,
            } => {
                tracing::debug!(%aor, contact, expires, "registration refreshed");
                Event::RegistrationRefreshed(reg(aor, contact, *expires))
            }
            RegistrationEvent::Removed { aor, contact } => {
                tracing::info!(%aor, contact, "registration removed");
                Event::RegistrationRemoved(reg(aor, contact, 0))
            }
            RegistrationEvent::Expired { aor, contact } => {
                tracing::info!(%aor, contact, "registration expired");
                Event::RegistrationExpired(reg(aor, contact, 0))
            }
            RegistrationEvent::AuthFailed { username, source } => {
                tracing::warn!(username, %source, "authentication failed");
                self.auth_failure(username, &source.to_string());
                return;
            }
        };
        self.publish(None, event);
    }
}
