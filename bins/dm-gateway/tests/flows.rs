//! Gateway flows through the binary, with an in-process dm-server (issue 7 item 7):
//! - Y (GwMO-PMode-001, B.3): a proxied Get answered in the same server session;
//! - an unknown target gets 404, a device that never answers 504 (no hang, no stuck job);
//! - a device that fails authentication cannot register (GwMO-SECACATE-001);
//! - B.5 / GwMO-DI-002: the summary; DI-003: a device turns detached after its lease, and the
//!   server is told (GwMO-DI-004/005, B.9); DI-005: with InformNewDevices false it is not.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod common;

use std::time::Duration;

use common::{Setup, device_entry, fanout, free_udp_port, proxy_device, statuses};
use serde_json::json;

const GET_MOD: &str =
    "<Get><CmdID>1</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI></Target></Item></Get>";

fn results_text(job: &serde_json::Value) -> String {
    job["results"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxied_get_unknown_target_and_timeout() {
    let dev_udp = free_udp_port();
    let mute_udp = free_udp_port();
    let extra = format!(
        "{}{}",
        device_entry("IMEI:on", Some(dev_udp)),
        device_entry("IMEI:mute", Some(mute_udp))
    );
    let s = Setup::new(&extra).await;
    let _gw = s.start_gateway();
    let agent = dm_client::Agent::new(proxy_device(
        "IMEI:on",
        s.south,
        "dev-secret",
        Some(dev_udp),
        &s.path("on.bin"),
    ))
    .await
    .unwrap();
    tokio::spawn(agent.run(std::future::pending()));
    // IMEI:mute registers once and then never answers again (nothing listens on its port).
    common::register_silent(&s, "IMEI:mute").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Y: answered within the wait, in the same session: 200 with the device's response.
    let job = s
        .gateway_job(fanout("y1", "IMEI:on", GET_MOD, 20, 300))
        .await;
    assert_eq!(statuses(&job).last(), Some(&200), "{job}");
    assert!(results_text(&job).contains("Model-IMEI:on"), "{job}");

    // An unknown target: 404 for its command, at once.
    let job = s
        .gateway_job(fanout("u1", "IMEI:nobody", GET_MOD, 20, 300))
        .await;
    assert_eq!(statuses(&job).last(), Some(&200), "{job}");
    assert!(results_text(&job).contains("<Data>404</Data>"), "{job}");

    // A device that never answers: 202 at the wait, then 504 at the deadline by alert.
    let job = s
        .gateway_job(fanout("t1", "IMEI:mute", GET_MOD, 1, 3))
        .await;
    assert_eq!(statuses(&job).last(), Some(&202), "{job}");
    let e = s
        .wait_event(|e| {
            e["source"].as_str() == Some("./GwMO/Fanout/Operations/t1/Devices/IMEI:mute/Response")
        })
        .await;
    assert!(
        e["data"].as_str().unwrap().contains("<Data>504</Data>"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_authentication_lease_and_inform() {
    let extra = format!(
        "{}{}{}",
        device_entry("IMEI:a", None),
        device_entry("IMEI:b", None),
        "[[mode_rules]]\nname = \"t\"\nmatch = \"\"\nmode = \"Transparent\"\n"
    );
    let s = Setup::new(&extra).await;
    let _gw = s.start_gateway();
    // A wrong password: refused, nothing registered.
    let mut wrong = dm_client::Agent::new(proxy_device(
        "IMEI:b",
        s.south,
        "not-the-secret",
        None,
        &s.path("b.bin"),
    ))
    .await
    .unwrap();
    let refused = wrong.run_session(dm_client::Trigger::Client).await;
    assert!(
        !matches!(&refused, Ok(r) if r.completed()),
        "a wrong password completed a session: {refused:?}"
    );
    // IMEI:a registers explicitly in Transparent mode with a 2 s lease.
    let mut dev = dm_client::Device::build(
        dm_client::device::Account {
            server_url: format!("http://{}/dm", s.south),
            server_id: "dmgateway".into(),
            device_id: "IMEI:a".into(),
            client_auth: dm_client::device::AuthSpec {
                auth_type: dm_client::config::AuthType::Md5,
                name: "IMEI:a".into(),
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
        &dm_client::device_info::SystemFacts::from_system(Some("IMEI:a"), &Default::default()),
    )
    .unwrap();
    let request = gwmo::payload::RegistrationRequest {
        mode: Some(gwmo::mode::Mode::Transparent),
        addresses: vec![gwmo::inventory::Address::Udp("127.0.0.1:9".into())],
        servers: vec!["dmserver".into()],
        lease: Some(Duration::from_secs(2)),
    };
    let alert =
        gwmo::payload::generic_alert("", None, vec![gwmo::payload::registration_item(&request)]);
    let report = dev
        .run_session(
            &reqwest::Client::new(),
            dm_client::Trigger::Client,
            &[dm_client::GenericAlert::from_alert(&alert).unwrap()],
        )
        .await
        .unwrap();
    assert!(report.completed());

    // B.9 / DI-004: the server hears of the new device.
    s.wait_event(|e| {
        e["alert_type"]
            .as_str()
            .is_some_and(|t| t.contains("deviceattached"))
            && e["data"]
                .as_str()
                .is_some_and(|d| d.contains("IMEI%3Aa") && d.contains("mode=Transparent"))
    })
    .await;
    // DI-003: the lease runs out: detached, and the server is told.
    s.wait_event(|e| {
        e["alert_type"]
            .as_str()
            .is_some_and(|t| t.contains("devicedetached"))
    })
    .await;
    // B.5 / DI-002: the summary, and IMEI:b (wrong password) is not in the inventory.
    let job = s
        .gateway_job(json!([{"kind": "get", "items": [
            {"path": "./GwMO/DeviceInventory/Summary/Total"},
            {"path": "./GwMO/DeviceInventory/Summary/Detached"},
            {"path": "./GwMO/DeviceInventory/Summary/Transparent"},
            {"path": "./GwMO/DeviceInventory/Devices/IMEI:a/Status"}
        ]}]))
        .await;
    let values: Vec<String> = job["results"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["data"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(values, ["1", "1", "1", "detached"], "{job}");

    // DI-005: the server turns the switch off; a new registration is not reported.
    s.gateway_job(json!([{"kind": "replace", "items": [
        {"path": "./GwMO/GwConfig/InformNewDevices", "format": "bool", "value": "false"}
    ]}]))
    .await;
    let mut b = dm_client::Agent::new(proxy_device(
        "IMEI:b",
        s.south,
        "dev-secret",
        None,
        &s.path("b2.bin"),
    ))
    .await
    .unwrap();
    assert!(
        b.run_session(dm_client::Trigger::Client)
            .await
            .unwrap()
            .completed()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = s
        .call(reqwest::Method::GET, "/events?device_id=GW:t", None)
        .await;
    assert!(
        !events.to_string().contains("IMEI%3Ab"),
        "reported although InformNewDevices is false: {events}"
    );
}
