//! RFC 4028 session timer on the A leg: 422 below Min-SE, the refresher in our 2xx, refreshes
//! either way resetting it, our own refreshes at half the interval, and the end of a session
//! nobody refreshed.

use std::time::Duration;

use switchboard_sip::{HeaderName, Message, Method};

use super::*;

/// A's INVITE with the given extra header lines.
fn invite_with(extra: &str) -> String {
    a_invite_text(70, A_OFFER).replace(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\n{extra}"),
    )
}

/// An answered call whose INVITE carried `extra` headers; returns it with the 200 sent to A.
pub(super) fn answered_with(extra: &str) -> (Harness, Message<'static>) {
    let mut h = Harness::with_invite(&invite_with(extra));
    h.drain();
    h.event(CallEvent::MediaAllocated {
        b_offer: B_OFFER.to_vec(),
    });
    h.b_reply(180, None);
    h.b_reply(200, Some(B_ANSWER));
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    let ok = response_on(&out, 1).expect("200 to A");
    let ack = h.ack_from_a();
    h.event(CallEvent::Ack { request: ack });
    (h, on_the_wire(&ok))
}

pub(super) fn session_expires(m: &Message<'_>) -> Option<String> {
    m.header(&HeaderName::SessionExpires).map(str::to_owned)
}

pub(super) fn reason_cause(m: &Message<'_>) -> Option<u16> {
    m.reasons().ok()?.first().and_then(|r| r.cause())
}

#[test]
fn rfc4028_s9_session_expires_below_min_se_gets_422_with_our_min_se() {
    let mut h = Harness::with_invite(&invite_with("Session-Expires: 60\r\nSupported: timer\r\n"));
    let out = h.drain();
    assert_eq!(a_statuses(&out), [100, 422]);
    let r = response_on(&out[1..], 1).expect("422");
    assert_eq!(r.header(&HeaderName::MinSe), Some("90"));
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::AllocateMedia { .. }))
    );
    h.assert_ended(
        EndCause::Failed {
            side: crate::FailureSide::ALeg,
            status: 422,
        },
        422,
        0,
    );
}

#[test]
fn rfc4028_s9_require_timer_is_accepted_other_extensions_still_get_420() {
    let mut h = Harness::with_invite(&invite_with("Session-Expires: 1800\r\nRequire: timer\r\n"));
    assert_eq!(a_statuses(&h.drain()), [100]);
    let mut h = Harness::with_invite(&invite_with("Require: timer, 100rel, precondition\r\n"));
    let out = h.drain();
    assert_eq!(a_statuses(&out), [100, 420]);
    let r = response_on(&out[1..], 1).expect("420");
    assert_eq!(r.header(&HeaderName::Unsupported), Some("precondition"));
}

#[test]
fn rfc4028_s9_caller_refresher_is_named_in_our_2xx_with_require_timer() {
    let (_, ok) = answered_with("Session-Expires: 120;refresher=uac\r\nSupported: timer\r\n");
    assert_eq!(session_expires(&ok).as_deref(), Some("120;refresher=uac"));
    assert_eq!(ok.header(&HeaderName::Require), Some("timer"));
    // A caller that supports timer without naming the refresher refreshes itself.
    let (_, ok) = answered_with("Session-Expires: 300\r\nSupported: timer\r\n");
    assert_eq!(session_expires(&ok).as_deref(), Some("300;refresher=uac"));
    // One that does not support it leaves it to us, and is not required to.
    let (_, ok) = answered_with("Session-Expires: 300\r\n");
    assert_eq!(session_expires(&ok).as_deref(), Some("300;refresher=uas"));
    assert_eq!(ok.header(&HeaderName::Require), None);
    // No Session-Expires: no timer at all.
    let (h, ok) = answered_with("");
    assert_eq!(session_expires(&ok), None);
    assert_eq!(h.call.poll_timeout(), None);
}

#[test]
fn rfc4028_s10_unrefreshed_session_ends_with_bye_on_both_legs_before_it_expires() {
    let (mut h, _) = answered_with("Session-Expires: 120;refresher=uac\r\nSupported: timer\r\n");
    let start = h.now;
    let out = h.fire_timer();
    // 120 s - min(32 s, 120 s / 3).
    assert_eq!(h.now - start, Duration::from_secs(88));
    let (ta, bye_a) = sent(&out, Leg::A, Method::Bye).pop().expect("BYE to A");
    let (tb, bye_b) = sent(&out, Leg::B, Method::Bye).pop().expect("BYE to B");
    assert_eq!(
        reason_cause(&bye_a),
        Some(102),
        "Q.850 recovery on timer expiry"
    );
    assert_eq!(reason_cause(&bye_b), Some(102));
    h.reply_to(ta, &bye_a, 200);
    h.reply_to(tb, &bye_b, 200);
    h.assert_ended(EndCause::SessionExpired, 200, 1);
}

#[test]
fn rfc4028_s10_update_without_sdp_from_the_caller_refreshes_here_and_is_not_relayed() {
    let (mut h, _) = answered_with("Session-Expires: 120;refresher=uac\r\nSupported: timer\r\n");
    h.advance(Duration::from_secs(60));
    let (tx, out) = h.a_request(h.a_in_dialog("UPDATE", 102, &h.a_tag()));
    let r = response_on(&out, tx).expect("200");
    assert_eq!(r.status(), Some(200));
    assert_eq!(session_expires(&r).as_deref(), Some("120;refresher=uac"));
    assert!(
        sent(&out, Leg::B, Method::Update).is_empty(),
        "B runs no timer"
    );
    assert_eq!(h.call.poll_timeout(), Some(h.now + Duration::from_secs(88)));
}

