//! `Atomic`: all or nothing (digest §3.5).
//!
//! - Allowed inside: Add, Alert, Copy, Delete, Replace, and Sequence holding only those.
//!   Anything else (Get, Exec, nested Atomic, ...) makes the whole Atomic fail with 500 before
//!   anything runs: the Atomic's Status is 500, each offending command gets 500 and the
//!   others 215 (not executed).
//! - Commands run in order. At the first Status that is not 2xx, the tree is restored to
//!   its state before the Atomic (byte-identical: the node store is cloned and put back),
//!   the commands that had succeeded are reported 216 (rolled back), the failing one keeps its
//!   code, the rest get 215, and the Atomic gets 507. Otherwise the Atomic gets 200.
//! - The Atomic's Status comes first, then the inner Statuses in order.

use syncml::{Command, Container, StatusCode};

use super::{ExecContext, codes, mark, not_executed, status};
use crate::tree::Tree;

fn allowed(cmd: &Command) -> bool {
    match cmd {
        Command::Add(_)
        | Command::Alert(_)
        | Command::Copy(_)
        | Command::Delete(_)
        | Command::Replace(_) => true,
        Command::Sequence(c) => c.commands.iter().all(allowed),
        _ => false,
    }
}

pub(crate) fn execute(tree: &mut Tree, ctx: &ExecContext<'_>, c: &Container) -> Vec<Command> {
    let mut out = vec![Command::Status(status(
        ctx,
        "Atomic",
        &c.cmd_id,
        StatusCode::OK,
        None,
        None,
    ))];
    if !c.commands.iter().all(allowed) {
        set_code(&mut out, StatusCode::COMMAND_FAILED);
        for cmd in &c.commands {
            if allowed(cmd) {
                not_executed(ctx, cmd, &mut out);
            } else {
                mark(ctx, cmd, StatusCode::COMMAND_FAILED, &mut out);
            }
        }
        return out;
    }
    let mut saved = Some(tree.store.clone());
    let mut failed = false;
    for cmd in &c.commands {
        if failed {
            not_executed(ctx, cmd, &mut out);
            continue;
        }
        let mut res = tree.execute(ctx, cmd);
        if codes(&res).any(|code| !code.is_success()) {
            failed = true;
            if let Some(s) = saved.take() {
                tree.store = s;
            }
            // Successes in a failing command (multi-item, nested Sequence) were rolled back too.
            for r in &mut res {
                if let Command::Status(s) = r
                    && s.code.is_success()
                {
                    s.code = StatusCode::ATOMIC_ROLLBACK_OK;
                }
            }
            for r in out.iter_mut().skip(1) {
                if let Command::Status(s) = r
                    && s.code.is_success()
                {
                    s.code = StatusCode::ATOMIC_ROLLBACK_OK;
                }
            }
        }
        out.extend(res);
    }
    if failed {
        set_code(&mut out, StatusCode::ATOMIC_FAILED);
    }
    out
}

fn set_code(out: &mut [Command], code: StatusCode) {
    if let Some(Command::Status(s)) = out.first_mut() {
        s.code = code;
    }
}
