//! The gateway as the DM server of its End Devices: a [`dm_host::Backend`] over the gateway's
//! accounts, inventory and Fanout operations.
//!
//! - Registration (seed 001 X.1): a Proxy-mode device registers implicitly by opening an
//!   authenticated session (its package 1 DevInfo fills the record); a Transparent-mode device
//!   registers explicitly with the Device Registration Alert (docs/gateway.md §3) in such a
//!   session. The mode is the gateway's rules' choice (GwMO-MOO-001). A sender that does not
//!   authenticate registers nothing (the host keeps nothing for it).
//! - Proxy mode (GwMO-PMode-001/003): the commands of every running operation the device is
//!   in flight for go out in its session; its Statuses and Results come back with their
//!   `CmdRef`s mapped onto the operation's command fragment and are stored as its response.

use std::sync::Arc;

use dm_host::{Account, Backend, Claim, End, Ending, Event, Opened, SessionInfo};
use dm_proto::{AuthScheme, Credentials, SessionEnd, StoredSecret};
use gwmo::inventory::{DevInfoSummary, Kind, Protocol, Registration};
use gwmo::mode::{DeviceFacts, Mode};
use gwmo::payload::{AlertPayload, RegistrationRequest};
use syncml::{Command, Item};

use crate::state::{Shared, lock, unix_now};
use crate::store::DeviceAccount;

/// The backend of the southbound host.
#[derive(Debug, Clone)]
pub(crate) struct South {
    pub(crate) shared: Arc<Shared>,
}

/// One authenticated southbound session.
#[derive(Debug, Default)]
pub(crate) struct SouthSession {
    /// The operations whose commands went out, with how many top-level commands each.
    ops: Vec<(String, Vec<Command>)>,
    /// Per operation (same order): the device's Statuses and Results, CmdRefs mapped.
    answers: Vec<Vec<Command>>,
    dev_info: Option<DevInfoSummary>,
    registration: Option<RegistrationRequest>,
    registered: bool,
}

fn scheme(name: &str) -> Option<AuthScheme> {
    match name {
        "basic" => Some(AuthScheme::Basic),
        "md5" => Some(AuthScheme::Md5),
        "hmac" => Some(AuthScheme::Hmac),
        _ => None,
    }
}

/// The scheme name stored for a dm-client [`dm_client::config::AuthType`].
pub(crate) fn scheme_name(t: dm_client::config::AuthType) -> &'static str {
    match t {
        dm_client::config::AuthType::Basic => "basic",
        dm_client::config::AuthType::Md5 => "md5",
        dm_client::config::AuthType::Hmac => "hmac",
        dm_client::config::AuthType::None => "none",
    }
}

impl South {
    fn host_account(&self, a: &DeviceAccount) -> Account {
        let south = &self.shared.config.southbound;
        Account {
            device_id: a.device_id.clone(),
            client: scheme(&a.client_auth).map(|s| Credentials {
                scheme: s,
                name: a.auth_name.clone(),
                secret: StoredSecret::UserHash(a.client_verifier.clone()),
                nonce: a.client_nonce.clone(),
            }),
            server: Some(Credentials {
                scheme: AuthScheme::Md5,
                name: south.server_id.clone(),
                secret: StoredSecret::Password(a.server_secret.clone()),
                nonce: a.server_nonce.clone(),
            }),
            provisional: false,
        }
    }

    /// The account of an unknown device that presents the enrolment secret.
    fn enrolling(&self, claim: &Claim<'_>) -> Option<Account> {
        let south = &self.shared.config.southbound;
        let secret = south.enrolment_secret.as_ref()?;
        if gwmo::inventory::check_device_id(claim.device_id, 256).is_err() {
            return None;
        }
        let name = claim.auth_name.unwrap_or(claim.device_id).to_owned();
        let scheme = claim.offered.unwrap_or(AuthScheme::Md5);
        Some(Account {
            device_id: claim.device_id.to_owned(),
            client: Some(Credentials {
                scheme,
                name,
                secret: StoredSecret::Password(secret.clone()),
                nonce: Vec::new(),
            }),
            server: Some(Credentials {
                scheme: AuthScheme::Md5,
                name: south.server_id.clone(),
                secret: StoredSecret::Password(
                    south
                        .enrolment_server_secret
                        .clone()
                        .unwrap_or_else(|| secret.clone()),
                ),
                nonce: Vec::new(),
            }),
            provisional: true,
        })
    }

