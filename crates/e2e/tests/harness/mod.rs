//! Test harness: builds the binaries once, runs `dm-server` and `dm-client` processes, and
//! talks to the REST API. See the crate docs.

#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const TOKEN: &str = "e2e-token";
pub const SERVER_ID: &str = "e2e-server";

/// The directory holding the built binaries (`target/debug`).
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "dm-server-bin",
                "-p",
                "dm-client-bin",
                "-p",
                "dm-sim",
                "-p",
                "dm-gateway-bin",
                "-p",
                "dmctl",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
        // target/debug/deps/e2e-HASH -> target/debug
        let exe = std::env::current_exe().expect("test executable path");
        exe.parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_owned()
    })
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// Where a test's data lives.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend, or `None` (after saying so) when no database is configured.
    pub fn postgres(test: &str) -> Option<Backend> {
        match std::env::var("DMSTORE_PG_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ => {
                assert!(
                    std::env::var("REQUIRE_ORACLES").as_deref() != Ok("1"),
                    "{test}: DMSTORE_PG_URL is not set and REQUIRE_ORACLES=1"
                );
                eprintln!("SKIPPED {test}: DMSTORE_PG_URL is not set (run scripts/test)");
                None
            }
        }
    }

    fn db_url(&self, dir: &Path) -> String {
        match self {
            Backend::Sqlite => format!("sqlite:{}", dir.join("dm.db").display()),
            Backend::Postgres(url) => url.clone(),
        }
    }
}

