-- The signals' dedup index leads with the key, not the source (issue 15). A device's key is
-- `seq:` and its sequence number, which PROTOCOL.md asks to start from the epoch milliseconds: led
-- by the source, every signal of a thousand interleaved devices went into a leaf of its own
-- device, a thousand pages for a thousand signals; led by the key, new signals go in at the
-- end, together. Lookups give both columns, so either order serves them. Same name, same rows:
-- on a large store this rebuild takes a while, once, at the upgrade (docs/DEPLOYMENT.md).
DROP INDEX signals_dedup;
CREATE UNIQUE INDEX signals_dedup ON signals(dedup_key, source) WHERE dedup_key IS NOT NULL;
