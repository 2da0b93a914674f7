//! Execution of DM commands against the tree: [`Tree::execute`] and
//! [`Tree::execute_deferrable`].
//!
//! Each command module answers with the `Status` (and, for Get, `Results`) commands to send
//! back. Their `cmd_id` is left empty (the session numbers them); `msg_ref` is the
//! [`ExecContext::msg_id`], `cmd_ref` the command's `CmdID`, `cmd` its element name.
//!
//! Choices (see the crate docs for the full list):
//! - a command with several items gets one `Status` per item, each with that item's
//!   `TargetRef` (and `SourceRef` for Copy), in item order; a Get's `Results` (one per
//!   successful item) follow all its `Status`es;
//! - a command without items gets one `Status` 412 (incomplete command);
//! - checks run in this order: URI (400/406/414), existence (404/418), AccessType (405),
//!   ACL (425), then the operation itself;
//! - below a mount point the same rules apply with the provider's node data, or the item goes
//!   to a command provider whole (see [`crate::mount`]).

pub(crate) mod add;
pub(crate) mod atomic;
pub(crate) mod copy;
pub(crate) mod delete;
pub(crate) mod exec;
pub(crate) mod forward;
pub(crate) mod get;
mod pending;
pub(crate) mod replace;
pub(crate) mod sequence;

pub use pending::{Executed, PendingItem};

use syncml::{Command, Item, ItemCmd, Meta, Results, Status, StatusCode};

use crate::mount::place::Pos;
use crate::mount::{Answer, MountContext, Ticket};
use crate::node::Timestamp;
use crate::tree::{AlertOutcome, Tree};
use crate::uri::Uri;

/// Who sends the command, in which message, and when.
#[derive(Debug, Clone, Copy)]
pub struct ExecContext<'a> {
    /// The DM server's id (`ServerID` of its DMAcc account), checked against ACLs.
    pub server_id: &'a str,
    /// The `MsgID` of the message the command came in (becomes `MsgRef`).
    pub msg_id: &'a str,
    /// The current time (stamps `TStamp`).
    pub now: Timestamp,
}

/// The outcome of one item of an item command: what its `Status` carries and, for a Get, the
/// `Results` items. Also what a provider answers for a forwarded item and what completes a
/// [`PendingItem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemOutcome {
    /// The status code.
    pub code: StatusCode,
    /// Items to put into the Status (Exec result data).
    pub status_items: Vec<Item>,
    /// Items of the Results (successful Get); `None`: no Results.
    pub results: Option<Vec<Item>>,
}

impl From<StatusCode> for ItemOutcome {
    fn from(code: StatusCode) -> ItemOutcome {
        ItemOutcome {
            code,
            status_items: Vec::new(),
            results: None,
        }
    }
}

/// One execution: the command context and whether providers may answer later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run<'a> {
    pub ctx: &'a ExecContext<'a>,
    pub may_defer: bool,
}

impl<'a> Run<'a> {
    /// The same execution with deferral off (inside Atomic, TNDS Add).
    pub fn at_once(self) -> Run<'a> {
        Run {
            may_defer: false,
            ..self
        }
    }

    pub fn mount_ctx(&self) -> MountContext<'a> {
        MountContext::new(self.ctx.server_id, self.ctx.now, self.may_defer)
    }
}

/// What one item comes to: an outcome now, or a Status to come.
pub(crate) enum ItemReply {
    Done(ItemOutcome),
    Pending(Deferral),
}

/// A provider's promise for one item.
pub(crate) struct Deferral {
    pub ticket: Ticket,
    /// The mount point (absolute).
    pub mount_point: Uri,
    /// For a command provider: the mount point as the target was written, to map the
    /// provider's Source URIs back.
    pub rebase: Option<Uri>,
}

impl From<StatusCode> for ItemReply {
    fn from(code: StatusCode) -> ItemReply {
        ItemReply::Done(code.into())
    }
}

impl From<ItemOutcome> for ItemReply {
    fn from(o: ItemOutcome) -> ItemReply {
        ItemReply::Done(o)
    }
}

impl Run<'_> {
    /// Turns a provider's answer into an item reply; a Pending where deferral is off breaks the
    /// provider's contract and gives 500.
    pub fn answered<T>(
        &self,
        answer: Answer<T>,
        mount_point: impl FnOnce() -> Uri,
        rebase: Option<Uri>,
        done: impl FnOnce(T) -> ItemOutcome,
    ) -> ItemReply {
        match answer {
            Answer::Ready(t) => ItemReply::Done(done(t)),
            Answer::Pending(ticket) if self.may_defer => ItemReply::Pending(Deferral {
                ticket,
                mount_point: mount_point(),
                rebase,
            }),
            Answer::Pending(_) => StatusCode::COMMAND_FAILED.into(),
        }
    }
}

