-- Applied after v1.sql: what migration 2 did, then the data of a version-2 database (as left by
-- builds before migration 3): a device whose unused gateway columns were set, one pointing at a
-- gateway that does not exist, and a sent job.
ALTER TABLE job_results ADD COLUMN error TEXT;
INSERT INTO dm_schema (version) VALUES (2);
INSERT INTO devices VALUES ('GW:OLD', 'gw', 'md5', 'verifier', 'md5', NULL, 'spw', X'6E31', X'', '[]', NULL, NULL, 1, 1, 1);
INSERT INTO devices VALUES ('IMEI:BEHIND', 'behind', 'md5', 'verifier', 'md5', NULL, 'spw', X'', X'', '[]', 'GW:OLD', 'Transparent', 1, 1, 7);
INSERT INTO devices VALUES ('IMEI:DANGLING', 'dangling', 'md5', 'verifier', 'md5', NULL, 'spw', X'', X'', '[]', 'GW:GONE', 'proxy', 1, 1, 1);
INSERT INTO jobs (device_id, state, commands, attempts, created_at, updated_at, sent_at, sent_session)
    VALUES ('IMEI:BEHIND', 'sent', '[{"kind":"get","items":[{"path":"./A"}]}]', 1, 1, 2, 2, 'S1');
INSERT INTO job_results VALUES (2, 0, 3, 200, '[]', 2, NULL);
