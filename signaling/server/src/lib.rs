//! The Switchboard signaling server.
//!
//! Module map:
//! - [`config`]: TOML config, validation with key paths, command-line overrides.
//! - [`transport`]: UDP and TCP listeners, stream framing, connection reuse, timeouts.
//! - [`shard`]: Call-ID sharding so one dialog's messages are handled in arrival order.
//! - [`core`]: the SIP core: parses, answers malformed requests with 400, drives the sans-IO transaction
//!   layer (`switchboard-transaction`), the registrar (`switchboard-registrar`) and B2BUA calls
//!   (`switchboard-b2bua`) between registered users with media anchored on the embedded media node
//!   (`switchboard-media-pool`), routes responses per RFC 3261 §18.2.2.
//! - [`http`]: the HTTP listener (`/health`, `/health/live`, `/health/ready`, header and request
//!   timeouts, body cap) serving [`api`], the REST API under `/api/v1` behind a bearer token.
//! - [`dashboard`]: the operator dashboard (`dashboard/` assets embedded with rust-embed), served after
//!   the API; it uses only the public REST API and event stream.
//! - [`commands`]: the same operator commands over NATS request-reply (`[commands] nats_url`).
//! - [`metrics`]: Prometheus `/metrics`.
//! - [`reload`]: the running dialplan ([`reload::PlanHandle`]) and its hot reload on file change and
//!   SIGHUP.
//!
//! Usage: [`start`] binds everything and returns a [`Running`] handle (tests use it with port 0);
//! [`run`] does the same and waits for SIGTERM/SIGINT, then shuts down gracefully.

// serde_json's `json!` for the OpenAPI document nests deeper than the default limit.
#![recursion_limit = "256"]
pub mod api;
pub mod commands;
pub mod config;
pub mod core;
pub mod dashboard;
pub mod http;
pub mod metrics;
pub mod reload;
pub mod shard;
pub mod transport;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::core::Core;

/// A started server.
pub struct Running {
    /// The SIP core (counts, registrar) for inspection.
    pub core: Arc<Core>,
    /// Bound SIP addresses (UDP and TCP).
    pub sip_addrs: Vec<SocketAddr>,
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// Cancel to shut down.
    pub shutdown: CancellationToken,
    /// Reloads the dialplan (as SIGHUP does).
    pub reloader: reload::Reloader,
    http_task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, closes listeners and waits for the HTTP server to finish.
    pub async fn stop(self) -> std::io::Result<()> {
        self.shutdown.cancel();
        self.core.shutdown().await;
        self.http_task.await.unwrap_or(Ok(()))
    }
}

/// Binds the SIP transports and the HTTP listener and starts serving.
pub async fn start(config: Config) -> std::io::Result<Running> {
    let shutdown = CancellationToken::new();
    let plan = reload::PlanHandle::new(config.dialplan.clone());
    let reloader = reload::Reloader::new(
        config.dialplan_path.clone(),
        config.plan_context(),
        plan.clone(),
    );
    let core = Core::start(&config, plan, shutdown.clone()).await?;
    let http = tokio::net::TcpListener::bind(config.http_listen).await?;
    let http_addr = http.local_addr()?;
    let sip_addrs = core.transports().local_addrs();
    let (token, source) = api::token::resolve(config.api_token.as_deref(), &config.api_token_file)
        .map_err(std::io::Error::other)?;
    match source {
        api::token::TokenSource::Config => tracing::info!("REST API token from [http] api_token"),
        api::token::TokenSource::File => {
            tracing::info!(file = %config.api_token_file.display(), "REST API token read")
        }
        api::token::TokenSource::Generated => {
            tracing::info!(file = %config.api_token_file.display(), "REST API token generated (mode 0600)")
        }
    }
    let api = api::ApiState {
        core: core.clone(),
        reloader: reloader.clone(),
        token: token.into(),
    };
    let app = http::app(core.clone(), api);
    let http_task = tokio::spawn(http::serve(http, app, shutdown.clone()));
    tokio::spawn(reloader.clone().watch(shutdown.clone()));
    if let Some(url) = config.commands.nats_url.clone() {
        tokio::spawn(commands::serve(
            url,
            config.commands.subject.clone(),
            config.events.node_id.clone(),
            core.clone(),
            reloader.clone(),
            shutdown.clone(),
        ));
    }
    Ok(Running {
        core,
        sip_addrs,
        http_addr,
        shutdown,
        reloader,
        http_task,
    })
}

/// Runs until SIGTERM or SIGINT, then shuts down gracefully.
pub async fn run(config: Config) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Handlers first: a SIGTERM right after the ready line must shut down gracefully.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let running = start(config).await?;
    let sip: Vec<String> = running.sip_addrs.iter().map(|a| a.to_string()).collect();
    // One stable line on stdout for operators and scripts (tests read the bound ports from it).
    println!(
        "switchboard-signaling ready: sip {} (udp+tcp), http {}",
        sip.join(" "),
        running.http_addr
    );
    tracing::info!(sip = ?running.sip_addrs, http = %running.http_addr, "switchboard-signaling started");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down");
    running.stop().await?;
    tracing::info!("stopped");
    Ok(())
}
