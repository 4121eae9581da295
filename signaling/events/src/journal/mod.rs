//! The local journal: append-only segment files on local disk, fsync-batched, bounded.
//!
//! Layout of the journal directory:
//! - `<first seq, 20 digits>.seg`: segments (record format in `record.rs`); the newest is active.
//! - `epoch`: a random hex value chosen when the directory is created (part of event ids).
//! - `cursor.<sink>`: the last journal seq each durable sink has had confirmed (decimal text).
//!
//! Only the writer thread (`writer.rs`) appends; sinks and subscribers read concurrently
//! (`read.rs`) up to the *durable* seq, which the writer advances after each fsync.

pub(crate) mod cursor;
pub(crate) mod read;
pub(crate) mod record;
pub(crate) mod writer;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::watch;

use crate::envelope::Envelope;

/// Journal settings. Defaults: 16 MiB segments, 256 MiB total, batches of up to 1,024 events
/// or 2 ms, 8,192 recent events cached in memory.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// Directory of the journal (created if missing). Must be on local disk.
    pub dir: PathBuf,
    /// A segment is sealed and a new one started once it reaches this size.
    pub segment_bytes: u64,
    /// Bound on the total size of the segments. The journal keeps the newest `max_bytes` as
    /// history; beyond it the oldest sealed segment is removed. If a durable sink has not
    /// confirmed all of that segment yet, it is removed anyway: those events are lost for
    /// that sink (counted in [`JournalStats::dropped_unacked`], logged as a warning).
    pub max_bytes: u64,
    /// Most events written and fsynced as one batch.
    pub max_batch_events: usize,
    /// Longest time the writer waits for more events after the first of a batch.
    pub max_batch_delay: Duration,
    /// How many of the newest events are kept in memory for readers.
    pub cache_events: usize,
}

impl JournalConfig {
    /// Defaults with the given directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JournalConfig {
            dir: dir.into(),
            segment_bytes: 16 << 20,
            max_bytes: 256 << 20,
            max_batch_events: 1024,
            max_batch_delay: Duration::from_millis(2),
            cache_events: 8192,
        }
    }
}

/// An event read back from the journal: the envelope and its exact JSON bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The decoded envelope.
    pub envelope: Envelope,
    /// The JSON as stored (what sinks publish).
    pub json: Bytes,
}

impl StoredEvent {
    /// The journal sequence number.
    pub fn seq(&self) -> u64 {
        self.envelope.seq
    }
}

/// Counters of the journal, as a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Highest seq written and fsynced.
    pub durable_seq: u64,
    /// Oldest seq still on disk (`durable_seq + 1` when empty).
    pub first_seq: u64,
    /// Segment files on disk.
    pub segments: u64,
    /// Bytes in the segment files.
    pub bytes: u64,
    /// Batches written (one fsync each).
    pub batches: u64,
    /// Failed writes (each retried).
    pub write_errors: u64,
    /// Events removed by the size bound before every sink had them.
    pub dropped_unacked: u64,
    /// Torn or corrupt bytes cut off during recovery.
    pub truncated_bytes: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct SegmentInfo {
    pub(crate) first_seq: u64,
    /// `first_seq - 1` while empty.
    pub(crate) last_seq: u64,
    pub(crate) bytes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) batches: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) dropped_unacked: AtomicU64,
    pub(crate) truncated_bytes: AtomicU64,
}

/// The journal state shared by the writer and all readers.
#[derive(Debug)]
pub(crate) struct Journal {
    pub(crate) config: JournalConfig,
    pub(crate) epoch: String,
    pub(crate) segments: Mutex<VecDeque<SegmentInfo>>,
    pub(crate) cache: RwLock<VecDeque<Arc<StoredEvent>>>,
    pub(crate) durable: watch::Sender<u64>,
    /// Persisted cursors of the registered durable sinks.
    pub(crate) cursors: Mutex<BTreeMap<String, u64>>,
    pub(crate) counters: Counters,
}

/// What recovery found, for the publisher.
#[derive(Debug, Default)]
pub(crate) struct Recovered {
    pub(crate) next_seq: u64,
    /// Next per-call seq minus one, for calls with no `call_ended` in the journal.
    pub(crate) call_seqs: HashMap<String, u64>,
}

/// The fields recovery needs from each stored envelope.
#[derive(Deserialize)]
struct CallFields {
    call_uuid: Option<String>,
    call_seq: Option<u64>,
    #[serde(rename = "type")]
    kind: String,
}

