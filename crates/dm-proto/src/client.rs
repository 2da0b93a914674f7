//! The device side of a DM session.
//!
//! In: messages from the server (`handle_bytes` / `handle_message`), the application's answers
//! to the server's commands, each as it finishes (`respond_to`) or all at once (`respond`),
//! Generic Alerts to report (`queue_generic_alert`), timer expiries (`handle_timeout`). Out:
//! messages to POST (`poll_transmit`), events (`poll_event`), the next deadline
//! (`poll_timeout`).

use std::time::Duration;

use syncml::auth::AuthScheme;
use syncml::notification::{NonceMatch, RESYNC_NONCE_OCTETS, RESYNC_NONCE_TEXT};
use syncml::{
    Alert, AlertCode, Chal, Command, Data, Encoding, Item, ItemCmd, Limits, Location, Meta, Status,
    StatusCode, SyncHdr, SyncMl,
};

use crate::answers::{Answers, CommandRef};
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
    /// While some of the server's commands are still unanswered, how long the answers ready
    /// so far wait for the others before they go anyway (in a message without `Final`, which
    /// the server answers with Alert 1222; the later answers follow in later messages of the
    /// same package). Counted from each server message, so while answers are owed a message
    /// goes at least this often: it keeps the session alive. Keep it well under the server's
    /// idle timeout, and not near zero (each keep-alive costs a round trip).
    pub answer_hold: Duration,
    /// How long a command may stay unanswered. Past it the session answers it (and every
    /// command nested in it still unanswered) with 202, accepted for processing, and reports
    /// it as [`ClientEvent::Deferred`]: its outcome is then for the application to report by
    /// Generic Alert (1226), in this session or a later one.
    pub answer_deadline: Duration,
}

/// Default [`ClientConfig::answer_hold`]: well under a server's usual idle timeout (minutes).
pub const DEFAULT_ANSWER_HOLD: Duration = Duration::from_secs(20);
/// Default [`ClientConfig::answer_deadline`].
pub const DEFAULT_ANSWER_DEADLINE: Duration = Duration::from_secs(120);

impl ClientConfig {
    /// A configuration with defaults: XML, 16 KiB messages, 1 MiB objects, 5 minutes idle
    /// timeout, no authentication, 3 auth attempts, answers held up to
    /// [`DEFAULT_ANSWER_HOLD`], deferred after [`DEFAULT_ANSWER_DEADLINE`].
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
            answer_hold: DEFAULT_ANSWER_HOLD,
            answer_deadline: DEFAULT_ANSWER_DEADLINE,
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

/// A Generic Alert (1226) the device reports (digest §3.8): one or more items, each an alert
/// of its own, under one optional `Correlator`.
///
/// When the items do not fit one message (the server's `MaxMsgSize`), the session sends them
/// as several Generic Alerts, each with the same `Correlator` and as many whole items as fit,
/// in order (each item being an independent alert, nothing is lost in the cut).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericAlert {
    correlator: Option<String>,
    /// Never empty.
    items: Vec<AlertItem>,
}

/// One item of a [`GenericAlert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertItem {
    /// `Source/LocURI`: the node the alert is about.
    pub source: Option<String>,
    /// `Target/LocURI`, if any.
    pub target: Option<String>,
    /// `Meta/Type`: the alert type, e.g. `urn:oma:at:oma-gwmo:deviceattached:1.0`.
    pub alert_type: String,
    /// `Meta/Format`, e.g. `chr`, `xml`, `int`.
    pub format: String,
    /// `Meta/Mark`: severity, e.g. `critical`.
    pub mark: Option<String>,
    /// The payload.
    pub data: Data,
}

impl AlertItem {
    /// An item of type `alert_type` carrying `data` in `format`, with no Source, Target or
    /// Mark.
    #[must_use]
    pub fn new(alert_type: impl Into<String>, format: impl Into<String>, data: Data) -> Self {
        AlertItem {
            source: None,
            target: None,
            alert_type: alert_type.into(),
            format: format.into(),
            mark: None,
            data,
        }
    }

    /// The same item with `Source/LocURI` = `uri`.
    #[must_use]
    pub fn with_source(mut self, uri: impl Into<String>) -> Self {
        self.source = Some(uri.into());
        self
    }

