//! Listening mode (`--listen ADDR`): N virtual Proxy-mode End Devices behind a DM gateway,
//! each waiting for the gateway's Package 0.
//!
//! In: the gateway's southbound DM endpoint (`--server`), one HTTP listener for every device
//! (`POST /n/<index>`: the Package 0 of device `<index>`), the behaviour flags. Out: one
//! registration session per device (the Device Registration Alert of docs/gateway.md §3 with
//! `mode=proxy` and the device's `http=` notification URL), then, for every verified Package
//! 0, one DM session with the gateway answering its commands against the device's own small
//! tree (DevInfo, DevDetail, DMAcc, the Replace-able leaf `./Ext/Sim/Counter`, the Exec-able
//! node `./Ext/Sim/Reboot`), and the counters at the end.
//!
//! Behaviours, deterministic by device index `i` (0-based): with `--fail-every K` every device
//! with `(i + 1) % K == 0` answers each command with 500; with `--silent-every K` those devices
//! ignore their notifications (the gateway times them out); `--slow-ms MS` delays every answer
//! by MS milliseconds. A device answers one notification at a time: one that arrives while
//! the device is already queued or in a session is coalesced with it (counted).
//!
//! Bounds: at most `--concurrency` sessions in flight; at most one queued notification per
//! device; notification bodies of at most [`MAX_PACKAGE0`] bytes; every HTTP exchange under
//! `--timeout`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode as HttpStatus;
use dm_client::device::{self, Device};
use dm_client::listener::MAX_PACKAGE0;
use dm_client::session::{self, Executor};
use dm_client::{GenericAlert, SessionReport, Trigger};
use dm_proto::ClientSession;
use dm_tree::mo::devinfo;
use dm_tree::{AccessType, ExecContext, ExecOutcome, Format, NewNode, Tree};
use serde::Serialize;
use syncml::notification;
use syncml::{Command, Status, StatusCode};
use tokio::sync::{Mutex, Semaphore};

use crate::{Args, for_each};

/// The node each virtual device executes (answers 200).
pub(crate) const EXEC_NODE: &str = "./Ext/Sim/Reboot";

/// The behaviour of device `index` under `every` (0: never): the `(index + 1) % every == 0`
/// devices.
#[must_use]
pub(crate) fn every(index: usize, every: usize) -> bool {
    every > 0 && (index + 1).is_multiple_of(every)
}

/// The notification URL of device `index` on a listener bound to `addr`.
#[must_use]
pub(crate) fn notify_url(addr: SocketAddr, index: usize) -> String {
    format!("http://{addr}/n/{index}")
}

/// The end-of-run counters of the listening mode.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Counters {
    /// Devices registered (registration session completed).
    registered: AtomicU64,
    /// Registration sessions that failed.
    registration_failures: AtomicU64,
    /// Notification POSTs received for a known device.
    notifications: AtomicU64,
    /// POSTs refused: unknown path or device, malformed Package 0 (answered 4xx).
    refused: AtomicU64,
    /// Package 0s whose digest did not verify with the device's server secret (ignored).
    bad_digest: AtomicU64,
    /// Notifications ignored by `--silent-every` devices.
    ignored_silent: AtomicU64,
    /// Notifications that arrived while the device was already queued or in a session.
    coalesced: AtomicU64,
    /// Server-initiated sessions run to their normal end.
    sessions: AtomicU64,
    /// Server-initiated sessions that failed (transport, HTTP status, or an abnormal end).
    session_failures: AtomicU64,
    /// Commands of the gateway answered (top level).
    commands: AtomicU64,
    /// Commands answered 500 by `--fail-every` devices (top level).
    failed_answers: AtomicU64,
}

/// The summary printed at the end.
#[derive(Debug, Serialize)]
struct Report<'a> {
    devices: usize,
    listen: String,
    /// Seconds from the first registration to the last one.
    registration_s: f64,
    /// Seconds the devices listened.
    listened_s: f64,
    counters: &'a Counters,
    /// Server-initiated session latency (notification received -> session ended), ms.
    session_latency_ms: crate::Latency,
    /// CPU seconds of the simulator over the whole run.
    sim_cpu_s: Option<f64>,
    /// Peak RSS of the simulator, kB.
    sim_peak_rss_kb: Option<u64>,
    /// The first few failure messages.
    errors: Vec<String>,
}

