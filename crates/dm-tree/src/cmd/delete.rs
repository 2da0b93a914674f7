//! `Delete`: remove a node and its subtree (digest §3.5).
//!
//! Not found: 404. The root, a permanent node, or a subtree holding a permanent node: 405.
//! AccessType without Delete: 405. ACL without Delete on the node: 425. A URI with a query:
//! 405 (properties cannot be deleted). A mount point is permanent. Below a mount point the same
//! checks apply to the provider's nodes ([`crate::mount`]); below a command provider the item
//! goes to it.

use syncml::{ItemCmd, StatusCode};

use super::forward::{Handover, forward, forwarding};
use super::{Executed, ItemReply, Run, changed, per_item, target_of};
use crate::acl::AclCommand;
use crate::mount::ItemCommand;
use crate::mount::place::Pos;
use crate::node::AccessType;
use crate::tree::Tree;

pub(crate) fn execute(tree: &mut Tree, run: Run<'_>, c: &ItemCmd) -> Executed {
    per_item(run.ctx, "Delete", c, |item| {
        let Some(target) = target_of(item) else {
            return StatusCode::INCOMPLETE_COMMAND.into();
        };
        let uri = match tree.parse_uri(target) {
            Ok(u) => u,
            Err(e) => return e.status().into(),
        };
        let place = tree.place(uri.segments());
        if let Some(at) = forwarding(tree, place) {
            let h = Handover::item(ItemCommand::Delete, at, &uri, item, c.meta.as_ref());
            return forward(tree, run, &h);
        }
        if uri.query().is_some() {
            return StatusCode::COMMAND_NOT_ALLOWED.into();
        }
        match tree.pos_of(place) {
            Some(pos) => delete(tree, run, &pos),
            None => StatusCode::NOT_FOUND.into(),
        }
    })
}

fn delete(tree: &mut Tree, run: Run<'_>, pos: &Pos) -> ItemReply {
    let checked = (|| {
        let view = tree.view_at(pos)?.ok_or(StatusCode::NOT_FOUND)?;
        let permanent = match pos {
            Pos::Arena(id) => *id == crate::tree::ROOT || tree.subtree_has_permanent(*id),
            Pos::Mounted { .. } => tree.holds_permanent(pos)?,
        };
        if permanent || !view.access().contains(AccessType::DELETE) {
            return Err(StatusCode::COMMAND_NOT_ALLOWED);
        }
        if !tree.permits_at(pos, &view, AclCommand::Delete, run.ctx.server_id)? {
            return Err(StatusCode::PERMISSION_DENIED);
        }
        Ok(())
    })();
    if let Err(code) = checked {
        return code.into();
    }
    match pos {
        Pos::Arena(id) => {
            tree.remove_subtree(*id, run.ctx.now);
            StatusCode::OK.into()
        }
        Pos::Mounted { mount, rel, .. } => {
            let mctx = run.mount_ctx();
            let Some(provider) = tree.node_provider_mut(*mount) else {
                return StatusCode::COMMAND_FAILED.into();
            };
            let answer = provider.delete(&mctx, rel);
            changed(tree, run, pos, answer, true)
        }
    }
}
