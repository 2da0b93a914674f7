//! Fanouts to device groups behind a gateway, and their consolidated response
//! (docs/gateway.md §9; GwMO-FORA-001/002, use case B.7).
//!
//! A fanout is stored (`dm_store::Fanout`) with a JSON [`Detail`] and carried to its gateway
//! by one ordinary job of the gateway ([`carrier_commands`]): the Adds of
//! `./GwMO/Fanout/Operations/f<id>` and the `Start` Exec. What follows is driven by one task,
//! [`run`], fed by the DM session backend through a [`Feed`]:
//!
//! - [`Work::Started`]: the `Start` Exec's Status came back with the carrier job. 200 or 202:
//!   the fanout runs; its Transparent-mode targets (items `.../Transparent`) are handed back
//!   to the server, which queues the commands for each of them as an ordinary job (routed
//!   through the gateway's relay) and notifies it. Any other code: the fanout failed.
//! - [`Work::Reported`]: a `resultaggregation` item from the fanout's own gateway: the
//!   partial (`state=running`, progress) or final consolidated response of the gateway's part.
//! - [`Work::JobsEnded`]: jobs that ended in a session: a Transparent target's job counts
//!   into the server's part (a `gwmo::fanout::Operation`, the same engine the gateway runs).
//! - [`Work::Cancel`]: the operator cancels: the gateway's operation is deleted (a job) and
//!   the open Transparent jobs are cancelled.
//!
//! The fanout is done when the gateway's part is final and every Transparent target has its
//! outcome (or the fanout's deadline passed: the rest time out, 504). Its result is the merge
//! of both parts. The task is the only writer of a fanout after its creation, so updates
//! never race; it sleeps until the earliest deadline of a fanout with open Transparent jobs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use dm_store::{
    CommandKind, Fanout, FanoutFilter, FanoutId, FanoutState, Job, JobCommand, JobId, JobItem,
    JobState, NewJob, ResultItem, Store as _,
};
use gwmo::Timestamp;
use gwmo::fanout::{Aggregate, CommandAggregate, Exception, FanoutConfig, Operation};
use serde::{Deserialize, Serialize};
use syncml::{Command, Data, Item, Limits, Location, Results, Status, StatusCode};
use tokio::sync::mpsc;

use crate::dm::command_fragment;
use crate::state::{AppState, now_ms};
use dm_host::log::Untrusted;

/// The gateway operation id of fanout `id`.
#[must_use]
pub(crate) fn operation_id(id: FanoutId) -> String {
    format!("f{id}")
}

/// The fanout of a gateway operation id (`f<n>`).
#[must_use]
pub(crate) fn fanout_of_operation(op: &str) -> Option<FanoutId> {
    let n = op.strip_prefix('f')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
        return None;
    }
    n.parse().ok()
}

fn operation_uri(id: FanoutId) -> String {
    gwmo::layout::operation_uri(&operation_id(id))
}

/// What the operator asked (the API's request, kept in the detail).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Request {
    /// A group of the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) group: Option<String>,
    /// Explicit targets (device ids), with the group's members if both are given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) targets: Vec<String>,
    /// The commands, as a job's (URIs in the End Devices' own trees).
    pub(crate) commands: Vec<JobCommand>,
    /// The fanout's deadline from its start.
    pub(crate) timeout_secs: u64,
    /// Devices in flight at once on the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) window: Option<u32>,
    /// Per-device timeout of one attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) attempt_secs: Option<u64>,
    /// Attempts per device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_attempts: Option<u32>,
}

/// A Transparent-mode target the server runs itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Child {
    /// The End Device.
    pub(crate) device: String,
    /// Its job (none: it could not be queued, e.g. no account).
    pub(crate) job: Option<JobId>,
}

/// The server's document of one fanout (`fanouts.detail`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Detail {
    /// What was asked.
    pub(crate) request: Request,
    /// When the gateway accepted it (wall clock, ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) started_at: Option<i64>,
    /// The gateway's latest consolidated response of its part (`Aggregate::encode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gateway: Option<String>,
    /// The gateway's part is final.
    #[serde(default)]
    pub(crate) gateway_done: bool,
    /// Transparent-mode targets, run by the server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) transparent: Vec<Child>,
    /// The consolidated response of the whole fanout, once done (`Aggregate::encode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) result: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

