//! Unit tests of the SyncML WBXML codec: exact decode -> encode -> decode round trips of the
//! XML embedded in `Data` (findings of the `wbxml_decode` fuzz target).

use ::wbxml::{Header, PublicId, Version as WbxmlVersion, Writer};

use super::tokens::{PAGE_DDF, PAGE_METINF, PAGE_SYNCML, PUBLIC_ID_SYNCML_1_2, m, s};
use crate::{
    AlertCode, Command, Data, Error, Item, ItemCmd, Limits, Location, SyncBody, SyncHdr, SyncMl,
    Version, wbxml,
};

fn msg_with_data(data: Data) -> SyncMl {
    SyncMl {
        version: Version::V1_2,
        hdr: SyncHdr {
            ver_dtd: "1.2".into(),
            ver_proto: "DM/1.2".into(),
            session_id: "1".into(),
            msg_id: "1".into(),
            target: Location {
                loc_uri: "http://s/dm".into(),
                loc_name: None,
            },
            source: Location {
                loc_uri: "IMEI:1".into(),
                loc_name: None,
            },
            ..SyncHdr::default()
        },
        body: SyncBody {
            commands: vec![Command::Replace(ItemCmd {
                cmd_id: "2".into(),
                items: vec![Item {
                    data: Some(data),
                    ..Item::default()
                }],
                ..ItemCmd::default()
            })],
            is_final: true,
        },
    }
}

fn first_data(msg: &SyncMl) -> &Data {
    match msg.body.commands.first() {
        Some(Command::Replace(c) | Command::Add(c)) => c
            .items
            .first()
            .and_then(|i| i.data.as_ref())
            .expect("an item with data"),
        other => panic!("unexpected command {other:?}"),
    }
}

/// Decodes, re-encodes and decodes again: the same message (the `wbxml_decode` fuzz property).
fn assert_exact_roundtrip(wire: &[u8]) -> SyncMl {
    let limits = Limits::default();
    let msg = wbxml::decode(wire, &limits).unwrap();
    let again = wbxml::decode(&wbxml::encode(&msg), &limits).unwrap();
    assert_eq!(again, msg, "WBXML round trip changed the message");
    msg
}

/// A SyncML 1.2 document whose `Replace/Item/Data` content is written by `data`; `table` is the
/// string table (for literal tag names).
fn doc_with_data(table: &[u8], data: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut header = Header::new(WbxmlVersion::V1_3, PublicId::Known(PUBLIC_ID_SYNCML_1_2));
    header.string_table = table;
    let mut w = Writer::new(&header);
    let leaf = |w: &mut Writer, tok: u8, v: &str| {
        w.start(PAGE_SYNCML, tok, true);
        w.text(v.as_bytes());
        w.end();
    };
    w.start(PAGE_SYNCML, s::SYNC_ML, true);
    w.start(PAGE_SYNCML, s::SYNC_HDR, true);
    leaf(&mut w, s::VER_DTD, "1.2");
    leaf(&mut w, s::VER_PROTO, "DM/1.2");
    leaf(&mut w, s::SESSION_ID, "1");
    leaf(&mut w, s::MSG_ID, "1");
    for tok in [s::TARGET, s::SOURCE] {
        w.start(PAGE_SYNCML, tok, true);
        leaf(&mut w, s::LOC_URI, "x");
        w.end();
    }
    w.end();
    w.start(PAGE_SYNCML, s::SYNC_BODY, true);
    w.start(PAGE_SYNCML, s::REPLACE, true);
    leaf(&mut w, s::CMD_ID, "2");
    w.start(PAGE_SYNCML, s::ITEM, true);
    w.start(PAGE_SYNCML, s::DATA, true);
    data(&mut w);
    w.end();
    w.end();
    w.end();
    w.end();
    w.end();
    w.finish()
}

#[test]
fn fuzz_finding_empty_literal_element_roundtrips_exactly() {
    // fuzz/corpus/wbxml_decode/empty-literal-element-roundtrip.wbxml: a literal `Kind?Mode`
    // element with the content bit whose only content is an empty string-table string.
    let wire = include_bytes!(
        "../../../../fuzz/corpus/wbxml_decode/empty-literal-element-roundtrip.wbxml"
    );
    let msg = assert_exact_roundtrip(wire);
    let Some(Command::Alert(a)) = msg.body.commands.get(1) else {
        panic!("second command is the 1226 alert");
    };
    assert_eq!(a.code, AlertCode(1226));
    let Some(Data::Xml(x)) = a.items.first().and_then(|i| i.data.as_ref()) else {
        panic!("inline XML data");
    };
    assert!(
        x.contains("<Kind\u{FFFD}Mode/><Mode>adaptation</Mode>"),
        "empty element written as <X/>: {x}"
    );
}

#[test]
fn element_with_content_bit_but_no_content_decodes_as_empty_element() {
    let wire = doc_with_data(b"a\0KindMode\0", |w| {
        w.start_literal(0, true);
        w.start_literal(2, true); // content bit, then END at once
        w.end();
        w.start_literal(2, true); // content bit, whitespace only
        w.text(b" \n ");
        w.end();
        w.start_literal(2, false);
        w.end();
    });
    let msg = assert_exact_roundtrip(&wire);
    assert_eq!(
        first_data(&msg),
        &Data::Xml("<a><KindMode/><KindMode/><KindMode/></a>".into())
    );
}

