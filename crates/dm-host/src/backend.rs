//! What a DM server process plugs into the [`crate::Host`]: accounts, and the life of each
//! authenticated session.
//!
//! The host calls the hooks of a [`Backend`] in this order for one session:
//!
//! 1. [`Backend::account`] for every package 1 (authenticated or not: the host decides that
//!    with the credentials returned). Nothing may change here.
//! 2. [`Backend::admit`] once the device's credentials verified: the backend consumes the
//!    nonce they used (atomically, so that a replayed message loses) and may create a
//!    provisional account. `false` refuses the message as if the credentials were wrong.
//! 3. [`Backend::authenticated`]: the session exists; the backend returns its state and the
//!    commands to send.
//! 4. [`Backend::events`] for each device message's events (DevInfo, alerts, statuses,
//!    results); it may return more commands.
//! 5. [`Backend::ended`] exactly once, however the session ended (also after a backend hook
//!    panicked or failed, then with `state` `None` when the state was lost).
//!
//! A sender that never authenticates reaches only step 1: the host keeps nothing for it but
//! the nonce of the challenge it was sent, in a bounded table.

use std::future::Future;
use std::net::SocketAddr;

use dm_proto::{AuthScheme, Credentials, SessionEnd};
use syncml::{Alert, Command, Item, Results, Status, StatusCode};

use crate::Error;

/// Who a package 1 says it is (what the host read from its header).
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// `SyncHdr/Source/LocURI`: the device id.
    pub device_id: &'a str,
    /// `SyncHdr/Source/LocName`: the name it authenticates as, if given.
    pub auth_name: Option<&'a str>,
    /// The scheme of the credentials it presented (`Cred/Meta/Type`, or `syncml:auth-MAC`
    /// for an `x-syncml-hmac` header), if any.
    pub offered: Option<AuthScheme>,
    /// The peer's address.
    pub peer: Option<SocketAddr>,
}

/// An account as the host needs it.
#[derive(Debug, Clone)]
pub struct Account {
    /// The device id (`Source/LocURI` must equal it).
    pub device_id: String,
    /// What the device must present: scheme, name, `B64(MD5(name:password))` or password,
    /// and the nonce last issued to it. `None`: no DM-level authentication.
    pub client: Option<Credentials>,
    /// How the server authenticates itself to the device, `None` not to.
    pub server: Option<Credentials>,
    /// The backend has not stored this account yet (an enrolling device): [`Backend::admit`]
    /// creates it.
    pub provisional: bool,
}

/// The session as the backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's key: the secret token of its `RespURI`, unique per session (e.g. what
    /// jobs record as the session they went out in).
    pub key: String,
    /// The device id.
    pub device_id: String,
    /// The SyncML `SessionID`.
    pub session_id: String,
    /// The peer's address at package 1.
    pub peer: Option<SocketAddr>,
}

/// What an authenticated session reported, per device message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // short-lived, like dm_proto::ServerEvent
pub enum Event {
    /// The device's `./DevInfo` leaves (package 1 Replace).
    DevInfo(Vec<Item>),
    /// An alert of the device (Generic Alert 1226, Client Event 1224, ...).
    Alert(Alert),
    /// The device's status for a command the backend queued.
    Status {
        /// Position of the queued command among all the backend handed to the host in this
        /// session, from 0, in order ([`Opened::commands`] first, then what
        /// [`Backend::events`] returned).
        command: usize,
        /// Child indexes to the command inside an Atomic/Sequence (empty: the command).
        path: Vec<usize>,
        /// The status code.
        code: StatusCode,
        /// The whole Status.
        status: Status,
    },
    /// The device's Results for a queued Get (large objects reassembled).
    Results {
        /// As in [`Event::Status`].
        command: usize,
        /// As in [`Event::Status`].
        path: Vec<usize>,
        /// The Results.
        results: Results,
    },
}

/// What [`Backend::authenticated`] returns.
#[derive(Debug)]
pub struct Opened<S> {
    /// The backend's state for this session (given back to every later hook).
    pub state: S,
    /// Management commands to send (CmdIDs left empty).
    pub commands: Vec<Command>,
}

