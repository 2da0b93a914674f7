//! Group commit of session records on SQLite.
//!
//! SQLite has one writer, and with sqlx every statement is a round trip to the connection's
//! worker thread. A session writes to six tables, so writing sessions one by one costs about
//! eight round trips each. Here one task owns the write path of [`crate::Store::record_session`]:
//! it takes every record waiting in its queue (up to [`MAX_BATCH`]) and writes them all in one
//! transaction with one multi-row statement per table. If that transaction fails (for example
//! one record names a job that does not exist), it is rolled back and each record is written
//! again in a transaction of its own, so every caller gets exactly its own outcome: the
//! all-or-nothing contract per record is kept.
//!
//! The same task takes queued jobs for sessions ([`crate::Store::take_queued_jobs`]): the takes
//! waiting are done with one `UPDATE ... FROM (VALUES ...) RETURNING` statement (a device that
//! asks twice in one batch is served by a second statement, so no job is ever handed out
//! twice). After a commit, the nonces of the records are applied to the account cache.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::ops;
use crate::account_cache::AccountCache;
use crate::backend::BATCH_ROWS;
use crate::session::dedup_tree_values;
use crate::{Error, Job, Result, SessionRecord, UnixMillis};

/// Most records written in one transaction.
pub(crate) const MAX_BATCH: usize = 64;

/// Records waiting for the writer task before `record_session` callers wait for room.
const QUEUE: usize = 1024;

struct Pending {
    rec: SessionRecord,
    reply: oneshot::Sender<Result<()>>,
}

/// A request to take a device's queued jobs.
struct Take {
    device_id: String,
    session_id: String,
    limit: u32,
    now: UnixMillis,
    reply: oneshot::Sender<Result<Vec<Job>>>,
}

/// A request to consume a device's client nonce (compare and set).
struct Consume {
    device_id: String,
    expected: Vec<u8>,
    next: Vec<u8>,
    reply: oneshot::Sender<Result<bool>>,
}

enum Op {
    Record(Pending),
    Take(Take),
    Consume(Consume),
}

/// Handle to the writer task; the task ends when every handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Op>,
}

fn stopped() -> Error {
    Error::Backend("store writer stopped".into())
}

impl GroupCommit {
    /// Starts the writer task on the current tokio runtime.
    pub(crate) fn start(pool: SqlitePool, accounts: Arc<AccountCache>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, accounts, rx));
        GroupCommit { queue }
    }

    /// Queues a record and waits until it is committed (or failed).
    pub(crate) async fn submit(&self, rec: SessionRecord) -> Result<()> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(Op::Record(Pending { rec, reply }))
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    /// Consumes a device's client nonce (see [`crate::Store::consume_client_nonce`]).
    pub(crate) async fn consume(
        &self,
        device_id: &str,
        expected: &[u8],
        next: &[u8],
    ) -> Result<bool> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(Op::Consume(Consume {
                device_id: device_id.to_owned(),
                expected: expected.to_vec(),
                next: next.to_vec(),
                reply,
            }))
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    /// Takes up to `limit` queued jobs of a device for a session (see
    /// [`crate::Store::take_queued_jobs`]).
    pub(crate) async fn take(
        &self,
        device_id: String,
        session_id: String,
        limit: u32,
        now: UnixMillis,
    ) -> Result<Vec<Job>> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(Op::Take(Take {
                device_id,
                session_id,
                limit,
                now,
                reply,
            }))
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }
}

async fn run(pool: SqlitePool, accounts: Arc<AccountCache>, mut rx: mpsc::Receiver<Op>) {
    let mut ops = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut takes = Vec::with_capacity(MAX_BATCH);
    let mut consumes = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut ops, MAX_BATCH).await > 0 {
        for op in ops.drain(..) {
            match op {
                Op::Record(p) => batch.push(p),
                Op::Take(t) => takes.push(t),
                Op::Consume(c) => consumes.push(c),
            }
        }
        // Nonces first: an authenticating session waits for them before anything else.
        if !consumes.is_empty() {
            consume_batch(&pool, &accounts, &mut consumes).await;
        }
        // Takes first: their sessions wait for them to send anything.
        if !takes.is_empty() {
            take_batch(&pool, &mut takes).await;
        }
        if !batch.is_empty() {
            write_batch(&pool, &accounts, &mut batch).await;
        }
    }
}

