-- The city's figures (issue 17) count a month's partners' reports from the alerts' timelines:
-- the `created` and `joined` events by when they happened. Without this index every figures page,
-- even of an empty month, read every event ever written (docs/BENCHMARKS.md, "City figures").
-- Keep in step with the other backend's 0013.
CREATE INDEX alert_events_kind_at ON alert_events(kind, at);
