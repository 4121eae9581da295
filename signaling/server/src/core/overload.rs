//! Overload protection: refuse new calls early and cheaply, finish the work already accepted.
//!
//! The signal is measured, not invented: how long each message waited between its arrival (the kernel's
//! receive timestamp on UDP, so a backlog in the socket buffer counts too; the framing time on TCP) and
//! the worker that handles it. Each worker owns an [`OverloadDetector`] (sans-IO: it takes `now` and the
//! delay, and hands back transitions and its next deadline):
//! - it enters overload when the smoothed delay (moving average, newest message weighted 1/16) reaches
//!   `queue_delay`: every message of a real backlog is late, while a short stall with a few messages
//!   queued moves the average little;
//! - it leaves when the smoothed delay stayed below half of that for `recovery`, or no message came for
//!   `recovery` (hysteresis: it cannot flap faster than once per `recovery`, which also bounds the
//!   `warn` lines the worker logs on each transition).
//!
//! While a worker is overloaded it answers every new call (INVITE without To tag, on a Call-ID with no
//! call) with a stateless `503` + `Retry-After` + `Warning` before any transaction, authentication or media
//! work; responses, ACK, CANCEL, BYE and every in-dialog request are handled as usual. Before that, when a
//! worker queue is nearly full, the dispatcher drops new INVITEs first ([`NEW_CALL_RESERVE`]): the last
//! slots are kept for the work already accepted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use switchboard_sip::{HeaderName, Message};

/// Free worker-queue slots below which the dispatcher drops new INVITEs (other messages may still use
/// them). A quarter of the queue.
pub(super) const NEW_CALL_RESERVE: usize = super::WORKER_QUEUE / 4;

/// Why a new call was refused with 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The worker is overloaded (load shedding).
    Overload,
    /// `sip.max_calls` calls are in progress.
    MaxCalls,
}

impl Refusal {
    /// The `Warning` text (RFC 3261 §20.43, code 399) that tells the caller why.
    fn warning(self) -> &'static str {
        match self {
            Refusal::Overload => "399 switchboard \"Overloaded: new calls refused, retry later\"",
            Refusal::MaxCalls => "399 switchboard \"Concurrent call limit reached\"",
        }
    }
}

/// The `503 Service Unavailable` refusing new call `invite`, with `Retry-After` and a `Warning` that
/// says why, and a To tag (RFC 3261 §8.2.6.2) derived from the request so a retransmission gets the
/// same answer.
pub(crate) fn refusal(
    invite: &Message<'_>,
    why: Refusal,
    retry_after_secs: u32,
) -> Message<'static> {
    let tag = format!("sb503-{:016x}", fnv1a(invite.call_id().unwrap_or_default()));
    let mut resp = invite
        .response_with_tag(503, "Service Unavailable", &tag)
        .into_owned();
    resp.set_header(HeaderName::RetryAfter, retry_after_secs.to_string());
    resp.set_header(HeaderName::Warning, why.warning());
    resp
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether raw message `data` is an INVITE without To tag (a new call), read without parsing: the
/// request line starts with `INVITE ` and the `To` (or `t`) header has no `tag` parameter. Used by the
/// dispatcher to drop new calls first on a nearly full queue; a malformed message counts as not new.
pub(crate) fn is_initial_invite(data: &[u8]) -> bool {
    if !data.starts_with(b"INVITE ") {
        return false;
    }
    let mut lines = data
        .split(|&b| b == b'\n')
        .skip(1)
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .take_while(|line| !line.is_empty());
    let to = lines.find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let name = line[..colon].trim_ascii();
        (name.eq_ignore_ascii_case(b"to") || name.eq_ignore_ascii_case(b"t"))
            .then(|| &line[colon + 1..])
    });
    to.is_some_and(|value| !has_tag_param(value))
}

/// Whether a To header value carries a `tag` parameter (after the `>` of a name-addr).
fn has_tag_param(value: &[u8]) -> bool {
    let params = match value.iter().rposition(|&b| b == b'>') {
        Some(close) => &value[close + 1..],
        None => value,
    };
    params.split(|&b| b == b';').skip(1).any(|p| {
        let name = p.split(|&b| b == b'=').next().unwrap_or_default();
        name.trim_ascii().eq_ignore_ascii_case(b"tag")
    })
}

