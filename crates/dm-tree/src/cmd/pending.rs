//! Statuses to come: what [`Tree::execute_deferrable`] gives back for items a provider will
//! finish later, and how such an item is completed (see [`crate::mount`]).

use syncml::{Command, Item, Location, Status};

use super::{Deferral, ItemOutcome, results};
use crate::mount::Ticket;
use crate::uri::{Uri, UriLimits};

#[cfg(doc)]
use crate::Tree;

/// What [`Tree::execute_deferrable`] gives back for one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Executed {
    /// The `Status` (and `Results`) commands known now, in order, `cmd_id`s empty.
    pub replies: Vec<Command>,
    /// The items whose Status a provider will give later, in command order.
    pub pending: Vec<PendingItem>,
}

impl Executed {
    /// Appends another execution's output.
    pub(crate) fn extend(&mut self, other: Executed) {
        self.replies.extend(other.replies);
        self.pending.extend(other.pending);
    }
}

/// One command item whose Status is still owed to the server: a provider answered
/// [`crate::mount::Answer::Pending`]. Holds what the Status will quote; the tree keeps nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the server is owed a Status for this item"]
pub struct PendingItem {
    status: Status,
    ticket: Ticket,
    mount_point: Uri,
    rebase: Option<Uri>,
}

impl PendingItem {
    pub(crate) fn new(status: Status, d: Deferral) -> PendingItem {
        PendingItem {
            status,
            ticket: d.ticket,
            mount_point: d.mount_point,
            rebase: d.rebase,
        }
    }

    /// The provider's ticket.
    #[must_use]
    pub fn ticket(&self) -> Ticket {
        self.ticket
    }

    /// The mount point (absolute) whose provider gave the ticket.
    #[must_use]
    pub fn mount_point(&self) -> &Uri {
        &self.mount_point
    }

    /// The `MsgID` of the server message the command came in.
    #[must_use]
    pub fn msg_ref(&self) -> &str {
        &self.status.msg_ref
    }

    /// The command's `CmdID`.
    #[must_use]
    pub fn cmd_ref(&self) -> &str {
        &self.status.cmd_ref
    }

    /// The command's element name (`Get`, `Replace`, ...).
    #[must_use]
    pub fn cmd(&self) -> &str {
        &self.status.cmd
    }

    /// The item's target as the server wrote it.
    #[must_use]
    pub fn target_ref(&self) -> Option<&str> {
        self.status.target_refs.first().map(String::as_str)
    }

    /// The item's source (Copy) as the server wrote it.
    #[must_use]
    pub fn source_ref(&self) -> Option<&str> {
        self.status.source_refs.first().map(String::as_str)
    }

    /// The Status (then, if `outcome.results` is set, the Results) answering the item, `cmd_id`s
    /// empty. Items' Source URIs in the provider's namespace are mapped below the mount point
    /// (for a command provider); items without Source get the target.
    pub fn complete(self, outcome: ItemOutcome) -> Vec<Command> {
        let target = self.target_ref().map(str::to_owned);
        let outcome = rebase(outcome, self.rebase.as_ref(), target.as_deref());
        let mut status = self.status;
        status.code = outcome.code;
        status.items = outcome.status_items;
        let mut out = Vec::with_capacity(2);
        let (msg_ref, cmd_ref) = (status.msg_ref.clone(), status.cmd_ref.clone());
        out.push(Command::Status(status));
        if let Some(items) = outcome.results {
            out.push(results(&msg_ref, &cmd_ref, items));
        }
        out
    }
}

/// Maps the Source URIs of a provider's items below `prefix` (the mount point as the target was
/// written) and gives items without a Source the `target`.
pub(crate) fn rebase(
    mut o: ItemOutcome,
    prefix: Option<&Uri>,
    target: Option<&str>,
) -> ItemOutcome {
    let fix = |item: &mut Item| match (&mut item.source, prefix) {
        (Some(loc), Some(prefix)) => {
            let (path, query) = match loc.loc_uri.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (loc.loc_uri.as_str(), None),
            };
            if let Ok(u) = Uri::parse(path, &UriLimits::default()) {
                let mut full = prefix.clone();
                for s in u.segments() {
                    full = full.join(s);
                }
                let mut text = full.path_string();
                if let Some(q) = query {
                    text.push('?');
                    text.push_str(q);
                }
                loc.loc_uri = text;
            }
        }
        (Some(_), None) => {}
        (None, _) => item.source = target.map(Location::uri),
    };
    for item in &mut o.status_items {
        fix(item);
    }
    for item in o.results.iter_mut().flatten() {
        fix(item);
    }
    o
}
