//! Successful calls: setup, early media, topology hiding, BYE from either side, in-dialog requests.

use std::time::Duration;

use switchboard_sip::{HeaderName, Method};

use super::*;

#[test]
fn invite_gets_100_trying_and_a_media_allocation_for_the_offer() {
    let mut h = Harness::new();
    let actions = h.drain();
    assert_eq!(a_statuses(&actions), [100]);
    assert_eq!(
        actions.get(1),
        Some(&Action::AllocateMedia {
            offer: A_OFFER.as_bytes().to_vec()
        })
    );
    assert_eq!(h.call.media_allocations(), 1);
    assert_eq!(h.call.poll_timeout(), None);
}

#[test]
fn b_leg_invite_is_a_new_dialog_with_our_offer() {
    let h = Harness::to_b_invite();
    let (_, invite) = h.b_invite.as_ref().expect("sent");
    let invite = on_the_wire(invite);
    assert_eq!(
        invite.request_uri().expect("uri").to_string(),
        "sip:bob@198.51.100.20:5062"
    );
    let cseq = invite.cseq().expect("cseq");
    assert_eq!((cseq.seq, cseq.method), (1, Method::Invite));
    assert_eq!(invite.max_forwards().expect("mf"), Some(69));
    assert_eq!(invite.vias().expect("vias").len(), 1);
    let via = invite.top_via().expect("via");
    assert!(via.has_rfc3261_branch());
    assert_eq!(via.host.to_string(), "203.0.113.1");
    assert!(invite.from().expect("from").tag().is_some());
    assert_eq!(invite.to().expect("to").tag(), None);
    assert_eq!(
        invite.header(&HeaderName::Contact),
        Some("<sip:sb@203.0.113.1:5060>")
    );
    assert_eq!(invite.body(), B_OFFER);
    let sends: Vec<_> = h
        .all
        .iter()
        .filter_map(|a| match a {
            Action::SendRequest { next_hop, .. } => Some(*next_hop),
            _ => None,
        })
        .collect();
    assert_eq!(sends, [addr(NEXT_HOP)]);
}

#[test]
fn topology_hiding_b_leg_carries_nothing_of_the_a_leg_path() {
    let h = Harness::to_b_invite();
    let (_, invite) = h.b_invite.as_ref().expect("sent");
    let text = String::from_utf8(invite.encode()).expect("utf-8");
    for leak in [
        "192.0.2.10",
        "10.9.9.9",
        "proxy.atlanta",
        "a-call-1",
        "a-tag-1",
        "z9hG4bKa1",
        "Record-Route",
        "Route:",
    ] {
        assert!(!text.contains(leak), "B-leg INVITE leaks {leak}:\n{text}");
    }
    assert_eq!(h.call.leg_of("a-call-1@192.0.2.10"), Some(Leg::A));
    let b_call_id = invite.call_id().expect("call-id");
    assert_eq!(h.call.leg_of(b_call_id), Some(Leg::B));
}

#[test]
fn topology_hiding_responses_to_a_carry_nothing_of_the_b_leg() {
    let h = Harness::answered();
    let b_call_id = h.call.b_call_id().expect("b call-id").to_owned();
    for a in &h.all {
        if let Action::Respond { tx: 1, response } = a {
            let text = String::from_utf8(response.encode()).expect("utf-8");
            for leak in [
                "198.51.100.20",
                "b-tag-1",
                b_call_id.as_str(),
                "Whatever B Says",
            ] {
                assert!(!text.contains(leak), "response to A leaks {leak}:\n{text}");
            }
        }
    }
}

