//! RFC 3261 §12 dialog tests, on parsed literal messages.

use super::*;

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Length: 0\r\n\r\n";

const RINGING: &[u8] = b"SIP/2.0 180 Ringing\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:bob@192.0.2.4>\r\n\
Content-Length: 0\r\n\r\n";

const OK: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
Record-Route: <sip:p3.example.com;lr>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:bob@192.0.2.5:5070>\r\n\
Content-Length: 0\r\n\r\n";

fn parse(b: &'static [u8]) -> Message<'static> {
    Message::parse(b).expect("test message parses")
}

fn request(text: &str) -> Message<'static> {
    Message::parse(text.as_bytes())
        .expect("test message parses")
        .into_owned()
}

fn bye_from_alice(to_tag: &str, cseq: u32) -> Message<'static> {
    request(&format!(
        "BYE sip:bob@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKbye{cseq}\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
To: <sip:bob@biloxi.example.com>;tag={to_tag}\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: {cseq} BYE\r\n\
Content-Length: 0\r\n\r\n"
    ))
}

#[test]
fn s12_1_1_uas_dialog_state_from_invite() {
    let d = Dialog::new_uas(&parse(INVITE), "uas1").expect("dialog");
    assert_eq!(d.id().call_id, "a84b4c76e66710");
    assert_eq!(d.id().local_tag, "uas1");
    assert_eq!(d.id().remote_tag, "1928301774");
    assert_eq!(d.remote_seq(), Some(314159));
    assert_eq!(d.local_seq(), 0);
    assert_eq!(d.remote_target(), "sip:alice@pc33.atlanta.example.com");
    assert_eq!(
        d.route_set(),
        ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    );
    assert_eq!(d.state(), DialogState::Early);
    assert!(!d.is_secure());
}

#[test]
fn s12_1_1_invite_without_contact_is_refused() {
    let text = String::from_utf8_lossy(INVITE)
        .replace("Contact: <sip:alice@pc33.atlanta.example.com>\r\n", "");
    let err = Dialog::new_uas(&request(&text), "t").expect_err("no Contact");
    assert_eq!(err.to_string(), "Contact: missing in INVITE");
}

#[test]
fn s12_1_2_uac_dialog_reverses_record_route_and_recomputes_on_2xx() {
    let mut d = Dialog::new_uac(&parse(INVITE), &parse(RINGING)).expect("early dialog");
    assert_eq!(d.state(), DialogState::Early);
    assert_eq!(d.id().local_tag, "1928301774");
    assert_eq!(d.id().remote_tag, "a6c85cf");
    assert_eq!(d.local_seq(), 314159);
    assert_eq!(d.remote_seq(), None);
    assert_eq!(
        d.route_set(),
        ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    );
    d.update_from_response(&parse(OK)).expect("2xx applies");
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.route_set(), ["<sip:p3.example.com;lr>"]);
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.5:5070");
}

#[test]
fn s12_1_2_response_without_to_tag_makes_no_dialog() {
    let text = String::from_utf8_lossy(RINGING).replace(";tag=a6c85cf", "");
    let err = Dialog::new_uac(&parse(INVITE), &request(&text)).expect_err("no tag");
    assert_eq!(err.to_string(), "To: no tag in response");
}

#[test]
fn s12_2_1_1_bye_uses_remote_target_route_set_and_next_cseq() {
    let mut d = Dialog::new_uac(&parse(INVITE), &parse(OK)).expect("dialog");
    let bye = d
        .new_request(Method::Bye, "SIP/2.0/UDP 203.0.113.1;branch=z9hG4bKx", None)
        .expect("bye");
    let bytes = bye.encode();
    let bye = Message::parse(&bytes).expect("reparses");
    assert_eq!(bye.method(), Some(&Method::Bye));
    assert_eq!(
        bye.request_uri().expect("uri").to_string(),
        "sip:bob@192.0.2.5:5070"
    );
    assert_eq!(bye.cseq().expect("cseq").seq, 314160);
    assert_eq!(bye.from().expect("from").tag(), Some("1928301774"));
    assert_eq!(bye.to().expect("to").tag(), Some("a6c85cf"));
    assert_eq!(bye.call_id().expect("call-id"), "a84b4c76e66710");
    let routes: Vec<String> = bye
        .routes()
        .expect("routes")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(routes, ["<sip:p3.example.com;lr>"]);
    assert_eq!(d.local_seq(), 314160);
}

#[test]
fn s13_2_2_4_ack_carries_the_invite_cseq_number() {
    let mut d = Dialog::new_uac(&parse(INVITE), &parse(OK)).expect("dialog");
    d.new_request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bK1", None)
        .expect("bye");
    let ack = d.ack("SIP/2.0/UDP h;branch=z9hG4bK2").expect("ack");
    let bytes = ack.encode();
    let ack = Message::parse(&bytes).expect("reparses");
    let cseq = ack.cseq().expect("cseq");
    assert_eq!((cseq.seq, cseq.method), (314159, Method::Ack));
}

