//! Interoperability of our WBXML codec with libwbxml (Debian `libwbxml2-utils`), on the golden
//! corpus in `testdata/messages/` (DM-level message handling; OMA DM 1.2 RepPro / WBXML).
//!
//! For every `NAME.xml` (with `NAME.wbxml` made once by `xml2wbxml -o NAME.wbxml NAME.xml`):
//! - the committed libwbxml `.wbxml` decodes (our WBXML decoder) to the AST our XML decoder
//!   gives for the `.xml` (always runs);
//! - (a) our WBXML, converted by `wbxml2xml` and decoded by our XML decoder, gives the AST;
//! - (b) libwbxml's WBXML made live by `xml2wbxml` decodes to the AST;
//! - (c) our WBXML is never larger than libwbxml's.
//!
//! (a)-(c) need the tools: without them the test prints "SKIPPED" and passes, unless
//! `REQUIRE_ORACLES=1`, when it fails.
//!
//! ASTs are compared after a normalisation: `Data` `Text`/`CData`/`Opaque`/`Xml` holding the
//! same bytes are equal (libwbxml renders `OPAQUE` as CDATA and writes `Add`/`Replace` data as
//! `OPAQUE`), and XML in `Data` is compared in a compact form (whitespace-only text dropped,
//! `<x></x>` as `<x/>`), since `wbxml2xml` indents a nested TNDS tree.

// Test code: helpers outside #[test] functions may unwrap and index too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod walk;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};

use syncml::{Data, Limits, SyncMl, wbxml, xml};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/messages")
}

/// (name, xml, golden libwbxml wbxml), sorted by name.
fn corpus() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let xml = std::fs::read(&p).unwrap();
            let golden = std::fs::read(p.with_extension("wbxml"))
                .unwrap_or_else(|e| panic!("{name}.wbxml (golden, from xml2wbxml) missing: {e}"));
            (name, xml, golden)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        v.len() >= 12,
        "the golden corpus has at least 12 messages, found {}",
        v.len()
    );
    v
}

/// Compact form of an XML fragment: whitespace-only text dropped, empty elements as `<x/>`.
fn canonical_xml(s: &str) -> String {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(s);
    let mut out = String::new();
    let mut pending: Option<String> = None;
    let flush = |out: &mut String, p: &mut Option<String>| {
        if let Some(h) = p.take() {
            out.push('<');
            out.push_str(&h);
            out.push('>');
        }
    };
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => {
                flush(&mut out, &mut pending);
                pending = Some(String::from_utf8_lossy(&e).into_owned());
            }
            Ok(Event::Empty(e)) => {
                flush(&mut out, &mut pending);
                out.push_str(&format!("<{}/>", String::from_utf8_lossy(&e)));
            }
            Ok(Event::End(e)) => match pending.take() {
                Some(h) => out.push_str(&format!("<{h}/>")),
                None => out.push_str(&format!(
                    "</{}>",
                    String::from_utf8_lossy(e.name().as_ref())
                )),
            },
            Ok(Event::Text(t)) => {
                let u = t.unescape().map(|c| c.into_owned()).unwrap_or_default();
                if !u.trim().is_empty() {
                    flush(&mut out, &mut pending);
                    out.push_str(
                        &u.replace('&', "&amp;")
                            .replace('<', "&lt;")
                            .replace('>', "&gt;"),
                    );
                }
            }
            Ok(Event::Eof) => break,
            // Not XML after all (text that merely looks like it): compare as is.
            Err(_) => return s.to_owned(),
            Ok(_) => {}
        }
    }
    out
}

fn normalize_data(d: &mut Data) {
    let bytes = match &*d {
        Data::Xml(x) => canonical_xml(x).into_bytes(),
        Data::Text(t) | Data::CData(t) if t.trim_start().starts_with('<') => {
            canonical_xml(t).into_bytes()
        }
        other => other.as_bytes().to_vec(),
    };
    *d = Data::Opaque(bytes);
}

