//! Mounted subtrees through the public API: a 10,000-device inventory behind a `NodeProvider`
//! (the gateway's DeviceInventory, GwMO-DI-001/002) and a proxied device's tree behind a
//! `CommandProvider` (Proxy mode, GwMO-PMode-001): Get, listings, Replace, Delete, Exec, Add,
//! Copy, ACL, errors, Atomic with and without provider transactions, deferred completion,
//! snapshots and the local API.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::memory::{MemoryNodes, acl, device, text};
use common::proxied::ProxiedDevice;
use common::*;
use dm_tree::mo::devinfo;
use dm_tree::tnds::TNDS_XML;
use dm_tree::*;
use syncml::{Command, Data, Item, StatusCode};

const INV: &str = "./GwMO/DeviceInventory";
const INV_ID: &str = "urn:oma:mo:oma-gwmo-deviceinventory:1.1";
const ALL: &[AclCommand] = &AclCommand::ALL;

/// A gateway tree with `n` devices mounted at `./GwMO/DeviceInventory`; `srv1` may do
/// everything on the inventory, `srv2` may Get.
fn gateway(n: usize) -> (Tree, MemoryNodes) {
    let inv = MemoryNodes::inventory(n);
    let mut t = Tree::new();
    t.mount(INV, Mount::nodes(inv.clone()), Timestamp(1))
        .unwrap();
    t.set_acl(
        INV,
        acl(ALL, SRV).with(AclCommand::Get, "srv2"),
        Timestamp(1),
    )
    .unwrap();
    t.set_mime_type(INV, Some(INV_ID.into()), Timestamp(1))
        .unwrap();
    t.insert("./Local/Val", NewNode::leaf("v"), Timestamp(1))
        .unwrap();
    (t, inv)
}

fn run(t: &mut Tree, c: &Command) -> Vec<u16> {
    codes(&t.execute(&ctx(SRV), c))
}

fn run_as(t: &mut Tree, server: &str, c: &Command) -> Vec<u16> {
    codes(&t.execute(&ctx(server), c))
}

/// The single Results item of a successful Get.
fn got(t: &mut Tree, target: &str) -> Item {
    let out = t.execute(&ctx(SRV), &get(target));
    assert_eq!(codes(&out), [200], "Get {target}");
    let items = result_items(&out);
    assert_eq!(items.len(), 1, "Get {target}");
    items[0].clone()
}

fn dev(i: usize, rest: &str) -> String {
    format!("{INV}/{}{rest}", device(i))
}

// ----- Get ------------------------------------------------------------------------------

#[test]
fn get_one_leaf_among_10000_devices() {
    // GwMO-DI-001: one device's details, from a provider the tree does not copy.
    let (mut t, inv) = gateway(10_000);
    assert_eq!(inv.len(), 60_000);
    assert_eq!(t.len(), 5, "only the tree's own nodes are in the arena");
    let leaf = got(&mut t, &dev(4321, "/DevId"));
    assert_eq!(data_text(&leaf), "IMEI:000000000004321");
    assert_eq!(source(&leaf), dev(4321, "/DevId"));
    assert_eq!(leaf.meta.as_ref().unwrap().format.as_deref(), Some("chr"));
    let node = got(&mut t, &dev(4321, ""));
    assert_eq!(data_text(&node), "DevId/Mode/Ops/Status");
    assert_eq!(node.meta.as_ref().unwrap().format.as_deref(), Some("node"));
    for (prop, want) in [
        ("ACL", ""),
        ("Format", "chr"),
        ("Name", "Mode"),
        ("Size", "5"),
        ("Type", ""),
        ("VerNo", "0"),
    ] {
        assert_eq!(
            data_text(&got(&mut t, &dev(4321, &format!("/Mode?prop={prop}")))),
            want,
            "{prop}"
        );
    }
    assert_eq!(run(&mut t, &get(&dev(4321, "?prop=Size"))), [406]);
    // The mount point's properties are the tree's.
    assert_eq!(data_text(&got(&mut t, &format!("{INV}?prop=Type"))), INV_ID);
    // A relative target is echoed as sent.
    let rel = got(&mut t, "GwMO/DeviceInventory/D00007/Status");
    assert_eq!(source(&rel), "GwMO/DeviceInventory/D00007/Status");
    assert_eq!(data_text(&rel), "attached");
}

