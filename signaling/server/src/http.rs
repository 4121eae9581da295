//! The HTTP listener: `/health` for now (REST API, metrics and dashboard come later).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::core::Core;

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
}

/// Serves HTTP until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    core: Arc<Core>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new().route("/health", get(health)).with_state(core);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn health(State(core): State<Arc<Core>>) -> Json<Health> {
    Json(Health {
        status: "ok",
        sip_listen: core.transports().local_addrs(),
        transactions: core.transaction_count(),
        registrations: core.registration_count(),
        tcp_connections: core.transports().tcp_connections(),
        calls: core.call_count(),
        media_sessions: core
            .media_pool()
            .snapshot()
            .iter()
            .map(|n| u64::from(n.sessions))
            .sum(),
    })
}
