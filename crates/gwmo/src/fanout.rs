//! The fanout engine: one DM server request run on many devices, with one consolidated answer
//! (GwMO-FORA-001/002, use case B.7, seed 001 Y/Y'; docs/gateway.md §5).
//!
//! In: an [`Operation`] (its id, targets, command fragment and [`FanoutConfig`]), then, with
//! the time: [`Operation::start`], device answers ([`Operation::handle_answered`] with the
//! device's `Status` / `Results`), failures ([`Operation::handle_failed`]: a session that
//! broke, retried with backoff), [`Operation::handle_unreachable`] (detached: parked until
//! [`Operation::handle_attached`] or the deadline), [`Operation::handle_unknown`] (not in the
//! inventory), [`Operation::handle_transparent`] (in Transparent mode: handed back to the
//! server), [`Operation::cancel`] and [`Operation::handle_timeout`].
//!
//! Out, polled: [`Operation::poll_dispatch`] (which device to start next, never more than
//! `window` at once), [`Operation::poll_timeout`] (the next deadline to call
//! `handle_timeout` at) and [`Operation::poll_event`]: [`FanoutEvent::WaitElapsed`] (the
//! `Start` Exec answers 202 and the result goes in a completion alert later, Y'),
//! [`FanoutEvent::DeviceDone`] (store the device's response), [`FanoutEvent::Progress`] (the
//! partial aggregate, at most every `progress`) and [`FanoutEvent::Completed`] with the
//! [`Aggregate`]. Per-device detail pages: [`encode_page`] / [`decode_page`].
//!
//! Every target ends in exactly one [`Outcome`] by the deadline: answered, timed out (504 for
//! each command), failed (502 after the last attempt), unknown (404), cancelled (214) or
//! transparent (no status: the server runs it). Each
//! target is counted once: a replayed answer, or an answer after its outcome is fixed, is
//! ignored (the `handle_*` calls return `false`). The aggregate counts status codes and
//! distinct result values per command, bounded, with per-device detail only for the
//! exceptions (a device that did not answer, or answered a non-2xx status).
//!
//! Time costs: `poll_dispatch`, the `handle_*` calls and each expired timer cost O(log n) plus
//! the size of the answer; memory is O(targets) plus the bounded aggregate.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use syncml::{Command, Data, Limits, StatusCode};

use crate::names::named_enum;
use crate::payload::form::{Fields, encode_pairs};
use crate::{Error, Timestamp};

/// The knobs of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutConfig {
    /// Most devices in flight at once (default 64).
    pub window: usize,
    /// How long one attempt (notification + session) may take before it counts as failed
    /// (default 60 s).
    pub attempt_timeout: Duration,
    /// Attempts per device before it is [`Outcome::Failed`] (default 3).
    pub max_attempts: u32,
    /// Delay before the first retry, doubled for each further one (default 5 s).
    pub backoff: Duration,
    /// Longest retry delay (default 60 s).
    pub max_backoff: Duration,
    /// How long the `Start` Exec may wait to answer synchronously (`WaitSeconds`, default 20 s).
    pub wait: Duration,
    /// The operation's deadline from its start (`TimeoutSeconds`, default 300 s).
    pub deadline: Duration,
    /// Distinct result values counted per command; the rest count as "other" (default 16).
    pub max_distinct_values: usize,
    /// Longest result value counted by value, in bytes; longer ones count as "other"
    /// (default 64).
    pub max_value_len: usize,
    /// Devices listed as exceptions; the rest are only counted (default 20).
    pub max_exceptions: usize,
    /// While running, a [`FanoutEvent::Progress`] at most this often, when something changed
    /// (`ProgressSeconds`; default `None`: no progress events).
    pub progress: Option<Duration>,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            window: 64,
            attempt_timeout: Duration::from_secs(60),
            max_attempts: 3,
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            wait: Duration::from_secs(20),
            deadline: Duration::from_secs(300),
            max_distinct_values: 16,
            max_value_len: 64,
            max_exceptions: 20,
            progress: None,
        }
    }
}

named_enum! {
    /// How a target ended (`Devices/<id>/Status` once it is no longer `pending`).
    pub enum Outcome("outcome") {
        /// It answered: its statuses are counted.
        Answered => "done",
        /// No answer by the deadline: 504 for each command.
        TimedOut => "timeout",
        /// Every attempt failed: 502 for each command.
        Failed => "failed",
        /// Not in the inventory: 404 for each command.
        Unknown => "unknown",
        /// The operation was cancelled first: 214 for each command.
        Cancelled => "cancelled",
        /// In Transparent mode: handed back to the DM server, which runs the commands on it
        /// itself (docs/gateway.md §9); no status is implied and it is no exception.
        Transparent => "transparent",
    }
}

impl Outcome {
    /// The status each command of a target gets when the target did not answer (`None` for
    /// [`Outcome::Answered`]).
    #[must_use]
    pub fn implied_status(self) -> Option<StatusCode> {
        match self {
            Outcome::Answered | Outcome::Transparent => None,
            Outcome::TimedOut => Some(StatusCode::GATEWAY_TIMEOUT),
            Outcome::Failed => Some(StatusCode::BAD_GATEWAY),
            Outcome::Unknown => Some(StatusCode::NOT_FOUND),
            Outcome::Cancelled => Some(StatusCode::OPERATION_CANCELLED),
        }
    }
}

named_enum! {
    /// The phase of an operation (`Operations/<op>/State`; the `state` of an [`Aggregate`],
    /// `done` when absent).
    #[derive(Default)]
    pub enum State("state") {
        /// Created, not started.
        Created => "created",
        /// Started, some targets pending.
        Running => "running",
        /// Every target has its outcome.
        #[default]
        Done => "done",
        /// Cancelled.
        Cancelled => "cancelled",
    }
}

/// Where one target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    /// Waiting for a window slot.
    Queued,
    /// Dispatched; its attempt has a timeout.
    InFlight,
    /// Waiting for its next attempt.
    Backoff,
    /// Unreachable (detached): waiting for it to come back.
    Parked,
    /// Finished.
    Finished(Outcome),
}

/// A device to start now ([`Operation::poll_dispatch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// The device id.
    pub device: String,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
}

/// What the driver learns from an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanoutEvent {
    /// The wait for a synchronous answer is over and targets are pending: answer the
    /// `Start` Exec with 202 and report completion later (Y').
    WaitElapsed,
    /// A target has its outcome.
    DeviceDone {
        /// The device id.
        device: String,
        /// Its outcome.
        outcome: Outcome,
    },
    /// Every target has its outcome (or the operation was cancelled).
    Completed(Box<Aggregate>),
    /// The partial aggregate (`state` running), at most every `progress` while running and
    /// only when a target finished since the last one.
    Progress(Box<Aggregate>),
}

/// Counts of targets by phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Targets.
    pub total: u64,
    /// Targets with an outcome (`Progress` node: `finished/total`).
    pub finished: u64,
    /// Dispatched, not finished.
    pub in_flight: u64,
}

