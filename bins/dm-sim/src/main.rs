//! `dm-sim`: N virtual OMA DM clients in one process, the load generator of the benchmark.
//!
//! ```text
//! dm-sim --server URL --devices N [--sessions M] [--concurrency C] [--wbxml]
//!        [--api-token T [--job]] [--auth md5|basic|hmac] [--server-id ID] [--prefix P] [--json]
//! ```
//!
//! Each virtual device has its own management tree (dm-tree: DevInfo, DevDetail, DMAcc) and its
//! own credentials (`P-<i>`, secret derived from the id). With `--api-token` the simulator first
//! provisions its devices through the REST API (`POST /api/v1/devices`; an existing account is
//! kept). It then runs M rounds; in each round every device runs one client-initiated session,
//! C sessions in flight. With `--job` (needs `--api-token`) one job (Get `./DevInfo/Mod` +
//! Replace `./Ext/Sim/Counter`) is queued per device before each round, so every
//! session carries the full server path (job fetched, commands sent, statuses and results
//! stored). The summary (sessions, failures, wall time of the session phases, sessions/s,
//! latency p50/p90/p99/max) goes to stdout, as JSON with `--json`.
//!
//! `--server` is the server's base URL (`http://HOST:PORT`); the DM endpoint is `URL/dm` and the
//! API `URL/api/v1`. A URL ending in `/dm` is taken as the DM endpoint itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use dm_client::device::{Account, AuthSpec, Device};
use dm_client::{Trigger, config::AuthType};
use dm_tree::{AccessType, Format, NewNode};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::sync::Mutex;

/// The leaf each virtual device has for the benchmark job's Replace.
const COUNTER_NODE: &str = "./Ext/Sim/Counter";

/// Runs N virtual DM clients against a DM server and reports session latency.
#[derive(Debug, Parser)]
#[command(name = "dm-sim", version)]
struct Args {
    /// Server base URL (`http://HOST:PORT`) or its DM endpoint (`.../dm`).
    #[arg(long)]
    server: String,
    /// Number of virtual devices.
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// Sessions per device.
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    /// Sessions in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Speak WBXML instead of XML.
    #[arg(long)]
    wbxml: bool,
    /// REST API bearer token: provision the devices through the API first.
    #[arg(long)]
    api_token: Option<String>,
    /// Queue one job (Get + Replace) per device before each round (needs --api-token).
    #[arg(long)]
    job: bool,
    /// How devices authenticate.
    #[arg(long, value_enum, default_value_t = Auth::Md5)]
    auth: Auth,
    /// How the server authenticates to the devices.
    #[arg(long, value_enum, default_value_t = ServerAuth::Md5)]
    server_auth: ServerAuth,
    /// The server's identifier (DMAcc ServerID).
    #[arg(long, default_value = "dm-server")]
    server_id: String,
    /// Password the server uses toward the devices (default: per device, derived from its id).
    #[arg(long)]
    server_secret: Option<String>,
    /// Device id prefix: devices are PREFIX-0 .. PREFIX-(N-1).
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds one HTTP exchange may take.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Auth {
    Basic,
    Md5,
    Hmac,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ServerAuth {
    Basic,
    Md5,
    Hmac,
    None,
}

impl Auth {
    fn config(self) -> AuthType {
        match self {
            Auth::Basic => AuthType::Basic,
            Auth::Md5 => AuthType::Md5,
            Auth::Hmac => AuthType::Hmac,
        }
    }
}

impl ServerAuth {
    fn config(self) -> AuthType {
        match self {
            ServerAuth::Basic => AuthType::Basic,
            ServerAuth::Md5 => AuthType::Md5,
            ServerAuth::Hmac => AuthType::Hmac,
            ServerAuth::None => AuthType::None,
        }
    }
    fn api_name(self) -> &'static str {
        match self {
            ServerAuth::Basic => "basic",
            ServerAuth::Md5 => "md5",
            ServerAuth::Hmac => "hmac",
            ServerAuth::None => "none",
        }
    }
}

impl Auth {
    fn api_name(self) -> &'static str {
        match self {
            Auth::Basic => "basic",
            Auth::Md5 => "md5",
            Auth::Hmac => "hmac",
        }
    }
}

/// The end-of-run summary.
#[derive(Debug, Serialize)]
struct Summary {
    devices: usize,
    sessions: u64,
    failures: u64,
    /// Wall time of the session phases (job queueing excluded), seconds.
    elapsed_s: f64,
    sessions_per_s: f64,
    latency_ms: Latency,
    encoding: &'static str,
    concurrency: usize,
    jobs_queued: u64,
    /// Wall time spent queueing jobs through the API, seconds.
    job_queue_s: f64,
    /// The first few failure messages.
    errors: Vec<String>,
}

#[derive(Debug, Serialize, Default)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

impl Latency {
    fn of(mut micros: Vec<u64>) -> Latency {
        if micros.is_empty() {
            return Latency::default();
        }
        micros.sort_unstable();
        let pick = |q: f64| {
            let n = micros.len();
            // nearest-rank percentile
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            micros.get(rank - 1).copied().unwrap_or(0) as f64 / 1000.0
        };
        let sum: u64 = micros.iter().sum();
        Latency {
            p50: pick(0.50),
            p90: pick(0.90),
            p99: pick(0.99),
            max: micros.last().copied().unwrap_or(0) as f64 / 1000.0,
            mean: sum as f64 / micros.len() as f64 / 1000.0,
        }
    }
}

