//! XML codec throughput on realistic 1-2 KB DM messages, beside quick-xml's raw event loop over
//! the same bytes (no AST) as a baseline measured in the same run.
//!
//! Run: `cargo bench -p syncml --bench xml` (set `BENCH_QUICK=1` for a short run). Messages come
//! from `crates/syncml/benches/data/*.xml` and, when present, `testdata/messages/**/*.xml` up to
//! 4 KiB. Each figure is the median of 31 samples of ~10 ms each.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    reason = "benchmark binary: wall-clock timing and loud failure on a broken corpus are wanted"
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use quick_xml::Reader;
use quick_xml::events::Event;
use syncml::{Limits, xml};

fn collect(dir: &Path, max_len: u64, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, max_len, out);
        } else if path.extension().is_some_and(|e| e == "xml")
            && entry.metadata().is_ok_and(|m| m.len() <= max_len)
        {
            out.push(path);
        }
    }
}

/// Raw quick-xml: every event of the document, nothing built.
fn raw_events(bytes: &[u8]) -> usize {
    let mut reader = Reader::from_reader(bytes);
    let mut n = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) | Err(_) => return n,
            Ok(ev) => {
                black_box(&ev);
                n += 1;
            }
        }
    }
}

/// Median nanoseconds per call of `f`.
fn median_ns(quick: bool, mut f: impl FnMut()) -> f64 {
    let target = if quick {
        Duration::from_millis(2)
    } else {
        Duration::from_millis(10)
    };
    let samples = if quick { 7 } else { 31 };
    // Calibrate the iterations per sample.
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        if t.elapsed() >= target / 2 {
            break;
        }
        iters *= 2;
    }
    let mut per_iter: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .collect();
    per_iter.sort_by(f64::total_cmp);
    per_iter[per_iter.len() / 2]
}

struct Row {
    name: String,
    bytes: usize,
    raw: f64,
    decode: f64,
    encode: f64,
    both: f64,
}

fn print_row(r: &Row) {
    println!(
        "| {:<28} | {:>5} | {:>8.2} | {:>8.2} | {:>8.2} | {:>8.2} | {:>9.0} | {:>9.0} | {:>5.2} |",
        r.name,
        r.bytes,
        r.raw / 1000.0,
        r.decode / 1000.0,
        r.encode / 1000.0,
        r.both / 1000.0,
        1e9 / r.both,
        1e9 / r.raw,
        r.both / r.raw,
    );
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    collect(&crate_dir.join("benches/data"), 4096, &mut files);
    collect(&crate_dir.join("../../testdata/messages"), 4096, &mut files);
    files.sort();
    let limits = Limits::default();
    let mut msgs = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        match xml::decode(&bytes, &limits) {
            Ok(ast) => {
                // The corpus must round-trip, else the figures mean nothing.
                assert_eq!(
                    xml::decode(&xml::encode(&ast), &limits).as_ref(),
                    Ok(&ast),
                    "{path:?}"
                );
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                msgs.push((name, bytes, ast));
            }
            // Negative corpus files (malformed on purpose) are not benchmarked.
            Err(e) => eprintln!("skipping {}: {e}", path.display()),
        }
    }
    assert!(!msgs.is_empty(), "no messages found");

    // `BENCH_ONLY=raw|decode|encode N`: a fixed loop without timing, for `perf stat` / `perf record`
    // (instruction counts are steadier than wall time on a busy machine).
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        let rounds: usize = std::env::var("BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        let mut out = Vec::with_capacity(4096);
        for _ in 0..rounds {
            for (_, bytes, ast) in &msgs {
                match only.as_str() {
                    "raw" => {
                        black_box(raw_events(black_box(bytes)));
                    }
                    "decode" => {
                        black_box(xml::decode(black_box(bytes), &limits).unwrap());
                    }
                    _ => {
                        out.clear();
                        xml::encode_into(black_box(ast), &mut out);
                        black_box(&out);
                    }
                }
            }
        }
        return;
    }

    println!(
        "| {:<28} | {:>5} | {:>8} | {:>8} | {:>8} | {:>8} | {:>9} | {:>9} | {:>5} |",
        "message",
        "bytes",
        "raw µs",
        "dec µs",
        "enc µs",
        "d+e µs",
        "d+e msg/s",
        "raw msg/s",
        "ratio"
    );
    println!("|{}|", ["---"; 9].join("|"));
    let mut out = Vec::with_capacity(4096);
    let mut rows = Vec::new();
    for (name, bytes, ast) in &msgs {
        let raw = median_ns(quick, || {
            black_box(raw_events(black_box(bytes)));
        });
        let decode = median_ns(quick, || {
            black_box(xml::decode(black_box(bytes), &limits).unwrap());
        });
        let encode = median_ns(quick, || {
            out.clear();
            xml::encode_into(black_box(ast), &mut out);
            black_box(&out);
        });
        let both = median_ns(quick, || {
            let ast = xml::decode(black_box(bytes), &limits).unwrap();
            out.clear();
            xml::encode_into(&ast, &mut out);
            black_box(&out);
        });
        let row = Row {
            name: name.clone(),
            bytes: bytes.len(),
            raw,
            decode,
            encode,
            both,
        };
        print_row(&row);
        rows.push(row);
    }
    let n = rows.len() as f64;
    let mean = |f: fn(&Row) -> f64| rows.iter().map(f).sum::<f64>() / n;
    print_row(&Row {
        name: format!("mean of {} messages", rows.len()),
        bytes: rows.iter().map(|r| r.bytes).sum::<usize>() / rows.len(),
        raw: mean(|r| r.raw),
        decode: mean(|r| r.decode),
        encode: mean(|r| r.encode),
        both: mean(|r| r.both),
    });
    println!(
        "\nmsg/s = 1 / median time per message on one core; ratio = (decode+encode) / raw quick-xml."
    );
}
