//! Reliable provisional responses from the callee (RFC 3262): each PRACKed once in its early
//! dialog, retransmissions and out-of-order ones dropped, the caller told unreliably, and the
//! dialog's CSeq going on above the PRACKs.

use switchboard_sip::{HeaderName, Method};

use super::*;

/// A reliable provisional from B (`Require: 100rel`, `RSeq: rseq`), To tag `b-tag-1`.
fn reliable(h: &Harness, status: u16, rseq: u32, sdp: Option<&str>) -> Message<'static> {
    let mut r = h.b_response(status, sdp, "b-tag-1");
    r.push_header(HeaderName::Require, "100rel");
    r.push_header(HeaderName::RSeq, rseq.to_string());
    on_the_wire(&r)
}

fn pracks(out: &[Action<u32>]) -> Vec<Message<'static>> {
    sent(out, Leg::B, Method::Prack)
        .into_iter()
        .map(|(_, m)| m)
        .collect()
}

#[test]
fn rfc3262_reliable_provisionals_are_pracked_once_each_and_relayed_unreliably() {
    let mut h = Harness::to_b_invite();
    let (tx, invite) = h.b_invite.clone().expect("B INVITE");
    assert!(
        invite.supported().is_ok_and(|s| s.contains(&"100rel")),
        "our INVITE offers 100rel"
    );
    let r183 = reliable(&h, 183, 7, Some(B_ANSWER));
    let out = h.event(CallEvent::Response {
        tx,
        response: r183.clone(),
    });
    let p = pracks(&out);
    assert_eq!(p.len(), 1, "{out:?}");
    assert_eq!(
        p[0].header(&HeaderName::RAck),
        Some("7 1 INVITE"),
        "RAck names RSeq and the INVITE's CSeq"
    );
    assert_eq!(p[0].call_id().ok(), invite.call_id().ok());
    assert_eq!(p[0].cseq().map(|c| c.seq).ok(), Some(2));
    assert_eq!(
        p[0].request_uri().expect("uri").to_string(),
        "sip:bob@198.51.100.20:5062",
        "to the callee's Contact"
    );
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::UpdateMedia { leg: Leg::B, .. })),
        "its early-media answer goes to the node: {out:?}"
    );
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    let to_a = out.iter().find_map(|a| match a {
        Action::Respond { tx: 1, response } if response.status() == Some(183) => {
            Some(response.clone())
        }
        _ => None,
    });
    let to_a = to_a.expect("183 to the caller");
    assert_eq!(to_a.header(&HeaderName::RSeq), None, "unreliable upstream");
    assert_eq!(to_a.header(&HeaderName::Require), None);

    // A retransmission (its PRACK crossed) and an out-of-order one: neither PRACKed nor processed.
    for response in [r183, reliable(&h, 180, 9, None)] {
        let out = h.event(CallEvent::Response { tx, response });
        assert!(out.is_empty(), "{out:?}");
    }
    // The next one is.
    let out = h.event(CallEvent::Response {
        tx,
        response: reliable(&h, 180, 8, None),
    });
    let p = pracks(&out);
    assert_eq!(p.len(), 1, "{out:?}");
    assert_eq!(p[0].header(&HeaderName::RAck), Some("8 1 INVITE"));
    assert_eq!(p[0].cseq().map(|c| c.seq).ok(), Some(3));
    assert_eq!(a_statuses(&out), [180]);

    // Answered; the caller's BYE reaches B with a CSeq above the PRACKs'.
    h.b_reply(200, Some(B_ANSWER));
    h.media_updated_and_acked(2);
    let bye = h.a_in_dialog("BYE", 102, &h.a_tag());
    let (_, out) = h.a_request(bye);
    let byes = sent(&out, Leg::B, Method::Bye);
    assert_eq!(byes.len(), 1, "{out:?}");
    assert_eq!(byes[0].1.cseq().map(|c| c.seq).ok(), Some(4));
}

#[test]
fn rfc3262_a_prack_is_answered_or_lost_without_touching_the_call() {
    let mut h = Harness::to_b_invite();
    let (tx, _) = h.b_invite.clone().expect("B INVITE");
    let out = h.event(CallEvent::Response {
        tx,
        response: reliable(&h, 180, 1, None),
    });
    let (ptx, prack) = sent(&out, Leg::B, Method::Prack)
        .first()
        .cloned()
        .expect("PRACK");
    assert!(h.reply_to(ptx, &prack, 481).is_empty());
    assert!(h.event(CallEvent::ClientTimedOut { tx: ptx }).is_empty());
    assert!(!h.call.is_terminated());
}

/// A response from the callee of `invite` with To tag `tag` and extra header lines.
fn response_to(invite: &Message<'_>, status: u16, tag: &str, extra: &str) -> Message<'static> {
    parse(&format!(
        "SIP/2.0 {status} X\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag={tag}\r\nCall-ID: {}\r\n\
CSeq: 1 INVITE\r\nContact: <sip:carol@198.51.100.88:5070>\r\n{extra}Content-Length: 0\r\n\r\n",
        invite.header(&HeaderName::Via).expect("Via"),
        invite.header(&HeaderName::From).expect("From"),
        invite.header(&HeaderName::To).expect("To"),
        invite.call_id().expect("Call-ID"),
    ))
}

#[test]
fn rfc3262_a_parallel_branch_is_pracked_towards_it_and_its_dialog_goes_on_when_it_wins() {
    let (mut h, _, (fork_tx, fork_invite)) = super::fork::forked();
    let r180 = response_to(&fork_invite, 180, "f-tag", "Require: 100rel\r\nRSeq: 1\r\n");
    let out = h.event(CallEvent::Response {
        tx: fork_tx,
        response: r180,
    });
    let hop = out.iter().find_map(|a| match a {
        Action::SendRequest {
            request, next_hop, ..
        } if request.method() == Some(&Method::Prack) => Some((*next_hop, request.clone())),
        _ => None,
    });
    let (hop, prack) = hop.expect("PRACK to the branch");
    assert_eq!(hop, addr(super::fork::FORK_HOP));
    assert_eq!(prack.call_id().ok(), fork_invite.call_id().ok());
    assert_eq!(prack.cseq().map(|c| c.seq).ok(), Some(2));
    // The branch answers and wins; the caller's BYE reaches it above the PRACK's CSeq.
    let ok = response_to(&fork_invite, 200, "f-tag", "");
    h.event(CallEvent::Response {
        tx: fork_tx,
        response: ok,
    });
    h.media_updated_and_acked(1);
    let bye = h.a_in_dialog("BYE", 102, &h.a_tag());
    let (_, out) = h.a_request(bye);
    let byes = sent(&out, Leg::B, Method::Bye);
    assert_eq!(byes.len(), 1, "{out:?}");
    assert_eq!(byes[0].1.call_id().ok(), fork_invite.call_id().ok());
    assert_eq!(byes[0].1.cseq().map(|c| c.seq).ok(), Some(3));
}
