//! Mounted subtrees: nodes whose data lives outside the tree's own arena.
//!
//! In: a provider attached at an interior URI with [`Tree::mount`]. Out: every command
//! [`Tree::execute`] runs on a node below that URI (the *mount point*) is delegated to the
//! provider with the path relative to the mount point; the provider answers with node data or a
//! status code (a 4xx from a provider is data, not an error), at once or later.
//!
//! Two kinds of provider ([`Mount`]):
//!
//! - [`NodeProvider`]: knows its nodes (a store, an inventory, an adapter's cached device
//!   state). The tree asks it node by node ([`NodeProvider::node`], [`NodeProvider::children`])
//!   and applies DM semantics itself, exactly as for its own nodes: existence (404/418),
//!   AccessType from the provider's node data ([`MountNode::node`]`.access`: 405), ACL (425),
//!   `?prop=`, `?list=` listings, TNDS, implicit parents, Copy across the mount boundary. Only
//!   the changes go to the provider ([`NodeProvider::add`], [`NodeProvider::replace`],
//!   [`NodeProvider::delete`], [`NodeProvider::exec`]), after the checks passed.
//! - [`CommandProvider`]: another party holds the nodes and runs DM commands itself (the tree of
//!   a device behind a gateway in Proxy mode). The tree checks the server's ACL right on the
//!   mount point, then hands over the whole item ([`Forwarded`]) with URIs rewritten into the
//!   provider's namespace (the mount point becomes `.`); the provider answers with the Status
//!   code, Status items and Results items ([`ItemOutcome`]), whose `Source` URIs the tree maps
//!   back below the mount point.
//!
//! ```
//! use dm_tree::{AccessType, ExecContext, Mount, MountNode, NewNode, NodeProvider, Timestamp};
//! use dm_tree::Tree;
//! use syncml::{Command, Item, ItemCmd, Location, StatusCode};
//!
//! /// A read-only summary: `<mount point>/Count`.
//! struct Summary(usize);
//!
//! impl NodeProvider for Summary {
//!     fn node(&self, path: &[String]) -> Result<Option<MountNode>, StatusCode> {
//!         Ok(match path {
//!             [leaf] if leaf == "Count" => Some(MountNode::from(
//!                 NewNode::leaf(self.0.to_string()).access(AccessType::GET),
//!             )),
//!             _ => None,
//!         })
//!     }
//!     fn children(&self, path: &[String]) -> Result<Vec<String>, StatusCode> {
//!         Ok(if path.is_empty() { vec!["Count".into()] } else { Vec::new() })
//!     }
//! }
//!
//! let mut tree = Tree::new();
//! tree.mount("./GwMO/Summary", Mount::nodes(Summary(10_000)), Timestamp(0))?;
//! let get = |target: &str| Command::Get(ItemCmd {
//!     cmd_id: "2".into(),
//!     items: vec![Item { target: Some(Location::uri(target)), ..Item::default() }],
//!     ..ItemCmd::default()
//! });
//! let ctx = ExecContext { server_id: "srv1", msg_id: "1", now: Timestamp(1) };
//! let replies = tree.execute(&ctx, &get("./GwMO/Summary/Count"));
//! let Some(Command::Results(r)) = replies.get(1) else { unreachable!() };
//! assert_eq!(r.items[0].data.as_ref().and_then(|d| d.as_str()), Some("10000"));
//! // The leaf supports Get only: 405 before the provider is asked.
//! let replace = Command::Replace(ItemCmd {
//!     cmd_id: "3".into(),
//!     items: vec![Item {
//!         target: Some(Location::uri("./GwMO/Summary/Count")),
//!         ..Item::default()
//!     }],
//!     ..ItemCmd::default()
//! });
//! let replies = tree.execute(&ctx, &replace);
//! let Some(Command::Status(s)) = replies.first() else { unreachable!() };
//! assert_eq!(s.code, StatusCode::COMMAND_NOT_ALLOWED);
//! # Ok::<(), dm_tree::Error>(())
//! ```
//!
//! # The mount point
//!
//! The mount point itself is a node of the tree (interior, permanent): its ACL, AccessType,
//! `Type` (e.g. an MO identifier), `Title`, `TStamp` and `VerNo` are the tree's and are set with
//! the local API ([`Tree::set_acl`], ...) or `?prop=` commands; its children are the provider's.
//! A Get of the mount point lists the provider's children (for a [`CommandProvider`]: the
//! provider answers `Get .`). Its `TStamp`/`VerNo` change when the tree sees a child directly
//! below it created, removed or renamed at once; everything below the mount point is the
//! provider's to stamp (a provider that wants to look like the tree's own nodes stamps a node
//! when its value or a property changes and an interior node when a child is added, removed or
//! renamed).
//!
//! # ACL
//!
//! The tree's ACL check (server id, command) runs before every delegation. Inside a
//! [`NodeProvider`], a node's effective ACL is its own ([`MountNode::node`]`.acl`) if not
//! empty, else the nearest ancestor's inside the provider, else the mount point's effective
//! ACL: a provider that keeps no ACLs (empty everywhere) is governed by the mount point. For a
//! [`CommandProvider`] the mount point's effective ACL is checked (Get, Add, Replace, Delete,
//! Exec; Copy: Get and Add) and the other party applies its own ACLs and AccessTypes after that.
//!
//! # Results that take time (the deferred path)
//!
//! Any change a provider makes ([`NodeProvider::add`] ... [`NodeProvider::exec`],
//! [`CommandProvider::forward`]) answers [`Answer::Ready`] with the outcome, or
//! [`Answer::Pending`] with a [`Ticket`] of its own choosing: "the status comes later". Pending
//! is only allowed when [`MountContext::may_defer`] is true, which is the case only under
//! [`Tree::execute_deferrable`] and outside Atomic (and outside the all-or-nothing Add of a TNDS
//! document). There the item's Status is not in [`Executed::replies`]; a [`PendingItem`] in
//! [`Executed::pending`] holds what the Status will quote (MsgRef, CmdRef, Cmd, TargetRef,
//! SourceRef). When the provider's work ends (for a proxied device: seconds later, in another DM
//! session), the caller calls [`PendingItem::complete`] with the outcome and sends the Status
//! (and, for a Get, the Results) it returns. The tree keeps no state about pending items and
//! never blocks. A pending item in a Sequence does not hold back the commands after it (each
//! provider sees its own operations in order). A provider that answers Pending when
//! `may_defer` is false breaks its contract: the item gets 500 and the ticket is dropped.
//! [`Tree::execute`] never defers (`may_defer` is false): a provider that cannot answer at once
//! must answer a status then (e.g. 503 or 504).
//!
//! # Atomic
//!
//! The tree's own nodes keep their all-or-nothing rollback (the arena is cloned; providers'
//! data never is). Before an Atomic runs, the tree collects the mounts its changing commands
//! target (Add, Replace, Delete, Copy targets, including the nodes of a TNDS Add) and calls
//! [`NodeProvider::begin`] on each:
//!
//! - every provider accepts: the commands run (no provider may defer); if one fails, the tree's
//!   nodes are restored and [`NodeProvider::rollback`] is called on every provider; the commands
//!   that had succeeded get 216 (rolled back), the failing one keeps its code, the rest 215, and
//!   the Atomic 507. A provider whose rollback fails turns the 216 of the commands that targeted
//!   it into **516** (atomic roll back failed): those changes stayed. If all succeed,
//!   [`NodeProvider::commit`] is called on every provider and the Atomic gets 200.
//! - a provider cannot take part (the default [`NodeProvider::begin`] answers 406; a
//!   [`CommandProvider`] never can): nothing runs. The Atomic gets that code (406: optional
//!   feature not supported), the commands targeting that mount get it too, the others 215. No
//!   change is made anywhere, so all-or-nothing holds.
//!
//! An Add of a TNDS document (one Status, all or nothing) uses the same transaction outside an
//! Atomic; a rollback that fails gives it 516.
//!
//! # Listings, snapshots, the local API
//!
//! A `?list=Struct|StructData|TNDS` Get whose target is the mount point or lies below it
//! includes the provider's nodes (the server asked for them). A listing of an ancestor shows the
//! mount point as an interior node without children: mounted data is exported only on demand.
//! [`crate::snapshot`] never includes mounted data (the mount point is stored as an empty
//! interior node; mounts, like Exec handlers, are not part of a snapshot and survive
//! [`Tree::load_snapshot`]). The local API ([`Tree::get`], [`Tree::insert`], ...) sees only the
//! tree's own nodes; [`Tree::len`] and [`Tree::set_max_nodes`] count only those.