/// One virtual device.
struct SimDevice {
    device: Mutex<Device>,
    /// A notification is queued or its session runs.
    busy: AtomicBool,
}

/// The fleet, shared by the listener and the session tasks.
struct Fleet {
    args: Arc<Args>,
    devices: Vec<SimDevice>,
    http: reqwest::Client,
    sessions: Semaphore,
    counters: Counters,
    latencies: std::sync::Mutex<Vec<u64>>,
    errors: std::sync::Mutex<Vec<String>>,
}

impl Fleet {
    fn error(&self, e: String) {
        if let Ok(mut v) = self.errors.lock()
            && v.len() < 5
        {
            v.push(e);
        }
    }
}

/// Answers the gateway's commands from the device's tree, or with 500 for a failing device,
/// after the `--slow-ms` delay.
struct SimExecutor<'a> {
    tree: &'a mut Tree,
    server_id: &'a str,
    fail: bool,
    slow: Duration,
    counters: &'a Counters,
}

/// A Status `code` for `cmd` (of message `msg_id`) and, for a container, for each child.
fn fail_statuses(cmd: &Command, msg_id: &str, code: StatusCode, out: &mut Vec<Command>) {
    out.push(Command::Status(Status {
        cmd_id: String::new(),
        msg_ref: msg_id.to_owned(),
        cmd_ref: cmd.cmd_id().to_owned(),
        cmd: cmd.name().to_owned(),
        target_refs: Vec::new(),
        source_refs: Vec::new(),
        cred: None,
        chal: None,
        code,
        items: Vec::new(),
    }));
    if let Command::Atomic(c) | Command::Sequence(c) = cmd {
        for child in &c.commands {
            fail_statuses(child, msg_id, code, out);
        }
    }
}

impl Executor for SimExecutor<'_> {
    async fn execute(
        &mut self,
        msg_id: String,
        cmds: Vec<Command>,
    ) -> Result<Vec<Command>, dm_client::Error> {
        if !self.slow.is_zero() {
            tokio::time::sleep(self.slow).await;
        }
        self.counters
            .commands
            .fetch_add(cmds.len() as u64, Ordering::Relaxed);
        if self.fail {
            self.counters
                .failed_answers
                .fetch_add(cmds.len() as u64, Ordering::Relaxed);
            let mut out = Vec::new();
            for c in &cmds {
                fail_statuses(c, &msg_id, StatusCode::COMMAND_FAILED, &mut out);
            }
            return Ok(out);
        }
        let ctx = ExecContext {
            server_id: self.server_id,
            msg_id: &msg_id,
            now: tree_now(),
        };
        Ok(cmds
            .iter()
            .flat_map(|c| self.tree.execute(&ctx, c))
            .collect())
    }
}