#[test]
fn listings_include_mounted_nodes_only_on_demand() {
    // GwMO-DI-002: the whole inventory in one Get when the server asks for it.
    let (mut t, _) = gateway(3);
    assert_eq!(data_text(&got(&mut t, INV)), "D00000/D00001/D00002");
    let out = t.execute(&ctx(SRV), &get(&format!("{INV}?list=Struct")));
    assert_eq!(codes(&out), [200]);
    let listed: Vec<String> = result_items(&out)
        .iter()
        .map(|i| source(i).to_owned())
        .collect();
    assert_eq!(listed.len(), 1 + 3 * 6);
    assert_eq!(listed[0], INV);
    assert_eq!(listed[1], dev(0, ""));
    assert_eq!(listed[2], dev(0, "/DevId"));
    assert!(result_items(&out).iter().all(|i| i.data.is_none()));

    let out = t.execute(&ctx(SRV), &get(&dev(1, "?list=StructData")));
    let items = result_items(&out);
    assert_eq!(items.len(), 6);
    assert_eq!(source(&items[1]), dev(1, "/DevId"));
    assert_eq!(data_text(&items[1]), "IMEI:000000000000001");

    let out = t.execute(&ctx(SRV), &get(&format!("{INV}?list=TNDS+Value+ACL")));
    let xml = data_text(&result_items(&out)[0]).to_owned();
    assert!(
        xml.contains("<NodeName>DeviceInventory</NodeName><Path>./GwMO</Path>"),
        "{xml}"
    );
    assert!(xml.contains("<NodeName>D00002</NodeName>"), "{xml}");
    assert!(xml.contains("<Value>IMEI:000000000000002</Value>"), "{xml}");
    assert_eq!(
        xml.matches("<Node>").count(),
        xml.matches("</Node>").count()
    );

    // A listing of an ancestor shows the mount point without the provider's nodes.
    let out = t.execute(&ctx(SRV), &get("./GwMO?list=StructData"));
    let listed: Vec<String> = result_items(&out)
        .iter()
        .map(|i| source(i).to_owned())
        .collect();
    assert_eq!(listed, ["./GwMO", INV]);
    let out = t.execute(&ctx(SRV), &get(".?list=TNDS+Value"));
    let xml = data_text(&result_items(&out)[0]).to_owned();
    assert!(xml.contains("<NodeName>DeviceInventory</NodeName>") && !xml.contains("D0000"));
}

// ----- Replace, Delete, Exec, Add, Copy -------------------------------------------------

#[test]
fn replace_delete_and_exec_go_to_the_provider() {
    let (mut t, inv) = gateway(10);
    let now = 1_000;
    assert_eq!(
        run(&mut t, &replace(&dev(7, "/Mode"), "transparent")),
        [200]
    );
    let mode = inv.get("D00007/Mode").unwrap();
    assert_eq!(
        (text(&mode), mode.tstamp, mode.verno),
        ("transparent", Some(Timestamp(now)), 1)
    );
    // AccessType comes from the provider's node.
    assert_eq!(run(&mut t, &replace(&dev(7, "/DevId"), "x")), [405]);
    assert_eq!(run(&mut t, &replace(&dev(7, ""), "x")), [405]);
    assert_eq!(
        run(&mut t, &replace(&dev(7, "/Mode?prop=Title"), "m")),
        [200]
    );
    assert_eq!(
        inv.get("D00007/Mode").unwrap().node.title.as_deref(),
        Some("m")
    );
    assert_eq!(run(&mut t, &replace(&dev(7, "?prop=Name"), "D77")), [405]);
    assert_eq!(
        run(&mut t, &replace(&dev(7, "/Mode?prop=Format"), "int")),
        [405]
    );

    let verno = t.get(INV).unwrap().verno();
    assert_eq!(run(&mut t, &delete(&dev(7, ""))), [200]);
    assert!(inv.get("D00007").is_none() && inv.get("D00007/Mode").is_none());
    assert_eq!(
        t.get(INV).unwrap().verno(),
        verno + 1,
        "the mount point is stamped"
    );
    assert_eq!(run(&mut t, &get(&dev(7, "/Mode"))), [404]);
    assert_eq!(run(&mut t, &delete(&dev(8, "/DevId"))), [405]);
    assert_eq!(
        run(&mut t, &delete(&format!("{}?prop=ACL", dev(8, "")))),
        [405]
    );

    inv.state().exec = Some(ExecOutcome {
        code: StatusCode::OK,
        data: Some(Data::Text("reset".into())),
    });
    let out = t.execute(&ctx(SRV), &exec(&dev(9, "/Ops/Reset"), Some("now")));
    let st = &statuses(&out)[0];
    assert_eq!(st.code, StatusCode::OK);
    assert_eq!(source(&st.items[0]), dev(9, "/Ops/Reset"));
    assert_eq!(data_text(&st.items[0]), "reset");
    assert_eq!(run(&mut t, &exec(&dev(9, "/Mode"), None)), [405]);
    assert_eq!(
        run(&mut t, &exec(&dev(9, "/Ops/Reset?prop=ACL"), None)),
        [405]
    );
}

