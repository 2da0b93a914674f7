//! Property tests of the bound of `Limits` (issue 6): random documents, many of them heavy in
//! string-table references and entities (in the message and inside a nested TNDS document),
//! and random messages in both encodings, decode under random limits to messages within the
//! output budget of their input (for XML: at most the input), with no value over `max_text`;
//! or they fail with `Error::LimitExceeded`, never anything untyped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod hostile;
mod strategy;

#[allow(dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
mod checks;

use proptest::prelude::*;
use syncml::{Encoding, Error, Limits};

/// One piece of character data in `Data`.
#[derive(Debug, Clone)]
enum Piece {
    /// `STR_I` (no NUL).
    Inline(String),
    /// `STR_T` to the n-th string of the table (modulo its length).
    Ref(usize),
    /// `ENTITY` (any code point, valid or not).
    Entity(u32),
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        1 => "[a-z<&]{0,8}".prop_map(Piece::Inline),
        4 => any::<usize>().prop_map(Piece::Ref),
        3 => prop_oneof![Just(0x41u32), Just(0xE9), Just(0x1F600), Just(0xD800), any::<u32>()]
            .prop_map(Piece::Entity),
    ]
}

/// A string table of `strings` and the offsets of each.
fn table(strings: &[String]) -> (Vec<u8>, Vec<u32>) {
    let mut t = Vec::new();
    let mut at = Vec::new();
    for s in strings {
        at.push(u32::try_from(t.len()).unwrap());
        t.extend_from_slice(s.as_bytes());
        t.push(0);
    }
    (t, at)
}

fn pieces_bytes(pieces: &[Piece], offsets: &[u32]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in pieces {
        match p {
            Piece::Inline(s) => {
                v.push(0x03);
                v.extend_from_slice(s.as_bytes());
                v.push(0);
            }
            Piece::Ref(i) if !offsets.is_empty() => {
                v.push(0x83);
                v.extend(hostile::mb(offsets[i % offsets.len()]));
            }
            Piece::Ref(_) => {}
            Piece::Entity(cp) => {
                v.push(0x02);
                v.extend(hostile::mb(*cp));
            }
        }
    }
    v
}

/// A nested DDF document `MgmtTree/Node/NodeName` holding `pieces` on string table `strings`.
fn nested_doc(strings: &[String], pieces: &[Piece]) -> Vec<u8> {
    let mut all = vec!["-//OMA//DTD-DM-DDF 1.2//EN".to_owned()];
    all.extend_from_slice(strings);
    let (t, mut offsets) = table(&all);
    offsets.remove(0);
    let mut doc = vec![0x03, 0x00, 0x00, 0x6A];
    doc.extend(hostile::mb(u32::try_from(t.len()).unwrap()));
    doc.extend(t);
    doc.extend([0x00, 0x02, 0x60, 0x64, 0x66]);
    doc.extend(pieces_bytes(pieces, &offsets));
    doc.extend([0x01, 0x01, 0x01]);
    doc
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        Just(checks::tight_limits()),
        (
            1usize..40,
            1usize..4000,
            1usize..20_000,
            1usize..8,
            0usize..200,
            0usize..200,
            1usize..400
        )
            .prop_map(
                |(depth, text, output, expansion, refs, entities, elements)| {
                    Limits {
                        max_depth: depth,
                        max_text: text,
                        max_output: output,
                        max_expansion: expansion,
                        max_str_refs: refs,
                        max_entities: entities,
                        max_elements: elements,
                        ..Limits::default()
                    }
                }
            ),
    ]
}

/// Decodes `bytes` under `limits`: within the bound, or a typed error; for these documents
/// (valid but for their size and maybe their UTF-8) only a limit or invalid UTF-8.
fn check(encoding: Encoding, bytes: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    checks::decode_bounded(encoding, bytes, limits);
    match encoding.decode(bytes, limits) {
        Ok(_)
        | Err(Error::LimitExceeded { .. })
        | Err(Error::WbxmlInvalidUtf8 { .. })
        | Err(Error::XmlInvalidChar { .. }) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!("unexpected error {e:?}"))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn string_table_and_entity_heavy_wbxml_stays_within_the_budget(
        strings in prop::collection::vec("[A-Za-z0-9 ]{0,300}", 0..4),
        pieces in prop::collection::vec(piece(), 0..300),
        limits in limits(),
    ) {
        let (t, offsets) = table(&strings);
        let msg = hostile::with_data(&t, &pieces_bytes(&pieces, &offsets));
        check(Encoding::Wbxml, &msg, &limits)?;
        checks::wbxml_reader_bounded(&msg, &limits);
    }

    #[test]
    fn nested_documents_stay_within_the_outer_budget(
        strings in prop::collection::vec("[A-Za-z0-9 ]{0,300}", 0..4),
        pieces in prop::collection::vec(piece(), 0..300),
        limits in limits(),
    ) {
        let doc = nested_doc(&strings, &pieces);
        check(Encoding::Wbxml, &checks::nested_message(&doc), &limits)?;
    }

    #[test]
    fn random_messages_stay_within_the_budget_in_both_encodings(
        msg in strategy::sync_ml(),
        limits in limits(),
    ) {
        check(Encoding::Wbxml, &syncml::wbxml::encode(&msg), &limits)?;
        check(Encoding::Xml, &syncml::xml::encode(&msg), &limits)?;
    }

    #[test]
    fn reference_heavy_xml_never_expands(
        refs in prop::collection::vec(
            prop_oneof![
                Just("&amp;"), Just("&lt;"), Just("&#65;"), Just("&#x1F600;"), Just("a"),
                Just("<![CDATA[x&y]]>"),
            ],
            0..400,
        ),
        nul in any::<bool>(),
        limits in limits(),
    ) {
        let body = refs.concat();
        let xml = format!(
            "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncHdr><VerDTD>1.2</VerDTD>\
             <VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID>\
             <Target><LocURI>t</LocURI></Target><Source><LocURI>s</LocURI></Source>\
             </SyncHdr><SyncBody><Replace><CmdID>2</CmdID><Item><Data>{body}{}</Data>\
             </Item></Replace><Final/></SyncBody></SyncML>",
            if nul { "\0" } else { "" }
        );
        check(Encoding::Xml, xml.as_bytes(), &limits)?;
    }
}

/// The decoded size of an entity-heavy message is what the budget says it may be: with
/// `max_expansion` 1 a message of entities alone (2 bytes each, 1 byte of output) decodes,
/// with `max_output` just below its output it does not.
#[test]
fn the_budget_is_exact() {
    let msg = hostile::entity_flood(10_000);
    let limits = Limits {
        max_expansion: 1,
        ..Limits::default()
    };
    let m = syncml::wbxml::decode(&msg, &limits).unwrap();
    let (total, _) = checks::decoded_size(&m);
    let tight = Limits {
        max_output: total - 1,
        ..Limits::default()
    };
    assert!(matches!(
        syncml::wbxml::decode(&msg, &tight),
        Err(Error::LimitExceeded {
            limit: syncml::LimitKind::Output,
            ..
        })
    ));
}
