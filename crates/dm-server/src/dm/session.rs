//! Live DM sessions: the table, and driving one `dm_proto::ServerSession` per request.
//!
//! A session is bound to the account it authenticated as when it is created (a device can never
//! act as another: follow-up messages reach it only through its secret `RespURI` token). All
//! its store writes are collected in a [`SessionRecord`] and written in one transaction when
//! it ends (completed, aborted, failed or timed out); jobs taken for it and left unanswered are
//! queued again.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dm_proto::{
    AuthScheme, CommandHandle, Credentials, ServerConfig, ServerEvent, ServerSession, SessionEnd,
    StoredSecret, Timestamp,
};
use dm_store::{
    AuthType, CommandResult, DeviceAccount, JobCommand, JobResults, JobState, NewEvent,
    RequeueScope, ResultItem, SessionRecord, Store as _, TreeValue,
};
use rand::RngCore as _;
use syncml::{Alert, AlertCode, Encoding, Item, Meta, Status, SyncMl};

use super::Incoming;
use crate::EnrolmentPolicy;
use crate::state::{AppState, now_ms};

/// Most jobs sent in one session.
const JOBS_PER_SESSION: u32 = 16;

/// What the endpoint answers.
pub(crate) enum Outgoing {
    /// A DM message (HTTP 200).
    Message {
        bytes: Vec<u8>,
        content_type: &'static str,
        hmac: Option<String>,
    },
    /// The body is not a SyncML message (HTTP 400).
    Malformed,
    /// A `RespURI` token that names no live session (HTTP 404).
    UnknownSession,
    /// Another request of the same session is being processed (HTTP 503).
    Busy,
    /// The store failed (HTTP 500).
    Failure,
}

/// A job taken for this session.
struct TakenJob {
    id: i64,
    commands: Vec<JobCommand>,
    /// Pre-order index of each top-level command.
    top_index: Vec<u32>,
    total: usize,
    results: BTreeMap<u32, CommandResult>,
}

/// One live session and everything it will write.
struct Live {
    session: ServerSession,
    device_id: String,
    /// Key of the session in the table, in its `RespURI`, and in the store's `sent_session`.
    token: String,
    session_id: String,
    last_active: Instant,
    peer: Option<SocketAddr>,
    record: SessionRecord,
    /// Set for an enrolling device: the account to create once it authenticated.
    enrol: Option<DeviceAccount>,
    /// False for a session of an unknown device that will never be kept.
    known: bool,
    authenticated: bool,
    jobs_taken: bool,
    jobs: Vec<TakenJob>,
    handles: HashMap<CommandHandle, (usize, usize)>,
    ended: Option<SessionEnd>,
}

enum Slot {
    Idle(Box<Live>),
    Busy,
}

#[derive(Default)]
struct Tables {
    by_token: HashMap<String, Slot>,
    /// (device id, SessionID) -> token.
    by_session: HashMap<(String, String), String>,
}

/// Live sessions keyed by `RespURI` token (and by device + SessionID).
pub(crate) struct SessionTable {
    idle: Duration,
    inner: Mutex<Tables>,
}

enum Checkout {
    Got(Box<Live>),
    Missing,
    Busy,
}

