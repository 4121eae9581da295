//! Malformed input from a raw UDP peer: answered 400 with the header named when a response is possible,
//! dropped otherwise, and the server keeps serving.

mod support;

use support::{Server, UdpPeer, config_with, header, status};

#[test]
fn rfc4475_cseq_method_mismatch_gets_400_naming_cseq() {
    let server = Server::start(&config_with(""));
    let peer = UdpPeer::new(server.sip);
    let local = peer.local();
    peer.send(&format!(
        "OPTIONS sip:{s} SIP/2.0\nVia: SIP/2.0/UDP {local};branch=z9hG4bKmm1\nFrom: <sip:a@{local}>;tag=1\n\
         To: <sip:{s}>\nCall-ID: mismatch@{local}\nCSeq: 8 INVITE\nMax-Forwards: 70\nContent-Length: 0\n\n",
        s = server.sip
    ));
    let resp = peer.recv();
    assert_eq!(status(&resp), 400, "{resp}");
    assert!(
        resp.lines().next().is_some_and(|l| l.contains("CSeq")),
        "reason must name CSeq: {resp}"
    );
    assert_eq!(
        header(&resp, "Call-ID"),
        Some(format!("mismatch@{local}").as_str())
    );
}

#[test]
fn rfc3261_s18_3_unanswerable_garbage_is_dropped_and_the_server_keeps_serving() {
    let server = Server::start(&config_with(""));
    let peer = UdpPeer::new(server.sip);
    let local = peer.local();
    peer.send("\u{1}\u{2}garbage that is no SIP at all\n\n");
    peer.send("OPTIONS sip:x SIP/2.0\nVia: broken\n\n");
    // Then a valid request: its answer must be the next datagram we get (nothing was sent for the garbage).
    peer.send(&format!(
        "OPTIONS sip:{s} SIP/2.0\nVia: SIP/2.0/UDP {local};branch=z9hG4bKok\nFrom: <sip:a@{local}>;tag=1\n\
         To: <sip:{s}>\nCall-ID: after-garbage@{local}\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n",
        s = server.sip
    ));
    let resp = peer.recv();
    assert_eq!(status(&resp), 200, "{resp}");
    assert_eq!(
        header(&resp, "Call-ID"),
        Some(format!("after-garbage@{local}").as_str())
    );
}

#[test]
fn rfc3261_s18_3_datagram_content_length_beyond_the_body_gets_400() {
    let server = Server::start(&config_with(""));
    let peer = UdpPeer::new(server.sip);
    let local = peer.local();
    peer.send(&format!(
        "OPTIONS sip:{s} SIP/2.0\nVia: SIP/2.0/UDP {local};branch=z9hG4bKcl\nFrom: <sip:a@{local}>;tag=1\n\
         To: <sip:{s}>\nCall-ID: cl@{local}\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 500\n\nshort",
        s = server.sip
    ));
    let resp = peer.recv();
    assert_eq!(status(&resp), 400, "{resp}");
    assert!(
        resp.lines()
            .next()
            .is_some_and(|l| l.contains("Content-Length")),
        "{resp}"
    );
}
