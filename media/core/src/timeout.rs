//! RTP timeout detection: a stream silent for a configured time yields one [`RtpTimeoutEvent`].

use std::time::{Duration, Instant};

/// Emitted once when no packet was seen for the configured time; re-armed by the next packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpTimeoutEvent {
    /// When the last packet was seen (or when the detector was armed, if never).
    pub last_seen: Instant,
    /// How long the stream has been silent at detection.
    pub silent_for: Duration,
}

/// Silence detector for one stream. Arm it when the stream is set up, feed it every valid packet.
#[derive(Debug, Clone, Copy)]
pub struct RtpTimeout {
    timeout: Duration,
    last_seen: Instant,
    fired: bool,
}

impl RtpTimeout {
    /// Starts watching at `now` (a stream that never sends also times out).
    pub fn new(now: Instant, timeout: Duration) -> Self {
        Self {
            timeout,
            last_seen: now,
            fired: false,
        }
    }

    /// Records a packet; re-arms the detector after a timeout.
    pub fn on_packet(&mut self, now: Instant) {
        self.last_seen = self.last_seen.max(now);
        self.fired = false;
    }

    /// When the last packet was seen (when the detector was armed, before any packet).
    pub fn last_seen(&self) -> Instant {
        self.last_seen
    }

    /// When the node should call [`RtpTimeout::poll`] next; `None` after the event fired (until a packet).
    pub fn deadline(&self) -> Option<Instant> {
        if self.fired {
            None
        } else {
            self.last_seen.checked_add(self.timeout)
        }
    }

    /// Returns the event once when the stream has been silent for the configured time.
    pub fn poll(&mut self, now: Instant) -> Option<RtpTimeoutEvent> {
        let silent_for = now.saturating_duration_since(self.last_seen);
        if self.fired || silent_for < self.timeout {
            return None;
        }
        self.fired = true;
        Some(RtpTimeoutEvent {
            last_seen: self.last_seen,
            silent_for,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_and_rearms() {
        let t0 = Instant::now();
        let mut t = RtpTimeout::new(t0, Duration::from_secs(30));
        assert_eq!(t.deadline(), Some(t0 + Duration::from_secs(30)));
        assert_eq!(t.last_seen(), t0);
        t.on_packet(t0 + Duration::from_secs(10));
        assert_eq!(t.last_seen(), t0 + Duration::from_secs(10));
        assert_eq!(t.poll(t0 + Duration::from_secs(39)), None);
        let ev = t.poll(t0 + Duration::from_secs(41)).expect("timeout");
        assert_eq!(ev.silent_for, Duration::from_secs(31));
        assert_eq!(t.poll(t0 + Duration::from_secs(50)), None);
        assert_eq!(t.deadline(), None);
        t.on_packet(t0 + Duration::from_secs(60));
        assert!(t.poll(t0 + Duration::from_secs(90)).is_some());
    }
}