#[test]
fn add_creates_implicit_parents_in_the_provider() {
    let (mut t, inv) = gateway(2);
    // srv3 may Add on the mount point but not Replace: the new device gets the creator ACL.
    t.set_acl(
        INV,
        acl(ALL, SRV).with(AclCommand::Add, "srv3"),
        Timestamp(1),
    )
    .unwrap();
    let verno = t.get(INV).unwrap().verno();
    assert_eq!(
        run_as(
            &mut t,
            "srv3",
            &add(&format!("{INV}/D20000/Mode"), None, Some("proxy"))
        ),
        [200]
    );
    let d = inv.get("D20000").unwrap();
    assert!(!d.is_leaf());
    assert_eq!(d.node.acl.to_string(), "Add=srv3&Delete=srv3&Replace=srv3");
    let mode = inv.get("D20000/Mode").unwrap();
    assert_eq!(
        (text(&mode), mode.node.access, mode.node.acl.is_empty()),
        ("proxy", AccessType::DYNAMIC, true)
    );
    assert_eq!(t.get(INV).unwrap().verno(), verno + 1);
    assert_eq!(
        run(&mut t, &add(&format!("{INV}/D20001"), Some("node"), None)),
        [200]
    );
    assert!(
        inv.get("D20001").unwrap().node.acl.is_empty(),
        "srv1 may Replace: no creator ACL"
    );
    assert_eq!(run(&mut t, &add(&dev(0, "/DevId"), None, Some("x"))), [418]);
    assert_eq!(run(&mut t, &add(INV, Some("node"), None)), [418]);
    assert_eq!(
        run(&mut t, &add(&dev(0, "/DevId/X"), None, Some("x"))),
        [405]
    );
    assert_eq!(
        run(&mut t, &add(&dev(0, "/Ops/X"), None, Some("x"))),
        [405],
        "Ops has no Add"
    );
    assert_eq!(run(&mut t, &add(&dev(0, "/Note"), None, Some("x"))), [200]);
    assert_eq!(
        run(&mut t, &add(&format!("{INV}/D3/x"), Some("text"), None)),
        [415]
    );
    assert_eq!(
        run_as(&mut t, "srv2", &add(&format!("{INV}/D3"), None, None)),
        [425]
    );
    assert!(inv.get("D3").is_none());
}

#[test]
fn copy_crosses_the_mount_boundary_both_ways() {
    let (mut t, inv) = gateway(1);
    assert_eq!(run(&mut t, &copy("./Local/Val", &dev(0, "/Copied"))), [200]);
    assert_eq!(text(&inv.get("D00000/Copied").unwrap()), "v");
    assert_eq!(
        run(&mut t, &copy(&dev(0, "/Copied"), "./Local/Back")),
        [200]
    );
    assert_eq!(t.value_str("./Local/Back"), Some("v"));
    assert_eq!(
        run(&mut t, &copy(&dev(0, "/DevId"), "./Local/Id")),
        [405],
        "no Copy access"
    );
    assert_eq!(run(&mut t, &copy(&dev(0, ""), "./Local/Id")), [406]);
    assert_eq!(run(&mut t, &copy(&dev(0, "/Nope"), "./Local/Id")), [404]);
    assert_eq!(run(&mut t, &copy("./Local/Val", &dev(0, "/Copied"))), [418]);
}

// ----- ACL, unknown nodes, provider errors ----------------------------------------------

#[test]
fn acl_is_checked_before_delegation() {
    let (mut t, inv) = gateway(5);
    let changes = inv.state().calls.changes;
    assert_eq!(run_as(&mut t, "intruder", &get(&dev(1, "/DevId"))), [425]);
    assert_eq!(
        run_as(&mut t, "srv2", &replace(&dev(1, "/Mode"), "x")),
        [425]
    );
    assert_eq!(run_as(&mut t, "srv2", &delete(&dev(1, ""))), [425]);
    assert_eq!(
        run_as(&mut t, "srv2", &exec(&dev(1, "/Ops/Reset"), None)),
        [425]
    );
    assert_eq!(
        run_as(&mut t, "srv2", &add(&dev(1, "/X"), None, None)),
        [425]
    );
    assert_eq!(
        inv.state().calls.changes,
        changes,
        "nothing reached the provider"
    );
    // The provider's own ACL governs its subtree.
    inv.put(
        "D00003",
        NewNode::interior()
            .access(AccessType::GET)
            .acl(acl(&[AclCommand::Get], "srv9")),
    );
    inv.put("D00003/DevId", NewNode::leaf("x").access(AccessType::GET));
    assert_eq!(run(&mut t, &get(&dev(3, "/DevId"))), [425]);
    assert_eq!(run_as(&mut t, "srv9", &get(&dev(3, "/DevId"))), [200]);
    let out = t.execute(&ctx("srv9"), &get(&dev(3, "?prop=ACL")));
    assert_eq!(data_text(&result_items(&out)[0]), "Get=srv9");
    // A node's ACL is replaced with Replace on its parent (here inherited from the mount point).
    assert_eq!(
        run(&mut t, &replace(&dev(4, "/Mode?prop=ACL"), "Get=srv2")),
        [200]
    );
    assert_eq!(
        inv.get("D00004/Mode").unwrap().node.acl.to_string(),
        "Get=srv2"
    );
    assert_eq!(run(&mut t, &get(&dev(4, "/Mode"))), [425]);
    assert_eq!(
        run_as(&mut t, "srv2", &replace(&dev(4, "/Mode?prop=ACL"), "")),
        [425]
    );
    assert_eq!(
        run(&mut t, &replace(&dev(4, "/Mode?prop=ACL"), "Bad")),
        [400]
    );
    // Listings leave out what the server may not Get.
    let out = t.execute(&ctx(SRV), &get(&format!("{INV}?list=Struct")));
    let listed: Vec<String> = result_items(&out)
        .iter()
        .map(|i| source(i).to_owned())
        .collect();
    assert!(!listed.contains(&dev(3, "/DevId")) && !listed.contains(&dev(4, "/Mode")));
    assert!(listed.contains(&dev(4, "/Status")));
}

