//! The RFC 3261 §17 / RFC 6026 timers A–M and their durations.
//!
//! Every duration is derived from one [`TimerConfig`]. Timers that only exist to absorb
//! retransmissions (D, I, J, K) are zero over reliable transports; the retransmission timers
//! (A, E, G) are never armed over reliable transports.

use std::time::Duration;

/// The three base intervals of RFC 3261 §17 (Table 4 of Appendix A).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate; initial retransmission interval. Default 500 ms.
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE responses. Default 4 s.
    pub t2: Duration,
    /// Maximum duration a message remains in the network. Default 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// The transaction timers of RFC 3261 §17 and RFC 6026 §8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE request retransmit interval, unreliable transports only (initially T1, doubling).
    A,
    /// INVITE client transaction timeout (64·T1).
    B,
    /// Proxy INVITE transaction timeout (> 3 min, §16.6); for a proxy core, not armed here.
    C,
    /// Wait time for INVITE final response retransmits (32 s unreliable, 0 reliable).
    D,
    /// Non-INVITE request retransmit interval, unreliable only (T1 doubling, capped at T2).
    E,
    /// Non-INVITE client transaction timeout (64·T1).
    F,
    /// INVITE non-2xx final response retransmit interval, unreliable only (T1 doubling, cap T2).
    G,
    /// Wait time for ACK receipt (64·T1).
    H,
    /// Wait time for ACK retransmits (T4 unreliable, 0 reliable).
    I,
    /// Wait time for non-INVITE request retransmits (64·T1 unreliable, 0 reliable).
    J,
    /// Wait time for non-INVITE response retransmits (T4 unreliable, 0 reliable).
    K,
    /// Wait time for accepted INVITE request retransmits (RFC 6026, 64·T1).
    L,
    /// Wait time for 2xx retransmissions and forked 2xx responses (RFC 6026, 64·T1).
    M,
}

/// Timer C's minimum value (RFC 3261 §16.6 bullet 11: "MUST be larger than 3 minutes").
const TIMER_C: Duration = Duration::from_secs(181);

/// Timer D's minimum over unreliable transports (RFC 3261 §17.1.1.2: "at least 32 seconds").
const TIMER_D: Duration = Duration::from_secs(32);

impl Timer {
    /// The initial duration of this timer for the given transport.
    ///
    /// Returns `None` for a retransmission timer (A, E, G) over a reliable transport: such a timer
    /// is never armed. A `Some(Duration::ZERO)` means "fires at once" (D, I, J, K over reliable).
    pub fn duration(self, config: &TimerConfig, reliable: bool) -> Option<Duration> {
        let t64 = config.t1.saturating_mul(64);
        let zero_if_reliable = |d: Duration| if reliable { Duration::ZERO } else { d };
        match self {
            Self::A | Self::E | Self::G => (!reliable).then_some(config.t1),
            Self::B | Self::F | Self::H | Self::L | Self::M => Some(t64),
            Self::C => Some(TIMER_C),
            Self::D => Some(zero_if_reliable(TIMER_D.max(t64))),
            Self::I | Self::K => Some(zero_if_reliable(config.t4)),
            Self::J => Some(zero_if_reliable(t64)),
        }
    }
}

/// A running retransmission timer (A, E or G): next deadline and current interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retransmit {
    /// When the next retransmission is due.
    pub(crate) at: std::time::Instant,
    /// The interval that produced `at`.
    pub(crate) interval: Duration,
}

impl Retransmit {
    /// Arms `timer` at `now`, or returns `None` over a reliable transport.
    pub(crate) fn start(
        timer: Timer,
        now: std::time::Instant,
        config: &TimerConfig,
        reliable: bool,
    ) -> Option<Self> {
        let interval = timer.duration(config, reliable)?;
        Some(Self {
            at: now + interval,
            interval,
        })
    }

    /// The next timer after a firing at `now`: the interval doubles, capped at `cap` if given.
    pub(crate) fn backoff(self, now: std::time::Instant, cap: Option<Duration>) -> Self {
        let doubled = self.interval.saturating_mul(2);
        let interval = cap.map_or(doubled, |cap| doubled.min(cap));
        Self {
            at: now + interval,
            interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_rfc3261_table_4() {
        let c = TimerConfig::default();
        assert_eq!(c.t1, Duration::from_millis(500));
        assert_eq!(c.t2, Duration::from_secs(4));
        assert_eq!(c.t4, Duration::from_secs(5));
        assert_eq!(Timer::B.duration(&c, false), Some(Duration::from_secs(32)));
    }

    #[test]
    fn retransmission_timers_unused_on_reliable() {
        let c = TimerConfig::default();
        for t in [Timer::A, Timer::E, Timer::G] {
            assert_eq!(t.duration(&c, true), None, "{t:?}");
            assert_eq!(t.duration(&c, false), Some(c.t1), "{t:?}");
        }
        for t in [Timer::D, Timer::I, Timer::J, Timer::K] {
            assert_eq!(t.duration(&c, true), Some(Duration::ZERO), "{t:?}");
        }
    }

    /// RFC 3261 §16.6 bullet 11: Timer C is larger than 3 minutes.
    #[test]
    fn rfc3261_s16_6_timer_c_exceeds_three_minutes() {
        let c = TimerConfig::default();
        let d = Timer::C.duration(&c, false).unwrap_or_default();
        assert!(d > Duration::from_secs(180), "{d:?}");
    }
}
