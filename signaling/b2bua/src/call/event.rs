//! The call's vocabulary: configuration, the routing decision, events in and actions out.

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_sip::Message;

use crate::failure::EndCause;

/// One side of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The caller's leg: we are its UAS.
    A,
    /// The callee's leg: we are its UAC.
    B,
}

/// A client transaction the call asked for; the driver reports its outcome with this id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(pub u32);

/// A media update the call asked for; the driver answers with [`CallEvent::MediaUpdated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaOp(pub u32);

/// Per-call settings (plain values; the driver fills them from its config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConfig {
    /// Our Via sent-by (`host[:port]`) on the B leg and on requests we send to the A leg.
    pub via_sent_by: String,
    /// Via transport token (`UDP`, `TCP`) of requests to an A leg whose INVITE's Via names none
    /// we know; otherwise each leg's requests use its own transport (A: its INVITE's, B: the route's).
    pub via_transport: String,
    /// Our Contact URI (`sip:switchboard@203.0.113.1:5060`), on both legs.
    pub contact_uri: String,
    /// Give up on the callee when it has not answered after this long (480 upstream). Default 60 s.
    pub ring_timeout: Duration,
    /// Hang up when the caller has not ACKed our 2xx after this long (RFC 3261 §13.3.1.4: 64*T1).
    /// Default 32 s.
    pub ack_timeout: Duration,
    /// RFC 3261 T1, the first interval of our 2xx retransmissions to a re-INVITE (§13.3.1.4).
    /// Default 500 ms.
    pub t1: Duration,
    /// RFC 3261 T2, the cap of that interval. Default 4 s.
    pub t2: Duration,
    /// RFC 4028 Min-SE: a caller's `Session-Expires` below it gets 422. Default 90 s (the RFC's
    /// floor).
    pub min_se: Duration,
    /// RFC 4028 `Session-Expires` our B-leg INVITEs ask for (`None`: no session timer asked on
    /// the B leg). Default 1800 s (the RFC's recommendation).
    pub session_expires: Option<Duration>,
    /// Our Contact URI on TLS legs (`sip:switchboard@203.0.113.1:5061`): the TLS listener, which
    /// the peer's in-dialog requests must reach. `None`: [`CallConfig::contact_uri`].
    pub tls_contact_uri: Option<String>,
    /// Our Via sent-by on TLS legs (the TLS listener's `host:port`), so that a peer whose
    /// connection dropped opens a new one to the port that speaks TLS (RFC 3261 §18.2.2).
    /// `None`: [`CallConfig::via_sent_by`].
    pub tls_via_sent_by: Option<String>,
}

impl CallConfig {
    /// Defaults for the timers with the given addresses.
    pub fn new(via_sent_by: &str, via_transport: &str, contact_uri: &str) -> Self {
        CallConfig {
            via_sent_by: via_sent_by.to_owned(),
            via_transport: via_transport.to_owned(),
            contact_uri: contact_uri.to_owned(),
            ring_timeout: Duration::from_secs(60),
            ack_timeout: Duration::from_secs(32),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            min_se: Duration::from_secs(90),
            session_expires: Some(Duration::from_secs(1800)),
            tls_contact_uri: None,
            tls_via_sent_by: None,
        }
    }

    /// Our Via sent-by on a leg over `transport`.
    pub fn sent_by_over(&self, transport: LegTransport) -> &str {
        match (transport, &self.tls_via_sent_by) {
            (LegTransport::Tls, Some(tls)) => tls,
            _ => &self.via_sent_by,
        }
    }
}

/// The transport of one leg's requests (its Via and our Contact say it; the driver sends by it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LegTransport {
    /// UDP.
    #[default]
    Udp,
    /// TCP (RFC 3261 §18: the driver opens or reuses a connection to the next hop).
    Tcp,
    /// TLS (RFC 3261 §26.2: like TCP, with our TLS Contact).
    Tls,
}

impl LegTransport {
    /// The Via transport token.
    pub fn as_via(self) -> &'static str {
        match self {
            LegTransport::Udp => "UDP",
            LegTransport::Tcp => "TCP",
            LegTransport::Tls => "TLS",
        }
    }

    /// From a Via transport token or a URI's `transport` parameter (`TCP`, `tls`); anything else is
    /// UDP.
    pub fn from_via(token: &str) -> LegTransport {
        if token.eq_ignore_ascii_case("tcp") {
            LegTransport::Tcp
        } else if token.eq_ignore_ascii_case("tls") {
            LegTransport::Tls
        } else {
            LegTransport::Udp
        }
    }
}

