//! Fuzz target `gwmo_form_decode`: the GwMO form-urlencoded decoders (device report,
//! registration, mode-rule `Match`, consolidated aggregate) never panic; what decodes
//! round-trips and its encoding is linearly bounded by the input (`fuzz/src/gwmo_form.rs`,
//! shared with `crates/gwmo/tests/fuzz_corpus_replay.rs`).
#![no_main]

#[path = "../src/gwmo_form.rs"]
mod gwmo_form;

libfuzzer_sys::fuzz_target!(|data: &[u8]| gwmo_form::check(data));
