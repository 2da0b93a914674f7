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

use syncml::{Command, Data, Item, ItemCmd, Meta, StatusCode};

use super::{ExecContext, meta_of, per_item, target_of};
use crate::acl::{Acl, AclCommand};
use crate::node::{AccessType, Format, NewNode, NodeId};
use crate::tnds::{self, TNDS_WBXML, TNDS_XML, TndsNode};
use crate::tree::Tree;
use crate::uri::Uri;

pub(crate) fn execute(tree: &mut Tree, ctx: &ExecContext<'_>, c: &ItemCmd) -> Vec<Command> {
    per_item(ctx, "Add", c, |item| {
        add_item(tree, ctx, c.meta.as_ref(), item).into()
    })
}

/// Checks that `server` may create a node at `uri`; returns the ACL for the topmost new node.
pub(crate) fn check_create(
    tree: &Tree,
    ctx: &ExecContext<'_>,
    uri: &Uri,
) -> Result<Option<Acl>, StatusCode> {
    let segs = uri.segments();
    let (anc, depth) = tree.nearest_existing(segs);
    if depth == segs.len() {
        return Err(StatusCode::ALREADY_EXISTS);
    }
    let node = tree.node(anc).ok_or(StatusCode::COMMAND_FAILED)?;
    if node.is_leaf() || !node.access().contains(AccessType::ADD) {
        return Err(StatusCode::COMMAND_NOT_ALLOWED);
    }
    if !tree.permits(anc, AclCommand::Add, ctx.server_id) {
        return Err(StatusCode::PERMISSION_DENIED);
    }
    Ok(creator_acl(tree, anc, ctx.server_id))
}

fn creator_acl(tree: &Tree, parent: NodeId, server: &str) -> Option<Acl> {
    if tree.permits(parent, AclCommand::Replace, server) {
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

fn add_item(
    tree: &mut Tree,
    ctx: &ExecContext<'_>,
    cmd_meta: Option<&Meta>,
    item: &Item,
) -> StatusCode {
    let Some(target) = target_of(item) else {
        return StatusCode::INCOMPLETE_COMMAND;
    };
    let uri = match tree.parse_uri(target) {
        Ok(u) => u,
        Err(e) => return e.status(),
    };
    if uri.query().is_some() {
        return StatusCode::COMMAND_NOT_ALLOWED;
    }
    let (format, mime) = meta_of(cmd_meta, item);
    match mime {
        Some(TNDS_XML) => return add_tnds(tree, ctx, &uri, item.data.as_ref()),
        Some(TNDS_WBXML) => return StatusCode::UNSUPPORTED_MEDIA_TYPE,
        _ => {}
    }
    if uri.is_root() {
        return StatusCode::ALREADY_EXISTS;
    }
    let format = match format.map(Format::parse).transpose() {
        Ok(f) => f.unwrap_or(Format::Chr),
        Err(e) => return e.status(),
    };
    let top_acl = match check_create(tree, ctx, &uri) {
        Ok(a) => a,
        Err(code) => return code,
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
    match tree.insert_at(&uri, spec, ctx.now, top_acl) {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status(),
    }
}

fn add_tnds(
    tree: &mut Tree,
    ctx: &ExecContext<'_>,
    target: &Uri,
    data: Option<&Data>,
) -> StatusCode {
    let Some(text) = data.and_then(Data::as_str) else {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    };
    let nodes = match tnds::parse(text) {
        Ok(n) => n,
        Err(e) => return e.status(),
    };
    let saved = tree.store.clone();
    let mut code = StatusCode::OK;
    for n in &nodes {
        let base = match &n.path {
            None => target.clone(),
            Some(p) if p == "." || p.starts_with("./") => match tree.parse_uri(p) {
                Ok(u) => u,
                Err(e) => {
                    code = e.status();
                    break;
                }
            },
            Some(p) => match tree.parse_uri(&format!("{}/{p}", target.to_absolute_string())) {
                Ok(u) => u,
                Err(e) => {
                    code = e.status();
                    break;
                }
            },
        };
        let uri = if n.name.is_empty() {
            base
        } else {
            base.join(&n.name)
        };
        if let Err(c) = create_tnds_node(tree, ctx, &uri, n, true) {
            code = c;
            break;
        }
    }
    if !code.is_success() {
        tree.store = saved;
    }
    code
}

fn create_tnds_node(
    tree: &mut Tree,
    ctx: &ExecContext<'_>,
    uri: &Uri,
    n: &TndsNode,
    check: bool,
) -> Result<(), StatusCode> {
    if uri.is_root() {
        return Err(StatusCode::ALREADY_EXISTS);
    }
    let top_acl = if check {
        check_create(tree, ctx, uri)?
    } else {
        None
    };
    let mut spec = if n.is_interior() {
        NewNode::interior()
    } else {
        NewNode::leaf(Data::Text(n.value.clone().unwrap_or_default()))
            .format(n.format.unwrap_or(Format::Chr))
    };
    spec.mime_type = n.mime.clone();
    spec.acl = n.acl.clone();
    spec.title = n.title.clone();
    tree.insert_at(uri, spec, ctx.now, top_acl)
        .map_err(|e| e.status())?;
    for c in &n.children {
        // Children of a node this server just created: no further checks.
        create_tnds_node(tree, ctx, &uri.join(&c.name), c, false)?;
    }
    Ok(())
}
