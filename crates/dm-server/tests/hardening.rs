//! Regression tests of issue 6 (session and authentication holes found in review, by a
//! hostile-client probe and by running libdmclient), each through HTTP against a real
//! `dm-server` on loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::device::{Device, Outcome};
use common::{Running, account, config, job, messages, start, temp_db};
use dm_proto::{Initiator, SessionEnd};
use dm_store::Store as _;
use serde_json::{Value, json};

async fn add_device(s: &Running, id: &str, name: &str, password: &str) {
    assert_eq!(
        s.post("/devices", account(id, name, password))
            .await
            .status(),
        201
    );
}

async fn queue(s: &Running, device: &str, commands: Value) -> i64 {
    let created: Value = s
        .post("/jobs", json!({"device_id": device, "commands": commands}))
        .await
        .json()
        .await
        .unwrap();
    created["id"].as_i64().unwrap()
}

fn get_mod() -> Value {
    json!([{"kind": "get", "items": [{"path": "./DevInfo/Mod"}]}])
}

async fn post_dm(s: &Running, content_type: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let r = s
        .http
        .post(format!("{}/dm", s.url))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

const XML: &str = "application/vnd.syncml.dm+xml";

/// The account as stored (read beside the running server).
async fn stored(db: &std::path::Path, id: &str) -> dm_store::DeviceAccount {
    let store = dm_store::AnyStore::open(&format!("sqlite:{}", db.display()))
        .await
        .unwrap();
    let a = store.get_device(id).await.unwrap().unwrap();
    store.close().await;
    a
}

/// Item 3: a stranger posting a package 1 with the device's id and the SessionID of its
/// open session (and no valid credentials) no longer ends that session: the device goes on
/// and completes its job.
#[tokio::test]
async fn a_stranger_cannot_end_a_live_session() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    add_device(&s, "IMEI:900", "dev900", "pw").await;
    let id = queue(&s, "IMEI:900", get_mod()).await;
    let url = format!("{}/dm", s.url);
    let mut dev = Device::new("IMEI:900", "dev900", "pw");
    let mut session = dev.start(&url, Initiator::Client, Some(0x42));
    let mut out = Outcome::default();
    // Package 1 (challenged if the nonces differ, then again): authenticated, the job comes
    // in package 2.
    while !out.authenticated {
        assert!(dev.step(&s.http, &mut session, &mut out).await, "{out:?}");
    }
    assert_eq!(job(&s, id).await["state"], "sent");

    let mut stranger = Device::new("IMEI:900", "dev900", "not-the-password");
    let t = stranger
        .start(&url, Initiator::Client, Some(0x42))
        .poll_transmit(common::device::now());
    let (status, body) = post_dm(&s, XML, t.unwrap().bytes).await;
    assert_eq!(status, 200);
    assert_eq!(messages::header_status(&body).0, 401);
    assert_eq!(
        job(&s, id).await["state"],
        "sent",
        "the device's session is untouched"
    );

    while dev.step(&s.http, &mut session, &mut out).await {}
    assert_eq!(out.http_error, None, "{out:?}");
    assert_eq!(session.ended(), Some(SessionEnd::Completed));
    assert_eq!(job(&s, id).await["state"], "done");
    s.stop().await;
}

