//! Fuzz target `pkg0_decode`: see `omadm_fuzz::pkg0_decode` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| omadm_fuzz::pkg0_decode(data));
