//! `Add`: create a leaf or interior node (digest §3.5).
//!
//! - Missing interior parents are created implicitly (empty ACL, dynamic).
//! - The server needs AccessType Add (405) and ACL Add (425) on the nearest existing ancestor.
//! - If the server lacks ACL Replace on that ancestor, the topmost new node gets the ACL
//!   `Add=<server>&Delete=<server>&Replace=<server>` (digest §5.3).
//! - `Meta/Format` is optional: absent means `chr` (a leaf); `node` makes an interior node
//!   (its `Data` is ignored); an unknown format gives 415. `Meta/Type` becomes the `Type`.
//! - `Type` `application/vnd.syncml.dmtnds+xml`: the `Data` is a TNDS `MgmtTree` whose nodes
//!   are created below the target (one Status for the whole document; all or nothing);
//!   `+wbxml` gives 415.
//! - Target exists (or is the root): 418. Ancestor is a leaf: 405. Query in URI: 405.
//! - Below a mount point ([`crate::mount`]): the same checks on the provider's nodes (the
//!   nearest existing ancestor may be the mount point itself); the provider creates missing
//!   parents and the node one `add` at a time, top-down; if a later one fails, the tree deletes
//!   what it created. A TNDS Add into a provider needs its transaction (else 406). Below a
//!   command provider the whole item goes to it.

use std::collections::BTreeSet;

use syncml::{Data, Item, ItemCmd, Meta, StatusCode};

use super::atomic::Txn;
use super::forward::{Handover, forward, forwarding};
use super::{ExecContext, Executed, ItemReply, Run, meta_of, per_item, target_of};
use crate::acl::{Acl, AclCommand};
use crate::mount::place::{Place, Pos, View};
use crate::mount::{Answer, ItemCommand, MountContext};
use crate::node::{AccessType, Format, NewNode, NodeId};
use crate::tnds::{self, TNDS_WBXML, TNDS_XML, TndsNode};
use crate::tree::{MAX_TREE_DEPTH, Tree, level_spec};
use crate::uri::Uri;

pub(crate) fn execute(tree: &mut Tree, run: Run<'_>, c: &ItemCmd) -> Executed {
    per_item(run.ctx, "Add", c, |item| {
        add_item(tree, run, c.meta.as_ref(), item)
    })
}

/// The ACL the topmost node created by `server` below `parent` gets: none if the server may
/// Replace on the parent, else Add/Delete/Replace for the server (digest §5.3).
fn creator_acl(permits_replace: bool, server: &str) -> Option<Acl> {
    if permits_replace {
        None
    } else {
        Some(
            Acl::empty()
                .with(AclCommand::Add, server)
                .with(AclCommand::Delete, server)
                .with(AclCommand::Replace, server),
        )
    }
}

/// The rights check on the nearest existing ancestor of a new node; returns the ACL for the
/// topmost new node.
fn check_parent(
    tree: &Tree,
    ctx: &ExecContext<'_>,
    pos: &Pos,
    view: &View<'_>,
) -> Result<Option<Acl>, StatusCode> {
    if view.is_leaf() || !view.access().contains(AccessType::ADD) {
        return Err(StatusCode::COMMAND_NOT_ALLOWED);
    }
    if !tree.permits_at(pos, view, AclCommand::Add, ctx.server_id)? {
        return Err(StatusCode::PERMISSION_DENIED);
    }
    let replace = tree.permits_at(pos, view, AclCommand::Replace, ctx.server_id)?;
    Ok(creator_acl(replace, ctx.server_id))
}

fn add_item(tree: &mut Tree, run: Run<'_>, cmd_meta: Option<&Meta>, item: &Item) -> ItemReply {
    let Some(target) = target_of(item) else {
        return StatusCode::INCOMPLETE_COMMAND.into();
    };
    let uri = match tree.parse_uri(target) {
        Ok(u) => u,
        Err(e) => return e.status().into(),
    };
    if let Some(at) = forwarding(tree, tree.place(uri.segments())) {
        let h = Handover::item(ItemCommand::Add, at, &uri, item, cmd_meta);
        return forward(tree, run, &h);
    }
    if uri.query().is_some() {
        return StatusCode::COMMAND_NOT_ALLOWED.into();
    }
    let (format, mime) = meta_of(cmd_meta, item);
    match mime {
        Some(TNDS_XML) => return add_tnds(tree, run, &uri, item.data.as_ref()).into(),
        Some(TNDS_WBXML) => return StatusCode::UNSUPPORTED_MEDIA_TYPE.into(),
        _ => {}
    }
    if uri.is_root() {
        return StatusCode::ALREADY_EXISTS.into();
    }
    let format = match format.map(Format::parse).transpose() {
        Ok(f) => f.unwrap_or(Format::Chr),
        Err(e) => return e.status().into(),
    };
    let mut spec = if format == Format::Node {
        NewNode::interior()
    } else {
        NewNode::leaf(
            item.data
                .clone()
                .unwrap_or_else(|| Data::Text(String::new())),
        )
        .format(format)
    };
    spec.mime_type = mime.map(str::to_owned);
    create(tree, run, &uri, spec, true)
}

