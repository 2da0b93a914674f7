//! WBXML conversion throughput on the golden corpus (`testdata/messages`), the same messages
//! and the same two conversions as `benches/libwbxml-baseline`:
//! - xml2wbxml: `xml::decode` + `wbxml::encode` of each `NAME.xml`;
//! - wbxml2xml: `wbxml::decode` + `xml::encode` of each `NAME.wbxml` (libwbxml's output).
//!
//! Plain `harness = false` main: prints `xml2wbxml_msgs_per_s=` / `wbxml2xml_msgs_per_s=` per
//! repetition and the medians. `BENCH_ITERS` (passes over the corpus, default 2000) and
//! `BENCH_REPS` (default 5) tune it, `BENCH_DIR=xml2wbxml|wbxml2xml` runs one direction only;
//! `scripts/bench-wbxml` alternates it with the libwbxml baseline and prints the ratio (and,
//! with `--callgrind`, the ratio of instructions per message).
//!
//! Both encoders write into one reused buffer (`encode_into`); the decoders build a fresh AST
//! per message.

// A benchmark measures wall-clock time: the sans-IO clock ban does not apply here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use syncml::{Limits, wbxml, xml};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/messages");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    names.sort();
    let xmls: Vec<Vec<u8>> = names.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let wbxmls: Vec<Vec<u8>> = names
        .iter()
        .map(|p| std::fs::read(p.with_extension("wbxml")).unwrap())
        .collect();
    let iters = env_num("BENCH_ITERS", 2000);
    let reps = env_num("BENCH_REPS", 5);
    let limits = Limits::default();
    let n = (iters * xmls.len()) as f64;
    eprintln!(
        "syncml WBXML bench: {} messages, {iters} iterations, {reps} reps",
        xmls.len()
    );
    // BENCH_DIR=xml2wbxml|wbxml2xml runs one direction only (for instruction counts).
    let dir_sel = std::env::var("BENCH_DIR").unwrap_or_default();
    let run_a = dir_sel.is_empty() || dir_sel == "xml2wbxml";
    let run_b = dir_sel.is_empty() || dir_sel == "wbxml2xml";
    let (mut to_wbxml, mut to_xml) = (Vec::new(), Vec::new());
    // One output buffer per direction, reused (`encode_into`), as a server converting one
    // HTTP body after another would.
    let mut out = Vec::with_capacity(4096);
    for _ in 0..reps {
        let mut sink = 0usize;
        let t0 = Instant::now();
        if run_a {
            for _ in 0..iters {
                for x in &xmls {
                    let msg = xml::decode(black_box(x), &limits).unwrap();
                    out.clear();
                    wbxml::encode_into(&msg, &mut out);
                    sink += black_box(&out).len();
                }
            }
        }
        let t1 = Instant::now();
        if run_b {
            for _ in 0..iters {
                for w in &wbxmls {
                    let msg = wbxml::decode(black_box(w), &limits).unwrap();
                    out.clear();
                    xml::encode_into(&msg, &mut out);
                    sink += black_box(&out).len();
                }
            }
        }
        let t2 = Instant::now();
        assert!(sink > 0);
        let a = n / (t1 - t0).as_secs_f64();
        let b = n / (t2 - t1).as_secs_f64();
        if run_a {
            println!("xml2wbxml_msgs_per_s={a:.0}");
            to_wbxml.push(a);
        }
        if run_b {
            println!("wbxml2xml_msgs_per_s={b:.0}");
            to_xml.push(b);
        }
    }
    if to_wbxml.is_empty() || to_xml.is_empty() {
        return;
    }
    println!(
        "median xml2wbxml_msgs_per_s={:.0} wbxml2xml_msgs_per_s={:.0}",
        median(&mut to_wbxml),
        median(&mut to_xml)
    );
    if std::env::var("BENCH_STAGES").is_ok() {
        stages(&xmls, &wbxmls, iters, &limits);
    }
}

/// Each codec step alone (set `BENCH_STAGES=1`), to see where the time goes.
fn stages(xmls: &[Vec<u8>], wbxmls: &[Vec<u8>], iters: usize, limits: &Limits) {
    let msgs: Vec<_> = xmls
        .iter()
        .map(|x| xml::decode(x, limits).unwrap())
        .collect();
    let n = (iters * xmls.len()) as f64;
    let time = |name: &str, f: &dyn Fn() -> usize| {
        let t = Instant::now();
        let mut sink = 0;
        for _ in 0..iters {
            sink += f();
        }
        let r = n / t.elapsed().as_secs_f64();
        println!("stage {name}: {r:.0} msgs/s ({sink})");
    };
    time("xml::decode", &|| {
        xmls.iter()
            .map(|x| {
                xml::decode(black_box(x), limits)
                    .unwrap()
                    .body
                    .commands
                    .len()
            })
            .sum()
    });
    time("wbxml::encode", &|| {
        msgs.iter().map(|m| wbxml::encode(black_box(m)).len()).sum()
    });
    time("wbxml::decode", &|| {
        wbxmls
            .iter()
            .map(|w| {
                wbxml::decode(black_box(w), limits)
                    .unwrap()
                    .body
                    .commands
                    .len()
            })
            .sum()
    });
    time("xml::encode", &|| {
        msgs.iter().map(|m| xml::encode(black_box(m)).len()).sum()
    });
}