    /// Registers (or renews) the device in the inventory (X.1-X.2).
    fn register(&self, device: &str, state: &mut SouthSession, peer: Option<std::net::SocketAddr>) {
        let now = self.shared.now();
        let unix = unix_now();
        let mut d = lock(&self.shared.directory);
        let dev_info = state.dev_info.clone();
        // A session without a registration alert is an implicit Proxy-mode registration (the
        // device uses the gateway as its DM server); an explicit one asks for its mode.
        let requested = match &state.registration {
            Some(r) => r.mode,
            None => Some(Mode::Proxy),
        };
        let facts = DeviceFacts {
            id: device,
            kind: Kind::EndDevice,
            protocol: Protocol::OmaDm,
            man: dev_info.as_ref().map(|i| i.man.as_str()),
            model: dev_info.as_ref().map(|i| i.model.as_str()),
        };
        let mode = d.rules.choose(&facts, requested);
        if requested == Some(Mode::Transparent) && mode != Mode::Transparent {
            tracing::info!(device = %dm_host::log::Untrusted(device), "Transparent mode asked for, the rules give {}", mode.as_str());
        }
        let addresses = state
            .registration
            .as_ref()
            .map(|r| r.addresses.clone())
            .filter(|a| !a.is_empty());
        let reg = Registration {
            id: device.to_owned(),
            kind: Kind::EndDevice,
            mode,
            protocol: Protocol::OmaDm,
            addresses,
            lease: state.registration.as_ref().and_then(|r| r.lease),
            dev_info,
            servers: state
                .registration
                .as_ref()
                .map(|r| r.servers.clone())
                .filter(|s| !s.is_empty()),
        };
        match d.inventory.register(now, unix, reg) {
            Ok(how) => {
                tracing::debug!(device = %dm_host::log::Untrusted(device), ?how, ?peer, mode = mode.as_str(), "device registered")
            }
            Err(e) => {
                tracing::warn!(device = %dm_host::log::Untrusted(device), error = %e, "registration refused")
            }
        }
        state.registered = true;
        drop(d);
        self.shared.timer_wake.notify_one();
    }
}

fn dev_info(items: &[Item]) -> DevInfoSummary {
    let mut s = DevInfoSummary::default();
    for i in items {
        let Some(uri) = i.source.as_ref().map(|l| l.loc_uri.as_str()) else {
            continue;
        };
        let value = i
            .data
            .as_ref()
            .and_then(|d| d.as_str())
            .unwrap_or("")
            .chars()
            .take(256)
            .collect::<String>();
        match uri.rsplit('/').next().unwrap_or("") {
            "Man" => s.man = value,
            "Mod" => s.model = value,
            "DmV" => s.dm_v = value,
            "Lang" => s.lang = value,
            _ => {}
        }
    }
    s
}

/// The CmdID, in the operation's fragment, of the command at `path` below top-level command
/// `top`.
fn fragment_cmd_id(commands: &[Command], top: usize, path: &[usize]) -> Option<String> {
    let mut cmd = commands.get(top)?;
    for &i in path {
        cmd = match cmd {
            Command::Atomic(c) | Command::Sequence(c) => c.commands.get(i)?,
            _ => return None,
        };
    }
    Some(cmd.cmd_id().to_owned())
}

impl SouthSession {
    /// The operation and the index of its top-level command for the host's command index.
    fn locate(&self, mut command: usize) -> Option<(usize, usize)> {
        for (k, (_, cmds)) in self.ops.iter().enumerate() {
            if command < cmds.len() {
                return Some((k, command));
            }
            command -= cmds.len();
        }
        None
    }

    fn record(&mut self, command: usize, path: &[usize], mut answer: Command) {
        let Some((k, top)) = self.locate(command) else {
            return;
        };
        let Some(id) = self
            .ops
            .get(k)
            .and_then(|(_, cmds)| fragment_cmd_id(cmds, top, path))
        else {
            return;
        };
        match &mut answer {
            Command::Status(s) => {
                s.cmd_ref = id;
                s.msg_ref = String::new();
            }
            Command::Results(r) => {
                r.cmd_ref = id;
                r.msg_ref = None;
            }
            _ => return,
        }
        if let Some(list) = self.answers.get_mut(k) {
            list.push(answer);
        }
    }

    /// True when every top-level command of operation `k` has a Status.
    fn complete(&self, k: usize) -> bool {
        let (Some((_, cmds)), Some(answers)) = (self.ops.get(k), self.answers.get(k)) else {
            return false;
        };
        cmds.iter().all(|c| {
            answers
                .iter()
                .any(|a| matches!(a, Command::Status(s) if s.cmd_ref == c.cmd_id()))
        })
    }
}

impl Backend for South {
    type Session = SouthSession;

    async fn account(&self, claim: &Claim<'_>) -> Result<Option<Account>, dm_host::Error> {
        let found = self
            .shared
            .store
            .account(claim.device_id, claim.auth_name)
            .await
            .map_err(dm_host::Error::backend)?;
        Ok(match found {
            Some(a) => Some(self.host_account(&a)),
            None => self.enrolling(claim),
        })
    }

