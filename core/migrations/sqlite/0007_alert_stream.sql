-- The alert stream for integrations (docs/ALERTS.md, "The alert stream"), the platform's signing
-- key and the integrations' logins. Keep in step with the other backend's 0007.

-- Key pairs the platform signs with, made once on first use and shared by every process of a
-- deployment. `alert_stream`: Ed25519, both halves as lowercase hex (the secret half is a secret
-- like the email link key in platform_state: protect the database).
CREATE TABLE platform_keys (
    name TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    public_key TEXT NOT NULL,
    secret_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Other systems that read the alert stream: MQTT username = id, password = the secret, stored
-- as SHA-256 hex (high entropy, so a fast hash suffices and allows lookup).
CREATE TABLE integrations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    district_id TEXT REFERENCES districts(id),
    secret_hash TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);

-- The last sequence number given out. Giving one out is `UPDATE … SET seq = seq + 1`: the row
-- stays locked until that transaction ends, so numbers are given out one transaction at a time
-- and become visible in their order, never a lower one after a higher one.
CREATE TABLE alert_stream_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO alert_stream_head (id, seq) VALUES (1, 0);

-- Every alert message published to integrations, exactly as signed and published (`message`),
-- by its sequence number: what a consumer that missed messages reads again. One per MQTT
-- notification row, so a retried publication repeats the same message.
CREATE TABLE alert_stream (
    seq INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL UNIQUE REFERENCES notifications(id),
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    district_id TEXT REFERENCES districts(id),
    topic TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX alert_stream_by_district ON alert_stream(district_id, seq);
CREATE TRIGGER alert_stream_no_update BEFORE UPDATE ON alert_stream
BEGIN SELECT RAISE(ABORT, 'the alert stream is append-only'); END;
CREATE TRIGGER alert_stream_no_delete BEFORE DELETE ON alert_stream
BEGIN SELECT RAISE(ABORT, 'the alert stream is append-only'); END;
