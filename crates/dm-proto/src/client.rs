//! The device side of a DM session.
//!
//! In: messages from the server (`handle_bytes` / `handle_message`), the application's answers
//! to the server's commands (`respond`), Generic Alerts to report (`queue_generic_alert`),
//! timer expiries (`handle_timeout`). Out: messages to POST (`poll_transmit`), events
//! (`poll_event`), the next deadline (`poll_timeout`).

use std::time::Duration;

use syncml::auth::AuthScheme;
use syncml::notification::{NonceMatch, RESYNC_NONCE_OCTETS, RESYNC_NONCE_TEXT};
use syncml::{
    Alert, AlertCode, Chal, Command, Data, Encoding, Item, ItemCmd, Limits, Location, Meta, Status,
    StatusCode, SyncHdr, SyncMl,
};

use crate::credentials::{Credentials, MacInput, NonceSource, Verdict};
use crate::endpoint::{Endpoint, OwnVerdict, SessionEvent};
use crate::header::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_MSG_SIZE, DEFAULT_MAX_OBJ_SIZE, SessionEnd, alert,
    answerable, header_status, limits_meta, session_id_text, status,
};
use crate::large_object::{Offered, no_end_of_data};
use crate::package::Outgoing;
use crate::{Error, Timestamp, Transmit};

/// Configuration of a [`ClientSession`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Encoding of every message of the session.
    pub encoding: Encoding,
    /// The server's URL (DMAcc `AppAddr`); the first message goes there, later ones to the
    /// server's `RespURI` when it gives one.
    pub server_uri: String,
    /// `SyncHdr/Source/LocURI` of our messages: the device id (`./DevInfo/DevId`).
    pub device_id: String,
    /// Largest message we accept (announced as `MaxMsgSize`).
    pub max_msg_size: usize,
    /// Largest object we accept (announced as `MaxObjSize`); larger objects get 413.
    pub max_obj_size: usize,
    /// `MaxMsgSize` assumed for the server until it announces its own.
    pub initial_server_max_msg_size: usize,
    /// Decoder limits for received messages.
    pub limits: Limits,
    /// The session ends (`SessionEnd::TimedOut`) when no server message arrives for this long.
    pub idle_timeout: Duration,
    /// Our credentials towards the server (DMAcc `CLCRED`), `None` for no DM-level auth.
    pub credentials: Option<Credentials>,
    /// The credentials the server must present (DMAcc `SRVCRED`), `None` to not authenticate
    /// the server.
    pub server_credentials: Option<Credentials>,
    /// How many challenges (or refusals of the server) before the session is given up.
    pub max_auth_attempts: u32,
    /// Send `Cred` in Package 1 (true), or only once the server challenges (false).
    pub cred_in_first_message: bool,
}

impl ClientConfig {
    /// A configuration with defaults: XML, 16 KiB messages, 1 MiB objects, 5 minutes idle
    /// timeout, no authentication, 3 auth attempts.
    #[must_use]
    pub fn new(server_uri: impl Into<String>, device_id: impl Into<String>) -> Self {
        ClientConfig {
            encoding: Encoding::Xml,
            server_uri: server_uri.into(),
            device_id: device_id.into(),
            max_msg_size: DEFAULT_MAX_MSG_SIZE,
            max_obj_size: DEFAULT_MAX_OBJ_SIZE,
            initial_server_max_msg_size: DEFAULT_MAX_MSG_SIZE,
            limits: Limits::default(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            credentials: None,
            server_credentials: None,
            max_auth_attempts: 3,
            cred_in_first_message: true,
        }
    }
}

impl ClientConfig {
    /// Nonce resynchronisation (digest §2.3). Give it what
    /// [`syncml::notification::verify_with_resync`] reported for the Package 0 that triggers
    /// this session. When the digest verified only with the special resync nonce, both
    /// directions use that same special nonce, in the representation that verified: our
    /// credentials in Package 1 are computed with it (and sent in Package 1 whatever
    /// [`cred_in_first_message`](Self::cred_in_first_message) says), and the server's
    /// credentials are checked against it. A server that allows the resync accepts them and
    /// answers 212 with a fresh nonce, and we answer its credentials the same way, so both
    /// nonces are in sync again after the session (persist them from the usual
    /// [`ClientEvent::NonceReceived`] / [`ClientEvent::NonceIssued`]). A server that does not
    /// allow it challenges with a fresh nonce, which also recovers.
    ///
    /// Returns true when the resync nonce is in use; [`NonceMatch::Stored`] changes nothing.
    pub fn resync_with(&mut self, matched: NonceMatch) -> bool {
        let special = match matched {
            NonceMatch::Stored => return false,
            NonceMatch::ResyncOctets => RESYNC_NONCE_OCTETS,
            NonceMatch::ResyncText => RESYNC_NONCE_TEXT,
        };
        for c in [&mut self.credentials, &mut self.server_credentials]
            .into_iter()
            .flatten()
        {
            c.nonce = special.to_vec();
        }
        self.cred_in_first_message = true;
        true
    }
}

/// Who asked for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The device on its own (Alert 1201).
    Client,
    /// The server, through a Package 0 notification (Alert 1200).
    Server,
}

