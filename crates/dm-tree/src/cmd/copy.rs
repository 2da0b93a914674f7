//! `Copy`: copy a leaf to a new leaf (DM 1.2 supports leaf → leaf only; digest §3.5).
//!
//! - Source: must exist (404), be a leaf (406: copying subtrees is not supported), have
//!   AccessType Copy (405) and ACL Get (425).
//! - Target: must not exist (418; PROJECT CHOICE: Copy never overwrites); it is created like an
//!   Add (implicit parents; AccessType and ACL Add on the nearest existing ancestor, 405/425)
//!   with the source's value, Format and Type.
//! - Status carries `TargetRef` and `SourceRef`.
//! - Mounted subtrees ([`crate::mount`]): source and target may each be the tree's or a node
//!   provider's. Source and target below the same command provider: the item goes to it (ACL
//!   Get and Add on the mount point); a Copy that crosses a command provider's mount point in
//!   either direction: 406 (its nodes cannot be read or written at once).

use syncml::{Item, ItemCmd, StatusCode};

use super::add::create;
use super::forward::{Handover, forward, forwarding};
use super::{Executed, ItemReply, Run, per_item, source_of, target_of};
use crate::acl::AclCommand;
use crate::mount::ItemCommand;
use crate::node::{AccessType, NewNode};
use crate::tree::Tree;

pub(crate) fn execute(tree: &mut Tree, run: Run<'_>, c: &ItemCmd) -> Executed {
    per_item(run.ctx, "Copy", c, |item| copy_item(tree, run, c, item))
}

fn copy_item(tree: &mut Tree, run: Run<'_>, c: &ItemCmd, item: &Item) -> ItemReply {
    let (Some(source), Some(target)) = (source_of(item), target_of(item)) else {
        return StatusCode::INCOMPLETE_COMMAND.into();
    };
    let src = match tree.parse_uri(source) {
        Ok(u) => u,
        Err(e) => return e.status().into(),
    };
    let dst = match tree.parse_uri(target) {
        Ok(u) => u,
        Err(e) => return e.status().into(),
    };
    if src.query().is_some() || dst.query().is_some() {
        return StatusCode::COMMAND_NOT_ALLOWED.into();
    }
    let src_place = tree.place(src.segments());
    match (
        forwarding(tree, src_place),
        forwarding(tree, tree.place(dst.segments())),
    ) {
        (None, None) => {}
        (Some(at), Some((n, _))) if at.0 == n => {
            let mut h = Handover::item(ItemCommand::Copy, at, &dst, item, c.meta.as_ref());
            h.source = Some(&src);
            return forward(tree, run, &h);
        }
        _ => return StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED.into(),
    }
    let spec = {
        let Some(pos) = tree.pos_of(src_place) else {
            return StatusCode::NOT_FOUND.into();
        };
        let view = match tree.view_at(&pos) {
            Ok(Some(v)) => v,
            Ok(None) => return StatusCode::NOT_FOUND.into(),
            Err(c) => return c.into(),
        };
        let Some(value) = view.value() else {
            return StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED.into();
        };
        if !view.access().contains(AccessType::COPY) {
            return StatusCode::COMMAND_NOT_ALLOWED.into();
        }
        match tree.permits_at(&pos, &view, AclCommand::Get, run.ctx.server_id) {
            Ok(true) => {}
            Ok(false) => return StatusCode::PERMISSION_DENIED.into(),
            Err(c) => return c.into(),
        }
        let mut spec = NewNode::leaf(value.clone()).format(view.format());
        spec.mime_type = view.mime_type().map(str::to_owned);
        spec
    };
    if dst.is_root() {
        return StatusCode::ALREADY_EXISTS.into();
    }
    create(tree, run, &dst, spec, true)
}
