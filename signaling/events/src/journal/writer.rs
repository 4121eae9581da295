//! The journal writer: one thread that batches envelopes, appends them, fsyncs once per
//! batch and then advances the durable seq that readers wait on.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Journal, JournalError, SegmentInfo, StoredEvent, cursor, io_err, record};
use crate::envelope::Envelope;

/// Owns the active segment file.
#[derive(Debug)]
pub(crate) struct Writer {
    journal: Arc<Journal>,
    file: File,
    active_first: u64,
    active_len: u64,
    buf: Vec<u8>,
}

impl Writer {
    /// Opens the newest segment for appending, or creates the first one at `next_seq`.
    pub(crate) fn open(journal: Arc<Journal>, next_seq: u64) -> Result<Writer, JournalError> {
        let last = {
            let segs = journal.segments.lock().unwrap_or_else(|p| p.into_inner());
            segs.back().cloned()
        };
        let (first, len) = match last {
            Some(s) if s.last_seq + 1 == next_seq => (s.first_seq, s.bytes),
            // No segment yet, or numbering jumps (see `Journal::open`): start a new one.
            _ => {
                let mut segs = journal.segments.lock().unwrap_or_else(|p| p.into_inner());
                segs.push_back(SegmentInfo {
                    first_seq: next_seq,
                    last_seq: next_seq - 1,
                    bytes: 0,
                });
                (next_seq, 0)
            }
        };
        let path = record::segment_path(&journal.config.dir, first);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        cursor::sync_dir(&journal.config.dir)?;
        Ok(Writer {
            journal,
            file,
            active_first: first,
            active_len: len,
            buf: Vec::new(),
        })
    }

    /// Runs until every sender is gone and the queue is drained.
    pub(crate) fn run(mut self, rx: Receiver<Envelope>) {
        let max = self.journal.config.max_batch_events;
        let delay = self.journal.config.max_batch_delay;
        let mut batch = Vec::with_capacity(max);
        while let Ok(first) = rx.recv() {
            batch.push(first);
            let deadline = Instant::now() + delay;
            while batch.len() < max {
                let left = deadline.saturating_duration_since(Instant::now());
                match rx.recv_timeout(left) {
                    Ok(e) => batch.push(e),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            let stored: Vec<Arc<StoredEvent>> = batch.drain(..).filter_map(to_stored).collect();
            self.append_until_written(&stored);
        }
    }

    /// Appends a batch, retrying (with a capped pause) until the disk takes all of it.
    fn append_until_written(&mut self, batch: &[Arc<StoredEvent>]) {
        let mut pause = Duration::from_millis(10);
        let mut rest = batch;
        while !rest.is_empty() {
            match self.append_chunk(rest) {
                Ok(n) => {
                    rest = &rest[n..];
                    pause = Duration::from_millis(10);
                }
                Err(e) => {
                    self.journal
                        .counters
                        .write_errors
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::error!(error = %e, events = rest.len(), "journal write failed; retrying");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Writes and fsyncs the front of `batch` that fits in the active segment (at least one
    /// event, rolling to a new segment first if the active one is full), then publishes it to
    /// readers. Returns how many events were written.
    pub(crate) fn append_chunk(
        &mut self,
        batch: &[Arc<StoredEvent>],
    ) -> Result<usize, JournalError> {
        let Some(first) = batch.first() else {
            return Ok(0);
        };
        let limit = self.journal.config.segment_bytes;
        if self.active_len > 0 && self.active_len >= limit {
            self.roll(first.seq())?;
        }
        self.buf.clear();
        let mut count = 0;
        for e in batch {
            if count > 0 && self.active_len + self.buf.len() as u64 >= limit {
                break;
            }
            record::encode(&mut self.buf, e.seq(), &e.json);
            count += 1;
        }
        let stored = &batch[..count];
        let path = record::segment_path(&self.journal.config.dir, self.active_first);
        let written = self
            .file
            .write_all(&self.buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Cut a partial write so the next attempt appends at a record boundary.
            let _ = self.file.set_len(self.active_len);
            return Err(io_err(path)(e));
        }
        self.active_len += self.buf.len() as u64;
        let last_seq = stored.last().map_or(first.seq(), |e| e.seq());
        self.publish(stored, last_seq);
        Ok(count)
    }

    fn publish(&self, stored: &[Arc<StoredEvent>], last_seq: u64) {
        let j = &self.journal;
        {
            let mut segs = j.segments.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(active) = segs.back_mut() {
                active.last_seq = last_seq;
                active.bytes = self.active_len;
            }
        }
        {
            let mut cache = j.cache.write().unwrap_or_else(|p| p.into_inner());
            cache.extend(stored.iter().cloned());
            while cache.len() > j.config.cache_events {
                cache.pop_front();
            }
        }
        j.counters.batches.fetch_add(1, Ordering::Relaxed);
        j.durable.send_replace(last_seq);
    }

    /// Seals the active segment and starts a new one whose first record is `next_seq`.
    fn roll(&mut self, next_seq: u64) -> Result<(), JournalError> {
        let path = record::segment_path(&self.journal.config.dir, next_seq);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        cursor::sync_dir(&self.journal.config.dir)?;
        {
            let mut segs = self
                .journal
                .segments
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            segs.push_back(SegmentInfo {
                first_seq: next_seq,
                last_seq: next_seq - 1,
                bytes: 0,
            });
        }
        self.file = file;
        self.active_first = next_seq;
        self.active_len = 0;
        self.journal.enforce_retention();
        Ok(())
    }
}

/// Serializes an envelope once; the JSON is what is stored and what sinks send.
fn to_stored(envelope: Envelope) -> Option<Arc<StoredEvent>> {
    match serde_json::to_vec(&envelope) {
        Ok(json) => Some(Arc::new(StoredEvent {
            envelope,
            json: Bytes::from(json),
        })),
        Err(e) => {
            // Not reachable with the event types of this crate (no maps, no non-string keys).
            tracing::error!(seq = envelope.seq, error = %e, "event not serializable; dropped");
            None
        }
    }
}
