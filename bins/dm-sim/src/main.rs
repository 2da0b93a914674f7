//! `dm-sim`: N virtual OMA DM clients in one process, the load generator of the benchmark.
//!
//! ```text
//! dm-sim --server URL --devices N [--sessions M] [--concurrency C] [--wbxml]
//!        [--api-token T [--job] [--provision-only]] [--auth md5|basic|hmac] [--server-id ID]
//!        [--prefix P] [--baseline [--baseline-bytes B]] [--threads T] [--json] [--retry-shed]
//! dm-sim --server GATEWAY_URL --devices N --listen ADDR [--fail-every K] [--silent-every K]
//!        [--slow-ms MS] [--duration SECS] [--lease SECS] [--concurrency C] ...
//! ```
//!
//! Each virtual device has its own management tree (dm-tree: DevInfo, DevDetail, DMAcc) and its
//! own credentials (`P-<i>`, secret derived from the id). With `--api-token` the simulator first
//! provisions its devices through the REST API (`POST /api/v1/devices`; an existing account is
//! kept). It then runs M rounds; in each round every device runs one client-initiated session,
//! C sessions in flight. With `--job` (needs `--api-token`) one job (Get `./DevInfo/Mod` +
//! Replace `./Ext/Sim/Counter`) is queued per device before each round, so every
//! session carries the full server path (job fetched, commands sent, statuses and results
//! stored). The summary (sessions, failures and among them those the server answered 503,
//! wall time of the session phases, sessions/s, latency p50/p90/p99/max of the completed
//! sessions) goes to stdout, as JSON with `--json`.
//!
//! `--baseline` measures, in the same run, a plain loopback HTTP round trip to compare with:
//! before each round, as many `POST URL/healthz` requests with a B-byte body (default 1,536)
//! as the round has sessions, through the same client at the same concurrency. The summary
//! then has the baseline's requests/s and latency and the ratio sessions/s ÷ requests/s.
//! API requests (provisioning, job queueing) answered 503 are retried after `Retry-After`;
//! DM sessions are not (a session with a 503 answer counts as shed and failed), unless
//! `--retry-shed`: then it is tried again after `Retry-After`, up to 10 times.
//! `--baseline-only` runs the baseline rounds and nothing else (no provisioning either).
//! `--provision-only` stops after provisioning (e.g. to register a large fleet). `--threads`
//! sets the simulator's own worker threads (default 1: on a small machine the simulator's CPU
//! competes with the server's).
//!
//! `--listen ADDR` is the listening mode (module `listen`): the devices are Proxy-mode End
//! Devices of the DM gateway at `--server`. Each registers once (a session carrying the
//! Device Registration Alert with `mode=proxy` and its notification URL
//! `http://ADDR/n/<index>`, one HTTP listener for all of them), one line is printed when all
//! are registered, and then every verified Package 0 the gateway POSTs opens a session with
//! it, answered from the device's tree (or with 500 / not at all / late: `--fail-every`,
//! `--silent-every`, `--slow-ms`), C sessions in flight at most, until SIGINT/SIGTERM or
//! `--duration`; the counters are printed at the end.
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

