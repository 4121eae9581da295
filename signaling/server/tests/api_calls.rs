//! The REST call-control API on a real call: sipp caller → Switchboard → sipp callee, the call
//! listed with its media, DTMF sent into it, hung up through the API (both sides get a BYE), and its
//! lifecycle events read back from the SSE stream in order with gapless per-call sequence numbers.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::{
    Server, SippUas, answered_call, caller_sipp_args, caller_until_bye, config_with, free_port,
    health_until_idle, register_user, sipp, sse_until,
};

const TOKEN: &str = "api-calls-test-token-0123456789";

/// One HTTP/1.1 request with the bearer token; returns status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_owned();
    (status, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The example users, with the test's API token.
fn server_with_token() -> Server {
    Server::start(&config_with("").replace(
        "[http]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
    ))
}

#[test]
fn call_is_listed_gets_dtmf_is_hung_up_through_the_api_and_its_events_are_in_order() {
    let server = server_with_token();
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let uas = SippUas::start("call_uas_answer.xml", uas_port, &[]);
    let caller = caller_until_bye(&server, &free_port().to_string());

    // The answered call shows up with both legs and its media session.
    let call = answered_call(&server, TOKEN);
    assert_eq!(
        (call["from"].as_str(), call["to"].as_str()),
        (Some("1001"), Some("1002")),
        "{call}"
    );
    assert!(
        call["b_call_id"]
            .as_str()
            .is_some_and(|id| id != call["a_call_id"]),
        "{call}"
    );
    assert!(
        call["media_session"].is_string() && call["media_node"].is_string(),
        "{call}"
    );
    assert!(call["legs"]["a"]["packets"].is_u64(), "{call}");
    assert_eq!(call["codec"], "PCMA/8000", "the callee's answer: {call}");
    let uuid = call["uuid"].as_str().expect("uuid").to_owned();
    let (status, one) = http(server.http, "GET", &format!("/api/v1/calls/{uuid}"), "");
    assert_eq!(
        (status, json(&one)["uuid"].as_str()),
        (200, Some(uuid.as_str()))
    );

    let dtmf = format!("/api/v1/calls/{uuid}/dtmf");
    let (status, body) = http(
        server.http,
        "POST",
        &dtmf,
        r#"{"leg": "b", "digits": "12#"}"#,
    );
    assert_eq!(status, 202, "{body}");
    let (status, body) = http(server.http, "POST", &dtmf, r#"{"leg": "c", "digits": "1"}"#);
    assert_eq!(
        (status, json(&body)["error"]["field"].as_str()),
        (400, Some("leg")),
        "{body}"
    );

    let (status, body) = http(server.http, "DELETE", &format!("/api/v1/calls/{uuid}"), "");
    assert_eq!(status, 200, "{body}");
    let caller = caller.join().expect("caller thread");
    let uas = uas.finish(Duration::from_secs(15));
    assert!(
        caller.success,
        "caller did not get its BYE:\n{}\n{}",
        caller.output,
        server.log()
    );
    assert!(uas.success, "callee did not get its BYE:\n{}", uas.output);
    health_until_idle(&server);
    let (status, _) = http(server.http, "DELETE", &format!("/api/v1/calls/{uuid}"), "");
    assert_eq!(status, 404);

    // The call's events, replayed from the journal: created … answered … ended, call_seq 1, 2, 3, …
    let text = sse_until(
        server.http,
        TOKEN,
        &format!("/api/v1/events?after=0&call_uuid={uuid}"),
        |t| t.contains("event: call_ended"),
    );
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| json(d.trim()))
        .collect();
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"call_created"), "{text}");
    assert!(types.contains(&"call_answered"), "{types:?}");
    assert_eq!(types.last(), Some(&"call_ended"), "{types:?}");
    let seqs: Vec<u64> = events
        .iter()
        .filter_map(|e| e["call_seq"].as_u64())
        .collect();
    assert_eq!(
        seqs,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "{text}"
    );
    let ended = events.last().expect("ended");
    assert_eq!(ended["cause"], "administrative", "{ended}");
    assert!(ended["talk_ms"].as_u64().is_some(), "{ended}");

    // And the counters on /metrics (open, no token needed).
    let (status, metrics) = http(server.http, "GET", "/metrics", "");
    assert_eq!(status, 200);
    for line in [
        "switchboard_calls_answered_total 1",
        "switchboard_calls_ended_total{cause=\"administrative\"} 1",
        "switchboard_call_setup_seconds_count 1",
        "switchboard_calls_active 0",
    ] {
        assert!(metrics.contains(line), "missing {line:?}:\n{metrics}");
    }
}

