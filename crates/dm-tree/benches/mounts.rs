//! Get and Atomic on a gateway-shaped tree whose `./GwMO/DeviceInventory` holds 10,000 devices
//! (6 nodes each), once mounted from an in-memory provider (`tests/common/memory.rs`, with an
//! undo-log transaction) and once as a plain tree holding the same 60,000 nodes in its arena,
//! plus the tree without any inventory as a third baseline. All trees are built in the same
//! run; the samples of every variant are interleaved so that load from other processes hits
//! them alike.
//!
//! Run: `cargo bench -p dm-tree --bench mounts` (`BENCH_QUICK=1` for a short run,
//! `BENCH_DEVICES=n` for another inventory size). Each figure is the median of 31 samples of
//! ~4 ms (time per command); the ratio is mounted / plain.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark binary: wall-clock timing and loud failure are wanted"
)]

#[path = "../tests/common/memory.rs"]
mod memory;

use std::hint::black_box;
use std::time::{Duration, Instant};

use dm_tree::{ExecContext, Mount, NewNode, Timestamp, Tree};
use memory::{MemoryNodes, device, device_nodes};
use syncml::{Command, Container, Data, Item, ItemCmd, Location, StatusCode};

const INV: &str = "./GwMO/DeviceInventory";
const ACL: &str = "Add=*&Delete=*&Exec=*&Get=*&Replace=*";

fn ctx() -> ExecContext<'static> {
    ExecContext {
        server_id: "srv1",
        msg_id: "2",
        now: Timestamp(1_700_000_000),
    }
}

/// The gateway's own nodes (what is in the arena in every variant).
fn base() -> Tree {
    let mut t = Tree::new();
    let t0 = Timestamp(1);
    for (path, v) in [
        ("./DevInfo/DevId", "IMEI:gw"),
        ("./DevInfo/Man", "Acme"),
        ("./DevInfo/Mod", "GW-1"),
        ("./GwMO/GwConfig/InformNewDevice", "true"),
        ("./GwMO/GwConfig/DefaultMode", "proxy"),
    ] {
        t.insert(path, NewNode::leaf(v), t0).unwrap();
    }
    t
}

fn mounted(n: usize) -> Tree {
    let mut t = base();
    t.mount(INV, Mount::nodes(MemoryNodes::inventory(n)), Timestamp(1))
        .unwrap();
    t.set_acl(INV, ACL.parse().unwrap(), Timestamp(1)).unwrap();
    t
}

/// The same nodes as [`MemoryNodes::inventory`], in the arena.
fn plain(n: usize) -> Tree {
    let mut t = base();
    let t0 = Timestamp(1);
    t.insert(INV, NewNode::interior().permanent(), t0).unwrap();
    t.set_acl(INV, ACL.parse().unwrap(), t0).unwrap();
    for i in 0..n {
        for (path, node) in device_nodes(i) {
            t.insert(&format!("{INV}/{path}"), node, t0).unwrap();
        }
    }
    t
}

fn one(cmd_id: &str, target: &str, data: Option<&str>) -> ItemCmd {
    ItemCmd {
        cmd_id: cmd_id.into(),
        items: vec![Item {
            target: Some(Location::uri(target)),
            data: data.map(Data::from),
            ..Item::default()
        }],
        ..ItemCmd::default()
    }
}

fn atomic(target: &str, value: &str) -> Command {
    Command::Atomic(Container {
        cmd_id: "5".into(),
        commands: vec![Command::Replace(one("6", target, Some(value)))],
        ..Container::default()
    })
}

/// Runs `cmd` and checks that every Status is 200.
fn ok(t: &mut Tree, cmd: &Command) {
    for r in t.execute(&ctx(), cmd) {
        if let Command::Status(s) = r {
            assert_eq!(s.code, StatusCode::OK, "{cmd:?}");
        }
    }
}

/// A closure running `x` and `y` on `t` by turns (a Replace that changes the value each time).
fn alternating<'a>(t: &'a mut Tree, x: &'a Command, y: &'a Command) -> impl FnMut() + 'a {
    let mut flip = false;
    move || {
        flip = !flip;
        drop(black_box(t.execute(&ctx(), if flip { x } else { y })));
    }
}

