//! Call setup: checking the A-leg INVITE, media allocation, the topology-hiding B-leg INVITE, B's
//! provisional and final responses, and relaying them upstream in order.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use switchboard_sip::{HeaderName, Message, Method};

use super::{
    AState, Action, BState, Call, CallConfig, CancelState, ClientTxId, Leg, MAX_QUEUED_UPSTREAM,
    MAX_STRAY_FORKS, MediaState, RouteTarget, TxMethod, Upstream, UpstreamSdp, deadline, reliable,
    timer,
};
use crate::dialog::{Dialog, bare_name_addr};
use crate::failure::{EndCause, FailureSide, map_failure};
use crate::random::RandomSource;

/// Standard reason phrase for a provisional or success status relayed upstream (B's own phrase is
/// never passed on).
fn standard_reason(status: u16) -> &'static str {
    match status {
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        100..=199 => "Progress",
        _ => "OK",
    }
}

impl<K: Clone> Call<K> {
    /// Starts a call from the caller's INVITE (`a_tx`: its server transaction; `a_source`: where it came
    /// from, where requests to the caller go) and the dialplan's `route`. Emits `100 Trying` and
    /// [`Action::AllocateMedia`], or a final error to A and [`Action::Ended`] when the INVITE cannot
    /// be served: `483` (Max-Forwards 0), `400` (no Contact or From tag), `420` with `Unsupported`
    /// (any `Require` but `timer`), `422` with `Min-SE` (RFC 4028: `Session-Expires` below
    /// [`CallConfig::min_se`]), `500` (the route's Request-URI does not parse). An INVITE without
    /// SDP (late offer) gets [`Action::OfferMedia`] for leg B instead: the callee gets our offer,
    /// its answer (anchored on the node) is our offer to the caller in the 2xx, and the caller's
    /// answer comes in its ACK.
    pub fn new(
        now: Instant,
        config: CallConfig,
        invite: Message<'static>,
        a_tx: K,
        a_source: SocketAddr,
        route: RouteTarget,
        mut rng: Box<dyn RandomSource + Send>,
    ) -> Call<K> {
        let tag = rng.token();
        let dialog = Dialog::new_uas(&invite, &tag);
        // RFC 3261 §8.2.2.3: `timer` (RFC 4028) and `100rel` (RFC 3262) are the extensions
        // supported; any other Require fails.
        let required = invite.require().map(|r| {
            r.into_iter()
                .filter(|t| !t.eq_ignore_ascii_case("timer") && !t.eq_ignore_ascii_case("100rel"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let negotiated = timer::negotiate(&invite, config.min_se);
        let problem = match (&dialog, &required) {
            (Err(e), _) => Some((400, e.to_string())),
            (_, Err(e)) => Some((400, e.to_string())),
            (_, Ok(r)) if !r.is_empty() => Some((420, "Bad Extension".to_owned())),
            _ if matches!(negotiated, timer::Negotiated::TooSmall) => {
                Some((422, "Session Interval Too Small".to_owned()))
            }
            _ if invite.max_forwards().ok().flatten() == Some(0) => {
                Some((483, "Too Many Hops".to_owned()))
            }
            _ if invite.from().ok().and_then(|f| f.tag()).is_none() => {
                Some((400, "From: no tag".to_owned()))
            }
            _ if switchboard_sip::Uri::parse(&route.request_uri).is_err() => {
                Some((500, "Server Internal Error".to_owned()))
            }
            _ => None,
        };
        // A dialog that could not be read still needs an ID for matching; it is never used in-dialog.
        let a_dialog = dialog.unwrap_or_else(|_| Dialog::placeholder(&invite, &tag));
        let session_timer = match negotiated {
            timer::Negotiated::Timer(t) => Some(t),
            timer::Negotiated::None | timer::Negotiated::TooSmall => None,
        };
        let reliable = reliable::required(&invite);
        let mut call = Call::blank(config, rng, route, (a_source, invite, Some(a_tx)), a_dialog);
        call.session_timer = session_timer;
        if reliable {
            call.reliable_a = Some(reliable::ReliableA::new(&call.rng.token()));
        }
        call.respond_a(100, "Trying".to_owned(), None);
        match problem {
            Some((status, reason)) => {
                let side = if status == 500 {
                    FailureSide::Internal
                } else {
                    FailureSide::ALeg
                };
                call.set_cause(EndCause::Failed { side, status });
                call.end_a(status, reason);
                if let (420, Ok(tags), Some(Action::Respond { response, .. })) =
                    (status, &required, call.actions.back_mut())
                {
                    response.push_header(HeaderName::Unsupported, tags.clone());
                }
                if let (422, Some(Action::Respond { response, .. })) =
                    (status, call.actions.back_mut())
                {
                    let min_se = call.config.min_se.as_secs().to_string();
                    response.push_header(HeaderName::MinSe, min_se);
                }
                call.b_state = BState::Terminated;
                call.finish(now);
            }
            None => {
                call.media = MediaState::Allocating;
                call.media_allocations += 1;
                let offer = call.a_invite.body().to_vec();
                if offer.is_empty() {
                    call.late_offer = true;
                    call.actions.push_back(Action::OfferMedia { leg: Leg::B });
                } else {
                    call.accepted_sdp[0] = offer.clone();
                    call.actions.push_back(Action::AllocateMedia { offer });
                }
            }
        }
        call
    }

    /// A call in its initial state: A proceeding, B not started, no media.
    pub(super) fn blank(
        config: CallConfig,
        rng: Box<dyn RandomSource + Send>,
        route: RouteTarget,
        (a_source, a_invite, a_tx): (SocketAddr, Message<'static>, Option<K>),
        a_dialog: Dialog,
    ) -> Call<K> {
        Call {
            config,
            rng,
            route,
            a_source,
            a_invite,
            a_tx,
            a_dialog,
            a_state: AState::Proceeding,
            a_status: None,
            b_invite: None,
            b_dialog: None,
            b_state: BState::NotStarted,
            media: MediaState::None,
            media_allocations: 0,
            media_releases: 0,
            upstream: VecDeque::new(),
            last_a_sdp: None,
            last_b_sdp: Vec::new(),
            client_txs: Vec::new(),
            next_tx: 0,
            next_op: 0,
            stray_forks: 0,
            b_offer: Vec::new(),
            fallback_routes: VecDeque::new(),
            parallel_routes: Vec::new(),
            forks: Vec::new(),
            branch_failure: None,
            relays: Vec::new(),
            accepted_sdp: [Vec::new(), Vec::new()],
            restore_ops: Vec::new(),
            reinvite_acks: VecDeque::new(),
            a_resend: None,
            session_timer: None,
            b_timer: None,
            ring_deadline: None,
            attempt_timeout: None,
            advancing: false,
            transferring: false,
            refer_pending: None,
            media_flipped: false,
            challenges_answered: 0,
            bye_challenged: false,
            caller_id: None,
            originated: false,
            second: None,
            origin_op: None,
            moving: None,
            early: Vec::new(),
            reliable_a: None,
            late_offer: false,
            answered_at: None,
            cause: None,
            ended: false,
            actions: VecDeque::new(),
        }
    }

    pub(super) fn on_media_allocated(&mut self, now: Instant, b_offer: Vec<u8>) {
        if self.media != MediaState::Allocating {
            return;
        }
        self.media = MediaState::Allocated;
        self.last_b_sdp = b_offer.clone();
        self.b_offer = b_offer;
        if self.b_state == BState::NotStarted && self.awaiting_answer() {
            self.start_b(now);
        }
    }

    /// Sends a B-leg INVITE to the current route and arms the ring timeout.
    pub(super) fn start_b(&mut self, now: Instant) {
        match self.build_b_invite(self.b_offer.clone()) {
            Ok(invite) => {
                self.b_invite = Some(invite.clone());
                self.b_state = BState::Calling {
                    provisional: false,
                    cancel: CancelState::NotWanted,
                };
                self.advancing = false;
                self.challenges_answered = 0;
                let ring = self.attempt_timeout.unwrap_or(self.config.ring_timeout);
                self.ring_deadline = Some(deadline(now, ring));
                self.send_request(Leg::B, TxMethod::Invite, invite);
                self.start_forks();
            }
            Err(_) => {
                let cause = EndCause::Failed {
                    side: FailureSide::Internal,
                    status: 500,
                };
                self.abort(now, cause, 500, "Server Internal Error");
            }
        }
    }

    /// The B-leg INVITE: a new Call-ID, From tag and branch, CSeq 1, Max-Forwards one less than A's,
    /// A's From/To identities without their tags, our Contact, the rewritten offer. Nothing else from
    /// A is copied (no Via, Record-Route, Route, Contact, Call-ID or tags: topology hiding).
    fn build_b_invite(
        &mut self,
        b_offer: Vec<u8>,
    ) -> Result<Message<'static>, switchboard_sip::ParseError> {
        let route = self.route.clone();
        self.build_b_invite_for(&route, b_offer)
    }

    /// [`Call::build_b_invite`] for any route (a parallel branch).
    pub(super) fn build_b_invite_for(
        &mut self,
        route: &RouteTarget,
        b_offer: Vec<u8>,
    ) -> Result<Message<'static>, switchboard_sip::ParseError> {
        let max_forwards = self
            .a_invite
            .max_forwards()?
            .unwrap_or(70)
            .saturating_sub(1);
        let a_from = self.a_invite.from()?;
        let from = match &self.caller_id {
            Some(user) => {
                let scheme = if a_from.uri.scheme == switchboard_sip::Scheme::Sips {
                    "sips"
                } else {
                    "sip"
                };
                let host = a_from
                    .uri
                    .host
                    .as_ref()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                let uri = format!("{scheme}:{}@{host}", switchboard_sip::escape_user(user));
                match (a_from.display_name, a_from.quoted) {
                    (Some(d), true) => format!("\"{d}\" <{uri}>"),
                    (Some(d), false) => format!("{d} <{uri}>"),
                    (None, _) => format!("<{uri}>"),
                }
            }
            None => bare_name_addr(&a_from),
        };
        let to = bare_name_addr(&self.a_invite.to()?);
        let via = self.via_over(route.transport);
        let call_id = self.rng.token();
        let from_tag = self.rng.token();
        let mut m = Message::new_request(Method::Invite, route.request_uri.clone())?;
        m.push_header(HeaderName::Via, via);
        m.push_header(HeaderName::MaxForwards, max_forwards.to_string());
        m.push_header(HeaderName::From, format!("{from};tag={from_tag}"));
        m.push_header(HeaderName::To, to);
        m.push_header(HeaderName::CallId, call_id);
        m.push_header(HeaderName::CSeq, "1 INVITE");
        m.push_header(
            HeaderName::Contact,
            format!("<{}>", super::contact_over(&self.config, route.transport)),
        );
        // RFC 3262: callees may send reliable provisional responses (we PRACK them); RFC 4028:
        // we ask for a session timer.
        match self.config.session_expires {
            Some(interval) => {
                m.push_header(HeaderName::Supported, "100rel, timer");
                self.add_b_session_request(&mut m, interval);
            }
            None => {
                m.push_header(HeaderName::Supported, "100rel");
            }
        }
        m.set_body(Some("application/sdp"), b_offer);
        Ok(m)
    }

    pub(super) fn on_media_failed(&mut self, now: Instant) {
        if self.media == MediaState::Allocating {
            self.media = MediaState::Failed;
        }
        let cause = EndCause::Failed {
            side: FailureSide::Media,
            status: 503,
        };
        self.abort(now, cause, 503, "Service Unavailable");
    }

    pub(super) fn on_response(&mut self, now: Instant, tx: ClientTxId, response: &Message<'_>) {
        let Some(record) = self.client_txs.iter().find(|t| t.id == tx).copied() else {
            return;
        };
        let Some(status) = response.status() else {
            return;
        };
        let is_2xx_invite = matches!(
            record.method,
            TxMethod::Invite
                | TxMethod::ForkInvite
                | TxMethod::ReInvite
                | TxMethod::RefreshInvite
                | TxMethod::OriginInvite
                | TxMethod::MoveInvite
        ) && (200..300).contains(&status);
        if status >= 200 && !is_2xx_invite {
            self.client_txs.retain(|t| t.id != tx);
        }
        match record.method {
            TxMethod::Invite => self.on_b_invite_response(now, status, response),
            TxMethod::ForkInvite => self.on_fork_response(now, tx, response),
            TxMethod::Bye
                if matches!(status, 401 | 407)
                    && record.leg == Leg::B
                    && self.retry_bye_with_credentials(response) => {}
            TxMethod::Bye if status >= 200 => self.on_bye_done(now, record.leg),
            TxMethod::ReInvite | TxMethod::Relay => self.on_relay_response(now, record, response),
            TxMethod::RefreshInvite | TxMethod::RefreshUpdate => {
                self.on_refresh_done(now, (tx, record.leg), Some(response));
            }
            TxMethod::OriginInvite if (200..300).contains(&status) => self.ack_first_party_again(),
            TxMethod::MoveInvite => self.on_move_response(now, tx, Some(response)),
            TxMethod::Bye
            | TxMethod::Cancel
            | TxMethod::StrayBye
            | TxMethod::Notify
            | TxMethod::Prack
            | TxMethod::OriginInvite => {}
        }
    }

    fn on_b_invite_response(&mut self, now: Instant, status: u16, response: &Message<'_>) {
        match status {
            100 => {}
            101..=199 => self.on_b_provisional(now, status, response),
            200..=299 => self.on_b_success_response(now, response),
            401 | 407 if self.retry_with_credentials(response) => {}
            422 if self.retry_with_larger_interval(response) => {}
            _ => self.on_b_failure(now, status),
        }
    }

    fn on_b_provisional(&mut self, now: Instant, status: u16, response: &Message<'_>) {
        let BState::Calling {
            provisional,
            cancel,
        } = self.b_state
        else {
            return;
        };
        if response.to().ok().and_then(|t| t.tag()).is_some() {
            self.update_b_dialog(response);
        }
        let invite = self.b_invite.clone();
        let hop = (self.route.next_hop, self.route.transport);
        if invite.is_some_and(|i| !self.accept_provisional(&i, response, hop)) {
            return;
        }
        if !provisional {
            self.b_state = BState::Calling {
                provisional: true,
                cancel,
            };
            if cancel == CancelState::Wanted {
                self.send_cancel();
            }
            if self.originated && cancel == CancelState::NotWanted && status >= 180 {
                self.actions.push_back(Action::Progress { status: 180 });
            }
        }
        let room = self.upstream.len() < MAX_QUEUED_UPSTREAM;
        if cancel == CancelState::NotWanted && self.a_state == AState::Proceeding && room {
            let sdp = self.media_update(response.body());
            self.upstream.push_back(Upstream {
                status,
                reason: standard_reason(status).to_owned(),
                sdp,
            });
            self.flush_upstream_provisional(now);
        }
    }

    pub(super) fn on_b_success_response(&mut self, now: Instant, response: &Message<'_>) {
        let tag = response.to().ok().and_then(|t| t.tag()).map(str::to_owned);
        let known = self.b_dialog.as_ref().map(|d| d.id().remote_tag.clone());
        if !matches!(self.b_state, BState::Calling { .. }) {
            self.on_b_late_success(response, known == tag);
            return;
        }
        if known.is_some() && known != tag {
            // A 2xx from another fork than the early dialog: that fork's dialog wins.
            self.b_dialog = None;
        }
        self.update_b_dialog(response);
        if self.b_dialog.is_none() {
            // A 2xx without a To tag cannot be ACKed in a dialog: treat it as a failure of B.
            self.on_b_failure(now, 500);
            return;
        }
        let via = self.via(Leg::B);
        if let Some(Ok(ack)) = self.b_dialog.as_ref().map(|d| d.ack(&via)) {
            let next_hop = self.next_hop(Leg::B);
            self.actions.push_back(Action::SendAck {
                leg: Leg::B,
                request: ack,
                next_hop,
            });
        }
        let cancelled = matches!(
            self.b_state,
            BState::Calling {
                cancel: CancelState::Wanted | CancelState::Sent,
                ..
            }
        );
        self.b_state = BState::Confirmed;
        self.ring_deadline = None;
        self.cancel_forks();
        // A 2xx crossing the CANCEL of a hunt's attempt timeout: that member answered after all.
        let cancelled = cancelled && !self.advancing;
        if self.a_state == AState::Originating && !cancelled {
            self.on_first_party_answered(now, response);
            return;
        }
        self.start_b_timer(now, response);
        if self.transferring && !cancelled && self.a_state == AState::Confirmed {
            // The transfer target answered: the node's B side now faces it; A hears it at once.
            self.transferring = false;
            self.media_update(response.body());
            if self.originated && self.answered_at.is_none() {
                self.answered_at = Some(now);
                self.actions.push_back(Action::Progress { status: 200 });
            }
            return;
        }
        if cancelled || self.a_state != AState::Proceeding {
            // The CANCEL crossed the 2xx (RFC 3261 §9.1), or A is gone: hang B up.
            self.hangup_b();
            self.finish(now);
            return;
        }
        // A 2xx without SDP repeats the answer of an earlier 183 (RFC 3261 §13.2.1): the latest one
        // rewritten when it is sent, after any update still pending for an earlier response.
        let sdp = match self.media_update(response.body()) {
            UpstreamSdp::None => UpstreamSdp::Latest,
            s => s,
        };
        self.upstream.push_back(Upstream {
            status: 200,
            reason: "OK".to_owned(),
            sdp,
        });
        self.flush_upstream(now);
    }

    /// A 2xx after the B leg left the calling state: a retransmission of the accepted 2xx is ACKed
    /// again; a 2xx from another fork is ACKed and hung up (RFC 3261 §13.2.2.4).
    fn on_b_late_success(&mut self, response: &Message<'_>, same_dialog: bool) {
        if !same_dialog {
            if self.stray_forks >= MAX_STRAY_FORKS {
                return;
            }
            self.stray_forks += 1;
        }
        let via = self.via(Leg::B);
        let dialog = match (same_dialog, self.b_dialog.as_ref(), self.b_invite.as_ref()) {
            (true, Some(d), _) => Some(d.clone()),
            (false, _, Some(invite)) => Dialog::new_uac(invite, response).ok(),
            _ => None,
        };
        let Some(mut dialog) = dialog else { return };
        if let Ok(ack) = dialog.ack(&via) {
            let next_hop = self.next_hop(Leg::B);
            self.actions.push_back(Action::SendAck {
                leg: Leg::B,
                request: ack,
                next_hop,
            });
        }
        if !same_dialog {
            let via = self.via(Leg::B);
            if let Ok(bye) = dialog.new_request(Method::Bye, &via, None) {
                self.send_request(Leg::B, TxMethod::StrayBye, bye);
            }
        }
    }

    /// A final non-2xx (or 408 for Timer B) on the B-leg INVITE: the next fallback route is tried
    /// when the failure may succeed elsewhere and the caller is still waiting; otherwise the caller
    /// gets the mapped status.
    pub(super) fn on_b_failure(&mut self, now: Instant, status: u16) {
        if !matches!(self.b_state, BState::Calling { .. }) {
            return;
        }
        self.b_state = BState::Terminated;
        if let Some(d) = self.b_dialog.as_mut() {
            d.terminate();
        }
        if self.awaiting_answer() {
            self.note_branch_failure(status);
            // A parallel branch still ringing takes the failed primary's place.
            if self.cause.is_none() && self.promote_fork() {
                return;
            }
            self.ring_deadline = None;
            let status = self.branch_failure.take().unwrap_or(status);
            let mapped = map_failure(status);
            if (mapped.retry_elsewhere || self.advancing) && self.cause.is_none() {
                if let Some(next) = self.fallback_routes.pop_front() {
                    self.route = next;
                    self.b_dialog = None;
                    self.b_state = BState::NotStarted;
                    self.start_b(now);
                    return;
                }
            }
            self.set_cause(EndCause::Rejected { b_status: status });
            if std::mem::take(&mut self.transferring) {
                // The transfer target (or second party) refused: A, left alone, is hung up.
                self.hangup_a();
            } else {
                self.end_a(mapped.status, mapped.reason.to_owned());
            }
        }
        self.ring_deadline = None;
        self.finish(now);
    }

    /// Creates the B dialog from a response with a To tag, or updates it (§12.1.2, §13.2.2.4).
    fn update_b_dialog(&mut self, response: &Message<'_>) {
        match (self.b_dialog.as_mut(), self.b_invite.as_ref()) {
            (Some(d), _) => {
                // Only the dialog's own peer updates it; another fork's provisional does not.
                let tag = response.to().ok().and_then(|t| t.tag());
                if tag == Some(d.id().remote_tag.as_str()) {
                    let _ = d.update_from_response(response);
                }
            }
            (None, Some(invite)) => {
                let tag = response.to().ok().and_then(|t| t.tag().map(str::to_owned));
                let call_id = invite.call_id().unwrap_or_default().to_owned();
                // A fork that PRACKed goes on in its early dialog (its CSeq counts the PRACKs).
                let early = tag.and_then(|t| self.take_early_dialog(&call_id, &t));
                self.b_dialog = match (early, self.b_invite.as_ref()) {
                    (Some(mut d), _) => d.update_from_response(response).ok().map(|()| d),
                    (None, Some(invite)) => Dialog::new_uac(invite, response).ok(),
                    (None, None) => None,
                };
            }
            (None, None) => {}
        }
    }
}
