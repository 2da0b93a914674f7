//! Quick in-process load check of the DM hot path (not the benchmark: `dm-sim` is).
//!
//! `cargo run --release -p dm-server --example session_load -- [DEVICES] [SESSIONS] [CONCURRENCY]`
//!
//! Starts a server on 127.0.0.1:0 with a temporary SQLite file, provisions DEVICES accounts
//! (MD5), then runs SESSIONS client-initiated sessions, each with one queued job (Get +
//! Replace), CONCURRENCY at a time, and prints sessions/s and latency percentiles.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dm_proto::{
    AuthScheme, ClientConfig, ClientEvent, ClientSession, Credentials, Initiator, StoredSecret,
    Timestamp,
};
use dm_tree::mo::devinfo::{self, DevInfo};
use dm_tree::{Acl, ExecContext, NewNode, Tree};
use rand::RngCore as _;
use serde_json::json;

fn now() -> Timestamp {
    Timestamp::from_duration(SystemTime::now().duration_since(UNIX_EPOCH).unwrap())
}

struct Dev {
    id: String,
    tree: Tree,
    client_nonce: Vec<u8>,
    server_nonce: Vec<u8>,
    sid: u16,
}

fn tree(id: &str) -> Tree {
    let mut tree =
        Tree::with_root_acl(Acl::parse("Add=*&Delete=*&Exec=*&Get=*&Replace=*").unwrap());
    let info = DevInfo {
        dev_id: id.to_owned(),
        man: "Acme".into(),
        model: "Gw-1".into(),
        dm_v: "1.2".into(),
        lang: "en".into(),
    };
    devinfo::install(&mut tree, &info, dm_tree::Timestamp(0)).unwrap();
    tree.insert("./Vendor", NewNode::interior(), dm_tree::Timestamp(0))
        .unwrap();
    tree.insert("./Vendor/Name", NewNode::leaf("x"), dm_tree::Timestamp(0))
        .unwrap();
    tree
}

async fn session(http: &reqwest::Client, url: &str, d: &mut Dev) -> bool {
    let mut c = ClientConfig::new(url, d.id.clone());
    c.credentials = Some(Credentials {
        scheme: AuthScheme::Md5,
        name: d.id.clone(),
        secret: StoredSecret::Password("pw".into()),
        nonce: d.client_nonce.clone(),
    });
    c.server_credentials = Some(Credentials {
        scheme: AuthScheme::Md5,
        name: "load-server".into(),
        secret: StoredSecret::Password("srv".into()),
        nonce: d.server_nonce.clone(),
    });
    d.sid = d.sid.wrapping_add(1).max(1);
    let nonces = Box::new(|b: &mut [u8]| rand::rng().fill_bytes(b));
    let mut s = ClientSession::new(
        c,
        Initiator::Client,
        d.sid,
        devinfo::items(&d.tree),
        nonces,
        now(),
    );
    let mut done = 0;
    while let Some(t) = s.poll_transmit(now()) {
        let resp = http
            .post(t.url.unwrap())
            .header("content-type", t.content_type)
            .body(t.bytes)
            .send()
            .await
            .unwrap();
        if resp.status() != 200 {
            return false;
        }
        let body = resp.bytes().await.unwrap();
        if s.handle_bytes(now(), &body, None).is_err() {
            return false;
        }
        while let Some(ev) = s.poll_event() {
            match ev {
                ClientEvent::Commands { msg_id, commands } => {
                    let ctx = ExecContext {
                        server_id: "load-server",
                        msg_id: &msg_id,
                        now: dm_tree::Timestamp(0),
                    };
                    let mut out = Vec::new();
                    for c in &commands {
                        out.extend(d.tree.execute(&ctx, c));
                    }
                    done += commands.len();
                    s.respond(out).unwrap();
                }
                ClientEvent::NonceReceived(n) => d.client_nonce = n,
                ClientEvent::NonceIssued(n) => d.server_nonce = n,
                _ => {}
            }
        }
    }
    done == 2
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let devices = args.first().copied().unwrap_or(200);
    let sessions = args.get(1).copied().unwrap_or(4000);
    let concurrency = args.get(2).copied().unwrap_or(64);
    let dir = tempfile::tempdir().unwrap();
    let config = dm_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db: format!("sqlite:{}", dir.path().join("load.db").display()),
        api_token: "t".into(),
        server_id: "load-server".into(),
        ..dm_server::Config::default()
    };
    let server = dm_server::Server::bind(config).await.unwrap();
    let base = server.url();
    tokio::spawn(server.serve(std::future::pending()));
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(1024)
        .build()
        .unwrap();
    for i in 0..devices {
        let r = http
            .post(format!("{base}/api/v1/devices"))
            .bearer_auth("t")
            .json(&json!({"device_id": format!("dev{i}"), "auth_secret": "pw", "server_secret": "srv"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // PRECREATE=1: one job per device queued before the clock starts (run SESSIONS = DEVICES).
    let precreate = std::env::var_os("PRECREATE").is_some();
    if precreate {
        for i in 0..devices {
            let job = json!({"device_id": format!("dev{i}"), "commands": [
                {"kind": "get", "items": [{"path": "./DevInfo/Mod"}]},
                {"kind": "replace", "items": [{"path": "./Vendor/Name", "value": "v"}]}]});
            let r = http
                .post(format!("{base}/api/v1/jobs"))
                .bearer_auth("t")
                .json(&job)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    }
    let url = format!("{base}/dm");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let lat = Arc::new(std::sync::Mutex::new(Vec::with_capacity(sessions)));
    let fails = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (http, url, base, next, lat, fails) = (
            http.clone(),
            url.clone(),
            base.clone(),
            next.clone(),
            lat.clone(),
            fails.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Each worker owns a disjoint set of devices.
            let mut devs: Vec<Dev> = (w..devices)
                .step_by(concurrency)
                .map(|i| Dev {
                    id: format!("dev{i}"),
                    tree: tree(&format!("dev{i}")),
                    client_nonce: vec![],
                    server_nonce: vec![],
                    sid: 0,
                })
                .collect();
            if devs.is_empty() {
                return;
            }
            let mut k = 0;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= sessions {
                    break;
                }
                let len = devs.len();
                let d = &mut devs[k % len];
                k += 1;
                let job = json!({"device_id": d.id, "commands": [
                    {"kind": "get", "items": [{"path": "./DevInfo/Mod"}]},
                    {"kind": "replace", "items": [{"path": "./Vendor/Name", "value": "v"}]}]});
                if !precreate {
                    let r = http
                        .post(format!("{base}/api/v1/jobs"))
                        .bearer_auth("t")
                        .json(&job)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 201);
                }
                let t0 = Instant::now();
                let ok = session(&http, &url, d).await;
                let dt = t0.elapsed();
                if !ok {
                    fails.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                lat.lock().unwrap().push(dt);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = start.elapsed();
    let mut l = lat.lock().unwrap().clone();
    l.sort();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    println!(
        "{} sessions in {:.2}s: {:.0} sessions/s (incl. job creation), failures {}, p50 {:?} p99 {:?} max {:?}",
        l.len(),
        total.as_secs_f64(),
        l.len() as f64 / total.as_secs_f64(),
        fails.load(std::sync::atomic::Ordering::Relaxed),
        pct(0.5),
        pct(0.99),
        l.last().copied().unwrap_or(Duration::ZERO)
    );
}
