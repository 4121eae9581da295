//! [`Call`]: the B2BUA state machine for one call, an A leg (our UAS dialog towards the caller) and a
//! B leg (our UAC dialog towards the callee). Setup is in `setup`, in-dialog requests and every way
//! a call ends in `teardown`; this file holds the state, the entry points and the timers.

mod auth;
mod event;
mod fork;
mod indialog;
mod migrate;
mod originate;
mod prack;
mod relay;
mod reliable;
mod setup;
mod swap;
mod teardown;
mod timer;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchboard_sip::{HeaderName, Message};

use crate::dialog::Dialog;
use crate::failure::EndCause;
use crate::random::RandomSource;
use indialog::{ReinviteAck, Relay};

pub use auth::{ChallengeAnswer, answer_challenge};
pub use event::{
    Action, CallConfig, CallEvent, ClientTxId, Leg, LegTransport, MediaOp, RouteAuth, RouteTarget,
};
pub use originate::{Parties, SecondParty};

#[cfg(test)]
mod tests;

/// At most this many responses wait for the caller (B's provisionals beyond it are dropped while
/// the media node is slow), so a peer flooding 183s cannot grow the queue or the media updates.
pub(super) const MAX_QUEUED_UPSTREAM: usize = 8;

/// At most this many extra forks' 2xx are ACKed and hung up; later ones are ignored (their
/// senders time out), so a peer cannot make the call send BYEs without bound.
pub(super) const MAX_STRAY_FORKS: u32 = 4;

/// Where the A leg (the caller's INVITE, answered by us) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AState {
    /// No final response sent yet.
    Proceeding,
    /// A call we originate: no A leg yet; the first party is being called on the B-leg machinery
    /// and becomes the A leg when it answers (`originate`).
    Originating,
    /// 2xx sent; waiting for the caller's ACK until the deadline.
    AwaitingAck { deadline: Instant },
    /// ACK received.
    Confirmed,
    /// We sent BYE; waiting for its final response or timeout.
    ByeSent,
    /// Done: a final non-2xx was sent, or the dialog ended by BYE.
    Terminated,
}

/// Whether the B-leg INVITE is to be cancelled (RFC 3261 §9.1: only after a provisional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CancelState {
    NotWanted,
    /// Wanted, but no provisional response has come yet.
    Wanted,
    Sent,
}

/// Where the B leg (our INVITE towards the callee) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BState {
    /// Media not allocated yet, so no INVITE sent.
    NotStarted,
    /// INVITE sent, no final response.
    Calling {
        provisional: bool,
        cancel: CancelState,
    },
    /// 2xx received and ACKed.
    Confirmed,
    /// We sent BYE; waiting for its final response or timeout.
    ByeSent,
    /// Done.
    Terminated,
}

/// Media session bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaState {
    None,
    Allocating,
    Allocated,
    /// The allocation failed: nothing to release.
    Failed,
    Released,
}

/// SDP for a response queued for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UpstreamSdp {
    None,
    Waiting(MediaOp),
    Ready(Vec<u8>),
    /// The latest rewritten answer, whatever it is when the response goes out.
    Latest,
}

/// A response for the caller, queued so a 180, 183 and 200 reach it in the order B sent them even
/// when one of them waits for the media node to rewrite its SDP.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Upstream {
    status: u16,
    reason: String,
    sdp: UpstreamSdp,
}

/// What a client transaction the call started was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ClientTx {
    id: ClientTxId,
    leg: Leg,
    method: TxMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxMethod {
    Invite,
    /// The INVITE of a parallel branch besides the primary B leg.
    ForkInvite,
    Cancel,
    Bye,
    /// BYE to a stray forked 2xx dialog: its outcome does not matter.
    StrayBye,
    /// A re-INVITE relayed to this leg (its 2xx retransmissions are ACKed again).
    ReInvite,
    /// An UPDATE or INFO relayed to this leg.
    Relay,
    /// Our RFC 4028 session refresh to A by re-INVITE (2xx retransmissions ACKed again).
    RefreshInvite,
    /// Our RFC 4028 session refresh to A by UPDATE.
    RefreshUpdate,
    /// A NOTIFY of a REFER's outcome (RFC 3515): its outcome does not matter.
    Notify,
    /// The INVITE that reached an originated call's first party, now the A leg: a 2xx
    /// retransmission is ACKed again.
    OriginInvite,
    /// Our re-INVITE moving this leg's media to a new node (2xx retransmissions ACKed again).
    MoveInvite,
    /// A PRACK for a callee's reliable provisional response: its outcome does not matter.
    Prack,
}