/// The dialplan's decision for this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTarget {
    /// Request-URI of the B-leg INVITE (the registered contact, or `sip:number@trunk`).
    pub request_uri: String,
    /// Where every B-leg request is sent (the contact's flow, the trunk, an outbound proxy).
    pub next_hop: SocketAddr,
    /// Digest credentials for a challenge (401/407) from this route, e.g. a carrier trunk.
    pub auth: Option<RouteAuth>,
    /// The transport of every request to this route.
    pub transport: LegTransport,
}

/// Credentials the B leg answers a digest challenge with (RFC 3261 §22.2) — only a challenge whose
/// realm is `realm`, so they are never offered to anyone else.
#[derive(Clone, PartialEq, Eq)]
pub struct RouteAuth {
    /// Digest user name.
    pub username: String,
    /// Password.
    pub password: String,
    /// The realm the credentials belong to.
    pub realm: String,
}

impl std::fmt::Debug for RouteAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .finish()
    }
}

/// What the driver tells the call. Feed with [`crate::Call::handle`].
#[derive(Debug, Clone)]
pub enum CallEvent<K> {
    /// The media node allocated the session; `b_offer` is A's offer rewritten to the node's B-side
    /// address, to send to the callee (after [`Action::OfferMedia`]: our own offer on the leg it
    /// names, for the first party of an originated call or the callee of a late-offer call).
    MediaAllocated {
        /// SDP for the B-leg INVITE.
        b_offer: Vec<u8>,
    },
    /// The media node took a leg's SDP ([`Action::UpdateMedia`]); `sdp` is it rewritten to the
    /// node's address on the other leg, to send there.
    MediaUpdated {
        /// Which update.
        op: MediaOp,
        /// The rewritten SDP.
        sdp: Vec<u8>,
    },
    /// The media node holding the session died. An answered, idle call moves to another node
    /// ([`Action::MoveMedia`], then a re-INVITE on each leg); any other call ends as for
    /// [`CallEvent::MediaFailed`].
    MediaLost,
    /// A new session took the call over after [`Action::MoveMedia`]: `a_offer` and `b_offer` are
    /// the re-INVITE offers for each leg (the other leg's SDP anchored on the new node).
    MediaMoved {
        /// SDP for the re-INVITE to A.
        a_offer: Vec<u8>,
        /// SDP for the re-INVITE to B.
        b_offer: Vec<u8>,
    },
    /// The allocation failed (node down, refused, deadline exceeded), or an update whose id the
    /// driver does not know. Ends the call (503 up, or BYE on both legs once answered).
    MediaFailed,
    /// Update `op` failed (unusable SDP, node down, deadline exceeded). During setup the call
    /// ends as for [`CallEvent::MediaFailed`]; for an in-dialog offer the offerer gets 488 and the
    /// session stays as it was; for an in-dialog answer the call ends (the legs disagree).
    MediaUpdateFailed {
        /// Which update.
        op: MediaOp,
    },
    /// A response on a client transaction the call started. Provisional and final; for the B-leg
    /// INVITE also 2xx retransmissions (RFC 6026 Accepted state), which are ACKed again.
    Response {
        /// The transaction.
        tx: ClientTxId,
        /// The response.
        response: Message<'static>,
    },
    /// The client transaction ended without a final response (Timer B/F, transport error).
    ClientTimedOut {
        /// The transaction.
        tx: ClientTxId,
    },
    /// A new request inside one of the call's dialogs (not ACK, not CANCEL), on server transaction `tx`.
    /// The call finds the leg by Call-ID and answers on `tx` (481 when it matches neither dialog).
    Request {
        /// The driver's server transaction key.
        tx: K,
        /// The request.
        request: Message<'static>,
    },
    /// An ACK for our 2xx (it has no transaction).
    Ack {
        /// The ACK.
        request: Message<'static>,
    },
    /// The transaction layer gave up retransmitting our 2xx to A (RFC 6026 Timer L without ACK):
    /// the same as the call's own ACK timeout firing. Ignored unless the call awaits that ACK.
    AckTimedOut,
    /// A CANCEL matched the A-leg INVITE server transaction; the driver has answered it 200.
    Cancel,
    /// The driver (operator, API, shutdown) wants the call gone.
    Hangup,
}

