//! The answers a device owes to the server's commands: which commands of which server message
//! still wait for their Status, since when, and the answers to commands inside an Atomic held
//! back until the Atomic itself is answered (so that an Atomic's responses travel together,
//! digest §3.5: Atomic responses are meant to fit one message).
//!
//! A command is owed from the moment it reaches the application until a Status for it is
//! given (by the application, or by the session: 202 at the answer deadline, 500 for a top-level
//! command [`ClientSession::respond`](crate::ClientSession::respond) left unanswered). Every
//! operation costs time linear in the answers it handles; the bookkeeping of one server message
//! is dropped as soon as nothing of it is owed any more.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use syncml::{Command, StatusCode};

use crate::header::status;
use crate::{Error, Timestamp};

/// Names one command of the server, the way a `Status` answering it does: the `MsgID` of the
/// server message it came in (`MsgRef`) and its `CmdID` (`CmdRef`). CmdIDs are unique within a
/// message, so commands nested in an Atomic or Sequence have their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandRef {
    /// `MsgID` of the server message the command came in.
    pub msg_ref: String,
    /// The command's `CmdID`.
    pub cmd_ref: String,
}

impl CommandRef {
    /// The reference of `cmd` (a command of [`ClientEvent::Commands`](crate::ClientEvent), or
    /// one nested in it) from the server message `msg_id`.
    #[must_use]
    pub fn new(msg_id: &str, cmd: &Command) -> Self {
        CommandRef {
            msg_ref: msg_id.to_owned(),
            cmd_ref: cmd.cmd_id().to_owned(),
        }
    }
}

/// What is known about one command of a message that is still partly owed.
#[derive(Debug, Clone)]
struct Known {
    name: &'static str,
    /// CmdIDs of the containers around it, outermost first.
    ancestors: Vec<String>,
    /// No Status has been given for it yet.
    owed: bool,
}

/// The commands of one server message, while some of them are owed.
#[derive(Debug, Clone)]
struct Batch {
    msg_id: String,
    /// When the commands reached the application.
    since: Timestamp,
    /// CmdIDs of every command, nested ones included, in document order.
    cmds: Vec<String>,
    /// How many of them are still owed.
    owed: usize,
}

/// The answers owed to the server (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Answers {
    batches: VecDeque<Batch>,
    known: HashMap<CommandRef, Known>,
    /// Answers to commands inside an owed Atomic, by the Atomic, in the order given.
    held: HashMap<CommandRef, Vec<Command>>,
}

impl Answers {
    /// True while any command is owed.
    pub(crate) fn is_owing(&self) -> bool {
        self.batches.iter().any(|b| b.owed > 0)
    }

    /// The commands of server message `msg_id`, handed to the application at `since`, are owed.
    pub(crate) fn owe(&mut self, msg_id: &str, since: Timestamp, commands: &[Command]) {
        let mut cmds = Vec::new();
        for c in commands {
            self.learn(msg_id, c, &mut Vec::new(), &mut cmds);
        }
        let owed = cmds.len();
        self.batches.push_back(Batch {
            msg_id: msg_id.to_owned(),
            since,
            cmds,
            owed,
        });
    }

    fn learn(
        &mut self,
        msg_id: &str,
        cmd: &Command,
        ancestors: &mut Vec<String>,
        cmds: &mut Vec<String>,
    ) {
        let id = cmd.cmd_id().to_owned();
        self.known.insert(
            CommandRef {
                msg_ref: msg_id.to_owned(),
                cmd_ref: id.clone(),
            },
            Known {
                name: cmd.name(),
                ancestors: ancestors.clone(),
                owed: true,
            },
        );
        cmds.push(id.clone());
        if let Command::Atomic(c) | Command::Sequence(c) = cmd {
            ancestors.push(id);
            for child in &c.commands {
                self.learn(msg_id, child, ancestors, cmds);
            }
            ancestors.pop();
        }
    }