impl SessionTable {
    pub(crate) fn new(idle: Duration) -> Self {
        SessionTable {
            idle,
            inner: Mutex::new(Tables::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn checkout(&self, token: &str) -> Checkout {
        let mut t = self.lock();
        match t.by_token.get_mut(token) {
            None => Checkout::Missing,
            Some(slot) => match std::mem::replace(slot, Slot::Busy) {
                Slot::Idle(live) => Checkout::Got(live),
                Slot::Busy => Checkout::Busy,
            },
        }
    }

    /// Takes out the session of this device with this SessionID, if one is idle.
    fn take_by_session(&self, device_id: &str, session_id: &str) -> Option<Box<Live>> {
        let mut t = self.lock();
        let key = (device_id.to_owned(), session_id.to_owned());
        let token = t.by_session.get(&key)?.clone();
        match t.by_token.remove(&token) {
            Some(Slot::Idle(live)) => {
                t.by_session.remove(&key);
                Some(live)
            }
            Some(Slot::Busy) => {
                t.by_token.insert(token, Slot::Busy);
                None
            }
            None => {
                t.by_session.remove(&key);
                None
            }
        }
    }

    fn checkin(&self, live: Box<Live>) {
        let mut t = self.lock();
        let key = (live.device_id.clone(), live.session_id.clone());
        t.by_session.insert(key, live.token.clone());
        t.by_token.insert(live.token.clone(), Slot::Idle(live));
    }

    fn forget(&self, live: &Live) {
        let mut t = self.lock();
        t.by_token.remove(&live.token);
        let key = (live.device_id.clone(), live.session_id.clone());
        if t.by_session.get(&key) == Some(&live.token) {
            t.by_session.remove(&key);
        }
    }

    /// Takes out every idle session inactive for longer than the timeout.
    #[allow(clippy::vec_box)] // the sessions stay boxed through finish()
    fn take_expired(&self, now: Instant) -> Vec<Box<Live>> {
        let mut t = self.lock();
        let expired: Vec<String> = t
            .by_token
            .iter()
            .filter_map(|(k, s)| match s {
                Slot::Idle(l) if now.duration_since(l.last_active) >= self.idle => Some(k.clone()),
                _ => None,
            })
            .collect();
        let mut out = Vec::with_capacity(expired.len());
        for token in expired {
            if let Some(Slot::Idle(live)) = t.by_token.remove(&token) {
                let key = (live.device_id.clone(), live.session_id.clone());
                if t.by_session.get(&key) == Some(&token) {
                    t.by_session.remove(&key);
                }
                out.push(live);
            }
        }
        out
    }
}

fn timestamp() -> Timestamp {
    Timestamp::from_duration(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

fn new_token() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn scheme(t: AuthType) -> Option<AuthScheme> {
    match t {
        AuthType::None => None,
        AuthType::Basic => Some(AuthScheme::Basic),
        AuthType::Md5 => Some(AuthScheme::Md5),
        AuthType::Hmac => Some(AuthScheme::Hmac),
    }
}

/// Pre-order index of the command at `path` (child indexes) below the top-level command that
/// starts at `base`.
fn preorder(cmd: &JobCommand, base: u32, path: &[usize]) -> Option<u32> {
    let Some((&first, rest)) = path.split_first() else {
        return Some(base);
    };
    let mut idx = base + 1;
    for child in cmd.children.get(..first)? {
        idx += u32::try_from(crate::commands::count(std::slice::from_ref(child))).ok()?;
    }
    preorder(cmd.children.get(first)?, idx, rest)
}

/// Handles one DM request: a new session (`token` `None`) or the next message of one.
pub(crate) async fn handle(state: &Arc<AppState>, token: Option<&str>, msg: Incoming) -> Outgoing {
    let ts = timestamp();
    let mut live = match token {
        Some(token) => match state.sessions.checkout(token) {
            Checkout::Got(live) => {
                let mut live = live;
                if live
                    .session
                    .handle_bytes(ts, &msg.body, msg.hmac.as_deref())
                    .is_err()
                {
                    // A malformed message does not end the session.
                    live.last_active = Instant::now();
                    state.sessions.checkin(live);
                    return Outgoing::Malformed;
                }
                live
            }
            Checkout::Missing => return Outgoing::UnknownSession,
            Checkout::Busy => return Outgoing::Busy,
        },
        None => {
            let limits = syncml::Limits {
                max_size: state.config.max_body_bytes,
                ..syncml::Limits::default()
            };
            let Ok(decoded) = msg.encoding.decode(&msg.body, &limits) else {
                return Outgoing::Malformed;
            };
            // A device restarting a session it has open: the old one ends first (its nonces
            // are stored before the new one reads the account).
            if let Some(old) = state
                .sessions
                .take_by_session(&decoded.hdr.source.loc_uri, &decoded.hdr.session_id)
            {
                finish(state, old).await;
            }
            match open(state, decoded, &msg, ts).await {
                Ok(live) => live,
                Err(out) => return out,
            }
        }
    };
    live.last_active = Instant::now();
    if msg.peer.is_some() {
        live.peer = msg.peer;
    }
    if let Err(out) = drain(state, &mut live).await {
        finish(state, live).await;
        return out;
    }
    let transmit = live.session.poll_transmit(ts);
    if let Err(out) = drain(state, &mut live).await {
        finish(state, live).await;
        return out;
    }
    if !live.authenticated && live.known {
        tracing::info!(
            device = %live.device_id,
            peer = ?live.peer,
            "device not authenticated: credentials missing or wrong, challenge sent"
        );
    }
    let out = match transmit {
        Some(t) => Outgoing::Message {
            bytes: t.bytes,
            content_type: t.content_type,
            hmac: t.hmac,
        },
        None => Outgoing::Failure,
    };
    if live.ended.is_some() || !live.known {
        finish(state, live).await;
    } else {
        state.sessions.checkin(live);
    }
    out
}

/// Identifies the device of a package 1, builds its session and feeds it the message.
async fn open(
    state: &Arc<AppState>,
    decoded: SyncMl,
    msg: &Incoming,
    ts: Timestamp,
) -> Result<Box<Live>, Outgoing> {
    let device_id = decoded.hdr.source.loc_uri.clone();
    let session_id = decoded.hdr.session_id.clone();
    let loc_name = decoded.hdr.source.loc_name.clone();
    let looked_up = match &loc_name {
        Some(name) => state.store.get_device_by_auth_name(name).await,
        None => state.store.get_device(&device_id).await,
    };
    let account = match looked_up {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "store failure looking up a device");
            return Err(Outgoing::Failure);
        }
    };
    // The account must be this device's: an auth name never lets one device act as another.
    let account = match account {
        Some(a) if a.device_id == device_id && a.enabled => Some(a),
        Some(a) => {
            tracing::warn!(
                device = %device_id,
                auth_name = ?loc_name,
                account_device = %a.device_id,
                "refused: the auth name belongs to another device (or the account is disabled)"
            );
            None
        }
        None => None,
    };
    let now = now_ms();
    let (account, enrol, known) = match (account, &state.config.enrolment) {
        (Some(a), _) => (a, None, true),
        (None, EnrolmentPolicy::Secret { secret }) if !device_id.is_empty() => {
            let name = loc_name.clone().unwrap_or_else(|| device_id.clone());
            let client_auth = match decoded.hdr.cred.as_ref().and_then(|c| c.meta.as_ref()) {
                _ if msg.hmac.is_some() => AuthType::Hmac,
                Some(m) if m.r#type.as_deref() == Some("syncml:auth-basic") => AuthType::Basic,
                _ => AuthType::Md5,
            };
            let a = DeviceAccount::new(device_id.clone(), name, client_auth, secret, now);
            (a.clone(), Some(a), true)
        }
        (None, _) => {
            tracing::warn!(device = %device_id, auth_name = ?loc_name, peer = ?msg.peer, "unknown device refused");
            // A throw-away account whose secret nobody knows: the device gets the protocol's
            // 401/407 answer, and nothing is kept.
            let mut secret = [0u8; 16];
            rand::rng().fill_bytes(&mut secret);
            let junk: String = secret.iter().map(|x| format!("{x:02x}")).collect();
            let name = loc_name.clone().unwrap_or_else(|| device_id.clone());
            (
                DeviceAccount::new(device_id.clone(), name, AuthType::Md5, &junk, now),
                None,
                false,
            )
        }
    };
    let token = new_token();
    let client_credentials = scheme(account.client_auth).map(|s| Credentials {
        scheme: s,
        name: account.auth_name.clone(),
        secret: StoredSecret::UserHash(account.client_verifier.expose().to_owned()),
        nonce: account.client_nonce.clone(),
    });
    let server_credentials = scheme(account.server_auth).map(|s| Credentials {
        scheme: s,
        name: account
            .server_auth_name
            .clone()
            .unwrap_or_else(|| state.config.server_id.clone()),
        secret: StoredSecret::Password(account.server_secret.expose().to_owned()),
        nonce: account.server_nonce.clone(),
    });
    let mut config = ServerConfig::new(state.config.server_id.clone());
    config.max_msg_size = state.config.max_msg_size;
    config.limits = syncml::Limits {
        max_size: state.config.max_body_bytes,
        ..config.limits
    };
    config.idle_timeout = state.config.session_timeout();
    config.resp_uri = Some(format!("{}/dm/s/{token}", msg.base_url));
    config.credentials = server_credentials;
    let nonces = Box::new(|buf: &mut [u8]| rand::rng().fill_bytes(buf));
    let mut session = ServerSession::new(config, client_credentials, nonces, ts);
    // HMAC needs the exact bytes and WBXML must fix the session's encoding: hand over the
    // bytes; otherwise the message decoded above.
    let fed = if msg.hmac.is_some() || msg.encoding == Encoding::Wbxml {
        session.handle_bytes(ts, &msg.body, msg.hmac.as_deref())
    } else {
        session.handle_message(ts, decoded)
    };
    if fed.is_err() {
        return Err(Outgoing::Malformed);
    }
    let is_1200 = session_id_matches_notification(state, &device_id, &session_id);
    if is_1200 {
        tracing::info!(device = %device_id, %session_id, "session answers our notification");
    }
    let record = SessionRecord {
        device_id: device_id.clone(),
        ..SessionRecord::default()
    };
    Ok(Box::new(Live {
        session,
        device_id,
        token,
        session_id,
        last_active: Instant::now(),
        peer: msg.peer,
        record,
        enrol,
        known,
        authenticated: false,
        jobs_taken: false,
        jobs: Vec::new(),
        handles: HashMap::new(),
        ended: None,
    }))
}

/// True (and forgotten) when `session_id` is the one of the last Package 0 sent to the device.
fn session_id_matches_notification(state: &AppState, device_id: &str, session_id: &str) -> bool {
    let Ok(mut map) = state.notified.lock() else {
        return false;
    };
    match map.get(device_id) {
        Some(id)
            if syncml::notification::session_id_to_hex(*id).eq_ignore_ascii_case(session_id) =>
        {
            map.remove(device_id);
            true
        }
        _ => false,
    }
}

/// Applies the session's events: store work that must happen now (enrolment, taking jobs),
/// everything else collected for the session's record.
async fn drain(state: &Arc<AppState>, live: &mut Live) -> Result<(), Outgoing> {
    while let Some(ev) = live.session.poll_event() {
        match ev {
            ServerEvent::NonceIssued(n) => live.record.nonces.client = Some(n),
            ServerEvent::NonceReceived(n) => live.record.nonces.server = Some(n),
            ServerEvent::DevInfo(items) => {
                let map = items
                    .iter()
                    .filter_map(|i| {
                        let uri = &i.source.as_ref()?.loc_uri;
                        let leaf = uri.rsplit('/').next().unwrap_or(uri);
                        let value = i.data.as_ref().and_then(|d| d.as_str()).unwrap_or("");
                        Some((leaf.to_owned(), value.to_owned()))
                    })
                    .collect();
                live.record.registry.devinfo = Some(map);
            }
            ServerEvent::Alert(a) => push_events(live, &a),
            ServerEvent::Results {
                handle,
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
                    live.record.tree_values.push(TreeValue {
                        path: it.path.clone(),
                        format: it.format.clone(),
                        mime_type: it.mime_type.clone(),
                        value: it.data.clone(),
                        updated_at: at,
                    });
                }
                if let Some(r) = job_result(live, handle, &path) {
                    r.items.extend(items);
                }
            }
            ServerEvent::Status {
                handle,
                path,
                code,
                status,
            } => {
                if let Some(r) = job_result(live, handle, &path) {
                    r.status = code.0;
                    r.cmd_id = status.cmd_ref.parse().ok();
                    // Items of a Status carry data of the command's own (an Exec's output):
                    // kept as result items, addressed by the command's target if the item
                    // names none.
                    r.items.extend(status_items(&status));
                }
            }
            ServerEvent::Ended(how) => {
                live.ended = Some(how);
                match how {
                    SessionEnd::PeerAuthFailed => tracing::warn!(
                        device = %live.device_id, peer = ?live.peer,
                        "session ended: the device failed to authenticate"
                    ),
                    SessionEnd::AuthFailed => tracing::warn!(
                        device = %live.device_id,
                        "session ended: the device refused the server's credentials"
                    ),
                    _ => tracing::debug!(device = %live.device_id, end = ?how, "session ended"),
                }
            }
            _ => {}
        }
    }
    if live.known && !live.authenticated && live.ended.is_none() && live.session.is_authenticated()
    {
        on_authenticated(state, live).await?;
    }
    Ok(())
}

/// The device proved its credentials (or needs none): enrol it if it is new, send its jobs.
async fn on_authenticated(state: &Arc<AppState>, live: &mut Live) -> Result<(), Outgoing> {
    live.authenticated = true;
    if let Some(account) = live.enrol.take() {
        match state.store.create_device(&account).await {
            Ok(()) => tracing::info!(device = %live.device_id, "device enrolled"),
            Err(e) => {
                tracing::warn!(device = %live.device_id, error = %e, "enrolment failed");
                live.known = false;
                live.authenticated = false;
                live.session.abort();
                return Ok(());
            }
        }
    }
    take_jobs(state, live).await
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

fn push_events(live: &mut Live, a: &Alert) {
    let at = now_ms();
    let base = NewEvent {
        device_id: live.device_id.clone(),
        at,
        alert_code: a.code.0,
        correlator: a.correlator.clone(),
        ..NewEvent::default()
    };
    if a.items.is_empty() {
        live.record.events.push(base);
        return;
    }
    for i in &a.items {
        let meta = i.meta.as_ref();
        live.record.events.push(NewEvent {
            alert_type: meta.and_then(|m| m.r#type.clone()),
            format: meta.and_then(|m| m.format.clone()),
            mark: meta.and_then(|m| m.mark.clone()),
            source_uri: i.source.as_ref().map(|l| l.loc_uri.clone()),
            data: i.data.as_ref().and_then(|d| d.as_str()).map(str::to_owned),
            ..base.clone()
        });
    }
    if a.code == AlertCode::GENERIC_ALERT {
        tracing::debug!(device = %live.device_id, items = a.items.len(), "generic alert stored");
    }
}

fn job_result<'a>(
    live: &'a mut Live,
    handle: CommandHandle,
    path: &[usize],
) -> Option<&'a mut CommandResult> {
    let &(job_idx, top) = live.handles.get(&handle)?;
    let job = live.jobs.get_mut(job_idx)?;
    let index = preorder(job.commands.get(top)?, *job.top_index.get(top)?, path)?;
    Some(job.results.entry(index).or_insert_with(|| CommandResult {
        index,
        completed_at: now_ms(),
        ..CommandResult::default()
    }))
}

/// Takes the device's queued jobs and queues their commands in the session (once).
async fn take_jobs(state: &Arc<AppState>, live: &mut Live) -> Result<(), Outgoing> {
    if live.jobs_taken {
        return Ok(());
    }
    live.jobs_taken = true;
    let jobs = state
        .store
        .take_queued_jobs(&live.device_id, &live.token, JOBS_PER_SESSION, now_ms())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, device = %live.device_id, "store failure taking jobs");
            Outgoing::Failure
        })?;
    for job in jobs {
        let job_idx = live.jobs.len();
        let mut top_index = Vec::with_capacity(job.commands.len());
        let mut next = 0u32;
        for (top, cmd) in job.commands.iter().enumerate() {
            top_index.push(next);
            next += u32::try_from(crate::commands::count(std::slice::from_ref(cmd))).unwrap_or(0);
            let handle = live.session.queue(crate::commands::to_syncml(cmd));
            live.handles.insert(handle, (job_idx, top));
        }
        tracing::debug!(job = job.id, device = %live.device_id, "job sent");
        live.jobs.push(TakenJob {
            id: job.id,
            total: crate::commands::count(&job.commands),
            commands: job.commands,
            top_index,
            results: BTreeMap::new(),
        });
    }
    Ok(())
}

