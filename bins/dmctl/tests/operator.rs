//! The operator commands of the built `dmctl` binary against a real `dm-server` (the library,
//! on 127.0.0.1:0 with a temporary SQLite file) and, for `--wait`, a real `dm-client` agent
//! (the library, in-process) that the server notifies over UDP (WSP push on 127.0.0.1).
//!
//! Covered: device add/list/show/remove, filters, jobs (create, show, list, cancel), events
//! (a Generic Alert sent by the agent), tree values, notify, 401 with a wrong or missing token
//! (the token never printed), 404/409 answers (exit status 1, one stderr line with the
//! server's text), usage errors (exit status 2), and `--wait` for Get/Replace/Exec answered by
//! the device through a notification-initiated session.

// Test code: helpers outside #[test] functions may unwrap and index too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::oneshot;

const TOKEN: &str = "operator-test-token";
const SERVER_ID: &str = "dmctl-test-server";

/// A dm-server on its own runtime; dropping it stops the server.
struct Harness {
    url: String,
    rt: tokio::runtime::Runtime,
    stop: Option<oneshot::Sender<()>>,
    dir: tempfile::TempDir,
}

impl Harness {
    fn start() -> Harness {
        Harness::start_with(tempfile::tempdir().unwrap(), |c| c)
    }