/// How an authenticated session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum End {
    /// As the protocol says: completed, aborted, timed out, or a refusal of our credentials.
    Session(SessionEnd),
    /// A newly authenticated package 1 of the same device with the same `SessionID` replaced
    /// it (the device restarted its session).
    Replaced,
    /// The host gave it up: a backend hook failed or panicked, or the session could not
    /// answer.
    Failed,
}

/// What [`Backend::ended`] gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// How the session ended.
    pub end: End,
    /// A nonce issued to the device for its next credentials after the one stored by
    /// [`Backend::admit`] (with `syncml:auth-MAC` every message gets one): store it.
    pub client_nonce: Option<Vec<u8>>,
    /// A nonce the device gave us for our next credentials: store it.
    pub server_nonce: Option<Vec<u8>>,
    /// The peer's address at its last message.
    pub peer: Option<SocketAddr>,
}

/// What a DM server process supplies to the host: accounts, and what to do with an
/// authenticated session. Implemented by `dm-server` over its store, and by the gateway's
/// southbound side over its inventory and fanout queue.
///
/// Every hook may be called concurrently for different sessions. A hook that fails
/// ([`Error`]) makes the host answer HTTP 500 (or abort the session) and end the session with
/// [`End::Failed`]; one that panics is treated alike, the session's slot is freed and
/// [`Backend::ended`] still runs.
pub trait Backend: Send + Sync + 'static {
    /// The backend's state for one authenticated session.
    type Session: Send + 'static;

    /// The account a package 1 names: by `auth_name` when given, else by `device_id`. The
    /// host refuses an account whose `device_id` differs from the claim's. `Ok(None)`: unknown
    /// (the sender gets the protocol's 401/407 answer and nothing is kept). Must change
    /// nothing.
    ///
    /// # Errors
    /// When the accounts cannot be read (the request gets HTTP 500).
    fn account(
        &self,
        claim: &Claim<'_>,
    ) -> impl Future<Output = Result<Option<Account>, Error>> + Send;

    /// The device's credentials verified: consume the nonce they were computed with by
    /// replacing the account's client nonce (`account.client`'s, as returned by
    /// [`account`](Self::account)) with `next_nonce`, **only if it is still that nonce**
    /// (compare and set; `next_nonce` is `None` for schemes without a nonce). Create a
    /// provisional account (with `next_nonce`) here. `Ok(false)`: the nonce was consumed
    /// meanwhile (a replay, or a race with another message of the device): the host refuses
    /// the message with 401 and a fresh challenge, and nothing else happens.
    ///
    /// # Errors
    /// When the account cannot be written (HTTP 500, nothing else happens).
    fn admit(
        &self,
        account: &Account,
        next_nonce: Option<&[u8]>,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// A session starts (after [`admit`](Self::admit), and after an older session of the
    /// device with the same `SessionID` was ended as [`End::Replaced`]): the backend's state
    /// and the commands to send in it.
    ///
    /// # Errors
    /// The session is given up (HTTP 500; [`ended`](Self::ended) runs with no state).
    fn authenticated(
        &self,
        session: &SessionInfo,
        account: &Account,
    ) -> impl Future<Output = Result<Opened<Self::Session>, Error>> + Send;

    /// The events of one device message, in order. Commands returned are queued and go out
    /// in the server's next package.
    ///
    /// # Errors
    /// The session is aborted (Alert 1223) and ends as [`End::Failed`].
    fn events(
        &self,
        state: &mut Self::Session,
        session: &SessionInfo,
        events: Vec<Event>,
    ) -> impl Future<Output = Result<Vec<Command>, Error>> + Send;

    /// The session is over (called once per authenticated session): record it, put back
    /// what it did not finish. `state` is `None` when a hook failed or panicked before it
    /// existed or while it was lent out.
    fn ended(
        &self,
        state: Option<Self::Session>,
        session: &SessionInfo,
        ending: Ending,
    ) -> impl Future<Output = ()> + Send;
}
