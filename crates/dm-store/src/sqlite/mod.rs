//! SQLite backend: one writer connection (SQLite has one writer at a time; funnelling all
//! writes through one connection avoids `SQLITE_BUSY` and lock upgrades), a small pool of
//! read-only connections, WAL journal, `synchronous = NORMAL` (a commit is durable against a
//! process crash; a power loss may lose the last transactions, never corrupt the file).
//! Session records and job takes are group-committed (see `group_commit.rs`); device accounts
//! are cached in memory and a "nothing queued" hint is kept per device (see
//! `account_cache.rs` and `job_hint.rs`: both assume this process is the database's only
//! writer, which is how a SQLite file is used by the server).

mod group_commit;
mod schema;

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Pool, Row as _};

use crate::account_cache::AccountCache;
use crate::job_hint::QueuedHint;
use crate::migrate::pending;
use crate::{Error, Result};

/// Tuning of the SQLite backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Read-only connections (reads run in parallel with the writer under WAL). Default 4.
    pub readers: u32,
    /// How long a connection waits on a lock held by another process. Default 5 s.
    pub busy_timeout: Duration,
    /// Page cache per connection in KiB. Default 16 MiB for the writer; readers get a quarter.
    pub cache_kib: u32,
    /// Device accounts kept in memory (least recently used evicted first; 0: none). Default
    /// 65,536 (about 40 MB with typical accounts).
    pub account_cache: usize,
    /// Devices remembered as having no queued job (0: none). Default 262,144.
    pub empty_queue_hint: usize,
    /// How often a background connection checkpoints the WAL into the database file
    /// (`PRAGMA wal_checkpoint(PASSIVE)`), so that the writer never stalls on a checkpoint.
    /// `None`: SQLite's automatic checkpoints on the writer (every 1,000 pages). Default 200 ms.
    pub checkpoint_every: Option<Duration>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            readers: 4,
            busy_timeout: Duration::from_secs(5),
            cache_kib: 16 * 1024,
            account_cache: 65_536,
            empty_queue_hint: 262_144,
            checkpoint_every: Some(Duration::from_millis(200)),
        }
    }
}

/// The SQLite store. `Clone` shares the pools.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The background checkpointer's connection (file databases with `checkpoint_every`).
    checkpointer: Option<SqlitePool>,
    group: group_commit::GroupCommit,
    accounts: Arc<AccountCache>,
    hint: Arc<QueuedHint>,
}