impl Detail {
    /// Reads a stored detail (an unreadable one reads as empty: the row stays usable).
    pub(crate) fn of(f: &Fanout) -> Detail {
        serde_json::from_str(&f.detail).unwrap_or_default()
    }

    fn store_in(&self, f: &mut Fanout) {
        f.detail = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
    }
}

fn limits() -> Limits {
    Limits::default()
}

/// Decodes a stored aggregate.
pub(crate) fn decode_aggregate(text: &str) -> Option<Aggregate> {
    Aggregate::decode(text, &limits()).ok()
}

fn item(path: String, format: &str, value: Option<String>) -> JobItem {
    JobItem {
        path,
        value,
        format: Some(format.to_owned()),
        ..JobItem::default()
    }
}

fn one(kind: CommandKind, item: JobItem) -> JobCommand {
    JobCommand {
        kind,
        items: vec![item],
        children: Vec::new(),
    }
}

/// The job of the gateway that creates and starts fanout `id` (docs/gateway.md §9): one
/// `Sequence` of the operation's Adds and Replaces and the `Start` Exec.
#[must_use]
pub(crate) fn carrier_commands(id: FanoutId, r: &Request) -> Vec<JobCommand> {
    let op = operation_uri(id);
    let leaf = |name: &str| format!("{op}/{name}");
    let fragment = syncml::xml::encode_fragment(&command_fragment(&r.commands));
    let mut steps = vec![
        one(CommandKind::Add, item(op.clone(), "node", None)),
        one(
            CommandKind::Add,
            item(leaf("Commands"), "xml", Some(fragment)),
        ),
    ];
    if let Some(g) = &r.group {
        steps.push(one(
            CommandKind::Add,
            item(leaf("Group"), "chr", Some(g.clone())),
        ));
    }
    if !r.targets.is_empty() {
        steps.push(one(
            CommandKind::Add,
            item(leaf("Targets"), "chr", Some(r.targets.join(","))),
        ));
    }
    let mut set = |name: &str, v: u64| {
        steps.push(one(
            CommandKind::Replace,
            item(leaf(name), "int", Some(v.to_string())),
        ));
    };
    set("WaitSeconds", 0);
    set("ProgressSeconds", 1);
    set("TimeoutSeconds", r.timeout_secs);
    if let Some(w) = r.window {
        set("Window", u64::from(w));
    }
    if let Some(a) = r.attempt_secs {
        set("AttemptSeconds", a);
    }
    if let Some(m) = r.max_attempts {
        set("MaxAttempts", u64::from(m));
    }
    steps.push(JobCommand::on_paths(CommandKind::Exec, [leaf("Start")]));
    vec![JobCommand {
        kind: CommandKind::Sequence,
        items: Vec::new(),
        children: steps,
    }]
}

/// The fanout whose `Start` a command of a carrier job executes.
#[must_use]
pub(crate) fn started_by(cmd: &JobCommand) -> Option<FanoutId> {
    if cmd.kind != CommandKind::Exec {
        return None;
    }
    let path = cmd.items.first()?.path.as_str();
    let rest = path.strip_prefix("./GwMO/Fanout/Operations/")?;
    let op = rest.strip_suffix("/Start")?;
    fanout_of_operation(op)
}

/// Work for the fanout task.
#[derive(Debug)]
pub(crate) enum Work {
    /// The `Start` Exec of fanout `fanout` got `code` from `gateway`, with these items.
    Started {
        /// The fanout.
        fanout: FanoutId,
        /// The gateway whose session answered.
        gateway: String,
        /// The Exec's status (0: none, the carrier job failed before it).
        code: u16,
        /// The Status items.
        items: Vec<ResultItem>,
    },
    /// A `resultaggregation` item from `gateway`.
    Reported {
        /// The sender.
        gateway: String,
        /// The aggregate.
        aggregate: Box<Aggregate>,
    },
    /// Jobs that reached a terminal state.
    JobsEnded(Vec<JobId>),
    /// The operator cancels.
    Cancel(FanoutId),
}

