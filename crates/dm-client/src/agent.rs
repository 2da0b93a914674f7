//! The End Device agent: one [`Device`] plus its listeners, timer, Exec commands and tree file.
//!
//! In: a [`Config`]; Package 0 arrivals from the listeners; requests through an
//! [`AgentHandle`] (run a session now, queue a Generic Alert); a shutdown future. Out: sessions
//! with the server (client-initiated at start, on the timer and on demand; server-initiated for
//! each verified Package 0), the tree file rewritten atomically after every session.
//!
//! A Package 0 is acted on only when its server id is the configured one and its digest
//! verifies with the server secret and the stored server nonce (or, for nonce
//! resynchronisation, the special nonce; digest §2.3). Anything else is logged at `warn` and
//! ignored. A repeated notification (same session id within [`DUPLICATE_WINDOW`]) triggers one
//! session only.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dm_proto::GenericAlert;
use dm_tree::{AccessType, Acl, AclCommand, ExecOutcome as TreeExecOutcome, Format, NewNode};
use syncml::Data;
use syncml::notification::{self, NonceMatch, wsp};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::config::{AuthType, Config};
use crate::device::{Account, Device, Trigger, tree_now};
use crate::device_info::SystemFacts;
use crate::exec::ExecTable;
use crate::listener::{self, Arrival, Via};
use crate::session::SessionReport;
use crate::{Error, tree_file};

/// Two notifications with the same session id within this window start one session.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(30);

/// Longest time one Exec command may run.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(300);

enum Request {
    Session(oneshot::Sender<Result<SessionReport, Error>>),
}

/// A cloneable handle to a running [`Agent`]: ask for a session, queue Generic Alerts.
#[derive(Clone)]
pub struct AgentHandle {
    tx: mpsc::Sender<Request>,
    alerts: Arc<Mutex<Vec<GenericAlert>>>,
}

impl std::fmt::Debug for AgentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHandle").finish_non_exhaustive()
    }
}

