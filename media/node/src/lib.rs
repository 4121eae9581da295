//! The Switchboard media manager node: a gRPC-controlled RTP/RTCP relay.
//!
//! Signaling allocates a session per call (two legs, each with an RTP/RTCP port pair), tells
//! the node each leg's remote, and the node relays packets between the legs, with source
//! latching, per-stream statistics, RFC 4733 DTMF detection/generation and SDES-SRTP, using the
//! sans-IO logic of `switchboard-media-core`.
//!
//! # Module map
//! - [`config`]: [`NodeConfig`] (validated) and [`config::RawConfig`] (TOML / flags).
//! - [`pool`]: the even/odd RTP/RTCP [`pool::PortPool`].
//! - [`node`]: the control plane ([`Node`]: sessions, limits, drain, events).
//! - `relay`: worker threads (each a current-thread tokio runtime) and the per-session relay
//!   task: one task owns both legs' sockets and relays from a single `poll` function; control
//!   messages arrive in a mailbox polled alongside the sockets; stats are published per tick
//!   as plain numbers (the gRPC form is built on request). Memory per session is kept small
//!   (target < 4 KiB, measured by the relay benchmark): the task is a hand-written future, and
//!   SRTP, DTMF detection and generation state are allocated only on legs that use them.
//!   The packet path follows `switchboard-media-core`'s contract: rtcp-mux demux → (SRTP: strict
//!   source, unprotect) → parse → latch → stats / RTP timeout / RFC 4733 detector → relay
//!   (sequence offset after generated DTMF, SRTP protect) — no allocation or lock on plain RTP.
//! - [`grpc`]: the `switchboard.media.v1.MediaService` server ([`grpc::MediaApi`]).
//! - [`http`]: `/metrics` (Prometheus text) and `/health` (JSON).
//! - [`stats`]: per-leg counters and node totals.
//!
//! # Usage contract
//! - Binary: [`run`] binds `grpc_listen` (and `http_listen` if set) and serves until `shutdown`.
//! - Embedded: bind your own listener (port 0 is fine), read its address, and call [`serve`];
//!   on `shutdown` every session is released and its ports freed before `serve` returns.
//! - Symmetric RTP: packets for a leg go to the address latched from what it sends (starting
//!   as the signaled remote); after the learning window other sources are dropped and counted.
//! - DTMF: digits received on a leg are reported once per key press on `WatchEvents`; a leg in
//!   strip mode does not forward telephone-event packets. `SendDtmf` continues the leg's
//!   outbound stream and suppresses relayed audio to it while the event is sent.
//! - Benchmark: `cargo bench -p switchboard-media --bench relay` (node vs a minimal forwarder).
//! - Draining refuses `AllocateSession` with `UNAVAILABLE`; a full node answers
//!   `RESOURCE_EXHAUSTED`.

pub mod config;
pub mod grpc;
pub mod http;
pub mod node;
pub mod pool;
pub(crate) mod relay;
pub mod stats;

use std::future::Future;
use std::sync::Arc;

use switchboard_proto::v1::media_service_server::MediaServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{DtmfMode, GrpcTls, NodeConfig, PortRange};
pub use node::{Node, NodeError, NodeHealth};
pub use relay::{DtmfRequest, LegOptions, LegUpdate, SrtpKeying};

/// Failure to start or run the node.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be bound or the relay workers could not start.
    #[error("{what}: {source}")]
    Io {
        /// What was being set up.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

/// Binds `config.grpc_listen` (and `config.http_listen`) and serves until `shutdown` resolves.
pub async fn run(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let grpc = TcpListener::bind(config.grpc_listen)
        .await
        .map_err(|source| ServeError::Io {
            what: "binding grpc_listen",
            source,
        })?;
    serve(config, grpc, shutdown).await
}

/// Serves gRPC on `grpc` (and HTTP on `config.http_listen` if set) until `shutdown` resolves,
/// then releases every session. For embedding: bind `grpc` yourself (port 0 is fine).
pub async fn serve(
    config: NodeConfig,
    grpc: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let http = bind_http(&config).await?;
    serve_with_http(config, grpc, http, shutdown).await
}

/// Binds `config.http_listen` if set (`/health`, `/metrics`).
pub async fn bind_http(config: &NodeConfig) -> Result<Option<TcpListener>, ServeError> {
    match config.http_listen {
        Some(addr) => TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|source| ServeError::Io {
                what: "binding http_listen",
                source,
            }),
        None => Ok(None),
    }
}

/// Like [`serve`] with an already bound HTTP listener (or none), e.g. port 0 in tests.
pub async fn serve_with_http(
    config: NodeConfig,
    grpc: TcpListener,
    http: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let node = start(config)?;
    serve_node(node, grpc, http, shutdown).await
}

/// Starts a node's relay workers (no listener yet): for embedding, where the same node is served
/// on gRPC with [`serve_node`] and called in-process through [`service`].
pub fn start(config: NodeConfig) -> Result<Arc<Node>, ServeError> {
    Node::new(config)
        .map(Arc::new)
        .map_err(|source| ServeError::Io {
            what: "starting relay workers",
            source,
        })
}

/// The node's gRPC service, the one [`serve_node`] puts behind its listener: called directly, it
/// answers the same requests with the same status codes without the HTTP/2 hop (the embedded node).
pub fn service(node: Arc<Node>) -> MediaServiceServer<grpc::MediaApi> {
    MediaServiceServer::new(grpc::MediaApi::new(node))
}

/// Serves a started `node` on `grpc` (and HTTP on `http`) until `shutdown` resolves, then
/// releases every session.
pub async fn serve_node(
    node: Arc<Node>,
    grpc: TcpListener,
    http: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    if let Some(listener) = http {
        let app = http::router(node.clone());
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
    }
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = &node.config().tls {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        server = server.tls_config(
            ServerTlsConfig::new()
                .identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem))
                .client_ca_root(Certificate::from_pem(&tls.client_ca_pem)),
        )?;
    }
    let addr = grpc.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let mtls = node.config().tls.is_some();
    tracing::info!(grpc = %addr, mtls, "media node serving");
    let node_for_stop = node.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: releasing sessions");
        node_for_stop.release_all("shutdown").await;
        node_for_stop.close();
        let _ = stop_tx.send(true);
    };
    let result = server
        .add_service(service(node.clone()))
        .serve_with_incoming_shutdown(tonic::transport::server::TcpIncoming::from(grpc), signal)
        .await;
    node.release_all("shutdown").await;
    result.map_err(ServeError::from)
}
