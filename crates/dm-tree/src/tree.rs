//! The management tree: node storage, lookups, ACL inheritance and the local (server-less) API.
//!
//! Nodes live in an arena; every interior node keeps its children in a `BTreeMap` keyed by
//! name, so a lookup by path costs `O(depth · log(children))`, independent of the tree size,
//! and listings come out in a stable (sorted) order.
//!
//! The local API ([`Tree::insert`], [`Tree::set_value`], ...) is for the device itself (MO
//! builders, the DM client, local applications): it checks neither AccessType nor ACL. DM
//! servers reach the tree only through [`Tree::execute`].

use std::collections::BTreeMap;

use syncml::{Alert, Data, Item, Meta, StatusCode};

use crate::acl::{Acl, AclCommand};
use crate::error::{Error, MountErrorKind};
use crate::mount::MountEntry;
use crate::node::{AccessType, Format, NewNode, Node, NodeId, NodeKind, Timestamp};
use crate::uri::{Uri, UriLimits};

/// What an Exec handler is told.
#[derive(Debug)]
pub struct ExecRequest<'a> {
    /// The node executed.
    pub uri: &'a Uri,
    /// The server that sent the Exec.
    pub server_id: &'a str,
    /// The `Data` of the Exec item (the argument), if any.
    pub data: Option<&'a Data>,
    /// The `Meta` of the item (or of the command), if any.
    pub meta: Option<&'a Meta>,
    /// The `Correlator` of the Exec, to quote in a later Generic Alert (asynchronous Exec).
    pub correlator: Option<&'a str>,
    /// The current time.
    pub now: Timestamp,
}

/// What an Exec handler answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// The status code: 200 done, 202 accepted (asynchronous), 4xx/5xx failure.
    pub code: StatusCode,
    /// Optional result data, returned as an `Item` of the Status.
    pub data: Option<Data>,
}

impl ExecOutcome {
    /// 200, no data.
    #[must_use]
    pub fn ok() -> ExecOutcome {
        ExecOutcome {
            code: StatusCode::OK,
            data: None,
        }
    }

    /// 202 (accepted for asynchronous processing), no data.
    #[must_use]
    pub fn accepted() -> ExecOutcome {
        ExecOutcome {
            code: StatusCode::ACCEPTED,
            data: None,
        }
    }

    /// Any code, no data.
    #[must_use]
    pub fn code(code: StatusCode) -> ExecOutcome {
        ExecOutcome { code, data: None }
    }
}

/// A handler for Exec on one node (or on a pattern of nodes, see [`Tree::register_exec`]).
pub type ExecHandler = Box<dyn FnMut(&ExecRequest<'_>) -> ExecOutcome + Send>;

/// What an Alert handler answers (for Alerts met inside Atomic/Sequence or passed to
/// [`Tree::execute`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertOutcome {
    /// Status code: 200 (also "Yes" for 1101), 304 ("No": the rest of a Sequence is skipped),
    /// 214 (cancelled), 406 (not supported) ...
    pub code: StatusCode,
    /// Items for the Status (e.g. the user's text input or choices).
    pub items: Vec<Item>,
}

/// A handler for Alerts; gets the alert and the server id.
pub type AlertHandler = Box<dyn FnMut(&Alert, &str) -> AlertOutcome + Send>;

struct ExecEntry {
    pattern: Vec<String>,
    wildcards: usize,
    handler: ExecHandler,
}

/// Node storage. Cloned whole to roll back an Atomic (mounted subtrees are not in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Store {
    nodes: Vec<Option<Node>>,
    free: Vec<usize>,
    count: usize,
}

pub(crate) const ROOT: NodeId = NodeId(0);

/// Hard cap on node depth below the root, whatever `MaxDepth` says (keeps recursive
/// listings and snapshot decoding bounded).
pub const MAX_TREE_DEPTH: usize = 255;

/// The ACL of a fresh tree's root: `Add=*&Get=*&Replace=*`.
pub const DEFAULT_ROOT_ACL: &str = "Add=*&Get=*&Replace=*";

impl Store {
    fn new(root: Node) -> Store {
        Store {
            nodes: vec![Some(root)],
            free: Vec::new(),
            count: 1,
        }
    }

