//! Proptest strategies generating arbitrary valid [`SyncMl`] ASTs, shared by the codec
//! round-trip tests (`mod strategy;`).
//!
//! Conventions every codec can rely on:
//! - strings hold no control characters (printable ASCII plus a few non-ASCII letters; `&`, `<`,
//!   `>`, `]]>` and leading or trailing spaces do occur);
//! - an `Option<Meta>` that is `Some` is never empty (encoders omit empty `Meta`s); `Chal::meta`
//!   may be empty;
//! - `Data::Xml` is a well-formed TNDS-like fragment (`<MgmtTree xmlns="syncml:dmddf1.2">...`)
//!   with no leading or trailing whitespace;
//! - every [`Data`] variant occurs, `Opaque` with arbitrary bytes: a codec whose encoding maps a
//!   variant to another (XML writes `Opaque` as CDATA or Base64 text) normalises the expected
//!   value before comparing;
//! - `Atomic` / `Sequence` nest up to 3 levels.
#![allow(dead_code)]

use proptest::prelude::*;
use syncml::{
    Alert, AlertCode, Chal, Command, Container, Cred, Data, Exec, Item, ItemCmd, Location, Meta,
    Results, Status, StatusCode, SyncBody, SyncHdr, SyncMl, Version,
};

/// A string without control characters, up to 16 characters.
pub fn text() -> BoxedStrategy<String> {
    "[ -~éü€中]{0,16}".boxed()
}

/// A short identifier-like string (CmdID, MsgID, ...).
pub fn id() -> BoxedStrategy<String> {
    "[0-9]{1,4}".boxed()
}

/// A node URI.
pub fn uri() -> BoxedStrategy<String> {
    prop_oneof![
        "\\./[A-Za-z]{1,8}(/[A-Za-z0-9]{1,8}){0,3}",
        "https?://[a-z]{1,8}\\.example/[a-z]{0,8}",
        "IMEI:[0-9]{15}",
        text(),
    ]
    .boxed()
}

/// The SyncML version.
pub fn version() -> BoxedStrategy<Version> {
    prop_oneof![Just(Version::V1_1), Just(Version::V1_2)].boxed()
}

/// A `Target` / `Source`.
pub fn location() -> BoxedStrategy<Location> {
    (uri(), proptest::option::of(text()))
        .prop_map(|(loc_uri, loc_name)| Location { loc_uri, loc_name })
        .boxed()
}

/// A `Meta`, possibly empty.
pub fn any_meta() -> BoxedStrategy<Meta> {
    let o = || proptest::option::of(text());
    (
        any::<bool>(),
        proptest::option::of(prop_oneof![
            Just("chr".to_owned()),
            Just("int".to_owned()),
            Just("b64".to_owned()),
            Just("node".to_owned()),
            text()
        ]),
        o(),
        o(),
        proptest::option::of("[0-9]{1,7}"),
        o(),
        o(),
        proptest::option::of("[0-9]{1,6}"),
        proptest::option::of("[0-9]{1,7}"),
        proptest::collection::vec(text(), 0..3),
    )
        .prop_map(
            |(
                field_level,
                format,
                r#type,
                mark,
                size,
                version,
                next_nonce,
                max_msg_size,
                max_obj_size,
                emi,
            )| Meta {
                field_level,
                format,
                r#type,
                mark,
                size,
                version,
                next_nonce,
                max_msg_size,
                max_obj_size,
                emi,
            },
        )
        .boxed()
}

/// A non-empty `Meta` (what an `Option<Meta>` holds when `Some`).
pub fn meta() -> BoxedStrategy<Meta> {
    any_meta()
        .prop_map(|mut m| {
            if m.is_empty() {
                m.format = Some("chr".to_owned());
            }
            m
        })
        .boxed()
}

