//! Calls we originate: the first party rung with our own offer, its answer on the node's A side,
//! then the second party called with that answer; either party ending or refusing ends the call.

use switchboard_sip::{HeaderName, Method};

use super::*;
use crate::{MediaOp, Parties, SecondParty};

const FIRST_HOP: &str = "192.0.2.30:5060";
const SECOND_HOP: &str = "198.51.100.40:5060";
const OUR_OFFER: &[u8] = b"v=0\r\no=sb 1 1 IN IP4 203.0.113.50\r\ns=-\r\nc=IN IP4 203.0.113.50\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 8 101\r\n";
const FIRST_ANSWER: &str = "v=0\r\no=first 1 1 IN IP4 192.0.2.30\r\ns=-\r\nc=IN IP4 192.0.2.30\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\n";
const SECOND_OFFER: &[u8] = b"v=0\r\no=sb 1 2 IN IP4 203.0.113.50\r\ns=-\r\nc=IN IP4 203.0.113.50\r\nt=0 0\r\nm=audio 30002 RTP/AVP 8\r\n";

pub(super) fn originated() -> Harness {
    let parties = Parties {
        first: "1001".to_owned(),
        second: "5551234".to_owned(),
        domain: "switchboard.example".to_owned(),
    };
    let first = RouteTarget {
        request_uri: "sip:1001@192.0.2.30:5060".to_owned(),
        next_hop: addr(FIRST_HOP),
        auth: None,
        transport: Default::default(),
    };
    let second = SecondParty {
        route: RouteTarget {
            request_uri: "sip:5551234@198.51.100.40".to_owned(),
            next_hop: addr(SECOND_HOP),
            auth: None,
            transport: Default::default(),
        },
        others: Vec::new(),
        parallel: 0,
        caller_id: None,
    };
    let rng = Box::new(SequentialTokens::new("o"));
    let call = Call::originate(test_config(), &parties, first, second, rng).expect("valid");
    let mut h = Harness::of(call, Instant::now());
    assert_eq!(
        h.drain(),
        vec![Action::OfferMedia { leg: Leg::A }],
        "our own offer first"
    );
    h
}

/// The first party is rung with our offer and answers; returns its INVITE.
pub(super) fn first_party_answers(h: &mut Harness) -> Message<'static> {
    let out = h.event(CallEvent::MediaAllocated {
        b_offer: OUR_OFFER.to_vec(),
    });
    let invites = sent(&out, Leg::B, Method::Invite);
    assert_eq!(invites.len(), 1, "{out:?}");
    let invite = invites[0].1.clone();
    assert_eq!(invite.body(), OUR_OFFER);
    let user = |u: switchboard_sip::Uri<'_>| u.user_decoded().map(|x| x.into_owned());
    assert_eq!(user(invite.to().expect("To").uri).as_deref(), Some("1001"));
    assert_eq!(
        user(invite.from().expect("From").uri).as_deref(),
        Some("5551234"),
        "the first party sees who it will talk to"
    );
    let out = h.b_reply(180, None);
    assert!(out.contains(&Action::Progress { status: 180 }), "{out:?}");
    let out = h.b_reply(200, Some(FIRST_ANSWER));
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::SendAck { leg: Leg::B, .. })),
        "the first party's 2xx is ACKed: {out:?}"
    );
    assert!(
        out.iter().any(|a| matches!(a,
            Action::UpdateMedia { leg: Leg::A, sdp, .. } if sdp == FIRST_ANSWER.as_bytes())),
        "its answer goes to the node's A side: {out:?}"
    );
    assert!(sent(&out, Leg::B, Method::Invite).is_empty(), "not yet");
    invite
}

/// The node took the first answer; its rewrite is offered to the second party.
fn second_party_called(h: &mut Harness) -> Message<'static> {
    let op = h
        .all
        .iter()
        .rev()
        .find_map(|a| match a {
            Action::UpdateMedia {
                op, leg: Leg::A, ..
            } => Some(*op),
            _ => None,
        })
        .expect("update of the first answer");
    let out = h.event(CallEvent::MediaUpdated {
        op,
        sdp: SECOND_OFFER.to_vec(),
    });
    let invites = sent(&out, Leg::B, Method::Invite);
    assert_eq!(invites.len(), 1, "{out:?}");
    let invite = invites[0].1.clone();
    assert_eq!(invite.body(), SECOND_OFFER);
    assert_eq!(
        invite.request_uri().expect("uri").to_string(),
        "sip:5551234@198.51.100.40"
    );
    let from = invite.from().expect("From").uri;
    assert_eq!(from.user_decoded().as_deref(), Some("1001"));
    invite
}

