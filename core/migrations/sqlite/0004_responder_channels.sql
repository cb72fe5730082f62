-- Responders on Telegram and email. Keep in step with the other backend's 0004.

-- The Telegram user whose button presses act for a responder (set with the chat by /start CODE).
ALTER TABLE responders ADD COLUMN telegram_user_id INTEGER;
CREATE UNIQUE INDEX responders_telegram_user ON responders(telegram_user_id) WHERE telegram_user_id IS NOT NULL;

-- One-time codes that link a responder to a Telegram chat (`/start CODE`), stored as SHA-256.
CREATE TABLE link_codes (
    code_hash TEXT PRIMARY KEY,
    responder_id TEXT NOT NULL REFERENCES responders(id),
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    created_at INTEGER NOT NULL
);

-- Messages the bot sent about an alert, so that they can be edited later (who took it, resolved).
CREATE TABLE telegram_messages (
    chat_id INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    responder_id TEXT,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX telegram_messages_alert ON telegram_messages(alert_id);

-- Email acknowledgement links that have been used, by their nonce: a link works once.
CREATE TABLE used_links (
    nonce TEXT PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    responder_id TEXT NOT NULL,
    used_at INTEGER NOT NULL
);

-- Small named values the platform keeps: the signing key of email links, Telegram's update offset.
CREATE TABLE platform_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
