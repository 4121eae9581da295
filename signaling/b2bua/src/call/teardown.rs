//! Every way a call ends: CANCEL, BYE from either leg, failures and timeouts; in-dialog requests
//! (RFC 3261 §12.2.2) and the ACK for our 2xx; the final media release and [`Action::Ended`].

use std::time::Instant;

use switchboard_sip::{HeaderName, Message, Method};

use super::{AState, Action, BState, Call, CancelState, ClientTxId, Leg, MediaState, TxMethod};
use crate::failure::EndCause;

impl<K: Clone> Call<K> {
    /// Ends the call for `cause`: `status` to A when it has no final response yet (BYE when it has),
    /// CANCEL or BYE to B, then [`Call::finish`].
    pub(super) fn abort(&mut self, now: Instant, cause: EndCause, status: u16, reason: &str) {
        self.set_cause(cause);
        self.end_relays(487);
        if matches!(self.a_state, AState::Proceeding | AState::Originating) {
            self.end_a(status, reason.to_owned());
        } else {
            self.hangup_a();
        }
        self.hangup_b();
        self.finish(now);
    }

    /// Sends a final non-2xx to the A-leg INVITE; the A leg is then done. (An originated call
    /// that never reached its first party just records `status`.)
    pub(super) fn end_a(&mut self, status: u16, reason: String) {
        if !matches!(self.a_state, AState::Proceeding | AState::Originating) {
            return;
        }
        self.upstream.clear();
        self.respond_a(status, reason, None);
        self.a_status = Some(status);
        self.a_state = AState::Terminated;
        self.a_dialog.terminate();
    }

    /// BYE to A when its dialog is up (2xx sent).
    pub(super) fn hangup_a(&mut self) {
        if !matches!(self.a_state, AState::AwaitingAck { .. } | AState::Confirmed) {
            return;
        }
        let via = self.via(Leg::A);
        let contact = self.contact(Leg::A);
        match self.a_dialog.new_request(Method::Bye, &via, Some(&contact)) {
            Ok(mut bye) => {
                self.add_reason(&mut bye);
                self.a_state = AState::ByeSent;
                self.send_request(Leg::A, TxMethod::Bye, bye);
            }
            Err(_) => {
                self.a_state = AState::Terminated;
                self.a_dialog.terminate();
            }
        }
    }

    /// CANCEL (or BYE once answered) to B; a B leg never started is simply done.
    pub(super) fn hangup_b(&mut self) {
        self.cancel_forks();
        match self.b_state {
            BState::NotStarted => self.b_state = BState::Terminated,
            BState::Calling {
                provisional,
                cancel: CancelState::NotWanted,
            } => {
                self.b_state = BState::Calling {
                    provisional,
                    cancel: CancelState::Wanted,
                };
                // RFC 3261 §9.1: no CANCEL before a provisional response; it goes out on the first one.
                if provisional {
                    self.send_cancel();
                }
            }
            BState::Confirmed => match self.b_request(Method::Bye) {
                Some(mut bye) => {
                    self.add_reason(&mut bye);
                    self.b_state = BState::ByeSent;
                    self.send_request(Leg::B, TxMethod::Bye, bye);
                }
                None => self.terminate_b(),
            },
            BState::Calling { .. } | BState::ByeSent | BState::Terminated => {}
        }
    }

    /// The CANCEL for the B-leg INVITE (RFC 3261 §9.1): same Request-URI, Call-ID, From, To, top Via
    /// and CSeq number as the INVITE, method CANCEL.
    pub(super) fn send_cancel(&mut self) {
        let BState::Calling { provisional, .. } = self.b_state else {
            return;
        };
        self.b_state = BState::Calling {
            provisional,
            cancel: CancelState::Sent,
        };
        let Some(invite) = self.b_invite.as_ref() else {
            return;
        };
        if let Some(cancel) = self.build_cancel(invite) {
            self.send_request(Leg::B, TxMethod::Cancel, cancel);
        }
    }

    /// A new request in the B-leg dialog with a fresh Via and our Contact; `None` without one.
    pub(super) fn b_request(&mut self, method: Method<'static>) -> Option<Message<'static>> {
        self.leg_request(Leg::B, method)
    }

    /// A new request in `leg`'s dialog with a fresh Via and our Contact for that leg; `None`
    /// without a dialog (or when its CSeq space is used up).
    pub(super) fn leg_request(
        &mut self,
        leg: Leg,
        method: Method<'static>,
    ) -> Option<Message<'static>> {
        let via = self.via(leg);
        let contact = self.contact(leg);
        self.dialog_mut(leg)
            .and_then(|d| d.new_request(method, &via, Some(&contact)).ok())
    }