    async fn admit(
        &self,
        account: &Account,
        next_nonce: Option<&[u8]>,
    ) -> Result<bool, dm_host::Error> {
        let store = &self.shared.store;
        if account.provisional {
            let Some(client) = &account.client else {
                return Ok(false);
            };
            let StoredSecret::Password(secret) = &client.secret else {
                return Ok(false);
            };
            let server_secret = match account.server.as_ref().map(|s| &s.secret) {
                Some(StoredSecret::Password(p)) => p.clone(),
                _ => return Ok(false),
            };
            let a = DeviceAccount {
                device_id: account.device_id.clone(),
                auth_name: client.name.clone(),
                client_auth: match client.scheme {
                    AuthScheme::Basic => "basic",
                    AuthScheme::Md5 => "md5",
                    AuthScheme::Hmac => "hmac",
                }
                .to_owned(),
                client_verifier: syncml::auth::user_hash(&client.name, secret),
                server_secret,
                client_nonce: next_nonce.map(<[u8]>::to_vec).unwrap_or_default(),
                server_nonce: Vec::new(),
                notify: None,
            };
            store
                .put_account(&a)
                .await
                .map_err(dm_host::Error::backend)?;
            tracing::info!(device = %dm_host::log::Untrusted(&a.device_id), "device enrolled with the gateway");
            return Ok(true);
        }
        let (Some(client), Some(next)) = (&account.client, next_nonce) else {
            return Ok(true);
        };
        store
            .consume_client_nonce(&account.device_id, &client.nonce, next)
            .await
            .map_err(dm_host::Error::backend)
    }

    async fn authenticated(
        &self,
        session: &SessionInfo,
        _account: &Account,
    ) -> Result<Opened<SouthSession>, dm_host::Error> {
        let now = self.shared.now();
        let work = lock(&self.shared.ops).work_for(now, &session.device_id);
        self.shared.timer_wake.notify_one();
        let mut state = SouthSession::default();
        let mut commands = Vec::new();
        for (op, cmds) in work {
            commands.extend(cmds.iter().cloned());
            state.answers.push(Vec::new());
            state.ops.push((op, cmds));
        }
        if !commands.is_empty() {
            tracing::debug!(device = %dm_host::log::Untrusted(&session.device_id), commands = commands.len(), "proxied commands sent");
        }
        Ok(Opened { state, commands })
    }

    async fn events(
        &self,
        state: &mut SouthSession,
        session: &SessionInfo,
        events: Vec<Event>,
    ) -> Result<Vec<Command>, dm_host::Error> {
        let limits = syncml::Limits::default();
        for ev in events {
            match ev {
                Event::DevInfo(items) => state.dev_info = Some(dev_info(&items)),
                Event::Alert(a) => {
                    if let Ok(payloads) = gwmo::payload::read_generic_alert(&a, &limits) {
                        for p in payloads {
                            if let AlertPayload::Registration(r) = p {
                                state.registration = Some(r);
                            }
                        }
                    }
                }
                Event::Status {
                    command,
                    path,
                    status,
                    ..
                } => {
                    state.record(command, &path, Command::Status(status));
                }
                Event::Results {
                    command,
                    path,
                    results,
                } => {
                    state.record(command, &path, Command::Results(results));
                }
                _ => {}
            }
        }
        if !state.registered && (state.dev_info.is_some() || state.registration.is_some()) {
            self.register(&session.device_id, state, session.peer);
            if let Some(addr) = state
                .registration
                .as_ref()
                .and_then(|r| r.addresses.first())
            {
                let notify = crate::relay::notify_text(addr);
                self.shared
                    .store
                    .set_notify(&session.device_id, &notify)
                    .await
                    .map_err(dm_host::Error::backend)?;
            }
            self.shared.drain_inventory_events();
            self.shared.flush().await.map_err(dm_host::Error::backend)?;
        }
        Ok(Vec::new())
    }

    async fn ended(&self, state: Option<SouthSession>, session: &SessionInfo, ending: Ending) {
        let device = &session.device_id;
        if let Err(e) = self
            .shared
            .store
            .set_nonces(
                device,
                ending.client_nonce.as_deref(),
                ending.server_nonce.as_deref(),
            )
            .await
        {
            tracing::error!(error = %e, "gateway store: nonces of a device session not stored");
        }
        let now = self.shared.now();
        let mut state = state.unwrap_or_default();
        if state.registered {
            let _ = lock(&self.shared.directory)
                .inventory
                .seen(now, unix_now(), device);
        } else {
            self.register(device, &mut state, ending.peer);
        }
        let completed = matches!(ending.end, End::Session(SessionEnd::Completed));
        let mut writes = Vec::new();
        {
            let mut ops = lock(&self.shared.ops);
            for k in 0..state.ops.len() {
                let complete = completed || state.complete(k);
                let (Some((op, _)), Some(answers)) = (state.ops.get(k), state.answers.get_mut(k))
                else {
                    continue;
                };
                let answers = std::mem::take(answers);
                if let Some(w) = ops.answered(now, op, device, answers, complete) {
                    writes.push(w);
                }
            }
        }
        self.shared.queue_all(writes);
        self.shared.drain_inventory_events();
        if let Err(e) = self.shared.flush().await {
            tracing::error!(error = %e, "gateway store: a device session's results not yet stored");
        }
        self.shared.timer_wake.notify_one();
    }
}
