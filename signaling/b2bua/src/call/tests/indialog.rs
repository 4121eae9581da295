//! In-dialog requests relayed between the legs: re-INVITE (RFC 3261 §14) for hold/resume, glare
//! (§14.2), failures and timeouts with the session unchanged, the 2xx/ACK on each leg (§13.3.1.4),
//! UPDATE (RFC 3311) and INFO (RFC 6086).

use std::time::Duration;

use switchboard_sip::{HeaderName, Message, Method};

use super::*;
use crate::MediaOp;

pub(super) const A_HOLD: &str = "v=0\r\no=alice 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\na=sendonly\r\n";
/// A's hold offer as the media node rewrote it for B (node address, leg B port).
pub(super) const A_HOLD_FOR_B: &[u8] = b"v=0\r\no=alice 1 3 IN IP4 203.0.113.50\r\ns=-\r\nc=IN IP4 203.0.113.50\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=sendonly\r\n";
pub(super) const B_HOLD_ANSWER: &str = "v=0\r\no=bob 1 2 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\na=recvonly\r\n";
pub(super) const B_HOLD_ANSWER_FOR_A: &[u8] = b"v=0\r\no=bob 1 3 IN IP4 203.0.113.50\r\ns=-\r\nc=IN IP4 203.0.113.50\r\nt=0 0\r\nm=audio 30002 RTP/AVP 0\r\na=recvonly\r\n";

impl Harness {
    /// An in-dialog request from A with a body of `content_type`.
    pub(super) fn a_with_body(
        &self,
        method: &str,
        cseq: u32,
        content_type: &str,
        body: &str,
    ) -> Message<'static> {
        parse(&format!(
            "{method} sip:sb@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKm{cseq}\r\n\
Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@atlanta.example>;tag=a-tag-1\r\n\
To: <sip:bob@switchboard.example>;tag={}\r\nCall-ID: a-call-1@192.0.2.10\r\n\
CSeq: {cseq} {method}\r\nContact: <sip:alice@192.0.2.10:5060>\r\nInfo-Package: dtmf\r\n\
Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            self.a_tag(),
            body.len()
        ))
    }

    /// An in-dialog request from B (in the B-leg dialog) with an optional SDP body.
    pub(super) fn b_with_body(&self, method: &str, cseq: u32, sdp: &str) -> Message<'static> {
        let (_, inv) = self.b_invite.as_ref().expect("B-leg INVITE sent");
        let ct = if sdp.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        parse(&format!(
            "{method} sip:sb@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5062;branch=z9hG4bKb{cseq}\r\n\
Max-Forwards: 70\r\nFrom: {};tag=b-tag-1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\n\
Contact: <sip:bob@198.51.100.20:5062>\r\n{ct}Content-Length: {}\r\n\r\n{sdp}",
            inv.header(&HeaderName::To).expect("To"),
            inv.header(&HeaderName::From).expect("From"),
            inv.call_id().expect("Call-ID"),
            sdp.len()
        ))
    }

    /// A peer's response to a request the call sent, with an optional SDP body and a Contact.
    pub(super) fn reply_with(
        &mut self,
        tx: ClientTxId,
        request: &Message<'_>,
        status: u16,
        sdp: &str,
    ) -> Vec<Action<u32>> {
        let mut r = request.response(status, "Peer Says").into_owned();
        r.push_header(HeaderName::Contact, "<sip:peer@198.51.100.99:5070>");
        if !sdp.is_empty() {
            r.set_body(Some("application/sdp"), sdp.as_bytes().to_vec());
        }
        let response = on_the_wire(&r);
        self.event(CallEvent::Response { tx, response })
    }

    fn ack_a(&mut self, cseq: u32) -> Vec<Action<u32>> {
        let request = self.a_in_dialog("ACK", cseq, &self.a_tag());
        self.event(CallEvent::Ack { request })
    }

    /// A re-INVITE from A with `sdp`, its offer rewritten by the node: returns its server tx and
    /// the INVITE sent to B.
    pub(super) fn reinvite_from_a(
        &mut self,
        cseq: u32,
        sdp: &str,
    ) -> (u32, ClientTxId, Message<'static>) {
        let request = self.a_with_body("INVITE", cseq, "application/sdp", sdp);
        let (tx, out) = self.a_request(request);
        let op = update_op(&out, Leg::A, sdp.as_bytes()).expect("offer to the node for leg A");
        assert!(
            response_on(&out, tx).is_none(),
            "no answer before B answers"
        );
        let out = self.event(CallEvent::MediaUpdated {
            op,
            sdp: A_HOLD_FOR_B.to_vec(),
        });
        let (b_tx, invite) = sent(&out, Leg::B, Method::Invite)
            .pop()
            .expect("re-INVITE to B");
        (tx, b_tx, invite)
    }
}

