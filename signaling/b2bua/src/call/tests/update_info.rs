//! UPDATE (RFC 3311) and INFO (RFC 6086) relayed between the legs, with and without SDP.

use switchboard_sip::{HeaderName, Method};

use super::indialog::{A_HOLD, A_HOLD_FOR_B, B_HOLD_ANSWER, B_HOLD_ANSWER_FOR_A, acks, update_op};
use super::*;

/// The media node takes `from`'s SDP `sdp` (its update is among `out`) and gives back `rewritten`
/// for the other leg: the update's id and what the call does next.
fn node_rewrites(
    h: &mut Harness,
    out: &[Action<u32>],
    from: Leg,
    sdp: &str,
    rewritten: &[u8],
) -> (crate::MediaOp, Vec<Action<u32>>) {
    let op = update_op(out, from, sdp.as_bytes()).expect("the SDP goes to the node");
    let next = h.event(CallEvent::MediaUpdated {
        op,
        sdp: rewritten.to_vec(),
    });
    (op, next)
}

#[test]
fn rfc3311_update_with_offer_is_relayed_through_the_node_without_ack() {
    let mut h = Harness::answered();
    let (tx, out) = h.a_request(h.a_with_body("UPDATE", 102, "application/sdp", A_HOLD));
    let (_, out) = node_rewrites(&mut h, &out, Leg::A, A_HOLD, A_HOLD_FOR_B);
    let (b_tx, update) = sent(&out, Leg::B, Method::Update)
        .pop()
        .expect("UPDATE to B");
    assert_eq!(update.body(), A_HOLD_FOR_B);
    assert_eq!(update.cseq().expect("cseq").seq, 2);
    let out = h.reply_with(b_tx, &update, 200, B_HOLD_ANSWER);
    assert!(acks(&out, Leg::B).is_empty(), "no ACK for UPDATE");
    let (_, out) = node_rewrites(&mut h, &out, Leg::B, B_HOLD_ANSWER, B_HOLD_ANSWER_FOR_A);
    let ok = response_on(&out, tx).expect("200 to A");
    assert_eq!((ok.status(), ok.body()), (Some(200), B_HOLD_ANSWER_FOR_A));
    assert_eq!(h.call.poll_timeout(), None, "no ACK awaited");
}

#[test]
fn rfc3311_update_without_sdp_is_relayed_without_touching_media() {
    let mut h = Harness::answered();
    let (tx, out) = h.a_request(h.a_in_dialog("UPDATE", 102, &h.a_tag()));
    assert!(!out.iter().any(|a| matches!(a, Action::UpdateMedia { .. })));
    let (b_tx, update) = sent(&out, Leg::B, Method::Update)
        .pop()
        .expect("UPDATE to B");
    assert!(update.body().is_empty());
    let out = h.reply_with(b_tx, &update, 200, "");
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(200));
}

#[test]
fn rfc6086_info_is_relayed_with_its_body_and_content_type_and_the_answer_comes_back() {
    let mut h = Harness::answered();
    let body = "Signal=5\r\nDuration=160\r\n";
    let (tx, out) = h.a_request(h.a_with_body("INFO", 102, "application/dtmf-relay", body));
    assert!(!out.iter().any(|a| matches!(a, Action::UpdateMedia { .. })));
    let (b_tx, info) = sent(&out, Leg::B, Method::Info).pop().expect("INFO to B");
    let info = on_the_wire(&info);
    assert_eq!(info.body(), body.as_bytes());
    assert_eq!(
        info.header(&HeaderName::ContentType),
        Some("application/dtmf-relay")
    );
    assert_eq!(info.header(&HeaderName::from("Info-Package")), Some("dtmf"));
    assert_eq!(info.to().expect("to").tag(), Some("b-tag-1"));
    let out = h.reply_with(b_tx, &info, 200, "");
    let ok = response_on(&out, tx).expect("200 to A");
    assert_eq!(ok.status(), Some(200));
    // A failure of B's is relayed too, and an INFO during a pending re-INVITE is fine.
    h.reinvite_from_a(103, A_HOLD);
    let (tx, out) = h.a_request(h.a_with_body("INFO", 104, "application/dtmf", "5"));
    let (b_tx, info) = sent(&out, Leg::B, Method::Info).pop().expect("INFO to B");
    let out = h.reply_with(b_tx, &info, 415, "");
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(415));
}

#[test]
fn rfc6086_info_from_b_reaches_a() {
    let mut h = Harness::answered();
    let (tx, out) = h.a_request(h.b_with_body("INFO", 8, ""));
    let (a_tx, info) = sent(&out, Leg::A, Method::Info).pop().expect("INFO to A");
    assert_eq!(info.call_id().expect("call-id"), "a-call-1@192.0.2.10");
    let out = h.reply_with(a_tx, &info, 200, "");
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(200));
}

