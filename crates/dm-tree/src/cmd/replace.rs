//! `Replace`: a leaf's value, or the `ACL`, `Name` or `Title` property (digest §3.5, §5.2).
//!
//! - Value: node must exist (404), be a leaf (405), have AccessType Replace (405) and ACL
//!   Replace (425). `Meta/Format` (415 if unknown, 405 if `node`) and `Meta/Type` update the
//!   node's properties when present. Absent `Data` stores an empty value.
//! - `?prop=ACL`: needs ACL Replace on the parent (on the node itself for the root); the new
//!   ACL must parse (400).
//! - `?prop=Name`: AccessType and ACL Replace on the node; not the root or a permanent node
//!   (405); the new name must be a valid segment (400) and free among siblings (418).
//! - `?prop=Title`: AccessType and ACL Replace on the node.
//! - Other properties: 405 (read-only). `?list=`: 405.

use syncml::{Command, Data, Item, ItemCmd, Meta, StatusCode};

use super::{ExecContext, meta_of, per_item, target_of};
use crate::acl::{Acl, AclCommand};
use crate::node::{AccessType, Format, NodeId, NodeKind};
use crate::tree::Tree;
use crate::uri::{Property, Query, is_valid_name};

pub(crate) fn execute(tree: &mut Tree, ctx: &ExecContext<'_>, c: &ItemCmd) -> Vec<Command> {
    per_item(ctx, "Replace", c, |item| {
        replace_item(tree, ctx, c.meta.as_ref(), item).into()
    })
}

fn data_text(item: &Item) -> Option<&str> {
    match &item.data {
        None => Some(""),
        Some(d) => d.as_str(),
    }
}

fn replace_item(
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
    let Some(id) = tree.resolve(uri.segments()) else {
        return StatusCode::NOT_FOUND;
    };
    match uri.query() {
        None => replace_value(tree, ctx, id, cmd_meta, item),
        Some(Query::Prop(p)) => replace_prop(tree, ctx, id, p, item),
        Some(Query::List(_)) => StatusCode::COMMAND_NOT_ALLOWED,
    }
}

fn check(tree: &Tree, ctx: &ExecContext<'_>, id: NodeId) -> Result<(), StatusCode> {
    let node = tree.node(id).ok_or(StatusCode::NOT_FOUND)?;
    if !node.access().contains(AccessType::REPLACE) {
        return Err(StatusCode::COMMAND_NOT_ALLOWED);
    }
    if !tree.permits(id, AclCommand::Replace, ctx.server_id) {
        return Err(StatusCode::PERMISSION_DENIED);
    }
    Ok(())
}

fn replace_value(
    tree: &mut Tree,
    ctx: &ExecContext<'_>,
    id: NodeId,
    cmd_meta: Option<&Meta>,
    item: &Item,
) -> StatusCode {
    if tree.node(id).is_some_and(|n| !n.is_leaf()) {
        return StatusCode::COMMAND_NOT_ALLOWED;
    }
    if let Err(c) = check(tree, ctx, id) {
        return c;
    }
    let (format, mime) = meta_of(cmd_meta, item);
    let format = match format.map(Format::parse).transpose() {
        Ok(Some(Format::Node)) => return StatusCode::COMMAND_NOT_ALLOWED,
        Ok(f) => f,
        Err(e) => return e.status(),
    };
    let Some(node) = tree.node_mut(id) else {
        return StatusCode::NOT_FOUND;
    };
    if let NodeKind::Leaf(v) = &mut node.kind {
        *v = item
            .data
            .clone()
            .unwrap_or_else(|| Data::Text(String::new()));
    }
    if let Some(f) = format {
        node.format = f;
    }
    if let Some(m) = mime {
        node.mime = Some(m.to_owned());
    }
    node.touch(ctx.now);
    StatusCode::OK
}

fn replace_prop(
    tree: &mut Tree,
    ctx: &ExecContext<'_>,
    id: NodeId,
    prop: Property,
    item: &Item,
) -> StatusCode {
    let Some(text) = data_text(item) else {
        return StatusCode::BAD_REQUEST;
    };
    match prop {
        Property::Acl => {
            let governing = tree.node(id).and_then(|n| n.parent).unwrap_or(id);
            if !tree.permits(governing, AclCommand::Replace, ctx.server_id) {
                return StatusCode::PERMISSION_DENIED;
            }
            let acl = match Acl::parse(text) {
                Ok(a) => a,
                Err(e) => return e.status(),
            };
            if let Some(n) = tree.node_mut(id) {
                n.acl = acl;
                n.touch(ctx.now);
            }
            StatusCode::OK
        }
        Property::Name => {
            let Some(node) = tree.node(id) else {
                return StatusCode::NOT_FOUND;
            };
            if node.permanent || node.parent.is_none() {
                return StatusCode::COMMAND_NOT_ALLOWED;
            }
            if let Err(c) = check(tree, ctx, id) {
                return c;
            }
            if !is_valid_name(text) {
                return StatusCode::BAD_REQUEST;
            }
            if node.name == text {
                return StatusCode::OK;
            }
            if node.parent.and_then(|p| tree.child(p, text)).is_some() {
                return StatusCode::ALREADY_EXISTS;
            }
            tree.rename(id, text, ctx.now);
            StatusCode::OK
        }
        Property::Title => {
            if let Err(c) = check(tree, ctx, id) {
                return c;
            }
            if let Some(n) = tree.node_mut(id) {
                n.title = Some(text.to_owned());
                n.touch(ctx.now);
            }
            StatusCode::OK
        }
        Property::Format | Property::Size | Property::TStamp | Property::Type | Property::VerNo => {
            StatusCode::COMMAND_NOT_ALLOWED
        }
    }
}
