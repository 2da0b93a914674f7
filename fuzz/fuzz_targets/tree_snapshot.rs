//! Fuzz target `tree_snapshot`: `dm_tree::snapshot::decode` never panics on any bytes. A tree it
//! accepts re-encodes to bytes that decode again and are a fixpoint (equal trees give equal
//! bytes, so `encode(decode(encode(t))) == encode(t)` is tree equality), and the tree can be
//! used: a `Get` of the whole tree as TNDS and as StructData does not panic, and the TNDS it
//! answers is well-formed XML. Bounded output: the decoded tree re-encodes to at most the input
//! plus 64 bytes (the format has no shorthand to expand; canonical defaults may add a few bytes,
//! `bounded-root-defaults.bin`: 30 bytes re-encode to 31), and it has at most one node per input
//! byte.
#![no_main]

use dm_tree::{ExecContext, Timestamp, snapshot};
use syncml::{Command, Data, Item, ItemCmd, Location};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(tree) = snapshot::decode(data) else {
        return;
    };
    let bytes = snapshot::encode(&tree);
    assert!(
        bytes.len() <= data.len() + 64,
        "a snapshot of {} bytes decoded to a tree of {} bytes",
        data.len(),
        bytes.len()
    );
    assert!(tree.len() <= data.len(), "{} nodes from {} bytes", tree.len(), data.len());
    let mut again = snapshot::decode(&bytes)
        .unwrap_or_else(|e| panic!("our snapshot of a decoded tree does not decode: {e}"));
    assert!(
        snapshot::encode(&again) == bytes,
        "snapshot is not a fixpoint after one trip"
    );
    let ctx = ExecContext {
        server_id: "srv1",
        msg_id: "1",
        now: Timestamp(1_700_000_000),
    };
    for uri in [
        "./?list=TNDS+ACL+Format+Type+Title+Value",
        "./?list=StructData",
    ] {
        let get = Command::Get(ItemCmd {
            cmd_id: "1".into(),
            items: vec![Item {
                target: Some(Location::uri(uri)),
                ..Item::default()
            }],
            ..ItemCmd::default()
        });
        for reply in again.execute(&ctx, &get) {
            if let Command::Results(r) = reply {
                for item in &r.items {
                    if let Some(Data::Xml(x)) = &item.data {
                        assert!(
                            omadm_fuzz::xml_infoset(x.as_bytes()).is_some(),
                            "TNDS of a snapshot tree is not well-formed XML: {x}"
                        );
                    }
                }
            }
        }
    }
    // A Get changes nothing.
    assert!(snapshot::encode(&again) == bytes, "Get changed the tree");
});