fn normalized(msg: &SyncMl) -> SyncMl {
    walk::map_data(msg, normalize_data)
}

/// Runs a libwbxml tool with `input` on stdin, returning stdout.
fn run_tool(tool: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Process::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn oracles_available() -> bool {
    let found = ["xml2wbxml", "wbxml2xml"].iter().all(|t| {
        Process::new(t)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    if !found {
        if std::env::var("REQUIRE_ORACLES").as_deref() == Ok("1") {
            panic!(
                "REQUIRE_ORACLES=1 but xml2wbxml/wbxml2xml are not installed \
                 (apt-get install libwbxml2-utils)"
            );
        }
        eprintln!("=================================================================");
        eprintln!("SKIPPED: libwbxml2-utils not installed (xml2wbxml / wbxml2xml)");
        eprintln!("=================================================================");
    }
    found
}

#[test]
fn golden_libwbxml_files_decode_to_the_xml_ast() {
    for (name, x, golden) in corpus() {
        let expected = xml::decode(&x, &Limits::default())
            .unwrap_or_else(|e| panic!("{name}.xml: XML decoder: {e}"));
        let got = wbxml::decode(&golden, &Limits::default())
            .unwrap_or_else(|e| panic!("{name}.wbxml: WBXML decoder: {e}"));
        assert_eq!(
            normalized(&got),
            normalized(&expected),
            "{name}: golden libwbxml WBXML"
        );
    }
}

#[test]
fn our_wbxml_round_trips_through_our_decoder() {
    for (name, x, _) in corpus() {
        let ast = xml::decode(&x, &Limits::default()).unwrap();
        let ours = wbxml::encode(&ast);
        let back = wbxml::decode(&ours, &Limits::default()).unwrap();
        assert_eq!(normalized(&back), normalized(&ast), "{name}");
    }
}

#[test]
fn libwbxml_interop_both_directions_and_size() {
    if !oracles_available() {
        return;
    }
    let mut report = Vec::new();
    for (name, x, golden) in corpus() {
        let ast = xml::decode(&x, &Limits::default()).unwrap();
        let expected = normalized(&ast);
        let ours = wbxml::encode(&ast);

        // (a) ours -> wbxml2xml -> our XML decoder.
        let via_lib = run_tool("wbxml2xml", &["-m", "0", "-o", "-", "-"], &ours);
        let a = xml::decode(&via_lib, &Limits::default()).unwrap_or_else(|e| {
            panic!(
                "{name}: wbxml2xml output does not decode: {e}\n{}",
                String::from_utf8_lossy(&via_lib)
            )
        });
        assert_eq!(
            normalized(&a),
            expected,
            "{name}: (a) ours -> wbxml2xml -> XML decoder"
        );

        // (b) libwbxml (live) -> our WBXML decoder; the live output equals the golden file.
        let theirs = run_tool("xml2wbxml", &["-o", "-", "-"], &x);
        let b = wbxml::decode(&theirs, &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: our decoder rejects xml2wbxml output: {e}"));
        assert_eq!(
            normalized(&b),
            expected,
            "{name}: (b) xml2wbxml -> our WBXML decoder"
        );
        assert_eq!(
            theirs, golden,
            "{name}: live xml2wbxml output differs from the golden file"
        );

        // (c) never larger than libwbxml.
        if ours.len() > theirs.len() {
            let dump = std::env::temp_dir().join(format!("{name}.ours.wbxml"));
            let _ = std::fs::write(&dump, &ours);
            eprintln!("our encoding written to {}", dump.display());
        }
        assert!(
            ours.len() <= theirs.len(),
            "{name}: ours {} bytes > libwbxml {} bytes",
            ours.len(),
            theirs.len()
        );
        report.push(format!(
            "{name}: xml {} B, libwbxml {} B, ours {} B",
            x.len(),
            theirs.len(),
            ours.len()
        ));
    }
    eprintln!("{}", report.join("\n"));
}
