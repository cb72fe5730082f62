//! Signals: append-only, idempotent on (source, dedup key).
//!
//! Followers read signals in id order from a cursor ([`Store::signals_after`]), so a signal must
//! never become visible after one with a higher id. SQLite gives that by itself (one writer at a
//! time, ids taken under its lock). On PostgreSQL ids come from a sequence outside any lock, and two
//! writers (several gateways, the HTTP intake beside the gateway) can commit in the other order: a
//! follower that had read the later id would step over the earlier one for good. There every
//! signal write takes one transaction-scoped advisory lock before its ids, so signal transactions
//! commit one at a time, in id order; other tables are not held up. The same transaction sends the
//! notification that wakes followers in other processes (`listen.rs`). A batch is one statement,
//! a call of the function `store_signals` (migration 0015) with the rows as a JSON array: one
//! round trip to the server, where BEGIN, an INSERT per run of rows and COMMIT took three to five.
//!
//! Under that lock no other signal write can run, so on PostgreSQL a batch is first stored with a
//! plain INSERT: `ON CONFLICT DO NOTHING` inserts each row speculatively (a lock taken and a
//! record written per row to confirm it), a third of the server's work per row. A key stored
//! before makes the plain INSERT fail; the batch is then stored skipping conflicts, and so are the
//! next [`SKIP_CONFLICTS_AFTER_A_DUPLICATE`] writes, so that a stream of duplicates (two gateways
//! each receiving everything, a backlog delivered again) fails once, not batch after batch.

use super::{StorageError, Store, flag, json, ms, opt_time, parsed, time};
use crate::config::Backend;
use crate::domain::{NewSignal, Signal, SignalId, SignalKind, SignalSource, Subject};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::sync::atomic::Ordering;

/// What storing a signal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalInsert {
    /// Stored now.
    Stored(SignalId),
    /// The same (source, dedup key) was stored before, as this id: nothing was written.
    Duplicate(SignalId),
}

impl SignalInsert {
    pub fn id(self) -> SignalId {
        match self {
            SignalInsert::Stored(id) | SignalInsert::Duplicate(id) => id,
        }
    }
}

/// PostgreSQL: after a signal write met a key stored before, this many more skip conflicts before
/// a plain INSERT is tried again; each one that meets a duplicate starts the count again.
pub const SKIP_CONFLICTS_AFTER_A_DUPLICATE: u32 = 64;

/// SQLite: most rows per INSERT statement (8 parameters each: well under SQLite's limit).
const INSERT_CHUNK: usize = 512;

/// SQLite: `signals` in runs of powers of two up to [`INSERT_CHUNK`] rows: ten statement texts
/// serve every batch size, each prepared once per connection and then taken from the driver's
/// cache. With a statement per batch size, nearly every batch parsed and planned a statement of
/// its own.
fn chunks(signals: &[NewSignal]) -> impl Iterator<Item = &[NewSignal]> {
    let mut rest = signals;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = INSERT_CHUNK.min(1 << rest.len().ilog2());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// SQLite: one chunk's INSERT, with every row's values bound, skipping keys stored before.
fn insert_query(
    signals: &[NewSignal],
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(insert_sql(signals.len())));
    for c in signals.iter().map(Columns::of) {
        query = query
            .bind(c.source)
            .bind(c.dedup_key.map(str::to_owned))
            .bind(c.subject)
            .bind(c.kind)
            .bind(c.body)
            .bind(c.device_time)
            .bind(c.received_at)
            .bind(c.clock_skewed);
    }
    query
}

/// The INSERT of `rows` signals on SQLite. The parameters are anonymous (`?`): the driver asks
/// SQLite the name of every numbered parameter (`$n`) when it binds, and SQLite finds each name
/// by walking the list of all of them — with 8 parameters a row, binding a 100-row statement
/// took longer than running it (13 % of the gateway's CPU at saturation, issue 15).
fn insert_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(200 + rows * 50);
    sql.push_str(
        "INSERT INTO signals (source, dedup_key, subject, kind, body, device_time, received_at, clock_skewed) VALUES ",
    );
    super::push_values(&mut sql, rows, 8, false);
    sql.push_str(" ON CONFLICT DO NOTHING RETURNING id, source, dedup_key");
    sql
}

/// What a PostgreSQL write of signals does with a key stored before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conflicts {
    /// Skips the row (`ON CONFLICT DO NOTHING`): it is a duplicate of the stored one.
    Skip,
    /// Fails the statement (under the signal lock: see the module's overview).
    Fail,
}

