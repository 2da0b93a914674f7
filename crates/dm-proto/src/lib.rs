//! Sans-IO OMA DM 1.2 sessions: [`ClientSession`] (the device) and [`ServerSession`] (the DM
//! server), in the shape of `quinn-proto`.
//!
//! In: the bytes (or decoded [`syncml::SyncMl`]) of each message from the peer, with the
//! `x-syncml-hmac` header value if any; the current time as a [`Timestamp`]; fresh random
//! bytes for nonces through a [`NonceSource`]; on the device side the application's answers to
//! the server's commands, on the server side the management commands to send.
//!
//! Out, polled: [`Transmit`]s (encoded messages to send, with content type, URL and HMAC
//! header), events ([`ClientEvent`], [`ServerEvent`]) and the next deadline
//! (`poll_timeout`). Nothing here does I/O, reads a clock or draws random numbers.
//!
//! What the sessions do for the application (OMA DM 1.2 RepPro/Protocol, digest §3-§4):
//! packages 1-4 and beyond, `syncml:auth-basic` / `auth-md5` / `auth-MAC` in both directions
//! with challenges, retries and nonce rotation, multi-message packages (Alert 1222) within the
//! peer's `MaxMsgSize`, large objects both ways (`MoreData`, `Meta/Size`, 213, 424, 1225,
//! `MaxObjSize` -> 413, an interrupted object -> 1225), session abort (1223) both ways, and an
//! idle timeout. A challenge refusing a message makes the session send again only what that
//! message carried (the peer processed nothing of it, and everything of the earlier ones), so
//! nothing runs twice. Nonces: an issued nonce takes effect (and is reported, to persist) only
//! with the message carrying it; the Package 0 nonce resynchronisation (digest §2.3) goes
//! through [`ClientConfig::resync_with`] and [`ServerSession::allow_resync_nonce`].
//!
//! A driver loop looks like this (client side):
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

mod client;
mod credentials;
mod endpoint;
mod error;
mod header;
mod large_object;
mod package;
mod server;
mod time;

pub use client::{ClientConfig, ClientEvent, ClientSession, GenericAlert, Initiator};
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
