//! Replays every seed of the GwMO fuzz corpora (`fuzz/corpus/fragment_decode/`,
//! `fuzz/corpus/gwmo_form_decode/`) through the checks the fuzz targets run (the same files,
//! included), so the corpora are exercised on stable where cargo-fuzz is unavailable.

#![allow(clippy::unwrap_used, clippy::panic)]

#[path = "../../../fuzz/src/fragment.rs"]
mod fragment;
#[path = "../../../fuzz/src/gwmo_form.rs"]
mod gwmo_form;

use std::path::PathBuf;

fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "fuzz/corpus/{target} has no seeds");
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect()
}

#[test]
fn fragment_seeds_replay_and_some_decode() {
    let limits = syncml::Limits::default();
    let mut decoded = 0;
    for (path, data) in seeds("fragment_decode") {
        let ok = std::panic::catch_unwind(|| fragment::check(&data));
        assert!(ok.is_ok(), "{} fails its check", path.display());
        for kind in [
            syncml::xml::FragmentKind::Commands,
            syncml::xml::FragmentKind::Responses,
        ] {
            decoded += usize::from(syncml::xml::decode_fragment(&data, kind, &limits).is_ok());
        }
    }
    assert!(decoded >= 3);
}

#[test]
fn form_seeds_replay_and_some_decode() {
    let limits = syncml::Limits::default();
    let mut decoded = 0;
    for (path, data) in seeds("gwmo_form_decode") {
        let ok = std::panic::catch_unwind(|| gwmo_form::check(&data));
        assert!(ok.is_ok(), "{} fails its check", path.display());
        let text = std::str::from_utf8(&data).unwrap();
        decoded += usize::from(gwmo::payload::DeviceReport::decode(text, &limits).is_ok())
            + usize::from(gwmo::payload::RegistrationRequest::decode(text, &limits).is_ok())
            + usize::from(gwmo::mode::Match::parse(text, &limits).is_ok())
            + usize::from(gwmo::fanout::Aggregate::decode(text, &limits).is_ok());
    }
    assert!(decoded >= 4);
}