/// The sending half: the DM session backend and the API feed the task.
#[derive(Debug, Clone)]
pub(crate) struct Feed(mpsc::UnboundedSender<Work>);

impl Feed {
    /// A feed and the receiver for [`run`].
    pub(crate) fn new() -> (Feed, mpsc::UnboundedReceiver<Work>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Feed(tx), rx)
    }

    /// Hands work to the task (dropped when the server stops).
    pub(crate) fn send(&self, w: Work) {
        let _ = self.0.send(w);
    }
}

/// The in-memory side of the running fanouts: who waits for which job.
#[derive(Default)]
struct Watch {
    /// Open Transparent jobs → their fanout.
    jobs: HashMap<JobId, FanoutId>,
    /// Deadlines of fanouts with open Transparent jobs.
    deadlines: BTreeMap<FanoutId, i64>,
    /// Fanouts past their deadline whose gateway has not given its final word: they end
    /// without it at their second deadline ([`GATEWAY_GRACE_MS`] later).
    overdue: std::collections::HashSet<FanoutId>,
}

/// How long after a fanout's deadline the server waits for the gateway's final aggregate
/// (the gateway times its targets out at the same deadline and then reports).
const GATEWAY_GRACE_MS: i64 = 30_000;

/// The fanout task: applies [`Work`] until the feed closes; resumes the running fanouts of
/// the store first (a restart loses none).
pub(crate) async fn run(state: Arc<AppState>, mut rx: mpsc::UnboundedReceiver<Work>) {
    let mut watch = Watch::default();
    resume(&state, &mut watch).await;
    loop {
        let sleep = watch
            .deadlines
            .values()
            .min()
            .map(|d| Duration::from_millis(u64::try_from(d - now_ms()).unwrap_or(0)));
        let work = match sleep {
            Some(d) => match tokio::time::timeout(d, rx.recv()).await {
                Ok(w) => w,
                Err(_) => {
                    expire(&state, &mut watch).await;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let Some(work) = work else {
            return;
        };
        if let Err(e) = apply(&state, &mut watch, work).await {
            tracing::error!(error = %e, "store failure applying fanout work");
        }
    }
}

async fn resume(state: &AppState, watch: &mut Watch) {
    let mut after = None;
    loop {
        let page = match state
            .store
            .list_fanouts(&FanoutFilter {
                state: Some(FanoutState::Running),
                after_id: after,
                ..FanoutFilter::default()
            })
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "store failure resuming fanouts");
                return;
            }
        };
        let Some(last) = page.last().map(|f| f.id) else {
            return;
        };
        for f in &page {
            let d = Detail::of(f);
            let mut open = false;
            for c in &d.transparent {
                if let Some(j) = c.job {
                    watch.jobs.insert(j, f.id);
                    open = true;
                }
            }
            if open {
                watch.deadlines.insert(f.id, deadline(f, &d));
            }
            // A fanout whose parts all ended just before a restart completes now; one past
            // its deadline gets the gateway's grace again.
            if open && deadline(f, &d) <= now_ms() {
                watch.overdue.insert(f.id);
            }
            if let Err(e) = settle(state, watch, f.id).await {
                tracing::error!(error = %e, "store failure settling a fanout");
            }
        }
        after = Some(last);
    }
}

fn deadline(f: &Fanout, d: &Detail) -> i64 {
    let secs = i64::try_from(d.request.timeout_secs).unwrap_or(i64::MAX / 2000);
    d.started_at
        .unwrap_or(f.created_at)
        .saturating_add(secs.saturating_mul(1000))
}

async fn expire(state: &AppState, watch: &mut Watch) {
    let now = now_ms();
    let due: Vec<FanoutId> = watch
        .deadlines
        .iter()
        .filter(|(_, d)| **d <= now)
        .map(|(f, _)| *f)
        .collect();
    for f in due {
        watch.deadlines.remove(&f);
        watch.jobs.retain(|_, v| *v != f);
        let hard = watch.overdue.remove(&f);
        match settle_at(state, f, true, hard).await {
            Ok(true) => {}
            Ok(false) => {
                watch.overdue.insert(f);
                watch.deadlines.insert(f, now + GATEWAY_GRACE_MS);
            }
            Err(e) => tracing::error!(error = %e, "store failure at a fanout's deadline"),
        }
    }
}

