//! WBXML conversion throughput on the golden corpus (`testdata/messages`), the same messages
//! and the same two conversions as `benches/libwbxml-baseline`:
//! - xml2wbxml: `xml::decode` + `wbxml::encode` of each `NAME.xml`;
//! - wbxml2xml: `wbxml::decode` + `xml::encode` of each `NAME.wbxml` (libwbxml's output).
//!
//! Plain `harness = false` main: prints `xml2wbxml_msgs_per_s=` / `wbxml2xml_msgs_per_s=` per
//! repetition and the medians. `BENCH_ITERS` (passes over the corpus, default 2000) and
//! `BENCH_REPS` (default 5) tune it; `scripts/bench-wbxml` alternates it with the libwbxml
//! baseline and prints the ratio.

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
    let (mut to_wbxml, mut to_xml) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let t0 = Instant::now();
        let mut sink = 0usize;
        for _ in 0..iters {
            for x in &xmls {
                let msg = xml::decode(black_box(x), &limits).unwrap();
                sink += black_box(wbxml::encode(&msg)).len();
            }
        }
        let t1 = Instant::now();
        for _ in 0..iters {
            for w in &wbxmls {
                let msg = wbxml::decode(black_box(w), &limits).unwrap();
                sink += black_box(xml::encode(&msg)).len();
            }
        }
        let t2 = Instant::now();
        assert!(sink > 0);
        let a = n / (t1 - t0).as_secs_f64();
        let b = n / (t2 - t1).as_secs_f64();
        println!("xml2wbxml_msgs_per_s={a:.0}\nwbxml2xml_msgs_per_s={b:.0}");
        to_wbxml.push(a);
        to_xml.push(b);
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