pub(crate) mod place;

use syncml::{Data, Item, Location, Meta, StatusCode};

use crate::acl::Acl;
use crate::cmd::ItemOutcome;
use crate::error::{Error, MountErrorKind};
use crate::node::{Format, NewNode, NodeKind, Timestamp};
use crate::tree::{ExecOutcome, ExecRequest, Tree};
use crate::uri::Uri;

#[cfg(doc)]
use crate::cmd::{Executed, PendingItem};

/// A provider's own name for an operation it will finish later (see the module docs). The tree
/// only carries it into the [`PendingItem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// What a provider answers for a change: the outcome now, or a ticket for later.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Answer<T> {
    /// Done: the outcome (a status code is data: 4xx/5xx are ordinary answers).
    Ready(T),
    /// Accepted; the outcome comes later through [`PendingItem::complete`]. Only allowed when
    /// [`MountContext::may_defer`] is true.
    Pending(Ticket),
}

/// What the tree tells a provider with each change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountContext<'a> {
    /// The DM server the command came from (already authorised by the ACL check).
    pub server_id: &'a str,
    /// The current time (for `TStamp`).
    pub now: Timestamp,
    /// True if the provider may answer [`Answer::Pending`].
    pub may_defer: bool,
}

impl<'a> MountContext<'a> {
    /// A context (the tree builds these; providers' own tests may too).
    #[must_use]
    pub fn new(server_id: &'a str, now: Timestamp, may_defer: bool) -> MountContext<'a> {
        MountContext {
            server_id,
            now,
            may_defer,
        }
    }
}

/// One node as a [`NodeProvider`] describes it: what the tree needs for its checks, for Get and
/// for `?prop=`: the node's data and properties as a [`NewNode`] describes them (value, `None`
/// for an interior node; Format; Type; its own ACL, empty: inherited, see the module docs;
/// AccessType, checked before the ACL: 405; permanence; Title) and its stamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountNode {
    /// Value and properties.
    pub node: NewNode,
    /// `TStamp`.
    pub tstamp: Option<Timestamp>,
    /// `VerNo`.
    pub verno: u16,
}

