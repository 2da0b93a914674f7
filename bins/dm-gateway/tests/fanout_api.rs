//! The server's side of groups and fanouts through the REST API, with the gateway binary and
//! real dm-clients (docs/gateway.md §8, §9; GwMO-Group-001, GwMO-FORA-001/002, B.7):
//! a group defined with `POST /gateways/{G}/groups` (explicit members and a match) is pushed
//! to the gateway; `POST /gateways/{G}/fanouts` runs a Get on it; the Proxy members answer
//! through the gateway, the Transparent member is run by the server directly (its
//! notification relayed by the gateway), an unknown member gets 404, a silent one 504; the
//! consolidated response counts each once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod common;

use std::time::{Duration, Instant};

use common::{Setup, device_entry, free_udp_port, proxy_device, spawn_agent};
use reqwest::Method;
use serde_json::{Value, json};

fn transparent_device(s: &Setup, id: &str, udp: u16) -> dm_client::Config {
    dm_client::Config::from_toml(&format!(
        r#"
server_url = "{server}/dm"
server_id = "dmserver"
device_id = "{id}"
tree_file = "{tree}"
[client_auth]
type = "md5"
name = "{id}"
secret = "t-secret"
[server_auth]
type = "md5"
secret = "srv-t-secret"
[listen]
udp = "127.0.0.1:{udp}"
[device]
model = "Model-{id}"
[gateway]
url = "http://{south}/dm"
server_id = "dmgateway"
client_auth = {{ type = "md5", name = "{id}", secret = "dev-secret" }}
server_auth = {{ type = "md5", secret = "gw-dev-secret" }}
lease_secs = 3600
"#,
        server = s.server,
        south = s.south,
        tree = s.path(&format!("{id}.bin")).display(),
    ))
    .unwrap()
}

async fn wait_fanout(s: &Setup, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let f = s.call(Method::GET, &format!("/fanouts/{id}"), None).await;
        if matches!(f["state"].as_str(), Some("done" | "failed" | "cancelled")) {
            return f;
        }
        assert!(Instant::now() < deadline, "fanout never ended: {f}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gwmo_fora_001_002_group_fanout_through_the_api_proxy_and_transparent() {
    let p1 = free_udp_port();
    let p2 = free_udp_port();
    let t1 = free_udp_port();
    let extra = format!(
        "{}{}{}{}[[mode_rules]]\nname = \"t\"\nmatch = \"id_prefix=IMEI:t\"\nmode = \"Transparent\"\n",
        device_entry("IMEI:p1", Some(p1)),
        device_entry("IMEI:p2", Some(p2)),
        device_entry("IMEI:mute", None),
        device_entry("IMEI:t1", None),
    );
    let s = Setup::new(&extra).await;
    s.call(
        Method::PATCH,
        "/devices/GW:t",
        Some(json!({"kind": "gateway"})),
    )
    .await;
    s.call(
        Method::POST,
        "/devices",
        Some(json!({
            "device_id": "IMEI:t1", "auth_type": "md5", "auth_secret": "t-secret",
            "server_auth_type": "md5", "server_secret": "srv-t-secret"
        })),
    )
    .await;
    let _gw = s.start_gateway();
    for (id, port) in [("IMEI:p1", p1), ("IMEI:p2", p2)] {
        let file = s.path(&format!("{id}.bin"));
        spawn_agent(proxy_device(id, s.south, "dev-secret", Some(port), &file)).await;
    }
    common::register_silent(&s, "IMEI:mute").await;
    spawn_agent(transparent_device(&s, "IMEI:t1", t1)).await;
    // The gateway reports the devices (its inventory alerts): wait until the server links
    // IMEI:t1 in Transparent mode behind it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = s.call(Method::GET, "/devices/IMEI:t1", None).await;
        if d["link"]["mode"] == "transparent" {
            break;
        }
        assert!(Instant::now() < deadline, "IMEI:t1 never linked: {d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // GwMO-Group-001: the server defines the group; the gateway gets it by a job.
    let g = s
        .call(
            Method::POST,
            "/gateways/GW:t/groups",
            Some(json!({"name": "all", "members": ["IMEI:ghost"], "match": {}})),
        )
        .await;
    assert_eq!(g["name"], "all");
    s.wait_job(g["job_id"].as_i64().unwrap(), |j| j["state"] == "done")
        .await;
    let list = s.call(Method::GET, "/gateways/GW:t/groups", None).await;
    assert_eq!(list["groups"][0]["job_state"], "done", "{list}");
    assert_eq!(list["groups"][0]["members"], json!(["IMEI:ghost"]));

    // GwMO-FORA-001: a Get fanned out to the group.
    let f = s
        .call(
            Method::POST,
            "/gateways/GW:t/fanouts",
            Some(
                json!({"group": "all", "timeout_secs": 15, "attempt_secs": 3, "max_attempts": 1,
                        "commands": [{"kind": "get", "items": [{"path": "./DevInfo/Mod"}]}]}),
            ),
        )
        .await;
    assert_eq!(f["state"], "queued");
    assert_eq!(f["operation"], format!("f{}", f["id"]));
    let f = wait_fanout(&s, f["id"].as_i64().unwrap()).await;
    assert_eq!(f["state"], "done", "{f}");
    assert_eq!(f["transparent"], json!(["IMEI:t1"]), "{f}");
    // GwMO-FORA-002: one consolidated response, each device counted once.
    let t1_jobs = s.call(Method::GET, "/jobs?device_id=IMEI:t1", None).await;
    let r = &f["result"];
    assert_eq!(r["targets"], 5, "{f}");
    assert_eq!(r["answered"], 3, "{f} {t1_jobs}");
    assert_eq!(r["unknown"], 1, "{f}");
    assert_eq!(
        r["timed_out"].as_u64().unwrap() + r["failed"].as_u64().unwrap(),
        1,
        "{f}"
    );
    let cmd = &r["commands"][0];
    assert_eq!(cmd["kind"], "get");
    assert_eq!(cmd["path"], "./DevInfo/Mod");
    assert_eq!(cmd["statuses"]["200"], 3, "{f}");
    assert_eq!(cmd["statuses"]["404"], 1, "{f}");
    let values: Vec<&str> = cmd["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    for id in ["IMEI:p1", "IMEI:p2", "IMEI:t1"] {
        assert!(values.contains(&format!("Model-{id}").as_str()), "{f}");
    }
    let exceptions: Vec<&str> = r["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["device_id"].as_str().unwrap())
        .collect();
    assert!(exceptions.contains(&"IMEI:ghost"), "{f}");
    assert!(exceptions.contains(&"IMEI:mute"), "{f}");

    // A group change and its deletion travel as jobs too.
    let g = s
        .call(
            Method::PATCH,
            "/gateways/GW:t/groups/all",
            Some(json!({"remove": ["IMEI:ghost"], "add": ["IMEI:p1"]})),
        )
        .await;
    assert_eq!(g["members"], json!(["IMEI:p1"]));
    s.wait_job(g["job_id"].as_i64().unwrap(), |j| j["state"] == "done")
        .await;
    let job = s
        .gateway_job(json!([{"kind": "get", "items": [{"path": "./GwMO/DeviceInventory/Groups/all/Members"}]}]))
        .await;
    assert!(job["results"].to_string().contains("IMEI:p1"), "{job}");
    s.call(Method::DELETE, "/gateways/GW:t/groups/all", None)
        .await;
    assert_eq!(
        s.call(Method::GET, "/gateways/GW:t/groups", None).await["groups"],
        json!([])
    );
}
