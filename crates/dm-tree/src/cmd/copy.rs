//! `Copy`: copy a leaf to a new leaf (DM 1.2 supports leaf → leaf only; digest §3.5).
//!
//! - Source: must exist (404), be a leaf (406: copying subtrees is not supported), have
//!   AccessType Copy (405) and ACL Get (425).
//! - Target: must not exist (418; PROJECT CHOICE: Copy never overwrites); it is created like an
//!   Add (implicit parents; AccessType and ACL Add on the nearest existing ancestor, 405/425)
//!   with the source's value, Format and Type.
//! - Status carries `TargetRef` and `SourceRef`.

use syncml::{Command, Item, ItemCmd, StatusCode};

use super::add::check_create;
use super::{ExecContext, per_item, source_of, target_of};
use crate::acl::AclCommand;
use crate::node::{AccessType, NewNode, NodeKind};
use crate::tree::Tree;

pub(crate) fn execute(tree: &mut Tree, ctx: &ExecContext<'_>, c: &ItemCmd) -> Vec<Command> {
    per_item(ctx, "Copy", c, |item| copy_item(tree, ctx, item).into())
}

fn copy_item(tree: &mut Tree, ctx: &ExecContext<'_>, item: &Item) -> StatusCode {
    let (Some(source), Some(target)) = (source_of(item), target_of(item)) else {
        return StatusCode::INCOMPLETE_COMMAND;
    };
    let src = match tree.parse_uri(source) {
        Ok(u) => u,
        Err(e) => return e.status(),
    };
    let dst = match tree.parse_uri(target) {
        Ok(u) => u,
        Err(e) => return e.status(),
    };
    if src.query().is_some() || dst.query().is_some() {
        return StatusCode::COMMAND_NOT_ALLOWED;
    }
    let Some(sid) = tree.resolve(src.segments()) else {
        return StatusCode::NOT_FOUND;
    };
    let Some(snode) = tree.node(sid) else {
        return StatusCode::NOT_FOUND;
    };
    let NodeKind::Leaf(value) = &snode.kind else {
        return StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED;
    };
    if !snode.access().contains(AccessType::COPY) {
        return StatusCode::COMMAND_NOT_ALLOWED;
    }
    if !tree.permits(sid, AclCommand::Get, ctx.server_id) {
        return StatusCode::PERMISSION_DENIED;
    }
    if dst.is_root() {
        return StatusCode::ALREADY_EXISTS;
    }
    let mut spec = NewNode::leaf(value.clone()).format(snode.format());
    spec.mime_type = snode.mime_type().map(str::to_owned);
    let top_acl = match check_create(tree, ctx, &dst) {
        Ok(a) => a,
        Err(c) => return c,
    };
    match tree.insert_at(&dst, spec, ctx.now, top_acl) {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status(),
    }
}