    pub(crate) fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.0).and_then(Option::as_ref)
    }

    pub(crate) fn get_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.nodes.get_mut(id.0).and_then(Option::as_mut)
    }

    fn alloc(&mut self, node: Node) -> NodeId {
        self.count += 1;
        if let Some(i) = self.free.pop()
            && let Some(slot) = self.nodes.get_mut(i)
        {
            *slot = Some(node);
            return NodeId(i);
        }
        self.nodes.push(Some(node));
        NodeId(self.nodes.len() - 1)
    }

    fn release(&mut self, id: NodeId) {
        if let Some(slot) = self.nodes.get_mut(id.0)
            && slot.take().is_some()
        {
            self.count -= 1;
            self.free.push(id.0);
        }
    }
}

/// The management tree of one device.
pub struct Tree {
    pub(crate) store: Store,
    limits: UriLimits,
    max_nodes: Option<usize>,
    exec: Vec<ExecEntry>,
    pub(crate) alert: Option<AlertHandler>,
    /// Attached providers, indexed by [`NodeKind::Mount`]; free slots are `None`.
    pub(crate) mounts: Vec<Option<MountEntry>>,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("nodes", &self.store.count)
            .field("limits", &self.limits)
            .field("max_nodes", &self.max_nodes)
            .field("exec_handlers", &self.exec.len())
            .field("mounts", &self.mount_points().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

impl Tree {
    /// A tree holding only the root `.`, with ACL [`DEFAULT_ROOT_ACL`], AccessType
    /// Add|Get|Replace, no URI limits and no node limit.
    #[must_use]
    pub fn new() -> Tree {
        let acl = Acl::parse(DEFAULT_ROOT_ACL).unwrap_or_default();
        Tree::with_root_acl(acl)
    }

    /// A tree holding only the root, with the given root ACL.
    #[must_use]
    pub fn with_root_acl(acl: Acl) -> Tree {
        let root = Node {
            name: ".".to_owned(),
            parent: None,
            kind: NodeKind::Interior(BTreeMap::new()),
            permanent: true,
            access: AccessType::ADD | AccessType::GET | AccessType::REPLACE,
            acl,
            format: Format::Node,
            mime: None,
            title: None,
            tstamp: None,
            verno: 0,
        };
        Tree {
            store: Store::new(root),
            limits: UriLimits::default(),
            max_nodes: None,
            exec: Vec::new(),
            alert: None,
            mounts: Vec::new(),
        }
    }

    /// The URI limits applied to every URI (see [`crate::mo::devdetail`], which sets them).
    #[must_use]
    pub fn uri_limits(&self) -> UriLimits {
        self.limits
    }

    /// Sets the URI limits.
    pub fn set_uri_limits(&mut self, limits: UriLimits) {
        self.limits = limits;
    }

    /// Caps the number of nodes (root included); an Add beyond it gives 420 (device full).
    pub fn set_max_nodes(&mut self, max: Option<usize>) {
        self.max_nodes = max;
    }

    /// Number of nodes, root included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.store.count
    }

    /// Always false: the root always exists.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Parses `uri` with this tree's limits.
    ///
    /// # Errors
    /// [`Error::Uri`].
    pub fn parse_uri(&self, uri: &str) -> Result<Uri, Error> {
        Uri::parse(uri, &self.limits)
    }

    /// The node at `path` (`./A/B`, `A/B` or `.`; a query is ignored), if it exists.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<&Node> {
        let uri = self.parse_uri(path).ok()?;
        self.node_at(&uri)
    }

    /// The node at `uri`, if it exists.
    #[must_use]
    pub fn node_at(&self, uri: &Uri) -> Option<&Node> {
        self.resolve(uri.segments())
            .and_then(|id| self.store.get(id))
    }

    /// The value of the leaf at `path`.
    #[must_use]
    pub fn value(&self, path: &str) -> Option<&Data> {
        self.get(path).and_then(Node::value)
    }

    /// The value of the leaf at `path` as text.
    #[must_use]
    pub fn value_str(&self, path: &str) -> Option<&str> {
        self.value(path).and_then(Data::as_str)
    }

    /// The ACL that governs the node at `path`: its own if not empty, else the nearest
    /// ancestor's non-empty one (the root's, possibly empty, as a last resort).
    #[must_use]
    pub fn effective_acl(&self, path: &str) -> Option<&Acl> {
        let uri = self.parse_uri(path).ok()?;
        let id = self.resolve(uri.segments())?;
        Some(self.effective_acl_of(id))
    }