/// Creates `spec` at `uri` with missing interior parents, wherever the path leads (the tree or
/// a node provider; below a command provider: 406). `check`: the server's rights on the
/// nearest existing ancestor (AccessType Add, ACL Add) are checked and the topmost new node
/// gets the creator ACL where due.
pub(crate) fn create(
    tree: &mut Tree,
    run: Run<'_>,
    uri: &Uri,
    spec: NewNode,
    check: bool,
) -> ItemReply {
    match tree.place(uri.segments()) {
        Place::Arena(_) => StatusCode::ALREADY_EXISTS.into(),
        Place::Missing { nearest, .. } => {
            let top_acl = if check {
                let Some(node) = tree.node(nearest) else {
                    return StatusCode::COMMAND_FAILED.into();
                };
                match check_parent(tree, run.ctx, &Pos::Arena(nearest), &View::Arena(node)) {
                    Ok(a) => a,
                    Err(c) => return c.into(),
                }
            } else {
                None
            };
            match tree.insert_at(uri, spec, run.ctx.now, top_acl) {
                Ok(_) => StatusCode::OK.into(),
                Err(e) => e.status().into(),
            }
        }
        Place::Mounted { point, mount, rel } => {
            if tree.forwards(mount) {
                return StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED.into();
            }
            let rel = rel.to_vec();
            create_mounted(tree, run, (mount, point), uri, &rel, spec, check)
        }
    }
}

/// [`create`] below the mount point `point` of node provider `mount`.
fn create_mounted(
    tree: &mut Tree,
    run: Run<'_>,
    (mount, point): (usize, NodeId),
    uri: &Uri,
    rel: &[String],
    spec: NewNode,
    check: bool,
) -> ItemReply {
    if uri.depth() > MAX_TREE_DEPTH {
        return StatusCode::URI_TOO_LONG.into();
    }
    let Some(provider) = tree.node_provider(mount) else {
        return StatusCode::COMMAND_FAILED.into();
    };
    // The nearest existing ancestor: `existing` segments of `rel` exist.
    let mut existing = 0;
    let mut nearest = None;
    for k in (1..=rel.len()).rev() {
        match provider.node(rel.get(..k).unwrap_or_default()) {
            Err(c) => return c.into(),
            Ok(Some(n)) => {
                existing = k;
                nearest = Some(n);
                break;
            }
            Ok(None) => {}
        }
    }
    if existing == rel.len() {
        return StatusCode::ALREADY_EXISTS.into();
    }
    let top_acl = {
        let (pos, view) = match nearest {
            Some(node) => (
                Pos::Mounted {
                    mount,
                    point,
                    rel: rel.get(..existing).unwrap_or_default().to_vec(),
                },
                View::Mounted {
                    name: String::new(),
                    node,
                },
            ),
            None => match tree.node(point) {
                Some(n) => (Pos::Arena(point), View::Arena(n)),
                None => return StatusCode::COMMAND_FAILED.into(),
            },
        };
        if view.is_leaf() {
            return StatusCode::COMMAND_NOT_ALLOWED.into();
        }
        if check {
            match check_parent(tree, run.ctx, &pos, &view) {
                Ok(a) => a,
                Err(c) => return c.into(),
            }
        } else {
            None
        }
    };
    let at_once = MountContext::new(run.ctx.server_id, run.ctx.now, false);
    let mut top_acl = top_acl;
    let mut spec = Some(spec);
    let mut reply = ItemReply::from(StatusCode::OK);
    let mut created = false;
    for i in existing..rel.len() {
        let last = i + 1 == rel.len();
        let s = level_spec(last, &mut spec, &mut top_acl);
        let path = rel.get(..=i).unwrap_or_default();
        let mctx = if last { run.mount_ctx() } else { at_once };
        let Some(provider) = tree.node_provider_mut(mount) else {
            return StatusCode::COMMAND_FAILED.into();
        };
        match provider.add(&mctx, path, s) {
            Answer::Ready(code) if code.is_success() => created = true,
            Answer::Ready(code) => {
                reply = code.into();
                break;
            }
            answer @ Answer::Pending(_) if last => {
                reply = run.answered(
                    answer,
                    || tree.uri_of(point),
                    None,
                    |c: StatusCode| c.into(),
                );
                break;
            }
            Answer::Pending(_) => {
                reply = StatusCode::COMMAND_FAILED.into();
                break;
            }
        }
    }
    let ok = match &reply {
        ItemReply::Done(o) => o.code.is_success(),
        ItemReply::Pending(_) => true,
    };
    if !ok && created {
        // Undo the parents this Add created (best effort: the provider failed half-way).
        if let Some(provider) = tree.node_provider_mut(mount) {
            let top = rel.get(..=existing).unwrap_or_default();
            let _ = provider.delete(&at_once, top);
        }
    } else if created
        && existing == 0
        && let Some(n) = tree.node_mut(point)
    {
        n.touch(run.ctx.now);
    }
    reply
}

