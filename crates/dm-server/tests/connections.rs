//! dm-server behind `dm_host::listener` (issue 6, items 10c and 9d): its connection and
//! request bounds hold for the DM endpoint and the API, and the `RespURI` it hands out comes
//! from `public_url` or from a plain `Host` header, never from a hostile one.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::device::{Device, SERVER_ID, now};
use common::{config, start, temp_db};
use dm_host::listener::ListenerLimits;
use dm_proto::{AuthScheme, ClientConfig, ClientSession, Credentials, Initiator, StoredSecret};
use rand::RngCore as _;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

async fn provision(s: &common::Running, id: &str) {
    let r = s
        .post(
            "/devices",
            json!({"device_id": id, "auth_type": "md5", "auth_name": id,
                   "auth_secret": "pw", "server_secret": "server-secret"}),
        )
        .await;
    assert_eq!(r.status(), 201);
}

/// Package 1 of a fresh MD5 session of `id` (password `pw`).
fn package1(id: &str) -> Vec<u8> {
    let dev = Device::new(id, id, "pw");
    let mut c = ClientConfig::new("http://unused/dm", id);
    c.credentials = Some(Credentials {
        scheme: AuthScheme::Md5,
        name: id.to_owned(),
        secret: StoredSecret::Password("pw".to_owned()),
        nonce: Vec::new(),
    });
    c.server_credentials = Some(Credentials {
        scheme: AuthScheme::Md5,
        name: SERVER_ID.to_owned(),
        secret: StoredSecret::Password("server-secret".to_owned()),
        nonce: Vec::new(),
    });
    let mut s = ClientSession::new(
        c,
        Initiator::Client,
        7,
        dm_tree::mo::devinfo::items(&dev.tree),
        Box::new(|b: &mut [u8]| rand::rng().fill_bytes(b)),
        now(),
    );
    s.poll_transmit(now()).unwrap().bytes
}

/// POSTs package 1 with the given `Host` header on a raw connection; returns the `RespURI`.
async fn resp_uri_with_host(addr: std::net::SocketAddr, host: &str, id: &str) -> String {
    let body = package1(id);
    let mut c = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /dm HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.syncml.dm+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c.write_all(&body).await.unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).await.unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let start = resp.find("<RespURI>").expect("a RespURI") + "<RespURI>".len();
    let end = resp[start..].find("</RespURI>").unwrap() + start;
    resp[start..end].to_owned()
}

/// Item 9d: with `public_url` the RespURI is built on it, whatever the Host header says.
#[tokio::test]
async fn resp_uri_uses_the_configured_public_url() {
    let (_dir, db) = temp_db();
    let s = start(dm_server::Config {
        public_url: Some("https://dm.example.org/tenant-a/".into()),
        ..config(&db)
    })
    .await;
    provision(&s, "IMEI:pub").await;
    let uri = resp_uri_with_host(s.addr, "10.1.2.3:8080", "IMEI:pub").await;
    assert!(
        uri.starts_with("https://dm.example.org/tenant-a/dm/s/"),
        "{uri}"
    );
    s.stop().await;
}

/// Without `public_url` the Host header is used when it is a plain `host[:port]`; anything
/// else (a path, user information) is not copied into the RespURI.
#[tokio::test]
async fn resp_uri_uses_a_valid_host_header_only() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    for (i, (host, expected)) in [
        ("dm.lan:8080", "http://dm.lan:8080/dm/s/"),
        ("[::1]:9", "http://[::1]:9/dm/s/"),
        ("evil.example/x?", "http://localhost/dm/s/"),
        ("user@evil.example", "http://localhost/dm/s/"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("IMEI:host{i}");
        provision(&s, &id).await;
        let uri = resp_uri_with_host(s.addr, host, &id).await;
        assert!(uri.starts_with(expected), "Host {host:?} gave {uri}");
    }
    s.stop().await;
}

#[tokio::test]
async fn an_invalid_public_url_fails_at_bind() {
    let (_dir, db) = temp_db();
    let err = dm_server::Server::bind(dm_server::Config {
        public_url: Some("https://user:pw@dm.example.org".into()),
        ..config(&db)
    })
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            dm_server::Error::Listener(dm_host::Error::InvalidPublicUrl { .. })
        ),
        "{err}"
    );
}

/// Item 10c: a slow-header connection is cut after `header_read_timeout`; the server serves
/// others meanwhile.
#[tokio::test]
async fn slow_header_connections_are_cut() {
    let (_dir, db) = temp_db();
    let s = start(dm_server::Config {
        listener: ListenerLimits {
            header_read_timeout: Duration::from_millis(500),
            ..ListenerLimits::default()
        },
        ..config(&db)
    })
    .await;
    let started = Instant::now();
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(b"POST /dm HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert_eq!(s.get("/devices").await.status(), 200);
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf))
        .await
        .expect("cut by the header timeout")
        .unwrap_or(0);
    let took = started.elapsed();
    // hyper may answer 408 before closing; either way the connection is over.
    assert!(
        n == 0 || buf[..n].starts_with(b"HTTP/1.1 408"),
        "{:?}",
        &buf[..n]
    );
    assert!(took >= Duration::from_millis(450), "{took:?}");
    s.stop().await;
}

