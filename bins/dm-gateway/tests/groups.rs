//! Groups and fanout to groups through the binary, with an in-process dm-server
//! (docs/gateway.md §8, §9):
//! - GwMO-Group-001: a group by explicit members and by Match (Proxy and Transparent devices);
//!   its bounds (413);
//! - GwMO-Group-002 / GwMO-FORA-001: a fanout to the group runs each member in its mode: Proxy
//!   members answer (one fails a command), one never answers (504 at the deadline), a detached
//!   one is parked and runs when it comes back, an unknown one gets 404, the Transparent one is
//!   handed back in the Start Status; progress alerts while running;
//! - GwMO-FORA-002: the consolidated response counts each target once; Pages give the detail,
//!   100 targets a page; the completion reaches the server promptly; a Delete cancels.

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
    Setup, device_entry, fanout_with, free_udp_port, get_values, proxy_device, register,
    spawn_agent, statuses, wait_aggregate,
};
use gwmo::fanout::State;
use gwmo::mode::Mode;
use serde_json::json;

/// A Get that every device answers and a Get of a node no device has (404).
const FRAGMENT: &str = "<Get><CmdID>1</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI></Target></Item></Get>\
     <Get><CmdID>2</CmdID><Item><Target><LocURI>./DevInfo/Nope</LocURI></Target></Item></Get>";

const GET_MOD: &str =
    "<Get><CmdID>1</CmdID><Item><Target><LocURI>./DevInfo/Mod</LocURI></Target></Item></Get>";

fn get(paths: &[&str]) -> serde_json::Value {
    let items: Vec<_> = paths.iter().map(|p| json!({"path": p})).collect();
    json!([{"kind": "get", "items": items}])
}

