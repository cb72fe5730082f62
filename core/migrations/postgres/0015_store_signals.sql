-- A batch of signals in one round trip to the server (issue 15). The gateway stored a batch in
-- three to five: BEGIN with the signal lock and the notification, an INSERT for each run of rows
-- (a power of two each, so that ten statement texts serve every size), COMMIT. Each round trip
-- woke the server's process and the gateway's task again, on two cores the platform shares with
-- its devices. Called as one statement (`SELECT … FROM store_signals($1::json, $2, $3)`), this is
-- one transaction: the lock that makes signal transactions commit in id order
-- (`pg_advisory_xact_lock`, core/src/storage/signals.rs) is taken before the ids, the
-- notification to followers in other processes goes out at commit, and the rows, given as a
-- JSON array of objects (read by `signal_rows`), get their ids in the array's order.
-- `skip_conflicts`: a key stored before is skipped (`ON CONFLICT DO NOTHING`) instead of failing
-- the batch. `channel`: where followers listen (`SIGNALS_CHANNEL`, core/src/storage/listen.rs,
-- named there once for both the LISTEN and this NOTIFY). SQLite needs none of this: its writer holds the database's one write lock, in the
-- same process.
CREATE FUNCTION signal_rows(batch json)
RETURNS TABLE (source text, dedup_key text, subject text, kind text, body text,
               device_time bigint, received_at bigint, clock_skewed bigint)
LANGUAGE sql STABLE AS $$
    SELECT r.source, r.dedup_key, r.subject, r.kind, r.body, r.device_time, r.received_at, r.clock_skewed
    FROM ROWS FROM (json_to_recordset(batch) AS (source text, dedup_key text, subject text, kind text,
             body text, device_time bigint, received_at bigint, clock_skewed bigint))
         WITH ORDINALITY AS r(source, dedup_key, subject, kind, body, device_time, received_at, clock_skewed, n)
    ORDER BY r.n
$$;

CREATE FUNCTION store_signals(batch json, skip_conflicts boolean, channel text)
RETURNS TABLE (id bigint, source text, dedup_key text)
LANGUAGE plpgsql AS $$
BEGIN
    -- 0x6d696d617369676e, "mimasign": the lock of signal writes.
    PERFORM pg_advisory_xact_lock(7883952888004306798), pg_notify(channel, '');
    IF skip_conflicts THEN
        RETURN QUERY
        INSERT INTO signals AS s (source, dedup_key, subject, kind, body, device_time, received_at, clock_skewed)
        SELECT * FROM signal_rows(batch)
        ON CONFLICT DO NOTHING
        RETURNING s.id, s.source, s.dedup_key;
    ELSE
        RETURN QUERY
        INSERT INTO signals AS s (source, dedup_key, subject, kind, body, device_time, received_at, clock_skewed)
        SELECT * FROM signal_rows(batch)
        RETURNING s.id, s.source, s.dedup_key;
    END IF;
END $$;
