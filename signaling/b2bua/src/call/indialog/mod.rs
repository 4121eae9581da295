//! In-dialog requests relayed from one leg to the other: re-INVITE (RFC 3261 §14), UPDATE
//! (RFC 3311) and INFO (RFC 6086). The request is answered on its own server transaction; a new
//! request with the other dialog's next CSeq goes to the other leg; its final response comes back
//! as the answer. An SDP offer or answer is given to the media node for the leg it came from and
//! rewritten to the node's address on the other leg before it is sent on; a 2xx to a re-INVITE is
//! ACKed on each leg independently.
//!
//! Offer/answer exchanges (re-INVITE, UPDATE with SDP) run one at a time per call: one arriving
//! while one is pending towards its leg, or while our own INVITE to that leg is unanswered, gets
//! 491 (glare, §14.2; RFC 3311 §5.2); a second one from the same leg before we answered its first
//! gets 500 with Retry-After (§14.2). A failure (4xx-6xx, timeout as 408) is relayed and the node's
//! leg is pointed back at the offerer's previous SDP, so the session stays as it was.
//!
//! UPDATE and INFO are relayed in early dialogs too (before the answer), once both legs have one.
//!
//! A re-INVITE without SDP is not relayed: our 2xx offers the SDP we last sent that leg, and the
//! answer in its ACK goes to the media node for that leg only.

mod answer;

use std::time::{Duration, Instant};

use switchboard_sip::{HeaderName, Message, Method};

use super::{AState, BState, Call, ClientTxId, Leg, MediaOp, TxMethod, answer_challenge};

/// At most this many INFO / UPDATE-without-SDP relays at once per call (more get 500).
const MAX_PLAIN_RELAYS: usize = 4;
/// ACKs of our re-INVITEs kept for 2xx retransmissions.
const MAX_REINVITE_ACKS: usize = 4;
/// Headers of an INFO copied to the other leg with its body (RFC 6086 §4.2).
const INFO_HEADERS: [&str; 3] = ["Info-Package", "Recv-Info", "Content-Disposition"];

/// What the relayed request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RelayKind {
    Invite,
    Update,
    Info,
}

/// Where a relay is.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Stage {
    /// The offer is with the media node.
    RewritingOffer(MediaOp),
    /// Sent to the other leg.
    Sent(ClientTxId),
    /// The other leg's 2xx answer is with the media node.
    RewritingAnswer {
        op: MediaOp,
        status: u16,
        answer: Vec<u8>,
    },
    /// 2xx sent to the offerer of a re-INVITE; retransmitted until its ACK (§13.3.1.4).
    AwaitingAck {
        response: Box<Message<'static>>,
        resend_at: Instant,
        interval: Duration,
        give_up: Instant,
    },
}

/// One in-dialog request being relayed. `K` is its server transaction key.
#[derive(Debug, Clone)]
pub(super) struct Relay<K> {
    from: Leg,
    tx: K,
    request: Message<'static>,
    kind: RelayKind,
    /// The request carries an SDP offer (the node's `from` leg was updated from it).
    offer: bool,
    /// A re-INVITE without SDP answered here with our offer; its ACK carries the answer.
    local_offer: bool,
    /// The other leg challenged it (401/407) and it went again with the route's credentials.
    challenged: bool,
    stage: Stage,
}

impl<K> Relay<K> {
    fn offer_answer(&self) -> bool {
        self.kind == RelayKind::Invite || self.offer
    }

    fn answered(&self) -> bool {
        matches!(self.stage, Stage::AwaitingAck { .. })
    }
}

/// The ACK for a 2xx to a re-INVITE we sent, built on the first 2xx.
#[derive(Debug, Clone)]
pub(super) struct ReinviteAck {
    tx: ClientTxId,
    leg: Leg,
    seq: u32,
    ack: Option<Message<'static>>,
}

impl ReinviteAck {
    /// The call's legs were swapped: this ACK goes to the other one.
    pub(super) fn swap_leg(&mut self) {
        self.leg = other(self.leg);
    }
}

pub(super) fn other(leg: Leg) -> Leg {
    match leg {
        Leg::A => Leg::B,
        Leg::B => Leg::A,
    }
}

fn index(leg: Leg) -> usize {
    match leg {
        Leg::A => 0,
        Leg::B => 1,
    }
}

/// Reason phrase for a relayed status (the peer's own phrase is not passed on).
fn reason(status: u16) -> &'static str {
    match status {
        200..=299 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        469 => "Bad Info Package",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        600..=699 => "Global Failure",
        _ => "Failed",
    }
}