#[test]
fn whitespace_only_text_between_inline_elements_is_dropped() {
    let wire = doc_with_data(b"a\0b\0", |w| {
        w.text(b"  ");
        w.start_literal(0, true);
        w.text(b" ");
        w.start_literal(2, true);
        w.text(b" x ");
        w.text(b"y");
        w.end();
        w.text(b"\t");
        w.end();
        w.text(b"\n");
    });
    let msg = assert_exact_roundtrip(&wire);
    assert_eq!(first_data(&msg), &Data::Xml("<a><b> x y</b></a>".into()));
}

#[test]
fn fuzz_finding_leading_byte_order_mark_in_inline_data_is_dropped() {
    // fuzz/corpus/wbxml_decode/bom-before-inline-element.wbxml: `Data` text starting with
    // U+FEFF, then an element. Read back as XML, a leading U+FEFF is a byte-order mark.
    let wire =
        include_bytes!("../../../../fuzz/corpus/wbxml_decode/bom-before-inline-element.wbxml");
    assert_exact_roundtrip(wire);
    let wire = doc_with_data(b"", |w| {
        w.text("\u{FEFF}\u{FEFF}x\u{FEFF}".as_bytes());
        w.start(PAGE_SYNCML, s::ITEM, false);
    });
    let msg = assert_exact_roundtrip(&wire);
    assert_eq!(first_data(&msg), &Data::Xml("x\u{FEFF}<Item/>".into()));
}

#[test]
fn inline_metinf_and_ddf_elements_keep_their_namespace() {
    let wire = doc_with_data(b"", |w| {
        w.start(PAGE_METINF, m::TYPE, true);
        w.text(b"text/plain");
        w.end();
        w.start(PAGE_SYNCML, s::ITEM, true);
        w.start(PAGE_DDF, 0x24, true); // Node
        w.start(PAGE_DDF, 0x23, true); // Name
        w.text(b"n");
        w.end();
        w.start(PAGE_SYNCML, s::ADD, false); // inherits the DDF namespace
        w.end();
        w.end();
    });
    let msg = assert_exact_roundtrip(&wire);
    assert_eq!(
        first_data(&msg),
        &Data::Xml(
            "<Type xmlns=\"syncml:metinf\">text/plain</Type><Item><Node xmlns=\"syncml:dmddf1.2\">\
             <Name>n</Name><Add/></Node></Item>"
                .into()
        )
    );
}

#[test]
fn xml_data_with_a_namespace_declaration_is_written_inline_not_opaque() {
    let x = "<Format xmlns=\"syncml:metinf\">b64</Format>";
    let msg = msg_with_data(Data::Xml(x.into()));
    let wire = wbxml::encode(&msg);
    let back = wbxml::decode(&wire, &Limits::default()).unwrap();
    assert_eq!(first_data(&back), &Data::Xml(x.into()));
    // A redundant or foreign declaration cannot be kept inline: the text travels as OPAQUE.
    for x in [
        "<a xmlns=\"urn:other\"/>",
        "<Format xmlns=\"syncml:metinf\"><Type xmlns=\"syncml:metinf\"/></Format>",
    ] {
        let back = wbxml::decode(
            &wbxml::encode(&msg_with_data(Data::Xml(x.into()))),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(first_data(&back), &Data::Opaque(x.as_bytes().to_vec()));
    }
}

#[test]
fn empty_mgmt_tree_roundtrips_as_nested_document() {
    let x = "<MgmtTree xmlns=\"syncml:dmddf1.2\"/>";
    let msg = msg_with_data(Data::Xml(x.into()));
    let wire = wbxml::encode(&msg);
    // A nested document: OPAQUE in Data, holding the DDF public id.
    assert!(
        wire.windows(26).any(|w| w == b"-//OMA//DTD-DM-DDF 1.2//EN"),
        "nested DDF document"
    );
    let back = assert_exact_roundtrip(&wire);
    assert_eq!(back, msg);
}

#[test]
fn literal_names_that_are_not_xml_names_are_rejected() {
    for name in [&b"a b\0"[..], b"a:b\0", b"a<b\0", b"\0"] {
        let wire = doc_with_data(name, |w| {
            w.start_literal(0, false);
        });
        let err = wbxml::decode(&wire, &Limits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::WbxmlUnexpected {
                    expected: "an XML element name in Data",
                    ..
                }
            ),
            "{name:?}: {err:?}"
        );
    }
}

#[test]
fn nul_entity_in_data_gives_opaque_data() {
    let wire = doc_with_data(b"", |w| {
        w.text(b"a");
        w.entity(0);
        w.text(b"b");
    });
    let msg = assert_exact_roundtrip(&wire);
    assert_eq!(first_data(&msg), &Data::Opaque(b"a\0b".to_vec()));
}

#[test]
fn encode_into_appends_the_same_bytes_as_encode() {
    let msg = msg_with_data(Data::Text("x".into()));
    let mut out = b"keep".to_vec();
    wbxml::encode_into(&msg, &mut out);
    assert_eq!(out.get(..4), Some(&b"keep"[..]));
    assert_eq!(out.get(4..), Some(&wbxml::encode(&msg)[..]));
    out.clear();
    wbxml::encode_into(&msg, &mut out);
    assert_eq!(wbxml::decode(&out, &Limits::default()).unwrap(), msg);
}