/// A Generic Alert (1226) the device reports (digest §3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericAlert {
    /// `Correlator` of the asynchronous Exec this alert reports on, if any.
    pub correlator: Option<String>,
    /// `Item/Source/LocURI`: the node the alert is about.
    pub source: Option<String>,
    /// `Meta/Type`: the alert type, e.g. `urn:oma:at:oma-gwmo:deviceattached:1.0`.
    pub alert_type: String,
    /// `Meta/Format`, e.g. `chr`, `xml`, `int`.
    pub format: String,
    /// `Meta/Mark`: severity, e.g. `critical`.
    pub mark: Option<String>,
    /// The payload.
    pub data: Data,
}

impl GenericAlert {
    /// The Alert command carrying this alert (CmdID left empty).
    #[must_use]
    pub fn to_command(&self) -> Command {
        Command::Alert(Alert {
            cmd_id: String::new(),
            no_resp: false,
            cred: None,
            code: AlertCode::GENERIC_ALERT,
            correlator: self.correlator.clone(),
            items: vec![Item {
                target: None,
                source: self.source.as_deref().map(Location::uri),
                meta: Some(Meta {
                    format: Some(self.format.clone()),
                    r#type: Some(self.alert_type.clone()),
                    mark: self.mark.clone(),
                    ..Meta::default()
                }),
                data: Some(self.data.clone()),
                more_data: false,
            }],
        })
    }
}

/// What a [`ClientSession`] reports to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // events are short-lived; boxing would only add noise
pub enum ClientEvent {
    /// The server sent management commands (large objects already reassembled). Execute them
    /// (e.g. with `dm_tree::Tree::execute`) and give every Status and Results back with
    /// [`ClientSession::respond`]; the session sends nothing until then.
    Commands {
        /// `MsgID` of the server message they came in (the `MsgRef` of the answers).
        msg_id: String,
        /// The commands, in order.
        commands: Vec<Command>,
    },
    /// The server accepted our credentials.
    Authenticated,
    /// The server authenticated itself to us.
    ServerAuthenticated,
    /// The server gave us a new nonce for our next credentials: persist it (DMAcc `CLCRED`
    /// `AAuthData`).
    NonceReceived(Vec<u8>),
    /// We gave the server a new nonce for its next credentials: persist it (DMAcc `SRVCRED`
    /// `AAuthData`).
    ///
    /// Reported only for a nonce that goes out: when the call that made the answer ready
    /// (`handle_*`, `respond` or `abort`) returns, the message carrying the `Chal` is the one the
    /// next [`ClientSession::poll_transmit`] hands out. A nonce that no message will carry (the
    /// server's last package had no commands, the session ended) is dropped unreported and
    /// the stored one stays in force. When the server refuses (401/407) the message that
    /// carried it, it processed nothing of it: the previous nonce is reported again and is
    /// the one in force. Persisting the latest `NonceIssued` is always right.
    NonceIssued(Vec<u8>),
    /// The server's status for one of our commands (Alert, Replace of DevInfo, Results).
    Status(Status),
    /// The session is over; no more messages will be sent.
    Ended(SessionEnd),
}