    /// The same item with `Target/LocURI` = `uri`.
    #[must_use]
    pub fn with_target(mut self, uri: impl Into<String>) -> Self {
        self.target = Some(uri.into());
        self
    }

    /// The same item with `Meta/Mark` = `mark`.
    #[must_use]
    pub fn with_mark(mut self, mark: impl Into<String>) -> Self {
        self.mark = Some(mark.into());
        self
    }

    fn to_item(&self) -> Item {
        Item {
            target: self.target.as_deref().map(Location::uri),
            source: self.source.as_deref().map(Location::uri),
            meta: Some(Meta {
                format: Some(self.format.clone()),
                r#type: Some(self.alert_type.clone()),
                mark: self.mark.clone(),
                ..Meta::default()
            }),
            data: Some(self.data.clone()),
            more_data: false,
        }
    }
}

impl GenericAlert {
    /// A Generic Alert of one item, without `Correlator`.
    #[must_use]
    pub fn new(item: AlertItem) -> Self {
        GenericAlert {
            correlator: None,
            items: vec![item],
        }
    }

    /// The same alert with `Correlator` = `correlator` (the Correlator of the asynchronous
    /// Exec it reports on).
    #[must_use]
    pub fn with_correlator(mut self, correlator: impl Into<String>) -> Self {
        self.correlator = Some(correlator.into());
        self
    }

    /// The same alert with one more item.
    #[must_use]
    pub fn with_item(mut self, item: AlertItem) -> Self {
        self.items.push(item);
        self
    }

    /// Adds an item.
    pub fn push(&mut self, item: AlertItem) {
        self.items.push(item);
    }

    /// The `Correlator`, if any.
    #[must_use]
    pub fn correlator(&self) -> Option<&str> {
        self.correlator.as_deref()
    }

    /// The items, in order (at least one).
    #[must_use]
    pub fn items(&self) -> &[AlertItem] {
        &self.items
    }

    /// The Generic Alert an `Alert` command carries (the inverse of
    /// [`GenericAlert::to_command`]): `None` for another alert code or an alert without items.
    /// An item without `Meta/Format` gets `chr`, one without `Data` an empty text.
    #[must_use]
    pub fn from_alert(alert: &Alert) -> Option<Self> {
        if alert.code != AlertCode::GENERIC_ALERT || alert.items.is_empty() {
            return None;
        }
        let items = alert
            .items
            .iter()
            .map(|i| {
                let meta = i.meta.as_ref();
                AlertItem {
                    source: i.source.as_ref().map(|l| l.loc_uri.clone()),
                    target: i.target.as_ref().map(|l| l.loc_uri.clone()),
                    alert_type: meta.and_then(|m| m.r#type.clone()).unwrap_or_default(),
                    format: meta
                        .and_then(|m| m.format.clone())
                        .unwrap_or_else(|| "chr".to_owned()),
                    mark: meta.and_then(|m| m.mark.clone()),
                    data: i.data.clone().unwrap_or_else(|| Data::Text(String::new())),
                }
            })
            .collect();
        Some(GenericAlert {
            correlator: alert.correlator.clone(),
            items,
        })
    }

    /// The Alert command carrying this alert (CmdID left empty).
    #[must_use]
    pub fn to_command(&self) -> Command {
        Command::Alert(Alert {
            cmd_id: String::new(),
            no_resp: false,
            cred: None,
            code: AlertCode::GENERIC_ALERT,
            correlator: self.correlator.clone(),
            items: self.items.iter().map(AlertItem::to_item).collect(),
        })
    }
}

/// What a [`ClientSession`] reports to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)] // events are short-lived; boxing would only add noise
pub enum ClientEvent {
    /// The server sent management commands (large objects already reassembled). Execute them
    /// (e.g. with `dm_tree::Tree::execute`) and give their Status and Results back, all at
    /// once with [`ClientSession::respond`], or each as it finishes with
    /// [`ClientSession::respond_to`] (the command's [`CommandRef`] is `msg_id` and its
    /// CmdID). While some are owed the session holds the answers ready so far for up to
    /// [`ClientConfig::answer_hold`] (see there), and answers 202 for what is still owed at
    /// [`ClientConfig::answer_deadline`].
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
    /// These commands were still unanswered at [`ClientConfig::answer_deadline`]: the session
    /// answered them (and the commands nested in them) 202, accepted for processing. Answers
    /// given for them from now on are refused ([`Error::NotAwaited`]); report their outcome by
    /// Generic Alert (1226), with the Exec's `Correlator` where there is one.
    Deferred(Vec<CommandRef>),
    /// The session ended while these commands were still unanswered (abort, timeout,
    /// authentication failure): the server never got their Status. Reported just before
    /// [`ClientEvent::Ended`].
    Unanswered(Vec<CommandRef>),
    /// The session is over; no more messages will be sent.
    Ended(SessionEnd),
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
/// - **Answers as they finish**: the commands of a server message are owed until each has a
///   Status ([`respond_to`](Self::respond_to)). The reply goes as soon as nothing is owed;
///   while something is, the answers ready so far wait up to `answer_hold`, then go in a
///   message without `Final` (a keep-alive when nothing is ready) and later answers follow in
///   later messages of the same package, `Final` with the last. The reply to a server message
///   without `Final` (its package goes on), the rest of a multi-message reply, a resend after
///   a challenge and an abort go at once. Answers to commands inside an Atomic wait for the
///   Atomic's own Status and go with it. Past `answer_deadline` what is still owed is
///   answered 202 ([`ClientEvent::Deferred`]); when the session ends first, the application
///   learns what was never answered ([`ClientEvent::Unanswered`]).
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
    /// The answers owed to the server's commands.
    answers: Answers,
    /// While answers are owed: when the reply goes even though some are still missing. `None`
    /// when the reply goes as soon as it is ready.
    hold_until: Option<Timestamp>,
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
            answers: Answers::default(),
            hold_until: None,
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

