//! The agent against a real `dm_proto::ServerSession` served over loopback HTTP by a small
//! in-test server (axum). Covers client-initiated sessions with md5 both ways, nonce
//! persistence across sessions and restarts, Exec mapped to shell commands, Generic Alerts,
//! Package 0 over HTTP and UDP (WSP push) with good and wrong digests, and a server with the
//! wrong password being refused.

// Test code: helpers outside #[test] functions may unwrap and index too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as HttpStatus};
use dm_client::config::Config;
use dm_client::{Agent, AlertItem, GenericAlert, SessionEnd, Trigger};
use dm_proto::{
    AuthScheme, CommandHandle, Credentials, ServerConfig, ServerEvent, ServerSession, StoredSecret,
    Timestamp,
};
use syncml::notification::{Notification, wsp};
use syncml::{Command, Data, Exec, Item, ItemCmd, Limits, Location, Meta, StatusCode};

const SERVER_ID: &str = "test-srv";
const DEV_NAME: &str = "dev-user";
const DEV_SECRET: &str = "dev-secret";
const SRV_SECRET: &str = "srv-secret";

/// What the test server remembers between sessions (its side of the account).
#[derive(Default)]
struct Account {
    /// Nonce the device must use next (we issued it).
    device_nonce: Vec<u8>,
    /// Nonce we must use next (the device issued it): also keys Package 0.
    server_nonce: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    account: Account,
    session: Option<ServerSession>,
    /// Commands to queue in the next session.
    plan: Vec<Command>,
    /// Every event of every session.
    events: Vec<ServerEvent>,
    sessions_started: usize,
    /// Our password toward the device (tests change it to a wrong one).
    server_secret: String,
}

#[derive(Clone)]
struct TestServer {
    inner: Arc<Mutex<Inner>>,
    url: String,
}

fn creds(scheme: AuthScheme, name: &str, secret: &str, nonce: &[u8]) -> Credentials {
    Credentials {
        scheme,
        name: name.to_owned(),
        secret: StoredSecret::Password(secret.to_owned()),
        nonce: nonce.to_vec(),
    }
}

async fn dm_endpoint(
    State(server): State<TestServer>,
    headers: HeaderMap,
    body: Bytes,
) -> (HttpStatus, HeaderMap, Vec<u8>) {
    let hmac = headers
        .get("x-syncml-hmac")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let msg = match syncml::Encoding::detect(&body).decode(&body, &Limits::default()) {
        Ok(m) => m,
        Err(_) => return (HttpStatus::BAD_REQUEST, HeaderMap::new(), Vec::new()),
    };
    let mut inner = server.inner.lock().unwrap();
    let inner = &mut *inner;
    let current = inner
        .session
        .as_ref()
        .and_then(|s| s.session_id().map(str::to_owned));
    let fresh = inner.session.as_ref().is_none_or(|s| s.ended().is_some())
        || current.as_deref() != Some(msg.hdr.session_id.as_str());
    if fresh {
        let mut cfg = ServerConfig::new(server.url.clone());
        cfg.credentials = Some(creds(
            AuthScheme::Md5,
            SERVER_ID,
            &inner.server_secret,
            &inner.account.server_nonce,
        ));
        let client = creds(
            AuthScheme::Md5,
            DEV_NAME,
            DEV_SECRET,
            &inner.account.device_nonce,
        );
        let mut s = ServerSession::new(
            cfg,
            Some(client),
            Box::new(|b: &mut [u8]| b.fill(7)),
            Timestamp::ZERO,
        );
        for c in std::mem::take(&mut inner.plan) {
            let _ = s.queue(c);
        }
        inner.session = Some(s);
        inner.sessions_started += 1;
    }
    let Some(session) = inner.session.as_mut() else {
        unreachable!()
    };
    if session
        .handle_bytes(Timestamp::ZERO, &body, hmac.as_deref())
        .is_err()
    {
        return (HttpStatus::BAD_REQUEST, HeaderMap::new(), Vec::new());
    }
    while let Some(ev) = session.poll_event() {
        match &ev {
            ServerEvent::NonceIssued(n) => inner.account.device_nonce.clone_from(n),
            ServerEvent::NonceReceived(n) => inner.account.server_nonce.clone_from(n),
            _ => {}
        }
        inner.events.push(ev);
    }
    let Some(t) = session.poll_transmit(Timestamp::ZERO) else {
        return (
            HttpStatus::INTERNAL_SERVER_ERROR,
            HeaderMap::new(),
            Vec::new(),
        );
    };
    while let Some(ev) = session.poll_event() {
        inner.events.push(ev);
    }
    let mut h = HeaderMap::new();
    h.insert("content-type", t.content_type.parse().unwrap());
    if let Some(mac) = t.hmac {
        h.insert("x-syncml-hmac", mac.parse().unwrap());
    }
    (HttpStatus::OK, h, t.bytes)
}

