//! Fuzz target `fragment_decode`: SyncML command / response fragments
//! (`syncml::xml::decode_fragment`): see `fuzz/src/fragment.rs` for the property checked.
#![no_main]

#[path = "../src/fragment.rs"]
mod fragment;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fragment::check(data));