/// Item 10a: a captured package 1 replayed with a new SessionID while the device's genuine
/// session is open is refused (401 with a fresh challenge, no RespURI), and nothing of it is
/// stored: no forged DevInfo, and the job queued afterwards goes to the genuine device.
#[tokio::test]
async fn md5_replay_of_package_1_is_refused() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    add_device(&s, "IMEI:901", "dev901", "pw").await;
    let url = format!("{}/dm", s.url);
    let mut dev = Device::new("IMEI:901", "dev901", "pw");
    // A first session gives the device a nonce (the captured package uses it).
    assert_eq!(
        dev.session(&s.http, &url).await.ended,
        Some(SessionEnd::Completed)
    );
    let before = stored(&db, "IMEI:901").await;

    let mut session = dev.start(&url, Initiator::Client, Some(0x77));
    let mut out = Outcome::default();
    assert!(dev.step(&s.http, &mut session, &mut out).await);
    assert!(out.authenticated, "{out:?}");
    let captured = dev.sent.last().unwrap().clone();
    let after_auth = stored(&db, "IMEI:901").await;
    assert_ne!(
        after_auth.client_nonce, before.client_nonce,
        "the nonce is consumed at once"
    );

    let id = queue(&s, "IMEI:901", get_mod()).await;
    let forged =
        messages::with_devinfo(&messages::with_session_id(&captured, "99"), "Man", "Forged");
    let (status, body) = post_dm(&s, XML, forged).await;
    assert_eq!(status, 200);
    let (code, chal) = messages::header_status(&body);
    assert_eq!(code, 401, "{}", String::from_utf8_lossy(&body));
    assert!(chal, "a fresh challenge");
    assert_eq!(
        messages::resp_uri(&body),
        None,
        "no session for the replayer"
    );
    assert_eq!(job(&s, id).await["state"], "queued");

    while dev.step(&s.http, &mut session, &mut out).await {}
    assert_eq!(session.ended(), Some(SessionEnd::Completed));
    let d: Value = s.get("/devices/IMEI:901").await.json().await.unwrap();
    assert_eq!(d["devinfo"]["Man"], "Acme", "{d}");
    // The job queued meanwhile goes to the genuine device in its next session.
    let out = dev.session(&s.http, &url).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    assert_eq!(job(&s, id).await["state"], "done");
    let ev: Value = s
        .get("/devices/IMEI:901/events")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ev["events"].as_array().unwrap().len(), 0, "{ev}");
    s.stop().await;
}

/// Item 10b: package 1s naming a known device without the right credentials change nothing
/// in the store (not even the nonce), however many; the genuine device still authenticates.
#[tokio::test]
async fn unauthenticated_package_1s_store_nothing() {
    let (_dir, db) = temp_db();
    let mut cfg = config(&db);
    cfg.challenge_capacity = 16;
    // All 500 at once reach the session host (the listener would shed past its default bound).
    cfg.listener.max_in_flight = 1024;
    let s = start(cfg).await;
    add_device(&s, "IMEI:902", "dev902", "pw").await;
    let url = format!("{}/dm", s.url);
    let mut dev = Device::new("IMEI:902", "dev902", "pw");
    assert_eq!(
        dev.session(&s.http, &url).await.ended,
        Some(SessionEnd::Completed)
    );
    let before = stored(&db, "IMEI:902").await;
    let mut tasks = Vec::new();
    for i in 0..500u16 {
        let mut guess = Device::new("IMEI:902", "dev902", &format!("guess{i}"));
        let body = guess
            .start(&url, Initiator::Client, Some(i + 1))
            .poll_transmit(common::device::now())
            .unwrap()
            .bytes;
        let http = s.http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(&url)
                .header("content-type", XML)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            messages::header_status(&r.bytes().await.unwrap()).0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    let after = stored(&db, "IMEI:902").await;
    assert_eq!(
        after.client_nonce, before.client_nonce,
        "nothing stored for strangers"
    );
    assert_eq!(after.server_nonce, before.server_nonce);
    let d: Value = s.get("/devices/IMEI:902").await.json().await.unwrap();
    let contact = d["last_contact_at"].clone();
    let out = dev.session(&s.http, &url).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    let d: Value = s.get("/devices/IMEI:902").await.json().await.unwrap();
    assert_ne!(d["last_contact_at"], contact);
    s.stop().await;
}

/// Item 6: a device refusing the server's credentials for good gets a SyncML answer that
/// ends the session (Alert 1223, Final), not HTTP 500; the device's refusal statuses of the
/// last message count as the job's results (dm-proto: "its last statuses still count").
#[tokio::test]
async fn device_refusing_the_server_gets_a_syncml_answer() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    add_device(&s, "IMEI:903", "dev903", "pw").await;
    let id = queue(&s, "IMEI:903", get_mod()).await;
    let mut dev = Device::new("IMEI:903", "dev903", "pw");
    dev.server_password = "not-what-the-server-has".into();
    let out = dev.session(&s.http, &format!("{}/dm", s.url)).await;
    assert_eq!(out.http_error, None, "{out:?}");
    assert_eq!(out.ended, Some(SessionEnd::PeerAuthFailed), "{out:?}");
    assert_eq!(out.commands_executed, 0);
    let last: &[u8] = dev.sent.last().unwrap();
    assert!(!last.is_empty());
    let j = job(&s, id).await;
    assert_eq!(j["results"][0]["status"], 401, "{j}");
    s.stop().await;
}

