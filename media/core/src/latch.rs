//! Heuristic RTP source learning ("latching") with strict source afterwards.
//!
//! # Rule
//! * Before any packet, the signaled remote address (from SDP), if given, is the latched address.
//! * The learning window opens with the first valid packet (from any source) and stays open until
//!   `window_packets` valid packets have been seen **or** `window_duration` has elapsed since that first
//!   packet, whichever comes first.
//! * During the window the latest source wins: a valid packet from a source other than the latched one
//!   re-latches to it (`AcceptAndLatch`), like rtpengine's learning phase — a phone behind a NAT whose
//!   mapping changes while the call starts is followed.
//! * A packet from the signaled address confirms it: the window closes at once (there is no NAT in the way).
//! * After the window: strict source. Packets from the latched address are accepted; any other source is
//!   dropped and counted (`DropForeignSource`), protecting against RTP bleed and injection.
//! * [`SourceLatch::relearn`] (re-INVITE with a new address, media handover) reopens learning.
//!
//! Only call [`SourceLatch::on_packet`] for packets that already parsed as valid RTP/RTCP (and, on SRTP
//! legs, that passed authentication), so garbage cannot steer the latch.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Learning window configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchConfig {
    /// Valid packets after which learning ends (default 10). 0 means learning ends after the first packet.
    pub window_packets: u32,
    /// Time after the first packet after which learning ends (default 3 s).
    pub window_duration: Duration,
}

impl Default for LatchConfig {
    fn default() -> Self {
        Self {
            window_packets: 10,
            window_duration: Duration::from_secs(3),
        }
    }
}

/// What the node must do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatchDecision {
    /// The packet comes from the latched source: relay it.
    Accept,
    /// Relay it, and from now on send this stream's reverse direction to this address.
    AcceptAndLatch(SocketAddr),
    /// Strict source: the packet comes from a foreign source; drop it (it has been counted).
    DropForeignSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No packet yet.
    AwaitingFirstPacket,
    /// Learning since `started`, `seen` packets so far.
    Learning { started: Instant, seen: u32 },
    /// Strict source.
    Locked,
}

/// Source learning state of one leg's receive socket.
#[derive(Debug, Clone)]
pub struct SourceLatch {
    config: LatchConfig,
    hint: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    phase: Phase,
    foreign_dropped: u64,
}

impl SourceLatch {
    /// A latch that has seen no packet, with the SDP-signaled remote address as an optional hint.
    pub fn new(config: LatchConfig, hint: Option<SocketAddr>) -> Self {
        Self {
            config,
            hint,
            latched: hint,
            phase: Phase::AwaitingFirstPacket,
            foreign_dropped: 0,
        }
    }

    /// The address the reverse direction must be sent to (latched source, or the hint before any packet).
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// The signaled remote address given to [`SourceLatch::new`] or the last [`SourceLatch::relearn`].
    pub fn hint(&self) -> Option<SocketAddr> {
        self.hint
    }

    /// Whether strict source is in force.
    pub fn is_locked(&self) -> bool {
        self.phase == Phase::Locked
    }

    /// Packets dropped as coming from a foreign source.
    pub fn foreign_dropped(&self) -> u64 {
        self.foreign_dropped
    }

    /// Read-only pre-check: strict source is in force and `source` is not the latched address. On SRTP
    /// legs the node can drop such packets before spending a decryption on them; during learning it must
    /// authenticate first and only then call [`SourceLatch::on_packet`]. Does not count the drop.
    pub fn is_foreign(&self, source: SocketAddr) -> bool {
        self.phase == Phase::Locked && self.latched != Some(source)
    }

    /// Reopens learning with a new hint (re-INVITE, media handover). The drop counter is kept.
    pub fn relearn(&mut self, hint: Option<SocketAddr>) {
        self.hint = hint;
        self.latched = hint.or(self.latched);
        self.phase = Phase::AwaitingFirstPacket;
    }

