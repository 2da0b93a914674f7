//! Fuzz target `wbxml_decode`: see `omadm_fuzz::wbxml_decode` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| omadm_fuzz::wbxml_decode(data));