/// Item 10c: past `max_in_flight` a DM message gets 503 with Retry-After at once, not a queue;
/// once the held requests finish, DM sessions run again.
#[tokio::test]
async fn dm_requests_past_the_in_flight_bound_get_503() {
    let (_dir, db) = temp_db();
    let s = start(dm_server::Config {
        listener: ListenerLimits {
            max_in_flight: 2,
            retry_after: Duration::from_secs(3),
            ..ListenerLimits::default()
        },
        ..config(&db)
    })
    .await;
    provision(&s, "IMEI:busy").await;
    // Two requests whose bodies have not arrived hold both slots.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
            .await
            .unwrap();
        held.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let dm_url = format!("{}/dm", s.url);
    let started = Instant::now();
    let r = s
        .http
        .post(&dm_url)
        .header("content-type", "application/vnd.syncml.dm+xml")
        .body(package1("IMEI:busy"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "3");
    assert!(started.elapsed() < Duration::from_millis(500));
    // The held requests complete and are answered.
    for c in &mut held {
        c.write_all(b"abcd").await.unwrap();
        let mut buf = [0u8; 256];
        let n = c.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    }
    // Recovered: a whole DM session succeeds.
    let mut dev = Device::new("IMEI:busy", "IMEI:busy", "pw");
    let out = dev.session(&s.http, &dm_url).await;
    assert_eq!(out.ended, Some(dm_proto::SessionEnd::Completed), "{out:?}");
    s.stop().await;
}

/// Under load the later messages of an admitted session go first: with three of four
/// in-flight slots held, a new session is shed but a running one continues to its end.
#[tokio::test]
async fn a_running_session_continues_while_new_ones_are_shed() {
    let (_dir, db) = temp_db();
    let s = start(dm_server::Config {
        listener: ListenerLimits {
            max_in_flight: 4,
            ..ListenerLimits::default()
        },
        ..config(&db)
    })
    .await;
    provision(&s, "IMEI:run").await;
    provision(&s, "IMEI:new").await;
    let job = json!({"device_id": "IMEI:run", "commands": [
        {"kind": "get", "items": [{"path": "./DevInfo/Mod"}]}]});
    assert_eq!(s.post("/jobs", job).await.status(), 201);
    let dm_url = format!("{}/dm", s.url);

    // Package 1 of the running session is admitted (nothing is held yet).
    let mut c = ClientConfig::new(dm_url.clone(), "IMEI:run");
    c.credentials = Some(Credentials {
        scheme: AuthScheme::Md5,
        name: "IMEI:run".to_owned(),
        secret: StoredSecret::Password("pw".to_owned()),
        nonce: Vec::new(),
    });
    let dev = Device::new("IMEI:run", "IMEI:run", "pw");
    let mut session = ClientSession::new(
        c,
        Initiator::Client,
        9,
        dm_tree::mo::devinfo::items(&dev.tree),
        Box::new(|b: &mut [u8]| rand::rng().fill_bytes(b)),
        now(),
    );
    let post = |url: String, bytes: Vec<u8>| {
        s.http
            .post(url)
            .header("content-type", "application/vnd.syncml.dm+xml")
            .body(bytes)
            .send()
    };
    let t = session.poll_transmit(now()).unwrap();
    let r = post(t.url.unwrap(), t.bytes).await.unwrap();
    assert_eq!(r.status(), 200);
    session
        .handle_bytes(now(), &r.bytes().await.unwrap(), None)
        .unwrap();

    // Three requests whose bodies have not arrived hold three of the four slots.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
            .await
            .unwrap();
        held.push(c);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = post(dm_url.clone(), package1("IMEI:new")).await.unwrap();
    assert_eq!(r.status(), 503, "a new session is shed");

    // The running session answers its Get on its RespURI and completes.
    let mut messages = 0;
    while let Some(ev) = session.poll_event() {
        if let dm_proto::ClientEvent::Commands { msg_id, commands } = ev {
            let mut tree = Device::new("IMEI:run", "IMEI:run", "pw").tree;
            let ctx = dm_tree::ExecContext {
                server_id: SERVER_ID,
                msg_id: &msg_id,
                now: dm_tree::Timestamp(0),
            };
            let answers = commands
                .iter()
                .flat_map(|c| tree.execute(&ctx, c))
                .collect();
            session.respond(answers).unwrap();
        }
    }
    while let Some(t) = session.poll_transmit(now()) {
        let url = t.url.unwrap();
        assert!(url.contains("/dm/s/"), "{url}");
        let r = post(url, t.bytes).await.unwrap();
        assert_eq!(r.status(), 200, "the running session is not shed");
        session
            .handle_bytes(now(), &r.bytes().await.unwrap(), None)
            .unwrap();
        while session.poll_event().is_some() {}
        messages += 1;
    }
    assert!(messages >= 1);
    assert_eq!(session.ended(), Some(dm_proto::SessionEnd::Completed));
    drop(held);
    s.stop().await;
}

#[tokio::test]
async fn invalid_listener_limits_fail_at_bind() {
    let (_dir, db) = temp_db();
    let err = dm_server::Server::bind(dm_server::Config {
        listener: ListenerLimits {
            max_connections: 0,
            ..ListenerLimits::default()
        },
        ..config(&db)
    })
    .await
    .unwrap_err();
    assert!(matches!(err, dm_server::Error::Listener(_)), "{err}");
}
