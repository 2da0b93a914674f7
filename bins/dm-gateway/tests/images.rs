//! Image storage on the gateway through the binary (issue 8 part 3, GwMO-DCIS-001..003, B.8):
//! refused while `GwConfig/ImageStorage` is false (GwMO-DCIS-003: 405), stored from a URL
//! whose first answer is cut off and resumed with a Range request, the `imageready` alert at
//! the server, the local server's Range answers (206/416) and headers, one file for two
//! entries of one digest (GwMO-DCIS-002), the quota (420, nothing stored lost), disable and
//! delete.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Setup, free_port, statuses};
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A loopback HTTP source of one body: honours `Range: bytes=N-`; its first full answer is cut
/// off half way (headers promise the whole body, the connection closes). Counts the requests
/// that carried a Range header.
async fn source(body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ranged = Arc::new(AtomicUsize::new(0));
    let body = Arc::new(body);
    let first = Arc::new(AtomicUsize::new(0));
    {
        let ranged = ranged.clone();
        tokio::spawn(async move {
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let body = body.clone();
                let ranged = ranged.clone();
                let first = first.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut got = 0;
                    while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                        let n = sock.read(&mut buf[got..]).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        got += n;
                    }
                    let head = String::from_utf8_lossy(&buf[..got]).to_lowercase();
                    let start = head
                        .lines()
                        .find_map(|l| l.strip_prefix("range: bytes="))
                        .and_then(|r| r.trim().trim_end_matches('-').parse::<usize>().ok());
                    let len = body.len();
                    if let Some(s) = start {
                        ranged.fetch_add(1, Ordering::SeqCst);
                        let part = &body[s..];
                        let h = format!(
                            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {s}-{}/{len}\r\nConnection: close\r\n\r\n",
                            part.len(),
                            len - 1
                        );
                        let _ = sock.write_all(h.as_bytes()).await;
                        let _ = sock.write_all(part).await;
                    } else {
                        let h = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
                        );
                        let _ = sock.write_all(h.as_bytes()).await;
                        if first.fetch_add(1, Ordering::SeqCst) == 0 {
                            // Cut off half way.
                            let _ = sock.write_all(&body[..len / 2]).await;
                            let _ = sock.flush().await;
                            return;
                        }
                        let _ = sock.write_all(&body).await;
                    }
                    let _ = sock.shutdown().await;
                });
            }
        });
    }
    (format!("http://{addr}/fw.bin"), ranged)
}

