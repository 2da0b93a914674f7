//! The one error type of this crate.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can stop the server from starting or running.
///
/// Errors inside one DM session or one API request never surface here: they become an HTTP or
/// SyncML status for that request, and the server keeps serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for [`crate::Config`].
    #[error("invalid configuration file: {0}")]
    ConfigParse(#[from] toml::de::Error),
    /// The settings do not fit together (the text says which).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The listener could not bind its address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A PEM file (certificate or key) could not be read or parsed.
    #[error("cannot load PEM file {path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: rustls_pki_types::pem::Error,
    },
    /// rustls refused the certificate/key pair.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The store could not be opened or failed at start-up.
    #[error("store: {0}")]
    Store(#[from] dm_store::Error),
    /// An I/O error while serving (accepting connections, binding the notification socket).
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}
