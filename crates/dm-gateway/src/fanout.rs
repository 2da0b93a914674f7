//! `./GwMO/Fanout/Operations` (`urn:oma:mo:oma-gwmo-fanout:1.0`): the Fanout operations a DM
//! server creates on the gateway, run by `gwmo`'s sans-IO engine on every target in Proxy mode
//! (docs/gateway.md §5, GwMO-PMode-001, seed 001 Y/Y').
//!
//! An operation is created with Add commands (`<op>`, `Targets` and/or `Group`, `Commands`,
//! optional `WaitSeconds`, `TimeoutSeconds`, `Window`, `AttemptSeconds`, `MaxAttempts`,
//! `ProgressSeconds`) and started with `Exec <op>/Start`: the targets are `Targets` and the
//! group's members at that moment (docs/gateway.md §8, §9; GwMO-Group-002, GwMO-FORA-001),
//! each once. Targets in Transparent mode are not run here: they end as `transparent` and their
//! ids go back to the server in the Exec's Status (items `<op>/Transparent`).
//!
//! The Exec's Status is deferred ([`dm_tree::Answer::Pending`]): when every target answered
//! within `WaitSeconds` it is 200 with one Item per target (its response fragment) plus the
//! aggregate; otherwise it is 202 and the outcome goes later as a Generic Alert with the
//! Exec's Correlator, in a new session (Y'). While running, `ProgressSeconds` > 0 sends the
//! partial aggregate (`state=running`) at most that often (not durable). Each target's answer
//! is stored under `<op>/Devices/<id>/Response` as it arrives (first answer wins: a replay is
//! not counted twice), so a kill -9 loses none; `Pages/<n>` gives the per-device detail, 100
//! targets a page. A Delete of `<op>` cancels it: what is pending gets 214, the final
//! aggregate (`state=cancelled`) goes to the server.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use dm_tree::{
    AccessType, Answer, Change, ExecOutcome, ExecRequest, Format, ItemOutcome, MountContext,
    MountNode, NewNode, NodeProvider, Ticket,
};
use gwmo::Timestamp;
use gwmo::fanout::{
    Dispatch, FanoutConfig, FanoutEvent, Operation, Outcome, PAGE_SIZE, PageEntry, State,
    encode_page, failing_codes,
};
use gwmo::layout;
use syncml::{Command, Data, Item, Limits, Status, StatusCode};

use crate::state::{Shared, Write, lock, unix_now};
use crate::store::{StoredOperation, StoredResponse};

/// The mount point.
pub(crate) const MOUNT: &str = "./GwMO/Fanout/Operations";

/// Operations with at most this many targets report one Item per target in their completion;
/// larger ones report the aggregate only (the detail stays readable with a Get).
pub(crate) const RESPONSE_ITEMS: usize = 32;

/// Most operations held at once (a server creating more gets 420, device full).
pub(crate) const MAX_OPERATIONS: usize = 1024;

const LEAVES: [&str; 15] = [
    "Targets",
    "Group",
    "Commands",
    "WaitSeconds",
    "TimeoutSeconds",
    "Window",
    "AttemptSeconds",
    "MaxAttempts",
    "ProgressSeconds",
    "Start",
    "State",
    "Progress",
    "Transparent",
    "Pages",
    "Devices",
];

/// Most devices in flight at once an operation may ask for (`Window`).
const MAX_WINDOW: u64 = 1024;

/// Most attempts per device an operation may ask for (`MaxAttempts`).
const MAX_ATTEMPTS: u64 = 100;

/// The outcome of a `Start` Exec, handed to the northbound session that holds its Status.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    /// The ticket the provider gave the tree.
    pub(crate) ticket: Ticket,
    /// The Exec's outcome.
    pub(crate) outcome: ItemOutcome,
}

/// One operation.
#[derive(Debug)]
pub(crate) struct OpEntry {
    pub(crate) stored: StoredOperation,
    engine: Option<Operation>,
    /// The `Start` Exec waiting for its Status in a live northbound session.
    ticket: Option<Ticket>,
    /// Per target: (outcome, response fragment XML).
    responses: BTreeMap<String, (String, String)>,
}

impl OpEntry {
    fn commands(&self) -> Vec<Command> {
        self.engine
            .as_ref()
            .map(|e| e.commands().to_vec())
            .unwrap_or_default()
    }
}