/// Commands handed to the application and not yet answered.
#[derive(Debug, Clone)]
struct AwaitingApp {
    msg_id: String,
    /// CmdID and element name of every command handed out.
    cmds: Vec<(String, &'static str)>,
}

/// The device side of one DM session, as a sans-IO state machine (see the crate docs).
///
/// Protocol behaviour worth knowing:
/// - **Server authentication** (when [`ClientConfig::server_credentials`] is set): until the
///   server proves itself, a server message with commands is refused: its `SyncHdr` gets 407
///   (no `Cred`) or 401 (wrong `Cred`) with a `Chal` (a fresh nonce for 401), and *every*
///   command of the message gets the same 401/407 status; nothing reaches the application.
///   After `max_auth_attempts` refusals the last one goes without `Chal` and with `Final`, and
///   the session ends with [`SessionEnd::PeerAuthFailed`]. An accepted server gets 212 and a
///   `Chal` with the nonce for its next session ([`ClientEvent::NonceIssued`]); with
///   `syncml:auth-MAC` every message is checked and answered 200 + `Chal`.
/// - **Our authentication**: 401/407 with `Chal` makes the session send again, with new
///   credentials, what the refused message carried and what was still to come: all of
///   Package 1 when its first message is refused (digest §4.2), never what an accepted
///   message carried (the server processed it; it processes nothing of a refused one); the
///   server's 401/407 statuses for the refused commands are not reported. 212 stops sending `Cred`;
///   a `NextNonce` in any `Chal` is adopted and reported ([`ClientEvent::NonceReceived`]).
/// - **Multi-message packages**: when the server's message lacks `Final`, our answer carries
///   Alert 1222 and no `Final`; when our package does not fit the server's `MaxMsgSize`, it
///   goes in several messages, `Final` on the last one only.
/// - **Large objects**: incoming chunks are answered 213 and reassembled before the
///   application sees the command; a size mismatch gets 424, an object above `MaxObjSize`
///   413, an object interrupted by another command Alert 1225. Outgoing items (Results) too
///   large for one message are chunked (`MoreData`, `Meta/Size` on the first chunk).
/// - A server message with `Final`, no commands and no challenge ends the session
///   ([`SessionEnd::Completed`]); nothing is sent back.
pub struct ClientSession {
    config: ClientConfig,
    /// Events, idle timer, end, the message being built, the server's authentication.
    ep: Endpoint<ClientEvent, ()>,
    session_id: String,
    initiator: Initiator,
    devinfo: Vec<Item>,
    alerts: Vec<Command>,
    started: bool,
    url: String,
    /// The server nonce in force before the one committed for the next message.
    void_to: Option<Vec<u8>>,
    /// The server nonce in force before the one the last message carried, if it carried one.
    last_msg_void_to: Option<Vec<u8>>,
    next_hdr_answer: Option<(StatusCode, Option<Chal>)>,
    awaiting: Option<AwaitingApp>,
}

impl std::fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSession")
            .field("session_id", &self.session_id)
            .field("msg_id", &self.ep.msg_id)
            .field("ended", &self.ep.ended)
            .finish_non_exhaustive()
    }
}

impl SessionEvent for ClientEvent {
    fn ended(how: SessionEnd) -> Self {
        ClientEvent::Ended(how)
    }

    fn nonce_issued(nonce: Vec<u8>) -> Self {
        ClientEvent::NonceIssued(nonce)
    }

    fn nonce_received(nonce: Vec<u8>) -> Self {
        ClientEvent::NonceReceived(nonce)
    }
}