/// One B2BUA call. `K` is the driver's server transaction key (cloned into [`Action::Respond`]).
///
/// Call order: [`Call::new`], then drain [`Call::poll_action`]; for every event
/// [`Call::handle`] and drain again; arm one timer at [`Call::poll_timeout`] and call
/// [`Call::handle_timeout`] when it fires. [`Action::Ended`] is the last action; then
/// [`Call::is_terminated`] is true and the call can be dropped.
pub struct Call<K> {
    config: CallConfig,
    rng: Box<dyn RandomSource + Send>,
    route: RouteTarget,
    a_source: SocketAddr,
    a_invite: Message<'static>,
    /// The A-leg INVITE's server transaction; `None` for a call we originate.
    a_tx: Option<K>,
    a_dialog: Dialog,
    a_state: AState,
    a_status: Option<u16>,
    b_invite: Option<Message<'static>>,
    b_dialog: Option<Dialog>,
    b_state: BState,
    media: MediaState,
    media_allocations: u32,
    media_releases: u32,
    upstream: VecDeque<Upstream>,
    last_a_sdp: Option<Vec<u8>>,
    /// The SDP last sent to B (our offer, or a rewritten answer of A's).
    last_b_sdp: Vec<u8>,
    client_txs: Vec<ClientTx>,
    next_tx: u32,
    next_op: u32,
    stray_forks: u32,
    /// A's offer as rewritten for B (kept for a fallback route's INVITE).
    b_offer: Vec<u8>,
    fallback_routes: VecDeque<RouteTarget>,
    /// Routes rung in parallel with the first one (sent with the first B-leg INVITE).
    parallel_routes: Vec<RouteTarget>,
    /// Parallel branches still in progress besides the primary B leg.
    forks: Vec<fork::Fork>,
    /// The most telling failure among branches that failed so far.
    branch_failure: Option<u16>,
    /// In-dialog requests being relayed from one leg to the other.
    relays: Vec<Relay<K>>,
    /// The last SDP each leg sent that the session accepted (A, B): restored on the media node
    /// when a later offer from that leg fails.
    accepted_sdp: [Vec<u8>; 2],
    /// Media updates whose results are not needed (restores after a failed offer).
    restore_ops: Vec<MediaOp>,
    /// ACKs of the re-INVITEs we sent, to answer 2xx retransmissions.
    reinvite_acks: VecDeque<ReinviteAck>,
    /// Our 2xx to the A-leg INVITE, retransmitted until the ACK (RFC 3261 §13.3.1.4): the
    /// response, when next, and the current interval.
    a_resend: Option<(Box<Message<'static>>, Instant, Duration)>,
    /// RFC 4028 session timer of the A leg, when the caller asked for one.
    session_timer: Option<timer::SessionTimer>,
    /// RFC 4028 session timer of the B leg, when the callee's 2xx set one.
    b_timer: Option<timer::SessionTimer>,
    ring_deadline: Option<Instant>,
    /// How long each route may ring before the next one is tried (a hunt); `None`: the call's
    /// ring timeout, then 480.
    attempt_timeout: Option<Duration>,
    /// The current B leg is being cancelled to move on to the next route (attempt timed out).
    advancing: bool,
    /// A blind transfer is calling a new B leg while the caller stays connected.
    transferring: bool,
    /// A party's REFER waits for the driver to route its target: the referrer's leg.
    refer_pending: Option<Leg>,
    /// The call's legs were swapped (the caller transferred the callee): the node's leg A faces the
    /// call's B leg and its leg B the A leg.
    media_flipped: bool,
    /// Digest challenges of the current route answered so far (a second only when `stale`).
    challenges_answered: u8,
    /// Our BYE to B was challenged and sent again with credentials (only once).
    bye_challenged: bool,
    /// The From user presented on the B leg (caller-ID rewrite); `None` keeps A's From.
    caller_id: Option<String>,
    /// We originated the call (no caller's INVITE): progress is reported by [`Action::Progress`].
    originated: bool,
    /// An originated call's second party, called once the first answered, with the INVITE that
    /// then stands for the caller's (the first party calling the second).
    second: Option<Box<(SecondParty, Message<'static>)>>,
    /// The media update turning the first party's answer into the second party's offer.
    origin_op: Option<MediaOp>,
    /// The call is moving to another media node after its node died.
    moving: Option<migrate::Moving>,
    /// Callees' early dialogs that sent reliable provisional responses (RFC 3262).
    early: Vec<prack::Early>,
    /// The caller requires reliable provisional responses (RFC 3262 §3).
    reliable_a: Option<reliable::ReliableA>,
    /// The caller's INVITE had no SDP (late offer): our 2xx carries the offer (B's answer anchored
    /// on the node) and the caller's answer comes in its ACK (RFC 3261 §13.2.1, RFC 3264 §4).
    late_offer: bool,
    answered_at: Option<Instant>,
    cause: Option<EndCause>,
    ended: bool,
    actions: VecDeque<Action<K>>,
}

impl<K: Clone> Call<K> {
    /// The call's A-leg INVITE as received (with its server transaction key `a_tx` and source
    /// address), answered from here on by the call. For a call we originate, an INVITE of ours
    /// standing for it: From the first party, To the second (once the first party answered).
    pub fn a_invite(&self) -> &Message<'static> {
        &self.a_invite
    }

    /// The A-leg dialog (UAS side).
    pub fn a_dialog(&self) -> &Dialog {
        &self.a_dialog
    }

    /// The B-leg dialog (UAC side), once B answered with a tag.
    pub fn b_dialog(&self) -> Option<&Dialog> {
        self.b_dialog.as_ref()
    }

    /// The A-leg Call-ID.
    pub fn a_call_id(&self) -> &str {
        &self.a_dialog.id().call_id
    }

    /// The B-leg Call-ID, once the B-leg INVITE is built.
    pub fn b_call_id(&self) -> Option<&str> {
        self.b_invite.as_ref().and_then(|m| m.call_id().ok())
    }

    /// Which leg a message with this Call-ID belongs to.
    pub fn leg_of(&self, call_id: &str) -> Option<Leg> {
        if call_id == self.a_call_id() {
            Some(Leg::A)
        } else if self.b_call_id() == Some(call_id) {
            Some(Leg::B)
        } else {
            None
        }
    }

    /// True once [`Action::Ended`] was emitted: both dialogs terminated, media released.
    pub fn is_terminated(&self) -> bool {
        self.ended
    }

    /// How many [`Action::AllocateMedia`] were emitted (0 or 1).
    pub fn media_allocations(&self) -> u32 {
        self.media_allocations
    }

    /// How many [`Action::ReleaseMedia`] were emitted (0 or 1; equal to the allocations once
    /// terminated, unless the allocation failed).
    pub fn media_releases(&self) -> u32 {
        self.media_releases
    }

    /// Client transactions started and not yet finished (as far as the call cares).
    pub fn open_client_transactions(&self) -> usize {
        self.client_txs.len()
    }

    /// Adds a route to try, in order, when the B leg fails with a status [`crate::map_failure`]
    /// marks `retry_elsewhere` (408 and Timer B, 480, 5xx, other 3xx/4xx) while the caller still
    /// waits. The new attempt is a new B-leg dialog (new Call-ID, tags, branch) on the same media
    /// session; re-index the call by [`Call::b_call_id`] after each B-leg INVITE.
    pub fn add_fallback_route(&mut self, route: RouteTarget) {
        self.fallback_routes.push_back(route);
    }

    /// Adds a route rung at the same time as the first one (a ring group, every contact of a
    /// user): the first to answer wins and the others are cancelled; the caller gets a failure
    /// only when every branch failed. Call before the first B-leg INVITE goes out.
    pub fn add_parallel_route(&mut self, route: RouteTarget) {
        self.parallel_routes.push(route);
    }

    /// Lets each route ring at most `timeout` while another route remains (a sequential hunt): the
    /// ringing B leg is then cancelled and the next route called. The last route rings for
    /// `timeout` too, then the caller gets 480. Call before the first B-leg INVITE goes out.
    pub fn set_attempt_timeout(&mut self, timeout: Duration) {
        self.attempt_timeout = Some(timeout);
    }

    /// Presents `user` as the From user on the B leg (caller-ID rewrite, e.g. towards a trunk);
    /// the host and display name stay A's. Call before the first B-leg INVITE goes out.
    pub fn set_caller_id(&mut self, user: impl Into<String>) {
        self.caller_id = Some(user.into());
    }

    /// The next action for the driver.
    pub fn poll_action(&mut self) -> Option<Action<K>> {
        self.actions.pop_front()
    }

    /// The earliest deadline of the call's timers (ring timeout, ACK timeout), if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ack = match (self.a_state, &self.a_resend) {
            (AState::AwaitingAck { deadline }, Some((_, at, _))) => Some(deadline.min(*at)),
            (AState::AwaitingAck { deadline }, None) => Some(deadline),
            _ => None,
        };
        let ring = self.ring_deadline.filter(|_| self.is_ringing());
        [
            ack,
            ring,
            self.relay_timeout(),
            self.session_timeout(),
            self.prack_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.ring_deadline {
            let waiting = self.awaiting_answer();
            if d <= now && self.is_ringing() && waiting {
                self.ring_deadline = None;
                if self.attempt_timeout.is_some() && !self.fallback_routes.is_empty() {
                    // Hunt: cancel this route; its final response (487) starts the next one.
                    self.advancing = true;
                    self.hangup_b();
                } else {
                    self.abort(now, EndCause::NoAnswer, 480, "Temporarily Unavailable");
                }
            }
        }
        if let AState::AwaitingAck { deadline } = self.a_state {
            if deadline <= now {
                self.on_ack_timeout(now);
            } else {
                self.resend_a_2xx(now);
            }
        }
        self.relay_timers(now);
        self.session_timers(now);
        self.prack_timers(now);
    }

