//! The check of the `gwmo_form_decode` target, included with `#[path]` by the target and by
//! `crates/gwmo/tests/fuzz_corpus_replay.rs` (so it uses only `gwmo` and `syncml`).
//!
//! For each GwMO form decoder (reports, registrations, mode-rule and group `Match`, pages,
//! the consolidated aggregate): no input panics; a decoded value encodes to a form that decodes
//! For each GwMO form decoder (`imageready` included): no input panics; a decoded value encodes to a form that decodes
//! to the same value; the output is bounded linearly by the input: the encoding is at most
//! `3 * len + 128` bytes (percent-encoding triples a byte; a report adds its defaulted fields)
//! and no decoded string is longer than the input.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use gwmo::fanout::Aggregate;
use gwmo::group::{GroupLimits, Match as GroupMatch};
use gwmo::mode::Match;
use gwmo::payload::{DeviceReport, ImageReady, RegistrationRequest};
use syncml::Limits;

fn bounded(what: &str, input: &str, encoded: &str, strings: &[&str]) {
    assert!(
        encoded.len() <= 3 * input.len() + 128,
        "{what}: {} input bytes encode to {}",
        input.len(),
        encoded.len()
    );
    for s in strings {
        assert!(
            s.len() <= input.len(),
            "{what}: a decoded string is longer than the input"
        );
    }
}

/// Runs every form decoder on `data` (as UTF-8) and checks the properties above.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let l = Limits::default();
    if let Ok(r) = DeviceReport::decode(text, &l) {
        let e = r.encode();
        bounded(
            "report",
            text,
            &e,
            &[&r.id, &r.dev_info.man, &r.dev_info.model],
        );
        assert_eq!(
            DeviceReport::decode(&e, &l).as_ref(),
            Ok(&r),
            "report round trip"
        );
    }
    if let Ok(r) = RegistrationRequest::decode(text, &l) {
        let e = r.encode();
        let servers: Vec<&str> = r.servers.iter().map(String::as_str).collect();
        bounded("registration", text, &e, &servers);
        assert_eq!(
            RegistrationRequest::decode(&e, &l).as_ref(),
            Ok(&r),
            "registration round trip"
        );
    }
    if let Ok(m) = Match::parse(text, &l) {
        let e = m.to_form();
        bounded(
            "match",
            text,
            &e,
            &[
                m.man.as_deref().unwrap_or(""),
                m.model.as_deref().unwrap_or(""),
            ],
        );
        assert_eq!(Match::parse(&e, &l).as_ref(), Ok(&m), "match round trip");
    }
    if let Ok(m) = GroupMatch::parse(text, &l, &GroupLimits::default()) {
        let e = m.to_form();
        bounded("group match", text, &e, &[]);
        assert_eq!(
            GroupMatch::parse(&e, &l, &GroupLimits::default()).as_ref(),
            Ok(&m),
            "group match round trip"
        );
    }
    if let Ok(p) = gwmo::fanout::decode_page(text, &l) {
        let e = gwmo::fanout::encode_page(&p);
        bounded("page", text, &e, &[]);
        assert_eq!(
            gwmo::fanout::decode_page(&e, &l).as_ref(),
            Ok(&p),
            "page round trip"
        );
    }
    if let Ok(r) = ImageReady::decode(text, &l) {
        let e = r.encode();
        bounded("imageready", text, &e, &[&r.id, &r.uri]);
        assert_eq!(
            ImageReady::decode(&e, &l).as_ref(),
            Ok(&r),
            "imageready round trip"
        );
    }
    if let Ok(a) = Aggregate::decode(text, &l) {
        let e = a.encode();
        assert!(a.commands.len() + a.exceptions.len() <= text.len());
        // Counts are re-encoded as written numbers, groups keep their fields: linear too.
        bounded("aggregate", text, &e, &[&a.op]);
        assert_eq!(
            Aggregate::decode(&e, &l).as_ref(),
            Ok(&a),
            "aggregate round trip"
        );
    }
}