/// Errors opening or recovering the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file operation failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A setting is unusable.
    #[error("journal config: {0}")]
    Config(&'static str),
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> JournalError {
    let path = path.into();
    move |source| JournalError::Io { path, source }
}

impl Journal {
    /// Opens (creating if needed) and recovers the journal in `config.dir`: scans every
    /// segment, truncates a torn tail, and finds where numbering resumes.
    pub(crate) fn open(config: JournalConfig) -> Result<(Journal, Recovered), JournalError> {
        if config.segment_bytes == 0 || config.max_bytes < config.segment_bytes {
            return Err(JournalError::Config("need 0 < segment_bytes <= max_bytes"));
        }
        if config.max_batch_events == 0 {
            return Err(JournalError::Config("max_batch_events must be > 0"));
        }
        fs::create_dir_all(&config.dir).map_err(io_err(&config.dir))?;
        let epoch = cursor::load_or_create_epoch(&config.dir)?;
        let counters = Counters::default();
        let (segments, mut recovered) = recover_segments(&config, &counters)?;
        // A sink confirmed events the segments no longer hold (lost to disk corruption):
        // never hand out those numbers (and so those event ids) again.
        let confirmed = cursor::max_persisted_cursor(&config.dir);
        if confirmed >= recovered.next_seq {
            tracing::warn!(
                confirmed,
                next_seq = recovered.next_seq,
                "journal: sinks confirmed events past its end; numbering continues after them"
            );
            recovered.next_seq = confirmed + 1;
        }
        let journal = Journal {
            durable: watch::Sender::new(recovered.next_seq - 1),
            config,
            epoch,
            segments: Mutex::new(segments),
            cache: RwLock::new(VecDeque::new()),
            cursors: Mutex::new(BTreeMap::new()),
            counters,
        };
        Ok((journal, recovered))
    }

    /// Highest durable seq.
    pub(crate) fn durable_seq(&self) -> u64 {
        *self.durable.borrow()
    }

    /// Oldest seq on disk, or `durable + 1` when the journal is empty.
    pub(crate) fn first_seq(&self) -> u64 {
        let segs = self.segments.lock().unwrap_or_else(|p| p.into_inner());
        segs.iter()
            .find(|s| s.last_seq >= s.first_seq)
            .map_or(self.durable_seq() + 1, |s| s.first_seq)
    }

    pub(crate) fn stats(&self) -> JournalStats {
        let (segments, bytes) = {
            let segs = self.segments.lock().unwrap_or_else(|p| p.into_inner());
            (segs.len() as u64, segs.iter().map(|s| s.bytes).sum())
        };
        let c = &self.counters;
        JournalStats {
            durable_seq: self.durable_seq(),
            first_seq: self.first_seq(),
            segments,
            bytes,
            batches: c.batches.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            dropped_unacked: c.dropped_unacked.load(Ordering::Relaxed),
            truncated_bytes: c.truncated_bytes.load(Ordering::Relaxed),
        }
    }
}

/// Scans all segments in order; see [`Journal::open`].
fn recover_segments(
    config: &JournalConfig,
    counters: &Counters,
) -> Result<(VecDeque<SegmentInfo>, Recovered), JournalError> {
    let dir = &config.dir;
    let mut names: Vec<u64> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(record::parse_segment_name))
        .collect();
    names.sort_unstable();
    let mut segments = VecDeque::new();
    let mut rec = Recovered::default();
    let mut last_seq = 0u64;
    let count = names.len();
    for (i, first) in names.into_iter().enumerate() {
        let path = record::segment_path(dir, first);
        let scan = record::scan(&path, |r| note_call(&mut rec.call_seqs, &r.payload))
            .map_err(io_err(&path))?;
        if scan.valid_len < scan.file_len {
            tracing::warn!(segment = %path.display(), cut = scan.file_len - scan.valid_len,
                "journal: torn or corrupt tail truncated");
            counters
                .truncated_bytes
                .fetch_add(scan.file_len - scan.valid_len, Ordering::Relaxed);
            let f = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            f.set_len(scan.valid_len).map_err(io_err(&path))?;
            f.sync_all().map_err(io_err(&path))?;
        }
        let is_last = i + 1 == count;
        match (scan.first_seq, scan.last_seq) {
            (Some(f), Some(l)) if f > last_seq => {
                segments.push_back(SegmentInfo {
                    first_seq: f,
                    last_seq: l,
                    bytes: scan.valid_len,
                });
                last_seq = l;
            }
            (None, _) if is_last && first > last_seq => {
                segments.push_back(SegmentInfo {
                    first_seq: first,
                    last_seq: first - 1,
                    bytes: 0,
                });
                last_seq = first - 1;
            }
            _ => {
                tracing::warn!(segment = %path.display(), "journal: empty or out-of-order segment removed");
                fs::remove_file(&path).map_err(io_err(&path))?;
            }
        }
    }
    rec.next_seq = last_seq + 1;
    Ok((segments, rec))
}

/// Tracks the per-call counter of one recovered record.
fn note_call(calls: &mut HashMap<String, u64>, payload: &[u8]) {
    let Ok(f) = serde_json::from_slice::<CallFields>(payload) else {
        return;
    };
    if let (Some(uuid), Some(seq)) = (f.call_uuid, f.call_seq) {
        if f.kind == "call_ended" {
            calls.remove(&uuid);
        } else {
            calls.insert(uuid, seq);
        }
    }
}