mod listen;

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
    /// Password of every device (default: per device, derived from its id), e.g. a gateway's
    /// enrolment secret.
    #[arg(long)]
    device_secret: Option<String>,
    /// Device id prefix: devices are PREFIX-0 .. PREFIX-(N-1).
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds one HTTP exchange may take.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Also measure a plain HTTP round trip (`POST /healthz`) before each round.
    #[arg(long)]
    baseline: bool,
    /// Body size of the baseline requests.
    #[arg(long, default_value_t = 1536)]
    baseline_bytes: usize,
    /// Only the baseline (implies --baseline): no sessions.
    #[arg(long)]
    baseline_only: bool,
    /// Provision the devices (needs --api-token), then stop.
    #[arg(long)]
    provision_only: bool,
    /// Worker threads of the simulator (1: single-threaded runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Retry a session the server answered 503 after its Retry-After plus up to half of it at
    /// random (at most 10 tries), as a well-behaved device does; the latency counts the
    /// successful attempt only.
    #[arg(long)]
    retry_shed: bool,
    /// PID of the server process (Linux): report its CPU time (and the simulator's own) during
    /// the timed phases, from /proc/PID/stat.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Listening mode: the devices are Proxy-mode End Devices of the gateway at --server; one
    /// HTTP listener on this address takes every device's Package 0 (`POST /n/<index>`). Each
    /// device registers (Device Registration Alert, mode=proxy, its notification URL), then
    /// answers the gateway's notifications until SIGINT/SIGTERM or --duration.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// Listening mode: every K-th device (index i with (i + 1) % K == 0) answers each command
    /// with 500.
    #[arg(long, value_name = "K", default_value_t = 0)]
    fail_every: usize,
    /// Listening mode: every K-th device ignores its notifications.
    #[arg(long, value_name = "K", default_value_t = 0)]
    silent_every: usize,
    /// Listening mode: every device waits this long before answering the gateway's commands.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    slow_ms: u64,
    /// Listening mode: stop after this many seconds of listening (default: at SIGINT/SIGTERM).
    #[arg(long, value_name = "SECS")]
    duration: Option<u64>,
    /// Listening mode: the lease the devices ask for in their registration, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    lease: u64,
}

/// CPU time (user + system) of a process from /proc/PID/stat, in seconds (USER_HZ = 100).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU seconds used by the server and by the simulator during the timed phases.
#[derive(Debug, Default, Clone, Copy)]
struct CpuUse {
    server: f64,
    sim: f64,
}

/// Measures the CPU time of `server_pid` and of this process over `f`.
async fn with_cpu<T>(server_pid: Option<u32>, acc: &mut CpuUse, f: impl Future<Output = T>) -> T {
    let pid = server_pid.map(|p| p.to_string());
    let before = (pid.as_deref().and_then(cpu_seconds), cpu_seconds("self"));
    let out = f.await;
    if let (Some(a), Some(b)) = (before.0, pid.as_deref().and_then(cpu_seconds)) {
        acc.server += b - a;
    }
    if let (Some(a), Some(b)) = (before.1, cpu_seconds("self")) {
        acc.sim += b - a;
    }
    out
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
    /// Session attempts (more than `sessions` with `--retry-shed`).
    attempts: u64,
    /// Session attempts the server answered 503 (load shed): among `failures`, or retried with
    /// `--retry-shed`.
    shed: u64,
    /// Wall time of the session phases (job queueing excluded), seconds.
    elapsed_s: f64,
    sessions_per_s: f64,
    latency_ms: Latency,
    encoding: &'static str,
    concurrency: usize,
    jobs_queued: u64,
    /// Wall time spent queueing jobs through the API, seconds.
    job_queue_s: f64,
    /// HTTP exchanges (DM messages sent) per completed session.
    http_exchanges_per_session: f64,
    /// The plain HTTP round-trip baseline (with `--baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<Baseline>,
    /// sessions/s ÷ baseline requests/s (with `--baseline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<f64>,
    /// Server CPU time per completed session, microseconds (with `--server-pid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    server_cpu_us_per_session: Option<f64>,
    /// Simulator CPU time per completed session, microseconds.
    sim_cpu_us_per_session: f64,
    /// The first few failure messages.
    errors: Vec<String>,
}

/// The plain HTTP round-trip baseline.
#[derive(Debug, Serialize)]
struct Baseline {
    requests: u64,
    failures: u64,
    /// Requests answered 503 (load shed), among `failures`.
    shed: u64,
    body_bytes: usize,
    elapsed_s: f64,
    requests_per_s: f64,
    latency_ms: Latency,
    /// Server CPU time per request, microseconds (with `--server-pid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    server_cpu_us_per_request: Option<f64>,
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
    health: String,
}