impl<K: Clone> Call<K> {
    /// A re-INVITE, UPDATE or INFO that matched leg `from`'s dialog: relay it, or refuse it.
    pub(super) fn on_relayable(
        &mut self,
        now: Instant,
        from: Leg,
        tx: K,
        request: &Message<'static>,
    ) {
        let kind = match request.method() {
            Some(Method::Invite) => RelayKind::Invite,
            Some(Method::Update) => RelayKind::Update,
            _ => RelayKind::Info,
        };
        let offer = kind != RelayKind::Info && !request.body().is_empty();
        if self.is_local_refresh(from, request) {
            // RFC 4028 §10: a leg's refresh by UPDATE without SDP ends here.
            if let Some(d) = self.dialog_mut(from) {
                let _ = d.refresh_target(request);
            }
            let mut r = request.response(200, "OK").into_owned();
            r.push_header(HeaderName::Contact, format!("<{}>", self.contact(from)));
            self.add_session_expires_on(from, &mut r);
            self.leg_refreshed(now, from);
            self.respond(tx, r);
            return;
        }
        if let Some((status, retry)) = self.refusal(from, kind, offer) {
            let mut r = request.response(status, reason(status)).into_owned();
            if retry {
                // §14.2: "a randomly chosen value of between 0 and 10 seconds".
                let secs = self.rng.token().bytes().map(u32::from).sum::<u32>() % 11;
                r.push_header(HeaderName::RetryAfter, secs.to_string());
            }
            self.respond(tx, r);
            return;
        }
        // §12.2.2: a target refresh request updates the remote target.
        if kind != RelayKind::Info {
            let _ = self.dialog_mut(from).map(|d| d.refresh_target(request));
        }
        if kind == RelayKind::Invite && !offer {
            self.offer_locally(now, from, tx, request);
            return;
        }
        let mut relay = Relay {
            from,
            tx,
            request: request.clone(),
            kind,
            offer,
            local_offer: false,
            challenged: false,
            stage: Stage::RewritingOffer(MediaOp(0)),
        };
        if offer {
            let op = self.update_media(from, request.body().to_vec());
            relay.stage = Stage::RewritingOffer(op);
            self.relays.push(relay);
        } else {
            let body = request.body().to_vec();
            self.send_relayed(now, relay, body);
        }
    }

    /// Why a relayable request cannot be relayed now: (status, with Retry-After).
    fn refusal(&self, from: Leg, kind: RelayKind, offer: bool) -> Option<(u16, bool)> {
        let a_up = matches!(self.a_state, AState::AwaitingAck { .. } | AState::Confirmed);
        let b_up = self.b_state == BState::Confirmed && self.b_dialog.is_some();
        if !a_up || !b_up {
            if let Some(refused) = self.early_refusal(from, kind, offer) {
                return Some(refused);
            }
        }
        if kind == RelayKind::Invite && !offer && self.sent_sdp(from).is_none() {
            return Some((488, false));
        }
        if kind != RelayKind::Invite && !offer {
            let plain = self.relays.iter().filter(|r| !r.offer_answer()).count();
            return (plain >= MAX_PLAIN_RELAYS).then_some((500, true));
        }
        // Our own 2xx to A's first INVITE is still waiting for its ACK, or our session refresh
        // re-INVITE to A is unanswered: an INVITE is in progress.
        // Or the call is moving to another media node (our re-INVITEs are out).
        let busy = self.refresh_invite_pending() || self.moving.is_some();
        if matches!(self.a_state, AState::AwaitingAck { .. }) || busy {
            return Some((491, false));
        }
        let pending = self.relays.iter().find(|r| r.offer_answer())?;
        if pending.from == from && !pending.answered() {
            // §14.2: a second offer from the same leg before we answered the first.
            return Some((500, true));
        }
        // Glare: an offer towards this leg is pending, or its ACK has not come yet.
        Some((491, false))
    }

    /// Before the answer: UPDATE and INFO may be sent in an early dialog (RFC 3311 §5.1, RFC 6086
    /// §4.2) and are relayed when both legs have one: B sent a provisional response with a To tag
    /// and every provisional so far has reached A. An offer only once the INVITE's own
    /// offer/answer is complete: A's offer answered by B in a provisional that reached A
    /// (otherwise A gets 500 with Retry-After, having an answer coming, and B gets 491, having our
    /// offer unanswered; §5.2). A re-INVITE, or a leg being torn down: 491.
    fn early_refusal(&self, from: Leg, kind: RelayKind, offer: bool) -> Option<(u16, bool)> {
        let b_early = self.b_dialog.is_some()
            && matches!(
                self.b_state,
                BState::Calling {
                    provisional: true,
                    cancel: super::CancelState::NotWanted
                }
            );
        let a_early = self.a_state == AState::Proceeding && self.upstream.is_empty();
        if kind == RelayKind::Invite || !a_early || !b_early {
            return Some((491, false));
        }
        let answered = !self.late_offer && self.last_a_sdp.is_some();
        match (offer, answered, from) {
            (true, false, Leg::A) => Some((500, true)),
            (true, false, Leg::B) => Some((491, false)),
            _ => None,
        }
    }

