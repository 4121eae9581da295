//! The publishing side: [`EventBus::publish`] stamps an event and queues it for the journal
//! writer thread without waiting for disk or any broker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use crate::envelope::{Envelope, rfc3339_utc};
use crate::event::Event;
use crate::journal::writer::Writer;
use crate::journal::{Journal, JournalConfig, JournalError, JournalStats};
use crate::sink::{SinkHandle, SinkStats};

/// Settings of an [`EventBus`].
#[derive(Debug, Clone)]
pub struct EventBusConfig {
    /// This signaling node's id (in every envelope and event id).
    pub node_id: String,
    /// The journal.
    pub journal: JournalConfig,
    /// Events that may wait for the writer; beyond that `publish` fails with
    /// [`PublishError::QueueFull`] (default 262,144).
    pub queue_capacity: usize,
}

impl EventBusConfig {
    /// Defaults for `node_id` with the journal in `journal_dir`.
    pub fn new(node_id: impl Into<String>, journal_dir: impl Into<std::path::PathBuf>) -> Self {
        EventBusConfig {
            node_id: node_id.into(),
            journal: JournalConfig::new(journal_dir),
            queue_capacity: 1 << 18,
        }
    }
}

/// Why an event was not accepted. Nothing was numbered: no gap is left in any sequence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The writer is behind by `queue_capacity` events (the disk is slower than the event rate).
    #[error("event queue full")]
    QueueFull,
    /// The bus was shut down.
    #[error("event bus shut down")]
    Closed,
}

/// The numbers given to a published event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Journal sequence number.
    pub seq: u64,
    /// Per-call sequence number, for call events.
    pub call_seq: Option<u64>,
}

#[derive(Debug)]
struct PublishState {
    tx: Option<SyncSender<Envelope>>,
    next_seq: u64,
    /// Last per-call seq given, per open call.
    calls: HashMap<String, u64>,
}

/// Counters of the publishing side and the journal, as a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Events accepted by `publish`.
    pub published: u64,
    /// Events refused because the queue was full.
    pub rejected: u64,
    /// Events accepted but not yet durable in the journal.
    pub queued: u64,
    /// Calls with an open per-call counter.
    pub open_calls: u64,
    /// The journal.
    pub journal: JournalStats,
}

pub(crate) struct BusInner {
    pub(crate) journal: Arc<Journal>,
    node_id: String,
    state: Mutex<PublishState>,
    published: AtomicU64,
    rejected: AtomicU64,
    writer: Mutex<Option<JoinHandle<()>>>,
    pub(crate) sinks: Mutex<Vec<SinkHandle>>,
    pub(crate) cancel: CancellationToken,
}

impl Drop for BusInner {
    /// The last handle is gone: sink tasks stop; the writer thread drains the queue and exits
    /// on its own once the sender is dropped.
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The event pipeline: publish events, subscribe to them, and let sinks deliver them.
/// Cheap to clone (all clones share one pipeline).
#[derive(Clone)]
pub struct EventBus {
    pub(crate) inner: Arc<BusInner>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBus")
            .field("node_id", &self.inner.node_id)
            .finish_non_exhaustive()
    }
}

impl EventBus {
    /// Opens and recovers the journal and starts the writer thread. Sinks are added with
    /// [`EventBus::add_sink`]. Blocking (recovery reads the journal): call it at startup.
    pub fn open(config: EventBusConfig) -> Result<EventBus, JournalError> {
        if config.node_id.is_empty() || config.queue_capacity == 0 {
            return Err(JournalError::Config(
                "node_id must be set and queue_capacity > 0",
            ));
        }
        let (journal, recovered) = Journal::open(config.journal)?;
        let journal = Arc::new(journal);
        let writer = Writer::open(journal.clone(), recovered.next_seq)?;
        let (tx, rx) = sync_channel(config.queue_capacity);
        let handle = std::thread::Builder::new()
            .name("event-journal".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| JournalError::Io {
                path: "event-journal thread".into(),
                source: e,
            })?;
        let state = PublishState {
            tx: Some(tx),
            next_seq: recovered.next_seq,
            calls: recovered.call_seqs,
        };
        Ok(EventBus {
            inner: Arc::new(BusInner {
                journal,
                node_id: config.node_id,
                state: Mutex::new(state),
                published: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                writer: Mutex::new(Some(handle)),
                sinks: Mutex::new(Vec::new()),
                cancel: CancellationToken::new(),
            }),
        })
    }

