//! XML codec throughput on realistic 1-2 KB DM messages, beside quick-xml's raw event loop over
//! the same bytes (no AST) as a baseline measured in the same run.
//!
//! Run: `cargo bench -p syncml --bench xml` (set `BENCH_QUICK=1` for a short run). Messages come
//! from `crates/syncml/benches/data/*.xml` and, when present, `testdata/messages/**/*.xml` up to
//! 4 KiB. Each figure is the median of 41 samples of ~5 ms
//! each, the samples of raw / decode / encode / both interleaved so that load from other processes
//! hits them alike.
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

/// Iterations of `f` that take about `target`.
fn calibrate(target: Duration, f: &mut dyn FnMut()) -> u64 {
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        if t.elapsed() >= target || iters >= 1 << 30 {
            return iters;
        }
        iters *= 2;
    }
}

/// Median nanoseconds per call of each of `fs`. The samples of the functions are interleaved
/// (one batch of each in turn), so that load from other processes hits them all alike and their
/// ratios stay meaningful on a busy machine.
fn measure(quick: bool, fs: &mut [&mut dyn FnMut()]) -> Samples {
    let target = if quick {
        Duration::from_millis(1)
    } else {
        Duration::from_millis(5)
    };
    let samples = if quick { 9 } else { 41 };
    let iters: Vec<u64> = fs.iter_mut().map(|f| calibrate(target, *f)).collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(samples); fs.len()];
    for _ in 0..samples {
        for (i, f) in fs.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..iters[i] {
                f();
            }
            times[i].push(t.elapsed().as_nanos() as f64 / iters[i] as f64);
        }
    }
    Samples(times)
}

/// Per-function samples (nanoseconds per call), in the order they were taken.
struct Samples(Vec<Vec<f64>>);

impl Samples {
    fn median(&self, i: usize) -> f64 {
        median(self.0[i].clone())
    }

    fn min(&self, i: usize) -> f64 {
        self.0[i].iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// Median over samples of `fs[i] / fs[j]` taken side by side.
    fn paired_ratio(&self, i: usize, j: usize) -> f64 {
        median(
            self.0[i]
                .iter()
                .zip(&self.0[j])
                .map(|(a, b)| a / b)
                .collect(),
        )
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    name: String,
    bytes: usize,
    samples: Samples,
    /// Messages per batch (1, or the corpus size for the mix).
    per: f64,
}

fn print_header() {
    println!(
        "| {:<30} | {:>5} | {:>7} | {:>7} | {:>7} | {:>7} | {:>9} | {:>9} | {:>9} | {:>5} |",
        "message",
        "bytes",
        "raw µs",
        "dec µs",
        "enc µs",
        "d+e µs",
        "raw msg/s",
        "d+e msg/s",
        "best d+e",
        "ratio"
    );
    println!("|{}|", ["---"; 10].join("|"));
}

fn print_row(r: &Row) {
    let us = |i| r.samples.median(i) / r.per / 1000.0;
    println!(
        "| {:<30} | {:>5} | {:>7.2} | {:>7.2} | {:>7.2} | {:>7.2} | {:>9.0} | {:>9.0} | {:>9.0} | {:>5.2} |",
        r.name,
        r.bytes,
        us(0),
        us(1),
        us(2),
        us(3),
        1e6 / us(0),
        1e6 / us(3),
        1e9 * r.per / r.samples.min(3),
        r.samples.paired_ratio(3, 0),
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

    print_header();
    let mut rows = Vec::new();
    for (name, bytes, ast) in &msgs {
        let (mut out1, mut out2) = (Vec::with_capacity(4096), Vec::with_capacity(4096));
        let t = measure(
            quick,
            &mut [
                &mut || {
                    black_box(raw_events(black_box(bytes)));
                },
                &mut || {
                    black_box(xml::decode(black_box(bytes), &limits).unwrap());
                },
                &mut || {
                    out1.clear();
                    xml::encode_into(black_box(ast), &mut out1);
                    black_box(&out1);
                },
                &mut || {
                    let ast = xml::decode(black_box(bytes), &limits).unwrap();
                    out2.clear();
                    xml::encode_into(&ast, &mut out2);
                    black_box(&out2);
                },
            ],
        );
        let row = Row {
            name: name.clone(),
            bytes: bytes.len(),
            samples: t,
            per: 1.0,
        };
        print_row(&row);
        rows.push(row);
    }
    // The whole corpus in one batch: time per message over the mix.
    let n = msgs.len() as f64;
    let (mut out1, mut out2) = (Vec::with_capacity(4096), Vec::with_capacity(4096));
    let t = measure(
        quick,
        &mut [
            &mut || {
                for (_, bytes, _) in &msgs {
                    black_box(raw_events(black_box(bytes)));
                }
            },
            &mut || {
                for (_, bytes, _) in &msgs {
                    black_box(xml::decode(black_box(bytes), &limits).unwrap());
                }
            },
            &mut || {
                for (_, _, ast) in &msgs {
                    out1.clear();
                    xml::encode_into(black_box(ast), &mut out1);
                    black_box(&out1);
                }
            },
            &mut || {
                for (_, bytes, _) in &msgs {
                    let ast = xml::decode(black_box(bytes), &limits).unwrap();
                    out2.clear();
                    xml::encode_into(&ast, &mut out2);
                    black_box(&out2);
                }
            },
        ],
    );
    print_row(&Row {
        name: format!("all {} (mix, per message)", msgs.len()),
        bytes: rows.iter().map(|r| r.bytes).sum::<usize>() / rows.len(),
        samples: t,
        per: n,
    });
    println!(
        "\nMedians of {} interleaved samples on one core. msg/s = 1 / median time per message; best = 1 / \
         fastest sample; ratio = median of (decode+encode) / raw quick-xml over side-by-side samples.",
        if quick { 9 } else { 41 }
    );
}
