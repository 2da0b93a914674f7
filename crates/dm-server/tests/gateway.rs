//! The server side of the DM gateway (docs/gateway.md), against a scripted gateway: a real
//! `dm_proto::ClientSession` whose Fanout answers are scripted with gwmo's payload builders
//! (`tests/common/messages.rs`), over HTTP to a real server on loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::device::Device;
use common::messages::fanout_answer;
use common::{Running, account, config, job, start, temp_db};
use dm_proto::{GenericAlert, SessionEnd};
use gwmo::inventory::{Address, DevInfoSummary, Kind, Presence, Protocol};
use gwmo::mode::Mode;
use gwmo::payload::{DeviceReport, device_report_item, generic_alert, response_item};
use serde_json::{Value, json};
use syncml::{Command, Item, Location, Results, Status, StatusCode};

const GW: &str = "GW:1";

fn report(id: &str, mode: Mode, presence: Presence, addresses: Vec<Address>) -> DeviceReport {
    DeviceReport {
        id: id.into(),
        kind: Kind::EndDevice,
        mode,
        protocol: Protocol::OmaDm,
        addresses,
        dev_info: DevInfoSummary {
            man: "Acme".into(),
            model: "T1".into(),
            dm_v: "1.2".into(),
            lang: "en".into(),
        },
        presence,
    }
}

fn alert(correlator: Option<&str>, items: Vec<Item>) -> GenericAlert {
    GenericAlert::from_alert(&generic_alert("1", correlator.map(str::to_owned), items)).unwrap()
}

/// A server with the gateway's account (and `extra` accounts), and the gateway's device.
async fn setup(cfg: dm_server::Config) -> (Running, Device) {
    let s = start(cfg).await;
    let mut gw = account(GW, "gw1", "gw-pw");
    gw["server_auth_type"] = json!("md5");
    assert_eq!(s.post("/devices", gw).await.status(), 201);
    (s, Device::new(GW, "gw1", "gw-pw"))
}

/// An account (md5, server secret `server-secret`) for `id`.
async fn provision(s: &Running, id: &str, name: &str, password: &str) {
    assert_eq!(
        s.post("/devices", account(id, name, password))
            .await
            .status(),
        201
    );
}

/// `POST /devices/{id}/notify`, which must be accepted: its answer.
async fn notify(s: &Running, id: &str) -> Value {
    let r = s.post(&format!("/devices/{id}/notify"), json!({})).await;
    assert_eq!(r.status(), 202);
    r.json().await.unwrap()
}

async fn session(s: &Running, dev: &mut Device) {
    let out = dev.session(&s.http, &format!("{}/dm", s.url)).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
}

