-- Responders signed in to the dashboard. The cookie holds a random token; only its SHA-256 is
-- stored, with the form token that every state-changing form must send back. Keep in step with the
-- other backend's 0006.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    responder_id TEXT NOT NULL REFERENCES responders(id),
    form_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
