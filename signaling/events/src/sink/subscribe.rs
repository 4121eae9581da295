//! In-process subscriptions (for Server-Sent Events and WebSocket clients): past events from
//! the journal followed by live ones, read from the same journal, so there is never a gap or
//! a duplicate at the switch from history to live.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::bus::EventBus;
use crate::envelope::seq_from_id;
use crate::journal::read::{ReadOutcome, ReadPos};
use crate::journal::{Journal, StoredEvent};
use crate::sink::dispatch::read_off_thread;

/// Events a subscriber asked for that the journal no longer holds (its size bound removed
/// them): the subscription continues at `resumed_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("events {missed_from}..{resumed_at} are no longer in the journal")]
pub struct Lagged {
    /// First missing seq.
    pub missed_from: u64,
    /// Seq of the next event that will be returned.
    pub resumed_at: u64,
}

/// A live view of the event stream. Not durable: it has no cursor and does not hold back
/// journal retention.
#[derive(Debug)]
pub struct Subscription {
    journal: Arc<Journal>,
    next: u64,
    pos: ReadPos,
    durable: watch::Receiver<u64>,
    buf: VecDeque<Arc<StoredEvent>>,
    cancel: CancellationToken,
}

/// Batch size of subscription reads.
const READ_BATCH: usize = 256;

impl EventBus {
    /// Subscribes to events with a journal seq greater than `after_seq` (all retained history
    /// from there on, then live events), or only to new events when `after_seq` is `None`.
    pub fn subscribe(&self, after_seq: Option<u64>) -> Subscription {
        let journal = self.inner.journal.clone();
        let next = match after_seq {
            Some(s) => s.saturating_add(1),
            None => journal.durable_seq() + 1,
        };
        Subscription {
            durable: journal.durable.subscribe(),
            journal,
            next,
            pos: ReadPos::default(),
            buf: VecDeque::new(),
            cancel: self.inner.cancel.clone(),
        }
    }

    /// Subscribes to the events after the one with id `last_event_id` (an SSE
    /// `Last-Event-ID`); `None` if the id is not one of ours.
    pub fn subscribe_after_id(&self, last_event_id: &str) -> Option<Subscription> {
        seq_from_id(last_event_id).map(|s| self.subscribe(Some(s)))
    }
}

impl Subscription {
    /// The next event, waiting for one if needed. `Err(Lagged)` reports a hole (then the
    /// stream continues); `None` once the bus is shut down.
    pub async fn next(&mut self) -> Option<Result<Arc<StoredEvent>, Lagged>> {
        loop {
            if let Some(e) = self.buf.pop_front() {
                self.next = e.seq() + 1;
                return Some(Ok(e));
            }
            if self.cancel.is_cancelled() {
                return None;
            }
            self.durable.borrow_and_update();
            match self.read().await {
                Ok(ReadOutcome::Events(events)) => self.buf.extend(events),
                Ok(ReadOutcome::Gap { next }) => {
                    let lagged = Lagged {
                        missed_from: self.next,
                        resumed_at: next,
                    };
                    self.next = next;
                    return Some(Err(lagged));
                }
                Ok(ReadOutcome::UpToDate) => {
                    tokio::select! {
                        _ = self.cancel.cancelled() => return None,
                        r = self.durable.changed() => if r.is_err() { return None },
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "subscription: journal read failed");
                    return None;
                }
            }
        }
    }

    /// The seq the next returned event will have at least.
    pub fn position(&self) -> u64 {
        self.next
    }

    async fn read(&mut self) -> std::io::Result<ReadOutcome> {
        let pos = std::mem::take(&mut self.pos);
        let (outcome, pos) = read_off_thread(&self.journal, self.next, READ_BATCH, pos).await?;
        self.pos = pos;
        Ok(outcome)
    }
}