/// BYE from the first party inside its dialog (From its tag, To ours).
fn bye_from_first(first: &Message<'_>) -> Message<'static> {
    parse(&format!(
        "BYE sip:sb@203.0.113.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKf1\r\n\
Max-Forwards: 70\r\nFrom: {};tag=b-tag-1\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n",
        first.header(&HeaderName::To).expect("To"),
        first.header(&HeaderName::From).expect("From"),
        first.call_id().expect("Call-ID"),
    ))
}

#[test]
fn originate_rings_the_first_party_then_connects_the_second() {
    let mut h = originated();
    let first = first_party_answers(&mut h);
    let first_tx = h.b_invite_tx();
    let first_2xx = h.b_response(200, Some(FIRST_ANSWER), "b-tag-1");
    let second = second_party_called(&mut h);
    assert_ne!(second.call_id().ok(), first.call_id().ok(), "own dialog");
    h.b_reply(180, None);
    let out = h.b_reply(200, Some(B_ANSWER));
    assert!(out.contains(&Action::Progress { status: 200 }), "{out:?}");
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::UpdateMedia { leg: Leg::B, .. })),
        "the node's B side faces the second party: {out:?}"
    );
    // A retransmission of the first party's 2xx is ACKed again, towards it.
    let out = h.event(CallEvent::Response {
        tx: first_tx,
        response: first_2xx,
    });
    match out.as_slice() {
        [
            Action::SendAck {
                leg: Leg::A,
                request,
                next_hop,
            },
        ] => {
            assert_eq!(*next_hop, addr(FIRST_HOP));
            assert_eq!(request.call_id().ok(), first.call_id().ok());
        }
        other => panic!("expected one ACK to the first party: {other:?}"),
    }
    // The first party hangs up: 200, BYE to the second; the call ends once that is answered.
    let (tx, out) = h.a_request(bye_from_first(&first));
    assert_eq!(
        response_on(&out, tx).and_then(|r| r.status()),
        Some(200),
        "{out:?}"
    );
    let byes = sent(&out, Leg::B, Method::Bye);
    assert_eq!(byes.len(), 1, "{out:?}");
    assert_eq!(byes[0].1.call_id().ok(), second.call_id().ok());
    let (bye_tx, bye) = byes[0].clone();
    h.reply_to(bye_tx, &bye, 200);
    h.assert_ended(EndCause::HangUp(Leg::A), 200, 1);
}

#[test]
fn a_busy_second_party_hangs_up_the_first() {
    let mut h = originated();
    let first = first_party_answers(&mut h);
    second_party_called(&mut h);
    let out = h.b_reply(486, None);
    let byes = sent(&out, Leg::A, Method::Bye);
    assert_eq!(byes.len(), 1, "BYE to the first party: {out:?}");
    assert_eq!(byes[0].1.call_id().ok(), first.call_id().ok());
    let next_hop = out.iter().find_map(|a| match a {
        Action::SendRequest {
            leg: Leg::A,
            next_hop,
            ..
        } => Some(*next_hop),
        _ => None,
    });
    assert_eq!(next_hop, Some(addr(FIRST_HOP)));
    let (tx, bye) = byes[0].clone();
    h.reply_to(tx, &bye, 200);
    h.assert_ended(EndCause::Rejected { b_status: 486 }, 200, 1);
}

#[test]
fn a_busy_first_party_ends_the_call_without_ringing_the_second() {
    let mut h = originated();
    h.event(CallEvent::MediaAllocated {
        b_offer: OUR_OFFER.to_vec(),
    });
    let out = h.b_reply(486, None);
    assert!(sent(&out, Leg::B, Method::Invite).is_empty(), "{out:?}");
    assert!(a_statuses(&h.all).is_empty(), "no caller to answer");
    h.assert_ended(EndCause::Rejected { b_status: 486 }, 486, 1);
}

#[test]
fn an_unanswered_first_party_is_cancelled_at_the_ring_timeout() {
    let mut h = originated();
    h.event(CallEvent::MediaAllocated {
        b_offer: OUR_OFFER.to_vec(),
    });
    h.b_reply(180, None);
    let out = h.fire_timer();
    let cancels = sent(&out, Leg::B, Method::Cancel);
    assert_eq!(cancels.len(), 1, "{out:?}");
    h.b_reply(487, None);
    h.assert_ended(EndCause::NoAnswer, 480, 1);
}

#[test]
fn an_operator_hangup_while_the_second_party_rings_ends_both() {
    let mut h = originated();
    let first = first_party_answers(&mut h);
    second_party_called(&mut h);
    h.b_reply(180, None);
    let out = h.event(CallEvent::Hangup);
    assert_eq!(sent(&out, Leg::B, Method::Cancel).len(), 1, "{out:?}");
    let byes = sent(&out, Leg::A, Method::Bye);
    assert_eq!(byes.len(), 1, "{out:?}");
    assert_eq!(byes[0].1.call_id().ok(), first.call_id().ok());
    let (tx, bye) = byes[0].clone();
    h.reply_to(tx, &bye, 200);
    h.b_reply(487, None);
    h.assert_ended(EndCause::Administrative, 200, 1);
}

#[test]
fn a_failed_media_update_of_the_first_answer_hangs_the_first_party_up() {
    let mut h = originated();
    first_party_answers(&mut h);
    let op = MediaOp(1);
    let out = h.event(CallEvent::MediaUpdateFailed { op });
    let byes = sent(&out, Leg::A, Method::Bye);
    assert_eq!(byes.len(), 1, "{out:?}");
    let (tx, bye) = byes[0].clone();
    h.reply_to(tx, &bye, 200);
    assert!(h.call.is_terminated());
    assert_eq!(h.call.media_releases(), 1);
}
