//! Real DM sessions against a real server on loopback: a `dm_proto::ClientSession` with a
//! `dm_tree::Tree` behind it, over HTTP, with the job and registry effects read back through
//! the REST API.

mod common;

use common::device::Device;
use common::{TOKEN, account, config, job, start, temp_db};
use dm_proto::{AuthScheme, Initiator, SessionEnd};
use serde_json::{Value, json};

fn get_and_replace(device: &str) -> Value {
    json!({
        "device_id": device,
        "commands": [
            {"kind": "get", "items": [{"path": "./DevInfo/Mod"}]},
            {"kind": "replace", "items": [{"path": "./Vendor/Name", "value": "new", "format": "chr"}]}
        ]
    })
}

/// The benchmark's session shape: MD5 both ways, one job (Get + Replace), results stored;
/// then a second session with the rotated nonces (NextNonce rotation).
#[tokio::test]
async fn md5_session_runs_a_queued_job_and_stores_results() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    assert_eq!(
        s.post("/devices", account("IMEI:100", "dev100", "pw100"))
            .await
            .status(),
        201
    );
    let created: Value = s
        .post("/jobs", get_and_replace("IMEI:100"))
        .await
        .json()
        .await
        .unwrap();
    let job_id = created["id"].as_i64().unwrap();

    let mut dev = Device::new("IMEI:100", "dev100", "pw100");
    let dm_url = format!("{}/dm", s.url);
    let out = dev.session(&s.http, &dm_url).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    assert!(out.authenticated);
    assert_eq!(out.commands_executed, 2);
    assert_eq!(dev.tree.value_str("./Vendor/Name"), Some("new"));

    let j = job(&s, job_id).await;
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(j["attempts"], 1);
    let results = j["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{j}");
    assert_eq!(results[0]["index"], 0);
    assert_eq!(results[0]["status"], 200);
    assert_eq!(results[0]["items"][0]["path"], "./DevInfo/Mod");
    assert_eq!(results[0]["items"][0]["data"], "Gw-1");
    assert_eq!(results[1]["index"], 1);
    assert_eq!(results[1]["status"], 200);

    let d: Value = s.get("/devices/IMEI:100").await.json().await.unwrap();
    assert!(d["last_contact_at"].as_i64().unwrap() > 0, "{d}");
    assert!(
        d["last_address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(d["devinfo"]["Man"], "Acme");
    assert_eq!(d["devinfo"]["Mod"], "Gw-1");
    let tree: Value = s
        .get("/devices/IMEI:100/tree?prefix=./DevInfo")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tree["values"][0]["path"], "./DevInfo/Mod");
    assert_eq!(tree["values"][0]["data"], "Gw-1");

    // The server gave the device a new nonce and the device gave the server one; the next
    // session authenticates with both (they were stored).
    assert!(!dev.client_nonce.is_empty());
    assert!(!dev.server_nonce.is_empty());
    let out = dev.session(&s.http, &dm_url).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    assert!(out.authenticated);
    assert_eq!(out.commands_executed, 0);
    s.stop().await;
}