impl AgentHandle {
    /// Runs a client-initiated session as soon as the agent is free and returns its report.
    ///
    /// # Errors
    /// [`Error::Stopped`] when the agent is not running; otherwise the session's error.
    pub async fn trigger_session(&self) -> Result<SessionReport, Error> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Session(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Queues a Generic Alert (1226) for the next session (it is kept for a later one if that
    /// session fails).
    pub fn queue_alert(&self, alert: GenericAlert) {
        if let Ok(mut q) = self.alerts.lock() {
            q.push(alert);
        }
    }

    /// Alerts waiting for a session.
    #[must_use]
    pub fn queued_alerts(&self) -> usize {
        self.alerts.lock().map(|q| q.len()).unwrap_or(0)
    }
}

/// The End Device agent (see the module docs).
pub struct Agent {
    config: Config,
    device: Device,
    http: reqwest::Client,
    exec: Arc<ExecTable>,
    udp: Option<UdpSocket>,
    http_listener: Option<TcpListener>,
    alerts: Arc<Mutex<Vec<GenericAlert>>>,
    req_tx: mpsc::Sender<Request>,
    req_rx: mpsc::Receiver<Request>,
    last_notification: Option<(u16, Instant)>,
    /// The gateway the device registers with (Transparent mode), and the HTTP client for it.
    gateway: Option<(Account, reqwest::Client)>,
    /// Where the listeners are bound (what the registration tells the gateway).
    bound: (Option<SocketAddr>, Option<SocketAddr>),
}

/// DMAcc node of the gateway account of a Transparent-mode device.
pub const GATEWAY_ACCOUNT_NODE: &str = "Gateway";

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Loads the tree from the tree file (or builds it from the system and the config), maps the
    /// Exec nodes to their commands and binds the listeners.
    ///
    /// # Errors
    /// [`Error::Config`], [`Error::Io`] (tree file unreadable), [`Error::Tree`] (corrupt tree
    /// file, MO installation), [`Error::Bind`], [`Error::Transport`] (HTTP client setup).
    pub async fn new(config: Config) -> Result<Agent, Error> {
        config.validate()?;
        let facts = SystemFacts::from_system(config.device_id.as_deref(), &config.device);
        let account = Account::from_config(&config, &facts.dev_id);
        let mut device = match tree_file::read(&config.tree_file)? {
            Some(bytes) => {
                tracing::info!(file = %config.tree_file.display(), "tree restored");
                Device::restore(account, &bytes, &facts)?
            }
            None => {
                tracing::info!(file = %config.tree_file.display(), "new tree built");
                Device::build(account, &facts)?
            }
        };
        let gateway_account = Account::for_gateway(&config, &facts.dev_id);
        if let Some(g) = &gateway_account {
            device.install_account(g, GATEWAY_ACCOUNT_NODE)?;
        }
        let exec = Arc::new(ExecTable::new(&config.exec, EXEC_TIMEOUT));
        register_exec_nodes(&mut device, &exec, &config.server_id)?;
        tree_file::write_atomic(&config.tree_file, &device.snapshot())?;
        let client = |proxy: Option<&str>| {
            let mut b = reqwest::Client::builder()
                .timeout(Duration::from_secs(config.http_timeout_secs.max(1)))
                .user_agent(crate::device_info::DM_VERSION);
            if let Some(p) = proxy {
                b = b.proxy(reqwest::Proxy::all(p)?);
            }
            b.build()
        };
        let transport = |e: reqwest::Error| Error::Transport {
            url: config.server_url.clone(),
            reason: e.to_string(),
        };
        let proxy = config
            .gateway
            .as_ref()
            .and_then(|g| g.http_proxy.as_deref());
        let http = client(proxy).map_err(transport)?;
        let gateway = match gateway_account {
            Some(a) => Some((a, client(None).map_err(transport)?)),
            None => None,
        };
        let udp = match config.listen.udp {
            Some(a) => Some(listener::bind_udp(a).await?),
            None => None,
        };
        let http_listener = match config.listen.http {
            Some(a) => Some(listener::bind_http(a).await?),
            None => None,
        };
        let (req_tx, req_rx) = mpsc::channel(16);
        let bound = (
            udp.as_ref().and_then(|s| s.local_addr().ok()),
            http_listener.as_ref().and_then(|s| s.local_addr().ok()),
        );
        Ok(Agent {
            gateway,
            bound,
            config,
            device,
            http,
            exec,
            udp,
            http_listener,
            alerts: Arc::new(Mutex::new(Vec::new())),
            req_tx,
            req_rx,
            last_notification: None,
        })
    }

    /// The bound UDP (WSP push) address, if that listener is on.
    #[must_use]
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// The bound HTTP (Package 0) address, if that listener is on.
    #[must_use]
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_listener
            .as_ref()
            .and_then(|s| s.local_addr().ok())
    }

    /// A handle for the embedding application.
    #[must_use]
    pub fn handle(&self) -> AgentHandle {
        AgentHandle {
            tx: self.req_tx.clone(),
            alerts: self.alerts.clone(),
        }
    }

    /// The device (tree and account).
    #[must_use]
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs one session now (queued Generic Alerts go with it), then persists the tree.
    ///
    /// # Errors
    /// As [`Device::run_session`]; [`Error::Io`] when the tree file cannot be written.
    pub async fn run_session(&mut self, trigger: Trigger) -> Result<SessionReport, Error> {
        let alerts = self
            .alerts
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default();
        let started = Instant::now();
        let result = self.device.run_session(&self.http, trigger, &alerts).await;
        if matches!(result, Err(Error::Executor { .. })) {
            // The tree was restored from before the batch; its Exec handlers must come back.
            register_exec_nodes(&mut self.device, &self.exec, &self.config.server_id)?;
        }
        let delivered = matches!(&result, Ok(r) if r.completed());
        if !delivered
            && !alerts.is_empty()
            && let Ok(mut q) = self.alerts.lock()
        {
            {
                let later = std::mem::take(&mut *q);
                q.extend(alerts);
                q.extend(later);
            }
        }
        let persisted = tree_file::write_atomic(&self.config.tree_file, &self.device.snapshot());
        match &result {
            Ok(r) => tracing::info!(
                session = %r.session_id,
                end = ?r.end,
                messages = r.messages,
                commands = r.commands,
                ms = started.elapsed().as_millis() as u64,
                "session finished"
            ),
            Err(e) => tracing::warn!(error = %e, "session failed"),
        }
        persisted?;
        result
    }

