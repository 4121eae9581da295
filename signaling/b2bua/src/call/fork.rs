//! Parallel forking of the B leg (a ring group, every contact of a user): besides the primary
//! B-leg INVITE, one INVITE per parallel route, each its own dialog attempt (Call-ID, tags, branch)
//! carrying the same offer. Their ringing is relayed upstream; the first 2xx wins — that branch
//! becomes the primary B leg and every other branch is cancelled (RFC 3261 §9.1: once it has sent a
//! provisional) or, when its 2xx crosses, ACKed and hung up. When the primary fails while branches
//! still ring, one of them takes its place; the caller gets a failure only when every branch has
//! failed, the most telling one (6xx, then 486 Busy, then the last).

use std::time::Instant;

use switchboard_sip::{Message, Method};

use super::{AState, UpstreamSdp};
use super::{BState, Call, CancelState, ClientTxId, Leg, RouteTarget, TxMethod, Upstream};
use crate::dialog::Dialog;

/// One parallel branch besides the primary B leg.
#[derive(Debug, Clone)]
pub(super) struct Fork {
    pub(super) route: RouteTarget,
    pub(super) invite: Message<'static>,
    pub(super) tx: ClientTxId,
    pub(super) provisional: bool,
    pub(super) cancel: CancelState,
}

impl<K: Clone> Call<K> {
    /// Sends the INVITE of every parallel route (after the primary one).
    pub(super) fn start_forks(&mut self) {
        for route in std::mem::take(&mut self.parallel_routes) {
            let Ok(invite) = self.build_b_invite_for(&route, self.b_offer.clone()) else {
                continue;
            };
            let tx =
                self.send_request_to(Leg::B, TxMethod::ForkInvite, invite.clone(), route.next_hop);
            self.forks.push(Fork {
                route,
                invite,
                tx,
                provisional: false,
                cancel: CancelState::NotWanted,
            });
        }
    }

    /// A response to a branch's INVITE.
    pub(super) fn on_fork_response(&mut self, now: Instant, tx: ClientTxId, r: &Message<'_>) {
        let Some(i) = self.forks.iter().position(|f| f.tx == tx) else {
            return;
        };
        let Some(status) = r.status() else { return };
        match status {
            100 => {}
            101..=199 => {
                let route = &self.forks[i].route;
                let hop = (route.next_hop, route.transport);
                let invite = self.forks[i].invite.clone();
                if self.accept_provisional(&invite, r, hop) {
                    self.on_fork_provisional(now, i);
                }
            }
            200..=299 => self.on_fork_success(now, i, r),
            _ => self.on_fork_failure(now, i, status),
        }
    }

    /// Timer B of a branch's INVITE: a 408 failure of that branch.
    pub(super) fn on_fork_timeout(&mut self, now: Instant, tx: ClientTxId) {
        if let Some(i) = self.forks.iter().position(|f| f.tx == tx) {
            self.on_fork_failure(now, i, 408);
        }
    }

    fn on_fork_provisional(&mut self, now: Instant, i: usize) {
        let first = !self.forks[i].provisional;
        self.forks[i].provisional = true;
        match self.forks[i].cancel {
            CancelState::Wanted => self.cancel_fork(i),
            CancelState::Sent => {}
            CancelState::NotWanted => {
                let room = self.upstream.len() < super::MAX_QUEUED_UPSTREAM;
                if first && self.a_state == AState::Proceeding && self.is_ringing() && room {
                    // A branch's early media is not relayed: the caller hears ringing from it.
                    self.upstream.push_back(Upstream {
                        status: 180,
                        reason: "Ringing".to_owned(),
                        sdp: UpstreamSdp::None,
                    });
                    self.flush_upstream_provisional(now);
                }
            }
        }
    }

