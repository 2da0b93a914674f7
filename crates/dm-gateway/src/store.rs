//! The gateway's durable state, one SQLite file: the inventory, the device groups, the End
//! Device accounts, the Fanout operations and the device responses, the outbox of alerts for
//! the servers, and small values (the northbound tree snapshot).
//!
//! The tables are created if missing ([`SCHEMA`]); columns added later come in numbered
//! migrations ([`MIGRATIONS`], `PRAGMA user_version` = how many ran), each in one
//! transaction, so a file of an older gateway is upgraded on open.
//!
//! WAL journal with `synchronous = NORMAL`: a committed write survives a kill -9 of the
//! process; every method is one transaction.

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use gwmo::group::Group;
use gwmo::inventory::{Address, DevInfoSummary, DeviceRecord, Kind, Presence, Protocol};
use gwmo::mode::Mode;
use sqlx::Row as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous};

use crate::Error;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS devices (
    device_id   TEXT NOT NULL PRIMARY KEY,
    kind        TEXT NOT NULL,
    mode        TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    addresses   TEXT NOT NULL,
    lease_secs  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    registered  INTEGER NOT NULL,
    presence    TEXT NOT NULL,
    man         TEXT NOT NULL,
    model       TEXT NOT NULL,
    dmv         TEXT NOT NULL,
    lang        TEXT NOT NULL,
    servers     TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts (
    device_id       TEXT NOT NULL PRIMARY KEY,
    auth_name       TEXT NOT NULL UNIQUE,
    client_auth     TEXT NOT NULL,
    client_verifier TEXT NOT NULL,
    server_secret   TEXT NOT NULL,
    client_nonce    BLOB NOT NULL,
    server_nonce    BLOB NOT NULL,
    notify          TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS operations (
    op           TEXT NOT NULL PRIMARY KEY,
    server_id    TEXT NOT NULL,
    targets      TEXT NOT NULL,
    commands     TEXT NOT NULL,
    wait_secs    INTEGER NOT NULL,
    timeout_secs INTEGER NOT NULL,
    state        TEXT NOT NULL,
    correlator   TEXT,
    created      INTEGER NOT NULL,
    reported     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS responses (
    op        TEXT NOT NULL REFERENCES operations (op) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    response  TEXT NOT NULL,
    at        INTEGER NOT NULL,
    PRIMARY KEY (op, device_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id TEXT NOT NULL,
    alert     TEXT NOT NULL,
    created   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS groups (
    name      TEXT NOT NULL PRIMARY KEY,
    members   TEXT NOT NULL,
    match     TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (
    name  TEXT NOT NULL PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
"#;

/// The schema changes after [`SCHEMA`], in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    // 1: the fanout extensions of docs/gateway.md §9.
    "ALTER TABLE operations ADD COLUMN group_name TEXT;
     ALTER TABLE operations ADD COLUMN window_size INTEGER NOT NULL DEFAULT 64;
     ALTER TABLE operations ADD COLUMN attempt_secs INTEGER NOT NULL DEFAULT 60;
     ALTER TABLE operations ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 3;
     ALTER TABLE operations ADD COLUMN progress_secs INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE operations ADD COLUMN resolved TEXT;
     ALTER TABLE operations ADD COLUMN transparent TEXT NOT NULL DEFAULT '';",
];

/// An End Device account held by the gateway (the gateway is the device's DM server).
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceAccount {
    /// The device id.
    pub device_id: String,
    /// The name it authenticates as.
    pub auth_name: String,
    /// Its scheme: `basic`, `md5`, `hmac`.
    pub client_auth: String,
    /// `B64(MD5(name:password))`.
    pub client_verifier: String,
    /// What the gateway presents to it (and keys its Package 0).
    pub server_secret: String,
    /// The nonce the device must use next.
    pub client_nonce: Vec<u8>,
    /// The nonce the gateway must use next (credentials and Package 0).
    pub server_nonce: Vec<u8>,
    /// Where it takes Package 0.
    pub notify: Option<String>,
}

impl std::fmt::Debug for DeviceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAccount")
            .field("device_id", &self.device_id)
            .field("auth_name", &self.auth_name)
            .field("client_auth", &self.client_auth)
            .field("notify", &self.notify)
            .finish_non_exhaustive()
    }
}

/// A stored Fanout operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOperation {
    /// Its node name under `./GwMO/Fanout/Operations`.
    pub op: String,
    /// The server that created it (its answers go there).
    pub server_id: String,
    /// Target device ids.
    pub targets: Vec<String>,
    /// The command fragment (XML).
    pub commands: String,
    /// How long the `Start` Exec may wait.
    pub wait_secs: u64,
    /// Per-device deadline.
    pub timeout_secs: u64,
    /// `created`, `running`, `done`, `cancelled`.
    pub state: String,
    /// The `Start` Exec's correlator.
    pub correlator: Option<String>,
    /// `Group`: a group whose members are targets too.
    pub group: Option<String>,
    /// `Window`.
    pub window: u64,
    /// `AttemptSeconds`.
    pub attempt_secs: u64,
    /// `MaxAttempts`.
    pub max_attempts: u64,
    /// `ProgressSeconds` (0: no progress alerts).
    pub progress_secs: u64,
    /// The targets resolved at `Start` (`Targets` and the group's members, each once);
    /// `None` before.
    pub resolved: Option<Vec<String>>,
    /// The resolved targets in Transparent mode, handed back to the server.
    pub transparent: Vec<String>,
    /// Unix seconds of creation.
    pub created: u64,
    /// True once its completion was reported to the server (in the Exec's status or an alert).
    pub reported: bool,
}

/// One device's answer to an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The device.
    pub device_id: String,
    /// The outcome's name (`gwmo::fanout::Outcome::as_str`: `done`, `timeout`, `failed`,
    /// `unknown`, `cancelled`, `transparent`).
    pub outcome: String,
    /// The response fragment (XML of Status / Results).
    pub response: String,
    /// Unix seconds.
    pub at: u64,
}

/// The gateway's store.
#[derive(Debug, Clone)]
pub struct GatewayStore {
    pool: SqlitePool,
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl GatewayStore {
    /// Opens (creating) the file and its schema.
    ///
    /// # Errors
    /// [`Error::Store`] when the file cannot be opened or the schema applied.
    pub async fn open(path: &Path) -> Result<GatewayStore, Error> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        Self::connect(opts).await
    }

    /// An in-memory store (tests).
    ///
    /// # Errors
    /// As [`GatewayStore::open`].
    pub async fn memory() -> Result<GatewayStore, Error> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        Self::connect(opts).await
    }

    async fn connect(opts: SqliteConnectOptions) -> Result<GatewayStore, Error> {
        // One connection: SQLite has one writer, and the gateway's load is small.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .connect_with(opts)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        let applied: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&pool)
            .await?;
        let applied = usize::try_from(applied).unwrap_or(0);
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
            // One script, one transaction: the columns and the version move together.
            let script = format!("BEGIN;\n{sql}\nPRAGMA user_version = {};\nCOMMIT;", n + 1);
            sqlx::raw_sql(&script).execute(&pool).await?;
        }
        Ok(GatewayStore { pool })
    }

    /// Closes the pool (flushes).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ----- inventory -----

    /// Every inventory record.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Corrupt`].
    pub async fn devices(&self) -> Result<Vec<DeviceRecord>, Error> {
        let rows = sqlx::query("SELECT * FROM devices ORDER BY device_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Inserts or replaces a record.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn put_device(&self, r: &DeviceRecord) -> Result<(), Error> {
        let addresses: Vec<String> = r.addresses.iter().map(ToString::to_string).collect();
        sqlx::query(
            "INSERT OR REPLACE INTO devices (device_id, kind, mode, protocol, addresses, \
             lease_secs, last_seen, registered, presence, man, model, dmv, lang, servers) \
             VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(&r.id)
        .bind(r.kind.as_str())
        .bind(r.mode.as_str())
        .bind(r.protocol.as_str())
        .bind(addresses.join("\n"))
        .bind(i(r.lease.as_secs()))
        .bind(i(r.last_seen.0))
        .bind(i(r.registered.0))
        .bind(r.presence.as_str())
        .bind(&r.dev_info.man)
        .bind(&r.dev_info.model)
        .bind(&r.dev_info.dm_v)
        .bind(&r.dev_info.lang)
        .bind(r.servers.join("\n"))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a device's record.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn delete_device(&self, id: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM devices WHERE device_id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ----- accounts -----

    /// The account of a device, by auth name when given, else by device id.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn account(
        &self,
        device_id: &str,
        auth_name: Option<&str>,
    ) -> Result<Option<DeviceAccount>, Error> {
        let row = match auth_name {
            Some(n) => {
                sqlx::query("SELECT * FROM accounts WHERE auth_name = ?")
                    .bind(n)
                    .fetch_optional(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM accounts WHERE device_id = ?")
                    .bind(device_id)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        Ok(row.map(|r| DeviceAccount {
            device_id: r.get("device_id"),
            auth_name: r.get("auth_name"),
            client_auth: r.get("client_auth"),
            client_verifier: r.get("client_verifier"),
            server_secret: r.get("server_secret"),
            client_nonce: r.get("client_nonce"),
            server_nonce: r.get("server_nonce"),
            notify: r.get("notify"),
        }))
    }

    /// Creates an account, or updates its credentials and address keeping the stored nonces.
    ///
    /// # Errors
    /// [`Error::Store`] (also when the auth name belongs to another device).
    pub async fn put_account(&self, a: &DeviceAccount) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO accounts (device_id, auth_name, client_auth, client_verifier, \
             server_secret, client_nonce, server_nonce, notify) VALUES (?,?,?,?,?,?,?,?) \
             ON CONFLICT (device_id) DO UPDATE SET auth_name = excluded.auth_name, \
             client_auth = excluded.client_auth, client_verifier = excluded.client_verifier, \
             server_secret = excluded.server_secret, \
             notify = COALESCE(excluded.notify, accounts.notify)",
        )
        .bind(&a.device_id)
        .bind(&a.auth_name)
        .bind(&a.client_auth)
        .bind(&a.client_verifier)
        .bind(&a.server_secret)
        .bind(&a.client_nonce)
        .bind(&a.server_nonce)
        .bind(&a.notify)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Replaces the device's client nonce with `next` only if it is still `expected` (a nonce
    /// authenticates one session once). False when it was consumed meanwhile.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn consume_client_nonce(
        &self,
        device_id: &str,
        expected: &[u8],
        next: &[u8],
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE accounts SET client_nonce = ? WHERE device_id = ? AND client_nonce = ?",
        )
        .bind(next)
        .bind(device_id)
        .bind(expected)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Stores nonces a session exchanged (`None`: unchanged).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn set_nonces(
        &self,
        device_id: &str,
        client: Option<&[u8]>,
        server: Option<&[u8]>,
    ) -> Result<(), Error> {
        sqlx::query(
            "UPDATE accounts SET client_nonce = COALESCE(?, client_nonce), \
             server_nonce = COALESCE(?, server_nonce) WHERE device_id = ?",
        )
        .bind(client)
        .bind(server)
        .bind(device_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets where a device takes Package 0.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn set_notify(&self, device_id: &str, notify: &str) -> Result<(), Error> {
        sqlx::query("UPDATE accounts SET notify = ? WHERE device_id = ?")
            .bind(notify)
            .bind(device_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ----- operations -----

    /// Inserts or replaces an operation (its responses stay).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn put_operation(&self, o: &StoredOperation) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO operations (op, server_id, targets, commands, wait_secs, timeout_secs, \
             state, correlator, created, reported, group_name, window_size, attempt_secs, \
             max_attempts, progress_secs, resolved, transparent) \
             VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) \
             ON CONFLICT (op) DO UPDATE SET server_id = excluded.server_id, \
             targets = excluded.targets, commands = excluded.commands, \
             wait_secs = excluded.wait_secs, timeout_secs = excluded.timeout_secs, \
             state = excluded.state, correlator = excluded.correlator, \
             reported = excluded.reported, group_name = excluded.group_name, \
             window_size = excluded.window_size, attempt_secs = excluded.attempt_secs, \
             max_attempts = excluded.max_attempts, progress_secs = excluded.progress_secs, \
             resolved = excluded.resolved, transparent = excluded.transparent",
        )
        .bind(&o.op)
        .bind(&o.server_id)
        .bind(o.targets.join(","))
        .bind(&o.commands)
        .bind(i(o.wait_secs))
        .bind(i(o.timeout_secs))
        .bind(&o.state)
        .bind(&o.correlator)
        .bind(i(o.created))
        .bind(o.reported)
        .bind(&o.group)
        .bind(i(o.window))
        .bind(i(o.attempt_secs))
        .bind(i(o.max_attempts))
        .bind(i(o.progress_secs))
        .bind(o.resolved.as_ref().map(|r| r.join(",")))
        .bind(o.transparent.join(","))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every stored operation, oldest first.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn operations(&self) -> Result<Vec<StoredOperation>, Error> {
        let rows = sqlx::query("SELECT * FROM operations ORDER BY created, op")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| StoredOperation {
                op: r.get("op"),
                server_id: r.get("server_id"),
                targets: split(r.get::<String, _>("targets").as_str(), ','),
                commands: r.get("commands"),
                wait_secs: u(r.get("wait_secs")),
                timeout_secs: u(r.get("timeout_secs")),
                state: r.get("state"),
                correlator: r.get("correlator"),
                created: u(r.get("created")),
                reported: r.get("reported"),
                group: r.get("group_name"),
                window: u(r.get("window_size")),
                attempt_secs: u(r.get("attempt_secs")),
                max_attempts: u(r.get("max_attempts")),
                progress_secs: u(r.get("progress_secs")),
                resolved: r
                    .get::<Option<String>, _>("resolved")
                    .map(|t| split(&t, ',')),
                transparent: split(r.get::<String, _>("transparent").as_str(), ','),
            })
            .collect())
    }

    /// Forgets an operation and its responses.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn delete_operation(&self, op: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM operations WHERE op = ?")
            .bind(op)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a device's answer to an operation (the first one wins: a replay changes nothing).
    /// True when it was stored.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn put_response(&self, op: &str, r: &StoredResponse) -> Result<bool, Error> {
        let done = sqlx::query(
            "INSERT OR IGNORE INTO responses (op, device_id, outcome, response, at) \
             VALUES (?,?,?,?,?)",
        )
        .bind(op)
        .bind(&r.device_id)
        .bind(&r.outcome)
        .bind(&r.response)
        .bind(i(r.at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The answers stored for an operation, by device id.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn responses(&self, op: &str) -> Result<Vec<StoredResponse>, Error> {
        let rows = sqlx::query("SELECT * FROM responses WHERE op = ? ORDER BY device_id")
            .bind(op)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| StoredResponse {
                device_id: r.get("device_id"),
                outcome: r.get("outcome"),
                response: r.get("response"),
                at: u(r.get("at")),
            })
            .collect())
    }

    // ----- groups -----

    /// Inserts or replaces a group.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn put_group(&self, name: &str, g: &Group) -> Result<(), Error> {
        sqlx::query("INSERT OR REPLACE INTO groups (name, members, match) VALUES (?,?,?)")
            .bind(name)
            .bind(g.members.join("\n"))
            .bind(g.matcher.as_ref().map(gwmo::group::Match::to_form))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets a group.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn delete_group(&self, name: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM groups WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every group, by name.
    ///
    /// # Errors
    /// [`Error::Store`]; [`Error::Corrupt`] for a stored `Match` that does not parse.
    pub async fn groups(&self) -> Result<Vec<(String, Group)>, Error> {
        let rows = sqlx::query("SELECT * FROM groups ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let limits = syncml::Limits::default();
        let group_limits = gwmo::group::GroupLimits::default();
        rows.iter()
            .map(|r| {
                let matcher = r
                    .get::<Option<String>, _>("match")
                    .map(|t| gwmo::group::Match::parse(&t, &limits, &group_limits))
                    .transpose()
                    .map_err(|_| Error::Corrupt {
                        what: "group match",
                    })?;
                Ok((
                    r.get("name"),
                    Group {
                        members: split(r.get::<String, _>("members").as_str(), '\n'),
                        matcher,
                    },
                ))
            })
            .collect()
    }

    // ----- outbox -----

    /// Queues an alert (the XML of one `Alert` command) for a server; returns its id.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn push_alert(&self, server_id: &str, alert: &str, now: u64) -> Result<i64, Error> {
        let row = sqlx::query(
            "INSERT INTO outbox (server_id, alert, created) VALUES (?,?,?) RETURNING id",
        )
        .bind(server_id)
        .bind(alert)
        .bind(i(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get(0))
    }

    /// The queued alerts of a server, oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn pending_alerts(
        &self,
        server_id: &str,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, Error> {
        let rows =
            sqlx::query("SELECT id, alert FROM outbox WHERE server_id = ? ORDER BY id LIMIT ?")
                .bind(server_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Drops alerts the server acknowledged.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn ack_alerts(&self, ids: &[i64]) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query("DELETE FROM outbox WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ----- small values -----

    /// A stored value.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn get_value(&self, name: &str) -> Result<Option<Vec<u8>>, Error> {
        let row = sqlx::query("SELECT value FROM kv WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Every value whose name starts with `prefix`, in name order.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn values_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let rows = sqlx::query(
            "SELECT name, value FROM kv WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name",
        )
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Removes a value.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn delete_value(&self, name: &str) -> Result<(), Error> {
        sqlx::query("DELETE FROM kv WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a value.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn put_value(&self, name: &str, value: &[u8]) -> Result<(), Error> {
        sqlx::query("INSERT OR REPLACE INTO kv (name, value) VALUES (?, ?)")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn split(s: &str, sep: char) -> Vec<String> {
    s.split(sep)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn record_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<DeviceRecord, Error> {
    let corrupt = |what| move |_| Error::Corrupt { what };
    let text = |c: &str| r.get::<String, _>(c);
    Ok(DeviceRecord {
        id: text("device_id"),
        kind: Kind::parse(&text("kind")).map_err(corrupt("device kind"))?,
        mode: Mode::parse(&text("mode")).map_err(corrupt("device mode"))?,
        protocol: Protocol::parse(&text("protocol")).map_err(corrupt("device protocol"))?,
        addresses: split(&text("addresses"), '\n')
            .iter()
            .map(|a| Address::parse(a))
            .collect::<Result<_, _>>()
            .map_err(corrupt("device address"))?,
        lease: Duration::from_secs(u(r.get("lease_secs"))),
        last_seen: dm_tree::Timestamp(u(r.get("last_seen"))),
        registered: dm_tree::Timestamp(u(r.get("registered"))),
        presence: Presence::parse(&text("presence")).map_err(corrupt("device presence"))?,
        dev_info: DevInfoSummary {
            man: text("man"),
            model: text("model"),
            dm_v: text("dmv"),
            lang: text("lang"),
        },
        servers: split(&text("servers"), '\n'),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> DeviceRecord {
        DeviceRecord {
            id: id.to_owned(),
            kind: Kind::EndDevice,
            mode: Mode::Proxy,
            protocol: Protocol::OmaDm,
            addresses: vec![Address::parse("udp:127.0.0.1:3001").unwrap()],
            lease: Duration::from_secs(60),
            last_seen: dm_tree::Timestamp(5),
            registered: dm_tree::Timestamp(1),
            presence: Presence::Attached,
            dev_info: DevInfoSummary {
                man: "Acme".into(),
                model: "T1".into(),
                dm_v: "1.2".into(),
                lang: "en".into(),
            },
            servers: vec!["dmserver".into()],
        }
    }

    #[tokio::test]
    async fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        {
            let s = GatewayStore::open(&path).await.unwrap();
            s.put_device(&record("IMEI:1")).await.unwrap();
            s.push_alert("dmserver", "<Alert/>", 7).await.unwrap();
            s.put_value("tree", b"snapshot").await.unwrap();
            s.close().await;
        }
        let s = GatewayStore::open(&path).await.unwrap();
        assert_eq!(s.devices().await.unwrap(), vec![record("IMEI:1")]);
        assert_eq!(s.pending_alerts("dmserver", 10).await.unwrap().len(), 1);
        assert_eq!(
            s.get_value("tree").await.unwrap().as_deref(),
            Some(&b"snapshot"[..])
        );
    }

    /// A file of an older gateway (operations without the §9 columns, no `user_version`) is
    /// upgraded on open; groups survive a reopen.
    #[tokio::test]
    async fn migrates_an_old_file_and_keeps_groups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.db");
        {
            let opts = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true);
            let pool = SqlitePool::connect_with(opts).await.unwrap();
            sqlx::raw_sql(SCHEMA).execute(&pool).await.unwrap();
            sqlx::query(
                "INSERT INTO operations (op, server_id, targets, commands, wait_secs, \
                 timeout_secs, state, created) VALUES ('j1','s','IMEI:1','<Get/>',20,300,'running',1)",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        let s = GatewayStore::open(&path).await.unwrap();
        let ops = s.operations().await.unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(
            (ops[0].window, ops[0].max_attempts, ops[0].resolved.clone()),
            (64, 3, None)
        );
        let g = Group {
            members: vec!["IMEI:1".into(), "a,b".replace(',', "")],
            matcher: Some(
                gwmo::group::Match::parse(
                    "man=Acme&status=attached",
                    &syncml::Limits::default(),
                    &gwmo::group::GroupLimits::default(),
                )
                .unwrap(),
            ),
        };
        s.put_group("g1", &g).await.unwrap();
        s.put_group("g2", &Group::default()).await.unwrap();
        s.delete_group("g2").await.unwrap();
        s.close().await;
        let s = GatewayStore::open(&path).await.unwrap();
        assert_eq!(s.groups().await.unwrap(), vec![("g1".to_owned(), g)]);
    }

    #[tokio::test]
    async fn nonce_consumed_once_and_first_response_wins() {
        let s = GatewayStore::memory().await.unwrap();
        let acc = DeviceAccount {
            device_id: "IMEI:1".into(),
            auth_name: "IMEI:1".into(),
            client_auth: "md5".into(),
            client_verifier: "v".into(),
            server_secret: "s".into(),
            client_nonce: b"n1".to_vec(),
            server_nonce: b"m1".to_vec(),
            notify: None,
        };
        s.put_account(&acc).await.unwrap();
        assert!(
            s.consume_client_nonce("IMEI:1", b"n1", b"n2")
                .await
                .unwrap()
        );
        assert!(
            !s.consume_client_nonce("IMEI:1", b"n1", b"n3")
                .await
                .unwrap()
        );
        let op = StoredOperation {
            op: "j1".into(),
            server_id: "dmserver".into(),
            targets: vec!["IMEI:1".into()],
            commands: "<Get/>".into(),
            wait_secs: 20,
            timeout_secs: 300,
            state: "running".into(),
            correlator: Some("j1".into()),
            created: 1,
            reported: false,
            group: Some("g".into()),
            window: 8,
            attempt_secs: 30,
            max_attempts: 2,
            progress_secs: 1,
            resolved: Some(vec!["IMEI:1".into(), "IMEI:2".into()]),
            transparent: vec!["IMEI:2".into()],
        };
        s.put_operation(&op).await.unwrap();
        let r = StoredResponse {
            device_id: "IMEI:1".into(),
            outcome: "answered".into(),
            response: "<Status/>".into(),
            at: 2,
        };
        assert!(s.put_response("j1", &r).await.unwrap());
        let replay = StoredResponse {
            response: "<Other/>".into(),
            ..r.clone()
        };
        assert!(!s.put_response("j1", &replay).await.unwrap());
        assert_eq!(s.responses("j1").await.unwrap(), vec![r]);
        assert_eq!(s.operations().await.unwrap(), vec![op]);
    }
}