fn hex(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn entry(x: &str, url: &str, sha: &str, size: usize) -> Vec<Value> {
    let base = format!("./GwMO/ImageInventory/Images/{x}");
    vec![
        json!({"kind": "add", "items": [{"path": base, "format": "node"}]}),
        json!({"kind": "add", "items": [{"path": format!("{base}/Name"), "value": format!("image {x}")}]}),
        json!({"kind": "add", "items": [{"path": format!("{base}/URL"), "value": url}]}),
        json!({"kind": "add", "items": [{"path": format!("{base}/SHA256"), "value": sha}]}),
        json!({"kind": "add", "items": [{"path": format!("{base}/Size"), "format": "int", "value": size.to_string()}]}),
        json!({"kind": "exec", "items": [{"path": format!("{base}/Download")}]}),
    ]
}

fn replace(path: &str, format: &str, value: &str) -> Value {
    json!({"kind": "replace", "items": [{"path": path, "format": format, "value": value}]})
}

/// The `imageready` event of entry `x` (its form-urlencoded Data as pairs).
async fn image_ready(s: &Setup, x: &str) -> std::collections::BTreeMap<String, String> {
    let source = format!("./GwMO/ImageInventory/Images/{x}");
    let e = s
        .wait_event(|e| {
            e["alert_type"] == "urn:oma:at:oma-gwmo:imageready:1.0"
                && e["source"] == source.as_str()
        })
        .await;
    form_urlencoded::parse(e["data"].as_str().unwrap().as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gwmo_dcis_001_002_003_image_storage_through_the_binary() {
    let image: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = hex(&image);
    let (url, ranged) = source(image.clone()).await;
    let images_port = free_port();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("images");
    let extra = format!(
        "[images]\ndir = \"{}\"\nlisten = \"127.0.0.1:{images_port}\"\n",
        dir.display()
    );
    let s = Setup::new(&extra).await;
    let _gw = s.start_gateway();

    // GwMO-DCIS-003: storage is off by default: the Download is refused with 405.
    let job = s
        .gateway_job(json!(entry("off", &url, &sha, image.len())))
        .await;
    assert_eq!(statuses(&job).last(), Some(&405), "{job}");

    // The server enables storage and sets a quota that holds one copy of the image.
    let quota = image.len() + 1000;
    let mut cmds = vec![
        replace("./GwMO/GwConfig/ImageStorage", "bool", "true"),
        replace("./GwMO/GwConfig/ImageQuotaBytes", "int", &quota.to_string()),
    ];
    cmds.extend(entry("a", &url, &sha, image.len()));
    let job = s.gateway_job(json!(cmds)).await;
    assert_eq!(statuses(&job).last(), Some(&202), "{job}");

    // GwMO-DCIS-001: the imageready alert names the entry, the digest and the local URI; the
    // first answer was cut off and the download resumed with a Range request.
    let ready = image_ready(&s, "a").await;
    assert_eq!(ready["sha256"], sha);
    assert_eq!(ready["size"], image.len().to_string());
    assert_eq!(ready["state"], "ready");
    let uri = ready["uri"].clone();
    assert!(
        uri.starts_with(&format!("http://127.0.0.1:{images_port}/images/{sha}?t=")),
        "{uri}"
    );
    assert!(ranged.load(Ordering::SeqCst) >= 1, "no Range request");

    // The local server: the whole image with its digests, a range, a bad range, no token.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = http.get(&uri).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["etag"], format!("\"{sha}\"").as_str());
    assert!(h["repr-digest"].to_str().unwrap().starts_with("sha-256=:"));
    assert_eq!(h["content-length"], image.len().to_string().as_str());
    assert_eq!(resp.bytes().await.unwrap().as_ref(), image.as_slice());
    let resp = http
        .get(&uri)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 206);
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes 100-199/{}", image.len()).as_str()
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &image[100..200]);
    let resp = http
        .get(&uri)
        .header("range", format!("bytes={}-", image.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 416);
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes */{}", image.len()).as_str()
    );
    let head = http.head(&uri).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let bare = uri.split('?').next().unwrap();
    assert_eq!(http.get(bare).send().await.unwrap().status(), 404);
    assert_eq!(
        http.get(format!("{bare}?t=00"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // GwMO-DCIS-002: a second entry of the same digest needs no download and no room: one file.
    let job = s
        .gateway_job(json!(entry("b", &url, &sha, image.len())))
        .await;
    assert_eq!(statuses(&job).last(), Some(&202), "{job}");
    let ready_b = image_ready(&s, "b").await;
    assert_ne!(ready_b["uri"], uri, "each entry has its own token");
    let files = || std::fs::read_dir(dir.join("sha256")).unwrap().count();
    assert_eq!(files(), 1);

    // The quota: another image does not fit: 420 and state failed; the stored one stays.
    let other: Vec<u8> = vec![1u8; 5000];
    let job = s
        .gateway_job(json!(entry("c", &url, &hex(&other), other.len())))
        .await;
    assert_eq!(statuses(&job).last(), Some(&420), "{job}");
    let job = s
        .gateway_job(
            json!([{"kind": "get", "items": [{"path": "./GwMO/ImageInventory/Images/c/State"}]}]),
        )
        .await;
    assert!(job["results"].to_string().contains("failed"), "{job}");
    assert_eq!(http.get(&uri).send().await.unwrap().status(), 200);

    // Disable: not served; enable again: served.
    let job = s
        .gateway_job(json!([
            replace("./GwMO/ImageInventory/Images/a/Enabled", "bool", "false"),
            {"kind": "get", "items": [{"path": "./GwMO/ImageInventory/Images/a/State"}]}
        ]))
        .await;
    assert!(job["results"].to_string().contains("disabled"), "{job}");
    assert_eq!(http.get(&uri).send().await.unwrap().status(), 404);
    assert_eq!(
        http.get(&ready_b["uri"]).send().await.unwrap().status(),
        200
    );

    // Delete: the file stays while b names it, and goes with the last entry.
    let del = |x: &str| json!({"kind": "delete", "items": [{"path": format!("./GwMO/ImageInventory/Images/{x}")}]});
    let job = s.gateway_job(json!([del("a")])).await;
    assert_eq!(statuses(&job), vec![200], "{job}");
    assert_eq!(files(), 1);
    let job = s.gateway_job(json!([del("b")])).await;
    assert_eq!(statuses(&job), vec![200], "{job}");
    assert_eq!(files(), 0);
    assert_eq!(
        http.get(&ready_b["uri"]).send().await.unwrap().status(),
        404
    );
}

/// B.8 through the server (GwMO-DCIS-001/003): an image uploaded to dm-server, given to the
/// gateway (storage enabled by the same job), downloaded once from the server's signed URL,
/// reported `ready` with its LocalURI by `imageready`, fetched from the gateway; disabled and
/// deleted through the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gwmo_dcis_001_b8_image_from_the_server_to_the_gateway() {
    let images_port = free_port();
    let tmp = tempfile::tempdir().unwrap();
    let extra = format!(
        "[images]\ndir = \"{}\"\nlisten = \"127.0.0.1:{images_port}\"\n",
        tmp.path().join("images").display()
    );
    let s = Setup::new(&extra).await;
    let _gw = s.start_gateway();
    let image: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
    let sha = hex(&image);
    let api = |p: &str| format!("{}/api/v1{p}", s.server);
    let up = s
        .http
        .post(api("/images?name=fw-2.0"))
        .bearer_auth(common::TOKEN)
        .body(image.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201);
    let up: Value = up.json().await.unwrap();
    assert_eq!(up["sha256"], sha.as_str());
    let list = s.call(reqwest::Method::GET, "/images", None).await;
    assert_eq!(list[0]["size"], image.len());

    // The server's endpoint refuses an unsigned request.
    let unsigned = s
        .http
        .get(format!(
            "{}/images/{sha}?gw=GW:t&exp=9999999999&sig=00",
            s.server
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 403);

    s.call(
        reqwest::Method::POST,
        "/gateways/GW:t/images",
        Some(json!({"sha256": sha, "node": "fw2", "enable_storage": true})),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let entry = loop {
        let l = s
            .call(reqwest::Method::GET, "/gateways/GW:t/images", None)
            .await;
        if l[0]["state"] == "ready" {
            break l[0].clone();
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {l}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let uri = entry["local_uri"].as_str().unwrap().to_owned();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let got = http.get(&uri).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), image.as_slice());

    // Disable through the API: the job reaches the gateway, which stops serving it.
    s.call(
        reqwest::Method::POST,
        "/gateways/GW:t/images/fw2/disable",
        Some(json!({})),
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while http.get(&uri).send().await.unwrap().status() != 404 {
        assert!(std::time::Instant::now() < deadline, "still served");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let l = s
        .call(reqwest::Method::GET, "/gateways/GW:t/images", None)
        .await;
    assert_eq!(l[0]["state"], "disabled", "{l}");
    s.call(reqwest::Method::DELETE, "/gateways/GW:t/images/fw2", None)
        .await;
    let l = s
        .call(reqwest::Method::GET, "/gateways/GW:t/images", None)
        .await;
    assert_eq!(l, json!([]));
}
