//! `Exec`: run the handler registered for the node ([`Tree::register_exec`]).
//!
//! Node missing: 404. A query in the URI: 405. No handler and AccessType without Exec: 405
//! (a registered handler makes the node executable). ACL without Exec: 425. AccessType with
//! Exec but no handler registered: 406. Otherwise the handler's code; its
//! data (if any) comes back as an `Item` of the Status (Source = the node).
//! DM 1.2 Exec carries one item; extra items are executed too, one Status each.

use syncml::{Command, Exec, Item, ItemCmd, Location, StatusCode};

use super::{ExecContext, ItemOutcome, per_item, target_of};
use crate::acl::AclCommand;
use crate::node::AccessType;
use crate::tree::{ExecRequest, Tree};

pub(crate) fn execute(tree: &mut Tree, ctx: &ExecContext<'_>, e: &Exec) -> Vec<Command> {
    // Reuse the per-item machinery by viewing the Exec as an item command.
    let view = ItemCmd {
        cmd_id: e.cmd_id.clone(),
        no_resp: e.no_resp,
        cred: None,
        meta: e.meta.clone(),
        items: e.items.clone(),
    };
    per_item(ctx, "Exec", &view, |item| exec_item(tree, ctx, e, item))
}

fn exec_item(tree: &mut Tree, ctx: &ExecContext<'_>, e: &Exec, item: &Item) -> ItemOutcome {
    let Some(target) = target_of(item) else {
        return StatusCode::INCOMPLETE_COMMAND.into();
    };
    let uri = match tree.parse_uri(target) {
        Ok(u) => u,
        Err(err) => return err.status().into(),
    };
    if uri.query().is_some() {
        return StatusCode::COMMAND_NOT_ALLOWED.into();
    }
    let Some(id) = tree.resolve(uri.segments()) else {
        return StatusCode::NOT_FOUND.into();
    };
    let has_handler = tree.exec_handler(uri.segments()).is_some();
    if !has_handler
        && tree
            .node(id)
            .is_some_and(|n| !n.access().contains(AccessType::EXEC))
    {
        return StatusCode::COMMAND_NOT_ALLOWED.into();
    }
    if !tree.permits(id, AclCommand::Exec, ctx.server_id) {
        return StatusCode::PERMISSION_DENIED.into();
    }
    let Some(handler) = tree.exec_handler(uri.segments()) else {
        return StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED.into();
    };
    let req = ExecRequest {
        uri: &uri,
        server_id: ctx.server_id,
        data: item.data.as_ref(),
        meta: item.meta.as_ref().or(e.meta.as_ref()),
        correlator: e.correlator.as_deref(),
        now: ctx.now,
    };
    let out = handler(&req);
    let status_items = out
        .data
        .map(|d| {
            vec![Item {
                source: Some(Location::uri(target)),
                data: Some(d),
                ..Item::default()
            }]
        })
        .unwrap_or_default();
    ItemOutcome {
        code: out.code,
        status_items,
        results: None,
    }
}
