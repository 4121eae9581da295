//! Banned sources: an IP address with too many failed digest authentications in a window is
//! ignored for a while (`[security]`). Checked for every inbound message before it is parsed, so
//! the check is one atomic load while nothing is banned.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use crate::config::SecuritySection;

/// At most this many addresses are tracked; beyond it the oldest failures are forgotten first.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    banned_until: Option<Instant>,
}

/// The ban list.
#[derive(Debug)]
pub struct Bans {
    config: SecuritySection,
    entries: Mutex<HashMap<IpAddr, Entry>>,
    /// Bans in force (possibly expired but not yet swept), for the fast path.
    banned: AtomicUsize,
    dropped: AtomicU64,
}

impl Bans {
    /// An empty list with `config`'s thresholds.
    pub fn new(config: SecuritySection) -> Bans {
        Bans {
            config,
            entries: Mutex::new(HashMap::new()),
            banned: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Counts a failed authentication from `ip`; `true` when it bans `ip` now.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) -> bool {
        if self.config.ban_after_failures == 0 {
            return false;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        let Some(e) = self.slot(&mut entries, ip, now) else {
            return false;
        };
        if e.banned_until.is_some_and(|u| u > now) {
            return false;
        }
        if now.saturating_duration_since(e.window_start) > self.config.window() {
            e.window_start = now;
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        if e.failures < self.config.ban_after_failures {
            return false;
        }
        self.ban_entry(e, now);
        true
    }

    /// Bans `ip` now (a flood); `false` when it already was (or the table is full).
    pub fn ban(&self, ip: IpAddr, now: Instant) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        let Some(e) = self.slot(&mut entries, ip, now) else {
            return false;
        };
        if e.banned_until.is_some_and(|u| u > now) {
            return false;
        }
        self.ban_entry(e, now);
        true
    }

    /// `ip`'s entry, made when new; when the table is full, stale entries are swept first and
    /// `None` says it stayed full (memory stays bounded whatever the number of sources).
    fn slot<'a>(
        &self,
        entries: &'a mut HashMap<IpAddr, Entry>,
        ip: IpAddr,
        now: Instant,
    ) -> Option<&'a mut Entry> {
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&ip) {
            self.sweep(entries, now);
            if entries.len() >= MAX_TRACKED {
                return None;
            }
        }
        Some(entries.entry(ip).or_insert(Entry {
            window_start: now,
            failures: 0,
            banned_until: None,
        }))
    }

    fn ban_entry(&self, e: &mut Entry, now: Instant) {
        let was_banned = e.banned_until.is_some();
        e.banned_until = Some(now + self.config.ban());
        e.failures = 0;
        if !was_banned {
            self.banned.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether messages from `ip` are to be dropped now (counted when they are).
    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        if self.banned.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        let Some(e) = entries.get_mut(&ip) else {
            return false;
        };
        match e.banned_until {
            Some(until) if until > now => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(_) => {
                e.banned_until = None;
                self.banned.fetch_sub(1, Ordering::Relaxed);
                false
            }
            None => false,
        }
    }

    /// Addresses banned now.
    pub fn active(&self, now: Instant) -> usize {
        self.entries.lock().map_or(0, |e| {
            e.values()
                .filter(|e| e.banned_until.is_some_and(|u| u > now))
                .count()
        })
    }

    /// The addresses banned now, with the time each ban has left.
    pub fn list(&self, now: Instant) -> Vec<(IpAddr, std::time::Duration)> {
        let Ok(entries) = self.entries.lock() else {
            return Vec::new();
        };
        let mut out: Vec<_> = entries
            .iter()
            .filter_map(|(ip, e)| {
                let until = e.banned_until.filter(|u| *u > now)?;
                Some((*ip, until.saturating_duration_since(now)))
            })
            .collect();
        out.sort();
        out
    }

    /// Lifts the ban on `ip` (an operator's decision; its failure count starts over); whether it
    /// was banned.
    pub fn lift(&self, ip: IpAddr, now: Instant) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        let Some(e) = entries.remove(&ip) else {
            return false;
        };
        if e.banned_until.is_some() {
            self.banned.fetch_sub(1, Ordering::Relaxed);
        }
        e.banned_until.is_some_and(|u| u > now)
    }

    /// Messages dropped because their source was banned.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Forgets expired bans and stale failure counts.
    fn sweep(&self, entries: &mut HashMap<IpAddr, Entry>, now: Instant) {
        let window = self.config.window();
        let mut unbanned = 0;
        entries.retain(|_, e| {
            let expired_ban = e.banned_until.is_some_and(|u| u <= now);
            if expired_ban {
                unbanned += 1;
                e.banned_until = None;
            }
            e.banned_until.is_some() || now.saturating_duration_since(e.window_start) <= window
        });
        self.banned.fetch_sub(unbanned, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn bans(after: u32) -> Bans {
        Bans::new(SecuritySection {
            ban_after_failures: after,
            ban_window_secs: 60,
            ban_secs: 600,
            ..SecuritySection::default()
        })
    }

    #[test]
    fn the_nth_failure_in_the_window_bans_until_the_ban_expires() {
        let b = bans(3);
        let (ip, other): (IpAddr, IpAddr) = ([192, 0, 2, 7].into(), [192, 0, 2, 8].into());
        let t0 = Instant::now();
        assert!(!b.record_failure(ip, t0));
        assert!(!b.record_failure(ip, t0 + Duration::from_secs(1)));
        assert!(!b.is_banned(ip, t0));
        assert!(
            b.record_failure(ip, t0 + Duration::from_secs(2)),
            "third failure"
        );
        assert!(b.is_banned(ip, t0 + Duration::from_secs(3)));
        assert!(
            !b.is_banned(other, t0 + Duration::from_secs(3)),
            "only that address"
        );
        assert_eq!((b.active(t0), b.dropped()), (1, 1));
        assert!(!b.is_banned(ip, t0 + Duration::from_secs(603)), "expired");
        assert_eq!(b.active(t0 + Duration::from_secs(603)), 0);
    }

    #[test]
    fn an_operator_lists_and_lifts_bans() {
        let b = bans(1);
        let ip: IpAddr = [192, 0, 2, 7].into();
        let t0 = Instant::now();
        assert!(b.record_failure(ip, t0));
        assert_eq!(
            b.list(t0 + Duration::from_secs(100)),
            [(ip, Duration::from_secs(500))]
        );
        assert!(b.lift(ip, t0 + Duration::from_secs(100)));
        assert!(!b.is_banned(ip, t0 + Duration::from_secs(101)));
        assert!(b.list(t0).is_empty());
        assert!(!b.lift(ip, t0), "not banned any more");
    }

    #[test]
    fn failures_outside_the_window_start_over_and_zero_turns_banning_off() {
        let b = bans(2);
        let ip: IpAddr = [192, 0, 2, 7].into();
        let t0 = Instant::now();
        assert!(!b.record_failure(ip, t0));
        assert!(
            !b.record_failure(ip, t0 + Duration::from_secs(61)),
            "a new window"
        );
        assert!(b.record_failure(ip, t0 + Duration::from_secs(62)));
        let off = bans(0);
        for i in 0..100 {
            assert!(!off.record_failure(ip, t0 + Duration::from_millis(i)));
        }
        assert!(!off.is_banned(ip, t0));
    }
}
