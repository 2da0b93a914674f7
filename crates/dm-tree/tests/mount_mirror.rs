//! Property: a tree whose `./M` is mounted from a faithful in-memory provider answers every
//! sequence of DM commands exactly like a plain tree holding the same nodes in its own arena:
//! the same Status and Results commands, byte for byte, command after command (Add with
//! implicit parents and creator ACLs, Replace of values and properties, Delete, Get with
//! properties and listings started at `./M` or below, Copy in and out of the mount, Exec,
//! TNDS Add, Atomic with rollback, Sequence), from servers with and without rights.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::memory::MemoryNodes;
use common::*;
use dm_tree::tnds::TNDS_XML;
use dm_tree::*;
use proptest::prelude::*;
use syncml::{Command, ItemCmd};

const M_ACL: &str = "Add=*&Delete=*&Get=*&Replace=srv1";

const ACLS: &[&str] = &[
    "",
    "Get=*",
    "Add=*&Delete=*&Get=*&Replace=*",
    "Get=other",
    "Add=srv1&Delete=srv1&Get=srv1&Replace=srv1",
    "Exec=*&Get=*",
];

const PROPS: &[&str] = &[
    "ACL", "Format", "Name", "Size", "Title", "TStamp", "Type", "VerNo",
];

/// The plain tree and the mounted one, built alike.
fn pair() -> (Tree, Tree, MemoryNodes) {
    let t1 = Timestamp(1);
    let mut plain = Tree::new();
    plain
        .insert("./M", NewNode::interior().permanent(), t1)
        .unwrap();
    let provider = MemoryNodes::transactional();
    let mut mounted = Tree::new();
    mounted
        .mount("./M", Mount::nodes(provider.clone()), t1)
        .unwrap();
    for t in [&mut plain, &mut mounted] {
        t.set_acl("./M", Acl::parse(M_ACL).unwrap(), t1).unwrap();
        t.insert("./X", NewNode::leaf("x").mime_type("text/plain"), t1)
            .unwrap();
    }
    (plain, mounted, provider)
}

/// One random operation, decoded into a command by [`command`].
#[derive(Debug, Clone)]
struct Op {
    kind: u8,
    root: u8,
    path: Vec<String>,
    path2: Vec<String>,
    value: String,
    pick: usize,
    other_server: bool,
    inner: Vec<(u8, Vec<String>, String)>,
}

fn uri(root: u8, segs: &[String]) -> String {
    let base = match root % 10 {
        0 => "./Y",
        1 => "./X",
        _ => "./M",
    };
    let mut s = base.to_owned();
    for seg in segs {
        s.push('/');
        s.push_str(seg);
    }
    s
}

/// A simple change (the commands Atomic and Sequence hold).
fn change(kind: u8, target: &str, value: &str) -> Command {
    match kind % 6 {
        0 => add(target, None, Some(value)),
        1 => add(target, Some("node"), None),
        2 => replace(target, value),
        3 => delete(target),
        4 => Command::Replace(items(
            "5",
            vec![item(
                &format!("{target}?prop=Title"),
                None,
                None,
                Some(value),
            )],
        )),
        _ => copy("./X", target),
    }
}

fn command(op: &Op) -> Command {
    let target = uri(op.root, &op.path);
    let m = uri(2, &op.path);
    let v = op.value.as_str();
    let query = |q: &str| get(&format!("{m}?{q}"));
    match op.kind % 21 {
        0 => add(&target, None, Some(v)),
        1 => add(&target, Some("node"), None),
        2 => Command::Add(ItemCmd {
            cmd_id: "3".into(),
            items: vec![item(&target, Some("int"), Some("text/plain"), Some(v))],
            ..ItemCmd::default()
        }),
        3 => replace(&target, v),
        4 => replace(&format!("{target}?prop=ACL"), ACLS[op.pick % ACLS.len()]),
        5 => replace(&format!("{target}?prop=Name"), ["a", "b", "c"][op.pick % 3]),
        6 => replace(&format!("{target}?prop=Title"), v),
        7 => delete(&target),
        8 => get(&target),
        9 => get(&format!("{target}?prop={}", PROPS[op.pick % PROPS.len()])),
        10 => query("list=Struct"),
        11 => query("list=StructData"),
        12 => query("list=TNDS+ACL+Format+Type+Title+Value+TStamp+VerNo+Size"),
        13 => copy(&uri(2, &op.path2), &target),
        14 => copy("./X", &target),
        15 => copy(&target, &format!("./Y{}", op.pick % 3)),
        16 => exec(&target, Some(v)),
        17 => atomic(
            op.inner
                .iter()
                .map(|(k, p, val)| change(*k, &uri(2, p), val))
                .collect(),
        ),
        18 => sequence(
            op.inner
                .iter()
                .map(|(k, p, val)| change(*k, &uri(op.root, p), val))
                .collect(),
        ),
        19 => add_typed(
            &m,
            TNDS_XML,
            &format!(
                "<MgmtTree><Node><NodeName>{}</NodeName><RTProperties><ACL>{}</ACL>\
                 </RTProperties><Node><NodeName>{}</NodeName><Value>{v}</Value></Node>\
                 </Node></MgmtTree>",
                op.path2.first().map_or("t", String::as_str),
                ACLS[op.pick % ACLS.len()],
                op.path.first().map_or("u", String::as_str),
            ),
        ),
        _ => get(&format!("./Y{}?prop=VerNo", op.pick % 3)),
    }
}

