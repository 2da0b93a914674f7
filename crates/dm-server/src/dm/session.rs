//! One authenticated session as `dm-server` keeps it: the jobs taken for it and everything it
//! will write, collected in a [`SessionRecord`] written in one transaction at its end.

use std::collections::BTreeMap;

use dm_host::{Ending, Event, SessionInfo};
use dm_store::{
    CommandResult, Job, JobCommand, JobResults, JobState, NO_STATUS, NewEvent, ResultItem,
    SessionRecord, TreeValue,
};
use syncml::{Alert, AlertCode, Command, Item, Meta, Status};

use crate::commands;
use crate::state::now_ms;

/// A job taken for this session.
struct TakenJob {
    id: i64,
    commands: Vec<JobCommand>,
    /// Pre-order index of each top-level command.
    top_index: Vec<u32>,
    total: usize,
    /// Sends so far, this one included.
    attempts: u32,
    /// Results by pre-order index: those stored by earlier sessions, then this one's.
    results: BTreeMap<u32, CommandResult>,
    /// Indexes answered in this session (to be stored).
    fresh: Vec<u32>,
}

impl TakenJob {
    /// True when every command of the job has a status.
    fn complete(&self) -> bool {
        (0..self.total).all(|i| {
            u32::try_from(i)
                .ok()
                .and_then(|i| self.results.get(&i))
                .is_some_and(|r| r.status != 0)
        })
    }

    /// True when the top-level command `top` and everything in it have a status.
    fn answered(&self, top: usize) -> bool {
        let (Some(&first), Some(cmd)) = (self.top_index.get(top), self.commands.get(top)) else {
            return false;
        };
        let n = u32::try_from(commands::count(std::slice::from_ref(cmd))).unwrap_or(0);
        (first..first + n).all(|i| self.results.get(&i).is_some_and(|r| r.status != 0))
    }
}

/// What [`DmSession::record`] hands back.
pub(crate) struct Finished {
    pub(crate) record: SessionRecord,
    /// Some job is left unanswered (queue it again).
    pub(crate) incomplete: bool,
}

impl Finished {
    pub(crate) fn is_empty(&self) -> bool {
        let r = &self.record;
        r.registry == Default::default()
            && r.nonces == Default::default()
            && r.tree_values.is_empty()
            && r.job_results.is_empty()
            && r.events.is_empty()
    }
}

/// The backend state of one session.
pub(crate) struct DmSession {
    record: SessionRecord,
    jobs: Vec<TakenJob>,
    /// The command at each position the host reports: (job, top-level command).
    sent: Vec<(usize, usize)>,
}

/// Pre-order index of the command at `path` (child indexes) below the top-level command that
/// starts at `base`.
fn preorder(cmd: &JobCommand, base: u32, path: &[usize]) -> Option<u32> {
    let Some((&first, rest)) = path.split_first() else {
        return Some(base);
    };
    let mut idx = base + 1;
    for child in cmd.children.get(..first)? {
        idx += u32::try_from(commands::count(std::slice::from_ref(child))).ok()?;
    }
    preorder(cmd.children.get(first)?, idx, rest)
}