impl MountNode {
    /// True for a leaf.
    #[must_use]
    pub fn is_leaf(&self) -> bool {
        self.node.value.is_some()
    }
}

impl From<NewNode> for MountNode {
    /// The node, not yet stamped.
    fn from(node: NewNode) -> MountNode {
        MountNode {
            node,
            tstamp: None,
            verno: 0,
        }
    }
}

/// What a Replace changes on a mounted node (the tree has checked existence, AccessType, ACL
/// and the new value's form).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The value of a leaf, with the `Format` and `Type` the command carried (`None`: keep).
    Value {
        /// The new value (empty text when the command had no `Data`).
        data: Data,
        /// New `Format`, never `node`.
        format: Option<Format>,
        /// New `Type`.
        mime_type: Option<String>,
    },
    /// `?prop=ACL`: the node's own ACL (already parsed).
    Acl(Acl),
    /// `?prop=Name`: the new name (a valid node name, free among the siblings).
    Name(String),
    /// `?prop=Title`.
    Title(String),
}

/// A provider that knows its nodes; the tree applies DM semantics (see the module docs).
///
/// Paths are relative to the mount point: `["D7", "Mode"]` for `<mount point>/D7/Mode`. Reads
/// (`node`, `children`) answer at once; changes may answer later ([`Answer::Pending`], only when
/// [`MountContext::may_defer`]). The change methods default to "not allowed" (405; Exec 406), so a
/// read-only provider implements only `node` and `children`; a provider that does not support
/// transactions keeps the default [`NodeProvider::begin`] (406: Atomic refused).
pub trait NodeProvider: Send {
    /// The node at `path` (never empty), or `Ok(None)` if there is none.
    ///
    /// # Errors
    /// A status code the command gets instead (e.g. 510 data store failure, 503).
    fn node(&self, path: &[String]) -> Result<Option<MountNode>, StatusCode>;