/// Iterations of `f` that take about `target`.
fn calibrate(target: Duration, f: &mut dyn FnMut()) -> u64 {
    let mut iters = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        let took = start.elapsed();
        if took >= target / 4 || iters >= 1 << 24 {
            let per = took.as_secs_f64() / iters as f64;
            return ((target.as_secs_f64() / per) as u64).max(1);
        }
        iters *= 4;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Interleaved samples of every case; returns the median time per call of each, in µs.
fn measure(cases: &mut [&mut dyn FnMut()], samples: usize, target: Duration) -> Vec<f64> {
    let iters: Vec<u64> = cases.iter_mut().map(|f| calibrate(target, *f)).collect();
    let mut times = vec![Vec::with_capacity(samples); cases.len()];
    for _ in 0..samples {
        for (i, f) in cases.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..iters[i] {
                f();
            }
            times[i].push(start.elapsed().as_secs_f64() * 1e6 / iters[i] as f64);
        }
    }
    times.into_iter().map(median).collect()
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let n: usize = std::env::var("BENCH_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (samples, target) = if quick {
        (7, Duration::from_millis(1))
    } else {
        (31, Duration::from_millis(4))
    };
    let start = Instant::now();
    let mut m = mounted(n);
    let built_mounted = start.elapsed();
    let start = Instant::now();
    let mut p = plain(n);
    let built_plain = start.elapsed();
    let mut b = base();
    println!(
        "{n} devices: mounted tree {} arena nodes (built in {built_mounted:.1?}), plain tree {} \
         arena nodes (built in {built_plain:.1?}), base tree {} nodes",
        m.len(),
        p.len(),
        b.len()
    );

    let leaf = format!("{INV}/{}/DevId", device(n / 2));
    let mode = format!("{INV}/{}/Mode", device(n / 2));
    let get_leaf = Command::Get(one("3", &leaf, None));
    let get_dev = Command::Get(one(
        "3",
        &format!("{INV}/{}?list=StructData", device(n / 2)),
        None,
    ));
    let get_names = Command::Get(one("3", INV, None));
    let get_base = Command::Get(one("3", "./GwMO/GwConfig/DefaultMode", None));
    for t in [&mut m, &mut p] {
        ok(t, &get_leaf);
        ok(t, &get_dev);
        ok(t, &get_names);
        ok(t, &atomic(&mode, "x"));
    }
    assert_eq!(m.execute(&ctx(), &get_dev), p.execute(&ctx(), &get_dev));

    let mut rows: Vec<(&str, Vec<f64>)> = Vec::new();
    {
        let mut a = || drop(black_box(m.execute(&ctx(), &get_leaf)));
        let mut c = || drop(black_box(p.execute(&ctx(), &get_leaf)));
        let mut d = || drop(black_box(b.execute(&ctx(), &get_base)));
        rows.push((
            "Get one leaf",
            measure(&mut [&mut a, &mut c, &mut d], samples, target),
        ));
    }
    {
        let mut a = || drop(black_box(m.execute(&ctx(), &get_dev)));
        let mut c = || drop(black_box(p.execute(&ctx(), &get_dev)));
        rows.push((
            "Get one device ?list=StructData",
            measure(&mut [&mut a, &mut c], samples, target),
        ));
    }
    {
        let mut a = || drop(black_box(m.execute(&ctx(), &get_names)));
        let mut c = || drop(black_box(p.execute(&ctx(), &get_names)));
        rows.push((
            "Get the inventory (child list)",
            measure(&mut [&mut a, &mut c], samples, target),
        ));
    }
    let base_mode = "./GwMO/GwConfig/DefaultMode";
    let replace = |target: &str, v: &str| Command::Replace(one("6", target, Some(v)));
    for (name, make) in [
        (
            "Replace one Mode",
            &replace as &dyn Fn(&str, &str) -> Command,
        ),
        ("Atomic { Replace one Mode }", &atomic),
    ] {
        let (x, y) = (make(&mode, "a"), make(&mode, "b"));
        let (bx, by) = (make(base_mode, "a"), make(base_mode, "b"));
        let mut a = alternating(&mut m, &x, &y);
        let mut c = alternating(&mut p, &x, &y);
        let mut d = alternating(&mut b, &bx, &by);
        rows.push((
            name,
            measure(&mut [&mut a, &mut c, &mut d], samples, target),
        ));
    }
    ok(&mut m, &atomic(&mode, "check"));
    assert_eq!(m.execute(&ctx(), &get_dev), {
        ok(&mut p, &atomic(&mode, "check"));
        p.execute(&ctx(), &get_dev)
    });

    println!("\n| command | mounted µs | plain µs | mounted / plain | base tree µs |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, t) in rows {
        let base = t.get(2).map_or("".to_owned(), |v| format!("{v:.2}"));
        println!(
            "| {name} | {:.2} | {:.2} | {:.3} | {base} |",
            t[0],
            t[1],
            t[0] / t[1]
        );
    }
}
