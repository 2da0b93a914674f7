//! The listener's bounds, seen from the outside: real sockets on 127.0.0.1, raw TCP for the
//! hostile peers, reqwest for the well-behaved ones (issue 6, item 10c).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use dm_host::listener::{Listener, ListenerLimits, tls_config};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A running listener; dropping `stop` shuts it down.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
    }
}

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "ok\n" }))
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "slow\n"
            }),
        )
        .route(
            "/p/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "slow\n"
            }),
        )
        .route(
            "/hang",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never\n"
            }),
        )
        .route(
            "/echo",
            axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        )
        .route("/big", get(|| async { vec![b'x'; 64 << 20] }))
}

async fn start_with(limits: ListenerLimits, tls: Option<Arc<rustls::ServerConfig>>) -> Running {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), tls, limits)
        .await
        .unwrap();
    let addr = listener.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(listener.serve(app(), async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

async fn start_prioritised(limits: ListenerLimits) -> Running {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), None, limits)
        .await
        .unwrap()
        .with_priority(|uri| uri.path().starts_with("/p/"));
    let addr = listener.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(listener.serve(app(), async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task,
    }
}

async fn start(limits: ListenerLimits) -> Running {
    start_with(limits, None).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Reads until the peer closes (Ok(0)) or resets; returns when it did.
async fn closed_after(mut s: TcpStream, started: Instant) -> Duration {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => {}
        }
    }
}

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