/// Logs a worker's transition (`warn`: one line per transition, which the hysteresis bounds to one per
/// `recovery`) and keeps the count of overloaded workers.
pub(crate) fn report(transition: Transition, overloaded_workers: &AtomicUsize) {
    match transition {
        Transition::Entered { delay } => {
            overloaded_workers.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                queue_delay_ms = delay.as_millis(),
                "overload: messages wait past sip.overload_queue_delay_ms; refusing new calls with 503"
            );
        }
        Transition::Left { lasted, refused } => {
            overloaded_workers.fetch_sub(1, Ordering::Relaxed);
            tracing::warn!(
                lasted_ms = lasted.as_millis(),
                refused,
                "overload over: accepting new calls again"
            );
        }
    }
}

/// A change of a worker's overload state, to be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// The smoothed queueing delay reached `delay`: new calls are refused from now on.
    Entered {
        /// The smoothed delay that crossed the threshold.
        delay: Duration,
    },
    /// Calm again after `lasted`, during which `refused` new calls got 503.
    Left {
        /// Time spent overloaded.
        lasted: Duration,
        /// New calls refused meanwhile.
        refused: u64,
    },
}

#[derive(Debug, Clone, Copy)]
enum State {
    Normal,
    Overloaded {
        since: Instant,
        /// Since when the smoothed delay has been below the leave threshold.
        calm_since: Option<Instant>,
        refused: u64,
    },
}

/// Weight of the newest message in the smoothed delay: 1/16 (as TCP's SRTT uses 1/8). A lone message
/// must wait 16 times the threshold to trip it, so a short stall of the process with a few messages
/// queued does not refuse calls; a real backlog (every message late) trips it within a few messages.
const SMOOTHING: u32 = 16;

/// Decides when one worker is overloaded, from the queueing delay of the messages it takes (sans-IO).
///
/// Call order: [`OverloadDetector::observe`] for every message taken, [`OverloadDetector::handle_timeout`]
/// when [`OverloadDetector::poll_timeout`] is due; both return a transition to report.
#[derive(Debug, Clone)]
pub(crate) struct OverloadDetector {
    enter: Duration,
    leave: Duration,
    recovery: Duration,
    /// Exponentially weighted moving average of the delays observed.
    smoothed: Duration,
    last_message: Option<Instant>,
    state: State,
}

impl OverloadDetector {
    /// Enters when the smoothed delay reaches `queue_delay` (never when zero), leaves once it stayed
    /// below half of that for `recovery`, or no message came for `recovery`.
    pub(crate) fn new(queue_delay: Duration, recovery: Duration) -> OverloadDetector {
        OverloadDetector {
            enter: queue_delay,
            leave: queue_delay / 2,
            recovery,
            smoothed: Duration::ZERO,
            last_message: None,
            state: State::Normal,
        }
    }

    /// Whether new calls are refused now.
    pub(crate) fn is_overloaded(&self) -> bool {
        matches!(self.state, State::Overloaded { .. })
    }

    /// A message taken at `now` waited `delay` since it arrived.
    pub(crate) fn observe(&mut self, now: Instant, delay: Duration) -> Option<Transition> {
        let delay = delay.min(Duration::from_secs(3600));
        self.smoothed = self.smoothed - self.smoothed / SMOOTHING + delay / SMOOTHING;
        self.last_message = Some(now);
        let smoothed = self.smoothed;
        match &mut self.state {
            State::Normal => {
                if self.enter.is_zero() || smoothed < self.enter {
                    return None;
                }
                self.state = State::Overloaded {
                    since: now,
                    calm_since: None,
                    refused: 0,
                };
                Some(Transition::Entered { delay: smoothed })
            }
            State::Overloaded { calm_since, .. } => {
                if smoothed >= self.leave {
                    *calm_since = None;
                } else if calm_since.is_none() {
                    *calm_since = Some(now);
                }
                self.handle_timeout(now)
            }
        }
    }

