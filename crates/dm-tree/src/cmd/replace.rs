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
//! - Below a mount point ([`crate::mount`]): the same checks on the provider's node data, then
//!   one [`crate::mount::Change`] for the provider; below a command provider the whole item
//!   goes to it. A node whose subtree holds a mount point cannot be renamed (405).

use syncml::{Data, Item, ItemCmd, Meta, StatusCode};

use super::forward::{Handover, forward, forwarding};
use super::{ExecContext, Executed, ItemReply, Run, changed, meta_of, per_item, target_of};
use crate::acl::{Acl, AclCommand};
use crate::mount::place::{Pos, View};
use crate::mount::{Change, ItemCommand};
use crate::node::{AccessType, Format, NodeKind};
use crate::tree::Tree;
use crate::uri::{Property, Query, is_valid_name};

pub(crate) fn execute(tree: &mut Tree, run: Run<'_>, c: &ItemCmd) -> Executed {
    per_item(run.ctx, "Replace", c, |item| {
        replace_item(tree, run, c.meta.as_ref(), item)
    })
}

fn data_text(item: &Item) -> Option<&str> {
    match &item.data {
        None => Some(""),
        Some(d) => d.as_str(),
    }
}

fn replace_item(tree: &mut Tree, run: Run<'_>, cmd_meta: Option<&Meta>, item: &Item) -> ItemReply {
    let Some(target) = target_of(item) else {
        return StatusCode::INCOMPLETE_COMMAND.into();
    };
    let uri = match tree.parse_uri(target) {
        Ok(u) => u,
        Err(e) => return e.status().into(),
    };
    let place = tree.place(uri.segments());
    if let Some(at) = forwarding(tree, place) {
        let h = Handover::item(ItemCommand::Replace, at, &uri, item, cmd_meta);
        return forward(tree, run, &h);
    }
    let Some(pos) = tree.pos_of(place) else {
        return StatusCode::NOT_FOUND.into();
    };
    let change = match tree.view_at(&pos) {
        Err(c) => return c.into(),
        Ok(None) => return StatusCode::NOT_FOUND.into(),
        Ok(Some(view)) => match uri.query() {
            None => value_change(tree, run.ctx, &pos, &view, cmd_meta, item),
            Some(Query::Prop(p)) => prop_change(tree, run.ctx, &pos, &view, p, item),
            Some(Query::List(_)) => Err(StatusCode::COMMAND_NOT_ALLOWED),
        },
    };
    match change {
        Ok(Some(change)) => apply(tree, run, &pos, change),
        Ok(None) => StatusCode::OK.into(),
        Err(code) => code.into(),
    }
}

/// AccessType and ACL Replace on the node.
fn check(tree: &Tree, ctx: &ExecContext<'_>, pos: &Pos, view: &View<'_>) -> Result<(), StatusCode> {
    if !view.access().contains(AccessType::REPLACE) {
        return Err(StatusCode::COMMAND_NOT_ALLOWED);
    }
    if !tree.permits_at(pos, view, AclCommand::Replace, ctx.server_id)? {
        return Err(StatusCode::PERMISSION_DENIED);
    }
    Ok(())
}

fn value_change(
    tree: &Tree,
    ctx: &ExecContext<'_>,
    pos: &Pos,
    view: &View<'_>,
    cmd_meta: Option<&Meta>,
    item: &Item,
) -> Result<Option<Change>, StatusCode> {
    if !view.is_leaf() {
        return Err(StatusCode::COMMAND_NOT_ALLOWED);
    }
    check(tree, ctx, pos, view)?;
    let (format, mime) = meta_of(cmd_meta, item);
    let format = match format.map(Format::parse).transpose() {
        Ok(Some(Format::Node)) => return Err(StatusCode::COMMAND_NOT_ALLOWED),
        Ok(f) => f,
        Err(e) => return Err(e.status()),
    };
    Ok(Some(Change::Value {
        data: item
            .data
            .clone()
            .unwrap_or_else(|| Data::Text(String::new())),
        format,
        mime_type: mime.map(str::to_owned),
    }))
}