pub(super) fn update_op(actions: &[Action<u32>], leg: Leg, sdp: &[u8]) -> Option<MediaOp> {
    actions.iter().find_map(|a| match a {
        Action::UpdateMedia { op, leg: l, sdp: s } if *l == leg && s == sdp => Some(*op),
        _ => None,
    })
}

pub(super) fn acks(actions: &[Action<u32>], leg: Leg) -> Vec<Message<'static>> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SendAck {
                leg: l, request, ..
            } if *l == leg => Some(request.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn rfc3261_s14_hold_reinvite_from_a_is_relayed_to_b_through_the_media_node() {
    let mut h = Harness::answered();
    let (tx, b_tx, invite) = h.reinvite_from_a(102, A_HOLD);
    let invite = on_the_wire(&invite);
    // A new transaction in B's dialog: B's Contact, our next CSeq, B's tags, the node's SDP.
    assert_eq!(
        invite.request_uri().expect("uri").to_string(),
        "sip:bob@198.51.100.20:5062"
    );
    let cseq = invite.cseq().expect("cseq");
    assert_eq!((cseq.seq, cseq.method), (2, Method::Invite));
    assert_eq!(invite.to().expect("to").tag(), Some("b-tag-1"));
    assert_eq!(Some(invite.call_id().expect("call-id")), h.call.b_call_id());
    assert_eq!(invite.body(), A_HOLD_FOR_B);
    assert_eq!(
        invite.header(&HeaderName::ContentType),
        Some("application/sdp")
    );
    assert_eq!(
        invite.header(&HeaderName::Contact),
        Some("<sip:sb@203.0.113.1:5060>")
    );
    let text = invite.encode_string();
    for leak in ["192.0.2.10", "a-call-1", "a-tag-1", "z9hG4bKm102"] {
        assert!(!text.contains(leak), "re-INVITE to B leaks {leak}:\n{text}");
    }
    // B answers: ACKed on B's leg at once (CSeq 2), the answer goes to the node for leg B.
    let out = h.reply_with(b_tx, &invite, 200, B_HOLD_ANSWER);
    let ack = acks(&out, Leg::B).pop().expect("ACK to B");
    let cseq = ack.cseq().expect("cseq");
    assert_eq!((cseq.seq, cseq.method), (2, Method::Ack));
    assert_eq!(
        ack.request_uri().expect("uri").to_string(),
        "sip:peer@198.51.100.99:5070",
        "B's refreshed target"
    );
    assert!(
        response_on(&out, tx).is_none(),
        "A waits for the rewritten answer"
    );
    let op =
        update_op(&out, Leg::B, B_HOLD_ANSWER.as_bytes()).expect("answer to the node for leg B");
    let out = h.event(CallEvent::MediaUpdated {
        op,
        sdp: B_HOLD_ANSWER_FOR_A.to_vec(),
    });
    let ok = on_the_wire(&response_on(&out, tx).expect("200 to A"));
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.body(), B_HOLD_ANSWER_FOR_A);
    assert_eq!(ok.cseq().expect("cseq").seq, 102);
    assert_eq!(ok.to().expect("to").tag(), Some(h.a_tag().as_str()));
    assert_eq!(
        ok.header(&HeaderName::Contact),
        Some("<sip:sb@203.0.113.1:5060>")
    );
    assert!(
        !ok.encode_string().contains("198.51.100"),
        "no B address in the answer to A"
    );
    // A's ACK completes it; nothing is retransmitted afterwards and the call goes on.
    assert!(h.ack_a(102).is_empty());
    assert_eq!(h.call.poll_timeout(), None);
    assert!(!h.call.is_terminated());
}

