//! Fuzz target `wbxml_nested`: see `omadm_fuzz::wbxml_nested` for the property checked (the
//! input is a nested DM DDF document, decoded inside a fixed message).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| omadm_fuzz::wbxml_nested(data));
