//! The error type of this crate.

use syncml::StatusCode;

/// Why a URI was refused (see [`crate::uri::Uri::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriErrorKind {
    /// The URI is the empty string.
    Empty,
    /// The URI ends with `/`.
    TrailingSlash,
    /// Two `/` in a row, or a `/` at the start.
    EmptySegment,
    /// A `.` or `..` segment other than the leading `.` of an absolute URI.
    DotSegment,
    /// A `%` not followed by two hexadecimal digits.
    BadEscape,
    /// An escaped segment that decodes to invalid UTF-8 or to a name containing `/`.
    BadSegment,
    /// More segments than `MaxDepth` allows.
    TooDeep {
        /// Segments in the URI.
        depth: usize,
        /// The limit.
        max: u16,
    },
    /// The path is longer than `MaxTotLen` allows.
    TooLong {
        /// Length of the path in bytes.
        len: usize,
        /// The limit.
        max: u16,
    },
    /// A segment is longer than `MaxSegLen` allows.
    SegmentTooLong {
        /// Length of the segment in bytes.
        len: usize,
        /// The limit.
        max: u16,
    },
    /// `?prop=` names a property this tree does not know.
    UnknownProperty(String),
    /// `?list=` names a listing this tree does not support.
    UnknownList(String),
    /// A query other than `prop=` and `list=`.
    UnknownQuery(String),
}

/// Why an ACL string was refused (see [`crate::acl::Acl::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AclErrorKind {
    /// An entry without `=`.
    MissingEquals,
    /// A command name other than Add, Delete, Exec, Get, Replace.
    UnknownCommand(String),
    /// An empty server identifier (e.g. `Get=` or `Get=a++b`).
    EmptyServerId,
    /// Whitespace or a reserved character inside a server identifier.
    BadServerId(String),
}

/// Why a snapshot could not be decoded (see [`crate::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotErrorKind {
    /// The magic bytes are wrong.
    BadMagic,
    /// The format version is not one this crate reads.
    UnsupportedVersion(u8),
    /// The input ends in the middle of a value.
    Truncated,
    /// An enum tag byte has no meaning.
    BadTag(u8),
    /// A string is not UTF-8.
    BadUtf8,
    /// A node name is empty, contains `/`, or is `.`/`..`.
    BadName,
    /// Two children of one node have the same name.
    DuplicateChild,
    /// A stored ACL does not parse.
    BadAcl,
    /// Nesting deeper than the decoder accepts.
    TooDeep,
    /// Bytes left after the tree.
    TrailingBytes,
}

/// Why a TNDS document could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TndsErrorKind {
    /// The XML is not well-formed.
    Xml(String),
    /// The root element is not `MgmtTree`.
    NotMgmtTree,
    /// A `Node` without `NodeName` (only the outermost node may omit it when it has a `Path`).
    MissingNodeName,
    /// A node name or path that is not a valid DM URI segment.
    BadName(String),
    /// An unknown `Format` element.
    BadFormat(String),
    /// An ACL that does not parse.
    BadAcl(String),
    /// A leaf node (`Value`) with children.
    LeafWithChildren,
    /// Nesting deeper than the decoder accepts.
    TooDeep,
}

/// Why a mount, or a local change near one, was refused (see [`crate::mount`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MountErrorKind {
    /// The root cannot be a mount point.
    Root,
    /// A provider already answers for this path (it is a mount point or lies below one).
    InsideMount,
    /// The node at the path is a leaf, or an ancestor is.
    Leaf,
    /// The node at the path has children in the tree.
    NotEmpty,
    /// The subtree holds a mount point (unmount it first).
    HoldsMount,
    /// No mount point at this path.
    NotMounted,
}

/// Everything that can go wrong in this crate.
///
/// Commands executed with [`crate::Tree::execute`] never return this: their failures are
/// status codes. This type serves the local API (building trees, MO helpers, snapshots).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A URI does not parse or exceeds the limits.
    #[error("invalid URI {uri:?}: {kind:?}")]
    Uri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        kind: UriErrorKind,
    },
    /// An ACL does not parse.
    #[error("invalid ACL {acl:?}: {kind:?}")]
    Acl {
        /// The ACL as given.
        acl: String,
        /// What is wrong with it.
        kind: AclErrorKind,
    },
    /// A `Format` name that DM does not define.
    #[error("unknown format {0:?}")]
    UnknownFormat(String),
    /// No node at this path.
    #[error("no node at {path}")]
    NotFound {
        /// The path.
        path: String,
    },
    /// A node already exists at this path.
    #[error("node {path} already exists")]
    AlreadyExists {
        /// The path.
        path: String,
    },
    /// The node (or an ancestor of the path) is a leaf where an interior node is needed.
    #[error("{path} is a leaf, not an interior node")]
    NotInterior {
        /// The path.
        path: String,
    },
    /// The node is interior where a leaf is needed.
    #[error("{path} is an interior node, not a leaf")]
    NotLeaf {
        /// The path.
        path: String,
    },
    /// The operation is not possible on the root or on a permanent node.
    #[error("{path} is the root or a permanent node")]
    Permanent {
        /// The path.
        path: String,
    },
    /// The tree holds as many nodes as it may.
    #[error("tree is full ({max} nodes)")]
    TreeFull {
        /// The node limit.
        max: usize,
    },
    /// A snapshot could not be decoded.
    #[error("malformed snapshot at byte {offset}: {kind:?}")]
    Snapshot {
        /// Byte offset where decoding stopped.
        offset: usize,
        /// What was wrong.
        kind: SnapshotErrorKind,
    },
    /// A TNDS document could not be used.
    #[error("invalid TNDS document: {kind:?}")]
    Tnds {
        /// What was wrong.
        kind: TndsErrorKind,
    },
    /// A mount could not be made, or a local change would cross a mount point.
    #[error("mount problem at {path}: {kind:?}")]
    Mount {
        /// The path.
        path: String,
        /// What was wrong.
        kind: MountErrorKind,
    },
    /// A DM account is incomplete or not found.
    #[error("DM account problem: {0}")]
    Account(&'static str),
}

impl Error {
    /// The SyncML status code that reports this error to a DM server.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Uri { kind, .. } => match kind {
                UriErrorKind::TooDeep { .. }
                | UriErrorKind::TooLong { .. }
                | UriErrorKind::SegmentTooLong { .. } => StatusCode::URI_TOO_LONG,
                UriErrorKind::UnknownProperty(_)
                | UriErrorKind::UnknownList(_)
                | UriErrorKind::UnknownQuery(_) => StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED,
                _ => StatusCode::BAD_REQUEST,
            },
            Error::Acl { .. } => StatusCode::BAD_REQUEST,
            Error::UnknownFormat(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::AlreadyExists { .. } => StatusCode::ALREADY_EXISTS,
            Error::NotInterior { .. }
            | Error::NotLeaf { .. }
            | Error::Permanent { .. }
            | Error::Mount { .. } => StatusCode::COMMAND_NOT_ALLOWED,
            Error::TreeFull { .. } => StatusCode::DEVICE_FULL,
            Error::Snapshot { .. } | Error::Account(_) => StatusCode::COMMAND_FAILED,
            Error::Tnds { .. } => StatusCode::BAD_REQUEST,
        }
    }
}