#[test]
fn rfc3261_s14_resume_after_hold_is_a_plain_reinvite_with_the_next_cseq() {
    let mut h = Harness::answered();
    let (tx, b_tx, invite) = h.reinvite_from_a(102, A_HOLD);
    let out = h.reply_with(b_tx, &invite, 200, B_HOLD_ANSWER);
    let op = update_op(&out, Leg::B, B_HOLD_ANSWER.as_bytes()).expect("op");
    h.event(CallEvent::MediaUpdated {
        op,
        sdp: B_HOLD_ANSWER_FOR_A.to_vec(),
    });
    h.ack_a(102);
    let (tx2, b_tx2, resume) = h.reinvite_from_a(103, A_OFFER);
    assert_ne!(tx, tx2);
    assert_eq!(resume.cseq().expect("cseq").seq, 3);
    let out = h.reply_with(b_tx2, &resume, 200, B_ANSWER);
    assert_eq!(
        acks(&out, Leg::B)
            .pop()
            .and_then(|a| a.cseq().ok().map(|c| c.seq)),
        Some(3)
    );
    let op = update_op(&out, Leg::B, B_ANSWER.as_bytes()).expect("op");
    let out = h.event(CallEvent::MediaUpdated {
        op,
        sdp: A_ANSWER.to_vec(),
    });
    assert_eq!(response_on(&out, tx2).and_then(|r| r.status()), Some(200));
    assert!(h.ack_a(103).is_empty());
    assert!(!h.call.is_terminated());
}

#[test]
fn rfc3261_s14_reinvite_from_b_is_relayed_to_a_in_a_new_transaction_of_a_dialog() {
    let mut h = Harness::answered();
    let (tx, out) = h.a_request(h.b_with_body("INVITE", 8, B_HOLD_ANSWER));
    let op =
        update_op(&out, Leg::B, B_HOLD_ANSWER.as_bytes()).expect("offer to the node for leg B");
    let out = h.event(CallEvent::MediaUpdated {
        op,
        sdp: B_HOLD_ANSWER_FOR_A.to_vec(),
    });
    let hop = out.iter().find_map(|a| match a {
        Action::SendRequest {
            leg: Leg::A,
            next_hop,
            ..
        } => Some(*next_hop),
        _ => None,
    });
    assert_eq!(hop, Some(addr(A_SOURCE)));
    let (a_tx, invite) = sent(&out, Leg::A, Method::Invite)
        .pop()
        .expect("re-INVITE to A");
    let invite = on_the_wire(&invite);
    assert_eq!(
        invite.request_uri().expect("uri").to_string(),
        "sip:alice@192.0.2.10:5060"
    );
    assert_eq!(
        invite.cseq().expect("cseq").seq,
        1,
        "our first request in A's dialog"
    );
    assert_eq!(invite.call_id().expect("call-id"), "a-call-1@192.0.2.10");
    assert_eq!(invite.from().expect("from").tag(), Some(h.a_tag().as_str()));
    assert_eq!(invite.body(), B_HOLD_ANSWER_FOR_A);
    let out = h.reply_with(a_tx, &invite, 200, A_HOLD);
    assert_eq!(
        acks(&out, Leg::A)
            .pop()
            .and_then(|a| a.cseq().ok().map(|c| c.seq)),
        Some(1)
    );
    let op = update_op(&out, Leg::A, A_HOLD.as_bytes()).expect("answer for leg A");
    let out = h.event(CallEvent::MediaUpdated {
        op,
        sdp: A_HOLD_FOR_B.to_vec(),
    });
    let ok = response_on(&out, tx).expect("200 to B");
    assert_eq!((ok.status(), ok.body()), (Some(200), A_HOLD_FOR_B));
    let ack = h.b_with_body("ACK", 8, "");
    assert!(h.event(CallEvent::Ack { request: ack }).is_empty());
    assert_eq!(h.call.poll_timeout(), None);
}

#[test]
fn rfc3261_s14_2_reinvite_glare_gets_491() {
    let mut h = Harness::answered();
    let (_, _, _) = h.reinvite_from_a(102, A_HOLD);
    // B offers while our re-INVITE to B is pending: glare.
    let (tx, out) = h.a_request(h.b_with_body("INVITE", 8, B_HOLD_ANSWER));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(491));
    assert!(
        update_op(&out, Leg::B, B_HOLD_ANSWER.as_bytes()).is_none(),
        "the node is not touched"
    );
    // So does an UPDATE with an offer from B.
    let (tx, out) = h.a_request(h.b_with_body("UPDATE", 9, B_HOLD_ANSWER));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(491));
}