/// What applying one engine event asks of the driver ([`Ops::on_event`]).
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Store writes.
    pub(crate) writes: Vec<Write>,
    /// The Status of a deferred `Start` Exec, for the live session of this server.
    pub(crate) completion: Option<(String, Completion)>,
    /// A progress alert (server, XML of one Alert), not durable.
    pub(crate) progress: Option<(String, String)>,
}

/// What [`Ops::poll`] found.
#[derive(Debug)]
pub(crate) struct Polled {
    /// Targets to start, per operation.
    pub(crate) dispatches: Vec<(String, Dispatch)>,
    /// Engine events, per operation.
    pub(crate) events: Vec<(String, FanoutEvent)>,
    /// The earliest deadline of any engine.
    pub(crate) next: Option<Timestamp>,
}

/// Every operation, and the tickets of the deferred `Start` Execs.
#[derive(Debug, Default)]
pub(crate) struct Ops {
    entries: BTreeMap<String, OpEntry>,
    next_ticket: u64,
    tickets: HashMap<Ticket, String>,
    /// Dispatches taken out of an engine by a southbound session for other devices: the driver
    /// notifies them.
    dispatches: Vec<(String, Dispatch)>,
}

fn limits() -> Limits {
    Limits::default()
}

fn config_of(o: &StoredOperation) -> FanoutConfig {
    FanoutConfig {
        window: usize::try_from(o.window.clamp(1, MAX_WINDOW)).unwrap_or(1),
        attempt_timeout: Duration::from_secs(o.attempt_secs.max(1)),
        max_attempts: u32::try_from(o.max_attempts.clamp(1, MAX_ATTEMPTS)).unwrap_or(1),
        wait: Duration::from_secs(o.wait_secs),
        deadline: Duration::from_secs(o.timeout_secs.max(1)),
        progress: (o.progress_secs > 0).then(|| Duration::from_secs(o.progress_secs)),
        ..FanoutConfig::default()
    }
}

/// The targets the engine runs: those resolved at `Start` (before: `Targets`).
fn targets_of(o: &StoredOperation) -> &[String] {
    o.resolved.as_deref().unwrap_or(&o.targets)
}

/// The Transparent items of an operation's `Start` Status.
fn transparent_items(o: &StoredOperation) -> Vec<Item> {
    gwmo::payload::transparent_items(&o.op, &o.transparent, gwmo::payload::TRANSPARENT_ITEM_MAX)
}

/// The Status fragment a target gets when it did not answer: the implied code for each
/// top-level command of the operation.
fn implied_response(commands: &[Command], outcome: Outcome) -> Vec<Command> {
    let code = outcome
        .implied_status()
        .unwrap_or(StatusCode::COMMAND_FAILED);
    commands
        .iter()
        .map(|c| {
            Command::Status(Status {
                cmd_id: String::new(),
                msg_ref: String::new(),
                cmd_ref: c.cmd_id().to_owned(),
                cmd: c.name().to_owned(),
                target_refs: Vec::new(),
                source_refs: Vec::new(),
                cred: None,
                chal: None,
                code,
                items: Vec::new(),
            })
        })
        .collect()
}

impl Ops {
    /// The operations as the store holds them after a restart: running ones start again with
    /// the answers already stored replayed (each target counted once); finished ones whose
    /// completion was never reported are reported by alert.
    pub(crate) fn restore(
        now: Timestamp,
        stored: Vec<StoredOperation>,
        responses: Vec<Vec<StoredResponse>>,
    ) -> Ops {
        let mut ops = Ops::default();
        for (o, rs) in stored.into_iter().zip(responses) {
            let mut entry = OpEntry {
                engine: None,
                ticket: None,
                responses: rs
                    .iter()
                    .map(|r| (r.device_id.clone(), (r.outcome.clone(), r.response.clone())))
                    .collect(),
                stored: o,
            };
            if entry.stored.state == State::Running.as_str() {
                let commands = gwmo::payload::decode_commands(
                    &Data::Text(entry.stored.commands.clone()),
                    &limits(),
                )
                .unwrap_or_default();
                match Operation::new(
                    entry.stored.op.clone(),
                    targets_of(&entry.stored).to_vec(),
                    commands,
                    config_of(&entry.stored),
                ) {
                    Ok(mut engine) => {
                        engine.start(now);
                        // Each stored outcome replayed as it was: every target counted once.
                        for r in &rs {
                            let outcome = Outcome::parse(&r.outcome).unwrap_or(Outcome::Answered);
                            let answer = if outcome == Outcome::Answered {
                                gwmo::payload::decode_responses(
                                    &Data::Text(r.response.clone()),
                                    &limits(),
                                )
                                .unwrap_or_default()
                            } else {
                                Vec::new()
                            };
                            engine.handle_restored(now, &r.device_id, outcome, &answer);
                        }
                        entry.engine = Some(engine);
                    }
                    Err(e) => {
                        tracing::warn!(op = %entry.stored.op, error = %e, "stored operation not restarted");
                        entry.stored.state = State::Cancelled.as_str().to_owned();
                    }
                }
            }
            ops.entries.insert(entry.stored.op.clone(), entry);
        }
        ops
    }