/// A unique id prefix (PostgreSQL runs share one database).
pub fn unique(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{name}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A running `dm-server`.
pub struct Server {
    child: Child,
    pub url: String,
    pub log: PathBuf,
    pub dir: PathBuf,
    backend: Backend,
    listen: String,
}

impl Server {
    /// Starts `dm-server` on `listen` (`127.0.0.1:0` for any port) with its data in `dir`.
    pub fn start(backend: &Backend, dir: &Path, listen: &str) -> Server {
        Server::start_with(backend, dir, listen, &[], None)
    }

    /// As [`Server::start`], with extra command-line flags, and under an open-file limit
    /// (`RLIMIT_NOFILE`, soft and hard, set by `sh -c 'ulimit -n N; exec ...'`) when `nofile` is
    /// given.
    pub fn start_with(
        backend: &Backend,
        dir: &Path,
        listen: &str,
        extra: &[&str],
        nofile: Option<u64>,
    ) -> Server {
        let log = dir.join(format!("server-{}.log", unique("log")));
        let stderr = std::fs::File::create(&log).expect("server log file");
        let mut command = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin("dm-server"));
                c
            }
            None => Command::new(bin("dm-server")),
        };
        let mut child = command
            .args([
                "--listen",
                listen,
                "--db",
                &backend.db_url(dir),
                "--api-token",
                TOKEN,
            ])
            .args(["--server-id", SERVER_ID])
            .args(extra)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting dm-server");
        let stdout = child.stdout.take().expect("server stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading the server's first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}; log: {}", read(&log)))
            .to_owned();
        let listen = url.trim_start_matches("http://").to_owned();
        Server {
            child,
            url,
            log,
            dir: dir.to_owned(),
            backend: backend.clone(),
            listen,
        }
    }

    /// Kills the process (SIGKILL) and starts a new one on the same address and database.
    pub fn restart(&mut self) {
        self.kill();
        let fresh = Server::start(&self.backend, &self.dir, &self.listen);
        let old = std::mem::replace(self, fresh);
        drop(old);
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn dm_url(&self) -> String {
        format!("{}/dm", self.url)
    }

    pub fn log_text(&self) -> String {
        read(&self.log)
    }

    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let http = reqwest::Client::new();
        let url = format!("{}/api/v1{path}", self.url);
        let req = match method {
            "POST" => http.post(&url),
            "DELETE" => http.delete(&url),
            _ => http.get(&url),
        };
        let req = req.bearer_auth(TOKEN);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let r = req.send().await.expect("API request");
        let code = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Provisions a device with md5 both ways.
    pub async fn add_device(&self, dev: &Device, notify: Option<&str>) {
        let mut body = json!({
            "device_id": dev.id,
            "auth_type": "md5",
            "auth_name": dev.auth_name,
            "auth_secret": dev.secret,
            "server_auth_type": "md5",
            "server_secret": dev.server_secret,
        });
        if let Some(n) = notify {
            body["notify"] = json!(n);
        }
        let (code, v) = self.api("POST", "/devices", Some(body)).await;
        assert_eq!(code, 201, "provisioning {}: {v}", dev.id);
    }

    pub async fn queue_job(&self, device: &str, commands: Value) -> i64 {
        let (code, v) = self
            .api(
                "POST",
                "/jobs",
                Some(json!({"device_id": device, "commands": commands})),
            )
            .await;
        assert_eq!(code, 201, "queueing a job: {v}");
        v["id"].as_i64().expect("job id")
    }

    pub async fn job(&self, id: i64) -> Value {
        let (code, v) = self.api("GET", &format!("/jobs/{id}"), None).await;
        assert_eq!(code, 200, "{v}");
        v
    }

    /// Waits until the job reaches `state` (10 s at most) and returns it.
    pub async fn wait_job(&self, id: i64, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let j = self.job(id).await;
            if j["state"] == state || Instant::now() > deadline {
                return j;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// One device's identity and secrets.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub auth_name: String,
    pub secret: String,
    pub server_secret: String,
}

impl Device {
    pub fn new(name: &str) -> Device {
        let id = unique(name);
        Device {
            auth_name: format!("user-{id}"),
            secret: format!("pw-{id}"),
            server_secret: format!("srv-{id}"),
            id,
        }
    }
}

/// A free loopback port for a protocol (bound and released: a tiny race accepted in tests).
pub fn free_udp() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp bind");
    s.local_addr().expect("udp addr")
}

pub fn free_tcp() -> SocketAddr {
    let s = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp bind");
    s.local_addr().expect("tcp addr")
}

/// Options of a client config file.
#[derive(Debug, Clone, Default)]
pub struct ClientOpts {
    pub wbxml: bool,
    pub udp: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    pub wrong_secret: bool,
    pub wrong_server_secret: bool,
    pub exec: Vec<(String, String)>,
    pub session_on_start: bool,
    /// The DM server id of its account (default [`SERVER_ID`]; a gateway's southbound id
    /// for a Proxy-mode device).
    pub server_id: Option<String>,
    /// `DevInfo/Mod` it reports.
    pub model: Option<String>,
}

/// Writes a `dm-client` config for `dev` against `server_url` into `dir`; returns its path.
pub fn client_config(dir: &Path, server_url: &str, dev: &Device, o: &ClientOpts) -> PathBuf {
    let listen = |a: Option<SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    let mut text = format!(
        r#"server_url = "{server_url}"
server_id = "{server_id}"
device_id = "{id}"
tree_file = "{tree}"
encoding = "{enc}"
session_on_start = {start}
[client_auth]
type = "md5"
name = "{name}"
secret = "{secret}"
[server_auth]
type = "md5"
secret = "{srv}"
[listen]
udp = "{udp}"
http = "{http}"
[device]
model = "{model}"
[exec]
"#,
        server_id = o.server_id.as_deref().unwrap_or(SERVER_ID),
        model = o.model.as_deref().unwrap_or("e2e-model"),
        id = dev.id,
        tree = dir.join(format!("{}.tree", dev.id)).display(),
        enc = if o.wbxml { "wbxml" } else { "xml" },
        start = o.session_on_start,
        name = dev.auth_name,
        secret = if o.wrong_secret {
            "not-the-password"
        } else {
            &dev.secret
        },
        srv = if o.wrong_server_secret {
            "not-the-server-password"
        } else {
            &dev.server_secret
        },
        udp = listen(o.udp),
        http = listen(o.http),
    );
    for (node, cmd) in &o.exec {
        text.push_str(&format!("{node:?} = {cmd:?}\n"));
    }
    let path = dir.join(format!("{}.toml", dev.id));
    std::fs::write(&path, text).expect("writing the client config");
    path
}

/// Runs `dm-client --config FILE --once`; returns (success, stderr).
pub async fn client_once(config: &Path) -> (bool, String) {
    let out = tokio::process::Command::new(bin("dm-client"))
        .arg("--config")
        .arg(config)
        .arg("--once")
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("running dm-client");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A long-running `dm-client` (killed on drop).
pub struct Client {
    child: Child,
    pub log: PathBuf,
}

impl Client {
    pub fn start(config: &Path) -> Client {
        let log = config.with_extension("log");
        let stderr = std::fs::File::create(&log).expect("client log");
        let child = Command::new(bin("dm-client"))
            .arg("--config")
            .arg(config)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("starting dm-client");
        Client { child, log }
    }

    /// Waits until the log contains `needle` (10 s at most).
    pub async fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if read(&self.log).contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub fn log_text(&self) -> String {
        read(&self.log)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The statuses of a job's results, in order.
pub fn statuses(job: &Value) -> Vec<u64> {
    job["results"]
        .as_array()
        .map(|r| r.iter().filter_map(|x| x["status"].as_u64()).collect())
        .unwrap_or_default()
}

/// A gateway's configuration for [`Gateway::start`].
#[derive(Debug, Clone, Default)]
pub struct GatewayOpts {
    /// Its UDP Package 0 listener (`None`: no inbound address at all).
    pub north_udp: Option<SocketAddr>,
    /// Keep `POST /dm/wait` open to the server (GwMO-HLF-001).
    pub long_poll: bool,
    /// End Device accounts it holds: the device and its notification address.
    pub devices: Vec<(Device, SocketAddr)>,
}

/// The southbound server id of the gateways the tests start.
pub const GATEWAY_SOUTH_ID: &str = "e2e-gateway";

/// A running `dm-gateway` (killed on drop).
pub struct Gateway {
    child: Child,
    /// Its southbound DM endpoint, `http://ADDR/dm`.
    pub south_dm_url: String,
    pub log: PathBuf,
}

impl Gateway {
    /// Writes the configuration of gateway `gw` (its account on `server`: md5 both ways) and
    /// starts `dm-gateway`, reading its southbound address from the first stdout line.
    pub fn start(dir: &Path, server: &Server, gw: &Device, o: &GatewayOpts) -> Gateway {
        let mut text = format!(
            r#"device_id = "{id}"
db = "{db}"
[[servers]]
url = "{url}"
server_id = "{SERVER_ID}"
client_auth = {{ type = "md5", name = "{name}", secret = "{secret}" }}
server_auth = {{ type = "md5", secret = "{srv}" }}
long_poll = {long_poll}
"#,
            id = gw.id,
            db = dir.join(format!("{}.db", gw.id)).display(),
            url = server.dm_url(),
            name = gw.auth_name,
            secret = gw.secret,
            srv = gw.server_secret,
            long_poll = o.long_poll,
        );
        if let Some(udp) = o.north_udp {
            text.push_str(&format!("[northbound]\nudp = \"{udp}\"\n"));
        }
        text.push_str(&format!(
            "[southbound]\nlisten = \"127.0.0.1:0\"\nserver_id = \"{GATEWAY_SOUTH_ID}\"\n"
        ));
        for (d, notify) in &o.devices {
            text.push_str(&format!(
                "[[devices]]\nid = \"{}\"\nclient_auth = {{ type = \"md5\", name = \"{}\", secret = \"{}\" }}\nserver_secret = \"{}\"\nnotify = \"udp:{notify}\"\n",
                d.id, d.auth_name, d.secret, d.server_secret
            ));
        }
        let config = dir.join(format!("{}.gateway.toml", gw.id));
        std::fs::write(&config, text).expect("writing the gateway config");
        let log = dir.join(format!("{}.gateway.log", gw.id));
        let stderr = std::fs::File::create(&log).expect("gateway log");
        let mut child = Command::new(bin("dm-gateway"))
            .arg("--config")
            .arg(&config)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info,dm_gateway=debug")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("starting dm-gateway");
        let stdout = child.stdout.take().expect("gateway stdout");
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        reader
            .read_line(&mut line)
            .expect("reading the gateway's first line");
        // It prints its other listeners next: keep reading so that it never writes to a
        // closed pipe.
        std::thread::spawn(move || {
            let mut rest = String::new();
            while reader.read_line(&mut rest).unwrap_or(0) > 0 {
                rest.clear();
            }
        });
        let south = line
            .trim()
            .strip_prefix("southbound on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}; log: {}", read(&log)))
            .to_owned();
        Gateway {
            child,
            south_dm_url: format!("{south}/dm"),
            log,
        }
    }

    pub fn log_text(&self) -> String {
        read(&self.log)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `dmctl ARGS` against `server`; returns (success, stdout, stderr).
pub async fn dmctl(server: &Server, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(bin("dmctl"))
        .args(args)
        .env("DMCTL_SERVER", &server.url)
        .env("DMCTL_TOKEN", TOKEN)
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("running dmctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