#[test]
fn unknown_mounted_nodes_are_404() {
    let (mut t, _) = gateway(3);
    let missing = format!("{INV}/D99999/Mode");
    for c in [
        get(&missing),
        replace(&missing, "x"),
        delete(&missing),
        exec(&missing, None),
    ] {
        assert_eq!(run(&mut t, &c), [404], "{c:?}");
    }
    assert_eq!(run(&mut t, &get(&format!("{INV}/Nope?list=Struct"))), [404]);
    assert_eq!(run(&mut t, &copy(&missing, "./Local/X")), [404]);
}

#[test]
fn provider_failures_are_status_codes() {
    let (mut t, inv) = gateway(3);
    inv.state().fail_node = Some((
        vec!["D00001".into(), "DevId".into()],
        StatusCode::DATA_STORE_FAILURE,
    ));
    assert_eq!(run(&mut t, &get(&dev(1, "/DevId"))), [510]);
    assert_eq!(run(&mut t, &get(&format!("{INV}?list=StructData"))), [510]);
    assert_eq!(run(&mut t, &get(&dev(2, "/DevId"))), [200]);
    inv.state().fail_changes = Some(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(run(&mut t, &replace(&dev(2, "/Mode"), "x")), [503]);
    assert_eq!(run(&mut t, &add(&dev(2, "/X"), None, None)), [503]);
    assert_eq!(run(&mut t, &delete(&dev(2, ""))), [503]);
    assert_eq!(text(&inv.get("D00002/Mode").unwrap()), "proxy");
}

#[test]
fn add_undoes_created_parents_when_the_provider_fails_half_way() {
    /// Accepts interior nodes, refuses leaves with 420.
    #[derive(Clone)]
    struct FullForLeaves(MemoryNodes);
    impl NodeProvider for FullForLeaves {
        fn node(&self, path: &[String]) -> Result<Option<MountNode>, StatusCode> {
            self.0.node(path)
        }
        fn children(&self, path: &[String]) -> Result<Vec<String>, StatusCode> {
            self.0.children(path)
        }
        fn add(
            &mut self,
            ctx: &MountContext<'_>,
            path: &[String],
            node: NewNode,
        ) -> Answer<StatusCode> {
            if node.value.is_some() {
                return Answer::Ready(StatusCode::DEVICE_FULL);
            }
            self.0.add(ctx, path, node)
        }
        fn delete(&mut self, ctx: &MountContext<'_>, path: &[String]) -> Answer<StatusCode> {
            self.0.delete(ctx, path)
        }
    }
    let inner = MemoryNodes::new();
    let mut t = Tree::new();
    t.mount(
        "./M",
        Mount::nodes(FullForLeaves(inner.clone())),
        Timestamp(1),
    )
    .unwrap();
    t.set_acl("./M", acl(ALL, "*"), Timestamp(1)).unwrap();
    assert_eq!(run(&mut t, &add("./M/A/B/C", None, Some("x"))), [420]);
    assert_eq!(inner.len(), 0, "the parents A and A/B were deleted again");
}

// ----- Atomic ---------------------------------------------------------------------------

#[test]
fn atomic_commits_through_a_transactional_provider() {
    let (mut t, inv) = gateway(3);
    let c = atomic(vec![
        replace(&dev(1, "/Mode"), "a"),
        replace("./Local/Val", "b"),
    ]);
    assert_eq!(run(&mut t, &c), [200, 200, 200]);
    assert_eq!(text(&inv.get("D00001/Mode").unwrap()), "a");
    assert_eq!(t.value_str("./Local/Val"), Some("b"));
    let calls = inv.state().calls;
    assert_eq!((calls.begin, calls.commit, calls.rollback), (1, 1, 0));
    // An Atomic that touches no mount does not disturb providers.
    assert_eq!(
        run(&mut t, &atomic(vec![replace("./Local/Val", "c")])),
        [200, 200]
    );
    assert_eq!(inv.state().calls.begin, 1);
}

#[test]
fn atomic_failure_rolls_back_tree_and_provider() {
    let (mut t, inv) = gateway(3);
    let before = inv.get("D00001/Mode").unwrap();
    let tree_before = t.snapshot();
    let c = atomic(vec![
        replace(&dev(1, "/Mode"), "z"),
        add("./Local/New", None, Some("n")),
        delete(&dev(2, "")),
        add(&format!("{INV}/D9/Mode"), None, Some("m")),
        replace(&dev(1, "/DevId"), "no"),
        replace("./Local/Val", "never"),
    ]);
    assert_eq!(run(&mut t, &c), [507, 216, 216, 216, 216, 405, 215]);
    assert_eq!(inv.get("D00001/Mode").unwrap(), before);
    assert!(inv.get("D00002/Status").is_some() && inv.get("D9").is_none());
    assert_eq!(
        t.snapshot(),
        tree_before,
        "the tree's nodes are byte-identical"
    );
    let calls = inv.state().calls;
    assert_eq!((calls.begin, calls.commit, calls.rollback), (1, 0, 1));
}

#[test]
fn atomic_is_refused_when_a_provider_cannot_roll_back() {
    let (mut t, inv) = gateway(3);
    inv.state().transactional = false;
    let tree_before = t.snapshot();
    let c = atomic(vec![
        replace("./Local/Val", "x"),
        replace(&dev(1, "/Mode"), "x"),
        sequence(vec![delete(&dev(2, ""))]),
    ]);
    assert_eq!(run(&mut t, &c), [406, 215, 406, 406, 215]);
    assert_eq!(t.snapshot(), tree_before);
    assert_eq!(inv.state().calls.changes, 0, "nothing ran");
    // Reading a mounted node (the source of a Copy) needs no transaction.
    let c = atomic(vec![copy(&dev(1, "/Copied"), "./Local/C")]);
    assert_eq!(run(&mut t, &c), [507, 404]);
}

#[test]
fn atomic_reports_516_where_the_rollback_failed() {
    let (mut t, inv) = gateway(3);
    inv.state().fail_rollback = true;
    let c = atomic(vec![
        replace(&dev(1, "/Mode"), "x"),
        replace("./Local/Val", "y"),
        replace(&dev(1, "/DevId"), "no"),
    ]);
    assert_eq!(run(&mut t, &c), [507, 516, 216, 405]);
    assert_eq!(
        t.value_str("./Local/Val"),
        Some("v"),
        "the tree's own change was undone"
    );
    assert_eq!(
        text(&inv.get("D00001/Mode").unwrap()),
        "x",
        "the provider's stayed"
    );
}

#[test]
fn tnds_add_into_a_provider_is_all_or_nothing() {
    let (mut t, inv) = gateway(1);
    let doc = |second: &str| {
        format!(
            "<MgmtTree><VerDTD>1.2</VerDTD><Node><NodeName>D30000</NodeName>\
             <Node><NodeName>Mode</NodeName><Value>x</Value></Node></Node>\
             <Node><NodeName>{second}</NodeName><Value>y</Value></Node></MgmtTree>"
        )
    };
    assert_eq!(
        run(&mut t, &add_typed(INV, TNDS_XML, &doc("D00000"))),
        [418]
    );
    assert!(inv.get("D30000").is_none(), "rolled back");
    assert_eq!(run(&mut t, &add_typed(INV, TNDS_XML, &doc("Note"))), [200]);
    assert_eq!(text(&inv.get("D30000/Mode").unwrap()), "x");
    assert_eq!(text(&inv.get("Note").unwrap()), "y");
    inv.state().transactional = false;
    assert_eq!(run(&mut t, &add_typed(INV, TNDS_XML, &doc("Other"))), [406]);
    assert!(inv.get("Other").is_none());
}

// ----- Deferred answers -----------------------------------------------------------------

#[test]
fn deferred_changes_are_completed_later() {
    let (mut t, inv) = gateway(3);
    inv.state().defer = true;
    let target = dev(1, "/Mode");
    let done = t.execute_deferrable(&ctx(SRV), &replace(&target, "later"));
    assert!(done.replies.is_empty());
    let [pending] = done.pending.as_slice() else {
        panic!("{done:?}")
    };
    assert_eq!(
        (
            pending.msg_ref(),
            pending.cmd_ref(),
            pending.cmd(),
            pending.target_ref()
        ),
        ("4", "5", "Replace", Some(target.as_str()))
    );
    assert_eq!(pending.mount_point().to_absolute_string(), INV);
    assert_eq!(text(&inv.get("D00001/Mode").unwrap()), "proxy", "not yet");
    let code = inv.finish(pending.ticket()).code;
    let answer = pending.clone().complete(ItemOutcome::from(code));
    assert_eq!(codes(&answer), [200]);
    let st = statuses(&answer)[0];
    assert_eq!((st.msg_ref.as_str(), st.cmd_ref.as_str()), ("4", "5"));
    assert_eq!(st.target_refs.first(), Some(&target));
    assert_eq!(text(&inv.get("D00001/Mode").unwrap()), "later");

    // Items of one command: the tree's own is answered now, the provider's later.
    let two = Command::Replace(items(
        "12",
        vec![
            item("./Local/Val", None, None, Some("now")),
            item(&target, None, None, Some("again")),
        ],
    ));
    let done = t.execute_deferrable(&ctx(SRV), &two);
    assert_eq!(codes(&done.replies), [200]);
    assert_eq!(done.pending.len(), 1);

    // An Exec finished later carries its data in the Status.
    let done = t.execute_deferrable(&ctx(SRV), &exec(&dev(2, "/Ops/Reset"), None));
    let pending = done.pending.into_iter().next().unwrap();
    inv.state().exec = Some(ExecOutcome {
        code: StatusCode::OK,
        data: Some(Data::Text("done".into())),
    });
    let out = inv.finish(pending.ticket());
    let answer = pending.complete(ItemOutcome {
        code: out.code,
        status_items: vec![Item {
            data: out.data,
            ..Item::default()
        }],
        results: None,
    });
    let st = statuses(&answer)[0];
    assert_eq!((st.cmd.as_str(), st.code), ("Exec", StatusCode::OK));
    assert_eq!(source(&st.items[0]), dev(2, "/Ops/Reset"));

    // A Sequence keeps going past a pending command.
    let done = t.execute_deferrable(
        &ctx(SRV),
        &sequence(vec![replace(&target, "s"), replace("./Local/Val", "s")]),
    );
    assert_eq!(codes(&done.replies), [200, 200]);
    assert_eq!(done.pending.len(), 1);
    assert_eq!(t.value_str("./Local/Val"), Some("s"));

    // Where deferring is not allowed the same provider answers at once.
    assert_eq!(run(&mut t, &replace(&target, "at once")), [200]);
    let done = t.execute_deferrable(&ctx(SRV), &atomic(vec![replace(&target, "atomic")]));
    assert_eq!(
        (codes(&done.replies), done.pending.len()),
        (vec![200, 200], 0)
    );
    assert_eq!(text(&inv.get("D00001/Mode").unwrap()), "atomic");
}

#[test]
fn deferred_add_and_delete() {
    let (mut t, inv) = gateway(2);
    inv.state().defer = true;
    // The implicit parent is made at once, only the target's own creation waits.
    let done = t.execute_deferrable(&ctx(SRV), &add(&format!("{INV}/D5/Mode"), None, Some("m")));
    assert!(done.replies.is_empty());
    let pending = done.pending.into_iter().next().unwrap();
    assert!(inv.get("D5").is_some() && inv.get("D5/Mode").is_none());
    let code = inv.finish(pending.ticket()).code;
    assert_eq!(codes(&pending.complete(code.into())), [200]);
    assert_eq!(text(&inv.get("D5/Mode").unwrap()), "m");

    let done = t.execute_deferrable(&ctx(SRV), &delete(&dev(1, "")));
    let pending = done.pending.into_iter().next().unwrap();
    assert_eq!(pending.cmd(), "Delete");
    assert!(inv.get("D00001").is_some(), "not yet");
    let code = inv.finish(pending.ticket()).code;
    assert_eq!(codes(&pending.complete(code.into())), [200]);
    assert!(inv.get("D00001").is_none());
    // A refusal found by the tree is answered at once even from a deferring provider.
    let done = t.execute_deferrable(&ctx("srv2"), &delete(&dev(0, "")));
    assert_eq!((codes(&done.replies), done.pending.len()), (vec![425], 0));
}

#[test]
fn a_provider_deferring_where_it_must_not_gets_500() {
    let (mut t, inv) = gateway(2);
    inv.state().defer_always = true;
    assert_eq!(run(&mut t, &replace(&dev(1, "/Mode"), "x")), [500]);
    let c = atomic(vec![
        replace("./Local/Val", "x"),
        replace(&dev(1, "/Mode"), "x"),
    ]);
    assert_eq!(run(&mut t, &c), [507, 216, 500]);
    assert_eq!(t.value_str("./Local/Val"), Some("v"));
}

// ----- Command providers (Proxy mode) ---------------------------------------------------

const DEV_TREE: &str = "./GwMO/Devices/D1/Tree";

fn proxied() -> (Tree, ProxiedDevice) {
    let mut device = Tree::new();
    devinfo::install(
        &mut device,
        &devinfo::DevInfo {
            dev_id: "IMEI:1".into(),
            man: "Acme".into(),
            model: "Lamp".into(),
            dm_v: "1.2".into(),
            lang: "en".into(),
        },
        Timestamp(1),
    )
    .unwrap();
    let proxy = ProxiedDevice::new(device);
    let mut t = Tree::new();
    t.mount(DEV_TREE, Mount::commands(proxy.clone()), Timestamp(1))
        .unwrap();
    t.set_acl(DEV_TREE, acl(ALL, SRV), Timestamp(1)).unwrap();
    t.insert("./Local/Val", NewNode::leaf("v"), Timestamp(1))
        .unwrap();
    (t, proxy)
}

fn received(p: &ProxiedDevice) -> Vec<String> {
    p.state()
        .received
        .iter()
        .map(|c| match c {
            Command::Get(i)
            | Command::Add(i)
            | Command::Replace(i)
            | Command::Delete(i)
            | Command::Copy(i) => {
                let it = &i.items[0];
                let src = it
                    .source
                    .as_ref()
                    .map(|s| format!("{} -> ", s.loc_uri))
                    .unwrap_or_default();
                format!("{} {src}{}", c.name(), it.target.as_ref().unwrap().loc_uri)
            }
            Command::Exec(e) => format!("Exec {}", e.items[0].target.as_ref().unwrap().loc_uri),
            other => other.name().to_owned(),
        })
        .collect()
}

#[test]
fn proxied_device_answers_commands_in_its_own_namespace() {
    // GwMO-PMode-001: the server manages the device through the gateway's tree.
    let (mut t, p) = proxied();
    let leaf = got(&mut t, &format!("{DEV_TREE}/DevInfo/Man"));
    assert_eq!(
        (source(&leaf), data_text(&leaf)),
        (format!("{DEV_TREE}/DevInfo/Man").as_str(), "Acme")
    );
    let rel = got(&mut t, "GwMO/Devices/D1/Tree/DevInfo/Mod");
    assert_eq!(source(&rel), "GwMO/Devices/D1/Tree/DevInfo/Mod");
    assert_eq!(data_text(&got(&mut t, DEV_TREE)), "DevInfo");
    let out = t.execute(&ctx(SRV), &get(&format!("{DEV_TREE}/DevInfo?list=Struct")));
    let listed: Vec<String> = result_items(&out)
        .iter()
        .map(|i| source(i).to_owned())
        .collect();
    assert_eq!(listed.len(), 7, "DevInfo and its six children");
    assert!(
        listed
            .iter()
            .all(|s| s.starts_with(&format!("{DEV_TREE}/DevInfo"))),
        "{listed:?}"
    );
    // `?prop=` of the mount point is the gateway's own.
    assert_eq!(
        data_text(&got(&mut t, &format!("{DEV_TREE}?prop=ACL"))),
        acl(ALL, SRV).to_string()
    );
    assert_eq!(
        received(&p),
        [
            "Get ./DevInfo/Man",
            "Get ./DevInfo/Mod",
            "Get .",
            "Get ./DevInfo?list=Struct"
        ]
    );

    assert_eq!(
        run(&mut t, &add(&format!("{DEV_TREE}/App/X"), None, Some("1"))),
        [200]
    );
    assert_eq!(p.state().tree.value_str("./App/X"), Some("1"));
    assert_eq!(
        run(&mut t, &replace(&format!("{DEV_TREE}/DevInfo/Man"), "x")),
        [405],
        "the device's own answer"
    );
    assert_eq!(
        run(
            &mut t,
            &copy(&format!("{DEV_TREE}/App/X"), &format!("{DEV_TREE}/App/Y"))
        ),
        [200]
    );
    assert_eq!(p.state().tree.value_str("./App/Y"), Some("1"));
    assert_eq!(
        run(&mut t, &exec(&format!("{DEV_TREE}/App/X"), None)),
        [405]
    );
    assert_eq!(
        run(&mut t, &delete(&format!("{DEV_TREE}/App/Y"))),
        [425],
        "the device's ACL: gw lacks Delete"
    );
    let n = received(&p).len();
    assert_eq!(
        received(&p)[4..],
        [
            "Add ./App/X",
            "Replace ./DevInfo/Man",
            "Copy ./App/X -> ./App/Y",
            "Exec ./App/X",
            "Delete ./App/Y"
        ]
    );

    // What the gateway refuses never reaches the device.
    assert_eq!(
        run_as(&mut t, "srv2", &get(&format!("{DEV_TREE}/DevInfo/Man"))),
        [425]
    );
    assert_eq!(
        run(
            &mut t,
            &atomic(vec![replace(&format!("{DEV_TREE}/App/X"), "2")])
        ),
        [406, 406]
    );
    assert_eq!(
        run(&mut t, &copy("./Local/Val", &format!("{DEV_TREE}/App/Z"))),
        [406]
    );
    assert_eq!(
        run(&mut t, &copy(&format!("{DEV_TREE}/App/X"), "./Local/Z")),
        [406]
    );
    let out = t.execute(&ctx(SRV), &get("./GwMO/Devices?list=Struct"));
    assert_eq!(
        result_items(&out).len(),
        3,
        "the mount point, not the device's nodes"
    );
    let tnds =
        "<MgmtTree><Node><NodeName>Tree</NodeName><Path>./GwMO/Devices/D1</Path></Node></MgmtTree>";
    assert_eq!(
        run(
            &mut t,
            &add_typed("./GwMO/Devices/D1/Tree/T", TNDS_XML, tnds)
        ),
        [200]
    );
    assert_eq!(
        received(&p).len(),
        n + 1,
        "a TNDS Add below the mount point goes to the device whole"
    );
}

#[test]
fn proxied_device_answers_in_a_later_session() {
    let (mut t, p) = proxied();
    p.state().defer = true;
    let target = format!("{DEV_TREE}/DevInfo/Mod");
    let done = t.execute_deferrable(&ctx(SRV), &get(&target));
    assert!(done.replies.is_empty());
    let pending = done.pending.into_iter().next().unwrap();
    assert_eq!(pending.mount_point().to_absolute_string(), DEV_TREE);
    assert!(
        p.state().received.is_empty(),
        "queued for the device's session"
    );
    let outcome = p.finish(pending.ticket());
    assert_eq!(
        source(&outcome.results.as_ref().unwrap()[0]),
        "./DevInfo/Mod"
    );
    let answer = pending.complete(outcome);
    assert_eq!(codes(&answer), [200]);
    let items = result_items(&answer);
    assert_eq!(
        (source(&items[0]), data_text(&items[0])),
        (target.as_str(), "Lamp")
    );
    let Some(Command::Results(r)) = answer.get(1) else {
        panic!("{answer:?}")
    };
    assert_eq!((r.msg_ref.as_deref(), r.cmd_ref.as_str()), (Some("4"), "2"));
    // Without deferral the provider must answer at once.
    assert_eq!(run(&mut t, &get(&target)), [200]);
}

// ----- Mount points, snapshots, the local API -------------------------------------------

#[test]
fn mount_points_and_the_local_api() {
    let (mut t, _) = gateway(2);
    let err = |r: Result<(), Error>| match r {
        Err(Error::Mount { kind, .. }) => kind,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        err(t.mount(".", Mount::nodes(MemoryNodes::new()), Timestamp(1))),
        MountErrorKind::Root
    );
    assert_eq!(
        err(t.mount(
            "./Local/Val/X",
            Mount::nodes(MemoryNodes::new()),
            Timestamp(1)
        )),
        MountErrorKind::Leaf
    );
    assert_eq!(
        err(t.mount("./Local", Mount::nodes(MemoryNodes::new()), Timestamp(1))),
        MountErrorKind::NotEmpty
    );
    assert_eq!(
        err(t.mount(INV, Mount::nodes(MemoryNodes::new()), Timestamp(1))),
        MountErrorKind::InsideMount
    );
    assert_eq!(
        err(t.mount(&dev(0, ""), Mount::nodes(MemoryNodes::new()), Timestamp(1))),
        MountErrorKind::InsideMount
    );
    // An existing empty interior node keeps its properties.
    t.insert("./Other", NewNode::interior().title("kept"), Timestamp(1))
        .unwrap();
    t.mount("./Other", Mount::nodes(MemoryNodes::new()), Timestamp(1))
        .unwrap();
    assert_eq!(t.get("./Other").unwrap().title(), Some("kept"));
    assert!(t.get("./Other").unwrap().is_permanent() && t.get("./Other").unwrap().is_mount_point());
    let points: Vec<String> = t.mount_points().map(Uri::to_absolute_string).collect();
    assert_eq!(points, [INV, "./Other"]);

    // The local API sees only the tree's own nodes.
    assert!(t.get(&dev(0, "")).is_none());
    assert!(matches!(
        t.insert(&dev(0, "/X"), NewNode::leaf("x"), Timestamp(1)),
        Err(Error::Mount {
            kind: MountErrorKind::InsideMount,
            ..
        })
    ));
    assert!(matches!(
        t.remove("./GwMO", Timestamp(1)),
        Err(Error::Mount {
            kind: MountErrorKind::HoldsMount,
            ..
        })
    ));
    // Servers cannot delete or rename a mount point or what holds one.
    t.set_acl(".", acl(ALL, "*"), Timestamp(1)).unwrap();
    assert_eq!(run(&mut t, &delete("./GwMO")), [405]);
    assert_eq!(run(&mut t, &delete(INV)), [405]);
    assert_eq!(run(&mut t, &replace("./GwMO?prop=Name", "Gw")), [405]);
    assert_eq!(
        run(&mut t, &replace(&format!("{INV}?prop=Name"), "Inv")),
        [405]
    );
    assert_eq!(
        run(&mut t, &replace(&format!("{INV}?prop=Title"), "Inventory")),
        [200]
    );

    assert!(matches!(t.mounted(INV), Some(Mount::Nodes(_))));
    assert!(t.mounted("./GwMO").is_none());
    assert!(matches!(t.unmount(INV), Ok(Mount::Nodes(_))));
    assert!(matches!(
        t.unmount(INV),
        Err(Error::Mount {
            kind: MountErrorKind::NotMounted,
            ..
        })
    ));
    assert_eq!(data_text(&got(&mut t, INV)), "");
    assert_eq!(run(&mut t, &get(&dev(0, ""))), [404]);
    t.insert(&dev(0, "/X"), NewNode::leaf("x"), Timestamp(1))
        .unwrap();
}

#[test]
fn snapshots_leave_mounted_data_out_and_mounts_survive_a_reload() {
    let (mut t, _) = gateway(100);
    let bytes = t.snapshot();
    assert!(
        !bytes.windows(5).any(|w| w == b"IMEI:"),
        "no mounted data in a snapshot"
    );
    let decoded = snapshot::decode(&bytes).unwrap();
    assert_eq!(decoded.get(INV).unwrap().child_names().count(), 0);
    assert!(
        !decoded.get(INV).unwrap().is_mount_point(),
        "mounts are not part of a snapshot"
    );
    assert_eq!(decoded.len(), t.len());

    assert_eq!(run(&mut t, &replace("./Local/Val", "changed")), [200]);
    t.load_snapshot(&bytes).unwrap();
    assert_eq!(t.value_str("./Local/Val"), Some("v"));
    assert_eq!(
        data_text(&got(&mut t, &dev(42, "/DevId"))),
        "IMEI:000000000000042"
    );
    // A snapshot without the mount point is refused and changes nothing.
    let foreign = Tree::new().snapshot();
    assert!(matches!(
        t.load_snapshot(&foreign),
        Err(Error::Mount {
            kind: MountErrorKind::NotMounted,
            ..
        })
    ));
    assert_eq!(t.snapshot(), bytes);
}