    /// The child names of the interior node at `path` (empty `path`: the mount point), in the
    /// order listings show them (the tree's own nodes come in name order).
    ///
    /// # Errors
    /// A status code, as for [`NodeProvider::node`].
    fn children(&self, path: &[String]) -> Result<Vec<String>, StatusCode>;

    /// Creates the node `node` at `path`. The parent exists (for implicit parents the tree calls
    /// `add` once per missing level, top-down, with [`NewNode::interior`]) and `path` does not.
    /// The server's rights were checked; `node.acl` is already the ACL the node gets.
    fn add(
        &mut self,
        ctx: &MountContext<'_>,
        path: &[String],
        node: NewNode,
    ) -> Answer<StatusCode> {
        let _ = (ctx, path, node);
        Answer::Ready(StatusCode::COMMAND_NOT_ALLOWED)
    }

    /// Applies `change` to the existing node at `path` (checked as for the tree's own nodes).
    fn replace(
        &mut self,
        ctx: &MountContext<'_>,
        path: &[String],
        change: Change,
    ) -> Answer<StatusCode> {
        let _ = (ctx, path, change);
        Answer::Ready(StatusCode::COMMAND_NOT_ALLOWED)
    }

    /// Removes the node at `path` and its subtree (it holds no permanent node).
    fn delete(&mut self, ctx: &MountContext<'_>, path: &[String]) -> Answer<StatusCode> {
        let _ = (ctx, path);
        Answer::Ready(StatusCode::COMMAND_NOT_ALLOWED)
    }

    /// Executes the node at `path` (its AccessType has Exec, the ACL allows it). `req.uri` is
    /// the full URI; data in the outcome comes back as an Item of the Status.
    fn exec(
        &mut self,
        ctx: &MountContext<'_>,
        path: &[String],
        req: &ExecRequest<'_>,
    ) -> Answer<ExecOutcome> {
        let _ = (ctx, path, req);
        Answer::Ready(ExecOutcome::code(
            StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED,
        ))
    }

    /// An Atomic (or a TNDS Add) starts: until [`NodeProvider::commit`] or
    /// [`NodeProvider::rollback`], every change must be answered at once and be undoable.
    ///
    /// # Errors
    /// The provider cannot take part: the Atomic is refused with this code before anything
    /// runs (default: 406, optional feature not supported).
    fn begin(&mut self) -> Result<(), StatusCode> {
        Err(StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED)
    }

    /// The Atomic succeeded: keep the changes made since [`NodeProvider::begin`]. Cannot fail:
    /// a provider that could fail here must fail the command instead.
    fn commit(&mut self) {}

    /// The Atomic failed: undo every change made since [`NodeProvider::begin`].
    ///
    /// # Errors
    /// The changes could not be undone: the commands that made them are reported 516.
    fn rollback(&mut self) -> Result<(), StatusCode> {
        Ok(())
    }
}

/// The item commands a [`CommandProvider`] receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemCommand {
    /// `Add`.
    Add,
    /// `Copy` (source and target under the same mount).
    Copy,
    /// `Delete`.
    Delete,
    /// `Exec`.
    Exec,
    /// `Get` (with its `?prop=` / `?list=` query in [`Forwarded::target`]).
    Get,
    /// `Replace`.
    Replace,
}

impl ItemCommand {
    /// The SyncML element name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ItemCommand::Add => "Add",
            ItemCommand::Copy => "Copy",
            ItemCommand::Delete => "Delete",
            ItemCommand::Exec => "Exec",
            ItemCommand::Get => "Get",
            ItemCommand::Replace => "Replace",
        }
    }
}

/// One command item handed to a [`CommandProvider`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Forwarded<'a> {
    /// The command.
    pub command: ItemCommand,
    /// The target in the provider's namespace: absolute, the mount point being `.`; the query
    /// (`?prop=`, `?list=`) kept.
    pub target: &'a Uri,
    /// The source of a Copy, in the provider's namespace.
    pub source: Option<&'a Uri>,
    /// The item as the server sent it (its Target/Source are in our namespace: see
    /// [`Forwarded::provider_item`]).
    pub item: &'a Item,
    /// The command's `Meta` (the item's own `Meta` wins field by field).
    pub cmd_meta: Option<&'a Meta>,
    /// The Exec's `Correlator`.
    pub correlator: Option<&'a str>,
}