impl ClientSession {
    /// Starts a session. `session_id` is the id from Package 0 for [`Initiator::Server`], or
    /// one the device picks for [`Initiator::Client`]. `devinfo` are the `./DevInfo` leaves
    /// (Source/LocURI = node URI, Data = value) sent in Package 1. `nonces` supplies fresh
    /// nonces for server authentication.
    ///
    /// Then call [`poll_transmit`](Self::poll_transmit) to get Package 1 (Generic Alerts
    /// queued before that go into it).
    #[must_use]
    pub fn new(
        config: ClientConfig,
        initiator: Initiator,
        session_id: u16,
        devinfo: Vec<Item>,
        nonces: Box<dyn NonceSource>,
        now: Timestamp,
    ) -> Self {
        let url = config.server_uri.clone();
        let server_max_msg = config.initial_server_max_msg_size;
        let cred_needed = config.credentials.is_some() && config.cred_in_first_message;
        ClientSession {
            config,
            ep: Endpoint::new(nonces, now, true, cred_needed, server_max_msg),
            session_id: session_id_text(session_id),
            initiator,
            devinfo,
            alerts: Vec::new(),
            started: false,
            url,
            void_to: None,
            last_msg_void_to: None,
            next_hdr_answer: None,
            awaiting: None,
        }
    }

    /// The `SessionID` text of this session.
    #[must_use]
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// How the session ended, once it has.
    #[must_use]
    pub fn ended(&self) -> Option<SessionEnd> {
        self.ep.ended
    }

    /// The largest object the server accepts, once it announced one.
    #[must_use]
    pub fn server_max_obj_size(&self) -> Option<usize> {
        self.ep.peer_max_obj
    }

    /// Queues a Generic Alert (1226). It goes out with the next package the device sends
    /// (Package 1 if that has not left yet); if the server has just closed the session, the
    /// device opens a new package for it.
    pub fn queue_generic_alert(&mut self, alert: &GenericAlert) {
        self.alerts.push(alert.to_command());
    }

    /// Asks to abort the session: the next message carries Alert 1223 and `Final`, after which
    /// the session has ended (`SessionEnd::Aborted { by_peer: false }`).
    pub fn abort(&mut self) {
        if self.ep.ended.is_none() {
            self.ep.request_abort();
            self.awaiting = None;
            self.settle_issued_nonce();
        }
    }

    /// Decodes a server message (the HTTP response body) and processes it like
    /// [`handle_message`](Self::handle_message). `hmac` is the `x-syncml-hmac` header value
    /// when the response had one.
    ///
    /// # Errors
    /// [`Error::Decode`] for malformed bytes; otherwise as `handle_message`.
    pub fn handle_bytes(
        &mut self,
        now: Timestamp,
        bytes: &[u8],
        hmac: Option<&str>,
    ) -> Result<(), Error> {
        let msg = self
            .config
            .encoding
            .decode(bytes, &self.config.limits)
            .map_err(Error::Decode)?;
        self.handle(
            now,
            msg,
            Some(MacInput {
                body: bytes,
                header: hmac,
            }),
        )
    }

    /// Processes a decoded server message. Call it with every response to a message from
    /// [`poll_transmit`](Self::poll_transmit); afterwards drain
    /// [`poll_event`](Self::poll_event) and call `poll_transmit` again.
    ///
    /// # Errors
    /// [`Error::SessionEnded`] after the session ended, [`Error::SessionIdMismatch`] for a
    /// message of another session, [`Error::Unexpected`] while the application still owes
    /// answers to the previous commands.
    pub fn handle_message(&mut self, now: Timestamp, msg: SyncMl) -> Result<(), Error> {
        self.handle(now, msg, None)
    }

