//! The one error type of this crate.

/// Peer-supplied text kept in an error: at most this many characters.
const PEER_TEXT_MAX: usize = 64;

/// `s` cut to [`PEER_TEXT_MAX`] characters (an ellipsis marks the cut), so that an error
/// holding peer input stays small in logs.
pub(crate) fn peer_text(s: &str) -> String {
    match s.char_indices().nth(PEER_TEXT_MAX) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}…", s.get(..at).unwrap_or_default()),
    }
}

/// Everything that can go wrong in this crate.
///
/// A device answering a command with a SyncML 4xx/5xx status is data (see [`crate::fanout`]),
/// never an `Error`. Text from peers is cut to 64 characters.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    // --- layout ---
    /// Building a GwMO subtree failed in the management tree.
    #[error("management tree: {0}")]
    Tree(#[from] dm_tree::Error),
    /// GwMO roots need at least one DM server in their ACL (an empty ACL would inherit).
    #[error("a GwMO ACL needs at least one DM server id")]
    NoServers,
    /// A node name holds a `%` that does not start `%25` or `%2F`.
    #[error("node name {name:?}: bad escape at byte {offset}")]
    NodeNameEscape {
        /// The node name (cut).
        name: String,
        /// Byte offset of the `%`.
        offset: usize,
    },

    // --- inventory ---
    /// A device id the inventory cannot hold (empty, `.`/`..`, too long, control characters).
    #[error("invalid device id {id:?}: {reason}")]
    InvalidDeviceId {
        /// The id (cut).
        id: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// No device with this id is registered.
    #[error("unknown device {id:?}")]
    UnknownDevice {
        /// The id (cut).
        id: String,
    },
    /// The inventory holds its configured maximum of devices.
    #[error("inventory full ({max} devices)")]
    InventoryFull {
        /// The configured maximum.
        max: usize,
    },

    // --- text values (modes, kinds, protocols, alert types) ---
    /// A value is not one of the names this field takes.
    #[error("invalid {what}: {found:?}")]
    InvalidValue {
        /// Which field (`mode`, `kind`, `protocol`, `alert type`, `Order`, ...).
        what: &'static str,
        /// The text found (cut).
        found: String,
    },

    // --- form-urlencoded payloads ---
    /// A form payload is longer than `Limits::max_size`.
    #[error("form of {len} bytes exceeds max_size {max}")]
    FormTooLarge {
        /// Its length.
        len: usize,
        /// The bound in force.
        max: usize,
    },
    /// A form payload has more fields than `Limits::max_elements`.
    #[error("form at byte {offset}: more than {max} fields")]
    FormTooManyFields {
        /// Byte offset of the first field beyond the bound.
        offset: usize,
        /// The bound in force.
        max: usize,
    },
    /// A field that may appear once appears again.
    #[error("form at byte {offset}: field {key} repeated")]
    FormDuplicateKey {
        /// The field.
        key: &'static str,
        /// Byte offset of the repetition.
        offset: usize,
    },
    /// A required field is absent.
    #[error("form lacks field {key}")]
    FormMissingKey {
        /// The field.
        key: &'static str,
    },
    /// A field this form does not know (only where unknown fields are not ignored).
    #[error("form at byte {offset}: unknown field {key:?}")]
    FormUnknownKey {
        /// The field name (cut).
        key: String,
        /// Byte offset of the field.
        offset: usize,
    },
    /// A field's value is not valid for it.
    #[error("form at byte {offset}: field {key}: {reason}")]
    FormInvalidValue {
        /// The field.
        key: &'static str,
        /// Byte offset of the field.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A field's percent-encoding does not decode to UTF-8.
    #[error("form at byte {offset}: not UTF-8 after percent-decoding")]
    FormInvalidUtf8 {
        /// Byte offset of the field.
        offset: usize,
    },

    // --- SyncML fragments and Generic Alerts ---
    /// A command or response fragment does not decode (the XML codec's error, offsets into
    /// the fragment).
    #[error("fragment: {0}")]
    Fragment(#[source] syncml::Error),
    /// An Alert that is not a Generic Alert (1226) was given to a GwMO alert reader.
    #[error("alert code {code} is not a Generic Alert (1226)")]
    NotGenericAlert {
        /// The code found.
        code: u16,
    },
    /// An item of a GwMO alert or Exec status lacks what its type needs.
    #[error("item {index}: {reason}")]
    AlertItem {
        /// Index of the item in its command.
        index: usize,
        /// What is missing or wrong.
        reason: &'static str,
    },
    /// The item's payload does not decode.
    #[error("item {index}: {source}")]
    AlertPayload {
        /// Index of the item in its command.
        index: usize,
        /// Why.
        #[source]
        source: Box<Error>,
    },

    // --- groups ---
    /// A group bound is reached: `groups` (the gateway holds its maximum) or `members` (a
    /// `Members` value too long or with too many ids).
    #[error("more than {max} {what}")]
    GroupBound {
        /// `groups` or `members`.
        what: &'static str,
        /// The bound in force.
        max: usize,
    },
    /// A group with this name exists.
    #[error("group {name:?} exists")]
    GroupExists {
        /// The name (cut).
        name: String,
    },
    /// No group with this name.
    #[error("unknown group {name:?}")]
    UnknownGroup {
        /// The name (cut).
        name: String,
    },

    // --- fanout ---
    /// A fanout operation's configuration cannot run (a zero window, a zero deadline, ...).
    #[error("fanout configuration: {reason}")]
    FanoutConfig {
        /// What is wrong.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_text_is_cut_on_a_character_boundary() {
        assert_eq!(peer_text("abc"), "abc");
        let long = "é".repeat(100);
        let cut = peer_text(&long);
        assert_eq!(cut.chars().count(), PEER_TEXT_MAX + 1);
        assert!(cut.ends_with('…'));
    }
}