#[test]
fn rfc3261_s14_2_second_reinvite_before_the_first_is_answered_gets_500_with_retry_after() {
    let mut h = Harness::answered();
    h.reinvite_from_a(102, A_HOLD);
    let (tx, out) = h.a_request(h.a_with_body("INVITE", 103, "application/sdp", A_OFFER));
    let r = response_on(&out, tx).expect("answer");
    assert_eq!(r.status(), Some(500));
    let secs: u32 = r
        .header(&HeaderName::RetryAfter)
        .expect("Retry-After")
        .parse()
        .expect("number");
    assert!(secs <= 10);
}

#[test]
fn rfc3261_s14_1_reinvite_rejected_by_b_is_relayed_and_the_session_stays() {
    let mut h = Harness::answered();
    let (tx, b_tx, invite) = h.reinvite_from_a(102, A_HOLD);
    let out = h.reply_with(b_tx, &invite, 488, "");
    let r = response_on(&out, tx).expect("488 to A");
    assert_eq!(
        (r.status(), r.reason()),
        (Some(488), Some("Not Acceptable Here"))
    );
    assert!(
        acks(&out, Leg::B).is_empty(),
        "a non-2xx is ACKed by the transaction layer"
    );
    // The node's leg A goes back to A's accepted offer; that update's result changes nothing.
    let op = update_op(&out, Leg::A, A_OFFER.as_bytes()).expect("leg A restored");
    assert!(
        h.event(CallEvent::MediaUpdated {
            op,
            sdp: A_HOLD_FOR_B.to_vec()
        })
        .is_empty()
    );
    // A may try again at once; the session is intact.
    let (_, _, again) = h.reinvite_from_a(103, A_HOLD);
    assert_eq!(again.cseq().expect("cseq").seq, 3);
    assert!(!h.call.is_terminated());
}

#[test]
fn rfc3261_s14_1_reinvite_491_from_b_is_relayed_for_a_to_retry() {
    let mut h = Harness::answered();
    let (tx, b_tx, invite) = h.reinvite_from_a(102, A_HOLD);
    let out = h.reply_with(b_tx, &invite, 491, "");
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(491));
    assert!(!h.call.is_terminated());
}

#[test]
fn rfc3261_s17_1_1_2_reinvite_timeout_answers_408_and_keeps_the_call() {
    let mut h = Harness::answered();
    let (tx, b_tx, _) = h.reinvite_from_a(102, A_HOLD);
    let out = h.event(CallEvent::ClientTimedOut { tx: b_tx });
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(408));
    assert!(
        update_op(&out, Leg::A, A_OFFER.as_bytes()).is_some(),
        "leg A restored"
    );
    assert!(!h.call.is_terminated());
    assert!(sent(&out, Leg::B, Method::Bye).is_empty());
}

#[test]
fn rfc3311_s5_2_media_node_refusing_the_offer_gives_488_session_unchanged() {
    let mut h = Harness::answered();
    let request = h.a_with_body("INVITE", 102, "application/sdp", A_HOLD);
    let (tx, out) = h.a_request(request);
    let op = update_op(&out, Leg::A, A_HOLD.as_bytes()).expect("op");
    let out = h.event(CallEvent::MediaUpdateFailed { op });
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(488));
    assert!(sent(&out, Leg::B, Method::Invite).is_empty());
    assert!(!h.call.is_terminated());
}

#[test]
fn rfc3261_s13_3_1_4_our_2xx_to_a_reinvite_is_retransmitted_until_the_ack() {
    let mut h = Harness::answered();
    let (tx, b_tx, invite) = h.reinvite_from_a(102, A_HOLD);
    let out = h.reply_with(b_tx, &invite, 200, B_HOLD_ANSWER);
    let op = update_op(&out, Leg::B, B_HOLD_ANSWER.as_bytes()).expect("op");
    h.event(CallEvent::MediaUpdated {
        op,
        sdp: B_HOLD_ANSWER_FOR_A.to_vec(),
    });
    let start = h.now;
    let mut at = Vec::new();
    for _ in 0..4 {
        let out = h.fire_timer();
        assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(200));
        at.push(h.now - start);
    }
    let ms: Vec<u128> = at.iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [500, 1500, 3500, 7500], "T1 doubling");
    assert!(h.ack_a(102).is_empty());
    assert_eq!(h.call.poll_timeout(), None);
}