/// The checked property change; `None`: nothing to change (a rename to the same name).
fn prop_change(
    tree: &Tree,
    ctx: &ExecContext<'_>,
    pos: &Pos,
    view: &View<'_>,
    prop: Property,
    item: &Item,
) -> Result<Option<Change>, StatusCode> {
    let Some(text) = data_text(item) else {
        return Err(StatusCode::BAD_REQUEST);
    };
    match prop {
        Property::Acl => {
            // Replace on the parent governs (on the root: the root itself).
            let allowed = match tree.parent_pos(pos) {
                Some(parent) => {
                    let pview = tree.view_at(&parent)?.ok_or(StatusCode::NOT_FOUND)?;
                    tree.permits_at(&parent, &pview, AclCommand::Replace, ctx.server_id)?
                }
                None => tree.permits_at(pos, view, AclCommand::Replace, ctx.server_id)?,
            };
            if !allowed {
                return Err(StatusCode::PERMISSION_DENIED);
            }
            Acl::parse(text)
                .map(|a| Some(Change::Acl(a)))
                .map_err(|e| e.status())
        }
        Property::Name => {
            let parent = tree.parent_pos(pos);
            if view.permanent() || parent.is_none() {
                return Err(StatusCode::COMMAND_NOT_ALLOWED);
            }
            if let Pos::Arena(id) = pos
                && tree.holds_mount(*id)
            {
                return Err(StatusCode::COMMAND_NOT_ALLOWED);
            }
            check(tree, ctx, pos, view)?;
            if !is_valid_name(text) {
                return Err(StatusCode::BAD_REQUEST);
            }
            if view.name() == text {
                return Ok(None);
            }
            if let Some(sibling) = parent.and_then(|p| tree.child_pos(&p, text))
                && tree.view_at(&sibling)?.is_some()
            {
                return Err(StatusCode::ALREADY_EXISTS);
            }
            Ok(Some(Change::Name(text.to_owned())))
        }
        Property::Title => {
            check(tree, ctx, pos, view)?;
            Ok(Some(Change::Title(text.to_owned())))
        }
        Property::Format | Property::Size | Property::TStamp | Property::Type | Property::VerNo => {
            Err(StatusCode::COMMAND_NOT_ALLOWED)
        }
    }
}

/// Makes a checked change: on the tree's own node, or through the provider.
fn apply(tree: &mut Tree, run: Run<'_>, pos: &Pos, change: Change) -> ItemReply {
    let now = run.ctx.now;
    match pos {
        Pos::Arena(id) => {
            let id = *id;
            if let Change::Name(name) = &change {
                tree.rename(id, name, now);
                return StatusCode::OK.into();
            }
            let Some(node) = tree.node_mut(id) else {
                return StatusCode::NOT_FOUND.into();
            };
            match change {
                Change::Value {
                    data,
                    format,
                    mime_type,
                } => {
                    if let NodeKind::Leaf(v) = &mut node.kind {
                        *v = data;
                    }
                    if let Some(f) = format {
                        node.format = f;
                    }
                    if let Some(m) = mime_type {
                        node.mime = Some(m);
                    }
                }
                Change::Acl(acl) => node.acl = acl,
                Change::Title(t) => node.title = Some(t),
                Change::Name(_) => {}
            }
            node.touch(now);
            StatusCode::OK.into()
        }
        Pos::Mounted { mount, rel, .. } => {
            let renames = matches!(change, Change::Name(_));
            let mctx = run.mount_ctx();
            let Some(provider) = tree.node_provider_mut(*mount) else {
                return StatusCode::COMMAND_FAILED.into();
            };
            let answer = provider.replace(&mctx, rel, change);
            changed(tree, run, pos, answer, renames)
        }
    }
}