/// Early media: B's 183 with SDP has reached A (the INVITE's offer/answer is complete).
fn early_media() -> Harness {
    let mut h = Harness::to_b_invite();
    h.b_reply(183, Some(B_ANSWER));
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    assert_eq!(a_statuses(&out), [183]);
    h
}

#[test]
fn rfc3311_s5_1_update_with_offer_in_the_early_dialog_reaches_b_and_the_call_goes_on() {
    let mut h = early_media();
    let (tx, out) = h.a_request(h.a_with_body("UPDATE", 102, "application/sdp", A_HOLD));
    let (_, out) = node_rewrites(&mut h, &out, Leg::A, A_HOLD, A_HOLD_FOR_B);
    let (b_tx, update) = sent(&out, Leg::B, Method::Update)
        .pop()
        .expect("UPDATE to B in its early dialog");
    let update = on_the_wire(&update);
    assert_eq!(update.body(), A_HOLD_FOR_B);
    assert_eq!(update.to().expect("to").tag(), Some("b-tag-1"));
    assert!(
        update
            .request_uri()
            .is_ok_and(|u| u.to_string().contains("198.51.100.20:5062")),
        "to the Contact of B's 183: {update:?}"
    );
    let out = h.reply_with(b_tx, &update, 200, B_HOLD_ANSWER);
    let (op, out) = node_rewrites(&mut h, &out, Leg::B, B_HOLD_ANSWER, B_HOLD_ANSWER_FOR_A);
    let ok = response_on(&out, tx).expect("200 to A's UPDATE");
    assert_eq!((ok.status(), ok.body()), (Some(200), B_HOLD_ANSWER_FOR_A));
    // B answers the INVITE: the call is set up as usual.
    h.b_reply(200, Some(B_HOLD_ANSWER));
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(op.0 + 1),
        sdp: B_HOLD_ANSWER_FOR_A.to_vec(),
    });
    assert_eq!(a_statuses(&out), [200]);
}

#[test]
fn rfc3311_s5_1_update_from_b_in_the_early_dialog_reaches_a() {
    let mut h = early_media();
    let (tx, out) = h.a_request(h.b_with_body("UPDATE", 2, B_HOLD_ANSWER));
    let (_, out) = node_rewrites(&mut h, &out, Leg::B, B_HOLD_ANSWER, B_HOLD_ANSWER_FOR_A);
    let (a_tx, update) = sent(&out, Leg::A, Method::Update)
        .pop()
        .expect("UPDATE to A in its early dialog");
    let update = on_the_wire(&update);
    assert_eq!(update.call_id().expect("call-id"), "a-call-1@192.0.2.10");
    assert_eq!(update.to().expect("to").tag(), Some("a-tag-1"));
    assert_eq!(update.body(), B_HOLD_ANSWER_FOR_A);
    let out = h.reply_with(a_tx, &update, 200, A_HOLD);
    let (_, out) = node_rewrites(&mut h, &out, Leg::A, A_HOLD, A_HOLD_FOR_B);
    let ok = response_on(&out, tx).expect("200 to B's UPDATE");
    assert_eq!((ok.status(), ok.body()), (Some(200), A_HOLD_FOR_B));
}

#[test]
fn rfc6086_info_in_the_early_dialog_is_relayed_both_ways() {
    let mut h = Harness::to_b_invite();
    assert_eq!(a_statuses(&h.b_reply(180, None)), [180]);
    let (tx, out) = h.a_request(h.a_with_body("INFO", 102, "application/dtmf-relay", "Signal=1"));
    let (b_tx, info) = sent(&out, Leg::B, Method::Info).pop().expect("INFO to B");
    let out = h.reply_with(b_tx, &info, 200, "");
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(200));
    let (tx, out) = h.a_request(h.b_with_body("INFO", 2, ""));
    let (a_tx, info) = sent(&out, Leg::A, Method::Info).pop().expect("INFO to A");
    let out = h.reply_with(a_tx, &info, 200, "");
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(200));
}

#[test]
fn rfc3311_s5_2_early_offer_before_the_invite_was_answered_is_refused() {
    let mut h = Harness::to_b_invite();
    h.b_reply(180, None);
    // A's INVITE offer has no answer yet: A gets 500 with Retry-After, B 491.
    let (tx, out) = h.a_request(h.a_with_body("UPDATE", 102, "application/sdp", A_HOLD));
    let refused = response_on(&out, tx).expect("answered at once");
    assert_eq!(refused.status(), Some(500));
    assert!(refused.header(&HeaderName::RetryAfter).is_some());
    assert!(sent(&out, Leg::B, Method::Update).is_empty());
    let (tx, out) = h.a_request(h.b_with_body("UPDATE", 2, B_HOLD_ANSWER));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(491));
    // Nothing was changed: B's answer still reaches A.
    h.b_reply(200, Some(B_ANSWER));
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    assert_eq!(a_statuses(&out), [200]);
}