async fn json_of(s: &Running, path: &str) -> Value {
    let r = s.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// The gateway reports `reports` in one session.
async fn attach(s: &Running, gw: &mut Device, reports: &[DeviceReport]) {
    gw.pending_alert = Some(alert(
        None,
        reports.iter().map(device_report_item).collect(),
    ));
    session(s, gw).await;
}

async fn queue(s: &Running, device: &str, commands: Value) -> i64 {
    let r = s
        .post("/jobs", json!({"device_id": device, "commands": commands}))
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

fn status(cmd_ref: &str, cmd: &str, code: u16) -> Command {
    Command::Status(Status {
        cmd_id: "2".into(),
        msg_ref: String::new(),
        cmd_ref: cmd_ref.into(),
        cmd: cmd.into(),
        target_refs: vec![],
        source_refs: vec![],
        cred: None,
        chal: None,
        code: StatusCode(code),
        items: vec![],
    })
}

fn results(cmd_ref: &str, path: &str, value: &str) -> Command {
    Command::Results(Results {
        cmd_ref: cmd_ref.into(),
        items: vec![Item {
            source: Some(Location::uri(path)),
            meta: Some(syncml::Meta {
                format: Some("chr".into()),
                ..syncml::Meta::default()
            }),
            data: Some(value.into()),
            ..Item::default()
        }],
        ..Results::default()
    })
}

/// Seed 001 X.3, GwMO-DI-003/004: the gateway's deviceattached (1.0 and 1.1 type strings) and
/// devicedetached alerts are stored as links with history; unknown devices appear as
/// registry-only devices behind it; the sender becomes a gateway. An unauthenticated
/// sender's alerts count for nothing.
#[tokio::test]
async fn gwmo_di_004_attach_and_detach_alerts_become_links() {
    let (_dir, db) = temp_db();
    let (s, mut gw) = setup(config(&db)).await;
    let mut items: Vec<Item> = [
        report("IMEI:A", Mode::Proxy, Presence::Attached, vec![]),
        report(
            "IMEI:B",
            Mode::Transparent,
            Presence::Attached,
            vec![Address::Udp("10.0.0.2:2948".into())],
        ),
    ]
    .iter()
    .map(device_report_item)
    .collect();
    // The 1.0 registry string of deviceattached is accepted too.
    items[1].meta.as_mut().unwrap().r#type = Some("urn:oma:at:oma-gwmo:deviceattached:1.0".into());
    gw.pending_alert = Some(alert(None, items));
    session(&s, &mut gw).await;

    let gwv = json_of(&s, &format!("/devices/{GW}")).await;
    assert_eq!(gwv["kind"], "gateway", "{gwv}");
    let a = json_of(&s, "/devices/IMEI:A").await;
    assert_eq!(a["registry_only"], true, "{a}");
    assert_eq!(
        (a["auth_type"].clone(), a["auth_name"].clone()),
        (json!("none"), json!(""))
    );
    assert_eq!(a["link"]["gateway_id"], GW);
    assert_eq!(a["link"]["mode"], "proxy");
    assert_eq!(a["link"]["attached"], true);
    assert_eq!(a["devinfo"]["Mod"], "T1");
    let b = json_of(&s, "/devices/IMEI:B").await;
    assert_eq!(b["link"]["mode"], "transparent");
    assert_eq!(b["link"]["addresses"], json!(["udp:10.0.0.2:2948"]));
    let gws = json_of(&s, "/gateways").await;
    assert_eq!(gws["gateways"][0]["device_id"], GW);
    assert_eq!(gws["gateways"][0]["behind"]["total"], 2);
    assert_eq!(gws["gateways"][0]["behind"]["proxy"], 1);
    let behind = json_of(&s, &format!("/gateways/{GW}/devices")).await;
    assert_eq!(behind["devices"].as_array().unwrap().len(), 2);

    // Detached: the same link, now detached; the history has it once.
    attach(
        &s,
        &mut gw,
        &[report("IMEI:A", Mode::Proxy, Presence::Detached, vec![])],
    )
    .await;
    let a = json_of(&s, "/devices/IMEI:A").await;
    assert_eq!(a["link"]["attached"], false, "{a}");
    let links = json_of(&s, "/devices/IMEI:A/links").await;
    assert_eq!(links["links"].as_array().unwrap().len(), 1);
    assert_eq!(
        json_of(&s, &format!("/gateways/{GW}")).await["behind"]["detached"],
        1
    );

    // A registry-only device cannot open a session with the server.
    let mut fake = Device::new("IMEI:A", "IMEI:A", "");
    let out = fake.session(&s.http, &format!("{}/dm", s.url)).await;
    assert!(!out.authenticated, "{out:?}");

    // A sender that does not authenticate reports nothing.
    provision(&s, "GW:2", "gw2", "gw2-pw").await;
    let mut liar = Device::new("GW:2", "gw2", "not-the-password");
    liar.pending_alert = Some(alert(
        None,
        vec![device_report_item(&report(
            "IMEI:A",
            Mode::Proxy,
            Presence::Attached,
            vec![],
        ))],
    ));
    let out = liar.session(&s.http, &format!("{}/dm", s.url)).await;
    assert!(!out.authenticated);
    let a = json_of(&s, "/devices/IMEI:A").await;
    assert_eq!(a["link"]["gateway_id"], GW);
    assert_eq!(json_of(&s, "/devices/GW:2").await["kind"], "device");
}

/// A gateway with `device` behind it in Proxy mode, and a job for the device.
async fn proxy_setup(commands: Value) -> (tempfile::TempDir, Running, Device, i64) {
    let (dir, db) = temp_db();
    let (s, mut gw) = setup(config(&db)).await;
    attach(
        &s,
        &mut gw,
        &[report("IMEI:P", Mode::Proxy, Presence::Attached, vec![])],
    )
    .await;
    let id = queue(&s, "IMEI:P", commands).await;
    (dir, s, gw, id)
}

type Seen = Arc<Mutex<Vec<Command>>>;

/// Scripts the gateway: every Fanout Sequence is recorded and answered with `codes`, the
/// Exec's Status carrying `exec_items(op)`.
fn script(gw: &mut Device, codes: [u16; 4], exec_items: fn(&str) -> Vec<Item>) -> Seen {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    gw.responder = Some(Box::new(move |msg_id, cmd| {
        let Command::Sequence(seq) = cmd else {
            return None;
        };
        log.lock().unwrap().push(cmd.clone());
        let Some(Command::Exec(e)) = seq.commands.get(3) else {
            return None;
        };
        let op = e.correlator.clone().unwrap_or_default();
        fanout_answer(msg_id, cmd, codes, exec_items(&op))
    }));
    seen
}

fn get_replace_atomic() -> Value {
    json!([
        {"kind": "get", "items": [{"path": "./DevInfo/Mod"}]},
        {"kind": "replace", "items": [{"path": "./Vendor/Name", "value": "new", "format": "chr"}]},
        {"kind": "atomic", "children": [
            {"kind": "replace", "items": [{"path": "./Vendor/Other", "value": "x"}]},
            {"kind": "delete", "items": [{"path": "./Vendor/Gone"}]}
        ]}
    ])
}

/// The device's answer to `get_replace_atomic` (CmdIDs 1..5 in pre-order).
fn device_answer(op: &str) -> Vec<Item> {
    let fragment = vec![
        status("1", "Get", 200),
        results("1", "./DevInfo/Mod", "P-1"),
        status("2", "Replace", 200),
        status("3", "Atomic", 200),
        status("4", "Replace", 200),
        status("5", "Delete", 404),
    ];
    let aggregate = gwmo::fanout::Aggregate {
        op: op.to_owned(),
        targets: 2,
        answered: 2,
        timed_out: 0,
        failed: 0,
        unknown: 0,
        cancelled: 0,
        commands: vec![],
        exceptions: vec![],
        exceptions_omitted: 0,
        ..gwmo::fanout::Aggregate::default()
    };
    vec![
        // Another target's item, ours, and the aggregate: only ours counts.
        response_item(op, "IMEI:other", &[status("1", "Get", 500)]),
        response_item(op, "IMEI:P", &fragment),
        gwmo::payload::aggregation_item(&aggregate),
    ]
}

fn statuses(j: &Value) -> Vec<u64> {
    j["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

/// GwMO-PMode-001, seed 001 Y: a Proxy-mode device's job goes out in its gateway's session as
/// the Fanout Sequence of docs/gateway.md §5 (commands numbered 1..n in pre-order, the
/// device's own URIs); the Exec's 200 with the device's response completes the End Device's
/// job with per-command statuses and values, stored under the End Device.
#[tokio::test]
async fn gwmo_pmode_001_y_proxy_job_travels_as_fanout_and_completes() {
    let (_dir, s, mut gw, id) = proxy_setup(get_replace_atomic()).await;
    let seen = script(&mut gw, [200, 200, 200, 200], device_answer);
    session(&s, &mut gw).await;

    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one operation");
    let Command::Sequence(seq) = &sent[0] else {
        panic!()
    };
    let op = format!("j{id}");
    let base = format!("./GwMO/Fanout/Operations/{op}");
    let target = |c: &Command| match c {
        Command::Add(a) => a.items[0].target.clone().unwrap().loc_uri,
        Command::Exec(e) => e.items[0].target.clone().unwrap().loc_uri,
        _ => panic!(),
    };
    let uris: Vec<String> = seq.commands.iter().map(target).collect();
    assert_eq!(
        uris,
        [
            base.clone(),
            format!("{base}/Targets"),
            format!("{base}/Commands"),
            format!("{base}/Start")
        ]
    );
    let Command::Add(targets) = &seq.commands[1] else {
        panic!()
    };
    assert_eq!(
        targets.items[0].data.as_ref().unwrap().as_str(),
        Some("IMEI:P")
    );
    let Command::Add(cmds) = &seq.commands[2] else {
        panic!()
    };
    let fragment = gwmo::payload::decode_commands(
        cmds.items[0].data.as_ref().unwrap(),
        &syncml::Limits::default(),
    )
    .unwrap();
    let ids: Vec<&str> = fragment.iter().map(Command::cmd_id).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    let Command::Atomic(at) = &fragment[2] else {
        panic!()
    };
    assert_eq!(at.commands[1].cmd_id(), "5");
    let Command::Get(get) = &fragment[0] else {
        panic!()
    };
    assert_eq!(
        get.items[0].target.as_ref().unwrap().loc_uri,
        "./DevInfo/Mod"
    );
    let Command::Exec(exec) = &seq.commands[3] else {
        panic!()
    };
    assert_eq!(exec.correlator.as_deref(), Some(op.as_str()));

    let j = job(&s, id).await;
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(j["device_id"], "IMEI:P");
    assert_eq!(j["via_gateway"], GW);
    assert_eq!(statuses(&j), [200, 200, 200, 200, 404]);
    assert_eq!(j["results"][0]["items"][0]["data"], "P-1");
    let tree = json_of(&s, "/devices/IMEI:P/tree?prefix=./DevInfo").await;
    assert_eq!(tree["values"][0]["data"], "P-1", "{tree}");
    let gwtree = json_of(&s, &format!("/devices/{GW}/tree?prefix=./DevInfo/Mod")).await;
    assert!(gwtree["values"].as_array().unwrap().is_empty(), "{gwtree}");
}

/// Seed 001 Y': the Exec answers 202, the job stays `sent` (awaiting the gateway, not
/// re-sent by the next session, not re-queued by a restart); the `completionstatus` alert
/// with Correlator `j<id>` completes it. The same alert from another gateway is ignored.
#[tokio::test]
async fn gwmo_pmode_001_y_prime_accepted_then_completed_by_alert() {
    let (dir, s, mut gw, id) = proxy_setup(get_replace_atomic()).await;
    let seen = script(&mut gw, [200, 200, 200, 202], |_| Vec::new());
    session(&s, &mut gw).await;
    let j = job(&s, id).await;
    assert_eq!(j["state"], "sent", "{j}");
    assert!(j["awaiting_since"].as_i64().is_some(), "{j}");
    // A restart does not put it back in the queue, the next session does not re-send it.
    s.stop().await;
    let db = dir.path().join("dm.db");
    let s = start(config(&db)).await;
    session(&s, &mut gw).await;
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(job(&s, id).await["state"], "sent");

    let op = format!("j{id}");
    // Another (authenticated) gateway cannot complete it.
    provision(&s, "GW:2", "gw2", "gw2-pw").await;
    let mut other = Device::new("GW:2", "gw2", "gw2-pw");
    other.pending_alert = Some(alert(Some(&op), device_answer(&op)));
    session(&s, &mut other).await;
    assert_eq!(job(&s, id).await["state"], "sent");

    gw.pending_alert = Some(alert(Some(&op), device_answer(&op)));
    session(&s, &mut gw).await;
    let j = job(&s, id).await;
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(statuses(&j), [200, 200, 200, 200, 404]);
    assert_eq!(j["results"][0]["items"][0]["data"], "P-1");
    let tree = json_of(&s, "/devices/IMEI:P/tree?prefix=./DevInfo").await;
    assert_eq!(tree["values"][0]["data"], "P-1");
    // The alert is kept as the gateway's event too.
    let ev = json_of(&s, &format!("/devices/{GW}/events")).await;
    assert!(
        ev["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["correlator"] == op.as_str()),
        "{ev}"
    );
}

/// A job whose operation the gateway refused (4xx on an Add) fails with that status.
#[tokio::test]
async fn gwmo_pmode_001_refused_operation_fails_the_job() {
    let (_dir, s, mut gw, id) =
        proxy_setup(json!([{"kind": "get", "items": [{"path": "./DevInfo/Mod"}]}])).await;
    script(&mut gw, [200, 200, 405, 215], |_| Vec::new());
    session(&s, &mut gw).await;
    let j = job(&s, id).await;
    assert_eq!(j["state"], "failed", "{j}");
    assert_eq!(statuses(&j), [405]);
    let error = j["results"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("refused") && error.contains("405"),
        "{error}"
    );
}

/// An unknown target (404) or a device that never answered (504): the gateway's implied
/// Statuses for the top-level commands become the job's statuses, children of a container
/// included.
#[tokio::test]
async fn gwmo_pmode_001_unknown_and_timed_out_targets() {
    let (_dir, s, mut gw, id) = proxy_setup(get_replace_atomic()).await;
    script(&mut gw, [200, 200, 200, 200], |op| {
        vec![response_item(
            op,
            "IMEI:P",
            &[
                status("1", "Get", 504),
                status("2", "Replace", 504),
                status("3", "Atomic", 504),
            ],
        )]
    });
    session(&s, &mut gw).await;
    let j = job(&s, id).await;
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(statuses(&j), [504, 504, 504, 504, 504]);

    let id = queue(
        &s,
        "IMEI:P",
        json!([{"kind": "get", "items": [{"path": "./X"}]}]),
    )
    .await;
    script(&mut gw, [200, 200, 200, 200], |op| {
        vec![response_item(op, "IMEI:P", &[status("1", "Get", 404)])]
    });
    session(&s, &mut gw).await;
    assert_eq!(statuses(&job(&s, id).await), [404]);
}

/// An HTTP listener recording each POST's headers and body.
async fn http_sink() -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<(axum::http::HeaderMap, Vec<u8>)>,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(
        move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body.to_vec()));
                axum::http::StatusCode::ACCEPTED
            }
        },
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, rx)
}