    /// Asks to abort the session: the next message carries Alert 1223 and `Final` (and the
    /// answers ready so far), after which the session has ended
    /// (`SessionEnd::Aborted { by_peer: false }`); commands still unanswered then are reported
    /// as [`ClientEvent::Unanswered`].
    pub fn abort(&mut self) {
        if self.ep.ended.is_none() {
            self.ep.request_abort();
            self.hold_until = None;
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
    /// message of another session.
    pub fn handle_message(&mut self, now: Timestamp, msg: SyncMl) -> Result<(), Error> {
        self.handle(now, msg, None)
    }

    /// Hands over the application's answers to every command still owed, all at once: the
    /// Status (and Results) commands returned by executing them, CmdIDs left empty (an empty
    /// `MsgRef` means the latest server message with commands). A top-level command left
    /// without a Status gets 500. Results carrying an object larger than the server's
    /// `MaxObjSize` are not sent: the Get they answer gets Status 413 instead (digest §3.1, a
    /// received `MaxObjSize` must be honoured). Afterwards call
    /// [`poll_transmit`](Self::poll_transmit).
    ///
    /// # Errors
    /// [`Error::Unexpected`] when no commands await answers.
    pub fn respond(&mut self, responses: Vec<Command>) -> Result<(), Error> {
        let Some(msg_id) = self.answers.latest_msg_id().map(str::to_owned) else {
            return Err(Error::Unexpected {
                reason: "no commands await responses",
            });
        };
        for r in self.fit_server_max_obj(responses, &msg_id) {
            for out in self.answers.settle(r) {
                self.push(out);
            }
        }
        let (_, rest) = self.answers.close(StatusCode::COMMAND_FAILED);
        for out in rest {
            self.push(out);
        }
        self.settle_issued_nonce();
        Ok(())
    }

    /// Hands over the answers to one command as it finishes: its Status, the Results of a Get,
    /// and for an Atomic or Sequence the statuses (and Results) of the commands in it that
    /// are answered now (each of them may also be answered on its own, by its own
    /// [`CommandRef`]). CmdIDs left empty, an empty `MsgRef` is `cmd`'s. Give a Get's Status
    /// and Results in the same call. Results above the server's `MaxObjSize` are replaced by
    /// Status 413, as with [`respond`](Self::respond). The answers go in the next message
    /// the session sends (see [`ClientConfig::answer_hold`]); afterwards call
    /// [`poll_transmit`](Self::poll_transmit).
    ///
    /// # Errors
    /// Nothing is taken when it fails: [`Error::SessionEnded`] after the end,
    /// [`Error::NotAwaited`] when no answer is awaited for `cmd` or for a command an answer
    /// names (unknown, not inside `cmd`, already answered, or answered 202 at the deadline:
    /// [`ClientEvent::Deferred`]), [`Error::Unexpected`] for an answer that is not a Status or
    /// Results.
    pub fn respond_to(&mut self, cmd: &CommandRef, responses: Vec<Command>) -> Result<(), Error> {
        if self.ep.ended.is_some() {
            return Err(Error::SessionEnded);
        }
        self.answers.check(cmd, &responses)?;
        for r in self.fit_server_max_obj(responses, &cmd.msg_ref) {
            for out in self.answers.settle(r) {
                self.push(out);
            }
        }
        self.settle_issued_nonce();
        Ok(())
    }

    /// The server's commands still waiting for an answer, oldest message first.
    #[must_use]
    pub fn unanswered(&self) -> Vec<CommandRef> {
        self.answers.owed()
    }

    /// The next message to POST, if one is due. Call it after creating the session, after
    /// `handle_*`, `respond*`, `abort` and `handle_timeout`, until it returns `None`. Send
    /// `bytes` with `content_type` (and `hmac` as `x-syncml-hmac` when present) to `url`,
    /// then feed the response to [`handle_bytes`](Self::handle_bytes). While answers are owed
    /// it returns `None` until they are all given or [`ClientConfig::answer_hold`] has passed
    /// (see [`poll_timeout`](Self::poll_timeout)).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Timestamp) -> Option<Transmit> {
        if self.hold_until.is_some_and(|t| now >= t) {
            self.hold_until = None;
        }
        if self.ep.ended.is_some() || !self.reply_ready() {
            return None;
        }
        if !self.started {
            self.start_package1();
        }
        self.take_alerts();
        self.settle_issued_nonce();
        self.last_msg_void_to = self.void_to.take();
        self.ep.reply_due = false;
        self.hold_until = None;
        self.ep.last_activity = now;
        self.ep.msg_id += 1;
        let hdr = match self.header() {
            Ok(h) => h,
            Err(_) => {
                self.ep.end(SessionEnd::AuthFailed);
                self.report_unanswered();
                return None;
            }
        };
        if self.answers.is_owing() {
            // Our package goes on until every answer is in.
            self.ep.may_close = false;
        }
        let encoding = self.config.encoding;
        let composed = self.ep.compose_message(encoding, hdr, &());
        let t = self.ep.transmit(
            composed.msg,
            encoding,
            self.config.credentials.as_ref(),
            Some(self.url.clone()),
        );
        self.report_unanswered();
        Some(t)
    }

    /// The next event for the application, if any. Drain it after every call of `handle_*`
    /// and `handle_timeout`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.ep.poll_event()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, or `None` once the
    /// session has ended: the end of the answer hold while the reply waits for answers (the
    /// idle timer does not run then: the server waits for us), otherwise the idle deadline;
    /// and the answer deadline of the oldest command still owed, if sooner.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let base = match self.hold_until {
            Some(t) if self.holding() => Some(t),
            _ => self.ep.poll_timeout(self.config.idle_timeout),
        }?;
        let deadline = self.answers.next_deadline(self.config.answer_deadline);
        Some(deadline.map_or(base, |d| d.min(base)))
    }