impl Forwarded<'_> {
    /// The item with Target (and Source) rewritten into the provider's namespace, ready to put
    /// into a command for the other party.
    #[must_use]
    pub fn provider_item(&self) -> Item {
        let mut item = self.item.clone();
        item.target = Some(Location::uri(self.target.to_string()));
        item.source = self.source.map(|s| Location::uri(s.to_string()));
        item
    }
}

/// A provider that runs whole DM command items itself, now or later (see the module docs).
pub trait CommandProvider: Send {
    /// Runs one item. Results and Status items may name nodes in the provider's namespace
    /// (`./X`, `X` or `.`); the tree maps them below the mount point. Items without a Source get
    /// the target as sent.
    fn forward(&mut self, ctx: &MountContext<'_>, item: &Forwarded<'_>) -> Answer<ItemOutcome>;
}

/// A provider attached to a tree with [`Tree::mount`].
pub enum Mount {
    /// Answers node by node; the tree applies DM semantics.
    Nodes(Box<dyn NodeProvider>),
    /// Runs whole command items.
    Commands(Box<dyn CommandProvider>),
}

impl Mount {
    /// Wraps a [`NodeProvider`].
    #[must_use]
    pub fn nodes(provider: impl NodeProvider + 'static) -> Mount {
        Mount::Nodes(Box::new(provider))
    }

    /// Wraps a [`CommandProvider`].
    #[must_use]
    pub fn commands(provider: impl CommandProvider + 'static) -> Mount {
        Mount::Commands(Box::new(provider))
    }
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mount::Nodes(_) => "Mount::Nodes(..)",
            Mount::Commands(_) => "Mount::Commands(..)",
        })
    }
}

/// One attached provider.
pub(crate) struct MountEntry {
    /// The mount point (absolute).
    pub(crate) point: Uri,
    pub(crate) mount: Mount,
    /// Between `begin` and `commit`/`rollback`.
    pub(crate) in_txn: bool,
}

fn mount_err(path: &str, kind: MountErrorKind) -> Error {
    Error::Mount {
        path: path.to_owned(),
        kind,
    }
}