/// A `Cred`.
pub fn cred() -> BoxedStrategy<Cred> {
    (proptest::option::of(meta()), "[A-Za-z0-9+/]{0,24}={0,2}")
        .prop_map(|(meta, data)| Cred { meta, data })
        .boxed()
}

/// A TNDS-like XML fragment: `<MgmtTree xmlns="syncml:dmddf1.2">` with nested `Node`s.
pub fn xml_fragment() -> BoxedStrategy<String> {
    let leaf = ("[A-Za-z0-9]{1,8}", proptest::option::of("[A-Za-z0-9 .]{0,12}")).prop_map(|(name, value)| {
        match value {
            Some(v) => format!("<Node><NodeName>{name}</NodeName><Value>{v}</Value></Node>"),
            None => format!("<Node><NodeName>{name}</NodeName><RTProperties><Format><node/></Format></RTProperties></Node>"),
        }
    });
    let node = leaf.prop_recursive(3, 12, 4, |inner| {
        ("[A-Za-z0-9]{1,8}", proptest::collection::vec(inner, 1..4)).prop_map(|(name, kids)| {
            format!("<Node><NodeName>{name}</NodeName>{}</Node>", kids.concat())
        })
    });
    proptest::collection::vec(node, 1..3)
        .prop_map(|nodes| {
            format!(
                "<MgmtTree xmlns=\"syncml:dmddf1.2\"><VerDTD>1.2</VerDTD>{}</MgmtTree>",
                nodes.concat()
            )
        })
        .boxed()
}

/// Any `Data` variant.
pub fn data() -> BoxedStrategy<Data> {
    prop_oneof![
        4 => text().prop_map(Data::Text),
        1 => text().prop_map(Data::CData),
        1 => proptest::collection::vec(any::<u8>(), 0..24).prop_map(Data::Opaque),
        1 => xml_fragment().prop_map(Data::Xml),
    ]
    .boxed()
}

/// An `Item`.
pub fn item() -> BoxedStrategy<Item> {
    (
        proptest::option::of(location()),
        proptest::option::of(location()),
        proptest::option::of(meta()),
        proptest::option::of(data()),
        any::<bool>(),
    )
        .prop_map(|(target, source, meta, data, more_data)| Item {
            target,
            source,
            meta,
            data,
            more_data,
        })
        .boxed()
}

fn items(min: usize) -> BoxedStrategy<Vec<Item>> {
    proptest::collection::vec(item(), min..3).boxed()
}

/// `Add`, `Copy`, `Delete`, `Get`, `Replace` bodies.
pub fn item_cmd() -> BoxedStrategy<ItemCmd> {
    (
        id(),
        any::<bool>(),
        proptest::option::of(cred()),
        proptest::option::of(meta()),
        items(1),
    )
        .prop_map(|(cmd_id, no_resp, cred, meta, items)| ItemCmd {
            cmd_id,
            no_resp,
            cred,
            meta,
            items,
        })
        .boxed()
}

/// An `Alert`.
pub fn alert() -> BoxedStrategy<Alert> {
    (
        id(),
        any::<bool>(),
        proptest::option::of(cred()),
        any::<u16>(),
        proptest::option::of(text()),
        items(0),
    )
        .prop_map(|(cmd_id, no_resp, cred, code, correlator, items)| Alert {
            cmd_id,
            no_resp,
            cred,
            code: AlertCode(code),
            correlator,
            items,
        })
        .boxed()
}

/// An `Exec`.
pub fn exec() -> BoxedStrategy<Exec> {
    (
        id(),
        any::<bool>(),
        proptest::option::of(cred()),
        proptest::option::of(meta()),
        proptest::option::of(text()),
        items(1),
    )
        .prop_map(|(cmd_id, no_resp, cred, meta, correlator, items)| Exec {
            cmd_id,
            no_resp,
            cred,
            meta,
            correlator,
            items,
        })
        .boxed()
}