async fn apply(state: &AppState, watch: &mut Watch, work: Work) -> Result<(), dm_store::Error> {
    match work {
        Work::Started {
            fanout,
            gateway,
            code,
            items,
        } => started(state, watch, fanout, &gateway, code, &items).await,
        Work::Reported { gateway, aggregate } => {
            let Some(id) = fanout_of_operation(&aggregate.op) else {
                return Ok(());
            };
            let Some(mut f) = state.store.get_fanout(id).await? else {
                return Ok(());
            };
            if f.gateway_id != gateway || f.state.is_terminal() {
                tracing::warn!(gateway = %Untrusted(&gateway), fanout = id, "aggregate for a fanout this gateway does not run: ignored");
                return Ok(());
            }
            let mut d = Detail::of(&f);
            d.gateway = Some(aggregate.encode());
            d.gateway_done = is_final(&aggregate);
            if f.state == FanoutState::Queued {
                f.state = FanoutState::Running;
                d.started_at.get_or_insert(now_ms());
            }
            d.store_in(&mut f);
            f.updated_at = now_ms();
            state.store.update_fanout(&f).await?;
            settle(state, watch, id).await
        }
        Work::JobsEnded(jobs) => {
            let mut touched: Vec<FanoutId> = jobs
                .iter()
                .filter_map(|j| watch.jobs.get(j).copied())
                .collect();
            touched.sort_unstable();
            touched.dedup();
            for f in touched {
                settle(state, watch, f).await?;
            }
            Ok(())
        }
        Work::Cancel(id) => cancel(state, watch, id).await,
    }
}

/// True when an aggregate is the gateway's last word on its part.
fn is_final(a: &Aggregate) -> bool {
    a.state != gwmo::fanout::State::Running
}

async fn started(
    state: &AppState,
    watch: &mut Watch,
    id: FanoutId,
    gateway: &str,
    code: u16,
    items: &[ResultItem],
) -> Result<(), dm_store::Error> {
    let Some(mut f) = state.store.get_fanout(id).await? else {
        return Ok(());
    };
    if f.gateway_id != gateway || f.state.is_terminal() {
        return Ok(());
    }
    let mut d = Detail::of(&f);
    let now = now_ms();
    let code = StatusCode(code);
    if !code.is_success() {
        if f.state == FanoutState::Running {
            // A re-sent carrier (its first answer was lost) finds the operation running.
            return Ok(());
        }
        f.state = FanoutState::Failed;
        d.error = Some(if code.0 == 0 {
            "the gateway gave the Start Exec no status".to_owned()
        } else {
            format!("the gateway refused the Start Exec: {}", code.0)
        });
        f.completed_at = Some(now);
        d.store_in(&mut f);
        f.updated_at = now;
        state.store.update_fanout(&f).await?;
        tracing::warn!(fanout = id, code = code.0, "fanout failed at its gateway");
        return Ok(());
    }
    f.state = FanoutState::Running;
    d.started_at.get_or_insert(now);
    // Synchronous completion (200): the aggregate is among the items.
    for i in items {
        if i.path == operation_uri(id)
            && let Some(a) = std::str::from_utf8(&i.data).ok().and_then(decode_aggregate)
            && fanout_of_operation(&a.op) == Some(id)
        {
            d.gateway_done = is_final(&a);
            d.gateway = Some(a.encode());
        }
    }
    let transparent_uri = format!("{}/Transparent", operation_uri(id));
    let ids: Vec<String> = items
        .iter()
        .filter(|i| i.path == transparent_uri)
        .filter_map(|i| std::str::from_utf8(&i.data).ok())
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if d.transparent.is_empty() && !ids.is_empty() {
        for device in ids {
            let job = match state
                .store
                .create_job(&NewJob {
                    device_id: device.clone(),
                    commands: d.request.commands.clone(),
                    created_at: now,
                })
                .await
            {
                Ok(j) => Some(j.id),
                Err(e) => {
                    tracing::warn!(fanout = id, device = %Untrusted(&device), error = %e, "Transparent target not queued");
                    None
                }
            };
            if let Some(j) = job {
                watch.jobs.insert(j, id);
            }
            d.transparent.push(Child { device, job });
        }
        watch.deadlines.insert(id, deadline(&f, &d));
        tracing::info!(
            fanout = id,
            devices = d.transparent.len(),
            "fanout: Transparent-mode targets run by the server"
        );
    }
    let notify: Vec<String> = d
        .transparent
        .iter()
        .filter(|c| c.job.is_some())
        .map(|c| c.device.clone())
        .collect();
    d.store_in(&mut f);
    f.updated_at = now;
    state.store.update_fanout(&f).await?;
    for device in notify {
        if let Err(e) =
            crate::route::notify(state, &device, syncml::notification::UiMode::Background).await
        {
            tracing::info!(device = %Untrusted(&device), error = %e, "Transparent target not notified now: it gets its job at its next session");
        }
    }
    settle(state, watch, id).await
}

