//! `switchboard-media`: parse the CLI, install tracing, load the config, run the node until
//! SIGTERM/SIGINT (sessions are released and ports freed before exit).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use switchboard_media::config::RawConfig;

/// The Switchboard media manager node.
#[derive(Debug, Parser)]
#[command(name = "switchboard-media", version)]
struct Cli {
    /// gRPC listen address (IP:PORT).
    #[arg(long)]
    grpc_listen: Option<String>,
    /// Address RTP sockets bind to and advertise.
    #[arg(long)]
    rtp_ip: Option<String>,
    /// RTP/RTCP port range LOW-HIGH (LOW even).
    #[arg(long)]
    ports: Option<String>,
    /// HTTP listen address for /metrics and /health (IP:PORT).
    #[arg(long)]
    http_listen: Option<String>,
    /// TOML config file; flags override its values.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Maximum concurrent sessions.
    #[arg(long)]
    max_sessions: Option<u32>,
    /// Relay worker threads.
    #[arg(long)]
    workers: Option<usize>,
    /// PEM certificate chain of the gRPC listener (mutual TLS, with --tls-key and --tls-client-ca).
    #[arg(long)]
    tls_cert: Option<String>,
    /// PEM private key of the gRPC listener.
    #[arg(long)]
    tls_key: Option<String>,
    /// PEM CA(s) a client (signaling) certificate must chain to.
    #[arg(long)]
    tls_client_ca: Option<String>,
    /// Validate the configuration and exit.
    #[arg(long)]
    check_config: bool,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_json);
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        println!("configuration OK");
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(switchboard_media::run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "media node failed");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli) -> anyhow::Result<switchboard_media::NodeConfig> {
    let file = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            RawConfig::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => RawConfig::default(),
    };
    let flags = RawConfig {
        grpc_listen: cli.grpc_listen.clone(),
        http_listen: cli.http_listen.clone(),
        rtp_ip: cli.rtp_ip.clone(),
        ports: cli.ports.clone(),
        max_sessions: cli.max_sessions,
        workers: cli.workers,
        tls_cert: cli.tls_cert.clone(),
        tls_key: cli.tls_key.clone(),
        tls_client_ca: cli.tls_client_ca.clone(),
        ..RawConfig::default()
    };
    Ok(file.overridden_by(flags).validate()?)
}

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init()
    } else {
        builder.init()
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install SIGTERM handler");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