    /// Feeds one event.
    pub fn handle(&mut self, now: Instant, event: CallEvent<K>) {
        if self.ended {
            return;
        }
        match event {
            CallEvent::MediaAllocated { b_offer } => self.on_media_allocated(now, b_offer),
            CallEvent::MediaUpdated { op, sdp } => {
                if !self.on_relay_media(now, op, Some(sdp.clone())) {
                    self.on_media_updated(now, op, sdp);
                }
            }
            CallEvent::MediaFailed => self.on_media_failed(now),
            CallEvent::MediaLost => self.on_media_lost(now),
            CallEvent::MediaMoved { a_offer, b_offer } => self.on_media_moved(a_offer, b_offer),
            CallEvent::MediaUpdateFailed { op } => {
                if !self.on_relay_media(now, op, None) {
                    self.on_media_failed(now);
                }
            }
            CallEvent::Response { tx, response } => self.on_response(now, tx, &response),
            CallEvent::ClientTimedOut { tx } => self.on_client_timeout(now, tx),
            CallEvent::Request { tx, request } => self.on_request(now, tx, &request),
            CallEvent::Ack { request } => self.on_ack(now, &request),
            CallEvent::Cancel => {
                if self.a_state == AState::Proceeding {
                    self.abort(now, EndCause::CallerCancelled, 487, "Request Terminated");
                }
            }
            CallEvent::AckTimedOut => {
                if let AState::AwaitingAck { .. } = self.a_state {
                    self.on_ack_timeout(now);
                }
            }
            CallEvent::Hangup => self.abort(
                now,
                EndCause::Administrative,
                480,
                "Temporarily Unavailable",
            ),
        }
    }

