//! RFC 4028 session timers on both legs.
//!
//! A leg: the caller's INVITE sets it with `Session-Expires` (below [`CallConfig::min_se`] it gets
//! 422 with our `Min-SE`); the refresher is the caller when it says so or supports `timer` without
//! naming one, else us. Our 2xx to the caller carries `Session-Expires` with the refresher (and
//! `Require: timer` when the caller supports it).
//!
//! B leg: our INVITE asks for [`CallConfig::session_expires`] (with `Min-SE` and
//! `Supported: timer`); a callee's 422 with a larger `Min-SE` gets the INVITE again asking for
//! that. The callee's 2xx decides: with `Session-Expires` the leg runs a timer with the refresher it
//! names (`uac` is us); without one, the callee does not do session timers and the leg runs none.
//!
//! On either leg, every successful re-INVITE or UPDATE refreshes that leg's session; an UPDATE
//! without SDP from a leg with a timer is answered here, not relayed. As refresher we send an
//! UPDATE (when the peer allows it; else a re-INVITE with the SDP we last sent it) at half the
//! interval, naming ourselves (`refresher=uac`: we are the refresh's UAC). Without a refresh the
//! call ends with BYE on both legs `min(32 s, interval/3)` before the session would expire (§10),
//! as does a refresh of ours answered 408 or 481 or timing out.
//!
//! [`CallConfig::min_se`]: super::CallConfig::min_se
//! [`CallConfig::session_expires`]: super::CallConfig::session_expires

use std::time::{Duration, Instant};

use switchboard_sip::{HeaderName, Message, Method};

use super::{AState, BState, Call, ClientTxId, Leg, TxMethod, deadline};
use crate::failure::EndCause;

/// The negotiated session timer of one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SessionTimer {
    interval: Duration,
    /// We refresh.
    we_refresh: bool,
    /// The peer supports `timer` (our 2xx then requires it).
    peer_supports: bool,
    /// The peer allows UPDATE (our refreshes use it).
    peer_allows_update: bool,
    /// Armed once the call is answered: when we send the next refresh (refresher only).
    refresh_at: Option<Instant>,
    /// Armed once the call is answered: when the call ends without a refresh (§10).
    bye_at: Option<Instant>,
    /// Our refresh in flight.
    refreshing: Option<ClientTxId>,
}

/// What the caller's INVITE asks for: a timer, a 422 with our Min-SE, or nothing.
pub(super) enum Negotiated {
    None,
    Timer(SessionTimer),
    TooSmall,
}

/// Reads `Session-Expires`, `Min-SE`, `Supported`, `Require` and `Allow` of the caller's INVITE.
pub(super) fn negotiate(invite: &Message<'_>, min_se: Duration) -> Negotiated {
    let Ok(Some(se)) = invite.session_expires() else {
        return Negotiated::None;
    };
    let requested = Duration::from_secs(u64::from(se.delta));
    if requested < min_se {
        return Negotiated::TooSmall;
    }
    let has = |tags: Result<Vec<&str>, _>, tag: &str| {
        tags.is_ok_and(|t| t.iter().any(|x| x.eq_ignore_ascii_case(tag)))
    };
    let peer_supports = has(invite.supported(), "timer") || has(invite.require(), "timer");
    let we_refresh = match se.refresher() {
        Some(r) => r.eq_ignore_ascii_case("uas"),
        None => !peer_supports,
    };
    Negotiated::Timer(SessionTimer {
        interval: requested,
        we_refresh,
        peer_supports,
        peer_allows_update: has(invite.allow(), "UPDATE"),
        refresh_at: None,
        bye_at: None,
        refreshing: None,
    })
}

/// The B leg's timer from the callee's 2xx to our INVITE (none without `Session-Expires`).
fn from_answer(response: &Message<'_>) -> Option<SessionTimer> {
    let se = response.session_expires().ok().flatten()?;
    let has = |tags: Result<Vec<&str>, _>, tag: &str| {
        tags.is_ok_and(|t| t.iter().any(|x| x.eq_ignore_ascii_case(tag)))
    };
    Some(SessionTimer {
        interval: Duration::from_secs(u64::from(se.delta.max(1))),
        // §7.2: the 2xx names the refresher; `uac` is us. A 2xx naming none leaves it to us.
        we_refresh: se.refresher().is_none_or(|r| r.eq_ignore_ascii_case("uac")),
        peer_supports: has(response.require(), "timer") || has(response.supported(), "timer"),
        peer_allows_update: has(response.allow(), "UPDATE"),
        refresh_at: None,
        bye_at: None,
        refreshing: None,
    })
}

impl SessionTimer {
    /// §10: the non-refresher ends the session `min(32 s, interval/3)` before it expires.
    fn bye_after(&self) -> Duration {
        self.interval
            .saturating_sub(Duration::from_secs(32).min(self.interval / 3))
    }

