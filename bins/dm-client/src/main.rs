//! `dm-client --config FILE [--once]`: the OMA DM End Device agent.
//!
//! Runs a client-initiated session at start (unless the config says otherwise), then one every
//! `session_interval_secs`, and a server-initiated session whenever a valid Package 0 arrives on
//! the UDP (WSP push) or HTTP listener. `--once` runs one client-initiated session and exits
//! (status 0 when the session completed, 1 otherwise). Logs go to stderr (`RUST_LOG` filters,
//! default `info`); SIGINT / SIGTERM stop the agent after the session in flight.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;

/// OMA DM 1.2 End Device agent.
#[derive(Debug, Parser)]
#[command(name = "dm-client", version)]
struct Args {
    /// The TOML configuration file.
    #[arg(long)]
    config: PathBuf,
    /// Run one client-initiated session and exit.
    #[arg(long)]
    once: bool,
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
    let mut config = dm_client::Config::load(&args.config)
        .with_context(|| format!("loading {}", args.config.display()))?;
    if args.once {
        // One session: no listeners needed.
        config.listen.udp = None;
        config.listen.http = None;
    }
    let mut agent = dm_client::Agent::new(config)
        .await
        .context("starting the agent")?;
    if args.once {
        let report = agent.run_session(dm_client::Trigger::Client).await?;
        if !report.completed() {
            anyhow::bail!("session {} ended: {:?}", report.session_id, report.end);
        }
        return Ok(());
    }
    if let Some(a) = agent.udp_addr() {
        tracing::info!("listening for WSP push on udp:{a}");
    }
    if let Some(a) = agent.http_addr() {
        tracing::info!("listening for Package 0 on http://{a}/");
    }
    agent.run(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
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
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
