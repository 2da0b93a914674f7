//! SyncML DM 1.2 messages.
//!
//! In: the bytes of a DM message (XML or WBXML), a Package 0 notification, credentials.
//! Out: the typed [`SyncMl`] AST, encoded bytes in either encoding, auth digests and verdicts.
//!
//! - [`ast`]: one typed AST of SyncML DM 1.2 messages (VerDTD 1.1 accepted on input).
//! - [`xml`]: the XML codec (a hand-written pull reader; checks XML 1.0 characters and markup).
//! - [`wbxml`]: the WBXML codec (on the generic `wbxml` crate; SyncML/MetInf/DDF code pages here).
//! - [`auth`]: `syncml:auth-basic`, `syncml:auth-md5`, the `x-syncml-hmac` header.
//! - [`notification`]: Package 0 (`application/vnd.syncml.notification`).
//!
//! Nothing here does I/O, reads a clock or draws random numbers.
//!
//! # Bounded work
//!
//! Both codecs decode under one [`Limits`] (the type of the `wbxml` crate, re-exported here):
//! input size, nesting depth, element count, the size of each text value and of the whole
//! decoded output, and the counts of string-table references and entities; a nested DDF (TNDS)
//! document inside a WBXML `Data` counts against the same budget and depth as the message
//! holding it. The work is linear in the input and **the decoded output is at most
//! [`Limits::output_budget`] of the input: 32 times its size and 16 MiB with the defaults**
//! (XML: at most the input itself; no XML construct expands). Exceeding a limit is
//! [`Error::LimitExceeded`] with the limit ([`LimitKind`]) and the byte offset, never a panic or
//! an abort: a server answers it with HTTP 413 and any other decode error with 400
//! ([`Error::limit`], [`Error::offset`] for the log line).
//!
//! # NUL bytes at the end of XML text
//!
//! The C DM client libdmclient ends some values with the NUL of its C strings
//! (`<Data>leaf\0</Data>`). The XML decoder drops a run of NUL bytes right before an end tag, so
//! that value reads `leaf`; a NUL anywhere else is an [`Error::XmlInvalidChar`] with its offset
//! (see [`xml`]).

pub mod ast;
pub mod auth;
mod error;
mod limits;
pub mod notification;
pub mod wbxml;
pub mod xml;

pub use ast::*;
pub use error::Error;
pub use limits::{HARD_MAX_NESTING, LimitKind, Limits};

/// MIME type of XML-encoded DM messages.
pub const CONTENT_TYPE_XML: &str = "application/vnd.syncml.dm+xml";
/// MIME type of WBXML-encoded DM messages.
pub const CONTENT_TYPE_WBXML: &str = "application/vnd.syncml.dm+wbxml";
/// MIME type of a DM 1.2 Package 0 notification.
pub const CONTENT_TYPE_NOTIFICATION: &str = "application/vnd.syncml.notification";

/// The two encodings of a SyncML DM message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// XML (`application/vnd.syncml.dm+xml`).
    Xml,
    /// WBXML (`application/vnd.syncml.dm+wbxml`).
    Wbxml,
}

impl std::fmt::Display for Encoding {
    /// `XML` or `WBXML`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Encoding::Xml => "XML",
            Encoding::Wbxml => "WBXML",
        })
    }
}

impl Encoding {
    /// Guesses the encoding from the first bytes: WBXML starts with a version byte 0x01..=0x03,
    /// anything else is taken as XML.
    #[must_use]
    pub fn detect(input: &[u8]) -> Encoding {
        match input.first() {
            Some(0x00..=0x03) => Encoding::Wbxml,
            _ => Encoding::Xml,
        }
    }

    /// The encoding named by an HTTP `Content-Type` value, if it is a DM message type:
    /// `application/vnd.syncml.dm+xml` / `+wbxml`, or the legacy SyncML family
    /// `application/vnd.syncml+xml` / `+wbxml` that older DM clients send (libdmclient among
    /// them), in any letter case and with any parameters (`; charset=UTF-8`).
    #[must_use]
    pub fn from_content_type(value: &str) -> Option<Encoding> {
        let mime = value.split(';').next().unwrap_or("").trim();
        let is = |t: &str| mime.eq_ignore_ascii_case(t);
        if is(CONTENT_TYPE_XML) || is("application/vnd.syncml+xml") {
            Some(Encoding::Xml)
        } else if is(CONTENT_TYPE_WBXML) || is("application/vnd.syncml+wbxml") {
            Some(Encoding::Wbxml)
        } else {
            None
        }
    }

    /// The MIME type of this encoding.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Xml => CONTENT_TYPE_XML,
            Encoding::Wbxml => CONTENT_TYPE_WBXML,
        }
    }

    /// Decodes a message in this encoding.
    ///
    /// # Errors
    /// Whatever the codec reports for malformed input or exceeded [`Limits`].
    pub fn decode(self, input: &[u8], limits: &Limits) -> Result<SyncMl, Error> {
        match self {
            Encoding::Xml => xml::decode(input, limits),
            Encoding::Wbxml => wbxml::decode(input, limits),
        }
    }

    /// Encodes a message in this encoding.
    #[must_use]
    pub fn encode(self, msg: &SyncMl) -> Vec<u8> {
        match self {
            Encoding::Xml => xml::encode(msg),
            Encoding::Wbxml => wbxml::encode(msg),
        }
    }
}
