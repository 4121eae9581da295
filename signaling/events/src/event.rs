//! The typed events: call lifecycle (the CDR), registrations, media nodes, trunks and security.
//!
//! Every variant serializes as a JSON object whose `type` field names it in snake_case
//! (`{"type":"call_answered", ...}`), flattened into the [`Envelope`](crate::Envelope).

use serde::{Deserialize, Serialize};

/// One event, as the rest of the server reports it. The pipeline wraps it in an
/// [`Envelope`](crate::Envelope) carrying ids, sequence numbers, time and node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A new call was accepted (A-leg INVITE authenticated and routed).
    CallCreated {
        /// Caller (From user or URI).
        from: String,
        /// Callee (Request-URI user or number).
        to: String,
    },
    /// The B leg answered 180/183 without SDP.
    CallRinging,
    /// The B leg sent a provisional response with SDP (early media flows).
    CallEarlyMedia,
    /// The call was answered (2xx relayed to the caller).
    CallAnswered,
    /// One side put the call on hold.
    CallHeld {
        /// The leg that put the call on hold.
        leg: Leg,
    },
    /// One side resumed a held call.
    CallResumed {
        /// The leg that resumed.
        leg: Leg,
    },
    /// The call was transferred (REFER or API blind transfer).
    CallTransferred {
        /// The new target.
        target: String,
        /// Who asked for the transfer.
        by: TransferOrigin,
    },
    /// A DTMF digit was received on a leg (RFC 4733 or SIP INFO).
    CallDtmf {
        /// The leg the digit came from.
        leg: Leg,
        /// The digit: `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
        /// Duration of the tone in milliseconds.
        duration_ms: u32,
    },
    /// The call ended: the CDR.
    CallEnded(CallEnded),
    /// A new contact binding was registered.
    RegistrationAdded(Registration),
    /// An existing binding was refreshed.
    RegistrationRefreshed(Registration),
    /// A binding expired without a refresh.
    RegistrationExpired(Registration),
    /// A binding was removed (REGISTER with `Expires: 0`, or by the API).
    RegistrationRemoved(Registration),
    /// A media node became available.
    MediaNodeUp {
        /// The node's id.
        node: String,
    },
    /// A media node stopped answering health checks.
    MediaNodeDown {
        /// The node's id.
        node: String,
    },
    /// A media node was put into draining (no new sessions).
    MediaNodeDraining {
        /// The node's id.
        node: String,
    },
    /// A probed trunk answered OPTIONS again after being down.
    TrunkUp {
        /// The trunk's name.
        trunk: String,
    },
    /// A probed trunk missed `keepalive_failures` OPTIONS probes in a row; calls skip it.
    TrunkDown {
        /// The trunk's name.
        trunk: String,
        /// What the last probe got: `timeout` or the SIP status (`503`).
        reason: String,
    },
    /// A digest authentication failed.
    AuthFailure {
        /// The user name the client presented (may be empty).
        username: String,
        /// The source address (`ip:port`).
        source: String,
    },
    /// A source was banned.
    Ban {
        /// The banned source address.
        source: String,
    },
}

/// One of the two legs of a B2BUA call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    /// The caller's leg.
    A,
    /// The callee's leg.
    B,
}

/// Who initiated a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferOrigin {
    /// A REFER from the A leg.
    A,
    /// A REFER from the B leg.
    B,
    /// The REST or NATS command API.
    Api,
}

/// The side that ended a call (or failed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndSide {
    /// The caller hung up or cancelled.
    A,
    /// The callee hung up or rejected.
    B,
    /// Media failed (RTP timeout, node down).
    Media,
    /// The server ended it (API hangup, internal error, shutdown).
    Internal,
}

