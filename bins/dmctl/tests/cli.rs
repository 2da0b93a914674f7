//! Runs the built `dmctl` binary: Package 0 vectors (encode, decode, digest check), the
//! auth-md5 vector, `convert` round trips over every message in `testdata/messages/`, and bad
//! input (exit status 2, one stderr line naming the byte offset).

// Test code: helpers outside #[test] functions may unwrap and index too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dmctl(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dmctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = dmctl(args, stdin);
    assert!(
        out.status.success(),
        "dmctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Asserts exit status 2 and a single stderr line that mentions `needle`.
fn bad(args: &[&str], stdin: &[u8], needle: &str) {
    let out = dmctl(args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "dmctl {args:?}: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "stderr {stderr:?} lacks {needle:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn pkg0_vector(name: &str) -> (String, Vec<u8>) {
    let path = root().join("testdata/pkg0").join(name);
    let bytes = std::fs::read(&path).unwrap();
    (path.to_string_lossy().into_owned(), bytes)
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn pkg0_encode_reproduces_vectors() {
    for (version, file) in [("11", "v11-dmserver-s1.bin"), ("12", "v12-dmserver-s1.bin")] {
        let (_, expected) = pkg0_vector(file);
        let got = ok(
            &[
                "pkg0",
                "encode",
                "--server-id",
                "dmserver",
                "--server-password",
                "srvpwd",
                "--nonce-b64",
                "bjA=",
                "--session-id",
                "1",
                "--ui-mode",
                "background",
                "--initiator",
                "server",
                "--version",
                version,
            ],
            b"",
        );
        assert_eq!(got, expected, "version {version}");
    }
}

#[test]
fn pkg0_default_version_is_11() {
    let got = ok(
        &[
            "pkg0",
            "encode",
            "--server-id",
            "dmserver",
            "--server-password",
            "srvpwd",
            "--nonce-b64",
            "bjA=",
            "--session-id",
            "1",
            "--ui-mode",
            "1",
        ],
        b"",
    );
    assert_eq!(got, pkg0_vector("v11-dmserver-s1.bin").1);
}

#[test]
fn pkg0_decode_prints_fields_and_checks_digest() {
    for (version, file) in [(11, "v11-dmserver-s1.bin"), (12, "v12-dmserver-s1.bin")] {
        let (path, bytes) = pkg0_vector(file);
        let v = json(&ok(
            &[
                "pkg0",
                "decode",
                &path,
                "--server-password",
                "srvpwd",
                "--nonce-b64",
                "bjA=",
            ],
            b"",
        ));
        assert_eq!(v["version"], version);
        assert_eq!(v["ui_mode"], "background");
        assert_eq!(v["initiator"], "server");
        assert_eq!(v["session_id"], 1);
        assert_eq!(v["session_id_hex"], "1");
        assert_eq!(v["server_id"], "dmserver");
        assert_eq!(v["vendor"], "");
        assert_eq!(v["digest"], hex::encode(&bytes[..16]));
        assert_eq!(v["digest_valid"], true);

        // From stdin, with a wrong password: still decodes, digest_valid false, exit 0.
        let v = json(&ok(
            &[
                "pkg0",
                "decode",
                "-",
                "--server-password",
                "nope",
                "--nonce-b64",
                "bjA=",
            ],
            &bytes,
        ));
        assert_eq!(v["digest_valid"], false);
        // Without credentials there is no digest_valid at all.
        let v = json(&ok(&["pkg0", "decode"], &bytes));
        assert!(v.get("digest_valid").is_none());
    }
}

#[test]
fn pkg0_over_wsp_with_gwmo_device() {
    let pdu = ok(
        &[
            "pkg0",
            "encode",
            "--server-id",
            "dmserver",
            "--server-password",
            "srvpwd",
            "--nonce-b64",
            "bjA=",
            "--session-id",
            "0x2a",
            "--vendor-hex",
            "cafe",
            "--wsp-tid",
            "7",
            "--gwmo-device",
            "IMEI:490154203237518",
        ],
        b"",
    );
    assert_eq!(&pdu[..2], &[7, 0x06]);
    let v = json(&ok(
        &[
            "pkg0",
            "decode",
            "--wsp",
            "--server-password",
            "srvpwd",
            "--nonce-b64",
            "bjA=",
        ],
        &pdu,
    ));
    assert_eq!(v["wsp_tid"], 7);
    assert_eq!(v["gwmo_device"], "IMEI:490154203237518");
    assert_eq!(v["session_id_hex"], "2A");
    assert_eq!(v["vendor"], "cafe");
    assert_eq!(v["digest_valid"], true);
}

#[test]
fn auth_md5_vector() {
    let out = ok(
        &[
            "auth",
            "md5",
            "--user",
            "user1",
            "--password",
            "pass1",
            "--nonce-b64",
            "bm9uY2UxMjM=",
        ],
        b"",
    );
    assert_eq!(
        String::from_utf8(out).unwrap().trim(),
        "ESDxbLrUmMsM/v6byLTz8w=="
    );
}

#[test]
fn bad_input_exits_2_with_offset() {
    let (_, bytes) = pkg0_vector("v11-dmserver-s1.bin");
    bad(&["pkg0", "decode"], &bytes[..27], "byte 27");
    bad(&["pkg0", "decode"], &bytes[..5], "byte 5");
    let mut future = bytes.clone();
    future[20] = 0x01;
    bad(&["pkg0", "decode"], &future, "byte offset 16");
    bad(&["pkg0", "decode", "--wsp"], &[1, 7, 0], "byte 1");
    bad(
        &[
            "auth",
            "md5",
            "--user",
            "u",
            "--password",
            "p",
            "--nonce-b64",
            "ab*c",
        ],
        b"",
        "byte 2",
    );
    bad(
        &[
            "pkg0",
            "encode",
            "--server-id",
            &"x".repeat(300),
            "--server-password",
            "p",
            "--nonce-b64",
            "",
            "--session-id",
            "1",
        ],
        b"",
        "server_id",
    );
    bad(&["convert", "--to", "wbxml"], b"<SyncML><SyncHdr>", "byte");
    bad(
        &["convert", "--to", "xml"],
        &[0x03, 0xA4, 0x01, 0x6A, 0x00, 0x6D, 0x6C],
        "byte",
    );
}

/// Issue 6, finding 1: the 1 MiB WBXML body whose string table is referenced 370,000 times
/// (testdata/hostile/, made by crates/syncml/tests/hostile/mod.rs) made `dmctl convert` abort
/// with "memory allocation ... failed". Now: exit 2, one line naming the limit and the offset.
#[test]
fn convert_stops_hostile_input_at_a_limit() {
    let dir = root().join("testdata/hostile");
    let path = dir.join("wbxml-strtbl-amplification-1mib.wbxml");
    let t = std::time::Instant::now();
    bad(
        &["convert", "--to", "xml", &path.to_string_lossy()],
        b"",
        "WBXML at byte 307325: text value size (max_text) limit of 4194304 exceeded",
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    let path = dir.join("wbxml-nested-ddf-amplification.wbxml");
    bad(
        &["convert", "--to", "xml", "-"],
        &std::fs::read(path).unwrap(),
        "text value size (max_text) limit",
    );
    // Over max_size: only one byte past it is read.
    let mut huge = tempfile::NamedTempFile::new().unwrap();
    huge.write_all(&vec![b' '; 5 << 20]).unwrap();
    bad(
        &["convert", "--to", "wbxml", &huge.path().to_string_lossy()],
        b"",
        "XML at byte 4194304: input size (max_size) limit of 4194304 exceeded",
    );
}

/// libdmclient's NUL-terminated values (testdata/messages/libdmclient/) convert; the NULs are
/// dropped.
#[test]
fn convert_reads_libdmclient_nul_terminated_values() {
    let path = root().join("testdata/messages/libdmclient/2014-nul-terminated-data.xml");
    let wbxml = ok(&["convert", "--to", "wbxml", &path.to_string_lossy()], b"");
    let xml = ok(&["convert", "--to", "xml"], &wbxml);
    let xml = String::from_utf8(xml).unwrap();
    assert!(xml.contains("<Data>libdmclient</Data>"), "{xml}");
    assert!(!xml.contains('\0'));
}

#[test]
fn usage_errors_exit_2() {
    let out = dmctl(&["pkg0", "encode", "--server-id", "s"], b"");
    assert_eq!(out.status.code(), Some(2));
    let out = dmctl(&["convert", "--to", "json"], b"");
    assert_eq!(out.status.code(), Some(2));
}

fn message_files() -> Vec<PathBuf> {
    let dir = root().join("testdata/messages");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("xml" | "wbxml")
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no messages in {}", dir.display());
    files
}

#[test]
fn convert_round_trips_every_testdata_message_both_ways() {
    let limits = syncml::Limits::default();
    for file in message_files() {
        let path = file.to_string_lossy().into_owned();
        let original = std::fs::read(&file).unwrap();
        let ast = syncml::Encoding::detect(&original)
            .decode(&original, &limits)
            .unwrap();

        // file -> WBXML -> XML -> WBXML
        let w1 = ok(&["convert", "--to", "wbxml", &path], b"");
        let x1 = ok(&["convert", "--to", "xml", "-"], &w1);
        let w2 = ok(&["convert", "--to", "wbxml"], &x1);
        assert_eq!(w1, w2, "{path}: WBXML not stable through XML");
        // file -> XML -> WBXML -> XML
        let x2 = ok(&["convert", "--to", "xml", &path], b"");
        let w3 = ok(&["convert", "--to", "wbxml"], &x2);
        let x3 = ok(&["convert", "--to", "xml"], &w3);
        assert_eq!(x2, x3, "{path}: XML not stable through WBXML");

        // Same message after conversion, compared in canonical XML: WBXML has no CDATA and XML
        // writes OPAQUE as CDATA, so only the form of some Data values may differ.
        let canonical = String::from_utf8(syncml::xml::encode(&ast)).unwrap();
        for bytes in [&w1, &x1, &x2, &w3] {
            let back = syncml::Encoding::detect(bytes)
                .decode(bytes, &limits)
                .unwrap();
            let back = String::from_utf8(syncml::xml::encode(&back)).unwrap();
            assert_eq!(back, canonical, "{path}: message changed in conversion");
        }
    }
}

#[test]
fn convert_writes_output_file() {
    let file = message_files().into_iter().next().unwrap();
    let out = std::env::temp_dir().join(format!("dmctl-test-{}.wbxml", std::process::id()));
    let out_s = out.to_string_lossy().into_owned();
    let stdout = ok(
        &[
            "convert",
            "--to",
            "wbxml",
            &file.to_string_lossy(),
            "-o",
            &out_s,
        ],
        b"",
    );
    assert!(stdout.is_empty());
    let written = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    assert_eq!(syncml::Encoding::detect(&written), syncml::Encoding::Wbxml);
}