/// Item 9b (libdmclient sends no Status for an Atomic) and 9c (times of finished jobs): the
/// job is sent again (only its unanswered command), at most `max_job_attempts` times, then
/// fails with "no status from device" for the Atomic; its times are set.
#[tokio::test]
async fn atomic_without_status_fails_after_the_allowed_sends() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    add_device(&s, "IMEI:904", "dev904", "pw").await;
    let id = queue(
        &s,
        "IMEI:904",
        json!([
            {"kind": "get", "items": [{"path": "./DevInfo/Mod"}]},
            {"kind": "atomic", "children": [
                {"kind": "replace", "items": [{"path": "./Vendor/Name", "value": "atomic"}]}
            ]}
        ]),
    )
    .await;
    let url = format!("{}/dm", s.url);
    let mut dev = Device::new("IMEI:904", "dev904", "pw");
    dev.edit_outgoing = Some(messages::drop_atomic_statuses);
    let out = dev.session(&s.http, &url).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    assert_eq!(out.commands_executed, 2);
    let j = job(&s, id).await;
    assert_eq!(j["state"], "queued", "{j}");
    assert_eq!(j["attempts"], 1);
    for attempt in 2..=3 {
        let out = dev.session(&s.http, &url).await;
        assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
        assert_eq!(out.commands_executed, 1, "only the Atomic goes out again");
        assert_eq!(job(&s, id).await["attempts"], attempt);
    }
    let j = job(&s, id).await;
    assert_eq!(j["state"], "failed", "{j}");
    let result = |index: u64| {
        j["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["index"] == index)
            .cloned()
            .unwrap_or_else(|| panic!("no result {index}: {j}"))
    };
    assert_eq!(result(0)["status"], 200);
    assert_eq!(result(1)["status"], 0);
    assert_eq!(result(1)["error"], "no status from device");
    assert_eq!(result(2)["status"], 200, "the Atomic's child answered");
    assert!(result(2).get("error").is_none());
    let created = j["created_at"].as_i64().unwrap();
    assert!(j["updated_at"].as_i64().unwrap() >= created, "{j}");
    assert!(j["completed_at"].as_i64().unwrap() >= created, "{j}");
    // Nothing is sent any more.
    let out = dev.session(&s.http, &url).await;
    assert_eq!(out.commands_executed, 0);
    s.stop().await;
}

/// Item 9c: a job that completes normally reports its update and completion times (they
/// were 0 in the API and in the jobs table).
#[tokio::test]
async fn finished_jobs_report_their_times() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    add_device(&s, "IMEI:905", "dev905", "pw").await;
    let id = queue(&s, "IMEI:905", get_mod()).await;
    let mut dev = Device::new("IMEI:905", "dev905", "pw");
    let out = dev.session(&s.http, &format!("{}/dm", s.url)).await;
    assert_eq!(out.ended, Some(SessionEnd::Completed), "{out:?}");
    let j = job(&s, id).await;
    assert_eq!(j["state"], "done");
    let created = j["created_at"].as_i64().unwrap();
    assert!(created > 0);
    assert!(j["updated_at"].as_i64().unwrap() >= created, "{j}");
    assert!(j["completed_at"].as_i64().unwrap() >= created, "{j}");
    let listed: Value = s
        .get("/jobs?device_id=IMEI:905")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["jobs"][0]["completed_at"], j["completed_at"],
        "{listed}"
    );
    s.stop().await;
}