    /// Creates a node at `path`, creating missing interior parents (dynamic, empty ACL).
    /// No AccessType or ACL check: this is the device's own API.
    ///
    /// # Errors
    /// [`Error::Uri`], [`Error::AlreadyExists`], [`Error::NotInterior`] (an ancestor is a leaf),
    /// [`Error::TreeFull`], [`Error::Mount`] (the path lies below a mount point).
    pub fn insert(&mut self, path: &str, node: NewNode, now: Timestamp) -> Result<NodeId, Error> {
        let uri = self.parse_uri(path)?;
        self.insert_at(&uri, node, now, None)
    }

    /// Replaces the value of the leaf at `path` (local API, no checks).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::NotLeaf`].
    pub fn set_value(&mut self, path: &str, value: Data, now: Timestamp) -> Result<(), Error> {
        let id = self.require(path)?;
        let node = self.store.get_mut(id).ok_or_else(|| not_found(path))?;
        match &mut node.kind {
            NodeKind::Leaf(v) => *v = value,
            NodeKind::Interior(_) | NodeKind::Mount(_) => {
                return Err(Error::NotLeaf {
                    path: path.to_owned(),
                });
            }
        }
        node.touch(now);
        Ok(())
    }

    /// Sets the node's own ACL (local API).
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub fn set_acl(&mut self, path: &str, acl: Acl, now: Timestamp) -> Result<(), Error> {
        self.update(path, now, |n| n.acl = acl)
    }

    /// Sets the node's supported commands (local API).
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub fn set_access(&mut self, path: &str, access: AccessType) -> Result<(), Error> {
        let id = self.require(path)?;
        if let Some(n) = self.store.get_mut(id) {
            n.access = access;
        }
        Ok(())
    }

    /// Sets the `Type` property (local API).
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub fn set_mime_type(
        &mut self,
        path: &str,
        mime: Option<String>,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.update(path, now, |n| n.mime = mime)
    }

    /// Sets the `Title` property (local API).
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub fn set_title(
        &mut self,
        path: &str,
        title: Option<String>,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.update(path, now, |n| n.title = title)
    }

