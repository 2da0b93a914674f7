//! Transparent mode through the gateway's `run()` on loopback (GwMO-TMode-001, seed 001
//! Z'.1-Z'.2, B.2): a device registers with the Device Registration Alert in an authenticated
//! session; a notification naming it in `X-Oma-GwMO` with a valid relay MAC is relayed to its
//! registered address unchanged; a wrong MAC, an unknown server, an unknown device or an
//! unregistered one are not relayed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::net::SocketAddr;
use std::time::Duration;

use dm_client::config::{AuthType, DeviceOverrides};
use dm_client::device::{Account, AuthSpec};
use dm_client::device_info::SystemFacts;
use dm_client::{Device, GenericAlert, Trigger};
use syncml::Encoding;
use syncml::notification::{Notification, wsp};
use tokio::net::UdpSocket;

const SERVER_ID: &str = "dmserver";
const SERVER_SECRET: &str = "server-secret-for-gw";

fn config(dir: &std::path::Path) -> dm_gateway::Config {
    let text = format!(
        r#"
device_id = "GW:relay"
db = "{db}"
[[servers]]
url = "http://127.0.0.1:9/dm"
server_id = "{SERVER_ID}"
client_auth = {{ type = "md5", name = "GW:relay", secret = "gw-secret" }}
server_auth = {{ type = "md5", secret = "{SERVER_SECRET}" }}
[northbound]
udp = "off"
http = "127.0.0.1:0"
[southbound]
listen = "127.0.0.1:0"
[[devices]]
id = "IMEI:T1"
client_auth = {{ type = "md5", name = "IMEI:T1", secret = "dev-secret" }}
server_secret = "gw-dev-secret"
[[devices]]
id = "IMEI:P1"
client_auth = {{ type = "md5", name = "IMEI:P1", secret = "dev-secret" }}
server_secret = "gw-dev-secret"
[[mode_rules]]
name = "any-transparent"
match = ""
mode = "Transparent"
"#,
        db = dir.join("gw.db").display()
    );
    dm_gateway::Config::from_toml(&text).unwrap()
}

async fn start(dir: &std::path::Path) -> (dm_gateway::Bound, tokio::sync::oneshot::Sender<()>) {
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let config = config(dir);
    tokio::spawn(async move {
        dm_gateway::run(
            config,
            move |b| {
                let _ = bound_tx.send(b);
            },
            async move {
                let _ = stop_rx.await;
            },
        )
        .await
        .unwrap();
    });
    (bound_rx.await.unwrap(), stop_tx)
}

fn device(id: &str, south: SocketAddr) -> Device {
    let account = Account {
        server_url: format!("http://{south}/dm"),
        server_id: "dmgateway".into(),
        device_id: id.into(),
        client_auth: AuthSpec {
            auth_type: AuthType::Md5,
            name: id.into(),
            secret: "dev-secret".into(),
        },
        server_auth: AuthSpec {
            auth_type: AuthType::Md5,
            name: "dmgateway".into(),
            secret: "gw-dev-secret".into(),
        },
        encoding: Encoding::Xml,
        max_msg_size: 64 * 1024,
        max_obj_size: 1024 * 1024,
        idle_timeout: Duration::from_secs(10),
    };
    let facts = SystemFacts::from_system(Some(id), &DeviceOverrides::default());
    Device::build(account, &facts).unwrap()
}

/// Registers `id` (Transparent mode asked for unless `mode` says otherwise) with its
/// notifications at `udp`.
async fn register(id: &str, south: SocketAddr, udp: SocketAddr, mode: Option<gwmo::mode::Mode>) {
    let mut d = device(id, south);
    let request = gwmo::payload::RegistrationRequest {
        mode,
        addresses: vec![gwmo::inventory::Address::Udp(udp.to_string())],
        servers: vec![SERVER_ID.into()],
        lease: Some(Duration::from_secs(600)),
    };
    let alert =
        gwmo::payload::generic_alert("", None, vec![gwmo::payload::registration_item(&request)]);
    let alert = GenericAlert::from_alert(&alert).unwrap();
    let report = d
        .run_session(&reqwest::Client::new(), Trigger::Client, &[alert])
        .await
        .unwrap();
    assert!(report.completed(), "{report:?}");
}

