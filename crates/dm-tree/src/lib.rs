//! The OMA DM 1.2 management tree, sans-IO.
//!
//! In: DM commands from the typed SyncML AST ([`syncml::Command`]) with an [`ExecContext`]
//! (server id, message id, current time); local calls from the device itself; snapshot bytes.
//! Out: the `Status`/`Results` commands to answer with; node values and properties; snapshot
//! bytes. Nothing here reads a clock, draws random numbers or does I/O.
//!
//! - [`uri`]: DM URIs with `?prop=` / `?list=` and the `./DevDetail/URI` limits (414).
//! - [`acl`]: ACL grammar and evaluation; inheritance is [`Tree::effective_acl`].
//! - [`node`]: nodes, properties (ACL, Format, Name, Size, Title, TStamp, Type, VerNo),
//!   AccessType, [`Timestamp`].
//! - [`Tree`]: storage with `O(depth · log children)` path lookups, the local API, Exec
//!   handlers; [`Tree::execute`] runs Add, Replace, Delete, Get, Copy, Exec, Atomic, Sequence
//!   (and Alert via a handler) and never fails: every failure is a status code.
//! - [`mo`]: `./DevInfo`, `./DevDetail`, `./DMAcc/<X>` builders and the typed DMAcc reader.
//! - [`snapshot`]: versioned binary snapshot/restore.
//! - [`mount`]: subtrees whose nodes a provider holds (an inventory store, a proxied device's
//!   tree), attached with [`Tree::mount`]; commands below a mount point are delegated, answered
//!   at once or later ([`Tree::execute_deferrable`], [`PendingItem`]).
//!
//! Choices worth knowing (details in each command module):
//! - one `Status` per item of a multi-item command (each with its `TargetRef`);
//! - AccessType is checked before the ACL (405 before 425); Add checks the nearest existing
//!   ancestor (AccessType Add = "children may be added"), the others the node itself;
//! - Add without `Meta/Format` creates a `chr` leaf; leaf values are stored as the
//!   [`syncml::Data`] that arrived (no Base64 decoding for `b64`);
//! - `?prop=ACL` Replace needs Replace on the parent (the root: on itself);
//! - nodes created by a server get [`node::AccessType::DYNAMIC`] (everything but Exec);
//! - `TStamp`/`VerNo` change on a node's own value/property change and, for an interior
//!   node, when a child is added, removed or renamed.

//!
//! ```
//! use dm_tree::{ExecContext, Timestamp, Tree};
//! use syncml::{Command, Data, Item, ItemCmd, Location, StatusCode};
//!
//! let mut tree = Tree::new();
//! let ctx = ExecContext { server_id: "srv1", msg_id: "2", now: Timestamp(1_700_000_000) };
//! let add = Command::Add(ItemCmd {
//!     cmd_id: "4".into(),
//!     items: vec![Item {
//!         target: Some(Location::uri("./App/Setting")),
//!         data: Some(Data::Text("on".into())),
//!         ..Item::default()
//!     }],
//!     ..ItemCmd::default()
//! });
//! let replies = tree.execute(&ctx, &add);
//! let Some(Command::Status(status)) = replies.first() else { unreachable!() };
//! assert_eq!(status.code, StatusCode::OK);
//! assert_eq!((status.msg_ref.as_str(), status.cmd_ref.as_str()), ("2", "4"));
//! assert_eq!(tree.value_str("./App/Setting"), Some("on"));
//! ```

pub mod acl;
pub mod cmd;
mod error;
pub mod mo;
pub mod mount;
pub mod node;
pub mod snapshot;
pub mod tnds;
mod tree;
pub mod uri;

pub use acl::{Acl, AclCommand};
pub use cmd::{ExecContext, Executed, ItemOutcome, PendingItem};
pub use error::{
    AclErrorKind, Error, MountErrorKind, SnapshotErrorKind, TndsErrorKind, UriErrorKind,
};
pub use mount::{
    Answer, Change, CommandProvider, Forwarded, ItemCommand, Mount, MountContext, MountNode,
    NodeProvider, Ticket,
};
pub use node::{AccessType, Format, NewNode, Node, NodeId, Timestamp};
pub use tree::{
    AlertHandler, AlertOutcome, DEFAULT_ROOT_ACL, ExecHandler, ExecOutcome, ExecRequest,
    MAX_TREE_DEPTH, Tree,
};
pub use uri::{ListKind, Property, Query, TndsFields, Uri, UriLimits};

#[cfg(test)]
mod tests;
