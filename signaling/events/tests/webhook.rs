//! The signed webhook sink against a real HTTP receiver on loopback.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use support::*;
use switchboard_events::Envelope;
use switchboard_events::sink::webhook::{WebhookConfig, WebhookSink, verify};

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Envelope>>>,
    requests: Arc<AtomicUsize>,
    bad_signatures: Arc<AtomicUsize>,
}

async fn hook(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    // The first two requests fail: the sink must retry them.
    if r.requests.fetch_add(1, Ordering::SeqCst) < 2 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let ts: u64 = header("x-switchboard-timestamp").parse().unwrap_or(0);
    if !verify(b"s3cret", ts, &body, &header("x-switchboard-signature")) {
        r.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    let batch: Vec<Envelope> = serde_json::from_slice(&body).expect("JSON array of envelopes");
    r.got.lock().expect("lock").extend(batch);
    StatusCode::NO_CONTENT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_batches_are_delivered_with_retries() {
    let receiver = Receiver::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let bus = open_bus(dir.path(), |_| {});
    let mut cfg = fast_sink("hook");
    cfg.max_batch = 50;
    let sink =
        WebhookSink::new(WebhookConfig::new(format!("http://{addr}/hook"), "s3cret")).expect("url");
    bus.add_sink(cfg, sink).expect("sink");
    let n = publish_calls(&bus, "c", 40, 5);
    eventually("delivered", || bus.sink_stats()[0].cursor == n).await;

    let got = receiver.got.lock().expect("lock").clone();
    assert_eq!(
        got.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    assert_call_seqs_gapless(got.iter());
    assert_eq!(receiver.bad_signatures.load(Ordering::SeqCst), 0);
    let s = &bus.sink_stats()[0];
    assert_eq!((s.failures, s.retries), (2, 2));
    assert_eq!(s.last_error.as_deref(), Some("webhook answered 500"));
    bus.shutdown().await;
    server.abort();
}

#[test]
fn urls_other_than_http_and_https_are_refused() {
    assert!(WebhookSink::new(WebhookConfig::new("ftp://example.com/x", "k")).is_err());
    assert!(WebhookSink::new(WebhookConfig::new("https://example.com/x", "k")).is_ok());
}
