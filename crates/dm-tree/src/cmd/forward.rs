//! Handing a command item to a [`crate::mount::CommandProvider`]: the ACL check on the mount
//! point, URIs rewritten into the provider's namespace, Source URIs of the answer mapped back.

use syncml::{Item, Meta, StatusCode};

use super::pending::rebase;
use super::{ItemReply, Run, target_of};
use crate::acl::AclCommand;
use crate::mount::place::Place;
use crate::mount::{Forwarded, ItemCommand, Mount};
use crate::node::NodeId;
use crate::tree::Tree;
use crate::uri::Uri;

/// One item for a command provider: the command, where it goes and what it carries.
pub(crate) struct Handover<'a> {
    pub command: ItemCommand,
    /// The mount (index) and its mount point.
    pub mount: usize,
    pub point: NodeId,
    /// Target (and Copy source) as parsed, in our namespace.
    pub target: &'a Uri,
    pub source: Option<&'a Uri>,
    pub item: &'a Item,
    pub cmd_meta: Option<&'a Meta>,
    pub correlator: Option<&'a str>,
}

impl<'a> Handover<'a> {
    /// The item `item` of a command `command` with target `target`, for the command provider
    /// `at` (mount, mount point); no source, no correlator.
    pub(crate) fn item(
        command: ItemCommand,
        (mount, point): (usize, NodeId),
        target: &'a Uri,
        item: &'a Item,
        cmd_meta: Option<&'a Meta>,
    ) -> Handover<'a> {
        Handover {
            command,
            mount,
            point,
            target,
            source: None,
            item,
            cmd_meta,
            correlator: None,
        }
    }
}

/// The command provider `place` lies below, if any: its mount and mount point.
pub(crate) fn forwarding(tree: &Tree, place: Place<'_>) -> Option<(usize, NodeId)> {
    match place {
        Place::Mounted { point, mount, .. } if tree.forwards(mount) => Some((mount, point)),
        _ => None,
    }
}

/// Checks the server's ACL right on the mount point, then forwards the item.
pub(crate) fn forward(tree: &mut Tree, run: Run<'_>, h: &Handover<'_>) -> ItemReply {
    let rights: &[AclCommand] = match h.command {
        ItemCommand::Add => &[AclCommand::Add],
        ItemCommand::Copy => &[AclCommand::Get, AclCommand::Add],
        ItemCommand::Delete => &[AclCommand::Delete],
        ItemCommand::Exec => &[AclCommand::Exec],
        ItemCommand::Get => &[AclCommand::Get],
        ItemCommand::Replace => &[AclCommand::Replace],
    };
    if rights
        .iter()
        .any(|r| !tree.permits(h.point, *r, run.ctx.server_id))
    {
        return StatusCode::PERMISSION_DENIED.into();
    }
    let point_uri = tree.uri_of(h.point);
    let depth = point_uri.depth();
    let target = h.target.below(depth);
    let source = h.source.map(|s| s.below(depth));
    let prefix = h.target.prefix(depth);
    let fwd = Forwarded {
        command: h.command,
        target: &target,
        source: source.as_ref(),
        item: h.item,
        cmd_meta: h.cmd_meta,
        correlator: h.correlator,
    };
    let mctx = run.mount_ctx();
    let answer = match tree.mount_entry_mut(h.mount).map(|e| &mut e.mount) {
        Some(Mount::Commands(p)) => p.forward(&mctx, &fwd),
        _ => return StatusCode::COMMAND_FAILED.into(),
    };
    let sent = target_of(h.item);
    run.answered(
        answer,
        || point_uri,
        Some(prefix.clone()),
        |o| rebase(o, Some(&prefix), sent),
    )
}
