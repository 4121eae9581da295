//! Independent softphones (baresip, Debian package) against Switchboard: one registers with digest
//! auth; two call each other through it with audio flowing both ways through the media node (each
//! hears the other's tone), hold and resume, RFC 4733 digits both ways, and hang up from a phone or
//! through the REST API. Asserted from outside: the REST API, `/health`, the event stream, and what
//! each phone reports and records.

mod support;

use std::time::{Duration, Instant};

use support::baresip::{Phone, SipTransport};
use support::{Server, config_with, health_until_idle_within, http_request};

const TOKEN: &str = "baresip-test-token-0123456789";

/// The example users (1001, 1002), with the test's API token, logging with the `RUST_LOG` filter
/// `log`.
fn server_with_token(log: &str) -> Server {
    let config = config_with("").replace(
        "[http]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
    );
    Server::start_logging(&config, &[], log)
}

/// One request to the REST API with the token; returns status and body.
fn api(server: &Server, method: &str, path: &str, body: &str) -> (u16, String) {
    let bearer = format!("Bearer {TOKEN}");
    http_request(
        server.http,
        method,
        path,
        &[
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
        ],
        body,
    )
}

/// `GET path` on the REST API with the token; the body as JSON.
fn api_get(server: &Server, path: &str) -> serde_json::Value {
    let (status, body) = api(server, "GET", path, "");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

/// Every phone's output and the server's log, for failure messages.
fn context(server: &Server, phones: &[&Phone]) -> String {
    let mut text: String = phones.iter().map(|p| p.output() + "\n").collect();
    text.push_str("--- server ---\n");
    text.push_str(&server.log());
    text
}

/// Polls `check` every 100 ms until it gives a value, or panics with `what` and the context once
/// `limit` has passed.
fn poll<T>(
    limit: Duration,
    what: &str,
    context: impl Fn() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} (waited {limit:?})\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_registrations(server: &Server, phones: &[&Phone], count: usize) {
    let wanted = format!("\"registrations\":{count}");
    poll(
        Duration::from_secs(20),
        &format!("{count} registration(s) on /health"),
        || context(server, phones),
        || server.http_get("/health").1.contains(&wanted).then_some(()),
    );
}

#[test]
fn baresip_registers_with_digest_auth() {
    let server = Server::start(&config_with(""));
    let phone = Phone::start("1001", "1001pass", server.sip, 440);
    wait_registrations(&server, &[&phone], 1);
}

/// Both legs' RTP counters at the media node: received from the caller, from the callee, sent to
/// the caller, sent to the callee.
fn leg_packets(call: &serde_json::Value) -> Option<[u64; 4]> {
    let legs = &call["legs"];
    Some([
        legs["a"]["packets"].as_u64()?,
        legs["b"]["packets"].as_u64()?,
        legs["a"]["packets_out"].as_u64()?,
        legs["b"]["packets_out"].as_u64()?,
    ])
}

/// A server with the test's token and two phones registered over `transport`: 1001 sends a 440 Hz
/// tone, 1002 (answering by itself) an 880 Hz one.
fn server_and_phones(transport: SipTransport, log: &str) -> (Server, Phone, Phone) {
    let server = server_with_token(log);
    let callee = Phone::start_over(transport, "1002", "1002pass", server.sip, 880);
    wait_registrations(&server, &[&callee], 1);
    let caller = Phone::start_over(transport, "1001", "1001pass", server.sip, 440);
    wait_registrations(&server, &[&caller, &callee], 2);
    (server, caller, callee)
}

/// 1001 dials 1002 (baresip sends it over its account's transport) and the API lists the call
/// answered; returns its UUID.
fn call_answered(server: &Server, caller: &Phone, ctx: &dyn Fn() -> String) -> String {
    let dialled = format!("sip:1002@{}", server.sip);
    if let Err(why) = caller.command("dial", &dialled) {
        panic!("dial {dialled}: {why}\n{}", ctx());
    }
    let call = poll(
        Duration::from_secs(20),
        "no answered call in GET /api/v1/calls",
        ctx,
        || {
            let calls = api_get(server, "/api/v1/calls");
            calls
                .as_array()
                .and_then(|c| c.iter().find(|c| c["state"] == "answered"))
                .cloned()
        },
    );
    assert_eq!(
        (call["from"].as_str(), call["to"].as_str()),
        (Some("1001"), Some("1002")),
        "{call}\n{}",
        ctx()
    );
    call["uuid"].as_str().expect("uuid").to_owned()
}

/// Waits until audio flows both ways through the media node: every RTP counter of the call (in
/// and out on both legs) is above zero, then grows by 100 more (G.711 at 20 ms is 50 packets a
/// second, so about two seconds more audio on every counter). Returns the last reading.
fn audio_flows_both_ways(server: &Server, uuid: &str, ctx: &dyn Fn() -> String) -> [u64; 4] {
    let path = format!("/api/v1/calls/{uuid}");
    let counters = || leg_packets(&api_get(server, &path));
    let first = poll(
        Duration::from_secs(20),
        "RTP counters [from 1001, from 1002, to 1001, to 1002] did not all start",
        ctx,
        || counters().filter(|c| c.iter().all(|n| *n > 0)),
    );
    let grown = poll(
        Duration::from_secs(30),
        &format!(
            "RTP counters [from 1001, from 1002, to 1001, to 1002] did not all grow by 100 from {first:?}"
        ),
        ctx,
        || counters().filter(|now| now.iter().zip(first).all(|(n, f)| *n >= f + 100)),
    );
    eprintln!(
        "RTP packets at the media node [from 1001, from 1002, to 1001, to 1002]: {first:?} -> {grown:?}"
    );
    grown
}

/// The call is gone from the API and `/health` shows no call and no media session.
fn no_call_left(server: &Server, ctx: &dyn Fn() -> String) {
    poll(
        Duration::from_secs(15),
        "GET /api/v1/calls did not become empty",
        ctx,
        || {
            api_get(server, "/api/v1/calls")
                .as_array()
                .is_some_and(|c| c.is_empty())
                .then_some(())
        },
    );
    health_until_idle_within(server, Duration::from_secs(15), &ctx());
}

fn wait_closed(phone: &Phone, why: &str, ctx: &dyn Fn() -> String) {
    if phone
        .wait_event("CALL_CLOSED", Duration::from_secs(15))
        .is_none()
    {
        panic!("{}'s call was not closed by {why}\n{}", phone.user, ctx());
    }
}

/// Reads the server's event stream at `path` until `done(text)` or 15 s pass; returns the text.
fn sse_until(server: &Server, path: &str, done: impl Fn(&str) -> bool) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(server.http).expect("connect http");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
        server.http
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut text = String::new();
    let mut buf = [0u8; 8192];
    while !done(&text) && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
    }
    text
}

