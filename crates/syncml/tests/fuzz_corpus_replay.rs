//! Replays every seed of the fuzz corpora (`fuzz/corpus/<target>/`) through the same checks the
//! fuzz targets run (`fuzz/src/lib.rs`, included here): the decoders never panic, and where
//! decoding succeeds the round trip gives the same value (for SyncML: the same message up to
//! the documented `Data` mappings, and a byte-for-byte fixpoint after one trip; see the docs of
//! `fuzz/src/lib.rs`). Runs on stable as an ordinary test, so the corpora are exercised even
//! where cargo-fuzz is unavailable. The dm-tree targets (`tree_uri`, `tree_snapshot`,
//! `tnds_add`) are replayed by `scripts/fuzz-smoke` (libFuzzer runs every seed first).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
mod checks;

use std::path::PathBuf;

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    files
}

#[test]
fn every_syncml_corpus_replays_without_panic() {
    let mut total = 0;
    for target in checks::SYNCML_TARGETS {
        let files = corpus_files(target);
        assert!(!files.is_empty(), "fuzz/corpus/{target} has no seeds");
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| checks::check(target, &data));
            assert!(
                outcome.is_ok(),
                "{target}: {} fails its check",
                file.display()
            );
            total += 1;
        }
    }
    assert!(total >= checks::SYNCML_TARGETS.len());
}

/// The seeds are meant to exercise the success paths: each target has at least one seed that
/// decodes (so the round-trip half of the check runs).
#[test]
fn each_corpus_has_a_decodable_seed() {
    let limits = syncml::Limits::default();
    for target in checks::SYNCML_TARGETS {
        let decodes = corpus_files(target).iter().any(|f| {
            let data = std::fs::read(f).unwrap();
            match *target {
                "xml_decode" | "xml_wbxml_roundtrip" => syncml::xml::decode(&data, &limits).is_ok(),
                "wbxml_decode" => syncml::wbxml::decode(&data, &limits).is_ok(),
                "wbxml_nested" => matches!(
                    syncml::wbxml::decode(&checks::nested_message(&data), &limits),
                    Ok(m) if checks::split_data(m.clone()).1.iter().any(|d| matches!(d, syncml::Data::Xml(_)))
                ),
                "pkg0_decode" => syncml::notification::decode(&data).is_ok(),
                "wsp_decode" => syncml::notification::wsp::decode_push(&data).is_ok(),
                "hmac_header" => std::str::from_utf8(&data)
                    .is_ok_and(|t| syncml::auth::HmacHeader::parse(t).is_ok()),
                other => panic!("unknown target {other}"),
            }
        });
        assert!(decodes, "no seed of fuzz/corpus/{target} decodes");
    }
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn items_data(msg: &syncml::SyncMl) -> Vec<syncml::Data> {
    checks::split_data(msg.clone()).1
}

/// The kept representation differences really take the infoset branch of the comparison: the
/// `Data` that comes back from WBXML has other bytes (canonical form) but the same XML.
#[test]
fn representation_seeds_differ_in_bytes_but_not_in_xml_infoset() {
    let limits = syncml::Limits::default();
    for name in [
        "repr-data-xml-raw-gt.xml",
        "repr-data-xml-charref.xml",
        "crash-53429e9e6ada69b3e6b7d8edfa77a700c14f7d6e",
        "repr-ddf-blank-between-pis.xml",
        "repr-inline-blank-between-comments.xml",
    ] {
        let msg = syncml::xml::decode(&seed("xml_wbxml_roundtrip", name), &limits).unwrap();
        let back = checks::wbxml_trip(&msg, &limits);
        let (before, after) = (items_data(&msg), items_data(&back));
        let differing = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.as_bytes() != a.as_bytes())
            .count();
        assert!(differing > 0, "{name}: no Data changed its bytes");
        assert!(
            before
                .iter()
                .zip(&after)
                .all(|(b, a)| checks::data_equivalent(b, a))
        );
    }
}

