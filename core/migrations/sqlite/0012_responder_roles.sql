-- Roles (issue 17): what a responder may do beyond their team's alerts and residents —
-- `responder`, `coordinator` (a city-wide team's member: triage and the city's figures, as before
-- roles existed) or `admin` (also the management pages and the audit log in the browser). Scope
-- stays the team's. Keep in step with the other backend's 0012.
ALTER TABLE responders ADD COLUMN role TEXT NOT NULL DEFAULT 'responder';
UPDATE responders SET role = 'coordinator'
 WHERE team_id IN (SELECT id FROM teams WHERE district_id IS NULL);