/// The caller's baresip reports the RFC 4733 `digit` (sent by `whom`).
fn dtmf_heard(phone: &Phone, digit: &str, whom: &str, ctx: &dyn Fn() -> String) {
    if phone
        .wait_event_param("CALL_DTMF_START", digit, Duration::from_secs(15))
        .is_none()
    {
        panic!(
            "{} did not receive the DTMF digit {digit} {whom}\n{}",
            phone.user,
            ctx()
        );
    }
}

/// After the call, each phone's recording carries the other's tone (not its own echo, not
/// silence): the caller hears 880 Hz, the callee 440 Hz.
fn each_heard_the_other(caller: &Phone, callee: &Phone, ctx: &dyn Fn() -> String) {
    for (phone, heard_hz) in [(caller, 880.0), (callee, 440.0)] {
        let wav = poll(
            Duration::from_secs(10),
            "no received audio dumped",
            ctx,
            || phone.received_audio(),
        );
        let (seconds, peak, tone) = (wav.seconds(), wav.peak(), wav.tone_hz());
        eprintln!(
            "{} received {seconds:.1} s of audio: peak {peak}, tone {tone:.0} Hz",
            phone.user
        );
        assert!(
            seconds >= 1.0 && peak > 1000 && (tone - heard_hz).abs() < heard_hz * 0.1,
            "{} should hear over a second of a {heard_hz} Hz tone, got {seconds:.1} s, \
             peak {peak}, {tone:.0} Hz\n{}",
            phone.user,
            ctx()
        );
    }
}

/// The log filter of the UDP tests: `SWITCHBOARD_TEST_LOG` if set, else `info`.
fn test_log() -> String {
    std::env::var("SWITCHBOARD_TEST_LOG").unwrap_or_else(|_| "info".into())
}

#[test]
fn baresip_calls_baresip_and_audio_flows_both_ways_through_the_media_node() {
    let (server, caller, callee) = server_and_phones(SipTransport::Udp, &test_log());
    let ctx = || context(&server, &[&caller, &callee]);
    let uuid = call_answered(&server, &caller, &ctx);
    audio_flows_both_ways(&server, &uuid, &ctx);

    // The caller hangs up: the callee gets the BYE, the call and its media session are gone.
    if let Err(why) = caller.command("hangup", "") {
        panic!("hangup: {why}\n{}", ctx());
    }
    wait_closed(&callee, "the caller's hang-up", &ctx);
    no_call_left(&server, &ctx);

    each_heard_the_other(&caller, &callee, &ctx);
}