    /// `leg`'s dialog (B's only once it exists).
    pub(super) fn dialog_mut(&mut self, leg: Leg) -> Option<&mut crate::dialog::Dialog> {
        match leg {
            Leg::A => Some(&mut self.a_dialog),
            Leg::B => self.b_dialog.as_mut(),
        }
    }

    /// Sends the relayed request (with `body`, the rewritten offer or the INFO body) to the other leg.
    fn send_relayed(&mut self, now: Instant, relay: Relay<K>, body: Vec<u8>) {
        self.send_relayed_answering(now, relay, body, None);
    }

    /// [`Call::send_relayed`], answering `challenge` (the other leg's 401/407 to the previous try)
    /// with the route's credentials; the relay fails with the challenge's status when it cannot.
    pub(super) fn send_relayed_answering(
        &mut self,
        now: Instant,
        mut relay: Relay<K>,
        body: Vec<u8>,
        challenge: Option<&Message<'_>>,
    ) {
        let to = other(relay.from);
        let method = match relay.kind {
            RelayKind::Invite => Method::Invite,
            RelayKind::Update => Method::Update,
            RelayKind::Info => Method::Info,
        };
        let via = self.via(to);
        let contact = self.contact(to);
        let built = self
            .dialog_mut(to)
            .map(|d| d.new_request(method, &via, Some(&contact)));
        let Some(Ok(mut request)) = built else {
            self.fail_relay(now, relay, 500);
            return;
        };
        if let Some(challenge) = challenge {
            let uri = request.request_uri().map(|u| u.to_string());
            let name = request.method().map(|m| m.to_string()).unwrap_or_default();
            let cnonce = self.rng.token();
            let answer = match (&self.route.auth, uri) {
                (Some(auth), Ok(uri)) => answer_challenge(challenge, auth, &name, &uri, &cnonce),
                _ => None,
            };
            let Some(answer) = answer else {
                let status = challenge.status().unwrap_or(401);
                self.fail_relay(now, relay, status);
                return;
            };
            request.push_header(answer.header, answer.value);
            relay.challenged = true;
        }
        if !body.is_empty() {
            let content_type = if relay.offer {
                Some("application/sdp".to_owned())
            } else {
                relay
                    .request
                    .header(&HeaderName::ContentType)
                    .map(str::to_owned)
            };
            request.set_body(content_type.as_deref(), body);
        }
        if relay.kind == RelayKind::Info {
            for name in INFO_HEADERS {
                for value in relay.request.header_all(&HeaderName::from(name)) {
                    request.push_header(name, value.to_owned());
                }
            }
        }
        let seq = request.cseq().map(|c| c.seq).unwrap_or_default();
        let tx_method = match relay.kind {
            RelayKind::Invite => TxMethod::ReInvite,
            RelayKind::Update | RelayKind::Info => TxMethod::Relay,
        };
        if relay.offer {
            match to {
                Leg::A => self.last_a_sdp = Some(request.body().to_vec()),
                Leg::B => self.last_b_sdp = request.body().to_vec(),
            }
        }
        self.send_request(to, tx_method, request);
        let tx = ClientTxId(self.next_tx);
        if relay.kind == RelayKind::Invite {
            self.remember_reinvite(tx, to, seq);
        }
        relay.stage = Stage::Sent(tx);
        self.relays.push(relay);
    }

    /// Keeps what is needed to ACK the 2xx (and its retransmissions) to our re-INVITE `tx`.
    pub(super) fn remember_reinvite(&mut self, tx: ClientTxId, leg: Leg, seq: u32) {
        if self.reinvite_acks.len() >= MAX_REINVITE_ACKS {
            self.reinvite_acks.pop_front();
        }
        self.reinvite_acks.push_back(ReinviteAck {
            tx,
            leg,
            seq,
            ack: None,
        });
    }

    /// An offer/answer exchange is in progress (not yet answered).
    pub(super) fn offer_pending(&self) -> bool {
        self.relays
            .iter()
            .any(|r| r.offer_answer() && !r.answered())
    }

    /// The SDP this call last sent to `leg` (its current view of the session), if any.
    pub(in crate::call) fn sent_sdp(&self, leg: Leg) -> Option<Vec<u8>> {
        match leg {
            Leg::A => self.last_a_sdp.clone(),
            Leg::B => Some(self.last_b_sdp.clone()).filter(|s| !s.is_empty()),
        }
    }

    /// A re-INVITE without SDP (RFC 3261 §14.2, §13.2.1): answered here with a 2xx offering the
    /// SDP we last sent that leg; the answer comes in the ACK. The other leg is not involved.
    fn offer_locally(&mut self, now: Instant, from: Leg, tx: K, request: &Message<'static>) {
        let relay = Relay {
            from,
            tx,
            request: request.clone(),
            kind: RelayKind::Invite,
            offer: false,
            local_offer: true,
            challenged: false,
            stage: Stage::RewritingOffer(MediaOp(0)),
        };
        let sdp = self.sent_sdp(from).unwrap_or_default();
        self.answer_relay(now, relay, 200, sdp, None);
    }
}