/// Every command type goes out and its status comes back by pre-order index; an Atomic that
/// fails is rolled back on the device and the server stores the statuses.
#[tokio::test]
async fn every_command_type_and_atomic_rollback() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    assert_eq!(
        s.post("/devices", account("IMEI:200", "dev200", "pw"))
            .await
            .status(),
        201
    );
    let job = json!({
        "device_id": "IMEI:200",
        "commands": [
            {"kind": "add", "items": [{"path": "./Vendor/Dir", "format": "node"}]},
            {"kind": "add", "items": [{"path": "./Vendor/Dir/Leaf", "value": "42", "format": "int"}]},
            {"kind": "copy", "items": [{"path": "./Vendor/Name", "target": "./Vendor/Dir/Copy"}]},
            {"kind": "sequence", "children": [
                {"kind": "replace", "items": [{"path": "./Vendor/Other", "value": "seq"}]},
                {"kind": "get", "items": [{"path": "./Vendor/Other"}]}
            ]},
            {"kind": "delete", "items": [{"path": "./Vendor/Dir/Leaf"}]},
            {"kind": "exec", "items": [{"path": "./Vendor/Name", "value": "x"}]},
            {"kind": "atomic", "children": [
                {"kind": "replace", "items": [{"path": "./Vendor/Name", "value": "atomic"}]},
                {"kind": "delete", "items": [{"path": "./Vendor/Missing"}]}
            ]}
        ]
    });
    let created: Value = s.post("/jobs", job).await.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    let mut dev = Device::new("IMEI:200", "dev200", "pw");
    let out = dev.session(&s.http, &format!("{}/dm", s.url)).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");

    let j: Value = s.get(&format!("/jobs/{id}")).await.json().await.unwrap();
    assert_eq!(j["state"], "done", "{j}");
    let status = |index: u64| {
        j["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["index"] == index)
            .map(|r| r["status"].as_u64().unwrap())
    };
    // Pre-order: 0 add, 1 add, 2 copy, 3 sequence, 4 replace, 5 get, 6 delete, 7 exec,
    // 8 atomic, 9 replace, 10 delete.
    assert_eq!(status(0), Some(200));
    assert_eq!(status(1), Some(200));
    assert!(
        status(2).unwrap() < 300 || status(2) == Some(406),
        "copy: {j}"
    );
    assert_eq!(status(3), Some(200));
    assert_eq!(status(4), Some(200));
    assert_eq!(status(5), Some(200));
    assert_eq!(status(6), Some(200));
    assert!(
        status(7).unwrap() >= 400,
        "exec without a handler fails: {j}"
    );
    assert_eq!(status(8), Some(507), "atomic failed: {j}");
    assert_eq!(status(10), Some(404), "{j}");
    assert!(
        matches!(status(9), Some(216) | Some(215)),
        "rolled back: {j}"
    );
    let get = j["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["index"] == 5)
        .unwrap();
    assert_eq!(get["items"][0]["data"], "seq");
    // The rollback is real on the device.
    assert_eq!(dev.tree.value_str("./Vendor/Name"), Some("old"));
    assert!(dev.tree.get("./Vendor/Dir/Leaf").is_none());
    s.stop().await;
}

#[tokio::test]
async fn wbxml_session() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    assert_eq!(
        s.post("/devices", account("IMEI:300", "dev300", "pw"))
            .await
            .status(),
        201
    );
    let created: Value = s
        .post("/jobs", get_and_replace("IMEI:300"))
        .await
        .json()
        .await
        .unwrap();
    let mut dev = Device::new("IMEI:300", "dev300", "pw");
    dev.encoding = syncml::Encoding::Wbxml;
    let out = dev.session(&s.http, &format!("{}/dm", s.url)).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    let j = job(&s, created["id"].as_i64().unwrap()).await;
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(j["results"][0]["items"][0]["data"], "Gw-1");
    s.stop().await;
}

#[tokio::test]
async fn hmac_session() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let mut acc = account("IMEI:350", "dev350", "pw");
    acc["auth_type"] = json!("hmac");
    assert_eq!(s.post("/devices", acc).await.status(), 201);
    let created: Value = s
        .post("/jobs", get_and_replace("IMEI:350"))
        .await
        .json()
        .await
        .unwrap();
    let mut dev = Device::new("IMEI:350", "dev350", "pw");
    dev.scheme = AuthScheme::Hmac;
    let url = format!("{}/dm", s.url);
    // The first attempt has no nonce yet: the server challenges, the client retries.
    let out = dev.session(&s.http, &url).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    let j = job(&s, created["id"].as_i64().unwrap()).await;
    assert_eq!(j["state"], "done", "{j}");
    s.stop().await;
}