/// The reply to a change a node provider answered for the node at `pos`. `stamps_parent`: the
/// change added, removed or renamed a child, so a mount point parent is stamped (at once only).
pub(crate) fn changed(
    tree: &mut Tree,
    run: Run<'_>,
    pos: &Pos,
    answer: Answer<StatusCode>,
    stamps_parent: bool,
) -> ItemReply {
    let Pos::Mounted { point, rel, .. } = pos else {
        return StatusCode::COMMAND_FAILED.into();
    };
    let point = *point;
    let reply = run.answered(answer, || tree.uri_of(point), None, ItemOutcome::from);
    if stamps_parent
        && rel.len() == 1
        && matches!(&reply, ItemReply::Done(o) if o.code.is_success())
        && let Some(n) = tree.node_mut(point)
    {
        n.touch(run.ctx.now);
    }
    reply
}

pub(crate) fn status(
    ctx: &ExecContext<'_>,
    cmd: &str,
    cmd_ref: &str,
    code: StatusCode,
    target: Option<&str>,
    source: Option<&str>,
) -> Status {
    Status {
        cmd_id: String::new(),
        msg_ref: ctx.msg_id.to_owned(),
        cmd_ref: cmd_ref.to_owned(),
        cmd: cmd.to_owned(),
        target_refs: target.map(str::to_owned).into_iter().collect(),
        source_refs: source.map(str::to_owned).into_iter().collect(),
        cred: None,
        chal: None,
        code,
        items: Vec::new(),
    }
}

/// The Results answering the command `cmd_ref` of message `msg_ref`.
pub(crate) fn results(msg_ref: &str, cmd_ref: &str, items: Vec<Item>) -> Command {
    Command::Results(Results {
        cmd_id: String::new(),
        msg_ref: Some(msg_ref.to_owned()),
        cmd_ref: cmd_ref.to_owned(),
        meta: None,
        target_refs: Vec::new(),
        source_refs: Vec::new(),
        items,
    })
}

pub(crate) fn target_of(item: &Item) -> Option<&str> {
    item.target.as_ref().map(|l| l.loc_uri.as_str())
}

pub(crate) fn source_of(item: &Item) -> Option<&str> {
    item.source.as_ref().map(|l| l.loc_uri.as_str())
}

