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

/// A caller requiring reliable provisional responses (`Require: 100rel`).
pub(super) fn caller_requiring_100rel() -> Harness {
    let text = a_invite_text(70, A_OFFER).replace(
        "CSeq: 101 INVITE\r\n",
        "CSeq: 101 INVITE\r\nRequire: 100rel\r\n",
    );
    // Ringing may last longer than the 64*T1 a PRACK is waited for.
    let mut config = test_config();
    config.ring_timeout = Duration::from_secs(120);
    let now = Instant::now();
    let route = RouteTarget {
        request_uri: "sip:bob@198.51.100.20:5062".to_owned(),
        next_hop: addr(NEXT_HOP),
        auth: None,
        transport: Default::default(),
    };
    let tokens = Box::new(SequentialTokens::new("r"));
    let call = Call::new(now, config, parse(&text), 1, addr(A_SOURCE), route, tokens);
    let mut h = Harness::of(call, now);
    assert_eq!(a_statuses(&h.drain()), [100], "accepted, not 420");
    h.event(CallEvent::MediaAllocated {
        b_offer: B_OFFER.to_vec(),
    });
    h
}

/// The caller's PRACK for RSeq `rseq` of the INVITE (CSeq 101).
pub(super) fn prack_from_a(h: &Harness, cseq: u32, rseq: u32) -> Message<'static> {
    let text = h
        .a_in_dialog("PRACK", cseq, &h.a_tag())
        .encode_string()
        .replace(
            "Content-Length: 0",
            &format!("RAck: {rseq} 101 INVITE\r\nContent-Length: 0"),
        );
    parse(&text)
}

fn responses_to_a(out: &[Action<u32>]) -> Vec<Message<'static>> {
    out.iter()
        .filter_map(|a| match a {
            Action::Respond { tx: 1, response } => Some(response.clone()),
            _ => None,
        })
        .collect()
}

fn rseq_of(m: &Message<'_>) -> u32 {
    m.rseq().ok().flatten().expect("RSeq")
}

#[test]
fn rfc3262_caller_requiring_100rel_gets_each_provisional_reliably_in_turn() {
    let mut h = caller_requiring_100rel();
    let out = h.b_reply(180, None);
    let sent = responses_to_a(&out);
    assert_eq!(sent.len(), 1, "{out:?}");
    assert_eq!(sent[0].status(), Some(180));
    assert_eq!(sent[0].header(&HeaderName::Require), Some("100rel"));
    let first = rseq_of(&sent[0]);
    assert!(
        (1..=0x7fff_ffff).contains(&first),
        "RSeq {first} below 2^31"
    );

    // Unacknowledged: retransmitted at T1, 2*T1, ... with the same RSeq.
    let again = responses_to_a(&h.fire_timer());
    assert_eq!(again.len(), 1);
    assert_eq!(rseq_of(&again[0]), first);
    let t1 = test_config().t1;
    let before = h.now;
    let again = responses_to_a(&h.fire_timer());
    assert_eq!(rseq_of(&again[0]), first);
    assert_eq!(h.now - before, t1 * 2, "doubling interval");

    // B's 183 and 200 wait behind it: no second reliable response before the PRACK.
    let out = h.b_reply(183, Some(B_ANSWER));
    h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    assert!(responses_to_a(&out).is_empty(), "{out:?}");
    let out = h.b_reply(200, Some(B_ANSWER));
    let out2 = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(2),
        sdp: A_ANSWER.to_vec(),
    });
    assert!(responses_to_a(&out).is_empty() && responses_to_a(&out2).is_empty());

    // A PRACK naming another RSeq is 481 and changes nothing.
    let (ptx, out) = h.a_request(prack_from_a(&h, 102, first + 5));
    assert_eq!(response_on(&out, ptx).and_then(|r| r.status()), Some(481));
    assert!(responses_to_a(&out).is_empty());

    // The right PRACK: 200, then the 183 goes out reliably (next RSeq, with SDP).
    let (ptx, out) = h.a_request(prack_from_a(&h, 103, first));
    assert_eq!(response_on(&out, ptx).and_then(|r| r.status()), Some(200));
    let sent = responses_to_a(&out);
    assert_eq!(sent.len(), 1, "only the 183, the 200 waits: {out:?}");
    assert_eq!(sent[0].status(), Some(183));
    assert_eq!(rseq_of(&sent[0]), first + 1);
    assert!(!sent[0].body().is_empty(), "early media answer");

    // Its PRACK releases the 200; the call is answered as usual.
    let (_, out) = h.a_request(prack_from_a(&h, 104, first + 1));
    let sent = responses_to_a(&out);
    assert_eq!(sent.len(), 1, "{out:?}");
    assert_eq!(sent[0].status(), Some(200));
    assert_eq!(
        sent[0].header(&HeaderName::RSeq),
        None,
        "a final response has no RSeq"
    );
    let ack = h.ack_from_a();
    h.event(CallEvent::Ack { request: ack });
    assert!(!h.call.is_terminated());
    assert!(
        h.call.poll_timeout().is_none_or(|t| t > h.now + t1 * 64),
        "no retransmission left"
    );
}

#[test]
fn rfc3262_no_prack_from_the_caller_within_64_t1_refuses_the_call_and_cancels_b() {
    let mut h = caller_requiring_100rel();
    let out = h.b_reply(180, None);
    assert_eq!(a_statuses(&out), [180]);
    let start = h.now;
    let mut retransmissions = 0;
    let outcome = loop {
        let out = h.fire_timer();
        match a_statuses(&out).as_slice() {
            [180] => retransmissions += 1,
            _ => break out,
        }
        assert!(retransmissions < 10, "gives up by 64*T1");
    };
    let t1 = test_config().t1;
    assert_eq!(h.now - start, t1 * 64);
    assert_eq!(retransmissions, 6, "at 1, 3, 7, 15, 31 and 63 T1");
    assert_eq!(a_statuses(&outcome), [504]);
    assert_eq!(
        sent(&outcome, Leg::B, Method::Cancel).len(),
        1,
        "{outcome:?}"
    );
}

#[test]
fn rfc3262_a_caller_only_supporting_100rel_gets_unreliable_provisionals() {
    let text = a_invite_text(70, A_OFFER).replace(
        "CSeq: 101 INVITE\r\n",
        "CSeq: 101 INVITE\r\nSupported: 100rel\r\n",
    );
    let mut h = Harness::with_invite(&text);
    h.drain();
    h.event(CallEvent::MediaAllocated {
        b_offer: B_OFFER.to_vec(),
    });
    let sent = responses_to_a(&h.b_reply(180, None));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header(&HeaderName::RSeq), None);
    // A PRACK then names nothing: 481.
    let (ptx, out) = h.a_request(prack_from_a(&h, 102, 1));
    assert_eq!(response_on(&out, ptx).and_then(|r| r.status()), Some(481));
}
