//! Originating a call through the REST API: Switchboard rings a registered phone (sipp) with its
//! own offer, and once it answers calls a second registered phone and connects them on one media
//! session; audio flows both ways, the call is listed and hung up through the API, its events come
//! in order; bad or unroutable parties are refused naming the field.

mod support;

use std::time::{Duration, Instant};

use support::{
    Server, SippUas, config_with, free_port, health_until_idle, http_request, register_user,
    released_rtp, sse_until,
};

const TOKEN: &str = "originate-test-token-0123456789";

fn server() -> Server {
    Server::start(&config_with("").replace(
        "[http]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
    ))
}

fn api(server: &Server, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (status, text) = http_request(server.http, method, path, &headers, body);
    let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    (status, value)
}

/// Polls `GET /api/v1/calls/{uuid}` until `done` holds for it (20 s at most).
fn call_until(
    server: &Server,
    uuid: &str,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, call) = api(server, "GET", &format!("/api/v1/calls/{uuid}"), "");
        if status == 200 && done(&call) {
            return call;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {status} {call}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn originate_rings_the_first_phone_then_connects_the_second_with_audio_both_ways() {
    let server = server();
    let (first_port, second_port) = (free_port(), free_port());
    register_user(&server, "1001", "1001pass", first_port);
    register_user(&server, "1002", "1002pass", second_port);
    let first_media = free_port().to_string();
    let first = SippUas::start(
        "originate_uas_first.xml",
        first_port,
        &["-mi", "127.0.0.1", "-mp", &first_media],
    );
    let second_media = free_port().to_string();
    let second = SippUas::start(
        "call_uas_answer.xml",
        second_port,
        &["-rtp_echo", "-mi", "127.0.0.1", "-mp", &second_media],
    );

    let (status, created) = api(
        &server,
        "POST",
        "/api/v1/calls",
        r#"{"from": "1001", "to": "1002"}"#,
    );
    assert_eq!(status, 201, "{created}\n{}", server.log());
    let uuid = created["uuid"].as_str().expect("uuid").to_owned();
    assert_eq!(
        (created["from"].as_str(), created["to"].as_str()),
        (Some("1001"), Some("1002"))
    );

    // Both answered: listed as answered, 1001 -> 1002, on one media session, A-law; the first
    // phone's audio reaches the node and the second phone's echo comes back.
    let call = call_until(&server, &uuid, "audio both ways", |c| {
        c["state"] == "answered"
            && c["legs"]["a"]["packets"].as_u64().unwrap_or(0) > 10
            && c["legs"]["b"]["packets"].as_u64().unwrap_or(0) > 10
    });
    assert_eq!(
        (call["from"].as_str(), call["to"].as_str()),
        (Some("1001"), Some("1002")),
        "{call}"
    );
    assert_eq!(call["codec"], "PCMA/8000", "{call}");
    assert!(
        call["a_call_id"].as_str().is_some_and(|a| !a.is_empty())
            && call["b_call_id"]
                .as_str()
                .is_some_and(|b| b != call["a_call_id"]),
        "two dialogs of our own: {call}"
    );

    let (status, body) = api(&server, "DELETE", &format!("/api/v1/calls/{uuid}"), "");
    assert_eq!(status, 200, "{body}");
    let first = first.finish(Duration::from_secs(15));
    let second = second.finish(Duration::from_secs(15));
    assert!(
        first.success,
        "first phone:\n{}\n{}",
        first.output,
        server.log()
    );
    assert!(second.success, "second phone:\n{}", second.output);
    let (to_a, to_b) = released_rtp(&server);
    assert!(
        to_a > 10 && to_b > 10,
        "relayed both ways: to A {to_a}, to B {to_b}"
    );
    health_until_idle(&server);

    // The call's events, from the journal: created, ringing, answered, ended, in order.
    let text = sse_until(
        server.http,
        TOKEN,
        &format!("/api/v1/events?after=0&call_uuid={uuid}"),
        |t| t.contains("event: call_ended"),
    );
    let types: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event:"))
        .map(str::trim)
        .collect();
    assert_eq!(
        types,
        [
            "call_created",
            "call_ringing",
            "call_answered",
            "call_ended"
        ],
        "{text}"
    );
}

#[test]
fn originate_refuses_bad_and_unroutable_parties_naming_the_field() {
    let server = server();
    let cases = [
        (r#"{"to": "1002"}"#, "from"),
        (r#"{"from": "10 01", "to": "1002"}"#, "from"),
        (r#"{"from": "1001", "to": ""}"#, "to"),
        (
            r#"{"from": "1001", "to": "1002", "domain": "a b"}"#,
            "domain",
        ),
        (r#"{"from": "1001", "to": "1002", "extra": 1}"#, "extra"),
        // Configured users who are not registered: the dialplan answers 480.
        (r#"{"from": "1001", "to": "1002"}"#, "from"),
    ];
    for (body, field) in cases {
        let (status, error) = api(&server, "POST", "/api/v1/calls", body);
        assert_eq!(status, 400, "{body}: {error}");
        assert_eq!(error["error"]["field"], field, "{body}: {error}");
    }
    let port = free_port();
    register_user(&server, "1001", "1001pass", port);
    let (status, error) = api(
        &server,
        "POST",
        "/api/v1/calls",
        r#"{"from": "1001", "to": "1002"}"#,
    );
    assert_eq!(
        (status, error["error"]["field"].as_str()),
        (400, Some("to")),
        "1002 is not registered: {error}"
    );
    let (status, calls) = api(&server, "GET", "/api/v1/calls", "");
    assert_eq!(
        (status, calls),
        (200, serde_json::json!([])),
        "no call placed"
    );
    let (status, _) = http_request(
        server.http,
        "POST",
        "/api/v1/calls",
        &[("Content-Type", "application/json")],
        r#"{"from": "1001", "to": "1002"}"#,
    );
    assert_eq!(status, 401, "no token");
}