fn result_item(i: &Item, default_meta: Option<&Meta>) -> ResultItem {
    let meta = i.meta.as_ref();
    let pick = |f: fn(&Meta) -> Option<&String>| {
        meta.and_then(f)
            .or_else(|| default_meta.and_then(f))
            .cloned()
    };
    ResultItem {
        path: i
            .source
            .as_ref()
            .or(i.target.as_ref())
            .map(|l| l.loc_uri.clone())
            .unwrap_or_default(),
        format: pick(|m| m.format.as_ref()),
        mime_type: pick(|m| m.r#type.as_ref()),
        data: i
            .data
            .as_ref()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default(),
    }
}

/// The items of a device's Status that carry data (e.g. the output of an Exec).
fn status_items(status: &Status) -> Vec<ResultItem> {
    let target = status.target_refs.first();
    status
        .items
        .iter()
        .filter(|i| i.data.is_some())
        .map(|i| {
            let mut item = result_item(i, None);
            if item.path.is_empty()
                && let Some(t) = target
            {
                item.path.clone_from(t);
            }
            item
        })
        .collect()
}

impl DmSession {
    pub(crate) fn new(device_id: &str) -> Self {
        DmSession {
            record: SessionRecord {
                device_id: device_id.to_owned(),
                ..SessionRecord::default()
            },
            jobs: Vec::new(),
            sent: Vec::new(),
        }
    }

    /// Takes the jobs for this session: the commands to send. A job sent before keeps the
    /// results it got; only its top-level commands still missing a status go out again.
    pub(crate) fn take(&mut self, jobs: Vec<Job>) -> Vec<Command> {
        let mut out = Vec::new();
        for job in jobs {
            let job_idx = self.jobs.len();
            let mut top_index = Vec::with_capacity(job.commands.len());
            let mut next = 0u32;
            for cmd in &job.commands {
                top_index.push(next);
                next += u32::try_from(commands::count(std::slice::from_ref(cmd))).unwrap_or(0);
            }
            let taken = TakenJob {
                id: job.id,
                total: commands::count(&job.commands),
                attempts: job.attempts,
                results: job
                    .results
                    .into_iter()
                    .filter(|r| r.status != 0)
                    .map(|r| (r.index, r))
                    .collect(),
                commands: job.commands,
                top_index,
                fresh: Vec::new(),
            };
            for (top, cmd) in taken.commands.iter().enumerate() {
                if !taken.answered(top) {
                    out.push(commands::to_syncml(cmd));
                    self.sent.push((job_idx, top));
                }
            }
            tracing::debug!(job = taken.id, attempt = taken.attempts, "job sent");
            self.jobs.push(taken);
        }
        out
    }

    /// The result slot of the command at `path` inside queued command `command`.
    fn result(&mut self, command: usize, path: &[usize]) -> Option<&mut CommandResult> {
        let &(job_idx, top) = self.sent.get(command)?;
        let job = self.jobs.get_mut(job_idx)?;
        let index = preorder(job.commands.get(top)?, *job.top_index.get(top)?, path)?;
        if !job.fresh.contains(&index) {
            job.fresh.push(index);
            job.results.insert(
                index,
                CommandResult {
                    index,
                    completed_at: now_ms(),
                    ..CommandResult::default()
                },
            );
        }
        job.results.get_mut(&index)
    }

    /// Takes in one event of the session.
    pub(crate) fn event(&mut self, ev: Event) {
        match ev {
            Event::DevInfo(items) => {
                let map = items
                    .iter()
                    .filter_map(|i| {
                        let uri = &i.source.as_ref()?.loc_uri;
                        let leaf = uri.rsplit('/').next().unwrap_or(uri);
                        let value = i.data.as_ref().and_then(|d| d.as_str()).unwrap_or("");
                        Some((leaf.to_owned(), value.to_owned()))
                    })
                    .collect();
                self.record.registry.devinfo = Some(map);
            }
            Event::Alert(a) => self.push_events(&a),
            Event::Results {
                command,
                path,
                results,
            } => {
                let default_meta = results.meta.as_ref();
                let at = now_ms();
                let items: Vec<ResultItem> = results
                    .items
                    .iter()
                    .map(|i| result_item(i, default_meta))
                    .collect();
                for it in &items {
                    self.record.tree_values.push(TreeValue {
                        path: it.path.clone(),
                        format: it.format.clone(),
                        mime_type: it.mime_type.clone(),
                        value: it.data.clone(),
                        updated_at: at,
                    });
                }
                if let Some(r) = self.result(command, &path) {
                    r.items.extend(items);
                }
            }
            Event::Status {
                command,
                path,
                code,
                status,
            } => {
                if let Some(r) = self.result(command, &path) {
                    r.status = code.0;
                    r.cmd_id = status.cmd_ref.parse().ok();
                    // Items of a Status carry data of the command's own (an Exec's output):
                    // kept as result items, addressed by the command's target if the item
                    // names none.
                    r.items.extend(status_items(&status));
                }
            }
            _ => {}
        }
    }

    fn push_events(&mut self, a: &Alert) {
        let base = NewEvent {
            device_id: self.record.device_id.clone(),
            at: now_ms(),
            alert_code: a.code.0,
            correlator: a.correlator.clone(),
            ..NewEvent::default()
        };
        if a.items.is_empty() {
            self.record.events.push(base);
            return;
        }
        for i in &a.items {
            let meta = i.meta.as_ref();
            self.record.events.push(NewEvent {
                alert_type: meta.and_then(|m| m.r#type.clone()),
                format: meta.and_then(|m| m.format.clone()),
                mark: meta.and_then(|m| m.mark.clone()),
                source_uri: i.source.as_ref().map(|l| l.loc_uri.clone()),
                data: i.data.as_ref().and_then(|d| d.as_str()).map(str::to_owned),
                ..base.clone()
            });
        }
        if a.code == AlertCode::GENERIC_ALERT {
            tracing::debug!(items = a.items.len(), "generic alert stored");
        }
    }

    /// Everything the session writes at its end (at `now`, wall clock). A job still missing
    /// statuses after `max_attempts` sends fails, with [`NO_STATUS`] for the commands the
    /// device never answered; one with fewer sends is left to be queued again.
    pub(crate) fn record(
        mut self,
        info: &SessionInfo,
        ending: &Ending,
        now: i64,
        max_attempts: u32,
    ) -> Finished {
        let mut incomplete = false;
        for mut job in std::mem::take(&mut self.jobs) {
            let complete = job.complete();
            let state = if complete {
                Some(JobState::Done)
            } else if job.attempts >= max_attempts {
                for i in 0..job.total {
                    let Ok(index) = u32::try_from(i) else {
                        continue;
                    };
                    let missing = job.results.get(&index).is_none_or(|r| r.status == 0);
                    if missing {
                        job.fresh.push(index);
                        job.results.insert(
                            index,
                            CommandResult {
                                index,
                                completed_at: now,
                                error: Some(NO_STATUS.to_owned()),
                                ..CommandResult::default()
                            },
                        );
                    }
                }
                tracing::warn!(
                    job = job.id,
                    device = %dm_host::log::Untrusted(&info.device_id),
                    attempts = job.attempts,
                    "job failed: no status from the device after the allowed sends"
                );
                Some(JobState::Failed)
            } else {
                incomplete = true;
                None
            };
            let results: Vec<CommandResult> = job
                .fresh
                .iter()
                .filter_map(|i| job.results.get(i))
                .filter(|r| r.status != 0 || r.error.is_some())
                .cloned()
                .collect();
            if results.is_empty() && state.is_none() {
                continue;
            }
            self.record.job_results.push(JobResults {
                job_id: job.id,
                results,
                complete: state,
            });
        }
        let r = &mut self.record;
        r.at = now;
        r.registry.last_contact = Some(now);
        r.registry.last_addr = ending.peer.or(info.peer).map(|p| p.to_string());
        r.registry.last_session_id = Some(info.session_id.clone());
        r.nonces.client.clone_from(&ending.client_nonce);
        r.nonces.server.clone_from(&ending.server_nonce);
        Finished {
            record: self.record,
            incomplete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preorder_indexes_nested_commands() {
        let cmd: JobCommand = serde_json::from_str(
            r#"{"kind":"atomic","children":[
                {"kind":"get","items":[{"path":"./a"}]},
                {"kind":"sequence","children":[{"kind":"get","items":[{"path":"./b"}]},{"kind":"get","items":[{"path":"./c"}]}]},
                {"kind":"get","items":[{"path":"./d"}]}]}"#,
        )
        .unwrap();
        assert_eq!(preorder(&cmd, 5, &[]), Some(5));
        assert_eq!(preorder(&cmd, 5, &[0]), Some(6));
        assert_eq!(preorder(&cmd, 5, &[1]), Some(7));
        assert_eq!(preorder(&cmd, 5, &[1, 1]), Some(9));
        assert_eq!(preorder(&cmd, 5, &[2]), Some(10));
        assert_eq!(preorder(&cmd, 5, &[3]), None);
        assert_eq!(preorder(&cmd, 5, &[0, 0]), None);
    }
}
