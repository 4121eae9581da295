//! Blind transfer of the caller (API): B's leg is hung up and a new callee called on the same media
//! session while A stays connected; a refusal by the new callee hangs A up. A REFER from the
//! caller transfers the callee the same way, after the legs swap.

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
        out.iter().any(
            |a| matches!(a, Action::Transfer { target, referrer: Leg::B } if target == "carol")
        ),
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

#[test]
fn rfc3515_refer_from_the_caller_transfers_the_callee_and_the_legs_swap() {
    let mut h = Harness::answered();
    let (_, b_invite) = h.b_invite.clone().expect("B INVITE");
    let refer = parse(
        &h.a_in_dialog("REFER", 150, &h.a_tag())
            .encode_string()
            .replacen(
                "CSeq: 150 REFER",
                "CSeq: 150 REFER\r\nRefer-To: <sip:carol@198.51.100.99>\r\nContact: <sip:alice@192.0.2.10:5060>",
                1,
            ),
    );
    let (tx, out) = h.a_request(refer);
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(202));
    assert!(
        out.iter().any(|a| matches!(a,
            Action::Transfer { target, referrer: Leg::A } if target == "carol")),
        "{out:?}"
    );
    let now = h.now;
    assert!(h.call.transfer_a(now, target()));
    let out = h.drain();
    // The referring caller (now on the call's B side) hears the outcome and is hung up, in its
    // own dialog, at its own address.
    let notify = sent(&out, Leg::B, Method::Notify);
    assert_eq!(notify.len(), 1, "{out:?}");
    assert_eq!(notify[0].1.call_id().ok(), Some("a-call-1@192.0.2.10"));
    assert!(String::from_utf8_lossy(notify[0].1.body()).starts_with("SIP/2.0 200"));
    let byes = sent(&out, Leg::B, Method::Bye);
    assert_eq!(byes.len(), 1, "{out:?}");
    assert_eq!(byes[0].1.call_id().ok(), Some("a-call-1@192.0.2.10"));
    let hops: Vec<_> = out
        .iter()
        .filter_map(|a| match a {
            Action::SendRequest {
                next_hop, request, ..
            } => Some((request.method().map(|m| m.as_str().to_owned()), *next_hop)),
            _ => None,
        })
        .collect();
    assert!(
        hops.contains(&(Some("BYE".to_owned()), addr(A_SOURCE))),
        "to the caller's address: {hops:?}"
    );
    // The target is called with the callee's session (what the caller was offered).
    let invites = sent(&out, Leg::B, Method::Invite);
    assert_eq!(invites.len(), 1, "{out:?}");
    assert_eq!(invites[0].1.body(), A_ANSWER);
    let from = invites[0].1.from().expect("From").uri;
    assert_eq!(
        from.user_decoded().as_deref(),
        Some("bob"),
        "the callee calls the target"
    );
    // The target answers: the node's leg A (which faced the caller) now faces it.
    let out = h.b_reply(200, Some(B_ANSWER));
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::UpdateMedia { leg: Leg::A, .. })),
        "{out:?}"
    );
    // The callee, now the A leg, hangs up: the target gets the BYE.
    let bye = parse(&format!(
        "BYE sip:sb@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKbx\r\n\
Max-Forwards: 70\r\nFrom: {};tag=b-tag-1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n",
        b_invite.header(&HeaderName::To).expect("To"),
        b_invite.header(&HeaderName::From).expect("From"),
        b_invite.call_id().expect("Call-ID"),
    ));
    let (tx, out) = h.a_request(bye);
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(200));
    let byes = sent(&out, Leg::B, Method::Bye);
    assert_eq!(byes.len(), 1, "{out:?}");
    assert_eq!(byes[0].1.call_id().ok(), invites[0].1.call_id().ok());
}
