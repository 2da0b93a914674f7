//! Checks shared by the fuzz targets and by the corpus replay test
//! (`crates/syncml/tests/fuzz_corpus_replay.rs` includes this file with `#[path]`).
//!
//! Each check takes arbitrary bytes, runs one decoder, and when decoding succeeds asserts the
//! round-trip property of that wire type. A panic is a finding.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use syncml::notification::{self, wsp};
use syncml::{Command, Data, Item, Limits, SyncMl};

/// Names of the targets whose inputs [`check`] understands.
pub const SYNCML_TARGETS: &[&str] = &[
    "xml_decode",
    "wbxml_decode",
    "xml_wbxml_roundtrip",
    "pkg0_decode",
    "wsp_decode",
    "hmac_header",
];

/// Runs the check of `target` on `data`. Unknown target names panic (a test bug).
pub fn check(target: &str, data: &[u8]) {
    match target {
        "xml_decode" => xml_decode(data),
        "wbxml_decode" => wbxml_decode(data),
        "xml_wbxml_roundtrip" => xml_wbxml_roundtrip(data),
        "pkg0_decode" => pkg0_decode(data),
        "wsp_decode" => wsp_decode(data),
        "hmac_header" => hmac_header(data),
        other => panic!("no check for fuzz target {other}"),
    }
}

/// XML decode; if it succeeds, encode and decode again: the same message.
pub fn xml_decode(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(msg) = syncml::xml::decode(data, &limits) {
        let again = syncml::xml::decode(&syncml::xml::encode(&msg), &limits)
            .expect("re-encoded XML must decode");
        assert_eq!(again, msg, "XML round trip changed the message");
    }
}

/// WBXML decode; if it succeeds, encode and decode again: the same message.
pub fn wbxml_decode(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(msg) = syncml::wbxml::decode(data, &limits) {
        let again = syncml::wbxml::decode(&syncml::wbxml::encode(&msg), &limits)
            .expect("re-encoded WBXML must decode");
        assert_eq!(again, msg, "WBXML round trip changed the message");
    }
}

/// XML decode; if it succeeds, encode as WBXML and decode that: the same message, up to the
/// form of `Data` that the encodings cannot both express (see [`normalize_data`]).
pub fn xml_wbxml_roundtrip(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(msg) = syncml::xml::decode(data, &limits) {
        let again = syncml::wbxml::decode(&syncml::wbxml::encode(&msg), &limits)
            .expect("WBXML of a decoded XML message must decode");
        assert_eq!(
            normalize_data(again),
            normalize_data(msg),
            "XML -> WBXML -> AST changed the message"
        );
    }
}

/// Maps every `Data::CData` to `Data::Opaque` of the same bytes: WBXML has no CDATA (it writes
/// OPAQUE) and XML writes OPAQUE as CDATA, so the two are one value across encodings.
pub fn normalize_data(mut msg: SyncMl) -> SyncMl {
    fn item(i: &mut Item) {
        if let Some(Data::CData(s)) = &i.data {
            i.data = Some(Data::Opaque(s.as_bytes().to_vec()));
        }
    }
    fn command(c: &mut Command) {
        match c {
            Command::Add(x)
            | Command::Copy(x)
            | Command::Delete(x)
            | Command::Get(x)
            | Command::Replace(x) => x.items.iter_mut().for_each(item),
            Command::Alert(x) => x.items.iter_mut().for_each(item),
            Command::Exec(x) => x.items.iter_mut().for_each(item),
            Command::Results(x) => x.items.iter_mut().for_each(item),
            Command::Status(x) => x.items.iter_mut().for_each(item),
            Command::Atomic(x) | Command::Sequence(x) => x.commands.iter_mut().for_each(command),
        }
    }
    msg.body.commands.iter_mut().for_each(command);
    msg
}

/// Package 0 decode; if it succeeds the trigger re-encodes to the same bytes. `verify` never
/// panics on any input.
pub fn pkg0_decode(data: &[u8]) {
    let _ = notification::verify(data, "srv", "pw", b"nonce");
    if let Ok((n, digest)) = notification::decode(data) {
        assert_eq!(
            n.trigger().expect("decoded notification must encode"),
            &data[16..]
        );
        assert_eq!(&digest[..], &data[..16]);
    }
}

/// WSP push decode; if it succeeds, encode and decode again: the same PDU.
pub fn wsp_decode(data: &[u8]) {
    if let Ok(push) = wsp::decode_push(data) {
        let bytes = push.encode().expect("decoded push must encode");
        let again = wsp::decode_push(&bytes).expect("re-encoded push must decode");
        assert_eq!(again, push, "WSP round trip changed the PDU");
    }
}

/// `x-syncml-hmac` header parse; if it succeeds, format and parse again: the same header.
pub fn hmac_header(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = syncml::auth::HmacHeader::parse(text) {
        // A MAC or algorithm containing `,` cannot be written back unquoted; those never come
        // out of parse (values end at `,`), so the round trip must hold.
        let again = syncml::auth::HmacHeader::parse(&h.to_header_value())
            .expect("formatted header must parse");
        assert_eq!(again, h, "x-syncml-hmac round trip changed the header");
    }
}
