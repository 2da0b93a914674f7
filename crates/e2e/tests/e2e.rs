//! Issue 3 item 6 through the real binaries on loopback: `dm-server` (SQLite, and PostgreSQL
//! when `DMSTORE_PG_URL` is set), `dm-client`, REST-queued jobs; and issue 7's server-side
//! routing through a real `dm-gateway` (Proxy mode, the long-poll channel), driven by
//! `dmctl`. Each scenario runs once per backend (`<scenario>::sqlite`, `<scenario>::postgres`).

// Test code: helpers outside #[test] functions may unwrap and index too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::time::Duration;

use harness::{
    Backend, Client, ClientOpts, Device, GATEWAY_SOUTH_ID, Gateway, GatewayOpts, SERVER_ID, Server,
    client_config, client_once, dmctl, free_tcp, free_udp, statuses,
};
use serde_json::{Value, json};

/// PostgreSQL variants share one database: one at a time.
static PG_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(b) = Backend::postgres(stringify!($scenario)) {
                    let _one_at_a_time = PG_LOCK.lock().await;
                    super::$scenario(b).await;
                }
            }
        }
    };
}

fn item(path: &str) -> Value {
    json!({"path": path})
}

fn value(path: &str, v: &str) -> Value {
    json!({"path": path, "value": v, "format": "chr"})
}

fn result_data(job: &Value, index: usize) -> Option<String> {
    job["results"]
        .as_array()?
        .iter()
        .find(|r| r["index"] == index)?["items"]
        .get(0)?["data"]
        .as_str()
        .map(str::to_owned)
}

fn status_at(job: &Value, index: usize) -> Option<u64> {
    job["results"]
        .as_array()?
        .iter()
        .find(|r| r["index"] == index)?["status"]
        .as_u64()
}

/// DM-level: every command type from a REST job in a client-initiated session; an Atomic whose
/// second command fails is rolled back (seen from the server: 507 and 216, old value kept).
async fn client_session_every_command_type(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&backend, dir.path(), "127.0.0.1:0");
    let dev = Device::new("cmds");
    server.add_device(&dev, None).await;
    let exec_out = dir.path().join("exec.out");
    let opts = ClientOpts {
        exec: vec![(
            "./Ext/Echo".into(),
            format!(
                "printf 'echo:%s' \"$DM_EXEC_DATA\" | tee {}",
                exec_out.display()
            ),
        )],
        ..ClientOpts::default()
    };
    let cfg = client_config(dir.path(), &server.dm_url(), &dev, &opts);
    let leaf = "./Ext/E2E/Leaf";
    let job = server
        .queue_job(
            &dev.id,
            json!([
                {"kind": "add", "items": [{"path": "./Ext/E2E", "format": "node"}]},  // 0
                // The root ACL grants no Delete: give it on the new subtree.
                {"kind": "replace", "items": [value("./Ext/E2E?prop=ACL",
                    "Add=*&Delete=*&Get=*&Replace=*")]},                               // 1
                {"kind": "add", "items": [value(leaf, "v1")]},                         // 2
                {"kind": "replace", "items": [value(leaf, "v2")]},                     // 3
                {"kind": "get", "items": [item(leaf)]},                                // 4
                {"kind": "copy", "items": [{"path": leaf, "target": "./Ext/E2E/Copy"}]}, // 5
                {"kind": "get", "items": [item("./Ext/E2E/Copy")]},                    // 6
                {"kind": "delete", "items": [item("./Ext/E2E/Copy")]},                 // 7
                {"kind": "exec", "items": [{"path": "./Ext/Echo", "value": "hi"}]},    // 8
                {"kind": "sequence", "children": [                                     // 9
                    {"kind": "get", "items": [item("./DevInfo/DevId")]}                // 10
                ]},
                {"kind": "atomic", "children": [                                       // 11
                    {"kind": "replace", "items": [value(leaf, "v3")]},                 // 12
                    {"kind": "replace", "items": [value("./DevInfo/Man", "evil")]}     // 13
                ]},
                {"kind": "get", "items": [item(leaf)]},                                // 14
                {"kind": "get", "items": [item("./Ext/E2E/Copy")]}                     // 15
            ]),
        )
        .await;
    let (ok, log) = client_once(&cfg).await;
    assert!(ok, "dm-client --once failed: {log}");
    let j = server.wait_job(job, "done").await;
    assert_eq!(j["state"], "done", "{j}");
    for i in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14] {
        assert_eq!(status_at(&j, i), Some(200), "command {i}: {j}");
    }
    assert_eq!(result_data(&j, 4).as_deref(), Some("v2"));
    assert_eq!(
        result_data(&j, 6).as_deref(),
        Some("v2"),
        "copy carried the value"
    );
    assert_eq!(result_data(&j, 10).as_deref(), Some(dev.id.as_str()));
    // The Exec ran the configured command with the Exec's data.
    assert_eq!(std::fs::read_to_string(&exec_out).unwrap(), "echo:hi");
    // Atomic rollback seen from the server.
    assert_eq!(status_at(&j, 11), Some(507), "{j}");
    assert_eq!(status_at(&j, 12), Some(216), "{j}");
    assert_eq!(status_at(&j, 13), Some(405), "{j}");
    assert_eq!(
        result_data(&j, 14).as_deref(),
        Some("v2"),
        "atomic rolled back"
    );
    assert_eq!(status_at(&j, 15), Some(404), "deleted node is gone");
    // The device registry has the DevInfo the client sent.
    let (code, d) = server
        .api("GET", &format!("/devices/{}", dev.id), None)
        .await;
    assert_eq!(code, 200);
    assert_eq!(d["devinfo"]["DevId"], dev.id.as_str(), "{d}");
}
on_both_backends!(client_session_every_command_type);