    /// Hands over the application's answers to the commands of the last
    /// [`ClientEvent::Commands`]: the Status (and Results) commands returned by executing them,
    /// CmdIDs left empty. A command left without a Status gets 500. Results carrying an object
    /// larger than the server's `MaxObjSize` are not sent: the Get they answer gets Status 413
    /// instead (digest §3.1, a received `MaxObjSize` must be honoured). Afterwards call
    /// [`poll_transmit`](Self::poll_transmit).
    ///
    /// # Errors
    /// [`Error::Unexpected`] when no commands await answers.
    pub fn respond(&mut self, responses: Vec<Command>) -> Result<(), Error> {
        let Some(awaiting) = self.awaiting.take() else {
            return Err(Error::Unexpected {
                reason: "no commands await responses",
            });
        };
        let mut answered: Vec<String> = Vec::new();
        // Gets whose Results the server could not take.
        let too_large: Vec<String> = responses
            .iter()
            .filter_map(|r| match r {
                Command::Results(res) if self.ep.above_peer_max_obj(&res.items) => {
                    Some(res.cmd_ref.clone())
                }
                _ => None,
            })
            .collect();
        for mut r in responses {
            match &mut r {
                Command::Results(res) if too_large.contains(&res.cmd_ref) => continue,
                Command::Status(s) => {
                    if s.msg_ref.is_empty() {
                        s.msg_ref.clone_from(&awaiting.msg_id);
                    }
                    if too_large.contains(&s.cmd_ref) {
                        s.code = StatusCode::REQUEST_ENTITY_TOO_LARGE;
                        s.items.clear();
                    }
                    answered.push(s.cmd_ref.clone());
                }
                Command::Results(res) if res.msg_ref.as_deref().is_none_or(str::is_empty) => {
                    res.msg_ref = Some(awaiting.msg_id.clone());
                }
                _ => {}
            }
            self.push(r);
        }
        for (id, name) in &awaiting.cmds {
            if !answered.contains(id) {
                let code = if too_large.contains(id) {
                    StatusCode::REQUEST_ENTITY_TOO_LARGE
                } else {
                    StatusCode::COMMAND_FAILED
                };
                self.push(Command::Status(status(&awaiting.msg_id, id, name, code)));
            }
        }
        self.take_alerts();
        self.ep.reply_due = true;
        self.settle_issued_nonce();
        Ok(())
    }