/// The consolidated response (GwMO-FORA-002).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Aggregate {
    /// The operation id.
    pub op: String,
    /// The phase: `running` in progress reports, `done` or `cancelled` at the end.
    pub state: State,
    /// Targets.
    pub targets: u64,
    /// Targets that answered.
    pub answered: u64,
    /// Timed out.
    pub timed_out: u64,
    /// Failed.
    pub failed: u64,
    /// Unknown.
    pub unknown: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// In Transparent mode, handed back to the server.
    pub transparent: u64,
    /// Per command of the operation (by `CmdID`, in fragment order).
    pub commands: Vec<CommandAggregate>,
    /// The exceptions, at most `max_exceptions`.
    pub exceptions: Vec<Exception>,
    /// Exceptions beyond the bound (counted only).
    pub exceptions_omitted: u64,
}

/// The counts for one command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandAggregate {
    /// The command's `CmdID`.
    pub cmd_ref: String,
    /// Status elements per code (targets that did not answer count their implied code).
    pub statuses: BTreeMap<u16, u64>,
    /// Result values and how many `Results` items carried each, in first-seen order.
    pub values: Vec<(String, u64)>,
    /// Result items beyond the distinct-value bound, too long, or not text.
    pub other_values: u64,
}

/// A target whose answer is not the common one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// The device id.
    pub device: String,
    /// Its outcome.
    pub outcome: Outcome,
    /// Its non-2xx statuses: `(CmdRef, code)` (empty when it did not answer).
    pub codes: Vec<(String, u16)>,
}

struct Target {
    id: String,
    state: TargetState,
    failures: u32,
    timer: Option<Timestamp>,
}

/// One fanout operation (see the module docs).
pub struct Operation {
    id: String,
    config: FanoutConfig,
    commands: Vec<Command>,
    targets: Vec<Target>,
    by_id: HashMap<String, u32>,
    ready: VecDeque<u32>,
    timers: BTreeSet<(Timestamp, u32)>,
    in_flight: usize,
    finished: u64,
    state: State,
    wait_at: Option<Timestamp>,
    deadline_at: Option<Timestamp>,
    progress_at: Option<Timestamp>,
    progress_seen: u64,
    events: VecDeque<FanoutEvent>,
    aggregate: Aggregate,
}

impl std::fmt::Debug for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("progress", &self.progress())
            .finish_non_exhaustive()
    }
}

/// Every `CmdID` of `commands`, containers and their contents, in document order.
fn cmd_ids(commands: &[Command], out: &mut Vec<String>) {
    for c in commands {
        out.push(c.cmd_id().to_owned());
        if let Command::Atomic(x) | Command::Sequence(x) = c {
            cmd_ids(&x.commands, out);
        }
    }
}

