//! Shared by the gateway's tests through the binary: an in-process dm-server (SQLite in a
//! temporary directory), the `dm-gateway` binary started on a configuration written here, REST
//! calls, and job polling.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const TOKEN: &str = "t0ken";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running gateway process; dropping it kills it with SIGKILL.
pub struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server, the gateway's account on it, and where everything listens.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub server: String,
    pub http: reqwest::Client,
    pub south: SocketAddr,
    pub gw_udp: u16,
    pub config: PathBuf,
}

impl Setup {
    /// Starts dm-server in process and adds the gateway `GW:t` to it; writes the gateway's
    /// configuration with `extra` appended (devices, rules, ...).
    pub async fn new(extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let server = dm_server::Server::bind(dm_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            db: format!("sqlite:{}", dir.path().join("dm.db").display()),
            api_token: TOKEN.into(),
            server_id: "dmserver".into(),
            images_dir: Some(dir.path().join("server-images")),
            ..dm_server::Config::default()
        })
        .await
        .unwrap();
        let server_url = server.url();
        tokio::spawn(server.serve(std::future::pending()));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let gw_udp = free_udp_port();
        let setup_south: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config = dir.path().join("gw.toml");
        std::fs::write(
            &config,
            format!(
                r#"
device_id = "GW:t"
db = "{db}"
min_lease_secs = 1
[[servers]]
url = "{server_url}/dm"
server_id = "dmserver"
client_auth = {{ type = "md5", name = "GW:t", secret = "gw-secret" }}
server_auth = {{ type = "md5", secret = "srv-secret" }}
[northbound]
udp = "127.0.0.1:{gw_udp}"
[southbound]
listen = "{setup_south}"
{extra}
"#,
                db = dir.path().join("gw.db").display()
            ),
        )
        .unwrap();
        let s = Setup {
            dir,
            server: server_url,
            http,
            south: setup_south,
            gw_udp,
            config,
        };
        s.call(
            reqwest::Method::POST,
            "/devices",
            Some(json!({
                "device_id": "GW:t", "auth_type": "md5", "auth_secret": "gw-secret",
                "server_auth_type": "md5", "server_secret": "srv-secret",
                "notify": format!("udp:127.0.0.1:{gw_udp}")
            })),
        )
        .await;
        s
    }

    /// Starts the binary and waits for its `southbound on` line.
    pub fn start_gateway(&self) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dm-gateway"))
            .arg("--config")
            .arg(&self.config)
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

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A REST call that must succeed; its JSON answer.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/api/v1{path}", self.server))
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

    /// Queues `commands` for the gateway, notifies it, and waits until the job is done.
    pub async fn gateway_job(&self, commands: Value) -> Value {
        let job = self
            .call(
                reqwest::Method::POST,
                "/jobs",
                Some(json!({"device_id": "GW:t", "commands": commands})),
            )
            .await;
        self.call(
            reqwest::Method::POST,
            "/devices/GW:t/notify",
            Some(json!({})),
        )
        .await;
        self.wait_job(job["id"].as_i64().unwrap(), |j| j["state"] == "done")
            .await
    }

    pub async fn wait_job(&self, id: i64, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let job = self
                .call(reqwest::Method::GET, &format!("/jobs/{id}"), None)
                .await;
            if done(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} never finished: {job}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for an event of the gateway matching `pred`.
    pub async fn wait_event(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let events = self
                .call(reqwest::Method::GET, "/events?device_id=GW:t", None)
                .await;
            if let Some(e) = events["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| pred(e))
            {
                return e.clone();
            }
            assert!(Instant::now() < deadline, "no such event: {events}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// The Sequence that creates and starts Fanout operation `op` on `targets` with `fragment`.
pub fn fanout(op: &str, targets: &str, fragment: &str, wait_secs: u32, timeout_secs: u32) -> Value {
    let base = format!("./GwMO/Fanout/Operations/{op}");
    json!([{"kind": "sequence", "children": [
        {"kind": "add", "items": [{"path": base, "format": "node"}]},
        {"kind": "add", "items": [{"path": format!("{base}/Targets"), "value": targets}]},
        {"kind": "add", "items": [{"path": format!("{base}/Commands"), "format": "xml", "value": fragment}]},
        {"kind": "replace", "items": [{"path": format!("{base}/WaitSeconds"), "format": "int", "value": wait_secs.to_string()}]},
        {"kind": "replace", "items": [{"path": format!("{base}/TimeoutSeconds"), "format": "int", "value": timeout_secs.to_string()}]},
        {"kind": "exec", "items": [{"path": format!("{base}/Start")}]}
    ]}])
}

/// The statuses of a job's results, in order.
pub fn statuses(job: &Value) -> Vec<i64> {
    job["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect()
}

/// A dm-client configuration for a Proxy-mode device of the gateway at `south`.
pub fn proxy_device(
    id: &str,
    south: SocketAddr,
    secret: &str,
    udp: Option<u16>,
    tree: &Path,
) -> dm_client::Config {
    let listen = match udp {
        Some(p) => format!("udp = \"127.0.0.1:{p}\""),
        None => "udp = \"off\"".to_owned(),
    };
    dm_client::Config::from_toml(&format!(
        r#"
server_url = "http://{south}/dm"
server_id = "dmgateway"
device_id = "{id}"
tree_file = "{tree}"
[client_auth]
type = "md5"
name = "{id}"
secret = "{secret}"
[server_auth]
type = "md5"
secret = "gw-dev-secret"
[listen]
{listen}
[device]
model = "Model-{id}"
"#,
        tree = tree.display()
    ))
    .unwrap()
}

/// A `[[devices]]` entry of the gateway's configuration.
pub fn device_entry(id: &str, udp: Option<u16>) -> String {
    let notify = udp
        .map(|p| format!("notify = \"udp:127.0.0.1:{p}\"\n"))
        .unwrap_or_default();
    format!(
        "[[devices]]\nid = \"{id}\"\nclient_auth = {{ type = \"md5\", name = \"{id}\", secret = \"dev-secret\" }}\nserver_secret = \"gw-dev-secret\"\n{notify}"
    )
}

/// The Sequence that creates Fanout operation `op` with `fragment`, sets `leaves` (name,
/// format, value: `Targets`, `Group`, `WaitSeconds`, ...) and starts it (docs/gateway.md §9).
pub fn fanout_with(op: &str, fragment: &str, leaves: &[(&str, &str, &str)]) -> Value {
    let base = format!("./GwMO/Fanout/Operations/{op}");
    let mut children = vec![
        json!({"kind": "add", "items": [{"path": base, "format": "node"}]}),
        json!({"kind": "add", "items": [{"path": format!("{base}/Commands"), "format": "xml", "value": fragment}]}),
    ];
    for (name, format, value) in leaves {
        // Leaves with a default exist: Replace; the others are created by an Add.
        let kind = if matches!(*name, "Targets" | "Group") {
            "add"
        } else {
            "replace"
        };
        children.push(json!({"kind": kind, "items": [{"path": format!("{base}/{name}"), "format": format, "value": value}]}));
    }
    children.push(json!({"kind": "exec", "items": [{"path": format!("{base}/Start")}]}));
    json!([{"kind": "sequence", "children": children}])
}

/// The values of the items of a job's first Get, in order.
pub fn get_values(job: &Value) -> Vec<String> {
    job["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["items"].as_array())
        .flatten()
        .map(|i| i["data"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Registers `id` with the gateway at `south` by a Device Registration Alert asking for
/// `mode`, with a lease of `lease_secs` (docs/gateway.md §3); the device's secret is
/// `dev-secret` (see [`device_entry`]).
pub async fn register(
    south: SocketAddr,
    id: &str,
    mode: gwmo::mode::Mode,
    lease_secs: u64,
) -> dm_client::SessionReport {
    let mut dev = dm_client::Device::build(
        dm_client::device::Account {
            server_url: format!("http://{south}/dm"),
            server_id: "dmgateway".into(),
            device_id: id.into(),
            client_auth: dm_client::device::AuthSpec {
                auth_type: dm_client::config::AuthType::Md5,
                name: id.into(),
                secret: "dev-secret".into(),
            },
            server_auth: dm_client::device::AuthSpec {
                auth_type: dm_client::config::AuthType::Md5,
                name: "dmgateway".into(),
                secret: "gw-dev-secret".into(),
            },
            encoding: syncml::Encoding::Wbxml,
            max_msg_size: 64 * 1024,
            max_obj_size: 1024 * 1024,
            idle_timeout: Duration::from_secs(10),
        },
        &dm_client::device_info::SystemFacts::from_system(Some(id), &Default::default()),
    )
    .unwrap();
    let request = gwmo::payload::RegistrationRequest {
        mode: Some(mode),
        addresses: vec![gwmo::inventory::Address::Udp("127.0.0.1:9".into())],
        servers: vec!["dmserver".into()],
        lease: Some(Duration::from_secs(lease_secs)),
    };
    let alert =
        gwmo::payload::generic_alert("", None, vec![gwmo::payload::registration_item(&request)]);
    dev.run_session(
        &reqwest::Client::new(),
        dm_client::Trigger::Client,
        &[dm_client::GenericAlert::from_alert(&alert).unwrap()],
    )
    .await
    .unwrap()
}

/// Starts a Proxy-mode device agent (it opens a session at once, then answers notifications).
pub async fn spawn_agent(config: dm_client::Config) {
    let agent = dm_client::Agent::new(config).await.unwrap();
    tokio::spawn(agent.run(std::future::pending()));
}

/// Waits for a `resultaggregation` event whose data starts with `prefix` (e.g.
/// `op=f1&state=done`) and decodes it.
pub async fn wait_aggregate(s: &Setup, prefix: &str) -> gwmo::fanout::Aggregate {
    let e = s
        .wait_event(|e| e["data"].as_str().is_some_and(|d| d.starts_with(prefix)))
        .await;
    gwmo::fanout::Aggregate::decode(e["data"].as_str().unwrap(), &syncml::Limits::default())
        .unwrap()
}

/// Runs one Proxy-mode session for `id` (so the gateway knows it) from a device that then
/// never answers again: nothing listens for its notifications.
pub async fn register_silent(s: &Setup, id: &str) {
    let mut dev = dm_client::Agent::new(proxy_device(
        id,
        s.south,
        "dev-secret",
        None,
        &s.path(&format!("{id}.silent.bin")),
    ))
    .await
    .unwrap();
    assert!(
        dev.run_session(dm_client::Trigger::Client)
            .await
            .unwrap()
            .completed()
    );
}
