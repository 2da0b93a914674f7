//! `dm-server`: the OMA DM server binary.
//!
//! `dm-server --listen ADDR --db URL --api-token T [--server-id ID] [--config FILE]
//! [--tls-cert PEM --tls-key PEM] [--public-url URL] [--notify-allowed-network CIDR]...
//! [--max-connections N] [--max-in-flight N] [--header-read-timeout SECS]
//! [--idle-timeout SECS] [--request-timeout SECS] [--retry-after SECS]
//! [--max-header-bytes N] [--shutdown-grace SECS]`; flags override the config file. Prints
//! `listening on http(s)://ADDR` once bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Base URL devices reach this server at, for the RespURI (e.g. https://dm.example.org);
    /// default: from the request's Host header.
    #[arg(long)]
    public_url: Option<String>,
    /// A network (CIDR) notification addresses may point into; repeat for several. When given,
    /// only these networks are allowed (replaces notify_allowed_networks of the config).
    #[arg(long = "notify-allowed-network", value_name = "CIDR")]
    notify_allowed_networks: Vec<ipnet::IpNet>,
    /// Most connections open at once (listener.max_connections, default 4096).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Most requests handled at once; past it 503 + Retry-After (listener.max_in_flight, 128).
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Seconds a client has to send a complete request head (listener.header_read_timeout_secs, 10).
    #[arg(long, value_name = "SECS")]
    header_read_timeout: Option<u64>,
    /// Seconds without a byte moved before a connection is closed (listener.idle_timeout_secs, 30).
    #[arg(long, value_name = "SECS")]
    idle_timeout: Option<u64>,
    /// Seconds one request may take, its body included (listener.request_timeout_secs, 60).
    #[arg(long, value_name = "SECS")]
    request_timeout: Option<u64>,
    /// Retry-After of a 503, in seconds (listener.retry_after_secs, 1).
    #[arg(long, value_name = "SECS")]
    retry_after: Option<u64>,
    /// Largest request head in bytes (listener.max_header_bytes, 16384).
    #[arg(long)]
    max_header_bytes: Option<usize>,
    /// Seconds running requests get to finish at shutdown (listener.shutdown_grace_secs, 10).
    #[arg(long, value_name = "SECS")]
    shutdown_grace: Option<u64>,
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
    if let Some(v) = args.public_url {
        config.public_url = Some(v);
    }
    if !args.notify_allowed_networks.is_empty() {
        config.notify_allowed_networks = Some(args.notify_allowed_networks);
    }
    let l = &mut config.listener;
    let secs = Duration::from_secs;
    if let Some(v) = args.max_connections {
        l.max_connections = v;
    }
    if let Some(v) = args.max_in_flight {
        l.max_in_flight = v;
    }
    if let Some(v) = args.header_read_timeout {
        l.header_read_timeout = secs(v);
    }
    if let Some(v) = args.idle_timeout {
        l.idle_timeout = secs(v);
    }
    if let Some(v) = args.request_timeout {
        l.request_timeout = secs(v);
    }
    if let Some(v) = args.retry_after {
        l.retry_after = secs(v);
    }
    if let Some(v) = args.max_header_bytes {
        l.max_header_bytes = v;
    }
    if let Some(v) = args.shutdown_grace {
        l.shutdown_grace = secs(v);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn flags_override_the_listener_policy_and_public_url_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dm-server.toml");
        std::fs::write(
            &file,
            "api_token = \"t\"\npublic_url = \"https://from-file.example\"\nnotify_allowed_networks = [\"10.0.0.0/8\"]\n[listener]\nmax_in_flight = 8\nidle_timeout_secs = 5\n",
        )
        .unwrap();
        let from_file = config(Args::parse_from([
            "dm-server",
            "--config",
            file.to_str().unwrap(),
        ]))
        .unwrap();
        assert_eq!(
            from_file.public_url.as_deref(),
            Some("https://from-file.example")
        );
        assert_eq!(from_file.listener.max_in_flight, 8);
        assert_eq!(from_file.listener.idle_timeout, Duration::from_secs(5));
        let c = config(Args::parse_from([
            "dm-server",
            "--config",
            file.to_str().unwrap(),
            "--public-url",
            "https://dm.example.org",
            "--notify-allowed-network",
            "192.168.0.0/16",
            "--notify-allowed-network",
            "fd00::/8",
            "--max-connections",
            "100",
            "--max-in-flight",
            "16",
            "--header-read-timeout",
            "3",
            "--request-timeout",
            "7",
            "--retry-after",
            "2",
            "--max-header-bytes",
            "9000",
            "--shutdown-grace",
            "4",
        ]))
        .unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://dm.example.org"));
        assert_eq!(
            c.notify_allowed_networks,
            Some(vec![
                "192.168.0.0/16".parse().unwrap(),
                "fd00::/8".parse().unwrap()
            ])
        );
        let l = c.listener;
        assert_eq!((l.max_connections, l.max_in_flight), (100, 16));
        assert_eq!(l.header_read_timeout, Duration::from_secs(3));
        assert_eq!(l.idle_timeout, Duration::from_secs(5), "kept from the file");
        assert_eq!(l.request_timeout, Duration::from_secs(7));
        assert_eq!(l.retry_after, Duration::from_secs(2));
        assert_eq!(l.max_header_bytes, 9000);
        assert_eq!(l.shutdown_grace, Duration::from_secs(4));
        c.validate().unwrap();
    }
}
