//! The one error type of this crate.

/// Everything that can go wrong decoding, encoding or verifying SyncML data.
///
/// A peer's SyncML status code (4xx, 5xx) is data in the AST, never an `Error`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    // --- both codecs ---
    /// A bound of [`crate::Limits`] was exceeded (input size, depth, element count, the size of
    /// a text value or of the whole decoded output, string-table references, entities), by
    /// either codec. A server answers it with 413 (Payload Too Large), where every other decode
    /// error is a 400; [`Error::limit`] tells the two apart.
    #[error("{encoding} at byte {offset}: {limit} limit of {max} exceeded")]
    LimitExceeded {
        /// The encoding being decoded.
        encoding: crate::Encoding,
        /// Which bound.
        limit: crate::LimitKind,
        /// Byte offset in the message where it was exceeded (for the input size: the limit
        /// itself; inside a nested WBXML document: the offset of its `Data` element).
        offset: usize,
        /// The bound in force (for the output: this message's budget,
        /// [`crate::Limits::output_budget`]).
        max: usize,
    },
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
    /// A character outside XML 1.0's `Char` production: a C0 control other than tab, line feed
    /// and carriage return, U+FFFE or U+FFFF, raw or as a character reference (which may also
    /// name a surrogate or a value above U+10FFFF).
    #[error("XML at byte {offset}: character U+{code_point:04X} is not allowed in XML")]
    XmlInvalidChar {
        /// Byte offset of the character (or of the `&` of its reference).
        offset: usize,
        /// The code point (saturated at `u32::MAX` for an oversized reference).
        code_point: u32,
    },
    // --- WBXML codec (owned by wbxml.rs) ---
    /// The generic WBXML layer rejected the input (framing, header), with its offset. (Its
    /// [`wbxml::Error::LimitExceeded`] arrives as [`Error::LimitExceeded`].)
    #[error(transparent)]
    Wbxml(wbxml::Error),
    /// A WBXML token that the SyncML DTD does not allow where it was found.
    #[error("WBXML at byte {offset}: expected {expected}, found {found}")]
    WbxmlUnexpected {
        /// Byte offset of the token.
        offset: usize,
        /// What the decoder expected.
        expected: &'static str,
        /// What it found (element name, `text`, `opaque`, ...).
        found: String,
    },
    /// A required child element is missing.
    #[error("WBXML: <{parent}> at byte {offset} lacks <{element}>")]
    WbxmlMissingElement {
        /// Byte offset of the parent's start tag.
        offset: usize,
        /// The parent element.
        parent: &'static str,
        /// The missing child.
        element: &'static str,
    },
    /// Character data that is not UTF-8.
    #[error("WBXML at byte {offset}: text of <{element}> is not UTF-8")]
    WbxmlInvalidUtf8 {
        /// Byte offset of the element.
        offset: usize,
        /// The element.
        element: &'static str,
    },
    /// A status or alert code is not a number in 0..=65535.
    #[error("WBXML at byte {offset}: {element} must be a number, found {text:?}")]
    WbxmlInvalidNumber {
        /// Byte offset of the element.
        offset: usize,
        /// The element, e.g. `Status/Data`.
        element: &'static str,
        /// The text found.
        text: String,
    },
    /// A command this codec does not model (`Sync`, `Put`, `Map`, `Search`, ...).
    #[error("WBXML at byte {offset}: unknown command <{name}>")]
    WbxmlUnknownCommand {
        /// Byte offset of the command's start tag.
        offset: usize,
        /// Element name (from the SyncML code page, or `page:token` in hex).
        name: String,
        /// Its `CmdID`, if it had one.
        cmd_id: Option<String>,
    },
    /// The document's public identifier is not SyncML 1.1 / 1.2 (nor unknown with a SyncML root).
    #[error("WBXML: unsupported public identifier {public_id}")]
    WbxmlUnsupportedPublicId {
        /// The numeric id (hex) or the text found.
        public_id: String,
    },
    // --- auth (owned by auth.rs) ---
    /// A Base64 field (credential, nonce, MAC) is not valid Base64.
    #[error("{what}: invalid Base64 at byte {offset}")]
    AuthBase64 {
        /// Which field.
        what: &'static str,
        /// Byte offset of the first bad character in the text (its length if the text ends early).
        offset: usize,
    },
    /// A `Cred` has no `Meta/Type`, so its scheme is unknown.
    #[error("Cred has no Meta/Type")]
    AuthMissingType,
    /// A `Meta/Type` names an authentication scheme this crate does not implement.
    #[error("unsupported authentication scheme {meta_type:?}")]
    AuthUnsupportedScheme {
        /// The `Meta/Type` text received.
        meta_type: String,
    },
    /// `syncml:auth-basic` credentials cannot be built from the stored hash: they need the
    /// password itself.
    #[error("syncml:auth-basic needs the password, not its hash")]
    AuthNeedsPassword,
    /// A `Cred` declares a `Meta/Format` other than `b64`.
    #[error("unsupported Cred format {format:?} (only b64)")]
    AuthUnsupportedFormat {
        /// The `Meta/Format` text received.
        format: String,
    },
    /// A decoded `syncml:auth-basic` credential is not UTF-8 `user:password`.
    #[error("auth-basic credential is not `user:password` (at byte {offset})")]
    AuthBasicMalformed {
        /// Byte offset in the decoded credential where it went wrong.
        offset: usize,
    },
    /// An `x-syncml-hmac` header value does not parse.
    #[error("x-syncml-hmac header: {reason} at byte {offset}")]
    HmacHeaderMalformed {
        /// What is wrong.
        reason: &'static str,
        /// Byte offset in the header value.
        offset: usize,
    },
    // --- Package 0 (owned by notification.rs) ---
    /// A Package 0 message (or a WSP push PDU) ends before a mandatory field.
    #[error("{what}: input ends at byte {len}, {needed} bytes needed")]
    Pkg0Truncated {
        /// Which structure or field was being read.
        what: &'static str,
        /// Length of the input.
        len: usize,
        /// Bytes the field needs (from the start of the input).
        needed: usize,
    },
    /// The 10-bit version of a Package 0 trigger header is neither 11 nor 12.
    #[error("Package 0 version {version} not supported (byte offset 16; accepted: 11, 12)")]
    Pkg0Version {
        /// The version value found.
        version: u16,
    },
    /// The 27 future-use bits of a Package 0 trigger header are not zero.
    #[error("Package 0 future-use bits not zero (byte offset 16, bits 50..24 = {bits:#x})")]
    Pkg0FutureUse {
        /// The future-use field found.
        bits: u32,
    },
    /// The Package 0 server identifier is not UTF-8.
    #[error("Package 0 server identifier is not UTF-8 (byte offset {offset})")]
    Pkg0ServerIdUtf8 {
        /// Byte offset of the first invalid byte in the whole message.
        offset: usize,
    },
    /// A Package 0 field cannot be encoded (too long or out of range).
    #[error("Package 0 {field} cannot be encoded: {reason}")]
    Pkg0Unencodable {
        /// The field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A session id text is not 1 to 4 hexadecimal digits.
    #[error("session id {text:?} is not 1 to 4 hexadecimal digits")]
    SessionIdHex {
        /// The text received.
        text: String,
    },
    /// A WSP push PDU is malformed.
    #[error("WSP push: {reason} at byte {offset}")]
    WspMalformed {
        /// What is wrong.
        reason: &'static str,
        /// Byte offset in the PDU.
        offset: usize,
    },
}

