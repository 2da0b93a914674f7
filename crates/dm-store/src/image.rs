//! Images the server gives out (docs/gateway.md §10, GwMO-DCIS-001, B.8): the uploaded images
//! (metadata; the bytes are files in the server's images directory, named by digest) and, per
//! gateway, the image entries the server created on it with the state the gateway reported in
//! its `imageready` alert.
//!
//! A separate trait ([`ImageStore`]) from [`crate::Store`], same two backends (schema version
//! 5), same conventions: every method one transaction, times in Unix milliseconds.

use std::future::Future;

use crate::{Result, UnixMillis};

/// An uploaded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// SHA-256, 64 lowercase hex digits (its file name).
    pub sha256: String,
    /// Bytes.
    pub size: i64,
    /// Name given at upload.
    pub name: String,
    /// When it was uploaded.
    pub created_at: UnixMillis,
}

/// An image entry the server created on a gateway (`./GwMO/ImageInventory/Images/<node>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayImage {
    /// The gateway.
    pub gateway_id: String,
    /// The entry's node name.
    pub node: String,
    /// The image.
    pub sha256: String,
    /// `pushed` (job queued), then as reported: `ready`, `failed`; `disabled` once the server
    /// disabled it.
    pub state: String,
    /// The LocalURI the gateway reported.
    pub local_uri: Option<String>,
    /// Whether the server wants it served.
    pub enabled: bool,
    /// The job that carries the latest change.
    pub job_id: Option<i64>,
    /// The SyncML status of a failure the gateway reported.
    pub code: Option<i64>,
    /// When the entry was pushed.
    pub created_at: UnixMillis,
    /// Last change.
    pub updated_at: UnixMillis,
}

/// The image tables.
///
/// Common errors as for [`crate::Store`]; each method lists the others.
pub trait ImageStore: Send + Sync {
    /// Records an uploaded image (a second upload of the same digest keeps the first record).
    ///
    /// # Errors
    /// Backend errors only.
    fn put_image(&self, image: &ImageRecord) -> impl Future<Output = Result<()>> + Send;

    /// An uploaded image.
    ///
    /// # Errors
    /// Backend errors only.
    fn get_image(&self, sha256: &str) -> impl Future<Output = Result<Option<ImageRecord>>> + Send;

    /// Every uploaded image, by digest (at most 10,000).
    ///
    /// # Errors
    /// Backend errors only.
    fn list_images(&self) -> impl Future<Output = Result<Vec<ImageRecord>>> + Send;

    /// Inserts or replaces a gateway's image entry.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] when the gateway or the image is unknown.
    fn put_gateway_image(&self, entry: &GatewayImage) -> impl Future<Output = Result<()>> + Send;

    /// One image entry of a gateway.
    ///
    /// # Errors
    /// Backend errors only.
    fn get_gateway_image(
        &self,
        gateway_id: &str,
        node: &str,
    ) -> impl Future<Output = Result<Option<GatewayImage>>> + Send;

    /// A gateway's image entries, by node name (at most 10,000).
    ///
    /// # Errors
    /// Backend errors only.
    fn list_gateway_images(
        &self,
        gateway_id: &str,
    ) -> impl Future<Output = Result<Vec<GatewayImage>>> + Send;

