//! SQLite store throughput: what one DM session writes (`record_session`: DevInfo registry,
//! nonces, 3 tree values, a job's results + completion, sometimes an event), sequentially and
//! from concurrent tasks, plus the per-session job take and the auth lookup.
//!
//! Run: `cargo bench -p dm-store --bench store`. Sizes via env: `DMSTORE_BENCH_DEVICES`
//! (default 100000), `DMSTORE_BENCH_SESSIONS` (default 20000), `DMSTORE_BENCH_TASKS`
//! (default 16). Prints one line per measurement and the process RSS.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use dm_store::{
    AnyStore, AuthType, CommandKind, CommandResult, DeviceAccount, JobCommand, JobResults,
    JobState, NewEvent, NewJob, NonceUpdate, RegistryUpdate, ResultItem, SessionRecord, Store,
    TreeValue,
};

const T0: i64 = 1_700_000_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn device_id(i: usize) -> String {
    format!("IMEI:35{i:013}")
}

fn record(i: usize, job_id: Option<i64>, at: i64) -> SessionRecord {
    let dev = device_id(i);
    let devinfo: BTreeMap<String, String> = [
        ("DevId", dev.as_str()),
        (
            "Man",
            if i.is_multiple_of(2) {
                "Acme"
            } else {
                "Globex"
            },
        ),
        ("Mod", "Rocket-3"),
        ("DmV", "1.2"),
        ("Lang", "en-US"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let tv = |path: &str, v: &str| TreeValue {
        path: path.into(),
        format: Some("chr".into()),
        mime_type: Some("text/plain".into()),
        value: v.as_bytes().to_vec(),
        updated_at: at,
    };
    SessionRecord {
        device_id: dev.clone(),
        at,
        registry: RegistryUpdate {
            devinfo: Some(devinfo),
            last_contact: Some(at),
            last_addr: Some("127.0.0.1:40000".into()),
            last_session_id: Some(format!("{:X}", i % 0xffff)),
        },
        nonces: NonceUpdate {
            client: Some((at as u64).to_be_bytes().to_vec()),
            server: Some((i as u64).to_be_bytes().to_vec()),
        },
        tree_values: vec![
            tv("./DevDetail/SwV", "1.4.2"),
            tv("./DevDetail/FwV", "FW-2026.1"),
            tv("./DevDetail/HwV", "rev-B"),
        ],
        job_results: job_id
            .map(|job_id| JobResults {
                job_id,
                results: vec![CommandResult {
                    index: 0,
                    cmd_id: Some(3),
                    status: 200,
                    items: vec![ResultItem {
                        path: "./DevDetail/SwV".into(),
                        format: Some("chr".into()),
                        mime_type: None,
                        data: b"1.4.2".to_vec(),
                    }],
                    completed_at: at,
                    error: None,
                }],
                complete: Some(JobState::Done),
            })
            .into_iter()
            .collect(),
        events: if i.is_multiple_of(10) {
            vec![NewEvent {
                device_id: dev,
                at,
                alert_code: 1226,
                alert_type: Some("urn:oma:at:gwmo:1.0:deviceattached".into()),
                format: Some("chr".into()),
                mark: Some("informational".into()),
                source_uri: Some("./GwMO/DeviceInventory".into()),
                correlator: None,
                data: Some("attached".into()),
            }]
        } else {
            Vec::new()
        },
    }
}

fn report(what: &str, n: usize, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{what:<58} {n:>8} in {secs:>7.3} s = {:>9.0} /s   (RSS {:.0} MiB)",
        n as f64 / secs,
        rss_mib()
    );
}

async fn run() {
    let devices = env_usize("DMSTORE_BENCH_DEVICES", 100_000);
    let sessions = env_usize("DMSTORE_BENCH_SESSIONS", 20_000).min(devices);
    let tasks = env_usize("DMSTORE_BENCH_TASKS", 16).max(1);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("bench.db").display());
    let store = AnyStore::open(&url).await.unwrap();
    println!("dm-store SQLite bench: {devices} devices, {sessions} sessions, {tasks} tasks");

    // Accounts, from concurrent tasks (all writes go through the one writer connection).
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, next) = (store.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= devices {
                    break;
                }
                let mut a =
                    DeviceAccount::new(device_id(i), format!("dev{i}"), AuthType::Md5, "pw", T0);
                a.notify_addrs = vec![format!("udp:127.0.0.1:{}", 20000 + i % 1000)];
                store.create_device(&a).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    report("create_device (16 tasks)", devices, start);

    // One queued job per session device.
    let cmd = vec![JobCommand::on_paths(CommandKind::Get, ["./DevDetail/SwV"])];
    let start = Instant::now();
    for i in 0..sessions {
        store
            .create_job(&NewJob {
                device_id: device_id(i),
                commands: cmd.clone(),
                created_at: T0,
            })
            .await
            .unwrap();
    }
    report("create_job (sequential)", sessions, start);

    // Auth lookups (read pool).
    let start = Instant::now();
    for i in 0..sessions {
        let d = store
            .get_device_by_auth_name(&format!("dev{}", (i * 7919) % devices))
            .await
            .unwrap();
        assert!(d.is_some());
    }
    report("get_device_by_auth_name (sequential)", sessions, start);

    // Sessions without jobs, sequential: the pure record_session cost.
    let half = sessions / 2;
    let start = Instant::now();
    for i in 0..half {
        store
            .record_session(&record(i, None, T0 + 1))
            .await
            .unwrap();
    }
    report("record_session, no job (sequential)", half, start);

    // Full session from concurrent tasks: take the device's job, then record everything.
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, next) = (store.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= sessions {
                    break;
                }
                let jobs = store
                    .take_queued_jobs(&device_id(i), &format!("S{i}"), 8, T0 + 2)
                    .await
                    .unwrap();
                let job = jobs.first().map(|j| j.id);
                store.record_session(&record(i, job, T0 + 2)).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    report(
        &format!("take_queued_jobs + record_session ({tasks} tasks)"),
        sessions,
        start,
    );

    // record_session alone from concurrent tasks (the write path of a session).
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, next) = (store.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= sessions {
                    break;
                }
                store
                    .record_session(&record(i, None, T0 + 3))
                    .await
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    report(
        &format!("record_session, no job ({tasks} tasks)"),
        sessions,
        start,
    );

    let c = store.counts().await.unwrap();
    println!(
        "final: {} devices, {} jobs done, {} events; RSS {:.0} MiB; db file {:.1} MiB",
        c.devices,
        c.jobs_done,
        c.events,
        rss_mib(),
        std::fs::metadata(dir.path().join("bench.db")).map_or(0.0, |m| m.len() as f64 / 1048576.0)
    );
    store.close().await;
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}