#[tokio::test]
async fn slow_header_clients_are_cut_after_the_header_timeout() {
    let s = start(ListenerLimits {
        header_read_timeout: Duration::from_millis(500),
        ..ListenerLimits::default()
    })
    .await;
    let started = Instant::now();
    // One sends part of a head, one a byte now and then, one nothing at all.
    let mut partial = TcpStream::connect(s.addr).await.unwrap();
    partial
        .write_all(b"POST /dm HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let mut dripping = TcpStream::connect(s.addr).await.unwrap();
    let silent = TcpStream::connect(s.addr).await.unwrap();
    let drip = tokio::spawn(async move {
        for b in b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if dripping.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        closed_after(dripping, started).await
    });
    for took in [
        closed_after(partial, started).await,
        closed_after(silent, started).await,
        drip.await.unwrap(),
    ] {
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(3),
            "{took:?}"
        );
    }
    // A well-behaved client is served all along.
    let r = client().get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn kept_alive_connections_are_closed_after_the_header_timeout() {
    let s = start(ListenerLimits {
        header_read_timeout: Duration::from_millis(400),
        ..ListenerLimits::default()
    })
    .await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(REQUEST).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = c.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    let started = Instant::now();
    let took = closed_after(c, started).await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    s.stop().await;
}

#[tokio::test]
async fn the_peer_address_reaches_the_handler() {
    let s = start(ListenerLimits::default()).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let local = c.local_addr().unwrap();
    c.write_all(b"GET /peer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).await.unwrap();
    assert!(text.ends_with(&local.to_string()), "{text}");
    s.stop().await;
}

/// A flood of concurrent requests past `max_in_flight`: those over the bound get 503 with
/// `Retry-After` at once, the admitted ones are served, and afterwards all is normal.
#[tokio::test]
async fn requests_past_the_in_flight_bound_get_503_with_retry_after() {
    let s = start(ListenerLimits {
        max_in_flight: 4,
        retry_after: Duration::from_secs(2),
        ..ListenerLimits::default()
    })
    .await;
    let http = client();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let (http, url) = (http.clone(), s.url("/slow"));
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let r = http.get(url).send().await.unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), retry, t0.elapsed())
        }));
    }
    let mut ok = 0;
    let mut busy = 0;
    for t in tasks {
        let (status, retry, took) = t.await.unwrap();
        match status {
            200 => ok += 1,
            503 => {
                busy += 1;
                assert_eq!(retry.as_deref(), Some("2"));
                assert!(
                    took < Duration::from_millis(500),
                    "503 not at once: {took:?}"
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 4, "exactly max_in_flight admitted");
    assert_eq!(busy, 20);
    assert!(started.elapsed() < Duration::from_secs(3));
    // Recovered: the bound is free again.
    for _ in 0..4 {
        assert_eq!(http.get(s.url("/")).send().await.unwrap().status(), 200);
    }
    s.stop().await;
}

/// With a priority rule, a quarter of the slots is kept for priority requests: new work is
/// shed while the continuation of admitted work still gets in.
#[tokio::test]
async fn priority_requests_get_the_reserved_slots() {
    let s = start_prioritised(ListenerLimits {
        max_in_flight: 4,
        ..ListenerLimits::default()
    })
    .await;
    let http = client();
    let mut normal = Vec::new();
    for _ in 0..3 {
        let (http, url) = (http.clone(), s.url("/slow"));
        normal.push(tokio::spawn(async move {
            http.get(url).send().await.unwrap().status().as_u16()
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Three of four slots taken: new work is shed, priority work is admitted.
    assert_eq!(http.get(s.url("/")).send().await.unwrap().status(), 503);
    assert_eq!(
        http.get(s.url("/p/slow")).send().await.unwrap().status(),
        200
    );
    for t in normal {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(http.get(s.url("/")).send().await.unwrap().status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn a_request_past_the_request_timeout_gets_408() {
    let s = start(ListenerLimits {
        request_timeout: Duration::from_millis(300),
        max_in_flight: 1,
        ..ListenerLimits::default()
    })
    .await;
    let http = client();
    let r = http.get(s.url("/hang")).send().await.unwrap();
    assert_eq!(r.status(), 408);
    // Its in-flight slot was given back.
    assert_eq!(http.get(s.url("/")).send().await.unwrap().status(), 200);
    // A body that never completes is cut the same way.
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nabc")
        .await
        .unwrap();
    let mut text = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_string(&mut text)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    s.stop().await;
}

/// Past `max_connections` new connections wait while the existing ones are served; the
/// existing ones are told to close after their response, and the waiting one gets a slot.
#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_and_the_server_recovers() {
    let s = start(ListenerLimits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(10),
        ..ListenerLimits::default()
    })
    .await;
    // Two connections in the middle of a request head hold both slots.
    let mut a = TcpStream::connect(s.addr).await.unwrap();
    let mut b = TcpStream::connect(s.addr).await.unwrap();
    for c in [&mut a, &mut b] {
        c.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = {
        let url = s.url("/");
        tokio::spawn(async move { client().get(url).send().await.unwrap().status().as_u16() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !third.is_finished(),
        "the third connection must wait past the cap"
    );
    // The admitted connections are served meanwhile; at the cap a response says
    // `Connection: close`, and the slot it frees goes to the waiting connection at once.
    a.write_all(b"Host: t\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = a.read(&mut buf).await.unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let served = Instant::now();
    assert_eq!(third.await.unwrap(), 200);
    assert!(
        served.elapsed() < Duration::from_secs(2),
        "{:?}",
        served.elapsed()
    );
    b.write_all(b"Host: t\r\n\r\n").await.unwrap();
    let n = b.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    // Below the cap again (one connection of two): keep-alive as usual.
    drop((a, b));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = client().get(s.url("/")).send().await.unwrap();
    assert!(r.headers().get("connection").is_none());
    s.stop().await;
}

/// At the cap, a connection idle between requests is closed to make room at once; one that
/// has not sent its first request yet is left to the header timeout.
#[tokio::test]
async fn at_the_cap_idle_connections_make_room() {
    let s = start(ListenerLimits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(10),
        ..ListenerLimits::default()
    })
    .await;
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    let mut kept = TcpStream::connect(s.addr).await.unwrap();
    kept.write_all(REQUEST).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let r = client().get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let closed = Instant::now();
    assert!(closed_after(kept, closed).await < Duration::from_secs(2));
    // The silent one still gets its turn.
    silent.write_all(REQUEST).await.unwrap();
    let n = silent.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &buf[..n]);
    s.stop().await;
}

/// Connections holding every slot without a complete head are cut by the header timeout,
/// and a client waiting behind them is then served.
#[tokio::test]
async fn a_slow_header_flood_at_the_cap_drains_and_the_server_accepts_again() {
    let s = start(ListenerLimits {
        max_connections: 8,
        header_read_timeout: Duration::from_millis(700),
        ..ListenerLimits::default()
    })
    .await;
    let mut flood = Vec::new();
    for _ in 0..8 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        flood.push(c);
    }
    let started = Instant::now();
    let r = client().get(s.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(4),
        "{took:?}"
    );
    drop(flood);
    s.stop().await;
}

/// A peer that stops reading its response frees its slot after the idle timeout.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_after_the_idle_timeout() {
    let s = start(ListenerLimits {
        max_connections: 1,
        idle_timeout: Duration::from_millis(500),
        ..ListenerLimits::default()
    })
    .await;
    let mut stalled = TcpStream::connect(s.addr).await.unwrap();
    stalled
        .write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(5), client().get(s.url("/")).send())
        .await
        .expect("the stalled reader's slot is freed")
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    drop(stalled);
    s.stop().await;
}

#[tokio::test]
async fn shutdown_lets_running_requests_finish_and_stops_accepting() {
    let s = start(ListenerLimits::default()).await;
    let addr = s.addr;
    let slow = tokio::spawn(client().get(s.url("/slow")).send());
    tokio::time::sleep(Duration::from_millis(150)).await;
    s.stop().await;
    let r = slow.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "slow\n");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn shutdown_grace_bounds_a_request_that_never_ends() {
    let s = start(ListenerLimits {
        shutdown_grace: Duration::from_millis(300),
        ..ListenerLimits::default()
    })
    .await;
    let hang = tokio::spawn(client().get(s.url("/hang")).send());
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    s.stop().await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        hang.await.unwrap().is_err(),
        "the hung request's connection was dropped"
    );
}

#[tokio::test]
async fn tls_serves_and_a_stalled_handshake_is_cut() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let tls = tls_config(&cert_path, &key_path).unwrap();
    let s = start_with(
        ListenerLimits {
            header_read_timeout: Duration::from_millis(500),
            ..ListenerLimits::default()
        },
        Some(tls),
    )
    .await;
    let started = Instant::now();
    let stalled = TcpStream::connect(s.addr).await.unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", s.addr)
        .no_proxy()
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/peer", s.addr.port());
    let r = https.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().starts_with("127.0.0.1:"));
    let took = closed_after(stalled, started).await;
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "{took:?}"
    );
    s.stop().await;
}

#[tokio::test]
async fn pem_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a pem").unwrap();
    assert!(matches!(
        tls_config(&junk, &junk),
        Err(dm_host::Error::Pem { .. })
    ));
    assert!(matches!(
        tls_config(&dir.path().join("missing.pem"), &junk),
        Err(dm_host::Error::Pem { .. })
    ));
}

#[tokio::test]
async fn invalid_limits_fail_at_bind() {
    let err = Listener::bind(
        "127.0.0.1:0".parse().unwrap(),
        None,
        ListenerLimits {
            max_in_flight: 0,
            ..ListenerLimits::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        dm_host::Error::InvalidLimit {
            field: "max_in_flight",
            ..
        }
    ));
}
