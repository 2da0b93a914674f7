//! Fuzz target `wsp_decode`: see `omadm_fuzz::wsp_decode` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| omadm_fuzz::wsp_decode(data));
