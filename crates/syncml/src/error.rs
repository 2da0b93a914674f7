//! The one error type of this crate.

/// Everything that can go wrong decoding, encoding or verifying SyncML data.
///
/// A peer's SyncML status code (4xx, 5xx) is data in the AST, never an `Error`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    // --- XML codec (owned by xml.rs) ---
    /// The XML is not well-formed (syntax error, bad entity, invalid UTF-8, mismatched end tag).
    #[error("malformed XML at byte {offset}: {reason}")]
    XmlMalformed {
        /// Byte offset in the input.
        offset: usize,
        /// What the XML parser reported.
        reason: String,
    },
    /// Something other than what the SyncML DTD allows arrived (wrong root, text where elements
    /// belong, an element inside a text element, end of input inside an element).
    #[error("XML at byte {offset}: expected {expected}, found {found}")]
    XmlUnexpected {
        /// Byte offset in the input.
        offset: usize,
        /// What the decoder expected.
        expected: &'static str,
        /// What it found (element name, `text`, `end of input`).
        found: String,
    },
    /// A required child element is missing.
    #[error("XML: <{parent}> at byte {offset} lacks <{element}>")]
    XmlMissingElement {
        /// Byte offset of the parent's start tag.
        offset: usize,
        /// The parent element.
        parent: &'static str,
        /// The missing child.
        element: &'static str,
    },
    /// A status or alert code (`Data` of `Status` / `Alert`) is not a number in 0..=65535.
    #[error("XML at byte {offset}: {element} must be a number, found {text:?}")]
    XmlInvalidNumber {
        /// Byte offset of the element.
        offset: usize,
        /// The element, e.g. `Status/Data`.
        element: &'static str,
        /// The text found.
        text: String,
    },
    /// A command this codec does not model (e.g. `Sync`, `Put`, `Map`, `Search`) in `SyncBody`,
    /// `Atomic` or `Sequence`. The name and `CmdID` let a server answer it.
    #[error("XML at byte {offset}: unknown command <{name}>")]
    XmlUnknownCommand {
        /// Byte offset of the command's start tag.
        offset: usize,
        /// Element name as it arrived (prefix included).
        name: String,
        /// Its `CmdID`, if it had one.
        cmd_id: Option<String>,
    },
    /// The SyncML namespace (or, without one, `VerDTD`) names a version other than 1.1 or 1.2.
    #[error("XML at byte {offset}: unsupported SyncML version {found:?}")]
    XmlUnsupportedVersion {
        /// Byte offset of the `SyncML` start tag or of `VerDTD`.
        offset: usize,
        /// The namespace or `VerDTD` text found.
        found: String,
    },
    /// A [`crate::Limits`] bound was exceeded.
    #[error("XML at byte {offset}: {limit} limit of {max} exceeded")]
    XmlLimit {
        /// Byte offset where the limit was hit.
        offset: usize,
        /// Which limit: `max_size`, `max_depth` or `max_elements`.
        limit: &'static str,
        /// The bound in force.
        max: usize,
    },
    // --- WBXML codec (owned by wbxml.rs) ---
    // --- auth (owned by auth.rs) ---
    // --- Package 0 (owned by notification.rs) ---
}