/// GwMO-Group-001, GwMO-Group-002, GwMO-FORA-001, GwMO-FORA-002.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gwmo_group_001_002_fora_001_002_fanout_to_a_mixed_group() {
    let g1_udp = free_udp_port();
    let g2_udp = free_udp_port();
    let mute_udp = free_udp_port();
    let park_udp = free_udp_port();
    let extra = format!(
        "{}{}{}{}{}[[mode_rules]]\nname = \"t\"\nmatch = \"id_prefix=IMEI:t\"\nmode = \"Transparent\"\n",
        device_entry("IMEI:g1", Some(g1_udp)),
        device_entry("IMEI:g2", Some(g2_udp)),
        device_entry("IMEI:mute", Some(mute_udp)),
        device_entry("IMEI:park", None),
        device_entry("IMEI:t1", None),
    );
    let s = Setup::new(&extra).await;
    let _gw = s.start_gateway();
    for (id, port) in [("IMEI:g1", g1_udp), ("IMEI:g2", g2_udp)] {
        let file = s.path(&format!("{id}.bin"));
        spawn_agent(proxy_device(id, s.south, "dev-secret", Some(port), &file)).await;
    }
    // IMEI:mute registers once, then never answers (nothing listens on its port).
    common::register_silent(&s, "IMEI:mute").await;
    // IMEI:park registers in Proxy mode with a 1 s lease: it turns detached.
    assert!(
        register(s.south, "IMEI:park", Mode::Proxy, 1)
            .await
            .completed()
    );
    // IMEI:t1 registers in Transparent mode.
    assert!(
        register(s.south, "IMEI:t1", Mode::Transparent, 3600)
            .await
            .completed()
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // GwMO-Group-001: explicit members (one unknown, one also matched) and a Match.
    let groups = "./GwMO/DeviceInventory/Groups";
    let job = s
        .gateway_job(json!([
            {"kind": "add", "items": [{"path": format!("{groups}/g"), "format": "node"}]},
            {"kind": "add", "items": [{"path": format!("{groups}/g/Members"), "value": "IMEI:nobody,IMEI:g1"}]},
            {"kind": "add", "items": [{"path": format!("{groups}/g/Match"), "value": "id_prefix=IMEI:&mode=Proxy&mode=Transparent"}]},
            {"kind": "add", "items": [{"path": format!("{groups}/big/Match"), "value": format!("man={}", "a".repeat(5000))}]}
        ]))
        .await;
    assert_eq!(statuses(&job), [200, 200, 200, 413], "{job}");
    let job = s
        .gateway_job(get(&[
            "./GwMO/DeviceInventory/Groups/g/Size",
            "./GwMO/DeviceInventory/Groups/g/Members",
            "./GwMO/DeviceInventory/Devices/IMEI:park/Status",
            "./GwMO/DeviceInventory/Devices/IMEI:t1/Mode",
        ]))
        .await;
    assert_eq!(
        get_values(&job),
        ["6", "IMEI:nobody,IMEI:g1", "detached", "Transparent"],
        "{job}"
    );

    // The fanout to the group: 202 after the wait, the Transparent member handed back.
    let started = s
        .gateway_job(fanout_with(
            "f1",
            FRAGMENT,
            &[
                ("Group", "chr", "g"),
                ("WaitSeconds", "int", "1"),
                ("TimeoutSeconds", "int", "10"),
                ("ProgressSeconds", "int", "1"),
            ],
        ))
        .await;
    assert_eq!(statuses(&started).last(), Some(&202), "{started}");
    // The parked device comes back: its session carries the work.
    spawn_agent(proxy_device(
        "IMEI:park",
        s.south,
        "dev-secret",
        Some(park_udp),
        &s.path("park.bin"),
    ))
    .await;
    let job = s
        .gateway_job(get(&["./GwMO/Fanout/Operations/f1/Transparent"]))
        .await;
    assert_eq!(get_values(&job), ["IMEI:t1"], "{job}");
    assert!(
        started.to_string().contains("IMEI:t1"),
        "the Start Status names the Transparent member: {started}"
    );

    // Progress while running (the mute device keeps it running until the deadline).
    let progress = wait_aggregate(&s, "op=f1&state=running").await;
    assert_eq!(progress.state, State::Running);
    assert_eq!(progress.targets, 6);

    // The consolidated response: each target once, in its outcome.
    let a = wait_aggregate(&s, "op=f1&state=done").await;
    assert_eq!(
        (
            a.targets,
            a.answered,
            a.timed_out,
            a.unknown,
            a.transparent,
            a.failed
        ),
        (6, 3, 1, 1, 1, 0),
        "{a:?}"
    );
    assert_eq!(
        a.commands[0].statuses,
        BTreeMap::from([(200, 3), (404, 1), (504, 1)])
    );
    assert_eq!(a.commands[1].statuses, BTreeMap::from([(404, 4), (504, 1)]));
    assert!(a.exceptions.iter().all(|e| e.device != "IMEI:t1"));
    // Per-device detail: the one page, in target order.
    let job = s
        .gateway_job(get(&["./GwMO/Fanout/Operations/f1/Pages/0"]))
        .await;
    let page = gwmo::fanout::decode_page(&get_values(&job)[0], &syncml::Limits::default()).unwrap();
    let outcomes: Vec<(String, &str)> = page
        .iter()
        .map(|p| {
            (
                p.device.clone(),
                p.outcome.map_or("pending", |o| o.as_str()),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("IMEI:nobody".to_owned(), "unknown"),
            ("IMEI:g1".to_owned(), "done"),
            ("IMEI:g2".to_owned(), "done"),
            ("IMEI:mute".to_owned(), "timeout"),
            ("IMEI:park".to_owned(), "done"),
            ("IMEI:t1".to_owned(), "transparent"),
        ]
    );
    assert_eq!(page[1].codes, [("2".to_owned(), 404)]);
}

/// GwMO-FORA-002: Pages hold 100 targets each; the completion is at the server well under a
/// second after the last device answered; a Delete cancels a running operation
/// (state=cancelled, pending targets 214).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gwmo_fora_002_pages_prompt_completion_and_cancel() {
    let on_udp = free_udp_port();
    let mute_udp = free_udp_port();
    let extra = format!(
        "{}{}",
        device_entry("IMEI:on", Some(on_udp)),
        device_entry("IMEI:mute", Some(mute_udp))
    );
    let s = Setup::new(&extra).await;
    let _gw = s.start_gateway();
    spawn_agent(proxy_device(
        "IMEI:on",
        s.south,
        "dev-secret",
        Some(on_udp),
        &s.path("on.bin"),
    ))
    .await;
    common::register_silent(&s, "IMEI:mute").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // 150 targets: one real device and 149 unknown ones.
    let mut targets = vec!["IMEI:on".to_owned()];
    targets.extend((1..150).map(|i| format!("IMEI:x{i:03}")));
    let started = s
        .gateway_job(fanout_with(
            "p1",
            GET_MOD,
            &[
                ("Targets", "chr", &targets.join(",")),
                ("WaitSeconds", "int", "0"),
            ],
        ))
        .await;
    assert_eq!(statuses(&started).last(), Some(&202), "{started}");
    let since = Instant::now();
    // Poll the events closely: how soon does the completion reach the server?
    let completion = loop {
        let events = s
            .call(reqwest::Method::GET, "/events?device_id=GW:t", None)
            .await;
        if let Some(e) = events["events"].as_array().unwrap().iter().find(|e| {
            e["data"]
                .as_str()
                .is_some_and(|d| d.starts_with("op=p1&state=done"))
        }) {
            break e.clone();
        }
        assert!(since.elapsed() < Duration::from_secs(30), "no completion");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = since.elapsed();
    // The device's notification, its session and the completion session all fit in it.
    assert!(
        elapsed < Duration::from_secs(2),
        "completion after {elapsed:?}"
    );
    let a = gwmo::fanout::Aggregate::decode(
        completion["data"].as_str().unwrap(),
        &syncml::Limits::default(),
    )
    .unwrap();
    assert_eq!((a.targets, a.answered, a.unknown), (150, 1, 149));
    assert_eq!(a.exceptions_omitted, 149 - 20);

    let job = s
        .gateway_job(get(&[
            "./GwMO/Fanout/Operations/p1/Pages/0",
            "./GwMO/Fanout/Operations/p1/Pages/1",
        ]))
        .await;
    let pages = get_values(&job);
    let l = syncml::Limits::default();
    let p0 = gwmo::fanout::decode_page(&pages[0], &l).unwrap();
    let p1 = gwmo::fanout::decode_page(&pages[1], &l).unwrap();
    assert_eq!((p0.len(), p1.len()), (100, 50));
    assert_eq!(p0[0].device, "IMEI:on");
    assert_eq!(p1[49].device, "IMEI:x149");
    let job = s
        .gateway_job(get(&["./GwMO/Fanout/Operations/p1/Pages/2"]))
        .await;
    assert_eq!(statuses(&job), [404], "{job}");

    // Cancellation: a Delete of a running operation.
    let started = s
        .gateway_job(fanout_with(
            "c1",
            GET_MOD,
            &[
                ("Targets", "chr", "IMEI:mute,IMEI:on"),
                ("WaitSeconds", "int", "0"),
                ("TimeoutSeconds", "int", "120"),
            ],
        ))
        .await;
    assert_eq!(statuses(&started).last(), Some(&202), "{started}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let job = s
        .gateway_job(
            json!([{"kind": "delete", "items": [{"path": "./GwMO/Fanout/Operations/c1"}]}]),
        )
        .await;
    assert_eq!(statuses(&job), [200], "{job}");
    let a = wait_aggregate(&s, "op=c1&state=cancelled").await;
    assert_eq!((a.targets, a.answered, a.cancelled), (2, 1, 1), "{a:?}");
    assert_eq!(a.commands[0].statuses, BTreeMap::from([(200, 1), (214, 1)]));
}