    /// Removes the node at `path` and its subtree (local API: permanent nodes too, not the
    /// root, not a subtree holding a mount point).
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Permanent`] for the root, [`Error::Mount`] with
    /// [`MountErrorKind::HoldsMount`] (unmount first).
    pub fn remove(&mut self, path: &str, now: Timestamp) -> Result<(), Error> {
        let id = self.require(path)?;
        if id == ROOT {
            return Err(Error::Permanent {
                path: path.to_owned(),
            });
        }
        if self.holds_mount(id) {
            return Err(Error::Mount {
                path: path.to_owned(),
                kind: MountErrorKind::HoldsMount,
            });
        }
        self.remove_subtree(id, now);
        Ok(())
    }

    /// URIs (absolute form) of every node whose `Type` equals `mime_type`, in tree order. Used
    /// to find MO instances by MO identifier. Linear in the tree size.
    #[must_use]
    pub fn find_by_type(&self, mime_type: &str) -> Vec<Uri> {
        let mut out = Vec::new();
        self.walk(ROOT, &mut |tree, id| {
            if tree.store.get(id).and_then(|n| n.mime.as_deref()) == Some(mime_type) {
                out.push(tree.uri_of(id));
            }
        });
        out
    }

    /// Registers the handler for Exec on `pattern`: a URI whose segments may be `*` to match
    /// any one segment (e.g. `./Fanout/*/Start`). An exact match wins over patterns; among
    /// patterns, the one with fewest `*` wins. A node matched by a handler supports Exec
    /// whatever its AccessType says (the handler is the capability); the ACL still applies.
    /// Registering again for the same pattern replaces the handler.
    ///
    /// # Errors
    /// [`Error::Uri`] if `pattern` is not a valid URI.
    pub fn register_exec(&mut self, pattern: &str, handler: ExecHandler) -> Result<(), Error> {
        let uri = Uri::parse(pattern, &UriLimits::default())?;
        let segs = uri.segments().to_vec();
        let wildcards = segs.iter().filter(|s| *s == "*").count();
        self.exec.retain(|e| e.pattern != segs);
        self.exec.push(ExecEntry {
            pattern: segs,
            wildcards,
            handler,
        });
        Ok(())
    }

    /// Installs the handler for Alerts met by [`Tree::execute`] (also inside Atomic and
    /// Sequence). Without one, Alerts get 406.
    pub fn set_alert_handler(&mut self, handler: AlertHandler) {
        self.alert = Some(handler);
    }

    // ----- crate-internal helpers -------------------------------------------------------

    pub(crate) fn exec_handler(&mut self, segs: &[String]) -> Option<&mut ExecHandler> {
        let matches = |p: &[String]| {
            p.len() == segs.len() && p.iter().zip(segs).all(|(a, b)| a == "*" || a == b)
        };
        self.exec
            .iter_mut()
            .filter(|e| matches(&e.pattern))
            .min_by_key(|e| e.wildcards)
            .map(|e| &mut e.handler)
    }

    fn require(&self, path: &str) -> Result<NodeId, Error> {
        let uri = self.parse_uri(path)?;
        self.resolve(uri.segments()).ok_or_else(|| not_found(path))
    }

    fn update(
        &mut self,
        path: &str,
        now: Timestamp,
        f: impl FnOnce(&mut Node),
    ) -> Result<(), Error> {
        let id = self.require(path)?;
        let node = self.store.get_mut(id).ok_or_else(|| not_found(path))?;
        f(node);
        node.touch(now);
        Ok(())
    }

    pub(crate) fn node(&self, id: NodeId) -> Option<&Node> {
        self.store.get(id)
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.store.get_mut(id)
    }

    pub(crate) fn child(&self, id: NodeId, name: &str) -> Option<NodeId> {
        match &self.store.get(id)?.kind {
            NodeKind::Interior(c) => c.get(name).copied(),
            NodeKind::Leaf(_) | NodeKind::Mount(_) => None,
        }
    }

    pub(crate) fn children(&self, id: NodeId) -> Vec<NodeId> {
        match self.store.get(id).map(|n| &n.kind) {
            Some(NodeKind::Interior(c)) => c.values().copied().collect(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn resolve(&self, segs: &[String]) -> Option<NodeId> {
        segs.iter().try_fold(ROOT, |id, s| self.child(id, s))
    }

    /// The deepest existing node on the path and how many segments it covers.
    pub(crate) fn nearest_existing(&self, segs: &[String]) -> (NodeId, usize) {
        let mut id = ROOT;
        for (i, s) in segs.iter().enumerate() {
            match self.child(id, s) {
                Some(c) => id = c,
                None => return (id, i),
            }
        }
        (id, segs.len())
    }

    pub(crate) fn effective_acl_of(&self, id: NodeId) -> &Acl {
        let mut cur = id;
        while let Some(node) = self.store.get(cur) {
            if !node.acl.is_empty() {
                return &node.acl;
            }
            match node.parent {
                Some(p) => cur = p,
                None => return &node.acl,
            }
        }
        static EMPTY: std::sync::OnceLock<Acl> = std::sync::OnceLock::new();
        EMPTY.get_or_init(Acl::empty)
    }

    pub(crate) fn permits(&self, id: NodeId, cmd: AclCommand, server: &str) -> bool {
        self.effective_acl_of(id).permits(cmd, server)
    }

    /// The absolute URI of a node.
    pub(crate) fn uri_of(&self, id: NodeId) -> Uri {
        let mut names = Vec::new();
        let mut cur = Some(id);
        while let Some(c) = cur {
            if c == ROOT {
                break;
            }
            let Some(n) = self.store.get(c) else { break };
            names.push(n.name.clone());
            cur = n.parent;
        }
        names.reverse();
        Uri::from_segments(names).unwrap_or_else(|_| Uri::root())
    }

    /// True if the subtree at `id` holds a permanent node.
    pub(crate) fn subtree_has_permanent(&self, id: NodeId) -> bool {
        let mut found = false;
        self.walk(id, &mut |t, n| {
            if t.store.get(n).is_some_and(|x| x.permanent) {
                found = true;
            }
        });
        found
    }

    /// Pre-order walk (iterative, so deep trees cannot overflow the stack).
    pub(crate) fn walk(&self, start: NodeId, f: &mut dyn FnMut(&Tree, NodeId)) {
        let mut stack = vec![start];
        while let Some(id) = stack.pop() {
            f(self, id);
            let mut kids = self.children(id);
            kids.reverse();
            stack.extend(kids);
        }
    }

    pub(crate) fn would_overflow(&self, extra: usize) -> Result<(), Error> {
        match self.max_nodes {
            Some(max) if self.store.count + extra > max => Err(Error::TreeFull { max }),
            _ => Ok(()),
        }
    }

    /// Creates `node` at `uri`, implicit parents included. `implicit_acl` is the ACL given
    /// to the topmost newly created node when it is an implicit parent or the node itself has
    /// an empty ACL (None: leave empty).
    pub(crate) fn insert_at(
        &mut self,
        uri: &Uri,
        node: NewNode,
        now: Timestamp,
        top_acl: Option<Acl>,
    ) -> Result<NodeId, Error> {
        let segs = uri.segments();
        if segs.is_empty() {
            return Err(Error::AlreadyExists {
                path: uri.path_string(),
            });
        }
        if segs.len() > MAX_TREE_DEPTH {
            return Err(Error::Uri {
                uri: uri.path_string(),
                kind: crate::error::UriErrorKind::TooDeep {
                    depth: segs.len(),
                    max: MAX_TREE_DEPTH as u16,
                },
            });
        }
        let (mut id, depth) = self.nearest_existing(segs);
        if depth == segs.len() {
            return Err(Error::AlreadyExists {
                path: uri.path_string(),
            });
        }
        if self.store.get(id).is_some_and(Node::is_leaf) {
            return Err(Error::NotInterior {
                path: self.uri_of(id).path_string(),
            });
        }
        if self.store.get(id).is_some_and(Node::is_mount_point) {
            return Err(Error::Mount {
                path: uri.path_string(),
                kind: MountErrorKind::InsideMount,
            });
        }
        self.would_overflow(segs.len() - depth)?;
        let mut top_acl = top_acl;
        let missing = segs.get(depth..).unwrap_or_default();
        let last = missing.len().saturating_sub(1);
        let mut node = Some(node);
        for (i, name) in missing.iter().enumerate() {
            let spec = level_spec(i == last, &mut node, &mut top_acl);
            id = self.create_child(id, name, spec, now);
        }
        Ok(id)
    }

    /// Adds a child to an interior node (the caller checked that `name` is absent).
    fn create_child(
        &mut self,
        parent: NodeId,
        name: &str,
        spec: NewNode,
        now: Timestamp,
    ) -> NodeId {
        let (kind, format) = match spec.value {
            Some(v) => (NodeKind::Leaf(v), spec.format),
            None => (NodeKind::Interior(BTreeMap::new()), Format::Node),
        };
        let node = Node {
            name: name.to_owned(),
            parent: Some(parent),
            kind,
            permanent: spec.permanent,
            access: spec.access,
            acl: spec.acl,
            format,
            mime: spec.mime_type,
            title: spec.title,
            tstamp: Some(now),
            verno: 0,
        };
        let id = self.store.alloc(node);
        if let Some(p) = self.store.get_mut(parent) {
            if let NodeKind::Interior(c) = &mut p.kind {
                c.insert(name.to_owned(), id);
            }
            p.touch(now);
        }
        id
    }

    pub(crate) fn remove_subtree(&mut self, id: NodeId, now: Timestamp) {
        let mut ids = Vec::new();
        self.walk(id, &mut |_, n| ids.push(n));
        let parent = self.store.get(id).and_then(|n| n.parent);
        let name = self.store.get(id).map(|n| n.name.clone());
        for n in ids {
            self.store.release(n);
        }
        if let (Some(p), Some(name)) = (parent, name)
            && let Some(pn) = self.store.get_mut(p)
        {
            if let NodeKind::Interior(c) = &mut pn.kind {
                c.remove(&name);
            }
            pn.touch(now);
        }
    }

    /// Renames a node (the caller checked that `new_name` is valid, absent and `id` not root).
    pub(crate) fn rename(&mut self, id: NodeId, new_name: &str, now: Timestamp) {
        let Some(node) = self.store.get_mut(id) else {
            return;
        };
        let old = std::mem::replace(&mut node.name, new_name.to_owned());
        node.touch(now);
        let parent = node.parent;
        if let Some(pn) = parent.and_then(|p| self.store.get_mut(p)) {
            if let NodeKind::Interior(c) = &mut pn.kind {
                c.remove(&old);
                c.insert(new_name.to_owned(), id);
            }
            pn.touch(now);
        }
    }

    /// Builds a tree from decoded snapshot parts.
    pub(crate) fn from_parts(store_root: Node, limits: UriLimits) -> Tree {
        let mut t = Tree::with_root_acl(Acl::empty());
        t.store = Store::new(store_root);
        t.limits = limits;
        t
    }

    /// Attaches an already-built node under `parent` (snapshot decoding).
    pub(crate) fn attach(&mut self, parent: NodeId, mut node: Node) -> NodeId {
        node.parent = Some(parent);
        let name = node.name.clone();
        let id = self.store.alloc(node);
        if let Some(NodeKind::Interior(c)) = self.store.get_mut(parent).map(|p| &mut p.kind) {
            c.insert(name, id);
        }
        id
    }
}

/// What one level of a node creation with implicit parents creates: the node itself (`last`)
/// or an implicit interior parent; the topmost created node takes `top_acl` if its own ACL is
/// empty (only the first call can).
pub(crate) fn level_spec(
    last: bool,
    node: &mut Option<NewNode>,
    top_acl: &mut Option<Acl>,
) -> NewNode {
    let mut spec = if last {
        node.take().unwrap_or_else(NewNode::interior)
    } else {
        NewNode::interior()
    };
    if let Some(acl) = top_acl.take()
        && spec.acl.is_empty()
    {
        spec.acl = acl;
    }
    spec
}

fn not_found(path: &str) -> Error {
    Error::NotFound {
        path: path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        Timestamp(1000)
    }

    #[test]
    fn insert_get_and_implicit_parents() {
        let mut t = Tree::new();
        t.insert("./A/B/C", NewNode::leaf("v"), t0()).unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t.value_str("./A/B/C"), Some("v"));
        assert_eq!(t.value_str("A/B/C"), Some("v"));
        assert!(!t.get("./A/B").unwrap().is_leaf());
        assert_eq!(
            t.get("./A").unwrap().child_names().collect::<Vec<_>>(),
            ["B"]
        );
        assert!(matches!(
            t.insert("./A/B/C", NewNode::leaf("w"), t0()),
            Err(Error::AlreadyExists { .. })
        ));
        assert!(matches!(
            t.insert("./A/B/C/D", NewNode::leaf("w"), t0()),
            Err(Error::NotInterior { .. })
        ));
    }

    #[test]
    fn acl_inheritance() {
        let mut t = Tree::new();
        t.insert(
            "./A",
            NewNode::interior().acl(Acl::parse("Get=s1").unwrap()),
            t0(),
        )
        .unwrap();
        t.insert("./A/B", NewNode::leaf("x"), t0()).unwrap();
        t.insert("./C", NewNode::leaf("y"), t0()).unwrap();
        assert_eq!(t.effective_acl("./A/B").unwrap().to_string(), "Get=s1");
        assert_eq!(
            t.effective_acl("./C").unwrap().to_string(),
            DEFAULT_ROOT_ACL
        );
        t.set_acl("./A/B", Acl::parse("Get=s2").unwrap(), t0())
            .unwrap();
        assert_eq!(t.effective_acl("./A/B").unwrap().to_string(), "Get=s2");
    }

    #[test]
    fn remove_frees_and_reuses() {
        let mut t = Tree::new();
        t.insert("./A/B", NewNode::leaf("x"), t0()).unwrap();
        t.remove("./A", t0()).unwrap();
        assert_eq!(t.len(), 1);
        assert!(t.get("./A").is_none());
        t.insert("./Z", NewNode::leaf("x"), t0()).unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.remove(".", t0()).is_err());
    }

    #[test]
    fn find_by_type_finds_mo_roots() {
        let mut t = Tree::new();
        t.insert("./X/Acc1", NewNode::interior().mime_type("urn:x"), t0())
            .unwrap();
        t.insert("./Y/Acc2", NewNode::interior().mime_type("urn:x"), t0())
            .unwrap();
        let found: Vec<String> = t
            .find_by_type("urn:x")
            .iter()
            .map(Uri::to_absolute_string)
            .collect();
        assert_eq!(found, ["./X/Acc1", "./Y/Acc2"]);
    }

    #[test]
    fn thousands_of_nodes() {
        let mut t = Tree::new();
        for i in 0..5000 {
            t.insert(
                &format!("./Inv/D{i}/Name"),
                NewNode::leaf(format!("n{i}")),
                t0(),
            )
            .unwrap();
        }
        assert_eq!(t.len(), 1 + 1 + 5000 * 2);
        assert_eq!(t.value_str("./Inv/D4321/Name"), Some("n4321"));
    }
}