impl Operation {
    /// A new operation on `targets` (duplicates dropped, order kept) running `commands`.
    ///
    /// # Errors
    /// [`Error::FanoutConfig`] for a zero window, zero attempts or a zero deadline.
    pub fn new(
        id: impl Into<String>,
        targets: impl IntoIterator<Item = String>,
        commands: Vec<Command>,
        config: FanoutConfig,
    ) -> Result<Operation, Error> {
        let reason = if config.window == 0 {
            Some("window must be at least 1")
        } else if config.max_attempts == 0 {
            Some("max_attempts must be at least 1")
        } else if config.deadline.is_zero() {
            Some("deadline must not be zero")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Error::FanoutConfig { reason });
        }
        let id = id.into();
        let mut refs = Vec::new();
        cmd_ids(&commands, &mut refs);
        let mut seen = std::collections::HashSet::new();
        refs.retain(|r| seen.insert(r.clone()));
        let mut by_id = HashMap::new();
        let mut list = Vec::new();
        for t in targets {
            if by_id.contains_key(&t) {
                continue;
            }
            let index = u32::try_from(list.len()).unwrap_or(u32::MAX);
            by_id.insert(t.clone(), index);
            list.push(Target {
                id: t,
                state: TargetState::Queued,
                failures: 0,
                timer: None,
            });
        }
        let aggregate = Aggregate {
            op: id.clone(),
            state: State::Created,
            targets: list.len() as u64,
            commands: refs
                .into_iter()
                .map(|cmd_ref| CommandAggregate {
                    cmd_ref,
                    ..CommandAggregate::default()
                })
                .collect(),
            ..Aggregate::default()
        };
        Ok(Operation {
            id,
            config,
            commands,
            targets: list,
            by_id,
            ready: VecDeque::new(),
            timers: BTreeSet::new(),
            in_flight: 0,
            finished: 0,
            state: State::Created,
            wait_at: None,
            deadline_at: None,
            progress_at: None,
            progress_seen: 0,
            events: VecDeque::new(),
            aggregate,
        })
    }

    /// The operation id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The commands to run on each target.
    #[must_use]
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &FanoutConfig {
        &self.config
    }

    /// The phase.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// Counts of targets.
    #[must_use]
    pub fn progress(&self) -> Progress {
        Progress {
            total: self.targets.len() as u64,
            finished: self.finished,
            in_flight: self.in_flight as u64,
        }
    }

    /// Where target `id` is, if it is a target.
    #[must_use]
    pub fn target_state(&self, id: &str) -> Option<TargetState> {
        self.target(id).map(|(_, t)| t.state)
    }

    /// The aggregate so far (final once [`State::Done`] or [`State::Cancelled`]).
    #[must_use]
    pub fn aggregate(&self) -> &Aggregate {
        &self.aggregate
    }

    /// Starts the operation at `now` (the `Start` Exec): the wait and the deadline begin.
    /// Calling it again does nothing.
    pub fn start(&mut self, now: Timestamp) {
        if self.state != State::Created {
            return;
        }
        self.state = State::Running;
        self.aggregate.state = State::Running;
        self.wait_at = Some(now + self.config.wait);
        self.deadline_at = Some(now + self.config.deadline);
        self.progress_at = self
            .config
            .progress
            .filter(|p| !p.is_zero())
            .map(|p| now + p);
        for (i, t) in self.targets.iter().enumerate() {
            if t.state == TargetState::Queued {
                self.ready.push_back(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
        self.check_complete();
    }

    /// The next device to start, if the operation runs and the window has room. The device is
    /// in flight from now on: the driver notifies it and reports back with a `handle_*` call.
    #[must_use]
    pub fn poll_dispatch(&mut self, now: Timestamp) -> Option<Dispatch> {
        if self.state != State::Running || self.in_flight >= self.config.window {
            return None;
        }
        while let Some(index) = self.ready.pop_front() {
            let Some(t) = self.targets.get(index as usize) else {
                continue;
            };
            if t.state != TargetState::Queued {
                continue;
            }
            let until = self.cap(now + self.config.attempt_timeout);
            self.set_state(index, TargetState::InFlight, Some(until));
            self.in_flight += 1;
            let t = self.targets.get(index as usize)?;
            return Some(Dispatch {
                device: t.id.clone(),
                attempt: t.failures + 1,
            });
        }
        None
    }

    /// Target `id` answered with `response` (its `Status` and `Results` for the operation's
    /// commands). Returns `false` (and changes nothing) when `id` is not a target or already
    /// has its outcome: a replayed answer is not counted twice. Counts only statuses and
    /// results whose `CmdRef` is a command of the operation.
    pub fn handle_answered(&mut self, _now: Timestamp, id: &str, response: &[Command]) -> bool {
        let Some(index) = self.open_target(id) else {
            return false;
        };
        self.record_answer(id, response);
        self.finish(index, Outcome::Answered);
        true
    }

    /// The attempt on `id` failed (the session broke, the device answered nothing usable). It
    /// is retried after a backoff while attempts remain, else it is [`Outcome::Failed`].
    /// Returns `false` unless `id` was in flight.
    pub fn handle_failed(&mut self, now: Timestamp, id: &str) -> bool {
        match self.target(id) {
            Some((index, t)) if t.state == TargetState::InFlight => {
                self.fail_attempt(now, index);
                true
            }
            _ => false,
        }
    }

    /// `id` cannot be reached now (detached, no route): it waits for
    /// [`Operation::handle_attached`] or the deadline; no attempt is used up. Returns `false`
    /// unless `id` was in flight.
    pub fn handle_unreachable(&mut self, _now: Timestamp, id: &str) -> bool {
        match self.target(id) {
            Some((index, t)) if t.state == TargetState::InFlight => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.set_state(index, TargetState::Parked, None);
                true
            }
            _ => false,
        }
    }

    /// `id` is attached again: a parked target is queued. Returns `false` unless it was
    /// parked.
    pub fn handle_attached(&mut self, _now: Timestamp, id: &str) -> bool {
        match self.target(id) {
            Some((index, t)) if t.state == TargetState::Parked => {
                self.set_state(index, TargetState::Queued, None);
                self.ready.push_back(index);
                true
            }
            _ => false,
        }
    }

    /// `id` is not in the inventory: it is [`Outcome::Unknown`] (404 for each command).
    /// Returns `false` when it is not a target or already has its outcome.
    pub fn handle_unknown(&mut self, _now: Timestamp, id: &str) -> bool {
        let Some(index) = self.open_target(id) else {
            return false;
        };
        self.finish(index, Outcome::Unknown);
        true
    }

    /// `id` is in Transparent mode: the DM server manages it directly, so it ends with
    /// [`Outcome::Transparent`] (no status implied, no exception). Returns `false` when it is
    /// not a target or already has its outcome.
    pub fn handle_transparent(&mut self, _now: Timestamp, id: &str) -> bool {
        let Some(index) = self.open_target(id) else {
            return false;
        };
        self.finish(index, Outcome::Transparent);
        true
    }

    /// Replays an outcome recorded before a restart: `response` for [`Outcome::Answered`],
    /// the outcome itself for the others, so that each target is counted once and as it was.
    /// Returns `false` when `id` is not a target or already has its outcome.
    pub fn handle_restored(
        &mut self,
        now: Timestamp,
        id: &str,
        outcome: Outcome,
        response: &[Command],
    ) -> bool {
        if outcome == Outcome::Answered {
            return self.handle_answered(now, id, response);
        }
        let Some(index) = self.open_target(id) else {
            return false;
        };
        self.finish(index, outcome);
        true
    }

    /// Cancels the operation (a Delete of `Operations/<op>`): every target without an outcome
    /// is [`Outcome::Cancelled`]; [`FanoutEvent::Completed`] follows. The driver aborts the
    /// sessions it has in flight.
    pub fn cancel(&mut self, _now: Timestamp) {
        if matches!(self.state, State::Done | State::Cancelled) {
            return;
        }
        for i in 0..self.targets.len() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            if self.is_open(index) {
                self.finish_inner(index, Outcome::Cancelled);
            }
        }
        self.state = State::Cancelled;
        self.aggregate.state = State::Cancelled;
        self.ready.clear();
        self.events
            .push_back(FanoutEvent::Completed(Box::new(self.aggregate.clone())));
    }

    /// The next time [`Operation::handle_timeout`] must be called, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.state != State::Running {
            return None;
        }
        let wait = self.wait_at.filter(|_| !self.wait_done());
        [
            self.timers.first().map(|(t, _)| *t),
            wait,
            self.deadline_at,
            self.progress_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs every deadline at or before `now`: attempts that took too long fail, backoffs end,
    /// the wait elapses ([`FanoutEvent::WaitElapsed`]) and, at the deadline, every target
    /// without an outcome is [`Outcome::TimedOut`].
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.state != State::Running {
            return;
        }
        if self.deadline_at.is_some_and(|d| d <= now) {
            for i in 0..self.targets.len() {
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                if self.is_open(index) {
                    self.finish_inner(index, Outcome::TimedOut);
                }
            }
            self.check_complete();
            return;
        }
        while let Some(&(t, index)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            let Some(target) = self.targets.get_mut(index as usize) else {
                continue;
            };
            target.timer = None;
            match target.state {
                TargetState::InFlight => self.fail_attempt(now, index),
                TargetState::Backoff => {
                    self.set_state(index, TargetState::Queued, None);
                    self.ready.push_back(index);
                }
                _ => {}
            }
        }
        if self.state == State::Running
            && !self.wait_done()
            && self.wait_at.is_some_and(|w| w <= now)
        {
            self.events.push_back(FanoutEvent::WaitElapsed);
            self.wait_at = None;
        }
        if self.state == State::Running
            && let Some(at) = self.progress_at
            && at <= now
        {
            if self.finished != self.progress_seen {
                self.progress_seen = self.finished;
                self.events
                    .push_back(FanoutEvent::Progress(Box::new(self.aggregate.clone())));
            }
            self.progress_at = self.config.progress.map(|p| now + p);
        }
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<FanoutEvent> {
        self.events.pop_front()
    }

    // ----- internals -------------------------------------------------------------------

    fn wait_done(&self) -> bool {
        self.wait_at.is_none()
    }

    fn cap(&self, t: Timestamp) -> Timestamp {
        self.deadline_at.map_or(t, |d| t.min(d))
    }

    fn target(&self, id: &str) -> Option<(u32, &Target)> {
        let &index = self.by_id.get(id)?;
        self.targets.get(index as usize).map(|t| (index, t))
    }

    fn is_open(&self, index: u32) -> bool {
        self.targets
            .get(index as usize)
            .is_some_and(|t| !matches!(t.state, TargetState::Finished(_)))
    }

    /// The index of `id` if it is a target without an outcome, in an operation that has
    /// not ended.
    fn open_target(&self, id: &str) -> Option<u32> {
        if matches!(self.state, State::Done | State::Cancelled) {
            return None;
        }
        let (index, _) = self.target(id)?;
        self.is_open(index).then_some(index)
    }

    fn set_state(&mut self, index: u32, state: TargetState, timer: Option<Timestamp>) {
        if let Some(t) = self.targets.get_mut(index as usize) {
            if let Some(old) = t.timer.take() {
                self.timers.remove(&(old, index));
            }
            t.state = state;
            if let Some(at) = timer {
                t.timer = Some(at);
                self.timers.insert((at, index));
            }
        }
    }

    /// Ends the attempt in flight on `index`: a backoff, or the outcome Failed.
    fn fail_attempt(&mut self, now: Timestamp, index: u32) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.set_state(index, TargetState::Backoff, None);
        let Some(t) = self.targets.get_mut(index as usize) else {
            return;
        };
        t.failures += 1;
        if t.failures >= self.config.max_attempts {
            self.finish(index, Outcome::Failed);
            return;
        }
        let shift = t.failures.saturating_sub(1).min(31);
        let delay = self
            .config
            .backoff
            .saturating_mul(1u32 << shift)
            .min(self.config.max_backoff);
        let at = self.cap(now + delay);
        self.set_state(index, TargetState::Backoff, Some(at));
    }

    fn finish(&mut self, index: u32, outcome: Outcome) {
        self.finish_inner(index, outcome);
        self.check_complete();
    }

    /// Gives target `index` its outcome (it must be open) and counts it.
    fn finish_inner(&mut self, index: u32, outcome: Outcome) {
        let Some(t) = self.targets.get(index as usize) else {
            return;
        };
        if t.state == TargetState::InFlight {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let device = t.id.clone();
        self.set_state(index, TargetState::Finished(outcome), None);
        self.finished += 1;
        let a = &mut self.aggregate;
        match outcome {
            Outcome::Answered => a.answered += 1,
            Outcome::TimedOut => a.timed_out += 1,
            Outcome::Failed => a.failed += 1,
            Outcome::Unknown => a.unknown += 1,
            Outcome::Cancelled => a.cancelled += 1,
            Outcome::Transparent => a.transparent += 1,
        }
        if let Some(code) = outcome.implied_status() {
            for c in &mut a.commands {
                *c.statuses.entry(code.0).or_default() += 1;
            }
            self.exception(Exception {
                device: device.clone(),
                outcome,
                codes: Vec::new(),
            });
        }
        self.events
            .push_back(FanoutEvent::DeviceDone { device, outcome });
    }

    fn exception(&mut self, e: Exception) {
        if self.aggregate.exceptions.len() < self.config.max_exceptions {
            self.aggregate.exceptions.push(e);
        } else {
            self.aggregate.exceptions_omitted += 1;
        }
    }

    /// Counts the statuses and results of one answer.
    fn record_answer(&mut self, id: &str, response: &[Command]) {
        let mut bad = Vec::new();
        let max_values = self.config.max_distinct_values;
        let max_len = self.config.max_value_len;
        for c in response {
            match c {
                Command::Status(s) => {
                    let Some(agg) = self.command_aggregate(&s.cmd_ref) else {
                        continue;
                    };
                    *agg.statuses.entry(s.code.0).or_default() += 1;
                    if !s.code.is_success() {
                        bad.push((s.cmd_ref.clone(), s.code.0));
                    }
                }
                Command::Results(r) => {
                    let Some(agg) = self.command_aggregate(&r.cmd_ref) else {
                        continue;
                    };
                    for item in &r.items {
                        let text = item.data.as_ref().and_then(Data::as_str).unwrap_or("");
                        count_value(agg, text, max_values, max_len);
                    }
                }
                _ => {}
            }
        }
        if !bad.is_empty() {
            self.exception(Exception {
                device: id.to_owned(),
                outcome: Outcome::Answered,
                codes: bad,
            });
        }
    }

    fn command_aggregate(&mut self, cmd_ref: &str) -> Option<&mut CommandAggregate> {
        self.aggregate
            .commands
            .iter_mut()
            .find(|c| c.cmd_ref == cmd_ref)
    }

    fn check_complete(&mut self) {
        if self.state == State::Running && self.finished == self.targets.len() as u64 {
            self.state = State::Done;
            self.aggregate.state = State::Done;
            self.ready.clear();
            self.events
                .push_back(FanoutEvent::Completed(Box::new(self.aggregate.clone())));
        }
    }
}

