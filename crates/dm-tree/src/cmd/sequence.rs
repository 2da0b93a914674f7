//! `Sequence`: run the contained commands in order, each with its own Status (digest §3.5).
//!
//! The Sequence's own Status (200) comes first. If an Alert inside answers 304 ("No" to a
//! 1101 confirmation) or 214 (cancelled), the remaining commands are not executed (215).
//! Other failures do not stop the Sequence. A command a provider answers later (pending) does
//! not hold back the next ones (see [`crate::mount`]).

use syncml::{Command, Container, StatusCode};

use super::{Executed, Run, not_executed, status};
use crate::tree::Tree;

pub(crate) fn execute(tree: &mut Tree, run: Run<'_>, c: &Container) -> Executed {
    let ctx = run.ctx;
    let mut out = Executed::default();
    out.replies.push(Command::Status(status(
        ctx,
        "Sequence",
        &c.cmd_id,
        StatusCode::OK,
        None,
        None,
    )));
    let mut stopped = false;
    for cmd in &c.commands {
        if stopped {
            not_executed(ctx, cmd, &mut out.replies);
            continue;
        }
        let res = tree.run(run, cmd);
        if let (Command::Alert(_), Some(Command::Status(s))) = (cmd, res.replies.first())
            && (s.code == StatusCode::NOT_MODIFIED || s.code == StatusCode::OPERATION_CANCELLED)
        {
            stopped = true;
        }
        out.extend(res);
    }
    out
}
