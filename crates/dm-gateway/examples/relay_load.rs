//! Transparent relay throughput (issue 7, "Performance": at least 20,000 notifications/s
//! validated and relayed): a gateway (`dm_gateway::run`, in this process) with D devices
//! registered in Transparent mode, each with its own UDP socket; N WSP push datagrams naming them
//! (`X-Oma-GwMO`, valid relay MAC) are sent to the gateway's UDP notification listener in
//! bursts of `--window`; counts the datagrams the devices receive and reports relayed/s.
//! Also sends the same number with a wrong MAC and checks that none is relayed.
//!
//! `cargo run --release -p dm-gateway --example relay_load -- [--devices D] [--count N] [--window W]`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dm_client::config::{AuthType, DeviceOverrides};
use dm_client::device::{Account, AuthSpec};
use dm_client::device_info::SystemFacts;
use dm_client::{Device, GenericAlert, Trigger};
use syncml::notification::{Notification, wsp};
use tokio::net::UdpSocket;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn register(id: &str, south: SocketAddr, udp: SocketAddr, http: &reqwest::Client) {
    let account = Account {
        server_url: format!("http://{south}/dm"),
        server_id: "dmgateway".into(),
        device_id: id.into(),
        client_auth: AuthSpec {
            auth_type: AuthType::Md5,
            name: id.into(),
            secret: "enrol".into(),
        },
        server_auth: AuthSpec {
            auth_type: AuthType::Md5,
            name: "dmgateway".into(),
            secret: "enrol".into(),
        },
        encoding: syncml::Encoding::Xml,
        max_msg_size: 64 * 1024,
        max_obj_size: 1024 * 1024,
        idle_timeout: Duration::from_secs(10),
    };
    let mut d = Device::build(
        account,
        &SystemFacts::from_system(Some(id), &DeviceOverrides::default()),
    )
    .unwrap();
    let request = gwmo::payload::RegistrationRequest {
        mode: Some(gwmo::mode::Mode::Transparent),
        addresses: vec![gwmo::inventory::Address::Udp(udp.to_string())],
        servers: vec!["dmserver".into()],
        lease: Some(Duration::from_secs(3600)),
    };
    let alert =
        gwmo::payload::generic_alert("", None, vec![gwmo::payload::registration_item(&request)]);
    let report = d
        .run_session(
            http,
            Trigger::Client,
            &[GenericAlert::from_alert(&alert).unwrap()],
        )
        .await
        .unwrap();
    assert!(report.completed());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let devices = arg("--devices", 100);
    let count = arg("--count", 100_000);
    let window = arg("--window", 256);
    let dir = tempfile::tempdir().unwrap();
    let config = dm_gateway::Config::from_toml(&format!(
        r#"
device_id = "GW:load"
db = "{}"
[[servers]]
url = "http://127.0.0.1:9/dm"
server_id = "dmserver"
client_auth = {{ type = "md5", name = "GW:load", secret = "gw" }}
server_auth = {{ type = "md5", secret = "srv" }}
[northbound]
udp = "127.0.0.1:0"
[southbound]
listen = "127.0.0.1:0"
enrolment_secret = "enrol"
[[mode_rules]]
name = "t"
match = ""
mode = "Transparent"
"#,
        dir.path().join("gw.db").display()
    ))
    .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(dm_gateway::run(
        config,
        move |b| {
            let _ = tx.send(b);
        },
        std::future::pending(),
    ));
    let bound = rx.await.unwrap();
    let north = bound.north_udp.unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let http = reqwest::Client::new();
    let mut targets = Vec::new();
    for i in 0..devices {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let id = format!("IMEI:load-{i}");
        register(&id, bound.south, sock.local_addr().unwrap(), &http).await;
        let r = received.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while sock.recv_from(&mut buf).await.is_ok() {
                r.fetch_add(1, Ordering::Relaxed);
            }
        });
        targets.push(id);
    }
    // One datagram per device, sent round robin.
    let body = Notification::new("dmserver", 7)
        .encode("device-secret", b"n")
        .unwrap();
    let datagram = |id: &str, mac: &str| {
        wsp::encode_push(
            1,
            &body,
            &[
                wsp::Header::GwMo(id.to_owned()),
                wsp::Header::Application {
                    name: dm_gateway::relay::RELAY_MAC_HEADER.into(),
                    value: mac.to_owned(),
                },
            ],
        )
        .unwrap()
    };
    let good: Vec<Vec<u8>> = targets
        .iter()
        .map(|id| {
            datagram(
                id,
                &dm_gateway::relay::relay_mac("dmserver", "srv", b"", id, &body),
            )
        })
        .collect();
    let bad: Vec<Vec<u8>> = targets
        .iter()
        .map(|id| datagram(id, "AAAAAAAAAAAAAAAAAAAAAA=="))
        .collect();
    let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let run = |set: Vec<Vec<u8>>, expect: u64| {
        let received = received.clone();
        let sender = &sender;
        async move {
            let before = received.load(Ordering::Relaxed);
            let start = Instant::now();
            let mut sent = 0usize;
            while sent < count {
                let burst = window.min(count - sent);
                for k in 0..burst {
                    sender
                        .send_to(&set[(sent + k) % set.len()], north)
                        .await
                        .unwrap();
                }
                sent += burst;
                // Keep at most `window` in flight: wait until they are through.
                let target = before + (sent as u64).min(expect);
                let deadline =
                    Instant::now() + Duration::from_millis(if expect == 0 { 2 } else { 500 });
                while received.load(Ordering::Relaxed) < target && Instant::now() < deadline {
                    tokio::task::yield_now().await;
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            (received.load(Ordering::Relaxed) - before, start.elapsed())
        }
    };
    let (got, took) = run(good, count as u64).await;
    println!(
        "relayed {got} of {count} notifications to {devices} Transparent-mode devices in {:.2} s: {:.0} notifications/s",
        took.as_secs_f64(),
        got as f64 / took.as_secs_f64()
    );
    let (got_bad, _) = run(bad, 0).await;
    println!("with a wrong relay MAC: {got_bad} of {count} relayed (expected 0)");
    assert_eq!(got_bad, 0);
}
