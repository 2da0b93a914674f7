//! The one error type of this crate.

/// Why a session refused an input.
///
/// A peer that answers with a SyncML status (401, 404, 507, ...) is not an error: the status
/// is reported as an event. `Error` is for input that cannot be answered with SyncML at all
/// (malformed bytes, a message of another session, a call at the wrong time); a driver maps
/// [`Error::Decode`] to HTTP 400.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a SyncML DM message (the codec's error).
    #[error("malformed message: {0}")]
    Decode(#[source] syncml::Error),
    /// The `x-syncml-hmac` header could not be parsed.
    #[error("malformed x-syncml-hmac header: {0}")]
    HmacHeader(#[source] syncml::Error),
    /// Our own configured credentials cannot produce a credential of the configured scheme
    /// (e.g. `syncml:auth-basic` with only a stored hash).
    #[error("cannot build credentials: {0}")]
    Credentials(#[source] syncml::Error),
    /// The message belongs to another session (`SyncHdr/SessionID` differs).
    #[error("message of session {got:?} given to session {expected:?}")]
    SessionIdMismatch {
        /// Our session id.
        expected: String,
        /// The session id in the message.
        got: String,
    },
    /// No answer is awaited for this server command: unknown, already answered, or answered
    /// 202 by the session at the answer deadline (`ClientEvent::Deferred`).
    #[error("no answer awaited for command {cmd_ref:?} of message {msg_ref:?}")]
    NotAwaited {
        /// `MsgID` of the server message the command came in.
        msg_ref: String,
        /// The command's `CmdID`.
        cmd_ref: String,
    },
    /// The session has ended; it takes no more input.
    #[error("the session has ended")]
    SessionEnded,
    /// An input arrived that the session does not expect in its current state.
    #[error("unexpected input: {reason}")]
    Unexpected {
        /// What was wrong.
        reason: &'static str,
    },
}
