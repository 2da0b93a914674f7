//! Fuzz target `xml_wbxml_roundtrip`: see `omadm_fuzz::xml_wbxml_roundtrip` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| omadm_fuzz::xml_wbxml_roundtrip(data));
