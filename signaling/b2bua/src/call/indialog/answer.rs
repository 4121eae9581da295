//! The other leg's answer to a relayed request, and the offerer's ACK: media rewrites of the answer,
//! final responses relayed back, 2xx retransmissions until the ACK (RFC 3261 §13.3.1.4), ACKs of
//! our re-INVITEs on each leg, timeouts, and 487 for what is pending when the call ends.

use std::time::Instant;

use switchboard_sip::{HeaderName, Message};

use super::{Relay, RelayKind, Stage, index, other, reason};
use crate::call::{Action, Call, ClientTx, ClientTxId, Leg, MediaOp, TxMethod, deadline};
use crate::failure::{EndCause, FailureSide};

impl<K: Clone> Call<K> {
    /// A media update finished (`Some(sdp)`) or failed (`None`); false when it is not a relay's.
    pub(in crate::call) fn on_relay_media(
        &mut self,
        now: Instant,
        op: MediaOp,
        sdp: Option<Vec<u8>>,
    ) -> bool {
        if let Some(i) = self.restore_ops.iter().position(|o| *o == op) {
            self.restore_ops.swap_remove(i);
            return true;
        }
        let found = self.relays.iter().position(|r| match &r.stage {
            Stage::RewritingOffer(o) => *o == op,
            Stage::RewritingAnswer { op: o, .. } => *o == op,
            _ => false,
        });
        let Some(i) = found else {
            return false;
        };
        let relay = self.relays.remove(i);
        match (relay.stage.clone(), sdp) {
            (Stage::RewritingOffer(_), Some(offer)) => self.send_relayed(now, relay, offer),
            // The node refused the offer: unusable SDP for the offerer, session unchanged.
            (Stage::RewritingOffer(_), None) => self.fail_relay(now, relay, 488),
            (Stage::RewritingAnswer { status, answer, .. }, Some(rewritten)) => {
                self.accepted_sdp[index(relay.from)] = relay.request.body().to_vec();
                self.accepted_sdp[index(other(relay.from))] = answer;
                self.answer_relay(now, relay, status, rewritten, None);
            }
            (Stage::RewritingAnswer { .. }, None) => {
                // The other leg took the offer but its answer cannot be anchored: the legs
                // disagree about the session, so the call ends.
                self.answer_relay(now, relay, 500, Vec::new(), None);
                let cause = EndCause::Failed {
                    side: FailureSide::Media,
                    status: 503,
                };
                self.abort(now, cause, 503, "Service Unavailable");
            }
            (Stage::Sent(_) | Stage::AwaitingAck { .. }, _) => self.relays.push(relay),
        }
        true
    }

    /// A response on a client transaction of a relayed request.
    pub(in crate::call) fn on_relay_response(
        &mut self,
        now: Instant,
        record: ClientTx,
        response: &Message<'_>,
    ) {
        let Some(status) = response.status() else {
            return;
        };
        if status < 200 {
            return; // Provisionals are not relayed; the offerer's transaction sends its own 100.
        }
        if status < 300 {
            // §12.2.1.2: a 2xx to a target refresh updates the remote target (the ACK goes there).
            if let Some(d) = self.dialog_mut(record.leg) {
                let _ = d.refresh_target(response);
            }
            if record.method == TxMethod::ReInvite {
                self.ack_reinvite(record.id);
            }
        }
        let found = self
            .relays
            .iter()
            .position(|r| r.stage == Stage::Sent(record.id));
        let Some(i) = found else {
            return; // A 2xx retransmission (ACKed again above), or the call is ending.
        };
        let relay = self.relays.remove(i);
        if matches!(status, 401 | 407) && record.leg == Leg::B && !relay.challenged {
            // RFC 3261 §22.2: a trunk may challenge any request; it goes again once with the
            // route's credentials (the same body it carried).
            let body = match (relay.offer, self.sent_sdp(Leg::B)) {
                (true, Some(sdp)) => sdp,
                _ => relay.request.body().to_vec(),
            };
            self.send_relayed_answering(now, relay, body, Some(response));
            return;
        }
        if status >= 300 {
            self.fail_relay(now, relay, status);
            if status == 481 {
                // RFC 3261 §12.2.1.2: the other leg's dialog is gone; so is the call.
                let cause = EndCause::Failed {
                    side: FailureSide::BLeg,
                    status: 481,
                };
                self.abort(now, cause, 481, "Call/Transaction Does Not Exist");
            }
            return;
        }
        let to = other(relay.from);
        if relay.kind != RelayKind::Info {
            self.leg_refreshed(now, to);
        }
        if relay.offer_answer() && !response.body().is_empty() {
            let answer = response.body().to_vec();
            let op = self.update_media(to, answer.clone());
            let mut relay = relay;
            relay.stage = Stage::RewritingAnswer { op, status, answer };
            self.relays.push(relay);
            return;
        }
        let content_type = response.header(&HeaderName::ContentType).map(str::to_owned);
        let body = response.body().to_vec();
        self.answer_relay(now, relay, status, body, content_type);
    }

    /// ACKs (again) the 2xx to the re-INVITE sent as `tx`.
    pub(in crate::call) fn ack_reinvite(&mut self, tx: ClientTxId) {
        let Some(i) = self.reinvite_acks.iter().position(|a| a.tx == tx) else {
            return;
        };
        let entry = self.reinvite_acks.get(i).cloned();
        let Some(entry) = entry else { return };
        let via = self.via(entry.leg);
        let ack = match entry.ack {
            Some(ack) => Some(ack),
            None => match entry.leg {
                Leg::A => self.a_dialog.ack_for(entry.seq, &via).ok(),
                Leg::B => self
                    .b_dialog
                    .as_ref()
                    .and_then(|d| d.ack_for(entry.seq, &via).ok()),
            },
        };
        let Some(ack) = ack else { return };
        if let Some(e) = self.reinvite_acks.get_mut(i) {
            e.ack = Some(ack.clone());
        }
        let next_hop = self.next_hop(entry.leg);
        self.actions.push_back(Action::SendAck {
            leg: entry.leg,
            request: ack,
            next_hop,
        });
    }

