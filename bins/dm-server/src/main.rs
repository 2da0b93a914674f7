//! `dm-server`: the OMA DM server binary.
//!
//! `dm-server --listen ADDR --db URL --api-token T [--server-id ID] [--config FILE]
//! [--tls-cert PEM --tls-key PEM]`; flags override the config file. Prints
//! `listening on http(s)://ADDR` once bound.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use dm_server::Config;

/// OMA DM 1.2 server: DM endpoint `POST /dm`, REST API under `/api/v1`.
#[derive(Debug, Parser)]
#[command(name = "dm-server", version)]
struct Args {
    /// Address to listen on (e.g. 0.0.0.0:8080; port 0 picks a free port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Store URL: sqlite:PATH (default sqlite:dm-server.db) or postgres://...
    #[arg(long)]
    db: Option<String>,
    /// Bearer token of the REST API.
    #[arg(long)]
    api_token: Option<String>,
    /// Server identifier toward devices.
    #[arg(long)]
    server_id: Option<String>,
    /// TOML configuration file (flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// PEM certificate chain (HTTPS).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key (HTTPS).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

fn config(args: Args) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = args.db {
        config.db = v;
    }
    if let Some(v) = args.api_token {
        config.api_token = v;
    }
    if let Some(v) = args.server_id {
        config.server_id = v;
    }
    if let Some(v) = args.tls_cert {
        config.tls_cert = Some(v);
    }
    if let Some(v) = args.tls_key {
        config.tls_key = Some(v);
    }
    if config.api_token.is_empty() {
        anyhow::bail!("an API token is required (--api-token or api_token in the config file)");
    }
    Ok(config)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = config(Args::parse())?;
    dm_server::run(config, shutdown_signal())
        .await
        .context("dm-server")?;
    Ok(())
}
