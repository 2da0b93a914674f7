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
//! - Mounted subtrees take part through their provider's transaction; a provider that cannot
//!   gets the Atomic refused before anything runs; a failed rollback gives 516 (see
//!   [`crate::mount`], "Atomic").

use std::collections::BTreeSet;

use syncml::{Command, Container, Status, StatusCode};

use super::add::tnds_mounts;
use super::{Executed, Run, codes, mark, not_executed, status, target_of};
use crate::mount::Mount;
use crate::mount::place::Place;
use crate::tree::{Store, Tree};

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

/// An all-or-nothing change: the arena as it was, and the providers that began a transaction.
pub(crate) struct Txn {
    saved: Store,
    begun: Vec<usize>,
}

impl Txn {
    /// Begins a transaction on each of `mounts` (not already in one: an enclosing Atomic holds
    /// those) and keeps a copy of the arena.
    ///
    /// # Errors
    /// The first mount that cannot take part, with its code (a command provider: 406); the
    /// transactions already begun are rolled back.
    pub(crate) fn begin(
        tree: &mut Tree,
        mounts: BTreeSet<usize>,
    ) -> Result<Txn, (usize, StatusCode)> {
        let mut txn = Txn {
            saved: tree.store.clone(),
            begun: Vec::new(),
        };
        for m in mounts {
            let Some(entry) = tree.mount_entry_mut(m) else {
                continue;
            };
            if entry.in_txn {
                continue;
            }
            let began = match &mut entry.mount {
                Mount::Nodes(p) => p.begin(),
                Mount::Commands(_) => Err(StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED),
            };
            match began {
                Ok(()) => {
                    entry.in_txn = true;
                    txn.begun.push(m);
                }
                Err(code) => {
                    let _ = txn.rollback(tree);
                    return Err((m, code));
                }
            }
        }
        Ok(txn)
    }

    /// Keeps every change.
    pub(crate) fn commit(self, tree: &mut Tree) {
        for m in self.begun {
            if let Some(entry) = tree.mount_entry_mut(m) {
                entry.in_txn = false;
                if let Mount::Nodes(p) = &mut entry.mount {
                    p.commit();
                }
            }
        }
    }

    /// Restores the arena and rolls every provider back; returns the mounts whose rollback
    /// failed.
    pub(crate) fn rollback(self, tree: &mut Tree) -> BTreeSet<usize> {
        tree.store = self.saved;
        let mut failed = BTreeSet::new();
        for m in self.begun {
            if let Some(entry) = tree.mount_entry_mut(m) {
                entry.in_txn = false;
                if let Mount::Nodes(p) = &mut entry.mount
                    && p.rollback().is_err()
                {
                    failed.insert(m);
                }
            }
        }
        failed
    }
}

/// The mount the URI `text` leads into, if any.
fn mount_of(tree: &Tree, text: &str) -> Option<usize> {
    let uri = tree.parse_uri(text).ok()?;
    match tree.place(uri.segments()) {
        Place::Mounted { mount, .. } => Some(mount),
        _ => None,
    }
}

/// The mounts `cmd` changes nodes in (targets of Add, Copy, Delete, Replace, TNDS nodes).
fn changed_mounts(tree: &Tree, cmd: &Command, out: &mut BTreeSet<usize>) {
    match cmd {
        Command::Add(c) | Command::Copy(c) | Command::Delete(c) | Command::Replace(c) => {
            for item in &c.items {
                out.extend(target_of(item).and_then(|t| mount_of(tree, t)));
                if matches!(cmd, Command::Add(_)) {
                    out.extend(tnds_mounts(tree, c.meta.as_ref(), item));
                }
            }
        }
        Command::Sequence(s) => {
            for inner in &s.commands {
                changed_mounts(tree, inner, out);
            }
        }
        _ => {}
    }
}

pub(crate) fn execute(tree: &mut Tree, run: Run<'_>, c: &Container) -> Executed {
    let ctx = run.ctx;
    let run = run.at_once();
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
        return done(out);
    }
    let touched: Vec<BTreeSet<usize>> = c
        .commands
        .iter()
        .map(|cmd| {
            let mut s = BTreeSet::new();
            changed_mounts(tree, cmd, &mut s);
            s
        })
        .collect();
    let txn = match Txn::begin(tree, touched.iter().flatten().copied().collect()) {
        Ok(t) => t,
        Err((refused, code)) => {
            set_code(&mut out, code);
            for (cmd, mounts) in c.commands.iter().zip(&touched) {
                if mounts.contains(&refused) {
                    mark(ctx, cmd, code, &mut out);
                } else {
                    not_executed(ctx, cmd, &mut out);
                }
            }
            return done(out);
        }
    };
    let mut txn = Some(txn);
    let mut failed = false;
    for cmd in &c.commands {
        if failed {
            not_executed(ctx, cmd, &mut out);
            continue;
        }
        let mut res = tree.run(run, cmd).replies;
        if codes(&res).any(|code| !code.is_success()) {
            failed = true;
            let broken = txn.take().map(|t| t.rollback(tree)).unwrap_or_default();
            // Successes in a failing command (multi-item, nested Sequence) were rolled back too.
            for r in out.iter_mut().skip(1).chain(res.iter_mut()) {
                if let Command::Status(s) = r
                    && s.code.is_success()
                {
                    s.code = if stayed(tree, s, &broken) {
                        StatusCode::ATOMIC_ROLLBACK_FAILED
                    } else {
                        StatusCode::ATOMIC_ROLLBACK_OK
                    };
                }
            }
        }
        out.extend(res);
    }
    if let Some(t) = txn {
        t.commit(tree);
    }
    if failed {
        set_code(&mut out, StatusCode::ATOMIC_FAILED);
    }
    done(out)
}

/// True if the change `s` reports was in a mount whose rollback failed.
fn stayed(tree: &Tree, s: &Status, broken: &BTreeSet<usize>) -> bool {
    !broken.is_empty()
        && s.target_refs
            .first()
            .and_then(|t| mount_of(tree, t))
            .is_some_and(|m| broken.contains(&m))
}

fn done(replies: Vec<Command>) -> Executed {
    Executed {
        replies,
        pending: Vec::new(),
    }
}

fn set_code(out: &mut [Command], code: StatusCode) {
    if let Some(Command::Status(s)) = out.first_mut() {
        s.code = code;
    }
}
