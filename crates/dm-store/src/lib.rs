//! Storage layer of the DM server.
//!
//! In: device accounts, registry data, tree values, jobs, job results and alerts, as the typed
//! records of this crate (times are Unix milliseconds given by the caller). Out: the same records
//! read back, filtered and paged, plus counts. One [`Store`] trait, two backends:
//! [`SqliteStore`] (default; `sqlite:PATH`, `sqlite::memory:`) and [`PgStore`]
//! (`postgres://...`), and [`AnyStore`], the enum the server holds, opened by URL with
//! [`AnyStore::open`].
//!
//! A DM session writes all its data (registry, nonces, tree values, job results, events) in one
//! transaction with [`Store::record_session`]. Jobs move `queued` → `sent` atomically with
//! [`Store::take_queued_jobs`]; after a restart [`Store::requeue_unanswered`] puts the jobs
//! that were sent but not answered back in the queue.
//!
//! Gateways: [`fanout`] (groups the server defined on its gateways and fanouts to them), [`link`] (device kinds, the <gateway, device, mode> links with their history,
//! registry-only entries for devices known from a gateway's report only).
//!
//! Secrets: see the [`device`] module docs for what is stored; [`Secret`] redacts itself in
//! `Debug` output and nothing here logs credentials.

mod account_cache;
#[macro_use]
mod backend;
pub mod device;
mod error;
pub mod event;
pub mod fanout;
#[macro_use]
pub mod image;
pub mod job;
mod job_hint;
pub mod link;
mod migrate;
mod postgres;
mod session;
mod sqlite;
mod store;
pub mod tree;

pub use device::{
    AuthType, DeviceAccount, DeviceFilter, DeviceView, NonceUpdate, Registry, RegistryUpdate,
    Secret, md5_verifier,
};
pub use error::{Error, Result};
pub use event::{Event, EventFilter, EventId, NewEvent};
pub use fanout::{Fanout, FanoutFilter, FanoutId, FanoutState, GatewayGroup, NewFanout};
pub use image::{GatewayImage, ImageRecord, ImageStore};
pub use job::{
    CommandKind, CommandResult, Job, JobCommand, JobFilter, JobId, JobItem, JobResults, JobState,
    NO_STATUS, NewJob, RequeueScope, ResultItem, SentIn,
};
pub use link::{
    DeviceKind, DeviceLink, LinkCounts, LinkFilter, LinkId, LinkMode, LinkReport,
    REGISTRY_ONLY_PREFIX,
};
pub use postgres::PgStore;
pub use session::{ProxiedValues, SessionRecord};
pub use sqlite::{SqliteOptions, SqliteStore};
pub use store::{AnyStore, Counts, Store};
pub use tree::TreeValue;

/// Milliseconds since the Unix epoch (UTC).
pub type UnixMillis = i64;

/// Default page size of the list calls.
pub const DEFAULT_PAGE: u32 = 100;
/// Largest page size of the list calls.
pub const MAX_PAGE: u32 = 10_000;

/// The page size to use for a requested `limit` (0 = default, capped at [`MAX_PAGE`]).
pub(crate) fn page_size(limit: u32) -> i64 {
    i64::from(if limit == 0 {
        DEFAULT_PAGE
    } else {
        limit.min(MAX_PAGE)
    })
}
