//! Issue 6, item 10c through the real `dm-server` binary: under a low open-file limit
//! (`RLIMIT_NOFILE`) a slow-header flood neither stops the server from accepting afterwards nor
//! makes it spin on `EMFILE`; a device session right after succeeds. Also: peer-supplied text in
//! the server's log lines is escaped and capped.
//!
//! Linux only (`/proc`, `prlimit(2)`).

#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::{Backend, ClientOpts, Device, Server, client_config, client_once};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

/// CPU seconds (user + system) of a process.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64
}

/// `n` connections that each send the start of a request head and then nothing.
async fn slow_header_flood(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut flood = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let _ = c.write_all(b"POST /dm HTTP/1.1\r\nHost: x\r\n").await;
        flood.push(c);
    }
    flood
}

fn addr_of(server: &Server) -> SocketAddr {
    server.url.trim_start_matches("http://").parse().unwrap()
}

/// `GET /healthz` until it answers 200 or `within` passes; returns how long it took.
async fn healthz_within(url: &str, within: Duration) -> Duration {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(within)
        .build()
        .unwrap();
    let started = Instant::now();
    let r = http
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("healthz answered");
    assert_eq!(r.status(), 200);
    started.elapsed()
}

async fn device_session_succeeds(server: &Server, dir: &std::path::Path, name: &str) {
    let dev = Device::new(name);
    server.add_device(&dev, None).await;
    let cfg = client_config(dir, &server.dm_url(), &dev, &ClientOpts::default());
    let (ok, log) = client_once(&cfg).await;
    assert!(ok, "dm-client session failed: {log}");
}

/// The limit is lowered under the running server (as an operator's `prlimit --pid` would),
/// so its connection cap (fitted to the limit at start) is too high: accepting runs into
/// `EMFILE`. It backs off instead of spinning, and once the header timeout has cut the flood it
/// accepts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emfile_during_a_slow_header_flood_backs_off_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &Backend::Sqlite,
        dir.path(),
        "127.0.0.1:0",
        &["--header-read-timeout", "1"],
        None,
    );
    let pid = server.pid();
    // Warm the store and the HTTP paths first.
    device_session_succeeds(&server, dir.path(), "before").await;
    let limit = open_fds(pid) + 48;
    let pid_t = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    rustix::process::prlimit(
        Some(pid_t),
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(limit),
            maximum: Some(limit),
        },
    )
    .unwrap();

    let flood = slow_header_flood(addr_of(&server), 300).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu0 = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = cpu_seconds(pid) - cpu0;
    assert!(
        spent < 0.6,
        "the server spent {spent:.2} s of CPU in 2 s while out of file descriptors"
    );
    let log = server.log_text();
    assert!(log.contains("accept failed: backing off"), "{log}");
    // Failed accepts are logged once per episode, not once per retry.
    assert!(
        log.matches("accept failed: backing off").count() <= 10,
        "{log}"
    );

    // The flood is cut 1 s at a time, ~40 connections per round; a well-behaved client
    // waiting behind it is served, and so is a whole DM session.
    let took = healthz_within(&server.url, Duration::from_secs(30)).await;
    eprintln!("healthz after the flood: {took:?}");
    assert!(server.log_text().contains("accepting connections again"));
    device_session_succeeds(&server, dir.path(), "after").await;
    drop(flood);
}

/// Started under a low limit, the server fits its connection cap into it (three quarters):
/// the flood takes the slots it may, never the descriptors the store needs; the rest wait and
/// the server serves again after the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_under_a_low_limit_the_cap_keeps_descriptors_free() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &Backend::Sqlite,
        dir.path(),
        "127.0.0.1:0",
        &["--header-read-timeout", "1"],
        Some(256),
    );
    let log = server.log_text();
    assert!(log.contains("max_connections lowered"), "{log}");
    assert!(log.contains("used=192"), "{log}");
    let flood = slow_header_flood(addr_of(&server), 400).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        open_fds(server.pid()) < 256,
        "descriptors left for the store and the log"
    );
    let took = healthz_within(&server.url, Duration::from_secs(30)).await;
    eprintln!("healthz after the flood: {took:?}");
    assert!(
        !server.log_text().contains("accept failed"),
        "the cap kept accept() from running out of descriptors"
    );
    device_session_succeeds(&server, dir.path(), "capped").await;
    drop(flood);
}

/// A request path of 3,000 bytes with a wrong token is logged as one capped line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_supplied_text_in_the_log_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&Backend::Sqlite, dir.path(), "127.0.0.1:0");
    let path = format!("/api/v1/{}", "A".repeat(3000));
    let r = reqwest::Client::new()
        .get(format!("{}{path}", server.url))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log = server.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("API request refused"))
        .expect("the refusal is logged");
    assert!(line.len() < 600, "{} bytes: {line}", line.len());
    // The nested router sees the path without its /api/v1 prefix: 3,001 bytes.
    assert!(line.contains("…(3001 bytes)"), "{line}");
}