fn count_value(agg: &mut CommandAggregate, text: &str, max_values: usize, max_len: usize) {
    if text.len() > max_len {
        agg.other_values += 1;
        return;
    }
    if let Some((_, n)) = agg.values.iter_mut().find(|(v, _)| v == text) {
        *n += 1;
    } else if agg.values.len() < max_values {
        agg.values.push((text.to_owned(), 1));
    } else {
        agg.other_values += 1;
    }
}

// ----- the consolidated payload ------------------------------------------------------------

impl Aggregate {
    /// The consolidated payload (`resultaggregation` Data, `Format` `chr`): a form-urlencoded
    /// list in this order: `op`, `state`, `targets`, `answered`, `timeout`, `failed`,
    /// `unknown`, `cancelled`, `transparent`; per command `cmd=CMDID` then `status=CODE:COUNT`..., `value=COUNT:TEXT`...,
    /// `other=COUNT`; per exception `device=ID` then `outcome=NAME` and `code=CMDREF:CODE`...;
    /// last `omitted=COUNT`. A fanout whose devices all answer alike stays far below 2 KB
    /// whatever the number of devices.
    #[must_use]
    pub fn encode(&self) -> String {
        let n = |v: u64| v.to_string();
        let mut pairs: Vec<(&str, String)> = vec![
            ("op", self.op.clone()),
            ("state", self.state.as_str().to_owned()),
            ("targets", n(self.targets)),
            ("answered", n(self.answered)),
            ("timeout", n(self.timed_out)),
            ("failed", n(self.failed)),
            ("unknown", n(self.unknown)),
            ("cancelled", n(self.cancelled)),
            ("transparent", n(self.transparent)),
        ];
        for c in &self.commands {
            pairs.push(("cmd", c.cmd_ref.clone()));
            for (code, count) in &c.statuses {
                pairs.push(("status", format!("{code}:{count}")));
            }
            for (value, count) in &c.values {
                pairs.push(("value", format!("{count}:{value}")));
            }
            pairs.push(("other", n(c.other_values)));
        }
        for e in &self.exceptions {
            pairs.push(("device", e.device.clone()));
            pairs.push(("outcome", e.outcome.as_str().to_owned()));
            for (r, code) in &e.codes {
                pairs.push(("code", format!("{r}:{code}")));
            }
        }
        pairs.push(("omitted", n(self.exceptions_omitted)));
        encode_pairs(pairs.iter().map(|(k, v)| (*k, Some(v.as_str()))))
    }