    /// Counts a new call refused while overloaded.
    pub(crate) fn note_refused(&mut self) {
        if let State::Overloaded { refused, .. } = &mut self.state {
            *refused += 1;
        }
    }

    /// When [`OverloadDetector::handle_timeout`] may leave overload (none while normal).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Normal => None,
            State::Overloaded { calm_since, .. } => [calm_since, self.last_message]
                .into_iter()
                .flatten()
                .min()
                .map(|t| t + self.recovery),
        }
    }

    /// Leaves overload once the smoothed delay stayed low for `recovery`, or no message came for
    /// that long (then nothing is queued: the smoothed delay starts again from zero).
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Option<Transition> {
        let State::Overloaded {
            since,
            calm_since,
            refused,
        } = self.state
        else {
            return None;
        };
        let lapsed = |t: Option<Instant>| t.is_some_and(|t| now >= t + self.recovery);
        let idle = self.last_message.is_none_or(|t| now >= t + self.recovery);
        if !lapsed(calm_since) && !idle {
            return None;
        }
        if idle {
            self.smoothed = Duration::ZERO;
        }
        self.state = State::Normal;
        Some(Transition::Left {
            lasted: now.saturating_duration_since(since),
            refused,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Enters at 200 ms, leaves after 2 s below 100 ms.
    fn detector() -> (OverloadDetector, Instant) {
        (OverloadDetector::new(200 * MS, 2000 * MS), Instant::now())
    }

    /// Feeds `n` messages 1 ms apart from `from`, each delayed `delay`; returns the transitions.
    fn feed(d: &mut OverloadDetector, from: Instant, n: u32, delay: Duration) -> Vec<Transition> {
        (0..n)
            .filter_map(|i| d.observe(from + i * MS, delay))
            .collect()
    }

    #[test]
    fn stays_normal_while_messages_wait_less_than_the_threshold() {
        let (mut d, t0) = detector();
        assert!(feed(&mut d, t0, 10_000, 199 * MS).is_empty());
        assert!(!d.is_overloaded());
        assert_eq!(d.poll_timeout(), None);
    }

    #[test]
    fn a_short_stall_with_few_messages_queued_does_not_trip_it() {
        let (mut d, t0) = detector();
        assert!(feed(&mut d, t0, 3, 600 * MS).is_empty());
        assert!(feed(&mut d, t0 + 10 * MS, 100, MS).is_empty());
        assert!(!d.is_overloaded());
    }

    #[test]
    fn enters_when_messages_keep_waiting_past_the_threshold() {
        let (mut d, t0) = detector();
        let got = feed(&mut d, t0, 100, 250 * MS);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            matches!(got[0], Transition::Entered { delay } if delay >= 200 * MS),
            "{got:?}"
        );
        assert!(d.is_overloaded());
        // A message that waited 16 times the threshold trips it on its own.
        let (mut d, t0) = detector();
        assert!(d.observe(t0, 3200 * MS).is_some());
    }

    #[test]
    fn stays_while_the_delay_is_above_half_the_threshold_and_leaves_after_recovery() {
        let (mut d, t0) = detector();
        feed(&mut d, t0, 100, 400 * MS);
        assert!(d.is_overloaded());
        // Below the entry threshold but not clearly below it: still overloaded, however long.
        for s in 1..=10 {
            assert!(feed(&mut d, t0 + s * 1000 * MS, 100, 150 * MS).is_empty());
            assert!(d.is_overloaded());
        }
        for _ in 0..3 {
            d.note_refused();
        }
        // Clearly below: once the smoothed delay is under 100 ms, leaves after 2 s of that.
        let calm = t0 + 11_000 * MS;
        assert!(feed(&mut d, calm, 100, MS).is_empty());
        let below = d.poll_timeout().expect("deadline") - 2000 * MS;
        assert!(below > calm && below < calm + 100 * MS, "{below:?}");
        assert_eq!(d.observe(below + 1999 * MS, MS), None);
        assert!(matches!(
            d.observe(below + 2000 * MS, MS),
            Some(Transition::Left { refused: 3, .. })
        ));
        assert!(!d.is_overloaded());
    }

    #[test]
    fn a_slow_spell_during_recovery_restarts_it() {
        let (mut d, t0) = detector();
        feed(&mut d, t0, 100, 400 * MS);
        feed(&mut d, t0 + 100 * MS, 100, MS);
        let first = d.poll_timeout().expect("deadline");
        feed(&mut d, t0 + 1000 * MS, 100, 400 * MS);
        feed(&mut d, t0 + 1100 * MS, 100, MS);
        let second = d.poll_timeout().expect("deadline");
        assert!(second >= first + 1000 * MS, "{first:?} {second:?}");
        assert_eq!(d.handle_timeout(first), None);
        assert!(d.handle_timeout(second).is_some());
    }

    #[test]
    fn leaves_on_its_timer_when_no_message_comes_and_starts_afresh() {
        let (mut d, t0) = detector();
        assert!(d.observe(t0, 5000 * MS).is_some());
        assert_eq!(d.poll_timeout(), Some(t0 + 2000 * MS));
        assert_eq!(d.handle_timeout(t0 + 1999 * MS), None);
        assert_eq!(
            d.handle_timeout(t0 + 2000 * MS),
            Some(Transition::Left {
                lasted: 2000 * MS,
                refused: 0
            })
        );
        assert_eq!(d.poll_timeout(), None);
        assert_eq!(d.observe(t0 + 2100 * MS, 200 * MS), None);
        assert!(d.observe(t0 + 2200 * MS, 4000 * MS).is_some());
    }

    #[test]
    fn a_zero_threshold_never_sheds() {
        let mut d = OverloadDetector::new(Duration::ZERO, 2000 * MS);
        assert!(feed(&mut d, Instant::now(), 100, Duration::from_secs(60)).is_empty());
        assert!(!d.is_overloaded());
    }

    #[test]
    fn initial_invite_is_an_invite_without_to_tag() {
        let new = b"INVITE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
                    To: <sip:a@h;tag=uri-param-not-header>\r\nFrom: <sip:b@h>;tag=1\r\n\r\n";
        assert!(is_initial_invite(new));
        let compact = b"INVITE sip:a@h SIP/2.0\r\nt: sip:a@h\r\n\r\n";
        assert!(is_initial_invite(compact));
        let reinvite = b"INVITE sip:a@h SIP/2.0\r\nTo: <sip:a@h> ; TAG=x\r\n\r\n";
        assert!(!is_initial_invite(reinvite));
        let bye = b"BYE sip:a@h SIP/2.0\r\nTo: <sip:a@h>\r\n\r\n";
        assert!(!is_initial_invite(bye));
        let response = b"SIP/2.0 200 OK\r\nTo: <sip:a@h>\r\nCSeq: 1 INVITE\r\n\r\n";
        assert!(!is_initial_invite(response));
        let no_to = b"INVITE sip:a@h SIP/2.0\r\n\r\nTo: <sip:a@h>\r\n";
        assert!(!is_initial_invite(no_to));
    }

    #[test]
    fn refusal_is_a_503_with_retry_after_warning_and_to_tag() {
        let invite = Message::parse(
            b"INVITE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
              From: <sip:b@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
              Content-Length: 0\r\n\r\n",
        )
        .expect("parse");
        let resp = refusal(&invite, Refusal::MaxCalls, 7);
        assert_eq!(resp.status(), Some(503));
        let text = String::from_utf8(resp.encode()).expect("utf-8");
        assert!(text.contains("\r\nRetry-After: 7\r\n"), "{text}");
        assert!(text.contains("Concurrent call limit reached"), "{text}");
        let again = refusal(&invite, Refusal::MaxCalls, 7);
        let tag = |m: &Message<'_>| m.to().ok().and_then(|t| t.tag().map(str::to_owned));
        assert!(tag(&resp).is_some());
        assert_eq!(tag(&resp), tag(&again));
    }
}
