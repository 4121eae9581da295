//! `GET /api/v1/events/ws`: the event stream over a WebSocket, with the query, resume and filter
//! semantics of the SSE endpoint ([`super::stream`]). A bad query is refused with `400` before
//! the upgrade; a request that is not a WebSocket handshake gets a JSON error too.
//!
//! Frames: each event is one text frame holding its envelope JSON exactly as journaled (what SSE
//! sends as `data:`); a hole is the text frame `{"type":"lagged","missed_from":N,"resumed_at":M}`.
//! Text and binary frames from the client are ignored (and capped at [`MAX_CLIENT_MESSAGE`]);
//! its pings are answered; its Close is answered and ends the stream.
//!
//! Liveness: the server pings every [`PING_INTERVAL`]; a client that answers [`MISSED_PINGS`] pings
//! in a row with no frame at all (not even the pong) is dropped at the next tick (45 s of silence
//! with these values), and one that does not take a frame within [`SEND_TIMEOUT`] at once. One frame at a time is in flight, so a slow client costs one journal read batch,
//! never an unbounded buffer, and never holds up call handling. When the server shuts down the
//! client gets Close `1001`. Dropping the connection drops its journal subscription.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};

use super::stream::{self, EventStream, StreamQueryResult, lagged_json};
use super::{ApiError, ApiState};

/// How often the server pings.
pub(super) const PING_INTERVAL: Duration = Duration::from_secs(15);
/// Ping intervals in a row without any frame from the client before it is taken for gone.
pub(super) const MISSED_PINGS: u32 = 2;
/// Time a client has to take one frame (TCP backpressure) before it is dropped.
pub(super) const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest message (and frame) accepted from a client; the stream needs none.
pub(super) const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// `GET /api/v1/events/ws`.
pub(super) async fn events_ws(
    State(s): State<ApiState>,
    headers: HeaderMap,
    query: StreamQueryResult,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let events = match stream::open(s.core.events().bus(), &headers, query) {
        Ok(events) => events,
        Err(e) => return e.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(e) => {
            let message = format!("a WebSocket handshake is required: {}", e.body_text());
            return ApiError::new(e.status(), "websocket_required", message).into_response();
        }
    };
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(socket, events))
}

/// Why a connection ended (logged).
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// The client sent Close, its connection ended, or it broke the protocol.
    ClientClosed,
    /// Writing failed: the connection is gone.
    WriteFailed,
    /// The client took no frame within [`SEND_TIMEOUT`].
    Stalled,
    /// No frame from the client after [`MISSED_PINGS`] pings in a row.
    Silent,
    /// The event bus shut down.
    Shutdown,
}

async fn serve(socket: WebSocket, events: EventStream) {
    tracing::info!("event stream WebSocket opened");
    let (mut tx, mut rx) = socket.split();
    let heard = AtomicBool::new(true);
    // Reading also answers the client's pings and its Close (tungstenite queues the reply and
    // flushes it on the next read, which then ends the stream).
    let reader = async {
        while let Some(Ok(_)) = rx.next().await {
            heard.store(true, Ordering::Relaxed);
        }
    };
    let ending = tokio::select! {
        () = reader => Ending::ClientClosed,
        ending = write(&mut tx, events, &heard) => ending,
    };
    if matches!(ending, Ending::Shutdown | Ending::Silent) {
        let close = Message::Close(Some(CloseFrame {
            code: close_code::AWAY,
            reason: Utf8Bytes::from_static("server closing the event stream"),
        }));
        let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(close)).await;
    }
    tracing::info!(ending = ?ending, "event stream WebSocket closed");
}

/// Sends events and pings until the stream or the client ends.
async fn write(
    tx: &mut SplitSink<WebSocket, Message>,
    mut events: EventStream,
    heard: &AtomicBool,
) -> Ending {
    let start = tokio::time::Instant::now() + PING_INTERVAL;
    let mut ping = tokio::time::interval_at(start, PING_INTERVAL);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unanswered = 0;
    loop {
        // `events` is an unfold stream: a read interrupted by a ping tick is kept, not lost.
        let message = tokio::select! {
            item = events.next() => match item {
                None => return Ending::Shutdown,
                Some(Ok(stored)) => Message::Text(
                    Utf8Bytes::try_from(stored.json.clone())
                        .unwrap_or_else(|_| String::from_utf8_lossy(&stored.json).as_ref().into()),
                ),
                Some(Err(lagged)) => Message::Text(lagged_json(&lagged).into()),
            },
            _ = ping.tick() => {
                unanswered = if heard.swap(false, Ordering::Relaxed) { 0 } else { unanswered + 1 };
                if unanswered >= MISSED_PINGS {
                    return Ending::Silent;
                }
                Message::Ping(Default::default())
            }
        };
        match tokio::time::timeout(SEND_TIMEOUT, tx.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Ending::WriteFailed,
            Err(_) => return Ending::Stalled,
        }
    }
}