    /// The commands due to `device` now, per operation, after telling every engine that the
    /// device is here (a parked target is queued again). Dispatches for other devices that
    /// came out meanwhile are kept for the driver.
    pub(crate) fn work_for(&mut self, now: Timestamp, device: &str) -> Vec<(String, Vec<Command>)> {
        let mut out = Vec::new();
        for (op, entry) in &mut self.entries {
            let Some(engine) = entry.engine.as_mut() else {
                continue;
            };
            engine.handle_attached(now, device);
            while let Some(d) = engine.poll_dispatch(now) {
                if d.device != device {
                    self.dispatches.push((op.clone(), d));
                }
            }
            if engine.target_state(device) == Some(gwmo::fanout::TargetState::InFlight) {
                out.push((op.clone(), engine.commands().to_vec()));
            }
        }
        out
    }

    /// `device` answered `op` with `response` (Status and Results, CmdRefs pointing into the
    /// operation's command fragment). A complete answer is stored and counted; an incomplete
    /// one (a session cut short) is a failed attempt, retried by the engine.
    pub(crate) fn answered(
        &mut self,
        now: Timestamp,
        op: &str,
        device: &str,
        response: Vec<Command>,
        complete: bool,
    ) -> Option<Write> {
        let entry = self.entries.get_mut(op)?;
        let engine = entry.engine.as_mut()?;
        if !complete {
            engine.handle_failed(now, device);
            return None;
        }
        if !engine.handle_answered(now, device, &response) {
            return None;
        }
        let xml = syncml::xml::encode_fragment(&response);
        entry.responses.insert(
            device.to_owned(),
            (Outcome::Answered.as_str().to_owned(), xml.clone()),
        );
        Some(Write::Response(
            op.to_owned(),
            StoredResponse {
                device_id: device.to_owned(),
                outcome: Outcome::Answered.as_str().to_owned(),
                response: xml,
                at: unix_now().0,
            },
        ))
    }

