//! PostgreSQL backend: one pool, the same DML as SQLite, `FOR UPDATE SKIP LOCKED` when taking
//! jobs, migrations serialised by an advisory lock.

mod schema;

use std::str::FromStr as _;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Pool, Row as _};

use crate::migrate::pending;
use crate::{Error, Result};

/// The PostgreSQL store. `Clone` shares the pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `postgres://...` (pool of 16 connections) and migrates.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::Backend`], [`Error::Migration`].
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, 16).await
    }

    /// Connects with a pool of at most `max_connections` and migrates.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] when the URL is not a PostgreSQL URL, [`Error::Backend`] when
    /// connecting fails, [`Error::Migration`] when the schema cannot be applied.
    pub async fn open_with(url: &str, max_connections: u32) -> Result<Self> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(Error::InvalidUrl("expected postgres://...".into()));
        }
        let opts = PgConnectOptions::from_str(url).map_err(|e| Error::InvalidUrl(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await?;
        migrate(&pool).await?;
        Ok(PgStore { pool })
    }

    fn w(&self) -> &Pool<sqlx::Postgres> {
        &self.pool
    }

    fn r(&self) -> &Pool<sqlx::Postgres> {
        &self.pool
    }

    async fn close_pools(&self) {
        self.pool.close().await;
    }

    /// No account cache: several server nodes may share one PostgreSQL database.
    #[allow(clippy::unused_self)]
    fn accounts(&self) -> Option<&crate::account_cache::AccountCache> {
        None
    }

    /// No queued-jobs hint, for the same reason.
    #[allow(clippy::unused_self)]
    fn hint(&self) -> Option<&crate::job_hint::QueuedHint> {
        None
    }

    async fn take_queued_impl(
        &self,
        device_id: &str,
        session_id: &str,
        limit: u32,
        now: crate::UnixMillis,
    ) -> Result<Vec<crate::Job>> {
        ops::take_queued_direct(self, device_id, session_id, limit, now).await
    }

    async fn consume_impl(&self, device_id: &str, expected: &[u8], next: &[u8]) -> Result<bool> {
        ops::consume_direct(self, device_id, expected, next).await
    }

    async fn record_session_impl(&self, rec: &crate::SessionRecord) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        ops::record_one(&mut tx, rec).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Applies the pending schema scripts in one transaction, under an advisory lock.
async fn migrate(pool: &PgPool) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(schema::MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS dm_schema (version BIGINT NOT NULL)")
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
    use super::PgStore;

    impl_image_store!(PgStore, sqlx::postgres::PgRow);
}

/// The shared [`crate::Store`] implementation, expanded for this backend.
mod ops {
    use super::PgStore;
    use super::schema as sql;

    impl_store!(
        PgStore,
        sqlx::Postgres,
        sqlx::PgConnection,
        sqlx::postgres::PgRow,
        sql
    );
}