/// `Format` and `Type` of an item: the item's Meta wins over the command's, field by field.
pub(crate) fn meta_of<'a>(
    cmd_meta: Option<&'a Meta>,
    item: &'a Item,
) -> (Option<&'a str>, Option<&'a str>) {
    let pick = |f: fn(&Meta) -> Option<&String>| {
        item.meta
            .as_ref()
            .and_then(f)
            .or_else(|| cmd_meta.and_then(f))
            .map(String::as_str)
    };
    (pick(|m| m.format.as_ref()), pick(|m| m.r#type.as_ref()))
}

/// Runs `f` for every item and builds one Status per item (or a [`PendingItem`]), then the
/// Results.
pub(crate) fn per_item(
    ctx: &ExecContext<'_>,
    name: &str,
    c: &ItemCmd,
    mut f: impl FnMut(&Item) -> ItemReply,
) -> Executed {
    let mut out = Executed::default();
    if c.items.is_empty() {
        out.replies.push(Command::Status(status(
            ctx,
            name,
            &c.cmd_id,
            StatusCode::INCOMPLETE_COMMAND,
            None,
            None,
        )));
        return out;
    }
    out.replies.reserve(c.items.len());
    let mut results = Vec::new();
    for item in &c.items {
        let reply = f(item);
        let source = if name == "Copy" {
            source_of(item)
        } else {
            None
        };
        let mut st = status(
            ctx,
            name,
            &c.cmd_id,
            StatusCode::OK,
            target_of(item),
            source,
        );
        match reply {
            ItemReply::Done(o) => {
                st.code = o.code;
                st.items = o.status_items;
                out.replies.push(Command::Status(st));
                if let Some(items) = o.results {
                    results.push(self::results(ctx.msg_id, &c.cmd_id, items));
                }
            }
            ItemReply::Pending(d) => out.pending.push(PendingItem::new(st, d)),
        }
    }
    out.replies.extend(results);
    out
}

/// Status 215 (not executed) for `cmd` and, for containers, for everything inside.
pub(crate) fn not_executed(ctx: &ExecContext<'_>, cmd: &Command, out: &mut Vec<Command>) {
    mark(ctx, cmd, StatusCode::NOT_EXECUTED, out);
}

/// Status `code` for `cmd` (one per item) and, for containers, 215 for everything inside.
pub(crate) fn mark(ctx: &ExecContext<'_>, cmd: &Command, code: StatusCode, out: &mut Vec<Command>) {
    match cmd {
        Command::Add(c)
        | Command::Copy(c)
        | Command::Delete(c)
        | Command::Get(c)
        | Command::Replace(c) => {
            if c.items.is_empty() {
                out.push(Command::Status(status(
                    ctx,
                    cmd.name(),
                    &c.cmd_id,
                    code,
                    None,
                    None,
                )));
            }
            for item in &c.items {
                let source = if matches!(cmd, Command::Copy(_)) {
                    source_of(item)
                } else {
                    None
                };
                out.push(Command::Status(status(
                    ctx,
                    cmd.name(),
                    &c.cmd_id,
                    code,
                    target_of(item),
                    source,
                )));
            }
        }
        Command::Exec(e) => {
            let target = e.items.first().and_then(target_of);
            out.push(Command::Status(status(
                ctx, "Exec", &e.cmd_id, code, target, None,
            )));
        }
        Command::Alert(a) => {
            out.push(Command::Status(status(
                ctx, "Alert", &a.cmd_id, code, None, None,
            )));
        }
        Command::Atomic(c) | Command::Sequence(c) => {
            out.push(Command::Status(status(
                ctx,
                cmd.name(),
                &c.cmd_id,
                code,
                None,
                None,
            )));
            for inner in &c.commands {
                not_executed(ctx, inner, out);
            }
        }
        Command::Results(_) | Command::Status(_) => {}
    }
}

impl Tree {
    /// Executes one command received from a DM server and returns the `Status` (and for Get
    /// the `Results`) commands to send back, `cmd_id`s left empty.
    ///
    /// Never fails and never panics: every failure is a status code. `Status` and `Results`
    /// commands need no answer and give an empty vector. An `Alert` goes to the handler set
    /// with [`Tree::set_alert_handler`] (406 without one). Providers of mounted subtrees must
    /// answer at once here ([`crate::mount::MountContext::may_defer`] is false).
    pub fn execute(&mut self, ctx: &ExecContext<'_>, cmd: &Command) -> Vec<Command> {
        self.run(
            Run {
                ctx,
                may_defer: false,
            },
            cmd,
        )
        .replies
    }

    /// Like [`Tree::execute`], but providers of mounted subtrees may answer later (outside
    /// Atomic): the items they defer are not in [`Executed::replies`] but in
    /// [`Executed::pending`], to be completed with [`PendingItem::complete`] when the provider's
    /// work ends (see [`crate::mount`]).
    #[must_use = "pending items owe the server a Status"]
    pub fn execute_deferrable(&mut self, ctx: &ExecContext<'_>, cmd: &Command) -> Executed {
        self.run(
            Run {
                ctx,
                may_defer: true,
            },
            cmd,
        )
    }

    pub(crate) fn run(&mut self, run: Run<'_>, cmd: &Command) -> Executed {
        let ctx = run.ctx;
        match cmd {
            Command::Add(c) => add::execute(self, run, c),
            Command::Replace(c) => replace::execute(self, run, c),
            Command::Delete(c) => delete::execute(self, run, c),
            Command::Get(c) => get::execute(self, run, c),
            Command::Copy(c) => copy::execute(self, run, c),
            Command::Exec(e) => exec::execute(self, run, e),
            Command::Atomic(c) => atomic::execute(self, run, c),
            Command::Sequence(c) => sequence::execute(self, run, c),
            Command::Alert(a) => {
                let outcome = match self.alert.as_mut() {
                    Some(h) => h(a, ctx.server_id),
                    None => AlertOutcome {
                        code: StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED,
                        items: Vec::new(),
                    },
                };
                let mut st = status(ctx, "Alert", &a.cmd_id, outcome.code, None, None);
                st.items = outcome.items;
                Executed {
                    replies: vec![Command::Status(st)],
                    pending: Vec::new(),
                }
            }
            Command::Results(_) | Command::Status(_) => Executed::default(),
        }
    }
}

/// The codes of every Status in `cmds`.
pub(crate) fn codes(cmds: &[Command]) -> impl Iterator<Item = StatusCode> + '_ {
    cmds.iter().filter_map(|c| match c {
        Command::Status(s) => Some(s.code),
        _ => None,
    })
}