async fn settle(state: &AppState, watch: &mut Watch, id: FanoutId) -> Result<(), dm_store::Error> {
    let expired = watch.overdue.contains(&id);
    if settle_at(state, id, expired, false).await? {
        watch.deadlines.remove(&id);
        watch.overdue.remove(&id);
        watch.jobs.retain(|_, v| *v != id);
    }
    Ok(())
}

/// Completes fanout `id` if both parts are over. `expired`: the deadline passed, open
/// Transparent jobs time out and are cancelled; `gateway_expired`: the grace for the
/// gateway's final aggregate passed too, its last partial one counts. True when it is (now)
/// terminal.
async fn settle_at(
    state: &AppState,
    id: FanoutId,
    expired: bool,
    gateway_expired: bool,
) -> Result<bool, dm_store::Error> {
    let Some(mut f) = state.store.get_fanout(id).await? else {
        return Ok(true);
    };
    if f.state.is_terminal() {
        return Ok(true);
    }
    let mut d = Detail::of(&f);
    let mut jobs = Vec::with_capacity(d.transparent.len());
    for c in &d.transparent {
        let job = match c.job {
            Some(j) => state.store.get_job(j).await?,
            None => None,
        };
        jobs.push((c.device.clone(), job));
    }
    let open = jobs
        .iter()
        .any(|(_, j)| j.as_ref().is_some_and(|j| !j.state.is_terminal()));
    let gateway_over = d.gateway_done || gateway_expired;
    if expired && open {
        let now = now_ms();
        for (_, j) in &jobs {
            if let Some(j) = j
                && !j.state.is_terminal()
            {
                let _ = state.store.cancel_job(j.id, now).await;
            }
        }
    }
    if !(gateway_over && (!open || expired)) {
        return Ok(false);
    }
    let now = now_ms();
    let server_part = server_part(&d, &jobs, expired);
    let gateway_part = d
        .gateway
        .as_deref()
        .and_then(decode_aggregate)
        .unwrap_or_else(|| Aggregate {
            op: operation_id(id),
            ..Aggregate::default()
        });
    let mut result = merge(gateway_part, &server_part);
    result.state = gwmo::fanout::State::Done;
    d.result = Some(result.encode());
    f.state = FanoutState::Done;
    f.completed_at = Some(now);
    f.updated_at = now;
    d.store_in(&mut f);
    state.store.update_fanout(&f).await?;
    tracing::info!(
        fanout = id,
        targets = result.targets,
        answered = result.answered,
        "fanout done"
    );
    Ok(true)
}

