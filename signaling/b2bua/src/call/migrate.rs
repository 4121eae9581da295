//! Moving an answered call to another media node when its node dies (the pool's health checks
//! report it): a new session is allocated and pointed at both legs' last SDPs, then each leg gets a
//! re-INVITE whose offer is the other leg's SDP anchored on the new node; each answer updates the
//! node. If the move cannot happen (the call is not answered and idle, no node takes it, a leg
//! refuses or does not answer its re-INVITE), the call ends with BYE on both legs and a media cause.

use std::time::Instant;

use switchboard_sip::{Message, Method};

use super::{AState, Action, BState, Call, ClientTxId, Leg, MediaState, TxMethod};
use crate::failure::{EndCause, FailureSide};

/// Where a move is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Moving {
    /// [`Action::MoveMedia`] is out; waiting for the new session.
    Allocating,
    /// Our re-INVITEs are out; these have no final answer yet.
    Offering(Vec<ClientTxId>),
}

impl<K: Clone> Call<K> {
    /// The node holding the session died: move the call if it is answered and idle, else end it.
    pub(super) fn on_media_lost(&mut self, now: Instant) {
        let answered = self.a_state == AState::Confirmed && self.b_state == BState::Confirmed;
        let idle = self.relays.is_empty()
            && self.moving.is_none()
            && !self.transferring
            && self.refer_pending.is_none()
            && self.origin_op.is_none()
            && !self.refresh_invite_pending()
            && self.cause.is_none();
        if self.media != MediaState::Allocated || !answered || !idle || self.b_dialog.is_none() {
            self.on_media_failed(now);
            return;
        }
        self.moving = Some(Moving::Allocating);
        let (mut a_sdp, mut b_sdp) = (self.accepted_sdp[0].clone(), self.accepted_sdp[1].clone());
        let (mut sent_a, mut sent_b) = (
            self.last_a_sdp.clone().unwrap_or_default(),
            self.last_b_sdp.clone(),
        );
        if self.media_flipped {
            // The node's legs face the call's legs the other way round.
            std::mem::swap(&mut a_sdp, &mut b_sdp);
            std::mem::swap(&mut sent_a, &mut sent_b);
        }
        self.actions.push_back(Action::MoveMedia {
            a_sdp,
            b_sdp,
            sent_a,
            sent_b,
        });
    }

    /// The new session is up: offer each leg its new address by re-INVITE.
    pub(super) fn on_media_moved(&mut self, a_offer: Vec<u8>, b_offer: Vec<u8>) {
        if self.moving != Some(Moving::Allocating) {
            return;
        }
        let (a_offer, b_offer) = if self.media_flipped {
            (b_offer, a_offer)
        } else {
            (a_offer, b_offer)
        };
        let mut pending = Vec::new();
        for (leg, offer) in [(Leg::A, a_offer), (Leg::B, b_offer)] {
            let Some(mut request) = self.leg_request(leg, Method::Invite) else {
                continue;
            };
            request.set_body(Some("application/sdp"), offer.clone());
            match leg {
                Leg::A => self.last_a_sdp = Some(offer),
                Leg::B => self.last_b_sdp = offer,
            }
            let seq = request.cseq().map(|c| c.seq).unwrap_or_default();
            self.send_request(leg, TxMethod::MoveInvite, request);
            let tx = ClientTxId(self.next_tx);
            self.remember_reinvite(tx, leg, seq);
            pending.push(tx);
        }
        self.moving = Some(Moving::Offering(pending));
    }

    /// A response (`None`: Timer B) to our moving re-INVITE `tx`: a 2xx is ACKed (again, when
    /// retransmitted) and its answer given to the node; a failure ends the call.
    pub(super) fn on_move_response(
        &mut self,
        now: Instant,
        tx: ClientTxId,
        response: Option<&Message<'_>>,
    ) {
        let status = response.and_then(Message::status).unwrap_or(408);
        if status < 200 {
            return;
        }
        let first = match self.moving.as_mut() {
            Some(Moving::Offering(pending)) if pending.contains(&tx) => {
                pending.retain(|t| *t != tx);
                true
            }
            _ => false,
        };
        if !(200..300).contains(&status) {
            if first {
                self.moving = None;
                let cause = EndCause::Failed {
                    side: FailureSide::Media,
                    status: 503,
                };
                self.abort(now, cause, 503, "Service Unavailable");
            }
            return;
        }
        self.ack_reinvite(tx);
        // A 2xx keeps its transaction record (for retransmissions): it names the leg.
        let leg = self.client_txs.iter().find(|t| t.id == tx).map(|t| t.leg);
        let (true, Some(leg)) = (first, leg) else {
            return;
        };
        if let Some(r) = response {
            let _ = self.dialog_mut(leg).map(|d| d.refresh_target(r));
            let answer = r.body().to_vec();
            if !answer.is_empty() {
                self.accepted_sdp[usize::from(leg == Leg::B)] = answer.clone();
                // Its rewrite is not sent anywhere; a failure ends the call (MediaUpdateFailed).
                self.update_media(leg, answer);
            }
        }
        if self.moving == Some(Moving::Offering(Vec::new())) {
            self.moving = None;
        }
    }
}