/// DM-1: Package 0 over UDP (WSP push) and over HTTP starts a server-initiated session that
/// runs the queued job; a Package 0 with a wrong digest is ignored and logged.
async fn notification_sessions_udp_and_http(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&backend, dir.path(), "127.0.0.1:0");
    for via_udp in [true, false] {
        let dev = Device::new(if via_udp { "udp" } else { "http" });
        let (udp, http) = (free_udp(), free_tcp());
        let notify = if via_udp {
            format!("udp:{udp}")
        } else {
            format!("http://{http}/")
        };
        server.add_device(&dev, Some(&notify)).await;
        let opts = ClientOpts {
            udp: Some(udp),
            http: Some(http),
            session_on_start: true,
            ..ClientOpts::default()
        };
        let cfg = client_config(dir.path(), &server.dm_url(), &dev, &opts);
        let client = Client::start(&cfg);
        assert!(
            client.wait_log("session finished").await,
            "{}",
            client.log_text()
        );

        // A forged notification (wrong server password) is ignored.
        let forged = syncml::notification::Notification::new(SERVER_ID, 0x77)
            .encode("forged", b"")
            .unwrap();
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let push = syncml::notification::wsp::encode_push(1, &forged, &[]).unwrap();
        sock.send_to(&push, udp).await.unwrap();
        assert!(
            client.wait_log("wrong digest").await,
            "{}",
            client.log_text()
        );

        let job = server
            .queue_job(
                &dev.id,
                json!([{"kind": "get", "items": [item("./DevInfo/Mod")]}]),
            )
            .await;
        let (code, n) = server
            .api("POST", &format!("/devices/{}/notify", dev.id), None)
            .await;
        assert_eq!(code, 202, "{n}");
        let j = server.wait_job(job, "done").await;
        assert_eq!(
            statuses(&j),
            [200],
            "via {notify}: {j}\n{}",
            client.log_text()
        );
        assert!(client.log_text().contains("server-initiated session"));
        let sid = n["session_id"].as_str().unwrap();
        // The server stores the results before the device has read the last response and
        // logged the end of its session: wait for that line rather than race it.
        assert!(
            client.wait_log(&format!("session={sid}")).await,
            "{}",
            client.log_text()
        );
    }
}
on_both_backends!(notification_sessions_udp_and_http);

