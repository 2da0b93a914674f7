-- dm-store PostgreSQL schema version 2 (before migration 3), with the data of v2.sql.

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

ALTER TABLE job_results ADD COLUMN error TEXT;

CREATE TABLE dm_schema (version BIGINT NOT NULL);
INSERT INTO dm_schema (version) VALUES (1);
INSERT INTO dm_schema (version) VALUES (2);
INSERT INTO devices VALUES ('GW:OLD', 'gw', 'md5', 'verifier', 'md5', NULL, 'spw', '\x6e31', '\x', '[]', NULL, NULL, TRUE, 1, 1);
INSERT INTO devices VALUES ('IMEI:BEHIND', 'behind', 'md5', 'verifier', 'md5', NULL, 'spw', '\x', '\x', '[]', 'GW:OLD', 'Transparent', TRUE, 1, 7);
INSERT INTO devices VALUES ('IMEI:DANGLING', 'dangling', 'md5', 'verifier', 'md5', NULL, 'spw', '\x', '\x', '[]', 'GW:GONE', 'proxy', TRUE, 1, 1);
INSERT INTO jobs (device_id, state, commands, attempts, created_at, updated_at, sent_at, sent_session)
    VALUES ('IMEI:BEHIND', 'sent', '[{"kind":"get","items":[{"path":"./A"}]}]', 1, 1, 2, 2, 'S1');
INSERT INTO job_results VALUES (1, 0, 3, 200, '[]', 2, NULL);
