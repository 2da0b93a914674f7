//! `dm-gateway --config FILE`: the OMA GwMO 1.1 DM Gateway.
//!
//! A DM client of the servers in its configuration (sessions at start, on notification, when
//! it has alerts to send, on the configured interval), the DM server of its End Devices on
//! the southbound address, and the relay of the servers' notifications to Transparent-mode
//! devices. Prints `southbound on http://ADDR` (and the notification listeners) once bound.
//! Logs go to stderr (`RUST_LOG` filters, default `info`); SIGINT / SIGTERM stop it.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

/// OMA GwMO 1.1 DM Gateway.
#[derive(Debug, Parser)]
#[command(name = "dm-gateway", version)]
struct Args {
    /// The TOML configuration file.
    #[arg(long)]
    config: PathBuf,
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
    let args = Args::parse();
    let config = dm_gateway::Config::load(&args.config)
        .with_context(|| format!("loading {}", args.config.display()))?;
    dm_gateway::run(
        config,
        |b| {
            println!("southbound on http://{}", b.south);
            if let Some(a) = b.north_udp {
                println!("notifications on udp:{a}");
            }
            if let Some(a) = b.north_http {
                println!("notifications on http://{a}/");
            }
            if let Some(a) = b.relay {
                println!("HTTP relay on http://{a}");
            }
            if let Some(a) = b.images {
                println!("images on http://{a}/images/");
            }
        },
        shutdown_signal(),
    )
    .await
    .context("running the gateway")?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
