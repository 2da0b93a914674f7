//! The shared store suite on SQLite (a temp file per test), plus SQLite-only checks:
//! restart durability and in-memory stores.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod suite;

use dm_store::{AnyStore, RequeueScope, SqliteStore, Store};

struct Harness {
    store: AnyStore,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn finish(self) {
        self.store.close().await;
    }
}

async fn open(_name: &str) -> Option<Harness> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("dm.db").display());
    let store = AnyStore::open(&url).await.unwrap();
    assert_eq!(store.backend_name(), "sqlite");
    Some(Harness { store, _dir: dir })
}

all_suite_tests!(open);

/// A job sent before a restart is found by requeue-unanswered after reopening the file.
#[tokio::test]
async fn sent_job_survives_restart_and_is_requeued() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("dm.db").display());
    let store = AnyStore::open(&url).await.unwrap();
    store
        .create_device(&suite::account("IMEI:1", "a1"))
        .await
        .unwrap();
    let job = store
        .create_job(&dm_store::NewJob {
            device_id: "IMEI:1".into(),
            commands: vec![dm_store::JobCommand::on_paths(
                dm_store::CommandKind::Get,
                ["./DevInfo/Man"],
            )],
            created_at: suite::T0,
        })
        .await
        .unwrap();
    let taken = store
        .take_queued_jobs("IMEI:1", "S1", 5, suite::T0 + 1)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    store.set_sent_ids(job.id, 1, &[4]).await.unwrap();
    store.close().await;
    drop(store);

    // "Restart": a new store on the same file; the WAL was checkpointed or is replayed.
    let store = AnyStore::open(&url).await.unwrap();
    let back = store
        .requeue_unanswered(
            &RequeueScope::SentBefore(suite::T0 + 1_000),
            suite::T0 + 2_000,
        )
        .await
        .unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].id, job.id);
    assert_eq!(back[0].attempts, 1);
    let sent = back[0].sent.clone().unwrap();
    assert_eq!(
        (sent.session_id.as_str(), sent.msg_id, sent.cmd_ids),
        ("S1", Some(1), vec![4])
    );
    let again = store
        .take_queued_jobs("IMEI:1", "S2", 5, suite::T0 + 3_000)
        .await
        .unwrap();
    assert_eq!(again.iter().map(|j| j.id).collect::<Vec<_>>(), [job.id]);
    store.close().await;
}

/// `sqlite::memory:` works (one connection, data lives while the store does).
#[tokio::test]
async fn in_memory_store_runs_the_suite_basics() {
    let store = AnyStore::open("sqlite::memory:").await.unwrap();
    suite::device_crud_and_conflicts(&store).await;
    suite::record_session_writes_everything(&store).await;
}

#[tokio::test]
async fn bad_urls_are_rejected() {
    let e = AnyStore::open("mysql://x").await.unwrap_err();
    assert!(matches!(e, dm_store::Error::InvalidUrl(_)), "{e:?}");
    let e = SqliteStore::open("postgres://x").await.unwrap_err();
    assert!(matches!(e, dm_store::Error::InvalidUrl(_)), "{e:?}");
    // A directory that does not exist cannot hold the file.
    let e = AnyStore::open("sqlite:/nonexistent-dir-dmstore/x.db")
        .await
        .unwrap_err();
    assert!(matches!(e, dm_store::Error::Backend(_)), "{e:?}");
}

/// Reopening an existing database does not re-run the schema scripts.
#[tokio::test]
async fn reopen_keeps_data_and_schema() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("dm.db").display());
    let s = AnyStore::open(&url).await.unwrap();
    s.create_device(&suite::account("IMEI:1", "a1"))
        .await
        .unwrap();
    s.close().await;
    let s = AnyStore::open(&url).await.unwrap();
    assert!(s.get_device("IMEI:1").await.unwrap().is_some());
    s.close().await;
}

/// Schema migration 2 (`job_results.error`) on a database created at version 1 keeps its
/// data: the old results read back with no error, new ones store it.
#[tokio::test]
async fn migration_2_keeps_version_1_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dm.db");
    let url = format!("sqlite:{}", path.display());
    {
        // A version-1 database, as an older build left it.
        use sqlx::ConnectOptions as _;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        let v1 = include_str!("v1.sql");
        sqlx::raw_sql(v1).execute(&mut conn).await.unwrap();
    }
    let store = AnyStore::open(&url).await.unwrap();
    let job = store.get_job(1).await.unwrap().unwrap();
    assert_eq!(job.device_id, "IMEI:OLD");
    assert_eq!(job.results.len(), 1);
    assert_eq!(job.results[0].status, 200);
    assert_eq!(job.results[0].error, None);
    assert_eq!(
        store
            .get_device("IMEI:OLD")
            .await
            .unwrap()
            .unwrap()
            .auth_name,
        "old"
    );
    store.close().await;
}