/// A `MgmtTree` outside `syncml:dmddf1.2` travels as OPAQUE: back as `Data::Opaque`, same bytes.
#[test]
fn foreign_namespace_mgmt_tree_comes_back_opaque_with_the_same_bytes() {
    let limits = syncml::Limits::default();
    for name in [
        "crash-7e73b4bd3ce5a858a8693d58bd3d3c60f8b6bb6f",
        "crash-337a9e19430212e1cb8c845f416e3f64ee691978",
    ] {
        let msg = syncml::xml::decode(&seed("xml_wbxml_roundtrip", name), &limits).unwrap();
        let back = checks::wbxml_trip(&msg, &limits);
        let pairs: Vec<_> = items_data(&msg)
            .into_iter()
            .zip(items_data(&back))
            .collect();
        assert!(pairs.iter().any(|(b, a)| matches!(
            (b, a),
            (syncml::Data::Xml(x), syncml::Data::Opaque(o)) if x.as_bytes() == o.as_slice()
        )));
    }
}

#[test]
fn infoset_canonical_forms() {
    let same = |a: &str, b: &str| {
        let (x, y) = (
            checks::xml_infoset(a.as_bytes()),
            checks::xml_infoset(b.as_bytes()),
        );
        assert!(x.is_some(), "{a} must parse");
        assert_eq!(x, y, "{a} vs {b}");
    };
    same("<a>x></a>", "<a>x&gt;</a>");
    same("<a>&#65;&#x42;</a>", "<a>AB</a>");
    same("<a></a>", "<a/>");
    same("<a>\n  <b/>\n</a>", "<a><b/></a>");
    same("<a> </a>", "<a/>");
    same("<a>x<!-- c -->y</a>", "<a>xy</a>");
    same("<a>x<!--c--> <!--d-->y</a>", "<a>xy</a>");
    same("<a>x\n<?p?>\n<?q?>\ny</a>", "<a>x\n\ny</a>");
    same("<a>x<![CDATA[ ]]>y</a>", "<a>x y</a>");
    same("<a><![CDATA[<x>]]></a>", "<a>&lt;x></a>");
    same("<a>1\r\n2</a>", "<a>1\n2</a>");
    same("<a q='1' p=\"2\"/>", "<a p='2' q='1'></a>");
    same("<a p='x&amp;y'/>", "<a p=\"x&#38;y\"/>");
}

#[test]
fn infoset_keeps_what_carries_meaning() {
    let differ = |a: &str, b: &str| {
        let x = checks::xml_infoset(a.as_bytes());
        assert!(x.is_some(), "{a} must parse");
        assert_ne!(x, checks::xml_infoset(b.as_bytes()), "{a} vs {b}");
    };
    differ("<a>x</a>", "<a>y</a>");
    differ("<a>x y</a>", "<a>xy</a>");
    differ("<a>x<!--c--> y</a>", "<a>xy</a>");
    differ("<a> x</a>", "<a>x</a>");
    differ("<a>\u{a0}</a>", "<a/>");
    differ("<a>x&#13;</a>", "<a>x\n</a>");
    differ("<a><b/></a>", "<a/><b/>");
    differ("<a xmlns='syncml:dmddf1.2'/>", "<a/>");
    differ("<p:a xmlns:p='u'/>", "<a xmlns='u'/>");
    differ("<a p='1'/>", "<a p='2'/>");
    for bad in [
        "<a>",
        "<a></b>",
        "</a>",
        "<a>&bogus;</a>",
        "<a p='1' p='2'/>",
    ] {
        assert_eq!(checks::xml_infoset(bad.as_bytes()), None, "{bad}");
    }
    assert_eq!(checks::xml_infoset(b"<a>\xff</a>"), None);
}

#[test]
fn data_equivalence_rules() {
    use syncml::Data;
    let xml = |s: &str| Data::Xml(s.into());
    let opaque = |s: &str| Data::Opaque(s.as_bytes().to_vec());
    // Equal bytes: equal, whatever the variants.
    assert!(checks::data_equivalent(
        &Data::CData("a<".into()),
        &opaque("a<")
    ));
    assert!(checks::data_equivalent(&xml("<a/>"), &opaque("<a/>")));
    assert!(checks::data_equivalent(
        &Data::Text("x".into()),
        &Data::CData("x".into())
    ));
    // XML by infoset, for Xml and Opaque only.
    assert!(checks::data_equivalent(&xml("<a></a>"), &xml("<a/>")));
    assert!(checks::data_equivalent(
        &opaque("<a>x></a>"),
        &xml("<a>x&gt;</a>")
    ));
    assert!(!checks::data_equivalent(
        &Data::Text("<a></a>".into()),
        &xml("<a/>")
    ));
    assert!(!checks::data_equivalent(
        &Data::CData("<a></a>".into()),
        &xml("<a/>")
    ));
    assert!(!checks::data_equivalent(&xml("<a>x</a>"), &xml("<a>y</a>")));
    assert!(!checks::data_equivalent(
        &opaque("not xml <"),
        &opaque("not xml &lt;")
    ));
    assert!(!checks::data_equivalent(
        &Data::Text("1".into()),
        &Data::Text("2".into())
    ));
}