async fn start_server() -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = TestServer {
        inner: Arc::new(Mutex::new(Inner {
            server_secret: SRV_SECRET.to_owned(),
            ..Inner::default()
        })),
        url: format!("http://{addr}/dm"),
    };
    let app = axum::Router::new()
        .route("/dm", axum::routing::post(dm_endpoint))
        .with_state(server.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    server
}

impl TestServer {
    fn plan(&self, cmds: Vec<Command>) {
        self.inner.lock().unwrap().plan = cmds;
    }
    fn events(&self) -> Vec<ServerEvent> {
        self.inner.lock().unwrap().events.clone()
    }
    fn clear_events(&self) {
        self.inner.lock().unwrap().events.clear();
    }
    fn sessions(&self) -> usize {
        self.inner.lock().unwrap().sessions_started
    }
    fn server_nonce(&self) -> Vec<u8> {
        self.inner.lock().unwrap().account.server_nonce.clone()
    }
    fn statuses(&self) -> Vec<(CommandHandle, StatusCode, syncml::Status)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                ServerEvent::Status {
                    handle,
                    code,
                    status,
                    ..
                } => Some((handle, code, status)),
                _ => None,
            })
            .collect()
    }
    fn results(&self) -> Vec<Item> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                ServerEvent::Results { results, .. } => Some(results.items),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

fn config(server: &TestServer, dir: &std::path::Path, extra: &str) -> Config {
    let text = format!(
        r#"server_url = "{url}"
server_id = "{SERVER_ID}"
device_id = "IMEI:0001"
tree_file = "{tree}"
session_on_start = false
[client_auth]
type = "md5"
name = "{DEV_NAME}"
secret = "{DEV_SECRET}"
[server_auth]
type = "md5"
secret = "{SRV_SECRET}"
[listen]
udp = "127.0.0.1:0"
http = "127.0.0.1:0"
{extra}
"#,
        url = server.url,
        tree = dir.join("tree.bin").display(),
    );
    Config::from_toml(&text).unwrap()
}

fn get(path: &str) -> Command {
    Command::Get(ItemCmd {
        items: vec![Item {
            target: Some(Location::uri(path)),
            ..Item::default()
        }],
        ..ItemCmd::default()
    })
}

fn replace(path: &str, value: &str) -> Command {
    Command::Replace(ItemCmd {
        items: vec![Item {
            target: Some(Location::uri(path)),
            meta: Some(Meta {
                format: Some("chr".into()),
                ..Meta::default()
            }),
            data: Some(Data::Text(value.into())),
            ..Item::default()
        }],
        ..ItemCmd::default()
    })
}

