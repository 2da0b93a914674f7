//! The one error type of this crate.

/// Everything that can go wrong reading WBXML. Every variant carries the byte offset (from the
/// start of the document) where the problem was found.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input ended in the middle of a header field, token or element.
    #[error("WBXML: unexpected end of input at byte {offset} (inside {context})")]
    UnexpectedEof {
        /// Byte offset of the end of input.
        offset: usize,
        /// What was being read.
        context: &'static str,
    },
    /// The first byte is not a WBXML version this crate reads (0x00..=0x03).
    #[error("WBXML: unsupported version byte {byte:#04x} at byte 0")]
    UnsupportedVersion {
        /// The version byte found.
        byte: u8,
    },
    /// The document charset is not UTF-8 (or a subset of it).
    #[error("WBXML: unsupported charset MIBenum {mib} at byte {offset}")]
    UnsupportedCharset {
        /// Byte offset of the charset field.
        offset: usize,
        /// The IANA MIBenum found.
        mib: u32,
    },
    /// An `mb_u_int32` does not fit in 32 bits (or is longer than 5 bytes).
    #[error("WBXML: mb_u_int32 overflow at byte {offset}")]
    MbUintOverflow {
        /// Byte offset of the integer's first byte.
        offset: usize,
    },
    /// A string-table offset points outside the table, or its string has no NUL terminator.
    #[error("WBXML: bad string-table reference {index} at byte {offset}")]
    BadStringTableRef {
        /// Byte offset of the reference.
        offset: usize,
        /// The offset into the string table.
        index: u32,
    },
    /// An inline string (`STR_I`) has no NUL terminator before the end of input.
    #[error("WBXML: unterminated inline string starting at byte {offset}")]
    UnterminatedString {
        /// Byte offset of the string's first byte.
        offset: usize,
    },
    /// An `OPAQUE` length runs past the end of input.
    #[error("WBXML: opaque data of {len} bytes at byte {offset} runs past the end of input")]
    OpaqueTooLong {
        /// Byte offset of the opaque data.
        offset: usize,
        /// The declared length.
        len: u32,
    },
    /// An element has attributes and the reader was told to reject them.
    #[error("WBXML: attributes are not supported (tag at byte {offset})")]
    AttributesUnsupported {
        /// Byte offset of the tag.
        offset: usize,
    },
    /// A token that is not allowed where it was found (e.g. `END` with no open element, a
    /// processing instruction, text before the root element, or bytes after it).
    #[error("WBXML: unexpected token {token:#04x} at byte {offset} ({context})")]
    UnexpectedToken {
        /// Byte offset of the token.
        offset: usize,
        /// The token byte.
        token: u8,
        /// Why it is not allowed.
        context: &'static str,
    },
    /// A bound of [`crate::Limits`] was exceeded: the input is too large, nests too deep, has
    /// too many elements, string-table references or entities, or decodes to more output than
    /// its budget (one text value, or in total).
    #[error("WBXML: {limit} limit of {max} exceeded at byte {offset}")]
    LimitExceeded {
        /// Which bound.
        limit: crate::LimitKind,
        /// Byte offset where it was exceeded (for the input size: the limit itself, the first
        /// byte past it).
        offset: usize,
        /// The bound in force (for the output: this document's budget,
        /// [`crate::Limits::output_budget`]).
        max: usize,
    },
}

impl Error {
    /// The byte offset (from the start of the document) where the problem was found.
    #[must_use]
    pub fn offset(&self) -> usize {
        match self {
            Error::UnsupportedVersion { .. } => 0,
            Error::UnexpectedEof { offset, .. }
            | Error::UnsupportedCharset { offset, .. }
            | Error::MbUintOverflow { offset }
            | Error::BadStringTableRef { offset, .. }
            | Error::UnterminatedString { offset }
            | Error::OpaqueTooLong { offset, .. }
            | Error::AttributesUnsupported { offset }
            | Error::UnexpectedToken { offset, .. }
            | Error::LimitExceeded { offset, .. } => *offset,
        }
    }
}
