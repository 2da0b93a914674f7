//! The one error type of this crate.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can stop the agent or fail one session.
///
/// A server answering a command with a 4xx/5xx status is not an error: it is data of the session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange with the server failed (connect, timeout, non-200 answer).
    #[error("HTTP exchange with {url}: {reason}")]
    Transport {
        /// The URL posted to.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with a non-2xx HTTP status (`503` past its load bound: retry after
    /// `retry_after_secs`).
    #[error("HTTP exchange with {url}: status {status}: {text}")]
    HttpStatus {
        /// The URL posted to.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header in seconds, when the server sent one.
        retry_after_secs: Option<u64>,
        /// The start of the response body (at most 200 bytes, lossy UTF-8).
        text: String,
    },
    /// The server's response body is larger than the session accepts (see
    /// [`crate::session::response_limit`]); reading stopped at the limit.
    #[error("HTTP response from {url} exceeds {limit} bytes")]
    ResponseTooLarge {
        /// The URL posted to.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// A notification or message could not be decoded.
    #[error("decoding: {0}")]
    Decode(#[from] syncml::Error),
    /// The session state machine refused the server's message (malformed, out of place).
    #[error("session: {0}")]
    Session(#[from] dm_proto::Error),
    /// The tree could not be built, restored or updated.
    #[error("tree: {0}")]
    Tree(#[from] dm_tree::Error),
    /// Executing the server's commands failed outside the tree (a handler panicked).
    #[error("executing server commands: {reason}")]
    Executor {
        /// What happened.
        reason: String,
    },
    /// The session did not finish within its message budget.
    #[error("session exceeded {messages} messages")]
    TooManyMessages {
        /// The budget.
        messages: usize,
    },
    /// The agent has stopped.
    #[error("the agent has stopped")]
    Stopped,
}