    /// Tells the session the time; call it when the deadline of
    /// [`poll_timeout`](Self::poll_timeout) has passed. Ends the session with
    /// `SessionEnd::TimedOut` when the server stayed silent for the idle timeout; answers what
    /// reached the answer deadline with 202 ([`ClientEvent::Deferred`]); releases the reply
    /// held for answers once the hold is over. Then call
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if self.ep.ended.is_some() {
            return;
        }
        // While the reply is held the server waits for us: no idle timeout then.
        if self.holding() {
            if self.hold_until.is_some_and(|t| now >= t) {
                self.hold_until = None;
            }
        } else {
            self.ep.handle_timeout(now, self.config.idle_timeout);
        }
        if self.ep.ended.is_none() {
            let deadline = self.config.answer_deadline;
            let (deferred, out) = self.answers.expire(now, deadline, StatusCode::ACCEPTED);
            for c in out {
                self.push(c);
            }
            if !deferred.is_empty() {
                self.ep.events.push_back(ClientEvent::Deferred(deferred));
            }
        }
        self.report_unanswered();
        self.settle_issued_nonce();
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

    /// The reply is due and may go now: nothing is owed, or the hold is over (or was never
    /// set: the reply must go at once).
    fn reply_ready(&self) -> bool {
        self.ep.reply_due && (self.hold_until.is_none() || !self.answers.is_owing())
    }

