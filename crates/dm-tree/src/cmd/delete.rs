//! `Delete`: remove a node and its subtree (digest §3.5).
//!
//! Not found: 404. The root, a permanent node, or a subtree holding a permanent node: 405.
//! AccessType without Delete: 405. ACL without Delete on the node: 425. A URI with a query:
//! 405 (properties cannot be deleted).

use syncml::{Command, ItemCmd, StatusCode};

use super::{ExecContext, per_item, target_of};
use crate::acl::AclCommand;
use crate::node::AccessType;
use crate::tree::Tree;

pub(crate) fn execute(tree: &mut Tree, ctx: &ExecContext<'_>, c: &ItemCmd) -> Vec<Command> {
    per_item(ctx, "Delete", c, |item| {
        let Some(target) = target_of(item) else {
            return StatusCode::INCOMPLETE_COMMAND.into();
        };
        delete(tree, ctx, target).into()
    })
}

fn delete(tree: &mut Tree, ctx: &ExecContext<'_>, target: &str) -> StatusCode {
    let uri = match tree.parse_uri(target) {
        Ok(u) => u,
        Err(e) => return e.status(),
    };
    if uri.query().is_some() {
        return StatusCode::COMMAND_NOT_ALLOWED;
    }
    let Some(id) = tree.resolve(uri.segments()) else {
        return StatusCode::NOT_FOUND;
    };
    if uri.is_root() || tree.subtree_has_permanent(id) {
        return StatusCode::COMMAND_NOT_ALLOWED;
    }
    if tree
        .node(id)
        .is_some_and(|n| !n.access().contains(AccessType::DELETE))
    {
        return StatusCode::COMMAND_NOT_ALLOWED;
    }
    if !tree.permits(id, AclCommand::Delete, ctx.server_id) {
        return StatusCode::PERMISSION_DENIED;
    }
    tree.remove_subtree(id, ctx.now);
    StatusCode::OK
}
