//! One DM device: its management tree and its account with one DM server, and the running of
//! sessions with that server. The agent ([`crate::Agent`]) wraps one; the simulator (`dm-sim`)
//! runs thousands in one process.
//!
//! In: an [`Account`] (server URL and id, credentials both ways, encoding, limits), the system
//! facts for DevInfo/DevDetail, or a tree snapshot. Out: sessions run to their end
//! ([`Device::run_session`]), a tree whose DMAcc `AAuthData` nodes hold the nonces of both
//! directions after every session, snapshot bytes for persistence.
//!
//! Credentials come from the account (the configuration); the tree's DMAcc mirrors them (the
//! server may read it) and stores the nonces.

use std::time::{Duration, SystemTime};

use dm_proto::{
    AuthScheme, ClientConfig, ClientSession, Credentials, GenericAlert, Initiator, StoredSecret,
};
use dm_tree::mo::{devdetail, devinfo, dmacc};
use dm_tree::{ExecContext, Tree};
use syncml::{Command, Encoding};

use crate::Error;
use crate::config::{AuthType, Config};
use crate::device_info::SystemFacts;
use crate::session::{self, Executor, SessionReport};

/// Name of the account node the device installs under `./DMAcc`.
pub const ACCOUNT_NODE: &str = "DMServer";

/// One direction of authentication: scheme, name, secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSpec {
    /// The scheme; [`AuthType::None`] turns the direction off.
    pub auth_type: AuthType,
    /// The name in the credentials.
    pub name: String,
    /// The password.
    pub secret: String,
}

/// The device's account with its DM server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The DM endpoint URL.
    pub server_url: String,
    /// The server identifier.
    pub server_id: String,
    /// `./DevInfo/DevId` and `SyncHdr/Source/LocURI`.
    pub device_id: String,
    /// What the device presents.
    pub client_auth: AuthSpec,
    /// What the server must present (its secret also keys Package 0).
    pub server_auth: AuthSpec,
    /// Message encoding.
    pub encoding: Encoding,
    /// Largest message the device accepts.
    pub max_msg_size: usize,
    /// Largest object the device accepts.
    pub max_obj_size: usize,
    /// How long the device waits for the server within a session.
    pub idle_timeout: Duration,
}

impl Account {
    /// The account of the device with the gateway it registers with (`config.gateway`), if
    /// any: same device id, encoding and limits, the gateway's URL, id and credentials.
    #[must_use]
    pub fn for_gateway(config: &Config, device_id: &str) -> Option<Account> {
        let g = config.gateway.as_ref()?;
        let mut a = Account::from_config(config, device_id);
        a.server_url.clone_from(&g.url);
        a.server_id.clone_from(&g.server_id);
        a.client_auth = AuthSpec {
            auth_type: g.client_auth.auth_type,
            name: g.client_auth.name.clone(),
            secret: g.client_auth.secret.clone(),
        };
        a.server_auth = AuthSpec {
            auth_type: g.server_auth.auth_type,
            name: g
                .server_auth
                .name
                .clone()
                .unwrap_or_else(|| g.server_id.clone()),
            secret: g.server_auth.secret.clone(),
        };
        Some(a)
    }

    /// The account a [`Config`] describes, for the device `device_id`.
    #[must_use]
    pub fn from_config(config: &Config, device_id: &str) -> Account {
        Account {
            server_url: config.server_url.clone(),
            server_id: config.server_id.clone(),
            device_id: device_id.to_owned(),
            client_auth: AuthSpec {
                auth_type: config.client_auth.auth_type,
                name: config.client_auth.name.clone(),
                secret: config.client_auth.secret.clone(),
            },
            server_auth: AuthSpec {
                auth_type: config.server_auth.auth_type,
                name: config.server_auth_name().to_owned(),
                secret: config.server_auth.secret.clone(),
            },
            encoding: config.encoding.into(),
            max_msg_size: config.max_msg_size as usize,
            max_obj_size: config.max_obj_size as usize,
            idle_timeout: Duration::from_secs(config.http_timeout_secs.max(1)),
        }
    }
}

/// What starts a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The device on its own (Alert 1201): at start, on the timer, on demand.
    Client,
    /// A verified Package 0 (Alert 1200) with its session id.
    Server {
        /// The 16-bit session id of the notification.
        session_id: u16,
    },
}

/// The DMAcc `AAuthType` text of a scheme.
fn aauth_type(t: AuthType) -> &'static str {
    match t {
        AuthType::Basic => "BASIC",
        AuthType::Md5 => "DIGEST",
        AuthType::Hmac => "HMAC",
        AuthType::None => "NONE",
    }
}

