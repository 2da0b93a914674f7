//! The one error type of this crate.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What a [`crate::Backend`] hook reports, and what can stop a listener from starting.
///
/// Once serving, nothing a peer does is an error here: failed handshakes, slow or broken
/// connections and failed accepts are logged and the listener goes on; a peer's bad message
/// is an HTTP or SyncML status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend's storage (or whatever it relies on) failed.
    #[error("backend: {source}")]
    Backend {
        /// What failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket could not be inspected or set up.
    #[error("listener socket: {0}")]
    Socket(#[source] std::io::Error),
    /// A PEM file (certificate or key) could not be read or holds no usable item.
    #[error("cannot load PEM file {path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// rustls refused the certificate/key pair.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A [`crate::listener::ListenerLimits`] value is out of range.
    #[error("listener limit {field}: {reason}")]
    InvalidLimit {
        /// The field (its TOML key).
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A public base URL is not an absolute `http(s)://host[:port][/path]` URL.
    #[error("invalid public URL {url:?}: {reason}")]
    InvalidPublicUrl {
        /// The URL as given.
        url: String,
        /// Why.
        reason: &'static str,
    },
}

impl Error {
    /// Wraps a backend's own error.
    pub fn backend(source: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Backend {
            source: Box::new(source),
        }
    }
}
