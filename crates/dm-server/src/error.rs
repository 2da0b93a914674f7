//! The one error type of this crate.

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
    /// The listener could not start: bind failed, TLS files unusable, a `[listener]` limit or
    /// the `public_url` invalid.
    #[error("listener: {0}")]
    Listener(#[from] dm_host::Error),
    /// The store could not be opened or failed at start-up.
    #[error("store: {0}")]
    Store(#[from] dm_store::Error),
    /// An I/O error while serving (accepting connections, binding the notification socket).
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}
