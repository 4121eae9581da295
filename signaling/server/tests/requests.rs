//! Requests other than REGISTER, seen from a raw UDP peer: INVITE without credentials (407), its ACK absorbed by
//! the server transaction, CANCEL, and requests naming a dialog that does not exist.

mod support;

use std::time::Duration;

use support::{Server, UdpPeer, config_with, header, status};

fn request(
    peer: &UdpPeer,
    method: &str,
    branch: &str,
    call_id: &str,
    cseq: &str,
    to_tag: &str,
) -> String {
    let local = peer.local();
    let s = peer.server;
    format!(
        "{method} sip:1002@{s} SIP/2.0\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\n\
         From: <sip:1001@{s}>;tag=caller\nTo: <sip:1002@{s}>{to_tag}\nCall-ID: {call_id}\nCSeq: {cseq}\n\
         Max-Forwards: 70\nContent-Length: 0\n\n"
    )
}

#[test]
fn rfc3261_s17_2_1_invite_final_response_retransmitted_for_retransmitted_invite_and_ack_absorbed() {
    let server = Server::start(&config_with(""));
    let peer = UdpPeer::new(server.sip);
    let invite = request(&peer, "INVITE", "inv1", "call-1", "1 INVITE", "");
    peer.send(&invite);
    // No Proxy-Authorization: challenged (RFC 3261 §22.3), a final non-2xx like any other.
    let first = peer.recv();
    assert_eq!(status(&first), 407, "{first}");
    let to = header(&first, "To").expect("To").to_owned();
    assert!(
        to.contains(";tag="),
        "a final response to INVITE carries a To tag: {to}"
    );
    // The INVITE retransmitted: the transaction answers with the very same response.
    peer.send(&invite);
    assert_eq!(peer.recv(), first);
    // ACK for the non-2xx (same branch) ends the retransmissions; nothing answers an ACK.
    let tag = to.split(";tag=").nth(1).expect("tag");
    peer.send(&request(
        &peer,
        "ACK",
        "inv1",
        "call-1",
        "1 ACK",
        &format!(";tag={tag}"),
    ));
    peer.socket
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    assert!(
        peer.socket.recv_from(&mut buf).is_err(),
        "no retransmission of the 407 after the ACK (Timer G stopped)"
    );
}

#[test]
fn rfc3261_s9_2_cancel_without_matching_invite_gets_481() {
    let server = Server::start(&config_with(""));
    let peer = UdpPeer::new(server.sip);
    peer.send(&request(
        &peer, "CANCEL", "nothing", "call-2", "1 CANCEL", "",
    ));
    let resp = peer.recv();
    assert_eq!(status(&resp), 481, "{resp}");
}

#[test]
fn rfc3261_s12_2_2_request_for_an_unknown_dialog_gets_481() {
    let server = Server::start(&config_with(""));
    let peer = UdpPeer::new(server.sip);
    peer.send(&request(
        &peer,
        "BYE",
        "bye1",
        "call-3",
        "2 BYE",
        ";tag=nodialog",
    ));
    assert_eq!(status(&peer.recv()), 481);
    peer.send(&request(
        &peer,
        "INVITE",
        "reinv",
        "call-3",
        "3 INVITE",
        ";tag=nodialog",
    ));
    assert_eq!(status(&peer.recv()), 481);
    // UPDATE and INFO are in Allow, so outside any dialog they get 481, not 405.
    for (i, method) in ["UPDATE", "INFO"].into_iter().enumerate() {
        for (j, tag) in [";tag=nodialog", ""].into_iter().enumerate() {
            peer.send(&request(
                &peer,
                method,
                &format!("in{i}{j}"),
                "call-3",
                &format!("{} {method}", 4 + 2 * i + j),
                tag,
            ));
            let resp = peer.recv();
            assert_eq!(status(&resp), 481, "{method} with To {tag:?}: {resp}");
        }
    }
}

#[test]
fn rfc3261_s8_2_2_3_unsupported_require_gets_420_with_unsupported() {
    let server = Server::start(&config_with(""));
    let peer = UdpPeer::new(server.sip);
    let msg = request(&peer, "OPTIONS", "req1", "call-4", "1 OPTIONS", "").replace(
        "Max-Forwards: 70\n",
        "Max-Forwards: 70\nRequire: foo, 100rel\n",
    );
    peer.send(&msg);
    let resp = peer.recv();
    assert_eq!(status(&resp), 420, "{resp}");
    assert_eq!(header(&resp, "Unsupported"), Some("foo, 100rel"));
}

#[test]
fn rfc3261_s8_2_2_2_merged_request_gets_482() {
    let server = Server::start(&config_with(""));
    let peer = UdpPeer::new(server.sip);
    // Same From tag, Call-ID and CSeq, different branch, while the first transaction still lives.
    peer.send(&request(&peer, "OPTIONS", "m1", "call-5", "7 OPTIONS", ""));
    assert_eq!(status(&peer.recv()), 200);
    peer.send(&request(&peer, "OPTIONS", "m2", "call-5", "7 OPTIONS", ""));
    let resp = peer.recv();
    assert_eq!(status(&resp), 482, "{resp}");
}
