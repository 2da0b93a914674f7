//! Memory of the inventory: 10,000 records must cost well under 2 KiB each (a gateway holds
//! its whole fleet in memory). Measured with dhat's counting global allocator: the live heap
//! bytes the inventory holds after 10,000 registrations, divided by 10,000.
//!
//! Run: `cargo test -p gwmo --release --test inventory_memory -- --nocapture` (the figure in
//! docs/benchmarks.md); the assertion holds in debug builds too.

use std::time::Duration;

use gwmo::Timestamp;
use gwmo::inventory::{
    Address, DevInfoSummary, Inventory, InventoryConfig, Kind, Protocol, Registration,
};
use gwmo::mode::Mode;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const DEVICES: usize = 10_000;

fn registration(i: usize) -> Registration {
    Registration {
        id: format!("IMEI:49015420{i:07}"),
        kind: Kind::EndDevice,
        mode: if i.is_multiple_of(3) {
            Mode::Transparent
        } else {
            Mode::Proxy
        },
        protocol: Protocol::OmaDm,
        addresses: Some(vec![Address::Udp(format!(
            "192.168.{}.{}:2948",
            i / 250,
            i % 250
        ))]),
        lease: Some(Duration::from_secs(3600)),
        dev_info: Some(DevInfoSummary {
            man: "Acme Devices Inc.".into(),
            model: format!("Sensor-{}", i % 7),
            dm_v: "1.2".into(),
            lang: "en-US".into(),
        }),
        servers: Some(vec!["dms.example.com".into()]),
    }
}

#[test]
fn ten_thousand_records_cost_well_under_2_kib_each() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // Built outside the measured region: the registrations themselves are moved in.
    let regs: Vec<Registration> = (0..DEVICES).map(registration).collect();
    let before = dhat::HeapStats::get().curr_bytes;
    let regs_bytes = before;
    let mut inv = Inventory::new(InventoryConfig::default());
    for (i, r) in regs.into_iter().enumerate() {
        let now = Timestamp::from_millis(i as u64);
        inv.register(now, dm_tree::Timestamp(1_700_000_000), r)
            .unwrap();
    }
    while inv.poll_event().is_some() {}
    let after = dhat::HeapStats::get().curr_bytes;
    // The registrations' strings now belong to the inventory; the Vec that held them is freed.
    let held = after;
    let per_record = held / DEVICES;
    println!(
        "inventory: {DEVICES} records hold {held} heap bytes = {per_record} B/record \
         (registrations before: {regs_bytes} B)"
    );
    assert_eq!(inv.len(), DEVICES);
    assert!(per_record < 1024, "{per_record} B per record");
}
