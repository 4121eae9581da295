//! The directory of live calls that operators see (REST `/api/v1/calls`, dashboard) and the call
//! lifecycle events (created, ringing, early media, answered, held/resumed, ended with the CDR).
//! Workers own their calls; they report state changes here, and readers take a snapshot. Shared
//! by all workers, keyed by call UUID (whose form names the owning worker).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use serde::Serialize;
use switchboard_b2bua::{EndCause, FailureSide, Leg};
use switchboard_events::Event;
use switchboard_events::event::{CallEnded, EndSide, Leg as EventLeg, QualitySummary};
use switchboard_media_pool::proto as pb;

use super::events_glue::Events;

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// INVITE accepted, B leg being set up.
    Setup,
    /// The callee is alerting (180).
    Ringing,
    /// The callee sent early media (183 with SDP).
    EarlyMedia,
    /// Answered.
    Answered,
}

/// One live call as operators see it.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// Call UUID (also the media session's call id and the events' `call_uuid`).
    pub uuid: String,
    /// State.
    pub state: CallState,
    /// Caller (From user).
    pub from: String,
    /// Callee (Request-URI user as dialled).
    pub to: String,
    /// A-leg Call-ID.
    pub a_call_id: String,
    /// Current B-leg Call-ID.
    pub b_call_id: Option<String>,
    /// When the INVITE arrived.
    #[serde(serialize_with = "rfc3339")]
    pub started_at: SystemTime,
    /// When it was answered.
    #[serde(serialize_with = "rfc3339_opt")]
    pub answered_at: Option<SystemTime>,
    /// Media node and session, once allocated.
    pub media_node: Option<String>,
    /// Media session id.
    pub media_session: Option<String>,
    /// Legs on hold (A, B).
    pub on_hold: [bool; 2],
    /// The codec the answer settled on (`PCMA/8000`), once answered.
    pub codec: Option<String>,
}

/// Upper bounds (seconds) of the call-setup histogram buckets.
pub const SETUP_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// End causes counted in [`CallStats::ended`], in this order.
pub const END_CAUSES: [&str; 9] = [
    "normal_clearing",
    "administrative",
    "caller_cancelled",
    "no_answer",
    "busy",
    "rejected",
    "ack_timeout",
    "session_expired",
    "failed",
];

/// Call counters for `/metrics`.
#[derive(Debug, Default)]
pub struct CallStats {
    /// Calls created.
    pub created: AtomicU64,
    /// Calls answered.
    pub answered: AtomicU64,
    /// Calls ended, by [`END_CAUSES`] index.
    pub ended: [AtomicU64; END_CAUSES.len()],
    /// Setup time (INVITE to answer) histogram: counts per [`SETUP_BUCKETS`] bucket (not cumulative),
    /// then the overflow bucket.
    pub setup_buckets: [AtomicU64; SETUP_BUCKETS.len() + 1],
    /// Sum of setup times in microseconds.
    pub setup_sum_us: AtomicU64,
}

/// The shared directory.
#[derive(Clone, Debug)]
pub struct CallDirectory {
    calls: Arc<DashMap<String, CallRecord>>,
    events: Events,
    stats: Arc<CallStats>,
}

impl CallDirectory {
    /// An empty directory publishing to `events`.
    pub fn new(events: Events) -> CallDirectory {
        CallDirectory {
            calls: Arc::new(DashMap::new()),
            events,
            stats: Arc::new(CallStats::default()),
        }
    }

    /// Every live call, oldest first.
    pub fn snapshot(&self) -> Vec<CallRecord> {
        let mut all: Vec<CallRecord> = self.calls.iter().map(|r| r.value().clone()).collect();
        all.sort_by_key(|c| c.started_at);
        all
    }

    /// Counters.
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// One call.
    pub fn get(&self, uuid: &str) -> Option<CallRecord> {
        self.calls.get(uuid).map(|r| r.value().clone())
    }

    pub(crate) fn created(&self, uuid: &str, from: &str, to: &str, a_call_id: &str) {
        self.calls.insert(
            uuid.to_owned(),
            CallRecord {
                uuid: uuid.to_owned(),
                state: CallState::Setup,
                from: from.to_owned(),
                to: to.to_owned(),
                a_call_id: a_call_id.to_owned(),
                b_call_id: None,
                started_at: SystemTime::now(),
                answered_at: None,
                media_node: None,
                media_session: None,
                on_hold: [false; 2],
                codec: None,
            },
        );
        self.stats.created.fetch_add(1, Ordering::Relaxed);
        let event = Event::CallCreated {
            from: from.to_owned(),
            to: to.to_owned(),
        };
        self.events.publish(Some(uuid), event);
    }