fn exec(path: &str, data: &str) -> Command {
    Command::Exec(Exec {
        items: vec![Item {
            target: Some(Location::uri(path)),
            data: Some(Data::Text(data.into())),
            ..Item::default()
        }],
        ..Exec::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_initiated_session_md5_both_ways_and_nonces_persist() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::new(config(&server, dir.path(), "")).await.unwrap();
    server.plan(vec![
        get("./DevInfo/DevId"),
        replace("./DevInfo/Mod", "nope"),
    ]);
    let report = agent.run_session(Trigger::Client).await.unwrap();
    assert_eq!(report.end, SessionEnd::Completed);
    assert!(report.server_authenticated);
    assert_eq!(report.commands, 2);
    // Get answered with the device id, Replace of a Get-only node refused (405).
    let results = server.results();
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].data.as_ref().unwrap().as_str(),
        Some("IMEI:0001")
    );
    let codes: Vec<u16> = server.statuses().iter().map(|(_, c, _)| c.0).collect();
    assert_eq!(codes, [200, 405]);
    assert!(server.events().contains(&ServerEvent::Authenticated));
    assert!(server.events().contains(&ServerEvent::ServerAuthenticated));

    // The nonces went into the tree file: a restarted agent authenticates with them.
    let stored_server_nonce = agent.device().server_nonce();
    assert_eq!(stored_server_nonce, server.server_nonce());
    assert!(!stored_server_nonce.is_empty());
    drop(agent);
    let mut agent = Agent::new(config(&server, dir.path(), "")).await.unwrap();
    assert_eq!(agent.device().server_nonce(), stored_server_nonce);
    server.clear_events();
    server.plan(vec![get("./DevInfo/Man")]);
    let report = agent.run_session(Trigger::Client).await.unwrap();
    assert!(report.completed());
    assert_eq!(server.results().len(), 1);
    assert_eq!(server.sessions(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_runs_the_configured_command() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = "[exec]\n\"./Ext/Echo\" = \"printf 'hello %s' \\\"$DM_EXEC_DATA\\\"\"\n\"./Ext/Fail\" = \"exit 2\"\n";
    let mut agent = Agent::new(config(&server, dir.path(), extra))
        .await
        .unwrap();
    server.plan(vec![
        exec("./Ext/Echo", "world"),
        exec("./Ext/Fail", ""),
        exec("./Ext/None", ""),
    ]);
    let report = agent.run_session(Trigger::Client).await.unwrap();
    assert!(report.completed());
    let st = server.statuses();
    let codes: Vec<u16> = st.iter().map(|(_, c, _)| c.0).collect();
    assert_eq!(codes, [200, 500, 404]);
    let out = st[0]
        .2
        .items
        .first()
        .and_then(|i| i.data.as_ref())
        .and_then(|d| d.as_str());
    assert_eq!(out, Some("hello world"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_alert_goes_with_the_next_session() {
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::new(config(&server, dir.path(), "")).await.unwrap();
    agent.handle().queue_alert(GenericAlert::new(
        AlertItem::new("urn:example:alert:1.0", "chr", Data::Text("too hot".into()))
            .with_source("./Ext/Sensor")
            .with_mark("warning"),
    ));
    assert_eq!(agent.handle().queued_alerts(), 1);
    let report = agent.run_session(Trigger::Client).await.unwrap();
    assert!(report.completed());
    assert_eq!(agent.handle().queued_alerts(), 0);
    let alert = server
        .events()
        .into_iter()
        .find_map(|e| match e {
            ServerEvent::Alert(a) if a.code.0 == 1226 => Some(a),
            _ => None,
        })
        .expect("generic alert received");
    assert_eq!(
        alert.items[0].data.as_ref().unwrap().as_str(),
        Some("too hot")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_server_password_is_refused() {
    let server = start_server().await;
    server.inner.lock().unwrap().server_secret = "not-the-secret".into();
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::new(config(&server, dir.path(), "")).await.unwrap();
    server.plan(vec![replace("./Ext/X", "1")]);
    let report = agent.run_session(Trigger::Client).await.unwrap();
    assert!(!report.server_authenticated);
    assert_ne!(report.end, SessionEnd::Completed);
    // The server's command was never executed: refused with 401/407.
    let codes: Vec<u16> = server.statuses().iter().map(|(_, c, _)| c.0).collect();
    assert!(!codes.is_empty());
    assert!(codes.iter().all(|c| *c == 401 || *c == 407), "{codes:?}");
    assert!(agent.device().tree().get("./Ext/X").is_none());
}

/// Waits until the server has seen `n` sessions.
async fn wait_sessions(server: &TestServer, n: usize) -> bool {
    for _ in 0..100 {
        if server.sessions() >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package0_over_http_and_udp_triggers_sessions_wrong_digest_ignored() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let server = start_server().await;
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::new(config(&server, dir.path(), "")).await.unwrap();
    // A first session so that both sides share the server nonce.
    agent.run_session(Trigger::Client).await.unwrap();
    let nonce = server.server_nonce();
    let http_addr: SocketAddr = agent.http_addr().unwrap();
    let udp_addr: SocketAddr = agent.udp_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async move {
        let _ = stop_rx.await;
    }));
    let http = reqwest::Client::new();

    // Wrong digest (wrong password): ignored.
    let bad = Notification::new(SERVER_ID, 0x10)
        .encode("wrong", &nonce)
        .unwrap();
    let r = http
        .post(format!("http://{http_addr}/"))
        .header("content-type", syncml::CONTENT_TYPE_NOTIFICATION)
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.sessions(),
        1,
        "a wrong digest must not start a session"
    );

    // Good digest over HTTP: a server-initiated session with that session id.
    server.plan(vec![get("./DevInfo/Lang")]);
    let good = Notification::new(SERVER_ID, 0x2A)
        .encode(SRV_SECRET, &nonce)
        .unwrap();
    http.post(format!("http://{http_addr}/"))
        .header("content-type", syncml::CONTENT_TYPE_NOTIFICATION)
        .body(good)
        .send()
        .await
        .unwrap();
    assert!(
        wait_sessions(&server, 2).await,
        "HTTP Package 0 started no session"
    );
    let sid = server
        .inner
        .lock()
        .unwrap()
        .session
        .as_ref()
        .unwrap()
        .session_id()
        .map(str::to_owned);
    assert_eq!(sid.as_deref(), Some("2A"));

    // Good digest over UDP (WSP push), with the nonce rotated by the last session.
    for _ in 0..50 {
        if server
            .inner
            .lock()
            .unwrap()
            .session
            .as_ref()
            .unwrap()
            .ended()
            .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let nonce = server.server_nonce();
    let body = Notification::new(SERVER_ID, 0x2B)
        .encode(SRV_SECRET, &nonce)
        .unwrap();
    let push = wsp::encode_push(1, &body, &[]).unwrap();
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&push, udp_addr).await.unwrap();
    assert!(
        wait_sessions(&server, 3).await,
        "UDP Package 0 started no session"
    );

    stop_tx.send(()).unwrap();
    running.await.unwrap().unwrap();
}
