//! `switchboard-signaling`: parse the command line, install tracing, load the config, run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use switchboard_signaling::config::{FileConfig, Overrides};

/// Switchboard SIP signaling server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (see deploy/switchboard.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the configuration, print every problem with its key path, and exit.
    #[arg(long)]
    check_config: bool,
    /// SIP listen address, UDP and TCP (repeatable; replaces `sip.listen` from the file).
    #[arg(long = "sip-listen", value_name = "ADDR")]
    sip_listen: Vec<String>,
    /// HTTP listen address for /health (replaces `http.listen`).
    #[arg(long = "http-listen", value_name = "ADDR")]
    http_listen: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    let file = match &cli.config {
        Some(path) => FileConfig::load(path),
        None => Ok(FileConfig::default()),
    };
    let overrides = Overrides {
        sip_listen: cli.sip_listen.clone(),
        http_listen: cli.http_listen.clone(),
    };
    let config = match file.and_then(|f| f.validate(&overrides)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(switchboard_signaling::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "switchboard-signaling failed");
            ExitCode::FAILURE
        }
    }
}
