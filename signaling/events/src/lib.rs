//! Switchboard's durable event pipeline.
//!
//! Every call, registration, media-node and security [`Event`] is wrapped in an
//! [`Envelope`] (unique id, journal seq, call UUID, per-call seq, RFC 3339 timestamp, node
//! id), appended to a local journal on disk, and only then handed to sinks. A broker outage
//! delays events but neither loses them nor slows the caller: [`EventBus::publish`] never
//! waits for disk or network.
//!
//! # Modules
//! - [`event`]: the typed events (serde, `{"type":"call_answered",...}`).
//! - [`envelope`]: the envelope, RFC 3339 formatting, event id parsing.
//! - [`journal`]: append-only segment files, length-prefixed + CRC-32 records, fsync-batched
//!   writer thread, recovery (torn tail truncation, numbering resumed), size bound, cursors.
//! - [`sink`]: the [`Sink`] trait and dispatcher (per-sink cursor, retries with capped
//!   exponential backoff, [`SinkStats`]); [`sink::subscribe`] (in-process, for SSE and
//!   WebSocket); [`sink::nats`] (JetStream with `Nats-Msg-Id`, or core NATS) and
//!   [`sink::redis`] (Redis Streams, `XADD` with `MAXLEN ~`/`MINID ~` trimming) and
//!   [`sink::webhook`] (HMAC-SHA256-signed HTTP `POST`s), behind the default features `nats`,
//!   `redis` and `webhook`.
//!
//! # Usage contract
//! 1. At startup, inside a tokio runtime: [`EventBus::open`] (blocking: recovers the
//!    journal), then [`EventBus::add_sink`] for each configured sink. Each durable sink
//!    resumes from its own persisted cursor, so whatever it had not confirmed before a crash
//!    or restart is redelivered.
//! 2. From call handling, anywhere: [`EventBus::publish`]`(call_uuid, event)`. It assigns the
//!    journal seq and, for call events, the next per-call seq (1, 2, 3, ...; a `call_ended`
//!    closes the call's counter), stamps the time, and queues the event for the journal
//!    writer. It fails only when the bus is shut down or the writer is `queue_capacity`
//!    events behind ([`PublishError::QueueFull`]); a refused event consumes no number.
//! 3. Readers see only durable events (written and fsynced). [`EventBus::subscribe`]
//!    resumes after a seq (or an event id, [`EventBus::subscribe_after_id`]).
//! 4. Delivery to durable sinks is at-least-once in journal order; de-duplicate on
//!    [`Envelope::id`] (JetStream does it for you within its duplicate window).
//! 5. The journal is bounded by [`JournalConfig::max_bytes`]: it keeps the newest `max_bytes`
//!    of events (history for resuming subscribers) and removes the oldest segment beyond that.
//!    If a sink lags so far that a segment it has not confirmed must go, it is removed anyway,
//!    counted in [`JournalStats::dropped_unacked`] and the sink's [`SinkStats::skipped`], and
//!    logged as a warning: the bound protects the disk, at the price of those events.
//! 6. [`EventBus::shutdown`] writes and fsyncs everything queued and stops the sinks.

pub mod bus;
pub mod envelope;
pub mod event;
pub mod journal;
pub mod sink;

pub use bus::{BusStats, EventBus, EventBusConfig, PublishError, Published};
pub use envelope::Envelope;
pub use event::Event;
pub use journal::{JournalConfig, JournalError, JournalStats, StoredEvent};
pub use sink::subscribe::{Lagged, Subscription};
pub use sink::{DeliveryError, Sink, SinkConfig, SinkStats};
