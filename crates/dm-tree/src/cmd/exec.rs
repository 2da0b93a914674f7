//! `Exec`: run the handler registered for the node ([`Tree::register_exec`]).
//!
//! Node missing: 404. A query in the URI: 405. No handler and AccessType without Exec: 405
//! (a registered handler makes the node executable). ACL without Exec: 425. AccessType with
//! Exec but no handler registered: 406. Otherwise the handler's code; its
//! data (if any) comes back as an `Item` of the Status (Source = the node).
//! DM 1.2 Exec carries one item; extra items are executed too, one Status each.
//! Below a mount point ([`crate::mount`]) the provider executes (its node's AccessType needs
//! Exec: 405; ACL: 425); handlers registered for such paths are not consulted. Below a command
//! provider the item goes to it.

use syncml::{Exec, Item, ItemCmd, Location, StatusCode};

use super::forward::{Handover, forward, forwarding};
use super::{Executed, ItemOutcome, ItemReply, Run, per_item, target_of};
use crate::acl::AclCommand;
use crate::mount::ItemCommand;
use crate::mount::place::Pos;
use crate::node::AccessType;
use crate::tree::{ExecOutcome, ExecRequest, Tree};

pub(crate) fn execute(tree: &mut Tree, run: Run<'_>, e: &Exec) -> Executed {
    // Reuse the per-item machinery by viewing the Exec as an item command.
    let view = ItemCmd {
        cmd_id: e.cmd_id.clone(),
        no_resp: e.no_resp,
        cred: None,
        meta: e.meta.clone(),
        items: e.items.clone(),
    };
    per_item(run.ctx, "Exec", &view, |item| exec_item(tree, run, e, item))
}

/// The Status of an Exec: the handler's code, its data as an Item whose Source is the target.
fn outcome(out: ExecOutcome, target: &str) -> ItemOutcome {
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

fn exec_item(tree: &mut Tree, run: Run<'_>, e: &Exec, item: &Item) -> ItemReply {
    let ctx = run.ctx;
    let Some(target) = target_of(item) else {
        return StatusCode::INCOMPLETE_COMMAND.into();
    };
    let uri = match tree.parse_uri(target) {
        Ok(u) => u,
        Err(err) => return err.status().into(),
    };
    let place = tree.place(uri.segments());
    if let Some(at) = forwarding(tree, place) {
        let mut h = Handover::item(ItemCommand::Exec, at, &uri, item, e.meta.as_ref());
        h.correlator = e.correlator.as_deref();
        return forward(tree, run, &h);
    }
    if uri.query().is_some() {
        return StatusCode::COMMAND_NOT_ALLOWED.into();
    }
    let req = ExecRequest {
        uri: &uri,
        server_id: ctx.server_id,
        data: item.data.as_ref(),
        meta: item.meta.as_ref().or(e.meta.as_ref()),
        correlator: e.correlator.as_deref(),
        now: ctx.now,
    };
    match tree.pos_of(place) {
        None => StatusCode::NOT_FOUND.into(),
        Some(Pos::Arena(id)) => {
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
            outcome(handler(&req), target).into()
        }
        Some(pos @ Pos::Mounted { .. }) => {
            let checked = (|| {
                let view = tree.view_at(&pos)?.ok_or(StatusCode::NOT_FOUND)?;
                if !view.access().contains(AccessType::EXEC) {
                    return Err(StatusCode::COMMAND_NOT_ALLOWED);
                }
                if !tree.permits_at(&pos, &view, AclCommand::Exec, ctx.server_id)? {
                    return Err(StatusCode::PERMISSION_DENIED);
                }
                Ok(())
            })();
            if let Err(code) = checked {
                return code.into();
            }
            let Pos::Mounted { mount, point, rel } = &pos else {
                return StatusCode::COMMAND_FAILED.into();
            };
            let mctx = run.mount_ctx();
            let Some(provider) = tree.node_provider_mut(*mount) else {
                return StatusCode::COMMAND_FAILED.into();
            };
            let answer = provider.exec(&mctx, rel, &req);
            let point = *point;
            run.answered(answer, || tree.uri_of(point), None, |o| outcome(o, target))
        }
    }
}
