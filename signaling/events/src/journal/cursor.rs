//! Small files beside the segments (epoch, sink cursors) and segment retention.

use std::collections::hash_map::RandomState;
use std::fs::{self, File};
use std::hash::BuildHasher;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::{Journal, JournalError, io_err, record};

/// Reads the journal epoch, creating it (random 32-bit hex) on first use.
pub(crate) fn load_or_create_epoch(dir: &Path) -> Result<String, JournalError> {
    let path = dir.join("epoch");
    if let Ok(s) = fs::read_to_string(&path) {
        let s = s.trim();
        if s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(s.to_owned());
        }
    }
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let random = RandomState::new().hash_one((nanos, std::process::id()));
    let epoch = format!("{:08x}", random as u32);
    write_synced(dir, "epoch", epoch.as_bytes())?;
    Ok(epoch)
}

/// Writes `dir/name` atomically (temp file, fsync, rename, fsync of the directory).
fn write_synced(dir: &Path, name: &str, data: &[u8]) -> Result<(), JournalError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(data).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(dir)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// The highest cursor persisted by any sink (0 when none).
pub(crate) fn max_persisted_cursor(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("cursor."))
        })
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .filter_map(|s| s.trim().parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

/// Whether `name` can be a sink name (it becomes part of a file name).
pub(crate) fn valid_sink_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Journal {
    /// Registers a durable sink and returns its cursor: the persisted one, or, for a sink
    /// seen for the first time, just before the oldest retained event (it gets everything).
    pub(crate) fn register_sink(&self, name: &str) -> Result<u64, JournalError> {
        if !valid_sink_name(name) {
            return Err(JournalError::Config("sink names are 1-64 of [A-Za-z0-9_-]"));
        }
        let path = self.config.dir.join(format!("cursor.{name}"));
        let persisted = fs::read_to_string(&path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        let cursor = match persisted {
            Some(c) => c.min(self.durable_seq()),
            None => {
                let c = self.first_seq() - 1;
                self.store_cursor(name, c)?;
                c
            }
        };
        self.lock_cursors().insert(name.to_owned(), cursor);
        Ok(cursor)
    }

    /// Persists a sink's cursor (fsynced).
    pub(crate) fn store_cursor(&self, name: &str, seq: u64) -> Result<(), JournalError> {
        write_synced(
            &self.config.dir,
            &format!("cursor.{name}"),
            format!("{seq}\n").as_bytes(),
        )?;
        self.lock_cursors().insert(name.to_owned(), seq);
        Ok(())
    }

    fn lock_cursors(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, u64>> {
        self.cursors.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// While the segments exceed `max_bytes`, removes the oldest sealed one. The journal thus
    /// keeps the newest `max_bytes` as history (for subscribers resuming). A removed segment
    /// that some durable sink had not confirmed yet is counted and logged as dropped.
    pub(crate) fn enforce_retention(&self) {
        let min_cursor = self
            .lock_cursors()
            .values()
            .min()
            .copied()
            .unwrap_or(u64::MAX);
        loop {
            let removed = {
                let mut segs = self.segments.lock().unwrap_or_else(|p| p.into_inner());
                let total: u64 = segs.iter().map(|s| s.bytes).sum();
                if segs.len() < 2 || total <= self.config.max_bytes {
                    return;
                }
                let Some(oldest) = segs.pop_front() else {
                    return;
                };
                oldest
            };
            if removed.last_seq > min_cursor {
                let unacked = removed.last_seq - min_cursor.max(removed.first_seq - 1);
                self.counters
                    .dropped_unacked
                    .fetch_add(unacked, Ordering::Relaxed);
                tracing::warn!(
                    unacked,
                    first_seq = removed.first_seq,
                    last_seq = removed.last_seq,
                    "journal over max_bytes: oldest segment removed before every sink had it"
                );
            }
            let path = record::segment_path(&self.config.dir, removed.first_seq);
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(segment = %path.display(), error = %e, "journal: segment removal failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_names_are_file_safe() {
        assert!(valid_sink_name("nats-main_1"));
        assert!(!valid_sink_name(""));
        assert!(!valid_sink_name("../x"));
        assert!(!valid_sink_name("a b"));
    }

    #[test]
    fn epoch_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = load_or_create_epoch(dir.path()).expect("create");
        let b = load_or_create_epoch(dir.path()).expect("reload");
        assert_eq!(a, b);
        assert_eq!(a.len(), 8);
    }
}
