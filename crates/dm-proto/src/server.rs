//! The server side of a DM session.
//!
//! In: every message from the device (`handle_bytes` / `handle_message`), management commands
//! to send (`queue`), timer expiries (`handle_timeout`). Out: the response message of each
//! request (`poll_transmit`), events (`poll_event`), the idle deadline (`poll_timeout`).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use syncml::auth::AuthScheme;
use syncml::{
    Alert, AlertCode, Chal, Command, Encoding, Item, Limits, Results, Status, StatusCode, SyncHdr,
    SyncMl,
};

use crate::credentials::{Credentials, MacInput, NonceSource, Verdict};
use crate::endpoint::{Endpoint, OwnVerdict, SessionEvent};
use crate::header::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_MSG_SIZE, DEFAULT_MAX_OBJ_SIZE, SessionEnd, header_status,
    limits_meta, status,
};
use crate::large_object::{Interrupted, Offered, no_end_of_data};
use crate::package::{Outgoing, data_items};
use crate::{Error, Timestamp, Transmit};

/// Configuration of a [`ServerSession`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `SyncHdr/Source/LocURI` of our messages: the server's URI.
    pub server_uri: String,
    /// Largest message we accept (announced as `MaxMsgSize`).
    pub max_msg_size: usize,
    /// Largest object we accept (announced as `MaxObjSize`).
    pub max_obj_size: usize,
    /// `MaxMsgSize` assumed for the device until it announces its own.
    pub initial_client_max_msg_size: usize,
    /// Decoder limits for received messages.
    pub limits: Limits,
    /// The session ends (`SessionEnd::TimedOut`) when no device message arrives for this long.
    pub idle_timeout: Duration,
    /// `RespURI` put in every response header (e.g. `/dm/s/<token>`), if any.
    pub resp_uri: Option<String>,
    /// Our credentials towards the device (what the device stores as `SRVCRED`), `None` to not
    /// authenticate ourselves.
    pub credentials: Option<Credentials>,
    /// Failed authentications of the device (or our own refused ones) before the session ends.
    pub max_auth_attempts: u32,
}

