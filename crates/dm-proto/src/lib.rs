//! Sans-IO OMA DM 1.2 sessions: [`ClientSession`] (the device) and [`ServerSession`] (the DM
//! server), in the shape of `quinn-proto`.
//!
//! In: the bytes (or decoded [`syncml::SyncMl`]) of each message from the peer, with the
//! `x-syncml-hmac` header value if any; the current time as a [`Timestamp`]; fresh random
//! bytes for nonces through a [`NonceSource`]; on the device side the application's answers to
//! the server's commands (all at once, or each as it finishes, named by a [`CommandRef`]), on
//! the server side the management commands to send.
//!
//! Out, polled: [`Transmit`]s (encoded messages to send, with content type, URL and HMAC
//! header), events ([`ClientEvent`], [`ServerEvent`]) and the next deadline
//! (`poll_timeout`). Nothing here does I/O, reads a clock or draws random numbers.
//!
//! What the sessions do for the application (OMA DM 1.2 RepPro/Protocol, digest §3-§4):
//! packages 1-4 and beyond, `syncml:auth-basic` / `auth-md5` / `auth-MAC` in both directions
//! with challenges, retries and nonce rotation, multi-message packages (Alert 1222) within the
//! peer's `MaxMsgSize`, answers given as they finish (held up to
//! [`ClientConfig::answer_hold`] while some are missing, keep-alives meanwhile, 202 at
//! [`ClientConfig::answer_deadline`]), Generic Alerts of several items, large objects both ways (`MoreData`, `Meta/Size`, 213, 424, 1225,
//! `MaxObjSize` -> 413, an interrupted object -> 1225), session abort (1223) both ways, and an
//! idle timeout. A challenge refusing a message makes the session send again only what that
//! message carried (the peer processed nothing of it, and everything of the earlier ones), so
//! nothing runs twice. Nonces: an issued nonce takes effect (and is reported, to persist) only
//! with the message carrying it; the Package 0 nonce resynchronisation (digest §2.3) goes
//! through [`ClientConfig::resync_with`] and [`ServerSession::allow_resync_nonce`].
//!
//! A driver loop looks like this (client side, answering at once):
//!
//! ```text
//! let mut s = ClientSession::new(config, Initiator::Client, id, devinfo, nonces, now);
//! while let Some(t) = s.poll_transmit(now) {
//!     let (body, hmac) = http_post(&t.url, t.content_type, &t.bytes, t.hmac)?;
//!     s.handle_bytes(now, &body, hmac.as_deref())?;
//!     while let Some(ev) = s.poll_event() {
//!         if let ClientEvent::Commands { msg_id, commands } = ev { s.respond(execute(&msg_id, commands))?; }
//!     }
//! }
//! ```
//!
//! Answering as the work finishes (a gateway proxying to its devices), the loop also waits:
//!
//! ```text
//! loop {
//!     if let Some(t) = s.poll_transmit(now()) { /* POST, handle_bytes, as above */ continue; }
//!     let Some(deadline) = s.poll_timeout() else { break };      // ended
//!     select! {
//!         (cmd, answers) = finished.recv() => s.respond_to(&cmd, answers)?,  // a CommandRef
//!         _ = sleep_until(deadline) => s.handle_timeout(now()),
//!     }
//!     while let Some(ev) = s.poll_event() { /* Commands: start the work; Deferred: report by
//!        Generic Alert later; Unanswered: the session ended first */ }
//! }
//! ```

mod answers;
mod client;
mod credentials;
mod endpoint;
mod error;
mod header;
mod large_object;
mod package;
mod server;
mod time;

pub use answers::CommandRef;
pub use client::{
    AlertItem, ClientConfig, ClientEvent, ClientSession, DEFAULT_ANSWER_DEADLINE,
    DEFAULT_ANSWER_HOLD, GenericAlert, Initiator,
};
pub use credentials::{Credentials, NONCE_LEN, NonceSource, StoredSecret};
pub use error::Error;
pub use header::{
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_MSG_SIZE, DEFAULT_MAX_OBJ_SIZE, MAX_PEER_MAX_MSG_SIZE,
    MIN_PEER_MAX_MSG_SIZE, SessionEnd, session_id_text,
};
pub use server::{CommandHandle, ServerConfig, ServerEvent, ServerSession};
pub use syncml::auth::AuthScheme;
pub use time::Timestamp;

/// One message to send to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The encoded message (the HTTP body).
    pub bytes: Vec<u8>,
    /// Its MIME type (`application/vnd.syncml.dm+xml` or `+wbxml`).
    pub content_type: &'static str,
    /// Client side: the URL to POST to (the server URL or its latest `RespURI`). Server side:
    /// `None` (the message is the HTTP response).
    pub url: Option<String>,
    /// Value of the `x-syncml-hmac` header to send with it, when `syncml:auth-MAC` is used.
    pub hmac: Option<String>,
}