    /// The next message to POST, if one is due. Call it after creating the session, after
    /// `handle_*`, `respond` and `abort`, until it returns `None`. Send `bytes` with
    /// `content_type` (and `hmac` as `x-syncml-hmac` when present) to `url`, then feed the
    /// response to [`handle_bytes`](Self::handle_bytes).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Timestamp) -> Option<Transmit> {
        if self.ep.ended.is_some() || !self.ep.reply_due || self.awaiting.is_some() {
            return None;
        }
        if !self.started {
            self.start_package1();
        }
        self.settle_issued_nonce();
        self.last_msg_void_to = self.void_to.take();
        self.ep.reply_due = false;
        self.ep.last_activity = now;
        self.ep.msg_id += 1;
        let hdr = match self.header() {
            Ok(h) => h,
            Err(_) => {
                self.ep.end(SessionEnd::AuthFailed);
                return None;
            }
        };
        let encoding = self.config.encoding;
        let composed = self.ep.compose_message(encoding, hdr, &());
        Some(self.ep.transmit(
            composed.msg,
            encoding,
            self.config.credentials.as_ref(),
            Some(self.url.clone()),
        ))
    }

    /// The next event for the application, if any. Drain it after every call of `handle_*`
    /// and `handle_timeout`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.ep.poll_event()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next (the idle deadline),
    /// or `None` once the session has ended.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.ep.poll_timeout(self.config.idle_timeout)
    }

    /// Tells the session the time; call it when the deadline of
    /// [`poll_timeout`](Self::poll_timeout) has passed. Ends the session with
    /// `SessionEnd::TimedOut` when the server stayed silent for the idle timeout.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.ep.handle_timeout(now, self.config.idle_timeout);
    }

    // --- internals ---------------------------------------------------------------------

    fn push(&mut self, cmd: Command) {
        self.ep.outbox.push_back(Outgoing::new(cmd, ()));
    }

    fn take_alerts(&mut self) {
        for a in std::mem::take(&mut self.alerts) {
            self.push(a);
        }
    }

    fn start_package1(&mut self) {
        self.started = true;
        let code = match self.initiator {
            Initiator::Client => AlertCode::CLIENT_INITIATED,
            Initiator::Server => AlertCode::SERVER_INITIATED,
        };
        let mut session_alert = alert(code);
        if let Command::Alert(a) = &mut session_alert {
            a.items.push(Item {
                source: Some(Location::uri(self.config.device_id.clone())),
                target: Some(Location::uri(self.config.server_uri.clone())),
                ..Item::default()
            });
        }
        self.push(session_alert);
        if !self.devinfo.is_empty() {
            self.push(Command::Replace(ItemCmd {
                items: self.devinfo.clone(),
                ..ItemCmd::default()
            }));
        }
        self.take_alerts();
    }

    fn header(&self) -> Result<SyncHdr, Error> {
        self.ep.header(
            self.config.credentials.as_ref(),
            self.session_id.clone(),
            self.config.server_uri.clone(),
            self.config.device_id.clone(),
            None,
            limits_meta(self.config.max_msg_size, self.config.max_obj_size),
        )
    }

    fn handle(
        &mut self,
        now: Timestamp,
        msg: SyncMl,
        mac: Option<MacInput<'_>>,
    ) -> Result<(), Error> {
        let r = self.handle_inner(now, msg, mac);
        self.settle_issued_nonce();
        r
    }

    fn handle_inner(
        &mut self,
        now: Timestamp,
        msg: SyncMl,
        mac: Option<MacInput<'_>>,
    ) -> Result<(), Error> {
        if self.ep.ended.is_some() {
            return Err(Error::SessionEnded);
        }
        if msg.hdr.session_id != self.session_id {
            return Err(Error::SessionIdMismatch {
                expected: self.session_id.clone(),
                got: msg.hdr.session_id,
            });
        }
        if self.awaiting.is_some() {
            return Err(Error::Unexpected {
                reason: "server message while commands await responses",
            });
        }
        self.ep.received(now, &msg.hdr);
        if let Some(uri) = msg.hdr.resp_uri.as_ref().filter(|u| !u.is_empty()) {
            self.url.clone_from(uri);
        }
        let has_commands = msg.body.commands.iter().any(|c| {
            answerable(c) && !matches!(c, Command::Alert(a) if a.code == AlertCode::NEXT_MESSAGE)
        });

        // 0. A refusal of our last message voids the nonce it carried: the server still uses
        // the one before, for this very message too.
        let refuses_us = msg.body.commands.iter().any(|c| {
            matches!(c, Command::Status(s) if s.cmd_ref == "0"
                && (s.code == StatusCode::INVALID_CREDENTIALS
                    || s.code == StatusCode::MISSING_CREDENTIALS))
        });
        if refuses_us {
            self.void_issued_nonce();
        }
        self.last_msg_void_to = None;

        // 1. Is the server who it claims to be?
        let refusal = self.check_server(&msg, mac.as_ref(), has_commands);

        // 2. The server's verdict on us and on our commands.
        let mut challenged = false;
        for cmd in &msg.body.commands {
            if let Command::Status(s) = cmd
                && s.cmd_ref == "0"
            {
                challenged |= self.header_verdict(s)?;
            }
        }
        let mut abort = false;
        let mut next_requested = false;
        for cmd in &msg.body.commands {
            match cmd {
                Command::Status(s) if s.cmd_ref == "0" => {}
                Command::Status(s) if s.code == StatusCode::CHUNK_ACCEPTED => {}
                // The refusals of the commands we are about to send again.
                Command::Status(_) if challenged => {}
                Command::Status(s) => self.ep.events.push_back(ClientEvent::Status(s.clone())),
                Command::Alert(a) if a.code == AlertCode::SESSION_ABORT => abort = true,
                Command::Alert(a) if a.code == AlertCode::NEXT_MESSAGE => next_requested = true,
                _ => {}
            }
        }
        if abort {
            self.ep.end(SessionEnd::Aborted { by_peer: true });
            return Ok(());
        }
        if self.ep.ended.is_some() {
            return Ok(());
        }
        let server_done = msg.body.is_final || next_requested;
        self.ep.want_more = !server_done;
        self.ep.may_close = server_done;

        if challenged {
            // Send again, with the new credentials, what the refused message carried and what
            // was still to come (digest §4.2). The server processed nothing of the refused
            // message and all of the earlier ones, so nothing reaches it twice; when the refused
            // message was the first of Package 1, this restarts Package 1.
            self.ep.hdr_status = Some(self.header_status_for(&msg.hdr));
            self.ep.restore_refused();
            self.ep.reply_due = true;
            return Ok(());
        }

        if let Some((code, chal)) = refusal {
            // Refuse every command: nothing is executed for an unauthenticated server.
            self.ep.refuse_message(&msg, code, chal);
            if self.ep.peer_auth_failures >= self.config.max_auth_attempts {
                // Send the refusal (with Final), then stop.
                self.ep.may_close = true;
                self.ep.want_more = false;
                self.ep.end_after_send = Some(SessionEnd::PeerAuthFailed);
            }
            self.ep.reply_due = true;
            return Ok(());
        }

        if server_done && msg.body.is_final && !has_commands && !self.ep.assembler.is_pending() {
            if self.ep.outbox.is_empty() && self.alerts.is_empty() {
                self.ep.end(SessionEnd::Completed);
                return Ok(());
            }
            // Alerts queued late: open a new package for them.
            self.ep.hdr_status = Some(self.header_status_for(&msg.hdr));
            self.take_alerts();
            self.ep.reply_due = true;
            return Ok(());
        }

        // 3. The server's commands.
        self.ep.hdr_status = Some(self.header_status_for(&msg.hdr));
        let msg_id = msg.hdr.msg_id.clone();
        let mut batch = Vec::new();
        for cmd in msg.body.commands {
            if !answerable(&cmd) {
                continue;
            }
            if let Command::Alert(a) = &cmd
                && (a.code == AlertCode::NEXT_MESSAGE || a.code == AlertCode::NO_END_OF_DATA)
            {
                self.ep.statuses.push(Command::Status(status(
                    &msg_id,
                    &a.cmd_id,
                    "Alert",
                    StatusCode::OK,
                )));
                continue;
            }
            let (id, name) = (cmd.cmd_id().to_owned(), cmd.name());
            let (interrupted, offered) = self.ep.assembler.offer(cmd, self.config.max_obj_size);
            if let Some(i) = interrupted {
                self.ep.statuses.push(no_end_of_data(i.target, i.source));
            }
            match offered {
                Offered::Whole(c) | Offered::Complete(c) => batch.push(c),
                Offered::Buffered => {
                    self.ep.statuses.push(Command::Status(status(
                        &msg_id,
                        &id,
                        name,
                        StatusCode::CHUNK_ACCEPTED,
                    )));
                }
                Offered::Refused(code) => {
                    self.ep
                        .statuses
                        .push(Command::Status(status(&msg_id, &id, name, code)));
                }
            }
        }
        if batch.is_empty() {
            self.take_alerts();
            self.ep.reply_due = true;
        } else {
            self.awaiting = Some(AwaitingApp {
                msg_id: msg_id.clone(),
                cmds: batch
                    .iter()
                    .map(|c| (c.cmd_id().to_owned(), c.name()))
                    .collect(),
            });
            self.ep.events.push_back(ClientEvent::Commands {
                msg_id,
                commands: batch,
            });
        }
        Ok(())
    }
}

