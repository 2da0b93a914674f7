//! Where a path leads (the tree's arena or a provider) and one view of a node wherever it lives,
//! so that the command modules apply the same DM rules to both.

use std::borrow::Cow;
use std::rc::Rc;

use syncml::{Data, StatusCode};

use super::{Mount, MountNode, NodeProvider};
use crate::acl::{Acl, AclCommand};
use crate::node::{AccessType, Format, Node, NodeId, NodeKind, Timestamp};
use crate::tree::{MAX_TREE_DEPTH, Tree};
use crate::uri::Uri;

/// Where a path leads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place<'s> {
    /// A node of the tree's own arena (possibly a mount point).
    Arena(NodeId),
    /// Not in the arena; `nearest` is the deepest existing node on the path (not a mount
    /// point).
    Missing { nearest: NodeId },
    /// Below the mount point `point` (whose provider is `mount`); `rel` is never empty.
    Mounted {
        point: NodeId,
        mount: usize,
        rel: &'s [String],
    },
}

/// A node the tree can reason about: in the arena or in a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pos {
    Arena(NodeId),
    Mounted {
        mount: usize,
        point: NodeId,
        rel: Vec<String>,
    },
}

/// A node's data, borrowed from the arena or described by a provider.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // short-lived locals; boxing would only add an allocation
pub(crate) enum View<'t> {
    Arena(&'t Node),
    Mounted { name: String, node: MountNode },
}

impl View<'_> {
    pub(crate) fn name(&self) -> &str {
        match self {
            View::Arena(n) => n.name(),
            View::Mounted { name, .. } => name,
        }
    }

    pub(crate) fn is_leaf(&self) -> bool {
        match self {
            View::Arena(n) => n.is_leaf(),
            View::Mounted { node, .. } => node.is_leaf(),
        }
    }

    pub(crate) fn value(&self) -> Option<&Data> {
        match self {
            View::Arena(n) => n.value(),
            View::Mounted { node, .. } => node.node.value.as_ref(),
        }
    }

    pub(crate) fn access(&self) -> AccessType {
        match self {
            View::Arena(n) => n.access(),
            View::Mounted { node, .. } => node.node.access,
        }
    }

    pub(crate) fn acl(&self) -> &Acl {
        match self {
            View::Arena(n) => n.acl(),
            View::Mounted { node, .. } => &node.node.acl,
        }
    }

    pub(crate) fn format(&self) -> Format {
        match self {
            View::Arena(n) => n.format(),
            View::Mounted { node, .. } if node.is_leaf() => node.node.format,
            View::Mounted { .. } => Format::Node,
        }
    }

    pub(crate) fn mime_type(&self) -> Option<&str> {
        match self {
            View::Arena(n) => n.mime_type(),
            View::Mounted { node, .. } => node.node.mime_type.as_deref(),
        }
    }

    pub(crate) fn title(&self) -> Option<&str> {
        match self {
            View::Arena(n) => n.title(),
            View::Mounted { node, .. } => node.node.title.as_deref(),
        }
    }

    pub(crate) fn tstamp(&self) -> Option<Timestamp> {
        match self {
            View::Arena(n) => n.tstamp(),
            View::Mounted { node, .. } => node.tstamp,
        }
    }

    pub(crate) fn verno(&self) -> u16 {
        match self {
            View::Arena(n) => n.verno(),
            View::Mounted { node, .. } => node.verno,
        }
    }

    pub(crate) fn permanent(&self) -> bool {
        match self {
            View::Arena(n) => n.is_permanent(),
            View::Mounted { node, .. } => node.node.permanent,
        }
    }

    pub(crate) fn size(&self) -> Option<usize> {
        self.value().map(Data::len)
    }
}

/// One node met by [`Tree::walk_at`].
pub(crate) struct Visit<'v, 't> {
    /// Depth below the start.
    pub depth: usize,
    /// Names from the start.
    pub path: &'v [String],
    pub view: &'v View<'t>,
    /// The node's effective ACL (inherited along the walk).
    pub acl: &'v Acl,
}

/// What [`Tree::walk_at`] calls for each node; answers whether to visit the children.
pub(crate) type Visitor<'a> = dyn FnMut(&Visit<'_, '_>) -> Result<bool, StatusCode> + 'a;

