//! The event stream over a WebSocket (`GET /api/v1/events/ws`), black-box against the release
//! binary: a real sipp call (caller → Switchboard → registered sipp callee) arrives as one text
//! frame per event, in order, with gapless per-call sequence numbers and the same bytes as the SSE
//! stream; a reconnect with `?after=` replays exactly the rest; `?type=` filters; auth and query
//! errors come as JSON before the upgrade; pings go both ways; a client's Close is answered and its
//! subscription ends, as does that of a client that vanished or went silent.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use support::{
    Server, SippUas, caller_sipp_args, config_with, free_port, health_until_idle, http_request,
    register_user, sipp,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const TOKEN: &str = "events-ws-test-token-0123456789";

/// The events of one call: sipp's callee answers 180 (no SDP), 200; the caller hangs up.
const CALL_FLOW: [&str; 4] = [
    "call_created",
    "call_ringing",
    "call_answered",
    "call_ended",
];

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn server_with_token() -> Server {
    Server::start(&config_with("").replace(
        "[http]\nlisten = \"127.0.0.1:0\"\n",
        &format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{TOKEN}\"\n"),
    ))
}

/// Opens `/api/v1/events/ws<query>` with `token` (if any); the handshake's error otherwise.
async fn connect(http: SocketAddr, query: &str, token: Option<&str>) -> Result<Socket, WsError> {
    let auth = token.map(|t| ("authorization", format!("Bearer {t}")));
    connect_with(http, query, auth.as_slice()).await
}