impl From<wbxml::Error> for Error {
    /// [`wbxml::Error::LimitExceeded`] becomes [`Error::LimitExceeded`] (so that one variant
    /// stands for an exceeded limit in both codecs); every other error is [`Error::Wbxml`].
    fn from(e: wbxml::Error) -> Self {
        match e {
            wbxml::Error::LimitExceeded { limit, offset, max } => Error::LimitExceeded {
                encoding: crate::Encoding::Wbxml,
                limit,
                offset,
                max,
            },
            other => Error::Wbxml(other),
        }
    }
}

impl Error {
    /// The limit this error reports exceeded, if it is an [`Error::LimitExceeded`]: a server maps
    /// `Some` to HTTP 413 and any other decode error to 400.
    #[must_use]
    pub fn limit(&self) -> Option<crate::LimitKind> {
        match self {
            Error::LimitExceeded { limit, .. } => Some(*limit),
            _ => None,
        }
    }

    /// The byte offset in the input where decoding failed, for the errors of the two message
    /// codecs and of Package 0 / WSP decoding that carry one.
    #[must_use]
    pub fn offset(&self) -> Option<usize> {
        match self {
            Error::LimitExceeded { offset, .. }
            | Error::XmlMalformed { offset, .. }
            | Error::XmlUnexpected { offset, .. }
            | Error::XmlMissingElement { offset, .. }
            | Error::XmlInvalidNumber { offset, .. }
            | Error::XmlUnknownCommand { offset, .. }
            | Error::XmlUnsupportedVersion { offset, .. }
            | Error::XmlInvalidChar { offset, .. }
            | Error::WbxmlUnexpected { offset, .. }
            | Error::WbxmlMissingElement { offset, .. }
            | Error::WbxmlInvalidUtf8 { offset, .. }
            | Error::WbxmlInvalidNumber { offset, .. }
            | Error::WbxmlUnknownCommand { offset, .. }
            | Error::AuthBase64 { offset, .. }
            | Error::AuthBasicMalformed { offset, .. }
            | Error::HmacHeaderMalformed { offset, .. }
            | Error::Pkg0ServerIdUtf8 { offset, .. }
            | Error::WspMalformed { offset, .. } => Some(*offset),
            Error::Wbxml(e) => Some(e.offset()),
            Error::Pkg0Truncated { len, .. } => Some(*len),
            _ => None,
        }
    }
}

/// At most this many bytes of a peer's string go into an error (and so into a log line).
pub(crate) const EXCERPT_MAX: usize = 64;

/// `s`, cut to at most [`EXCERPT_MAX`] bytes (on a character boundary) with `…` appended when
/// cut: peer-supplied text in an error stays short whatever the peer sent.
pub(crate) fn excerpt(s: &str) -> String {
    if s.len() <= EXCERPT_MAX {
        return s.to_owned();
    }
    let mut end = EXCERPT_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = s.get(..end).unwrap_or_default().to_owned();
    out.push('…');
    out
}

/// [`excerpt`] of bytes read as UTF-8 (lossily).
pub(crate) fn excerpt_bytes(b: &[u8]) -> String {
    let cut = b.get(..EXCERPT_MAX + 4).unwrap_or(b);
    let s = String::from_utf8_lossy(cut);
    if cut.len() < b.len() {
        let mut e = excerpt(s.trim_end_matches('\u{FFFD}'));
        if !e.ends_with('…') {
            e.push('…');
        }
        e
    } else {
        excerpt(&s)
    }
}
