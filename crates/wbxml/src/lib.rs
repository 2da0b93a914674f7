//! Generic WBXML 1.0–1.3 reader and writer (WAP-192 binary XML), sans-IO.
//!
//! In: the bytes of one WBXML document (reader), or a stream of tags, strings and opaque data
//! (writer). Out: borrowing [`Event`]s (reader), or the encoded bytes (writer).
//!
//! The crate knows nothing about any particular XML language: code pages are data
//! ([`CodePage`], [`CodeSpace`]) supplied by the caller, who maps tag tokens to names and
//! namespaces. The reader is a pull parser whose events borrow from the input, so decoding does
//! not allocate; the writer switches code pages lazily, right before the first tag that needs
//! another page (as libwbxml does), and a [`StringTableBuilder`] chooses which repeated strings
//! go into the string table when that saves bytes.
//!
//! - [`Reader`]: header ([`Header`]), then [`Event`]s; total (never panics), typed [`Error`]s
//!   with byte offsets, `mb_u_int32` overflow checked. It keeps to [`Limits`]: input size,
//!   depth, element count, the size of each text value and of the whole decoded output (at most
//!   32 times the input and 16 MiB with the defaults), string-table reference and entity counts, so its
//!   work is linear in the input whatever the string table holds ([`Limits`] states the
//!   guarantee). Documents embedded in a document ([`Reader::nested`]) share its budget.
//! - [`Writer`]: header, tags, inline strings, string-table references, opaque data, entities.
//! - [`StringTableBuilder`]: cost-based string table (only strings that save bytes).

mod codepage;
mod error;
mod limits;
mod mbuint;
mod reader;
mod strtbl;
mod writer;

pub use codepage::{CodePage, CodeSpace};
pub use error::Error;
pub use limits::{LimitKind, Limits};
pub use mbuint::{mb_u_int32_len, read_mb_u_int32, write_mb_u_int32};
pub use reader::{Event, ExtValue, Header, PublicId, Reader, Tag, TagId};
pub use strtbl::{StringTable, StringTableBuilder};
pub use writer::Writer;

/// Global tokens of WBXML (WAP-192 §7.1), valid on every code page.
pub mod token {
    /// Switch the tag (or attribute) code page; followed by one page byte.
    pub const SWITCH_PAGE: u8 = 0x00;
    /// End of an element's content (or of an attribute list).
    pub const END: u8 = 0x01;
    /// Character entity; followed by an `mb_u_int32` code point.
    pub const ENTITY: u8 = 0x02;
    /// Inline string; followed by NUL-terminated bytes.
    pub const STR_I: u8 = 0x03;
    /// Literal tag without content or attributes; followed by a string-table index.
    pub const LITERAL: u8 = 0x04;
    /// Extension token with an inline string (`EXT_I_0`; `+1`, `+2` for 1 and 2).
    pub const EXT_I_0: u8 = 0x40;
    /// Processing instruction.
    pub const PI: u8 = 0x43;
    /// Literal tag with content.
    pub const LITERAL_C: u8 = 0x44;
    /// Extension token with an `mb_u_int32` (`EXT_T_0`; `+1`, `+2`).
    pub const EXT_T_0: u8 = 0x80;
    /// String-table reference; followed by an `mb_u_int32` offset.
    pub const STR_T: u8 = 0x83;
    /// Literal tag with attributes.
    pub const LITERAL_A: u8 = 0x84;
    /// Single-byte extension token (`EXT_0`; `+1`, `+2`).
    pub const EXT_0: u8 = 0xC0;
    /// Opaque data; followed by an `mb_u_int32` length and that many bytes.
    pub const OPAQUE: u8 = 0xC3;
    /// Literal tag with attributes and content.
    pub const LITERAL_AC: u8 = 0xC4;
    /// Bit set in a tag byte when the element has content.
    pub const CONTENT_BIT: u8 = 0x40;
    /// Bit set in a tag byte when the element has attributes.
    pub const ATTR_BIT: u8 = 0x80;
    /// Mask of the tag identity in a tag byte.
    pub const TAG_MASK: u8 = 0x3F;
}

/// WBXML versions (the first byte of a document).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// WBXML 1.0 (byte 0x00; its header has no charset field). Read only.
    V1_0,
    /// WBXML 1.1 (byte 0x01).
    V1_1,
    /// WBXML 1.2 (byte 0x02).
    V1_2,
    /// WBXML 1.3 (byte 0x03), what libwbxml writes by default.
    V1_3,
}

impl Version {
    /// The version byte.
    #[must_use]
    pub fn byte(self) -> u8 {
        match self {
            Version::V1_0 => 0x00,
            Version::V1_1 => 0x01,
            Version::V1_2 => 0x02,
            Version::V1_3 => 0x03,
        }
    }

    /// The version of a version byte, if it is one this crate reads.
    #[must_use]
    pub fn from_byte(b: u8) -> Option<Version> {
        match b {
            0x00 => Some(Version::V1_0),
            0x01 => Some(Version::V1_1),
            0x02 => Some(Version::V1_2),
            0x03 => Some(Version::V1_3),
            _ => None,
        }
    }
}

/// IANA MIBenum of UTF-8, the only document charset this crate writes.
pub const CHARSET_UTF8: u32 = 106;
/// IANA MIBenum of US-ASCII (a subset of UTF-8, accepted on input).
pub const CHARSET_US_ASCII: u32 = 3;
/// "Unknown" charset (0): accepted on input and read as UTF-8.
pub const CHARSET_UNKNOWN: u32 = 0;
/// Public identifier 1: "unknown or missing public identifier".
pub const PUBLIC_ID_UNKNOWN: u32 = 0x01;
