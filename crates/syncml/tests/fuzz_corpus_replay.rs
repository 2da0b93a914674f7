//! Replays every seed of the fuzz corpora (`fuzz/corpus/<target>/`) through the same checks the
//! fuzz targets run (`fuzz/src/lib.rs`, included here): the decoders never panic, and where
//! decoding succeeds the round trip gives the same value. Runs on stable as an ordinary test,
//! so the corpora are exercised even where cargo-fuzz is unavailable.

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
