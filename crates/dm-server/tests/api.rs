//! REST API, notification and HTTP-level behaviour of a real server on loopback.

mod common;

use std::time::Duration;

use common::{TOKEN, config, start, temp_db};
use serde_json::{Value, json};

fn new_device(id: &str) -> Value {
    json!({
        "device_id": id,
        "auth_type": "md5",
        "auth_name": format!("{id}-user"),
        "auth_secret": "device-secret",
        "server_secret": "server-secret",
    })
}

#[tokio::test]
async fn api_requires_the_bearer_token() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let r = s.http.get(s.api("/devices")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("token"));
    let r = s
        .http
        .get(s.api("/devices"))
        .bearer_auth("wrong-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s
        .http
        .get(s.api("/devices"))
        .bearer_auth(&TOKEN[..4])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = s.get("/devices").await;
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn empty_configured_token_refuses_everything() {
    let (_dir, db) = temp_db();
    let s = start(dm_server::Config {
        api_token: String::new(),
        ..config(&db)
    })
    .await;
    let r = s
        .http
        .get(s.api("/devices"))
        .bearer_auth("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    s.stop().await;
}

#[tokio::test]
async fn device_crud_and_listing() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;

    let r = s.post("/devices", new_device("IMEI:1")).await;
    assert_eq!(r.status(), 201);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["device_id"], "IMEI:1");
    assert_eq!(d["auth_name"], "IMEI:1-user");
    assert_eq!(d["auth_type"], "md5");
    assert!(d["last_contact_at"].is_null());
    let text = d.to_string();
    assert!(
        !text.contains("device-secret") && !text.contains("server-secret"),
        "{text}"
    );

    // Duplicate id and duplicate auth name are conflicts.
    assert_eq!(s.post("/devices", new_device("IMEI:1")).await.status(), 409);
    let mut clash = new_device("IMEI:9");
    clash["auth_name"] = json!("IMEI:1-user");
    assert_eq!(s.post("/devices", clash).await.status(), 409);

    // Validation.
    let mut bad = new_device("IMEI:2");
    bad["notify"] = json!("smoke-signal:hill");
    assert_eq!(s.post("/devices", bad).await.status(), 400);
    let mut bad = new_device("IMEI:2");
    bad["unknown_field"] = json!(1);
    assert_eq!(s.post("/devices", bad).await.status(), 400);
    let r = s
        .http
        .post(s.api("/devices"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());

    for i in 2..=5 {
        assert_eq!(
            s.post("/devices", new_device(&format!("IMEI:{i}")))
                .await
                .status(),
            201
        );
    }
    // Keyset pages of 2.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("/devices?limit=2&after={}", urlencode(a)),
            None => "/devices?limit=2".to_owned(),
        };
        let page: Value = s.get(&q).await.json().await.unwrap();
        for d in page["devices"].as_array().unwrap() {
            seen.push(d["device_id"].as_str().unwrap().to_owned());
        }
        match page["next_after"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["IMEI:1", "IMEI:2", "IMEI:3", "IMEI:4", "IMEI:5"]);
    let page: Value = s.get("/devices?prefix=IMEI:3").await.json().await.unwrap();
    assert_eq!(page["devices"].as_array().unwrap().len(), 1);
    assert_eq!(s.get("/devices?bogus=1").await.status(), 400);

    let r = s.get("/devices/IMEI:3").await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.get("/devices/IMEI:404").await.status(), 404);
    let tree: Value = s.get("/devices/IMEI:3/tree").await.json().await.unwrap();
    assert_eq!(tree["values"], json!([]));
    assert_eq!(s.get("/devices/IMEI:404/tree").await.status(), 404);

    assert_eq!(s.delete("/devices/IMEI:3").await.status(), 204);
    assert_eq!(s.get("/devices/IMEI:3").await.status(), 404);
    assert_eq!(s.delete("/devices/IMEI:3").await.status(), 404);
    s.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn jobs_create_get_list_cancel() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    assert_eq!(s.post("/devices", new_device("IMEI:7")).await.status(), 201);

    let job = json!({
        "device_id": "IMEI:7",
        "commands": [
            {"kind": "get", "items": [{"path": "./DevInfo/Mod"}]},
            {"kind": "replace", "items": [{"path": "./Vendor/X", "value": "1", "format": "int"}]},
            {"kind": "atomic", "children": [
                {"kind": "add", "items": [{"path": "./Vendor/D", "format": "node"}]},
                {"kind": "copy", "items": [{"path": "./Vendor/X", "target": "./Vendor/D/X"}]}
            ]}
        ]
    });
    let r = s.post("/jobs", job.clone()).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["state"], "queued");
    assert_eq!(created["commands"], job["commands"]);
    assert_eq!(created["results"], json!([]));
    let id = created["id"].as_i64().unwrap();

    let got: Value = s.get(&format!("/jobs/{id}")).await.json().await.unwrap();
    assert_eq!(got, created);
    assert_eq!(s.get("/jobs/999999").await.status(), 404);
    assert_eq!(s.get("/jobs/notanumber").await.status(), 400);

    // Invalid jobs.
    let r = s
        .post("/jobs", json!({"device_id": "IMEI:7", "commands": []}))
        .await;
    assert_eq!(r.status(), 400);
    let r = s
        .post(
            "/jobs",
            json!({"device_id": "IMEI:7", "commands": [{"kind": "atomic", "children": []}]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = s
        .post(
            "/jobs",
            json!({"device_id": "IMEI:7", "commands": [{"kind": "reboot"}]}),
        )
        .await;
    assert_eq!(r.status(), 400, "unknown command kind");
    let r = s
        .post("/jobs", json!({"device_id": "IMEI:nope", "commands": [{"kind": "get", "items": [{"path": "./A"}]}]}))
        .await;
    assert_eq!(r.status(), 404);

    let second = s
        .post("/jobs", json!({"device_id": "IMEI:7", "commands": [{"kind": "get", "items": [{"path": "./B"}]}]}))
        .await;
    assert_eq!(second.status(), 201);
    let list: Value = s.get("/jobs?device_id=IMEI:7").await.json().await.unwrap();
    assert_eq!(list["jobs"].as_array().unwrap().len(), 2);
    let list: Value = s.get("/jobs?state=done").await.json().await.unwrap();
    assert_eq!(list["jobs"].as_array().unwrap().len(), 0);

    let r = s.post(&format!("/jobs/{id}/cancel"), json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "cancelled");
    assert_eq!(
        s.post(&format!("/jobs/{id}/cancel"), json!({}))
            .await
            .status(),
        409
    );
    let list: Value = s.get("/jobs?state=cancelled").await.json().await.unwrap();
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn events_list_is_empty_for_a_new_server() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let ev: Value = s.get("/events").await.json().await.unwrap();
    assert_eq!(ev, json!({"events": [], "next_after": null}));
    assert_eq!(s.get("/devices/IMEI:x/events").await.status(), 404);
    s.stop().await;
}

#[tokio::test]
async fn openapi_document_describes_the_routes() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let doc: Value = s.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in dm_server::api::openapi::ROUTES {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    // Every documented GET route without path parameters answers 200 for real.
    for (method, path) in dm_server::api::openapi::ROUTES {
        if *method == "get" && !path.contains('{') {
            let r = s
                .http
                .get(format!("{}{path}", s.url))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
        }
    }
    assert_eq!(s.get("/no/such/route").await.status(), 404);
    s.stop().await;
}

#[tokio::test]
async fn malformed_dm_body_is_400_and_the_server_keeps_serving() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    for body in [
        &b"this is not syncml"[..],
        b"<SyncML><SyncHdr>",
        b"\x03\x01\x6a\x00\xff\xff",
    ] {
        let r = s
            .http
            .post(format!("{}/dm", s.url))
            .header("content-type", "application/vnd.syncml.dm+xml")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
    let r = s
        .http
        .post(format!("{}/dm", s.url))
        .header("content-type", "text/html")
        .body("<html/>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // Still serving.
    assert_eq!(s.get("/devices").await.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let (_dir, db) = temp_db();
    let s = start(dm_server::Config {
        max_body_bytes: 4096,
        api_max_body_bytes: 4096,
        ..config(&db)
    })
    .await;
    let big = vec![b'x'; 10_000];
    let r = s
        .http
        .post(format!("{}/dm", s.url))
        .header("content-type", "application/vnd.syncml.dm+xml")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = s
        .http
        .post(s.api("/devices"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(s.get("/devices").await.status(), 200);
    s.stop().await;
}

/// DM-1: Package 0 as a connectionless WSP push over UDP; it verifies with the server's
/// credentials toward the device.
#[tokio::test]
async fn notify_over_udp_sends_a_verifiable_wsp_push() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port();
    let mut dev = new_device("IMEI:udp");
    dev["notify"] = json!(format!("udp:127.0.0.1:{port}"));
    assert_eq!(s.post("/devices", dev).await.status(), 201);

    let r = s
        .post(
            "/devices/IMEI:udp/notify",
            json!({"ui_mode": "informative"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let answer: Value = r.json().await.unwrap();
    let mut buf = vec![0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let push = syncml::notification::wsp::decode_push(&buf[..n]).unwrap();
    assert!(push.is_dm_notification());
    let pkg0 = &push.body;
    // No nonce issued by the device yet: the empty nonce.
    assert!(syncml::notification::verify(
        pkg0,
        "test-dm-server",
        "server-secret",
        b""
    ));
    assert!(!syncml::notification::verify(
        pkg0,
        "test-dm-server",
        "wrong",
        b""
    ));
    let (n0, _digest) = syncml::notification::decode(pkg0).unwrap();
    assert_eq!(n0.server_id, "test-dm-server");
    assert_eq!(n0.ui_mode, syncml::notification::UiMode::Informative);
    assert_eq!(n0.session_id_hex(), answer["session_id"].as_str().unwrap());
    assert_eq!(answer["address"], format!("udp:127.0.0.1:{port}"));

    // Two notifications get different session ids.
    let again: Value = s
        .post("/devices/IMEI:udp/notify", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(again["session_id"], answer["session_id"]);
    s.stop().await;
}

#[tokio::test]
async fn notify_errors() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    assert_eq!(
        s.post("/devices/IMEI:none/notify", json!({}))
            .await
            .status(),
        404
    );
    assert_eq!(
        s.post("/devices", new_device("IMEI:quiet")).await.status(),
        201
    );
    assert_eq!(
        s.post("/devices/IMEI:quiet/notify", json!({}))
            .await
            .status(),
        409
    );
    let mut dev = new_device("IMEI:mode");
    dev["notify"] = json!("udp:127.0.0.1:9");
    assert_eq!(s.post("/devices", dev).await.status(), 201);
    let r = s
        .post("/devices/IMEI:mode/notify", json!({"ui_mode": "loud"}))
        .await;
    assert_eq!(r.status(), 400);
    s.stop().await;
}

/// DM-1 over HTTP: the Package 0 is POSTed with the notification content type.
#[tokio::test]
async fn notify_over_http_posts_package0() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, Vec<u8>)>(1);
    let app = axum::Router::new().route(
        "/push",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    let ct = headers["content-type"].to_str().unwrap().to_owned();
                    tx.send((ct, body.to_vec())).await.unwrap();
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let sink = tokio::spawn(async move { axum::serve(listener, app).await });

    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let mut dev = new_device("IMEI:http");
    dev["notify"] = json!(format!("http://127.0.0.1:{port}/push"));
    assert_eq!(s.post("/devices", dev).await.status(), 201);
    let r = s.post("/devices/IMEI:http/notify", json!({})).await;
    assert_eq!(r.status(), 202);
    let (ct, body) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ct, "application/vnd.syncml.notification");
    assert!(syncml::notification::verify(
        &body,
        "test-dm-server",
        "server-secret",
        b""
    ));

    // A dead notification URL is a 502.
    let mut dev = new_device("IMEI:dead");
    dev["notify"] = json!(format!("http://127.0.0.1:{port}/gone"));
    assert_eq!(s.post("/devices", dev).await.status(), 201);
    assert_eq!(
        s.post("/devices/IMEI:dead/notify", json!({}))
            .await
            .status(),
        502
    );
    sink.abort();
    s.stop().await;
}

#[tokio::test]
async fn https_with_a_self_signed_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let db = dir.path().join("dm.db");
    let cfg = dm_server::Config {
        tls_cert: Some(cert_path),
        tls_key: Some(key_path),
        ..config(&db)
    };
    let s = start(cfg).await;
    assert!(s.url.starts_with("https://"));
    let root = reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .resolve("localhost", s.addr)
        .no_proxy()
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/api/v1/devices", s.addr.port());
    let r = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Plain HTTP to the TLS port does not get an answer from the API.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        plain
            .get(format!("http://{}/api/v1/devices", s.addr))
            .send()
            .await
            .is_err()
    );
    // Still serving TLS after the failed handshake.
    let r = client.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn bad_tls_files_fail_at_bind() {
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    std::fs::write(&cert_path, "not a pem").unwrap();
    let db = dir.path().join("dm.db");
    let cfg = dm_server::Config {
        tls_cert: Some(cert_path.clone()),
        tls_key: Some(cert_path),
        ..config(&db)
    };
    let err = dm_server::Server::bind(cfg).await.unwrap_err();
    assert!(
        matches!(err, dm_server::Error::Listener(dm_host::Error::Pem { .. })),
        "{err}"
    );
}

/// `GET`/`POST /healthz` answer without a token and without touching the store (the loopback
/// baseline of the benchmark posts 1.5 KB bodies to it).
#[tokio::test]
async fn healthz_answers_without_a_token() {
    let (_dir, db) = temp_db();
    let s = start(config(&db)).await;
    let r = s
        .http
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok\n");
    let r = s
        .http
        .post(format!("{}/healthz", s.url))
        .body(vec![b'x'; 1536])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok 1536\n");
}
