//! The per-sink task: journal → sink, cursor advanced only on confirmation.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::{Sink, SinkConfig, SinkCounters};
use crate::journal::read::{ReadOutcome, ReadPos};
use crate::journal::{Journal, StoredEvent};

pub(super) struct Dispatcher {
    pub(super) journal: Arc<Journal>,
    pub(super) config: SinkConfig,
    pub(super) counters: Arc<SinkCounters>,
    pub(super) cancel: CancellationToken,
    /// Last confirmed seq.
    pub(super) cursor: u64,
}

/// Whether the dispatcher keeps going.
enum Flow {
    Continue,
    Stop,
}

impl Dispatcher {
    pub(super) async fn run<S: Sink>(mut self, mut sink: S) {
        let mut durable = self.journal.durable.subscribe();
        let mut pos = ReadPos::default();
        let mut persisted = self.cursor;
        let mut last_persist = Instant::now();
        let mut read_errors = 0u32;
        loop {
            durable.borrow_and_update();
            let outcome = read_off_thread(
                &self.journal,
                self.cursor + 1,
                self.config.max_batch,
                std::mem::take(&mut pos),
            )
            .await;
            let events = match outcome {
                Ok((ReadOutcome::Events(events), p)) => {
                    pos = p;
                    read_errors = 0;
                    events
                }
                Ok((ReadOutcome::UpToDate, p)) => {
                    pos = p;
                    self.persist(&mut persisted, &mut last_persist).await;
                    tokio::select! {
                        _ = self.cancel.cancelled() => break,
                        changed = durable.changed() => if changed.is_err() { break },
                    }
                    continue;
                }
                Ok((ReadOutcome::Gap { next }, _)) => {
                    self.skip_to(next);
                    continue;
                }
                Err(e) => {
                    self.counters.fail(&format!("journal read: {e}"));
                    tracing::error!(sink = %self.config.name, error = %e, "journal read failed");
                    if self.pause(read_errors).await {
                        break;
                    }
                    read_errors += 1;
                    continue;
                }
            };
            if let Flow::Stop = self.deliver(&mut sink, &events).await {
                break;
            }
            if last_persist.elapsed() >= self.config.cursor_sync_interval {
                self.persist(&mut persisted, &mut last_persist).await;
            }
        }
        self.persist(&mut persisted, &mut last_persist).await;
    }

    /// Delivers one batch, retrying the unconfirmed rest until it is all confirmed.
    async fn deliver<S: Sink>(&mut self, sink: &mut S, events: &[Arc<StoredEvent>]) -> Flow {
        let mut rest = events;
        let mut attempt = 0u32;
        while !rest.is_empty() {
            let result = tokio::select! {
                _ = self.cancel.cancelled() => return Flow::Stop,
                r = sink.deliver(rest) => r,
            };
            let confirmed = match &result {
                Ok(()) => rest.len(),
                Err(e) => e.delivered.min(rest.len()),
            };
            if let Some(last) = rest[..confirmed].last() {
                self.advance(last.seq(), confirmed);
            }
            rest = &rest[confirmed..];
            if let Err(e) = result {
                self.counters.fail(&e.message);
                tracing::warn!(sink = %self.config.name, error = %e, attempt, "event delivery failed");
                if rest.is_empty() {
                    break;
                }
                if self.pause(attempt).await {
                    return Flow::Stop;
                }
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
                attempt = attempt.saturating_add(1);
            }
        }
        Flow::Continue
    }

    fn advance(&mut self, seq: u64, n: usize) {
        self.cursor = seq;
        self.counters.cursor.store(seq, Ordering::Relaxed);
        self.counters
            .delivered
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    fn skip_to(&mut self, next: u64) {
        let skipped = next.saturating_sub(self.cursor + 1);
        tracing::warn!(sink = %self.config.name, skipped, "events removed from the journal before this sink had them");
        self.counters.skipped.fetch_add(skipped, Ordering::Relaxed);
        self.cursor = next - 1;
        self.counters.cursor.store(self.cursor, Ordering::Relaxed);
    }

    /// Sleeps the backoff for `attempt`; true if cancelled meanwhile.
    async fn pause(&self, attempt: u32) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => true,
            _ = tokio::time::sleep(self.config.backoff(attempt)) => false,
        }
    }

    async fn persist(&self, persisted: &mut u64, last: &mut Instant) {
        if *persisted == self.cursor {
            return;
        }
        let journal = self.journal.clone();
        let (name, seq) = (self.config.name.clone(), self.cursor);
        let done = tokio::task::spawn_blocking(move || journal.store_cursor(&name, seq)).await;
        match done {
            Ok(Ok(())) => {
                *persisted = seq;
                *last = Instant::now();
            }
            Ok(Err(e)) => {
                tracing::error!(sink = %self.config.name, error = %e, "cursor not persisted")
            }
            Err(e) => tracing::error!(sink = %self.config.name, error = %e, "cursor task failed"),
        }
    }
}

/// Reads from memory when it can, on the blocking pool otherwise (segment files).
pub(crate) async fn read_off_thread(
    journal: &Arc<Journal>,
    from: u64,
    max: usize,
    mut pos: ReadPos,
) -> std::io::Result<(ReadOutcome, ReadPos)> {
    if let Some(outcome) = journal.read_in_memory(from, max) {
        return Ok((outcome, pos));
    }
    let journal = journal.clone();
    tokio::task::spawn_blocking(move || journal.read(from, max, &mut pos).map(|o| (o, pos)))
        .await
        .map_err(std::io::Error::other)?
}
