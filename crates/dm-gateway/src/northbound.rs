//! The gateway as a DM client of its DM servers (GwMO-ADM-001): one management tree
//! (DevInfo, DevDetail, one DMAcc per server, the GwMO objects with the inventory and the
//! Fanout operations mounted), and one session task per server.
//!
//! A session starts at start-up, when the server notifies the gateway (Package 0 by UDP,
//! HTTP or the long-poll channel, [`North::long_poll`]), when alerts are queued for the server (inventory changes,
//! completed operations: they go in package 1 and leave the outbox once the server
//! accepted the session), and on the configured interval. The server's commands run on the
//! tree with [`dm_tree::Tree::execute_deferrable`]: a `Start` Exec of a Fanout operation is
//! answered when the operation completes or its wait elapses, while the session keeps itself
//! alive (`dm-proto` holds the Status and sends keep-alives).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dm_client::Trigger;
use dm_client::device::{self, Account, AuthSpec};
use dm_client::session::{Executor, SessionReport};
use dm_proto::{ClientSession, CommandRef, GenericAlert};
use dm_tree::mo::{devdetail, devinfo};
use dm_tree::{ExecContext, Mount, PendingItem, Ticket, Tree};
use syncml::Command;
use tokio::sync::mpsc;

use crate::Error;
use crate::config::NorthServer;
use crate::fanout::{Completion, FanoutTree};
use crate::inventory::InventoryTree;
use crate::state::{Shared, lock, unix_now};

/// Name of the store value holding the tree snapshot.
const TREE_KEY: &str = "north.tree";

/// Longest a long-poll request may take (the server holds it up to 55 s by default).
const POLL_TIMEOUT: Duration = Duration::from_secs(120);

