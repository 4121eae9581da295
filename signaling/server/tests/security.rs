//! Banning a source that keeps failing digest authentication (`[security]`): after the configured
//! number of wrong passwords its messages go unanswered, a `ban` event and the metrics say so,
//! other addresses are still served, an operator can list and lift the ban, and a ban expires by
//! itself.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::{
    Server, UdpPeer, config_with, digest_param, header, http_request, md5_response, sse_until,
    status,
};

const TOKEN: &str = "security-test-token-0123456789";

/// A REGISTER for 1001 from `peer` with `auth` (empty for none).
fn register(peer: &UdpPeer, cseq: u32, auth: &str) -> String {
    format!(
        "REGISTER sip:{server} SIP/2.0\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKban{cseq};rport\n\
         From: <sip:1001@127.0.0.1>;tag=ban\n\
         To: <sip:1001@127.0.0.1>\n\
         Call-ID: ban-{local}\n\
         CSeq: {cseq} REGISTER\n\
         Contact: <sip:1001@{local}>\n\
         Max-Forwards: 70\n\
         {auth}Content-Length: 0\n\n",
        server = peer.server,
        local = peer.local()
    )
}

/// One round with a wrong password: challenge, then a refused answer (an authentication failure).
fn wrong_password(peer: &UdpPeer, cseq: u32) {
    peer.send(&register(peer, cseq, ""));
    let challenge = peer.recv();
    assert_eq!(status(&challenge), 401, "{challenge}");
    let c = header(&challenge, "WWW-Authenticate").expect("challenge");
    let (realm, nonce) = (
        digest_param(c, "realm").expect("realm"),
        digest_param(c, "nonce").expect("nonce"),
    );
    let uri = format!("sip:{}", peer.server);
    let response = md5_response(
        "1001", &realm, "guess", "REGISTER", &uri, &nonce, "00000001", "c0ffee",
    );
    let auth = format!(
        "Authorization: Digest username=\"1001\", realm=\"{realm}\", nonce=\"{nonce}\", \
         uri=\"{uri}\", response=\"{response}\", algorithm=MD5, cnonce=\"c0ffee\", qop=auth, \
         nc=00000001\n"
    );
    peer.send(&register(peer, cseq + 1, &auth));
    let refused = peer.recv();
    assert_eq!(status(&refused), 401, "wrong password refused: {refused}");
}

/// Whether `peer`'s REGISTER gets any answer within `wait`.
fn answered(peer: &UdpPeer, cseq: u32, wait: Duration) -> bool {
    peer.socket.set_read_timeout(Some(wait)).expect("timeout");
    peer.send(&register(peer, cseq, ""));
    let mut buf = [0u8; 65535];
    let got = peer.socket.recv_from(&mut buf).is_ok();
    peer.socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    got
}