impl ClientSession {
    /// Checks the server's credentials when we authenticate the server. `None`: accepted (or
    /// not checked); `Some`: the status (401/407) and challenge every command is refused with.
    fn check_server(
        &mut self,
        msg: &SyncMl,
        mac: Option<&MacInput<'_>>,
        has_commands: bool,
    ) -> Option<(StatusCode, Option<Chal>)> {
        let expect = self.config.server_credentials.as_ref()?;
        let per_message = expect.scheme == AuthScheme::Hmac;
        if self.ep.peer_authenticated && !per_message {
            return None;
        }
        let verdict = expect.check(msg.hdr.cred.as_ref(), mac);
        if verdict == Verdict::Ok {
            let (code, chal, first) = self.ep.peer_verified(expect);
            if first {
                self.ep.events.push_back(ClientEvent::ServerAuthenticated);
            }
            self.next_hdr_answer = Some((code, Some(chal)));
            return None;
        }
        if !has_commands {
            // A status-only message is not challenged back (digest §4.2).
            return None;
        }
        Some(
            self.ep
                .peer_refused(expect, verdict, self.config.max_auth_attempts),
        )
    }

    /// Commits the pending issued nonce when the next `poll_transmit` hands out the message
    /// carrying it: an answer is due, the application owes nothing, and the header Status (the
    /// `Chal`, always placed first in the message) is waiting. Then server credentials are
    /// checked against it and [`ClientEvent::NonceIssued`] reports it.
    ///
    /// It is called at the end of every call that can make an answer ready, so that a driver
    /// draining events before `poll_transmit` learns the nonce before the message leaves.
    fn settle_issued_nonce(&mut self) {
        let ready = self.ep.ended.is_none()
            && self.ep.reply_due
            && self.awaiting.is_none()
            && self.ep.hdr_status.is_some();
        if !ready {
            return;
        }
        if let Some(previous) = self
            .ep
            .commit_issued_nonce(self.config.server_credentials.as_mut())
        {
            self.void_to = Some(previous);
        }
    }