    /// Every running engine's dispatches and events, and the earliest deadline.
    pub(crate) fn poll(&mut self, now: Timestamp) -> Polled {
        let mut dispatches = std::mem::take(&mut self.dispatches);
        let mut events = Vec::new();
        let mut next: Option<Timestamp> = None;
        for (op, entry) in &mut self.entries {
            let Some(engine) = entry.engine.as_mut() else {
                continue;
            };
            if engine.poll_timeout().is_some_and(|t| t <= now) {
                engine.handle_timeout(now);
            }
            while let Some(d) = engine.poll_dispatch(now) {
                dispatches.push((op.clone(), d));
            }
            while let Some(ev) = engine.poll_event() {
                events.push((op.clone(), ev));
            }
            if let Some(t) = engine.poll_timeout() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        Polled {
            dispatches,
            events,
            next,
        }
    }

    /// The engine of `op`, for the driver's `handle_*` calls.
    pub(crate) fn engine_mut(&mut self, op: &str) -> Option<&mut Operation> {
        self.entries.get_mut(op)?.engine.as_mut()
    }

    /// Applies one engine event: stores implied answers, hands the `Start` Exec's Status to its
    /// session, or queues the completion alert; a progress event becomes a progress alert.
    pub(crate) fn on_event(&mut self, op: &str, ev: FanoutEvent) -> Applied {
        let mut writes = Vec::new();
        let Some(entry) = self.entries.get_mut(op) else {
            return Applied::default();
        };
        let server = entry.stored.server_id.clone();
        match ev {
            FanoutEvent::Progress(aggregate) => {
                let alert = gwmo::payload::generic_alert(
                    "1",
                    entry.stored.correlator.clone(),
                    vec![gwmo::payload::aggregation_item(&aggregate)],
                );
                Applied {
                    progress: Some((
                        server,
                        syncml::xml::encode_fragment(&[Command::Alert(alert)]),
                    )),
                    ..Applied::default()
                }
            }
            FanoutEvent::DeviceDone { device, outcome } => {
                if outcome != Outcome::Answered {
                    // A Transparent target has no response here: the server runs it.
                    let xml = if outcome == Outcome::Transparent {
                        String::new()
                    } else {
                        syncml::xml::encode_fragment(&implied_response(&entry.commands(), outcome))
                    };
                    entry
                        .responses
                        .insert(device.clone(), (outcome.as_str().to_owned(), xml.clone()));
                    writes.push(Write::Response(
                        op.to_owned(),
                        StoredResponse {
                            device_id: device,
                            outcome: outcome.as_str().to_owned(),
                            response: xml,
                            at: unix_now().0,
                        },
                    ));
                }
                Applied {
                    writes,
                    ..Applied::default()
                }
            }
            FanoutEvent::WaitElapsed => {
                let Some(ticket) = entry.ticket.take() else {
                    return Applied::default();
                };
                self.tickets.remove(&ticket);
                let outcome = ItemOutcome {
                    code: StatusCode::ACCEPTED,
                    status_items: transparent_items(&entry.stored),
                    results: None,
                };
                Applied {
                    completion: Some((server, Completion { ticket, outcome })),
                    ..Applied::default()
                }
            }
            FanoutEvent::Completed(aggregate) => {
                entry.stored.state = aggregate.state.as_str().to_owned();
                let mut items: Vec<Item> = Vec::new();
                if targets_of(&entry.stored).len() <= RESPONSE_ITEMS {
                    for (device, (outcome, xml)) in &entry.responses {
                        if outcome == Outcome::Transparent.as_str() {
                            continue;
                        }
                        let response =
                            gwmo::payload::decode_responses(&Data::Text(xml.clone()), &limits())
                                .unwrap_or_default();
                        items.push(gwmo::payload::response_item(op, device, &response));
                    }
                }
                items.push(gwmo::payload::aggregation_item(&aggregate));
                entry.stored.reported = true;
                let completion = match entry.ticket.take() {
                    Some(ticket) => {
                        self.tickets.remove(&ticket);
                        items.extend(transparent_items(&entry.stored));
                        Some((
                            server,
                            Completion {
                                ticket,
                                outcome: ItemOutcome {
                                    code: StatusCode::OK,
                                    status_items: items,
                                    results: None,
                                },
                            },
                        ))
                    }
                    None => {
                        let alert = gwmo::payload::generic_alert(
                            "1",
                            entry.stored.correlator.clone(),
                            items,
                        );
                        writes.push(Write::Alert(
                            entry.stored.server_id.clone(),
                            syncml::xml::encode_fragment(&[Command::Alert(alert)]),
                        ));
                        None
                    }
                };
                writes.push(Write::Operation(entry.stored.clone()));
                Applied {
                    writes,
                    completion,
                    progress: None,
                }
            }
        }
    }

    /// The session that held these tickets ended (or gave the device 202 itself): their
    /// operations report by alert.
    pub(crate) fn release(&mut self, tickets: impl IntoIterator<Item = Ticket>) {
        for t in tickets {
            if let Some(op) = self.tickets.remove(&t)
                && let Some(e) = self.entries.get_mut(&op)
            {
                e.ticket = None;
            }
        }
    }

    fn ticket(&mut self, op: &str) -> Ticket {
        self.next_ticket += 1;
        let t = Ticket(self.next_ticket);
        self.tickets.insert(t, op.to_owned());
        t
    }
}

/// The provider of `./GwMO/Fanout/Operations`.
pub(crate) struct FanoutTree {
    shared: Arc<Shared>,
}

impl FanoutTree {
    pub(crate) fn new(shared: Arc<Shared>) -> FanoutTree {
        FanoutTree { shared }
    }
}

fn leaf(value: String, format: Format, access: AccessType) -> Option<MountNode> {
    Some(MountNode::from(
        NewNode::leaf(value).format(format).access(access),
    ))
}

const SETTABLE: AccessType =
    AccessType(AccessType::GET.0 | AccessType::ADD.0 | AccessType::REPLACE.0);

fn op_leaf(e: &OpEntry, name: &str) -> Option<MountNode> {
    let o = &e.stored;
    match name {
        // Created by an Add (they do not exist before), changed by a Replace.
        "Targets" if !o.targets.is_empty() => leaf(o.targets.join(","), Format::Chr, SETTABLE),
        "Group" => o
            .group
            .as_ref()
            .and_then(|g| leaf(g.clone(), Format::Chr, SETTABLE)),
        "Commands" if !o.commands.is_empty() => leaf(o.commands.clone(), Format::Xml, SETTABLE),
        // Exist with their defaults: changed by a Replace.
        "WaitSeconds" => leaf(o.wait_secs.to_string(), Format::Int, SETTABLE),
        "TimeoutSeconds" => leaf(o.timeout_secs.to_string(), Format::Int, SETTABLE),
        "Window" => leaf(o.window.to_string(), Format::Int, SETTABLE),
        "AttemptSeconds" => leaf(o.attempt_secs.to_string(), Format::Int, SETTABLE),
        "MaxAttempts" => leaf(o.max_attempts.to_string(), Format::Int, SETTABLE),
        "ProgressSeconds" => leaf(o.progress_secs.to_string(), Format::Int, SETTABLE),
        // Known once started.
        "Transparent" if o.resolved.is_some() => {
            leaf(o.transparent.join(","), Format::Chr, AccessType::GET)
        }
        "Pages" => Some(MountNode::from(NewNode::interior().access(AccessType::GET))),
        "Start" => leaf(
            String::new(),
            Format::Null,
            AccessType::EXEC | AccessType::GET,
        ),
        "State" => leaf(o.state.clone(), Format::Chr, AccessType::GET),
        "Progress" => leaf(
            format!("{}/{}", e.responses.len(), targets_of(o).len()),
            Format::Chr,
            AccessType::GET,
        ),
        "Devices" => Some(MountNode::from(NewNode::interior().access(AccessType::GET))),
        _ => None,
    }
}

/// `Devices/<id>/Status`: the outcome's name, or `pending`.
fn target_status(e: &OpEntry, device: &str) -> &'static str {
    e.responses
        .get(device)
        .and_then(|(outcome, _)| Outcome::parse(outcome).ok())
        .map_or("pending", Outcome::as_str)
}