impl ServerConfig {
    /// A configuration with defaults: 16 KiB messages, 1 MiB objects, 5 minutes idle timeout,
    /// no RespURI, no server credentials, 3 auth attempts.
    #[must_use]
    pub fn new(server_uri: impl Into<String>) -> Self {
        ServerConfig {
            server_uri: server_uri.into(),
            max_msg_size: DEFAULT_MAX_MSG_SIZE,
            max_obj_size: DEFAULT_MAX_OBJ_SIZE,
            initial_client_max_msg_size: DEFAULT_MAX_MSG_SIZE,
            limits: Limits::default(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            resp_uri: None,
            credentials: None,
            max_auth_attempts: 3,
        }
    }
}

/// Names one command queued with [`ServerSession::queue`]; statuses and results of it (and of
/// the commands nested in it) are reported under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandHandle(pub u64);

/// What a [`ServerSession`] reports to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // events are short-lived; boxing would only add noise
pub enum ServerEvent {
    /// The device proved its credentials.
    Authenticated,
    /// The device's credentials verified only with the special resync nonce the driver
    /// allowed ([`ServerSession::allow_resync_nonce`]); `Authenticated` follows. The nonce is
    /// replaced by a fresh one as after any success; the driver MAY also renew the server
    /// secret (digest §2.3).
    ResyncNonceAccepted,
    /// The device accepted our credentials.
    ServerAuthenticated,
    /// We gave the device a new nonce for its next credentials: persist it in the account.
    ///
    /// Reported by the [`ServerSession::poll_transmit`] that hands out the response carrying
    /// the `Chal` (drain events after it too); a nonce no response carries (the session ended
    /// while handling the device's message) is dropped unreported.
    NonceIssued(Vec<u8>),
    /// The device gave us a new nonce for our next credentials: persist it.
    NonceReceived(Vec<u8>),
    /// The device's `./DevInfo` leaves (Package 1 Replace).
    DevInfo(Vec<Item>),
    /// An alert from the device: Generic Alert 1226, Client Event 1224, or another code.
    Alert(Alert),
    /// The device's Results for a Get (large objects reassembled). `path` locates the Get
    /// inside an Atomic/Sequence (child indexes; empty for the queued command itself).
    Results {
        /// The queued command.
        handle: CommandHandle,
        /// Path of child indexes to the Get inside the queued command.
        path: Vec<usize>,
        /// The Results.
        results: Results,
    },
    /// The device's status for a command (chunk acknowledgements 213 are not reported).
    ///
    /// The session also reports two statuses of its own: 413 for a command whose object is
    /// above the device's `MaxObjSize` (never sent), and 500 for a Get whose chunked Results the
    /// device interrupted with another command before the last chunk (the session answered
    /// Alert 1225; the partial object is dropped).
    Status {
        /// The queued command.
        handle: CommandHandle,
        /// Path of child indexes to the command inside the queued command.
        path: Vec<usize>,
        /// The status code.
        code: StatusCode,
        /// The whole Status.
        status: Status,
    },
    /// The session is over.
    Ended(SessionEnd),
}

type Tag = Option<CommandHandle>;

/// The verdict on a device message's credentials: the header status and challenge.
enum AuthAnswer {
    Accept(StatusCode, Option<Chal>),
    Refuse(StatusCode, Option<Chal>),
}

#[derive(Debug, Clone)]
struct SentRef {
    handle: CommandHandle,
    path: Vec<usize>,
    partial: bool,
}

/// The server side of one DM session, as a sans-IO state machine (see the crate docs).
///
/// Protocol behaviour worth knowing:
/// - **Device authentication** (when client credentials are given): no `Cred` gets 407 with a
///   `Chal` (the current nonce, or a fresh one if none), a wrong `Cred` 401 with a fresh nonce;
///   every command of a refused message gets the same code and no management command is sent.
///   After `max_auth_attempts` failures the last refusal carries no `Chal`, has `Final`, and the
///   session ends with [`SessionEnd::PeerAuthFailed`]. Success gets 212 + `Chal` with the nonce
///   for the next session; with `syncml:auth-MAC` every message is checked and answered
///   200 + `Chal`. Every new nonce is reported as [`ServerEvent::NonceIssued`]: persist it.
/// - **Our authentication** (when [`ServerConfig::credentials`] is set): `Cred` goes in every
///   header until the device answers 212; a 401/407 with `Chal` makes the session send again,
///   with new credentials, what the refused message carried and the rest of the package (not
///   what earlier, accepted messages carried: the device executed those, and nothing of the
///   refused one). The device's 401/407 statuses for the refused commands are not reported,
///   except in the last refusal: that one is answered with the header Status, Alert 1223
///   and `Final` (a SyncML answer the device can read rather than no answer), and the
///   session ends ([`SessionEnd::AuthFailed`]).
/// - **Peer limits**: the device's `MaxMsgSize` is honoured within
///   [`MIN_PEER_MAX_MSG_SIZE`](crate::MIN_PEER_MAX_MSG_SIZE)..=
///   [`MAX_PEER_MAX_MSG_SIZE`](crate::MAX_PEER_MAX_MSG_SIZE); a value outside is clamped and the
///   Status for that header carries an Item saying so. A message never carries statuses only
///   twice in a row while commands wait: the second carries one whatever its size.
/// - **Packages**: queued commands go out when the device's package is complete, cut into
///   messages within the device's `MaxMsgSize` (`Final` on the last), large items chunked;
///   the device asks for each further message with Alert 1222. A device package spread over
///   several messages is answered with Alert 1222 until its `Final`.
/// - A package started with nothing queued carries only statuses and `Final` and ends the
///   session ([`SessionEnd::Completed`]).
pub struct ServerSession {
    config: ServerConfig,
    /// Events, idle timer, end, the message being built, the device's authentication.
    ep: Endpoint<ServerEvent, Tag>,
    client_credentials: Option<Credentials>,
    encoding: Option<Encoding>,
    session_id: Option<String>,
    device_uri: String,
    /// The special resync nonce the driver allows for the device's first credentials.
    resync_nonce: Option<Vec<u8>>,
    /// A nonce of an earlier challenge the driver allows for the device's first credentials.
    challenge_nonce: Option<Vec<u8>>,
    /// The nonce the device's last verified credentials were computed with.
    verified_with: Option<Vec<u8>>,
    next_handle: u64,
    queue: VecDeque<Outgoing<Tag>>,
    sent: HashMap<(String, String), SentRef>,
    new_package: bool,
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("session_id", &self.session_id)
            .field("device", &self.device_uri)
            .field("msg_id", &self.ep.msg_id)
            .field("ended", &self.ep.ended)
            .finish_non_exhaustive()
    }
}