/// The device's answer of a job, as the Status and Results a device's response fragment
/// holds (CmdID `k` = the job's command of pre-order index `k - 1`).
fn response_of(job: &Job) -> Vec<Command> {
    let mut out = Vec::new();
    for r in &job.results {
        if r.status == 0 {
            continue;
        }
        let cmd_ref = (r.index + 1).to_string();
        out.push(Command::Status(Status {
            cmd_id: String::new(),
            msg_ref: String::new(),
            cmd_ref: cmd_ref.clone(),
            cmd: String::new(),
            target_refs: Vec::new(),
            source_refs: Vec::new(),
            cred: None,
            chal: None,
            code: StatusCode(r.status),
            items: Vec::new(),
        }));
        if !r.items.is_empty() {
            out.push(Command::Results(Results {
                cmd_id: String::new(),
                msg_ref: None,
                cmd_ref,
                meta: None,
                target_refs: Vec::new(),
                source_refs: Vec::new(),
                items: r
                    .items
                    .iter()
                    .map(|i| Item {
                        source: Some(Location::uri(i.path.clone())),
                        data: Some(match String::from_utf8(i.data.clone()) {
                            Ok(t) => Data::Text(t),
                            Err(e) => Data::Opaque(e.into_bytes()),
                        }),
                        ..Item::default()
                    })
                    .collect(),
            }));
        }
    }
    out
}

/// The server's part: the Transparent targets, counted by the same engine the gateway runs.
fn server_part(d: &Detail, jobs: &[(String, Option<Job>)], expired: bool) -> Aggregate {
    let fragment = command_fragment(&d.request.commands);
    let targets: Vec<String> = jobs.iter().map(|(id, _)| id.clone()).collect();
    let config = FanoutConfig {
        window: targets.len().max(1),
        max_attempts: 1,
        deadline: Duration::from_millis(1),
        ..FanoutConfig::default()
    };
    let Ok(mut engine) = Operation::new("server".to_owned(), targets, fragment, config) else {
        return Aggregate::default();
    };
    let t0 = Timestamp::from_millis(0);
    engine.start(t0);
    while engine.poll_dispatch(t0).is_some() {}
    for (device, job) in jobs {
        match job {
            None => {
                engine.handle_unknown(t0, device);
            }
            Some(j) if j.state == JobState::Done || j.state == JobState::Failed => {
                let response = response_of(j);
                if response.is_empty() {
                    engine.handle_failed(t0, device);
                } else {
                    engine.handle_answered(t0, device, &response);
                }
            }
            Some(j) if j.state == JobState::Cancelled && !expired => {
                engine.handle_failed(t0, device);
            }
            Some(_) => {}
        }
    }
    if expired {
        // Past the deadline: the targets still open time out (504).
        engine.handle_timeout(Timestamp::from_millis(1));
    }
    engine.aggregate().clone()
}

/// The gateway's part and the server's part as one consolidated response: the targets the
/// gateway handed back (`transparent`) are counted by their outcome at the server.
fn merge(mut a: Aggregate, b: &Aggregate) -> Aggregate {
    a.transparent = a.transparent.saturating_sub(b.targets);
    a.answered += b.answered;
    a.timed_out += b.timed_out;
    a.failed += b.failed;
    a.unknown += b.unknown;
    a.cancelled += b.cancelled;
    for cb in &b.commands {
        let ca = match a.commands.iter_mut().position(|c| c.cmd_ref == cb.cmd_ref) {
            Some(i) => a.commands.get_mut(i),
            None => {
                a.commands.push(CommandAggregate {
                    cmd_ref: cb.cmd_ref.clone(),
                    ..CommandAggregate::default()
                });
                a.commands.last_mut()
            }
        };
        let Some(ca) = ca else { continue };
        for (code, n) in &cb.statuses {
            *ca.statuses.entry(*code).or_default() += n;
        }
        let max_values = FanoutConfig::default().max_distinct_values;
        for (v, n) in &cb.values {
            if let Some((_, m)) = ca.values.iter_mut().find(|(x, _)| x == v) {
                *m += n;
            } else if ca.values.len() < max_values {
                ca.values.push((v.clone(), *n));
            } else {
                ca.other_values += n;
            }
        }
        ca.other_values += cb.other_values;
    }
    let max = FanoutConfig::default().max_exceptions;
    for e in &b.exceptions {
        if a.exceptions.len() < max {
            a.exceptions.push(Exception::clone(e));
        } else {
            a.exceptions_omitted += 1;
        }
    }
    a.exceptions_omitted += b.exceptions_omitted;
    a
}

