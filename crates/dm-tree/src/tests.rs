//! Command-level tests of `Tree::execute` (status codes per digest §3.5/§3.7), Atomic
//! rollback, TNDS, snapshots and the standard MOs driven through DM commands.

use proptest::prelude::*;
use syncml::{
    Alert, AlertCode, Command, Container, Data, Exec, Item, ItemCmd, Location, Meta, Status,
    StatusCode,
};

use crate::mo::{devdetail, devinfo, dmacc};
use crate::*;

const SRV: &str = "srv1";

fn ctx(server: &str) -> ExecContext<'_> {
    ExecContext {
        server_id: server,
        msg_id: "7",
        now: Timestamp(1_000_000),
    }
}

fn meta(format: Option<&str>, ty: Option<&str>) -> Option<Meta> {
    if format.is_none() && ty.is_none() {
        return None;
    }
    Some(Meta {
        format: format.map(str::to_owned),
        r#type: ty.map(str::to_owned),
        ..Meta::default()
    })
}

fn item(target: &str, format: Option<&str>, data: Option<&str>) -> Item {
    Item {
        target: Some(Location::uri(target)),
        meta: meta(format, None),
        data: data.map(Data::from),
        ..Item::default()
    }
}

fn cmd(items: Vec<Item>) -> ItemCmd {
    ItemCmd {
        cmd_id: "3".into(),
        items,
        ..ItemCmd::default()
    }
}

fn add(target: &str, format: Option<&str>, data: Option<&str>) -> Command {
    Command::Add(cmd(vec![item(target, format, data)]))
}

fn replace(target: &str, data: &str) -> Command {
    Command::Replace(cmd(vec![item(target, None, Some(data))]))
}

fn delete(target: &str) -> Command {
    Command::Delete(cmd(vec![item(target, None, None)]))
}

fn get(target: &str) -> Command {
    Command::Get(cmd(vec![item(target, None, None)]))
}

fn copy(source: &str, target: &str) -> Command {
    Command::Copy(cmd(vec![Item {
        source: Some(Location::uri(source)),
        target: Some(Location::uri(target)),
        ..Item::default()
    }]))
}

fn exec(target: &str, data: Option<&str>) -> Command {
    Command::Exec(Exec {
        cmd_id: "9".into(),
        correlator: Some("corr-1".into()),
        items: vec![item(target, None, data)],
        ..Exec::default()
    })
}