/// Ids matched back to `signals` from the `rows` an INSERT returned (`id, source, dedup_key`): by
/// (source, dedup key) where there is a key, in order of insertion for rows without one (they
/// never conflict). A row whose key was stored before (or earlier in the same batch) is a
/// duplicate of that id.
async fn matched(
    conn: &mut sqlx::AnyConnection,
    signals: &[NewSignal],
    rows: &[AnyRow],
) -> Result<Vec<SignalInsert>, StorageError> {
    let mut keyed = std::collections::HashMap::new();
    let mut unkeyed = Vec::new();
    for row in rows {
        let id: i64 = row.try_get("id")?;
        match row.try_get::<Option<String>, _>("dedup_key")? {
            Some(key) => {
                keyed.insert((row.try_get::<String, _>("source")?, key), id);
            }
            None => unkeyed.push(id),
        }
    }
    unkeyed.sort_unstable();
    let mut unkeyed = unkeyed.into_iter();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(signals.len());
    for s in signals {
        let Some(key) = &s.dedup_key else {
            let id = unkeyed.next().ok_or_else(|| {
                StorageError::Corrupt("a signal without a dedup key was not stored".into())
            })?;
            out.push(SignalInsert::Stored(SignalId(id)));
            continue;
        };
        let k = (s.source.key(), key.clone());
        let first = seen.insert(k.clone());
        match keyed.get(&k) {
            Some(id) if first => out.push(SignalInsert::Stored(SignalId(*id))),
            Some(id) => out.push(SignalInsert::Duplicate(SignalId(*id))),
            None => {
                let row =
                    sqlx::query("SELECT id FROM signals WHERE source = $1 AND dedup_key = $2")
                        .bind(&k.0)
                        .bind(key)
                        .fetch_one(&mut *conn)
                        .await?;
                out.push(SignalInsert::Duplicate(SignalId(row.try_get("id")?)));
            }
        }
    }
    Ok(out)
}

/// A signal's columns as stored: bound one by one on SQLite, one JSON object of the array
/// `store_signals` reads on PostgreSQL (migration 0015).
#[derive(serde::Serialize)]
struct Columns<'a> {
    source: String,
    dedup_key: Option<&'a str>,
    subject: Option<String>,
    kind: &'static str,
    body: String,
    device_time: Option<i64>,
    received_at: i64,
    clock_skewed: i64,
}

impl<'a> Columns<'a> {
    fn of(s: &'a NewSignal) -> Self {
        Columns {
            source: s.source.key(),
            dedup_key: s.dedup_key.as_deref(),
            subject: s.subject.as_ref().map(Subject::key),
            kind: s.kind.as_str(),
            body: s.body.to_string(),
            device_time: s.device_time.map(ms),
            received_at: ms(s.received_at),
            clock_skewed: s.clock_skewed as i64,
        }
    }
}

/// PostgreSQL: `signals` in one statement, one round trip, one transaction — all or none: the
/// function `store_signals` (migration 0015) takes the signal lock before the ids, so signal
/// transactions commit in id order, and notifies followers in other processes at commit. The
/// rows go as one JSON array, so that one prepared statement serves every batch size.
async fn insert_in_order(
    conn: &mut sqlx::AnyConnection,
    signals: &[NewSignal],
    conflicts: Conflicts,
) -> Result<Vec<SignalInsert>, StorageError> {
    let batch: Vec<Columns> = signals.iter().map(Columns::of).collect();
    let batch = serde_json::to_string(&batch).expect("strings and integers serialise");
    let rows = sqlx::query("SELECT id, source, dedup_key FROM store_signals($1::json, $2, $3)")
        .bind(batch)
        .bind(conflicts == Conflicts::Skip)
        .bind(super::listen::SIGNALS_CHANNEL)
        .fetch_all(&mut *conn)
        .await?;
    matched(conn, signals, &rows).await
}

/// Whether two of `signals` carry the same (source, dedup key): a plain INSERT of them would fail.
fn repeats_a_key(signals: &[NewSignal]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(signals.len());
    signals
        .iter()
        .filter_map(|s| Some((&s.source, s.dedup_key.as_deref()?)))
        .any(|key| !seen.insert(key))
}

const SIGNAL_COLUMNS: &str =
    "id, source, dedup_key, subject, kind, body, device_time, received_at, clock_skewed";

impl Store {
    /// Stores a signal once: a second insert with the same source and dedup key is a no-op.
    pub async fn insert_signal(&self, s: &NewSignal) -> Result<SignalInsert, StorageError> {
        let mut done = self.insert_signals(std::slice::from_ref(s)).await?;
        Ok(done.remove(0))
    }

