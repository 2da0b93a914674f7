//! Property tests of the WBXML codec: AST -> WBXML -> AST is the identity up to the documented
//! mappings (`CData` -> `Opaque`; `Xml` re-serialised compactly), and `decode` never panics on
//! arbitrary or mutated input.

// Test code: helpers outside #[test] functions may unwrap and index too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod strategy;
mod walk;

use proptest::prelude::*;
use syncml::{Data, Limits, SyncMl, wbxml};

/// Compact form of an XML fragment: whitespace-only text dropped, empty elements as `<x/>`.
fn canonical_xml(s: &str) -> String {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(s);
    let mut out = String::new();
    let mut pending: Option<String> = None;
    loop {
        let ev = r.read_event().unwrap();
        let flush = |out: &mut String, p: &mut Option<String>| {
            if let Some(h) = p.take() {
                out.push('<');
                out.push_str(&h);
                out.push('>');
            }
        };
        match ev {
            Event::Start(e) => {
                flush(&mut out, &mut pending);
                pending = Some(String::from_utf8(e.to_vec()).unwrap());
            }
            Event::Empty(e) => {
                flush(&mut out, &mut pending);
                out.push_str(&format!("<{}/>", String::from_utf8(e.to_vec()).unwrap()));
            }
            Event::End(e) => {
                if let Some(h) = pending.take() {
                    out.push_str(&format!("<{h}/>"));
                } else {
                    out.push_str(&format!(
                        "</{}>",
                        String::from_utf8(e.name().as_ref().to_vec()).unwrap()
                    ));
                }
            }
            Event::Text(t) => {
                let u = t.unescape().unwrap();
                if !u.trim().is_empty() {
                    flush(&mut out, &mut pending);
                    out.push_str(
                        &u.replace('&', "&amp;")
                            .replace('<', "&lt;")
                            .replace('>', "&gt;"),
                    );
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn normalize_data(d: &mut Data) {
    *d = match std::mem::replace(d, Data::Text(String::new())) {
        Data::CData(s) if s.is_empty() => Data::Text(s),
        Data::CData(s) => Data::Opaque(s.into_bytes()),
        Data::Xml(x) => Data::Xml(canonical_xml(&x)),
        other => other,
    };
}

fn normalized(msg: &SyncMl) -> SyncMl {
    walk::map_data(msg, normalize_data)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ast_wbxml_ast_round_trip(msg in strategy::sync_ml()) {
        let bytes = wbxml::encode(&msg);
        let back = wbxml::decode(&bytes, &Limits::default()).unwrap();
        prop_assert_eq!(normalized(&back), normalized(&msg));
        // Re-encoding the decoded message is stable.
        prop_assert_eq!(wbxml::encode(&back), wbxml::encode(&normalized(&msg)));
    }

    #[test]
    fn decode_never_panics(data: Vec<u8>) {
        let _ = wbxml::decode(&data, &Limits::default());
    }

    #[test]
    fn decode_never_panics_on_mutations(
        msg in strategy::sync_ml(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = wbxml::encode(&msg);
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let cut = cut.index(bytes.len() + 1);
        let _ = wbxml::decode(&bytes[..cut], &Limits::default());
    }
}

#[test]
fn limits_are_enforced() {
    use syncml::LimitKind;
    let msg = SyncMl::default();
    let bytes = wbxml::encode(&msg);
    let limit = |l: &Limits| match wbxml::decode(&bytes, l) {
        Err(syncml::Error::LimitExceeded {
            encoding: syncml::Encoding::Wbxml,
            limit,
            ..
        }) => limit,
        other => panic!("expected a limit error, got {other:?}"),
    };
    let small = Limits {
        max_size: 4,
        ..Limits::default()
    };
    assert_eq!(limit(&small), LimitKind::Size);
    let few = Limits {
        max_elements: 3,
        ..Limits::default()
    };
    assert_eq!(limit(&few), LimitKind::Elements);
    let shallow = Limits {
        max_depth: 2,
        ..Limits::default()
    };
    assert_eq!(limit(&shallow), LimitKind::Depth);
}
