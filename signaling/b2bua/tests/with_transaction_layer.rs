//! The driver contract end to end: a [`Call`] driven through the real `switchboard-transaction`
//! layer on a virtual clock, with the caller's and callee's messages as parsed literal text. Checks
//! what goes on the wire to each side, that the layer and the call agree on who answers what
//! (100, CANCEL's 200, the non-2xx ACK, the 2xx ACK), and that nothing is left behind.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{Driver, parse};
use switchboard_b2bua::{EndCause, Leg};
use switchboard_sip::{Message, Method};

const A_INVITE: &str = "INVITE sip:bob@sb.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKai1\r\nMax-Forwards: 70\r\n\
From: <sip:alice@a.example>;tag=at1\r\nTo: <sip:bob@sb.example>\r\nCall-ID: a-call@192.0.2.10\r\n\
CSeq: 1 INVITE\r\nContact: <sip:alice@192.0.2.10>\r\nContent-Type: application/sdp\r\n\
Content-Length: 30\r\n\r\nv=0\r\nc=IN IP4 192.0.2.10\r\nt=0 \r\n";

fn a_request(method: &str, branch: &str, cseq: u32, to_tag: &str) -> Message<'static> {
    parse(&format!(
        "{method} sip:sb@203.0.113.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch={branch}\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@a.example>;tag=at1\r\nTo: <sip:bob@sb.example>{to_tag}\r\n\
Call-ID: a-call@192.0.2.10\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    ))
}

#[test]
fn s9_2_cancel_through_the_transaction_layer_leaves_nothing_behind() {
    let mut d = Driver::new();
    d.request_in(parse(A_INVITE));
    let invite_b = d.last_to_b(Method::Invite);
    d.b_answers(&invite_b, 180, false);
    assert_eq!(d.statuses_to_a(), [100, 180]);
    // The CANCEL shares the INVITE's branch (§9.1): the layer pairs them.
    d.request_in(a_request("CANCEL", "z9hG4bKai1", 1, ""));
    assert_eq!(d.statuses_to_a(), [100, 180, 200, 487]);
    let cancel_b = d.last_to_b(Method::Cancel);
    assert_eq!(
        cancel_b.top_via().unwrap().branch(),
        invite_b.top_via().unwrap().branch()
    );
    d.b_answers(&cancel_b, 200, false);
    d.b_answers(&invite_b, 487, false);
    // The client INVITE transaction ACKs the 487 itself (§17.1.1.3), with B's tag.
    let ack = d.last_to_b(Method::Ack);
    assert_eq!(ack.to().unwrap().tag(), Some("bt1"));
    assert_eq!(d.ended(), Some((EndCause::CallerCancelled, 487)));
    // A's ACK for the 487 is absorbed by its server transaction.
    d.request_in(a_request("ACK", "z9hG4bKai1", 1, ";tag=t1"));
    d.advance(Duration::from_secs(64));
    assert!(d.layer.is_empty(), "{} transactions left", d.layer.len());
    assert!(d.call().is_terminated());
}

#[test]
fn basic_call_through_the_transaction_layer_bye_from_a() {
    let mut d = Driver::new();
    d.request_in(parse(A_INVITE));
    let invite_b = d.last_to_b(Method::Invite);
    d.b_answers(&invite_b, 180, false);
    d.b_answers(&invite_b, 200, true);
    assert_eq!(d.statuses_to_a(), [100, 180, 200]);
    let ack_b = d.last_to_b(Method::Ack);
    assert_eq!(ack_b.cseq().unwrap().seq, 1);
    let a_tag = d
        .to_a
        .last()
        .unwrap()
        .to()
        .unwrap()
        .tag()
        .unwrap()
        .to_owned();
    d.request_in(a_request("ACK", "z9hG4bKack2", 1, &format!(";tag={a_tag}")));
    d.advance(Duration::from_secs(60));
    assert!(d.ended().is_none(), "the ACK arrived: no ACK timeout");
    d.request_in(a_request("BYE", "z9hG4bKbye3", 2, &format!(";tag={a_tag}")));
    assert_eq!(d.to_a.last().unwrap().status(), Some(200));
    let bye_b = d.last_to_b(Method::Bye);
    d.b_answers(&bye_b, 200, false);
    assert_eq!(d.ended(), Some((EndCause::HangUp(Leg::A), 200)));
    d.advance(Duration::from_secs(64));
    assert!(d.layer.is_empty(), "{} transactions left", d.layer.len());
}

#[test]
fn ring_timeout_with_a_silent_callee_ends_by_timer_b() {
    let mut d = Driver::new();
    d.request_in(parse(A_INVITE));
    d.advance(Duration::from_secs(31));
    // Ring timeout (30 s): 480 to A (retransmitted by Timer G until A ACKs it).
    let mut statuses = d.statuses_to_a();
    statuses.dedup();
    assert_eq!(statuses, [100, 480]);
    d.request_in(a_request("ACK", "z9hG4bKai1", 1, ";tag=t1"));
    // No provisional from B, so no CANCEL (§9.1); the INVITE ends by Timer B (64*T1 = 32 s).
    assert!(d.to_b.iter().all(|m| m.method() != Some(&Method::Cancel)));
    assert_eq!(d.ended(), None);
    d.advance(Duration::from_secs(2));
    assert_eq!(d.ended(), Some((EndCause::NoAnswer, 480)));
    let invites = d
        .to_b
        .iter()
        .filter(|m| m.method() == Some(&Method::Invite))
        .count();
    assert!(invites > 1, "Timer A retransmitted the INVITE over UDP");
    d.advance(Duration::from_secs(64));
    assert!(d.layer.is_empty(), "{} transactions left", d.layer.len());
}