impl Tree {
    /// Attaches `mount` at `path`: from now on the provider answers for every node below it
    /// (see [`crate::mount`]). The node at `path` becomes a permanent mount point; it is created
    /// (with missing parents, stamped `now`) if absent, and must otherwise be an interior node
    /// without children. Its ACL, AccessType and properties stay the tree's.
    ///
    /// # Errors
    /// [`Error::Uri`]; [`Error::Mount`]: the root ([`MountErrorKind::Root`]), a path at or below
    /// a mount point ([`MountErrorKind::InsideMount`]), a leaf on the way
    /// ([`MountErrorKind::Leaf`]), a node with children ([`MountErrorKind::NotEmpty`]);
    /// [`Error::TreeFull`] when creating the node would exceed the node limit.
    pub fn mount(&mut self, path: &str, mount: Mount, now: Timestamp) -> Result<(), Error> {
        let uri = self.parse_uri(path)?;
        if uri.is_root() {
            return Err(mount_err(path, MountErrorKind::Root));
        }
        let id = self.mountable(&uri, path)?;
        let id = match id {
            Some(id) => id,
            None => self.insert_at(&uri, NewNode::interior().permanent(), now, None)?,
        };
        let entry = MountEntry {
            point: uri.without_query(),
            mount,
            in_txn: false,
        };
        let idx = match self.mounts.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.mounts.push(None);
                self.mounts.len() - 1
            }
        };
        if let Some(slot) = self.mounts.get_mut(idx) {
            *slot = Some(entry);
        }
        if let Some(node) = self.node_mut(id) {
            node.kind = NodeKind::Mount(idx);
            node.permanent = true;
        }
        Ok(())
    }

    /// `Some(id)` of an existing empty interior node at `uri`, `None` if the node is absent and
    /// may be created.
    fn mountable(&self, uri: &Uri, path: &str) -> Result<Option<crate::NodeId>, Error> {
        use place::Place;
        match self.place(uri.segments()) {
            Place::Mounted { .. } => Err(mount_err(path, MountErrorKind::InsideMount)),
            Place::Arena(id) => match self.node(id).map(|n| &n.kind) {
                Some(NodeKind::Mount(_)) => Err(mount_err(path, MountErrorKind::InsideMount)),
                Some(NodeKind::Leaf(_)) => Err(mount_err(path, MountErrorKind::Leaf)),
                Some(NodeKind::Interior(c)) if !c.is_empty() => {
                    Err(mount_err(path, MountErrorKind::NotEmpty))
                }
                _ => Ok(Some(id)),
            },
            Place::Missing { nearest, .. } => {
                if self.node(nearest).is_some_and(crate::Node::is_leaf) {
                    Err(mount_err(path, MountErrorKind::Leaf))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Detaches the provider at `path` and gives it back; the mount point stays as an empty,
    /// permanent interior node.
    ///
    /// # Errors
    /// [`Error::Uri`]; [`Error::Mount`] with [`MountErrorKind::NotMounted`].
    pub fn unmount(&mut self, path: &str) -> Result<Mount, Error> {
        let uri = self.parse_uri(path)?;
        let (id, idx) = self
            .mount_point_at(&uri)
            .ok_or_else(|| mount_err(path, MountErrorKind::NotMounted))?;
        let entry = self
            .mounts
            .get_mut(idx)
            .and_then(Option::take)
            .ok_or_else(|| mount_err(path, MountErrorKind::NotMounted))?;
        if let Some(node) = self.node_mut(id) {
            node.kind = NodeKind::Interior(std::collections::BTreeMap::new());
        }
        Ok(entry.mount)
    }

    /// The provider mounted at `path`, if any.
    #[must_use]
    pub fn mounted(&self, path: &str) -> Option<&Mount> {
        let uri = self.parse_uri(path).ok()?;
        let (_, idx) = self.mount_point_at(&uri)?;
        self.mount_entry(idx).map(|e| &e.mount)
    }

    /// The provider mounted at `path`, if any, for changes by its owner.
    #[must_use]
    pub fn mounted_mut(&mut self, path: &str) -> Option<&mut Mount> {
        let uri = self.parse_uri(path).ok()?;
        let (_, idx) = self.mount_point_at(&uri)?;
        self.mounts
            .get_mut(idx)
            .and_then(Option::as_mut)
            .map(|e| &mut e.mount)
    }

    /// The mount points, in the order they were attached (free slots reused).
    pub fn mount_points(&self) -> impl Iterator<Item = &Uri> {
        self.mounts.iter().flatten().map(|e| &e.point)
    }

    fn mount_point_at(&self, uri: &Uri) -> Option<(crate::NodeId, usize)> {
        match self.place(uri.segments()) {
            place::Place::Arena(id) => match self.node(id)?.kind {
                NodeKind::Mount(idx) => Some((id, idx)),
                _ => None,
            },
            _ => None,
        }
    }

    pub(crate) fn mount_entry(&self, idx: usize) -> Option<&MountEntry> {
        self.mounts.get(idx).and_then(Option::as_ref)
    }

    pub(crate) fn mount_entry_mut(&mut self, idx: usize) -> Option<&mut MountEntry> {
        self.mounts.get_mut(idx).and_then(Option::as_mut)
    }

    /// Marks the mount points again in a freshly decoded tree (for [`Tree::load_snapshot`]).
    pub(crate) fn remount_into(&self, fresh: &mut Tree) -> Result<(), Error> {
        for (idx, entry) in self.mounts.iter().enumerate() {
            let Some(entry) = entry else { continue };
            let path = entry.point.to_absolute_string();
            let id = fresh
                .mountable(&entry.point, &path)?
                .ok_or_else(|| mount_err(&path, MountErrorKind::NotMounted))?;
            if let Some(node) = fresh.node_mut(id) {
                node.kind = NodeKind::Mount(idx);
                node.permanent = true;
            }
        }
        Ok(())
    }
}