/// WBXML session with a large object each way: a Replace bigger than the device's MaxMsgSize
/// (server -> device, chunked by the server) and its Get back (device -> server, chunked by the
/// device toward the server's MaxMsgSize).
async fn wbxml_session_with_large_objects(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&backend, dir.path(), "127.0.0.1:0");
    let dev = Device::new("wbxml");
    server.add_device(&dev, None).await;
    let opts = ClientOpts {
        wbxml: true,
        ..ClientOpts::default()
    };
    let cfg = client_config(dir.path(), &server.dm_url(), &dev, &opts);
    let big: String = (0..150_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let job = server
        .queue_job(
            &dev.id,
            json!([
                {"kind": "add", "items": [value("./Ext/Big", &big)]},
                {"kind": "get", "items": [item("./Ext/Big")]}
            ]),
        )
        .await;
    let (ok, log) = client_once(&cfg).await;
    assert!(ok, "{log}");
    let j = server.wait_job(job, "done").await;
    assert_eq!(
        statuses(&j),
        [200, 200],
        "{}",
        &j.to_string()[..500.min(j.to_string().len())]
    );
    assert_eq!(result_data(&j, 1).map(|d| d.len()), Some(big.len()));
    assert!(result_data(&j, 1).unwrap() == big);
}
on_both_backends!(wbxml_session_with_large_objects);

/// A device with a wrong password is rejected (no job runs) and the server logs it.
async fn wrong_device_password_rejected(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&backend, dir.path(), "127.0.0.1:0");
    let dev = Device::new("badpw");
    server.add_device(&dev, None).await;
    let job = server
        .queue_job(
            &dev.id,
            json!([{"kind": "get", "items": [item("./DevInfo/Mod")]}]),
        )
        .await;
    let opts = ClientOpts {
        wrong_secret: true,
        ..ClientOpts::default()
    };
    let cfg = client_config(dir.path(), &server.dm_url(), &dev, &opts);
    let (ok, log) = client_once(&cfg).await;
    assert!(!ok, "a wrong password must fail the session: {log}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.job(job).await["state"], "queued");
    let slog = server.log_text();
    assert!(
        slog.contains("failed to authenticate"),
        "server log: {slog}"
    );
}
on_both_backends!(wrong_device_password_rejected);

/// A client given a wrong server password refuses the server's commands: nothing is executed.
async fn wrong_server_password_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&backend, dir.path(), "127.0.0.1:0");
    let dev = Device::new("badsrv");
    server.add_device(&dev, None).await;
    let job = server
        .queue_job(
            &dev.id,
            json!([{"kind": "add", "items": [value("./Ext/Pwned", "x")]}]),
        )
        .await;
    let opts = ClientOpts {
        wrong_server_secret: true,
        ..ClientOpts::default()
    };
    let cfg = client_config(dir.path(), &server.dm_url(), &dev, &opts);
    let (ok, log) = client_once(&cfg).await;
    assert!(!ok, "{log}");
    let j = server.job(job).await;
    assert!(
        statuses(&j).iter().all(|s| *s == 401 || *s == 407),
        "the command must not have been executed: {j}"
    );
    // Check the device tree: run a session with the right password and Get the node.
    let good = client_config(dir.path(), &server.dm_url(), &dev, &ClientOpts::default());
    let probe = server
        .queue_job(
            &dev.id,
            json!([{"kind": "get", "items": [item("./Ext/Pwned")]}]),
        )
        .await;
    let (ok, log) = client_once(&good).await;
    assert!(ok, "{log}");
    let p = server.wait_job(probe, "done").await;
    assert_eq!(status_at(&p, 0), Some(404), "{p}");
}
on_both_backends!(wrong_server_password_refused);