    /// Registers with the configured gateway (Transparent mode): one session with it carrying
    /// the Device Registration Alert (docs/gateway.md §3) with the listeners' addresses, the
    /// DM server and the lease. `Ok(None)` when no gateway is configured.
    ///
    /// # Errors
    /// As [`Device::run_session_as`]; [`Error::Io`] when the tree file cannot be written.
    pub async fn register_with_gateway(&mut self) -> Result<Option<SessionReport>, Error> {
        let Some((account, http)) = self.gateway.clone() else {
            return Ok(None);
        };
        let lease = self.config.gateway.as_ref().map_or(3600, |g| g.lease_secs);
        let mut addresses = Vec::new();
        if let Some(a) = self.bound.0 {
            addresses.push(gwmo::inventory::Address::Udp(a.to_string()));
        }
        if let Some(a) = self.bound.1 {
            addresses.push(gwmo::inventory::Address::Http(format!("http://{a}/")));
        }
        let request = gwmo::payload::RegistrationRequest {
            mode: Some(gwmo::mode::Mode::Transparent),
            addresses,
            servers: vec![self.config.server_id.clone()],
            lease: Some(Duration::from_secs(lease)),
        };
        let alert = gwmo::payload::generic_alert(
            "",
            None,
            vec![gwmo::payload::registration_item(&request)],
        );
        let Some(alert) = GenericAlert::from_alert(&alert) else {
            return Ok(None);
        };
        let result = self
            .device
            .run_session_as(&http, &account, Trigger::Client, &[alert])
            .await;
        tree_file::write_atomic(&self.config.tree_file, &self.device.snapshot())?;
        match &result {
            Ok(r) => {
                tracing::info!(gateway = %account.server_url, end = ?r.end, "registered with the gateway")
            }
            Err(e) => {
                tracing::warn!(gateway = %account.server_url, error = %e, "registration with the gateway failed")
            }
        }
        result.map(Some)
    }

    /// Runs the agent until `shutdown` completes: a session at start (if configured), one every
    /// interval, one per request of an [`AgentHandle`], one per verified Package 0.
    ///
    /// # Errors
    /// [`Error::Io`] when the tree file cannot be written; session failures are logged, not
    /// returned.
    pub async fn run(mut self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let (arr_tx, mut arr_rx) = mpsc::channel::<Arrival>(64);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let mut tasks = Vec::new();
        if let Some(sock) = self.udp.take() {
            tasks.push(tokio::spawn(listener::serve_udp(sock, arr_tx.clone())));
        }
        if let Some(l) = self.http_listener.take() {
            tasks.push(tokio::spawn(listener::serve_http(
                l,
                arr_tx.clone(),
                async move {
                    let _ = stop_rx.await;
                },
            )));
        }
        drop(arr_tx);
        tokio::pin!(shutdown);
        let result = self.event_loop(&mut arr_rx, &mut shutdown).await;
        let _ = stop_tx.send(());
        for t in tasks {
            t.abort();
        }
        result
    }