    /// Stores signals, each once, in order, a batch at a time: a statement's round trip costs
    /// about as much as a row, and a gateway at tens of thousands of messages a second must not
    /// spend them one by one. On PostgreSQL all or none, in one statement; on SQLite in a few
    /// multi-row INSERTs, statement by statement (below).
    pub async fn insert_signals(
        &self,
        signals: &[NewSignal],
    ) -> Result<Vec<SignalInsert>, StorageError> {
        if signals.is_empty() {
            return Ok(Vec::new());
        }
        if self.backend == Backend::Sqlite {
            // Each statement is a transaction of its own: SQLite's write lock is held for one
            // statement at a time, not across round trips to the driver's thread, so the other
            // writers of the process (the alert service, the outbox) get it between two — they
            // wait in SQLite's busy handler, which sleeps in steps of up to 100 ms. A batch is
            // then not all-or-none, which nothing needs: what is not acknowledged is delivered
            // again and stored once. Ids stay in order under the lock.
            // Each statement takes its turn (`write_turn`): an alert service waiting to write goes
            // next, between two statements. They go through the connection the signal writes
            // keep (`signal_writer`), whose page cache no other write has made stale.
            let mut writer = self.signal_writer().await?;
            let conn = writer.connection();
            let mut done = Vec::with_capacity(signals.len());
            for chunk in chunks(signals) {
                let _turn = self.write_turn().await;
                let rows = insert_query(chunk).fetch_all(&mut *conn).await?;
                done.extend(matched(conn, chunk, &rows).await?);
            }
            writer.keep();
            return Ok(done);
        }
        let mut writer = self.signal_writer().await?;
        let conn = writer.connection();
        let skip = self.signal_conflicts.load(Ordering::Relaxed) > 0 || repeats_a_key(signals);
        if !skip {
            match insert_in_order(conn, signals, Conflicts::Fail).await {
                Ok(done) => {
                    writer.keep();
                    return Ok(done);
                }
                // A key stored before: rolled back, stored again below skipping conflicts.
                Err(StorageError::Database(sqlx::Error::Database(e)))
                    if e.kind() == sqlx::error::ErrorKind::UniqueViolation => {}
                Err(e) => return Err(e),
            }
        }
        let done = insert_in_order(conn, signals, Conflicts::Skip).await?;
        if done.iter().any(|d| matches!(d, SignalInsert::Duplicate(_))) {
            self.signal_conflicts
                .store(SKIP_CONFLICTS_AFTER_A_DUPLICATE, Ordering::Relaxed);
        } else {
            let _ = self
                .signal_conflicts
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
        writer.keep();
        Ok(done)
    }

    pub async fn get_signal(&self, id: SignalId) -> Result<Signal, StorageError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SIGNAL_COLUMNS} FROM signals WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StorageError::NotFound {
            what: "signal",
            id: id.to_string(),
        })?;
        signal_from(&row)
    }

    /// A subject's signals received in `[from, to)`, oldest first.
    pub async fn signals_for_subject(
        &self,
        subject: &Subject,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Signal>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SIGNAL_COLUMNS} FROM signals WHERE subject = $1 AND received_at >= $2 AND received_at < $3
             ORDER BY received_at, id LIMIT $4"
        )))
        .bind(subject.key())
        .bind(ms(from))
        .bind(ms(to))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(signal_from).collect()
    }

    /// The latest signal of a kind about a subject (e.g. the last activity of a resident).
    pub async fn latest_signal(
        &self,
        subject: &Subject,
        kind: SignalKind,
    ) -> Result<Option<Signal>, StorageError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SIGNAL_COLUMNS} FROM signals WHERE subject = $1 AND kind = $2 ORDER BY received_at DESC, id DESC LIMIT 1"
        )))
        .bind(subject.key())
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(signal_from)
        .transpose()
    }

    /// Signals stored after `after` in id order: a cursor for consumers in other processes.
    pub async fn signals_after(
        &self,
        after: SignalId,
        limit: i64,
    ) -> Result<Vec<Signal>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SIGNAL_COLUMNS} FROM signals WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(signal_from).collect()
    }
}

fn signal_from(r: &AnyRow) -> Result<Signal, StorageError> {
    let source: String = r.try_get("source")?;
    let subject: Option<String> = r.try_get("subject")?;
    Ok(Signal {
        id: SignalId(r.try_get("id")?),
        source: SignalSource::parse_key(&source)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?,
        dedup_key: r.try_get("dedup_key")?,
        subject: subject
            .map(|s| Subject::parse_key(&s).map_err(|e| StorageError::Corrupt(e.to_string())))
            .transpose()?,
        kind: parsed(r, "kind")?,
        body: json(r, "body")?,
        device_time: opt_time(r.try_get("device_time")?)?,
        received_at: time(r.try_get("received_at")?)?,
        clock_skewed: flag(r, "clock_skewed")?,
    })
}
