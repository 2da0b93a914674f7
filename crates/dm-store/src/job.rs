//! Jobs: operator-level command lists queued for a device, their delivery and their results.
//!
//! Life cycle: `queued` → (taken for a session) `sent` → `done` | `failed`; `queued`/`sent` →
//! `cancelled`; `sent` → `queued` again when the session ended without an answer (or the server
//! restarted), see [`crate::Store::requeue_unanswered`].

use serde::{Deserialize, Serialize};

use crate::{Error, UnixMillis};

/// Id of a job (increasing, never reused).
pub type JobId = i64;

/// Deepest nesting of `atomic`/`sequence` accepted in a job.
pub const MAX_COMMAND_DEPTH: usize = 8;

/// Where a job is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for the device's next session.
    Queued,
    /// Sent in a session, answer not yet recorded.
    Sent,
    /// Answered (each command's status is in the results).
    Done,
    /// Could not be carried out (the server decided so: too many attempts, session error, ...).
    Failed,
    /// Cancelled by the operator.
    Cancelled,
}

impl JobState {
    /// The stored text: `queued`, `sent`, `done`, `failed`, `cancelled`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Sent => "sent",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses the stored text.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for an unknown name.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "queued" => JobState::Queued,
            "sent" => JobState::Sent,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => {
                return Err(Error::Corrupt {
                    what: "job state",
                    detail: s.to_owned(),
                });
            }
        })
    }

    /// True for `done`, `failed` and `cancelled`.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// The kind of an operator-level command (JSON: lower case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandKind {
    /// `Get`.
    Get,
    /// `Replace`.
    Replace,
    /// `Add`.
    Add,
    /// `Delete`.
    Delete,
    /// `Exec`.
    Exec,
    /// `Copy` (`target` is the destination).
    Copy,
    /// `Atomic` container (`children`).
    Atomic,
    /// `Sequence` container (`children`).
    Sequence,
}

impl CommandKind {
    /// True for `atomic` and `sequence`.
    #[must_use]
    pub fn is_container(self) -> bool {
        matches!(self, CommandKind::Atomic | CommandKind::Sequence)
    }
}

/// One item of a command: the node it addresses and, for writes, the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobItem {
    /// Target node URI (for `copy`: the source).
    pub path: String,
    /// Value to write (`add`, `replace`, `exec` data), as text (`b64` text for binary formats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `Meta/Format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// `Meta/Type` (JSON key `type`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Destination URI (`copy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// An operator-level command, stored as JSON:
/// `{"kind":"replace","items":[{"path":"./X","value":"1","format":"int"}]}`,
/// `{"kind":"atomic","children":[...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobCommand {
    /// What to do.
    pub kind: CommandKind,
    /// Items (non-container kinds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<JobItem>,
    /// Nested commands (`atomic`, `sequence`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<JobCommand>,
}

impl JobCommand {
    /// A non-container command over the given paths (no values).
    #[must_use]
    pub fn on_paths<I, S>(kind: CommandKind, paths: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        JobCommand {
            kind,
            items: paths
                .into_iter()
                .map(|p| JobItem {
                    path: p.into(),
                    ..JobItem::default()
                })
                .collect(),
            children: Vec::new(),
        }
    }

    /// Checks the shape: containers have children and no items, other kinds have at least one
    /// item with a non-empty path and no children, `copy` items have a target, nesting is at
    /// most [`MAX_COMMAND_DEPTH`].
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first problem.
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_at(1)
    }

    fn validate_at(&self, depth: usize) -> Result<(), Error> {
        let bad = |m: &str| {
            Err(Error::InvalidArgument(format!(
                "{:?} command: {m}",
                self.kind
            )))
        };
        if depth > MAX_COMMAND_DEPTH {
            return bad("nested too deep");
        }
        if self.kind.is_container() {
            if self.children.is_empty() || !self.items.is_empty() {
                return bad("a container needs children and no items");
            }
            return self
                .children
                .iter()
                .try_for_each(|c| c.validate_at(depth + 1));
        }
        if self.items.is_empty() || !self.children.is_empty() {
            return bad("needs items and no children");
        }
        if self.items.iter().any(|i| i.path.is_empty()) {
            return bad("empty path");
        }
        if self.kind == CommandKind::Copy && self.items.iter().any(|i| i.target.is_none()) {
            return bad("copy needs a target");
        }
        Ok(())
    }
}

/// A job to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Target device (must have an account).
    pub device_id: String,
    /// Commands, in order (at least one).
    pub commands: Vec<JobCommand>,
    /// Creation time.
    pub created_at: UnixMillis,
}

/// Where a job last went out: enough to match the device's answer or re-send it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentIn {
    /// SyncML `SessionID`.
    pub session_id: String,
    /// `MsgID` of the message that carried the commands, once known.
    pub msg_id: Option<u32>,
    /// `CmdID`s the commands got, in command order, once known.
    pub cmd_ids: Vec<u32>,
    /// When it was taken for sending.
    pub at: UnixMillis,
}

/// One returned node of a `Results`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultItem {
    /// Source URI of the item.
    pub path: String,
    /// `Meta/Format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// `Meta/Type`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The data bytes (JSON: text when UTF-8, else `{"b64": ...}`).
    #[serde(with = "data_json")]
    pub data: Vec<u8>,
}