/// Wrong device password: refused (401), nothing is sent to it, its job stays queued, no
/// contact is recorded.
#[tokio::test]
async fn wrong_device_password_is_rejected() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    assert_eq!(
        s.post("/devices", account("IMEI:400", "dev400", "right"))
            .await
            .status(),
        201
    );
    let created: Value = s
        .post("/jobs", get_and_replace("IMEI:400"))
        .await
        .json()
        .await
        .unwrap();
    let mut dev = Device::new("IMEI:400", "dev400", "wrong");
    let out = dev.session(&s.http, &format!("{}/dm", s.url)).await;
    assert!(!out.authenticated);
    assert_eq!(out.commands_executed, 0);
    assert_ne!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    let j = job(&s, created["id"].as_i64().unwrap()).await;
    assert_eq!(j["state"], "queued", "{j}");
    let d: Value = s.get("/devices/IMEI:400").await.json().await.unwrap();
    assert!(d["last_contact_at"].is_null());
    s.stop().await;
}

/// A device can never act as another: valid credentials of device A presented with device B's
/// id are refused, and B's job is not sent.
#[tokio::test]
async fn a_device_cannot_act_as_another() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    assert_eq!(
        s.post("/devices", account("IMEI:A", "userA", "pwA"))
            .await
            .status(),
        201
    );
    assert_eq!(
        s.post("/devices", account("IMEI:B", "userB", "pwB"))
            .await
            .status(),
        201
    );
    let created: Value = s
        .post("/jobs", get_and_replace("IMEI:B"))
        .await
        .json()
        .await
        .unwrap();
    // A's credentials, B's DevId.
    let mut evil = Device::new("IMEI:B", "userA", "pwA");
    let out = evil.session(&s.http, &format!("{}/dm", s.url)).await;
    assert!(!out.authenticated);
    assert_eq!(out.commands_executed, 0);
    let j = job(&s, created["id"].as_i64().unwrap()).await;
    assert_eq!(j["state"], "queued");
    s.stop().await;
}

#[tokio::test]
async fn unknown_devices_are_refused_or_enrolled_by_policy() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let mut dev = Device::new("IMEI:new", "newdev", "enrol-me");
    dev.check_server = false;
    let out = dev.session(&s.http, &format!("{}/dm", s.url)).await;
    assert!(!out.authenticated);
    assert_eq!(s.get("/devices/IMEI:new").await.status(), 404);
    s.stop().await;

    let (_dir2, db2) = temp_db();
    let cfg = dm_server::Config {
        enrolment: dm_server::EnrolmentPolicy::Secret {
            secret: "enrol-me".into(),
        },
        ..config(&db2)
    };
    let s = start(cfg).await;
    // Wrong enrolment secret: refused.
    let mut wrong = Device::new("IMEI:bad", "baddev", "guess");
    wrong.check_server = false;
    let out = wrong.session(&s.http, &format!("{}/dm", s.url)).await;
    assert!(!out.authenticated);
    assert_eq!(s.get("/devices/IMEI:bad").await.status(), 404);
    // Right one: enrolled, registry filled.
    let mut dev = Device::new("IMEI:new", "newdev", "enrol-me");
    dev.check_server = false;
    let out = dev.session(&s.http, &format!("{}/dm", s.url)).await;
    assert!(out.authenticated, "{out:?}");
    assert_eq!(out.ended, Some(SessionEnd::Completed));
    let d: Value = s.get("/devices/IMEI:new").await.json().await.unwrap();
    assert_eq!(d["auth_name"], "newdev");
    assert_eq!(d["devinfo"]["Man"], "Acme");
    s.stop().await;
}

/// A server killed after sending a job (before the answer) loses nothing: restarted on the
/// same database, it sends the job again in the next session.
#[tokio::test]
async fn restart_resends_unanswered_jobs() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    assert_eq!(
        s.post("/devices", account("IMEI:500", "dev500", "pw"))
            .await
            .status(),
        201
    );
    let created: Value = s
        .post("/jobs", get_and_replace("IMEI:500"))
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();

    // Package 1 by hand: the server answers with package 2 carrying the job.
    let mut dev = Device::new("IMEI:500", "dev500", "pw");
    let pkg2 = dev.first_exchange(&s.http, &format!("{}/dm", s.url)).await;
    assert!(pkg2.contains("./DevInfo/Mod"), "package 2 carries the Get");
    assert_eq!(job(&s, id).await["state"], "sent");
    s.kill().await;

    let s = start(config(&db)).await;
    assert_eq!(job(&s, id).await["state"], "queued");
    let mut dev = Device::new("IMEI:500", "dev500", "pw");
    let out = dev.session(&s.http, &format!("{}/dm", s.url)).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    let j = job(&s, id).await;
    assert_eq!(j["state"], "done", "{j}");
    assert_eq!(j["attempts"], 2);
    s.stop().await;
}