fn tree_now() -> dm_tree::Timestamp {
    dm_tree::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// Runs one session of `dev` with its server (the gateway) through [`SimExecutor`] and stores
/// the nonces it exchanged in the device's DMAcc.
async fn run_session(
    dev: &mut Device,
    http: &reqwest::Client,
    trigger: Trigger,
    alerts: &[GenericAlert],
    behaviour: (bool, Duration),
    counters: &Counters,
) -> Result<SessionReport, dm_client::Error> {
    let account = dev.account().clone();
    let nonces = device::stored_nonces(dev.tree(), &account.server_id);
    let config = device::client_config(&account, &nonces);
    let (initiator, session_id) = device::initiator(trigger);
    let mut session = ClientSession::new(
        config,
        initiator,
        session_id,
        devinfo::items(dev.tree()),
        Box::new(|buf: &mut [u8]| rand::fill(buf)),
        dm_proto::Timestamp::ZERO,
    );
    for a in alerts {
        session.queue_generic_alert(a);
    }
    let limit = session::response_limit(account.max_msg_size, syncml::Limits::default().max_size);
    let outcome = {
        let mut executor = SimExecutor {
            tree: dev.tree_mut(),
            server_id: &account.server_id,
            fail: behaviour.0,
            slow: behaviour.1,
            counters,
        };
        session::drive(
            http,
            &mut session,
            &mut executor,
            account.idle_timeout,
            limit,
        )
        .await
    };
    let report = outcome?;
    device::record_nonces(dev.tree_mut(), &account.server_id, &report, tree_now())?;
    Ok(report)
}

/// The Device Registration Alert of device `index` (Proxy mode, its notification URL).
fn registration_alert(url: String, lease: u64) -> Option<GenericAlert> {
    let request = gwmo::payload::RegistrationRequest {
        mode: Some(gwmo::mode::Mode::Proxy),
        addresses: vec![gwmo::inventory::Address::Http(url)],
        servers: Vec::new(),
        lease: Some(Duration::from_secs(lease)),
    };
    let alert =
        gwmo::payload::generic_alert("", None, vec![gwmo::payload::registration_item(&request)]);
    GenericAlert::from_alert(&alert)
}

/// Adds the listening mode's nodes to a device tree: the Exec-able node (the counter leaf is
/// added by the caller for both modes).
pub(crate) fn add_exec_node(tree: &mut Tree) -> anyhow::Result<()> {
    let node = NewNode::leaf("")
        .format(Format::Chr)
        .access(AccessType::GET | AccessType::EXEC);
    tree.insert(EXEC_NODE, node, dm_tree::Timestamp(0))?;
    tree.register_exec(EXEC_NODE, Box::new(|_req| ExecOutcome::ok()))?;
    Ok(())
}

/// `POST /n/{index}`: a Package 0 for device `index`. Answers 202 once the notification is
/// queued (the digest is checked by the device's task: a sender learns nothing from the
/// answer), 404 for an unknown device, 400 for a body that is no Package 0.
async fn post_notification(
    State(fleet): State<Arc<Fleet>>,
    Path(index): Path<String>,
    body: Bytes,
) -> HttpStatus {
    let Some((i, dev)) = index
        .parse::<usize>()
        .ok()
        .and_then(|i| fleet.devices.get(i).map(|d| (i, d)))
    else {
        fleet.counters.refused.fetch_add(1, Ordering::Relaxed);
        return HttpStatus::NOT_FOUND;
    };
    let Ok((n, _)) = notification::decode(&body) else {
        fleet.counters.refused.fetch_add(1, Ordering::Relaxed);
        return HttpStatus::BAD_REQUEST;
    };
    fleet.counters.notifications.fetch_add(1, Ordering::Relaxed);
    if every(i, fleet.args.silent_every) {
        fleet
            .counters
            .ignored_silent
            .fetch_add(1, Ordering::Relaxed);
        return HttpStatus::ACCEPTED;
    }
    if dev.busy.swap(true, Ordering::AcqRel) {
        fleet.counters.coalesced.fetch_add(1, Ordering::Relaxed);
        return HttpStatus::ACCEPTED;
    }
    let received = Instant::now();
    let f = fleet.clone();
    tokio::spawn(async move {
        notified(&f, i, &body, n.session_id, received).await;
        if let Some(d) = f.devices.get(i) {
            d.busy.store(false, Ordering::Release);
        }
    });
    HttpStatus::ACCEPTED
}

/// Verifies device `i`'s Package 0 and runs the session it asks for.
async fn notified(fleet: &Fleet, i: usize, body: &[u8], session_id: u16, received: Instant) {
    let Some(d) = fleet.devices.get(i) else {
        return;
    };
    let Ok(_permit) = fleet.sessions.acquire().await else {
        return;
    };
    let mut dev = d.device.lock().await;
    let account = dev.account().clone();
    let nonce = device::stored_nonces(dev.tree(), &account.server_id).1;
    let verified = notification::verify_with_resync(
        body,
        &account.server_id,
        &account.server_auth.secret,
        &nonce,
    );
    if verified.is_none() {
        fleet.counters.bad_digest.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let behaviour = (
        every(i, fleet.args.fail_every),
        Duration::from_millis(fleet.args.slow_ms),
    );
    let r = run_session(
        &mut dev,
        &fleet.http,
        Trigger::Server { session_id },
        &[],
        behaviour,
        &fleet.counters,
    )
    .await;
    match r {
        Ok(report) if report.completed() => {
            fleet.counters.sessions.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut l) = fleet.latencies.lock() {
                l.push(received.elapsed().as_micros() as u64);
            }
        }
        Ok(report) => {
            fleet
                .counters
                .session_failures
                .fetch_add(1, Ordering::Relaxed);
            fleet.error(format!(
                "{}: session ended: {:?}",
                account.device_id, report.end
            ));
        }
        Err(e) => {
            fleet
                .counters
                .session_failures
                .fetch_add(1, Ordering::Relaxed);
            fleet.error(format!("{}: {e}", account.device_id));
        }
    }
}

/// Waits for SIGINT, SIGTERM or the end of `duration`.
async fn stop_signal(duration: Option<Duration>) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let timer = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
        () = timer => {}
    }
}