    /// `MsgID` of the latest server message with commands still owed.
    pub(crate) fn latest_msg_id(&self) -> Option<&str> {
        self.batches
            .iter()
            .rev()
            .find(|b| b.owed > 0)
            .map(|b| b.msg_id.as_str())
    }

    /// The element name of a command still known (owed, or of a message partly owed).
    pub(crate) fn name_of(&self, r: &CommandRef) -> Option<&'static str> {
        self.known.get(r).map(|k| k.name)
    }

    /// When the oldest owed command reaches `deadline`, if any is owed.
    pub(crate) fn next_deadline(&self, deadline: Duration) -> Option<Timestamp> {
        self.batches
            .iter()
            .find(|b| b.owed > 0)
            .map(|b| b.since + deadline)
    }

    /// Checks the answers `responses` the application gives for `cmd` before anything is
    /// taken: Status and Results only, each for `cmd` or a command nested in it, a Status only
    /// for a command still owed and once.
    ///
    /// # Errors
    /// [`Error::NotAwaited`] naming the first command no answer is awaited for,
    /// [`Error::Unexpected`] for another kind of command.
    pub(crate) fn check(&self, cmd: &CommandRef, responses: &[Command]) -> Result<(), Error> {
        if !self.known.contains_key(cmd) {
            return Err(not_awaited(cmd));
        }
        let mut answered = HashSet::new();
        for r in responses {
            let (msg_ref, cmd_ref, is_status) = match r {
                Command::Status(s) => (s.msg_ref.as_str(), s.cmd_ref.as_str(), true),
                Command::Results(res) => (
                    res.msg_ref.as_deref().unwrap_or_default(),
                    res.cmd_ref.as_str(),
                    false,
                ),
                _ => {
                    return Err(Error::Unexpected {
                        reason: "only Status and Results answer a command",
                    });
                }
            };
            let target = CommandRef {
                msg_ref: if msg_ref.is_empty() {
                    cmd.msg_ref.clone()
                } else {
                    msg_ref.to_owned()
                },
                cmd_ref: cmd_ref.to_owned(),
            };
            let within = self.known.get(&target).filter(|k| {
                target == *cmd
                    || (target.msg_ref == cmd.msg_ref && k.ancestors.contains(&cmd.cmd_ref))
            });
            // A Get's Results go with its Status, in the same call.
            let fits =
                within.is_some_and(|k| k.owed && (!is_status || answered.insert(target.clone())));
            if !fits {
                return Err(not_awaited(&target));
            }
        }
        Ok(())
    }

    /// Takes one answer (a Status or Results whose `MsgRef` is filled in). Returns what goes to
    /// the server now, in order: nothing while an Atomic around it is owed, the Atomic's held
    /// answers after the Atomic's own Status. An answer for no known command goes as it is.
    pub(crate) fn settle(&mut self, answer: Command) -> Vec<Command> {
        let target = match &answer {
            Command::Status(s) => Some((s.msg_ref.clone(), s.cmd_ref.clone(), true)),
            Command::Results(r) => Some((
                r.msg_ref.clone().unwrap_or_default(),
                r.cmd_ref.clone(),
                false,
            )),
            _ => None,
        };
        let Some((msg_ref, cmd_ref, is_status)) = target else {
            return vec![answer];
        };
        let r = CommandRef { msg_ref, cmd_ref };
        let Some(k) = self.known.get(&r).cloned() else {
            return vec![answer];
        };
        // Held back while an Atomic around it is owed (the outermost one).
        let atomic = k.ancestors.iter().find_map(|a| {
            let a = CommandRef {
                msg_ref: r.msg_ref.clone(),
                cmd_ref: a.clone(),
            };
            self.known
                .get(&a)
                .is_some_and(|ak| ak.owed && ak.name == "Atomic")
                .then_some(a)
        });
        if is_status {
            self.answered(&r);
        }
        if let Some(a) = atomic {
            self.held.entry(a).or_default().push(answer);
            return Vec::new();
        }
        let mut out = vec![answer];
        if is_status && k.name == "Atomic" {
            out.extend(self.held.remove(&r).unwrap_or_default());
        }
        self.retire();
        out
    }

    /// Marks `r` answered.
    fn answered(&mut self, r: &CommandRef) {
        let Some(k) = self.known.get_mut(r).filter(|k| k.owed) else {
            return;
        };
        k.owed = false;
        if let Some(b) = self.batches.iter_mut().find(|b| b.msg_id == r.msg_ref) {
            b.owed = b.owed.saturating_sub(1);
        }
    }

    /// Drops the bookkeeping of messages nothing is owed of any more.
    fn retire(&mut self) {
        if self.batches.iter().all(|b| b.owed > 0) {
            return;
        }
        let (done, open): (Vec<Batch>, Vec<Batch>) =
            self.batches.drain(..).partition(|b| b.owed == 0);
        self.batches = open.into();
        for b in done {
            for id in b.cmds {
                let r = CommandRef {
                    msg_ref: b.msg_id.clone(),
                    cmd_ref: id,
                };
                self.known.remove(&r);
                self.held.remove(&r);
            }
        }
    }

    /// Every owed command of the messages that arrived at or before `now - deadline` gets
    /// `code`; returns them, in order, and what goes to the server.
    pub(crate) fn expire(
        &mut self,
        now: Timestamp,
        deadline: Duration,
        code: StatusCode,
    ) -> (Vec<CommandRef>, Vec<Command>) {
        let due = |b: &Batch| b.owed > 0 && b.since + deadline <= now;
        self.answer_owed(due, |_| Some(code))
    }

    /// Every owed top-level command gets `code`; commands nested in containers are left
    /// without a Status. Nothing is owed afterwards. Returns the commands given `code` and
    /// what goes to the server.
    pub(crate) fn close(&mut self, code: StatusCode) -> (Vec<CommandRef>, Vec<Command>) {
        let (refs, out) =
            self.answer_owed(|b| b.owed > 0, |k| k.ancestors.is_empty().then_some(code));
        self.batches.clear();
        self.known.clear();
        self.held.clear();
        (refs, out)
    }

    /// Answers the owed commands of the batches `pick` selects with the code `code_for` gives
    /// them (none: left unanswered).
    fn answer_owed(
        &mut self,
        pick: impl Fn(&Batch) -> bool,
        code_for: impl Fn(&Known) -> Option<StatusCode>,
    ) -> (Vec<CommandRef>, Vec<Command>) {
        let mut refs = Vec::new();
        let mut out = Vec::new();
        let picked: Vec<(String, Vec<String>)> = self
            .batches
            .iter()
            .filter(|b| pick(b))
            .map(|b| (b.msg_id.clone(), b.cmds.clone()))
            .collect();
        for (msg_id, cmds) in picked {
            for id in cmds {
                let r = CommandRef {
                    msg_ref: msg_id.clone(),
                    cmd_ref: id,
                };
                let Some(k) = self.known.get(&r).filter(|k| k.owed) else {
                    continue;
                };
                let Some(code) = code_for(k) else {
                    continue;
                };
                let s = status(&r.msg_ref, &r.cmd_ref, k.name, code);
                out.extend(self.settle(Command::Status(s)));
                refs.push(r);
            }
        }
        (refs, out)
    }

    /// The owed commands, oldest message first, in document order.
    pub(crate) fn owed(&self) -> Vec<CommandRef> {
        self.batches
            .iter()
            .flat_map(|b| {
                b.cmds.iter().map(|id| CommandRef {
                    msg_ref: b.msg_id.clone(),
                    cmd_ref: id.clone(),
                })
            })
            .filter(|r| self.known.get(r).is_some_and(|k| k.owed))
            .collect()
    }

    /// The session ended: forgets everything and returns what was still owed.
    pub(crate) fn abandon(&mut self) -> Vec<CommandRef> {
        let owed = self.owed();
        *self = Answers::default();
        owed
    }
}

fn not_awaited(r: &CommandRef) -> Error {
    Error::NotAwaited {
        msg_ref: r.msg_ref.clone(),
        cmd_ref: r.cmd_ref.clone(),
    }
}