/// A server with the gateway and `IMEI:T` (an account) behind it in Transparent mode, reported
/// at `address`.
async fn transparent_setup(cfg: dm_server::Config, address: Address) -> (Running, Device) {
    let (s, mut gw) = setup(cfg).await;
    provision(&s, "IMEI:T", "devt", "devt-pw").await;
    attach(
        &s,
        &mut gw,
        &[report(
            "IMEI:T",
            Mode::Transparent,
            Presence::Attached,
            vec![address],
        )],
    )
    .await;
    (s, gw)
}

/// GwMO-TMode-001, seed 001 Z': a Transparent-mode device's notification goes to its gateway
/// (HTTP here: `X-Oma-GwMO` and `X-Oma-GwMO-MAC` headers; UDP: the WSP push headers) with
/// the device's own Package 0 and a relay MAC the gateway verifies with its credentials; the
/// device's job stays queued for the device's own session.
#[tokio::test]
async fn gwmo_tmode_001_transparent_notification_carries_relay_headers() {
    let (_dir, db) = temp_db();
    let (sink, mut posts) = http_sink().await;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (s, mut gw) = transparent_setup(config(&db), Address::Udp("10.9.9.9:2948".into())).await;
    let r = s
        .patch(
            &format!("/devices/{GW}"),
            json!({"notify": [format!("http://{sink}/gwmo/notify")]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let id = queue(
        &s,
        "IMEI:T",
        json!([{"kind": "get", "items": [{"path": "./X"}]}]),
    )
    .await;
    let sent = notify(&s, "IMEI:T").await;
    assert_eq!(sent["route"], "transparent", "{sent}");
    assert_eq!(sent["gateway"], GW);
    let (headers, body) = posts.recv().await.unwrap();
    assert_eq!(headers["x-oma-gwmo"], "IMEI:T");
    let mac = headers["x-oma-gwmo-mac"].to_str().unwrap();
    // What the gateway recomputes: its SRVCRED for this server and the nonce it issued.
    let expected = syncml::notification::relay_mac(
        "test-dm-server",
        "server-secret",
        &gw.server_nonce,
        "IMEI:T",
        &body,
    );
    assert_eq!(mac, expected);
    // The body is the device's own Package 0 (its server secret and nonce, empty here).
    assert!(syncml::notification::verify(
        &body,
        "test-dm-server",
        "server-secret",
        b""
    ));

    // UDP: the same as WSP push headers.
    let r = s
        .patch(
            &format!("/devices/{GW}"),
            json!({"notify": [format!("udp:{}", udp.local_addr().unwrap())]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.post("/devices/IMEI:T/notify", json!({})).await.status(),
        202
    );
    let mut buf = vec![0u8; 2048];
    let n = udp.recv(&mut buf).await.unwrap();
    let push = syncml::notification::wsp::decode_push(&buf[..n]).unwrap();
    assert_eq!(push.gwmo_device(), Some("IMEI:T"));
    let mac = push
        .headers
        .iter()
        .find_map(|h| match h {
            syncml::notification::wsp::Header::Application { name, value }
                if name == "X-Oma-GwMO-MAC" =>
            {
                Some(value.clone())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(
        mac,
        syncml::notification::relay_mac(
            "test-dm-server",
            "server-secret",
            &gw.server_nonce,
            "IMEI:T",
            &push.body
        )
    );

    // The gateway's session does not carry the Transparent device's job.
    session(&s, &mut gw).await;
    assert_eq!(job(&s, id).await["state"], "queued");
    // Its own session does.
    let mut dev = Device::new("IMEI:T", "devt", "devt-pw");
    session(&s, &mut dev).await;
    assert_eq!(job(&s, id).await["state"], "done");
}

/// Seed 001 Z / B.1: with `transparent_direct = "any"` (loopback counts), the address the
/// gateway reported is notified directly, without relay headers.
#[tokio::test]
async fn gwmo_tmode_001_reported_address_is_notified_directly() {
    let (_dir, db) = temp_db();
    let mut cfg = config(&db);
    cfg.transparent_direct = dm_server::DirectPolicy::Any;
    let (sink, mut posts) = http_sink().await;
    let (s, _gw) = transparent_setup(cfg, Address::Http(format!("http://{sink}/p0"))).await;
    let sent = notify(&s, "IMEI:T").await;
    assert_eq!(sent["route"], "transparent-direct", "{sent}");
    assert_eq!(sent["address"], format!("http://{sink}/p0"));
    let (headers, body) = posts.recv().await.unwrap();
    assert!(headers.get("x-oma-gwmo").is_none());
    assert!(syncml::notification::verify(
        &body,
        "test-dm-server",
        "server-secret",
        b""
    ));
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A `POST /dm/wait` of the gateway: (HTTP status, headers, body).
async fn poll(
    s: &Running,
    body: &str,
    password: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mac = syncml::auth::HmacHeader::compute(
        "gw1",
        syncml::auth::Secret::Password(password),
        b"",
        body.as_bytes(),
    );
    let r = s
        .http
        .post(format!("{}/dm/wait", s.url))
        .header("x-syncml-hmac", mac.to_header_value())
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    let headers = r.headers().clone();
    (code, headers, r.bytes().await.unwrap().to_vec())
}

fn poll_body(secs: u64, random: &str) -> String {
    format!("{GW}\n{secs}\n{random}")
}

/// GwMO-HLF-001: a gateway without any inbound address keeps `POST /dm/wait` open; the
/// notification for it (here: for its Proxy-mode device) is the answer, a Package 0 under
/// its credentials; without a poll the server has no way to reach it (409).
#[tokio::test]
async fn gwmo_hlf_001_long_poll_delivers_the_notification() {
    let (_dir, s, mut gw, _id) =
        proxy_setup(json!([{"kind": "get", "items": [{"path": "./X"}]}])).await;
    assert_eq!(
        s.post("/devices/IMEI:P/notify", json!({})).await.status(),
        409
    );
    let s = Arc::new(s);
    let waiting = {
        let s = s.clone();
        tokio::spawn(async move {
            poll(
                &s,
                &poll_body(unix_now(), "00112233445566778899aabbccddeeff"),
                "gw-pw",
            )
            .await
        })
    };
    // The notification waits for the poll to be registered.
    let sent = loop {
        let r = s.post("/devices/IMEI:P/notify", json!({})).await;
        if r.status() == 202 {
            break r.json::<Value>().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(sent["route"], "proxy");
    assert_eq!(sent["address"], "long-poll");
    let (code, headers, body) = waiting.await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(
        headers["content-type"],
        "application/vnd.syncml.notification"
    );
    let (n, _) = syncml::notification::decode(&body).unwrap();
    assert_eq!(n.session_id_hex(), sent["session_id"].as_str().unwrap());
    assert!(syncml::notification::verify(
        &body,
        "test-dm-server",
        "server-secret",
        &gw.server_nonce
    ));
    // The session it asks for carries the job.
    script(&mut gw, [200, 200, 200, 202], |_| Vec::new());
    session(&s, &mut gw).await;
}

/// GwMO-HLF-001: a replayed poll, a stale timestamp, a wrong MAC or an unknown device are
/// refused; an accepted poll with nothing to say ends with 204 after the hold.
#[tokio::test]
async fn gwmo_hlf_001_replayed_stale_and_forged_polls_are_refused() {
    let (_dir, db) = temp_db();
    let mut cfg = config(&db);
    cfg.long_poll_hold_secs = 1;
    let (s, _gw) = setup(cfg).await;
    let body = poll_body(unix_now(), "0123456789abcdef0123456789abcdef");
    let (code, _, _) = poll(&s, &body, "gw-pw").await;
    assert_eq!(code, 204, "held, then nothing to deliver");
    assert_eq!(poll(&s, &body, "gw-pw").await.0, 401, "replayed");
    let stale = poll_body(unix_now() - 600, "1123456789abcdef0123456789abcdef");
    assert_eq!(poll(&s, &stale, "gw-pw").await.0, 401, "stale");
    let ahead = poll_body(unix_now() + 600, "2123456789abcdef0123456789abcdef");
    assert_eq!(poll(&s, &ahead, "gw-pw").await.0, 401, "from the future");
    let forged = poll_body(unix_now(), "3123456789abcdef0123456789abcdef");
    assert_eq!(poll(&s, &forged, "wrong").await.0, 401, "wrong MAC");
    let unknown = format!(
        "GW:nobody\n{}\n4123456789abcdef0123456789abcdef",
        unix_now()
    );
    assert_eq!(poll(&s, &unknown, "gw-pw").await.0, 401, "unknown device");
    assert_eq!(poll(&s, "garbage", "gw-pw").await.0, 400);
    // A forged poll left nothing behind: the genuine one with the same body is accepted.
    assert_eq!(poll(&s, &forged, "gw-pw").await.0, 204);
}
