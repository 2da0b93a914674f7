//! The check of the `fragment_decode` target, included with `#[path]` by the target and by
//! `crates/gwmo/tests/fuzz_corpus_replay.rs` (so it uses only `syncml`).
//!
//! `syncml::xml::decode_fragment` (both kinds) never panics; what decodes re-encodes to a
//! fragment that is a byte fixpoint after one trip and decodes to the same commands; and the
//! output is bounded linearly by the input: no more commands than input bytes, and the
//! re-encoded fragment is at most `8 * len + 64` bytes (the largest growth is an empty MetInf
//! element such as `<Type/>`, written with its namespace and an end tag).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use syncml::Limits;
use syncml::xml::{FragmentKind, decode_fragment, encode_fragment};

/// Runs the fragment decoder on `data` as both kinds and checks the properties above.
pub fn check(data: &[u8]) {
    let limits = Limits::default();
    for kind in [FragmentKind::Commands, FragmentKind::Responses] {
        let Ok(commands) = decode_fragment(data, kind, &limits) else {
            continue;
        };
        assert!(
            commands.len() <= data.len(),
            "more commands than input bytes"
        );
        assert!(
            commands.iter().all(|c| kind.admits(c)),
            "a command of the other kind"
        );
        let text = encode_fragment(&commands);
        assert!(
            text.len() <= 8 * data.len() + 64,
            "fragment of {} bytes re-encodes to {} bytes",
            data.len(),
            text.len()
        );
        let again = decode_fragment(text.as_bytes(), kind, &limits).unwrap_or_else(|e| {
            panic!("our fragment of a decoded fragment does not decode: {e}\n{text}")
        });
        let twice = encode_fragment(&again);
        assert_eq!(twice, text, "fragment is not a fixpoint after one trip");
        assert_eq!(
            decode_fragment(twice.as_bytes(), kind, &limits).as_ref(),
            Ok(&again),
            "fragment round trip changed it"
        );
    }
}
