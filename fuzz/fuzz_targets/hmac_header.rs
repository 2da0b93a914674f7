//! Fuzz target `hmac_header`: see `omadm_fuzz::hmac_header` for the property checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| omadm_fuzz::hmac_header(data));