    /// The relayed request ended without a final response (Timer B/F): 408 to the offerer, the
    /// session unchanged.
    pub(in crate::call) fn on_relay_timeout(&mut self, now: Instant, tx: ClientTxId) {
        self.reinvite_acks.retain(|a| a.tx != tx);
        if let Some(i) = self.relays.iter().position(|r| r.stage == Stage::Sent(tx)) {
            let relay = self.relays.remove(i);
            self.fail_relay(now, relay, 408);
        }
    }

    /// Answers the relay's request with a failure; an offer's leg goes back to its previous SDP.
    pub(super) fn fail_relay(&mut self, now: Instant, relay: Relay<K>, status: u16) {
        if relay.offer {
            let previous = self.accepted_sdp[index(relay.from)].clone();
            if !previous.is_empty() {
                let op = self.update_media(relay.from, previous);
                self.restore_ops.push(op);
            }
        }
        self.answer_relay(now, relay, status, Vec::new(), None);
    }

    /// Sends the final response to the relay's request; a 2xx to a re-INVITE waits for its ACK.
    pub(super) fn answer_relay(
        &mut self,
        now: Instant,
        mut relay: Relay<K>,
        status: u16,
        body: Vec<u8>,
        content_type: Option<String>,
    ) {
        let mut r = relay.request.response(status, reason(status)).into_owned();
        let success = (200..300).contains(&status);
        if success && relay.kind != RelayKind::Info {
            r.push_header(
                HeaderName::Contact,
                format!("<{}>", self.contact(relay.from)),
            );
            self.add_session_expires_on(relay.from, &mut r);
            self.leg_refreshed(now, relay.from);
        }
        if relay.offer && !body.is_empty() {
            match relay.from {
                Leg::A => self.last_a_sdp = Some(body.clone()),
                Leg::B => self.last_b_sdp = body.clone(),
            }
        }
        if !body.is_empty() {
            let ct = match content_type {
                Some(ct) => ct,
                None => "application/sdp".to_owned(),
            };
            r.set_body(Some(&ct), body);
        }
        self.respond(relay.tx.clone(), r.clone());
        if success && relay.kind == RelayKind::Invite {
            relay.stage = Stage::AwaitingAck {
                response: Box::new(r),
                resend_at: deadline(now, self.config.t1),
                interval: self.config.t1,
                give_up: deadline(now, self.config.ack_timeout),
            };
            self.relays.push(relay);
        }
    }

    /// An ACK for our 2xx to a relayed re-INVITE; false when it is not one.
    pub(in crate::call) fn on_relay_ack(&mut self, ack: &Message<'_>) -> bool {
        let Some(leg) = ack.call_id().ok().and_then(|c| self.leg_of(c)) else {
            return false;
        };
        let seq = ack.cseq().map(|c| c.seq).ok();
        let found = self.relays.iter().position(|r| {
            r.from == leg && r.answered() && r.request.cseq().map(|c| c.seq).ok() == seq
        });
        let Some(i) = found else {
            return false;
        };
        let matches = self.dialog_mut(leg).is_some_and(|d| d.matches_request(ack));
        if matches {
            let relay = self.relays.remove(i);
            if relay.local_offer && !ack.body().is_empty() {
                // RFC 3261 §13.2.1: the answer to our offer in the 2xx is in the ACK. The other
                // leg keeps its session: only the node follows this leg.
                self.accepted_sdp[index(leg)] = ack.body().to_vec();
                let op = self.update_media(leg, ack.body().to_vec());
                self.restore_ops.push(op);
            }
        }
        matches
    }

    /// Pending offers: the earliest 2xx retransmission or ACK deadline.
    pub(in crate::call) fn relay_timeout(&self) -> Option<Instant> {
        self.relays
            .iter()
            .filter_map(|r| match &r.stage {
                Stage::AwaitingAck {
                    resend_at, give_up, ..
                } => Some((*resend_at).min(*give_up)),
                _ => None,
            })
            .min()
    }

    /// Retransmits 2xx responses to re-INVITEs (T1 doubling to T2); a re-INVITE whose ACK never
    /// came ends the call (§13.3.1.4).
    pub(in crate::call) fn relay_timers(&mut self, now: Instant) {
        let mut expired = false;
        let t2 = self.config.t2;
        let mut resend = Vec::new();
        for r in &mut self.relays {
            if let Stage::AwaitingAck {
                response,
                resend_at,
                interval,
                give_up,
            } = &mut r.stage
            {
                if *give_up <= now {
                    expired = true;
                } else if *resend_at <= now {
                    resend.push((r.tx.clone(), (**response).clone()));
                    *interval = interval.saturating_mul(2).min(t2);
                    *resend_at = deadline(now, *interval);
                }
            }
        }
        for (tx, response) in resend {
            self.respond(tx, response);
        }
        if expired {
            self.relays.retain(
                |r| !matches!(&r.stage, Stage::AwaitingAck { give_up, .. } if *give_up <= now),
            );
            self.on_ack_timeout(now);
        }
    }

    /// The call is ending: every relayed request not answered yet gets `status` (§15.1.2: 487).
    pub(in crate::call) fn end_relays(&mut self, status: u16) {
        for relay in std::mem::take(&mut self.relays) {
            if !relay.answered() {
                let r = relay.request.response(status, reason(status)).into_owned();
                self.respond(relay.tx, r);
            }
        }
        self.restore_ops.clear();
    }
}
