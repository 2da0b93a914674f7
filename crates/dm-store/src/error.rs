//! The crate's one error type.

/// Everything that can go wrong in a store call.
///
/// Backend failures carry the driver's message as text (never secrets: the store binds
/// secrets as parameters, and drivers do not echo parameters in their messages).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The addressed record does not exist.
    #[error("{what} not found: {id}")]
    NotFound {
        /// Kind of record: `"device"`, `"job"`, ...
        what: &'static str,
        /// The key that was looked up.
        id: String,
    },
    /// A record with the same unique key already exists (device id or auth name).
    #[error("{what} already exists: {id}")]
    Conflict {
        /// Kind of record.
        what: &'static str,
        /// The clashing key.
        id: String,
    },
    /// The operation is not allowed in the record's current state (e.g. cancelling a job that is
    /// already done).
    #[error("job {job_id} is {state}, cannot {action}")]
    InvalidState {
        /// The job.
        job_id: i64,
        /// Its current state, as stored.
        state: String,
        /// What was attempted.
        action: &'static str,
    },
    /// The store URL is not `sqlite:...` or `postgres://...`, or the driver rejected it.
    #[error("invalid store URL: {0}")]
    InvalidUrl(String),
    /// An argument is outside what the store accepts (e.g. a limit of 0, an empty device id).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A value read from the database could not be decoded (unknown enum text, bad JSON).
    #[error("corrupt {what} in database: {detail}")]
    Corrupt {
        /// Which column or field.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// Applying the schema failed, or the database schema is newer than this build.
    #[error("schema migration failed: {0}")]
    Migration(String),
    /// The database driver failed (I/O, connection, constraint not mapped above, ...).
    #[error("database error: {0}")]
    Backend(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Backend(e.to_string())
    }
}

impl Error {
    /// Maps a driver error on insert/update: unique violations become [`Error::Conflict`],
    /// foreign-key violations [`Error::NotFound`] of the parent, others [`Error::Backend`].
    pub(crate) fn on_write(
        e: sqlx::Error,
        what: &'static str,
        id: &str,
        parent: &'static str,
        parent_id: &str,
    ) -> Self {
        if let sqlx::Error::Database(db) = &e {
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    return Error::Conflict {
                        what,
                        id: id.to_owned(),
                    };
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    return Error::NotFound {
                        what: parent,
                        id: parent_id.to_owned(),
                    };
                }
                _ => {}
            }
        }
        Error::from(e)
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
