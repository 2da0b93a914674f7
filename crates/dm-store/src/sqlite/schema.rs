//! SQLite DDL, one script per schema version.

/// Version 1.
const V1: &str = r#"
CREATE TABLE devices (
    device_id        TEXT NOT NULL PRIMARY KEY,
    auth_name        TEXT NOT NULL UNIQUE,
    client_auth      TEXT NOT NULL,
    client_verifier  TEXT NOT NULL,
    server_auth      TEXT NOT NULL,
    server_auth_name TEXT,
    server_secret    TEXT NOT NULL,
    client_nonce     BLOB NOT NULL,
    server_nonce     BLOB NOT NULL,
    notify_addrs     TEXT NOT NULL,
    gateway_id       TEXT,
    gateway_mode     TEXT,
    enabled          INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE registry (
    device_id    TEXT NOT NULL PRIMARY KEY REFERENCES devices (device_id) ON DELETE CASCADE,
    devinfo      TEXT,
    man          TEXT,
    model        TEXT,
    last_contact INTEGER,
    last_addr    TEXT,
    last_session TEXT
) WITHOUT ROWID;
CREATE INDEX registry_man ON registry (man);
CREATE INDEX registry_model ON registry (model);
CREATE INDEX registry_last_contact ON registry (last_contact);

CREATE TABLE tree_values (
    device_id  TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    path       TEXT NOT NULL,
    format     TEXT,
    mime_type  TEXT,
    value      BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, path)
) WITHOUT ROWID;

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id    TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    state        TEXT NOT NULL,
    commands     TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    sent_at      INTEGER,
    sent_session TEXT,
    sent_msg_id  INTEGER,
    sent_cmd_ids TEXT,
    completed_at INTEGER
);
CREATE INDEX jobs_device_state ON jobs (device_id, state, id);
CREATE INDEX jobs_state_sent ON jobs (state, sent_at);
CREATE INDEX jobs_sent_session ON jobs (sent_session) WHERE state = 'sent';

CREATE TABLE job_results (
    job_id       INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    cmd_index    INTEGER NOT NULL,
    cmd_id       INTEGER,
    status       INTEGER NOT NULL,
    items        TEXT NOT NULL,
    completed_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, cmd_index)
) WITHOUT ROWID;

CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id  TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    alert_code INTEGER NOT NULL,
    alert_type TEXT,
    format     TEXT,
    mark       TEXT,
    source_uri TEXT,
    correlator TEXT,
    data       TEXT
);
CREATE INDEX events_device ON events (device_id, id);
CREATE INDEX events_at ON events (at);

CREATE TABLE server_kv (
    name       TEXT NOT NULL PRIMARY KEY,
    value      BLOB NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
"#;

/// Version 2: why a command has no status (`job_results.error`, e.g. "no status from
/// device" once its job was sent the allowed number of times unanswered). Existing rows keep
/// `NULL`.
const V2: &str = r#"
ALTER TABLE job_results ADD COLUMN error TEXT;
"#;

/// Version 3: gateways (docs/gateway.md §7, seed 001 X.3). `devices.kind` (`device` or
/// `gateway`); `device_links`, the <gateway, device, mode> relationship with its history (one
/// open row per device, `until` set when it moved to another gateway or mode); the unused
/// `devices.gateway_id`/`gateway_mode` columns are moved into it (their values become open
/// links) and dropped, so the links are the one source of truth; `jobs.gateway_id` (the
/// gateway that carried a Proxy-mode job) and `jobs.awaiting_since` (its operation was accepted
/// for a later completion alert, seed 001 Y').
const V3: &str = r#"
ALTER TABLE devices ADD COLUMN kind TEXT NOT NULL DEFAULT 'device';

CREATE TABLE device_links (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id  TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    gateway_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    mode       TEXT NOT NULL,
    since      INTEGER NOT NULL,
    until      INTEGER,
    attached   INTEGER NOT NULL,
    addresses  TEXT NOT NULL DEFAULT '[]',
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX device_links_current ON device_links (device_id) WHERE until IS NULL;
CREATE INDEX device_links_gateway ON device_links (gateway_id, device_id) WHERE until IS NULL;
CREATE INDEX device_links_history ON device_links (device_id, id);

INSERT INTO device_links (device_id, gateway_id, mode, since, until, attached, updated_at)
    SELECT d.device_id, d.gateway_id, LOWER(COALESCE(NULLIF(d.gateway_mode, ''), 'proxy')),
           d.updated_at, NULL, 1, d.updated_at
    FROM devices d
    WHERE d.gateway_id IS NOT NULL AND d.gateway_id <> d.device_id
      AND EXISTS (SELECT 1 FROM devices g WHERE g.device_id = d.gateway_id);
UPDATE devices SET kind = 'gateway'
    WHERE device_id IN (SELECT gateway_id FROM device_links);
ALTER TABLE devices DROP COLUMN gateway_id;
ALTER TABLE devices DROP COLUMN gateway_mode;

ALTER TABLE jobs ADD COLUMN gateway_id TEXT;
ALTER TABLE jobs ADD COLUMN awaiting_since INTEGER;
"#;

/// Version 4: device groups the server defined on its gateways (`gateway_groups`, one row
/// per <gateway, name>, docs/gateway.md §8) and fanouts to them (`fanouts`, §9): the fanout's
/// state, the job that carries it to its gateway, and its detail as a JSON document owned by
/// the server (spec, progress, consolidated response).
const V4: &str = r#"
CREATE TABLE gateway_groups (
    gateway_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    members    TEXT NOT NULL,
    match_rule TEXT,
    job_id     INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (gateway_id, name)
) WITHOUT ROWID;

CREATE TABLE fanouts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    gateway_id   TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    state        TEXT NOT NULL,
    job_id       INTEGER,
    detail       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE INDEX fanouts_gateway ON fanouts (gateway_id, id);
CREATE INDEX fanouts_state ON fanouts (state, id);
"#;

/// Version 5: images the server gives out (docs/gateway.md §10, GwMO-DCIS-001, B.8): the
/// uploaded images (their bytes are files named by digest in the images directory) and the
/// image entries created on each gateway, with the state its `imageready` alert reported.
const V5: &str = r#"
CREATE TABLE images (
    sha256     TEXT NOT NULL PRIMARY KEY,
    size       INTEGER NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE gateway_images (
    gateway_id TEXT NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    node       TEXT NOT NULL,
    sha256     TEXT NOT NULL REFERENCES images (sha256),
    state      TEXT NOT NULL,
    local_uri  TEXT,
    enabled    INTEGER NOT NULL,
    job_id     INTEGER,
    code       INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (gateway_id, node)
);
"#;

/// All scripts, oldest first.
pub(crate) static MIGRATIONS: [&str; 5] = [V1, V2, V3, V4, V5];

/// Takes queued jobs of a device: the single SQLite writer connection serialises this. (For
/// the shared direct path; the server's takes are batched in `group_commit.rs`.)
#[allow(dead_code)]
pub(crate) const TAKE_QUEUED: &str = concat!(
    "UPDATE jobs SET state = 'sent', attempts = attempts + 1, updated_at = $3, sent_at = $3, \
     sent_session = $2, sent_msg_id = NULL, sent_cmd_ids = NULL, gateway_id = NULL, \
     awaiting_since = NULL \
     WHERE id IN (SELECT id FROM jobs WHERE device_id = $1 AND state = 'queued' \
     ORDER BY id LIMIT $4) RETURNING ",
    job_cols!()
);

/// Takes queued jobs of the devices a gateway manages (see `take_gateway_sql!`).
pub(crate) const TAKE_GATEWAY: &str = take_gateway_sql!("");