#[test]
fn s12_2_1_1_strict_route_moves_remote_target_to_last_route() {
    let text =
        String::from_utf8_lossy(OK).replace("<sip:p3.example.com;lr>", "<sip:p3.example.com>");
    let mut d = Dialog::new_uac(&parse(INVITE), &request(&text)).expect("dialog");
    let bye = d
        .new_request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bK1", None)
        .expect("bye");
    assert_eq!(
        bye.request_uri().expect("uri").to_string(),
        "sip:p3.example.com"
    );
    let routes: Vec<String> = bye
        .routes()
        .expect("routes")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(routes, ["<sip:bob@192.0.2.5:5070>"]);
}

#[test]
fn s12_2_2_in_order_request_is_accepted_and_raises_remote_seq() {
    let mut d = Dialog::new_uas(&parse(INVITE), "uas1").expect("dialog");
    d.confirm();
    assert_eq!(d.receive_request(&bye_from_alice("uas1", 314160)), Ok(()));
    assert_eq!(d.remote_seq(), Some(314160));
}

#[test]
fn s12_2_2_lower_cseq_is_rejected_with_500() {
    let mut d = Dialog::new_uas(&parse(INVITE), "uas1").expect("dialog");
    let err = d
        .receive_request(&bye_from_alice("uas1", 3))
        .expect_err("out of order");
    assert_eq!(
        err,
        RequestRejection::OutOfOrder {
            got: 3,
            last: 314159
        }
    );
    assert_eq!(err.status().0, 500);
    assert_eq!(d.remote_seq(), Some(314159));
}

#[test]
fn s12_2_2_unknown_tag_is_rejected_with_481() {
    let mut d = Dialog::new_uas(&parse(INVITE), "uas1").expect("dialog");
    let err = d
        .receive_request(&bye_from_alice("someone-else", 314160))
        .expect_err("no match");
    assert_eq!(err.status(), (481, "Call/Transaction Does Not Exist"));
    d.terminate();
    assert_eq!(
        d.receive_request(&bye_from_alice("uas1", 314161)),
        Err(RequestRejection::NoMatch)
    );
}

#[test]
fn s12_2_2_ack_skips_the_cseq_check() {
    let mut d = Dialog::new_uas(&parse(INVITE), "uas1").expect("dialog");
    let ack = request(
        "ACK sip:bob@192.0.2.4 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\n\
From: <sip:alice@atlanta.example.com>;tag=1928301774\r\nTo: <sip:bob@b>;tag=uas1\r\n\
Call-ID: a84b4c76e66710\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(d.receive_request(&ack), Ok(()));
    assert_eq!(d.remote_seq(), Some(314159));
}

#[test]
fn uas_requests_start_at_cseq_1_with_the_remote_uri_in_to() {
    let mut d = Dialog::new_uas(&parse(INVITE), "uas1").expect("dialog");
    let bye = d
        .new_request(
            Method::Bye,
            "SIP/2.0/UDP h;branch=z9hG4bK1",
            Some("sip:sb@203.0.113.1"),
        )
        .expect("bye");
    assert_eq!(bye.cseq().expect("cseq").seq, 1);
    let to = bye.to().expect("to");
    assert_eq!(to.uri.to_string(), "sip:alice@atlanta.example.com");
    assert_eq!(to.tag(), Some("1928301774"));
    assert_eq!(to.display_name().as_deref(), Some("Alice"));
    assert_eq!(bye.from().expect("from").tag(), Some("uas1"));
    assert_eq!(bye.routes().expect("routes").len(), 2);
}

#[test]
fn s8_1_1_5_local_cseq_stays_below_2_pow_31() {
    let text =
        String::from_utf8_lossy(INVITE).replace("CSeq: 314159 INVITE", "CSeq: 2147483647 INVITE");
    let ok = String::from_utf8_lossy(OK).replace("CSeq: 314159 INVITE", "CSeq: 2147483647 INVITE");
    let mut d = Dialog::new_uac(&request(&text), &request(&ok)).expect("dialog");
    let err = d
        .new_request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bK1", None)
        .expect_err("exhausted");
    assert_eq!(err, DialogError::CSeqExhausted);
    assert_eq!(d.local_seq(), 2147483647);
    assert_eq!(
        d.ack("SIP/2.0/UDP h;branch=z9hG4bK2")
            .expect("ack")
            .cseq()
            .expect("cseq")
            .seq,
        2147483647
    );
}