fn scheme(t: AuthType) -> Option<AuthScheme> {
    match t {
        AuthType::Basic => Some(AuthScheme::Basic),
        AuthType::Md5 => Some(AuthScheme::Md5),
        AuthType::Hmac => Some(AuthScheme::Hmac),
        AuthType::None => None,
    }
}

/// Seconds since the Unix epoch, for node time stamps.
pub(crate) fn tree_now() -> dm_tree::Timestamp {
    dm_tree::Timestamp(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

/// The nonces stored in the tree for the account with `server_id`: (client credentials'
/// nonce, server credentials' nonce); empty when there is no such account.
#[must_use]
pub fn stored_nonces(tree: &Tree, server_id: &str) -> (Vec<u8>, Vec<u8>) {
    let Some(acc) = dmacc::find_by_server_id(tree, server_id) else {
        return (Vec::new(), Vec::new());
    };
    let get = |a: Option<&dmacc::AppAuth>| a.map(|a| a.data.clone()).unwrap_or_default();
    (
        get(acc.account.client_cred()),
        get(acc.account.server_cred()),
    )
}

/// (Re)installs the DMAcc account of `account` in `tree` as `./DMAcc/<node>`, keeping the
/// nonces already stored for its server.
///
/// # Errors
/// [`Error::Tree`] when the account cannot be written (e.g. a server id unusable in an ACL).
pub fn install_account(
    tree: &mut Tree,
    account: &Account,
    node: &str,
    now: dm_tree::Timestamp,
) -> Result<(), Error> {
    let (client_nonce, server_nonce) = stored_nonces(tree, &account.server_id);
    if let Some(old) = dmacc::find_by_server_id(tree, &account.server_id) {
        tree.remove(&old.uri.to_absolute_string(), now)?;
    }
    let acc = dmacc::DmAccount {
        server_id: account.server_id.clone(),
        name: Some(account.server_id.clone()),
        addr: account.server_url.clone(),
        addr_type: "URI".to_owned(),
        port: None,
        auth_pref: Some(aauth_type(account.client_auth.auth_type).to_owned()),
        auths: vec![
            dmacc::AppAuth {
                level: dmacc::AuthLevel::ClCred,
                auth_type: aauth_type(account.client_auth.auth_type).to_owned(),
                name: account.client_auth.name.clone(),
                secret: account.client_auth.secret.clone(),
                data: client_nonce,
            },
            dmacc::AppAuth {
                level: dmacc::AuthLevel::SrvCred,
                auth_type: aauth_type(account.server_auth.auth_type).to_owned(),
                name: account.server_auth.name.clone(),
                secret: account.server_auth.secret.clone(),
                data: server_nonce,
            },
        ],
    };
    dmacc::install(tree, dmacc::DEFAULT_PARENT, node, &acc, now)?;
    Ok(())
}

/// Installs (or refreshes) DevInfo and DevDetail from `facts`.
fn install_device_mos(tree: &mut Tree, facts: &SystemFacts) -> Result<(), Error> {
    let now = tree_now();
    devinfo::install(
        tree,
        &devinfo::DevInfo {
            dev_id: facts.dev_id.clone(),
            man: facts.manufacturer.clone(),
            model: facts.model.clone(),
            dm_v: facts.dm_version.clone(),
            lang: facts.lang.clone(),
        },
        now,
    )?;
    devdetail::install(
        tree,
        &devdetail::DevDetail {
            dev_typ: facts.dev_type.clone(),
            oem: facts.oem.clone(),
            fw_v: facts.fw_version.clone(),
            sw_v: facts.sw_version.clone(),
            hw_v: facts.hw_version.clone(),
            lrg_obj: true,
            uri_limits: devdetail::uri_limits(tree),
        },
        now,
    )?;
    Ok(())
}

/// A device: tree + account.
pub struct Device {
    account: Account,
    tree: Tree,
    /// Copies of the DMAcc `AAuthData` nonces (CLCRED, SRVCRED): the tree is only written when
    /// they change, and sessions do not search the tree for them.
    nonces: (Vec<u8>, Vec<u8>),
    /// Execute server commands on a blocking thread (Exec handlers that run processes).
    blocking_exec: bool,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("device_id", &self.account.device_id)
            .field("server_id", &self.account.server_id)
            .field("nodes", &self.tree.len())
            .finish_non_exhaustive()
    }
}

impl Device {
    /// A fresh device: DevInfo/DevDetail from `facts` (its `dev_id` is replaced by the account's
    /// device id), DMAcc from `account`.
    ///
    /// # Errors
    /// [`Error::Tree`] when the standard MOs cannot be installed (e.g. a server id that cannot
    /// appear in an ACL).
    pub fn build(account: Account, facts: &SystemFacts) -> Result<Device, Error> {
        Device::from_tree(account, Tree::new(), facts)
    }

    /// A device restored from a snapshot (from [`Device::snapshot`]); DevInfo/DevDetail are
    /// refreshed from `facts`, the DMAcc account from `account` (stored nonces are kept).
    ///
    /// # Errors
    /// [`Error::Tree`] for a corrupt snapshot or as in [`Device::build`].
    pub fn restore(
        account: Account,
        snapshot: &[u8],
        facts: &SystemFacts,
    ) -> Result<Device, Error> {
        let tree = dm_tree::snapshot::decode(snapshot)?;
        Device::from_tree(account, tree, facts)
    }

    fn from_tree(account: Account, mut tree: Tree, facts: &SystemFacts) -> Result<Device, Error> {
        let mut facts = facts.clone();
        facts.dev_id.clone_from(&account.device_id);
        install_device_mos(&mut tree, &facts)?;
        install_account(&mut tree, &account, ACCOUNT_NODE, tree_now())?;
        let nonces = stored_nonces(&tree, &account.server_id);
        Ok(Device {
            account,
            tree,
            nonces,
            blocking_exec: false,
        })
    }

    /// The account.
    #[must_use]
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The tree.
    #[must_use]
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The tree, for local changes (adding nodes, registering Exec handlers).
    pub fn tree_mut(&mut self) -> &mut Tree {
        &mut self.tree
    }

    /// Runs server commands on a blocking thread (needed when Exec handlers block, as the
    /// agent's shell commands do).
    pub fn set_blocking_exec(&mut self, on: bool) {
        self.blocking_exec = on;
    }

    /// The snapshot bytes of the tree.
    #[must_use]
    pub fn snapshot(&self) -> Vec<u8> {
        self.tree.snapshot()
    }

    /// The nonce the server's credentials (and Package 0 digests) must currently use.
    #[must_use]
    pub fn server_nonce(&self) -> Vec<u8> {
        self.nonces.1.clone()
    }

    /// Runs one session with the server to its end, the `alerts` going out in Package 1, and
    /// stores the nonces the session exchanged in the tree.
    ///
    /// # Errors
    /// As [`session::drive`]. Nonces that arrived before a failure are stored all the same.
    pub async fn run_session(
        &mut self,
        http: &reqwest::Client,
        trigger: Trigger,
        alerts: &[GenericAlert],
    ) -> Result<SessionReport, Error> {
        let account = self.account.clone();
        self.run_session_as(http, &account, trigger, alerts).await
    }

    /// Runs one session to its end with the server of `account` (another account than the
    /// device's own, e.g. the gateway it registers with, installed with
    /// [`Device::install_account`]), on the same tree, and stores the nonces it exchanged in
    /// that account's DMAcc.
    ///
    /// # Errors
    /// As [`Device::run_session`].
    pub async fn run_session_as(
        &mut self,
        http: &reqwest::Client,
        account: &Account,
        trigger: Trigger,
        alerts: &[GenericAlert],
    ) -> Result<SessionReport, Error> {
        let own = account.server_id == self.account.server_id;
        let nonces = if own {
            self.nonces.clone()
        } else {
            stored_nonces(&self.tree, &account.server_id)
        };
        let config = client_config(account, &nonces);
        let (initiator, session_id) = initiator(trigger);
        let server_auth_off = config.server_credentials.is_none();
        let mut session = ClientSession::new(
            config,
            initiator,
            session_id,
            devinfo::items(&self.tree),
            Box::new(|buf: &mut [u8]| rand::fill(buf)),
            dm_proto::Timestamp::ZERO,
        );
        for alert in alerts {
            session.queue_generic_alert(alert);
        }
        let idle = account.idle_timeout;
        let limit =
            session::response_limit(account.max_msg_size, syncml::Limits::default().max_size);
        let http_result = {
            let mut executor = TreeExecutor {
                device: self,
                server_id: account.server_id.clone(),
            };
            session::drive(http, &mut session, &mut executor, idle, limit).await
        };
        let mut report = http_result?;
        report.server_authenticated |= server_auth_off;
        if own {
            self.store_nonces(&report)?;
        } else {
            record_nonces(&mut self.tree, &account.server_id, &report, tree_now())?;
        }
        Ok(report)
    }

    /// Installs another account (`./DMAcc/<node>`) in the tree, e.g. the gateway the device
    /// registers with; its stored nonces are kept.
    ///
    /// # Errors
    /// [`Error::Tree`].
    pub fn install_account(&mut self, account: &Account, node: &str) -> Result<(), Error> {
        install_account(&mut self.tree, account, node, tree_now())
    }

    fn store_nonces(&mut self, report: &SessionReport) -> Result<(), Error> {
        let id = self.account.server_id.clone();
        self.nonces = record_nonces(&mut self.tree, &id, report, tree_now())?;
        Ok(())
    }
}

/// The `ClientSession` configuration of `account`, with the stored `nonces` (CLCRED,
/// SRVCRED) from [`stored_nonces`].
#[must_use]
pub fn client_config(account: &Account, nonces: &(Vec<u8>, Vec<u8>)) -> ClientConfig {
    let a = account;
    let mut config = ClientConfig::new(a.server_url.clone(), a.device_id.clone());
    config.encoding = a.encoding;
    config.max_msg_size = a.max_msg_size;
    config.max_obj_size = a.max_obj_size;
    config.idle_timeout = a.idle_timeout;
    config.credentials = scheme(a.client_auth.auth_type).map(|scheme| Credentials {
        scheme,
        name: a.client_auth.name.clone(),
        secret: StoredSecret::Password(a.client_auth.secret.clone()),
        nonce: nonces.0.clone(),
    });
    config.server_credentials = scheme(a.server_auth.auth_type).map(|scheme| Credentials {
        scheme,
        name: a.server_auth.name.clone(),
        secret: StoredSecret::Password(a.server_auth.secret.clone()),
        nonce: nonces.1.clone(),
    });
    config
}

/// The initiator and session id of a session `trigger` starts (a fresh random id for a
/// client-initiated one).
#[must_use]
pub fn initiator(trigger: Trigger) -> (Initiator, u16) {
    match trigger {
        Trigger::Client => (Initiator::Client, rand::random_range(1..=u16::MAX)),
        Trigger::Server { session_id } => (Initiator::Server, session_id),
    }
}

/// Stores in `tree`'s DMAcc for `server_id` the nonces a session exchanged (`report`), and
/// returns the nonces now stored (CLCRED, SRVCRED). The server's commands may have replaced an
/// `AAuthData` node themselves: what the tree holds is read back first.
///
/// # Errors
/// [`Error::Tree`] when a nonce cannot be written.
pub fn record_nonces(
    tree: &mut Tree,
    server_id: &str,
    report: &SessionReport,
    now: dm_tree::Timestamp,
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let mut nonces = stored_nonces(tree, server_id);
    if let Some(n) = report.client_nonce.as_ref().filter(|n| **n != nonces.0) {
        dmacc::set_nonce(tree, server_id, &dmacc::AuthLevel::ClCred, n, now)?;
        nonces.0.clone_from(n);
    }
    if let Some(n) = report.server_nonce.as_ref().filter(|n| **n != nonces.1) {
        dmacc::set_nonce(tree, server_id, &dmacc::AuthLevel::SrvCred, n, now)?;
        nonces.1.clone_from(n);
    }
    Ok(nonces)
}

/// Executes server commands against the device's tree.
struct TreeExecutor<'a> {
    device: &'a mut Device,
    /// The server whose commands these are (ACL principal).
    server_id: String,
}

