//! The HTTP listener: `/health` (and `/health/live`, `/health/ready`) without auth, the REST API under
//! `/api/v1` behind the bearer token ([`crate::api`]).
//!
//! Slow clients cannot hold connections: request headers must arrive within [`HEADER_TIMEOUT`], a
//! request (body included) must complete within [`REQUEST_TIMEOUT`], and bodies are capped at
//! [`MAX_BODY`].
//!
//! Connections are served `with_upgrades`, so `GET /api/v1/events/ws` can switch to a WebSocket.
//! An upgraded connection leaves hyper (and [`REQUEST_TIMEOUT`], which ends with the `101`): its
//! task ([`crate::api`]'s `ws`) runs until the client goes or the event bus shuts down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::core::Core;

/// Time a client has to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a request may take, body and handler included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// Body of `GET /health`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Always `ok` while the process serves requests.
    pub status: &'static str,
    /// SIP listen addresses (UDP and TCP).
    pub sip_listen: Vec<SocketAddr>,
    /// Active server + client transactions.
    pub transactions: usize,
    /// Registered bindings in the location service.
    pub registrations: usize,
    /// Open TCP connections.
    pub tcp_connections: usize,
    /// B2BUA calls in progress.
    pub calls: usize,
    /// Sessions on the media nodes, as their last Health answers said.
    pub media_sessions: u64,
    /// A signaling worker is shedding new calls (answering them 503) because messages wait too
    /// long for it (`[sip] overload_queue_delay_ms`).
    pub overloaded: bool,
    /// Whether the Redis link of shared registrations is up; absent when registrations are not
    /// shared (`[registrar] shared_redis_url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registrations_redis_up: Option<bool>,
}

/// The whole application: health routes, then the API.
pub fn app(core: Arc<Core>, api: crate::api::ApiState) -> Router {
    let health = Router::new()
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(crate::metrics::handler))
        .with_state(core);
    health
        .merge(crate::api::router(api))
        .merge(crate::dashboard::router())
        .layer((
            tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY),
            tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                REQUEST_TIMEOUT,
            ),
        ))
}

/// Serves `app` until `shutdown` fires, then lets open requests finish (up to 5 s).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    let drain = async { while connections.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
    Ok(())
}

async fn health(State(core): State<Arc<Core>>) -> Json<Health> {
    Json(Health {
        status: "ok",
        sip_listen: core.transports().local_addrs(),
        transactions: core.transaction_count(),
        registrations: core.registration_count(),
        tcp_connections: core.transports().tcp_connections(),
        calls: core.call_count(),
        media_sessions: media_sessions(&core),
        overloaded: core.overloaded(),
        registrations_redis_up: core.shared_registrations().map(|s| s.redis_up),
    })
}

fn media_sessions(core: &Core) -> u64 {
    core.media_pool()
        .snapshot()
        .iter()
        .map(|n| u64::from(n.sessions))
        .sum()
}

/// `GET /health/live`: the process answers.
async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "live"}))
}

/// `GET /health/ready`: 200 when SIP listeners are bound and a media node is up, else 503.
async fn ready(State(core): State<Arc<Core>>) -> (StatusCode, Json<serde_json::Value>) {
    let sip = !core.transports().local_addrs().is_empty();
    let nodes_up = core
        .media_pool()
        .snapshot()
        .iter()
        .filter(|n| n.status == switchboard_media_pool::NodeStatus::Up)
        .count();
    let ready = sip && nodes_up > 0;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "status": if ready { "ready" } else { "not_ready" },
            "sip_listeners": sip,
            "media_nodes_up": nodes_up,
        })),
    )
}
