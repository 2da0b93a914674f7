//! PostgreSQL DDL, one script per schema version. Text keys use `COLLATE "C"` so that range
//! scans (id and path prefixes) and ordering are byte-wise, as in SQLite.

/// Version 1.
const V1: &str = r#"
CREATE TABLE devices (
    device_id        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    auth_name        TEXT NOT NULL UNIQUE,
    client_auth      TEXT NOT NULL,
    client_verifier  TEXT NOT NULL,
    server_auth      TEXT NOT NULL,
    server_auth_name TEXT,
    server_secret    TEXT NOT NULL,
    client_nonce     BYTEA NOT NULL,
    server_nonce     BYTEA NOT NULL,
    notify_addrs     TEXT NOT NULL,
    gateway_id       TEXT,
    gateway_mode     TEXT,
    enabled          BOOLEAN NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE registry (
    device_id    TEXT COLLATE "C" NOT NULL PRIMARY KEY
                 REFERENCES devices (device_id) ON DELETE CASCADE,
    devinfo      TEXT,
    man          TEXT,
    model        TEXT,
    last_contact BIGINT,
    last_addr    TEXT,
    last_session TEXT
);
CREATE INDEX registry_man ON registry (man);
CREATE INDEX registry_model ON registry (model);
CREATE INDEX registry_last_contact ON registry (last_contact);

CREATE TABLE tree_values (
    device_id  TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    path       TEXT COLLATE "C" NOT NULL,
    format     TEXT,
    mime_type  TEXT,
    value      BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, path)
);

CREATE TABLE jobs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    state        TEXT NOT NULL,
    commands     TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    sent_at      BIGINT,
    sent_session TEXT,
    sent_msg_id  BIGINT,
    sent_cmd_ids TEXT,
    completed_at BIGINT
);
CREATE INDEX jobs_device_state ON jobs (device_id, state, id);
CREATE INDEX jobs_state_sent ON jobs (state, sent_at);
CREATE INDEX jobs_sent_session ON jobs (sent_session) WHERE state = 'sent';

CREATE TABLE job_results (
    job_id       BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    cmd_index    BIGINT NOT NULL,
    cmd_id       BIGINT,
    status       BIGINT NOT NULL,
    items        TEXT NOT NULL,
    completed_at BIGINT NOT NULL,
    PRIMARY KEY (job_id, cmd_index)
);

CREATE TABLE events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id  TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    alert_code BIGINT NOT NULL,
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
    value      BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);
"#;

/// Version 2: why a command has no status (`job_results.error`, e.g. "no status from
/// device" once its job was sent the allowed number of times unanswered). Existing rows keep
/// `NULL`.
const V2: &str = r#"
ALTER TABLE job_results ADD COLUMN error TEXT;
"#;

/// Version 3: gateways; see the SQLite script of the same version for what each part means.
const V3: &str = r#"
ALTER TABLE devices ADD COLUMN kind TEXT NOT NULL DEFAULT 'device';

CREATE TABLE device_links (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id  TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    gateway_id TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    mode       TEXT NOT NULL,
    since      BIGINT NOT NULL,
    until      BIGINT,
    attached   BOOLEAN NOT NULL,
    addresses  TEXT NOT NULL DEFAULT '[]',
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX device_links_current ON device_links (device_id) WHERE until IS NULL;
CREATE INDEX device_links_gateway ON device_links (gateway_id, device_id) WHERE until IS NULL;
CREATE INDEX device_links_history ON device_links (device_id, id);

INSERT INTO device_links (device_id, gateway_id, mode, since, until, attached, updated_at)
    SELECT d.device_id, d.gateway_id, LOWER(COALESCE(NULLIF(d.gateway_mode, ''), 'proxy')),
           d.updated_at, NULL, TRUE, d.updated_at
    FROM devices d
    WHERE d.gateway_id IS NOT NULL AND d.gateway_id <> d.device_id
      AND EXISTS (SELECT 1 FROM devices g WHERE g.device_id = d.gateway_id);
UPDATE devices SET kind = 'gateway'
    WHERE device_id IN (SELECT gateway_id FROM device_links);
ALTER TABLE devices DROP COLUMN gateway_id;
ALTER TABLE devices DROP COLUMN gateway_mode;

ALTER TABLE jobs ADD COLUMN gateway_id TEXT;
ALTER TABLE jobs ADD COLUMN awaiting_since BIGINT;
"#;

/// Version 4: groups and fanouts; see the SQLite script of the same version.
const V4: &str = r#"
CREATE TABLE gateway_groups (
    gateway_id TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    name       TEXT COLLATE "C" NOT NULL,
    members    TEXT NOT NULL,
    match_rule TEXT,
    job_id     BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (gateway_id, name)
);

CREATE TABLE fanouts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gateway_id   TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    state        TEXT NOT NULL,
    job_id       BIGINT,
    detail       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX fanouts_gateway ON fanouts (gateway_id, id);
CREATE INDEX fanouts_state ON fanouts (state, id);
"#;

/// Version 5: images the server gives out (docs/gateway.md §10, GwMO-DCIS-001, B.8): the
/// uploaded images (their bytes are files named by digest in the images directory) and the
/// image entries created on each gateway, with the state its `imageready` alert reported.
const V5: &str = r#"
CREATE TABLE images (
    sha256     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    size       BIGINT NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE gateway_images (
    gateway_id TEXT COLLATE "C" NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    node       TEXT NOT NULL,
    sha256     TEXT NOT NULL REFERENCES images (sha256),
    state      TEXT NOT NULL,
    local_uri  TEXT,
    enabled    BIGINT NOT NULL,
    job_id     BIGINT,
    code       BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (gateway_id, node)
);
"#;

/// All scripts, oldest first.
pub(crate) static MIGRATIONS: [&str; 5] = [V1, V2, V3, V4, V5];

/// Takes queued jobs of a device; `SKIP LOCKED` keeps concurrent sessions (or server nodes)
/// from taking the same job or waiting on each other.
pub(crate) const TAKE_QUEUED: &str = concat!(
    "UPDATE jobs SET state = 'sent', attempts = attempts + 1, updated_at = $3, sent_at = $3, \
     sent_session = $2, sent_msg_id = NULL, sent_cmd_ids = NULL, gateway_id = NULL, \
     awaiting_since = NULL \
     WHERE id IN (SELECT id FROM jobs WHERE device_id = $1 AND state = 'queued' \
     ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING ",
    job_cols!()
);

/// Takes queued jobs of the devices a gateway manages (see `take_gateway_sql!`).
pub(crate) const TAKE_GATEWAY: &str = take_gateway_sql!(" FOR UPDATE OF j SKIP LOCKED");

/// Key of the advisory lock that serialises concurrent migrations.
pub(crate) const MIGRATION_LOCK: i64 = 0x646d_5f73_746f_7265; // "dm_store"