async fn cancel(state: &AppState, watch: &mut Watch, id: FanoutId) -> Result<(), dm_store::Error> {
    let Some(mut f) = state.store.get_fanout(id).await? else {
        return Ok(());
    };
    if f.state.is_terminal() {
        return Ok(());
    }
    let now = now_ms();
    let d = Detail::of(&f);
    for c in &d.transparent {
        if let Some(j) = c.job {
            let _ = state.store.cancel_job(j, now).await;
        }
    }
    if let Some(j) = f.job_id
        && let Ok(Some(job)) = state.store.get_job(j).await
        && job.state == JobState::Queued
    {
        let _ = state.store.cancel_job(j, now).await;
    } else {
        let delete = JobCommand::on_paths(CommandKind::Delete, [operation_uri(id)]);
        state
            .store
            .create_job(&NewJob {
                device_id: f.gateway_id.clone(),
                commands: vec![delete],
                created_at: now,
            })
            .await?;
        let _ = crate::route::notify(
            state,
            &f.gateway_id,
            syncml::notification::UiMode::Background,
        )
        .await;
    }
    f.state = FanoutState::Cancelled;
    f.completed_at = Some(now);
    f.updated_at = now;
    state.store.update_fanout(&f).await?;
    watch.deadlines.remove(&id);
    watch.jobs.retain(|_, v| *v != id);
    tracing::info!(fanout = id, "fanout cancelled");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_round_trip() {
        assert_eq!(operation_id(12), "f12");
        assert_eq!(fanout_of_operation("f12"), Some(12));
        for bad in ["f", "f01", "j12", "f1x", "12"] {
            assert_eq!(fanout_of_operation(bad), None, "{bad}");
        }
    }

    /// GwMO-FORA-001: the carrier job creates the operation on the gateway and starts it.
    #[test]
    fn gwmo_fora_001_carrier_job_adds_the_operation_and_starts_it() {
        let r = Request {
            group: Some("meters".into()),
            commands: vec![JobCommand::on_paths(CommandKind::Get, ["./DevInfo/Mod"])],
            timeout_secs: 60,
            ..Request::default()
        };
        let cmds = carrier_commands(7, &r);
        let [seq] = cmds.as_slice() else {
            panic!("one Sequence")
        };
        assert_eq!(seq.kind, CommandKind::Sequence);
        let paths: Vec<&str> = seq
            .children
            .iter()
            .map(|c| c.items[0].path.as_str())
            .collect();
        assert_eq!(paths[0], "./GwMO/Fanout/Operations/f7");
        assert!(paths.contains(&"./GwMO/Fanout/Operations/f7/Group"));
        let last = seq.children.last().unwrap();
        assert_eq!(started_by(last), Some(7));
        let commands = &seq.children[1].items[0];
        assert!(commands.value.as_deref().unwrap().contains("./DevInfo/Mod"));
    }

    fn agg(op: &str, answered: u64, code: u16) -> Aggregate {
        let mut statuses = BTreeMap::new();
        statuses.insert(code, answered);
        Aggregate {
            op: op.into(),
            targets: answered,
            answered,
            commands: vec![CommandAggregate {
                cmd_ref: "1".into(),
                statuses,
                values: vec![("v".into(), answered)],
                other_values: 0,
            }],
            ..Aggregate::default()
        }
    }

    /// GwMO-FORA-002: the server's part (Transparent targets) adds into the gateway's.
    #[test]
    fn gwmo_fora_002_parts_merge_into_one_response() {
        let mut g = agg("f1", 8, 200);
        g.targets = 10;
        g.transparent = 2;
        let s = agg("server", 2, 200);
        let m = merge(g, &s);
        assert_eq!(m.targets, 10);
        assert_eq!(m.answered, 10);
        assert_eq!(m.transparent, 0);
        assert_eq!(m.commands[0].statuses[&200], 10);
        assert_eq!(m.commands[0].values, vec![("v".to_owned(), 10)]);
    }
}