#[test]
fn one_binding_of_a_user_is_removed_through_the_api_and_the_other_stays() {
    let server = server_with_token();
    let (first, second) = (free_port(), free_port());
    register_user(&server, "1002", "1002pass", first);
    register_user(&server, "1002", "1002pass", second);
    let contacts = || -> Vec<String> {
        let (status, body) = http(server.http, "GET", "/api/v1/registrations", "");
        assert_eq!(status, 200, "{body}");
        json(&body)[0]["contacts"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|c| c["uri"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let both = contacts();
    assert_eq!(both.len(), 2, "{both:?}");
    let gone = format!("sip:1002@127.0.0.1:{first}");
    let path = format!("/api/v1/registrations/1002@127.0.0.1?contact={gone}");
    let (status, body) = http(server.http, "DELETE", &path, "");
    assert_eq!(
        (status, json(&body)["removed"].as_u64()),
        (200, Some(1)),
        "{body}"
    );
    assert_eq!(contacts(), [format!("sip:1002@127.0.0.1:{second}")]);
    let (status, _) = http(server.http, "DELETE", &path, "");
    assert_eq!(status, 404, "already removed");
}

#[test]
fn cdr_carries_the_media_quality_of_the_call() {
    let server = server_with_token();
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let media = free_port().to_string();
    let uas = SippUas::start(
        "call_uas_answer.xml",
        uas_port,
        &["-rtp_echo", "-mi", "127.0.0.1", "-mp", &media],
    );
    // The caller plays G.711 audio for 3 s; the callee echoes it back through the media node.
    let args = caller_sipp_args(&server, "1002", &free_port().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let caller = sipp("call_uac_auth.xml", server.sip, "udp", &refs);
    let uas = uas.finish(Duration::from_secs(15));
    assert!(caller.success, "{}\n{}", caller.output, server.log());
    assert!(uas.success, "{}", uas.output);
    let text = sse_until(
        server.http,
        TOKEN,
        "/api/v1/events?after=0&type=call_ended",
        |t| t.contains("event: call_ended"),
    );
    let cdr = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| json(d.trim()))
        .find(|e| e["type"] == "call_ended")
        .unwrap_or_else(|| panic!("no call_ended in {text}"));
    let q = &cdr["quality"];
    eprintln!("CDR quality: {q}");
    let packets = q["packets"].as_u64().unwrap_or(0);
    let lost = q["packets_lost"].as_u64().unwrap_or(u64::MAX);
    assert!(packets > 100, "audio both ways was counted: {cdr}");
    assert!(
        lost.saturating_mul(50) <= packets,
        "loopback loses (almost) nothing: {cdr}"
    );
    assert!(q["jitter_ms"].as_f64().is_some_and(|j| j >= 0.0), "{cdr}");
    assert!(
        q["mos"].as_f64().is_some_and(|m| (4.0..=4.5).contains(&m)),
        "clean G.711 scores above 4: {cdr}"
    );
}

#[test]
fn blind_transfer_through_the_api_connects_the_caller_to_the_new_callee() {
    let server = server_with_token();
    let (b_port, t_port) = (free_port(), free_port());
    register_user(&server, "1002", "1002pass", b_port);
    register_user(&server, "1001", "1001pass", t_port);
    // B answers and is hung up by the transfer; the new callee answers, then hangs up itself.
    let b = SippUas::start("call_uas_answer.xml", b_port, &[]);
    let t = SippUas::start("call_uas_hangup.xml", t_port, &[]);
    let caller = caller_until_bye(&server, &free_port().to_string());
    let uuid = answered_call(&server, TOKEN)["uuid"]
        .as_str()
        .expect("uuid")
        .to_owned();
    let path = format!("/api/v1/calls/{uuid}/transfer");
    let (status, body) = http(server.http, "POST", &path, r#"{"target": "not a number"}"#);
    assert_eq!(
        (status, json(&body)["error"]["field"].as_str()),
        (400, Some("target")),
        "{body}"
    );
    let (status, body) = http(server.http, "POST", &path, r#"{"target": "1009"}"#);
    assert_eq!(
        (status, json(&body)["error"]["field"].as_str()),
        (400, Some("target")),
        "no route to an unknown user: {body}"
    );
    let (status, body) = http(server.http, "POST", &path, r#"{"target": "1001"}"#);
    assert_eq!(status, 200, "{body}\n{}", server.log());
    assert_eq!(
        json(&body)["request_uri"].as_str(),
        Some(format!("sip:1001@127.0.0.1:{t_port}").as_str()),
        "{body}"
    );
    let b = b.finish(Duration::from_secs(10));
    let t = t.finish(Duration::from_secs(15));
    let caller = caller.join().expect("caller thread");
    let log = server.log();
    assert!(
        b.success,
        "the first callee got its BYE:\n{}\n{log}",
        b.output
    );
    assert!(t.success, "the new callee was called:\n{}\n{log}", t.output);
    assert!(
        caller.success,
        "the caller stayed connected until the new callee hung up:\n{}\n{log}",
        caller.output
    );
    health_until_idle(&server);
    let (status, _) = http(server.http, "POST", &path, r#"{"target": "1001"}"#);
    assert_eq!(status, 404, "the call is over");
    let text = sse_until(
        server.http,
        TOKEN,
        &format!("/api/v1/events?after=0&call_uuid={uuid}"),
        |t| t.contains("event: call_ended"),
    );
    assert!(
        text.contains(r#""type":"call_transferred""#) && text.contains(r#""by":"api""#),
        "{text}"
    );
}

#[test]
fn rfc3515_callee_refer_transfers_the_caller_to_the_refer_to_target() {
    let server = server_with_token();
    let (b_port, t_port) = (free_port(), free_port());
    register_user(&server, "1002", "1002pass", b_port);
    register_user(&server, "1001", "1001pass", t_port);
    // B answers, REFERs the caller to 1001, hears the outcome by NOTIFY and is hung up; the new
    // callee answers and later hangs up, which ends the caller's call.
    let b = SippUas::start("call_uas_refer.xml", b_port, &["-s", "1001"]);
    let t = SippUas::start("call_uas_hangup.xml", t_port, &[]);
    let args = caller_sipp_args(&server, "1002", &free_port().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let caller = sipp("call_uac_callee_hangs_up.xml", server.sip, "udp", &refs);
    let b = b.finish(Duration::from_secs(10));
    let t = t.finish(Duration::from_secs(10));
    let log = server.log();
    assert!(b.success, "the referring callee:\n{}\n{log}", b.output);
    assert!(t.success, "the transfer target:\n{}\n{log}", t.output);
    assert!(caller.success, "the caller:\n{}\n{log}", caller.output);
    health_until_idle(&server);
    let text = sse_until(
        server.http,
        TOKEN,
        "/api/v1/events?after=0&type=call_transferred",
        |t| t.contains("event: call_transferred"),
    );
    assert!(
        text.contains(r#""by":"b""#) && text.contains("sip:1001@127.0.0.1"),
        "{text}"
    );
}

#[test]
fn rfc3515_caller_refer_transfers_the_callee_to_the_refer_to_target() {
    let server = Server::start(
        &config_with("[[users]]\nusername = \"1003\"\npassword = \"1003pass\"\n").replace(
            "[http]\nlisten = \"127.0.0.1:0\"\n",
            &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
        ),
    );
    let (b_port, t_port) = (free_port(), free_port());
    register_user(&server, "1002", "1002pass", b_port);
    register_user(&server, "1003", "1003pass", t_port);
    // The caller REFERs the callee to 1003, hears the outcome by NOTIFY and is hung up; 1003 is
    // called with the callee's session, answers and later hangs up, which ends the callee's call.
    let b = SippUas::start("call_uas_answer.xml", b_port, &[]);
    let t = SippUas::start("call_uas_hangup.xml", t_port, &[]);
    let mut args = caller_sipp_args(&server, "1002", &free_port().to_string());
    args.extend(["-key".to_owned(), "target".to_owned(), "1003".to_owned()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let caller = sipp("call_uac_refer.xml", server.sip, "udp", &refs);
    let t = t.finish(Duration::from_secs(15));
    let b = b.finish(Duration::from_secs(15));
    let log = server.log();
    assert!(
        caller.success,
        "the referring caller:\n{}\n{log}",
        caller.output
    );
    assert!(t.success, "the transfer target:\n{}\n{log}", t.output);
    assert!(b.success, "the transferred callee:\n{}\n{log}", b.output);
    // The target was called from the callee's identity.
    let invite = support::sipp_received(&t.output, "INVITE ");
    assert!(
        invite
            .first()
            .is_some_and(|m| m.contains("From: <sip:1002@")),
        "{invite:?}"
    );
    health_until_idle(&server);
    let text = sse_until(
        server.http,
        TOKEN,
        "/api/v1/events?after=0&type=call_transferred",
        |t| t.contains("event: call_transferred"),
    );
    assert!(
        text.contains(r#""by":"a""#) && text.contains("sip:1003@127.0.0.1"),
        "{text}"
    );
}