impl Tree {
    /// Follows `segs` through the arena, stopping at a mount point.
    pub(crate) fn place<'s>(&self, segs: &'s [String]) -> Place<'s> {
        let mut id = crate::tree::ROOT;
        for (i, s) in segs.iter().enumerate() {
            match self.node(id).map(|n| &n.kind) {
                Some(NodeKind::Interior(c)) => match c.get(s) {
                    Some(&next) => id = next,
                    None => return Place::Missing { nearest: id },
                },
                Some(NodeKind::Mount(m)) => {
                    return Place::Mounted {
                        point: id,
                        mount: *m,
                        rel: segs.get(i..).unwrap_or_default(),
                    };
                }
                Some(NodeKind::Leaf(_)) | None => {
                    return Place::Missing { nearest: id };
                }
            }
        }
        Place::Arena(id)
    }

    /// The node provider of mount `idx` (`None` for a command provider).
    pub(crate) fn node_provider(&self, idx: usize) -> Option<&dyn NodeProvider> {
        match &self.mount_entry(idx)?.mount {
            Mount::Nodes(p) => Some(p.as_ref()),
            Mount::Commands(_) => None,
        }
    }

    pub(crate) fn node_provider_mut(
        &mut self,
        idx: usize,
    ) -> Option<&mut (dyn NodeProvider + 'static)> {
        match &mut self.mount_entry_mut(idx)?.mount {
            Mount::Nodes(p) => Some(p.as_mut()),
            Mount::Commands(_) => None,
        }
    }

    /// True if mount `idx` is a command provider.
    pub(crate) fn forwards(&self, idx: usize) -> bool {
        self.mount_entry(idx)
            .is_some_and(|e| matches!(e.mount, Mount::Commands(_)))
    }

    /// The mount a mount point carries.
    pub(crate) fn mount_of_point(&self, id: NodeId) -> Option<usize> {
        match self.node(id)?.kind {
            NodeKind::Mount(m) => Some(m),
            _ => None,
        }
    }

    /// The position `segs` names if it is a node-provider node or an arena node; `None` if it
    /// is missing from the arena. Command-provider places must be handled before.
    pub(crate) fn pos_of(&self, place: Place<'_>) -> Option<Pos> {
        match place {
            Place::Arena(id) => Some(Pos::Arena(id)),
            Place::Missing { .. } => None,
            Place::Mounted { point, mount, rel } => Some(Pos::Mounted {
                mount,
                point,
                rel: rel.to_vec(),
            }),
        }
    }

    /// The node at `pos`; `Ok(None)` if the provider has none.
    pub(crate) fn view_at(&self, pos: &Pos) -> Result<Option<View<'_>>, StatusCode> {
        match pos {
            Pos::Arena(id) => Ok(self.node(*id).map(View::Arena)),
            Pos::Mounted { mount, rel, .. } => {
                let p = self
                    .node_provider(*mount)
                    .ok_or(StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED)?;
                Ok(p.node(rel)?.map(|node| View::Mounted {
                    name: rel.last().cloned().unwrap_or_default(),
                    node,
                }))
            }
        }
    }

    /// The child names of the interior node at `pos` joined by `/` (a mount point: the
    /// provider's), as a Get of an interior node answers.
    pub(crate) fn child_list_at(&self, pos: &Pos) -> Result<String, StatusCode> {
        let provider = |m: usize| {
            self.node_provider(m)
                .ok_or(StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED)
        };
        match pos {
            Pos::Arena(id) => match self.node(*id).map(|n| &n.kind) {
                Some(NodeKind::Mount(m)) => Ok(provider(*m)?.children(&[])?.join("/")),
                Some(NodeKind::Interior(c)) => {
                    Ok(c.keys().map(String::as_str).collect::<Vec<_>>().join("/"))
                }
                _ => Ok(String::new()),
            },
            Pos::Mounted { mount, rel, .. } => Ok(provider(*mount)?.children(rel)?.join("/")),
        }
    }

    /// The children of `pos` with their names; a mount point's only when `descend` (and never a
    /// command provider's).
    fn children_at(&self, pos: &Pos, descend: bool) -> Result<Vec<(String, Pos)>, StatusCode> {
        let mounted = |mount: usize, point: NodeId, base: &[String], names: Vec<String>| {
            names
                .into_iter()
                .map(|n| {
                    let mut rel = base.to_vec();
                    rel.push(n.clone());
                    (n, Pos::Mounted { mount, point, rel })
                })
                .collect()
        };
        match pos {
            Pos::Arena(id) => match self.node(*id).map(|n| &n.kind) {
                Some(NodeKind::Interior(c)) => Ok(c
                    .iter()
                    .map(|(n, id)| (n.clone(), Pos::Arena(*id)))
                    .collect()),
                Some(NodeKind::Mount(m)) if descend => match self.node_provider(*m) {
                    Some(p) => Ok(mounted(*m, *id, &[], p.children(&[])?)),
                    None => Ok(Vec::new()),
                },
                _ => Ok(Vec::new()),
            },
            Pos::Mounted { mount, point, rel } => match self.node_provider(*mount) {
                Some(p) => Ok(mounted(*mount, *point, rel, p.children(rel)?)),
                None => Ok(Vec::new()),
            },
        }
    }

    /// The parent of `pos` (`None` for the root).
    pub(crate) fn parent_pos(&self, pos: &Pos) -> Option<Pos> {
        match pos {
            Pos::Arena(id) => self.node(*id)?.parent.map(Pos::Arena),
            Pos::Mounted { mount, point, rel } => Some(match rel.split_last() {
                Some((_, init)) if !init.is_empty() => Pos::Mounted {
                    mount: *mount,
                    point: *point,
                    rel: init.to_vec(),
                },
                _ => Pos::Arena(*point),
            }),
        }
    }

    /// The child `name` of `pos` (the caller knows it exists or is about to).
    pub(crate) fn child_pos(&self, pos: &Pos, name: &str) -> Option<Pos> {
        match pos {
            Pos::Arena(id) => match self.node(*id)?.kind {
                NodeKind::Mount(mount) => Some(Pos::Mounted {
                    mount,
                    point: *id,
                    rel: vec![name.to_owned()],
                }),
                _ => self.child(*id, name).map(Pos::Arena),
            },
            Pos::Mounted { mount, point, rel } => {
                let mut rel = rel.clone();
                rel.push(name.to_owned());
                Some(Pos::Mounted {
                    mount: *mount,
                    point: *point,
                    rel,
                })
            }
        }
    }

    /// The absolute URI of `pos`.
    pub(crate) fn uri_at(&self, pos: &Pos) -> Uri {
        match pos {
            Pos::Arena(id) => self.uri_of(*id),
            Pos::Mounted { point, rel, .. } => {
                let mut u = self.uri_of(*point);
                for s in rel {
                    u = u.join(s);
                }
                u
            }
        }
    }

    /// The effective ACL of the node `view` at `pos` (see [`crate::mount`] for mounted nodes).
    pub(crate) fn acl_at<'a>(
        &'a self,
        pos: &Pos,
        view: &'a View<'_>,
    ) -> Result<Cow<'a, Acl>, StatusCode> {
        match pos {
            Pos::Arena(id) => Ok(Cow::Borrowed(self.effective_acl_of(*id))),
            Pos::Mounted { mount, point, rel } => {
                if !view.acl().is_empty() {
                    return Ok(Cow::Borrowed(view.acl()));
                }
                if let Some(p) = self.node_provider(*mount) {
                    for k in (1..rel.len()).rev() {
                        if let Some(n) = p.node(rel.get(..k).unwrap_or_default())?
                            && !n.node.acl.is_empty()
                        {
                            return Ok(Cow::Owned(n.node.acl));
                        }
                    }
                }
                Ok(Cow::Borrowed(self.effective_acl_of(*point)))
            }
        }
    }

    /// True if `server` may issue `cmd` on the node `view` at `pos`.
    pub(crate) fn permits_at(
        &self,
        pos: &Pos,
        view: &View<'_>,
        cmd: AclCommand,
        server: &str,
    ) -> Result<bool, StatusCode> {
        Ok(self.acl_at(pos, view)?.permits(cmd, server))
    }

    /// Pre-order walk from `start` (children in listing order), iterative. Mount points are
    /// entered only when `descend`. Each node's effective ACL is carried down the walk (its own
    /// if not empty, else its parent's), so a provider is asked once per node. Depth is capped
    /// at [`MAX_TREE_DEPTH`] so a provider cannot make the walk unbounded.
    ///
    /// # Errors
    /// The first provider failure.
    pub(crate) fn walk_at(
        &self,
        start: Pos,
        descend: bool,
        f: &mut Visitor<'_>,
    ) -> Result<(), StatusCode> {
        // (depth, names from the start, position, the parent's effective ACL; None: compute)
        type Pending = (usize, Vec<String>, Pos, Option<Rc<Acl>>);
        let mut stack: Vec<Pending> = vec![(0, Vec::new(), start, None)];
        while let Some((depth, path, pos, inherited)) = stack.pop() {
            let Some(view) = self.view_at(&pos)? else {
                continue;
            };
            let acl = match inherited {
                Some(parent) if view.acl().is_empty() => parent,
                Some(_) => Rc::new(view.acl().clone()),
                None => Rc::new(self.acl_at(&pos, &view)?.into_owned()),
            };
            let visit = Visit {
                depth,
                path: &path,
                view: &view,
                acl: &acl,
            };
            if !f(&visit)? || depth >= MAX_TREE_DEPTH {
                continue;
            }
            let kids = self.children_at(&pos, descend)?;
            for (name, kid) in kids.into_iter().rev() {
                let mut p = path.clone();
                p.push(name);
                stack.push((depth + 1, p, kid, Some(Rc::clone(&acl))));
            }
        }
        Ok(())
    }

    /// True if the subtree at `pos` holds a permanent node (a mount point is one).
    pub(crate) fn holds_permanent(&self, pos: &Pos) -> Result<bool, StatusCode> {
        let mut found = false;
        self.walk_at(pos.clone(), true, &mut |v| {
            found |= v.view.permanent();
            Ok(!found)
        })?;
        Ok(found)
    }

    /// True if the arena subtree at `id` holds a mount point.
    pub(crate) fn holds_mount(&self, id: NodeId) -> bool {
        let mut found = false;
        self.walk(id, &mut |t, n| {
            found |= t.node(n).is_some_and(Node::is_mount_point);
        });
        found
    }
}