#[test]
fn rfc3261_s13_3_1_4_no_ack_for_the_reinvite_2xx_byes_both_legs() {
    let mut h = Harness::answered();
    let (_, b_tx, invite) = h.reinvite_from_a(102, A_HOLD);
    let out = h.reply_with(b_tx, &invite, 200, B_HOLD_ANSWER);
    let op = update_op(&out, Leg::B, B_HOLD_ANSWER.as_bytes()).expect("op");
    h.event(CallEvent::MediaUpdated {
        op,
        sdp: B_HOLD_ANSWER_FOR_A.to_vec(),
    });
    let start = h.now;
    let mut byes = Vec::new();
    for _ in 0..20 {
        let out = h.fire_timer();
        byes.extend(sent(&out, Leg::A, Method::Bye));
        byes.extend(sent(&out, Leg::B, Method::Bye));
        if !byes.is_empty() {
            break;
        }
    }
    assert_eq!(byes.len(), 2, "BYE on both legs");
    assert_eq!(h.now - start, Duration::from_secs(32), "after 64*T1");
}

#[test]
fn rfc3261_s13_2_2_4_retransmitted_2xx_from_b_is_acked_again() {
    let mut h = Harness::answered();
    let (_, b_tx, invite) = h.reinvite_from_a(102, A_HOLD);
    let first = acks(&h.reply_with(b_tx, &invite, 200, B_HOLD_ANSWER), Leg::B);
    let again = acks(&h.reply_with(b_tx, &invite, 200, B_HOLD_ANSWER), Leg::B);
    assert_eq!(first.len(), 1);
    assert_eq!(first, again, "the same ACK again");
    let ops = h
        .all
        .iter()
        .filter(|a| matches!(a, Action::UpdateMedia { leg: Leg::B, .. }))
        .count();
    assert_eq!(
        ops, 2,
        "B's setup answer and this answer, not the retransmission"
    );
}

#[test]
fn rfc3261_s15_1_2_bye_while_a_reinvite_is_pending_gets_487_for_it() {
    let mut h = Harness::answered();
    let (tx, _, _) = h.reinvite_from_a(102, A_HOLD);
    let out = h.event(CallEvent::Request {
        tx: 90,
        request: h.bye_from_b(),
    });
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(487));
    assert_eq!(response_on(&out, 90).and_then(|r| r.status()), Some(200));
    let (ta, bye_a) = sent(&out, Leg::A, Method::Bye).pop().expect("BYE to A");
    h.reply_to(ta, &bye_a, 200);
    h.assert_ended(EndCause::HangUp(Leg::B), 200, 1);
}

#[test]
fn rfc3261_s14_1_reinvite_before_the_call_is_answered_gets_491() {
    let mut h = Harness::to_b_invite();
    h.b_reply(180, None);
    let (tx, out) = h.a_request(h.a_with_body("INVITE", 102, "application/sdp", A_HOLD));
    assert_eq!(response_on(&out, tx).and_then(|r| r.status()), Some(491));
}

#[test]
fn rfc3261_s14_2_reinvite_without_sdp_is_offered_our_last_sdp_and_the_ack_answer_goes_to_the_node()
{
    let mut h = Harness::answered();
    let (tx, out) = h.a_request(h.a_in_dialog("INVITE", 102, &h.a_tag()));
    assert!(
        sent(&out, Leg::B, Method::Invite).is_empty(),
        "B is not involved"
    );
    let ok = response_on(&out, tx).expect("200 to A");
    assert_eq!(ok.status(), Some(200));
    assert_eq!(
        ok.body(),
        A_ANSWER,
        "the SDP A last got from us, as our offer"
    );
    assert_eq!(
        ok.header(&HeaderName::Contact),
        Some("<sip:sb@203.0.113.1:5060>")
    );
    // A's ACK carries its answer: the node's leg A follows it; nothing goes to B.
    let ack = h.a_with_body("ACK", 102, "application/sdp", A_HOLD);
    let out = h.event(CallEvent::Ack { request: ack });
    let op = update_op(&out, Leg::A, A_HOLD.as_bytes()).expect("answer to the node");
    assert!(
        h.event(CallEvent::MediaUpdated {
            op,
            sdp: A_HOLD_FOR_B.to_vec()
        })
        .is_empty()
    );
    assert_eq!(h.call.poll_timeout(), None);
    // From B likewise, offered the SDP B last got from us.
    let (tx, out) = h.a_request(h.b_with_body("INVITE", 9, ""));
    assert_eq!(
        response_on(&out, tx).map(|r| r.body().to_vec()),
        Some(B_OFFER.to_vec())
    );
    assert!(sent(&out, Leg::A, Method::Invite).is_empty());
}