    /// RFC 3261 §13.3.1.4: our 2xx to the A-leg INVITE again, T1 doubling to T2, until the ACK.
    fn resend_a_2xx(&mut self, now: Instant) {
        let Some((response, at, interval)) = self.a_resend.as_mut() else {
            return;
        };
        if *at > now {
            return;
        }
        *interval = interval.saturating_mul(2).min(self.config.t2);
        *at = deadline(now, *interval);
        let response = (**response).clone();
        if let Some(tx) = self.a_tx.clone() {
            self.actions.push_back(Action::Respond { tx, response });
        }
    }

    /// RFC 3261 §13.3.1.4: no ACK for our 2xx after 64*T1; the session is ended with BYE (both legs).
    fn on_ack_timeout(&mut self, now: Instant) {
        self.set_cause(EndCause::AckTimeout);
        self.end_relays(487);
        self.hangup_a();
        self.hangup_b();
        self.finish(now);
    }

    /// Whether the call still waits for a callee to answer: the caller has no final response, the
    /// first party of an originated call is being called, or a transfer (or an originated call's
    /// second party) is ringing while A is connected.
    fn awaiting_answer(&self) -> bool {
        matches!(self.a_state, AState::Proceeding | AState::Originating)
            || (self.transferring && self.a_state == AState::Confirmed)
    }

    fn is_ringing(&self) -> bool {
        matches!(
            self.b_state,
            BState::Calling {
                cancel: CancelState::NotWanted,
                ..
            }
        )
    }

