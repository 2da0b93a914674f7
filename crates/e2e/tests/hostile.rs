//! Issue 6, "a resource test through the binary": the real `dm-server` under an address-space
//! limit (`RLIMIT_AS`, lowered under the running process) receives each hostile body of
//! `testdata/hostile/` (string-table amplification, entity and whitespace floods, nested DDF
//! amplification, literal-name amplification, before any authentication) and a body far over
//! the size limit; it answers every one with HTTP 4xx, stays up, its RSS stays bounded, and a
//! legitimate device session right after still succeeds.

#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod harness;

use std::path::Path;

use harness::{Backend, ClientOpts, Device, Server, client_config, client_once};

fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

async fn session_succeeds(server: &Server, dir: &Path, name: &str) {
    let dev = Device::new(name);
    server.add_device(&dev, None).await;
    let cfg = client_config(dir, &server.dm_url(), &dev, &ClientOpts::default());
    let (ok, log) = client_once(&cfg).await;
    assert!(ok, "dm-client session failed: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_under_a_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&Backend::Sqlite, dir.path(), "127.0.0.1:0");
    let pid = server.pid();
    session_succeeds(&server, dir.path(), "before").await;
    // 256 MiB of address space above what the server maps now: any attempt to expand a
    // 1 MiB body a hundredfold would fail to allocate and abort the process.
    let limit = (status_kib(pid, "VmSize") + 256 * 1024) * 1024;
    rustix::process::prlimit(
        Some(rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap()),
        rustix::process::Resource::As,
        rustix::process::Rlimit {
            current: Some(limit),
            maximum: Some(limit),
        },
    )
    .unwrap();
    let rss_before = status_kib(pid, "VmRSS");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let hostile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hostile");
    let mut bodies: Vec<(String, Vec<u8>)> = std::fs::read_dir(&hostile)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wbxml" || x == "xml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    assert!(bodies.len() >= 5, "the hostile corpus is there");
    bodies.push(("100 MB of XML".into(), vec![b'<'; 100 * 1024 * 1024]));
    for (name, body) in &bodies {
        let ct = if name.ends_with(".wbxml") {
            syncml::CONTENT_TYPE_WBXML
        } else {
            syncml::CONTENT_TYPE_XML
        };
        for _ in 0..3 {
            let resp = http
                .post(server.dm_url())
                .header("content-type", ct)
                .body(body.clone())
                .send()
                .await;
            match resp {
                // A 4xx, or (for a body that decodes within the limits, as the linear entity
                // flood does) the protocol's challenge to an unknown sender.
                Ok(r) => {
                    let status = r.status();
                    let ct = r
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let body = r.bytes().await.unwrap();
                    let challenge = status == 200
                        && syncml::Encoding::from_content_type(&ct)
                            .and_then(|e| e.decode(&body, &syncml::Limits::default()).ok())
                            .is_some_and(|m| {
                                m.body.commands.iter().any(|c| {
                                    matches!(c, syncml::Command::Status(st)
                                        if st.cmd_ref == "0" && matches!(st.code.0, 401 | 407))
                                })
                            });
                    assert!(
                        status.is_client_error() || challenge,
                        "{name}: answered {status}"
                    );
                }
                // A body far over the limit may be cut off while it is still being sent.
                Err(e) => assert!(body.len() > 4 * 1024 * 1024, "{name}: {e}"),
            }
        }
        assert!(
            std::fs::metadata(format!("/proc/{pid}")).is_ok(),
            "dm-server died on {name}"
        );
    }
    let rss_after = status_kib(pid, "VmRSS");
    assert!(
        rss_after < rss_before + 96 * 1024,
        "RSS grew from {rss_before} kB to {rss_after} kB"
    );
    let log = server.log_text();
    assert!(
        log.contains("byte"),
        "decode failures are logged with their offset: {log}"
    );
    session_succeeds(&server, dir.path(), "after").await;
}
