//! Property tests of the XML codec: AST -> XML -> AST is the identity (up to the documented
//! `Data::Opaque` mapping), and `decode` never panics on arbitrary or mutated input.

mod strategy;
mod walk;

use base64::Engine as _;
use proptest::prelude::*;
use syncml::{Data, Limits, SyncMl, xml};

/// What the XML codec gives back for `data`: `Opaque` is written as CDATA when it is text
/// without control characters (tab and line feed aside), else as Base64 text.
fn normalize_data(data: &mut Data) {
    if let Data::Opaque(bytes) = data {
        *data = match std::str::from_utf8(bytes) {
            Ok(s) if !s.chars().any(|c| c.is_control() && c != '\t' && c != '\n') => {
                Data::CData(s.to_owned())
            }
            _ => Data::Text(base64::engine::general_purpose::STANDARD.encode(&*bytes)),
        };
    }
}

fn normalized(msg: &SyncMl) -> SyncMl {
    walk::map_data(msg, normalize_data)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every DM message the AST can express survives an XML round trip (DM-level interop:
    /// what we send is what the peer's conforming parser reads).
    #[test]
    fn ast_xml_ast_is_identity(msg in strategy::sync_ml()) {
        let bytes = xml::encode(&msg);
        let back = xml::decode(&bytes, &Limits::default());
        prop_assert_eq!(back, Ok(normalized(&msg)), "xml: {}", String::from_utf8_lossy(&bytes));
    }

    /// The indented form decodes to the same AST as the compact one.
    #[test]
    fn pretty_decodes_like_compact(msg in strategy::sync_ml()) {
        let bytes = xml::encode_pretty(&msg);
        let back = xml::decode(&bytes, &Limits::default());
        prop_assert_eq!(back, Ok(normalized(&msg)), "xml: {}", String::from_utf8_lossy(&bytes));
    }

    /// Encoding is deterministic and `encode_into` appends exactly what `encode` returns.
    #[test]
    fn encode_into_matches_encode(msg in strategy::sync_ml()) {
        let mut buf = b"prefix".to_vec();
        xml::encode_into(&msg, &mut buf);
        prop_assert_eq!(&buf[6..], &xml::encode(&msg)[..]);
    }

    /// Arbitrary bytes never make the decoder panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = xml::decode(&bytes, &Limits::default());
    }

    /// Arbitrary XML-ish text (tags, entities, CDATA fragments) never makes the decoder panic.
    #[test]
    fn xmlish_text_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("<SyncML>"), Just("</SyncML>"), Just("<SyncHdr>"), Just("</SyncHdr>"),
        Just("<SyncBody>"), Just("</SyncBody>"), Just("<Data>"), Just("</Data>"), Just("<Final/>"),
        Just("<Atomic>"), Just("</Atomic>"), Just("<CmdID>1</CmdID>"), Just("<![CDATA["), Just("]]>"),
        Just("&amp;"), Just("&#x1;"), Just("&#0;"), Just("&bogus;"), Just("<?xml version=\"1.0\"?>"),
        Just("<!DOCTYPE SyncML>"), Just("<!--"), Just("-->"), Just("<m:Type xmlns:m=\"syncml:metinf\">"),
        Just("text"), Just(" "), Just("<"), Just(">"), Just("\u{e9}"),
    ], 0..64)) {
        let s: String = parts.concat();
        let _ = xml::decode(s.as_bytes(), &Limits::default());
    }

    /// Valid messages with bytes flipped, inserted, removed or cut never make the decoder panic,
    /// under the default limits and under tight ones.
    #[test]
    fn mutated_messages_never_panic(
        msg in strategy::sync_ml(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
    ) {
        let mut bytes = xml::encode(&msg);
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 => { bytes.remove(i); }
                _ => bytes.truncate(i),
            }
        }
        let _ = xml::decode(&bytes, &Limits::default());
        let tight = Limits { max_size: 4096, max_depth: 6, max_elements: 64, ..Limits::default() };
        let _ = xml::decode(&bytes, &tight);
    }
}
