//! The shared store suite on PostgreSQL. Needs `DMSTORE_PG_URL` (scripts/test starts a
//! throwaway cluster and sets it); each test creates its own database with a random suffix and
//! drops it afterwards. Without the variable the tests are skipped, unless `REQUIRE_ORACLES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod suite;

use std::hash::{BuildHasher as _, RandomState};

use dm_store::{AnyStore, Store};
use sqlx::Connection as _;

struct Harness {
    store: AnyStore,
    admin_url: String,
    db: String,
}

impl Harness {
    async fn finish(self) {
        self.store.close().await;
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}

/// `url` with its database name replaced.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| base[start..].find('/').map(|j| start + j))
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A fresh database named after `name`: (admin URL, its URL, its name); `None` (after saying
/// so) without `DMSTORE_PG_URL`.
async fn create_database(name: &str) -> Option<(String, String, String)> {
    let Some(admin_url) = std::env::var("DMSTORE_PG_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        if std::env::var("REQUIRE_ORACLES").as_deref() == Ok("1") {
            panic!(
                "DMSTORE_PG_URL is not set but REQUIRE_ORACLES=1: run ./scripts/test, which \
                 starts a PostgreSQL cluster and sets it"
            );
        }
        println!("SKIPPED: DMSTORE_PG_URL not set");
        return None;
    };
    let suffix = RandomState::new().hash_one((name, std::process::id()));
    let db = format!("dmstore_test_{suffix:016x}");
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let url = with_database(&admin_url, &db);
    Some((admin_url, url, db))
}

async fn open(name: &str) -> Option<Harness> {
    let (admin_url, url, db) = create_database(name).await?;
    let store = AnyStore::open(&url).await.unwrap();
    assert_eq!(store.backend_name(), "postgres");
    Some(Harness {
        store,
        admin_url,
        db,
    })
}

all_suite_tests!(open);

#[test]
fn database_name_is_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://dm@127.0.0.1:5432/postgres", "x"),
        "postgres://dm@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://dm@h:1/postgres?sslmode=disable", "x"),
        "postgres://dm@h:1/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

/// Opening twice migrates once (the second open sees version 1 and does nothing).
#[tokio::test]
async fn reopen_does_not_remigrate() {
    let Some(h) = open("reopen_does_not_remigrate").await else {
        return;
    };
    h.store
        .create_device(&suite::account("IMEI:1", "a1"))
        .await
        .unwrap();
    let again = AnyStore::open(&with_database(&h.admin_url, &h.db))
        .await
        .unwrap();
    assert!(again.get_device("IMEI:1").await.unwrap().is_some());
    again.close().await;
    h.finish().await;
}

/// Takes a database at the newest version back to the shape versions 1 and 2 gave it, with the data of
/// `v2_delta.sql` (PostgreSQL literals).
const TO_VERSION_2: &str = r#"
DELETE FROM dm_schema WHERE version >= 3;
DROP TABLE gateway_images;
DROP TABLE images;
DROP TABLE fanouts;
DROP TABLE gateway_groups;
DROP TABLE device_links;
ALTER TABLE devices DROP COLUMN kind;
ALTER TABLE devices ADD COLUMN gateway_id TEXT, ADD COLUMN gateway_mode TEXT;
ALTER TABLE jobs DROP COLUMN gateway_id, DROP COLUMN awaiting_since;
INSERT INTO devices (device_id, auth_name, client_auth, client_verifier, server_auth,
    server_auth_name, server_secret, client_nonce, server_nonce, notify_addrs, gateway_id,
    gateway_mode, enabled, created_at, updated_at) VALUES
    ('GW:OLD', 'gw', 'md5', 'verifier', 'md5', NULL, 'spw', '\x6e31', '\x', '[]', NULL, NULL, TRUE, 1, 1),
    ('IMEI:BEHIND', 'behind', 'md5', 'verifier', 'md5', NULL, 'spw', '\x', '\x', '[]', 'GW:OLD', 'Transparent', TRUE, 1, 7),
    ('IMEI:DANGLING', 'dangling', 'md5', 'verifier', 'md5', NULL, 'spw', '\x', '\x', '[]', 'GW:GONE', 'proxy', TRUE, 1, 1);
INSERT INTO jobs (device_id, state, commands, attempts, created_at, updated_at, sent_at, sent_session)
    VALUES ('IMEI:BEHIND', 'sent', '[{"kind":"get","items":[{"path":"./A"}]}]', 1, 1, 2, 2, 'S1');
INSERT INTO job_results (job_id, cmd_index, cmd_id, status, items, completed_at, error)
    SELECT id, 0, 3, 200, '[]', 2, NULL FROM jobs WHERE device_id = 'IMEI:BEHIND';
"#;

/// Schema migration 3 (gateways, seed 001 X.3) on a PostgreSQL database at version 2 keeps its
/// data (see `suite::check_migrated_v2`).
#[tokio::test]
async fn migration_3_moves_gateway_columns_into_links() {
    let Some((admin_url, url, db)) = create_database("migration_3").await else {
        return;
    };
    AnyStore::open(&url).await.unwrap().close().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(TO_VERSION_2)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let store = AnyStore::open(&url).await.unwrap();
    suite::check_migrated_v2(&store).await;
    Harness {
        store,
        admin_url,
        db,
    }
    .finish()
    .await;
}
