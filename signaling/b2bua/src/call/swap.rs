//! Transferring the callee (a REFER from the caller, RFC 3515): the caller's leg is replaced. The
//! call swaps its legs — the callee's dialog becomes the A leg (we are its UAC) and the caller's
//! the B leg — and then transfers "the caller" exactly as for a callee's REFER
//! ([`Call::transfer_b`]): the referrer (now B) is told the outcome by NOTIFY and hung up, and the
//! target is called on the same media session. The node's legs keep facing the same peers, so
//! from then on the call's A leg is the node's leg B (`media_flipped`).

use std::time::Instant;

use super::originate::standing_invite;
use super::{AState, BState, Call, Leg, RouteTarget, TxMethod};
use crate::dialog::bare_name_addr;

impl<K: Clone> Call<K> {
    /// Blind transfer of the callee after the caller's REFER ([`crate::Action::Transfer`] with
    /// `referrer` A): the caller is told `200` by NOTIFY and hung up, `route` is called and
    /// connected to the callee on the same media session; the callee is hung up if the target
    /// refuses or does not answer. `false` (the caller is told 500 instead) unless both legs are
    /// answered and nothing else is in flight.
    pub fn transfer_a(&mut self, now: Instant, route: RouteTarget) -> bool {
        let idle = self.relays.is_empty()
            && self.cause.is_none()
            && !self.transferring
            && self.moving.is_none();
        let answered = self.a_state == AState::Confirmed && self.b_state == BState::Confirmed;
        if !idle || !answered || self.b_dialog.is_none() || self.refer_pending != Some(Leg::A) {
            self.refer_failed(500);
            return false;
        }
        if !self.swap_legs() {
            self.refer_failed(500);
            return false;
        }
        self.transfer_b(now, route)
    }

    /// Swaps the A and B legs of an answered call (see the module doc); `false` when the callee's
    /// identity does not make the INVITE that stands for the new caller's.
    fn swap_legs(&mut self) -> bool {
        let Some(callee) = self.b_dialog.take() else {
            return false;
        };
        // The callee calls (as it were) the target: From the callee's identity, To the caller's.
        let name = |r: Result<switchboard_sip::NameAddr<'_>, _>| r.map(|a| bare_name_addr(&a)).ok();
        let (Some(to), Some(from)) = (name(self.a_invite.to()), name(self.a_invite.from())) else {
            self.b_dialog = Some(callee);
            return false;
        };
        let user_of = |n: &str| {
            switchboard_sip::NameAddr::parse(n)
                .ok()
                .and_then(|a| a.uri.user_decoded().map(|u| u.into_owned()))
                .unwrap_or_default()
        };
        let host = self
            .a_invite
            .to()
            .ok()
            .and_then(|t| t.uri.host.as_ref().map(|h| h.to_string()))
            .unwrap_or_default();
        let parties = (user_of(&to), user_of(&from));
        let transport = self.route.transport;
        let standing = standing_invite(
            &self.config,
            (&parties.0, &parties.1),
            (&host, transport),
            &mut *self.rng,
        );
        let Ok(standing) = standing else {
            self.b_dialog = Some(callee);
            return false;
        };
        let caller = std::mem::replace(&mut self.a_dialog, callee);
        self.b_dialog = Some(caller);
        // The old caller's address and transport become the B route (for its NOTIFY and BYE).
        let caller_transport = self.transport(Leg::A);
        let old_route = std::mem::replace(
            &mut self.route,
            RouteTarget {
                request_uri: String::new(),
                next_hop: self.a_source,
                auth: None,
                transport: caller_transport,
            },
        );
        self.a_source = old_route.next_hop;
        self.b_invite = Some(std::mem::replace(&mut self.a_invite, standing));
        self.a_tx = None;
        self.a_resend = None;
        self.session_timer = None;
        self.b_timer = None;
        self.accepted_sdp.swap(0, 1);
        let sent_a = self.last_a_sdp.take().unwrap_or_default();
        self.last_a_sdp = Some(std::mem::replace(&mut self.last_b_sdp, sent_a));
        // The target faces the node's side that faced the caller: it is offered what the caller was.
        self.b_offer = self.last_b_sdp.clone();
        self.media_flipped = !self.media_flipped;
        self.refer_pending = Some(Leg::B);
        for t in self.client_txs.iter_mut() {
            (t.leg, t.method) = match (t.leg, t.method) {
                // The callee's INVITE: its 2xx retransmissions are ACKed on (the new) A.
                (Leg::B, TxMethod::Invite) => (Leg::A, TxMethod::OriginInvite),
                (Leg::A, TxMethod::OriginInvite) => (Leg::B, TxMethod::Invite),
                (leg, method) => (super::indialog::other(leg), method),
            };
        }
        for a in self.reinvite_acks.iter_mut() {
            a.swap_leg();
        }
        true
    }
}
