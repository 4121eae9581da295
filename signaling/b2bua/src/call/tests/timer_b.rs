//! RFC 4028 session timer on the B leg: what our INVITE asks, a callee's 422, the refresher its
//! 2xx names, our refreshes towards it, its refreshes answered here, and the end of a session it
//! stopped refreshing.

use std::time::Duration;

use switchboard_sip::{HeaderName, Method};

use super::timer::{reason_cause, session_expires};
use super::*;

/// An answered call whose callee's 2xx carried `extra` header lines.
pub(super) fn answered_by_b_with(extra: &str) -> Harness {
    let mut h = Harness::to_b_invite();
    h.b_reply(180, None);
    let ok = h
        .b_response(200, Some(B_ANSWER), "b-tag-1")
        .encode_string()
        .replacen("Content-Type:", &format!("{extra}Content-Type:"), 1);
    let tx = h.b_invite_tx();
    h.event(CallEvent::Response {
        tx,
        response: parse(&ok),
    });
    assert!(h.media_updated_and_acked(1).is_empty());
    h
}

#[test]
fn rfc4028_our_b_invite_asks_for_a_session_timer() {
    let h = Harness::to_b_invite();
    let (_, invite) = h.b_invite.clone().expect("B INVITE");
    assert_eq!(session_expires(&invite).as_deref(), Some("1800"));
    assert_eq!(invite.header(&HeaderName::MinSe), Some("90"));
    assert!(invite.supported().is_ok_and(|s| s.contains(&"timer")));
}

#[test]
fn rfc4028_s7_4_a_callee_422_gets_the_invite_again_with_its_min_se_once() {
    let mut h = Harness::to_b_invite();
    let (_, first) = h.b_invite.clone().expect("B INVITE");
    let too_small = |h: &Harness, min: &str| {
        let r = h.b_response(422, None, "b-tag-1").encode_string().replacen(
            "Content-Length:",
            &format!("Min-SE: {min}\r\nContent-Length:"),
            1,
        );
        parse(&r)
    };
    let tx = h.b_invite_tx();
    let response = too_small(&h, "3600");
    let out = h.event(CallEvent::Response { tx, response });
    let again = sent(&out, Leg::B, Method::Invite);
    assert_eq!(again.len(), 1, "{out:?}");
    let (tx2, again) = again[0].clone();
    assert_eq!(session_expires(&again).as_deref(), Some("3600"));
    assert_eq!(again.cseq().map(|c| c.seq).ok(), Some(2));
    assert_eq!(again.call_id().ok(), first.call_id().ok(), "same Call-ID");
    assert!(a_statuses(&out).is_empty(), "the caller sees nothing");
    // A second 422 is the callee's answer: mapped upstream like any failure.
    let response = too_small(&h, "7200");
    let out = h.event(CallEvent::Response { tx: tx2, response });
    assert!(sent(&out, Leg::B, Method::Invite).is_empty());
    assert_eq!(a_statuses(&out).len(), 1, "{out:?}");
}

#[test]
fn rfc4028_callee_naming_us_refresher_gets_our_update_at_half_the_interval() {
    let mut h = answered_by_b_with(
        "Session-Expires: 120;refresher=uac\r\nRequire: timer\r\nAllow: INVITE, ACK, BYE, UPDATE\r\n",
    );
    let start = h.now;
    let out = h.fire_timer();
    assert_eq!(h.now - start, Duration::from_secs(60));
    let (tx, update) = sent(&out, Leg::B, Method::Update)
        .pop()
        .expect("UPDATE to B");
    assert_eq!(
        session_expires(&update).as_deref(),
        Some("120;refresher=uac")
    );
    assert!(update.body().is_empty());
    assert!(
        sent(&out, Leg::A, Method::Update).is_empty(),
        "A runs no timer"
    );
    h.reply_to(tx, &update, 200);
    let out = h.fire_timer();
    assert_eq!(h.now - start, Duration::from_secs(120), "next 60 s later");
    assert_eq!(sent(&out, Leg::B, Method::Update).len(), 1);
    assert!(!h.call.is_terminated());
}

#[test]
fn rfc4028_callee_refreshing_by_update_is_answered_here_and_silence_ends_the_call() {
    let mut h = answered_by_b_with("Session-Expires: 120;refresher=uas\r\nRequire: timer\r\n");
    let start = h.now;
    h.advance(Duration::from_secs(80));
    let update = h.b_with_body("UPDATE", 7, "");
    let (tx, out) = h.a_request(update);
    let ok = response_on(&out, tx).expect("answered here");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        session_expires(&ok).as_deref(),
        Some("120;refresher=uac"),
        "the callee, this UPDATE's UAC, stays the refresher"
    );
    assert!(sent(&out, Leg::A, Method::Update).is_empty(), "not relayed");
    // No further refresh: BYE on both legs min(32 s, 120/3) before expiry, 88 s after the last.
    let out = h.fire_timer();
    assert_eq!(h.now - start, Duration::from_secs(80 + 88));
    let byes = sent(&out, Leg::A, Method::Bye);
    assert_eq!(byes.len(), 1);
    assert_eq!(reason_cause(&byes[0].1), Some(102));
    assert_eq!(sent(&out, Leg::B, Method::Bye).len(), 1);
}

#[test]
fn rfc4028_a_callee_without_session_expires_in_its_2xx_runs_no_timer() {
    let h = answered_by_b_with("");
    assert_eq!(h.call.poll_timeout(), None);
}