    fn set_cause(&mut self, cause: EndCause) {
        if self.cause.is_none() {
            self.cause = Some(cause);
        }
    }

    /// The transport of requests to `leg`.
    fn transport(&self, leg: Leg) -> LegTransport {
        match leg {
            Leg::A => self
                .a_invite
                .top_via()
                .map(|v| LegTransport::from_via(v.transport))
                .unwrap_or_else(|_| LegTransport::from_via(&self.config.via_transport)),
            Leg::B => self.route.transport,
        }
    }

    /// A fresh Via for a request to `leg`.
    fn via(&mut self, leg: Leg) -> String {
        self.via_over(self.transport(leg))
    }

    /// A fresh Via naming `transport`.
    fn via_over(&mut self, transport: LegTransport) -> String {
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{};rport",
            transport.as_via(),
            self.config.sent_by_over(transport),
            self.rng.token()
        )
    }

    /// Our Contact URI towards `leg` (`;transport=tcp` on a TCP leg, RFC 3261 §19.1.1).
    fn contact(&self, leg: Leg) -> String {
        contact_over(&self.config, self.transport(leg))
    }

    fn new_tx(&mut self, leg: Leg, method: TxMethod) -> ClientTxId {
        self.next_tx += 1;
        let id = ClientTxId(self.next_tx);
        self.client_txs.push(ClientTx { id, leg, method });
        id
    }

    fn next_hop(&self, leg: Leg) -> SocketAddr {
        match leg {
            Leg::A => self.a_source,
            Leg::B => self.route.next_hop,
        }
    }

    fn send_request(&mut self, leg: Leg, method: TxMethod, request: Message<'static>) {
        let next_hop = self.next_hop(leg);
        self.send_request_to(leg, method, request, next_hop);
    }

    fn send_request_to(
        &mut self,
        leg: Leg,
        method: TxMethod,
        request: Message<'static>,
        next_hop: SocketAddr,
    ) -> ClientTxId {
        let tx = self.new_tx(leg, method);
        self.actions.push_back(Action::SendRequest {
            leg,
            tx,
            request,
            next_hop,
        });
        tx
    }

    /// A response to the A-leg INVITE with our To tag, plus our Contact (1xx/2xx) and SDP.
    fn a_response(&self, status: u16, reason: String, sdp: Option<Vec<u8>>) -> Message<'static> {
        let tag = self.a_dialog.id().local_tag.clone();
        let mut r = self.a_invite.response_with_tag(status, reason, &tag);
        if (200..300).contains(&status) {
            self.add_session_expires(&mut r);
        }
        if status > 100 && status < 300 {
            // RFC 3261 §12.1.1: a dialog-creating response copies the request's Record-Route (A's
            // own path, never shown to B) and carries our Contact.
            for rr in self.a_invite.header_all(&HeaderName::RecordRoute) {
                r.push_header(HeaderName::RecordRoute, rr.to_owned());
            }
            r.push_header(HeaderName::Contact, format!("<{}>", self.contact(Leg::A)));
        }
        if let Some(sdp) = sdp {
            r.set_body(Some("application/sdp"), sdp);
        }
        r
    }

    fn respond_a(&mut self, status: u16, reason: String, sdp: Option<Vec<u8>>) {
        let Some(tx) = self.a_tx.clone() else {
            return;
        };
        let response = self.a_response(status, reason, sdp);
        self.actions.push_back(Action::Respond { tx, response });
    }
}

/// Our Contact for a leg over `transport`: `;transport=tcp` on TCP, the TLS listener's with
/// `;transport=tls` on TLS.
fn contact_over(config: &CallConfig, transport: LegTransport) -> String {
    let contact = &config.contact_uri;
    match transport {
        LegTransport::Udp => contact.clone(),
        LegTransport::Tcp => format!("{contact};transport=tcp"),
        LegTransport::Tls => {
            let tls = config.tls_contact_uri.as_deref().unwrap_or(contact);
            format!("{tls};transport=tls")
        }
    }
}

/// `now + d`, saturating far in the future instead of overflowing on an absurd configured duration.
fn deadline(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(1 << 32)))
        .unwrap_or(now)
}

impl<K> std::fmt::Debug for Call<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("a_call_id", &self.a_dialog.id().call_id)
            .field("a_state", &self.a_state)
            .field("b_state", &self.b_state)
            .field("media", &self.media)
            .field("cause", &self.cause)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}
