//! Message-level unit tests: parsing, typed access, building, printing.

use std::borrow::Cow;

use crate::*;

pub(crate) const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/UDP bigbox3.site3.atlanta.example.com;branch=z9hG4bK77ef4c2312983.1, SIP/2.0/TCP h2;branch=z9hG4bKx\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
X-Custom:   folded\r\n   value\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\r\nextra";

#[test]
fn parses_request_and_typed_headers() {
    let m = Message::parse(INVITE).expect("valid");
    assert_eq!(m.method(), Some(&Method::Invite));
    assert_eq!(m.request_uri().expect("uri").user, Some("bob"));
    let vias = m.vias().expect("vias");
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[2].transport, "TCP");
    assert_eq!(m.top_via().expect("via").branch(), Some("z9hG4bK776asdhds"));
    assert_eq!(m.from().expect("from").tag(), Some("1928301774"));
    assert_eq!(
        m.from().expect("from").display_name().as_deref(),
        Some("Alice")
    );
    assert_eq!(m.to().expect("to").tag(), None);
    assert_eq!(
        m.call_id().expect("cid"),
        "a84b4c76e66710@pc33.atlanta.example.com"
    );
    assert_eq!(
        m.cseq().expect("cseq"),
        CSeq {
            seq: 314159,
            method: Method::Invite
        }
    );
    assert_eq!(m.max_forwards().expect("mf"), Some(70));
    assert_eq!(
        m.header(&HeaderName::parse("x-custom")),
        Some("folded value")
    );
    assert_eq!(m.body(), b"v=0\r");
    assert!(
        m.content_type()
            .expect("ct")
            .expect("present")
            .is("application", "sdp")
    );
    match m.contacts().expect("contacts") {
        Contacts::List(l) => assert_eq!(l[0].uri.user, Some("alice")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn print_then_parse_is_equal() {
    let m = Message::parse(INVITE).expect("valid");
    let bytes = m.encode();
    assert_eq!(bytes.len(), m.encoded_len());
    let again = Message::parse(&bytes).expect("reparse");
    assert_eq!(m, again);
}

#[test]
fn rfc3261_s8_2_6_response_copies_headers_and_adds_tag() {
    let m = Message::parse(INVITE).expect("valid");
    let mut r = m.response_with_tag(486, "Busy Here", "xyz");
    r.push_header("Retry-After", "60");
    let r = Message::parse(&r.encode())
        .expect("response parses")
        .into_owned();
    assert_eq!(r.status(), Some(486));
    assert_eq!(r.vias().expect("vias").len(), 3);
    assert_eq!(r.to().expect("to").tag(), Some("xyz"));
    assert_eq!(r.from().expect("from").tag(), Some("1928301774"));
    assert_eq!(r.cseq().expect("cseq").seq, 314159);
    assert_eq!(r.content_length().expect("cl"), Some(0));
    assert_eq!(r.header(&"retry-after".into()), Some("60"));
    let trying = m.response_with_tag(100, "Trying", "xyz");
    assert_eq!(trying.to().expect("to").tag(), None);
}

#[test]
fn rfc3581_stamp_received_and_rport() {
    let mut m = Message::parse(INVITE).expect("valid");
    assert!(
        m.stamp_received("192.0.2.4:6000".parse().expect("addr"))
            .expect("stamped")
    );
    let v = m.top_via().expect("via");
    assert_eq!(v.received(), Some("192.0.2.4"));
    assert_eq!(v.rport(), Some(Rport::Port(6000)));
    assert_eq!(m.vias().expect("vias").len(), 3);
    let mut same = Message::parse(
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bK1, SIP/2.0/UDP c;branch=z9hG4bK2\r\nFrom: <sip:b@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n",
    )
    .expect("valid");
    assert!(
        !same
            .stamp_received("192.0.2.4:5060".parse().expect("addr"))
            .expect("ok")
    );
    assert!(
        same.stamp_received("[2001:db8::9:255]:5060".parse().expect("addr"))
            .expect("ok")
    );
    assert_eq!(
        same.top_via().expect("via").received(),
        Some("2001:db8::9:255")
    );
    assert_eq!(same.vias().expect("vias")[1].branch(), Some("z9hG4bK2"));
}

#[test]
fn building_a_request_with_body() {
    let mut m = Message::new_request(Method::Options, "sip:[2001:db8::1]:5070").expect("uri");
    m.push_header(HeaderName::Via, "SIP/2.0/UDP h;branch=z9hG4bK1")
        .push_header(HeaderName::From, "<sip:a@h>;tag=1")
        .push_header(HeaderName::To, "<sip:b@h>")
        .push_header(HeaderName::CallId, "c1")
        .push_header(HeaderName::CSeq, "1 OPTIONS")
        .push_header("X-Evil", "a\r\nInjected: yes");
    m.set_body(Some("text/plain"), b"hello".as_slice());
    m.set_body(Some("text/plain"), Cow::Owned(b"hello!".to_vec()));
    let bytes = m.encode();
    let p = Message::parse(&bytes).expect("valid");
    assert_eq!(p.body(), b"hello!");
    assert_eq!(p.content_length().expect("cl"), Some(6));
    assert_eq!(p.header_all(&HeaderName::ContentLength).count(), 1);
    assert_eq!(p.header(&"Injected".into()), None);
    assert_eq!(m.remove_header(&"x-evil".into()), 1);
    assert!(Message::new_request(Method::Options, "sip:a b").is_err());
}

#[test]
fn rejections_name_header_and_reason() {
    let bad = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let e = Message::parse(bad).expect_err("mismatch");
    assert_eq!(
        e,
        ParseError {
            respondable: true,
            ..ParseError::header("CSeq", "method does not match request line")
        }
    );
    let r = bad_request(bad, &e).expect("400");
    assert_eq!(r.status(), Some(400));
    assert_eq!(r.reason(), Some("CSeq: method does not match request line"));
    let ack = b"ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\n\r\n";
    let e = Message::parse(ack).expect_err("mismatch");
    assert!(!e.respondable);
    assert!(bad_request(ack, &e).is_none());
}

#[test]
fn unsupported_version_gets_505() {
    let m = b"OPTIONS sip:a@b SIP/7.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let e = Message::parse(m).expect_err("version");
    assert_eq!(e.status, 505);
    assert!(e.respondable);
    assert_eq!(bad_request(m, &e).expect("505").status(), Some(505));
}

#[test]
fn limits_are_enforced() {
    let limits = ParseLimits {
        max_headers: 3,
        ..ParseLimits::DEFAULT
    };
    assert_eq!(
        Message::parse_with(INVITE, &limits, Framing::Datagram)
            .expect_err("too many")
            .reason,
        "too many headers"
    );
    let limits = ParseLimits {
        max_line_length: 40,
        ..ParseLimits::DEFAULT
    };
    assert!(Message::parse_with(INVITE, &limits, Framing::Datagram).is_err());
    let limits = ParseLimits {
        max_message_size: 100,
        ..ParseLimits::DEFAULT
    };
    assert_eq!(
        Message::parse_with(INVITE, &limits, Framing::Datagram)
            .expect_err("big")
            .status,
        513
    );
    let no_cl = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:b@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n";
    assert!(Message::parse(no_cl).is_ok());
    let e = Message::parse_with(no_cl, &ParseLimits::DEFAULT, Framing::Stream).expect_err("stream");
    assert_eq!(e.header, Some("Content-Length"));
}

#[test]
fn http_date_formats() {
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(http_date(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 GMT");
}

#[test]
fn header_index_follows_edits() {
    let mut m = Message::parse(INVITE).expect("valid");
    m.prepend_header(
        HeaderName::Via,
        "SIP/2.0/TCP new.example.com;branch=z9hG4bKnew",
    );
    assert_eq!(m.top_via().expect("via").branch(), Some("z9hG4bKnew"));
    assert_eq!(m.vias().expect("vias").len(), 4);
    m.set_header(HeaderName::CallId, "replaced");
    assert_eq!(m.call_id().expect("cid"), "replaced");
    assert_eq!(m.remove_header(&HeaderName::Via), 3);
    assert!(m.top_via().is_err());
    m.push_header(HeaderName::Via, "SIP/2.0/UDP last;branch=z9hG4bKlast");
    assert_eq!(m.top_via().expect("via").branch(), Some("z9hG4bKlast"));
    assert_eq!(m.remove_header(&HeaderName::Contact), 1);
    assert_eq!(m.contacts().expect("contacts"), Contacts::None);
    let again = Message::parse(&m.encode()).expect("valid").into_owned();
    assert_eq!(again, m);
}