/// Longest pause between two long-polls after failures (doubling from 1 s).
const POLL_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The long-poll URL of a server: `POST /dm/wait` at the origin of its DM URL.
fn wait_url(dm_url: &str) -> Option<reqwest::Url> {
    let mut url = reqwest::Url::parse(dm_url).ok()?;
    url.set_path("/dm/wait");
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

/// A long-poll body: `<device id> "\n" <unix seconds> "\n" <32 random hex digits>`.
fn poll_body(device_id: &str, unix_secs: u64) -> String {
    let random: [u8; 16] = rand::random();
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{device_id}\n{unix_secs}\n{hex}")
}

/// Name of the store value holding the SRVCRED nonce a session handed `server_id` before the
/// tree that records it was persisted (see [`North::notified`]).
fn pending_key(server_id: &str) -> String {
    format!("north.pending-nonce.{server_id}")
}

/// Most queued alerts sent in one session.
const ALERTS_PER_SESSION: u32 = 64;

/// How long ready answers wait for a slow one before going out (`ClientConfig::answer_hold`):
/// well under a DM server's idle timeout.
const ANSWER_HOLD: Duration = Duration::from_secs(10);

/// The gateway's northbound side.
pub(crate) struct North {
    shared: Arc<Shared>,
    tree: Mutex<Tree>,
    http: reqwest::Client,
}

fn tree_now() -> dm_tree::Timestamp {
    unix_now()
}

/// The DMAcc node name of a server's account.
fn account_node(index: usize) -> String {
    format!("S{}", index + 1)
}

/// The device-side account the gateway holds with `server`.
pub(crate) fn account(shared: &Shared, server: &NorthServer) -> Account {
    let c = &shared.config;
    Account {
        server_url: server.url.clone(),
        server_id: server.server_id.clone(),
        device_id: c.device_id.clone(),
        client_auth: AuthSpec {
            auth_type: server.client_auth.auth_type,
            name: server.client_auth.name.clone(),
            secret: server.client_auth.secret.clone(),
        },
        server_auth: AuthSpec {
            auth_type: server.server_auth.auth_type,
            name: server
                .server_auth
                .name
                .clone()
                .unwrap_or_else(|| server.server_id.clone()),
            secret: server.server_auth.secret.clone(),
        },
        encoding: c.encoding.into(),
        max_msg_size: 64 * 1024,
        max_obj_size: 1024 * 1024,
        idle_timeout: Duration::from_secs(c.http_timeout_secs.max(1)),
    }
}

impl North {
    /// Builds the tree (restored from the store when a snapshot is there), installs the
    /// standard MOs, one DMAcc per server and the GwMO objects, and mounts the providers.
    ///
    /// # Errors
    /// [`Error::Tree`], [`Error::Store`], [`Error::Gwmo`].
    pub(crate) async fn new(shared: Arc<Shared>) -> Result<Arc<North>, Error> {
        let now = tree_now();
        let stored = shared.store.get_value(TREE_KEY).await?;
        let fresh = stored.is_none();
        let mut tree = match stored {
            Some(bytes) => match dm_tree::snapshot::decode(&bytes) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "stored tree unreadable: starting from a fresh one");
                    Tree::new()
                }
            },
            None => Tree::new(),
        };
        let c = &shared.config;
        devinfo::install(
            &mut tree,
            &devinfo::DevInfo {
                dev_id: c.device_id.clone(),
                man: c.manufacturer.clone(),
                model: c.model.clone(),
                dm_v: dm_client::device_info::DM_VERSION.to_owned(),
                lang: "en".to_owned(),
            },
            now,
        )?;
        let uri_limits = devdetail::uri_limits(&tree);
        devdetail::install(
            &mut tree,
            &devdetail::DevDetail {
                dev_typ: "gateway".to_owned(),
                oem: c.manufacturer.clone(),
                fw_v: env!("CARGO_PKG_VERSION").to_owned(),
                sw_v: env!("CARGO_PKG_VERSION").to_owned(),
                hw_v: std::env::consts::ARCH.to_owned(),
                lrg_obj: true,
                uri_limits,
            },
            now,
        )?;
        for (i, s) in c.servers.iter().enumerate() {
            device::install_account(&mut tree, &account(&shared, s), &account_node(i), now)?;
        }
        let ids: Vec<&str> = c.servers.iter().map(|s| s.server_id.as_str()).collect();
        gwmo::layout::install(&mut tree, &ids, now)?;
        if fresh {
            crate::gwconfig::seed(&mut tree, &shared.config, now)?;
        }
        tree.mount(
            crate::inventory::MOUNT,
            Mount::nodes(InventoryTree::new(shared.clone())),
            now,
        )?;
        let inventory_type = gwmo::mo::DEVICE_INVENTORY;
        tree.set_mime_type(
            crate::inventory::MOUNT,
            Some(inventory_type.to_owned()),
            now,
        )?;
        let acl = gwmo::layout::root_acl(&ids)?;
        tree.set_acl(crate::inventory::MOUNT, acl, now)?;
        tree.mount(
            crate::fanout::MOUNT,
            Mount::nodes(FanoutTree::new(shared.clone())),
            now,
        )?;
        tree.mount(
            crate::image::MOUNT,
            Mount::nodes(crate::image::ImageTree::new(shared.clone())),
            now,
        )?;
        tree.set_mime_type(
            crate::image::MOUNT,
            Some(gwmo::mo::IMAGE_INVENTORY.to_owned()),
            now,
        )?;
        tree.set_acl(crate::image::MOUNT, gwmo::layout::root_acl(&ids)?, now)?;
        crate::gwconfig::register_ed_trigger(&mut tree, &shared)?;
        crate::gwconfig::apply(&shared, &tree);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(shared.config.http_timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(Arc::new(North {
            shared,
            tree: Mutex::new(tree),
            http,
        }))
    }

    /// The nonce the gateway stores for `server_id`'s credentials (SRVCRED `AAuthData`): the
    /// key of its Package 0 digests and relay MACs.
    pub(crate) fn server_nonce(&self, server_id: &str) -> Vec<u8> {
        device::stored_nonces(&lock(&self.tree), server_id).1
    }

    async fn pending_nonce(&self, server_id: &str) -> Option<Vec<u8>> {
        match self.shared.store.get_value(&pending_key(server_id)).await {
            Ok(v) => v.filter(|n| !n.is_empty()),
            Err(e) => {
                tracing::error!(error = %e, "gateway store read failed");
                None
            }
        }
    }

    /// Records the nonce kept aside as the server's current one (in the tree, persisted).
    async fn promote_pending(&self, server_id: &str, nonce: &[u8]) -> Result<(), Error> {
        let snapshot = {
            let mut tree = lock(&self.tree);
            dm_tree::mo::dmacc::set_nonce(
                &mut tree,
                server_id,
                &dm_tree::mo::dmacc::AuthLevel::SrvCred,
                nonce,
                tree_now(),
            )?;
            tree.snapshot()
        };
        self.shared.store.put_value(TREE_KEY, &snapshot).await?;
        self.shared
            .store
            .put_value(&pending_key(server_id), &[])
            .await?;
        tracing::info!(server = %server_id, "the nonce handed to the server before a restart is in force");
        Ok(())
    }

    /// A Package 0 for the gateway itself: verified with the server's credentials and stored
    /// nonce (digest §2.3); a valid one starts a server-initiated session, anything else is
    /// logged and dropped.
    pub(crate) async fn notified(&self, body: &[u8], from: std::net::SocketAddr) {
        let Ok((n, _)) = syncml::notification::decode(body) else {
            tracing::warn!(%from, "malformed Package 0 dropped");
            return;
        };
        let Some(server) = self.shared.config.server(&n.server_id) else {
            tracing::warn!(%from, server = %dm_host::log::Untrusted(&n.server_id), "Package 0 from an unknown server dropped");
            return;
        };
        let verifies = |nonce: &[u8]| {
            syncml::notification::verify_with_resync(
                body,
                &server.server_id,
                &server.server_auth.secret,
                nonce,
            )
            .is_some()
        };
        if !verifies(&self.server_nonce(&server.server_id)) {
            // The server may hold the nonce a session handed it just before the gateway
            // stopped (kill -9) without recording it in the tree: it was kept aside.
            let pending = self.pending_nonce(&server.server_id).await;
            match pending {
                Some(p) if verifies(&p) => {
                    if let Err(e) = self.promote_pending(&server.server_id, &p).await {
                        tracing::error!(error = %e, "gateway store: the server's nonce not recorded");
                    }
                }
                _ => {
                    tracing::warn!(%from, server = %server.server_id, "Package 0 with a wrong digest dropped");
                    return;
                }
            }
        }
        tracing::info!(server = %server.server_id, session = n.session_id, "notified by the server");
        self.shared.trigger_north(
            &server.server_id,
            Trigger::Server {
                session_id: n.session_id,
            },
        );
    }

    /// Keeps a long-poll open to server `index` forever (docs/gateway.md §6, GwMO-HLF-001):
    /// `POST /dm/wait` with the body of [`poll_body`] and an `x-syncml-hmac` header under the
    /// gateway's client credentials and an empty nonce. A 200 answer is a Package 0 handled
    /// as if it came by HTTP (for the gateway, or, with the `X-Oma-GwMO` headers, to relay);
    /// 204 polls again at once; failures back off up to 30 s. The caller aborts the task.
    pub(crate) async fn long_poll(self: Arc<Self>, index: usize) {
        let Some(server) = self.shared.config.servers.get(index).cloned() else {
            return;
        };
        let Some(url) = wait_url(&server.url) else {
            tracing::error!(server = %server.server_id, "no long-poll URL for this server URL");
            return;
        };
        let mut backoff = Duration::from_secs(1);
        loop {
            let body = poll_body(&self.shared.config.device_id, unix_now().0);
            let mac = syncml::auth::HmacHeader::compute(
                &server.client_auth.name,
                syncml::auth::Secret::Password(&server.client_auth.secret),
                b"",
                body.as_bytes(),
            );
            let sent = self
                .http
                .post(url.clone())
                .timeout(POLL_TIMEOUT)
                .header("x-syncml-hmac", mac.to_header_value())
                .header(reqwest::header::CONTENT_TYPE, "text/plain")
                .body(body)
                .send()
                .await;
            let failure = match sent {
                Ok(resp) if resp.status() == reqwest::StatusCode::OK => {
                    let from = resp
                        .remote_addr()
                        .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
                    let header = |name: &str| {
                        resp.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let relay = header(syncml::notification::GWMO_HEADER).map(|device| {
                        dm_client::listener::Relay {
                            device,
                            mac: header(syncml::notification::RELAY_MAC_HEADER),
                        }
                    });
                    match resp.bytes().await {
                        Ok(bytes) => {
                            tracing::debug!(server = %server.server_id, "notification by long-poll");
                            let arrival = dm_client::listener::Arrival {
                                via: dm_client::listener::Via::Http,
                                from,
                                bytes: bytes.to_vec(),
                                relay,
                            };
                            crate::relay::handle(&self.shared, &self, arrival).await;
                            None
                        }
                        Err(e) => Some(e.to_string()),
                    }
                }
                Ok(resp) if resp.status() == reqwest::StatusCode::NO_CONTENT => None,
                Ok(resp) => Some(format!("status {}", resp.status())),
                Err(e) => Some(e.to_string()),
            };
            match failure {
                None => backoff = Duration::from_secs(1),
                Some(why) => {
                    tracing::warn!(server = %server.server_id, error = %why, "long-poll failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(POLL_BACKOFF_MAX);
                }
            }
        }
    }

    /// Runs the sessions with server `index` forever (the caller aborts the task).
    pub(crate) async fn serve(
        self: Arc<Self>,
        index: usize,
        mut triggers: mpsc::UnboundedReceiver<Trigger>,
        mut completions: mpsc::UnboundedReceiver<Completion>,
    ) {
        let Some(server) = self.shared.config.servers.get(index).cloned() else {
            return;
        };
        let interval = (self.shared.config.session_interval_secs > 0)
            .then(|| Duration::from_secs(self.shared.config.session_interval_secs));
        let mut next = Some(Trigger::Client);
        loop {
            let trigger = match next.take() {
                Some(t) => t,
                None => {
                    let wait = async {
                        match interval {
                            Some(i) => tokio::time::sleep(i).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        t = triggers.recv() => match t {
                            Some(t) => t,
                            None => return,
                        },
                        () = wait => Trigger::Client,
                    }
                }
            };
            // Coalesce what queued up meanwhile; a server trigger wins (its session id).
            let mut trigger = trigger;
            while let Ok(t) = triggers.try_recv() {
                if matches!(t, Trigger::Server { .. }) {
                    trigger = t;
                }
            }
            match self
                .session(index, &server, trigger, &mut completions)
                .await
            {
                Ok(report) => {
                    tracing::info!(server = %server.server_id, end = ?report.end, commands = report.commands, "northbound session ended");
                }
                Err(e) => {
                    tracing::warn!(server = %server.server_id, error = %e, "northbound session failed");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
            // Alerts left (more than one session's worth, or queued during it): go again.
            if matches!(self.shared.store.pending_alerts(&server.server_id, 1).await, Ok(v) if !v.is_empty())
            {
                next = Some(Trigger::Client);
            }
        }
    }

    async fn session(
        &self,
        index: usize,
        server: &NorthServer,
        trigger: Trigger,
        completions: &mut mpsc::UnboundedReceiver<Completion>,
    ) -> Result<SessionReport, Error> {
        let account = account(&self.shared, server);
        let alerts = self
            .shared
            .store
            .pending_alerts(&server.server_id, ALERTS_PER_SESSION)
            .await?;
        let (session, ids) = {
            let tree = lock(&self.tree);
            let nonces = device::stored_nonces(&tree, &server.server_id);
            let mut config = device::client_config(&account, &nonces);
            config.answer_hold = ANSWER_HOLD;
            let (initiator, session_id) = device::initiator(trigger);
            let mut session = ClientSession::new(
                config,
                initiator,
                session_id,
                devinfo::items(&tree),
                Box::new(|buf: &mut [u8]| rand::fill(buf)),
                dm_proto::Timestamp::ZERO,
            );
            let mut ids = Vec::new();
            // Progress alerts (not durable) go first: they are the freshest news.
            for xml in self.shared.take_progress(&server.server_id) {
                if let Ok(cmds) = syncml::xml::decode_fragment(
                    xml.as_bytes(),
                    syncml::xml::FragmentKind::Alerts,
                    &syncml::Limits::default(),
                ) {
                    for c in cmds {
                        if let Command::Alert(a) = c
                            && let Some(g) = GenericAlert::from_alert(&a)
                        {
                            session.queue_generic_alert(&g);
                        }
                    }
                }
            }
            for (id, xml) in &alerts {
                match syncml::xml::decode_fragment(
                    xml.as_bytes(),
                    syncml::xml::FragmentKind::Alerts,
                    &syncml::Limits::default(),
                ) {
                    Ok(cmds) => {
                        for c in cmds {
                            if let Command::Alert(a) = c
                                && let Some(g) = GenericAlert::from_alert(&a)
                            {
                                session.queue_generic_alert(&g);
                            }
                        }
                        ids.push(*id);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "queued alert unreadable: dropped");
                        ids.push(*id);
                    }
                }
            }
            (session, ids)
        };
        let mut session = session;
        let mut executor = NorthExecutor {
            north: self,
            server_id: server.server_id.clone(),
            pending: HashMap::new(),
            completions,
        };
        let result = dm_client::session::drive(
            &self.http,
            &mut session,
            &mut executor,
            account.idle_timeout,
            dm_client::session::response_limit(
                account.max_msg_size,
                syncml::Limits::default().max_size,
            ),
        )
        .await;
        // Operations whose Status this session could not give report by alert.
        let left: Vec<Ticket> = executor.pending.drain().map(|(t, _)| t).collect();
        lock(&self.shared.ops).release(left);
        let report = result?;
        let _ = index;
        {
            let mut tree = lock(&self.tree);
            device::record_nonces(&mut tree, &server.server_id, &report, tree_now())?;
            crate::gwconfig::apply(&self.shared, &tree);
        }
        self.shared.flush().await?;
        let snapshot = lock(&self.tree).snapshot();
        self.shared.store.put_value(TREE_KEY, &snapshot).await?;
        self.shared
            .store
            .put_value(&pending_key(&server.server_id), &[])
            .await?;
        if report.completed() {
            self.shared.store.ack_alerts(&ids).await?;
        }
        Ok(report)
    }
}

/// Runs the server's commands on the tree; holds the deferred ones.
struct NorthExecutor<'a> {
    north: &'a North,
    server_id: String,
    pending: HashMap<Ticket, PendingItem>,
    completions: &'a mut mpsc::UnboundedReceiver<Completion>,
}

impl Executor for NorthExecutor<'_> {
    async fn execute(
        &mut self,
        msg_id: String,
        cmds: Vec<Command>,
    ) -> Result<Vec<Command>, dm_client::Error> {
        let mut replies = Vec::new();
        let started = std::time::Instant::now();
        let count = cmds.len();
        {
            let mut tree = lock(&self.north.tree);
            let ctx = ExecContext {
                server_id: &self.server_id,
                msg_id: &msg_id,
                now: tree_now(),
            };
            for c in &cmds {
                let done = tree.execute_deferrable(&ctx, c);
                crate::gwconfig::apply_images(&self.north.shared, &tree);
                replies.extend(done.replies);
                for p in done.pending {
                    self.pending.insert(p.ticket(), p);
                }
            }
        }
        tracing::info!(
            "{count} server command(s) executed in {:.2} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
        // What the providers changed is stored before the server sees the statuses.
        self.north.shared.drain_inventory_events();
        if let Err(e) = self.north.shared.flush().await {
            return Err(dm_client::Error::Executor {
                reason: format!("gateway store: {e}"),
            });
        }
        Ok(replies)
    }

    async fn nonce_issued(&mut self, nonce: &[u8]) -> Result<(), dm_client::Error> {
        self.north
            .shared
            .store
            .put_value(&pending_key(&self.server_id), nonce)
            .await
            .map_err(|e| dm_client::Error::Executor {
                reason: format!("gateway store: {e}"),
            })
    }

    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    async fn completion(&mut self) -> Option<Vec<Command>> {
        loop {
            let c = self.completions.recv().await?;
            if let Some(p) = self.pending.remove(&c.ticket) {
                return Some(p.complete(c.outcome));
            }
        }
    }

    fn abandoned(&mut self, refs: &[CommandRef]) {
        let gone: Vec<Ticket> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                refs.iter()
                    .any(|r| r.msg_ref == p.msg_ref() && r.cmd_ref == p.cmd_ref())
            })
            .map(|(t, _)| *t)
            .collect();
        for t in &gone {
            self.pending.remove(t);
        }
        lock(&self.north.shared.ops).release(gone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/gateway.md §6: the poll goes to `/dm/wait` at the server's origin; its body is
    /// `<id>\n<unix seconds>\n<32 hex digits>`, a new random part each time.
    #[test]
    fn gwmo_hlf_001_poll_url_and_body() {
        assert_eq!(
            wait_url("http://127.0.0.1:8080/dm").unwrap().as_str(),
            "http://127.0.0.1:8080/dm/wait"
        );
        assert_eq!(
            wait_url("https://dm.example.org/some/path?x=1")
                .unwrap()
                .as_str(),
            "https://dm.example.org/dm/wait"
        );
        assert!(wait_url("not a url").is_none());
        let a = poll_body("GW:1", 1_700_000_000);
        let lines: Vec<&str> = a.split('\n').collect();
        assert_eq!(lines[..2], ["GW:1", "1700000000"]);
        assert_eq!(lines[2].len(), 32);
        assert!(lines[2].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, poll_body("GW:1", 1_700_000_000));
    }
}
