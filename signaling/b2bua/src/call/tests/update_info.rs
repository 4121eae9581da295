//! UPDATE (RFC 3311) and INFO (RFC 6086) relayed between the legs, with and without SDP.

use switchboard_sip::{HeaderName, Method};

use super::indialog::{A_HOLD, A_HOLD_FOR_B, B_HOLD_ANSWER, B_HOLD_ANSWER_FOR_A, acks, update_op};
use super::*;

#[test]
fn rfc3311_update_with_offer_is_relayed_through_the_node_without_ack() {
    let mut h = Harness::answered();
    let (tx, out) = h.a_request(h.a_with_body("UPDATE", 102, "application/sdp", A_HOLD));
    let op = update_op(&out, Leg::A, A_HOLD.as_bytes()).expect("offer to the node");
    let out = h.event(CallEvent::MediaUpdated {
        op,
        sdp: A_HOLD_FOR_B.to_vec(),
    });
    let (b_tx, update) = sent(&out, Leg::B, Method::Update)
        .pop()
        .expect("UPDATE to B");
    assert_eq!(update.body(), A_HOLD_FOR_B);
    assert_eq!(update.cseq().expect("cseq").seq, 2);
    let out = h.reply_with(b_tx, &update, 200, B_HOLD_ANSWER);
    assert!(acks(&out, Leg::B).is_empty(), "no ACK for UPDATE");
    let op = update_op(&out, Leg::B, B_HOLD_ANSWER.as_bytes()).expect("answer to the node");
    let out = h.event(CallEvent::MediaUpdated {
        op,
        sdp: B_HOLD_ANSWER_FOR_A.to_vec(),
    });
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
