-- API tokens of responders (stored as SHA-256 of high-entropy tokens).
CREATE TABLE responder_tokens (
    token_hash TEXT PRIMARY KEY,
    responder_id TEXT NOT NULL REFERENCES responders(id),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