/// The outcome of one command of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandResult {
    /// Position of the command in the job, counting containers and their children in
    /// pre-order (the first top-level command is 0).
    pub index: u32,
    /// The `CmdID` it was sent with, if known.
    pub cmd_id: Option<u32>,
    /// The `Status` code the device answered.
    pub status: u16,
    /// `Results` items (for `get`).
    pub items: Vec<ResultItem>,
    /// When the answer was recorded.
    pub completed_at: UnixMillis,
    /// Why the command has no status of the device (`status` is then 0): e.g.
    /// [`NO_STATUS`] after the job was sent the allowed number of times unanswered.
    pub error: Option<String>,
}

/// The [`CommandResult::error`] of a command the device never answered, once its job has
/// been sent the allowed number of times.
pub const NO_STATUS: &str = "no status from device";

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// Target device.
    pub device_id: String,
    /// Current state.
    pub state: JobState,
    /// The commands.
    pub commands: Vec<JobCommand>,
    /// How many times it was taken for sending.
    pub attempts: u32,
    /// Creation time.
    pub created_at: UnixMillis,
    /// Last state change.
    pub updated_at: UnixMillis,
    /// Where it last went out (kept after a requeue until the next send).
    pub sent: Option<SentIn>,
    /// When it reached `done`, `failed` or `cancelled`.
    pub completed_at: Option<UnixMillis>,
    /// Results recorded so far, by command index.
    pub results: Vec<CommandResult>,
}

/// Filters and page for [`crate::Store::list_jobs`]; results are in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only this device.
    pub device_id: Option<String>,
    /// Only this state.
    pub state: Option<JobState>,
    /// Keyset pagination: only ids greater than this.
    pub after_id: Option<JobId>,
    /// Page size; `0` means the default (100). Capped at 10,000.
    pub limit: u32,
}

/// Which `sent` jobs [`crate::Store::requeue_unanswered`] puts back in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequeueScope {
    /// Every job taken at or before this time (after a restart: pass the start time).
    SentBefore(UnixMillis),
    /// The jobs taken for this session (it ended without answering them).
    Session(String),
}

/// Results for one job, recorded in a session; optionally completes the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResults {
    /// The job.
    pub job_id: JobId,
    /// Per-command results (upserted by command index).
    pub results: Vec<CommandResult>,
    /// `Some(Done | Failed)` to complete the job. A job already in a terminal state keeps it
    /// (its results are still stored).
    pub complete: Option<JobState>,
}

/// Result data in JSON: a string when the bytes are UTF-8, else `{"b64": "..."}`.
mod data_json {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Bin { b64: String },
    }

    pub(super) fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(data) {
            Ok(t) => s.serialize_str(t),
            Err(_) => Repr::Bin {
                b64: base64::engine::general_purpose::STANDARD.encode(data),
            }
            .serialize(s),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Text(t) => Ok(t.into_bytes()),
            Repr::Bin { b64 } => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_command_json_shape() {
        let json = r#"[{"kind":"replace","items":[{"path":"./A","value":"1","format":"int","type":"text/plain"}]},
            {"kind":"atomic","children":[{"kind":"get","items":[{"path":"./B"}]},
            {"kind":"copy","items":[{"path":"./C","target":"./D"}]}]}]"#;
        let cmds: Vec<JobCommand> = serde_json::from_str(json).unwrap();
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0].items[0].mime_type.as_deref(), Some("text/plain"));
        assert_eq!(cmds[1].children[1].kind, CommandKind::Copy);
        for c in &cmds {
            c.validate().unwrap();
        }
        let back: Vec<JobCommand> =
            serde_json::from_str(&serde_json::to_string(&cmds).unwrap()).unwrap();
        assert_eq!(back, cmds);
        assert!(serde_json::from_str::<JobCommand>(r#"{"kind":"get","bogus":1}"#).is_err());
    }

    #[test]
    fn validate_rejects_bad_shapes() {
        let empty_atomic = JobCommand {
            kind: CommandKind::Atomic,
            items: vec![],
            children: vec![],
        };
        assert!(empty_atomic.validate().is_err());
        assert!(
            JobCommand::on_paths(CommandKind::Get, Vec::<String>::new())
                .validate()
                .is_err()
        );
        assert!(
            JobCommand::on_paths(CommandKind::Copy, ["./A"])
                .validate()
                .is_err()
        );
        let mut deep = JobCommand::on_paths(CommandKind::Get, ["./A"]);
        for _ in 0..MAX_COMMAND_DEPTH {
            deep = JobCommand {
                kind: CommandKind::Sequence,
                items: vec![],
                children: vec![deep],
            };
        }
        assert!(deep.validate().is_err());
    }

    #[test]
    fn result_data_json_keeps_binary() {
        for data in [b"hello".to_vec(), vec![0xff, 0x00, 0x80]] {
            let item = ResultItem {
                path: "./X".into(),
                data: data.clone(),
                ..ResultItem::default()
            };
            let j = serde_json::to_string(&item).unwrap();
            let back: ResultItem = serde_json::from_str(&j).unwrap();
            assert_eq!(back.data, data, "{j}");
        }
    }
}
