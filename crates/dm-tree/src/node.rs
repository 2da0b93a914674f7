//! Nodes and their run-time properties (digest §5.2).

use std::collections::BTreeMap;

use syncml::Data;

use crate::acl::Acl;
use crate::error::Error;

/// A point in time: whole seconds since the Unix epoch (UTC). The caller supplies it; this
/// crate never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The ISO 8601 basic UTC form DM uses for `TStamp`, e.g. `20010711T163817Z`.
    #[must_use]
    pub fn to_iso8601_basic(self) -> String {
        let secs = self.0;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

/// Converts days since 1970-01-01 into (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The `Format` of a node (digest §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// `b64`.
    B64,
    /// `bin`.
    Bin,
    /// `bool`.
    Bool,
    /// `chr` (the default for leaves).
    #[default]
    Chr,
    /// `int`.
    Int,
    /// `node` (interior nodes).
    Node,
    /// `null`.
    Null,
    /// `xml`.
    Xml,
    /// `date`.
    Date,
    /// `time`.
    Time,
    /// `float`.
    Float,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 11] = [
        Format::B64,
        Format::Bin,
        Format::Bool,
        Format::Chr,
        Format::Int,
        Format::Node,
        Format::Null,
        Format::Xml,
        Format::Date,
        Format::Time,
        Format::Float,
    ];

    /// The DM name (`chr`, `node`, ...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Format::B64 => "b64",
            Format::Bin => "bin",
            Format::Bool => "bool",
            Format::Chr => "chr",
            Format::Int => "int",
            Format::Node => "node",
            Format::Null => "null",
            Format::Xml => "xml",
            Format::Date => "date",
            Format::Time => "time",
            Format::Float => "float",
        }
    }

    /// Parses a DM format name.
    ///
    /// # Errors
    /// [`Error::UnknownFormat`] for a name DM does not define (status 415).
    pub fn parse(name: &str) -> Result<Format, Error> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| Error::UnknownFormat(name.to_owned()))
    }
}

/// The commands a node supports, like a DDF `AccessType` (checked before the ACL; a command
/// outside it gives 405). For [`AccessType::ADD`] the flag on an interior node means "children
/// may be added here".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccessType(pub u8);

impl AccessType {
    /// Add (on an interior node: children may be added).
    pub const ADD: AccessType = AccessType(1);
    /// Copy (the node may be the source of a Copy).
    pub const COPY: AccessType = AccessType(2);
    /// Delete.
    pub const DELETE: AccessType = AccessType(4);
    /// Exec.
    pub const EXEC: AccessType = AccessType(8);
    /// Get.
    pub const GET: AccessType = AccessType(16);
    /// Replace.
    pub const REPLACE: AccessType = AccessType(32);
    /// No command.
    pub const NONE: AccessType = AccessType(0);
    /// Every command.
    pub const ALL: AccessType = AccessType(63);
    /// What nodes created by a DM server get: everything but Exec.
    pub const DYNAMIC: AccessType = AccessType(1 | 2 | 4 | 16 | 32);

    /// True if every command in `other` is in `self`.
    #[must_use]
    pub fn contains(self, other: AccessType) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for AccessType {
    type Output = AccessType;
    fn bitor(self, rhs: AccessType) -> AccessType {
        AccessType(self.0 | rhs.0)
    }
}

/// Index of a node inside its [`crate::Tree`]. Only meaningful for the tree that issued it and
/// only until that node is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) usize);

/// Interior (with children) or leaf (with a value), or a mount point (an interior node whose
/// children a provider holds: [`crate::mount`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Interior(BTreeMap<String, NodeId>),
    Leaf(Data),
    /// Index into the tree's mount table.
    Mount(usize),
}

/// One node of the management tree with its properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub(crate) name: String,
    pub(crate) parent: Option<NodeId>,
    pub(crate) kind: NodeKind,
    pub(crate) permanent: bool,
    pub(crate) access: AccessType,
    pub(crate) acl: Acl,
    pub(crate) format: Format,
    pub(crate) mime: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) tstamp: Option<Timestamp>,
    pub(crate) verno: u16,
}

impl Node {
    /// The node name (`.` for the root).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True for a leaf.
    #[must_use]
    pub fn is_leaf(&self) -> bool {
        matches!(self.kind, NodeKind::Leaf(_))
    }

    /// The value of a leaf, `None` for an interior node.
    #[must_use]
    pub fn value(&self) -> Option<&Data> {
        match &self.kind {
            NodeKind::Leaf(d) => Some(d),
            NodeKind::Interior(_) | NodeKind::Mount(_) => None,
        }
    }