fn urls(server: &str) -> Urls {
    let base = server.trim_end_matches('/');
    let root = base.strip_suffix("/dm").unwrap_or(base);
    Urls {
        dm: format!("{root}/dm"),
        api: format!("{root}/api/v1"),
        health: format!("{root}/healthz"),
    }
}

fn device_id(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i}")
}

fn device_secret(args: &Args, id: &str) -> String {
    args.device_secret
        .clone()
        .unwrap_or_else(|| format!("pw-{id}-sim"))
}

fn server_secret(args: &Args, id: &str) -> String {
    args.server_secret
        .clone()
        .unwrap_or_else(|| format!("srv-{id}-sim"))
}

/// Most tries of one session with `--retry-shed`.
const SHED_TRIES: u32 = 10;

/// Most tries of one API request the server sheds with 503 before giving up.
const API_TRIES: u32 = 30;

/// POSTs `body` to the API; a 503 (the server shedding load) is retried after its
/// `Retry-After` (default 1 s), up to [`API_TRIES`] times. 409 (already there) counts as done.
async fn api_post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &serde_json::Value,
) -> anyhow::Result<reqwest::StatusCode> {
    let mut tries = 0;
    let r = loop {
        tries += 1;
        let r = http
            .post(url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        if r.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE || tries >= API_TRIES {
            break r;
        }
        let wait = r
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1u64);
        tokio::time::sleep(Duration::from_secs(wait.clamp(1, 30))).await;
    };
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

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .context("starting the runtime")?;
    runtime.block_on(run(args))
}

/// One baseline phase: `n` POSTs of `body` to `/healthz`; latencies in microseconds.
/// What one baseline phase measured.
struct BaselinePhase {
    /// Latencies of the answered requests, microseconds.
    latencies: Vec<u64>,
    failures: u64,
    /// Failures that were 503 answers.
    shed: u64,
    took: Duration,
}

