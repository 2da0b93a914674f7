//! Fuzz target `tnds_add`: an `Add` of Type `application/vnd.syncml.dmtnds+xml` with arbitrary
//! `Data` on a small tree never panics, answers with exactly one `Status`, is all or nothing
//! (a failed Add leaves the tree byte-for-byte unchanged), and leaves a tree whose snapshot
//! round-trips and whose TNDS serialisation is well-formed XML. Bounded output: what the Add
//! stores (the growth of the tree's snapshot) is at most 32 times the document plus 256 bytes:
//! XML does not expand, but a `Path` makes an interior node of every segment, so 2 bytes (`a/`)
//! become a node record of some 30 bytes (`bounded-path-segments-make-nodes`: 481 bytes of
//! document, 1,259 bytes of snapshot).
//!
//! Input: `[target, flags, document...]`: `target` picks the Add target from [`TARGETS`];
//! `flags` bits 0-1 the `Data` variant (Xml, Text, CData, Opaque), bit 2 puts the `Meta` on the
//! command instead of the item, bit 3 adds `Format` `xml`; the rest is the document (UTF-8,
//! lossily decoded except for Opaque).
#![no_main]

use dm_tree::{AccessType, Acl, ExecContext, Timestamp, Tree, snapshot, tnds::TNDS_XML};
use syncml::{Command, Data, Item, ItemCmd, Location, Meta};

/// Add targets: the root, existing interior and leaf nodes, a node the server may not Add
/// below, a read-only node, new paths, a relative URI and malformed ones.
const TARGETS: &[&str] = &[
    ".",
    "./A",
    "./A/B",
    "./A/Locked",
    "./A/RO",
    "./New",
    "./A/New/Deep",
    "A",
    "./A/",
    "./A?list=TNDS",
    "",
];

const NOW: Timestamp = Timestamp(1_700_000_000);

fn ctx() -> ExecContext<'static> {
    ExecContext {
        server_id: "srv1",
        msg_id: "2",
        now: NOW,
    }
}

fn small_tree() -> Tree {
    let mut t = Tree::new();
    t.set_max_nodes(Some(64));
    let add = |target: &str, format: Option<&str>, data: Option<&str>| {
        Command::Add(ItemCmd {
            cmd_id: "1".into(),
            items: vec![Item {
                target: Some(Location::uri(target)),
                meta: format.map(|f| Meta {
                    format: Some(f.into()),
                    ..Meta::default()
                }),
                data: data.map(Data::from),
                ..Item::default()
            }],
            ..ItemCmd::default()
        })
    };
    for c in [
        add("./A", Some("node"), None),
        add("./A/B", None, Some("1")),
        add("./A/Locked", Some("node"), None),
        add("./A/RO", Some("node"), None),
    ] {
        t.execute(&ctx(), &c);
    }
    t.set_acl("./A/Locked", Acl::parse("Get=*").unwrap(), NOW)
        .unwrap();
    t.set_access("./A/RO", AccessType::GET).unwrap();
    t
}

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let [target, flags, doc @ ..] = input else {
        return;
    };
    let target = TARGETS[usize::from(*target) % TARGETS.len()];
    let text = String::from_utf8_lossy(doc).into_owned();
    let data = match flags & 3 {
        0 => Data::Xml(text),
        1 => Data::Text(text),
        2 => Data::CData(text),
        _ => Data::Opaque(doc.to_vec()),
    };
    let meta = Meta {
        format: (flags & 8 != 0).then(|| "xml".to_owned()),
        r#type: Some(TNDS_XML.to_owned()),
        ..Meta::default()
    };
    let on_cmd = flags & 4 != 0;
    let add = Command::Add(ItemCmd {
        cmd_id: "3".into(),
        meta: on_cmd.then(|| meta.clone()),
        items: vec![Item {
            target: Some(Location::uri(target)),
            meta: (!on_cmd).then_some(meta),
            data: Some(data),
            ..Item::default()
        }],
        ..ItemCmd::default()
    });

    let mut tree = small_tree();
    let before = snapshot::encode(&tree);
    let before_len = tree.len();
    let replies = tree.execute(&ctx(), &add);
    let [Command::Status(status)] = replies.as_slice() else {
        panic!("an Add of one item must answer with one Status: {replies:?}");
    };
    assert_eq!(
        (status.msg_ref.as_str(), status.cmd_ref.as_str()),
        ("2", "3")
    );
    let after = snapshot::encode(&tree);
    if !status.code.is_success() {
        assert!(
            after == before,
            "a failed TNDS Add ({}) changed the tree",
            status.code
        );
        return;
    }
    assert!(tree.len() >= before_len);
    assert!(
        after.len() <= before.len() + 32 * doc.len() + 256,
        "a TNDS Add of {} bytes grew the tree's snapshot from {} to {} bytes",
        doc.len(),
        before.len(),
        after.len()
    );
    assert!(
        tree.len() <= 64,
        "the node limit was exceeded: {}",
        tree.len()
    );
    let again = snapshot::decode(&after)
        .unwrap_or_else(|e| panic!("snapshot after a TNDS Add does not decode: {e}"));
    assert!(
        snapshot::encode(&again) == after,
        "snapshot after a TNDS Add is not a fixpoint"
    );
    let get = Command::Get(ItemCmd {
        cmd_id: "4".into(),
        items: vec![Item {
            target: Some(Location::uri("./?list=TNDS+ACL+Format+Type+Title+Value")),
            ..Item::default()
        }],
        ..ItemCmd::default()
    });
    for reply in tree.execute(&ctx(), &get) {
        if let Command::Results(r) = reply {
            for item in &r.items {
                if let Some(Data::Xml(x)) = &item.data {
                    assert!(
                        omadm_fuzz::xml_infoset(x.as_bytes()).is_some(),
                        "TNDS after a TNDS Add is not well-formed XML: {x}"
                    );
                }
            }
        }
    }
});
