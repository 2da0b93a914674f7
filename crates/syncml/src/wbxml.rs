//! The WBXML codec of SyncML DM messages (on the generic [`wbxml`](::wbxml) crate).
//!
//! In: WBXML bytes (any WBXML 1.0–1.3, public id 0x1201 SyncML 1.2, 0x0FD3 SyncML 1.1, their
//! textual forms, or "unknown" with the version taken from `VerDTD`; UTF-8). Out: the
//! [`SyncMl`] AST; and back: WBXML 1.3 with the public id of `msg.version`, a string table
//! when it saves bytes, and code pages switched lazily, as libwbxml writes them.
//!
//! Code pages: SyncML 1.2 (page 0), MetInf 1.2 (page 1), DM DDF 1.2 (page 2), in [`tokens`].
//!
//! `Data` content:
//! - [`Data::Text`] <-> `STR_I` / `STR_T` (a text with a NUL byte is written as `OPAQUE`).
//! - [`Data::Opaque`] <-> `OPAQUE`; [`Data::CData`] -> `OPAQUE` (WBXML has no CDATA).
//! - [`Data::Xml`] whose root is a TNDS `MgmtTree` (`syncml:dmddf1.2`) -> a nested DM DDF 1.2
//!   WBXML document inside `OPAQUE`, byte for byte the way libwbxml writes it; on input an
//!   `OPAQUE` holding such a document is decoded back to XML text (compact, `xmlns` on the root).
//! - Other [`Data::Xml`] -> `OPAQUE` holding the exact XML text. libwbxml would write unknown
//!   XML as `LITERAL` tags and silently drop its attributes and namespace declarations; the text
//!   in `OPAQUE` keeps everything and `wbxml2xml` shows it as CDATA. On input, `LITERAL` or
//!   token elements inside `Data` (libwbxml's form) are rebuilt as [`Data::Xml`] text.
//!
//! Limits: the generic reader counts every string it hands out (a `STR_T` reference costs the
//! length of its string) against the output budget and `max_text`, and string-table references,
//! entities and elements against their counts; the XML text this decoder writes for embedded
//! elements (inline, or a nested DDF document) counts too. A nested document is read on the
//! outer message's budget and from the depth of its `Data` (an exceeded limit there is reported
//! at the offset of that `Data`). See [`Limits`] for the guarantee.
//!
//! `Meta/Type`: like libwbxml, `application/vnd.syncml.dmtnds+xml` and
//! `application/vnd.syncml-devinf+xml` are written as `...+wbxml` (the data travels as WBXML)
//! and read back as `...+xml`, since the AST holds the XML form.

mod ddf;
mod decode;
mod encode;
pub mod tokens;

use crate::{Error, Limits, SyncMl};

const TNDS_XML: &str = "application/vnd.syncml.dmtnds+xml";
const TNDS_WBXML: &str = "application/vnd.syncml.dmtnds+wbxml";
const DEVINF_XML: &str = "application/vnd.syncml-devinf+xml";
const DEVINF_WBXML: &str = "application/vnd.syncml-devinf+wbxml";

/// `Meta/Type` as written in WBXML.
fn type_to_wire(t: &str) -> &str {
    match t {
        TNDS_XML => TNDS_WBXML,
        DEVINF_XML => DEVINF_WBXML,
        other => other,
    }
}

/// `Meta/Type` as held in the AST.
fn type_from_wire(t: String) -> String {
    match t.as_str() {
        TNDS_WBXML => TNDS_XML.to_owned(),
        DEVINF_WBXML => DEVINF_XML.to_owned(),
        _ => t,
    }
}

/// Decodes one message.
///
/// # Errors
/// [`Error::LimitExceeded`] for an exceeded [`Limits`] bound (with the byte offset);
/// [`Error::Wbxml`] for framing errors (with byte offsets); `Error::Wbxml*` variants for SyncML
/// structure errors, unknown commands, non-UTF-8 text, non-numeric codes, an unsupported public
/// id.
pub fn decode(input: &[u8], limits: &Limits) -> Result<SyncMl, Error> {
    decode::decode(input, limits)
}

/// Encodes one message.
#[must_use]
pub fn encode(msg: &SyncMl) -> Vec<u8> {
    let mut out = Vec::new();
    encode::encode_into(msg, &mut out);
    out
}

/// Appends the WBXML encoding of `msg` to `out` (clear it first to reuse a buffer).
pub fn encode_into(msg: &SyncMl, out: &mut Vec<u8>) {
    encode::encode_into(msg, out);
}

#[cfg(test)]
mod tests;