fn package0(server_id: &str) -> Vec<u8> {
    Notification::new(server_id, 0x42)
        .encode("device-own-server-secret", b"n")
        .unwrap()
}

async fn post(north: SocketAddr, device: &str, mac: Option<&str>, body: &[u8]) {
    let mut req = reqwest::Client::new()
        .post(format!("http://{north}/"))
        .header("content-type", syncml::CONTENT_TYPE_NOTIFICATION)
        .header("x-oma-gwmo", device)
        .body(body.to_vec());
    if let Some(m) = mac {
        req = req.header(dm_gateway::relay::RELAY_MAC_HEADER, m);
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 202);
}

async fn received(sock: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(Duration::from_millis(1500), sock.recv_from(&mut buf)).await {
        Ok(Ok((n, _))) => Some(buf[..n].to_vec()),
        _ => None,
    }
}

#[tokio::test]
async fn transparent_relay_checks_registration_server_and_mac() {
    let dir = tempfile::tempdir().unwrap();
    let (bound, _stop) = start(dir.path()).await;
    let north = bound.north_http.unwrap();
    let dev_sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let proxy_sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    register(
        "IMEI:T1",
        bound.south,
        dev_sock.local_addr().unwrap(),
        Some(gwmo::mode::Mode::Transparent),
    )
    .await;
    // A device registering in Proxy mode is not a relay target.
    register(
        "IMEI:P1",
        bound.south,
        proxy_sock.local_addr().unwrap(),
        Some(gwmo::mode::Mode::Proxy),
    )
    .await;

    let body = package0(SERVER_ID);
    let mac = dm_gateway::relay::relay_mac(SERVER_ID, SERVER_SECRET, b"", "IMEI:T1", &body);

    // Wrong MAC, no MAC: dropped.
    let wrong = dm_gateway::relay::relay_mac(SERVER_ID, "guess", b"", "IMEI:T1", &body);
    post(north, "IMEI:T1", Some(&wrong), &body).await;
    post(north, "IMEI:T1", None, &body).await;
    assert!(
        received(&dev_sock).await.is_none(),
        "a notification with a bad MAC was relayed"
    );

    // The MAC binds the device: the same MAC for another device does not verify.
    post(north, "IMEI:P1", Some(&mac), &body).await;
    // From a server the gateway does not know: dropped.
    let other = package0("someone-else");
    let other_mac =
        dm_gateway::relay::relay_mac("someone-else", SERVER_SECRET, b"", "IMEI:T1", &other);
    post(north, "IMEI:T1", Some(&other_mac), &other).await;
    // An unknown device: dropped.
    let unknown_mac =
        dm_gateway::relay::relay_mac(SERVER_ID, SERVER_SECRET, b"", "IMEI:nobody", &body);
    post(north, "IMEI:nobody", Some(&unknown_mac), &body).await;
    // A Proxy-mode device with a valid MAC: not relayed either.
    let p_mac = dm_gateway::relay::relay_mac(SERVER_ID, SERVER_SECRET, b"", "IMEI:P1", &body);
    post(north, "IMEI:P1", Some(&p_mac), &body).await;
    assert!(received(&dev_sock).await.is_none());
    assert!(received(&proxy_sock).await.is_none());

    // The valid one is relayed unchanged, as a WSP push datagram.
    post(north, "IMEI:T1", Some(&mac), &body).await;
    let datagram = received(&dev_sock).await.expect("relayed");
    let push = wsp::decode_push(&datagram).unwrap();
    assert!(push.is_dm_notification());
    assert_eq!(push.body, body, "the Package 0 is relayed byte for byte");
    assert_eq!(
        push.gwmo_device(),
        None,
        "the relay header is not passed on"
    );
}