/// `Pages/<n>`: the detail of targets `n * 100 ..` (docs/gateway.md §9).
fn page(e: &OpEntry, n: usize) -> Option<String> {
    let chunk = targets_of(&e.stored).chunks(PAGE_SIZE).nth(n)?;
    let entries: Vec<PageEntry> = chunk
        .iter()
        .map(|device| {
            let (outcome, codes) = match e.responses.get(device) {
                Some((outcome, xml)) => {
                    let outcome = Outcome::parse(outcome).ok();
                    let codes = if xml.is_empty() {
                        Vec::new()
                    } else {
                        gwmo::payload::decode_responses(&Data::Text(xml.clone()), &limits())
                            .map(|r| failing_codes(&r))
                            .unwrap_or_default()
                    };
                    (outcome, codes)
                }
                None => (None, Vec::new()),
            };
            PageEntry {
                device: device.clone(),
                outcome,
                codes,
            }
        })
        .collect();
    Some(encode_page(&entries))
}

/// The page number of a `Pages/<n>` node name (digits only, no sign, no leading zeros).
fn page_number(name: &str) -> Option<usize> {
    if name.is_empty() || (name.len() > 1 && name.starts_with('0')) {
        return None;
    }
    name.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| name.parse().ok())
        .flatten()
}

impl NodeProvider for FanoutTree {
    fn node(&self, path: &[String]) -> Result<Option<MountNode>, StatusCode> {
        let ops = lock(&self.shared.ops);
        let Some((op, rest)) = path.split_first() else {
            return Ok(None);
        };
        let Some(e) = ops.entries.get(op) else {
            return Ok(None);
        };
        Ok(match rest {
            [] => Some(MountNode::from(
                NewNode::interior().access(AccessType::GET | AccessType::ADD | AccessType::DELETE),
            )),
            [name] => op_leaf(e, name),
            [pages, n] if pages == "Pages" => page_number(n)
                .and_then(|n| page(e, n))
                .and_then(|text| leaf(text, Format::Chr, AccessType::GET)),
            [devices, d] if devices == "Devices" => {
                let id = layout::unescape_device_id(d).map_err(|_| StatusCode::NOT_FOUND)?;
                targets_of(&e.stored)
                    .iter()
                    .any(|t| *t == id)
                    .then(|| MountNode::from(NewNode::interior().access(AccessType::GET)))
            }
            [devices, d, field] if devices == "Devices" => {
                let id = layout::unescape_device_id(d).map_err(|_| StatusCode::NOT_FOUND)?;
                if !targets_of(&e.stored).iter().any(|t| *t == id) {
                    return Ok(None);
                }
                match field.as_str() {
                    "Status" => leaf(
                        target_status(e, &id).to_owned(),
                        Format::Chr,
                        AccessType::GET,
                    ),
                    "Response" => leaf(
                        e.responses
                            .get(id.as_ref())
                            .map(|r| r.1.clone())
                            .unwrap_or_default(),
                        Format::Xml,
                        AccessType::GET,
                    ),
                    _ => None,
                }
            }
            _ => None,
        })
    }