    /// Reads a payload written by [`Aggregate::encode`]. Unknown fields are ignored; an absent
    /// `state` is `done`, an absent count 0 (older gateways send neither `state` nor
    /// `transparent`).
    ///
    /// # Errors
    /// The form errors (size, field count, UTF-8), [`Error::FormMissingKey`] for `op`,
    /// [`Error::FormDuplicateKey`] for a repeated single field, [`Error::FormInvalidValue`]
    /// for a bad number or outcome, or a `status` / `value` / `other` outside a `cmd` group
    /// (`outcome` / `code` outside a `device` group).
    pub fn decode(text: &str, limits: &Limits) -> Result<Aggregate, Error> {
        let mut a = Aggregate::default();
        let mut op = None;
        let mut counts: [Option<u64>; 7] = [None; 7];
        let mut state = None;
        let mut fields = Fields::new(text, limits)?;
        let mut in_exception = false;
        let outside = |key, offset| Error::FormInvalidValue {
            key,
            offset,
            reason: "outside its group",
        };
        let pair = |key: &'static str, f: &crate::payload::form::Field| {
            f.value
                .split_once(':')
                .map(|(x, y)| (x.to_owned(), y.to_owned()))
                .ok_or(Error::FormInvalidValue {
                    key,
                    offset: f.offset,
                    reason: "not A:B",
                })
        };
        let number = |key: &'static str, offset: usize, s: &str| {
            s.parse::<u64>().map_err(|_| Error::FormInvalidValue {
                key,
                offset,
                reason: "not a number",
            })
        };
        const COUNTS: [&str; 7] = [
            "targets",
            "answered",
            "timeout",
            "failed",
            "unknown",
            "cancelled",
            "transparent",
        ];
        while let Some(f) = fields.next_field()? {
            let key = f.key.as_str();
            if let Some(i) = COUNTS.iter().position(|k| *k == key) {
                let k = COUNTS.get(i).copied().unwrap_or("count");
                if let Some(slot) = counts.get_mut(i) {
                    f.once(k, slot, |v| number(k, f.offset, &v))?;
                }
                continue;
            }
            match key {
                "op" => f.once("op", &mut op, Ok)?,
                "state" => f.once("state", &mut state, |v| State::parse(&v))?,
                "cmd" => {
                    in_exception = false;
                    a.commands.push(CommandAggregate {
                        cmd_ref: f.value.clone(),
                        ..CommandAggregate::default()
                    });
                }
                "status" if in_exception => return Err(outside("status", f.offset)),
                "value" if in_exception => return Err(outside("value", f.offset)),
                "other" if in_exception => return Err(outside("other", f.offset)),
                "status" => {
                    let (code, count) = pair("status", &f)?;
                    let code = code.parse::<u16>().map_err(|_| Error::FormInvalidValue {
                        key: "status",
                        offset: f.offset,
                        reason: "not a status code",
                    })?;
                    let count = number("status", f.offset, &count)?;
                    let c = a
                        .commands
                        .last_mut()
                        .ok_or_else(|| outside("status", f.offset))?;
                    // A code given twice adds up (saturating: counts come from a peer).
                    let slot = c.statuses.entry(code).or_default();
                    *slot = slot.saturating_add(count);
                }
                "value" => {
                    let (count, value) = pair("value", &f)?;
                    let count = number("value", f.offset, &count)?;
                    let c = a
                        .commands
                        .last_mut()
                        .ok_or_else(|| outside("value", f.offset))?;
                    c.values.push((value, count));
                }
                "other" => {
                    let count = number("other", f.offset, &f.value)?;
                    let c = a
                        .commands
                        .last_mut()
                        .ok_or_else(|| outside("other", f.offset))?;
                    c.other_values = count;
                }
                "device" => {
                    in_exception = true;
                    a.exceptions.push(Exception {
                        device: f.value.clone(),
                        outcome: Outcome::Answered,
                        codes: Vec::new(),
                    });
                }
                "outcome" if !in_exception => return Err(outside("outcome", f.offset)),
                "code" if !in_exception => return Err(outside("code", f.offset)),
                "outcome" => {
                    let o = f.parse("outcome", |v| Outcome::parse(&v))?;
                    if let Some(e) = a.exceptions.last_mut() {
                        e.outcome = o;
                    }
                }
                "code" => {
                    let (r, code) = pair("code", &f)?;
                    let code = code.parse::<u16>().map_err(|_| Error::FormInvalidValue {
                        key: "code",
                        offset: f.offset,
                        reason: "not a status code",
                    })?;
                    if let Some(e) = a.exceptions.last_mut() {
                        e.codes.push((r, code));
                    }
                }
                "omitted" => {
                    in_exception = false;
                    a.exceptions_omitted = number("omitted", f.offset, &f.value)?;
                }
                _ => {}
            }
        }
        a.op = op.ok_or(Error::FormMissingKey { key: "op" })?;
        let [
            targets,
            answered,
            timed_out,
            failed,
            unknown,
            cancelled,
            transparent,
        ] = counts.map(Option::unwrap_or_default);
        a.state = state.unwrap_or_default();
        a.transparent = transparent;
        a.targets = targets;
        a.answered = answered;
        a.timed_out = timed_out;
        a.failed = failed;
        a.unknown = unknown;
        a.cancelled = cancelled;
        Ok(a)
    }
}

// ----- per-device detail pages -------------------------------------------------------------

/// Targets per page of `Operations/<op>/Pages/<n>` (docs/gateway.md §9).
pub const PAGE_SIZE: usize = 100;

/// One target in a page of per-device detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageEntry {
    /// The device id.
    pub device: String,
    /// Its outcome; `None` while pending.
    pub outcome: Option<Outcome>,
    /// Its non-2xx statuses: `(CmdRef, code)`.
    pub codes: Vec<(String, u16)>,
}

/// The non-2xx statuses of a response fragment, `(CmdRef, code)` in order.
#[must_use]
pub fn failing_codes(response: &[Command]) -> Vec<(String, u16)> {
    response
        .iter()
        .filter_map(|c| match c {
            Command::Status(s) if !s.code.is_success() => Some((s.cmd_ref.clone(), s.code.0)),
            _ => None,
        })
        .collect()
}

/// The text of one page (`Format` `chr`): per target `device=ID`, `outcome=NAME` (`pending`
/// while it has none), then `code=CMDREF:CODE` per non-2xx status, in the order given.
#[must_use]
pub fn encode_page(entries: &[PageEntry]) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for e in entries {
        pairs.push(("device", e.device.clone()));
        pairs.push((
            "outcome",
            e.outcome.map_or("pending", Outcome::as_str).to_owned(),
        ));
        for (r, code) in &e.codes {
            pairs.push(("code", format!("{r}:{code}")));
        }
    }
    encode_pairs(pairs.iter().map(|(k, v)| (*k, Some(v.as_str()))))
}