    /// The child names of an interior node in order (empty for a leaf, and for a mount point:
    /// its children live in the provider, see [`crate::mount`]).
    pub fn child_names(&self) -> impl Iterator<Item = &str> {
        let map = match &self.kind {
            NodeKind::Interior(c) => Some(c),
            NodeKind::Leaf(_) | NodeKind::Mount(_) => None,
        };
        map.into_iter().flat_map(|m| m.keys().map(String::as_str))
    }

    /// True for a mount point (an interior node whose children a provider holds).
    #[must_use]
    pub fn is_mount_point(&self) -> bool {
        matches!(self.kind, NodeKind::Mount(_))
    }

    /// Permanent nodes cannot be deleted or renamed by a server.
    #[must_use]
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// The commands this node supports.
    #[must_use]
    pub fn access(&self) -> AccessType {
        self.access
    }

    /// The node's own ACL (may be empty: then it inherits).
    #[must_use]
    pub fn acl(&self) -> &Acl {
        &self.acl
    }

    /// `Format` (`node` for interior nodes).
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// `Type`: a MIME type for leaves, an MO identifier for MO roots.
    #[must_use]
    pub fn mime_type(&self) -> Option<&str> {
        self.mime.as_deref()
    }

    /// `Title`.
    #[must_use]
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// `TStamp`: the last change.
    #[must_use]
    pub fn tstamp(&self) -> Option<Timestamp> {
        self.tstamp
    }

    /// `VerNo`: incremented (wrapping at 65535) on every change.
    #[must_use]
    pub fn verno(&self) -> u16 {
        self.verno
    }

    /// `Size`: bytes of a leaf value (`None` for interior nodes).
    #[must_use]
    pub fn size(&self) -> Option<usize> {
        self.value().map(Data::len)
    }

    pub(crate) fn touch(&mut self, now: Timestamp) {
        self.tstamp = Some(now);
        self.verno = self.verno.wrapping_add(1);
    }
}

/// How to create a node with the local API ([`crate::Tree::insert`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNode {
    /// `None` for an interior node, `Some(value)` for a leaf.
    pub value: Option<Data>,
    /// Leaf format (ignored for interior nodes, which are always `node`).
    pub format: Format,
    /// `Type` property.
    pub mime_type: Option<String>,
    /// ACL (empty: inherit).
    pub acl: Acl,
    /// Supported commands.
    pub access: AccessType,
    /// Permanent (cannot be deleted/renamed by servers).
    pub permanent: bool,
    /// `Title` property.
    pub title: Option<String>,
}

impl NewNode {
    /// A dynamic interior node with empty ACL and [`AccessType::DYNAMIC`].
    #[must_use]
    pub fn interior() -> NewNode {
        NewNode {
            value: None,
            format: Format::Node,
            mime_type: None,
            acl: Acl::empty(),
            access: AccessType::DYNAMIC,
            permanent: false,
            title: None,
        }
    }

    /// A dynamic `chr` leaf with empty ACL and [`AccessType::DYNAMIC`].
    #[must_use]
    pub fn leaf(value: impl Into<Data>) -> NewNode {
        NewNode {
            value: Some(value.into()),
            format: Format::Chr,
            ..NewNode::interior()
        }
    }

    /// Sets the format.
    #[must_use]
    pub fn format(mut self, format: Format) -> NewNode {
        self.format = format;
        self
    }

    /// Sets the `Type`.
    #[must_use]
    pub fn mime_type(mut self, t: impl Into<String>) -> NewNode {
        self.mime_type = Some(t.into());
        self
    }

    /// Sets the ACL.
    #[must_use]
    pub fn acl(mut self, acl: Acl) -> NewNode {
        self.acl = acl;
        self
    }

    /// Sets the supported commands.
    #[must_use]
    pub fn access(mut self, access: AccessType) -> NewNode {
        self.access = access;
        self
    }

    /// Makes the node permanent.
    #[must_use]
    pub fn permanent(mut self) -> NewNode {
        self.permanent = true;
        self
    }

    /// Sets the `Title`.
    #[must_use]
    pub fn title(mut self, t: impl Into<String>) -> NewNode {
        self.title = Some(t.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tstamp_format() {
        assert_eq!(Timestamp(0).to_iso8601_basic(), "19700101T000000Z");
        assert_eq!(
            Timestamp(994_869_497).to_iso8601_basic(),
            "20010711T163817Z"
        );
        assert_eq!(
            Timestamp(951_782_400).to_iso8601_basic(),
            "20000229T000000Z"
        );
    }

    #[test]
    fn formats() {
        for f in Format::ALL {
            assert_eq!(Format::parse(f.name()).unwrap(), f);
        }
        assert_eq!(Format::parse("text").unwrap_err().status().0, 415);
    }
}
