-- MQTT logins whose credential was revoked (a device disabled or given a new secret, a partner's
-- token revoked, an integration disabled): the embedded broker tails this table and drops the
-- client's open connection, since a credential checked at connect time would otherwise stay in use
-- until the client reconnects. Keep in step with the other backend's 0009.
CREATE TABLE login_revocations (
    id BIGSERIAL PRIMARY KEY,
    client_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