#[test]
fn rfc4028_s10_relayed_reinvite_from_the_caller_refreshes_and_its_2xx_names_the_refresher() {
    let (mut h, _) = answered_with("Session-Expires: 120;refresher=uac\r\nSupported: timer\r\n");
    h.advance(Duration::from_secs(50));
    let request = h.a_with_body("INVITE", 102, "application/sdp", A_OFFER);
    let (tx, out) = h.a_request(request);
    let op = out
        .iter()
        .find_map(|a| match a {
            Action::UpdateMedia { op, .. } => Some(*op),
            _ => None,
        })
        .expect("offer to the node");
    let out = h.event(CallEvent::MediaUpdated {
        op,
        sdp: B_OFFER.to_vec(),
    });
    let (b_tx, invite) = sent(&out, Leg::B, Method::Invite)
        .pop()
        .expect("re-INVITE to B");
    assert_eq!(session_expires(&invite), None, "B runs no timer");
    let out = h.reply_with(b_tx, &invite, 200, B_ANSWER);
    let op = out
        .iter()
        .find_map(|a| match a {
            Action::UpdateMedia { op, .. } => Some(*op),
            _ => None,
        })
        .expect("answer to the node");
    let out = h.event(CallEvent::MediaUpdated {
        op,
        sdp: A_ANSWER.to_vec(),
    });
    let ok = response_on(&out, tx).expect("200 to A");
    assert_eq!(session_expires(&ok).as_deref(), Some("120;refresher=uac"));
    let ack = h.a_in_dialog("ACK", 102, &h.a_tag());
    h.event(CallEvent::Ack { request: ack });
    assert_eq!(h.call.poll_timeout(), Some(h.now + Duration::from_secs(88)));
}

#[test]
fn rfc4028_s10_we_refresh_by_update_at_half_the_interval() {
    let (mut h, _) = answered_with(
        "Session-Expires: 120;refresher=uas\r\nSupported: timer\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n",
    );
    let start = h.now;
    let out = h.fire_timer();
    assert_eq!(h.now - start, Duration::from_secs(60));
    let (tx, update) = sent(&out, Leg::A, Method::Update)
        .pop()
        .expect("UPDATE to A");
    // We are the UAC of our refresh and stay the refresher (the parameter is relative to it).
    assert_eq!(
        session_expires(&update).as_deref(),
        Some("120;refresher=uac")
    );
    assert!(update.body().is_empty());
    assert_eq!(update.call_id().expect("call-id"), "a-call-1@192.0.2.10");
    h.reply_to(tx, &update, 200);
    let out = h.fire_timer();
    assert_eq!(
        h.now - start,
        Duration::from_secs(120),
        "next refresh 60 s later"
    );
    assert_eq!(sent(&out, Leg::A, Method::Update).len(), 1);
    assert!(!h.call.is_terminated());
}

#[test]
fn rfc4028_s10_we_refresh_by_reinvite_with_our_last_sdp_when_update_is_not_allowed() {
    let (mut h, _) = answered_with("Session-Expires: 90\r\n");
    let out = h.fire_timer();
    let (tx, invite) = sent(&out, Leg::A, Method::Invite)
        .pop()
        .expect("re-INVITE to A");
    assert_eq!(invite.body(), A_ANSWER, "the SDP A last got from us");
    let out = h.reply_with(tx, &invite, 200, A_OFFER);
    let ack = out
        .iter()
        .find_map(|a| match a {
            Action::SendAck {
                leg: Leg::A,
                request,
                ..
            } => Some(request.clone()),
            _ => None,
        })
        .expect("ACK to A");
    assert_eq!(
        ack.cseq().expect("cseq").seq,
        invite.cseq().expect("cseq").seq
    );
    assert!(!h.call.is_terminated());
}

#[test]
fn rfc4028_s10_refresh_answered_481_ends_the_call() {
    let (mut h, _) =
        answered_with("Session-Expires: 120;refresher=uas\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n");
    let out = h.fire_timer();
    let (tx, update) = sent(&out, Leg::A, Method::Update)
        .pop()
        .expect("UPDATE to A");
    let out = h.reply_to(tx, &update, 481);
    assert_eq!(sent(&out, Leg::B, Method::Bye).len(), 1, "BYE to B");
    assert_eq!(sent(&out, Leg::A, Method::Bye).len(), 1, "BYE to A as well");
}

#[test]
fn rfc3261_s14_2_offer_crossing_our_refresh_reinvite_gets_491() {
    let (mut h, _) = answered_with("Session-Expires: 90\r\n");
    let out = h.fire_timer();
    let (tx, invite) = sent(&out, Leg::A, Method::Invite)
        .pop()
        .expect("refresh to A");
    // B offers while our refresh to A is unanswered: relaying it to A would cross ours.
    let request = h.b_with_body("INVITE", 8, B_ANSWER);
    let (b_tx, out) = h.a_request(request);
    assert_eq!(response_on(&out, b_tx).and_then(|r| r.status()), Some(491));
    // So does A.
    let request = h.a_with_body("INVITE", 102, "application/sdp", A_OFFER);
    let (a_tx, out) = h.a_request(request);
    assert_eq!(response_on(&out, a_tx).and_then(|r| r.status()), Some(491));
    // Once A answered the refresh, offers flow again.
    h.reply_with(tx, &invite, 200, A_OFFER);
    let request = h.b_with_body("INVITE", 9, B_ANSWER);
    let (b_tx, out) = h.a_request(request);
    assert!(response_on(&out, b_tx).is_none(), "relayed, not refused");
}