    /// Records what a gateway reported in `imageready` for one of its entries; false when the
    /// server has no such entry (nothing changes).
    ///
    /// # Errors
    /// Backend errors only.
    fn report_gateway_image(
        &self,
        gateway_id: &str,
        node: &str,
        state: &str,
        local_uri: Option<&str>,
        code: Option<i64>,
        now: UnixMillis,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Forgets a gateway's image entry; false when there was none.
    ///
    /// # Errors
    /// Backend errors only.
    fn delete_gateway_image(
        &self,
        gateway_id: &str,
        node: &str,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// Columns of `gateway_images`.
macro_rules! gateway_image_cols {
    () => {
        "gateway_id, node, sha256, state, local_uri, enabled, job_id, code, created_at, updated_at"
    };
}

/// Expands `impl ImageStore for $store` (`fn w()`, `fn r()` as for `impl_store!`).
macro_rules! impl_image_store {
    ($store:ty, $row:ty) => {
        use sqlx::Row as _;

        use crate::image::{GatewayImage, ImageRecord, ImageStore};
        use crate::{Error, Result, UnixMillis};

        fn image_row(r: &$row) -> Result<ImageRecord> {
            Ok(ImageRecord {
                sha256: r.try_get("sha256")?,
                size: r.try_get("size")?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
            })
        }

        fn gateway_image_row(r: &$row) -> Result<GatewayImage> {
            Ok(GatewayImage {
                gateway_id: r.try_get("gateway_id")?,
                node: r.try_get("node")?,
                sha256: r.try_get("sha256")?,
                state: r.try_get("state")?,
                local_uri: r.try_get("local_uri")?,
                enabled: r.try_get::<i64, _>("enabled")? != 0,
                job_id: r.try_get("job_id")?,
                code: r.try_get("code")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        impl ImageStore for $store {
            async fn put_image(&self, image: &ImageRecord) -> Result<()> {
                sqlx::query(
                    "INSERT INTO images (sha256, size, name, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (sha256) DO NOTHING",
                )
                .bind(&image.sha256)
                .bind(image.size)
                .bind(&image.name)
                .bind(image.created_at)
                .execute(self.w())
                .await?;
                Ok(())
            }

            async fn get_image(&self, sha256: &str) -> Result<Option<ImageRecord>> {
                let row = sqlx::query(
                    "SELECT sha256, size, name, created_at FROM images WHERE sha256 = $1",
                )
                .bind(sha256)
                .fetch_optional(self.r())
                .await?;
                row.as_ref().map(image_row).transpose()
            }

            async fn list_images(&self) -> Result<Vec<ImageRecord>> {
                let rows = sqlx::query(
                    "SELECT sha256, size, name, created_at FROM images ORDER BY sha256 LIMIT 10000",
                )
                .fetch_all(self.r())
                .await?;
                rows.iter().map(image_row).collect()
            }

            async fn put_gateway_image(&self, e: &GatewayImage) -> Result<()> {
                sqlx::query(concat!(
                    "INSERT INTO gateway_images (",
                    gateway_image_cols!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (gateway_id, node) DO UPDATE SET sha256 = excluded.sha256, \
                     state = excluded.state, local_uri = excluded.local_uri, \
                     enabled = excluded.enabled, job_id = excluded.job_id, code = excluded.code, \
                     updated_at = excluded.updated_at"
                ))
                .bind(&e.gateway_id)
                .bind(&e.node)
                .bind(&e.sha256)
                .bind(&e.state)
                .bind(&e.local_uri)
                .bind(i64::from(e.enabled))
                .bind(e.job_id)
                .bind(e.code)
                .bind(e.created_at)
                .bind(e.updated_at)
                .execute(self.w())
                .await
                .map_err(|err| {
                    Error::on_write(err, "gateway image", &e.node, "gateway or image", &e.gateway_id)
                })?;
                Ok(())
            }

            async fn get_gateway_image(
                &self,
                gateway_id: &str,
                node: &str,
            ) -> Result<Option<GatewayImage>> {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    gateway_image_cols!(),
                    " FROM gateway_images WHERE gateway_id = $1 AND node = $2"
                ))
                .bind(gateway_id)
                .bind(node)
                .fetch_optional(self.r())
                .await?;
                row.as_ref().map(gateway_image_row).transpose()
            }

            async fn list_gateway_images(&self, gateway_id: &str) -> Result<Vec<GatewayImage>> {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    gateway_image_cols!(),
                    " FROM gateway_images WHERE gateway_id = $1 ORDER BY node LIMIT 10000"
                ))
                .bind(gateway_id)
                .fetch_all(self.r())
                .await?;
                rows.iter().map(gateway_image_row).collect()
            }

            async fn report_gateway_image(
                &self,
                gateway_id: &str,
                node: &str,
                state: &str,
                local_uri: Option<&str>,
                code: Option<i64>,
                now: UnixMillis,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE gateway_images SET state = CASE WHEN enabled = 0 AND $3 = 'ready' \
                     THEN 'disabled' ELSE $3 END, local_uri = $4, code = $5, updated_at = $6 \
                     WHERE gateway_id = $1 AND node = $2",
                )
                .bind(gateway_id)
                .bind(node)
                .bind(state)
                .bind(local_uri)
                .bind(code)
                .bind(now)
                .execute(self.w())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_gateway_image(&self, gateway_id: &str, node: &str) -> Result<bool> {
                let done =
                    sqlx::query("DELETE FROM gateway_images WHERE gateway_id = $1 AND node = $2")
                        .bind(gateway_id)
                        .bind(node)
                        .execute(self.w())
                        .await?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

impl ImageStore for crate::AnyStore {
    async fn put_image(&self, image: &ImageRecord) -> Result<()> {
        match self {
            crate::AnyStore::Sqlite(s) => s.put_image(image).await,
            crate::AnyStore::Postgres(s) => s.put_image(image).await,
        }
    }
    async fn get_image(&self, sha256: &str) -> Result<Option<ImageRecord>> {
        match self {
            crate::AnyStore::Sqlite(s) => s.get_image(sha256).await,
            crate::AnyStore::Postgres(s) => s.get_image(sha256).await,
        }
    }
    async fn list_images(&self) -> Result<Vec<ImageRecord>> {
        match self {
            crate::AnyStore::Sqlite(s) => s.list_images().await,
            crate::AnyStore::Postgres(s) => s.list_images().await,
        }
    }
    async fn put_gateway_image(&self, entry: &GatewayImage) -> Result<()> {
        match self {
            crate::AnyStore::Sqlite(s) => s.put_gateway_image(entry).await,
            crate::AnyStore::Postgres(s) => s.put_gateway_image(entry).await,
        }
    }
    async fn get_gateway_image(
        &self,
        gateway_id: &str,
        node: &str,
    ) -> Result<Option<GatewayImage>> {
        match self {
            crate::AnyStore::Sqlite(s) => s.get_gateway_image(gateway_id, node).await,
            crate::AnyStore::Postgres(s) => s.get_gateway_image(gateway_id, node).await,
        }
    }
    async fn list_gateway_images(&self, gateway_id: &str) -> Result<Vec<GatewayImage>> {
        match self {
            crate::AnyStore::Sqlite(s) => s.list_gateway_images(gateway_id).await,
            crate::AnyStore::Postgres(s) => s.list_gateway_images(gateway_id).await,
        }
    }
    async fn report_gateway_image(
        &self,
        gateway_id: &str,
        node: &str,
        state: &str,
        local_uri: Option<&str>,
        code: Option<i64>,
        now: UnixMillis,
    ) -> Result<bool> {
        match self {
            crate::AnyStore::Sqlite(s) => {
                s.report_gateway_image(gateway_id, node, state, local_uri, code, now)
                    .await
            }
            crate::AnyStore::Postgres(s) => {
                s.report_gateway_image(gateway_id, node, state, local_uri, code, now)
                    .await
            }
        }
    }
    async fn delete_gateway_image(&self, gateway_id: &str, node: &str) -> Result<bool> {
        match self {
            crate::AnyStore::Sqlite(s) => s.delete_gateway_image(gateway_id, node).await,
            crate::AnyStore::Postgres(s) => s.delete_gateway_image(gateway_id, node).await,
        }
    }
}