/// Ends a session's life in the server: writes its record, re-queues unanswered jobs.
async fn finish(state: &Arc<AppState>, mut live: Box<Live>) {
    state.sessions.forget(&live);
    if !live.known {
        return;
    }
    let now = now_ms();
    let mut incomplete = false;
    for job in std::mem::take(&mut live.jobs) {
        let complete =
            job.results.len() >= job.total && job.results.values().all(|r| r.status != 0);
        incomplete |= !complete;
        if job.results.is_empty() {
            continue;
        }
        live.record.job_results.push(JobResults {
            job_id: job.id,
            results: job
                .results
                .into_values()
                .filter(|r| r.status != 0)
                .collect(),
            complete: complete.then_some(JobState::Done),
        });
    }
    if live.authenticated {
        live.record.registry.last_contact = Some(now);
        live.record.registry.last_addr = live.peer.map(|p| p.to_string());
        live.record.registry.last_session_id = Some(live.session_id.clone());
    } else {
        // Unauthenticated: only the nonce we issued is kept (the device will use it next).
        live.record.registry = Default::default();
        live.record.tree_values.clear();
        live.record.events.clear();
        live.record.nonces.server = None;
    }
    let r = &live.record;
    let empty = r.registry == Default::default()
        && r.nonces == Default::default()
        && r.tree_values.is_empty()
        && r.job_results.is_empty()
        && r.events.is_empty();
    if !empty && let Err(e) = state.store.record_session(&live.record).await {
        tracing::error!(error = %e, device = %live.device_id, "store failure recording a session");
    }
    if incomplete {
        match state
            .store
            .requeue_unanswered(&RequeueScope::Session(live.token.clone()), now)
            .await
        {
            Ok(jobs) if !jobs.is_empty() => tracing::info!(
                device = %live.device_id,
                jobs = jobs.len(),
                "unanswered jobs queued again"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "store failure re-queueing jobs"),
        }
    }
}

/// Ends sessions idle past the timeout.
pub(crate) async fn expire_idle(state: &Arc<AppState>) {
    let expired = state.sessions.take_expired(Instant::now());
    let ts = timestamp();
    for mut live in expired {
        live.session.handle_timeout(ts);
        let _ = drain(state, &mut live).await;
        tracing::debug!(device = %live.device_id, "session timed out");
        finish(state, live).await;
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