/// The one WBXML difference allowed after a trip: which strings go through the string table
/// (inline text with a resolved reference is not a table candidate). The document is the same
/// and from the second encoding on the bytes are fixed.
#[test]
fn wbxml_after_one_trip_differs_only_in_its_string_table() {
    let limits = syncml::Limits::default();
    let msg = syncml::xml::decode(
        &seed("xml_wbxml_roundtrip", "repr-strtbl-escaped-inline-text.xml"),
        &limits,
    )
    .unwrap();
    let first = syncml::wbxml::encode(&msg);
    let back = checks::wbxml_trip(&msg, &limits);
    let second = syncml::wbxml::encode(&back);
    assert_ne!(
        first, second,
        "the seed no longer shows the string-table difference"
    );
    assert!(checks::wbxml_document(&first).is_some());
    assert_eq!(
        checks::wbxml_document(&first),
        checks::wbxml_document(&second)
    );
    let again = syncml::wbxml::decode(&second, &limits).unwrap();
    assert_eq!(syncml::wbxml::encode(&again), second);
}

#[test]
fn wbxml_document_sees_every_difference_but_the_string_table() {
    let limits = syncml::Limits::default();
    let msg = syncml::xml::decode(&seed("xml_decode", "02-pkg2-server-mgmt.xml"), &limits).unwrap();
    let bytes = syncml::wbxml::encode(&msg);
    let doc = checks::wbxml_document(&bytes).unwrap();
    let mut other = msg.clone();
    other.hdr.msg_id.push('9');
    assert_ne!(
        checks::wbxml_document(&syncml::wbxml::encode(&other)),
        Some(doc)
    );
    assert_eq!(checks::wbxml_document(b"\x03"), None);
}

/// The one known codec bug the WBXML check accepts (`checks::known_bug_wbxml_meta_type`): a
/// `Meta/Type` of `...devinf+wbxml` comes back from WBXML as `...devinf+xml`, and nothing else
/// changes. When this fails because the Type survives, the codec is fixed: remove the
/// exemption from `fuzz/src/lib.rs` and this test.
#[test]
fn known_bug_wbxml_meta_type_is_the_only_change() {
    let limits = syncml::Limits::default();
    let msg = syncml::xml::decode(
        &seed(
            "xml_wbxml_roundtrip",
            "known-bug-meta-type-devinf-wbxml.xml",
        ),
        &limits,
    )
    .unwrap();
    let back = syncml::wbxml::decode(&syncml::wbxml::encode(&msg), &limits).unwrap();
    let type_of = |m: &syncml::SyncMl| match &m.body.commands[0] {
        syncml::Command::Results(r) => r.items[0].meta.as_ref().unwrap().r#type.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        type_of(&msg).as_deref(),
        Some("application/vnd.syncml-devinf+wbxml")
    );
    assert_eq!(
        type_of(&back).as_deref(),
        Some("application/vnd.syncml-devinf+xml"),
        "the codec keeps the Type now: remove checks::known_bug_wbxml_meta_type"
    );
    let mut expected = msg.clone();
    checks::known_bug_wbxml_meta_type(&mut expected);
    assert_eq!(back, expected);
    assert_ne!(back, msg);
}