    fn refreshed(&mut self, now: Instant) {
        self.bye_at = Some(deadline(now, self.bye_after()));
        self.refresh_at = self.we_refresh.then(|| deadline(now, self.interval / 2));
    }

    fn next_deadline(&self) -> Option<Instant> {
        let refresh = self.refresh_at.filter(|_| self.refreshing.is_none());
        [refresh, self.bye_at].into_iter().flatten().min()
    }
}

impl<K: Clone> Call<K> {
    fn timer(&self, leg: Leg) -> Option<&SessionTimer> {
        match leg {
            Leg::A => self.session_timer.as_ref(),
            Leg::B => self.b_timer.as_ref(),
        }
    }

    fn timer_slot(&mut self, leg: Leg) -> &mut Option<SessionTimer> {
        match leg {
            Leg::A => &mut self.session_timer,
            Leg::B => &mut self.b_timer,
        }
    }

    /// The `Session-Expires` (and `Require: timer`) of a 2xx to the caller's INVITE.
    pub(super) fn add_session_expires(&self, m: &mut Message<'static>) {
        self.add_session_expires_on(Leg::A, m);
    }

    /// The `Session-Expires` (and `Require: timer`) of a 2xx we send on `leg` (we are its UAS:
    /// `uas` when we refresh).
    pub(super) fn add_session_expires_on(&self, leg: Leg, m: &mut Message<'static>) {
        let Some(t) = self.timer(leg) else { return };
        let who = if t.we_refresh { "uas" } else { "uac" };
        m.push_header(
            HeaderName::SessionExpires,
            format!("{};refresher={who}", t.interval.as_secs()),
        );
        if t.peer_supports {
            m.push_header(HeaderName::Require, "timer");
        }
    }

    /// What our INVITE to the callee asks for: `Session-Expires`, `Min-SE` and `timer` support.
    pub(super) fn add_b_session_request(&self, m: &mut Message<'static>, interval: Duration) {
        m.push_header(HeaderName::SessionExpires, interval.as_secs().to_string());
        m.push_header(HeaderName::MinSe, self.config.min_se.as_secs().to_string());
    }

    /// A callee's 422 (RFC 4028 §7.4): our INVITE again asking for its `Min-SE`, once (only
    /// when we asked for the configured interval and its Min-SE is above it). `false`: not retried.
    pub(super) fn retry_with_larger_interval(&mut self, response: &Message<'_>) -> bool {
        let (Some(configured), Some(invite)) = (self.config.session_expires, &self.b_invite) else {
            return false;
        };
        let asked = invite.session_expires().ok().flatten().map(|s| s.delta);
        let min = response.min_se().ok().flatten().map(|m| m.delta);
        let (Some(asked), Some(min), Ok(seq)) = (asked, min, invite.cseq().map(|c| c.seq)) else {
            return false;
        };
        if u64::from(asked) != configured.as_secs() || min <= asked || !self.may_retry_b_invite() {
            return false;
        }
        let mut invite = invite.clone();
        invite.set_header(HeaderName::SessionExpires, min.to_string());
        invite.set_header(HeaderName::MinSe, min.to_string());
        self.resend_b_invite(invite, seq);
        true
    }

    /// The callee answered our INVITE: its 2xx decides the B leg's session timer.
    pub(super) fn start_b_timer(&mut self, now: Instant, response: &Message<'_>) {
        self.b_timer = from_answer(response);
        self.leg_refreshed(now, Leg::B);
    }

    /// A session refresh succeeded on the A leg (or the call was answered): restart the timer.
    pub(super) fn session_refreshed(&mut self, now: Instant) {
        self.leg_refreshed(now, Leg::A);
    }

    /// A session refresh succeeded on `leg`: restart its timer.
    pub(super) fn leg_refreshed(&mut self, now: Instant, leg: Leg) {
        if let Some(t) = self.timer_slot(leg).as_mut() {
            t.refreshed(now);
        }
    }

    /// Whether `request` from `from` is a refresh answered here: an UPDATE without SDP while that
    /// leg's session timer runs.
    pub(super) fn is_local_refresh(&self, from: Leg, request: &Message<'_>) -> bool {
        self.timer(from).is_some()
            && request.method() == Some(&Method::Update)
            && request.body().is_empty()
    }

    /// One of our refresh re-INVITEs is unanswered (an offer in progress, for glare).
    pub(super) fn refresh_invite_pending(&self) -> bool {
        [Leg::A, Leg::B].into_iter().any(|leg| {
            let Some(tx) = self.timer(leg).and_then(|t| t.refreshing) else {
                return false;
            };
            self.client_txs
                .iter()
                .any(|c| c.id == tx && c.method == TxMethod::RefreshInvite)
        })
    }

