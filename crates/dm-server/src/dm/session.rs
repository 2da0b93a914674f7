//! One authenticated session as `dm-server` keeps it: the jobs taken for it and everything it
//! will write, collected in a [`SessionRecord`] written in one transaction at its end.
//!
//! A gateway's session also carries the jobs of its Proxy-mode End Devices as Fanout
//! operations ([`super::gateway`]): their answers are stored under those devices' jobs with
//! the same per-command results as a direct session's.

use std::collections::BTreeMap;

use dm_host::{Ending, Event, SessionInfo};
use dm_store::{
    CommandResult, Job, JobCommand, JobId, JobResults, JobState, LinkReport, NO_STATUS, NewEvent,
    ProxiedValues, ResultItem, SessionRecord, TreeValue,
};
use gwmo::payload::DeviceResponse;
use syncml::{Alert, AlertCode, Command, Item, Limits, Meta, Status};

use super::gateway;
use crate::commands;
use crate::state::now_ms;

/// Where a Fanout operation (a Proxy-mode job in its gateway's session) is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fanout {
    /// Sent; the gateway has given no verdict yet.
    Sent,
    /// The device's response came (the `Start` Exec's Status 200, seed 001 Y; or a
    /// `completionstatus` alert, Y').
    Answered,
    /// The gateway accepted it for later (Status 202, Y'): the job waits for the alert.
    Accepted,
    /// The gateway refused it: that status, on which step.
    Refused { code: u16, step: &'static str },
}

/// How a taken job travels.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    /// In its device's own session.
    Direct,
    /// As a Fanout operation in its gateway's session.
    Fanout(Fanout),
}

/// A job taken for this session.
struct TakenJob {
    id: i64,
    /// Its End Device.
    device_id: String,
    route: Route,
    /// Tree values of a proxied job's Results (stored under its End Device).
    values: Vec<TreeValue>,
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
    fn new(job: Job, route: Route) -> TakenJob {
        let mut top_index = Vec::with_capacity(job.commands.len());
        let mut next = 0u32;
        for cmd in &job.commands {
            top_index.push(next);
            next += u32::try_from(commands::count(std::slice::from_ref(cmd))).unwrap_or(0);
        }
        TakenJob {
            id: job.id,
            device_id: job.device_id,
            route,
            values: Vec::new(),
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
        }
    }

    /// Stores `r` as the result of its command, answered in this session.
    fn set_fresh(&mut self, r: CommandResult) {
        if !self.fresh.contains(&r.index) {
            self.fresh.push(r.index);
        }
        self.results.insert(r.index, r);
    }

    /// Takes in the answers of a Proxy-mode device (its response fragment).
    fn answered_by_device(&mut self, response: &[Command], now: i64) {
        let answers = gateway::map_response(&self.commands, response, now);
        for r in answers.results.into_values() {
            self.set_fresh(r);
        }
        self.values.extend(answers.values);
        self.route = Route::Fanout(Fanout::Answered);
    }

    /// Gives every command without a status (or, `all`, every command) the error `error`,
    /// with `status` (0: none of the device's).
    fn fill(&mut self, status: u16, error: &str, now: i64, all: bool) {
        for i in 0..self.total {
            let Ok(index) = u32::try_from(i) else {
                continue;
            };
            let missing = self.results.get(&index).is_none_or(|r| r.status == 0);
            if all || missing {
                self.set_fresh(CommandResult {
                    index,
                    cmd_id: self.results.get(&index).and_then(|r| r.cmd_id),
                    status,
                    completed_at: now,
                    error: Some(error.to_owned()),
                    ..CommandResult::default()
                });
            }
        }
    }

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

/// What the command at one position of the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Top-level command `top` of job `job` (a direct job).
    Command { job: usize, top: usize },
    /// The Fanout `Sequence` of job `job` (a Proxy-mode job).
    Operation { job: usize },
    /// The `Delete` of an earlier attempt's operation (its status does not matter).
    Cancel,
}

