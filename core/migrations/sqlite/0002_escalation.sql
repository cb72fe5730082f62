-- Escalation state of alerts: which step of the kind's chain was last carried out, and when the
-- next one is due. Acknowledgement or resolution clears next_escalation_at.
ALTER TABLE alerts ADD COLUMN team_id TEXT;
ALTER TABLE alerts ADD COLUMN escalation_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN next_escalation_at INTEGER;
CREATE INDEX alerts_escalation_due ON alerts(state, next_escalation_at);