    async fn event_loop(
        &mut self,
        arrivals: &mut mpsc::Receiver<Arrival>,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<(), Error> {
        let heartbeat = self
            .config
            .gateway
            .as_ref()
            .map(|g| Duration::from_millis(g.lease_secs.saturating_mul(500).max(1000)));
        let mut beat = tokio::time::interval(heartbeat.unwrap_or(Duration::from_secs(3600)));
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if heartbeat.is_some() {
            beat.tick().await;
            tokio::select! {
                r = self.register_with_gateway() => { let _ = r; }
                () = shutdown.as_mut() => return Ok(()),
            }
        }
        if self.config.session_on_start {
            tokio::select! {
                r = self.run_session(Trigger::Client) => fatal(r)?,
                () = shutdown.as_mut() => return Ok(()),
            }
        }
        let period = self.config.session_interval();
        let mut ticker = tokio::time::interval(period.unwrap_or(Duration::from_secs(3600)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                () = shutdown.as_mut() => return Ok(()),
                Some(arrival) = arrivals.recv() => {
                    if let Some(trigger) = self.accept_notification(&arrival) {
                        fatal(self.run_session(trigger).await)?;
                    }
                }
                Some(req) = self.req_rx.recv() => match req {
                    Request::Session(reply) => {
                        // The caller gets the result, tree-file failures included.
                        let _ = reply.send(self.run_session(Trigger::Client).await);
                    }
                },
                _ = ticker.tick(), if period.is_some() => {
                    fatal(self.run_session(Trigger::Client).await)?;
                }
                _ = beat.tick(), if heartbeat.is_some() => {
                    // A failed heartbeat is logged; the next one tries again.
                    let _ = self.register_with_gateway().await;
                }
            }
        }
    }

    /// Checks a received notification; the session to run, or `None` (logged) to ignore it.
    fn accept_notification(&mut self, arrival: &Arrival) -> Option<Trigger> {
        let from = arrival.from;
        let body = match arrival.via {
            Via::Http => arrival.bytes.clone(),
            Via::Udp => match wsp::decode_push(&arrival.bytes) {
                Ok(push) if push.is_dm_notification() => push.body,
                Ok(_) => {
                    tracing::warn!(%from, "udp: push is not a DM notification, ignored");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(%from, error = %e, "udp: malformed WSP push, ignored");
                    return None;
                }
            },
        };
        let (n, _digest) = match notification::decode(&body) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(%from, via = ?arrival.via, error = %e, "malformed Package 0 ignored");
                return None;
            }
        };
        if n.server_id != self.config.server_id {
            tracing::warn!(%from, server_id = %n.server_id, "Package 0 from an unknown server ignored");
            return None;
        }
        let nonce = self.device.server_nonce();
        let verdict = notification::verify_with_resync(
            &body,
            &n.server_id,
            &self.config.server_auth.secret,
            &nonce,
        );
        match verdict {
            None if self.config.server_auth.auth_type == AuthType::None
                && self.config.server_auth.secret.is_empty() =>
            {
                tracing::info!(%from, "Package 0 accepted without verification (no server secret)");
            }
            None => {
                tracing::warn!(
                    %from,
                    via = ?arrival.via,
                    session_id = n.session_id,
                    "Package 0 with a wrong digest ignored"
                );
                return None;
            }
            Some(NonceMatch::Stored) => {}
            Some(m) => {
                tracing::info!(%from, nonce = ?m, "Package 0 verified with the resync nonce")
            }
        }
        let now = Instant::now();
        if let Some((id, at)) = self.last_notification
            && id == n.session_id
            && now.duration_since(at) < DUPLICATE_WINDOW
        {
            {
                tracing::info!(
                    session_id = n.session_id,
                    "repeated Package 0, one session only"
                );
                return None;
            }
        }
        self.last_notification = Some((n.session_id, now));
        tracing::info!(%from, via = ?arrival.via, session_id = n.session_id, ui = n.ui_mode.name(),
            "Package 0 verified: server-initiated session");
        Some(Trigger::Server {
            session_id: n.session_id,
        })
    }
}

/// Session errors are logged by `run_session`; only a tree file that cannot be written stops
/// the agent.
fn fatal(r: Result<SessionReport, Error>) -> Result<(), Error> {
    match r {
        Err(e @ Error::Io { .. }) => Err(e),
        _ => Ok(()),
    }
}

/// Creates each configured Exec node (if missing) with AccessType Get+Exec and ACL
/// `Exec=S&Get=S`, and registers the handler that runs its command.
fn register_exec_nodes(
    device: &mut Device,
    exec: &Arc<ExecTable>,
    server_id: &str,
) -> Result<(), Error> {
    let now = tree_now();
    device.set_blocking_exec(exec.nodes().next().is_some());
    let nodes: Vec<String> = exec.nodes().map(str::to_owned).collect();
    for path in nodes {
        if device.tree().get(&path).is_none() {
            let acl = Acl::empty()
                .with(AclCommand::Exec, server_id)
                .with(AclCommand::Get, server_id);
            let spec = NewNode::leaf("")
                .format(Format::Chr)
                .access(AccessType::GET | AccessType::EXEC)
                .acl(acl);
            device.tree_mut().insert(&path, spec, now)?;
        }
        let table = exec.clone();
        let handle = tokio::runtime::Handle::current();
        let node = path.clone();
        device.tree_mut().register_exec(
            &path,
            Box::new(move |req| {
                let data = req.data.map(|d| d.as_bytes().to_vec());
                // Runs on the blocking thread the device executes commands on.
                let out = handle.block_on(table.run(&node, data.as_deref()));
                TreeExecOutcome {
                    code: out.status,
                    data: Some(Data::Text(out.output)),
                }
            }),
        )?;
    }
    Ok(())
}