#[test]
fn baresip_hold_resume_and_dtmf_pass_through_and_an_operator_hang_up_reaches_both_phones() {
    let (server, caller, callee) = server_and_phones(SipTransport::Udp, &test_log());
    let ctx = || context(&server, &[&caller, &callee]);
    let uuid = call_answered(&server, &caller, &ctx);
    audio_flows_both_ways(&server, &uuid, &ctx);
    let path = format!("/api/v1/calls/{uuid}");

    // The caller's hold re-INVITE (a=sendonly) is relayed to the callee and answered; its resume
    // (a=sendrecv) brings the audio back both ways.
    for (command, held) in [("hold", true), ("resume", false)] {
        if let Err(why) = caller.command(command, "") {
            panic!("{command}: {why}\n{}", ctx());
        }
        poll(
            Duration::from_secs(15),
            &format!("the API never showed the caller's leg on_hold={held} after {command}"),
            ctx,
            || (api_get(&server, &path)["on_hold"][0] == held).then_some(()),
        );
    }
    audio_flows_both_ways(&server, &uuid, &ctx);

    // RFC 4733 both ways: the callee's key press reaches the caller through the media node and
    // is reported as a call event; a digit sent through the API reaches the caller.
    if let Err(why) = callee.command("sndcode", "5") {
        panic!("sndcode: {why}\n{}", ctx());
    }
    dtmf_heard(&caller, "5", "from 1002", &ctx);
    let events = sse_until(
        &server,
        &format!("/api/v1/events?after=0&call_uuid={uuid}"),
        |t| t.contains(r#""type":"call_dtmf""#),
    );
    assert!(
        events.contains(r#""leg":"b","digit":"5""#),
        "no call_dtmf event for 1002's key press: {events}\n{}",
        ctx()
    );
    let (status, body) = api(
        &server,
        "POST",
        &format!("{path}/dtmf"),
        r#"{"leg": "a", "digits": "7"}"#,
    );
    assert_eq!(status, 202, "POST {path}/dtmf: {body}\n{}", ctx());
    dtmf_heard(&caller, "7", "sent through the API", &ctx);

    // The operator hangs up: both phones get a BYE.
    let (status, body) = api(&server, "DELETE", &path, "");
    assert_eq!(status, 200, "DELETE {path}: {body}\n{}", ctx());
    wait_closed(&caller, "the operator's hang-up", &ctx);
    wait_closed(&callee, "the operator's hang-up", &ctx);
    no_call_left(&server, &ctx);
}

/// Every SIP message in and out and every TCP connection opened or accepted: the server's trace of
/// `switchboard::sip` and its TCP transport's debug lines.
const SIP_TRACE: &str = "info,switchboard::sip=trace,switchboard_signaling::transport::tcp=debug";

/// One SIP message in the server's trace.
#[derive(Debug)]
struct ServerTraced {
    /// Received (`true`) or sent.
    received: bool,
    /// Its source (received) or destination (sent).
    peer: String,
    start_line: String,
    /// The top Via's protocol and transport (`SIP/2.0/TCP`).
    via: String,
    call_id: String,
}

impl ServerTraced {
    /// A `method` request received (`received`) or sent.
    fn is(&self, received: bool, method: &str) -> bool {
        self.received == received && self.start_line.starts_with(&format!("{method} "))
    }
}

/// The SIP messages in the server's log (`received:`/`sending:` trace lines, each followed by the
/// message and its ` source=`/` dest=` field) and the peers of its TCP connections.
fn server_sip_trace(log: &str) -> (Vec<ServerTraced>, Vec<String>) {
    let (mut messages, mut tcp_peers) = (Vec::new(), Vec::new());
    let mut open: Option<(bool, Vec<&str>)> = None;
    for line in log.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(peer) = line.split("tcp connection open peer=").nth(1) {
            tcp_peers.extend(peer.split_whitespace().next().map(str::to_owned));
        }
        if line.ends_with("switchboard::sip: received:")
            || line.ends_with("switchboard::sip: sending:")
        {
            open = Some((line.ends_with("received:"), Vec::new()));
            continue;
        }
        let Some((received, lines)) = open.as_mut() else {
            continue;
        };
        let Some(peer) = line
            .strip_prefix(" source=")
            .or(line.strip_prefix(" dest="))
        else {
            lines.push(line);
            continue;
        };
        let header = |names: &[&str]| {
            lines
                .iter()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    names
                        .iter()
                        .any(|n| name.trim().eq_ignore_ascii_case(n))
                        .then(|| value.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let via = header(&["Via", "v"]);
        messages.push(ServerTraced {
            received: *received,
            peer: peer.to_owned(),
            start_line: lines.first().copied().unwrap_or_default().to_owned(),
            via: via.split_whitespace().next().unwrap_or_default().to_owned(),
            call_id: header(&["Call-ID", "i"]),
        });
        open = None;
    }
    (messages, tcp_peers)
}

/// Every SIP message between `phone` and the server went over TCP, by the phone's own SIP trace,
/// which holds requests of the methods `sent` to the server and `received` from it.
fn phone_used_tcp_only(
    phone: &Phone,
    server: &Server,
    (sent, received): (&[&str], &[&str]),
    ctx: &dyn Fn() -> String,
) {
    let trace = poll(
        Duration::from_secs(10),
        &format!(
            "{}'s SIP trace lacks requests it sent {sent:?} or received {received:?}",
            phone.user
        ),
        ctx,
        || {
            let trace = phone.sip_trace();
            // baresip names its own side by the connection's port or by its listening one;
            // what it sends goes to the server's address.
            let has = |method: &str, outgoing: bool| {
                trace.iter().any(|m| {
                    m.method() == Some(method) && (m.to == server.sip.to_string()) == outgoing
                })
            };
            (sent.iter().all(|m| has(m, true)) && received.iter().all(|m| has(m, false)))
                .then_some(trace)
        },
    );
    let not_tcp: Vec<_> = trace.iter().filter(|m| m.transport != "TCP").collect();
    assert!(
        not_tcp.is_empty(),
        "{} sent or received SIP messages not over TCP: {not_tcp:#?}\n{}",
        phone.user,
        ctx()
    );
    eprintln!("{}: all {} SIP messages over TCP", phone.user, trace.len());
}

/// Every SIP message in the server's trace has a `SIP/2.0/TCP` top Via and a TCP connection's peer
/// as its source or destination, and the trace holds the call's ACK and BYE from the caller and
/// INVITE, ACK and BYE to the callee.
fn server_used_tcp_only(server: &Server, ctx: &dyn Fn() -> String) {
    let (trace, tcp_peers) = server_sip_trace(&server.log());
    let not_tcp: Vec<_> = trace
        .iter()
        .filter(|m| m.via != "SIP/2.0/TCP" || !tcp_peers.contains(&m.peer))
        .collect();
    assert!(
        not_tcp.is_empty(),
        "SIP messages not over TCP (TCP peers {tcp_peers:?}): {not_tcp:#?}\n{}",
        ctx()
    );
    // The A leg's Call-ID is the one of the INVITE received, the B leg's the one of the INVITE sent.
    for (received, methods, whose) in [
        (true, &["ACK", "BYE"][..], "from the caller"),
        (false, &["INVITE", "ACK", "BYE"], "to the callee"),
    ] {
        let leg = trace
            .iter()
            .find(|m| m.is(received, "INVITE"))
            .map(|m| &m.call_id);
        for method in methods {
            assert!(
                trace
                    .iter()
                    .any(|m| m.is(received, method) && Some(&m.call_id) == leg),
                "no {method} {whose} in the server's SIP trace\n{}",
                ctx()
            );
        }
    }
    eprintln!(
        "server: all {} SIP messages over TCP ({} connections)",
        trace.len(),
        tcp_peers.len()
    );
}

#[test]
fn baresip_calls_baresip_over_tcp_and_every_request_of_the_call_goes_over_tcp() {
    let (server, caller, callee) = server_and_phones(SipTransport::Tcp, SIP_TRACE);
    let ctx = || context(&server, &[&caller, &callee]);
    let uuid = call_answered(&server, &caller, &ctx);
    audio_flows_both_ways(&server, &uuid, &ctx);
    if let Err(why) = caller.command("hangup", "") {
        panic!("hangup: {why}\n{}", ctx());
    }
    wait_closed(&callee, "the caller's hang-up", &ctx);
    no_call_left(&server, &ctx);
    each_heard_the_other(&caller, &callee, &ctx);

    // The phones' view: REGISTER, the call's requests and every response went over TCP.
    let requests = ["REGISTER", "INVITE", "ACK", "BYE"];
    phone_used_tcp_only(&caller, &server, (&requests, &[]), &ctx);
    phone_used_tcp_only(&callee, &server, (&requests[..1], &requests[1..]), &ctx);

    // The server's view: its trace holds the caller's ACK and BYE and its own INVITE, ACK and BYE
    // to the callee, and every message in and out has a TCP Via and a peer it has a TCP connection
    // with (the caller's ACK and BYE over UDP, as baresip sent them before requests towards a TCP
    // caller said TCP, came from the phone's own SIP port, no connection's peer).
    server_used_tcp_only(&server, &ctx);
}
