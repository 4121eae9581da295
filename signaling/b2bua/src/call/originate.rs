//! Calls we originate (click-to-call, an operator's `originate`): there is no caller, so the call
//! first rings the *first party* on the B-leg machinery (routes, forks, failover, digest auth,
//! ring timeout and Timer B all apply) with our own offer on the media node's A side. When it
//! answers, its dialog becomes the call's A leg (we are its UAC), its answer is put on the node's
//! A side, and the *second party* is called with that answer anchored on the node's B side,
//! exactly like a blind transfer's new callee: the first party stays connected and hears the
//! second once it answers; a refusal or no answer hangs the first party up.

use std::collections::VecDeque;
use std::time::Instant;

use switchboard_sip::{HeaderName, Message, Method, Uri};

use super::{
    AState, Action, BState, Call, CallConfig, Leg, LegTransport, MediaState, RouteTarget, TxMethod,
};
use crate::dialog::Dialog;
use crate::failure::{EndCause, FailureSide};
use crate::random::RandomSource;

/// Who an originated call connects: user parts (numbers) as shown in each party's INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parties {
    /// The first party, rung first (shown as the caller to the second party).
    pub first: String,
    /// The second party, rung once the first answered (shown as the caller to the first party).
    pub second: String,
    /// Host of the From/To URIs (our SIP domain).
    pub domain: String,
}

/// Where an originated call's second party is rung: `route`, then `others` — the first `parallel`
/// of them at the same time as `route` (a ring group, a user's contacts of the highest q), the rest
/// one after another while they fail with a status worth retrying elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondParty {
    /// The first route.
    pub route: RouteTarget,
    /// Further routes.
    pub others: Vec<RouteTarget>,
    /// How many of `others` ring together with `route`.
    pub parallel: usize,
    /// The From user shown to the second party instead of the first party's (a trunk's caller
    /// ID); `None` shows the first party.
    pub caller_id: Option<String>,
}