    fn children(&self, path: &[String]) -> Result<Vec<String>, StatusCode> {
        let ops = lock(&self.shared.ops);
        Ok(match path {
            [] => ops.entries.keys().cloned().collect(),
            [op] => {
                let Some(e) = ops.entries.get(op) else {
                    return Ok(Vec::new());
                };
                LEAVES
                    .iter()
                    .filter(|n| op_leaf(e, n).is_some())
                    .map(|s| (*s).to_owned())
                    .collect()
            }
            [op, pages] if pages == "Pages" => ops
                .entries
                .get(op)
                .map(|e| {
                    let n = targets_of(&e.stored).len().div_ceil(PAGE_SIZE);
                    (0..n).map(|i| i.to_string()).collect()
                })
                .unwrap_or_default(),
            [op, devices] if devices == "Devices" => ops
                .entries
                .get(op)
                .map(|e| {
                    targets_of(&e.stored)
                        .iter()
                        .map(|t| layout::escape_device_id(t).into_owned())
                        .collect()
                })
                .unwrap_or_default(),
            [_, devices, _] if devices == "Devices" => {
                vec!["Response".to_owned(), "Status".to_owned()]
            }
            _ => Vec::new(),
        })
    }

    fn add(
        &mut self,
        ctx: &MountContext<'_>,
        path: &[String],
        node: NewNode,
    ) -> Answer<StatusCode> {
        let mut ops = lock(&self.shared.ops);
        let code = match path {
            [op] => {
                if ops.entries.contains_key(op) {
                    StatusCode::ALREADY_EXISTS
                } else if ops.entries.len() >= MAX_OPERATIONS {
                    StatusCode::DEVICE_FULL
                } else if node.value.is_some() {
                    StatusCode::COMMAND_NOT_ALLOWED
                } else {
                    let stored = StoredOperation {
                        op: op.clone(),
                        server_id: ctx.server_id.to_owned(),
                        targets: Vec::new(),
                        commands: String::new(),
                        wait_secs: 20,
                        timeout_secs: 300,
                        state: State::Created.as_str().to_owned(),
                        correlator: None,
                        created: unix_now().0,
                        reported: false,
                        group: None,
                        window: 64,
                        attempt_secs: 60,
                        max_attempts: 3,
                        progress_secs: 0,
                        resolved: None,
                        transparent: Vec::new(),
                    };
                    self.shared.queue(Write::Operation(stored.clone()));
                    ops.entries.insert(
                        op.clone(),
                        OpEntry {
                            stored,
                            engine: None,
                            ticket: None,
                            responses: BTreeMap::new(),
                        },
                    );
                    StatusCode::OK
                }
            }
            [op, name] => match (ops.entries.get_mut(op), node.value) {
                (Some(e), Some(value)) => set_leaf(&self.shared, e, name, &value),
                (Some(_), None) => StatusCode::COMMAND_NOT_ALLOWED,
                (None, _) => StatusCode::NOT_FOUND,
            },
            _ => StatusCode::COMMAND_NOT_ALLOWED,
        };
        Answer::Ready(code)
    }

    fn replace(
        &mut self,
        _ctx: &MountContext<'_>,
        path: &[String],
        change: Change,
    ) -> Answer<StatusCode> {
        let mut ops = lock(&self.shared.ops);
        let code = match (path, change) {
            ([op, name], Change::Value { data, .. }) => match ops.entries.get_mut(op) {
                Some(e) => set_leaf(&self.shared, e, name, &data),
                None => StatusCode::NOT_FOUND,
            },
            _ => StatusCode::COMMAND_NOT_ALLOWED,
        };
        Answer::Ready(code)
    }