impl SessionEvent for ServerEvent {
    fn ended(how: SessionEnd) -> Self {
        ServerEvent::Ended(how)
    }

    fn nonce_issued(nonce: Vec<u8>) -> Self {
        ServerEvent::NonceIssued(nonce)
    }

    fn nonce_received(nonce: Vec<u8>) -> Self {
        ServerEvent::NonceReceived(nonce)
    }
}

impl ServerSession {
    /// Creates the session for one device, once the driver has decoded Package 1 and looked up
    /// the device's account. `client_credentials` is what the device must present (scheme,
    /// name, password or `B64(MD5(name:pass))`, the nonce last issued to it), `None` for no
    /// DM-level authentication. Then feed Package 1 to
    /// [`handle_message`](Self::handle_message) (or its bytes to
    /// [`handle_bytes`](Self::handle_bytes)).
    #[must_use]
    pub fn new(
        config: ServerConfig,
        client_credentials: Option<Credentials>,
        nonces: Box<dyn NonceSource>,
        now: Timestamp,
    ) -> Self {
        let client_max_msg = config.initial_client_max_msg_size;
        let cred_needed = config.credentials.is_some();
        let mut ep = Endpoint::new(nonces, now, false, cred_needed, client_max_msg);
        ep.answer_own_refusal = true;
        ServerSession {
            config,
            ep,
            client_credentials,
            encoding: None,
            session_id: None,
            device_uri: String::new(),
            resync_nonce: None,
            challenge_nonce: None,
            verified_with: None,
            next_handle: 1,
            queue: VecDeque::new(),
            sent: HashMap::new(),
            new_package: false,
        }
    }

    /// The `SessionID` of the session, once the first message arrived.
    #[must_use]
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The device's `Source/LocURI`, once the first message arrived.
    #[must_use]
    pub fn device_uri(&self) -> &str {
        &self.device_uri
    }

    /// True once the device proved its credentials (always true without client credentials).
    #[must_use]
    pub fn is_authenticated(&self) -> bool {
        self.ep.peer_authenticated || self.client_credentials.is_none()
    }

    /// How the session ended, once it has.
    #[must_use]
    pub fn ended(&self) -> Option<SessionEnd> {
        self.ep.ended
    }

    /// Nonce resynchronisation (digest §2.3), when the driver decides to allow it: it sent
    /// this session's Package 0 with the special nonce `resync_nonce`
    /// ([`syncml::notification::RESYNC_NONCE_OCTETS`] or `RESYNC_NONCE_TEXT`), so the device
    /// may authenticate Package 1 with it. The device's credentials in its first message are
    /// then accepted when they verify with the stored nonce or with `resync_nonce`
    /// ([`ServerEvent::ResyncNonceAccepted`]); it gets 212 and a fresh nonce as usual. Our own
    /// credentials are computed with `resync_nonce` until the device gives us a fresh nonce.
    /// Call it before the first `handle_*`; without it a device using the resync nonce is
    /// challenged with a fresh nonce.
    pub fn allow_resync_nonce(&mut self, resync_nonce: &[u8]) {
        self.resync_nonce = Some(resync_nonce.to_vec());
        if let Some(c) = self.config.credentials.as_mut() {
            c.nonce = resync_nonce.to_vec();
        }
    }

