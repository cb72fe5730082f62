-- Leases: which process does a job that only one may do at a time (the alert service's rules and
-- escalations). A process holds the row while `expires_at` is ahead and renews it; another takes it
-- over once it lapsed, and `token` then grows by one. Every write the holder makes checks its token
-- in the same transaction (fencing), so a holder that lost its lease writes nothing. Keep in step
-- with the other backend's 0011.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    token BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL
);