    /// The server refused our last message: it processed nothing of it, so the nonce that
    /// message gave it never took effect. Back to the one before (reported again, so that a
    /// driver persisting the latest `NonceIssued` keeps the one the server really holds).
    fn void_issued_nonce(&mut self) {
        if let Some(previous) = self.last_msg_void_to.take()
            && let Some(c) = self.config.server_credentials.as_mut()
        {
            c.nonce.clone_from(&previous);
            self.ep.events.push_back(ClientEvent::NonceIssued(previous));
        }
    }

    /// Our Status for the server's header: 200, or what server authentication decided.
    fn header_status_for(&mut self, hdr: &SyncHdr) -> Command {
        let (code, chal) = self
            .next_hdr_answer
            .take()
            .unwrap_or((StatusCode::OK, None));
        header_status(hdr, code, chal)
    }

    /// Processes the server's Status for our header. Returns true when the server challenged
    /// and the package must be sent again with new credentials.
    fn header_verdict(&mut self, s: &Status) -> Result<bool, Error> {
        let max_attempts = self.config.max_auth_attempts;
        let Some(creds) = self.config.credentials.as_mut() else {
            return Ok(self.header_verdict_anonymous(s));
        };
        match self.ep.own_verdict(s, creds, max_attempts) {
            OwnVerdict::Accepted { first, nonce } => {
                if first {
                    self.ep.events.push_back(ClientEvent::Authenticated);
                }
                if let Some(n) = nonce {
                    self.ep.events.push_back(ClientEvent::NonceReceived(n));
                }
                Ok(false)
            }
            OwnVerdict::Challenged => Ok(true),
            OwnVerdict::Settled => Ok(false),
        }
    }

    /// The server's Status for our header when we have no credentials: a refusal ends the
    /// session, a nonce offered is reported.
    fn header_verdict_anonymous(&mut self, s: &Status) -> bool {
        match s.code {
            StatusCode::OK | StatusCode::AUTH_ACCEPTED => {
                let chal = s
                    .chal
                    .as_ref()
                    .and_then(|c| syncml::auth::parse_chal(c).ok());
                if let Some((_, Some(nonce))) = chal {
                    self.ep.events.push_back(ClientEvent::NonceReceived(nonce));
                }
            }
            StatusCode::INVALID_CREDENTIALS | StatusCode::MISSING_CREDENTIALS => {
                self.ep.end(SessionEnd::AuthFailed);
            }
            _ => {}
        }
        false
    }
}
