//! RFC 4028 session timer on the A leg. The caller's INVITE sets it with `Session-Expires` (below
//! [`CallConfig::min_se`] it gets 422 with our `Min-SE`); the refresher is the caller when it says
//! so or supports `timer` without naming one, else us. Our 2xx to the caller carries
//! `Session-Expires` with the refresher (and `Require: timer` when the caller supports it). Every
//! successful re-INVITE or UPDATE on the A leg, either way, refreshes the session; an UPDATE
//! without SDP from the caller is answered here, not relayed. As refresher we send an UPDATE (when
//! the caller's INVITE allowed it; else a re-INVITE with the SDP we last sent it) at half the
//! interval. Without a refresh the call ends with BYE on both legs `min(32 s, interval/3)` before
//! the session would expire (§10), as does a refresh of ours answered 408 or 481 or timing out.
//!
//! The B leg runs without a session timer: its INVITE carries no `Session-Expires`.
//!
//! [`CallConfig::min_se`]: super::CallConfig::min_se

use std::time::{Duration, Instant};

use switchboard_sip::{HeaderName, Message, Method};

use super::{AState, Call, ClientTxId, Leg, TxMethod, deadline};
use crate::failure::EndCause;

/// The negotiated session timer of the A leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SessionTimer {
    interval: Duration,
    /// We refresh (`refresher=uas` towards the caller).
    we_refresh: bool,
    /// The caller supports `timer` (our 2xx then requires it).
    a_supports: bool,
    /// The caller's INVITE allowed UPDATE (our refreshes use it).
    a_allows_update: bool,
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
    let a_supports = has(invite.supported(), "timer") || has(invite.require(), "timer");
    let we_refresh = match se.refresher() {
        Some(r) => r.eq_ignore_ascii_case("uas"),
        None => !a_supports,
    };
    Negotiated::Timer(SessionTimer {
        interval: requested,
        we_refresh,
        a_supports,
        a_allows_update: has(invite.allow(), "UPDATE"),
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
}

impl<K: Clone> Call<K> {
    /// The `Session-Expires` (and `Require: timer`) of a 2xx to the caller.
    pub(super) fn add_session_expires(&self, m: &mut Message<'static>) {
        let Some(t) = &self.session_timer else { return };
        let who = if t.we_refresh { "uas" } else { "uac" };
        m.push_header(
            HeaderName::SessionExpires,
            format!("{};refresher={who}", t.interval.as_secs()),
        );
        if t.a_supports {
            m.push_header(HeaderName::Require, "timer");
        }
    }

    /// A session refresh succeeded on the A leg (or the call was answered): restart the timer.
    pub(super) fn session_refreshed(&mut self, now: Instant) {
        if let Some(t) = self.session_timer.as_mut() {
            t.refreshed(now);
        }
    }

    /// Whether `request` from A is a refresh answered here: an UPDATE without SDP while a
    /// session timer runs.
    pub(super) fn is_local_refresh(&self, from: Leg, request: &Message<'_>) -> bool {
        from == Leg::A
            && self.session_timer.is_some()
            && request.method() == Some(&Method::Update)
            && request.body().is_empty()
    }

    /// Our refresh re-INVITE to A is unanswered (an offer in progress, for glare).
    pub(super) fn refresh_invite_pending(&self) -> bool {
        let Some(tx) = self.session_timer.as_ref().and_then(|t| t.refreshing) else {
            return false;
        };
        self.client_txs
            .iter()
            .any(|c| c.id == tx && c.method == TxMethod::RefreshInvite)
    }

    /// The earliest session timer deadline.
    pub(super) fn session_timeout(&self) -> Option<Instant> {
        if !matches!(self.a_state, AState::AwaitingAck { .. } | AState::Confirmed) {
            return None;
        }
        let t = self.session_timer.as_ref()?;
        let refresh = t.refresh_at.filter(|_| t.refreshing.is_none());
        [refresh, t.bye_at].into_iter().flatten().min()
    }

    /// Fires the session timer: a refresh is due, or the session expired.
    pub(super) fn session_timers(&mut self, now: Instant) {
        if self.session_timeout().is_none_or(|d| d > now) {
            return;
        }
        let Some(t) = self.session_timer.as_ref() else {
            return;
        };
        if t.bye_at.is_some_and(|d| d <= now) {
            self.session_timer = None;
            self.expire_session(now);
            return;
        }
        let due = t.refresh_at.is_some_and(|d| d <= now) && t.refreshing.is_none();
        if !due {
            return;
        }
        if self.a_state != AState::Confirmed || self.offer_pending() {
            // An offer in progress will refresh the session itself, or the caller's ACK is late.
            if let Some(t) = self.session_timer.as_mut() {
                t.refresh_at = Some(deadline(now, Duration::from_secs(2)));
            }
            return;
        }
        self.send_refresh();
    }

    fn send_refresh(&mut self) {
        let Some(t) = self.session_timer.clone() else {
            return;
        };
        let sdp = self.last_a_sdp.clone().filter(|_| !t.a_allows_update);
        let (method, tx_method) = match sdp {
            Some(_) => (Method::Invite, TxMethod::RefreshInvite),
            None => (Method::Update, TxMethod::RefreshUpdate),
        };
        let via = self.via(Leg::A);
        let contact = self.contact(Leg::A);
        let Ok(mut request) = self.a_dialog.new_request(method, &via, Some(&contact)) else {
            return;
        };
        request.push_header(
            HeaderName::SessionExpires,
            format!("{};refresher=uas", t.interval.as_secs()),
        );
        request.push_header(HeaderName::Supported, "timer");
        if let Some(sdp) = sdp {
            request.set_body(Some("application/sdp"), sdp);
        }
        let seq = request.cseq().map(|c| c.seq).unwrap_or_default();
        self.send_request(Leg::A, tx_method, request);
        let tx = ClientTxId(self.next_tx);
        if tx_method == TxMethod::RefreshInvite {
            self.remember_reinvite(tx, Leg::A, seq);
        }
        if let Some(t) = self.session_timer.as_mut() {
            t.refreshing = Some(tx);
        }
    }

    /// The final response (`None`: timeout) to our refresh `tx`.
    pub(super) fn on_refresh_done(
        &mut self,
        now: Instant,
        tx: ClientTxId,
        response: Option<&Message<'_>>,
    ) {
        let status = response.and_then(Message::status).unwrap_or(408);
        if status < 200 {
            return;
        }
        let ours = self
            .session_timer
            .as_ref()
            .is_some_and(|t| t.refreshing == Some(tx));
        if (200..300).contains(&status) {
            if let Some(r) = response {
                let _ = self.a_dialog.refresh_target(r);
            }
            self.ack_reinvite(tx);
            if let Some(answer) = response
                .map(|r| r.body().to_vec())
                .filter(|b| !b.is_empty())
            {
                // Normally the same session; the node follows the caller if it moved.
                let op = self.update_media(Leg::A, answer);
                self.restore_ops.push(op);
            }
        }
        if !ours {
            return;
        }
        if let Some(t) = self.session_timer.as_mut() {
            t.refreshing = None;
        }
        match status {
            200..=299 => self.session_refreshed(now),
            // §10: a refresh answered 408 or 481, or timed out, ends the session.
            408 | 481 => self.expire_session(now),
            // 491 and others: try again a little later; the expiry still bounds it.
            _ => {
                if let Some(t) = self.session_timer.as_mut() {
                    t.refresh_at = Some(deadline(now, Duration::from_secs(2)));
                }
            }
        }
    }

    fn expire_session(&mut self, now: Instant) {
        self.abort(now, EndCause::SessionExpired, 408, "Request Timeout");
    }
}
