//! Issue 6, item 10e: identifiers and other fields of API requests are bounded (a
//! 900,000-character device id was stored before), answered 400 with a JSON error; API bodies
//! have their own size limit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{TOKEN, config, start, temp_db};
use dm_server::api::model::{
    MAX_AUTH_NAME_BYTES, MAX_DEVICE_ID_BYTES, MAX_NODE_PATH_BYTES, MAX_NOTIFY_ADDRESSES,
    MAX_SECRET_BYTES,
};
use serde_json::{Value, json};

fn device(id: &str) -> Value {
    json!({"device_id": id, "auth_type": "md5", "auth_secret": "pw"})
}

async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.expect("a JSON error body");
    (
        status,
        v["error"].as_str().expect("an error text").to_owned(),
    )
}

#[tokio::test]
async fn a_huge_device_id_is_refused_and_not_stored() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let huge = "A".repeat(900_000);
    let (status, text) = error_of(s.post("/devices", device(&huge)).await).await;
    assert_eq!(status, 400);
    assert!(text.contains("device_id") && text.contains("256"), "{text}");
    assert!(text.len() < 200, "the value is not echoed");
    let list: Value = s.get("/devices").await.json().await.unwrap();
    assert_eq!(list["devices"], json!([]));

    // At the limit it is accepted, one byte more is not.
    let at = "d".repeat(MAX_DEVICE_ID_BYTES);
    assert_eq!(s.post("/devices", device(&at)).await.status(), 201);
    let over = "d".repeat(MAX_DEVICE_ID_BYTES + 1);
    assert_eq!(s.post("/devices", device(&over)).await.status(), 400);
    // Multi-byte characters count in bytes.
    let wide = "é".repeat(MAX_DEVICE_ID_BYTES / 2 + 1);
    assert_eq!(s.post("/devices", device(&wide)).await.status(), 400);
    s.stop().await;
}

#[tokio::test]
async fn control_characters_in_identifiers_are_refused() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    for bad in [
        "IMEI:1\nforged log line",
        "IMEI:\u{1b}[31mred",
        "IMEI:\0",
        "IMEI:\u{85}",
    ] {
        let (status, text) = error_of(s.post("/devices", device(bad)).await).await;
        assert_eq!(status, 400, "{bad:?}");
        assert!(text.contains("control character"), "{text}");
    }
    let mut d = device("IMEI:ok");
    d["auth_name"] = json!("name\r\nX");
    assert_eq!(s.post("/devices", d).await.status(), 400);
    s.stop().await;
}

#[tokio::test]
async fn other_fields_are_bounded() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let mut d = device("IMEI:f");
    d["auth_name"] = json!("n".repeat(MAX_AUTH_NAME_BYTES + 1));
    assert_eq!(s.post("/devices", d).await.status(), 400);
    let mut d = device("IMEI:f");
    d["auth_secret"] = json!("s".repeat(MAX_SECRET_BYTES + 1));
    assert_eq!(s.post("/devices", d).await.status(), 400);
    let mut d = device("IMEI:f");
    d["server_secret"] = json!("");
    assert_eq!(s.post("/devices", d).await.status(), 400);
    assert_eq!(s.post("/devices", device("IMEI:f")).await.status(), 201);

    let many = vec!["udp:127.0.0.1:9"; MAX_NOTIFY_ADDRESSES + 1];
    assert_eq!(
        s.patch("/devices/IMEI:f", json!({"notify": many}))
            .await
            .status(),
        400
    );
    let long = format!("http://127.0.0.1/{}", "p".repeat(2000));
    assert_eq!(
        s.patch("/devices/IMEI:f", json!({"notify": [long]}))
            .await
            .status(),
        400
    );
    assert_eq!(
        s.patch(
            "/devices/IMEI:f",
            json!({"server_secret": "x".repeat(MAX_SECRET_BYTES + 1)})
        )
        .await
        .status(),
        400
    );

    // Jobs: device id, node paths, targets, meta.
    let job = |device: &str, path: &str| json!({"device_id": device, "commands": [{"kind": "get", "items": [{"path": path}]}]});
    assert_eq!(
        s.post("/jobs", job("IMEI:f", "./DevInfo/Mod"))
            .await
            .status(),
        201
    );
    let huge = "A".repeat(900_000);
    assert_eq!(s.post("/jobs", job(&huge, "./X")).await.status(), 400);
    let deep_path = format!("./{}", "a".repeat(MAX_NODE_PATH_BYTES));
    assert_eq!(
        s.post("/jobs", job("IMEI:f", &deep_path)).await.status(),
        400
    );
    assert_eq!(s.post("/jobs", job("IMEI:f", "./A\nB")).await.status(), 400);
    let nested = json!({"device_id": "IMEI:f", "commands": [{"kind": "atomic", "children": [
        {"kind": "copy", "items": [{"path": "./A", "target": format!("./{}", "t".repeat(2000))}]}]}]});
    assert_eq!(s.post("/jobs", nested).await.status(), 400);
    let meta = json!({"device_id": "IMEI:f", "commands": [{"kind": "replace", "items": [
        {"path": "./A", "value": "1", "format": "f".repeat(300)}]}]});
    assert_eq!(s.post("/jobs", meta).await.status(), 400);

    // Ids in paths and queries (5,000 bytes: a URL still short enough for the HTTP client).
    let huge = "A".repeat(5000);
    for path in [
        format!("/devices/{huge}"),
        format!("/devices/{huge}/tree"),
        format!("/devices/{huge}/events"),
        format!("/jobs?device_id={huge}"),
        format!("/events?device_id={huge}"),
        format!("/devices?prefix={}", "p".repeat(300)),
        format!(
            "/devices/IMEI:f/tree?prefix={}",
            "p".repeat(MAX_NODE_PATH_BYTES + 1)
        ),
    ] {
        let (status, _) = error_of(s.get(&path).await).await;
        assert_eq!(status, 400, "{}", &path[..path.len().min(60)]);
    }
    assert_eq!(s.delete(&format!("/devices/{huge}")).await.status(), 400);
    s.stop().await;
}

/// The API's body limit is its own (`api_max_body_bytes`), independent of the DM one.
#[tokio::test]
async fn api_bodies_have_their_own_size_limit() {
    let (_dir, db) = temp_db();
    let s = start(dm_server::Config {
        api_max_body_bytes: 2048,
        max_body_bytes: 1 << 20,
        ..config(&db)
    })
    .await;
    let mut d = device("IMEI:body");
    d["padding_is_unknown_anyway"] = json!("x".repeat(4000));
    let r = s
        .http
        .post(s.api("/devices"))
        .bearer_auth(TOKEN)
        .json(&d)
        .send()
        .await
        .unwrap();
    let (status, _) = error_of(r).await;
    assert_eq!(status, 413);
    // A DM body of the same size is within its own limit (answered 400: it is not SyncML).
    let r = s
        .http
        .post(format!("{}/dm", s.url))
        .header("content-type", "application/vnd.syncml.dm+xml")
        .body(vec![b'x'; 4000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(s.post("/devices", device("IMEI:body")).await.status(), 201);
    s.stop().await;
}
