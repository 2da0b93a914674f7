//! The gateway's one error type.

/// What can go wrong in the gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The state database failed.
    #[error("gateway store: {0}")]
    Store(#[from] sqlx::Error),
    /// A stored value could not be read back.
    #[error("gateway store holds a corrupt {what}")]
    Corrupt {
        /// Which value.
        what: &'static str,
    },
    /// A GwMO model error (inventory, payload, fanout).
    #[error(transparent)]
    Gwmo(#[from] gwmo::Error),
    /// A management tree error.
    #[error(transparent)]
    Tree(#[from] dm_tree::Error),
    /// The DM client side (northbound sessions) failed.
    #[error(transparent)]
    Client(#[from] dm_client::Error),
    /// A listener could not be set up, or the session host failed.
    #[error(transparent)]
    Host(#[from] dm_host::Error),
}