#[test]
fn a_source_failing_authentication_is_banned_for_a_while() {
    let server = Server::start(
        &config_with("[security]\nban_after_failures = 3\nban_window_secs = 60\nban_secs = 2\n")
            .replace(
                "[http]\nlisten = \"127.0.0.1:0\"\n",
                &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
            ),
    );
    let scanner = UdpPeer::new(server.sip);
    for round in 0..3 {
        wrong_password(&scanner, 10 * round + 1);
    }
    assert!(
        !answered(&scanner, 100, Duration::from_millis(700)),
        "the banned source is ignored\n{}",
        server.log()
    );
    // Another address is still served.
    let other = UdpPeer {
        socket: UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2"),
        server: server.sip,
    };
    assert!(
        answered(&other, 1, Duration::from_secs(5)),
        "127.0.0.2 is not banned"
    );
    let (_, metrics) = server.http_get("/metrics");
    assert!(metrics.contains("switchboard_bans_active 1"), "{metrics}");
    assert!(
        !metrics.contains("switchboard_messages_dropped_banned_total 0"),
        "{metrics}"
    );
    let events = sse_until(server.http, TOKEN, "/api/v1/events?after=0&type=ban", |t| {
        t.contains("event: ban")
    });
    assert!(events.contains(r#""source":"127.0.0.1""#), "{events}");
    // An operator sees the ban and lifts it: the address is served again at once.
    let auth = format!("Bearer {TOKEN}");
    let api = |method: &str, path: &str| {
        let (status, body) = http_request(
            server.http,
            method,
            path,
            &[("Authorization", auth.as_str())],
            "",
        );
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        (status, json)
    };
    let (status, bans) = api("GET", "/api/v1/bans");
    assert_eq!(status, 200, "{bans}");
    assert_eq!(bans[0]["ip"], "127.0.0.1", "{bans}");
    assert!(bans[0]["seconds_left"].as_u64() <= Some(2), "{bans}");
    let (status, lifted) = api("DELETE", "/api/v1/bans/127.0.0.1");
    assert_eq!(
        (status, lifted["lifted"].as_bool()),
        (200, Some(true)),
        "{lifted}"
    );
    assert!(answered(&scanner, 150, Duration::from_secs(5)), "lifted");
    let (status, _) = api("DELETE", "/api/v1/bans/127.0.0.1");
    assert_eq!(status, 404, "no longer banned");
    let (status, error) = api("DELETE", "/api/v1/bans/not-an-ip");
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (400, Some("ip")),
        "{error}"
    );
    // Banned again, the ban expires by itself.
    for round in 0..3 {
        wrong_password(&scanner, 10 * round + 161);
    }
    assert!(!answered(&scanner, 199, Duration::from_millis(700)));
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut cseq = 200;
    while !answered(&scanner, cseq, Duration::from_millis(300)) {
        assert!(
            Instant::now() < deadline,
            "ban never expired\n{}",
            server.log()
        );
        cseq += 1;
    }
}

#[test]
fn a_flooding_source_is_banned_and_a_trunk_is_not() {
    // Up to 20 messages a second; 127.0.0.3 is a trunk's address.
    let server = Server::start(
        &config_with(
            "[security]\nflood_max_per_sec = 20\nban_secs = 60\n\
             [[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.9:5999\"\n\
             inbound_ips = [\"127.0.0.3/32\"]\n",
        )
        .replace(
            "[http]\nlisten = \"127.0.0.1:0\"\n",
            &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
        ),
    );
    let peer_at = |ip: &str| UdpPeer {
        socket: UdpSocket::bind(format!("{ip}:0")).expect("bind"),
        server: server.sip,
    };
    // 60 REGISTERs at once from each: far over 20 in a second.
    let (flooder, carrier) = (peer_at("127.0.0.2"), peer_at("127.0.0.3"));
    for peer in [&flooder, &carrier] {
        for cseq in 1..=60 {
            peer.send(&register(peer, cseq, ""));
        }
    }
    let count_answers = |peer: &UdpPeer| {
        peer.socket
            .set_read_timeout(Some(Duration::from_millis(700)))
            .expect("timeout");
        let mut buf = [0u8; 65535];
        let mut n = 0;
        while peer.socket.recv_from(&mut buf).is_ok() {
            n += 1;
        }
        n
    };
    assert_eq!(
        count_answers(&flooder),
        20,
        "only the first 20 are answered"
    );
    assert_eq!(count_answers(&carrier), 60, "the trunk is exempt");
    assert!(
        !answered(&flooder, 100, Duration::from_millis(700)),
        "the flooder is ignored"
    );
    assert!(
        answered(&UdpPeer::new(server.sip), 1, Duration::from_secs(5)),
        "127.0.0.1 is served"
    );
    let events = sse_until(server.http, TOKEN, "/api/v1/events?after=0&type=ban", |t| {
        t.contains("event: ban")
    });
    assert!(events.contains(r#""source":"127.0.0.2""#), "{events}");
    assert!(!events.contains("127.0.0.3"), "{events}");
}
