//! The gateway binary keeps its inventory and its pending proxy work across a kill -9
//! (issue 7 item 7; GwMO-DI-001/002, GwMO-PMode-001, seed 001 Y'): a Fanout operation for a
//! Proxy-mode device that is offline is answered 202 (asynchronous), the gateway is killed with
//! SIGKILL and started again on the same state file, the device comes online, and the
//! operation's outcome reaches the DM server as a `completionstatus` Generic Alert with the
//! Exec's correlator. The inventory (the device registered before the kill) is still there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod common;

use common::{Setup, device_entry, fanout, free_udp_port, proxy_device, statuses};
use serde_json::json;

const GET_MOD: &str =
    "<Get><CmdID>1</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI></Target></Item></Get>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_proxy_work_and_inventory_survive_kill_9() {
    let dev_udp = free_udp_port();
    let s = Setup::new(&device_entry("IMEI:dur", Some(dev_udp))).await;
    let gw = s.start_gateway();
    let device_config = proxy_device(
        "IMEI:dur",
        s.south,
        "dev-secret",
        Some(dev_udp),
        &s.path("dev.bin"),
    );
    // The device registers (implicitly, Proxy mode) with one session, then goes offline.
    {
        let mut once = device_config.clone();
        once.listen.udp = None;
        let mut agent = dm_client::Agent::new(once).await.unwrap();
        assert!(
            agent
                .run_session(dm_client::Trigger::Client)
                .await
                .unwrap()
                .completed()
        );
    }
    // A Fanout operation on the offline device: 202 after WaitSeconds (Y').
    let job = s
        .gateway_job(fanout("d1", "IMEI:dur", GET_MOD, 1, 300))
        .await;
    assert_eq!(statuses(&job).last(), Some(&202), "{job}");

    // kill -9, and start again on the same state.
    drop(gw);
    let _gw = s.start_gateway();
    // The device comes online: its session with the gateway carries the pending Get.
    let agent = dm_client::Agent::new(device_config).await.unwrap();
    tokio::spawn(agent.run(std::future::pending()));

    // The outcome reaches the server as a completionstatus alert with the correlator.
    let event = s
        .wait_event(|e| {
            e["alert_type"]
                .as_str()
                .is_some_and(|t| t.contains("completionstatus"))
                && e["data"]
                    .as_str()
                    .is_some_and(|d| d.contains("Model-IMEI:dur"))
        })
        .await;
    assert_eq!(
        event["source"].as_str(),
        Some("./GwMO/Fanout/Operations/d1/Devices/IMEI:dur/Response")
    );

    // The inventory survived the kill too (GwMO-DI-001).
    let job = s
        .gateway_job(json!([{"kind": "get", "items": [{"path": "./GwMO/DeviceInventory/Devices/IMEI:dur/Mode"}]}]))
        .await;
    assert!(job.to_string().contains("Proxy"), "{job}");
}