/// [`connect`] with these request headers.
async fn connect_with(
    http: SocketAddr,
    query: &str,
    headers: &[(&'static str, String)],
) -> Result<Socket, WsError> {
    let mut request = format!("ws://{http}/api/v1/events/ws{query}")
        .into_client_request()
        .expect("request");
    for (name, value) in headers {
        let value = value.parse().expect("header value");
        request.headers_mut().insert(*name, value);
    }
    let connecting = tokio_tungstenite::connect_async(request);
    let result = tokio::time::timeout(Duration::from_secs(10), connecting)
        .await
        .expect("handshake within 10 s");
    result.map(|(socket, response)| {
        assert_eq!(response.status(), 101);
        socket
    })
}

/// The status and JSON body of a refused handshake.
async fn refused(http: SocketAddr, query: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    match connect(http, query, token).await {
        Err(WsError::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            let json = serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
            (response.status().as_u16(), json)
        }
        Err(e) => panic!("{query}: expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("{query}: the upgrade was accepted"),
    }
}

/// The next text frame as JSON, with its exact text (pings and pongs are skipped; 20 s limit).
async fn next_text(socket: &mut Socket) -> (String, serde_json::Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("a frame within 20 s");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let json = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("frame is not JSON ({e}): {text}"));
                return (text.to_string(), json);
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Text frames until (and with) the first `call_ended`.
async fn until_call_ended(socket: &mut Socket) -> Vec<(String, serde_json::Value)> {
    let mut frames = Vec::new();
    loop {
        let frame = next_text(socket).await;
        let done = frame.1["type"] == "call_ended";
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

/// The text frames of a new socket at `?query` (with the token and `last_event_id` as the
/// `Last-Event-ID` header, if given), up to the first `call_ended`.
async fn replay(http: SocketAddr, query: &str, last_event_id: Option<&str>) -> Vec<String> {
    let mut headers = vec![("authorization", format!("Bearer {TOKEN}"))];
    headers.extend(last_event_id.map(|id| ("last-event-id", id.to_owned())));
    let mut socket = connect_with(http, query, &headers).await.expect("connect");
    let frames = until_call_ended(&mut socket).await;
    frames.into_iter().map(|(text, _)| text).collect()
}

/// The `data:` lines of the SSE stream at `path`, up to the first `call_ended` (10 s limit).
async fn sse_data_until_call_ended(http: SocketAddr, path: &str) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(http).await.expect("connect");
    let head =
        format!("GET {path} HTTP/1.1\r\nHost: {http}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    conn.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    let ended = |raw: &[u8]| {
        let text = String::from_utf8_lossy(raw);
        text.split_once("event: call_ended\n")
            .is_some_and(|(_, rest)| rest.contains("\n\n"))
    };
    let read = async {
        while !ended(&raw) {
            let mut chunk = [0u8; 8192];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    String::from_utf8_lossy(&raw)
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.trim().to_owned())
        .collect()
}

/// One authenticated call 1001 → 1002 that the caller hangs up after ~3 s; both sipps must succeed.
fn run_call(server: &Server, uas_port: u16) {
    let uas = SippUas::start("call_uas_answer.xml", uas_port, &[]);
    let args = caller_sipp_args(server, "1002", &free_port().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let caller = sipp("call_uac_auth.xml", server.sip, "udp", &refs);
    let uas = uas.finish(Duration::from_secs(15));
    assert!(
        caller.success && uas.success,
        "call failed:\n{}\n--- callee ---\n{}\n--- server ---\n{}",
        caller.output,
        uas.output,
        server.log()
    );
    health_until_idle(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_events_arrive_in_order_replay_after_a_seq_and_filter_by_type() {
    let server = server_with_token();
    let uas_port = free_port();
    register_user(&server, "1002", "1002pass", uas_port);
    let http = server.http;
    // Subscribed before the call: new events only, everything, and call_answered only.
    let mut live = connect(http, "", Some(TOKEN)).await.expect("connect");
    let mut answered_only = connect(http, "?type=call_answered", Some(TOKEN))
        .await
        .expect("connect filtered");

    let server = tokio::task::spawn_blocking(move || {
        run_call(&server, uas_port);
        server
    })
    .await
    .expect("call thread");

    // (The registration's event may still have been on its way to the journal at connect time.)
    let mut frames = until_call_ended(&mut live).await;
    frames.retain(|f| f.1["type"] != "registration_added");
    let types: Vec<&str> = frames.iter().filter_map(|f| f.1["type"].as_str()).collect();
    assert_eq!(types, CALL_FLOW, "{frames:?}");
    let uuid = frames[0].1["call_uuid"]
        .as_str()
        .expect("call_uuid")
        .to_owned();
    for (i, (_, event)) in frames.iter().enumerate() {
        assert_eq!(event["call_uuid"], uuid.as_str(), "{event}");
        assert_eq!(
            event["call_seq"],
            i as u64 + 1,
            "per-call seq without gaps: {event}"
        );
    }
    let seqs: Vec<u64> = frames.iter().filter_map(|f| f.1["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(frames[0].1["from"], "1001");
    assert_eq!(frames[0].1["to"], "1002");
    assert_eq!(frames[3].1["cause"], "normal_clearing", "{}", frames[3].0);

    // Each frame is byte for byte what SSE sends as `data:`.
    let sse =
        sse_data_until_call_ended(http, &format!("/api/v1/events?after=0&call_uuid={uuid}")).await;
    let texts: Vec<String> = frames.iter().map(|f| f.0.clone()).collect();
    assert_eq!(texts, sse);

    // Reconnecting after the second event replays exactly the rest: by seq, by id in the query
    // (what a browser can send), by id in `Last-Event-ID` (which wins over a stale `after`).
    let id = frames[1].1["id"].as_str().expect("id");
    for (query, header) in [
        (format!("?after={}", seqs[1]), None),
        (format!("?last_event_id={id}"), None),
        ("?after=0".to_owned(), Some(id)),
    ] {
        assert_eq!(replay(http, &query, header).await, texts[2..], "{query}");
    }

    // The filtered socket skipped created and ringing: its first frame is the answer.
    let (text, first) = next_text(&mut answered_only).await;
    assert_eq!(first["type"], "call_answered", "{text}");
    assert_eq!(text, texts[2]);
    // Replayed from the start with a prefix filter, the call's events come without the others.
    assert_eq!(replay(http, "?after=0&type=call_", None).await, texts);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_token_and_bad_queries_are_refused_as_json_before_the_upgrade() {
    let server = server_with_token();
    let http = server.http;
    for (token, query, status, code, field) in [
        (None, "", 401, "unauthorized", None),
        (Some("wrong-token"), "", 401, "unauthorized", None),
        (
            Some(TOKEN),
            "?after=abc",
            400,
            "invalid_field",
            Some("after"),
        ),
        (
            Some(TOKEN),
            "?after=-1",
            400,
            "invalid_field",
            Some("after"),
        ),
        (
            Some(TOKEN),
            "?last_event_id=x",
            400,
            "invalid_field",
            Some("last_event_id"),
        ),
        (
            Some(TOKEN),
            "?colour=blue",
            400,
            "invalid_field",
            Some("colour"),
        ),
    ] {
        let (got, body) = refused(http, query, token).await;
        assert_eq!(got, status, "{token:?} {query}: {body}");
        assert_eq!(body["error"]["code"], code, "{token:?} {query}: {body}");
        assert_eq!(body["error"]["field"].as_str(), field, "{query}: {body}");
    }
    // A plain GET (no handshake) is told what is missing, as JSON.
    let auth = format!("Bearer {TOKEN}");
    let (status, body) = tokio::task::spawn_blocking(move || {
        http_request(
            http,
            "GET",
            "/api/v1/events/ws",
            &[("Authorization", &auth)],
            "",
        )
    })
    .await
    .expect("plain GET");
    assert_eq!(status, 400, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["error"]["code"], "websocket_required", "{body}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_go_both_ways_and_a_closed_vanished_or_silent_client_ends_its_subscription() {
    let server = server_with_token();
    // A client that never reads (so never answers the server's pings), as a half-open connection.
    let silent = connect(server.http, "", Some(TOKEN))
        .await
        .expect("connect");
    let mut socket = connect(server.http, "", Some(TOKEN))
        .await
        .expect("connect");
    // Our ping is answered with its payload.
    socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("send ping");
    // The server pings on its own (every 15 s; 25 s limit). Read both answers.
    let (mut pong, mut ping) = (false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    while !(pong && ping) {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("pong {pong}, server ping {ping} within 25 s"));
        match frame {
            Some(Ok(Message::Pong(p))) => {
                assert_eq!(&p[..], b"are you there");
                pong = true;
            }
            Some(Ok(Message::Ping(_))) => ping = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    // Our Close is answered with a Close, then the stream ends.
    socket.close(None).await.expect("send close");
    let mut answered = false;
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("close answered within 10 s")
    {
        answered |= matches!(frame, Ok(Message::Close(_)));
    }
    assert!(answered, "no Close frame came back");
    wait_for_log(&server, "ending=ClientClosed", 1, Duration::from_secs(10));

    // A client that vanishes without a Close (TCP connection dropped) ends its task too.
    let socket = connect(server.http, "", Some(TOKEN))
        .await
        .expect("connect");
    drop(socket);
    wait_for_log(&server, "ending=ClientClosed", 2, Duration::from_secs(10));

    // The silent client is dropped once two pings in a row went unanswered (at ~45 s).
    wait_for_log(&server, "ending=Silent", 1, Duration::from_secs(60));
    let opened = server
        .log()
        .matches("event stream WebSocket opened")
        .count();
    assert_eq!(opened, 3);
    drop(silent);
}

/// Waits (`limit` at most) until the server logged `needle` in `count` closed-stream lines.
fn wait_for_log(server: &Server, needle: &str, count: usize, limit: Duration) {
    let closed = |log: &str| {
        log.lines()
            .filter(|l| l.contains("event stream WebSocket closed") && l.contains(needle))
            .count()
    };
    let deadline = Instant::now() + limit;
    while closed(&server.log()) < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(closed(&server.log()), count, "{}", server.log());
}
