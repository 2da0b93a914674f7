//! What every process that plays the DM server role shares: `dm-server` towards devices and
//! gateways, and `dm-gateway` towards the End Devices on its LAN.
//!
//! In: SyncML DM messages in HTTP POST bodies ([`Host::router`]: `POST /dm` and the
//! `RespURI` path `POST /dm/s/{token}`), and a [`Backend`] that knows the accounts and what to
//! do with an authenticated session. Out: HTTP responses, and the backend's hooks, called for
//! authenticated sessions only.
//!
//! The [`Host`] does the protocol-generic part of a DM server: content-type negotiation (see
//! the `http` module docs), decoding each message once under [`syncml::Limits`], the table
//! of live sessions keyed by their secret `RespURI` token, authentication before any state
//! changes, consuming the nonce a device authenticated with (a replayed message is refused),
//! a bounded table of the challenge nonces sent to senders that did not authenticate (the
//! only thing kept for them), expiry driven by each session's
//! `dm_proto::ServerSession::poll_timeout` (one ordered set of deadlines and one timer task,
//! [`Host::run_timeouts`]), panic safety (a request that panics frees its session's slot and
//! the backend's end hook still runs), and log hygiene ([`log::Untrusted`]).
//!
//! Time: `dm_proto::Timestamp`s given to the sessions are monotonic (time since the host was
//! created, on tokio's clock); wall-clock time is the backend's business (stored timestamps).
//!
//! The connections in front of the host come from [`listener`]: one accept loop for plain
//! HTTP and TLS with its bounds ([`listener::ListenerLimits`]: header-read, idle and request
//! timeouts, a connection cap, `503` + `Retry-After` past an in-flight bound).

mod backend;
mod challenge;
mod error;
mod http;
pub mod listener;
pub mod log;
pub mod range;
mod session;
mod table;

use std::sync::Arc;
use std::time::Duration;

use dm_proto::Timestamp;

pub use backend::{Account, Backend, Claim, End, Ending, Event, Opened, SessionInfo};
pub use error::Error;
pub use http::{LEGACY_WBXML, LEGACY_XML, Reply};

use challenge::ChallengeTable;
use table::SessionTable;

/// Settings of a [`Host`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The server identifier (`SyncHdr/Source/LocURI` of our messages).
    pub server_id: String,
    /// `MaxMsgSize` we announce and accept.
    pub max_msg_size: usize,
    /// Decoder limits for every received message (`max_size`: the largest body decoded).
    pub limits: syncml::Limits,
    /// A session ends when its device stays silent this long.
    pub session_timeout: Duration,
    /// Base URL devices reach us at, for `RespURI` (e.g. `https://dm.example.org`); `None`:
    /// from the request's `Host` header and [`tls`](Self::tls).
    pub public_url: Option<String>,
    /// The listener speaks HTTPS (for `RespURI` without `public_url`).
    pub tls: bool,
    /// Most challenge nonces kept for senders that did not authenticate (the oldest goes
    /// first). Default 65,536.
    pub challenge_capacity: usize,
    /// Longest accepted header identifier (`Source/LocURI`, `LocName`, `Target/LocURI`,
    /// `SessionID`), in bytes; longer ones get HTTP 400. Default 256.
    pub max_identifier_len: usize,
}

impl HostConfig {
    /// Defaults around a server identifier: 16 KiB messages, default limits, 5 minutes
    /// timeout, `RespURI` from the `Host` header, 65,536 challenges, 256-byte identifiers.
    #[must_use]
    pub fn new(server_id: impl Into<String>) -> Self {
        HostConfig {
            server_id: server_id.into(),
            max_msg_size: dm_proto::DEFAULT_MAX_MSG_SIZE,
            limits: syncml::Limits::default(),
            session_timeout: dm_proto::DEFAULT_IDLE_TIMEOUT,
            public_url: None,
            tls: false,
            challenge_capacity: 65_536,
            max_identifier_len: 256,
        }
    }
}

/// The monotonic clock of the sessions: time since the host started.
struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    fn now(&self) -> Timestamp {
        Timestamp::from_duration(self.start.elapsed())
    }

    fn instant(&self, t: Timestamp) -> tokio::time::Instant {
        self.start + t.since_epoch()
    }
}

/// The server-side DM session host (see the crate docs). Create it with [`Host::new`], merge
/// [`Host::router`] into the process's router and spawn [`Host::run_timeouts`].
pub struct Host<B: Backend> {
    config: HostConfig,
    backend: B,
    table: SessionTable<B::Session>,
    challenges: ChallengeTable,
    clock: Clock,
}

impl<B: Backend> std::fmt::Debug for Host<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("config", &self.config)
            .field("sessions", &self.table.len())
            .field("challenges", &self.challenges.len())
            .finish_non_exhaustive()
    }
}

impl<B: Backend> Host<B> {
    /// A host with no sessions. Call it inside a tokio runtime.
    #[must_use]
    pub fn new(config: HostConfig, backend: B) -> Arc<Self> {
        Arc::new(Host {
            challenges: ChallengeTable::new(config.challenge_capacity),
            config,
            backend,
            table: SessionTable::new(),
            clock: Clock {
                start: tokio::time::Instant::now(),
            },
        })
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The configuration.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Live (authenticated, not yet ended) sessions.
    pub fn live_sessions(&self) -> usize {
        self.table.len()
    }

    /// Challenge nonces kept for senders that did not authenticate.
    pub fn outstanding_challenges(&self) -> usize {
        self.challenges.len()
    }

    /// Ends sessions whose idle deadline passed, forever: sleeps until the earliest
    /// deadline of the table (woken early when an earlier one appears). Spawn it once; abort
    /// it at shutdown.
    pub async fn run_timeouts(self: Arc<Self>) {
        loop {
            let earlier = self.table.earlier.notified();
            match self.table.next_deadline() {
                Some(t) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(self.clock.instant(t)) => {}
                        () = earlier => continue,
                    }
                }
                None => {
                    earlier.await;
                    continue;
                }
            }
            for (token, live) in self.table.take_expired(self.clock.now()) {
                let host = self.clone();
                let task = tokio::spawn(async move { host.expire(token, live).await });
                let host = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = task.await {
                        tracing::error!(error = %e, "session expiry failed");
                        if let Some(info) = host.table.abandon(token) {
                            host.end_without_state(&info, End::Failed, None).await;
                        }
                    }
                });
            }
        }
    }
}
