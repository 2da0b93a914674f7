//! The [`Store`] trait and [`AnyStore`], the backend chosen at run time by URL.

use std::future::Future;

use crate::fanout::{Fanout, FanoutFilter, FanoutId, GatewayGroup, NewFanout};
use crate::{
    DeviceAccount, DeviceFilter, DeviceLink, DeviceView, Error, Event, EventFilter, EventId, Job,
    JobFilter, JobId, JobResults, JobState, LinkCounts, LinkFilter, LinkReport, NewEvent, NewJob,
    NonceUpdate, PgStore, Registry, RegistryUpdate, RequeueScope, Result, SessionRecord,
    SqliteStore, TreeValue, UnixMillis,
};

/// Totals over the whole store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Device accounts.
    pub devices: u64,
    /// Enabled device accounts.
    pub enabled_devices: u64,
    /// Jobs in state `queued`.
    pub jobs_queued: u64,
    /// Jobs in state `sent`.
    pub jobs_sent: u64,
    /// Jobs in state `done`.
    pub jobs_done: u64,
    /// Jobs in state `failed`.
    pub jobs_failed: u64,
    /// Jobs in state `cancelled`.
    pub jobs_cancelled: u64,
    /// Stored events.
    pub events: u64,
}

/// The storage interface of the DM server. Every method is one transaction; all futures are
/// `Send`.
///
/// Common errors: [`Error::Backend`] when the database fails, [`Error::Corrupt`] when a stored
/// value cannot be decoded; each method lists the others.
pub trait Store: Send + Sync {
    // ----- device accounts -----

    /// Creates a device account.
    ///
    /// # Errors
    /// [`Error::Conflict`] when the device id or the auth name is taken,
    /// [`Error::InvalidArgument`] for an empty device id or auth name.
    fn create_device(&self, account: &DeviceAccount) -> impl Future<Output = Result<()>> + Send;

    /// The account of a device, if any.
    ///
    /// # Errors
    /// Backend errors only.
    fn get_device(
        &self,
        device_id: &str,
    ) -> impl Future<Output = Result<Option<DeviceAccount>>> + Send;

    /// The account a device authenticates as (`auth_name` is unique).
    ///
    /// # Errors
    /// Backend errors only.
    fn get_device_by_auth_name(
        &self,
        auth_name: &str,
    ) -> impl Future<Output = Result<Option<DeviceAccount>>> + Send;

    /// Replaces every field of the account but `created_at` (set `updated_at` yourself).
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such device, [`Error::Conflict`] when the new auth
    /// name belongs to another device.
    fn update_device(&self, account: &DeviceAccount) -> impl Future<Output = Result<()>> + Send;