/// Peak RSS of this process in kB (VmHWM), on Linux.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Runs the listening mode (see the module docs) with the `devices` built by the caller.
///
/// # Errors
/// When the listener cannot be bound; registration failures are counted (and make the exit
/// status 1), not returned.
pub(crate) async fn run(
    args: Arc<Args>,
    listen: SocketAddr,
    http: reqwest::Client,
    devices: Vec<Device>,
) -> anyhow::Result<bool> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let bound = listener.local_addr().context("listener address")?;
    let n = devices.len();
    let fleet = Arc::new(Fleet {
        devices: devices
            .into_iter()
            .map(|d| SimDevice {
                device: Mutex::new(d),
                busy: AtomicBool::new(false),
            })
            .collect(),
        http,
        sessions: Semaphore::new(args.concurrency.max(1)),
        counters: Counters::default(),
        latencies: std::sync::Mutex::new(Vec::new()),
        errors: std::sync::Mutex::new(Vec::new()),
        args: args.clone(),
    });
    let app = axum::Router::new()
        .route("/n/{index}", axum::routing::post(post_notification))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_PACKAGE0))
        .with_state(fleet.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The 202 goes out at once (no Nagle delay on the gateway's notification connections).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "notification listener stopped");
        }
    });

    // Registration: one session per device with the Device Registration Alert.
    let bar = crate::progress(n as u64, "registering");
    let started = Instant::now();
    let (f, b) = (fleet.clone(), bar.clone());
    let lease = args.lease;
    let errors = for_each(n, args.concurrency, move |i| {
        let (f, b) = (f.clone(), b.clone());
        async move {
            let Some(d) = f.devices.get(i) else {
                return Ok(());
            };
            let Some(alert) = registration_alert(notify_url(bound, i), lease) else {
                bail!("registration alert not built");
            };
            let mut dev = d.device.lock().await;
            let r = run_session(
                &mut dev,
                &f.http,
                Trigger::Client,
                &[alert],
                (false, Duration::ZERO),
                &f.counters,
            )
            .await;
            b.inc(1);
            match r {
                Ok(report) if report.completed() => {
                    f.counters.registered.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Ok(report) => {
                    f.counters
                        .registration_failures
                        .fetch_add(1, Ordering::Relaxed);
                    bail!(
                        "{}: registration ended: {:?}",
                        dev.account().device_id,
                        report.end
                    )
                }
                Err(e) => {
                    f.counters
                        .registration_failures
                        .fetch_add(1, Ordering::Relaxed);
                    Err(anyhow::Error::new(e).context(dev.account().device_id.clone()))
                }
            }
        }
    })
    .await;
    bar.finish_and_clear();
    let registration_s = started.elapsed().as_secs_f64();
    for e in &errors {
        fleet.error(format!("registration: {e:#}"));
    }
    let registered = fleet.counters.registered.load(Ordering::Relaxed);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "registered": registered,
                "registration_failures": errors.len(),
                "registration_s": registration_s,
                "listen": bound.to_string(),
            })
        );
    } else {
        println!(
            "registered {registered} devices ({} failed) in {registration_s:.1} s; listening on {bound}",
            errors.len()
        );
    }
    // The counters count the listening phase only.
    fleet.counters.commands.store(0, Ordering::Relaxed);

    let listening = Instant::now();
    stop_signal(args.duration.map(Duration::from_secs)).await;
    let listened_s = listening.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let _ = server.await;
    let latencies = fleet
        .latencies
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    let errors = fleet
        .errors
        .lock()
        .map(|mut e| std::mem::take(&mut *e))
        .unwrap_or_default();
    let report = Report {
        devices: n,
        listen: bound.to_string(),
        registration_s,
        listened_s,
        counters: &fleet.counters,
        session_latency_ms: crate::Latency::of(latencies),
        sim_cpu_s: crate::cpu_seconds("self"),
        sim_peak_rss_kb: peak_rss_kb(),
        errors,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    let c = &fleet.counters;
    Ok(c.registration_failures.load(Ordering::Relaxed) == 0
        && c.session_failures.load(Ordering::Relaxed) == 0)
}