    /// The reply is due but held back for answers still owed.
    fn holding(&self) -> bool {
        self.ep.reply_due && self.ep.ended.is_none() && !self.reply_ready()
    }

    /// Once the session has ended, reports (just before [`ClientEvent::Ended`]) the commands
    /// the server never got an answer to.
    fn report_unanswered(&mut self) {
        if self.ep.ended.is_none() || !self.answers.is_owing() {
            return;
        }
        let owed = self.answers.abandon();
        let at = self
            .ep
            .events
            .iter()
            .rposition(|e| matches!(e, ClientEvent::Ended(_)))
            .unwrap_or(self.ep.events.len());
        self.ep.events.insert(at, ClientEvent::Unanswered(owed));
    }

    /// Fills in the `MsgRef` of answers that left it empty, and keeps Results above the
    /// server's `MaxObjSize` off the wire: the Get they answer gets 413 instead.
    fn fit_server_max_obj(&self, responses: Vec<Command>, msg_ref: &str) -> Vec<Command> {
        let fill = |r: &str| {
            if r.is_empty() {
                msg_ref.to_owned()
            } else {
                r.to_owned()
            }
        };
        let too_large: Vec<(String, String)> = responses
            .iter()
            .filter_map(|r| match r {
                Command::Results(res) if self.ep.above_peer_max_obj(&res.items) => Some((
                    fill(res.msg_ref.as_deref().unwrap_or_default()),
                    res.cmd_ref.clone(),
                )),
                _ => None,
            })
            .collect();
        let mut with_status = Vec::new();
        let mut out = Vec::with_capacity(responses.len());
        for mut r in responses {
            match &mut r {
                Command::Results(res) => {
                    let key = (
                        fill(res.msg_ref.as_deref().unwrap_or_default()),
                        res.cmd_ref.clone(),
                    );
                    if too_large.contains(&key) {
                        continue;
                    }
                    res.msg_ref = Some(key.0);
                }
                Command::Status(s) => {
                    s.msg_ref = fill(&s.msg_ref);
                    let key = (s.msg_ref.clone(), s.cmd_ref.clone());
                    if too_large.contains(&key) {
                        s.code = StatusCode::REQUEST_ENTITY_TOO_LARGE;
                        s.items.clear();
                        with_status.push(key);
                    }
                }
                _ => {}
            }
            out.push(r);
        }
        for (m, c) in too_large {
            if !with_status.contains(&(m.clone(), c.clone())) {
                let r = CommandRef {
                    msg_ref: m,
                    cmd_ref: c,
                };
                let name = self.answers.name_of(&r).unwrap_or("Get");
                out.push(Command::Status(status(
                    &r.msg_ref,
                    &r.cmd_ref,
                    name,
                    StatusCode::REQUEST_ENTITY_TOO_LARGE,
                )));
            }
        }
        out
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
        self.report_unanswered();
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
        self.ep.received(now, &msg.hdr);
        // A new server message: the hold (if answers are still owed) starts again.
        self.hold_until = None;
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
            // message was the first of Package 1, this restarts Package 1. At once, even with
            // answers owed.
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

        if server_done
            && msg.body.is_final
            && !has_commands
            && !self.ep.assembler.is_pending()
            && !self.answers.is_owing()
        {
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
        self.ep.reply_due = true;
        if !batch.is_empty() {
            self.answers.owe(&msg_id, now, &batch);
            self.ep.events.push_back(ClientEvent::Commands {
                msg_id,
                commands: batch,
            });
        }
        // With answers owed the reply waits for them, up to the hold, unless it must go at
        // once: the server's package goes on (it waits for our 1222), or our last message left
        // part of our package behind (a chunked object, what did not fit).
        let at_once = self.ep.want_more || self.ep.last_pushed_back > 0;
        if self.answers.is_owing() && !at_once {
            self.hold_until = Some(now + self.config.answer_hold);
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
        let ready = self.ep.ended.is_none() && self.reply_ready() && self.ep.hdr_status.is_some();
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
