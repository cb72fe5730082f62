-- mimamori schema, PostgreSQL. Times are epoch milliseconds (BIGINT); booleans are 0/1.
-- Keep in step with migrations/sqlite/0001_init.sql.

CREATE TABLE districts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    reading TEXT,
    confirmed BIGINT NOT NULL DEFAULT 1,
    position BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    district_id TEXT REFERENCES districts(id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX teams_district ON teams(district_id, kind);

CREATE TABLE responders (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams(id),
    name TEXT NOT NULL,
    email TEXT,
    telegram_chat_id BIGINT,
    office_hours TEXT,
    active BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE INDEX responders_team ON responders(team_id);

CREATE TABLE residents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_kana TEXT,
    birth_year BIGINT NOT NULL,
    district_id TEXT NOT NULL REFERENCES districts(id),
    town TEXT NOT NULL,
    chome BIGINT,
    banchi TEXT,
    building TEXT,
    living TEXT NOT NULL,
    phone TEXT,
    contacts TEXT NOT NULL DEFAULT '[]',
    policies TEXT NOT NULL DEFAULT '[]',
    notes TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX residents_district ON residents(district_id);
CREATE INDEX residents_area ON residents(town, chome);

CREATE TABLE pauses (
    id BIGSERIAL PRIMARY KEY,
    resident_id TEXT NOT NULL REFERENCES residents(id),
    reason TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT,
    note TEXT,
    created_at BIGINT NOT NULL
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
    heartbeat_interval_s BIGINT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE INDEX devices_resident ON devices(resident_id);
CREATE UNIQUE INDEX devices_external ON devices(external_id) WHERE external_id IS NOT NULL;

CREATE TABLE partners (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    agreement TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE partner_tokens (
    token_hash TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL REFERENCES partners(id),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- Append-only: stored once per (source, dedup_key), never updated or deleted.
CREATE TABLE signals (
    id BIGSERIAL PRIMARY KEY,
    source TEXT NOT NULL,
    dedup_key TEXT,
    subject TEXT,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    device_time BIGINT,
    received_at BIGINT NOT NULL,
    clock_skewed BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX signals_dedup ON signals(source, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX signals_subject_time ON signals(subject, received_at);
CREATE FUNCTION signals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'signals are append-only'; END;
$$;
CREATE TRIGGER signals_no_update BEFORE UPDATE OR DELETE ON signals
FOR EACH ROW EXECUTE FUNCTION signals_append_only();

CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    severity TEXT NOT NULL,
    district_id TEXT REFERENCES districts(id),
    summary TEXT NOT NULL,
    detail TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    last_evidence_at BIGINT NOT NULL,
    evidence_count BIGINT NOT NULL DEFAULT 1,
    acknowledged_at BIGINT,
    acknowledged_by TEXT,
    resolved_at BIGINT,
    resolved_by TEXT,
    outcome TEXT
);
-- At most one alert that is not resolved per (subject, kind).
CREATE UNIQUE INDEX alerts_one_open ON alerts(subject, kind) WHERE state <> 'resolved';
CREATE INDEX alerts_district_state ON alerts(district_id, state);

CREATE TABLE alert_events (
    id BIGSERIAL PRIMARY KEY,
    alert_id BIGINT NOT NULL REFERENCES alerts(id),
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_events_alert ON alert_events(alert_id, id);

CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    alert_id BIGINT NOT NULL REFERENCES alerts(id),
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX notifications_due ON notifications(status, next_attempt_at);
CREATE INDEX notifications_alert ON notifications(alert_id);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_id TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_object ON audit_log(object_kind, object_id);