/// Reads a page written by [`encode_page`]. Unknown fields are ignored.
///
/// # Errors
/// The form errors; [`Error::FormInvalidValue`] for an `outcome` or `code` outside a `device`
/// group, an unknown outcome or a bad code.
pub fn decode_page(text: &str, limits: &Limits) -> Result<Vec<PageEntry>, Error> {
    let mut out: Vec<PageEntry> = Vec::new();
    let mut fields = Fields::new(text, limits)?;
    while let Some(f) = fields.next_field()? {
        let outside = |key| Error::FormInvalidValue {
            key,
            offset: f.offset,
            reason: "outside its group",
        };
        match f.key.as_str() {
            "device" => out.push(PageEntry {
                device: f.value.clone(),
                outcome: None,
                codes: Vec::new(),
            }),
            "outcome" => {
                let o = if f.value == "pending" {
                    None
                } else {
                    Some(f.parse("outcome", |v| Outcome::parse(&v))?)
                };
                out.last_mut().ok_or_else(|| outside("outcome"))?.outcome = o;
            }
            "code" => {
                let bad = Error::FormInvalidValue {
                    key: "code",
                    offset: f.offset,
                    reason: "not CMDREF:CODE",
                };
                let (r, code) = f.value.rsplit_once(':').ok_or(bad.clone())?;
                let code = code.parse::<u16>().map_err(|_| bad)?;
                out.last_mut()
                    .ok_or_else(|| outside("code"))?
                    .codes
                    .push((r.to_owned(), code));
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use syncml::{Item, ItemCmd, Location, Results, Status};

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn get(id: &str) -> Command {
        Command::Get(ItemCmd {
            cmd_id: id.into(),
            items: vec![Item {
                target: Some(Location::uri("./DevInfo/Mod")),
                ..Item::default()
            }],
            ..ItemCmd::default()
        })
    }

    /// A device's answer to `cmd_ref`: a Status with `code` and, with `value`, a Results.
    pub(crate) fn answer(cmd_ref: &str, code: u16, value: Option<&str>) -> Vec<Command> {
        let mut v = vec![Command::Status(Status {
            cmd_id: "1".into(),
            msg_ref: "1".into(),
            cmd_ref: cmd_ref.into(),
            cmd: "Get".into(),
            target_refs: vec![],
            source_refs: vec![],
            cred: None,
            chal: None,
            code: StatusCode(code),
            items: vec![],
        })];
        if let Some(x) = value {
            v.push(Command::Results(Results {
                cmd_id: "2".into(),
                cmd_ref: cmd_ref.into(),
                items: vec![Item {
                    data: Some(Data::Text(x.into())),
                    ..Item::default()
                }],
                ..Results::default()
            }));
        }
        v
    }

    fn op(n: usize, config: FanoutConfig) -> Operation {
        Operation::new(
            "j1",
            (0..n).map(|i| format!("d{i}")),
            vec![get("2")],
            config,
        )
        .unwrap()
    }

    fn events(o: &mut Operation) -> Vec<FanoutEvent> {
        std::iter::from_fn(|| o.poll_event()).collect()
    }

    fn dispatch_all(o: &mut Operation, now: Timestamp) -> Vec<String> {
        std::iter::from_fn(|| o.poll_dispatch(now))
            .map(|d| d.device)
            .collect()
    }

    /// GwMO-FORA-001/002, Y: every target answers within the wait: no 202, one aggregate.
    #[test]
    fn gwmo_fora_002_synchronous_completion() {
        let mut o = op(
            3,
            FanoutConfig {
                window: 2,
                ..FanoutConfig::default()
            },
        );
        assert_eq!(o.state(), State::Created);
        assert!(o.poll_dispatch(t(0)).is_none());
        o.start(t(0));
        assert_eq!(dispatch_all(&mut o, t(0)), ["d0", "d1"]);
        assert!(o.handle_answered(t(10), "d0", &answer("2", 200, Some("X1"))));
        assert_eq!(dispatch_all(&mut o, t(10)), ["d2"]);
        assert!(o.handle_answered(t(20), "d1", &answer("2", 200, Some("X1"))));
        assert!(o.handle_answered(t(30), "d2", &answer("2", 404, None)));
        assert_eq!(o.state(), State::Done);
        let ev = events(&mut o);
        assert!(!ev.contains(&FanoutEvent::WaitElapsed));
        let Some(FanoutEvent::Completed(a)) = ev.last() else {
            panic!("{ev:?}")
        };
        assert_eq!((a.targets, a.answered), (3, 3));
        let c = &a.commands[0];
        assert_eq!(c.statuses, BTreeMap::from([(200, 2), (404, 1)]));
        assert_eq!(c.values, [("X1".to_owned(), 2)]);
        assert_eq!(
            a.exceptions,
            [Exception {
                device: "d2".into(),
                outcome: Outcome::Answered,
                codes: vec![("2".into(), 404)]
            }]
        );
        assert_eq!(o.poll_timeout(), None);
        assert_eq!(
            o.progress(),
            Progress {
                total: 3,
                finished: 3,
                in_flight: 0
            }
        );
    }

    /// Y': the wait elapses first (202), the deadline times the rest out with 504.
    #[test]
    fn wait_elapses_then_deadline_times_out() {
        let cfg = FanoutConfig {
            wait: Duration::from_secs(20),
            deadline: Duration::from_secs(300),
            attempt_timeout: Duration::from_secs(1000),
            ..FanoutConfig::default()
        };
        let mut o = op(2, cfg);
        o.start(t(0));
        dispatch_all(&mut o, t(0));
        assert_eq!(o.poll_timeout(), Some(t(20_000)));
        o.handle_timeout(t(19_999));
        assert!(events(&mut o).is_empty());
        o.handle_timeout(t(20_000));
        assert_eq!(events(&mut o), [FanoutEvent::WaitElapsed]);
        assert!(o.handle_answered(t(30_000), "d0", &answer("2", 200, Some("v"))));
        // The attempt timeout is capped at the deadline.
        assert_eq!(o.poll_timeout(), Some(t(300_000)));
        o.handle_timeout(t(300_000));
        let ev = events(&mut o);
        assert!(ev.contains(&FanoutEvent::DeviceDone {
            device: "d1".into(),
            outcome: Outcome::TimedOut
        }));
        let Some(FanoutEvent::Completed(a)) = ev.last() else {
            panic!()
        };
        assert_eq!(a.commands[0].statuses, BTreeMap::from([(200, 1), (504, 1)]));
        assert_eq!(a.timed_out, 1);
        // A late answer is not counted.
        assert!(!o.handle_answered(t(300_001), "d1", &answer("2", 200, None)));
        assert_eq!(o.aggregate().answered, 1);
    }

    #[test]
    fn retries_with_exponential_backoff_then_failed() {
        let cfg = FanoutConfig {
            max_attempts: 3,
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(8),
            attempt_timeout: Duration::from_secs(10),
            wait: Duration::from_secs(1000),
            ..FanoutConfig::default()
        };
        let mut o = op(1, cfg);
        o.start(t(0));
        assert_eq!(
            o.poll_dispatch(t(0)),
            Some(Dispatch {
                device: "d0".into(),
                attempt: 1
            })
        );
        assert!(o.handle_failed(t(1_000), "d0"));
        assert!(!o.handle_failed(t(1_000), "d0"));
        assert_eq!(o.target_state("d0"), Some(TargetState::Backoff));
        assert!(o.poll_dispatch(t(5_999)).is_none());
        assert_eq!(o.poll_timeout(), Some(t(6_000)));
        o.handle_timeout(t(6_000));
        assert_eq!(o.poll_dispatch(t(6_000)).map(|d| d.attempt), Some(2));
        // The attempt times out (counts as a failure); the second delay is 10 s capped to 8 s.
        o.handle_timeout(t(16_000));
        assert_eq!(o.poll_timeout(), Some(t(24_000)));
        o.handle_timeout(t(24_000));
        assert_eq!(o.poll_dispatch(t(24_000)).map(|d| d.attempt), Some(3));
        assert!(o.handle_failed(t(25_000), "d0"));
        assert_eq!(
            o.target_state("d0"),
            Some(TargetState::Finished(Outcome::Failed))
        );
        assert_eq!(
            o.aggregate().commands[0].statuses,
            BTreeMap::from([(502, 1)])
        );
        assert_eq!(o.state(), State::Done);
    }

    #[test]
    fn unreachable_devices_wait_for_attach() {
        let mut o = op(
            2,
            FanoutConfig {
                window: 1,
                ..FanoutConfig::default()
            },
        );
        o.start(t(0));
        assert_eq!(o.poll_dispatch(t(0)).unwrap().device, "d0");
        assert!(o.handle_unreachable(t(1), "d0"));
        assert_eq!(o.target_state("d0"), Some(TargetState::Parked));
        // The window slot is free again.
        assert_eq!(o.poll_dispatch(t(1)).unwrap().device, "d1");
        assert!(!o.handle_attached(t(2), "d1"));
        assert!(o.handle_attached(t(2), "d0"));
        assert!(o.poll_dispatch(t(2)).is_none()); // window full with d1
        o.handle_answered(t(3), "d1", &answer("2", 200, None));
        assert_eq!(
            o.poll_dispatch(t(3)),
            Some(Dispatch {
                device: "d0".into(),
                attempt: 1
            })
        );
    }

    #[test]
    fn unknown_cancel_and_replays_count_once() {
        let mut o = op(4, FanoutConfig::default());
        assert!(o.handle_unknown(t(0), "d3"));
        assert!(!o.handle_unknown(t(0), "d3"));
        assert!(!o.handle_unknown(t(0), "zz"));
        o.start(t(0));
        assert_eq!(dispatch_all(&mut o, t(0)), ["d0", "d1", "d2"]);
        assert!(o.handle_answered(t(1), "d0", &answer("2", 200, None)));
        assert!(!o.handle_answered(t(2), "d0", &answer("2", 500, None)));
        o.cancel(t(3));
        o.cancel(t(4));
        assert_eq!(o.state(), State::Cancelled);
        let a = o.aggregate();
        assert_eq!((a.answered, a.unknown, a.cancelled), (1, 1, 2));
        assert_eq!(
            a.commands[0].statuses,
            BTreeMap::from([(200, 1), (214, 2), (404, 1)])
        );
        let completed = events(&mut o)
            .into_iter()
            .filter(|e| matches!(e, FanoutEvent::Completed(_)))
            .count();
        assert_eq!(completed, 1);
        assert!(!o.handle_answered(t(5), "d1", &answer("2", 200, None)));
        assert!(o.poll_dispatch(t(5)).is_none());
        assert_eq!(o.progress().in_flight, 0);
    }

    /// A restart replays each stored outcome as it was: counts and statuses are those of the
    /// run before, each target once.
    #[test]
    fn restored_outcomes_count_once_and_as_they_were() {
        let mut o = op(5, FanoutConfig::default());
        o.start(t(0));
        assert!(o.handle_restored(t(0), "d0", Outcome::Answered, &answer("2", 200, None)));
        assert!(o.handle_restored(t(0), "d1", Outcome::TimedOut, &[]));
        assert!(o.handle_restored(t(0), "d2", Outcome::Transparent, &[]));
        assert!(o.handle_restored(t(0), "d3", Outcome::Unknown, &[]));
        assert!(!o.handle_restored(t(0), "d3", Outcome::Answered, &answer("2", 200, None)));
        assert!(!o.handle_restored(t(0), "zz", Outcome::Failed, &[]));
        let a = o.aggregate();
        assert_eq!(
            (a.answered, a.timed_out, a.transparent, a.unknown),
            (1, 1, 1, 1)
        );
        assert_eq!(
            a.commands[0].statuses,
            BTreeMap::from([(200, 1), (404, 1), (504, 1)])
        );
        assert_eq!(o.progress().finished, 4);
    }

    #[test]
    fn no_targets_completes_at_start_and_config_is_checked() {
        let mut o = op(0, FanoutConfig::default());
        o.start(t(0));
        assert!(matches!(
            events(&mut o).as_slice(),
            [FanoutEvent::Completed(_)]
        ));
        for bad in [
            FanoutConfig {
                window: 0,
                ..FanoutConfig::default()
            },
            FanoutConfig {
                max_attempts: 0,
                ..FanoutConfig::default()
            },
            FanoutConfig {
                deadline: Duration::ZERO,
                ..FanoutConfig::default()
            },
        ] {
            assert!(matches!(
                Operation::new("x", Vec::new(), vec![], bad),
                Err(Error::FanoutConfig { .. })
            ));
        }
        let dup = Operation::new(
            "x",
            ["a".to_owned(), "a".to_owned()],
            vec![],
            FanoutConfig::default(),
        )
        .unwrap();
        assert_eq!(dup.progress().total, 1);
    }

    #[test]
    fn values_are_bounded_and_nested_commands_counted() {
        let cfg = FanoutConfig {
            max_distinct_values: 2,
            max_value_len: 4,
            max_exceptions: 1,
            ..FanoutConfig::default()
        };
        let seq = Command::Sequence(syncml::Container {
            cmd_id: "1".into(),
            commands: vec![get("2")],
            ..Default::default()
        });
        let mut o = Operation::new("j", (0..6).map(|i| format!("d{i}")), vec![seq], cfg).unwrap();
        o.start(t(0));
        for (i, v) in ["a", "b", "c", "a", "toolong"].iter().enumerate() {
            let mut r = answer("2", 200, Some(v));
            r.extend(answer("1", 200, None));
            r.extend(answer("99", 500, None)); // not a command of the operation: ignored
            o.handle_answered(t(1), &format!("d{i}"), &r);
        }
        o.handle_answered(t(1), "d5", &answer("2", 500, None));
        let a = o.aggregate();
        assert_eq!(
            a.commands
                .iter()
                .map(|c| c.cmd_ref.as_str())
                .collect::<Vec<_>>(),
            ["1", "2"]
        );
        let c = &a.commands[1];
        assert_eq!(c.values, [("a".to_owned(), 2), ("b".to_owned(), 1)]);
        assert_eq!(c.other_values, 2);
        assert_eq!(a.commands[0].statuses, BTreeMap::from([(200, 5)]));
        assert_eq!((a.exceptions.len(), a.exceptions_omitted), (1, 0));
        assert_eq!(
            Aggregate::decode(&a.encode(), &Limits::default()).as_ref(),
            Ok(a)
        );
    }

    /// GwMO-FORA-001/002: 100,000 devices, one in ten in Transparent mode (handed back to the
    /// server), the others answering alike, give one consolidated payload under 2 KB
    /// (deterministic, simulated time); progress events carry `state=running` at most once a
    /// second; the Transparent targets count as `transparent`, with no status and no
    /// exception.
    #[test]
    fn gwmo_fora_002_hundred_thousand_alike_under_2kb() {
        let n = 100_000;
        let mut o = op(
            n,
            FanoutConfig {
                window: 256,
                progress: Some(Duration::from_secs(1)),
                ..FanoutConfig::default()
            },
        );
        for i in (0..n).step_by(10) {
            assert!(o.handle_transparent(t(0), &format!("d{i}")));
        }
        o.start(t(0));
        let reply = answer("2", 200, Some("X1"));
        let mut now = 0;
        let mut done = n / 10;
        let mut in_flight = Vec::new();
        let mut progress = Vec::new();
        while done < n {
            now += 10;
            o.handle_timeout(t(now));
            in_flight.extend(dispatch_all(&mut o, t(now)));
            assert!(o.progress().in_flight <= 256);
            for d in in_flight.drain(..) {
                assert!(o.handle_answered(t(now), &d, &reply));
                done += 1;
            }
            while let Some(e) = o.poll_event() {
                if let FanoutEvent::Progress(a) = e {
                    progress.push((now, a));
                }
            }
        }
        assert_eq!(o.state(), State::Done);
        assert!(!progress.is_empty());
        for w in progress.windows(2) {
            assert!(w[1].0 - w[0].0 >= 1_000, "progress more often than 1 s");
        }
        for (_, a) in &progress {
            assert_eq!(a.state, State::Running);
            assert!(a.encode().contains("&state=running&"));
        }
        let a = o.aggregate();
        assert_eq!(
            (a.targets, a.answered, a.transparent),
            (n as u64, 90_000, 10_000)
        );
        assert!(a.exceptions.is_empty());
        let payload = a.encode();
        assert!(payload.len() <= 2048, "{} bytes: {payload}", payload.len());
        assert_eq!(
            payload,
            "op=j1&state=done&targets=100000&answered=90000&timeout=0&failed=0&unknown=0\
             &cancelled=0&transparent=10000&cmd=2&status=200%3A90000&value=90000%3AX1&other=0\
             &omitted=0"
        );
        assert_eq!(
            Aggregate::decode(&payload, &Limits::default()).as_ref(),
            Ok(a)
        );
    }

    /// The consolidated response decodes liberally: no `state` is done, no `transparent` 0;
    /// the encoding always writes both, `state` right after `op`.
    #[test]
    fn aggregate_state_and_transparent_fields() {
        let l = Limits::default();
        let old = Aggregate::decode("op=j&targets=2&answered=2", &l).unwrap();
        assert_eq!((old.state, old.transparent), (State::Done, 0));
        assert!(old.encode().starts_with("op=j&state=done&targets=2&"));
        let a = Aggregate::decode("op=j&state=cancelled&transparent=3", &l).unwrap();
        assert_eq!((a.state, a.transparent), (State::Cancelled, 3));
        assert!(matches!(
            Aggregate::decode("op=j&state=sleeping", &l),
            Err(Error::FormInvalidValue { key: "state", .. })
        ));
        assert!(matches!(
            Aggregate::decode("op=j&state=done&state=done", &l),
            Err(Error::FormDuplicateKey { key: "state", .. })
        ));
    }

    #[test]
    fn pages_round_trip_and_failing_codes() {
        let mut r = answer("2", 200, Some("v"));
        r.extend(answer("3", 404, None));
        assert_eq!(failing_codes(&r), [("3".to_owned(), 404)]);
        let entries = vec![
            PageEntry {
                device: "IMEI:1".into(),
                outcome: Some(Outcome::Answered),
                codes: failing_codes(&r),
            },
            PageEntry {
                device: "a&b=c".into(),
                outcome: None,
                codes: vec![],
            },
            PageEntry {
                device: "IMEI:3".into(),
                outcome: Some(Outcome::Transparent),
                codes: vec![],
            },
        ];
        let text = encode_page(&entries);
        assert_eq!(
            text,
            "device=IMEI%3A1&outcome=done&code=3%3A404&device=a%26b%3Dc&outcome=pending\
             &device=IMEI%3A3&outcome=transparent"
        );
        assert_eq!(decode_page(&text, &Limits::default()), Ok(entries));
        assert!(decode_page("outcome=done", &Limits::default()).is_err());
        assert!(decode_page("device=a&code=1", &Limits::default()).is_err());
    }

    #[test]
    fn aggregate_decoder_errors() {
        let l = Limits::default();
        assert_eq!(
            Aggregate::decode("targets=1", &l),
            Err(Error::FormMissingKey { key: "op" })
        );
        assert!(matches!(
            Aggregate::decode("op=a&status=200:1", &l),
            Err(Error::FormInvalidValue {
                key: "status",
                reason: "outside its group",
                ..
            })
        ));
        assert!(matches!(
            Aggregate::decode("op=a&cmd=1&status=2001", &l),
            Err(Error::FormInvalidValue {
                key: "status",
                reason: "not A:B",
                ..
            })
        ));
        assert!(matches!(
            Aggregate::decode("op=a&code=1:200", &l),
            Err(Error::FormInvalidValue { key: "code", .. })
        ));
        assert!(matches!(
            Aggregate::decode("op=a&device=d&outcome=lost", &l),
            Err(Error::FormInvalidValue { key: "outcome", .. })
        ));
        assert!(matches!(
            Aggregate::decode("op=a&targets=1&targets=2", &l),
            Err(Error::FormDuplicateKey { key: "targets", .. })
        ));
    }

    /// One step of a simulated driver.
    #[derive(Debug, Clone)]
    enum Step {
        Advance(u64),
        Dispatch,
        Answer(usize, u16),
        Fail(usize),
        Unreachable(usize),
        Attached(usize),
        Unknown(usize),
        Transparent(usize),
        Cancel,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1u64..20_000).prop_map(Step::Advance),
            4 => Just(Step::Dispatch),
            4 => (0usize..12, prop_oneof![Just(200u16), Just(404), Just(500)]).prop_map(|(d, c)| Step::Answer(d, c)),
            2 => (0usize..12).prop_map(Step::Fail),
            1 => (0usize..12).prop_map(Step::Unreachable),
            1 => (0usize..12).prop_map(Step::Attached),
            1 => (0usize..12).prop_map(Step::Unknown),
            1 => (0usize..12).prop_map(Step::Transparent),
            1 => Just(Step::Cancel),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Engine invariants (GwMO-FORA-001/002): the window is never exceeded; each target is
        /// counted once (outcome counts and per-command status counts add up to the targets,
        /// one DeviceDone each, replays included); by the deadline every target has an
        /// outcome and exactly one Completed is reported.
        #[test]
        fn engine_invariants(
            n in 0usize..10,
            window in 1usize..4,
            steps in proptest::collection::vec(step(), 0..80),
        ) {
            let cfg = FanoutConfig {
                window,
                wait: Duration::from_secs(20),
                deadline: Duration::from_secs(120),
                attempt_timeout: Duration::from_secs(30),
                ..FanoutConfig::default()
            };
            let mut o = op(n, cfg);
            let mut now = 0u64;
            o.start(t(now));
            let mut done = std::collections::HashMap::new();
            let mut completed = 0;
            let drain = |o: &mut Operation, done: &mut std::collections::HashMap<String, Outcome>, completed: &mut usize| {
                while let Some(e) = o.poll_event() {
                    match e {
                        FanoutEvent::DeviceDone { device, outcome } => {
                            assert!(done.insert(device, outcome).is_none(), "a target finished twice");
                        }
                        FanoutEvent::Completed(_) => *completed += 1,
                        FanoutEvent::WaitElapsed | FanoutEvent::Progress(_) => {}
                    }
                }
            };
            for s in steps {
                let id = |i: usize| format!("d{i}");
                match s {
                    Step::Advance(ms) => {
                        now += ms;
                        o.handle_timeout(t(now));
                    }
                    Step::Dispatch => { let _ = o.poll_dispatch(t(now)); }
                    Step::Answer(i, c) => { o.handle_answered(t(now), &id(i), &answer("2", c, Some("v"))); }
                    Step::Fail(i) => { o.handle_failed(t(now), &id(i)); }
                    Step::Unreachable(i) => { o.handle_unreachable(t(now), &id(i)); }
                    Step::Attached(i) => { o.handle_attached(t(now), &id(i)); }
                    Step::Unknown(i) => { o.handle_unknown(t(now), &id(i)); }
                    Step::Transparent(i) => { o.handle_transparent(t(now), &id(i)); }
                    Step::Cancel => o.cancel(t(now)),
                }
                prop_assert!(o.progress().in_flight as usize <= window);
                drain(&mut o, &mut done, &mut completed);
            }
            // Run to the deadline.
            let steps_end = now;
            while let Some(at) = o.poll_timeout() {
                now = now.max(at.since_epoch().as_millis() as u64);
                o.handle_timeout(t(now));
                while o.poll_dispatch(t(now)).is_some() {}
                drain(&mut o, &mut done, &mut completed);
            }
            drain(&mut o, &mut done, &mut completed);
            // Everything ended by the deadline (120 s after the start at 0).
            prop_assert!(now <= steps_end.max(120_000));
            prop_assert!(matches!(o.state(), State::Done | State::Cancelled));
            prop_assert_eq!(done.len(), n);
            prop_assert_eq!(completed, 1);
            let a = o.aggregate();
            prop_assert_eq!(
                a.answered + a.timed_out + a.failed + a.unknown + a.cancelled + a.transparent,
                n as u64
            );
            // Transparent targets imply no status: every other target counts one.
            prop_assert_eq!(
                a.commands[0].statuses.values().sum::<u64>() + a.transparent,
                n as u64
            );
            prop_assert_eq!(o.progress().in_flight, 0);
            let back = Aggregate::decode(&a.encode(), &Limits::default());
            prop_assert_eq!(back.as_ref(), Ok(a));
        }
    }
}