    fn delete(&mut self, ctx: &MountContext<'_>, path: &[String]) -> Answer<StatusCode> {
        let now = self.shared.now();
        let mut ops = lock(&self.shared.ops);
        let code = match path {
            [op] => match ops.entries.remove(op) {
                Some(mut e) => {
                    let _ = ctx;
                    let server = e.stored.server_id.clone();
                    // A running operation is cancelled: pending targets get 214, and the final
                    // aggregate (state=cancelled) goes to its server.
                    if let Some(engine) = e.engine.as_mut() {
                        engine.cancel(now);
                        if !e.stored.reported {
                            let aggregate = engine.aggregate().clone();
                            let alert = gwmo::payload::generic_alert(
                                "1",
                                e.stored.correlator.clone(),
                                vec![gwmo::payload::aggregation_item(&aggregate)],
                            );
                            self.shared.queue(Write::Alert(
                                server.clone(),
                                syncml::xml::encode_fragment(&[Command::Alert(alert)]),
                            ));
                        }
                    }
                    self.shared.drop_progress(&server, op);
                    // A `Start` Exec still waiting for its Status gets 214 now.
                    if let Some(ticket) = e.ticket.take() {
                        ops.tickets.remove(&ticket);
                        if let Some(tx) = self.shared.completions.get(&server) {
                            let _ = tx.send(Completion {
                                ticket,
                                outcome: ItemOutcome::from(StatusCode::OPERATION_CANCELLED),
                            });
                        }
                    }
                    self.shared.queue(Write::ForgetOperation(op.clone()));
                    StatusCode::OK
                }
                None => StatusCode::NOT_FOUND,
            },
            _ => StatusCode::COMMAND_NOT_ALLOWED,
        };
        Answer::Ready(code)
    }

    fn exec(
        &mut self,
        ctx: &MountContext<'_>,
        path: &[String],
        req: &ExecRequest<'_>,
    ) -> Answer<ExecOutcome> {
        let [op, start] = path else {
            return Answer::Ready(ExecOutcome::code(StatusCode::COMMAND_NOT_ALLOWED));
        };
        if start != "Start" {
            return Answer::Ready(ExecOutcome::code(StatusCode::COMMAND_NOT_ALLOWED));
        }
        let now = self.shared.now();
        // What the operation asks for (then the inventory, never both locks at once).
        let (targets, group) = {
            let ops = lock(&self.shared.ops);
            let Some(e) = ops.entries.get(op) else {
                return Answer::Ready(ExecOutcome::code(StatusCode::NOT_FOUND));
            };
            if e.stored.state != State::Created.as_str() || e.stored.server_id != ctx.server_id {
                return Answer::Ready(ExecOutcome::code(StatusCode::COMMAND_NOT_ALLOWED));
            }
            if e.stored.targets.is_empty() && e.stored.group.is_none() {
                return Answer::Ready(ExecOutcome::code(StatusCode::BAD_REQUEST));
            }
            (e.stored.targets.clone(), e.stored.group.clone())
        };
        // GwMO-Group-002 / FORA-001: the targets are a snapshot of Targets and the group's
        // members now, each once; those in Transparent mode are handed back to the server.
        let (resolved, transparent) = {
            let d = lock(&self.shared.directory);
            let mut resolved = targets;
            if let Some(name) = &group {
                let Some(g) = d.groups.get(name) else {
                    return Answer::Ready(ExecOutcome::code(StatusCode::NOT_FOUND));
                };
                resolved.extend(g.resolve(d.inventory.iter()));
            }
            let mut seen = std::collections::HashSet::new();
            resolved.retain(|t| seen.insert(t.clone()));
            let transparent: Vec<String> = resolved
                .iter()
                .filter(|t| {
                    d.inventory
                        .get(t)
                        .is_some_and(|r| r.mode == gwmo::mode::Mode::Transparent)
                })
                .cloned()
                .collect();
            (resolved, transparent)
        };
        let mut ops = lock(&self.shared.ops);
        let Some(e) = ops.entries.get_mut(op) else {
            return Answer::Ready(ExecOutcome::code(StatusCode::NOT_FOUND));
        };
        if e.stored.state != State::Created.as_str() {
            return Answer::Ready(ExecOutcome::code(StatusCode::COMMAND_NOT_ALLOWED));
        }
        let commands =
            match gwmo::payload::decode_commands(&Data::Text(e.stored.commands.clone()), &limits())
            {
                Ok(c) if !c.is_empty() => c,
                _ => return Answer::Ready(ExecOutcome::code(StatusCode::BAD_REQUEST)),
            };
        e.stored.resolved = Some(resolved);
        e.stored.transparent = transparent;
        let mut engine = match Operation::new(
            op.clone(),
            targets_of(&e.stored).to_vec(),
            commands,
            config_of(&e.stored),
        ) {
            Ok(engine) => engine,
            Err(_) => {
                e.stored.resolved = None;
                e.stored.transparent.clear();
                return Answer::Ready(ExecOutcome::code(StatusCode::BAD_REQUEST));
            }
        };
        for t in &e.stored.transparent {
            engine.handle_transparent(now, t);
        }
        engine.start(now);
        e.engine = Some(engine);
        e.stored.state = State::Running.as_str().to_owned();
        e.stored.correlator = req.correlator.map(str::to_owned);
        let stored = e.stored.clone();
        self.shared.queue(Write::Operation(stored.clone()));
        self.shared.timer_wake.notify_one();
        if ctx.may_defer {
            let t = ops.ticket(op);
            if let Some(e) = ops.entries.get_mut(op) {
                e.ticket = Some(t);
            }
            Answer::Pending(t)
        } else {
            // Not deferrable (inside an Atomic): 202 at once; the Status can hold one item
            // (Source: the Start node), the first Transparent item's ids; all of them are
            // at `<op>/Transparent`.
            let data = transparent_items(&stored)
                .into_iter()
                .next()
                .and_then(|i| i.data);
            Answer::Ready(ExecOutcome {
                code: StatusCode::ACCEPTED,
                data,
            })
        }
    }
}

