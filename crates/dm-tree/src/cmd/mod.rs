//! Execution of DM commands against the tree: [`Tree::execute`].
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
//!   ACL (425), then the operation itself.

pub(crate) mod add;
pub(crate) mod atomic;
pub(crate) mod copy;
pub(crate) mod delete;
pub(crate) mod exec;
pub(crate) mod get;
pub(crate) mod replace;
pub(crate) mod sequence;

use syncml::{Command, Item, ItemCmd, Meta, Results, Status, StatusCode};

use crate::node::Timestamp;
use crate::tree::{AlertOutcome, Tree};

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

/// The outcome of one item of an item command.
pub(crate) struct ItemOutcome {
    pub code: StatusCode,
    /// Items to put into the Status (Exec result data).
    pub status_items: Vec<Item>,
    /// Items of the Results (successful Get).
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

/// Runs `f` for every item and builds one Status per item, then the Results.
pub(crate) fn per_item(
    ctx: &ExecContext<'_>,
    name: &str,
    c: &ItemCmd,
    mut f: impl FnMut(&Item) -> ItemOutcome,
) -> Vec<Command> {
    if c.items.is_empty() {
        return vec![Command::Status(status(
            ctx,
            name,
            &c.cmd_id,
            StatusCode::INCOMPLETE_COMMAND,
            None,
            None,
        ))];
    }
    let mut statuses = Vec::with_capacity(c.items.len());
    let mut results = Vec::new();
    for item in &c.items {
        let out = f(item);
        let source = if name == "Copy" {
            source_of(item)
        } else {
            None
        };
        let mut st = status(ctx, name, &c.cmd_id, out.code, target_of(item), source);
        st.items = out.status_items;
        statuses.push(Command::Status(st));
        if let Some(items) = out.results {
            results.push(Command::Results(Results {
                cmd_id: String::new(),
                msg_ref: Some(ctx.msg_id.to_owned()),
                cmd_ref: c.cmd_id.clone(),
                meta: None,
                target_refs: Vec::new(),
                source_refs: Vec::new(),
                items,
            }));
        }
    }
    statuses.extend(results);
    statuses
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
    /// with [`Tree::set_alert_handler`] (406 without one).
    pub fn execute(&mut self, ctx: &ExecContext<'_>, cmd: &Command) -> Vec<Command> {
        match cmd {
            Command::Add(c) => add::execute(self, ctx, c),
            Command::Replace(c) => replace::execute(self, ctx, c),
            Command::Delete(c) => delete::execute(self, ctx, c),
            Command::Get(c) => get::execute(self, ctx, c),
            Command::Copy(c) => copy::execute(self, ctx, c),
            Command::Exec(e) => exec::execute(self, ctx, e),
            Command::Atomic(c) => atomic::execute(self, ctx, c),
            Command::Sequence(c) => sequence::execute(self, ctx, c),
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
                vec![Command::Status(st)]
            }
            Command::Results(_) | Command::Status(_) => Vec::new(),
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