/// The URIs of the outermost nodes of a TNDS document added at `target` (paths starting
/// with `.` are absolute, others relative to the target).
fn outer_uris(tree: &Tree, target: &Uri, nodes: &[TndsNode]) -> Vec<Result<Uri, StatusCode>> {
    nodes
        .iter()
        .map(|n| {
            let base = match &n.path {
                None => target.clone(),
                Some(p) if p == "." || p.starts_with("./") => {
                    tree.parse_uri(p).map_err(|e| e.status())?
                }
                Some(p) => tree
                    .parse_uri(&format!("{}/{p}", target.to_absolute_string()))
                    .map_err(|e| e.status())?,
            };
            Ok(if n.name.is_empty() {
                base
            } else {
                base.join(&n.name)
            })
        })
        .collect()
}

/// The mounts a TNDS Add item would create nodes in (empty if the item is not one).
pub(crate) fn tnds_mounts(tree: &Tree, cmd_meta: Option<&Meta>, item: &Item) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    if meta_of(cmd_meta, item).1 != Some(TNDS_XML) {
        return out;
    }
    let (Some(target), Some(text)) = (target_of(item), item.data.as_ref().and_then(Data::as_str))
    else {
        return out;
    };
    let (Ok(target), Ok(nodes)) = (tree.parse_uri(target), tnds::parse(text)) else {
        return out;
    };
    for uri in outer_uris(tree, &target, &nodes).into_iter().flatten() {
        if let Place::Mounted { mount, .. } = tree.place(uri.segments()) {
            out.insert(mount);
        }
    }
    out
}

fn add_tnds(tree: &mut Tree, run: Run<'_>, target: &Uri, data: Option<&Data>) -> StatusCode {
    let Some(text) = data.and_then(Data::as_str) else {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    };
    let nodes = match tnds::parse(text) {
        Ok(n) => n,
        Err(e) => return e.status(),
    };
    let run = run.at_once();
    let uris = outer_uris(tree, target, &nodes);
    let mounts: BTreeSet<usize> = uris
        .iter()
        .flatten()
        .filter_map(|u| match tree.place(u.segments()) {
            Place::Mounted { mount, .. } => Some(mount),
            _ => None,
        })
        .collect();
    let txn = match Txn::begin(tree, mounts) {
        Ok(t) => t,
        Err((_, code)) => return code,
    };
    let mut code = StatusCode::OK;
    for (n, uri) in nodes.iter().zip(uris) {
        let created = uri.and_then(|u| create_tnds_node(tree, run, &u, n, true));
        if let Err(c) = created {
            code = c;
            break;
        }
    }
    if code.is_success() {
        txn.commit(tree);
    } else if !txn.rollback(tree).is_empty() {
        code = StatusCode::ATOMIC_ROLLBACK_FAILED;
    }
    code
}

fn create_tnds_node(
    tree: &mut Tree,
    run: Run<'_>,
    uri: &Uri,
    n: &TndsNode,
    check: bool,
) -> Result<(), StatusCode> {
    if uri.is_root() {
        return Err(StatusCode::ALREADY_EXISTS);
    }
    let mut spec = if n.is_interior() {
        NewNode::interior()
    } else {
        NewNode::leaf(Data::Text(n.value.clone().unwrap_or_default()))
            .format(n.format.unwrap_or(Format::Chr))
    };
    spec.mime_type = n.mime.clone();
    spec.acl = n.acl.clone();
    spec.title = n.title.clone();
    match create(tree, run, uri, spec, check) {
        ItemReply::Done(o) if o.code.is_success() => {}
        ItemReply::Done(o) => return Err(o.code),
        ItemReply::Pending(_) => return Err(StatusCode::COMMAND_FAILED),
    }
    for c in &n.children {
        // Children of a node this server just created: no further checks.
        create_tnds_node(tree, run, &uri.join(&c.name), c, false)?;
    }
    Ok(())
}
