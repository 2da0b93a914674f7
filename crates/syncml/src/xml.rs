//! The XML codec of SyncML DM messages (`application/vnd.syncml.dm+xml`).
//!
//! In: the bytes of one XML message and the [`Limits`] to enforce. Out: the typed [`SyncMl`] AST;
//! and back: compact UTF-8 XML bytes from an AST.
//!
//! # Decoding
//! [`decode`] is a recursive-descent decoder over a small hand-written pull reader (borrowed
//! tokens over the input slice: no serde, no DOM, no allocation but the AST's own strings). It
//! accepts an optional XML declaration, DOCTYPE (internal subset skipped), comments and
//! processing instructions, whitespace between elements, the five predefined entities and
//! numeric character references, CDATA sections and empty elements. Markup syntax is checked
//! (names, quoted attribute values, matching end tags); DTDs are not read, so no other entity
//! is known.
//!
//! Every character of the document, raw or as a character reference, must match XML 1.0's
//! `Char` production (one exception: trailing NULs, below): C0 controls other than tab, line feed and carriage return, U+FFFE and
//! U+FFFF (and references to surrogates or beyond U+10FFFF) are an [`Error::XmlInvalidChar`]
//! with their byte offset. Line ends are not normalised: a `\r` in text is kept. Elements are matched on their **local names**, so
//! namespace prefixes (`<m:Type xmlns:m="syncml:metinf">`) are accepted anywhere. The version
//! comes from the namespace of the `SyncML` element (`SYNCML:SYNCML1.1` or `SYNCML:SYNCML1.2`,
//! compared case-insensitively) or, when there is none, from `VerDTD`.
//!
//! Input must be UTF-8 (the encoding every DM peer uses; a declaration naming another encoding is
//! not transcoded, and non-UTF-8 bytes are an [`Error::XmlMalformed`]).
//!
//! Compatibility choices:
//! - **Unknown elements inside a known element are skipped** (forward compatibility: `Anchor`
//!   or `Mem` in `Meta`, `SourceParent` in `Item`, `Lang` in `Get`, vendor extensions...). Their
//!   content still counts towards the depth and element limits.
//! - **Unknown commands** in `SyncBody`, `Atomic` or `Sequence` (`Sync`, `Put`, `Map`, ...) are an
//!   [`Error::XmlUnknownCommand`] carrying the element name and its `CmdID`, so a server can
//!   answer it.
//! - Children are accepted in any order; a repeated single-valued child keeps the last value.
//! - A `MetInf` wrapper inside `Meta` (seen in old SyncML 1.0 stacks) is looked through.
//! - `Status/MsgRef` may be absent (it is optional in the DTD); it then decodes as `""`.
//! - Text of string elements is kept exactly (entities resolved, no trimming); status and alert
//!   codes are trimmed before being parsed as numbers.
//!
//! `Data` of an `Item` keeps the form it arrived in: character data becomes [`Data::Text`], a
//! content made only of CDATA sections (and whitespace) becomes [`Data::CData`] (adjacent
//! sections are joined, so a `]]>` split over two sections comes back whole), and content with
//! child elements (a TNDS `MgmtTree`, a GwMO payload) becomes [`Data::Xml`] holding the exact
//! source text between `<Data>` and `</Data>`, with leading and trailing whitespace trimmed.
//!
//! Limits ([`Limits`], shared with the WBXML codec): `max_size` is checked against the input
//! length first; `max_depth` bounds element nesting; `max_elements` bounds the number of start
//! or empty tags; `max_entities` the entity and character references resolved; `max_text` each
//! decoded value (an element's text, a `Data` in any form) and the output budget all of them
//! together. No XML construct expands (a reference is longer than its character, `Data::Xml` is
//! a slice of the input), so **the decoded output is at most the size of the input** and the
//! output limits only bite when set below it. Whatever the limits say, `Atomic` / `Sequence`
//! nest at most [`HARD_MAX_NESTING`] levels, because containers are decoded recursively
//! (everything else, skipped content and `Data` included, is read iteratively). Every failure is
//! a typed [`Error`] with a byte offset (an exceeded limit is [`Error::LimitExceeded`]); no
//! input makes the decoder panic or exhaust the stack, and the work is linear in the input.
//!
//! **NUL bytes** (libdmclient's quirk): the C DM client libdmclient ends some text values with
//! the raw NUL of its C strings (`<Data>leaf\0</Data>`). A run of NUL bytes right before an end
//! tag (at the end of an element's character data) is dropped: the value reads `leaf`. A NUL
//! anywhere else (inside a value, before a start tag, in an attribute, a CDATA section, a
//! comment) stays an [`Error::XmlInvalidChar`] with its byte offset, as XML 1.0 requires. Its
//! `Display` says what and where (`XML at byte 12: character U+0000 is not allowed in XML`).
//!
//! # Encoding
//! [`encode`] writes compact XML with no declaration and no indentation (use
//! [`encode_pretty`] for people): `<SyncML xmlns="SYNCML:SYNCML1.2">` (per [`crate::Version`]),
//! every MetInf element carrying `xmlns="syncml:metinf"` (as libwbxml's `wbxml2xml` does), and
//! children in SyncML / MetInf DTD order. `&`, `<`, `>` are escaped, and `\r` is written as
//! `&#13;` so that it survives XML line-end normalisation. Characters XML cannot carry (see
//! above; the decoder never produces them, but an AST built by hand or from WBXML may hold them)
//! are written as U+FFFD, so the output of the encoder always decodes, and any AST the decoder
//! produced comes back unchanged. `Data::Xml` is written verbatim; `Data::CData` as a CDATA
//! section (a `]]>` inside is split over two sections; a `Data::CData` holding non-XML characters
//! is written as escaped text); [`Data::Opaque`] as a CDATA section when the bytes are UTF-8
//! without control characters other than tab and line feed and without U+FFFE / U+FFFF, else as
//! standard Base64 text (so it decodes back as `Data::CData` or `Data::Text` respectively). A
//! `Meta` that [`Meta::is_empty`] is omitted.
//!
//! [`Meta::is_empty`]: crate::Meta::is_empty
//! [`Data::Text`]: crate::Data::Text
//! [`Data::CData`]: crate::Data::CData
//! [`Data::Xml`]: crate::Data::Xml
//! [`Data::Opaque`]: crate::Data::Opaque

mod decode;
mod encode;
mod fragment;
mod reader;
mod tag;

pub use decode::decode;
pub use encode::{encode, encode_into, encode_pretty};
pub use fragment::{FragmentKind, decode_fragment, encode_fragment};

#[cfg(doc)]
use crate::{Error, HARD_MAX_NESTING, Limits, SyncMl};

#[cfg(test)]
mod tests;