    /// Decides on a valid packet received at `now` from `source`.
    pub fn on_packet(&mut self, now: Instant, source: SocketAddr) -> LatchDecision {
        let (started, seen) = match self.phase {
            Phase::Locked => {
                if self.latched == Some(source) {
                    return LatchDecision::Accept;
                }
                self.foreign_dropped += 1;
                return LatchDecision::DropForeignSource;
            }
            Phase::AwaitingFirstPacket => (now, 0),
            Phase::Learning { started, seen } => (started, seen),
        };
        if now.saturating_duration_since(started) >= self.config.window_duration {
            // The window expired before this packet: judge it strictly.
            self.phase = Phase::Locked;
            return self.on_packet(now, source);
        }
        let seen = seen.saturating_add(1);
        let confirmed_hint = self.hint == Some(source);
        self.phase = if confirmed_hint || seen >= self.config.window_packets {
            Phase::Locked
        } else {
            Phase::Learning { started, seen }
        };
        if self.latched == Some(source) {
            LatchDecision::Accept
        } else {
            self.latched = Some(source);
            LatchDecision::AcceptAndLatch(source)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn first_packet_latches_and_window_closes_after_n_packets() {
        let t0 = Instant::now();
        let cfg = LatchConfig {
            window_packets: 3,
            window_duration: Duration::from_secs(10),
        };
        let mut l = SourceLatch::new(cfg, Some(addr("10.0.0.1:4000")));
        let nat = addr("203.0.113.5:50000");
        assert_eq!(l.on_packet(t0, nat), LatchDecision::AcceptAndLatch(nat));
        assert_eq!(l.on_packet(t0, nat), LatchDecision::Accept);
        assert!(!l.is_locked());
        assert_eq!(l.on_packet(t0, nat), LatchDecision::Accept);
        assert!(l.is_locked());
        assert_eq!(
            l.on_packet(t0, addr("198.51.100.9:9")),
            LatchDecision::DropForeignSource
        );
        assert_eq!(l.foreign_dropped(), 1);
        assert_eq!(l.latched(), Some(nat));
    }

    #[test]
    fn relatch_during_window_latest_source_wins() {
        let t0 = Instant::now();
        let mut l = SourceLatch::new(LatchConfig::default(), None);
        let a = addr("203.0.113.5:50000");
        let b = addr("203.0.113.5:50002");
        assert_eq!(l.on_packet(t0, a), LatchDecision::AcceptAndLatch(a));
        assert_eq!(
            l.on_packet(t0 + Duration::from_millis(20), b),
            LatchDecision::AcceptAndLatch(b)
        );
        assert_eq!(l.latched(), Some(b));
        // After the time window, strict source even though fewer than 10 packets were seen.
        let late = t0 + Duration::from_secs(3);
        assert_eq!(l.on_packet(late, a), LatchDecision::DropForeignSource);
        assert_eq!(l.on_packet(late, b), LatchDecision::Accept);
    }

    #[test]
    fn packet_from_signaled_address_locks_at_once() {
        let t0 = Instant::now();
        let sdp = addr("192.0.2.10:4000");
        let mut l = SourceLatch::new(LatchConfig::default(), Some(sdp));
        assert_eq!(l.latched(), Some(sdp));
        assert_eq!(l.hint(), Some(sdp));
        assert_eq!(l.on_packet(t0, sdp), LatchDecision::Accept);
        assert!(l.is_locked());
        assert_eq!(
            l.on_packet(t0, addr("192.0.2.66:4000")),
            LatchDecision::DropForeignSource
        );
    }

    #[test]
    fn relearn_reopens_window() {
        let t0 = Instant::now();
        let cfg = LatchConfig {
            window_packets: 1,
            window_duration: Duration::from_secs(1),
        };
        let mut l = SourceLatch::new(cfg, None);
        let a = addr("192.0.2.1:1000");
        let b = addr("192.0.2.2:2000");
        assert_eq!(l.on_packet(t0, a), LatchDecision::AcceptAndLatch(a));
        assert_eq!(l.on_packet(t0, b), LatchDecision::DropForeignSource);
        l.relearn(None);
        assert_eq!(l.hint(), None);
        assert_eq!(
            l.latched(),
            Some(a),
            "the old source is kept until a packet"
        );
        assert_eq!(
            l.on_packet(t0 + Duration::from_secs(5), b),
            LatchDecision::AcceptAndLatch(b)
        );
        assert_eq!(l.foreign_dropped(), 1);
    }
}
