//! Relaying B's responses to the caller in order: each provisional or 2xx is queued; one whose SDP
//! the media node is still rewriting holds back every later one, so a 200 never overtakes its 183.

use std::time::Instant;

use super::{AState, Action, Call, Leg, MediaOp, UpstreamSdp, deadline};

impl<K: Clone> Call<K> {
    pub(super) fn on_media_updated(&mut self, now: Instant, op: MediaOp, sdp: Vec<u8>) {
        if self.origin_op == Some(op) {
            self.call_second_party(now, sdp);
            return;
        }
        let waiting = UpstreamSdp::Waiting(op);
        if let Some(u) = self.upstream.iter_mut().find(|u| u.sdp == waiting) {
            u.sdp = UpstreamSdp::Ready(sdp.clone());
            self.last_a_sdp = Some(sdp);
        }
        self.flush_upstream(now);
    }

    /// Asks the media node to take B's SDP (when there is one).
    pub(super) fn media_update(&mut self, body: &[u8]) -> UpstreamSdp {
        if body.is_empty() {
            return UpstreamSdp::None;
        }
        self.accepted_sdp[1] = body.to_vec();
        UpstreamSdp::Waiting(self.update_media(Leg::B, body.to_vec()))
    }

    /// Asks the media node to take `sdp` from `leg`; returns the update's id.
    pub(super) fn update_media(&mut self, leg: Leg, sdp: Vec<u8>) -> MediaOp {
        self.next_op += 1;
        let op = MediaOp(self.next_op);
        // After the caller transferred the callee, the node's legs face the call's the other way.
        let leg = match (self.media_flipped, leg) {
            (false, leg) => leg,
            (true, Leg::A) => Leg::B,
            (true, Leg::B) => Leg::A,
        };
        self.actions.push_back(Action::UpdateMedia { op, leg, sdp });
        op
    }

    /// Sends the queued provisional responses whose SDP is ready, in order, up to the first 2xx.
    pub(super) fn flush_upstream_provisional(&mut self, now: Instant) {
        while let Some(front) = self.upstream.front() {
            if matches!(front.sdp, UpstreamSdp::Waiting(_)) || front.status >= 200 {
                break;
            }
            if !self.pop_upstream(now) {
                break;
            }
        }
    }

    /// Sends every queued response whose SDP is ready, in order.
    pub(super) fn flush_upstream(&mut self, now: Instant) {
        while let Some(front) = self.upstream.front() {
            if matches!(front.sdp, UpstreamSdp::Waiting(_)) {
                break;
            }
            if !self.pop_upstream(now) {
                break;
            }
        }
    }

    /// Sends the first queued response; `false` (nothing sent) while the caller has not yet
    /// acknowledged our last reliable provisional response: RFC 3262 §3 allows no second one
    /// before that, and we hold the 2xx too, so it never overtakes the 1xx being retransmitted.
    fn pop_upstream(&mut self, now: Instant) -> bool {
        if self.awaiting_prack() {
            return false;
        }
        let Some(u) = self.upstream.pop_front() else {
            return false;
        };
        if self.a_state != AState::Proceeding {
            return true;
        }
        let sdp = match u.sdp {
            UpstreamSdp::Ready(s) => Some(s),
            UpstreamSdp::Latest => self.last_a_sdp.clone(),
            UpstreamSdp::None | UpstreamSdp::Waiting(_) => None,
        };
        // Late offer: our offer goes in the 2xx only (an unreliable 1xx cannot carry it).
        let sdp = sdp.filter(|_| !self.late_offer || u.status >= 200);
        if u.status < 200 && self.reliable_a.is_some() {
            self.respond_a_reliably(now, u.status, u.reason, sdp);
            return true;
        }
        self.respond_a(u.status, u.reason, sdp);
        if (200..=299).contains(&u.status) {
            self.a_dialog.confirm();
            self.a_status = Some(u.status);
            self.answered_at = Some(now);
            self.a_state = AState::AwaitingAck {
                deadline: deadline(now, self.config.ack_timeout),
            };
            if let Some(Action::Respond { response, .. }) = self.actions.back() {
                let at = deadline(now, self.config.t1);
                self.a_resend = Some((Box::new(response.clone()), at, self.config.t1));
            }
            self.session_refreshed(now);
        }
        true
    }
}