impl SqliteStore {
    /// Opens (creating the file if missing) and migrates `sqlite:PATH` or `sqlite::memory:`,
    /// with default [`SqliteOptions`].
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::Backend`], [`Error::Migration`].
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, &SqliteOptions::default()).await
    }

    /// Opens with explicit options.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] when the driver rejects the URL, [`Error::Backend`] when the file
    /// cannot be opened, [`Error::Migration`] when the schema cannot be applied.
    pub async fn open_with(url: &str, opts: &SqliteOptions) -> Result<Self> {
        if !url.starts_with("sqlite:") {
            return Err(Error::InvalidUrl("expected sqlite:PATH".into()));
        }
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|e| Error::InvalidUrl(e.to_string()))?
            .busy_timeout(opts.busy_timeout)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let cache = |kib: u32| format!("-{kib}");
        if in_memory {
            // One connection that lives as long as the pool: the database lives in it.
            let pool = SqlitePoolOptions::new()
                // A local file needs no liveness ping: it would cost a round trip to the
                // connection's worker thread on every acquire.
                .test_before_acquire(false)
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(base.pragma("cache_size", cache(opts.cache_kib)))
                .await?;
            migrate(&pool).await?;
            let accounts = Arc::new(AccountCache::new(opts.account_cache));
            return Ok(SqliteStore {
                group: group_commit::GroupCommit::start(pool.clone(), accounts.clone()),
                writer: pool.clone(),
                reader: pool,
                checkpointer: None,
                accounts,
                hint: Arc::new(QueuedHint::new(opts.empty_queue_hint)),
            });
        }
        let writer = SqlitePoolOptions::new()
            // A local file needs no liveness ping: it would cost a round trip to the
            // connection's worker thread on every acquire.
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                base.clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("cache_size", cache(opts.cache_kib))
                    .pragma("temp_store", "memory")
                    // With the background checkpointer, the writer's own automatic checkpoint
                    // is only a backstop (should the checkpointer fall behind).
                    .pragma(
                        "wal_autocheckpoint",
                        if opts.checkpoint_every.is_some() {
                            "20000"
                        } else {
                            "1000"
                        },
                    ),
            )
            .await?;
        migrate(&writer).await?;
        let checkpointer = match opts.checkpoint_every {
            Some(every) => {
                let pool = SqlitePoolOptions::new()
                    .test_before_acquire(false)
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(base.clone().pragma("cache_size", "-256"))
                    .await?;
                tokio::spawn(checkpoint_loop(pool.clone(), every));
                Some(pool)
            }
            None => None,
        };
        let reader = SqlitePoolOptions::new()
            // A local file needs no liveness ping: it would cost a round trip to the
            // connection's worker thread on every acquire.
            .test_before_acquire(false)
            .max_connections(opts.readers.max(1))
            .min_connections(0)
            .idle_timeout(Some(Duration::from_secs(60)))
            .connect_with(
                base.read_only(true)
                    .pragma("cache_size", cache((opts.cache_kib / 4).max(1024))),
            )
            .await?;
        let accounts = Arc::new(AccountCache::new(opts.account_cache));
        Ok(SqliteStore {
            group: group_commit::GroupCommit::start(writer.clone(), accounts.clone()),
            writer,
            reader,
            checkpointer,
            accounts,
            hint: Arc::new(QueuedHint::new(opts.empty_queue_hint)),
        })
    }

    fn w(&self) -> &Pool<sqlx::Sqlite> {
        &self.writer
    }

    fn r(&self) -> &Pool<sqlx::Sqlite> {
        &self.reader
    }

    async fn close_pools(&self) {
        if let Some(c) = &self.checkpointer {
            c.close().await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }

    #[allow(clippy::unnecessary_wraps)]
    fn accounts(&self) -> Option<&AccountCache> {
        Some(&self.accounts)
    }

    #[allow(clippy::unnecessary_wraps)]
    fn hint(&self) -> Option<&QueuedHint> {
        Some(&self.hint)
    }

    /// Session records go through the group-commit writer task.
    async fn record_session_impl(&self, rec: &crate::SessionRecord) -> Result<()> {
        self.group.submit(rec.clone()).await
    }

    /// Nonce consumptions go through the group-commit writer task (one statement for all
    /// waiting).
    async fn consume_impl(&self, device_id: &str, expected: &[u8], next: &[u8]) -> Result<bool> {
        self.group.consume(device_id, expected, next).await
    }

    /// Takes go through the group-commit writer task too (one statement for all the takes
    /// waiting), unless the hint says the device has nothing queued.
    async fn take_queued_impl(
        &self,
        device_id: &str,
        session_id: &str,
        limit: u32,
        now: crate::UnixMillis,
    ) -> Result<Vec<crate::Job>> {
        if !self.hint.may_have_jobs(device_id) {
            return Ok(Vec::new());
        }
        let ticket = self.hint.ticket();
        let jobs = self
            .group
            .take(device_id.to_owned(), session_id.to_owned(), limit, now)
            .await?;
        if jobs.len() < limit as usize {
            self.hint.mark_empty(device_id, ticket);
        }
        Ok(jobs)
    }
}

/// Checkpoints the WAL every `every` until the pool is closed. A passive checkpoint copies what
/// no reader still needs and never waits for (or blocks) the writer.
async fn checkpoint_loop(pool: SqlitePool, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        // A failure (e.g. busy: another checkpoint is running) is retried at the next tick.
        let failed = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
            .is_err();
        if failed && pool.is_closed() {
            return;
        }
    }
}

/// Applies the pending schema scripts in one transaction.
async fn migrate(pool: &SqlitePool) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS dm_schema (version INTEGER NOT NULL)")
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::Migration(e.to_string()))?;
    let current: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM dm_schema")
        .fetch_one(&mut *tx)
        .await?
        .try_get("v")?;
    for (version, script) in pending(current, &schema::MIGRATIONS)? {
        sqlx::raw_sql(script)
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::Migration(format!("version {version}: {e}")))?;
        sqlx::query("INSERT INTO dm_schema (version) VALUES ($1)")
            .bind(version)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The image tables ([`crate::image::ImageStore`]), expanded for this backend.
mod image_ops {
    use super::SqliteStore;

    impl_image_store!(SqliteStore, sqlx::sqlite::SqliteRow);
}

/// The shared [`crate::Store`] implementation, expanded for this backend.
mod ops {
    use super::SqliteStore;
    use super::schema as sql;

    impl_store!(
        SqliteStore,
        sqlx::Sqlite,
        sqlx::SqliteConnection,
        sqlx::sqlite::SqliteRow,
        sql
    );
}