/// Known codec bug 1 of `checks::known_bug_data`: a `MgmtTree` whose namespace merely contains
/// `syncml:dmddf1.2` comes back in that namespace. When this fails because the namespace
/// survives, the codec is fixed: remove that part of the exemption and this test.
#[test]
fn known_bug_nested_ddf_namespace_is_the_only_change() {
    use syncml::Data;
    let limits = syncml::Limits::default();
    let msg = syncml::xml::decode(
        &seed(
            "xml_wbxml_roundtrip",
            "known-bug-ddf-namespace-substring.xml",
        ),
        &limits,
    )
    .unwrap();
    let back = syncml::wbxml::decode(&syncml::wbxml::encode(&msg), &limits).unwrap();
    let (before, after) = (items_data(&msg), items_data(&back));
    let Data::Xml(x) = &after[0] else {
        panic!("{:?}", after[0])
    };
    assert!(
        x.starts_with("<MgmtTree xmlns=\"syncml:dmddf1.2\">"),
        "the codec keeps the namespace now: remove part 1 of checks::known_bug_data ({x})"
    );
    assert!(!checks::data_equivalent(&before[0], &after[0]));
    assert!(checks::known_bug_data(&before[0], &after[0]));
    // Any other change is still a finding.
    let tree = |s: &str| {
        Data::Xml(format!(
            "<MgmtTree xmlns=\"urn:x-syncml:dmddf1.2\">{s}</MgmtTree>"
        ))
    };
    assert!(!checks::known_bug_data(
        &tree("<Node><NodeName>a</NodeName></Node>"),
        &tree("<Node><NodeName>b</NodeName></Node>")
    ));
    assert!(!checks::known_bug_data(
        &Data::Xml("<Other xmlns=\"urn:x\"><a/></Other>".into()),
        &Data::Xml("<Other><a/></Other>".into())
    ));
}

/// `<Meta></Meta>` decodes as an empty `Meta`, which encoders omit: the check counts an empty
/// `Meta` as none, and nothing else.
#[test]
fn empty_meta_counts_as_no_meta() {
    let limits = syncml::Limits::default();
    let msg = syncml::xml::decode(&seed("xml_decode", "repr-empty-meta.xml"), &limits).unwrap();
    assert_eq!(msg.hdr.meta, Some(syncml::Meta::default()));
    let back = syncml::xml::decode(&syncml::xml::encode(&msg), &limits).unwrap();
    assert_eq!(back.hdr.meta, None);
    let mut normalized = msg.clone();
    checks::normalize_empty_meta(&mut normalized);
    assert_eq!(back, normalized);
    let mut other = normalized.clone();
    other.hdr.meta = Some(syncml::Meta {
        max_msg_size: Some("1".into()),
        ..syncml::Meta::default()
    });
    checks::normalize_empty_meta(&mut other);
    assert_ne!(other, normalized);
}

/// Known codec bugs 2 and 3 of `checks::known_bug_data`: Unicode-blank text dropped, `&#13;`
/// written back as a raw CR. When one of these fails because the text survives, the codec is
/// fixed: remove that part of the exemption and its assertion here.
#[test]
fn known_bugs_unicode_blank_and_raw_cr_are_the_only_change() {
    use syncml::Data;
    let limits = syncml::Limits::default();
    for (name, lost) in [
        ("known-bug-ddf-nbsp-value-dropped.xml", "&#160;"),
        ("known-bug-inline-nbsp-text-dropped.xml", "&#160;"),
        ("known-bug-ddf-charref-cr-written-raw.xml", "&#13;"),
    ] {
        let msg = syncml::xml::decode(&seed("xml_wbxml_roundtrip", name), &limits).unwrap();
        let back = syncml::wbxml::decode(&syncml::wbxml::encode(&msg), &limits).unwrap();
        let (before, after) = (items_data(&msg), items_data(&back));
        let (Data::Xml(b), Data::Xml(a)) = (&before[0], &after[0]) else {
            panic!("{name}: {:?}", after[0])
        };
        assert!(b.contains(lost));
        assert!(
            !checks::data_equivalent(&before[0], &after[0]),
            "{name}: the codec keeps {lost} now ({a}): remove its part of checks::known_bug_data"
        );
        assert!(checks::known_bug_data(&before[0], &after[0]), "{name}");
    }
    let xml = |s: &str| Data::Xml(s.into());
    assert!(!checks::known_bug_data(
        &xml("<a>x\u{a0}y</a>"),
        &xml("<a>xy</a>")
    ));
    assert!(!checks::known_bug_data(
        &xml("<a>x&#13;</a>"),
        &xml("<a>y\n</a>")
    ));
}