/// Item 4: the legacy SyncML media types (libdmclient), with a charset parameter, are
/// accepted, and every answer uses the same family and encoding.
#[tokio::test]
async fn legacy_media_types_are_answered_in_kind() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    add_device(&s, "IMEI:906", "dev906", "pw").await;
    for (encoding, ct, want) in [
        (
            syncml::Encoding::Xml,
            "application/vnd.syncml+xml; charset=UTF-8",
            "application/vnd.syncml+xml",
        ),
        (
            syncml::Encoding::Wbxml,
            "application/vnd.syncml+wbxml",
            "application/vnd.syncml+wbxml",
        ),
    ] {
        let id = queue(&s, "IMEI:906", get_mod()).await;
        let mut dev = Device::new("IMEI:906", "dev906", "pw");
        dev.encoding = encoding;
        dev.content_type = Some(ct);
        let out = dev.session(&s.http, &format!("{}/dm", s.url)).await;
        assert_eq!(out.ended, Some(SessionEnd::Completed), "{ct}: {out:?}");
        assert!(!dev.answer_types.is_empty());
        assert!(
            dev.answer_types.iter().all(|t| t == want),
            "{ct}: {:?}",
            dev.answer_types
        );
        assert_eq!(job(&s, id).await["state"], "done");
    }
    s.stop().await;
}

/// Item 9a: a body that does not decode gets 400, one above a decoder limit 413.
#[tokio::test]
async fn undecodable_bodies_get_400_and_limits_413() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let (status, body) = post_dm(&s, XML, b"<SyncML><SyncHdr>".to_vec()).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let deep = format!("<SyncML>{}", "<SyncBody>".repeat(10_000));
    let (status, _) = post_dm(&s, XML, deep.into_bytes()).await;
    assert_eq!(status, 413);
    s.stop().await;
}

/// Item 10d: an unauthenticated LocURI with a newline, an ESC sequence and 100 KB is
/// refused with 400 before any lookup, with a short answer (it got a 2x reply before).
#[tokio::test]
async fn overlong_locuri_is_refused_with_400() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let id = format!("IMEI:\n\u{1b}[2J{}", "9".repeat(100_000));
    let mut dev = Device::new(&id, "x", "pw");
    let t = dev
        .start(&format!("{}/dm", s.url), Initiator::Client, None)
        .poll_transmit(common::device::now())
        .unwrap();
    let (status, body) = post_dm(&s, XML, t.bytes).await;
    assert_eq!(status, 400);
    assert!(body.len() < 200, "{}", body.len());
    s.stop().await;
}

/// Item 10g: a device announcing MaxMsgSize 1, 0 or a huge value still gets its job done
/// (the size is clamped), and the Status for its header says so.
#[tokio::test]
async fn absurd_max_msg_size_is_clamped() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    add_device(&s, "IMEI:907", "dev907", "pw").await;
    for announced in [1usize, 0, usize::MAX] {
        let id = queue(&s, "IMEI:907", get_mod()).await;
        let mut dev = Device::new("IMEI:907", "dev907", "pw");
        dev.max_msg_size = Some(announced);
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            dev.session(&s.http, &format!("{}/dm", s.url)),
        )
        .await
        .unwrap_or_else(|_| panic!("MaxMsgSize {announced}: stuck"));
        assert_eq!(
            out.ended,
            Some(SessionEnd::Completed),
            "{announced}: {out:?}"
        );
        let j = job(&s, id).await;
        assert_eq!(j["state"], "done", "MaxMsgSize {announced}: {j} {out:?}");
    }
    s.stop().await;
}
