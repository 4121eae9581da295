//! Independent softphones (baresip, Debian package) against Switchboard: one registers with digest
//! auth; two call each other through it with audio flowing both ways through the media node (each
//! hears the other's tone), hold and resume, RFC 4733 digits both ways, and hang up from a phone or
//! through the REST API. Asserted from outside: the REST API, `/health`, the event stream, and what
//! each phone reports and records.

mod support;

use std::time::{Duration, Instant};

use support::baresip::Phone;
use support::{Server, config_with, health_until_idle_within, http_request};

const TOKEN: &str = "baresip-test-token-0123456789";

/// The example users (1001, 1002), with the test's API token.
fn server_with_token() -> Server {
    Server::start(&config_with("").replace(
        "[http]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
    ))
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

/// A server with the test's token and two registered phones: 1001 sends a 440 Hz tone, 1002
/// (answering by itself) an 880 Hz one.
fn server_and_phones() -> (Server, Phone, Phone) {
    let server = server_with_token();
    let callee = Phone::start("1002", "1002pass", server.sip, 880);
    wait_registrations(&server, &[&callee], 1);
    let caller = Phone::start("1001", "1001pass", server.sip, 440);
    wait_registrations(&server, &[&caller, &callee], 2);
    (server, caller, callee)
}

/// 1001 dials 1002 and the API lists the call answered; returns its UUID.
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

#[test]
fn baresip_calls_baresip_and_audio_flows_both_ways_through_the_media_node() {
    let (server, caller, callee) = server_and_phones();
    let ctx = || context(&server, &[&caller, &callee]);
    let uuid = call_answered(&server, &caller, &ctx);
    audio_flows_both_ways(&server, &uuid, &ctx);

    // The caller hangs up: the callee gets the BYE, the call and its media session are gone.
    if let Err(why) = caller.command("hangup", "") {
        panic!("hangup: {why}\n{}", ctx());
    }
    wait_closed(&callee, "the caller's hang-up", &ctx);
    no_call_left(&server, &ctx);

    // Each phone heard the other's tone (not its own echo, not silence).
    for (phone, heard_hz) in [(&caller, 880.0), (&callee, 440.0)] {
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

#[test]
fn baresip_hold_resume_and_dtmf_pass_through_and_an_operator_hang_up_reaches_both_phones() {
    let (server, caller, callee) = server_and_phones();
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