/// Generic Alerts (1226) from the device are stored as events.
#[tokio::test]
async fn generic_alerts_are_stored_as_events() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    assert_eq!(
        s.post("/devices", account("IMEI:600", "dev600", "pw"))
            .await
            .status(),
        201
    );
    let mut dev = Device::new("IMEI:600", "dev600", "pw");
    let out = dev
        .session_with_alert(&s.http, &format!("{}/dm", s.url))
        .await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    let ev: Value = s
        .get("/devices/IMEI:600/events")
        .await
        .json()
        .await
        .unwrap();
    let events = ev["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{ev}");
    assert_eq!(events[0]["alert_code"], 1226);
    assert_eq!(
        events[0]["alert_type"],
        "urn:oma:at:gwmo:1.0:deviceattached"
    );
    assert_eq!(events[0]["mark"], "informational");
    assert_eq!(events[0]["source"], "./GwMO/Inventory/7");
    assert_eq!(events[0]["data"], "dev-7");
    let all: Value = s.get("/events?alert_code=1226").await.json().await.unwrap();
    assert_eq!(all["events"].as_array().unwrap().len(), 1);
    s.stop().await;
}

/// DM-1 then DM-2: the notified device opens a 1200 session with the notified session id and
/// gets its job.
#[tokio::test]
async fn notification_initiated_session() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut acc = account("IMEI:700", "dev700", "pw");
    acc["notify"] = json!(format!("udp:{}", sock.local_addr().unwrap()));
    assert_eq!(s.post("/devices", acc).await.status(), 201);
    let created: Value = s
        .post("/jobs", get_and_replace("IMEI:700"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        s.post("/devices/IMEI:700/notify", json!({})).await.status(),
        202
    );
    let mut buf = vec![0u8; 1024];
    let (n, _) = sock.recv_from(&mut buf).await.unwrap();
    let push = syncml::notification::wsp::decode_push(&buf[..n]).unwrap();
    let mut dev = Device::new("IMEI:700", "dev700", "pw");
    assert!(syncml::notification::verify(
        &push.body,
        common::device::SERVER_ID,
        &dev.server_password,
        &dev.server_nonce
    ));
    let (pkg0, _) = syncml::notification::decode(&push.body).unwrap();
    let out = dev
        .session_as(
            &s.http,
            &format!("{}/dm", s.url),
            Initiator::Server,
            Some(pkg0.session_id),
        )
        .await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    assert_eq!(
        job(&s, created["id"].as_i64().unwrap()).await["state"],
        "done"
    );
    s.stop().await;
}

#[tokio::test]
async fn unknown_resp_uri_token_is_404() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let r = s
        .http
        .post(format!("{}/dm/s/0123456789abcdef", s.url))
        .header("content-type", "application/vnd.syncml.dm+xml")
        .body("<SyncML/>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let _ = TOKEN;
    s.stop().await;
}

