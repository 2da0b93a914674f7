//! The gateway binary keeps its inventory and its pending proxy work across a kill -9
//! (issue 7 item 7; GwMO-DI-001/002, GwMO-PMode-001, seed 001 Y'): a Fanout operation for a
//! Proxy-mode device that is offline is answered 202 (asynchronous), the gateway is killed with
//! SIGKILL and started again on the same state file, the device comes online, and the
//! operation's outcome reaches the DM server as a `completionstatus` Generic Alert with the
//! Exec's correlator. The inventory (the device registered before the kill) is still there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TOKEN: &str = "t0ken";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and waits for its `southbound on` line.
fn start_gateway(config: &std::path::Path) -> Gateway {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dm-gateway"))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let line = lines.next().unwrap().unwrap();
    assert!(line.starts_with("southbound on"), "{line}");
    std::thread::spawn(move || for _ in lines {});
    Gateway(child)
}

async fn api(
    http: &reqwest::Client,
    server: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = http
        .request(method, format!("{server}/api/v1{path}"))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn wait_job(
    http: &reqwest::Client,
    server: &str,
    id: i64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = api(
            http,
            server,
            reqwest::Method::GET,
            &format!("/jobs/{id}"),
            None,
        )
        .await;
        if done(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} never finished: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_proxy_work_and_inventory_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // The DM server, in process.
    let server = dm_server::Server::bind(dm_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        db: format!("sqlite:{}", dir.path().join("dm.db").display()),
        api_token: TOKEN.into(),
        server_id: "dmserver".into(),
        ..dm_server::Config::default()
    })
    .await
    .unwrap();
    let server_url = server.url();
    tokio::spawn(server.serve(std::future::pending()));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let gw_udp = free_udp_port();
    api(&http, &server_url, reqwest::Method::POST, "/devices", Some(json!({
        "device_id": "GW:dur", "auth_type": "md5", "auth_secret": "gw-secret",
        "server_auth_type": "md5", "server_secret": "srv-secret", "notify": format!("udp:127.0.0.1:{gw_udp}")
    }))).await;

    // The gateway; the device's notification port has nothing behind it yet.
    let south: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let dev_udp = free_udp_port();
    let config = dir.path().join("gw.toml");
    std::fs::write(
        &config,
        format!(
            r#"
device_id = "GW:dur"
db = "{db}"
[[servers]]
url = "{server_url}/dm"
server_id = "dmserver"
client_auth = {{ type = "md5", name = "GW:dur", secret = "gw-secret" }}
server_auth = {{ type = "md5", secret = "srv-secret" }}
[northbound]
udp = "127.0.0.1:{gw_udp}"
[southbound]
listen = "{south}"
[[devices]]
id = "IMEI:dur"
client_auth = {{ type = "md5", name = "IMEI:dur", secret = "dev-secret" }}
server_secret = "gw-dev-secret"
notify = "udp:127.0.0.1:{dev_udp}"
"#,
            db = dir.path().join("gw.db").display()
        ),
    )
    .unwrap();
    let device_config = dm_client::Config::from_toml(&format!(
        r#"
server_url = "http://{south}/dm"
server_id = "dmgateway"
device_id = "IMEI:dur"
tree_file = "{tree}"
[client_auth]
type = "md5"
name = "IMEI:dur"
secret = "dev-secret"
[server_auth]
type = "md5"
secret = "gw-dev-secret"
[listen]
udp = "127.0.0.1:{dev_udp}"
[device]
model = "Durable-1"
"#,
        tree = dir.path().join("dev.bin").display()
    ))
    .unwrap();

    let gw = start_gateway(&config);
    // The device registers (implicitly, Proxy mode) with one session, then goes offline.
    {
        let mut once = device_config.clone();
        once.listen.udp = None;
        let mut agent = dm_client::Agent::new(once).await.unwrap();
        assert!(
            agent
                .run_session(dm_client::Trigger::Client)
                .await
                .unwrap()
                .completed()
        );
    }

    // The server asks the gateway for a Fanout operation on the (offline) device.
    let fragment =
        "<Get><CmdID>1</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI></Target></Item></Get>";
    let op = "./GwMO/Fanout/Operations/d1";
    let job = api(&http, &server_url, reqwest::Method::POST, "/jobs", Some(json!({
        "device_id": "GW:dur",
        "commands": [{"kind": "sequence", "children": [
            {"kind": "add", "items": [{"path": op, "format": "node"}]},
            {"kind": "add", "items": [{"path": format!("{op}/Targets"), "value": "IMEI:dur"}]},
            {"kind": "add", "items": [{"path": format!("{op}/Commands"), "format": "xml", "value": fragment}]},
            {"kind": "replace", "items": [{"path": format!("{op}/WaitSeconds"), "format": "int", "value": "1"}]},
            {"kind": "exec", "items": [{"path": format!("{op}/Start")}]}
        ]}]
    }))).await;
    let job_id = job["id"].as_i64().unwrap();
    api(
        &http,
        &server_url,
        reqwest::Method::POST,
        "/devices/GW:dur/notify",
        Some(json!({})),
    )
    .await;
    let job = wait_job(&http, &server_url, job_id, |j| j["state"] == "done").await;
    let statuses: Vec<i64> = job["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(
        statuses.last(),
        Some(&202),
        "the device is offline: asynchronous answer (Y'): {job}"
    );

    // kill -9, and start again on the same state.
    drop(gw);
    let _gw = start_gateway(&config);
    // The device comes online: its session with the gateway carries the pending Get.
    let agent = dm_client::Agent::new(device_config).await.unwrap();
    tokio::spawn(agent.run(std::future::pending()));

    // The outcome reaches the server as a completionstatus alert with the correlator.
    let deadline = Instant::now() + Duration::from_secs(60);
    let event = loop {
        let events = api(
            &http,
            &server_url,
            reqwest::Method::GET,
            "/events?device_id=GW:dur",
            None,
        )
        .await;
        let found = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["alert_type"]
                    .as_str()
                    .is_some_and(|t| t.contains("completionstatus"))
                    && e["data"].as_str().is_some_and(|d| d.contains("Durable-1"))
            })
            .cloned();
        if let Some(e) = found {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "no completionstatus alert: {events}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        event["source"].as_str(),
        Some("./GwMO/Fanout/Operations/d1/Devices/IMEI:dur/Response")
    );

    // The inventory survived the kill too (GwMO-DI-001).
    let job = api(&http, &server_url, reqwest::Method::POST, "/jobs", Some(json!({
        "device_id": "GW:dur",
        "commands": [{"kind": "get", "items": [{"path": "./GwMO/DeviceInventory/Devices/IMEI:dur/Mode"}]}]
    }))).await;
    api(
        &http,
        &server_url,
        reqwest::Method::POST,
        "/devices/GW:dur/notify",
        Some(json!({})),
    )
    .await;
    let job = wait_job(&http, &server_url, job["id"].as_i64().unwrap(), |j| {
        j["state"] == "done"
    })
    .await;
    assert!(job.to_string().contains("Proxy"), "{job}");
}