    /// Deletes a device with its registry entry, tree values, jobs and events.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such device.
    fn delete_device(&self, device_id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Stores new nonces (does not touch `updated_at`).
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such device.
    fn set_nonces(
        &self,
        device_id: &str,
        nonces: &NonceUpdate,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Consumes the nonce a device authenticated with: sets its client nonce to `next` only
    /// if it is still `expected` (compare and set, atomic against concurrent callers).
    /// Returns false when the stored nonce is no longer `expected` (or there is no such
    /// device): the credentials were computed with a nonce already used.
    ///
    /// # Errors
    /// Backend errors only.
    fn consume_client_nonce(
        &self,
        device_id: &str,
        expected: &[u8],
        next: &[u8],
    ) -> impl Future<Output = Result<bool>> + Send;

    /// One page of devices matching the filter, in device id order.
    ///
    /// # Errors
    /// Backend errors only.
    fn list_devices(
        &self,
        filter: &DeviceFilter,
    ) -> impl Future<Output = Result<Vec<DeviceView>>> + Send;

    /// How many devices match the filter (`after` and `limit` are ignored).
    ///
    /// # Errors
    /// Backend errors only.
    fn count_devices(&self, filter: &DeviceFilter) -> impl Future<Output = Result<u64>> + Send;

    // ----- registry -----

    /// Updates (or creates) the registry entry of a device.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the device has no account.
    fn update_registry(
        &self,
        device_id: &str,
        update: &RegistryUpdate,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The registry entry of a device (`None` before its first session).
    ///
    /// # Errors
    /// Backend errors only.
    fn get_registry(
        &self,
        device_id: &str,
    ) -> impl Future<Output = Result<Option<Registry>>> + Send;

    // ----- tree values -----

    /// Upserts tree values by path.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the device has no account.
    fn put_tree_values(
        &self,
        device_id: &str,
        values: &[TreeValue],
    ) -> impl Future<Output = Result<()>> + Send;

    /// The last known value of one node.
    ///
    /// # Errors
    /// Backend errors only.
    fn get_tree_value(
        &self,
        device_id: &str,
        path: &str,
    ) -> impl Future<Output = Result<Option<TreeValue>>> + Send;

    /// The node at `prefix` and every node below it (`prefix/...`), in path order; `""` lists
    /// all.
    ///
    /// # Errors
    /// Backend errors only.
    fn list_tree_values(
        &self,
        device_id: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<TreeValue>>> + Send;

    /// Forgets the node at `prefix` and everything below it (after a `Delete`); returns how
    /// many values were removed.
    ///
    /// # Errors
    /// Backend errors only.
    fn delete_tree_values(
        &self,
        device_id: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<u64>> + Send;

    // ----- jobs -----

    /// Queues a job.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when it has no command or a command is malformed
    /// ([`crate::JobCommand::validate`]), [`Error::NotFound`] when the device has no account.
    fn create_job(&self, job: &NewJob) -> impl Future<Output = Result<Job>> + Send;

    /// A job with its results.
    ///
    /// # Errors
    /// Backend errors only.
    fn get_job(&self, id: JobId) -> impl Future<Output = Result<Option<Job>>> + Send;

    /// One page of jobs (with results) matching the filter, in id order.
    ///
    /// # Errors
    /// Backend errors only.
    fn list_jobs(&self, filter: &JobFilter) -> impl Future<Output = Result<Vec<Job>>> + Send;

    /// Cancels a `queued` or `sent` job.
    ///
    /// # Errors
    /// [`Error::NotFound`], or [`Error::InvalidState`] when the job is already terminal.
    fn cancel_job(&self, id: JobId, now: UnixMillis) -> impl Future<Output = Result<Job>> + Send;

    /// Atomically takes up to `limit` queued jobs of a device (oldest first) for a session:
    /// marks them `sent` in `session_id` at `now` and counts an attempt. Concurrent callers
    /// never get the same job.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `limit == 0`.
    fn take_queued_jobs(
        &self,
        device_id: &str,
        session_id: &str,
        limit: u32,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Vec<Job>>> + Send;

    /// Records the `MsgID` and `CmdID`s a taken job went out with.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such job.
    fn set_sent_ids(
        &self,
        id: JobId,
        msg_id: u32,
        cmd_ids: &[u32],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Puts `sent` jobs that got no answer back in the queue and returns them (in id order).
    ///
    /// # Errors
    /// Backend errors only.
    fn requeue_unanswered(
        &self,
        scope: &RequeueScope,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Vec<Job>>> + Send;

    /// Records per-command results of a job and optionally completes it.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such job, [`Error::InvalidArgument`] when
    /// `complete` is not `Done` or `Failed`.
    fn record_job_results(
        &self,
        results: &JobResults,
        now: UnixMillis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Moves a `queued` or `sent` job to `Done` or `Failed`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::InvalidState`] when the job is already terminal,
    /// [`Error::InvalidArgument`] when `state` is not `Done` or `Failed`.
    fn complete_job(
        &self,
        id: JobId,
        state: JobState,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Job>> + Send;

    /// Takes up to `limit` queued jobs (oldest first) of the devices currently linked behind
    /// `gateway_id` in Proxy or Adaptation mode, for the gateway's session: marks them `sent` in
    /// `session_id` at `now`, carried by the gateway ([`Job::gateway`]), and counts an attempt.
    /// Concurrent callers never get the same job.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for `limit == 0`.
    fn take_gateway_jobs(
        &self,
        gateway_id: &str,
        session_id: &str,
        limit: u32,
        now: UnixMillis,
    ) -> impl Future<Output = Result<Vec<Job>>> + Send;

    // ----- gateways and links -----

    /// The device's current link (`until` unset), if any.
    ///
    /// # Errors
    /// Backend errors only.
    fn current_link(
        &self,
        device_id: &str,
    ) -> impl Future<Output = Result<Option<DeviceLink>>> + Send;

    /// One page of links matching the filter, in id order (a device's history, or a
    /// gateway's devices).
    ///
    /// # Errors
    /// Backend errors only.
    fn list_links(
        &self,
        filter: &LinkFilter,
    ) -> impl Future<Output = Result<Vec<DeviceLink>>> + Send;

    /// Counts over the gateway's current links.
    ///
    /// # Errors
    /// Backend errors only.
    fn link_counts(&self, gateway_id: &str) -> impl Future<Output = Result<LinkCounts>> + Send;

    /// Applies a gateway's device reports at `now` in one transaction, as a session record's
    /// [`SessionRecord::links`] does (marks `gateway_id` a gateway; see the [`crate::link`]
    /// module docs).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the gateway has no entry.
    fn apply_link_reports(
        &self,
        gateway_id: &str,
        reports: &[LinkReport],
        now: UnixMillis,
    ) -> impl Future<Output = Result<()>> + Send;

    // ----- events -----

    /// Stores an alert.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the device has no account.
    fn append_event(&self, event: &NewEvent) -> impl Future<Output = Result<EventId>> + Send;

    /// One page of events matching the filter, in id order.
    ///
    /// # Errors
    /// Backend errors only.
    fn list_events(&self, filter: &EventFilter) -> impl Future<Output = Result<Vec<Event>>> + Send;

    // ----- a whole session -----

    /// Writes everything a session produced in one transaction: registry, nonces, tree values,
    /// job results (and completions) and events. Either all of it is stored or nothing.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the device or a job does not exist, [`Error::InvalidArgument`]
    /// for a completion state other than `Done`/`Failed`.
    fn record_session(&self, record: &SessionRecord) -> impl Future<Output = Result<()>> + Send;

    // ----- server key/values -----

    /// A server-level value (e.g. a nonce seed).
    ///
    /// # Errors
    /// Backend errors only.
    fn get_kv(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// Sets a server-level value.
    ///
    /// # Errors
    /// Backend errors only.
    fn put_kv(
        &self,
        key: &str,
        value: &[u8],
        now: UnixMillis,
    ) -> impl Future<Output = Result<()>> + Send;

    // ----- groups and fanouts (docs/gateway.md §8, §9) -----

    /// Creates or replaces a group definition.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the gateway has no account.
    fn put_group(&self, group: &GatewayGroup) -> impl Future<Output = Result<()>> + Send;

    /// One group of a gateway.
    ///
    /// # Errors
    /// Backend errors only.
    fn get_group(
        &self,
        gateway_id: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<GatewayGroup>>> + Send;

    /// A gateway's groups, by name.
    ///
    /// # Errors
    /// Backend errors only.
    fn list_groups(
        &self,
        gateway_id: &str,
    ) -> impl Future<Output = Result<Vec<GatewayGroup>>> + Send;

    /// Forgets a group; false when there was none.
    ///
    /// # Errors
    /// Backend errors only.
    fn delete_group(
        &self,
        gateway_id: &str,
        name: &str,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Stores a new fanout in state `queued`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the gateway has no account.
    fn create_fanout(&self, fanout: &NewFanout) -> impl Future<Output = Result<Fanout>> + Send;

    /// One fanout.
    ///
    /// # Errors
    /// Backend errors only.
    fn get_fanout(&self, id: FanoutId) -> impl Future<Output = Result<Option<Fanout>>> + Send;

    /// One page of fanouts matching the filter, by id.
    ///
    /// # Errors
    /// Backend errors only.
    fn list_fanouts(
        &self,
        filter: &FanoutFilter,
    ) -> impl Future<Output = Result<Vec<Fanout>>> + Send;

    /// Writes a fanout's state, job, detail and times. A fanout already in a terminal state is
    /// left as it is: false.
    ///
    /// # Errors
    /// [`Error::NotFound`] when it does not exist.
    fn update_fanout(&self, fanout: &Fanout) -> impl Future<Output = Result<bool>> + Send;

    // ----- misc -----

    /// Totals over the store.
    ///
    /// # Errors
    /// Backend errors only.
    fn counts(&self) -> impl Future<Output = Result<Counts>> + Send;

    /// Closes the connection pools (waits for running queries). Later calls fail.
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// A store whose backend is chosen at run time. `Clone` is cheap (pools are shared).
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

impl AnyStore {
    /// Opens (and migrates) the store at `url`: `sqlite:PATH` (file created if missing),
    /// `sqlite::memory:`, or `postgres://...` / `postgresql://...`.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for another scheme or a URL the driver rejects,
    /// [`Error::Backend`] when connecting fails, [`Error::Migration`] when the schema cannot be
    /// applied.
    pub async fn open(url: &str) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(AnyStore::Sqlite(SqliteStore::open(url).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(AnyStore::Postgres(PgStore::open(url).await?))
        } else {
            Err(Error::InvalidUrl(format!(
                "expected sqlite:PATH or postgres://..., got scheme of {:?}",
                url.split(':').next().unwrap_or("")
            )))
        }
    }

    /// `"sqlite"` or `"postgres"`.
    #[must_use]
    pub fn backend_name(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Postgres(_) => "postgres",
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $e.await,
            AnyStore::Postgres($s) => $e.await,
        }
    };
}

impl Store for AnyStore {
    async fn create_device(&self, account: &DeviceAccount) -> Result<()> {
        dispatch!(self, s => s.create_device(account))
    }
    async fn get_device(&self, device_id: &str) -> Result<Option<DeviceAccount>> {
        dispatch!(self, s => s.get_device(device_id))
    }
    async fn get_device_by_auth_name(&self, auth_name: &str) -> Result<Option<DeviceAccount>> {
        dispatch!(self, s => s.get_device_by_auth_name(auth_name))
    }
    async fn update_device(&self, account: &DeviceAccount) -> Result<()> {
        dispatch!(self, s => s.update_device(account))
    }
    async fn delete_device(&self, device_id: &str) -> Result<()> {
        dispatch!(self, s => s.delete_device(device_id))
    }
    async fn set_nonces(&self, device_id: &str, nonces: &NonceUpdate) -> Result<()> {
        dispatch!(self, s => s.set_nonces(device_id, nonces))
    }
    async fn consume_client_nonce(
        &self,
        device_id: &str,
        expected: &[u8],
        next: &[u8],
    ) -> Result<bool> {
        dispatch!(self, s => s.consume_client_nonce(device_id, expected, next))
    }
    async fn list_devices(&self, filter: &DeviceFilter) -> Result<Vec<DeviceView>> {
        dispatch!(self, s => s.list_devices(filter))
    }
    async fn count_devices(&self, filter: &DeviceFilter) -> Result<u64> {
        dispatch!(self, s => s.count_devices(filter))
    }
    async fn update_registry(&self, device_id: &str, update: &RegistryUpdate) -> Result<()> {
        dispatch!(self, s => s.update_registry(device_id, update))
    }
    async fn get_registry(&self, device_id: &str) -> Result<Option<Registry>> {
        dispatch!(self, s => s.get_registry(device_id))
    }
    async fn put_tree_values(&self, device_id: &str, values: &[TreeValue]) -> Result<()> {
        dispatch!(self, s => s.put_tree_values(device_id, values))
    }
    async fn get_tree_value(&self, device_id: &str, path: &str) -> Result<Option<TreeValue>> {
        dispatch!(self, s => s.get_tree_value(device_id, path))
    }
    async fn list_tree_values(&self, device_id: &str, prefix: &str) -> Result<Vec<TreeValue>> {
        dispatch!(self, s => s.list_tree_values(device_id, prefix))
    }
    async fn delete_tree_values(&self, device_id: &str, prefix: &str) -> Result<u64> {
        dispatch!(self, s => s.delete_tree_values(device_id, prefix))
    }
    async fn take_gateway_jobs(
        &self,
        gateway_id: &str,
        session_id: &str,
        limit: u32,
        now: UnixMillis,
    ) -> Result<Vec<Job>> {
        dispatch!(self, s => s.take_gateway_jobs(gateway_id, session_id, limit, now))
    }
    async fn current_link(&self, device_id: &str) -> Result<Option<DeviceLink>> {
        dispatch!(self, s => s.current_link(device_id))
    }
    async fn list_links(&self, filter: &LinkFilter) -> Result<Vec<DeviceLink>> {
        dispatch!(self, s => s.list_links(filter))
    }
    async fn link_counts(&self, gateway_id: &str) -> Result<LinkCounts> {
        dispatch!(self, s => s.link_counts(gateway_id))
    }
    async fn apply_link_reports(
        &self,
        gateway_id: &str,
        reports: &[LinkReport],
        now: UnixMillis,
    ) -> Result<()> {
        dispatch!(self, s => s.apply_link_reports(gateway_id, reports, now))
    }
    async fn create_job(&self, job: &NewJob) -> Result<Job> {
        dispatch!(self, s => s.create_job(job))
    }
    async fn get_job(&self, id: JobId) -> Result<Option<Job>> {
        dispatch!(self, s => s.get_job(id))
    }
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        dispatch!(self, s => s.list_jobs(filter))
    }
    async fn cancel_job(&self, id: JobId, now: UnixMillis) -> Result<Job> {
        dispatch!(self, s => s.cancel_job(id, now))
    }
    async fn take_queued_jobs(
        &self,
        device_id: &str,
        session_id: &str,
        limit: u32,
        now: UnixMillis,
    ) -> Result<Vec<Job>> {
        dispatch!(self, s => s.take_queued_jobs(device_id, session_id, limit, now))
    }
    async fn set_sent_ids(&self, id: JobId, msg_id: u32, cmd_ids: &[u32]) -> Result<()> {
        dispatch!(self, s => s.set_sent_ids(id, msg_id, cmd_ids))
    }
    async fn requeue_unanswered(&self, scope: &RequeueScope, now: UnixMillis) -> Result<Vec<Job>> {
        dispatch!(self, s => s.requeue_unanswered(scope, now))
    }
    async fn record_job_results(&self, results: &JobResults, now: UnixMillis) -> Result<()> {
        dispatch!(self, s => s.record_job_results(results, now))
    }
    async fn complete_job(&self, id: JobId, state: JobState, now: UnixMillis) -> Result<Job> {
        dispatch!(self, s => s.complete_job(id, state, now))
    }
    async fn append_event(&self, event: &NewEvent) -> Result<EventId> {
        dispatch!(self, s => s.append_event(event))
    }
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        dispatch!(self, s => s.list_events(filter))
    }
    async fn record_session(&self, record: &SessionRecord) -> Result<()> {
        dispatch!(self, s => s.record_session(record))
    }
    async fn get_kv(&self, key: &str) -> Result<Option<Vec<u8>>> {
        dispatch!(self, s => s.get_kv(key))
    }
    async fn put_kv(&self, key: &str, value: &[u8], now: UnixMillis) -> Result<()> {
        dispatch!(self, s => s.put_kv(key, value, now))
    }
    async fn put_group(&self, group: &GatewayGroup) -> Result<()> {
        dispatch!(self, s => s.put_group(group))
    }
    async fn get_group(&self, gateway_id: &str, name: &str) -> Result<Option<GatewayGroup>> {
        dispatch!(self, s => s.get_group(gateway_id, name))
    }
    async fn list_groups(&self, gateway_id: &str) -> Result<Vec<GatewayGroup>> {
        dispatch!(self, s => s.list_groups(gateway_id))
    }
    async fn delete_group(&self, gateway_id: &str, name: &str) -> Result<bool> {
        dispatch!(self, s => s.delete_group(gateway_id, name))
    }
    async fn create_fanout(&self, fanout: &NewFanout) -> Result<Fanout> {
        dispatch!(self, s => s.create_fanout(fanout))
    }
    async fn get_fanout(&self, id: FanoutId) -> Result<Option<Fanout>> {
        dispatch!(self, s => s.get_fanout(id))
    }
    async fn list_fanouts(&self, filter: &FanoutFilter) -> Result<Vec<Fanout>> {
        dispatch!(self, s => s.list_fanouts(filter))
    }
    async fn update_fanout(&self, fanout: &Fanout) -> Result<bool> {
        dispatch!(self, s => s.update_fanout(fanout))
    }
    async fn counts(&self) -> Result<Counts> {
        dispatch!(self, s => s.counts())
    }
    async fn close(&self) {
        dispatch!(self, s => s.close())
    }
}