/// The output of an Exec (the Item data of the device's Status) is stored as a result item of
/// the job (DM-level: Exec results reach the operator).
#[tokio::test]
async fn exec_output_is_stored_in_the_job_results() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    assert_eq!(
        s.post("/devices", account("IMEI:300", "dev300", "pw"))
            .await
            .status(),
        201
    );
    let created: Value = s
        .post(
            "/jobs",
            json!({
                "device_id": "IMEI:300",
                "commands": [
                    {"kind": "exec", "items": [{"path": "./Vendor/Run", "value": "arg"}]},
                    {"kind": "get", "items": [{"path": "./Vendor/Name"}]}
                ]
            }),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    let mut dev = Device::new("IMEI:300", "dev300", "pw");
    dev.tree
        .insert(
            "./Vendor/Run",
            dm_tree::NewNode::leaf(""),
            dm_tree::Timestamp(0),
        )
        .unwrap();
    dev.tree
        .register_exec(
            "./Vendor/Run",
            Box::new(|req: &dm_tree::ExecRequest<'_>| {
                let arg = req.data.and_then(|d| d.as_str()).unwrap_or("").to_owned();
                dm_tree::ExecOutcome {
                    code: syncml::StatusCode::OK,
                    data: Some(syncml::Data::Text(format!("ran with {arg}"))),
                }
            }),
        )
        .unwrap();
    let out = dev.session(&s.http, &format!("{}/dm", s.url)).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");

    let j = job(&s, id).await;
    assert_eq!(j["state"], "done", "{j}");
    let exec = j["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["index"] == 0)
        .unwrap_or_else(|| panic!("no exec result: {j}"));
    assert_eq!(exec["status"], 200, "{j}");
    let items = exec["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{j}");
    assert_eq!(items[0]["path"], "./Vendor/Run", "{j}");
    assert_eq!(items[0]["data"], "ran with arg", "{j}");
    // The output is not mistaken for a tree value.
    let tree: Value = s
        .get("/devices/IMEI:300/tree?prefix=./Vendor/Run")
        .await
        .json()
        .await
        .unwrap();
    assert!(!tree.to_string().contains("ran with"), "{tree}");
}

/// `PATCH /api/v1/devices/{id}` changes the device's secret (the next session must use the new
/// one: the server's account cache follows the update), its notification addresses and its
/// enabled flag; nonces survive.
#[tokio::test]
async fn patched_device_account_takes_effect_in_the_next_session() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    assert_eq!(
        s.post("/devices", account("IMEI:400", "dev400", "old-pw"))
            .await
            .status(),
        201
    );
    let dm_url = format!("{}/dm", s.url);
    let mut dev = Device::new("IMEI:400", "dev400", "old-pw");
    let out = dev.session(&s.http, &dm_url).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");

    let r = s
        .patch(
            "/devices/IMEI:400",
            json!({"auth_secret": "new-pw", "notify": ["udp:127.0.0.1:2948"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["notify"], json!(["udp:127.0.0.1:2948"]));
    assert_eq!(shown["auth_name"], "dev400");
    assert!(shown.get("auth_secret").is_none(), "secrets never come out");

    // The old password no longer works, the new one does.
    let out = dev.session(&s.http, &dm_url).await;
    assert_ne!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    dev.password = "new-pw".into();
    let out = dev.session(&s.http, &dm_url).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");

    // A new auth name needs the secret too; unknown fields and devices are refused.
    let r = s
        .patch("/devices/IMEI:400", json!({"auth_name": "renamed"}))
        .await;
    assert_eq!(r.status(), 400);
    let r = s.patch("/devices/IMEI:400", json!({"colour": "red"})).await;
    assert_eq!(r.status(), 400);
    let r = s
        .patch("/devices/IMEI:404", json!({"enabled": false}))
        .await;
    assert_eq!(r.status(), 404);
    let r = s
        .patch("/devices/IMEI:400", json!({"notify": ["ftp://nowhere"]}))
        .await;
    assert_eq!(r.status(), 400);

    // Renamed with a new secret: the device authenticates under the new name.
    let r = s
        .patch(
            "/devices/IMEI:400",
            json!({"auth_name": "renamed", "auth_secret": "pw3"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    dev.auth_name = "renamed".into();
    dev.password = "pw3".into();
    let out = dev.session(&s.http, &dm_url).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");

    // Disabled: refused.
    let r = s
        .patch("/devices/IMEI:400", json!({"enabled": false}))
        .await;
    assert_eq!(r.status(), 200);
    let out = dev.session(&s.http, &dm_url).await;
    assert_ne!(out.ended, Some(SessionEnd::Completed), "{out:?}");
}