    fn start_with(
        dir: tempfile::TempDir,
        adjust: impl FnOnce(dm_server::Config) -> dm_server::Config,
    ) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = dm_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            db: format!("sqlite:{}", dir.path().join("dm.db").display()),
            api_token: TOKEN.into(),
            server_id: SERVER_ID.into(),
            ..dm_server::Config::default()
        };
        let server = rt
            .block_on(dm_server::Server::bind(adjust(config)))
            .unwrap();
        let url = server.url();
        let (tx, rx) = oneshot::channel::<()>();
        rt.spawn(server.serve(async move {
            let _ = rx.await;
        }));
        Harness {
            url,
            rt,
            stop: Some(tx),
            dir,
        }
    }

    /// Runs dmctl with `--server` and `--token` from the environment variables.
    fn dmctl(&self, args: &[&str]) -> Output {
        self.dmctl_with_token(Some(TOKEN), args)
    }

    fn dmctl_with_token(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dmctl"));
        cmd.env_remove("DMCTL_TOKEN")
            .env_remove("DMCTL_CA_CERT")
            .env("DMCTL_SERVER", &self.url)
            .args(args);
        if let Some(t) = token {
            cmd.env("DMCTL_TOKEN", t);
        }
        cmd.output().unwrap()
    }

    /// Asserts success; standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.dmctl(args);
        assert!(
            out.status.success(),
            "dmctl {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Asserts success and parses the `--json` output.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let text = self.ok(&all);
        assert_eq!(text.lines().count(), 1, "one JSON line expected: {text}");
        serde_json::from_str(&text).unwrap()
    }

    fn add_device(&self, id: &str, extra: &[&str]) {
        let mut args = vec![
            "device",
            "add",
            id,
            "--auth-type",
            "md5",
            "--auth-name",
            "dev-user",
            "--auth-secret",
            "dev-secret",
            "--server-secret",
            "srv-secret",
        ];
        args.extend_from_slice(extra);
        let text = self.ok(&args);
        assert!(text.contains(id), "{text}");
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts the exit status and a single stderr line containing every needle.
fn failed(out: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    for n in needles {
        assert!(stderr.contains(n), "{stderr:?} lacks {n:?}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn device_add_list_show_remove() {
    let h = Harness::start();
    h.add_device("IMEI:1001", &["--notify", "udp:127.0.0.1:9"]);
    h.ok(&[
        "device",
        "add",
        "IMEI:1002",
        "--auth-type",
        "hmac",
        "--auth-secret",
        "s2",
        "--server-auth-type",
        "none",
    ]);

    let list = h.json(&["devices"]);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["IMEI:1001", "IMEI:1002"]);
    assert_eq!(list[0]["auth_name"], "dev-user");
    assert_eq!(list[0]["notify"][0], "udp:127.0.0.1:9");
    assert_eq!(list[1]["auth_type"], "hmac");
    assert_eq!(list[1]["auth_name"], "IMEI:1002");
    assert_eq!(list[1]["server_auth_type"], "none");
    // Secrets go in, never come out.
    let text = serde_json::to_string(&list).unwrap();
    assert!(!text.contains("dev-secret") && !text.contains("srv-secret"));

    // The human table: a header and one row per device.
    let table = h.ok(&["devices"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("DEVICE"), "{table}");
    assert!(lines[1].starts_with("IMEI:1001") && lines[1].contains("dev-user"));
    // `device list` is the same list; filters go to the server.
    assert_eq!(h.json(&["device", "list"]), list);
    let filtered = h.json(&["devices", "--prefix", "IMEI:1002"]);
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    assert_eq!(filtered[0]["device_id"], "IMEI:1002");
    assert_eq!(
        h.json(&["devices", "--model", "nope"]),
        Value::Array(vec![])
    );

    let shown = h.json(&["device", "show", "IMEI:1001"]);
    assert_eq!(shown, list[0]);
    assert!(shown["last_contact_at"].is_null());
    let human = h.ok(&["device", "show", "IMEI:1001"]);
    assert!(human.contains("md5 as dev-user"), "{human}");
    assert!(human.contains("udp:127.0.0.1:9"), "{human}");

    // Taken device id or auth name: 409, exit 1, the server's text.
    let out = h.dmctl(&[
        "device",
        "add",
        "IMEI:1001",
        "--auth-type",
        "md5",
        "--auth-secret",
        "x",
    ]);
    failed(&out, 1, &["HTTP 409"]);
    // A device may not authenticate with `none`: a usage error before any request.
    let out = h.dmctl(&[
        "device",
        "add",
        "IMEI:1003",
        "--auth-type",
        "none",
        "--auth-secret",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // A bad notification address is refused by the server (400).
    let out = h.dmctl(&[
        "device",
        "add",
        "IMEI:1003",
        "--auth-secret",
        "x",
        "--notify",
        "carrier-pigeon:home",
    ]);
    failed(&out, 1, &["HTTP 400"]);

    let removed = h.ok(&["device", "remove", "IMEI:1001"]);
    assert!(removed.contains("IMEI:1001 removed"), "{removed}");
    let out = h.dmctl(&["device", "show", "IMEI:1001"]);
    failed(&out, 1, &["device not found: IMEI:1001", "HTTP 404"]);
    let out = h.dmctl(&["device", "remove", "IMEI:1001"]);
    failed(&out, 1, &["HTTP 404"]);
    assert_eq!(h.json(&["devices"]).as_array().unwrap().len(), 1);
}

#[test]
fn jobs_create_show_list_cancel_without_wait() {
    let h = Harness::start();
    h.add_device("IMEI:2001", &[]);

    // Without --wait: the job id alone on standard output.
    let id = h.ok(&["get", "IMEI:2001", "./DevInfo/Mod", "./DevInfo/Man"]);
    let id = id.trim();
    assert!(id.parse::<i64>().is_ok(), "{id:?}");
    let job = h.json(&["job", id]);
    assert_eq!(job["state"], "queued");
    assert_eq!(job["device_id"], "IMEI:2001");
    assert_eq!(
        job["commands"],
        serde_json::json!([{"kind": "get", "items": [{"path": "./DevInfo/Mod"}, {"path": "./DevInfo/Man"}]}])
    );
    let human = h.ok(&["job", id]);
    assert!(human.contains("queued"), "{human}");
    assert!(
        human.contains("#0 get ./DevInfo/Mod ./DevInfo/Man: no status"),
        "{human}"
    );

    // Each command kind builds the documented API command.
    let replace = h.json(&[
        "replace",
        "IMEI:2001",
        "./Vendor/X",
        "42",
        "--format",
        "int",
        "--type",
        "text/plain",
    ]);
    assert_eq!(
        replace["commands"][0],
        serde_json::json!({"kind": "replace", "items": [{"path": "./Vendor/X", "value": "42", "format": "int", "type": "text/plain"}]})
    );
    let add = h.json(&["add", "IMEI:2001", "./Vendor/Dir"]);
    assert_eq!(add["commands"][0]["items"][0]["format"], "node");
    let add_leaf = h.json(&[
        "add",
        "IMEI:2001",
        "./Vendor/Dir/L",
        "AAE=",
        "--format",
        "b64",
    ]);
    assert_eq!(
        add_leaf["commands"][0]["items"][0],
        serde_json::json!({"path": "./Vendor/Dir/L", "value": "AAE=", "format": "b64"})
    );
    let delete = h.json(&["delete", "IMEI:2001", "./Vendor/A", "./Vendor/B"]);
    assert_eq!(delete["commands"][0]["kind"], "delete");
    assert_eq!(delete["commands"][0]["items"].as_array().unwrap().len(), 2);
    let exec = h.json(&["exec", "IMEI:2001", "./Ext/Reboot", "now"]);
    assert_eq!(
        exec["commands"][0],
        serde_json::json!({"kind": "exec", "items": [{"path": "./Ext/Reboot", "value": "now"}]})
    );
    let copy = h.json(&["copy", "IMEI:2001", "./Vendor/A", "./Vendor/B"]);
    assert_eq!(
        copy["commands"][0],
        serde_json::json!({"kind": "copy", "items": [{"path": "./Vendor/A", "target": "./Vendor/B"}]})
    );

    let jobs = h.json(&["jobs", "--device", "IMEI:2001"]);
    assert_eq!(jobs.as_array().unwrap().len(), 7);
    let table = h.ok(&["jobs", "--state", "queued"]);
    assert_eq!(table.lines().count(), 8, "{table}");
    assert!(table.contains("copy ./Vendor/A -> ./Vendor/B"), "{table}");

    let cancelled = h.ok(&["cancel", id]);
    assert_eq!(cancelled.trim(), format!("job {id} cancelled"));
    failed(&h.dmctl(&["cancel", id]), 1, &["HTTP 409"]);
    assert_eq!(
        h.json(&["jobs", "--state", "cancelled"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // 404s: unknown job, unknown device.
    failed(
        &h.dmctl(&["job", "999999"]),
        1,
        &["job not found", "HTTP 404"],
    );
    failed(
        &h.dmctl(&["get", "IMEI:none", "./DevInfo/Mod"]),
        1,
        &["HTTP 404"],
    );
    failed(&h.dmctl(&["tree", "IMEI:none"]), 1, &["HTTP 404"]);
    failed(
        &h.dmctl(&["events", "--device", "IMEI:none"]),
        1,
        &["HTTP 404"],
    );
    // Notify without a notification address: 409.
    failed(
        &h.dmctl(&["notify", "IMEI:2001"]),
        1,
        &["notification address", "HTTP 409"],
    );
    // Nothing happened on the device side yet.
    assert_eq!(h.json(&["events"]), Value::Array(vec![]));
    assert_eq!(h.json(&["tree", "IMEI:2001"]), Value::Array(vec![]));
}

#[test]
fn wrong_or_missing_token_is_refused_and_never_printed() {
    let h = Harness::start();
    let out = h.dmctl_with_token(Some("not-the-token"), &["devices"]);
    let line = failed(&out, 1, &["missing or wrong bearer token", "HTTP 401"]);
    assert!(!line.contains("not-the-token"));
    let out = h.dmctl_with_token(Some("not-the-token"), &["--json", "get", "D", "./X"]);
    failed(&out, 1, &["HTTP 401"]);
    assert!(out.stdout.is_empty());
    let out = h.dmctl_with_token(None, &["devices"]);
    failed(&out, 1, &["HTTP 401", "DMCTL_TOKEN"]);
    // The flag form, and the token is not echoed by --help either.
    let out = h.dmctl_with_token(None, &["--token", TOKEN, "devices", "--json"]);
    assert!(out.status.success());
    let help = h.dmctl(&["--help"]);
    assert!(!String::from_utf8_lossy(&help.stdout).contains(TOKEN));
}

#[test]
fn usage_and_transport_errors() {
    let h = Harness::start();
    // Usage: exit 2 (clap), before any request.
    assert_eq!(h.dmctl(&["replace", "D", "./X"]).status.code(), Some(2));
    assert_eq!(
        h.dmctl(&["replace", "D", "./X", "1", "--format", "nonsense"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(h.dmctl(&["get", "D"]).status.code(), Some(2));
    assert_eq!(h.dmctl(&["job", "abc"]).status.code(), Some(2));
    let out = h.dmctl(&["--server", "ftp://127.0.0.1", "devices"]);
    failed(&out, 2, &["invalid --server URL"]);
    // Nobody listening: exit 1, one line.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = h.dmctl(&["--server", &format!("http://127.0.0.1:{port}"), "devices"]);
    failed(&out, 1, &["cannot reach"]);
}

#[test]
fn https_server_with_an_extra_ca_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let (c, k) = (cert_path.clone(), key_path);
    let h = Harness::start_with(dir, move |config| dm_server::Config {
        tls_cert: Some(c),
        tls_key: Some(k),
        ..config
    });
    assert!(h.url.starts_with("https://127.0.0.1:"), "{}", h.url);
    // Unknown issuer: refused by dmctl's TLS client.
    failed(&h.dmctl(&["devices"]), 1, &["cannot reach", "certificate"]);
    // Trusted with --ca-cert (or DMCTL_CA_CERT).
    h.add_device("IMEI:5001", &["--ca-cert", cert_path.to_str().unwrap()]);
    let list = h.json(&["devices", "--ca-cert", cert_path.to_str().unwrap()]);
    assert_eq!(list[0]["device_id"], "IMEI:5001");
    // A CA file that is not PEM is a usage error.
    let bogus = h.dir.path().join("bogus.pem");
    std::fs::write(&bogus, "nothing here").unwrap();
    let out = h.dmctl(&["devices", "--ca-cert", bogus.to_str().unwrap()]);
    failed(&out, 2, &["--ca-cert"]);
}

#[test]
fn wait_gives_up_after_the_timeout_when_the_device_never_comes() {
    let h = Harness::start();
    // A UDP address nobody listens on: the notification goes out, nobody answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let notify = format!("udp:{}", silent.local_addr().unwrap());
    h.add_device("IMEI:3001", &["--notify", &notify]);
    let started = Instant::now();
    let out = h.dmctl(&[
        "get",
        "IMEI:3001",
        "./DevInfo/Mod",
        "--wait",
        "--timeout",
        "1",
    ]);
    assert!(started.elapsed() < Duration::from_secs(10));
    failed(&out, 1, &["not finished after 1 s", "state queued"]);
    // The Package 0 did reach the address (a WSP push datagram).
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let n = silent.recv(&mut buf).unwrap();
    assert!(n > 24, "datagram of {n} bytes");
    // The job is still there for the device's next session.
    let jobs = h.json(&["jobs", "--device", "IMEI:3001", "--state", "queued"]);
    assert_eq!(jobs.as_array().unwrap().len(), 1);
}

/// A dm-client agent for `device_id` on the harness's runtime, Package 0 over UDP on loopback.
fn agent_config(h: &Harness, device_id: &str) -> dm_client::Config {
    let tree = h
        .dir
        .path()
        .join(format!("{}.tree", device_id.replace(':', "_")));
    let toml = format!(
        r#"
server_url = "{url}/dm"
server_id = "{SERVER_ID}"
device_id = "{device_id}"
tree_file = "{tree}"
session_on_start = false
[client_auth]
type = "md5"
name = "dev-user"
secret = "dev-secret"
[server_auth]
type = "md5"
secret = "srv-secret"
[listen]
udp = "127.0.0.1:0"
http = ""
[exec]
"./Ext/Echo" = "printf 'echo:%s' \"$DM_EXEC_DATA\""
[device]
manufacturer = "Acme"
model = "DMCTL-TEST-1"
"#,
        url = h.url,
        tree = tree.display(),
    );
    dm_client::Config::from_toml(&toml).unwrap()
}

// DM-level: a job delivered in a notification-initiated session (Package 0 over UDP, WSP push)
// and its Results shown to the operator; GwMO-HLF-001 style remote management from the CLI.
#[test]
fn wait_get_replace_exec_answered_by_a_real_device() {
    let h = Harness::start();
    let agent =
        h.rt.block_on(dm_client::Agent::new(agent_config(&h, "IMEI:4001")))
            .unwrap();
    let udp = agent.udp_addr().unwrap();
    h.add_device("IMEI:4001", &["--notify", &format!("udp:{udp}")]);
    let handle = agent.handle();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let agent_task = h.rt.spawn(agent.run(async move {
        let _ = stop_rx.await;
    }));
    // A first, client-initiated session: registry, DevInfo, nonces; it carries a Generic Alert.
    handle.queue_alert(dm_client::GenericAlert::new(
        dm_client::AlertItem::new(
            "urn:oma:at:test:dmctl:1.0",
            "chr",
            syncml::Data::Text("hello operator".into()),
        )
        .with_source("./Ext/Sensor")
        .with_mark("informational"),
    ));
    let report = h.rt.block_on(handle.trigger_session()).unwrap();
    assert!(report.completed(), "{report:?}");

    let shown = h.json(&["device", "show", "IMEI:4001"]);
    assert_eq!(shown["devinfo"]["Mod"], "DMCTL-TEST-1");
    assert!(shown["last_contact_at"].is_i64());
    let table = h.ok(&["devices", "--manufacturer", "Acme"]);
    assert!(table.contains("DMCTL-TEST-1"), "{table}");

    let events = h.json(&["events", "--device", "IMEI:4001"]);
    let alert = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["alert_type"] == "urn:oma:at:test:dmctl:1.0")
        .unwrap_or_else(|| panic!("no generic alert in {events}"));
    assert_eq!(alert["alert_code"], 1226);
    assert_eq!(alert["data"], "hello operator");
    assert_eq!(alert["source"], "./Ext/Sensor");
    let events_table = h.ok(&["events", "--alert-code", "1226"]);
    assert!(events_table.contains("hello operator"), "{events_table}");

    // get --wait: notify, the device's session, the results printed.
    let started = Instant::now();
    let out = h.ok(&[
        "get",
        "IMEI:4001",
        "./DevInfo/Mod",
        "./DevInfo/Man",
        "--wait",
        "--timeout",
        "30",
    ]);
    assert!(started.elapsed() < Duration::from_secs(30));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "#0 get ./DevInfo/Mod ./DevInfo/Man: 200 OK",
            "  ./DevInfo/Mod (chr): DMCTL-TEST-1",
            "  ./DevInfo/Man (chr): Acme",
        ],
        "{out}"
    );
    // The server kept the values it saw.
    let tree = h.json(&["tree", "IMEI:4001", "--prefix", "./DevInfo"]);
    assert!(
        tree.as_array()
            .unwrap()
            .iter()
            .any(|v| v["path"] == "./DevInfo/Mod" && v["data"] == "DMCTL-TEST-1"),
        "{tree}"
    );

    // exec --wait --json: the device ran the configured command; the job JSON carries the status.
    let job = h.json(&[
        "exec",
        "IMEI:4001",
        "./Ext/Echo",
        "ping",
        "--wait",
        "--timeout",
        "30",
    ]);
    assert_eq!(job["state"], "done");
    assert_eq!(job["results"][0]["status"], 200);

    // replace --wait on a read-only DevInfo leaf: the device's refusal is a result (exit 0),
    // shown with its SyncML status.
    let out = h.dmctl(&[
        "replace",
        "IMEI:4001",
        "./DevInfo/Mod",
        "X",
        "--wait",
        "--timeout",
        "30",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = text.lines().next().unwrap_or_default().to_owned();
    assert!(first.starts_with("#0 replace ./DevInfo/Mod: "), "{text}");
    let code: u16 = first
        .rsplit(": ")
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((400..600).contains(&code), "{text}");

    // submit: a Sequence from a JSON file, results by pre-order index.
    let file = h.dir.path().join("sequence.json");
    std::fs::write(
        &file,
        r#"[{"kind":"sequence","children":[
             {"kind":"get","items":[{"path":"./DevInfo/Man"}]},
             {"kind":"get","items":[{"path":"./DevInfo/Nope"}]}]}]"#,
    )
    .unwrap();
    let out = h.ok(&[
        "submit",
        "IMEI:4001",
        file.to_str().unwrap(),
        "--wait",
        "--timeout",
        "30",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("#0 sequence: 2"), "{out}");
    assert_eq!(lines[1], "#1 get ./DevInfo/Man: 200 OK", "{out}");
    assert_eq!(lines[2], "  ./DevInfo/Man (chr): Acme", "{out}");
    assert_eq!(lines[3], "#2 get ./DevInfo/Nope: 404 Not found", "{out}");
    std::fs::write(&file, "not json").unwrap();
    failed(
        &h.dmctl(&["submit", "IMEI:4001", file.to_str().unwrap()]),
        2,
        &["not JSON"],
    );

    // `dmctl job ID` shows the same finished job.
    let id = job["id"].as_i64().unwrap().to_string();
    let shown = h.ok(&["job", &id]);
    assert!(shown.contains("done"), "{shown}");
    assert!(shown.contains("#0 exec ./Ext/Echo: 200 OK"), "{shown}");

    let _ = stop_tx.send(());
    h.rt.block_on(agent_task).unwrap().unwrap();
}
