-- dm-store schema version 1 (as created by builds before migration 2), with data.

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

CREATE TABLE dm_schema (version INTEGER NOT NULL);
INSERT INTO dm_schema (version) VALUES (1);
INSERT INTO devices VALUES ('IMEI:OLD', 'old', 'md5', 'verifier', 'md5', NULL, 'spw', X'6E31', X'', '[]', NULL, NULL, 1, 1, 1);
INSERT INTO jobs (device_id, state, commands, attempts, created_at, updated_at, completed_at)
    VALUES ('IMEI:OLD', 'done', '[{"kind":"get","items":[{"path":"./A"}]}]', 1, 1, 2, 2);
INSERT INTO job_results VALUES (1, 0, 3, 200, '[]', 2);