    /// A provisional or final response relayed to the caller on its INVITE.
    pub(crate) fn a_invite_response(&self, uuid: &str, status: u16, with_sdp: bool) {
        let (state, event) = match status {
            180..=182 => (CallState::Ringing, Event::CallRinging),
            183 if with_sdp => (CallState::EarlyMedia, Event::CallEarlyMedia),
            183 => (CallState::Ringing, Event::CallRinging),
            200..=299 => (CallState::Answered, Event::CallAnswered),
            _ => return,
        };
        let changed = match self.calls.get_mut(uuid) {
            Some(mut c) if c.state != state && c.state != CallState::Answered => {
                c.state = state;
                if state == CallState::Answered {
                    let now = SystemTime::now();
                    c.answered_at = Some(now);
                    let setup = now.duration_since(c.started_at).unwrap_or_default();
                    self.stats.answered.fetch_add(1, Ordering::Relaxed);
                    let secs = setup.as_secs_f64();
                    let bucket = SETUP_BUCKETS
                        .iter()
                        .position(|b| secs <= *b)
                        .unwrap_or(SETUP_BUCKETS.len());
                    self.stats.setup_buckets[bucket].fetch_add(1, Ordering::Relaxed);
                    let us = u64::try_from(setup.as_micros()).unwrap_or(u64::MAX);
                    self.stats.setup_sum_us.fetch_add(us, Ordering::Relaxed);
                }
                true
            }
            _ => false,
        };
        if changed {
            self.events.publish(Some(uuid), event);
        }
    }

    /// The A-leg Call-ID of an originated call, known once its first party answered.
    pub(crate) fn a_leg(&self, uuid: &str, a_call_id: &str) {
        if let Some(mut c) = self.calls.get_mut(uuid) {
            c.a_call_id = a_call_id.to_owned();
        }
    }

    pub(crate) fn b_leg(&self, uuid: &str, b_call_id: &str) {
        if let Some(mut c) = self.calls.get_mut(uuid) {
            c.b_call_id = Some(b_call_id.to_owned());
        }
    }

    pub(crate) fn media(&self, uuid: &str, node: Option<String>, session: &str) {
        if let Some(mut c) = self.calls.get_mut(uuid) {
            c.media_node = node;
            c.media_session = Some(session.to_owned());
        }
    }

    /// The codec of B's latest answer.
    pub(crate) fn codec(&self, uuid: &str, codec: Option<String>) {
        if let (Some(mut c), Some(codec)) = (self.calls.get_mut(uuid), codec) {
            c.codec = Some(codec);
        }
    }

    /// A leg's latest SDP holds (or resumes) its stream.
    pub(crate) fn hold(&self, uuid: &str, leg: Leg, held: bool) {
        let i = usize::from(leg == Leg::B);
        let changed = match self.calls.get_mut(uuid) {
            Some(mut c) if c.on_hold[i] != held && c.state == CallState::Answered => {
                c.on_hold[i] = held;
                true
            }
            _ => false,
        };
        if changed {
            let leg = if leg == Leg::A {
                EventLeg::A
            } else {
                EventLeg::B
            };
            let event = if held {
                Event::CallHeld { leg }
            } else {
                Event::CallResumed { leg }
            };
            self.events.publish(Some(uuid), event);
        }
    }

    /// The caller of `uuid` was transferred to `target` (by the API, or the callee's REFER): a
    /// `call_transferred` event.
    pub(crate) fn transferred(
        &self,
        uuid: &str,
        target: &str,
        by: switchboard_events::event::TransferOrigin,
    ) {
        self.events.publish(
            Some(uuid),
            Event::CallTransferred {
                target: target.to_owned(),
                by,
            },
        );
    }

    /// Takes the call out of the live directory and counts its end; its CDR (`call_ended`) goes
    /// out when the returned [`PendingCdr`] is published with the media node's final quality
    /// figures — or, if it is dropped unpublished (deadline, shutdown), without them.
    pub(crate) fn end(
        &self,
        uuid: &str,
        cause: EndCause,
        a_status: u16,
        talk: Option<Duration>,
    ) -> Option<PendingCdr> {
        let (_, c) = self.calls.remove(uuid)?;
        let setup = c
            .answered_at
            .unwrap_or_else(SystemTime::now)
            .duration_since(c.started_at)
            .unwrap_or_default();
        let side = match cause.side() {
            None => match cause {
                EndCause::HangUp(Leg::B) => EndSide::B,
                EndCause::Administrative => EndSide::Internal,
                _ => EndSide::A,
            },
            Some(FailureSide::ALeg) => EndSide::A,
            Some(FailureSide::BLeg) => EndSide::B,
            Some(FailureSide::Media) => EndSide::Media,
            Some(FailureSide::Internal) => EndSide::Internal,
        };
        let name = cause_name(cause);
        if let Some(i) = END_CAUSES.iter().position(|c| *c == name) {
            self.stats.ended[i].fetch_add(1, Ordering::Relaxed);
        }
        Some(PendingCdr {
            events: self.events.clone(),
            uuid: uuid.to_owned(),
            cdr: Some(CallEnded {
                cause: name.to_owned(),
                sip_status: a_status,
                side,
                setup_ms: millis(setup),
                talk_ms: talk.map(millis).unwrap_or(0),
                quality: None,
            }),
        })
    }
}