    /// The first 2xx wins: the branch becomes the primary B leg; a later one is ACKed and hung up.
    fn on_fork_success(&mut self, now: Instant, i: usize, r: &Message<'_>) {
        let fork = self.forks.remove(i);
        let wins = self.is_ringing()
            && self.awaiting_answer()
            && fork.cancel == CancelState::NotWanted
            && self.cause.is_none();
        if !wins {
            self.hang_up_stray_branch(&fork, r);
            self.finish(now);
            return;
        }
        let old_invite = self.b_invite.take();
        let old_route = std::mem::replace(&mut self.route, fork.route);
        let old_state = self.b_state;
        for t in self.client_txs.iter_mut() {
            if t.id == fork.tx {
                t.method = TxMethod::Invite;
            }
        }
        // The former primary becomes a branch to cancel, with its transaction.
        if let (Some(invite), BState::Calling { provisional, .. }) = (old_invite, old_state) {
            let tx = self
                .client_txs
                .iter()
                .rev()
                .find(|t| t.leg == Leg::B && t.method == TxMethod::Invite && t.id != fork.tx)
                .map(|t| t.id);
            if let Some(tx) = tx {
                for t in self.client_txs.iter_mut() {
                    if t.id == tx {
                        t.method = TxMethod::ForkInvite;
                    }
                }
                self.forks.push(Fork {
                    route: old_route,
                    invite,
                    tx,
                    provisional,
                    cancel: CancelState::NotWanted,
                });
            }
        }
        self.b_invite = Some(fork.invite);
        self.b_dialog = None;
        self.b_state = BState::Calling {
            provisional: true,
            cancel: CancelState::NotWanted,
        };
        self.cancel_forks();
        self.on_b_success_response(now, r);
    }

    fn on_fork_failure(&mut self, now: Instant, i: usize, status: u16) {
        let fork = self.forks.remove(i);
        if fork.cancel == CancelState::NotWanted {
            self.note_branch_failure(status);
        }
        self.finish(now);
    }

    /// Remembers the most telling failure among the branches (RFC 3261 §16.7 in spirit: a 6xx,
    /// then 486 Busy Here, then whichever came last).
    pub(super) fn note_branch_failure(&mut self, status: u16) {
        let rank = |s: u16| match s {
            600..=699 => 3,
            486 => 2,
            487 => 0,
            _ => 1,
        };
        if self.branch_failure.is_none_or(|b| rank(status) >= rank(b)) {
            self.branch_failure = Some(status);
        }
    }

    /// The primary B leg failed: a branch still ringing takes its place. `false` when none is left.
    pub(super) fn promote_fork(&mut self) -> bool {
        let Some(i) = self
            .forks
            .iter()
            .position(|f| f.cancel == CancelState::NotWanted)
        else {
            return false;
        };
        let fork = self.forks.remove(i);
        for t in self.client_txs.iter_mut() {
            if t.id == fork.tx {
                t.method = TxMethod::Invite;
            }
        }
        self.route = fork.route;
        self.b_invite = Some(fork.invite);
        self.b_dialog = None;
        self.b_state = BState::Calling {
            provisional: fork.provisional,
            cancel: CancelState::NotWanted,
        };
        true
    }

    /// Cancels every branch (the call was answered elsewhere, or is being torn down).
    pub(super) fn cancel_forks(&mut self) {
        for i in 0..self.forks.len() {
            if self.forks[i].cancel == CancelState::NotWanted {
                self.forks[i].cancel = CancelState::Wanted;
                if self.forks[i].provisional {
                    self.cancel_fork(i);
                }
            }
        }
    }

    fn cancel_fork(&mut self, i: usize) {
        self.forks[i].cancel = CancelState::Sent;
        let next_hop = self.forks[i].route.next_hop;
        if let Some(cancel) = self.build_cancel(&self.forks[i].invite) {
            self.send_request_to(Leg::B, TxMethod::Cancel, cancel, next_hop);
        }
    }

    /// ACK and BYE for a branch whose 2xx lost the race (RFC 3261 §13.2.2.4).
    fn hang_up_stray_branch(&mut self, fork: &Fork, r: &Message<'_>) {
        let Ok(mut dialog) = Dialog::new_uac(&fork.invite, r) else {
            return;
        };
        let via = self.via_over(fork.route.transport);
        if let Ok(ack) = dialog.ack(&via) {
            self.actions.push_back(super::Action::SendAck {
                leg: Leg::B,
                request: ack,
                next_hop: fork.route.next_hop,
            });
        }
        let via = self.via_over(fork.route.transport);
        if let Ok(bye) = dialog.new_request(Method::Bye, &via, None) {
            self.send_request_to(Leg::B, TxMethod::StrayBye, bye, fork.route.next_hop);
        }
    }
}