/// A malformed body gets HTTP 400 and the server keeps serving.
async fn malformed_body_400(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&backend, dir.path(), "127.0.0.1:0");
    let http = reqwest::Client::new();
    for (ct, body) in [
        (syncml::CONTENT_TYPE_XML, b"<SyncML><SyncHdr>".to_vec()),
        (
            syncml::CONTENT_TYPE_WBXML,
            vec![0x03, 0xff, 0xff, 0xff, 0xff, 0x01],
        ),
    ] {
        let r = http
            .post(server.dm_url())
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
    }
    let dev = Device::new("after400");
    server.add_device(&dev, None).await;
    let cfg = client_config(dir.path(), &server.dm_url(), &dev, &ClientOpts::default());
    let (ok, log) = client_once(&cfg).await;
    assert!(ok, "{log}");
}
on_both_backends!(malformed_body_400);

/// Killing and restarting the server loses no queued job, and a job sent but not answered
/// (the server died while the device executed it) is sent again in the next session.
async fn restart_keeps_jobs_and_resends(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&backend, dir.path(), "127.0.0.1:0");
    let dev = Device::new("restart");
    server.add_device(&dev, None).await;
    let opts = ClientOpts {
        exec: vec![("./Ext/Slow".into(), "sleep 2; echo slow".into())],
        ..ClientOpts::default()
    };
    let cfg = client_config(dir.path(), &server.dm_url(), &dev, &opts);

    // 1. queued, server killed before the device came: still there afterwards.
    let queued = server
        .queue_job(
            &dev.id,
            json!([{"kind": "get", "items": [item("./DevInfo/DmV")]}]),
        )
        .await;
    server.restart();
    let (ok, log) = client_once(&cfg).await;
    assert!(ok, "{log}");
    assert_eq!(statuses(&server.wait_job(queued, "done").await), [200]);

    // 2. sent, not answered: the server dies while the device runs the slow Exec.
    let slow = server
        .queue_job(
            &dev.id,
            json!([{"kind": "exec", "items": [item("./Ext/Slow")]}]),
        )
        .await;
    let cfg2 = cfg.clone();
    let first = tokio::spawn(async move { client_once(&cfg2).await });
    let j = server.wait_job(slow, "sent").await;
    assert_eq!(j["state"], "sent", "{j}");
    server.restart();
    let (ok, _) = first.await.unwrap();
    assert!(!ok, "the session whose server died must fail");
    let (ok, log) = client_once(&cfg).await;
    assert!(ok, "{log}");
    let j = server.wait_job(slow, "done").await;
    assert_eq!(statuses(&j), [200], "{j}");
    assert!(j["attempts"].as_u64().unwrap() >= 2, "{j}");
}
on_both_backends!(restart_keeps_jobs_and_resends);