/// What the call asks the driver to do. Drain with [`crate::Call::poll_action`], in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<K> {
    /// Send `response` on server transaction `tx`.
    Respond {
        /// The driver's server transaction key.
        tx: K,
        /// The response.
        response: Message<'static>,
    },
    /// Start a client transaction for `request` and send it to `next_hop`; report its responses
    /// and its end with `tx`. A CANCEL is a transaction of its own (same branch as its INVITE).
    SendRequest {
        /// Which leg.
        leg: Leg,
        /// Id for [`CallEvent::Response`] / [`CallEvent::ClientTimedOut`].
        tx: ClientTxId,
        /// The request.
        request: Message<'static>,
        /// Destination (A leg: where its INVITE came from; B leg: the route's next hop).
        next_hop: SocketAddr,
    },
    /// Send an ACK for a 2xx directly (no transaction).
    SendAck {
        /// Which leg.
        leg: Leg,
        /// The ACK.
        request: Message<'static>,
        /// Destination.
        next_hop: SocketAddr,
    },
    /// Allocate a media session for A's offer; answer [`CallEvent::MediaAllocated`] or
    /// [`CallEvent::MediaFailed`].
    AllocateMedia {
        /// A's SDP offer, as received.
        offer: Vec<u8>,
    },
    /// Point the node's `leg` at `sdp`, an SDP received from that leg (B's answer in a 183 or 2xx;
    /// an offer or answer of a re-INVITE or UPDATE on either leg), and rewrite it to the node's
    /// address on the other leg; answer [`CallEvent::MediaUpdated`] or
    /// [`CallEvent::MediaUpdateFailed`]. An SDP whose connection address is unspecified
    /// (`c=IN IP4 0.0.0.0`, RFC 3264 §8.4 hold) leaves the node's remote address as it was.
    UpdateMedia {
        /// Id of this update.
        op: MediaOp,
        /// The leg the SDP came from.
        leg: Leg,
        /// The SDP, as received.
        sdp: Vec<u8>,
    },
    /// Allocate a media session with no offer from the caller — a call we originate
    /// ([`crate::Call::originate`], `leg` A: our offer for the first party) or a caller's INVITE
    /// without SDP (late offer, `leg` B: our offer for the callee) — and make our own offer (the
    /// driver's codecs) on the node's `leg`; answer [`CallEvent::MediaAllocated`] with that offer as
    /// `b_offer`, or [`CallEvent::MediaFailed`]. Counts as an allocation for [`Action::ReleaseMedia`].
    OfferMedia {
        /// The node's leg the offer is anchored on.
        leg: Leg,
    },
    /// The session's node died: allocate a new session on another node, point its leg A at
    /// `a_sdp` and its leg B at `b_sdp` (each leg's last SDP, still where its media goes), and
    /// answer [`CallEvent::MediaMoved`] with `b_sdp` anchored on the new leg A (for A) and `a_sdp`
    /// anchored on the new leg B (for B), each with the `o=` of the SDP last sent to that leg
    /// (`sent_a`, `sent_b`) and its version one higher (RFC 3264 §8); or
    /// [`CallEvent::MediaFailed`]. The dead session needs no release; the new one is released
    /// by the call's one [`Action::ReleaseMedia`].
    MoveMedia {
        /// A's last SDP.
        a_sdp: Vec<u8>,
        /// B's last SDP.
        b_sdp: Vec<u8>,
        /// The SDP last sent to A.
        sent_a: Vec<u8>,
        /// The SDP last sent to B.
        sent_b: Vec<u8>,
    },
    /// Progress of a call we originate, in the terms of the responses a caller would have got:
    /// `180` when a party rings, `200` when both parties are connected.
    Progress {
        /// `180` or `200`.
        status: u16,
    },
    /// Release the media session. Emitted exactly once per [`Action::AllocateMedia`] unless the
    /// allocation failed; when it comes before the allocation finished, release what it returns.
    ReleaseMedia,
    /// A party asked (REFER, RFC 3515) to transfer the other party to `target` (the Refer-To
    /// URI's user part). The driver routes it and answers with [`crate::Call::transfer_b`] (the
    /// callee referred: the caller is transferred) or [`crate::Call::transfer_a`] (the caller
    /// referred: the callee is transferred) — the referrer is then told `200` by NOTIFY and hung
    /// up — or with [`crate::Call::refer_failed`].
    Transfer {
        /// The number or user to transfer the other party to.
        target: String,
        /// The leg that sent the REFER (and is replaced).
        referrer: Leg,
    },
    /// The call is over: both dialogs are terminated and media is released. The last action.
    Ended {
        /// Why.
        cause: EndCause,
        /// The final status sent to the caller's INVITE.
        a_status: u16,
        /// Time from answer to end; `None` when the call was never answered.
        duration: Option<Duration>,
    },
}