impl<K: Clone> Call<K> {
    /// Starts a call we originate between `parties`: the first party is rung at `first` (add its
    /// fallback or parallel routes with [`Call::add_fallback_route`] /
    /// [`Call::add_parallel_route`] before draining), the second at `second` once the first
    /// answered. Emits [`Action::OfferMedia`]; progress comes as [`Action::Progress`]; the call
    /// ends with [`Action::Ended`] like any other (`a_status` 200 once the first party answered,
    /// else its mapped failure). A first party that answers without SDP ends the call (488).
    /// `Err` names what does not make a SIP URI: `"first"`, `"second"` (a party's user or
    /// route), or `"domain"`.
    pub fn originate(
        config: CallConfig,
        parties: &Parties,
        first: RouteTarget,
        second: SecondParty,
        mut rng: Box<dyn RandomSource + Send>,
    ) -> Result<Call<K>, &'static str> {
        // Until the first party answers, the "caller" is the second party calling the first;
        // then the first party calls the second.
        let (one, two) = (&parties.first, &parties.second);
        Uri::parse(&format!("sip:{}", parties.domain)).map_err(|_| "domain")?;
        let domain = (parties.domain.as_str(), first.transport);
        let invite = standing_invite(&config, (two, one), domain, &mut *rng)?;
        // Its Via names the A leg's transport once the first party is the A leg: its route's.
        let then = standing_invite(&config, (one, two), domain, &mut *rng)?;
        Uri::parse(&first.request_uri).map_err(|_| "first")?;
        Uri::parse(&second.route.request_uri).map_err(|_| "second")?;
        let tag = rng.token();
        let a_dialog = Dialog::placeholder(&invite, &tag);
        let source = first.next_hop;
        let mut call = Call::blank(config, rng, first, (source, invite, None), a_dialog);
        call.a_state = AState::Originating;
        call.originated = true;
        call.second = Some(Box::new((second, then)));
        call.media = MediaState::Allocating;
        call.media_allocations += 1;
        call.actions.push_back(Action::OfferMedia { leg: Leg::A });
        Ok(call)
    }

    /// The first party answered (its 2xx is ACKed): its dialog becomes the A leg and its answer
    /// goes to the node's A side, whose rewrite (for the B side) is the second party's offer.
    pub(super) fn on_first_party_answered(&mut self, now: Instant, response: &Message<'_>) {
        let (Some(mut dialog), Some(second)) = (self.b_dialog.take(), self.second.take()) else {
            return;
        };
        let (second, then) = *second;
        dialog.confirm();
        let answer = response.body().to_vec();
        // The A leg is this dialog now: its INVITE's 2xx retransmissions are ACKed on A.
        let invite_tx = self
            .client_txs
            .iter()
            .rev()
            .find(|t| t.leg == Leg::B && t.method == TxMethod::Invite)
            .map(|t| t.id);
        for t in self.client_txs.iter_mut() {
            if Some(t.id) == invite_tx {
                t.leg = Leg::A;
                t.method = TxMethod::OriginInvite;
            }
        }
        self.a_dialog = dialog;
        self.a_source = self.route.next_hop;
        self.a_state = AState::Confirmed;
        self.a_status = Some(200);
        self.b_invite = None;
        self.b_state = BState::NotStarted;
        self.ring_deadline = None;
        self.transferring = true;
        self.a_invite = then;
        self.route = second.route;
        self.caller_id = second.caller_id;
        let mut together = second.others;
        let after = together.split_off(second.parallel.min(together.len()));
        self.parallel_routes = together;
        self.fallback_routes = VecDeque::from(after);
        if answer.is_empty() {
            let cause = EndCause::Failed {
                side: FailureSide::ALeg,
                status: 488,
            };
            self.abort(now, cause, 488, "Not Acceptable Here");
            return;
        }
        self.accepted_sdp[0] = answer.clone();
        self.origin_op = Some(self.update_media(Leg::A, answer));
    }

    /// The node took the first party's answer: call the second party with it (anchored on B).
    pub(super) fn call_second_party(&mut self, now: Instant, offer: Vec<u8>) {
        self.origin_op = None;
        if self.a_state != AState::Confirmed || self.b_state != BState::NotStarted {
            return;
        }
        self.last_b_sdp = offer.clone();
        self.b_offer = offer;
        self.start_b(now);
    }

    /// A retransmitted 2xx of the INVITE that reached the first party: ACK it again (RFC 3261
    /// §13.2.2.4).
    pub(super) fn ack_first_party_again(&mut self) {
        let via = self.via(Leg::A);
        let seq = self.a_dialog.invite_seq();
        if let Ok(ack) = self.a_dialog.ack_for(seq, &via) {
            let next_hop = self.a_source;
            self.actions.push_back(Action::SendAck {
                leg: Leg::A,
                request: ack,
                next_hop,
            });
        }
    }
}

/// The INVITE an originated call keeps as its "caller's" INVITE: `from` calling `to` in our domain
/// (its From and To are what the next B-leg INVITE shows; it is never sent).
pub(super) fn standing_invite(
    config: &CallConfig,
    (from, to): (&str, &str),
    (domain, transport): (&str, LegTransport),
    rng: &mut (dyn RandomSource + Send),
) -> Result<Message<'static>, &'static str> {
    let uri = |user: &str| format!("sip:{}@{domain}", switchboard_sip::escape_user(user));
    let (from_uri, to_uri) = (uri(from), uri(to));
    Uri::parse(&from_uri).map_err(|_| "domain")?;
    let mut m = Message::new_request(Method::Invite, to_uri.clone()).map_err(|_| "domain")?;
    m.push_header(
        HeaderName::Via,
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{}",
            transport.as_via(),
            config.sent_by_over(transport),
            rng.token()
        ),
    );
    m.push_header(HeaderName::MaxForwards, "70");
    m.push_header(
        HeaderName::From,
        format!("<{from_uri}>;tag={}", rng.token()),
    );
    m.push_header(HeaderName::To, format!("<{to_uri}>"));
    m.push_header(HeaderName::CallId, rng.token());
    m.push_header(HeaderName::CSeq, "1 INVITE");
    m.push_header(HeaderName::Contact, format!("<{}>", config.contact_uri));
    Ok(m)
}
