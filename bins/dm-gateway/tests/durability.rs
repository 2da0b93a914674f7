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

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{
    Setup, device_entry, fanout, fanout_with, free_udp_port, get_values, proxy_device, spawn_agent,
    statuses, wait_aggregate,
};
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

/// GwMO-FORA-002 across a kill -9: a fanout to several devices is killed after some answered;
/// after the restart it resumes (the offline device runs when it comes back), no stored answer
/// is lost and the completion at the server counts every device exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gwmo_fora_002_fanout_resumes_after_kill_9_counting_each_device_once() {
    let ports: Vec<u16> = (0..4).map(|_| free_udp_port()).collect();
    let ids = ["IMEI:k1", "IMEI:k2", "IMEI:k3", "IMEI:off"];
    let extra: String = ids
        .iter()
        .zip(&ports)
        .map(|(id, p)| device_entry(id, Some(*p)))
        .collect();
    let s = Setup::new(&extra).await;
    let gw = s.start_gateway();
    let config = |i: usize| {
        proxy_device(
            ids[i],
            s.south,
            "dev-secret",
            Some(ports[i]),
            &s.path(&format!("k{i}.bin")),
        )
    };
    for i in 0..3 {
        spawn_agent(config(i)).await;
    }
    // IMEI:off registers once, then is offline.
    {
        let mut once = config(3);
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
    tokio::time::sleep(Duration::from_millis(500)).await;
    let job = s
        .gateway_job(fanout_with(
            "k1",
            GET_MOD,
            &[
                ("Targets", "chr", &ids.join(",")),
                ("WaitSeconds", "int", "1"),
                ("TimeoutSeconds", "int", "300"),
            ],
        ))
        .await;
    assert_eq!(statuses(&job).last(), Some(&202), "{job}");
    // The three online devices answered (and their answers are stored).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let job = s
            .gateway_job(json!([{"kind": "get", "items": [{"path": "./GwMO/Fanout/Operations/k1/Progress"}]}]))
            .await;
        if get_values(&job) == ["3/4"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the online devices never answered: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // kill -9 mid-fanout, and start again on the same state.
    drop(gw);
    let _gw = s.start_gateway();
    // The offline device comes online: its session carries the pending Get.
    spawn_agent(config(3)).await;

    let a = wait_aggregate(&s, "op=k1&state=done").await;
    assert_eq!((a.targets, a.answered), (4, 4), "{a:?}");
    assert_eq!(a.commands[0].statuses, BTreeMap::from([(200, 4)]), "{a:?}");
    assert_eq!(a.commands[0].values.iter().map(|(_, n)| n).sum::<u64>(), 4);
    // The completion carries one response per device, each once.
    let events = s
        .call(reqwest::Method::GET, "/events?device_id=GW:t", None)
        .await;
    for id in ids {
        let source = format!("./GwMO/Fanout/Operations/k1/Devices/{id}/Response");
        let n = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["source"].as_str() == Some(source.as_str()))
            .count();
        assert_eq!(n, 1, "{id}: {n} responses at the server");
    }
}