/// The backend state of one session.
pub(crate) struct DmSession {
    record: SessionRecord,
    jobs: Vec<TakenJob>,
    /// The command at each position the host reports.
    sent: Vec<Sent>,
    /// Decoder limits of the fragments inside a gateway's answers.
    limits: Limits,
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

/// One returned node of a Results item (`Meta` of the item, else of the Results).
pub(super) fn result_item(i: &Item, default_meta: Option<&Meta>) -> ResultItem {
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
pub(super) fn status_items(status: &Status) -> Vec<ResultItem> {
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
    pub(crate) fn new(device_id: &str, limits: Limits) -> Self {
        DmSession {
            record: SessionRecord {
                device_id: device_id.to_owned(),
                ..SessionRecord::default()
            },
            jobs: Vec::new(),
            sent: Vec::new(),
            limits,
        }
    }

    /// Takes the jobs for this session: the commands to send. A job sent before keeps the
    /// results it got; only its top-level commands still missing a status go out again.
    pub(crate) fn take(&mut self, jobs: Vec<Job>) -> Vec<Command> {
        let mut out = Vec::new();
        for job in jobs {
            let job_idx = self.jobs.len();
            let taken = TakenJob::new(job, Route::Direct);
            for (top, cmd) in taken.commands.iter().enumerate() {
                if !taken.answered(top) {
                    out.push(commands::to_syncml(cmd));
                    self.sent.push(Sent::Command { job: job_idx, top });
                }
            }
            tracing::debug!(job = taken.id, attempt = taken.attempts, "job sent");
            self.jobs.push(taken);
        }
        out
    }

    /// Takes the jobs of the gateway's Proxy-mode devices: one Fanout operation each
    /// (docs/gateway.md §5), preceded by the Delete of an earlier attempt's operation.
    pub(crate) fn take_proxied(&mut self, jobs: Vec<Job>) -> Vec<Command> {
        let mut out = Vec::new();
        for job in jobs {
            let job_idx = self.jobs.len();
            if job.attempts > 1 {
                out.push(gateway::fanout_cancel(job.id));
                self.sent.push(Sent::Cancel);
            }
            out.push(gateway::fanout_sequence(
                job.id,
                &job.device_id,
                &job.commands,
            ));
            self.sent.push(Sent::Operation { job: job_idx });
            tracing::debug!(
                job = job.id,
                device = %dm_host::log::Untrusted(&job.device_id),
                attempt = job.attempts,
                "job sent to its gateway as a Fanout operation"
            );
            self.jobs
                .push(TakenJob::new(job, Route::Fanout(Fanout::Sent)));
        }
        out
    }

    /// The `Start` Execs of fanouts among this session's direct jobs (their carrier jobs,
    /// docs/gateway.md §9), with the status each got (0: none) and its Status items.
    pub(crate) fn fanout_starts(&self) -> Vec<(dm_store::FanoutId, u16, Vec<ResultItem>)> {
        fn walk(cmd: &JobCommand, next: &mut u32, out: &mut Vec<(dm_store::FanoutId, u32)>) {
            if let Some(f) = crate::fanout::started_by(cmd) {
                out.push((f, *next));
            }
            *next += 1;
            for c in &cmd.children {
                walk(c, next, out);
            }
        }
        let mut out = Vec::new();
        for job in self.jobs.iter().filter(|j| j.route == Route::Direct) {
            let mut found = Vec::new();
            let mut next = 0;
            for c in &job.commands {
                walk(c, &mut next, &mut found);
            }
            for (fanout, index) in found {
                let (code, items) = job
                    .results
                    .get(&index)
                    .map(|r| (r.status, r.items.clone()))
                    .unwrap_or_default();
                out.push((fanout, code, items));
            }
        }
        out
    }

    /// Device reports of the gateway (written with the session's record).
    pub(crate) fn reported(&mut self, reports: Vec<LinkReport>) {
        self.record.links.extend(reports);
    }

    /// True when job `id` is already handled in this session.
    pub(crate) fn has_job(&self, id: JobId) -> bool {
        self.jobs.iter().any(|j| j.id == id)
    }

    /// A `completionstatus` response for `job` (sent earlier, carried by this gateway, still
    /// `sent`: the caller checked): it completes in this session's record (seed 001 Y').
    pub(crate) fn completed_later(&mut self, job: Job, response: &DeviceResponse) {
        let mut taken = TakenJob::new(job, Route::Fanout(Fanout::Sent));
        taken.answered_by_device(&response.commands, now_ms());
        self.jobs.push(taken);
    }

    /// The Status of a command of job `job`'s Fanout Sequence (`path` inside it; empty: the
    /// Sequence). The first verdict counts.
    fn operation_status(&mut self, job: usize, path: &[usize], status: &Status) {
        let limits = self.limits;
        let Some(j) = self.jobs.get_mut(job) else {
            return;
        };
        if j.route != Route::Fanout(Fanout::Sent) {
            return;
        }
        let code = status.code.0;
        let ok = (200..300).contains(&code);
        let step = match path {
            [] => "Sequence",
            [i] => gateway::sequence_step(*i),
            _ => return,
        };
        if path == [gateway::START_INDEX] && code == 200 {
            let op = gateway::operation_id(j.id);
            match gateway::response_in(&status.items, &op, &j.device_id, &limits) {
                Some(response) => j.answered_by_device(&response, now_ms()),
                None => {
                    tracing::warn!(
                        job = j.id,
                        "the gateway's answer has no response of the device"
                    );
                    j.route = Route::Fanout(Fanout::Answered);
                }
            }
        } else if path == [gateway::START_INDEX] && code == 202 {
            j.route = Route::Fanout(Fanout::Accepted);
        } else if !ok {
            j.route = Route::Fanout(Fanout::Refused { code, step });
        }
    }

    /// The result slot of the command at `path` inside queued command `command`.
    fn result(&mut self, command: usize, path: &[usize]) -> Option<&mut CommandResult> {
        let Some(&Sent::Command { job: job_idx, top }) = self.sent.get(command) else {
            return None;
        };
        let job = self.jobs.get_mut(job_idx)?;
        let index = preorder(job.commands.get(top)?, *job.top_index.get(top)?, path)?;
        if !job.fresh.contains(&index) {
            job.set_fresh(CommandResult {
                index,
                completed_at: now_ms(),
                ..CommandResult::default()
            });
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
                status,
                ..
            } if matches!(self.sent.get(command), Some(Sent::Operation { .. })) => {
                if let Some(&Sent::Operation { job }) = self.sent.get(command) {
                    self.operation_status(job, &path, &status);
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
        let gateway = info.device_id.clone();
        for mut job in std::mem::take(&mut self.jobs) {
            let state = match job.route.clone() {
                Route::Fanout(Fanout::Accepted) => {
                    // Y': it completes with the gateway's alert; neither re-sent nor re-queued.
                    self.record.awaiting.push(job.id);
                    tracing::info!(job = job.id, gateway = %dm_host::log::Untrusted(&gateway), "the gateway will report the job's outcome later");
                    None
                }
                Route::Fanout(Fanout::Refused { code, step }) => {
                    let error =
                        format!("gateway {gateway} refused the operation: {step} got {code}");
                    tracing::warn!(job = job.id, %code, step, gateway = %dm_host::log::Untrusted(&gateway), "job failed: its gateway refused the Fanout operation");
                    job.fill(code, &error, now, true);
                    Some(JobState::Failed)
                }
                Route::Fanout(Fanout::Answered) => {
                    if job.complete() {
                        Some(JobState::Done)
                    } else {
                        // The device's answer is all there will be.
                        job.fill(0, NO_STATUS, now, false);
                        Some(JobState::Failed)
                    }
                }
                Route::Direct | Route::Fanout(Fanout::Sent) => {
                    if job.complete() {
                        Some(JobState::Done)
                    } else if job.attempts >= max_attempts {
                        job.fill(0, NO_STATUS, now, false);
                        tracing::warn!(
                            job = job.id,
                            device = %dm_host::log::Untrusted(&job.device_id),
                            attempts = job.attempts,
                            "job failed: no status from the device after the allowed sends"
                        );
                        Some(JobState::Failed)
                    } else {
                        incomplete = true;
                        None
                    }
                }
            };
            if !job.values.is_empty() {
                self.record.proxied.push(ProxiedValues {
                    device_id: job.device_id.clone(),
                    values: std::mem::take(&mut job.values),
                });
            }
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
