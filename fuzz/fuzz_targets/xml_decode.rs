//! Fuzz target `xml_decode`: see `omadm_fuzz::xml_decode` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| omadm_fuzz::xml_decode(data));