/// `dm-sim` provisions its devices, queues jobs and runs sessions against the real server.
async fn simulator_runs_full_sessions(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&backend, dir.path(), "127.0.0.1:0");
    let prefix = harness::unique("sim");
    let out = tokio::process::Command::new(harness::bin("dm-sim"))
        .args([
            "--server",
            &server.url,
            "--devices",
            "4",
            "--sessions",
            "2",
            "--concurrency",
            "3",
        ])
        .args([
            "--api-token",
            harness::TOKEN,
            "--job",
            "--json",
            "--prefix",
            &prefix,
        ])
        .args(["--server-id", SERVER_ID])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["sessions"], 8);
    assert_eq!(v["failures"], 0);
    assert_eq!(v["jobs_queued"], 8);
    assert!(v["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    let (code, jobs) = server
        .api(
            "GET",
            &format!("/jobs?device_id={prefix}-0&state=done"),
            None,
        )
        .await;
    assert_eq!(code, 200);
    let jobs = jobs["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert_eq!(statuses(&jobs[0]), [200, 200]);
}
on_both_backends!(simulator_runs_full_sessions);

/// Seed 001 Y, GwMO-PMode-001 through the real binaries: `dm-server`, `dm-gateway` and a
/// `dm-client` in Proxy mode behind it (its DM server is the gateway's southbound endpoint).
/// The gateway reports the device (X.2, X.3); `dmctl get DEVICE ./DevInfo/Mod --wait`
/// notifies the gateway, the job travels as a Fanout operation and the device's value comes
/// back, stored under the End Device; `dmctl devices` shows it behind the gateway in Proxy
/// mode. With `long_poll` the gateway has no inbound address at all and is notified on its
/// `POST /dm/wait` long-poll (GwMO-HLF-001).
async fn proxied_get_through_the_gateway(backend: Backend, long_poll: bool) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&backend, dir.path(), "127.0.0.1:0");
    let gw = Device::new("GW");
    let north = (!long_poll).then(free_udp);
    server
        .add_device(&gw, north.map(|a| format!("udp:{a}")).as_deref())
        .await;
    let dev = Device::new("IMEI");
    let dev_udp = free_udp();
    let gateway = Gateway::start(
        dir.path(),
        &server,
        &gw,
        &GatewayOpts {
            north_udp: north,
            long_poll,
            devices: vec![(dev.clone(), dev_udp)],
        },
    );
    let opts = ClientOpts {
        udp: Some(dev_udp),
        session_on_start: true,
        server_id: Some(GATEWAY_SOUTH_ID.to_owned()),
        model: Some("Proxied-1".to_owned()),
        ..ClientOpts::default()
    };
    let cfg = client_config(dir.path(), &gateway.south_dm_url, &dev, &opts);
    let client = Client::start(&cfg);

    // X.1-X.3: the device registers with the gateway, the gateway reports it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, d) = server
            .api("GET", &format!("/devices/{}", dev.id), None)
            .await;
        if code == 200 && d["link"]["gateway_id"] == gw.id.as_str() {
            assert_eq!(d["link"]["mode"], "proxy", "{d}");
            assert_eq!(d["registry_only"], true, "{d}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway never reported the device: {d}\ngateway: {}\nclient: {}",
            gateway.log_text(),
            client.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (ok, out, err) = dmctl(
        &server,
        &["get", &dev.id, "./DevInfo/Mod", "--wait", "--timeout", "60"],
    )
    .await;
    assert!(
        ok,
        "dmctl: {err}\n{out}\ngateway: {}\nclient: {}\nserver: {}",
        gateway.log_text(),
        client.log_text(),
        server.log_text()
    );
    assert!(out.contains("./DevInfo/Mod (chr): Proxied-1"), "{out}");

    // The job is the End Device's, carried by the gateway.
    let (code, jobs) = server
        .api("GET", &format!("/jobs?device_id={}", dev.id), None)
        .await;
    assert_eq!(code, 200);
    let j = &jobs["jobs"][0];
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(j["via_gateway"], gw.id.as_str());
    assert_eq!(result_data(j, 0).as_deref(), Some("Proxied-1"));
    let (code, gwjobs) = server
        .api("GET", &format!("/jobs?device_id={}", gw.id), None)
        .await;
    assert_eq!(code, 200);
    assert!(gwjobs["jobs"].as_array().unwrap().is_empty(), "{gwjobs}");

    let (ok, table, err) = dmctl(&server, &["devices", "--gateway", &gw.id]).await;
    assert!(ok, "{err}");
    let row = table
        .lines()
        .find(|l| l.starts_with(&dev.id))
        .unwrap_or_else(|| panic!("{table}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[1..4], ["device", gw.id.as_str(), "proxy"], "{table}");
    let (ok, inv, err) = dmctl(&server, &["gateway", "inventory", &gw.id]).await;
    assert!(ok, "{err}");
    assert!(inv.contains("total 1, attached 1"), "{inv}");
}

async fn proxied_get_through_a_notified_gateway(backend: Backend) {
    proxied_get_through_the_gateway(backend, false).await;
}
on_both_backends!(proxied_get_through_a_notified_gateway);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gwmo_hlf_001_proxied_get_through_a_long_polling_gateway() {
    proxied_get_through_the_gateway(Backend::Sqlite, true).await;
}