fn execute_all(tree: &mut Tree, server_id: &str, msg_id: &str, cmds: &[Command]) -> Vec<Command> {
    let ctx = ExecContext {
        server_id,
        msg_id,
        now: tree_now(),
    };
    cmds.iter().flat_map(|c| tree.execute(&ctx, c)).collect()
}

impl Executor for TreeExecutor<'_> {
    async fn execute(&mut self, msg_id: String, cmds: Vec<Command>) -> Result<Vec<Command>, Error> {
        let server_id = self.server_id.clone();
        if !self.device.blocking_exec {
            return Ok(execute_all(
                &mut self.device.tree,
                &server_id,
                &msg_id,
                &cmds,
            ));
        }
        // A panicking handler must not cost the tree: keep a snapshot to fall back on.
        let before = self.device.tree.snapshot();
        let mut tree = std::mem::take(&mut self.device.tree);
        let joined = tokio::task::spawn_blocking(move || {
            let out = execute_all(&mut tree, &server_id, &msg_id, &cmds);
            (tree, out)
        })
        .await;
        match joined {
            Ok((tree, out)) => {
                self.device.tree = tree;
                Ok(out)
            }
            Err(e) => {
                let mut tree = dm_tree::snapshot::decode(&before)?;
                std::mem::swap(&mut self.device.tree, &mut tree);
                // The Exec handlers live in the lost tree: the owner must register them again.
                Err(Error::Executor {
                    reason: e.to_string(),
                })
            }
        }
    }
}