/// The CDR of a call that has ended, waiting for its media quality summary.
pub(crate) struct PendingCdr {
    events: Events,
    uuid: String,
    cdr: Option<CallEnded>,
}

impl PendingCdr {
    /// Publishes `call_ended` with `quality` (when the media node reported it).
    pub(crate) fn publish(mut self, quality: Option<QualitySummary>) {
        if let Some(mut cdr) = self.cdr.take() {
            cdr.quality = quality;
            self.events.publish(Some(&self.uuid), Event::CallEnded(cdr));
        }
    }
}

impl Drop for PendingCdr {
    /// Never lose a CDR: one dropped before [`PendingCdr::publish`] goes out without quality.
    fn drop(&mut self) {
        if let Some(cdr) = self.cdr.take() {
            self.events.publish(Some(&self.uuid), Event::CallEnded(cdr));
        }
    }
}

/// The call's media quality from the node's final session statistics: packets and losses over
/// both directions, the worse jitter, and an E-model MOS estimate (ITU-T G.107, G.711 with packet
/// loss concealment: Ie = 0, Bpl = 25.1; delay taken as twice the jitter plus 20 ms of packetization).
pub(crate) fn quality_of(a_in: &pb::StreamStats, b_in: &pb::StreamStats) -> QualitySummary {
    let packets = a_in.packets + b_in.packets;
    let lost: u64 = [a_in.lost, b_in.lost]
        .iter()
        .map(|l| u64::try_from(*l).unwrap_or(0))
        .sum();
    let jitter_ms = a_in.jitter_ms.max(b_in.jitter_ms);
    let mos = (packets + lost > 0).then(|| {
        let loss_pct = 100.0 * lost as f64 / (packets + lost) as f64;
        let ie_eff = 95.0 * loss_pct / (loss_pct + 25.1);
        let delay = 2.0 * jitter_ms + 20.0;
        let id = 0.024 * delay
            + if delay > 177.3 {
                0.11 * (delay - 177.3)
            } else {
                0.0
            };
        let r = (93.2 - id - ie_eff).clamp(0.0, 100.0);
        let mos = 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6;
        (mos.clamp(1.0, 4.5) * 100.0).round() / 100.0
    });
    QualitySummary {
        packets,
        packets_lost: lost,
        jitter_ms: (jitter_ms * 100.0).round() / 100.0,
        mos,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A stable snake_case name for the CDR.
fn cause_name(cause: EndCause) -> &'static str {
    match cause {
        EndCause::HangUp(_) => "normal_clearing",
        EndCause::Administrative => "administrative",
        EndCause::CallerCancelled => "caller_cancelled",
        EndCause::NoAnswer => "no_answer",
        EndCause::Rejected {
            b_status: 486 | 600,
        } => "busy",
        EndCause::Rejected { .. } => "rejected",
        EndCause::AckTimeout => "ack_timeout",
        EndCause::SessionExpired => "session_expired",
        EndCause::Failed { .. } => "failed",
    }
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&switchboard_events::envelope::rfc3339_utc(*t))
}

fn rfc3339_opt<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod quality_tests {
    use super::*;

    fn stream(packets: u64, lost: i64, jitter_ms: f64) -> pb::StreamStats {
        pb::StreamStats {
            packets,
            lost,
            jitter_ms,
            ..Default::default()
        }
    }

    #[test]
    fn g107_mos_falls_with_loss_and_jitter_and_duplicates_do_not_count_as_gains() {
        let clean = quality_of(&stream(1000, 0, 1.0), &stream(1000, 0, 2.0));
        assert_eq!((clean.packets, clean.packets_lost), (2000, 0));
        assert_eq!(clean.jitter_ms, 2.0, "the worse direction");
        let clean_mos = clean.mos.expect("mos");
        assert!((4.3..=4.5).contains(&clean_mos), "{clean_mos}");
        let lossy = quality_of(&stream(950, 50, 1.0), &stream(1000, -3, 2.0));
        assert_eq!(
            lossy.packets_lost, 50,
            "negative loss (duplicates) counts as none"
        );
        let lossy_mos = lossy.mos.expect("mos");
        assert!(
            lossy_mos < clean_mos - 0.15,
            "2.5 % loss: {lossy_mos} vs {clean_mos}"
        );
        let jittery = quality_of(&stream(1000, 0, 120.0), &stream(1000, 0, 1.0));
        assert!(jittery.mos.expect("mos") < clean_mos, "{jittery:?}");
        assert_eq!(quality_of(&stream(0, 0, 0.0), &stream(0, 0, 0.0)).mos, None);
    }
}
