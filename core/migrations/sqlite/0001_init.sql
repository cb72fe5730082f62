-- mimamori schema, SQLite. Times are epoch milliseconds (INTEGER); booleans are 0/1.
-- Keep in step with migrations/postgres/0001_init.sql.

CREATE TABLE districts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    reading TEXT,
    confirmed INTEGER NOT NULL DEFAULT 1,
    position INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    district_id TEXT REFERENCES districts(id),
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX teams_district ON teams(district_id, kind);

CREATE TABLE responders (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams(id),
    name TEXT NOT NULL,
    email TEXT,
    telegram_chat_id INTEGER,
    office_hours TEXT,
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE INDEX responders_team ON responders(team_id);

CREATE TABLE residents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_kana TEXT,
    birth_year INTEGER NOT NULL,
    district_id TEXT NOT NULL REFERENCES districts(id),
    town TEXT NOT NULL,
    chome INTEGER,
    banchi TEXT,
    building TEXT,
    living TEXT NOT NULL,
    phone TEXT,
    contacts TEXT NOT NULL DEFAULT '[]',
    policies TEXT NOT NULL DEFAULT '[]',
    notes TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX residents_district ON residents(district_id);
CREATE INDEX residents_area ON residents(town, chome);

CREATE TABLE pauses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    resident_id TEXT NOT NULL REFERENCES residents(id),
    reason TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER,
    note TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX pauses_resident ON pauses(resident_id, starts_at);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    resident_id TEXT REFERENCES residents(id),
    kind TEXT NOT NULL,
    label TEXT,
    -- The device's name in a foreign system, e.g. `z2m:hallway_door` (zigbee2mqtt friendly name).
    external_id TEXT,
    secret_hash TEXT NOT NULL,
    -- Key of the HMAC that devices put on every event (derived from the password at issue).
    mac_key TEXT NOT NULL,
    heartbeat_interval_s INTEGER NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE INDEX devices_resident ON devices(resident_id);
CREATE UNIQUE INDEX devices_external ON devices(external_id) WHERE external_id IS NOT NULL;

CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    agreement TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE partner_tokens (
    token_hash TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL REFERENCES partners(id),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

-- Append-only: stored once per (source, dedup_key), never updated or deleted.
CREATE TABLE signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    dedup_key TEXT,
    subject TEXT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    device_time INTEGER,
    received_at INTEGER NOT NULL,
    clock_skewed INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX signals_dedup ON signals(source, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX signals_subject_time ON signals(subject, received_at);
CREATE TRIGGER signals_no_update BEFORE UPDATE ON signals
BEGIN SELECT RAISE(ABORT, 'signals are append-only'); END;
CREATE TRIGGER signals_no_delete BEFORE DELETE ON signals
BEGIN SELECT RAISE(ABORT, 'signals are append-only'); END;

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    severity TEXT NOT NULL,
    district_id TEXT REFERENCES districts(id),
    summary TEXT NOT NULL,
    detail TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    last_evidence_at INTEGER NOT NULL,
    evidence_count INTEGER NOT NULL DEFAULT 1,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    resolved_at INTEGER,
    resolved_by TEXT,
    outcome TEXT
);
-- At most one alert that is not resolved per (subject, kind).
CREATE UNIQUE INDEX alerts_one_open ON alerts(subject, kind) WHERE state <> 'resolved';
CREATE INDEX alerts_district_state ON alerts(district_id, state);

CREATE TABLE alert_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_events_alert ON alert_events(alert_id, id);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by TEXT,
    claimed_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE INDEX notifications_due ON notifications(status, next_attempt_at);
CREATE INDEX notifications_alert ON notifications(alert_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_object ON audit_log(object_kind, object_id);
