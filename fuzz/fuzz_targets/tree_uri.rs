//! Fuzz target `tree_uri`: dm-tree's URI parser never panics; a parsed URI printed and parsed
//! again is the same URI (with and without limits taken from the first input bytes).
#![no_main]

use dm_tree::uri::{Uri, UriLimits};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (limits, rest) = match data {
        [0xFF, a, b, c, rest @ ..] => (
            UriLimits {
                max_depth: u16::from(*a),
                max_tot_len: u16::from(*b),
                max_seg_len: u16::from(*c),
            },
            rest,
        ),
        _ => (UriLimits::default(), data),
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if let Ok(uri) = Uri::parse(text, &limits) {
        let printed = uri.to_string();
        let again = Uri::parse(&printed, &UriLimits::default())
            .unwrap_or_else(|e| panic!("printed URI {printed:?} does not parse: {e}"));
        assert_eq!(
            again, uri,
            "URI round trip changed {text:?} (printed {printed:?})"
        );
    }
});
