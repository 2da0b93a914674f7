//! Issue 6, item 10f: Package 0 over HTTP never follows a redirect, and notification
//! addresses are checked against the destination policy where they are stored (400 with the
//! reason) and again when a notification is sent (what a host name resolves to).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use common::{config, start, temp_db};
use serde_json::{Value, json};
use tokio::sync::mpsc;

fn device(id: &str, notify: Option<&str>) -> Value {
    let mut d = json!({"device_id": id, "auth_type": "md5", "auth_secret": "pw",
                       "server_secret": "server-secret"});
    if let Some(n) = notify {
        d["notify"] = json!(n);
    }
    d
}

/// An HTTP sink on 127.0.0.1: `/push` records the POST and answers `status`, with a
/// `Location` header when given.
async fn sink(status: StatusCode, location: Option<String>) -> (u16, mpsc::Receiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel::<String>(8);
    let app = axum::Router::new().route(
        "/push",
        axum::routing::post(move |headers: HeaderMap| {
            let (tx, location) = (tx.clone(), location.clone());
            async move {
                let host = headers
                    .get(header::HOST)
                    .map(|h| h.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                tx.send(host).await.unwrap();
                let mut h = HeaderMap::new();
                if let Some(l) = location {
                    h.insert(header::LOCATION, l.parse().unwrap());
                }
                (status, h)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, rx)
}

/// A notification URL answering 307 to another host: the redirect is not followed (before
/// the fix, Package 0 was POSTed to the redirect target and the API said 202).
#[tokio::test]
async fn redirects_are_not_followed() {
    let (target_port, mut target) = sink(StatusCode::NO_CONTENT, None).await;
    let (port, mut first) = sink(
        StatusCode::TEMPORARY_REDIRECT,
        Some(format!("http://127.0.0.1:{target_port}/push")),
    )
    .await;
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let url = format!("http://127.0.0.1:{port}/push");
    assert_eq!(
        s.post("/devices", device("IMEI:redir", Some(&url)))
            .await
            .status(),
        201
    );
    let r = s.post("/devices/IMEI:redir/notify", json!({})).await;
    assert_eq!(r.status(), 502);
    let err: Value = r.json().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("307"), "{err}");
    assert!(
        first.recv().await.is_some(),
        "the notification URL got the POST"
    );
    let redirected = tokio::time::timeout(Duration::from_millis(500), target.recv()).await;
    assert!(redirected.is_err(), "the redirect target got a POST");
    s.stop().await;
}

#[tokio::test]
async fn special_destinations_and_user_info_are_refused_with_a_reason() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    for (i, (address, reason)) in [
        ("udp:255.255.255.255", "broadcast"),
        ("udp:224.0.0.1:2948", "multicast"),
        ("udp:[ff02::1]", "multicast"),
        ("udp:0.0.0.0", "unspecified"),
        ("http://0.0.0.0:8080/push", "unspecified"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[fe80::1]/push", "link-local"),
        ("http://[::ffff:169.254.169.254]/push", "link-local"),
        ("http://user:secret@127.0.0.1/push", "user information"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = s
            .post("/devices", device(&format!("IMEI:bad{i}"), Some(address)))
            .await;
        assert_eq!(r.status(), 400, "{address}");
        let err: Value = r.json().await.unwrap();
        assert!(
            err["error"].as_str().unwrap().contains(reason),
            "{address}: {err}"
        );
        assert!(
            !err["error"].as_str().unwrap().contains("secret"),
            "the password is not echoed: {err}"
        );
    }
    // Loopback and LAN addresses are fine by default; PATCH checks the same way.
    assert_eq!(
        s.post("/devices", device("IMEI:lan", Some("udp:192.168.1.20")))
            .await
            .status(),
        201
    );
    let r = s
        .patch(
            "/devices/IMEI:lan",
            json!({"notify": ["udp:127.0.0.1:4000", "udp:239.255.255.250:1900"]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let d: Value = s.get("/devices/IMEI:lan").await.json().await.unwrap();
    assert_eq!(d["notify"], json!(["udp:192.168.1.20"]), "nothing stored");
    let r = s
        .patch(
            "/devices/IMEI:lan",
            json!({"notify": ["udp:127.0.0.1:4000", "https://[fd00::5]/push"]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    s.stop().await;
}

/// With `notify_allowed_networks` only those networks pass: checked at creation for IP
/// literals, and at send time for names (here `localhost`, which resolves to loopback).
#[tokio::test]
async fn allowed_networks_are_a_whitelist_also_for_resolved_names() {
    let (port, mut pushes) = sink(StatusCode::NO_CONTENT, None).await;
    let (_dir, db) = temp_db();
    let s = start(dm_server::Config {
        notify_allowed_networks: Some(vec!["10.0.0.0/8".parse().unwrap()]),
        ..config(&db)
    })
    .await;
    let r = s
        .post("/devices", device("IMEI:lo", Some("udp:127.0.0.1:4000")))
        .await;
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("notify_allowed_networks"),
        "{err}"
    );
    assert_eq!(
        s.post("/devices", device("IMEI:ten", Some("udp:10.1.2.3")))
            .await
            .status(),
        201
    );
    // Names are accepted when stored, and refused when they resolve outside the list.
    for (id, address) in [
        ("IMEI:name-http", format!("http://localhost:{port}/push")),
        ("IMEI:name-udp", "udp:localhost:4000".to_owned()),
    ] {
        assert_eq!(
            s.post("/devices", device(id, Some(&address)))
                .await
                .status(),
            201
        );
        let r = s.post(&format!("/devices/{id}/notify"), json!({})).await;
        assert_eq!(r.status(), 409, "{address}");
        let err: Value = r.json().await.unwrap();
        assert!(err["error"].as_str().unwrap().contains("refused"), "{err}");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), pushes.recv())
            .await
            .is_err(),
        "nothing reached the loopback sink"
    );
    s.stop().await;
}

/// The default policy lets a name that resolves to loopback through (tests and LANs).
#[tokio::test]
async fn names_resolving_to_permitted_addresses_are_notified() {
    let (port, mut pushes) = sink(StatusCode::NO_CONTENT, None).await;
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let address = format!("http://localhost:{port}/push");
    assert_eq!(
        s.post("/devices", device("IMEI:named", Some(&address)))
            .await
            .status(),
        201
    );
    let r = s.post("/devices/IMEI:named/notify", json!({})).await;
    assert_eq!(r.status(), 202);
    let host = tokio::time::timeout(Duration::from_secs(5), pushes.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(host, format!("localhost:{port}"));
    s.stop().await;
}
