//! Reliable provisional responses towards the caller (RFC 3262 §3). A caller whose INVITE says
//! `Require: 100rel` gets every provisional response but 100 reliably: with `Require: 100rel` and
//! an `RSeq` (random start, one up each time), retransmitted from T1 doubling until its PRACK, and
//! the next response (1xx or 2xx) only after that PRACK. A PRACK is answered 200 when its `RAck`
//! names the response waiting for it, else 481. Without a PRACK after 64*T1 the INVITE is
//! refused with 504 and the callee's leg is hung up. A caller that only says
//! `Supported: 100rel` gets unreliable provisionals, as the RFC allows.
//! Offers in PRACK are not taken (488): our reliable responses carry either an answer or no
//! SDP, so a PRACK has nothing to answer.

use std::time::{Duration, Instant};

use switchboard_sip::{HeaderName, Message, Method};

use super::{AState, Action, Call, deadline};
use crate::failure::{EndCause, FailureSide};

/// The caller asked for reliable provisional responses.
#[derive(Debug, Clone)]
pub(super) struct ReliableA {
    next_rseq: u32,
    unacked: Option<Unacked>,
}

/// The reliable provisional response waiting for its PRACK.
#[derive(Debug, Clone)]
struct Unacked {
    response: Box<Message<'static>>,
    rseq: u32,
    at: Instant,
    interval: Duration,
    give_up: Instant,
}

impl ReliableA {
    /// A fresh RSeq space starting at a value in 1..2^31 taken from `token` (RFC 3262 §3: the
    /// first RSeq is random, below 2^31 so it never wraps).
    pub(super) fn new(token: &str) -> Self {
        let hash = token.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        Self {
            next_rseq: hash % 0x7fff_0000 + 1,
            unacked: None,
        }
    }
}

/// Whether the caller's INVITE requires reliable provisional responses.
pub(super) fn required(invite: &Message<'_>) -> bool {
    invite
        .require()
        .is_ok_and(|r| r.iter().any(|t| t.eq_ignore_ascii_case("100rel")))
}

impl<K: Clone> Call<K> {
    /// A reliable provisional response to the caller waits for its PRACK.
    pub(super) fn awaiting_prack(&self) -> bool {
        self.reliable_a
            .as_ref()
            .is_some_and(|r| r.unacked.is_some())
    }

    /// Sends a provisional response to the caller reliably and starts its retransmissions.
    pub(super) fn respond_a_reliably(
        &mut self,
        now: Instant,
        status: u16,
        reason: String,
        sdp: Option<Vec<u8>>,
    ) {
        let (Some(tx), Some(reliable)) = (self.a_tx.clone(), self.reliable_a.as_mut()) else {
            return;
        };
        let rseq = reliable.next_rseq;
        reliable.next_rseq = rseq.wrapping_add(1);
        let mut response = self.a_response(status, reason, sdp);
        response.push_header(HeaderName::Require, "100rel");
        response.push_header(HeaderName::RSeq, rseq.to_string());
        let t1 = self.config.t1;
        if let Some(reliable) = self.reliable_a.as_mut() {
            reliable.unacked = Some(Unacked {
                response: Box::new(response.clone()),
                rseq,
                at: deadline(now, t1),
                interval: t1,
                give_up: deadline(now, t1.saturating_mul(64)),
            });
        }
        self.actions.push_back(Action::Respond { tx, response });
    }

    /// When the reliable provisional response is due again (or given up on).
    pub(super) fn prack_timeout(&self) -> Option<Instant> {
        if self.a_state != AState::Proceeding {
            return None;
        }
        let u = self.reliable_a.as_ref()?.unacked.as_ref()?;
        Some(u.at.min(u.give_up))
    }

    /// Retransmits the unacknowledged reliable provisional response, or gives up on the call.
    pub(super) fn prack_timers(&mut self, now: Instant) {
        if self.prack_timeout().is_none_or(|t| t > now) {
            return;
        }
        let Some(u) = self.reliable_a.as_mut().and_then(|r| r.unacked.as_mut()) else {
            return;
        };
        if u.give_up <= now {
            if let Some(r) = self.reliable_a.as_mut() {
                r.unacked = None;
            }
            let cause = EndCause::Failed {
                side: FailureSide::ALeg,
                status: 504,
            };
            self.abort(now, cause, 504, "Provisional Response Not Acknowledged");
            return;
        }
        u.interval = u.interval.saturating_mul(2);
        u.at = deadline(now, u.interval);
        let response = (*u.response).clone();
        if let Some(tx) = self.a_tx.clone() {
            self.actions.push_back(Action::Respond { tx, response });
        }
    }

    /// A PRACK from the caller: 200 when it acknowledges the response waiting for it (then the
    /// responses queued behind it go out), 481 when it names no such response (§3), 488 when it
    /// carries an offer.
    pub(super) fn on_prack(&mut self, now: Instant, tx: K, request: &Message<'static>) {
        let invite_seq = self.a_invite.cseq().map(|c| c.seq).ok();
        let rack = request.rack().ok().flatten();
        let waiting = self
            .reliable_a
            .as_ref()
            .and_then(|r| r.unacked.as_ref())
            .map(|u| u.rseq);
        let acknowledges = match (rack, waiting) {
            (Some(r), Some(rseq)) => {
                r.rseq == rseq && Some(r.cseq) == invite_seq && r.method == Method::Invite
            }
            _ => false,
        };
        if !acknowledges || self.a_state != AState::Proceeding {
            let response = request.response(481, "No Matching Provisional Response");
            self.respond(tx, response);
            return;
        }
        if !request.body().is_empty() {
            self.respond(tx, request.response(488, "Offer In PRACK Not Accepted"));
            return;
        }
        if let Some(r) = self.reliable_a.as_mut() {
            r.unacked = None;
        }
        self.respond(tx, request.response(200, "OK"));
        self.flush_upstream(now);
    }
}