/// Answers every nonce consumption, leaving `consumes` empty: one statement per round of
/// distinct devices (a device asking twice in one batch is served by a later round, which
/// finds the nonce already replaced).
async fn consume_batch(pool: &SqlitePool, accounts: &AccountCache, consumes: &mut Vec<Consume>) {
    let mut rest: Vec<Consume> = std::mem::take(consumes);
    while !rest.is_empty() {
        let mut seen = HashSet::new();
        let (round, later): (Vec<Consume>, Vec<Consume>) = rest
            .into_iter()
            .partition(|c| seen.insert(c.device_id.clone()));
        rest = later;
        match consume_round(pool, &round).await {
            Ok(won) => {
                for c in round {
                    let swapped = won.contains(c.device_id.as_str());
                    if swapped {
                        accounts.store_nonces(
                            &c.device_id,
                            &crate::NonceUpdate {
                                client: Some(c.next.clone()),
                                server: None,
                            },
                        );
                    } else {
                        accounts.invalidate(&c.device_id);
                    }
                    let _ = c.reply.send(Ok(swapped));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for c in round {
                    accounts.invalidate(&c.device_id);
                    let _ = c.reply.send(Err(Error::Backend(msg.clone())));
                }
            }
        }
    }
}

/// One compare-and-set statement for several distinct devices: the devices whose nonce was
/// replaced.
async fn consume_round(pool: &SqlitePool, round: &[Consume]) -> Result<HashSet<String>> {
    let mut conn = pool.acquire().await?;
    let mut won = HashSet::new();
    for chunk in round.chunks(BATCH_ROWS) {
        let mut qb =
            QueryBuilder::<Sqlite>::new("UPDATE devices SET client_nonce = v.column3 FROM (");
        qb.push_values(chunk, |mut b, c| {
            b.push_bind(c.device_id.as_str())
                .push_bind(c.expected.as_slice())
                .push_bind(c.next.as_slice());
        });
        qb.push(
            ") AS v WHERE devices.device_id = v.column1 AND devices.client_nonce = v.column2 \
             RETURNING devices.device_id",
        );
        for row in qb.build().fetch_all(&mut *conn).await? {
            won.insert(sqlx::Row::try_get::<String, _>(&row, "device_id")?);
        }
    }
    Ok(won)
}

/// Answers every take, leaving `takes` empty.
async fn take_batch(pool: &SqlitePool, takes: &mut Vec<Take>) {
    let mut rest: Vec<Take> = std::mem::take(takes);
    while !rest.is_empty() {
        // One round: each device at most once.
        let mut seen = HashSet::new();
        let (round, later): (Vec<Take>, Vec<Take>) = rest
            .into_iter()
            .partition(|t| seen.insert(t.device_id.clone()));
        rest = later;
        match take_round(pool, &round).await {
            Ok(mut by_dev) => {
                for t in round {
                    let jobs = by_dev.remove(t.device_id.as_str()).unwrap_or_default();
                    // The caller may have gone away; its jobs then go back to the queue when
                    // the server restarts (they are `sent` to a session that never existed).
                    let _ = t.reply.send(Ok(jobs));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for t in round {
                    let _ = t.reply.send(Err(Error::Backend(msg.clone())));
                }
            }
        }
    }
    takes.clear();
}

/// One statement taking the jobs of several distinct devices; the jobs by device, in id order.
async fn take_round(pool: &SqlitePool, round: &[Take]) -> Result<HashMap<String, Vec<Job>>> {
    let mut conn = pool.acquire().await?;
    let mut out: HashMap<String, Vec<Job>> = HashMap::new();
    for chunk in round.chunks(BATCH_ROWS) {
        let mut qb = QueryBuilder::<Sqlite>::new("WITH v (dev, sess, now, lim) AS (");
        qb.push_values(chunk, |mut b, t| {
            b.push_bind(t.device_id.as_str())
                .push_bind(t.session_id.as_str())
                .push_bind(t.now)
                .push_bind(i64::from(t.limit));
        });
        qb.push(
            "), picked AS (SELECT pid, psess, pnow FROM (               SELECT j.id AS pid, v.sess AS psess, v.now AS pnow, v.lim AS plim,                ROW_NUMBER() OVER (PARTITION BY j.device_id ORDER BY j.id) AS rn                FROM jobs j JOIN v ON j.device_id = v.dev WHERE j.state = 'queued')              WHERE rn <= plim)              UPDATE jobs SET state = 'sent', attempts = attempts + 1, updated_at = picked.pnow,              sent_at = picked.pnow, sent_session = picked.psess, sent_msg_id = NULL,              sent_cmd_ids = NULL FROM picked WHERE jobs.id = picked.pid RETURNING ",
        );
        qb.push(job_cols!());
        let rows = qb.build().fetch_all(&mut *conn).await?;
        let mut jobs = rows
            .iter()
            .map(ops::job_from_row)
            .collect::<Result<Vec<Job>>>()?;
        // Only jobs sent before (re-queued) can have results.
        if jobs.iter().any(|j| j.attempts > 1) {
            ops::load_results(&mut conn, &mut jobs).await?;
        }
        for j in jobs {
            out.entry(j.device_id.clone()).or_default().push(j);
        }
    }
    for jobs in out.values_mut() {
        jobs.sort_by_key(|j| j.id);
    }
    Ok(out)
}

/// Writes and answers every pending record, leaving `batch` empty.
async fn write_batch(pool: &SqlitePool, accounts: &AccountCache, batch: &mut Vec<Pending>) {
    // Records with a job completion but no results need the per-record existence check.
    let (merged, single): (Vec<Pending>, Vec<Pending>) = batch.drain(..).partition(|p| {
        p.rec
            .job_results
            .iter()
            .all(|jr| jr.complete.is_none() || !jr.results.is_empty())
    });
    let mut single = single;
    if merged.len() > 1 {
        let recs: Vec<&SessionRecord> = merged.iter().map(|p| &p.rec).collect();
        match write_merged(pool, &recs).await {
            Ok(()) => {
                for p in merged {
                    accounts.store_nonces(&p.rec.device_id, &p.rec.nonces);
                    // The caller may have gone away; nothing to do then.
                    let _ = p.reply.send(Ok(()));
                }
            }
            // The batch failure goes to no one: each record is retried alone below and its
            // own error, if any, goes to its caller.
            Err(_) => single.extend(merged),
        }
    } else {
        single.extend(merged);
    }
    for p in single {
        let r = write_single(pool, &p.rec).await;
        if r.is_ok() {
            accounts.store_nonces(&p.rec.device_id, &p.rec.nonces);
        }
        let _ = p.reply.send(r);
    }
}

async fn write_single(pool: &SqlitePool, rec: &SessionRecord) -> Result<()> {
    let mut tx = pool.begin().await?;
    ops::record_one(&mut tx, rec).await?;
    tx.commit().await?;
    Ok(())
}

/// Writes all the records in one transaction, sent to the connection as one multi-statement
/// script (`BEGIN IMMEDIATE; ...; COMMIT`): one round trip to the connection's worker thread
/// for the whole batch. (sqlx's SQLite driver binds the `?` parameters of such a script in
/// order across its statements.) On an error the transaction is rolled back.
async fn write_merged(pool: &SqlitePool, recs: &[&SessionRecord]) -> Result<()> {
    let mut qb = QueryBuilder::<Sqlite>::new("BEGIN IMMEDIATE; ");
    merged_registry(&mut qb, recs)?;
    merged_nonces(&mut qb, recs);
    merged_tree(&mut qb, recs);
    merged_results(&mut qb, recs)?;
    merged_completions(&mut qb, recs);
    merged_events(&mut qb, recs);
    qb.push("COMMIT");
    let mut conn = pool.acquire().await?;
    match run_script(&mut conn, qb).await {
        Ok(()) => Ok(()),
        Err(e) => {
            // The failing statement stopped the script inside the transaction.
            if let Err(rb) = rollback(&mut conn).await {
                // "no transaction is active" when BEGIN itself failed; anything else leaves
                // the connection in an unknown state: drop it from the pool.
                if !rb.to_string().contains("no transaction") {
                    conn.detach();
                }
            }
            Err(e.into())
        }
    }
}

async fn run_script(
    conn: &mut SqliteConnection,
    mut qb: QueryBuilder<'static, Sqlite>,
) -> std::result::Result<(), sqlx::Error> {
    qb.build().persistent(false).execute(conn).await?;
    Ok(())
}

async fn rollback(conn: &mut SqliteConnection) -> std::result::Result<(), sqlx::Error> {
    sqlx::query("ROLLBACK").execute(conn).await?;
    Ok(())
}

/// Registry upserts. SQLite applies the rows of one `INSERT` in order, so a device that occurs
/// twice ends as if its records were written one after the other. Every record has a row here,
/// and the registry's foreign key makes the batch fail when a device has no account.
fn merged_registry(qb: &mut QueryBuilder<'static, Sqlite>, recs: &[&SessionRecord]) -> Result<()> {
    let mut rows = Vec::with_capacity(recs.len());
    for r in recs {
        let devinfo = r
            .registry
            .devinfo
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        rows.push((*r, devinfo));
    }
    for chunk in rows.chunks(BATCH_ROWS) {
        qb.push(
            "INSERT INTO registry \
             (device_id, devinfo, man, model, last_contact, last_addr, last_session) ",
        );
        qb.push_values(chunk.iter().cloned(), |mut b, (r, devinfo)| {
            let u = &r.registry;
            b.push_bind(r.device_id.clone())
                .push_bind(devinfo)
                .push_bind(u.devinfo.as_ref().and_then(|d| d.get("Man")).cloned())
                .push_bind(u.devinfo.as_ref().and_then(|d| d.get("Mod")).cloned())
                .push_bind(u.last_contact)
                .push_bind(u.last_addr.clone())
                .push_bind(u.last_session_id.clone());
        });
        qb.push(
            " ON CONFLICT (device_id) DO UPDATE SET \
               devinfo = COALESCE(excluded.devinfo, registry.devinfo), \
               man = CASE WHEN excluded.devinfo IS NULL THEN registry.man ELSE excluded.man END, \
               model = CASE WHEN excluded.devinfo IS NULL THEN registry.model \
                       ELSE excluded.model END, \
               last_contact = COALESCE(excluded.last_contact, registry.last_contact), \
               last_addr = COALESCE(excluded.last_addr, registry.last_addr), \
               last_session = COALESCE(excluded.last_session, registry.last_session); ",
        );
    }
    Ok(())
}

/// Client and server nonce of one device, `None` = keep.
type NoncePair<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Nonce updates, merged per device (a later record's nonce wins).
fn merged_nonces(qb: &mut QueryBuilder<'static, Sqlite>, recs: &[&SessionRecord]) {
    let mut order: Vec<&str> = Vec::new();
    let mut by_dev: HashMap<&str, NoncePair<'_>> = HashMap::new();
    for r in recs {
        let (c, s) = (r.nonces.client.as_deref(), r.nonces.server.as_deref());
        if c.is_none() && s.is_none() {
            continue;
        }
        let e = by_dev.entry(r.device_id.as_str()).or_insert_with(|| {
            order.push(r.device_id.as_str());
            (None, None)
        });
        e.0 = c.or(e.0);
        e.1 = s.or(e.1);
    }
    for chunk in order.chunks(BATCH_ROWS) {
        qb.push(
            "UPDATE devices SET client_nonce = COALESCE(v.column2, devices.client_nonce), \
             server_nonce = COALESCE(v.column3, devices.server_nonce) FROM (",
        );
        qb.push_values(chunk, |mut b, dev| {
            let (c, s) = by_dev.get(dev).copied().unwrap_or((None, None));
            b.push_bind((*dev).to_owned())
                .push_bind(c.map(<[u8]>::to_vec))
                .push_bind(s.map(<[u8]>::to_vec));
        });
        qb.push(") AS v WHERE devices.device_id = v.column1; ");
    }
}

fn merged_tree(qb: &mut QueryBuilder<'static, Sqlite>, recs: &[&SessionRecord]) {
    let rows: Vec<(&str, &crate::TreeValue)> = recs
        .iter()
        .flat_map(|r| {
            dedup_tree_values(&r.tree_values)
                .into_iter()
                .map(move |v| (r.device_id.as_str(), v))
        })
        .collect();
    for chunk in rows.chunks(BATCH_ROWS) {
        qb.push("INSERT INTO tree_values (device_id, path, format, mime_type, value, updated_at) ");
        qb.push_values(chunk, |mut b, (dev, v)| {
            b.push_bind((*dev).to_owned())
                .push_bind(v.path.clone())
                .push_bind(v.format.clone())
                .push_bind(v.mime_type.clone())
                .push_bind(v.value.clone())
                .push_bind(v.updated_at);
        });
        qb.push(
            " ON CONFLICT (device_id, path) DO UPDATE SET format = excluded.format, \
             mime_type = excluded.mime_type, value = excluded.value, \
             updated_at = excluded.updated_at; ",
        );
    }
}

fn merged_results(qb: &mut QueryBuilder<'static, Sqlite>, recs: &[&SessionRecord]) -> Result<()> {
    let mut rows = Vec::new();
    for r in recs {
        for jr in &r.job_results {
            for res in &jr.results {
                let items = serde_json::to_string(&res.items)
                    .map_err(|e| Error::InvalidArgument(e.to_string()))?;
                rows.push((jr.job_id, res, items));
            }
        }
    }
    for chunk in rows.chunks(BATCH_ROWS) {
        qb.push(
            "INSERT INTO job_results \
             (job_id, cmd_index, cmd_id, status, items, completed_at, error) ",
        );
        qb.push_values(chunk.iter().cloned(), |mut b, (job_id, r, items)| {
            b.push_bind(job_id)
                .push_bind(i64::from(r.index))
                .push_bind(r.cmd_id.map(i64::from))
                .push_bind(i64::from(r.status))
                .push_bind(items)
                .push_bind(r.completed_at)
                .push_bind(r.error.clone());
        });
        qb.push(
            " ON CONFLICT (job_id, cmd_index) DO UPDATE SET cmd_id = excluded.cmd_id, \
             status = excluded.status, items = excluded.items, \
             completed_at = excluded.completed_at, error = excluded.error; ",
        );
    }
    Ok(())
}

/// Job completions; the first completion of a job wins (later ones find it terminal).
fn merged_completions(qb: &mut QueryBuilder<'static, Sqlite>, recs: &[&SessionRecord]) {
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<(i64, &'static str, i64)> = recs
        .iter()
        .flat_map(|r| {
            r.job_results
                .iter()
                .filter_map(move |jr| jr.complete.map(|s| (jr.job_id, s.as_str(), r.at)))
        })
        .filter(|(id, _, _)| seen.insert(*id))
        .collect();
    for chunk in rows.chunks(BATCH_ROWS) {
        qb.push(
            "UPDATE jobs SET state = v.column2, updated_at = v.column3, \
             completed_at = v.column3 FROM (",
        );
        qb.push_values(chunk.iter().copied(), |mut b, (id, state, at)| {
            b.push_bind(id).push_bind(state).push_bind(at);
        });
        qb.push(") AS v WHERE jobs.id = v.column1 AND jobs.state IN ('queued', 'sent'); ");
    }
}

fn merged_events(qb: &mut QueryBuilder<'static, Sqlite>, recs: &[&SessionRecord]) {
    let rows: Vec<(&str, &crate::NewEvent)> = recs
        .iter()
        .flat_map(|r| r.events.iter().map(move |e| (r.device_id.as_str(), e)))
        .collect();
    for chunk in rows.chunks(BATCH_ROWS) {
        qb.push(
            "INSERT INTO events (device_id, at, alert_code, alert_type, format, mark, \
             source_uri, correlator, data) ",
        );
        qb.push_values(chunk, |mut b, (dev, e)| {
            b.push_bind((*dev).to_owned())
                .push_bind(e.at)
                .push_bind(i64::from(e.alert_code))
                .push_bind(e.alert_type.clone())
                .push_bind(e.format.clone())
                .push_bind(e.mark.clone())
                .push_bind(e.source_uri.clone())
                .push_bind(e.correlator.clone())
                .push_bind(e.data.clone());
        });
        qb.push("; ");
    }
}
