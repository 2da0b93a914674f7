//! Peer-supplied text in log lines.
//!
//! In: any string a peer sent (a LocURI, a device id, a header, a path). Out: a [`Display`]
//! form that is safe to write into a log: at most [`Untrusted::MAX_CHARS`] characters of the
//! text, control characters (newlines, ESC, NUL, DEL, C1), Unicode line separators and
//! bidirectional overrides escaped, and a `…(N bytes)` suffix when the text was cut.
//!
//! ```
//! use dm_host::log::Untrusted;
//! assert_eq!(Untrusted("dev\n\u{1b}[31m").to_string(), "dev\\n\\u{1b}[31m");
//! let long = "x".repeat(1000);
//! assert!(Untrusted(&long).to_string().ends_with("…(1000 bytes)"));
//! ```
//!
//! [`Display`]: std::fmt::Display

use std::fmt;

/// Peer-supplied text, escaped and length-capped when displayed (see the module docs).
///
/// Use it for every string from the network that goes into a log line:
/// `tracing::warn!(loc_uri = %Untrusted(uri), "...")`. `Debug` prints the same as `Display`,
/// so `?Untrusted(..)` is equally safe.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Untrusted<'a>(pub &'a str);

impl Untrusted<'_> {
    /// Characters of the text shown before it is cut (escapes do not count against it).
    pub const MAX_CHARS: usize = 128;
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shown, c) in self.0.chars().enumerate() {
            if shown == Self::MAX_CHARS {
                return write!(f, "…({} bytes)", self.0.len());
            }
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\\' => f.write_str("\\\\")?,
                c if needs_escape(c) => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Characters that can move the cursor, end a line, recolour a terminal or reorder text.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' // line and paragraph separators
                | '\u{200e}' | '\u{200f}' // LRM, RLM
                | '\u{202a}'..='\u{202e}' // bidi embeddings and overrides
                | '\u{2066}'..='\u{2069}' // bidi isolates
                | '\u{feff}' // zero-width no-break space / BOM
        )
}

#[cfg(test)]
mod tests {
    use super::Untrusted;

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(
            Untrusted("./DevInfo/Mod IMEI:4930 é").to_string(),
            "./DevInfo/Mod IMEI:4930 é"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let shown = Untrusted("a\nb\r\tc\u{1b}[2Jd\0e\u{7f}\u{85}\\").to_string();
        assert_eq!(shown, "a\\nb\\r\\tc\\u{1b}[2Jd\\u{0}e\\u{7f}\\u{85}\\\\");
        assert!(!shown.chars().any(char::is_control));
    }

    #[test]
    fn separators_and_bidi_overrides_are_escaped() {
        assert_eq!(
            Untrusted("x\u{2028}y\u{202e}z").to_string(),
            "x\\u{2028}y\\u{202e}z"
        );
    }

    #[test]
    fn long_text_is_cut_with_its_byte_length() {
        let long = "é".repeat(1000);
        let shown = Untrusted(&long).to_string();
        assert_eq!(
            shown,
            format!("{}…(2000 bytes)", "é".repeat(Untrusted::MAX_CHARS))
        );
        let exact = "y".repeat(Untrusted::MAX_CHARS);
        assert_eq!(Untrusted(&exact).to_string(), exact);
    }

    #[test]
    fn a_megabyte_of_newlines_stays_one_short_line() {
        let hostile = "\n".repeat(1 << 20);
        let shown = Untrusted(&hostile).to_string();
        assert!(shown.len() < 300, "{}", shown.len());
        assert!(!shown.contains('\n'));
        assert!(shown.ends_with("…(1048576 bytes)"));
    }

    #[test]
    fn debug_is_as_safe_as_display() {
        assert_eq!(format!("{:?}", Untrusted("a\nb")), "a\\nb");
    }
}