fn seg() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("c".to_owned())
    ]
}

fn op() -> impl Strategy<Value = Op> {
    (
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(seg(), 0..4),
        proptest::collection::vec(seg(), 0..4),
        "[a-z0-9]{0,4}",
        any::<usize>(),
        proptest::bool::weighted(0.15),
        proptest::collection::vec(
            (
                any::<u8>(),
                proptest::collection::vec(seg(), 1..3),
                "[a-z]{0,3}",
            ),
            1..4,
        ),
    )
        .prop_map(
            |(kind, root, path, path2, value, pick, other_server, inner)| Op {
                kind,
                root,
                path,
                path2,
                value,
                pick,
                other_server,
                inner,
            },
        )
}

/// Runs the commands (with their servers) on both trees and checks every answer; returns how
/// many changes succeeded.
fn mirror(cmds: &[(&str, Command)]) -> Result<usize, TestCaseError> {
    let (mut plain, mut mounted, provider) = pair();
    let mut successes = 0;
    for (i, (server, cmd)) in cmds.iter().enumerate() {
        let c = ctx_at(server, 1_000 + i as u64);
        let want = plain.execute(&c, cmd);
        let got = mounted.execute(&c, cmd);
        prop_assert_eq!(&got, &want, "step {}: {:?}", i, cmd);
        if codes(&want).iter().all(|c| *c == 200) && !matches!(cmd, Command::Get(_)) {
            successes += 1;
        }
    }
    // The mounted nodes really are the provider's, the arena holds only its own.
    let listing = get("./M?list=TNDS+ACL+Format+Type+Title+Value+TStamp+VerNo+Size");
    let root = ctx_at("*", 99_999);
    prop_assert_eq!(
        mounted.execute(&root, &listing),
        plain.execute(&root, &listing)
    );
    prop_assert_eq!(mounted.len() + provider.len(), plain.len());
    Ok(successes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mounted_tree_mirrors_a_plain_tree(ops in proptest::collection::vec(op(), 1..40)) {
        let cmds: Vec<(&str, Command)> = ops
            .iter()
            .map(|op| (if op.other_server { "other" } else { SRV }, command(op)))
            .collect();
        mirror(&cmds)?;
    }
}

/// A fixed script through every command kind where the changes succeed (so the comparison is
/// not between two trees that refuse everything), then the refusals.
#[test]
fn scripted_commands_mirror_and_change_things() {
    let tnds = "<MgmtTree><Node><NodeName>t</NodeName><Node><NodeName>u</NodeName>\
                <Value>1</Value></Node></Node></MgmtTree>";
    let ok = [
        add("./M/a/b", None, Some("v")),
        add("./M/n", Some("node"), None),
        add("./M/n/i", Some("int"), Some("7")),
        replace("./M/a/b", "w"),
        replace("./M/a?prop=Title", "A"),
        replace("./M/a/b?prop=ACL", "Get=*&Replace=*&Delete=*"),
        replace("./M/n?prop=Name", "m"),
        copy("./X", "./M/x"),
        copy("./M/a/b", "./Y0"),
        copy("./M/a/b", "./M/m/b2"),
        add_typed("./M", TNDS_XML, tnds),
        atomic(vec![replace("./M/x", "1"), add("./M/a/c", None, Some("2"))]),
        sequence(vec![replace("./M/x", "3"), delete("./M/a/c")]),
        delete("./M/m"),
    ];
    let mut cmds: Vec<(&str, Command)> = ok.into_iter().map(|c| (SRV, c)).collect();
    for c in [
        get("./M"),
        get("./M/a/b"),
        get("./M/a?prop=VerNo"),
        get("./M/a/b?prop=TStamp"),
        get("./M?list=StructData"),
        get("./M/a?list=TNDS+ACL+Format+Type+Title+Value+TStamp+VerNo+Size"),
        get("./M?prop=VerNo"),
        atomic(vec![replace("./M/x", "4"), delete("./M/missing")]),
        add_typed("./M", TNDS_XML, tnds),
        delete("./M"),
        exec("./M/x", None),
        replace("./M/a?prop=Name", "x"),
        get("./M/x"),
    ] {
        cmds.push((SRV, c));
    }
    cmds.push(("other", get("./M/a/b")));
    cmds.push(("other", replace("./M/x", "no")));
    let changed = mirror(&cmds).unwrap();
    assert_eq!(changed, 14, "every change of the first part succeeded");
}