    /// Whether `leg`'s session has started (its timer counts).
    fn session_live(&self, leg: Leg) -> bool {
        match leg {
            Leg::A => matches!(self.a_state, AState::AwaitingAck { .. } | AState::Confirmed),
            Leg::B => self.b_state == BState::Confirmed,
        }
    }

    /// The earliest session timer deadline of either leg.
    pub(super) fn session_timeout(&self) -> Option<Instant> {
        [Leg::A, Leg::B]
            .into_iter()
            .filter(|&leg| self.session_live(leg))
            .filter_map(|leg| self.timer(leg)?.next_deadline())
            .min()
    }

    /// Fires the session timers: a refresh is due, or a session expired.
    pub(super) fn session_timers(&mut self, now: Instant) {
        for leg in [Leg::A, Leg::B] {
            if self.ended || !self.session_live(leg) {
                continue;
            }
            let Some(t) = self.timer(leg) else { continue };
            if t.next_deadline().is_none_or(|d| d > now) {
                continue;
            }
            if t.bye_at.is_some_and(|d| d <= now) {
                *self.timer_slot(leg) = None;
                self.expire_session(now);
                return;
            }
            let due = t.refresh_at.is_some_and(|d| d <= now) && t.refreshing.is_none();
            if !due {
                continue;
            }
            let confirmed = self.a_state == AState::Confirmed && self.b_state == BState::Confirmed;
            if !confirmed || self.offer_pending() {
                // An offer in progress will refresh the session itself, or an ACK is late.
                if let Some(t) = self.timer_slot(leg).as_mut() {
                    t.refresh_at = Some(deadline(now, Duration::from_secs(2)));
                }
                continue;
            }
            self.send_refresh(leg);
        }
    }

    fn send_refresh(&mut self, leg: Leg) {
        let Some(t) = self.timer(leg).cloned() else {
            return;
        };
        let sdp = self.sent_sdp(leg).filter(|_| !t.peer_allows_update);
        let (method, tx_method) = match sdp {
            Some(_) => (Method::Invite, TxMethod::RefreshInvite),
            None => (Method::Update, TxMethod::RefreshUpdate),
        };
        let Some(mut request) = self.leg_request(leg, method) else {
            return;
        };
        // We are this request's UAC and remain the refresher.
        request.push_header(
            HeaderName::SessionExpires,
            format!("{};refresher=uac", t.interval.as_secs()),
        );
        request.push_header(HeaderName::Supported, "timer");
        if let Some(sdp) = sdp {
            request.set_body(Some("application/sdp"), sdp);
        }
        let seq = request.cseq().map(|c| c.seq).unwrap_or_default();
        self.send_request(leg, tx_method, request);
        let tx = ClientTxId(self.next_tx);
        if tx_method == TxMethod::RefreshInvite {
            self.remember_reinvite(tx, leg, seq);
        }
        if let Some(t) = self.timer_slot(leg).as_mut() {
            t.refreshing = Some(tx);
        }
    }

    /// The final response (`None`: timeout) to our refresh `tx` on `leg`.
    pub(super) fn on_refresh_done(
        &mut self,
        now: Instant,
        (tx, leg): (ClientTxId, Leg),
        response: Option<&Message<'_>>,
    ) {
        let status = response.and_then(Message::status).unwrap_or(408);
        if status < 200 {
            return;
        }
        let ours = self.timer(leg).is_some_and(|t| t.refreshing == Some(tx));
        if (200..300).contains(&status) {
            if let (Some(r), Some(d)) = (response, self.dialog_mut(leg)) {
                let _ = d.refresh_target(r);
            }
            self.ack_reinvite(tx);
            if let Some(answer) = response
                .map(|r| r.body().to_vec())
                .filter(|b| !b.is_empty())
            {
                // Normally the same session; the node follows the peer if it moved.
                let op = self.update_media(leg, answer);
                self.restore_ops.push(op);
            }
        }
        if !ours {
            return;
        }
        if let Some(t) = self.timer_slot(leg).as_mut() {
            t.refreshing = None;
        }
        match status {
            200..=299 => self.leg_refreshed(now, leg),
            // §10: a refresh answered 408 or 481, or timed out, ends the session.
            408 | 481 => self.expire_session(now),
            // 491 and others: try again a little later; the expiry still bounds it.
            _ => {
                if let Some(t) = self.timer_slot(leg).as_mut() {
                    t.refresh_at = Some(deadline(now, Duration::from_secs(2)));
                }
            }
        }
    }

    fn expire_session(&mut self, now: Instant) {
        self.abort(now, EndCause::SessionExpired, 408, "Request Timeout");
    }
}