#[test]
fn basic_call_180_200_ack_then_bye_from_a() {
    let mut h = Harness::to_b_invite();
    assert!(h.b_reply(100, None).is_empty());
    let ringing = h.b_reply(180, None);
    assert_eq!(a_statuses(&ringing), [180]);
    let r180 = response_on(&ringing, 1).expect("180");
    assert_eq!(r180.to().expect("to").tag(), Some(h.a_tag().as_str()));
    assert_eq!(r180.reason(), Some("Ringing"));
    let ok = h.b_reply(200, Some(B_ANSWER));
    // B is ACKed at once (CSeq 1 ACK to B's Contact); A waits for the rewritten answer.
    let ack = ok
        .iter()
        .find_map(|a| match a {
            Action::SendAck {
                leg: Leg::B,
                request,
                next_hop,
            } => Some((request.clone(), *next_hop)),
            _ => None,
        })
        .expect("ACK to B");
    let cseq = ack.0.cseq().expect("cseq");
    assert_eq!((cseq.seq, cseq.method), (1, Method::Ack));
    assert_eq!(
        ack.0.request_uri().expect("uri").to_string(),
        "sip:bob@198.51.100.20:5062"
    );
    assert_eq!(ack.1, addr(NEXT_HOP));
    let op = ok
        .iter()
        .find_map(|a| match a {
            Action::UpdateMedia {
                op,
                leg: Leg::B,
                sdp,
            } if sdp == B_ANSWER.as_bytes() => Some(*op),
            _ => None,
        })
        .expect("media update with B's answer");
    assert!(a_statuses(&ok).is_empty());
    let answered = h.event(CallEvent::MediaUpdated {
        op,
        sdp: A_ANSWER.to_vec(),
    });
    let r200 = response_on(&answered, 1).expect("200 to A");
    assert_eq!(r200.status(), Some(200));
    assert_eq!(r200.body(), A_ANSWER);
    assert_eq!(
        r200.header(&HeaderName::ContentType),
        Some("application/sdp")
    );
    assert!(h.call.poll_timeout().is_some(), "ACK timer armed");
    assert!(
        h.event(CallEvent::Ack {
            request: h.ack_from_a()
        })
        .is_empty()
    );
    assert_eq!(h.call.poll_timeout(), None);

    h.advance(Duration::from_secs(42));
    let (tx, bye) = h.a_request(h.a_in_dialog("BYE", 102, &h.a_tag()));
    assert_eq!(response_on(&bye, tx).and_then(|r| r.status()), Some(200));
    let (bye_tx, bye_b) = sent(&bye, Leg::B, Method::Bye).pop().expect("BYE to B");
    assert_eq!(bye_b.cseq().expect("cseq").seq, 2);
    assert_eq!(bye_b.to().expect("to").tag(), Some("b-tag-1"));
    assert!(!h.call.is_terminated(), "waits for B's answer to the BYE");
    let end = h.reply_to(bye_tx, &bye_b, 200);
    assert_eq!(
        end.last(),
        Some(&Action::Ended {
            cause: EndCause::HangUp(Leg::A),
            a_status: 200,
            duration: Some(Duration::from_secs(42)),
        })
    );
    h.assert_ended(EndCause::HangUp(Leg::A), 200, 1);
}

#[test]
fn basic_call_bye_from_b_is_relayed_to_a() {
    let mut h = Harness::answered();
    let bye = h.bye_from_b();
    let actions = h.event(CallEvent::Request {
        tx: 77,
        request: bye,
    });
    assert_eq!(
        response_on(&actions, 77).and_then(|r| r.status()),
        Some(200)
    );
    let (tx, bye_a) = sent(&actions, Leg::A, Method::Bye).pop().expect("BYE to A");
    let to_a = on_the_wire(&bye_a);
    assert_eq!(
        to_a.request_uri().expect("uri").to_string(),
        "sip:alice@192.0.2.10:5060"
    );
    assert_eq!(to_a.call_id().expect("call-id"), "a-call-1@192.0.2.10");
    assert_eq!(to_a.to().expect("to").tag(), Some("a-tag-1"));
    assert_eq!(to_a.from().expect("from").tag(), Some(h.a_tag().as_str()));
    assert_eq!(to_a.cseq().expect("cseq").seq, 1);
    let reason = to_a.reasons().expect("Reason");
    assert_eq!(reason.first().map(|r| r.protocol), Some("Q.850"));
    assert_eq!(reason.first().and_then(|r| r.cause()), Some(16));
    let routes: Vec<String> = to_a
        .routes()
        .expect("routes")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        routes,
        ["<sip:proxy.atlanta.example;lr>"],
        "A's route set (RFC 3261 §12.2.1.1)"
    );
    let hop = actions.iter().find_map(|a| match a {
        Action::SendRequest {
            leg: Leg::A,
            next_hop,
            ..
        } => Some(*next_hop),
        _ => None,
    });
    assert_eq!(hop, Some(addr(A_SOURCE)));
    h.reply_to(tx, &bye_a, 200);
    h.assert_ended(EndCause::HangUp(Leg::B), 200, 1);
}

#[test]
fn early_media_183_with_sdp_reaches_a_before_the_200() {
    let mut h = Harness::to_b_invite();
    let progress = h.b_reply(183, Some(B_ANSWER));
    assert!(
        a_statuses(&progress).is_empty(),
        "183 waits for its rewritten SDP"
    );
    // B answers before the media node has rewritten the 183's SDP: order must hold.
    let ok = h.b_reply(200, None);
    assert!(a_statuses(&ok).is_empty(), "200 must not overtake the 183");
    let out = h.event(CallEvent::MediaUpdated {
        op: crate::MediaOp(1),
        sdp: A_ANSWER.to_vec(),
    });
    assert_eq!(a_statuses(&out), [183, 200]);
    for a in &out {
        if let Action::Respond { response, .. } = a {
            assert_eq!(response.body(), A_ANSWER, "{:?}", response.status());
        }
    }
}