fn print_report(r: &Report<'_>) {
    let c = r.counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!("devices:       {} (listening on {})", r.devices, r.listen);
    println!(
        "registered:    {} ({} failed) in {:.1} s",
        get(&c.registered),
        get(&c.registration_failures),
        r.registration_s
    );
    println!(
        "notifications: {} received, {} refused, {} bad digest, {} ignored (silent), {} coalesced",
        get(&c.notifications),
        get(&c.refused),
        get(&c.bad_digest),
        get(&c.ignored_silent),
        get(&c.coalesced)
    );
    println!(
        "sessions:      {} ({} failed), {} commands answered, {} with 500",
        get(&c.sessions),
        get(&c.session_failures),
        get(&c.commands),
        get(&c.failed_answers)
    );
    let l = &r.session_latency_ms;
    println!(
        "latency ms:    p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2} (notification -> session end)",
        l.p50, l.p90, l.p99, l.max
    );
    if let Some(cpu) = r.sim_cpu_s {
        println!("sim CPU:       {cpu:.2} s");
    }
    if let Some(kb) = r.sim_peak_rss_kb {
        println!("sim peak RSS:  {:.1} MB", kb as f64 / 1024.0);
    }
    for e in &r.errors {
        println!("error:         {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_are_deterministic_by_index() {
        let picked: Vec<usize> = (0..10).filter(|&i| every(i, 3)).collect();
        assert_eq!(picked, vec![2, 5, 8]);
        assert!((0..100).all(|i| !every(i, 0)));
        assert!((0..5).all(|i| every(i, 1)));
    }

    #[test]
    fn failing_devices_answer_every_command_and_child() {
        let get = syncml::ItemCmd {
            cmd_id: "2".to_owned(),
            ..syncml::ItemCmd::default()
        };
        let seq = syncml::Container {
            cmd_id: "3".to_owned(),
            commands: vec![Command::Get(syncml::ItemCmd {
                cmd_id: "4".to_owned(),
                ..syncml::ItemCmd::default()
            })],
            ..syncml::Container::default()
        };
        let mut out = Vec::new();
        for c in [Command::Get(get), Command::Sequence(seq)] {
            fail_statuses(&c, "1", StatusCode::COMMAND_FAILED, &mut out);
        }
        let refs: Vec<(String, u16)> = out
            .iter()
            .filter_map(|c| match c {
                Command::Status(s) => Some((s.cmd_ref.clone(), s.code.0)),
                _ => None,
            })
            .collect();
        assert_eq!(
            refs,
            vec![
                ("2".to_owned(), 500),
                ("3".to_owned(), 500),
                ("4".to_owned(), 500)
            ]
        );
    }

    #[test]
    fn notification_urls_name_the_device_index() {
        let a: SocketAddr = "127.0.0.1:4000".parse().expect("address");
        assert_eq!(notify_url(a, 7), "http://127.0.0.1:4000/n/7");
        let alert = registration_alert(notify_url(a, 7), 60).expect("alert");
        let item = alert.items().first().expect("one item");
        assert_eq!(item.alert_type, "x-oma-gwmo:deviceregistration:1.0");
        let syncml::Data::Text(text) = &item.data else {
            panic!("text data expected: {:?}", item.data);
        };
        let r =
            gwmo::payload::RegistrationRequest::decode(text.as_str(), &syncml::Limits::default())
                .expect("a registration");
        assert_eq!(r.mode, Some(gwmo::mode::Mode::Proxy));
        assert_eq!(
            r.addresses,
            vec![gwmo::inventory::Address::Http(
                "http://127.0.0.1:4000/n/7".to_owned()
            )]
        );
        assert_eq!(r.lease, Some(Duration::from_secs(60)));
    }
}