/// The CDR carried by [`Event::CallEnded`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEnded {
    /// Hangup cause (Q.850-style name, e.g. `normal_clearing`, `user_busy`, `no_answer`).
    pub cause: String,
    /// The final SIP status of the call (200 when it was answered).
    pub sip_status: u16,
    /// Who ended it.
    pub side: EndSide,
    /// Milliseconds from the first INVITE to the answer (or to the end, if unanswered).
    pub setup_ms: u64,
    /// Milliseconds from the answer to the end (0 if unanswered).
    pub talk_ms: u64,
    /// Media quality summary, when the media node reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualitySummary>,
}

/// Media quality over the whole call, per direction worst case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualitySummary {
    /// RTP packets relayed, both directions.
    pub packets: u64,
    /// Packets lost (from sequence gaps), both directions.
    pub packets_lost: u64,
    /// Worst interarrival jitter seen, in milliseconds.
    pub jitter_ms: f64,
    /// Estimated MOS (1.0-4.5), if computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mos: Option<f64>,
}

/// A contact binding, carried by the registration events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Address of record (`sip:alice@example.com`).
    pub aor: String,
    /// The contact URI.
    pub contact: String,
    /// Remaining lifetime in seconds (0 when removed or expired).
    pub expires: u32,
    /// The User-Agent header, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl Event {
    /// The `type` name of this event (`call_created`, `registration_added`, ...), as
    /// serialized; sinks use it in subjects and stream names.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::CallCreated { .. } => "call_created",
            Event::CallRinging => "call_ringing",
            Event::CallEarlyMedia => "call_early_media",
            Event::CallAnswered => "call_answered",
            Event::CallHeld { .. } => "call_held",
            Event::CallResumed { .. } => "call_resumed",
            Event::CallTransferred { .. } => "call_transferred",
            Event::CallDtmf { .. } => "call_dtmf",
            Event::CallEnded(_) => "call_ended",
            Event::RegistrationAdded(_) => "registration_added",
            Event::RegistrationRefreshed(_) => "registration_refreshed",
            Event::RegistrationExpired(_) => "registration_expired",
            Event::RegistrationRemoved(_) => "registration_removed",
            Event::MediaNodeUp { .. } => "media_node_up",
            Event::MediaNodeDown { .. } => "media_node_down",
            Event::MediaNodeDraining { .. } => "media_node_draining",
            Event::TrunkUp { .. } => "trunk_up",
            Event::TrunkDown { .. } => "trunk_down",
            Event::AuthFailure { .. } => "auth_failure",
            Event::Ban { .. } => "ban",
        }
    }

    /// Whether this event closes its call (the pipeline then forgets the call's counter).
    pub fn ends_call(&self) -> bool {
        matches!(self, Event::CallEnded(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_tag_is_snake_case_and_matches_type_name() {
        let events = [
            Event::CallRinging,
            Event::CallDtmf {
                leg: Leg::A,
                digit: '5',
                duration_ms: 120,
            },
            Event::CallEnded(CallEnded {
                cause: "normal_clearing".into(),
                sip_status: 200,
                side: EndSide::B,
                setup_ms: 40,
                talk_ms: 1000,
                quality: None,
            }),
            Event::RegistrationAdded(Registration {
                aor: "sip:a@x".into(),
                contact: "sip:a@192.0.2.1".into(),
                expires: 60,
                user_agent: None,
            }),
            Event::MediaNodeDraining { node: "m1".into() },
            Event::TrunkDown {
                trunk: "carrier".into(),
                reason: "timeout".into(),
            },
            Event::Ban {
                source: "192.0.2.9".into(),
            },
        ];
        for e in events {
            let v = serde_json::to_value(&e).expect("serialize");
            assert_eq!(v["type"], e.type_name());
            let back: Event = serde_json::from_value(v).expect("deserialize");
            assert_eq!(back, e);
        }
    }

    #[test]
    fn dtmf_fields_are_named_as_documented() {
        let e = Event::CallDtmf {
            leg: Leg::B,
            digit: '#',
            duration_ms: 80,
        };
        let s = serde_json::to_string(&e).expect("serialize");
        assert_eq!(
            s,
            r##"{"type":"call_dtmf","leg":"b","digit":"#","duration_ms":80}"##
        );
    }
}