    /// The CANCEL for one of our INVITEs (RFC 3261 §9.1): same Request-URI, Call-ID, From, To, top
    /// Via and CSeq number, method CANCEL, with our Reason.
    pub(super) fn build_cancel(&self, invite: &Message<'_>) -> Option<Message<'static>> {
        let uri = invite.request_uri().map(|u| u.to_string()).ok()?;
        let mut cancel = Message::new_request(Method::Cancel, uri).ok()?;
        let copy = [
            HeaderName::Via,
            HeaderName::MaxForwards,
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
        ];
        for name in copy {
            if let Some(v) = invite.header(&name) {
                cancel.push_header(name, v.to_owned());
            }
        }
        let seq = invite.cseq().map(|c| c.seq).unwrap_or(1);
        cancel.push_header(HeaderName::CSeq, format!("{seq} CANCEL"));
        self.add_reason(&mut cancel);
        cancel.push_header(HeaderName::ContentLength, "0");
        Some(cancel)
    }

    /// RFC 3515 REFER from `referrer`: transfer the other party to the Refer-To target. Answered
    /// 202 and handed to the driver ([`Action::Transfer`]) when both legs are answered and nothing
    /// else is in flight; `491` while busy, `400` without a usable SIP Refer-To.
    fn on_refer(&mut self, tx: K, request: &Message<'static>, referrer: Leg) {
        let target = match request.refer_to() {
            Ok(Some(to)) => to.uri.user_decoded().map(|u| u.into_owned()),
            _ => None,
        };
        let Some(target) = target.filter(|t| !t.is_empty()) else {
            self.respond(tx, request.response(400, "Bad Refer-To"));
            return;
        };
        let idle = self.relays.is_empty()
            && !self.transferring
            && self.refer_pending.is_none()
            && self.moving.is_none();
        let answered = self.a_state == AState::Confirmed && self.b_state == BState::Confirmed;
        if !idle || !answered || self.cause.is_some() {
            self.respond(tx, request.response(491, "Request Pending"));
            return;
        }
        self.respond(tx, request.response(202, "Accepted"));
        self.refer_pending = Some(referrer);
        self.actions
            .push_back(Action::Transfer { target, referrer });
    }

    /// The driver could not route a REFER's target: the referrer is told `status` by NOTIFY and
    /// the call goes on.
    pub fn refer_failed(&mut self, status: u16) {
        if self.ended {
            return;
        }
        if let Some(leg) = self.refer_pending.take() {
            self.notify_refer(leg, status);
        }
    }

    /// NOTIFY to the referrer `leg` with the REFER's final outcome as a sipfrag (RFC 3515 §2.4.5),
    /// ending the implicit subscription.
    pub(super) fn notify_refer(&mut self, leg: Leg, status: u16) {
        let Some(mut notify) = self.leg_request(leg, Method::Notify) else {
            return;
        };
        notify.push_header(HeaderName::Event, "refer");
        notify.push_header(
            HeaderName::SubscriptionState,
            "terminated;reason=noresource",
        );
        let reason = if status < 300 { "OK" } else { "Failed" };
        notify.set_body(
            Some("message/sipfrag;version=2.0"),
            format!("SIP/2.0 {status} {reason}\r\n").into_bytes(),
        );
        self.send_request(leg, TxMethod::Notify, notify);
    }

    /// Blind transfer of the caller: B's leg is hung up and `route` called instead on the same
    /// media session; the caller stays connected (its media keeps flowing to the same node
    /// address) and hears the new callee once it answers. If the new callee refuses or does not
    /// answer within the ring timeout, the caller is hung up. `false` (nothing done) unless both
    /// legs are answered and no in-dialog request is in flight.
    pub fn transfer_b(&mut self, now: Instant, route: super::RouteTarget) -> bool {
        let idle = self.relays.is_empty() && self.cause.is_none() && !self.transferring;
        if self.a_state != AState::Confirmed || self.b_state != BState::Confirmed || !idle {
            self.refer_failed(500);
            return false;
        }
        if let Some(leg) = self.refer_pending.take() {
            // The referrer (the callee; a referring caller was swapped to B) learns the transfer
            // is under way, then is hung up.
            self.notify_refer(leg, 200);
        }
        if let Some(bye) = self.b_request(Method::Bye) {
            // Its outcome does not matter any more: the leg is replaced.
            self.send_request(Leg::B, TxMethod::StrayBye, bye);
        }
        if let Some(d) = self.b_dialog.as_mut() {
            d.terminate();
        }
        self.b_dialog = None;
        self.route = route;
        self.fallback_routes.clear();
        self.b_state = BState::NotStarted;
        self.transferring = true;
        self.start_b(now);
        true
    }

    /// RFC 3326: our BYE and CANCEL say why, as the Q.850 cause of the call's end.
    pub(super) fn add_reason(&self, m: &mut Message<'static>) {
        if let Some(cause) = self.cause {
            let cause = cause.hangup_cause().q850();
            m.push_header(HeaderName::Reason, format!("Q.850;cause={cause}"));
        }
    }

    fn terminate_b(&mut self) {
        self.b_state = BState::Terminated;
        if let Some(d) = self.b_dialog.as_mut() {
            d.terminate();
        }
    }

    /// Final response (or timeout) of our BYE on `leg`.
    pub(super) fn on_bye_done(&mut self, now: Instant, leg: Leg) {
        match leg {
            Leg::A if self.a_state == AState::ByeSent => {
                self.a_state = AState::Terminated;
                self.a_dialog.terminate();
            }
            Leg::B if self.b_state == BState::ByeSent => self.terminate_b(),
            Leg::A | Leg::B => {}
        }
        self.finish(now);
    }

    pub(super) fn on_client_timeout(&mut self, now: Instant, tx: ClientTxId) {
        let Some(record) = self.client_txs.iter().find(|t| t.id == tx).copied() else {
            return;
        };
        self.client_txs.retain(|t| t.id != tx);
        match record.method {
            // Timer B: the callee never answered finally; 408 is mapped upstream.
            TxMethod::Invite => {
                if matches!(self.b_state, BState::Calling { .. }) {
                    self.on_b_failure(now, 408);
                }
            }
            TxMethod::Bye => self.on_bye_done(now, record.leg),
            TxMethod::ForkInvite => self.on_fork_timeout(now, tx),
            TxMethod::ReInvite | TxMethod::Relay => self.on_relay_timeout(now, tx),
            TxMethod::RefreshInvite | TxMethod::RefreshUpdate => {
                self.on_refresh_done(now, (tx, record.leg), None)
            }
            TxMethod::MoveInvite => self.on_move_response(now, tx, None),
            TxMethod::Cancel
            | TxMethod::StrayBye
            | TxMethod::Notify
            | TxMethod::Prack
            | TxMethod::OriginInvite => {}
        }
    }

    /// The caller's ACK for our 2xx confirms the A leg (after a late offer it carries the answer,
    /// given to the node; one without ends the call); an ACK for our 2xx to a relayed re-INVITE
    /// completes it.
    pub(super) fn on_ack(&mut self, now: Instant, request: &Message<'_>) {
        if self.on_relay_ack(request) {
            return;
        }
        if !matches!(self.a_state, AState::AwaitingAck { .. }) {
            return;
        }
        let seq_ok = request
            .cseq()
            .is_ok_and(|c| c.seq == self.a_dialog.invite_seq());
        if seq_ok && self.a_dialog.receive_request(request).is_ok() {
            self.a_state = AState::Confirmed;
            self.a_resend = None;
            if std::mem::take(&mut self.late_offer) {
                self.on_late_answer(now, request.body());
            }
        }
    }

    /// The caller's answer to our offer in the 2xx (late offer), from its ACK.
    fn on_late_answer(&mut self, now: Instant, answer: &[u8]) {
        if answer.is_empty() {
            // RFC 3261 §13.2.2.4: the ACK must carry the answer; without one there is no session.
            let cause = EndCause::Failed {
                side: crate::failure::FailureSide::ALeg,
                status: 488,
            };
            self.abort(now, cause, 488, "Not Acceptable Here");
            return;
        }
        self.accepted_sdp[0] = answer.to_vec();
        // Its rewrite goes nowhere (B has its answer); a failure ends the call.
        self.update_media(Leg::A, answer.to_vec());
    }

    /// An in-dialog request (RFC 3261 §12.2.2): 481 when it matches no dialog, 500 when out of order;
    /// BYE is answered 200 and ends the call; OPTIONS gets 200; re-INVITE, UPDATE and INFO are
    /// relayed to the other leg (`indialog`); a REFER transfers the other party; anything else
    /// (PRACK, MESSAGE, ...) gets 501 and leaves the session unchanged.
    pub(super) fn on_request(&mut self, now: Instant, tx: K, request: &Message<'static>) {
        match request.method() {
            // Neither is answered: an ACK for our 2xx, or a CANCEL the driver should have matched.
            Some(Method::Ack) => return self.on_ack(now, request),
            Some(Method::Cancel) => return,
            _ => {}
        }
        let leg = request.call_id().ok().and_then(|c| self.leg_of(c));
        let checked = match leg {
            Some(Leg::A) => self.a_dialog.receive_request(request).map(|()| Leg::A),
            Some(Leg::B) => match self.b_dialog.as_mut() {
                Some(d) => d.receive_request(request).map(|()| Leg::B),
                None => Err(crate::dialog::RequestRejection::NoMatch),
            },
            None => Err(crate::dialog::RequestRejection::NoMatch),
        };
        let leg = match checked {
            Ok(leg) => leg,
            Err(rejection) => {
                let (status, reason) = rejection.status();
                self.respond(tx, request.response(status, reason));
                return;
            }
        };
        match request.method() {
            Some(Method::Bye) => {
                self.respond(tx, request.response(200, "OK"));
                self.on_bye_received(now, leg);
            }
            Some(Method::Options) => self.respond(tx, request.response(200, "OK")),
            Some(Method::Invite | Method::Update | Method::Info) => {
                self.on_relayable(now, leg, tx, request);
            }
            Some(Method::Refer) => self.on_refer(tx, request, leg),
            Some(Method::Prack) if leg == Leg::A => self.on_prack(now, tx, request),
            _ => self.respond(tx, request.response(501, "Not Implemented")),
        }
    }

    pub(super) fn respond(&mut self, tx: K, response: Message<'static>) {
        self.actions.push_back(Action::Respond { tx, response });
    }

    fn on_bye_received(&mut self, now: Instant, leg: Leg) {
        // RFC 3261 §15.1.2: requests still pending in the dialog get 487.
        self.end_relays(487);
        match leg {
            Leg::A => {
                let answered = self.a_state != AState::Proceeding;
                self.set_cause(if answered {
                    EndCause::HangUp(Leg::A)
                } else {
                    EndCause::CallerCancelled
                });
                // A BYE on the early dialog: the pending INVITE gets 487 (RFC 3261 §15.1.2).
                self.end_a(487, "Request Terminated".to_owned());
                self.a_state = AState::Terminated;
                self.a_dialog.terminate();
                self.hangup_b();
            }
            Leg::B => {
                let answered = self.b_state != BState::Terminated
                    && !matches!(self.b_state, BState::Calling { .. });
                self.terminate_b();
                if answered {
                    self.set_cause(EndCause::HangUp(Leg::B));
                    self.hangup_a();
                } else {
                    let cause = EndCause::Rejected { b_status: 480 };
                    self.abort(now, cause, 480, "Temporarily Unavailable");
                }
            }
        }
        self.finish(now);
    }

    /// When both legs are done: release media (once) and emit [`Action::Ended`].
    pub(super) fn finish(&mut self, now: Instant) {
        let b_done = self.b_state == BState::Terminated && self.forks.is_empty();
        if self.ended || self.a_state != AState::Terminated || !b_done {
            return;
        }
        if matches!(self.media, MediaState::Allocating | MediaState::Allocated) {
            self.media = MediaState::Released;
            self.media_releases += 1;
            self.actions.push_back(Action::ReleaseMedia);
        }
        self.ended = true;
        self.refer_pending = None;
        self.ring_deadline = None;
        self.session_timer = None;
        self.b_timer = None;
        self.end_relays(487);
        self.upstream.clear();
        self.client_txs.clear();
        let cause = self.cause.unwrap_or(EndCause::Administrative);
        self.actions.push_back(Action::Ended {
            cause,
            a_status: self.a_status.unwrap_or(500),
            duration: self.answered_at.map(|t| now.saturating_duration_since(t)),
        });
    }
}