    /// Also accepts the device's first credentials when they verify with `nonce`: the nonce
    /// of a challenge an earlier, refused message got (a driver that keeps no session for a
    /// refused sender remembers only that nonce). Call it before the first `handle_*`;
    /// [`verified_nonce`](Self::verified_nonce) then tells which nonce the credentials used.
    pub fn allow_challenge_nonce(&mut self, nonce: &[u8]) {
        self.challenge_nonce = Some(nonce.to_vec());
    }

    /// The nonce the device's last accepted credentials were computed with (`None` before,
    /// and for schemes without a nonce: `syncml:auth-basic`, or no client credentials). A
    /// driver consumes it when the device authenticates, so that no other session can
    /// authenticate with it again (a replayed message).
    #[must_use]
    pub fn verified_nonce(&self) -> Option<&[u8]> {
        self.verified_with.as_deref()
    }

    /// The nonce the next response's `Chal` carries, issued for the device's next
    /// credentials and not yet committed (it is reported as [`ServerEvent::NonceIssued`] by
    /// the [`poll_transmit`](Self::poll_transmit) that sends it). A driver that consumes the
    /// nonce the device authenticated with stores this one in its place at once.
    #[must_use]
    pub fn next_nonce(&self) -> Option<&[u8]> {
        self.ep.issued_pending.as_deref()
    }

    /// Sets the `RespURI` put in every later response header.
    pub fn set_resp_uri(&mut self, uri: impl Into<String>) {
        self.config.resp_uri = Some(uri.into());
    }

    /// Queues a management command (Get, Replace, Add, Delete, Exec, Copy, Atomic, Sequence,
    /// or a UI Alert) with its CmdIDs left empty. It goes out in the next package the server
    /// starts (after the device's current package is complete); its statuses and results come
    /// back as events under the returned handle. Queue commands while draining the events of
    /// a device message, before calling [`poll_transmit`](Self::poll_transmit); a package
    /// started with nothing queued closes the session.
    pub fn queue(&mut self, cmd: Command) -> CommandHandle {
        let handle = CommandHandle(self.next_handle);
        self.next_handle += 1;
        self.queue.push_back(Outgoing::new(cmd, Some(handle)));
        handle
    }

    /// Asks to abort: the next response carries Alert 1223 and `Final`, then the session has
    /// ended (`SessionEnd::Aborted { by_peer: false }`).
    pub fn abort(&mut self) {
        self.ep.request_abort();
    }

    /// Decodes a device message (the HTTP request body) and processes it like
    /// [`handle_message`](Self::handle_message). The first message fixes the session's
    /// encoding (detected from the bytes). `hmac` is the `x-syncml-hmac` request header.
    ///
    /// # Errors
    /// [`Error::Decode`] for malformed bytes (answer HTTP 400); otherwise as `handle_message`.
    pub fn handle_bytes(
        &mut self,
        now: Timestamp,
        bytes: &[u8],
        hmac: Option<&str>,
    ) -> Result<(), Error> {
        let encoding = *self.encoding.get_or_insert_with(|| Encoding::detect(bytes));
        let msg = encoding
            .decode(bytes, &self.config.limits)
            .map_err(Error::Decode)?;
        self.handle_decoded(now, encoding, msg, bytes, hmac)
    }

    /// Processes a device message the driver has already decoded from `bytes` in `encoding`
    /// (so that a driver which must read the header before it can pick the session decodes
    /// each message once). The first message fixes the session's encoding; `bytes` and
    /// `hmac` (the `x-syncml-hmac` header) serve `syncml:auth-MAC`.
    ///
    /// # Errors
    /// As [`handle_message`](Self::handle_message).
    pub fn handle_decoded(
        &mut self,
        now: Timestamp,
        encoding: Encoding,
        msg: SyncMl,
        bytes: &[u8],
        hmac: Option<&str>,
    ) -> Result<(), Error> {
        self.encoding.get_or_insert(encoding);
        self.handle(
            now,
            msg,
            Some(MacInput {
                body: bytes,
                header: hmac,
            }),
        )
    }

