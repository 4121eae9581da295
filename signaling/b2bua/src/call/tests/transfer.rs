//! Blind transfer of the caller (API): B's leg is hung up and a new callee called on the same media
//! session while A stays connected; a refusal by the new callee hangs A up.

use switchboard_sip::{HeaderName, Method};

use super::*;

const TARGET_HOP: &str = "198.51.100.99:5060";

fn target() -> RouteTarget {
    RouteTarget {
        request_uri: "sip:carol@198.51.100.99".to_owned(),
        next_hop: addr(TARGET_HOP),
        auth: None,
        transport: Default::default(),
    }
}

#[test]
fn transfer_hangs_up_b_and_connects_the_caller_to_the_new_callee() {
    let mut h = Harness::answered();
    let (_, old) = h.b_invite.clone().expect("B INVITE");
    let now = h.now;
    assert!(h.call.transfer_b(now, target()));
    let out = h.drain();
    let byes = sent(&out, Leg::B, Method::Bye);
    assert_eq!(byes.len(), 1, "the old callee is hung up");
    assert_eq!(byes[0].1.call_id().ok(), old.call_id().ok());
    let (_, invite) = h.b_invite.clone().expect("new B INVITE");
    assert_eq!(
        invite.request_uri().expect("uri").to_string(),
        "sip:carol@198.51.100.99"
    );
    assert_ne!(invite.call_id().ok(), old.call_id().ok(), "a new dialog");
    assert_eq!(invite.body(), B_OFFER, "the same media session's offer");
    assert!(
        a_statuses(&out).is_empty(),
        "the caller hears nothing of it"
    );
    h.b_reply(180, None);
    let out = h.b_reply(200, Some(B_ANSWER));
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::UpdateMedia { leg: Leg::B, .. })),
        "the node's B side now faces the new callee: {out:?}"
    );
    assert!(a_statuses(&out).is_empty());
    assert!(!h.call.is_terminated());
    // The new callee hangs up: the call ends as usual.
    let bye = h.bye_from_b();
    let (_, out) = h.a_request(bye);
    assert_eq!(
        sent(&out, Leg::A, Method::Bye).len(),
        1,
        "BYE to the caller"
    );
}

#[test]
fn refused_transfer_hangs_up_the_caller_and_an_unanswered_call_cannot_be_transferred() {
    let mut ringing = Harness::to_b_invite();
    let now = ringing.now;
    assert!(!ringing.call.transfer_b(now, target()), "not answered yet");
    let mut h = Harness::answered();
    let now = h.now;
    assert!(h.call.transfer_b(now, target()));
    h.drain();
    assert!(!h.call.transfer_b(now, target()), "one transfer at a time");
    let out = h.b_reply(486, None);
    assert_eq!(
        sent(&out, Leg::A, Method::Bye).len(),
        1,
        "the caller is hung up"
    );
}

/// REFER from B inside the B-leg dialog, transferring the caller to `sip:carol@...`.
fn refer_from_b(h: &Harness) -> Message<'static> {
    let bye = h.bye_from_b().encode_string();
    let refer = bye
        .replacen("BYE sip:", "REFER sip:", 1)
        .replacen("CSeq: 7 BYE", "CSeq: 7 REFER\r\nRefer-To: <sip:carol@198.51.100.99>\r\nContact: <sip:bob@198.51.100.20:5062>", 1);
    parse(&refer)
}

#[test]
fn rfc3515_refer_from_the_callee_transfers_the_caller_and_notifies_the_outcome() {
    let mut h = Harness::answered();
    let (tx, out) = h.a_request(refer_from_b(&h));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(202));
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::Transfer { target } if target == "carol")),
        "{out:?}"
    );
    let now = h.now;
    assert!(h.call.transfer_b(now, target()));
    let out = h.drain();
    let notify = sent(&out, Leg::B, Method::Notify);
    assert_eq!(notify.len(), 1, "the referrer hears the outcome: {out:?}");
    let notify = on_the_wire(&notify[0].1);
    assert_eq!(notify.header(&HeaderName::Event), Some("refer"));
    assert!(
        notify
            .header(&HeaderName::SubscriptionState)
            .is_some_and(|s| s.starts_with("terminated"))
    );
    assert!(String::from_utf8_lossy(notify.body()).starts_with("SIP/2.0 200"));
    assert_eq!(
        sent(&out, Leg::B, Method::Bye).len(),
        1,
        "then it is hung up"
    );
    assert_eq!(
        sent(&out, Leg::B, Method::Invite).len(),
        1,
        "and the target called"
    );
}

#[test]
fn refer_the_dialplan_cannot_route_is_notified_as_failed_and_the_call_goes_on() {
    let mut h = Harness::answered();
    let (tx, out) = h.a_request(refer_from_b(&h));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(202));
    h.call.refer_failed(404);
    let out = h.drain();
    let notify = sent(&out, Leg::B, Method::Notify);
    assert_eq!(notify.len(), 1);
    assert!(String::from_utf8_lossy(notify[0].1.body()).starts_with("SIP/2.0 404"));
    assert!(
        sent(&out, Leg::B, Method::Bye).is_empty(),
        "the call goes on"
    );
    let (tx, out) = h.a_request(refer_from_b(&h));
    assert_eq!(
        response_on(&out, tx).and_then(|r| r.status()),
        Some(202),
        "a new REFER is taken"
    );
}
