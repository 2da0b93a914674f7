//! Issue 6, item 5: a server response is read only up to the session's limit (announced
//! `MaxMsgSize` plus headroom), never whole first. Scripted peers on raw TCP: one streams an
//! endless chunked body, one announces a huge `Content-Length`, one answers 503 with
//! `Retry-After`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dm_client::config::AuthType;
use dm_client::config::DeviceOverrides;
use dm_client::device::{Account, AuthSpec, Device};
use dm_client::device_info::SystemFacts;
use dm_client::session::response_limit;
use dm_client::{Error, Trigger};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const MAX_MSG: usize = 16 * 1024;

fn device(url: &str) -> Device {
    let account = Account {
        server_url: url.to_owned(),
        server_id: "srv".into(),
        device_id: "IMEI:limit".into(),
        client_auth: AuthSpec {
            auth_type: AuthType::Md5,
            name: "dev".into(),
            secret: "pw".into(),
        },
        server_auth: AuthSpec {
            auth_type: AuthType::None,
            name: "srv".into(),
            secret: String::new(),
        },
        encoding: syncml::Encoding::Xml,
        max_msg_size: MAX_MSG,
        max_obj_size: 64 * 1024,
        idle_timeout: Duration::from_secs(10),
    };
    let facts = SystemFacts::from_system(Some("IMEI:limit"), &DeviceOverrides::default());
    Device::build(account, &facts).unwrap()
}

/// Reads one request (head and `Content-Length` body) from `c`.
async fn read_request(c: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut byte).await.unwrap(), 1);
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).await.unwrap();
}

/// A one-connection peer that answers the first request with `head` and then, when
/// `endless`, 64 KiB chunks until the client goes away. Returns the bytes it managed to write.
async fn peer(head: &'static str, endless: bool) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    tokio::spawn(async move {
        let (mut c, _) = listener.accept().await.unwrap();
        read_request(&mut c).await;
        c.write_all(head.as_bytes()).await.unwrap();
        if !endless {
            return;
        }
        let chunk = format!("10000\r\n{}\r\n", "<".repeat(0x10000));
        while c.write_all(chunk.as_bytes()).await.is_ok() {
            w.fetch_add(0x10000, Ordering::Relaxed);
        }
    });
    (addr, written)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

#[test]
fn the_limit_is_max_msg_size_plus_headroom_within_the_decoder_limit() {
    assert_eq!(response_limit(16 * 1024, 4 << 20), 16 * 1024 + 4096);
    assert_eq!(response_limit(64 * 1024, 4 << 20), 80 * 1024);
    assert_eq!(response_limit(8 << 20, 4 << 20), 4 << 20);
    assert_eq!(response_limit(usize::MAX, 4 << 20), 4 << 20);
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_limit() {
    let (addr, written) = peer(
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.syncml.dm+xml\r\nTransfer-Encoding: chunked\r\n\r\n",
        true,
    )
    .await;
    let mut dev = device(&format!("http://{addr}/dm"));
    let started = Instant::now();
    let err = dev
        .run_session(&client(), Trigger::Client, &[])
        .await
        .unwrap_err();
    let limit = response_limit(MAX_MSG, syncml::Limits::default().max_size);
    assert!(
        matches!(&err, Error::ResponseTooLarge { limit: l, .. } if *l == limit),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The client stopped reading: the peer could not push much more than the socket buffers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pushed = written.load(Ordering::Relaxed);
    assert!(pushed < 64 << 20, "the peer wrote {pushed} bytes");
}

#[tokio::test]
async fn a_huge_content_length_fails_before_reading() {
    let (addr, _) = peer(
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.syncml.dm+xml\r\nContent-Length: 1000000000\r\n\r\n<SyncML>",
        false,
    )
    .await;
    let mut dev = device(&format!("http://{addr}/dm"));
    let started = Instant::now();
    let err = dev
        .run_session(&client(), Trigger::Client, &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_503_is_a_typed_status_with_retry_after() {
    let (addr, _) = peer(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 25\r\n\r\nserver busy, retry later\n",
        false,
    )
    .await;
    let mut dev = device(&format!("http://{addr}/dm"));
    let err = dev
        .run_session(&client(), Trigger::Client, &[])
        .await
        .unwrap_err();
    match err {
        Error::HttpStatus {
            status,
            retry_after_secs,
            text,
            ..
        } => {
            assert_eq!(status, 503);
            assert_eq!(retry_after_secs, Some(7));
            assert_eq!(text, "server busy, retry later\n");
        }
        other => panic!("{other}"),
    }
}
