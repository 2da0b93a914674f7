//! Log hygiene for strings a peer chose.

use std::fmt;

/// Longest part of an untrusted string written to a log line, in characters.
pub const MAX_LOGGED_CHARS: usize = 128;

/// A peer-supplied string as it may appear in a log line: control characters (newline, ESC,
/// ...) and backslashes are escaped (`\n`, `\u{1b}`, `\\`), and only the first
/// [`MAX_LOGGED_CHARS`] characters are written, followed by how many bytes were left out.
#[derive(Debug, Clone, Copy)]
pub struct Untrusted<'a>(pub &'a str);

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = 0usize;
        for (n, c) in self.0.chars().enumerate() {
            if n == MAX_LOGGED_CHARS {
                return write!(f, "...(+{} bytes)", self.0.len() - shown);
            }
            shown += c.len_utf8();
            if c == '\\' {
                f.write_str("\\\\")?;
            } else if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_caps_length() {
        assert_eq!(
            Untrusted("a\nb\u{1b}[31mc\\").to_string(),
            "a\\nb\\u{1b}[31mc\\\\"
        );
        let long = "x".repeat(1_000_000);
        let shown = Untrusted(&long).to_string();
        assert!(shown.len() < 200, "{}", shown.len());
        assert!(shown.ends_with(&format!("(+{} bytes)", 1_000_000 - MAX_LOGGED_CHARS)));
    }
}