async fn baseline_phase(
    http: &reqwest::Client,
    url: &Arc<Urls>,
    n: usize,
    concurrency: usize,
    body: &Arc<Vec<u8>>,
) -> BaselinePhase {
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let shed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (h, u, l, b, sh) = (
        http.clone(),
        url.clone(),
        latencies.clone(),
        body.clone(),
        shed.clone(),
    );
    let errors = for_each(n, concurrency, move |_| {
        let (h, u, l, b, sh) = (h.clone(), u.clone(), l.clone(), b.clone(), sh.clone());
        async move {
            let t0 = Instant::now();
            let r = h
                .post(&u.health)
                .header("content-type", "application/octet-stream")
                .body(b.as_ref().clone())
                .send()
                .await
                .context("POST /healthz")?;
            if r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                sh.fetch_add(1, Ordering::Relaxed);
            }
            if !r.status().is_success() {
                bail!("POST /healthz: HTTP {}", r.status());
            }
            r.bytes().await.context("reading /healthz")?;
            l.lock().await.push(t0.elapsed().as_micros() as u64);
            Ok(())
        }
    })
    .await;
    let took = started.elapsed();
    let lat = Arc::try_unwrap(latencies)
        .map(Mutex::into_inner)
        .unwrap_or_default();
    BaselinePhase {
        latencies: lat,
        failures: errors.len() as u64,
        shed: shed.load(Ordering::Relaxed),
        took,
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = args;
    args.baseline |= args.baseline_only;
    let args = Arc::new(args);
    if args.job && args.api_token.is_none() {
        bail!("--job needs --api-token");
    }
    if args.provision_only && args.api_token.is_none() {
        bail!("--provision-only needs --api-token");
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

    if let Some(token) = args.api_token.as_ref().filter(|_| !args.baseline_only) {
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
                    "auth_secret": device_secret(&a, &id),
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
        if args.provision_only {
            if args.json {
                println!("{}", serde_json::json!({ "provisioned": args.devices }));
            } else {
                println!("provisioned:   {} devices", args.devices);
            }
            return Ok(());
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
                secret: device_secret(&args, &id),
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
        if args.listen.is_some() {
            listen::add_exec_node(device.tree_mut())?;
        }
        devices.push(device);
    }
    if let Some(addr) = args.listen {
        let ok = listen::run(args.clone(), addr, http, devices).await?;
        if !ok {
            std::process::exit(1);
        }
        return Ok(());
    }
    let devices: Arc<Vec<_>> = Arc::new(
        devices
            .into_iter()
            .map(|d| Arc::new(Mutex::new(d)))
            .collect(),
    );

    let total = (args.devices * args.sessions) as u64;
    let bar = progress(total, "sessions");
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let failures = Arc::new(AtomicU64::new(0));
    let shed = Arc::new(AtomicU64::new(0));
    let attempts = Arc::new(AtomicU64::new(0));
    let messages = Arc::new(AtomicU64::new(0));
    let body = Arc::new(vec![b'x'; args.baseline_bytes]);
    let mut base_lat: Vec<u64> = Vec::new();
    let mut base_failures = 0u64;
    let mut base_shed = 0u64;
    let mut base_time = Duration::ZERO;
    let mut base_cpu = CpuUse::default();
    let mut session_cpu = CpuUse::default();
    let mut errors_seen: Vec<String> = Vec::new();
    let mut session_time = Duration::ZERO;
    let mut job_time = Duration::ZERO;
    let mut jobs_queued = 0u64;
    for _round in 0..args.sessions {
        if args.baseline {
            let phase = with_cpu(
                args.server_pid,
                &mut base_cpu,
                baseline_phase(&http, &urls, args.devices, args.concurrency, &body),
            )
            .await;
            base_lat.extend(phase.latencies);
            base_failures += phase.failures;
            base_shed += phase.shed;
            base_time += phase.took;
        }
        if args.baseline_only {
            continue;
        }
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
        let (h, d, l, f, b, m, sh, at) = (
            http.clone(),
            devices.clone(),
            latencies.clone(),
            failures.clone(),
            bar.clone(),
            messages.clone(),
            shed.clone(),
            attempts.clone(),
        );
        let retry = args.retry_shed;
        let sessions_phase = for_each(args.devices, args.concurrency, move |i| {
            let (h, d, l, f, b, m, sh, at) = (
                h.clone(),
                d.clone(),
                l.clone(),
                f.clone(),
                b.clone(),
                m.clone(),
                sh.clone(),
                at.clone(),
            );
            async move {
                let Some(dev) = d.get(i) else { return Ok(()) };
                let mut dev = dev.lock().await;
                let mut tries = 0;
                loop {
                    tries += 1;
                    at.fetch_add(1, Ordering::Relaxed);
                    let t0 = Instant::now();
                    let outcome = dev.run_session(&h, Trigger::Client, &[]).await;
                    let took = t0.elapsed();
                    match outcome {
                        Ok(report) if report.completed() => {
                            b.inc(1);
                            m.fetch_add(report.messages as u64, Ordering::Relaxed);
                            l.lock().await.push(took.as_micros() as u64);
                            return Ok(());
                        }
                        Ok(report) => {
                            b.inc(1);
                            f.fetch_add(1, Ordering::Relaxed);
                            bail!(
                                "{}: session ended: {:?}",
                                dev.account().device_id,
                                report.end
                            )
                        }
                        Err(dm_client::Error::HttpStatus {
                            status: 503,
                            retry_after_secs,
                            ..
                        }) if retry && tries < SHED_TRIES => {
                            sh.fetch_add(1, Ordering::Relaxed);
                            // Retry-After plus up to half of it at random, as devices
                            // spread their retries (no synchronised waves).
                            let wait = retry_after_secs.unwrap_or(1).clamp(1, 30) * 1000;
                            let jitter = rand::random_range(0..=wait / 2);
                            tokio::time::sleep(Duration::from_millis(wait + jitter)).await;
                        }
                        Err(e) => {
                            b.inc(1);
                            f.fetch_add(1, Ordering::Relaxed);
                            if matches!(e, dm_client::Error::HttpStatus { status: 503, .. }) {
                                sh.fetch_add(1, Ordering::Relaxed);
                            }
                            return Err(
                                anyhow::Error::new(e).context(dev.account().device_id.clone())
                            );
                        }
                    }
                }
            }
        });
        let errors = with_cpu(args.server_pid, &mut session_cpu, sessions_phase).await;
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
    let completed = lat.len();
    let sessions_per_s = if elapsed > 0.0 {
        completed as f64 / elapsed
    } else {
        0.0
    };
    let baseline = args.baseline.then(|| {
        let secs = base_time.as_secs_f64();
        Baseline {
            requests: base_lat.len() as u64 + base_failures,
            failures: base_failures,
            shed: base_shed,
            body_bytes: args.baseline_bytes,
            elapsed_s: secs,
            requests_per_s: if secs > 0.0 {
                base_lat.len() as f64 / secs
            } else {
                0.0
            },
            server_cpu_us_per_request: args
                .server_pid
                .filter(|_| !base_lat.is_empty())
                .map(|_| base_cpu.server * 1e6 / base_lat.len() as f64),
            latency_ms: Latency::of(std::mem::take(&mut base_lat)),
        }
    });
    let per_session = |secs: f64| {
        if completed > 0 {
            secs * 1e6 / completed as f64
        } else {
            0.0
        }
    };
    let ratio = baseline
        .as_ref()
        .filter(|b| b.requests_per_s > 0.0)
        .map(|b| sessions_per_s / b.requests_per_s);
    let summary = Summary {
        devices: args.devices,
        sessions,
        failures: failures.load(Ordering::Relaxed),
        attempts: attempts.load(Ordering::Relaxed),
        shed: shed.load(Ordering::Relaxed),
        elapsed_s: elapsed,
        sessions_per_s,
        http_exchanges_per_session: if completed > 0 {
            messages.load(Ordering::Relaxed) as f64 / completed as f64
        } else {
            0.0
        },
        baseline,
        ratio,
        server_cpu_us_per_session: args.server_pid.map(|_| per_session(session_cpu.server)),
        sim_cpu_us_per_session: per_session(session_cpu.sim),
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
    if summary.failures > 0 || summary.baseline.as_ref().is_some_and(|b| b.failures > 0) {
        std::process::exit(1);
    }
    Ok(())
}

fn print_summary(s: &Summary) {
    println!("devices:       {}", s.devices);
    println!(
        "sessions:      {} ({} failed; {} attempts, {} answered 503)",
        s.sessions, s.failures, s.attempts, s.shed
    );
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
    println!(
        "exchanges:     {:.2} HTTP round trips per session",
        s.http_exchanges_per_session
    );
    if let Some(b) = &s.baseline {
        println!(
            "baseline:      {:.1} requests/s ({} x POST /healthz, {} B), p50 {:.2} ms, p99 {:.2} ms, {} answered 503",
            b.requests_per_s, b.requests, b.body_bytes, b.latency_ms.p50, b.latency_ms.p99, b.shed
        );
    }
    if let Some(us) = s.server_cpu_us_per_session {
        println!("server CPU:    {us:.0} µs per session");
    }
    println!(
        "sim CPU:       {:.0} µs per session",
        s.sim_cpu_us_per_session
    );
    if let Some(r) = s.ratio {
        println!("ratio:         {r:.3} sessions per baseline request");
    }
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
            (u.dm.as_str(), u.api.as_str(), u.health.as_str()),
            ("http://h:1/dm", "http://h:1/api/v1", "http://h:1/healthz")
        );
    }

    #[test]
    fn cpu_time_of_a_process_is_read_from_proc() {
        let own = cpu_seconds("self").expect("/proc/self/stat");
        assert!(own >= 0.0);
        assert_eq!(cpu_seconds("0"), None, "no process 0 in /proc");
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