fn set_leaf(shared: &Shared, e: &mut OpEntry, name: &str, value: &Data) -> StatusCode {
    if e.stored.state != State::Created.as_str() {
        return StatusCode::COMMAND_NOT_ALLOWED;
    }
    let Some(text) = value.as_str() else {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    };
    let secs = || {
        text.trim()
            .parse::<u64>()
            .ok()
            .filter(|s| *s <= 86_400 * 30)
    };
    let bounded = |lo: u64, hi: u64| {
        text.trim()
            .parse::<u64>()
            .ok()
            .filter(|v| (lo..=hi).contains(v))
    };
    match name {
        "Group" => {
            let g = text.trim();
            if g.is_empty() || g.len() > 64 || g.contains('/') || g.chars().any(char::is_control) {
                return StatusCode::BAD_REQUEST;
            }
            e.stored.group = Some(g.to_owned());
        }
        "Window" => match bounded(1, MAX_WINDOW) {
            Some(v) => e.stored.window = v,
            None => return StatusCode::BAD_REQUEST,
        },
        "AttemptSeconds" => match bounded(1, 86_400) {
            Some(v) => e.stored.attempt_secs = v,
            None => return StatusCode::BAD_REQUEST,
        },
        "MaxAttempts" => match bounded(1, MAX_ATTEMPTS) {
            Some(v) => e.stored.max_attempts = v,
            None => return StatusCode::BAD_REQUEST,
        },
        "ProgressSeconds" => match bounded(0, 86_400) {
            Some(v) => e.stored.progress_secs = v,
            None => return StatusCode::BAD_REQUEST,
        },
        "Targets" => match gwmo::group::parse_members(text, &gwmo::group::GroupLimits::default()) {
            Ok(targets) => e.stored.targets = targets,
            Err(err) => return gwmo::group::status_of(&err),
        },
        "Commands" => {
            if gwmo::payload::decode_commands(value, &limits()).is_err() {
                return StatusCode::BAD_REQUEST;
            }
            text.clone_into(&mut e.stored.commands);
        }
        "WaitSeconds" => match secs() {
            Some(s) => e.stored.wait_secs = s,
            None => return StatusCode::BAD_REQUEST,
        },
        "TimeoutSeconds" => match secs() {
            Some(s) if s > 0 => e.stored.timeout_secs = s,
            _ => return StatusCode::BAD_REQUEST,
        },
        _ => return StatusCode::COMMAND_NOT_ALLOWED,
    }
    shared.queue(Write::Operation(e.stored.clone()));
    StatusCode::OK
}
