//! Parse + typed access throughput: switchboard-sip against rsip 0.4 on the same messages, in one run.
//!
//! `cargo bench -p switchboard-sip` prints messages/s for both parsers and the ratio. A hand-rolled
//! harness: a warm-up, then the best of several timed rounds (the least disturbed by other processes).

use std::hint::black_box;
use std::time::{Duration, Instant};

use rsip::prelude::*;
use switchboard_sip::{Contacts, HeaderName, Message};

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: \"Bob\" <sip:bob@biloxi.example.com>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n\
Supported: replaces, timer\r\n\
User-Agent: Example Phone 1.2.3\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 224\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";

const REGISTER: &[u8] = b"REGISTER sip:registrar.biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Bob <sip:bob@biloxi.example.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:bob@192.0.2.4:5060>;expires=7200\r\n\
Authorization: Digest username=\"bob\", realm=\"biloxi.example.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:registrar.biloxi.example.com\", response=\"245f23415f11432b3434341c022\", algorithm=MD5, cnonce=\"0a4f113b\", qop=auth, nc=00000001, opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\n\
Expires: 7200\r\n\
User-Agent: Example Phone 1.2.3\r\n\
Content-Length: 0\r\n\
\r\n";

fn ours(buf: &[u8], register: bool) -> usize {
    let m = Message::parse(buf).expect("valid message");
    let mut n = 0;
    n += m.top_via().expect("via").branch().map_or(0, str::len);
    n += m.from().expect("from").tag().map_or(0, str::len);
    n += m.to().expect("to").uri.user.map_or(0, str::len);
    n += m.call_id().expect("call-id").len();
    let cseq = m.cseq().expect("cseq");
    n += cseq.seq as usize + cseq.method.as_str().len();
    if let Contacts::List(c) = m.contacts().expect("contact") {
        n += c[0].uri.host.map_or(0, |h| h.to_string().len());
        n += c[0].expires().and_then(Result::ok).unwrap_or(0) as usize;
    }
    if register {
        let auth = m.authorization().expect("authorization");
        let d = auth[0].digest();
        for v in [
            d.username,
            d.realm,
            d.nonce,
            d.uri,
            d.response,
            d.algorithm,
            d.qop,
        ] {
            n += v.map_or(0, |v| v.len());
        }
    }
    n
}

fn theirs(buf: &[u8], register: bool) -> usize {
    let m = rsip::SipMessage::try_from(buf).expect("rsip parses");
    let mut n = 0;
    n += m
        .via_header()
        .expect("via")
        .typed()
        .expect("typed via")
        .branch()
        .map_or(0, |b| b.to_string().len());
    n += m
        .from_header()
        .expect("from")
        .tag()
        .expect("tag")
        .map_or(0, |t| t.to_string().len());
    n += m
        .to_header()
        .expect("to")
        .uri()
        .expect("to uri")
        .auth
        .map_or(0, |a| a.user.len());
    n += m.call_id_header().expect("call-id").value().len();
    let cseq = m.cseq_header().expect("cseq").typed().expect("typed cseq");
    n += cseq.seq as usize + cseq.method.to_string().len();
    let contact = m
        .contact_header()
        .expect("contact")
        .typed()
        .expect("typed contact");
    n += contact.uri.host_with_port.to_string().len();
    n += contact.expires().map_or(0, |e| e.to_string().len());
    if register {
        let a = m
            .authorization_header()
            .expect("authorization")
            .typed()
            .expect("typed authorization");
        n += a.username.len()
            + a.realm.len()
            + a.nonce.len()
            + a.uri.to_string().len()
            + a.response.len();
        n += a.algorithm.map_or(0, |x| x.to_string().len())
            + a.qop.map_or(0, |q| format!("{q:?}").len());
    }
    n
}

fn build_response(buf: &[u8]) -> usize {
    let mut m = Message::parse(buf).expect("valid");
    m.stamp_received("198.51.100.7:40000".parse().expect("addr"))
        .expect("via");
    let mut r = m.response_with_tag(200, "OK", "a6c85cf");
    r.push_header(HeaderName::Contact, "<sip:bob@192.0.2.4:5060>;expires=3600");
    r.encode().len()
}

/// Messages per second for `f` and `g`: their rounds alternate so both see the same machine load, and
/// the best round of each counts (the least disturbed by other processes).
fn rates(
    f: &dyn Fn() -> usize,
    f_iters: u32,
    g: &dyn Fn() -> usize,
    g_iters: u32,
    rounds: u32,
) -> (f64, f64) {
    let round = |h: &dyn Fn() -> usize, iters: u32| {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(h());
        }
        t.elapsed()
    };
    round(f, f_iters / 4);
    round(g, g_iters / 4);
    let (mut best_f, mut best_g) = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        best_f = best_f.min(round(f, f_iters));
        best_g = best_g.min(round(g, g_iters));
    }
    (
        f64::from(f_iters) / best_f.as_secs_f64(),
        f64::from(g_iters) / best_g.as_secs_f64(),
    )
}

fn main() {
    let quick =
        std::env::args().any(|a| a == "--test") || std::env::var_os("SIP_BENCH_QUICK").is_some();
    let (iters, rounds) = if quick { (200, 1) } else { (5_000, 25) };
    assert_eq!(ours(INVITE, false) > 0, theirs(INVITE, false) > 0);
    println!(
        "{:<28} {:>14} {:>14} {:>8}",
        "message (parse + typed)", "ours msg/s", "rsip msg/s", "ratio"
    );
    for (name, buf, register) in [
        ("INVITE with SDP", INVITE, false),
        ("REGISTER with digest", REGISTER, true),
    ] {
        let (a, b) = rates(
            &|| ours(black_box(buf), register),
            iters,
            &|| theirs(black_box(buf), register),
            iters / 3,
            rounds,
        );
        println!("{name:<28} {a:>14.0} {b:>14.0} {:>7.1}x", a / b);
    }
    let (r, _) = rates(
        &|| build_response(black_box(REGISTER)),
        iters,
        &|| 0,
        1,
        rounds,
    );
    println!("{:<28} {r:>14.0}", "REGISTER → stamp → 200 → bytes");
}