    /// Numbers, timestamps and queues one event for the journal. Never blocks on disk or on
    /// a broker: it takes one short lock and does not wait. Call events (`call_uuid` set) get
    /// the next per-call sequence number; a `call_ended` event closes the call's counter.
    pub fn publish(
        &self,
        call_uuid: Option<&str>,
        event: Event,
    ) -> Result<Published, PublishError> {
        let timestamp = rfc3339_utc(SystemTime::now());
        let mut st = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let seq = st.next_seq;
        let call_seq = call_uuid.map(|u| st.calls.get(u).copied().unwrap_or(0) + 1);
        let ends = event.ends_call();
        let env = Envelope {
            id: format!("{}-{}-{seq}", self.inner.node_id, self.inner.journal.epoch),
            seq,
            call_uuid: call_uuid.map(str::to_owned),
            call_seq,
            timestamp,
            node_id: self.inner.node_id.clone(),
            event,
        };
        let Some(tx) = st.tx.as_ref() else {
            return Err(PublishError::Closed);
        };
        match tx.try_send(env) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.inner.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(PublishError::QueueFull);
            }
            Err(TrySendError::Disconnected(_)) => return Err(PublishError::Closed),
        }
        st.next_seq += 1;
        if let (Some(uuid), Some(n)) = (call_uuid, call_seq) {
            if ends {
                st.calls.remove(uuid);
            } else {
                st.calls.insert(uuid.to_owned(), n);
            }
        }
        self.inner.published.fetch_add(1, Ordering::Relaxed);
        Ok(Published { seq, call_seq })
    }

    /// Forgets the per-call counter of a call that ended without a `call_ended` event.
    pub fn forget_call(&self, call_uuid: &str) {
        let mut st = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        st.calls.remove(call_uuid);
    }

    /// The highest journal seq that is durable (written and fsynced).
    pub fn durable_seq(&self) -> u64 {
        self.inner.journal.durable_seq()
    }

    /// Waits until every event up to `seq` is durable; false if the bus closed first.
    pub async fn wait_durable(&self, seq: u64) -> bool {
        let mut rx = self.inner.journal.durable.subscribe();
        rx.wait_for(|d| *d >= seq).await.is_ok()
    }

    /// A snapshot of the publishing and journal counters.
    pub fn stats(&self) -> BusStats {
        let st = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let accepted = st.next_seq - 1;
        let open_calls = st.calls.len() as u64;
        drop(st);
        let journal = self.inner.journal.stats();
        BusStats {
            published: self.inner.published.load(Ordering::Relaxed),
            rejected: self.inner.rejected.load(Ordering::Relaxed),
            queued: accepted.saturating_sub(journal.durable_seq),
            open_calls,
            journal,
        }
    }

    /// Snapshots of every sink's counters.
    pub fn sink_stats(&self) -> Vec<SinkStats> {
        let sinks = self.inner.sinks.lock().unwrap_or_else(|p| p.into_inner());
        sinks.iter().map(|s| s.stats(self.durable_seq())).collect()
    }

    /// Stops accepting events, writes and fsyncs everything queued, and stops the sinks
    /// (each finishes or abandons its current delivery; undelivered events stay in the
    /// journal for the next start). Idempotent.
    pub async fn shutdown(&self) {
        {
            let mut st = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
            st.tx = None;
        }
        let writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(w) = writer {
            let _ = tokio::task::spawn_blocking(move || w.join()).await;
        }
        self.inner.cancel.cancel();
        let tasks: Vec<_> = {
            let mut sinks = self.inner.sinks.lock().unwrap_or_else(|p| p.into_inner());
            sinks.iter_mut().filter_map(|s| s.task.take()).collect()
        };
        for t in tasks {
            let _ = t.await;
        }
    }
}