    /// Processes a decoded device message (XML unless [`handle_bytes`](Self::handle_bytes)
    /// fixed another encoding). Then drain [`poll_event`](Self::poll_event), queue commands,
    /// and send what [`poll_transmit`](Self::poll_transmit) returns as the HTTP response.
    ///
    /// # Errors
    /// [`Error::SessionEnded`] after the end, [`Error::SessionIdMismatch`] for a message of
    /// another session.
    pub fn handle_message(&mut self, now: Timestamp, msg: SyncMl) -> Result<(), Error> {
        self.handle(now, msg, None)
    }

    /// The response to the device's last message. Call it once after each `handle_*` (and
    /// after draining events and queueing commands).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Timestamp) -> Option<Transmit> {
        if self.ep.ended.is_some() || !self.ep.reply_due {
            return None;
        }
        self.ep.reply_due = false;
        self.ep.last_activity = now;
        if self.new_package && !self.ep.abort_requested {
            self.start_package();
        }
        self.new_package = false;
        self.ep.msg_id += 1;
        let msg_id = self.ep.msg_id.to_string();
        let hdr = match self.header() {
            Ok(h) => h,
            Err(_) => {
                self.ep.end(SessionEnd::AuthFailed);
                return None;
            }
        };
        let encoding = self.encoding.unwrap_or(Encoding::Xml);
        let composed = self.ep.compose_message(encoding, hdr, &None);
        for p in &composed.placed {
            if let Some(handle) = p.tag {
                for (id, path) in &p.ids {
                    let r = SentRef {
                        handle,
                        path: path.clone(),
                        partial: p.partial,
                    };
                    self.sent.insert((msg_id.clone(), id.clone()), r);
                }
            }
        }
        // The header Status (first in the message) carries the Chal: the nonce is out now.
        self.ep
            .commit_issued_nonce(self.client_credentials.as_mut());
        Some(self.ep.transmit(
            composed.msg,
            encoding,
            self.config.credentials.as_ref(),
            None,
        ))
    }

    /// The next event for the application, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.ep.poll_event()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, or `None` once
    /// ended.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.ep.poll_timeout(self.config.idle_timeout)
    }

    /// Tells the session the time; ends it with `SessionEnd::TimedOut` when the device stayed
    /// silent for the idle timeout. Commands not yet answered get no further events.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.ep.handle_timeout(now, self.config.idle_timeout);
    }

    // --- internals ---------------------------------------------------------------------

    fn header(&self) -> Result<SyncHdr, Error> {
        self.ep.header(
            self.config.credentials.as_ref(),
            self.session_id.clone().unwrap_or_default(),
            self.device_uri.clone(),
            self.config.server_uri.clone(),
            self.config.resp_uri.clone(),
            limits_meta(self.config.max_msg_size, self.config.max_obj_size),
        )
    }

    /// Moves the queued commands into a new package; objects above the device's MaxObjSize are
    /// reported 413 without being sent.
    fn start_package(&mut self) {
        let mut any = false;
        while let Some(out) = self.queue.pop_front() {
            let too_large =
                data_items(&out.cmd).is_some_and(|items| self.ep.above_peer_max_obj(items));
            if too_large && !matches!(out.cmd, Command::Results(_)) {
                if let Some(handle) = out.tag {
                    let code = StatusCode::REQUEST_ENTITY_TOO_LARGE;
                    let mut s = status("", "", out.cmd.name(), code);
                    s.cmd.clear();
                    self.ep.events.push_back(ServerEvent::Status {
                        handle,
                        path: Vec::new(),
                        code,
                        status: s,
                    });
                }
                continue;
            }
            any = true;
            self.ep.outbox.push_back(out);
        }
        if !any && self.ep.outbox.is_empty() {
            // Nothing more to do: this package closes the session.
            self.ep.may_close = true;
            self.ep.want_more = false;
            self.ep.end_after_send = Some(SessionEnd::Completed);
        }
    }

    fn handle(
        &mut self,
        now: Timestamp,
        msg: SyncMl,
        mac: Option<MacInput<'_>>,
    ) -> Result<(), Error> {
        if self.ep.ended.is_some() {
            return Err(Error::SessionEnded);
        }
        match &self.session_id {
            None => {
                self.session_id = Some(msg.hdr.session_id.clone());
                // The server answers the device's message N with its own message N: a
                // session whose first message is a device's retry (a driver that kept no
                // session for the refused attempt) goes on numbering where the device is.
                if let Ok(n) = msg.hdr.msg_id.trim().parse::<u32>() {
                    self.ep.msg_id = n.saturating_sub(1);
                }
            }
            Some(id) if *id != msg.hdr.session_id => {
                return Err(Error::SessionIdMismatch {
                    expected: id.clone(),
                    got: msg.hdr.session_id,
                });
            }
            Some(_) => {}
        }
        self.ep.received(now, &msg.hdr);
        self.device_uri.clone_from(&msg.hdr.source.loc_uri);
        let msg_id = msg.hdr.msg_id.clone();
        self.ep.reply_due = true;

        // 1. Is the device who it claims to be?
        let (hdr_code, chal) = match self.check_client(&msg, mac.as_ref()) {
            AuthAnswer::Accept(code, chal) => (code, chal),
            AuthAnswer::Refuse(code, chal) => {
                // Answer with statuses only; the device restarts its package.
                self.ep.refuse_message(&msg, code, chal);
                self.ep.want_more = false;
                self.ep.may_close = true;
                return Ok(());
            }
        };
        let mut hdr_status = header_status(&msg.hdr, hdr_code, chal);
        if let (Some(note), Command::Status(s)) = (self.ep.clamped.take(), &mut hdr_status) {
            s.items.push(Item {
                data: Some(note.into()),
                ..Item::default()
            });
        }
        self.ep.hdr_status = Some(hdr_status);

        // 2. Its verdict on our credentials, then its statuses, results and alerts.
        let mut challenged = false;
        for cmd in &msg.body.commands {
            if let Command::Status(s) = cmd
                && s.cmd_ref == "0"
            {
                challenged |= self.our_header_verdict(s);
            }
        }
        let mut next_requested = false;
        let mut aborted = false;
        // The device refused our credentials for good: its last statuses still count, the
        // rest of its message is not acted on, and the answer ends the session (statuses,
        // Alert 1223, Final).
        let refused = self.ep.end_after_send == Some(SessionEnd::AuthFailed);
        for cmd in msg.body.commands {
            match &cmd {
                Command::Status(s) if s.cmd_ref == "0" => continue,
                // Refusals of the commands we are about to send again.
                Command::Status(_) if challenged => continue,
                Command::Status(s) if refused || self.ep.ended.is_some() => {
                    self.client_status(s.clone());
                    continue;
                }
                _ if refused || self.ep.ended.is_some() => break,
                _ => {}
            }
            match &cmd {
                Command::Status(_) | Command::Results(_) => {}
                Command::Alert(a)
                    if a.code == AlertCode::NEXT_MESSAGE || a.code == AlertCode::SESSION_ABORT => {}
                // Anything else before the last chunk of a large object interrupts it.
                _ => self.interrupt_object(),
            }
            match cmd {
                Command::Status(s) => self.client_status(s),
                Command::Results(r) => self.client_results(&msg_id, r),
                Command::Alert(a) => {
                    self.ep.statuses.push(Command::Status(status(
                        &msg_id,
                        &a.cmd_id,
                        "Alert",
                        StatusCode::OK,
                    )));
                    match a.code {
                        AlertCode::NEXT_MESSAGE => next_requested = true,
                        AlertCode::SESSION_ABORT => aborted = true,
                        AlertCode::CLIENT_INITIATED | AlertCode::SERVER_INITIATED => {}
                        _ => self.ep.events.push_back(ServerEvent::Alert(a)),
                    }
                }
                Command::Replace(r) => {
                    let devinfo = !r.items.is_empty()
                        && r.items.iter().all(|i| {
                            let uri = i.source.as_ref().or(i.target.as_ref());
                            uri.is_some_and(|l| {
                                l.loc_uri.starts_with("./DevInfo")
                                    || l.loc_uri.starts_with("DevInfo")
                            })
                        });
                    let code = if devinfo {
                        StatusCode::OK
                    } else {
                        StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED
                    };
                    self.ep
                        .statuses
                        .push(Command::Status(status(&msg_id, &r.cmd_id, "Replace", code)));
                    if devinfo {
                        self.ep.events.push_back(ServerEvent::DevInfo(r.items));
                    }
                }
                other => {
                    self.ep.statuses.push(Command::Status(status(
                        &msg_id,
                        other.cmd_id(),
                        other.name(),
                        StatusCode::OPTIONAL_FEATURE_NOT_SUPPORTED,
                    )));
                }
            }
        }
        if self.ep.ended.is_some() {
            return Ok(());
        }
        if refused {
            // The device reads no further answer: a nonce in it would never take effect.
            self.ep.issued_pending = None;
            if let Some(Command::Status(s)) = self.ep.hdr_status.as_mut() {
                s.chal = None;
            }
            self.ep.outbox.clear();
            self.ep.want_more = false;
            self.ep.may_close = true;
            return Ok(());
        }
        if msg.body.is_final && !aborted {
            // The device's package ended without the last chunk.
            self.interrupt_object();
        }
        if aborted {
            // Status for the header and the alert, Final, and done (digest §3.2).
            self.ep.outbox.clear();
            self.ep.want_more = false;
            self.ep.may_close = true;
            self.ep.end_after_send = Some(SessionEnd::Aborted { by_peer: true });
            return Ok(());
        }
        if challenged {
            // Send again what the refused response carried and what was still to come; the
            // device executed nothing of the refused message and everything of the earlier
            // ones, so no command runs twice.
            self.ep.restore_refused();
            self.ep.want_more = false;
            self.ep.may_close = true;
            return Ok(());
        }
        if next_requested && !self.ep.outbox.is_empty() {
            // The device wants the rest of our package.
            self.ep.want_more = false;
            self.ep.may_close = true;
        } else if !msg.body.is_final {
            // The device's package goes on: ask for its next message.
            self.ep.want_more = true;
            self.ep.may_close = false;
        } else {
            self.ep.want_more = false;
            self.ep.may_close = true;
            self.new_package = true;
        }
        Ok(())
    }

    /// Checks the device's credentials: accepted with the header status and challenge to
    /// send, or refused with the status (401/407) every command of the message gets.
    fn check_client(&mut self, msg: &SyncMl, mac: Option<&MacInput<'_>>) -> AuthAnswer {
        let Some(expect) = self.client_credentials.as_ref() else {
            return AuthAnswer::Accept(StatusCode::OK, None);
        };
        let per_message = expect.scheme == AuthScheme::Hmac;
        if self.ep.peer_authenticated && !per_message {
            return AuthAnswer::Accept(StatusCode::OK, None);
        }
        let mut verdict = expect.check(msg.hdr.cred.as_ref(), mac);
        let mut used = expect.nonce.clone();
        // The resync and challenge nonces count for the device's first message only.
        let challenge = self.challenge_nonce.take();
        if let Some(special) = self.resync_nonce.take()
            && verdict != Verdict::Ok
        {
            let resync = Credentials {
                nonce: special,
                ..expect.clone()
            };
            if resync.check(msg.hdr.cred.as_ref(), mac) == Verdict::Ok {
                verdict = Verdict::Ok;
                used = resync.nonce;
                self.ep.events.push_back(ServerEvent::ResyncNonceAccepted);
            }
        }
        if let Some(nonce) = challenge
            && verdict != Verdict::Ok
        {
            let earlier = Credentials {
                nonce,
                ..expect.clone()
            };
            if earlier.check(msg.hdr.cred.as_ref(), mac) == Verdict::Ok {
                verdict = Verdict::Ok;
                used = earlier.nonce;
            }
        }
        if verdict == Verdict::Ok {
            self.verified_with = (expect.scheme != AuthScheme::Basic).then_some(used);
            let (code, chal, first) = self.ep.peer_verified(expect);
            if first {
                self.ep.events.push_back(ServerEvent::Authenticated);
            }
            return AuthAnswer::Accept(code, Some(chal));
        }
        let (code, chal) = self
            .ep
            .peer_refused(expect, verdict, self.config.max_auth_attempts);
        if self.ep.peer_auth_failures >= self.config.max_auth_attempts {
            self.ep.end_after_send = Some(SessionEnd::PeerAuthFailed);
        }
        AuthAnswer::Refuse(code, chal)
    }

    /// The device's status for our header. True when it challenged us and we resend.
    fn our_header_verdict(&mut self, s: &Status) -> bool {
        let max_attempts = self.config.max_auth_attempts;
        let Some(creds) = self.config.credentials.as_mut() else {
            return false;
        };
        match self.ep.own_verdict(s, creds, max_attempts) {
            OwnVerdict::Accepted { first, nonce } => {
                if let Some(n) = nonce {
                    self.ep.events.push_back(ServerEvent::NonceReceived(n));
                }
                if first {
                    self.ep.events.push_back(ServerEvent::ServerAuthenticated);
                }
                false
            }
            OwnVerdict::Challenged => true,
            OwnVerdict::Settled => false,
        }
    }

    fn client_status(&mut self, s: Status) {
        let key = (s.msg_ref.clone(), s.cmd_ref.clone());
        let Some(r) = self.sent.get(&key).cloned() else {
            return;
        };
        if s.code == StatusCode::CHUNK_ACCEPTED {
            return;
        }
        if r.partial {
            // The device refused a large object midway: drop the chunks not yet sent.
            self.ep.outbox.retain(|o| o.tag != Some(r.handle));
        }
        self.ep.events.push_back(ServerEvent::Status {
            handle: r.handle,
            path: r.path,
            code: s.code,
            status: s,
        });
    }

    /// Drops the large object being received, if any: Alert 1225 naming it goes to the device
    /// and the Get it answers is reported failed (digest §3.4).
    fn interrupt_object(&mut self) {
        if let Some(i) = self.ep.assembler.interrupt() {
            self.object_interrupted(i);
        }
    }

    fn object_interrupted(&mut self, i: Interrupted) {
        self.ep
            .statuses
            .push(no_end_of_data(i.target.clone(), i.source.clone()));
        let Some((msg_ref, cmd_ref)) = i.answers else {
            return;
        };
        let Some(sent) = self.sent.get(&(msg_ref.clone(), cmd_ref.clone())).cloned() else {
            return;
        };
        let code = StatusCode::COMMAND_FAILED;
        let mut s = status(&msg_ref, &cmd_ref, "Get", code);
        s.source_refs.extend(i.source);
        self.ep.events.push_back(ServerEvent::Status {
            handle: sent.handle,
            path: sent.path,
            code,
            status: s,
        });
    }

    fn client_results(&mut self, msg_id: &str, r: Results) {
        let (id, name) = (r.cmd_id.clone(), "Results");
        let (interrupted, offered) = self
            .ep
            .assembler
            .offer(Command::Results(r), self.config.max_obj_size);
        if let Some(i) = interrupted {
            self.object_interrupted(i);
        }
        match offered {
            Offered::Whole(Command::Results(r)) | Offered::Complete(Command::Results(r)) => {
                let key = (r.msg_ref.clone().unwrap_or_default(), r.cmd_ref.clone());
                if let Some(sent) = self.sent.get(&key).cloned() {
                    self.ep.events.push_back(ServerEvent::Results {
                        handle: sent.handle,
                        path: sent.path,
                        results: r,
                    });
                }
            }
            Offered::Whole(_) | Offered::Complete(_) => {}
            Offered::Buffered => {
                let code = StatusCode::CHUNK_ACCEPTED;
                self.ep
                    .statuses
                    .push(Command::Status(status(msg_id, &id, name, code)));
            }
            Offered::Refused(code) => {
                self.ep
                    .statuses
                    .push(Command::Status(status(msg_id, &id, name, code)));
            }
        }
    }
}