/// A `Results`.
pub fn results() -> BoxedStrategy<Results> {
    (
        id(),
        proptest::option::of(id()),
        id(),
        proptest::option::of(meta()),
        proptest::collection::vec(uri(), 0..2),
        proptest::collection::vec(uri(), 0..2),
        items(1),
    )
        .prop_map(
            |(cmd_id, msg_ref, cmd_ref, meta, target_refs, source_refs, items)| Results {
                cmd_id,
                msg_ref,
                cmd_ref,
                meta,
                target_refs,
                source_refs,
                items,
            },
        )
        .boxed()
}

/// A `Status`.
pub fn status() -> BoxedStrategy<Status> {
    (
        (
            id(),
            id(),
            id(),
            prop_oneof![
                Just("SyncHdr".to_owned()),
                Just("Get".to_owned()),
                "[A-Za-z]{1,10}"
            ],
        ),
        proptest::collection::vec(uri(), 0..2),
        proptest::collection::vec(uri(), 0..2),
        proptest::option::of(cred()),
        proptest::option::of(any_meta().prop_map(|meta| Chal { meta })),
        any::<u16>(),
        items(0),
    )
        .prop_map(
            |(
                (cmd_id, msg_ref, cmd_ref, cmd),
                target_refs,
                source_refs,
                cred,
                chal,
                code,
                items,
            )| {
                Status {
                    cmd_id,
                    msg_ref,
                    cmd_ref,
                    cmd,
                    target_refs,
                    source_refs,
                    cred,
                    chal,
                    code: StatusCode(code),
                    items,
                }
            },
        )
        .boxed()
}

/// Any command, `Atomic` and `Sequence` nesting up to 3 levels.
pub fn command() -> BoxedStrategy<Command> {
    let leaf = prop_oneof![
        item_cmd().prop_map(Command::Add),
        alert().prop_map(Command::Alert),
        item_cmd().prop_map(Command::Copy),
        item_cmd().prop_map(Command::Delete),
        exec().prop_map(Command::Exec),
        item_cmd().prop_map(Command::Get),
        item_cmd().prop_map(Command::Replace),
        results().prop_map(Command::Results),
        status().prop_map(Command::Status),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        let container = (
            id(),
            any::<bool>(),
            proptest::option::of(meta()),
            proptest::collection::vec(inner, 1..4),
        )
            .prop_map(|(cmd_id, no_resp, meta, commands)| Container {
                cmd_id,
                no_resp,
                meta,
                commands,
            })
            .boxed();
        prop_oneof![
            container.clone().prop_map(Command::Atomic),
            container.prop_map(Command::Sequence)
        ]
    })
    .boxed()
}

/// A `SyncHdr`.
pub fn sync_hdr() -> BoxedStrategy<SyncHdr> {
    (
        (
            prop_oneof![Just("1.2".to_owned()), Just("1.1".to_owned())],
            prop_oneof![Just("DM/1.2".to_owned()), Just("DM/1.1".to_owned())],
        ),
        (id(), id()),
        location(),
        location(),
        proptest::option::of(uri()),
        any::<bool>(),
        proptest::option::of(cred()),
        proptest::option::of(meta()),
    )
        .prop_map(
            |(
                (ver_dtd, ver_proto),
                (session_id, msg_id),
                target,
                source,
                resp_uri,
                no_resp,
                cred,
                meta,
            )| {
                SyncHdr {
                    ver_dtd,
                    ver_proto,
                    session_id,
                    msg_id,
                    target,
                    source,
                    resp_uri,
                    no_resp,
                    cred,
                    meta,
                }
            },
        )
        .boxed()
}

/// A whole message.
pub fn sync_ml() -> BoxedStrategy<SyncMl> {
    (
        version(),
        sync_hdr(),
        proptest::collection::vec(command(), 0..6),
        any::<bool>(),
    )
        .prop_map(|(version, hdr, commands, is_final)| SyncMl {
            version,
            hdr,
            body: SyncBody { commands, is_final },
        })
        .boxed()
}