struct Urls {
    dm: String,
    api: String,
}

fn urls(server: &str) -> Urls {
    let base = server.trim_end_matches('/');
    match base.strip_suffix("/dm") {
        Some(root) => Urls {
            dm: base.to_owned(),
            api: format!("{root}/api/v1"),
        },
        None => Urls {
            dm: format!("{base}/dm"),
            api: format!("{base}/api/v1"),
        },
    }
}

fn device_id(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i}")
}

fn device_secret(id: &str) -> String {
    format!("pw-{id}-sim")
}

fn server_secret(args: &Args, id: &str) -> String {
    args.server_secret
        .clone()
        .unwrap_or_else(|| format!("srv-{id}-sim"))
}

async fn api_post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &serde_json::Value,
) -> anyhow::Result<reqwest::StatusCode> {
    let r = http
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = r.status();
    if !status.is_success() && status != reqwest::StatusCode::CONFLICT {
        let text = r.text().await.unwrap_or_default();
        bail!("POST {url}: HTTP {status}: {text}");
    }
    Ok(status)
}

/// Runs `f(i)` for every i in 0..n with `concurrency` in flight; returns the errors.
async fn for_each<F, Fut>(n: usize, concurrency: usize, f: F) -> Vec<anyhow::Error>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let next = Arc::new(AtomicU64::new(0));
    let f = Arc::new(f);
    let errors = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1).min(n.max(1)) {
        let next = next.clone();
        let f = f.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    break;
                }
                if let Err(e) = f(i).await {
                    errors.lock().await.push(e);
                }
            }
        }));
    }
    for t in tasks {
        if let Err(e) = t.await {
            errors
                .lock()
                .await
                .push(anyhow::anyhow!("worker panicked: {e}"));
        }
    }
    Arc::try_unwrap(errors)
        .map(Mutex::into_inner)
        .unwrap_or_default()
}

fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    // indicatif hides itself when stderr is not a terminal.
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:12} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Arc::new(Args::parse());
    if args.job && args.api_token.is_none() {
        bail!("--job needs --api-token");
    }
    if args.devices == 0 {
        bail!("--devices must be at least 1");
    }
    let urls = Arc::new(urls(&args.server));
    // One client for everything: keep-alive connections are reused across sessions and devices.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(1) * 2)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(args.timeout))
        .build()
        .context("building the HTTP client")?;

    if let Some(token) = &args.api_token {
        let bar = progress(args.devices as u64, "provisioning");
        let (h, a, u, b) = (http.clone(), args.clone(), urls.clone(), bar.clone());
        let token = token.clone();
        let errors = for_each(args.devices, args.concurrency, move |i| {
            let (h, a, u, b, token) = (h.clone(), a.clone(), u.clone(), b.clone(), token.clone());
            async move {
                let id = device_id(&a.prefix, i);
                let body = serde_json::json!({
                    "device_id": id,
                    "auth_type": a.auth.api_name(),
                    "auth_name": id,
                    "auth_secret": device_secret(&id),
                    "server_auth_type": a.server_auth.api_name(),
                    "server_secret": server_secret(&a, &id),
                });
                api_post(&h, &format!("{}/devices", u.api), &token, &body).await?;
                b.inc(1);
                Ok(())
            }
        })
        .await;
        bar.finish_and_clear();
        if let Some(e) = errors.into_iter().next() {
            return Err(e.context("provisioning devices"));
        }
    }

    let encoding = if args.wbxml {
        syncml::Encoding::Wbxml
    } else {
        syncml::Encoding::Xml
    };
    let facts = dm_client::device_info::SystemFacts::from_system(None, &Default::default());
    let mut devices = Vec::with_capacity(args.devices);
    for i in 0..args.devices {
        let id = device_id(&args.prefix, i);
        let account = Account {
            server_url: urls.dm.clone(),
            server_id: args.server_id.clone(),
            device_id: id.clone(),
            client_auth: AuthSpec {
                auth_type: args.auth.config(),
                name: id.clone(),
                secret: device_secret(&id),
            },
            server_auth: AuthSpec {
                auth_type: args.server_auth.config(),
                name: args.server_id.clone(),
                secret: server_secret(&args, &id),
            },
            encoding,
            max_msg_size: 64 * 1024,
            max_obj_size: 1024 * 1024,
            idle_timeout: Duration::from_secs(args.timeout),
        };
        let mut device = Device::build(account, &facts).context("building a device tree")?;
        // The node the benchmark job replaces.
        let counter = NewNode::leaf("0")
            .format(Format::Int)
            .access(AccessType::GET | AccessType::REPLACE);
        device
            .tree_mut()
            .insert(COUNTER_NODE, counter, dm_tree::Timestamp(0))?;
        devices.push(Arc::new(Mutex::new(device)));
    }
    let devices = Arc::new(devices);

    let total = (args.devices * args.sessions) as u64;
    let bar = progress(total, "sessions");
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let failures = Arc::new(AtomicU64::new(0));
    let mut errors_seen: Vec<String> = Vec::new();
    let mut session_time = Duration::ZERO;
    let mut job_time = Duration::ZERO;
    let mut jobs_queued = 0u64;
    for _round in 0..args.sessions {
        if args.job
            && let Some(token) = &args.api_token
        {
            let started = Instant::now();
            let (h, a, u, token) = (http.clone(), args.clone(), urls.clone(), token.clone());
            let errors = for_each(args.devices, args.concurrency, move |i| {
                let (h, a, u, token) = (h.clone(), a.clone(), u.clone(), token.clone());
                async move {
                    let body = serde_json::json!({
                        "device_id": device_id(&a.prefix, i),
                        "commands": [
                            {"kind": "get", "items": [{"path": "./DevInfo/Mod"}]},
                            {"kind": "replace", "items": [{"path": COUNTER_NODE,
                                "value": i.to_string(), "format": "int"}]}
                        ]
                    });
                    api_post(&h, &format!("{}/jobs", u.api), &token, &body).await?;
                    Ok(())
                }
            })
            .await;
            jobs_queued += (args.devices - errors.len()) as u64;
            errors_seen.extend(
                errors
                    .iter()
                    .take(5)
                    .map(|e| format!("queueing a job: {e:#}")),
            );
            job_time += started.elapsed();
        }
        let started = Instant::now();
        let (h, d, l, f, b) = (
            http.clone(),
            devices.clone(),
            latencies.clone(),
            failures.clone(),
            bar.clone(),
        );
        let errors = for_each(args.devices, args.concurrency, move |i| {
            let (h, d, l, f, b) = (h.clone(), d.clone(), l.clone(), f.clone(), b.clone());
            async move {
                let Some(dev) = d.get(i) else { return Ok(()) };
                let mut dev = dev.lock().await;
                let t0 = Instant::now();
                let outcome = dev.run_session(&h, Trigger::Client, &[]).await;
                let took = t0.elapsed();
                b.inc(1);
                match outcome {
                    Ok(report) if report.completed() => {
                        l.lock().await.push(took.as_micros() as u64);
                        Ok(())
                    }
                    Ok(report) => {
                        f.fetch_add(1, Ordering::Relaxed);
                        bail!(
                            "{}: session ended: {:?}",
                            dev.account().device_id,
                            report.end
                        )
                    }
                    Err(e) => {
                        f.fetch_add(1, Ordering::Relaxed);
                        Err(anyhow::Error::new(e).context(dev.account().device_id.clone()))
                    }
                }
            }
        })
        .await;
        session_time += started.elapsed();
        for e in errors.iter() {
            if errors_seen.len() < 5 {
                errors_seen.push(format!("{e:#}"));
            }
        }
    }
    bar.finish_and_clear();

    let lat = Arc::try_unwrap(latencies)
        .map(Mutex::into_inner)
        .unwrap_or_default();
    let sessions = lat.len() as u64 + failures.load(Ordering::Relaxed);
    let elapsed = session_time.as_secs_f64();
    let summary = Summary {
        devices: args.devices,
        sessions,
        failures: failures.load(Ordering::Relaxed),
        elapsed_s: elapsed,
        sessions_per_s: if elapsed > 0.0 {
            lat.len() as f64 / elapsed
        } else {
            0.0
        },
        latency_ms: Latency::of(lat),
        encoding: if args.wbxml { "wbxml" } else { "xml" },
        concurrency: args.concurrency,
        jobs_queued,
        job_queue_s: job_time.as_secs_f64(),
        errors: errors_seen,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    if summary.failures > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn print_summary(s: &Summary) {
    println!("devices:       {}", s.devices);
    println!("sessions:      {} ({} failed)", s.sessions, s.failures);
    println!(
        "encoding:      {}, concurrency {}",
        s.encoding, s.concurrency
    );
    println!("elapsed:       {:.3} s", s.elapsed_s);
    println!("sessions/s:    {:.1}", s.sessions_per_s);
    println!(
        "latency ms:    p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  mean {:.2}",
        s.latency_ms.p50, s.latency_ms.p90, s.latency_ms.p99, s.latency_ms.max, s.latency_ms.mean
    );
    if s.jobs_queued > 0 {
        println!("jobs queued:   {} in {:.3} s", s.jobs_queued, s.job_queue_s);
    }
    for e in &s.errors {
        println!("error:         {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        let u = urls("http://h:1/");
        assert_eq!(
            (u.dm.as_str(), u.api.as_str()),
            ("http://h:1/dm", "http://h:1/api/v1")
        );
        let u = urls("http://h:1/dm");
        assert_eq!(
            (u.dm.as_str(), u.api.as_str()),
            ("http://h:1/dm", "http://h:1/api/v1")
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        let l = Latency::of((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        assert!((l.mean - 50.5).abs() < 1e-9);
        let l = Latency::of(vec![3000]);
        assert_eq!((l.p50, l.p99, l.max), (3.0, 3.0, 3.0));
    }
}
