//! Registrar behaviour seen from a raw UDP peer: replayed credentials, stale nonces, binding listing.

mod support;

use support::{Server, UdpPeer, config_with, digest_param, header, md5_response, status};

fn register(peer: &UdpPeer, user: &str, cseq: u32, branch: &str, extra: &str) -> String {
    let local = peer.local();
    let server = peer.server;
    peer.send(&format!(
        "REGISTER sip:{server} SIP/2.0\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\n\
         From: <sip:{user}@{server}>;tag=t{user}\n\
         To: <sip:{user}@{server}>\n\
         Call-ID: replay-{user}@{local}\n\
         CSeq: {cseq} REGISTER\n\
         Contact: <sip:{user}@{local}>\n\
         Max-Forwards: 70\n\
         Expires: 300\n\
         {extra}Content-Length: 0\n\n"
    ));
    peer.recv()
}

/// All values of header `name` in a message.
fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .skip(1)
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

fn md5_challenge(resp: &str) -> String {
    headers(resp, "WWW-Authenticate")
        .into_iter()
        .find(|c| c.contains("algorithm=MD5"))
        .unwrap_or_else(|| panic!("no MD5 challenge in:\n{resp}"))
        .to_owned()
}

fn authorization(user: &str, pass: &str, challenge: &str, uri: &str, nc: &str) -> String {
    let realm = digest_param(challenge, "realm").expect("realm");
    let nonce = digest_param(challenge, "nonce").expect("nonce");
    let response = md5_response(user, &realm, pass, "REGISTER", uri, &nonce, nc, "c0ffee");
    let opaque = digest_param(challenge, "opaque")
        .map(|o| format!(", opaque=\"{o}\""))
        .unwrap_or_default();
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, cnonce=\"c0ffee\", qop=auth, nc={nc}{opaque}\n"
    )
}

#[test]
fn rfc8760_replayed_authorization_is_refused() {
    let server = Server::start(&config_with(""));
    let peer = UdpPeer::new(server.sip);
    let uri = format!("sip:{}", server.sip);
    let first = register(&peer, "1001", 1, "r1", "");
    assert_eq!(status(&first), 401, "{first}");
    let challenge = md5_challenge(&first);
    assert!(challenge.contains("qop=\"auth\""), "{challenge}");
    let auth = authorization("1001", "1001pass", &challenge, &uri, "00000001");
    let ok = register(&peer, "1001", 2, "r2", &auth);
    assert_eq!(status(&ok), 200, "{ok}");
    assert!(
        header(&ok, "Contact").is_some_and(|c| c.contains("expires=300")),
        "{ok}"
    );
    // The same Authorization (same nonce and nonce-count) again: a replay.
    let replay = register(&peer, "1001", 3, "r3", &auth);
    assert_eq!(
        status(&replay),
        401,
        "replayed credentials must be refused:\n{replay}"
    );
    // A higher nonce-count on the same nonce is a legitimate reuse.
    let next = authorization("1001", "1001pass", &challenge, &uri, "00000002");
    let ok2 = register(&peer, "1001", 4, "r4", &next);
    assert_eq!(status(&ok2), 200, "{ok2}");
}

#[test]
fn rfc3261_s10_3_retransmitted_register_gets_the_same_answer_from_the_transaction() {
    let server = Server::start(&config_with(""));
    let peer = UdpPeer::new(server.sip);
    let a = register(&peer, "1002", 1, "same", "");
    let b = register(&peer, "1002", 1, "same", "");
    assert_eq!(status(&a), 401);
    // A retransmission is absorbed by the server transaction: the identical response, same nonce.
    assert_eq!(
        a, b,
        "retransmission must be answered with the transaction's last response"
    );
}

#[test]
fn rfc3261_s10_3_too_brief_expiry_gets_423_with_min_expires() {
    let server = Server::start(&config_with("min_expires = 120"));
    let peer = UdpPeer::new(server.sip);
    let uri = format!("sip:{}", server.sip);
    let first = register(&peer, "1001", 1, "m1", "");
    let challenge = md5_challenge(&first);
    let auth = authorization("1001", "1001pass", &challenge, &uri, "00000001");
    let local = peer.local();
    peer.send(&format!(
        "REGISTER {uri} SIP/2.0\nVia: SIP/2.0/UDP {local};branch=z9hG4bKm2\nFrom: <sip:1001@{s}>;tag=x\n\
         To: <sip:1001@{s}>\nCall-ID: brief@{local}\nCSeq: 2 REGISTER\nContact: <sip:1001@{local}>;expires=30\n\
         Max-Forwards: 70\n{auth}Content-Length: 0\n\n",
        s = server.sip
    ));
    let resp = peer.recv();
    assert_eq!(status(&resp), 423, "{resp}");
    assert_eq!(header(&resp, "Min-Expires"), Some("120"), "{resp}");
}

#[test]
fn rfc3581_received_and_rport_filled_in_on_responses() {
    let server = Server::start(&config_with(""));
    let peer = UdpPeer::new(server.sip);
    let resp = register(&peer, "1001", 1, "v1", "");
    let via = header(&resp, "Via").expect("Via");
    let port = peer.local().port();
    assert!(via.contains(&format!("rport={port}")), "{via}");
    assert!(via.contains("received=127.0.0.1"), "{via}");
}

#[test]
fn rfc8760_sha256_offered_first_when_configured_and_accepted() {
    use sha2::{Digest, Sha256};
    let server = Server::start(&config_with("algorithms = [\"SHA-256\", \"MD5\"]"));
    let peer = UdpPeer::new(server.sip);
    let uri = format!("sip:{}", server.sip);
    let first = register(&peer, "1001", 1, "s1", "");
    let challenges = headers(&first, "WWW-Authenticate");
    assert_eq!(challenges.len(), 2, "{first}");
    assert!(
        challenges[0].contains("algorithm=SHA-256") && challenges[1].contains("algorithm=MD5"),
        "{first}"
    );
    let realm = digest_param(challenges[0], "realm").expect("realm");
    let nonce = digest_param(challenges[0], "nonce").expect("nonce");
    let h = |s: String| hex::encode(Sha256::digest(s.as_bytes()));
    let ha1 = h(format!("1001:{realm}:1001pass"));
    let ha2 = h(format!("REGISTER:{uri}"));
    let response = h(format!("{ha1}:{nonce}:00000001:abc:auth:{ha2}"));
    let auth = format!(
        "Authorization: Digest username=\"1001\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=SHA-256, cnonce=\"abc\", qop=auth, nc=00000001\n"
    );
    let ok = register(&peer, "1001", 2, "s2", &auth);
    assert_eq!(status(&ok), 200, "{ok}");
}
