//! Durable sinks and their dispatcher.
//!
//! Each sink added with [`EventBus::add_sink`] gets a task that reads the journal from the
//! sink's cursor, hands batches to [`Sink::deliver`], and advances the cursor only for the
//! events the sink confirmed. Failures are retried with capped exponential backoff. The
//! cursor is persisted (fsynced) at most every `cursor_sync_interval` and whenever the sink
//! catches up, so after a crash a sink may see up to that much again: delivery is
//! at-least-once, and every event carries a unique id to de-duplicate on.

pub(crate) mod dispatch;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "redis")]
pub mod redis;
pub mod subscribe;
#[cfg(feature = "webhook")]
pub mod webhook;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bus::EventBus;
use crate::journal::{JournalError, StoredEvent};

/// A destination for events. Implementations publish a batch, in order, and return `Ok` only
/// once the destination confirmed every event of it.
pub trait Sink: Send + 'static {
    /// Delivers `events` (in journal order, never empty). On failure, report how many events
    /// at the front of the batch were confirmed anyway; the rest will be offered again.
    fn deliver(
        &mut self,
        events: &[Arc<StoredEvent>],
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// A failed (or partly failed) delivery.
#[derive(Debug, thiserror::Error)]
#[error("{message} ({delivered} confirmed)")]
pub struct DeliveryError {
    /// Events at the front of the batch that were confirmed before the failure.
    pub delivered: usize,
    /// What went wrong.
    pub message: String,
}

impl DeliveryError {
    /// A failure after `delivered` confirmed events.
    pub fn new(delivered: usize, message: impl std::fmt::Display) -> Self {
        DeliveryError {
            delivered,
            message: message.to_string(),
        }
    }
}

/// How the dispatcher drives one sink. Defaults: batches of 256, backoff 100 ms doubling to
/// 10 s, cursor persisted at most every 200 ms.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Name (1-64 of `[A-Za-z0-9_-]`); names the cursor file, so keep it stable.
    pub name: String,
    /// Most events per [`Sink::deliver`] call.
    pub max_batch: usize,
    /// First retry delay.
    pub backoff_initial: Duration,
    /// Retry delay cap.
    pub backoff_max: Duration,
    /// Least time between two cursor writes while the sink is behind.
    pub cursor_sync_interval: Duration,
}

impl SinkConfig {
    /// Defaults for a sink called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        SinkConfig {
            name: name.into(),
            max_batch: 256,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            cursor_sync_interval: Duration::from_millis(200),
        }
    }

    /// The delay before retry number `attempt` (0-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        self.backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// A sink's counters, as a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// The sink's name.
    pub name: String,
    /// Last journal seq the sink confirmed.
    pub cursor: u64,
    /// Durable journal seq minus cursor: events waiting for this sink.
    pub lag: u64,
    /// Events confirmed.
    pub delivered: u64,
    /// Delivery attempts that were retries.
    pub retries: u64,
    /// Delivery attempts that failed.
    pub failures: u64,
    /// Events this sink never got because the journal's size bound removed them first.
    pub skipped: u64,
    /// The most recent failure, if any.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct SinkCounters {
    cursor: AtomicU64,
    delivered: AtomicU64,
    retries: AtomicU64,
    failures: AtomicU64,
    skipped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl SinkCounters {
    fn fail(&self, message: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.to_owned());
    }
}

/// The bus's handle on one running sink.
#[derive(Debug)]
pub(crate) struct SinkHandle {
    name: String,
    counters: Arc<SinkCounters>,
    pub(crate) task: Option<tokio::task::JoinHandle<()>>,
}

impl SinkHandle {
    pub(crate) fn stats(&self, durable: u64) -> SinkStats {
        let c = &self.counters;
        let cursor = c.cursor.load(Ordering::Relaxed);
        SinkStats {
            name: self.name.clone(),
            cursor,
            lag: durable.saturating_sub(cursor),
            delivered: c.delivered.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            last_error: c
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

impl EventBus {
    /// Registers a durable sink and starts its task on the current tokio runtime. It resumes
    /// from its persisted cursor (a new name starts at the oldest event in the journal).
    /// Fails if the name is invalid or already used, or the cursor cannot be read or written.
    pub fn add_sink<S: Sink>(&self, config: SinkConfig, sink: S) -> Result<(), JournalError> {
        if config.max_batch == 0 {
            return Err(JournalError::Config("sink max_batch must be > 0"));
        }
        let mut sinks = self.inner.sinks.lock().unwrap_or_else(|p| p.into_inner());
        if sinks.iter().any(|s| s.name == config.name) {
            return Err(JournalError::Config("sink name already in use"));
        }
        let journal = self.inner.journal.clone();
        let cursor = journal.register_sink(&config.name)?;
        let counters = Arc::new(SinkCounters::default());
        counters.cursor.store(cursor, Ordering::Relaxed);
        let name = config.name.clone();
        let run = dispatch::Dispatcher {
            journal,
            config,
            counters: counters.clone(),
            cancel: self.inner.cancel.clone(),
            cursor,
        };
        let task = tokio::spawn(run.run(sink));
        sinks.push(SinkHandle {
            name,
            counters,
            task: Some(task),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let c = SinkConfig::new("t");
        assert_eq!(c.backoff(0), Duration::from_millis(100));
        assert_eq!(c.backoff(3), Duration::from_millis(800));
        assert_eq!(c.backoff(60), Duration::from_secs(10));
    }
}