fn statuses(out: &[Command]) -> Vec<&Status> {
    out.iter()
        .filter_map(|c| match c {
            Command::Status(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn codes(out: &[Command]) -> Vec<u16> {
    statuses(out).iter().map(|s| s.code.0).collect()
}

fn run(t: &mut Tree, c: Command) -> Vec<u16> {
    codes(&t.execute(&ctx(SRV), &c))
}

fn run_as(t: &mut Tree, server: &str, c: Command) -> Vec<u16> {
    codes(&t.execute(&ctx(server), &c))
}

/// The single Results item of a Get.
fn get_item(t: &mut Tree, target: &str) -> Item {
    let out = t.execute(&ctx(SRV), &get(target));
    assert_eq!(codes(&out), [200], "Get {target}");
    match out.last() {
        Some(Command::Results(r)) => {
            assert_eq!(r.items.len(), 1);
            r.items[0].clone()
        }
        other => panic!("no Results: {other:?}"),
    }
}

fn get_text(t: &mut Tree, target: &str) -> String {
    get_item(t, target)
        .data
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

// ----- Add ------------------------------------------------------------------------------

#[test]
fn add_leaf_then_get_with_meta() {
    let mut t = Tree::new();
    let out = t.execute(&ctx(SRV), &add("./A/B", Some("int"), Some("42")));
    let st = statuses(&out);
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].code, StatusCode::OK);
    assert_eq!(st[0].cmd, "Add");
    assert_eq!(st[0].cmd_ref, "3");
    assert_eq!(st[0].msg_ref, "7");
    assert_eq!(st[0].cmd_id, "");
    assert_eq!(st[0].target_refs, ["./A/B"]);
    let it = get_item(&mut t, "./A/B");
    assert_eq!(it.source.unwrap().loc_uri, "./A/B");
    assert_eq!(it.meta.unwrap().format.as_deref(), Some("int"));
    assert_eq!(it.data, Some(Data::Text("42".into())));
    // Implicit parent is interior.
    assert_eq!(get_text(&mut t, "./A"), "B");
}

#[test]
fn add_defaults_to_chr_and_interior_with_node_format() {
    let mut t = Tree::new();
    assert_eq!(run(&mut t, add("X", None, Some("v"))), [200]);
    assert_eq!(t.get("./X").unwrap().format(), Format::Chr);
    assert_eq!(run(&mut t, add("./I", Some("node"), None)), [200]);
    assert!(!t.get("./I").unwrap().is_leaf());
    let it = get_item(&mut t, "./I");
    assert_eq!(
        it.data,
        Some(Data::Text(String::new())),
        "empty child list is <Data/>"
    );
    assert_eq!(it.meta.unwrap().format.as_deref(), Some("node"));
}

#[test]
fn add_status_codes() {
    let mut t = Tree::new();
    assert_eq!(run(&mut t, add("./A", None, Some("1"))), [200]);
    assert_eq!(run(&mut t, add("./A", None, Some("1"))), [418], "exists");
    assert_eq!(
        run(&mut t, add(".", Some("node"), None)),
        [418],
        "root exists"
    );
    assert_eq!(
        run(&mut t, add("./A/B", None, Some("1"))),
        [405],
        "parent is a leaf"
    );
    assert_eq!(
        run(&mut t, add("./C", Some("text"), Some("1"))),
        [415],
        "unknown format"
    );
    assert_eq!(
        run(&mut t, add("./C?prop=Title", None, Some("1"))),
        [405],
        "no Add on props"
    );
    assert_eq!(
        run(&mut t, add("./C/", None, Some("1"))),
        [400],
        "malformed URI"
    );
    let no_target = Command::Add(cmd(vec![Item {
        data: Some("x".into()),
        ..Item::default()
    }]));
    assert_eq!(run(&mut t, no_target), [412]);
    assert_eq!(run(&mut t, Command::Add(cmd(vec![]))), [412]);
    let tnds_wbxml = Command::Add(cmd(vec![Item {
        target: Some(Location::uri("./T")),
        meta: meta(None, Some(tnds::TNDS_WBXML)),
        data: Some(Data::Opaque(vec![3, 1])),
        ..Item::default()
    }]));
    assert_eq!(run(&mut t, tnds_wbxml), [415]);
}

#[test]
fn add_uri_limits_give_414() {
    let mut t = Tree::new();
    t.set_uri_limits(UriLimits {
        max_depth: 2,
        max_tot_len: 20,
        max_seg_len: 5,
    });
    assert_eq!(run(&mut t, add("./A/B/C", None, Some("1"))), [414]);
    assert_eq!(run(&mut t, add("./ABCDEF", None, Some("1"))), [414]);
    assert_eq!(run(&mut t, add("./ABCDE/ABCDE", None, Some("1"))), [200]);
}

#[test]
fn add_access_type_405_before_acl_425() {
    let mut t = Tree::new();
    t.insert(
        "./RO",
        NewNode::interior().access(AccessType::GET),
        Timestamp(0),
    )
    .unwrap();
    t.insert(
        "./Locked",
        NewNode::interior().acl(Acl::parse("Get=*").unwrap()),
        Timestamp(0),
    )
    .unwrap();
    assert_eq!(run(&mut t, add("./RO/x", None, Some("1"))), [405]);
    assert_eq!(run(&mut t, add("./Locked/x", None, Some("1"))), [425]);
    // AccessType wins when both would refuse.
    t.set_acl("./RO", Acl::parse("Get=*").unwrap(), Timestamp(0))
        .unwrap();
    assert_eq!(run(&mut t, add("./RO/x", None, Some("1"))), [405]);
}

#[test]
fn add_by_server_without_replace_gets_creator_acl() {
    let mut t = Tree::new();
    t.insert(
        "./Apps",
        NewNode::interior().acl(Acl::parse("Add=*&Get=*").unwrap()),
        Timestamp(0),
    )
    .unwrap();
    assert_eq!(run(&mut t, add("./Apps/P/Q", None, Some("1"))), [200]);
    assert_eq!(
        t.get("./Apps/P").unwrap().acl().to_string(),
        "Add=srv1&Delete=srv1&Replace=srv1"
    );
    assert!(t.get("./Apps/P/Q").unwrap().acl().is_empty());
    // With Replace on the parent the new node just inherits.
    assert_eq!(run(&mut t, add("./Free", None, Some("1"))), [200]);
    assert!(t.get("./Free").unwrap().acl().is_empty());
}

#[test]
fn add_device_full_420() {
    let mut t = Tree::new();
    t.set_max_nodes(Some(3));
    assert_eq!(run(&mut t, add("./A", None, Some("1"))), [200]);
    assert_eq!(run(&mut t, add("./B/C", None, Some("1"))), [420]);
    assert_eq!(run(&mut t, add("./B", None, Some("1"))), [200]);
}

// ----- Replace --------------------------------------------------------------------------

#[test]
fn replace_value_and_meta() {
    let mut t = Tree::new();
    run(&mut t, add("./A", None, Some("1")));
    let before = t.get("./A").unwrap().verno();
    let mut it = item("./A", Some("int"), Some("2"));
    it.meta.as_mut().unwrap().r#type = Some("text/x-num".into());
    assert_eq!(run(&mut t, Command::Replace(cmd(vec![it]))), [200]);
    let n = t.get("./A").unwrap();
    assert_eq!(n.value(), Some(&Data::Text("2".into())));
    assert_eq!(n.format(), Format::Int);
    assert_eq!(n.mime_type(), Some("text/x-num"));
    assert_eq!(n.verno(), before.wrapping_add(1));
    assert_eq!(n.tstamp(), Some(Timestamp(1_000_000)));
}

#[test]
fn replace_status_codes() {
    let mut t = Tree::new();
    run(&mut t, add("./I", Some("node"), None));
    t.insert(
        "./RO",
        NewNode::leaf("x").access(AccessType::GET),
        Timestamp(0),
    )
    .unwrap();
    t.insert(
        "./Mine",
        NewNode::leaf("x").acl(Acl::parse("Replace=other").unwrap()),
        Timestamp(0),
    )
    .unwrap();
    assert_eq!(run(&mut t, replace("./Nope", "1")), [404]);
    assert_eq!(run(&mut t, replace("./I", "1")), [405], "interior value");
    assert_eq!(run(&mut t, replace("./RO", "1")), [405], "AccessType");
    assert_eq!(run(&mut t, replace("./Mine", "1")), [425], "ACL");
    assert_eq!(run_as(&mut t, "other", replace("./Mine", "1")), [200]);
    assert_eq!(run(&mut t, replace("./I?list=Struct", "1")), [405]);
    let bad_fmt = Command::Replace(cmd(vec![item("./RO", Some("bogus"), Some("1"))]));
    t.set_access("./RO", AccessType::ALL).unwrap();
    assert_eq!(run(&mut t, bad_fmt), [415]);
}

#[test]
fn replace_properties() {
    let mut t = Tree::new();
    run(&mut t, add("./P/A", None, Some("1")));
    run(&mut t, add("./P/B", None, Some("1")));
    // ACL
    assert_eq!(
        run(&mut t, replace("./P/A?prop=ACL", "Get=srv1&Replace=srv1")),
        [200]
    );
    assert_eq!(get_text(&mut t, "./P/A?prop=ACL"), "Get=srv1&Replace=srv1");
    assert_eq!(run(&mut t, replace("./P/A?prop=ACL", "Get = x")), [400]);
    // ACL replace is governed by the parent: lock the parent for srv1.
    t.set_acl("./P", Acl::parse("Get=*&Add=*").unwrap(), Timestamp(0))
        .unwrap();
    assert_eq!(run(&mut t, replace("./P/A?prop=ACL", "Get=*")), [425]);
    assert_eq!(
        run(&mut t, replace("./P/B?prop=Name", "C")),
        [425],
        "Replace denied"
    );
    // Name
    t.set_acl("./P", Acl::parse(DEFAULT_ROOT_ACL).unwrap(), Timestamp(0))
        .unwrap();
    assert_eq!(run(&mut t, replace("./P/B?prop=Name", "A")), [418]);
    assert_eq!(run(&mut t, replace("./P/B?prop=Name", "a/b")), [400]);
    assert_eq!(run(&mut t, replace("./P/B?prop=Name", "C")), [200]);
    assert!(t.get("./P/B").is_none());
    assert_eq!(t.value_str("./P/C"), Some("1"));
    assert_eq!(get_text(&mut t, "./P"), "A/C");
    assert_eq!(run(&mut t, replace(".?prop=Name", "root")), [405]);
    t.insert("./Perm", NewNode::leaf("x").permanent(), Timestamp(0))
        .unwrap();
    assert_eq!(run(&mut t, replace("./Perm?prop=Name", "y")), [405]);
    // Title
    assert_eq!(run(&mut t, replace("./P/C?prop=Title", "Hello")), [200]);
    assert_eq!(get_text(&mut t, "./P/C?prop=Title"), "Hello");
    // Read-only and unknown properties
    assert_eq!(run(&mut t, replace("./P/C?prop=Format", "int")), [405]);
    assert_eq!(run(&mut t, replace("./P/C?prop=VerNo", "9")), [405]);
    assert_eq!(run(&mut t, replace("./P/C?prop=Colour", "red")), [406]);
}

// ----- Delete ---------------------------------------------------------------------------

#[test]
fn delete_status_codes() {
    let mut t = Tree::new();
    run(&mut t, add("./A/B/C", None, Some("1")));
    t.insert("./K/Perm", NewNode::leaf("x").permanent(), Timestamp(0))
        .unwrap();
    t.insert(
        "./NoDel",
        NewNode::leaf("x").access(AccessType::GET),
        Timestamp(0),
    )
    .unwrap();
    assert_eq!(run(&mut t, delete(".")), [405], "root");
    assert_eq!(run(&mut t, delete("./K/Perm")), [405], "permanent");
    assert_eq!(
        run(&mut t, delete("./K")),
        [405],
        "subtree holds a permanent node"
    );
    assert_eq!(run(&mut t, delete("./NoDel")), [405], "AccessType");
    assert_eq!(run(&mut t, delete("./Nope")), [404]);
    assert_eq!(run(&mut t, delete("./A")), [425], "root ACL has no Delete");
    t.set_acl(
        "./A",
        Acl::parse("Delete=srv1&Get=*").unwrap(),
        Timestamp(0),
    )
    .unwrap();
    assert_eq!(run(&mut t, delete("./A?prop=ACL")), [405]);
    assert_eq!(run(&mut t, delete("./A")), [200]);
    assert!(t.get("./A/B/C").is_none());
    assert_eq!(t.len(), 4, "root, K, K/Perm, NoDel");
}

// ----- Get ------------------------------------------------------------------------------

#[test]
fn get_status_codes() {
    let mut t = Tree::new();
    t.insert(
        "./Secret",
        NewNode::leaf("s").access(AccessType::REPLACE),
        Timestamp(0),
    )
    .unwrap();
    t.insert(
        "./Other",
        NewNode::leaf("o").acl(Acl::parse("Get=other").unwrap()),
        Timestamp(0),
    )
    .unwrap();
    assert_eq!(run(&mut t, get("./Nope")), [404]);
    assert_eq!(run(&mut t, get("./Secret")), [405]);
    assert_eq!(run(&mut t, get("./Other")), [425]);
    assert_eq!(run_as(&mut t, "other", get("./Other")), [200]);
    assert_eq!(run(&mut t, get("./Other?prop=Colour")), [406]);
    assert_eq!(run(&mut t, get("./Other?list=Tree")), [406]);
    assert_eq!(
        run(&mut t, get(".?prop=Size")),
        [406],
        "Size of an interior node"
    );
    // Failed Gets produce no Results.
    let out = t.execute(&ctx(SRV), &get("./Nope"));
    assert!(out.iter().all(|c| matches!(c, Command::Status(_))));
}

#[test]
fn get_properties() {
    let mut t = Tree::new();
    let mut it = item("./Dev/Name", Some("chr"), Some("hello"));
    it.meta.as_mut().unwrap().r#type = Some("text/plain".into());
    assert_eq!(run(&mut t, Command::Add(cmd(vec![it]))), [200]);
    assert_eq!(get_text(&mut t, "./Dev/Name?prop=Format"), "chr");
    assert_eq!(get_text(&mut t, "./Dev/Name?prop=Type"), "text/plain");
    assert_eq!(get_text(&mut t, "./Dev/Name?prop=Size"), "5");
    assert_eq!(get_text(&mut t, "./Dev/Name?prop=Name"), "Name");
    assert_eq!(get_text(&mut t, "./Dev/Name?prop=ACL"), "");
    assert_eq!(
        get_text(&mut t, "./Dev/Name?prop=TStamp"),
        "19700112T134640Z"
    );
    assert_eq!(get_text(&mut t, "./Dev/Name?prop=VerNo"), "0");
    assert_eq!(get_text(&mut t, "./Dev?prop=Format"), "node");
    run(&mut t, replace("./Dev/Name", "bye"));
    assert_eq!(get_text(&mut t, "./Dev/Name?prop=VerNo"), "1");
    let it = get_item(&mut t, "./Dev/Name?prop=Size");
    assert_eq!(it.source.unwrap().loc_uri, "./Dev/Name?prop=Size");
}

#[test]
fn get_relative_uri_echoes_source() {
    let mut t = Tree::new();
    run(&mut t, add("./A/B", None, Some("1")));
    assert_eq!(get_item(&mut t, "A/B").source.unwrap().loc_uri, "A/B");
}

#[test]
fn get_list_struct_and_structdata() {
    let mut t = Tree::new();
    run(&mut t, add("./S/A", None, Some("a")));
    run(&mut t, add("./S/B/C", Some("int"), Some("3")));
    t.insert(
        "./S/Hidden",
        NewNode::leaf("h").acl(Acl::parse("Get=other").unwrap()),
        Timestamp(0),
    )
    .unwrap();
    t.insert(
        "./S/NoGet",
        NewNode::leaf("n").access(AccessType::REPLACE),
        Timestamp(0),
    )
    .unwrap();
    let out = t.execute(&ctx(SRV), &get("./S?list=Struct"));
    assert_eq!(codes(&out), [200]);
    let Some(Command::Results(r)) = out.last() else {
        panic!()
    };
    let uris: Vec<_> = r
        .items
        .iter()
        .map(|i| i.source.as_ref().unwrap().loc_uri.clone())
        .collect();
    assert_eq!(uris, ["./S", "./S/A", "./S/B", "./S/B/C", "./S/NoGet"]);
    assert!(r.items.iter().all(|i| i.data.is_none()));
    assert_eq!(
        r.items[3].meta.as_ref().unwrap().format.as_deref(),
        Some("int")
    );

    let out = t.execute(&ctx(SRV), &get("S?list=StructData"));
    let Some(Command::Results(r)) = out.last() else {
        panic!()
    };
    let uris: Vec<_> = r
        .items
        .iter()
        .map(|i| i.source.as_ref().unwrap().loc_uri.clone())
        .collect();
    assert_eq!(uris, ["S", "S/A", "S/B", "S/B/C", "S/NoGet"]);
    assert_eq!(r.items[1].data, Some(Data::Text("a".into())));
    assert_eq!(r.items[3].data, Some(Data::Text("3".into())));
    assert!(r.items[0].data.is_none(), "interior nodes carry no data");
    assert!(r.items[4].data.is_none(), "no value without AccessType Get");
}

#[test]
fn get_list_tnds_and_add_it_back() {
    let mut t = Tree::new();
    run(&mut t, add("./T/Acc", Some("node"), None));
    run(&mut t, add("./T/Acc/Name", Some("chr"), Some("a <b> & c")));
    run(&mut t, add("./T/Acc/N/Port", Some("int"), Some("80")));
    run(
        &mut t,
        replace("./T/Acc/Name?prop=ACL", "Get=*&Replace=srv1"),
    );
    let before = t.execute(&ctx(SRV), &get("./T?list=StructData"));

    let it = get_item(&mut t, "./T/Acc?list=TNDS+Format+Type+Value+ACL");
    let m = it.meta.unwrap();
    assert_eq!(m.r#type.as_deref(), Some(tnds::TNDS_XML));
    let Some(Data::Xml(doc)) = it.data else {
        panic!("TNDS must be Data::Xml")
    };
    assert!(doc.starts_with("<MgmtTree xmlns=\"syncml:dmddf1.2\"><VerDTD>1.2</VerDTD>"));
    assert!(doc.contains("<NodeName>Acc</NodeName><Path>./T</Path>"));
    assert!(doc.contains("<Value>a &lt;b&gt; &amp; c</Value>"));
    assert!(doc.contains("<ACL>Get=*&amp;Replace=srv1</ACL>"));

    // Delete the subtree and re-create it with one TNDS Add below ./T.
    t.set_acl(
        "./T",
        Acl::parse("Add=*&Delete=*&Get=*&Replace=*").unwrap(),
        Timestamp(0),
    )
    .unwrap();
    assert_eq!(run(&mut t, delete("./T/Acc")), [200]);
    let tnds_add = Command::Add(cmd(vec![Item {
        target: Some(Location::uri("./T")),
        meta: meta(Some("xml"), Some(tnds::TNDS_XML)),
        data: Some(Data::Xml(doc.replace("<Path>./T</Path>", ""))),
        ..Item::default()
    }]));
    assert_eq!(run(&mut t, tnds_add.clone()), [200]);
    let after = t.execute(&ctx(SRV), &get("./T?list=StructData"));
    assert_eq!(before, after);
    assert_eq!(
        t.get("./T/Acc/Name").unwrap().acl().to_string(),
        "Get=*&Replace=srv1"
    );
    // Adding it again: the top node exists -> 418, nothing changes.
    let snap = t.snapshot();
    assert_eq!(run(&mut t, tnds_add), [418]);
    assert_eq!(t.snapshot(), snap);
}

#[test]
fn tnds_add_is_all_or_nothing() {
    let mut t = Tree::new();
    run(&mut t, add("./X/Taken", None, Some("1")));
    let snap = t.snapshot();
    let doc = "<MgmtTree><VerDTD>1.2</VerDTD>\
        <Node><NodeName>New</NodeName><Value>1</Value></Node>\
        <Node><NodeName>Taken</NodeName><Value>2</Value></Node></MgmtTree>";
    let c = Command::Add(cmd(vec![Item {
        target: Some(Location::uri("./X")),
        meta: meta(None, Some(tnds::TNDS_XML)),
        data: Some(Data::Text(doc.into())),
        ..Item::default()
    }]));
    assert_eq!(run(&mut t, c), [418]);
    assert_eq!(t.snapshot(), snap);
    let bad = Command::Add(cmd(vec![Item {
        target: Some(Location::uri("./X")),
        meta: meta(None, Some(tnds::TNDS_XML)),
        data: Some(Data::Text("<MgmtTree><Node>".into())),
        ..Item::default()
    }]));
    assert_eq!(run(&mut t, bad), [400]);
}

// ----- Copy -----------------------------------------------------------------------------

#[test]
fn copy_status_codes() {
    let mut t = Tree::new();
    let mut it = item("./Src", Some("int"), Some("5"));
    it.meta.as_mut().unwrap().r#type = Some("text/x".into());
    run(&mut t, Command::Add(cmd(vec![it])));
    run(&mut t, add("./Dir/L", None, Some("1")));
    let out = t.execute(&ctx(SRV), &copy("./Src", "./Dst/Copy"));
    let st = statuses(&out);
    assert_eq!(st[0].code.0, 200);
    assert_eq!(st[0].target_refs, ["./Dst/Copy"]);
    assert_eq!(st[0].source_refs, ["./Src"]);
    let n = t.get("./Dst/Copy").unwrap();
    assert_eq!(n.value(), Some(&Data::Text("5".into())));
    assert_eq!(n.format(), Format::Int);
    assert_eq!(n.mime_type(), Some("text/x"));
    assert_eq!(run(&mut t, copy("./Src", "./Dst/Copy")), [418]);
    assert_eq!(run(&mut t, copy("./Nope", "./Z")), [404]);
    assert_eq!(run(&mut t, copy("./Dir", "./Z")), [406], "interior source");
    t.set_acl("./Src", Acl::parse("Replace=*").unwrap(), Timestamp(0))
        .unwrap();
    assert_eq!(
        run(&mut t, copy("./Src", "./Z")),
        [425],
        "Get needed on source"
    );
    t.set_acl("./Src", Acl::parse("Get=*").unwrap(), Timestamp(0))
        .unwrap();
    t.set_access("./Src", AccessType::GET).unwrap();
    assert_eq!(
        run(&mut t, copy("./Src", "./Z")),
        [405],
        "AccessType Copy needed"
    );
    t.set_access("./Src", AccessType::DYNAMIC).unwrap();
    t.insert(
        "./Locked",
        NewNode::interior().acl(Acl::parse("Get=*").unwrap()),
        Timestamp(0),
    )
    .unwrap();
    assert_eq!(
        run(&mut t, copy("./Src", "./Locked/Z")),
        [425],
        "Add needed on target"
    );
    assert_eq!(
        run(&mut t, copy("./Src", "./Dir/L/Z")),
        [405],
        "target parent is a leaf"
    );
}

// ----- Exec -----------------------------------------------------------------------------

#[test]
fn exec_dispatches_to_handlers() {
    use std::sync::{Arc, Mutex};
    let mut t = Tree::new();
    t.insert("./Op/Start", NewNode::leaf(""), Timestamp(0))
        .unwrap();
    t.insert(
        "./Op/NoHandler",
        NewNode::leaf("").access(AccessType::ALL),
        Timestamp(0),
    )
    .unwrap();
    t.insert("./Op/Plain", NewNode::leaf(""), Timestamp(0))
        .unwrap();
    t.insert("./Jobs/J1/Run", NewNode::leaf(""), Timestamp(0))
        .unwrap();
    t.insert("./Jobs/J2/Run", NewNode::leaf(""), Timestamp(0))
        .unwrap();
    // Root ACL has no Exec: grant it below.
    t.set_acl("./Op", Acl::parse("Exec=srv1&Get=*").unwrap(), Timestamp(0))
        .unwrap();
    t.set_acl("./Jobs", Acl::parse("Exec=*").unwrap(), Timestamp(0))
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    t.register_exec(
        "./Op/Start",
        Box::new(move |r: &ExecRequest<'_>| {
            s2.lock().unwrap().push((
                r.uri.to_absolute_string(),
                r.server_id.to_owned(),
                r.data.and_then(|d| d.as_str()).map(str::to_owned),
                r.correlator.map(str::to_owned),
                r.now,
            ));
            ExecOutcome {
                code: StatusCode::OK,
                data: Some(Data::Text("done".into())),
            }
        }),
    )
    .unwrap();
    t.register_exec(
        "./Jobs/*/Run",
        Box::new(|_r: &ExecRequest<'_>| ExecOutcome::accepted()),
    )
    .unwrap();
    t.register_exec(
        "./Jobs/J2/Run",
        Box::new(|_r: &ExecRequest<'_>| ExecOutcome::code(StatusCode(500))),
    )
    .unwrap();

    let out = t.execute(&ctx(SRV), &exec("./Op/Start", Some("arg")));
    let st = statuses(&out);
    assert_eq!(st[0].code.0, 200);
    assert_eq!(st[0].cmd, "Exec");
    assert_eq!(st[0].cmd_ref, "9");
    assert_eq!(st[0].items[0].data, Some(Data::Text("done".into())));
    assert_eq!(
        seen.lock().unwrap()[0],
        (
            "./Op/Start".to_owned(),
            "srv1".to_owned(),
            Some("arg".to_owned()),
            Some("corr-1".to_owned()),
            Timestamp(1_000_000)
        )
    );
    assert_eq!(
        run(&mut t, exec("./Jobs/J1/Run", None)),
        [202],
        "pattern handler"
    );
    assert_eq!(
        run(&mut t, exec("./Jobs/J2/Run", None)),
        [500],
        "exact beats pattern"
    );
    assert_eq!(run(&mut t, exec("./Op/NoHandler", None)), [406]);
    assert_eq!(
        run(&mut t, exec("./Op/Plain", None)),
        [405],
        "no Exec in AccessType"
    );
    assert_eq!(run(&mut t, exec("./Op/Gone", None)), [404]);
    assert_eq!(run_as(&mut t, "other", exec("./Op/Start", None)), [425]);
}

// ----- Multi-item -----------------------------------------------------------------------

#[test]
fn multi_item_gets_one_status_per_item_then_results() {
    let mut t = Tree::new();
    let c = Command::Add(cmd(vec![
        item("./M/A", None, Some("1")),
        item("./M/A", None, Some("2")),
        item("./M/B", None, Some("3")),
    ]));
    let out = t.execute(&ctx(SRV), &c);
    assert_eq!(codes(&out), [200, 418, 200]);
    let refs: Vec<_> = statuses(&out)
        .iter()
        .map(|s| s.target_refs[0].clone())
        .collect();
    assert_eq!(refs, ["./M/A", "./M/A", "./M/B"]);

    let g = Command::Get(cmd(vec![
        item("./M/A", None, None),
        item("./M/Nope", None, None),
        item("./M/B", None, None),
    ]));
    let out = t.execute(&ctx(SRV), &g);
    assert_eq!(codes(&out), [200, 404, 200]);
    let kinds: Vec<_> = out.iter().map(Command::name).collect();
    assert_eq!(kinds, ["Status", "Status", "Status", "Results", "Results"]);
    let Command::Results(r) = &out[3] else {
        panic!()
    };
    assert_eq!(r.cmd_ref, "3");
    assert_eq!(r.msg_ref.as_deref(), Some("7"));
    assert_eq!(r.cmd_id, "");
}

// ----- Atomic ---------------------------------------------------------------------------

fn atomic(commands: Vec<Command>) -> Command {
    Command::Atomic(Container {
        cmd_id: "20".into(),
        commands,
        ..Container::default()
    })
}

fn sequence(commands: Vec<Command>) -> Command {
    Command::Sequence(Container {
        cmd_id: "30".into(),
        commands,
        ..Container::default()
    })
}

#[test]
fn atomic_success() {
    let mut t = Tree::new();
    let out = t.execute(
        &ctx(SRV),
        &atomic(vec![add("./A", None, Some("1")), replace("./A", "2")]),
    );
    assert_eq!(codes(&out), [200, 200, 200]);
    assert_eq!(statuses(&out)[0].cmd, "Atomic");
    assert_eq!(statuses(&out)[0].cmd_ref, "20");
    assert_eq!(t.value_str("./A"), Some("2"));
}

#[test]
fn atomic_failure_rolls_back_byte_identical() {
    let mut t = Tree::new();
    run(&mut t, add("./Keep/X", Some("int"), Some("1")));
    let before = t.snapshot();
    let out = t.execute(
        &ctx(SRV),
        &atomic(vec![
            add("./New/Leaf", None, Some("1")),
            replace("./Keep/X", "2"),
            replace("./Keep/X?prop=Title", "t"),
            delete("./Missing"),
            add("./After", None, Some("1")),
        ]),
    );
    // Atomic 507; successes 216; the failure keeps its code; the rest 215.
    assert_eq!(codes(&out), [507, 216, 216, 216, 404, 215]);
    assert_eq!(t.snapshot(), before, "tree restored byte for byte");
    assert!(t.get("./New").is_none());
    assert!(t.get("./After").is_none());
}

#[test]
fn atomic_with_get_or_nested_atomic_is_500() {
    let mut t = Tree::new();
    let before = t.snapshot();
    let out = t.execute(
        &ctx(SRV),
        &atomic(vec![add("./A", None, Some("1")), get(".")]),
    );
    assert_eq!(codes(&out), [500, 215, 500]);
    let out = t.execute(
        &ctx(SRV),
        &atomic(vec![
            atomic(vec![add("./A", None, Some("1"))]),
            add("./B", None, Some("1")),
        ]),
    );
    assert_eq!(codes(&out), [500, 500, 215, 215]);
    let out = t.execute(&ctx(SRV), &atomic(vec![exec("./A", None)]));
    assert_eq!(codes(&out), [500, 500]);
    assert_eq!(t.snapshot(), before);
}

#[test]
fn atomic_multi_item_and_sequence_inside_roll_back() {
    let mut t = Tree::new();
    let before = t.snapshot();
    let multi = Command::Add(cmd(vec![
        item("./A", None, Some("1")),
        item("./A", None, Some("1")),
    ]));
    let out = t.execute(
        &ctx(SRV),
        &atomic(vec![sequence(vec![add("./S", None, Some("1"))]), multi]),
    );
    assert_eq!(codes(&out), [507, 216, 216, 216, 418]);
    assert_eq!(t.snapshot(), before);
}

// ----- Sequence and Alert ---------------------------------------------------------------

#[test]
fn sequence_runs_in_order_with_per_command_statuses() {
    let mut t = Tree::new();
    let out = t.execute(
        &ctx(SRV),
        &sequence(vec![
            add("./A", None, Some("1")),
            replace("./A", "2"),
            delete("./Nope"),
            get("./A"),
        ]),
    );
    assert_eq!(codes(&out), [200, 200, 200, 404, 200]);
    assert_eq!(statuses(&out)[0].cmd, "Sequence");
    let Some(Command::Results(r)) = out.last() else {
        panic!()
    };
    assert_eq!(r.items[0].data, Some(Data::Text("2".into())));
}

fn confirm_alert() -> Command {
    Command::Alert(Alert {
        cmd_id: "40".into(),
        no_resp: false,
        cred: None,
        code: AlertCode::CONFIRM_OR_REJECT,
        correlator: None,
        items: vec![Item {
            data: Some("Proceed?".into()),
            ..Item::default()
        }],
    })
}

#[test]
fn alerts_without_handler_get_406() {
    let mut t = Tree::new();
    let out = t.execute(&ctx(SRV), &confirm_alert());
    assert_eq!(codes(&out), [406]);
    assert_eq!(statuses(&out)[0].cmd, "Alert");
}

#[test]
fn sequence_stops_after_user_says_no() {
    let mut t = Tree::new();
    t.set_alert_handler(Box::new(|a: &Alert, _server: &str| AlertOutcome {
        code: if a.code == AlertCode::CONFIRM_OR_REJECT {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::OK
        },
        items: Vec::new(),
    }));
    let out = t.execute(
        &ctx(SRV),
        &sequence(vec![
            add("./A", None, Some("1")),
            confirm_alert(),
            add("./B", None, Some("1")),
        ]),
    );
    assert_eq!(codes(&out), [200, 200, 304, 215]);
    assert!(t.get("./A").is_some());
    assert!(t.get("./B").is_none());
}

#[test]
fn status_and_results_need_no_answer() {
    let mut t = Tree::new();
    let st = Command::Status(Status {
        cmd_id: "1".into(),
        msg_ref: "1".into(),
        cmd_ref: "0".into(),
        cmd: "SyncHdr".into(),
        target_refs: vec![],
        source_refs: vec![],
        cred: None,
        chal: None,
        code: StatusCode::OK,
        items: vec![],
    });
    assert!(t.execute(&ctx(SRV), &st).is_empty());
}

// ----- Standard MOs through DM commands ---------------------------------------------------

fn device_tree() -> Tree {
    let mut t = Tree::new();
    let now = Timestamp(10);
    devinfo::install(
        &mut t,
        &devinfo::DevInfo {
            dev_id: "IMEI:1".into(),
            man: "Acme".into(),
            model: "GW".into(),
            dm_v: "1.2".into(),
            lang: "en".into(),
        },
        now,
    )
    .unwrap();
    devdetail::install(
        &mut t,
        &devdetail::DevDetail {
            uri_limits: UriLimits {
                max_depth: 8,
                max_tot_len: 255,
                max_seg_len: 32,
            },
            ..devdetail::DevDetail::default()
        },
        now,
    )
    .unwrap();
    let acc = dmacc::DmAccount {
        server_id: SRV.into(),
        addr: "http://127.0.0.1/dm".into(),
        auths: vec![dmacc::AppAuth {
            level: dmacc::AuthLevel::ClCred,
            auth_type: "DIGEST".into(),
            name: "dev".into(),
            secret: "pw".into(),
            data: vec![1, 2],
        }],
        ..dmacc::DmAccount::default()
    };
    dmacc::install(&mut t, dmacc::DEFAULT_PARENT, "S1", &acc, now).unwrap();
    t
}

#[test]
fn standard_mos_access_rules() {
    let mut t = device_tree();
    assert_eq!(get_text(&mut t, "./DevInfo/DevId"), "IMEI:1");
    assert_eq!(get_text(&mut t, "./DevInfo?prop=Type"), devinfo::MO_ID);
    assert_eq!(run(&mut t, replace("./DevInfo/DevId", "x")), [405]);
    assert_eq!(run(&mut t, delete("./DevInfo")), [405]);
    assert_eq!(run(&mut t, add("./DevInfo/New", None, Some("x"))), [405]);
    assert_eq!(get_text(&mut t, "./DMAcc/S1/AppID"), "w7");
    assert_eq!(get_text(&mut t, "./DMAcc/S1?prop=Type"), dmacc::MO_ID);
    assert_eq!(
        run(&mut t, get("./DMAcc/S1/AppAuth/CLCRED/AAuthSecret")),
        [405]
    );
    assert_eq!(
        run(&mut t, get("./DMAcc/S1/AppAuth/CLCRED/AAuthData")),
        [405]
    );
    assert_eq!(
        run(
            &mut t,
            replace("./DMAcc/S1/AppAuth/CLCRED/AAuthSecret", "new")
        ),
        [200]
    );
    assert_eq!(
        run_as(&mut t, "intruder", get("./DMAcc/S1/ServerID")),
        [425]
    );
    // DevDetail limits apply to server URIs: depth 8, segments of 32 bytes.
    assert_eq!(
        run(&mut t, add("./a/b/c/d/e/f/g/h/i", None, Some("1"))),
        [414]
    );
    assert_eq!(
        run(
            &mut t,
            add(&format!("./{}", "x".repeat(33)), None, Some("1"))
        ),
        [414]
    );
    let acc = dmacc::find_by_server_id(&t, SRV).unwrap();
    assert_eq!(acc.account.client_cred().unwrap().secret, "new");
}

// ----- Snapshots --------------------------------------------------------------------------

#[test]
fn snapshot_round_trip_of_device_tree() {
    let t = device_tree();
    let bytes = t.snapshot();
    let back = snapshot::decode(&bytes).unwrap();
    assert_eq!(back.snapshot(), bytes);
    assert_eq!(back.uri_limits(), t.uri_limits());
    assert_eq!(dmacc::accounts(&back), dmacc::accounts(&t));
    assert_eq!(devinfo::items(&back), devinfo::items(&t));
}

#[test]
fn snapshot_load_keeps_handlers() {
    let mut t = device_tree();
    t.insert(
        "./Op",
        NewNode::leaf("").acl(Acl::parse("Exec=*").unwrap()),
        Timestamp(0),
    )
    .unwrap();
    t.register_exec("./Op", Box::new(|_r: &ExecRequest<'_>| ExecOutcome::ok()))
        .unwrap();
    let bytes = t.snapshot();
    let mut fresh = Tree::new();
    fresh
        .register_exec("./Op", Box::new(|_r: &ExecRequest<'_>| ExecOutcome::ok()))
        .unwrap();
    fresh.load_snapshot(&bytes).unwrap();
    assert_eq!(run(&mut fresh, exec("./Op", None)), [200]);
    assert!(fresh.load_snapshot(b"garbage").is_err());
    assert_eq!(
        fresh.snapshot(),
        bytes,
        "failed load leaves the tree unchanged"
    );
}

#[test]
fn snapshot_rejects_malformed_input() {
    let bytes = device_tree().snapshot();
    for cut in 0..bytes.len() {
        assert!(snapshot::decode(&bytes[..cut]).is_err(), "prefix {cut}");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        snapshot::decode(&trailing),
        Err(Error::Snapshot {
            kind: SnapshotErrorKind::TrailingBytes,
            ..
        })
    ));
    let mut version = bytes.clone();
    version[6] = 9;
    assert!(matches!(
        snapshot::decode(&version),
        Err(Error::Snapshot {
            kind: SnapshotErrorKind::UnsupportedVersion(9),
            ..
        })
    ));
    assert!(matches!(
        snapshot::decode(b"NOTATREE"),
        Err(Error::Snapshot {
            kind: SnapshotErrorKind::BadMagic,
            ..
        })
    ));
}

/// A random sequence of local operations building a tree.
fn tree_strategy() -> impl Strategy<Value = Tree> {
    let op = (
        proptest::collection::vec("[a-c]{1,2}", 1..4),
        proptest::option::of("[ -~]{0,6}"),
        0usize..11,
        proptest::option::of("[a-z]{1,4}"),
        any::<u8>(),
        any::<bool>(),
    );
    proptest::collection::vec(op, 0..25).prop_map(|ops| {
        let mut t = Tree::new();
        for (segs, value, fmt, acl_srv, access, perm) in ops {
            let path = format!("./{}", segs.join("/"));
            let mut spec = match value {
                Some(v) => NewNode::leaf(v).format(Format::ALL[fmt]),
                None => NewNode::interior(),
            };
            if let Some(s) = acl_srv {
                spec = spec.acl(Acl::empty().with(AclCommand::Get, &s)).title(s);
            }
            spec = spec.access(AccessType(access & AccessType::ALL.0));
            if perm {
                spec = spec.permanent().mime_type("urn:x");
            }
            let _ = t.insert(&path, spec, Timestamp(u64::from(access)));
        }
        t
    })
}

proptest! {
    #[test]
    fn snapshot_round_trip(t in tree_strategy()) {
        let bytes = t.snapshot();
        let back = snapshot::decode(&bytes).unwrap();
        prop_assert_eq!(back.snapshot(), bytes);
        prop_assert_eq!(back.len(), t.len());
    }

    #[test]
    fn snapshot_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut input = b"DMTREE\x01".to_vec();
        input.extend(bytes);
        let _ = snapshot::decode(&input);
    }

    #[test]
    fn execute_never_panics(
        target in "[./a-c?=%A-Za-z+]{0,16}",
        data in proptest::option::of("[ -~]{0,8}"),
        which in 0usize..6,
    ) {
        let mut t = device_tree();
        let c = match which {
            0 => add(&target, None, data.as_deref()),
            1 => replace(&target, data.as_deref().unwrap_or("")),
            2 => delete(&target),
            3 => get(&target),
            4 => copy("./DevInfo/Man", &target),
            _ => exec(&target, data.as_deref()),
        };
        let out = t.execute(&ctx(SRV), &c);
        prop_assert!(!codes(&out).is_empty());
    }
}

#[test]
fn tree_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Tree>();
}
