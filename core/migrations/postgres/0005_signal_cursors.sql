-- Where each consumer of the signal log (the alert service) has got to, so that a restart goes on
-- from there: a signal stored while the consumer was down is applied when it comes back. Keep in
-- step with the other backend's 0005.
CREATE TABLE signal_cursors (
    consumer TEXT PRIMARY KEY,
    signal_id BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
