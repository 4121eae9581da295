//! Reading the journal from a sequence number: from the in-memory cache of recent events
//! when possible, from the segment files otherwise. Only durable events are returned.

use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom};
use std::sync::Arc;

use bytes::Bytes;

use super::{Journal, StoredEvent, record};

/// The result of one read.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// Events starting exactly at the requested seq, in order, without gaps.
    Events(Vec<Arc<StoredEvent>>),
    /// The requested seq is no longer on disk (removed by the size bound); the oldest
    /// available one is `next`.
    Gap { next: u64 },
    /// Nothing durable at or after the requested seq yet.
    UpToDate,
}

/// Where a reader stopped in a segment file, so the next read does not rescan it.
#[derive(Debug, Default, Clone)]
pub(crate) struct ReadPos {
    segment: u64,
    offset: u64,
    next_seq: u64,
}

impl Journal {
    /// Reads up to `max` durable events starting at `from`.
    pub(crate) fn read(&self, from: u64, max: usize, pos: &mut ReadPos) -> io::Result<ReadOutcome> {
        let durable = self.durable_seq();
        if from > durable || max == 0 {
            return Ok(ReadOutcome::UpToDate);
        }
        if let Some(events) = self.read_cache(from, max) {
            return Ok(ReadOutcome::Events(events));
        }
        // The file may vanish between the lookup and the open (retention): look again.
        for _ in 0..3 {
            let Some((first, last)) = self.segment_of(from) else {
                // Removed by retention, or a hole left by recovery: skip to what follows.
                return Ok(match self.first_seq_after(from) {
                    Some(next) => ReadOutcome::Gap { next },
                    None => ReadOutcome::UpToDate,
                });
            };
            match self.read_segment(first, from, last.min(durable), max, pos) {
                Ok(events) if !events.is_empty() => return Ok(ReadOutcome::Events(events)),
                Ok(_) => return Ok(ReadOutcome::UpToDate),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            "journal segment vanished while reading",
        ))
    }

    /// The in-memory part of [`Journal::read`]: `None` when the files must be read.
    pub(crate) fn read_in_memory(&self, from: u64, max: usize) -> Option<ReadOutcome> {
        if from > self.durable_seq() || max == 0 {
            return Some(ReadOutcome::UpToDate);
        }
        self.read_cache(from, max).map(ReadOutcome::Events)
    }

    fn read_cache(&self, from: u64, max: usize) -> Option<Vec<Arc<StoredEvent>>> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let front = cache.front()?.seq();
        if from < front {
            return None;
        }
        let start = usize::try_from(from - front).ok()?;
        if start >= cache.len() {
            return None;
        }
        Some(cache.iter().skip(start).take(max).cloned().collect())
    }

    /// The first seq of the oldest non-empty segment that starts after `seq`.
    fn first_seq_after(&self, seq: u64) -> Option<u64> {
        let segs = self.segments.lock().unwrap_or_else(|p| p.into_inner());
        segs.iter()
            .find(|s| s.first_seq > seq && s.last_seq >= s.first_seq)
            .map(|s| s.first_seq)
    }

    /// The (first, last) seq of the segment holding `seq`.
    fn segment_of(&self, seq: u64) -> Option<(u64, u64)> {
        let segs = self.segments.lock().unwrap_or_else(|p| p.into_inner());
        segs.iter()
            .find(|s| s.first_seq <= seq && seq <= s.last_seq)
            .map(|s| (s.first_seq, s.last_seq))
    }

    fn read_segment(
        &self,
        segment: u64,
        from: u64,
        until: u64,
        max: usize,
        pos: &mut ReadPos,
    ) -> io::Result<Vec<Arc<StoredEvent>>> {
        let path = record::segment_path(&self.config.dir, segment);
        let mut file = File::open(&path)?;
        if pos.segment != segment || pos.next_seq != from {
            *pos = ReadPos {
                segment,
                offset: 0,
                next_seq: 0,
            };
        }
        file.seek(SeekFrom::Start(pos.offset))?;
        let mut r = BufReader::with_capacity(1 << 16, file);
        let mut out = Vec::new();
        while out.len() < max {
            let Some(rec) = record::read_record(&mut r)? else {
                break;
            };
            if rec.seq > until {
                break;
            }
            pos.offset += (record::HEADER_LEN + rec.payload.len()) as u64;
            pos.next_seq = rec.seq + 1;
            if rec.seq < from {
                continue;
            }
            match serde_json::from_slice(&rec.payload) {
                Ok(envelope) => out.push(Arc::new(StoredEvent {
                    envelope,
                    json: Bytes::from(rec.payload),
                })),
                Err(e) => {
                    tracing::error!(seq = rec.seq, error = %e, "journal record is not an envelope; skipped");
                }
            }
        }
        pos.segment = segment;
        Ok(out)
    }
}