#[test]
fn provisional_without_sdp_is_relayed_at_once() {
    let mut h = Harness::to_b_invite();
    assert_eq!(a_statuses(&h.b_reply(180, None)), [180]);
    assert_eq!(a_statuses(&h.b_reply(180, None)), [180]);
}

#[test]
fn s13_2_2_4_retransmitted_2xx_is_acked_again() {
    let mut h = Harness::answered();
    let again = h.b_reply(200, Some(B_ANSWER));
    assert_eq!(again.len(), 1);
    assert!(matches!(
        again.first(),
        Some(Action::SendAck { leg: Leg::B, .. })
    ));
}

#[test]
fn s13_2_2_4_2xx_from_another_fork_is_acked_and_hung_up() {
    let mut h = Harness::answered();
    let response = h.b_response(200, Some(B_ANSWER), "b-fork-2");
    let tx = h.b_invite_tx();
    let out = h.event(CallEvent::Response { tx, response });
    assert!(matches!(
        out.first(),
        Some(Action::SendAck { leg: Leg::B, .. })
    ));
    let (_, bye) = sent(&out, Leg::B, Method::Bye)
        .pop()
        .expect("BYE to the fork");
    assert_eq!(bye.to().expect("to").tag(), Some("b-fork-2"));
    assert!(!h.call.is_terminated(), "the call itself goes on");
}

#[test]
fn s12_2_2_in_dialog_bye_with_lower_cseq_gets_500() {
    let mut h = Harness::answered();
    let (tx, out) = h.a_request(h.a_in_dialog("BYE", 100, &h.a_tag()));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(500));
    assert_eq!(out.len(), 1);
    assert!(!h.call.is_terminated());
}

#[test]
fn s12_2_2_in_dialog_bye_with_unknown_tag_or_call_id_gets_481() {
    let mut h = Harness::answered();
    let (tx, out) = h.a_request(h.a_in_dialog("BYE", 102, "not-our-tag"));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(481));
    let text = h.a_in_dialog("BYE", 102, &h.a_tag()).encode();
    let text = String::from_utf8(text)
        .expect("utf-8")
        .replace("a-call-1@192.0.2.10", "other-call");
    let (tx, out) = h.a_request(parse(&text));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(481));
    assert_eq!(out.len(), 1);
    assert!(!h.call.is_terminated());
}

#[test]
fn in_dialog_refer_without_refer_to_gets_400_message_501_and_options_200() {
    let mut h = Harness::answered();
    let (tx, out) = h.a_request(h.a_in_dialog("REFER", 102, &h.a_tag()));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(400));
    let (tx, out) = h.a_request(h.a_in_dialog("MESSAGE", 103, &h.a_tag()));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(501));
    let (tx, out) = h.a_request(h.a_in_dialog("OPTIONS", 104, &h.a_tag()));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(200));
    assert!(!h.call.is_terminated());
}

#[test]
fn operator_hangup_of_an_answered_call_byes_both_legs() {
    let mut h = Harness::answered();
    let out = h.event(CallEvent::Hangup);
    let (ta, bye_a) = sent(&out, Leg::A, Method::Bye).pop().expect("BYE to A");
    let (tb, bye_b) = sent(&out, Leg::B, Method::Bye).pop().expect("BYE to B");
    h.reply_to(ta, &bye_a, 200);
    assert!(!h.call.is_terminated());
    h.event(CallEvent::ClientTimedOut { tx: tb });
    let _ = bye_b;
    h.assert_ended(EndCause::Administrative, 200, 1);
}

#[test]
fn s12_1_1_dialog_creating_responses_to_a_copy_its_record_route() {
    let h = Harness::answered();
    let mut seen = Vec::new();
    for a in &h.all {
        if let Action::Respond { tx: 1, response } = a {
            let rr: Vec<String> = on_the_wire(response)
                .record_routes()
                .expect("record-route")
                .iter()
                .map(ToString::to_string)
                .collect();
            seen.push((response.status(), rr));
        }
    }
    let proxy = vec!["<sip:proxy.atlanta.example;lr>".to_owned()];
    assert_eq!(
        seen,
        [
            (Some(100), vec![]),
            (Some(180), proxy.clone()),
            (Some(200), proxy)
        ]
    );
}

#[test]
fn provisional_from_another_fork_does_not_retarget_the_early_dialog() {
    let mut h = Harness::to_b_invite();
    h.b_reply(180, None);
    let other = h.b_response(180, None, "b-fork-2").encode();
    let other = String::from_utf8(other)
        .expect("utf-8")
        .replace("sip:bob@198.51.100.20:5062>", "sip:bob@198.51.100.99>");
    let tx = h.b_invite_tx();
    h.event(CallEvent::Response {
        tx,
        response: parse(&other),
    });
    let d = h.call.b_dialog().expect("early dialog");
    assert_eq!(d.id().remote_tag, "b-tag-1");
    assert_eq!(d.remote_target(), "sip:bob@198.51.100.20:5062");
}
