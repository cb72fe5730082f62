//! Storage: one API over SQLite (the embedded default) and PostgreSQL, chosen by the URL.
//!
//! Queries go through `sqlx::Any` with one query text for both backends (`$n` placeholders,
//! `RETURNING`, `ON CONFLICT`); the schema differs only where the SQL dialects do, in one
//! migrations folder per backend (`core/migrations/{sqlite,postgres}`). Times are stored as epoch
//! milliseconds and booleans as 0/1, the types `Any` carries on both backends.
//!
//! The database itself enforces what must never break:
//! - at most one open alert per (subject, kind): a partial unique index;
//! - a signal is stored once per (source, dedup key): a partial unique index;
//! - signals are append-only: triggers refuse `UPDATE` and `DELETE`.
//!
//! Reads of resident records write an audit entry in the same call ([`Store::get_resident`],
//! [`Store::list_residents`]): there is no unaudited way to read a resident's details.

mod alerts;
mod audit;
mod channels;
mod desk;
mod devices;
mod health;
mod integrations;
mod lease;
mod listen;
mod outbox;
mod partner_access;
mod residents;
mod revocations;
mod sessions;
mod signals;
mod stream;
mod teams;
mod timeline;
mod watch;

pub use alerts::{AckResult, AlertFilter, OpenedAlert, ResolveResult, Routed};
pub use audit::AuditFilter;
pub use channels::{LinkCodeResult, TelegramMessage};
pub use desk::{AlertTimes, DeviceSeen};
pub use health::PathHealth;
pub use lease::Fence;
pub use listen::SignalListener;
pub use outbox::Claim;
pub use partner_access::PartnerAccess;
pub use revocations::LoginRevocation;
pub use signals::{SKIP_CONFLICTS_AFTER_A_DUPLICATE, SignalInsert};
pub use stream::{
    PlatformKey, StreamEntry, StreamMaker, StreamMessage, StreamPage, StreamPosition,
};
pub use watch::{SignalCursor, WatchProfile};

use crate::config::{Backend, backend_of};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::sync::Arc;
use std::time::Duration;

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    /// A reference to something that does not exist, or a duplicate id.
    #[error("{0}")]
    Conflict(String),
    /// A stored value no longer parses: the database was changed outside mimamori.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A fenced store's lease was taken over by another process: nothing was written.
    #[error("lease {0} is held by another process: nothing written")]
    Fenced(String),
}

/// The store. Cheap to clone: clones share the connection pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Set by [`Store::fenced`]: writes of the alert service check it (see `lease`).
    fence: Option<std::sync::Arc<Fence>>,
    /// SQLite: the checkpoints of the write-ahead log, stopped with the last clone.
    _checkpoints: Option<Arc<Checkpoints>>,
    /// SQLite: whose turn it is to write, among this process's hot writers ([`Store::write_turn`]).
    write_turns: Option<Arc<tokio::sync::Mutex<()>>>,
    /// The connection the signal writes keep ([`Store::signal_writer`]), taken from the pool at
    /// the first write; `None` in a pool of fewer than [`KEEP_SIGNAL_WRITER_FROM`].
    signal_writer: Option<Arc<tokio::sync::Mutex<Option<KeptConnection>>>>,
    /// PostgreSQL: how many more signal writes skip conflicts (`ON CONFLICT DO NOTHING`) before
    /// a plain INSERT is tried again (`signals.rs`).
    signal_conflicts: Arc<std::sync::atomic::AtomicU32>,
}

/// A pool connection kept out of the pool by the signal writes, and when it was last used.
#[derive(Debug)]
struct KeptConnection {
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    used: std::time::Instant,
}

/// A PostgreSQL connection idle this long is pinged before it is used: the server may have
/// dropped it meanwhile (a restart, an administrator, a proxy's timeout).
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The smallest pool that lends the signal writes a connection to keep: at least three stay for
/// everything else in the process (the alert service, the outbox, the web server).
const KEEP_SIGNAL_WRITER_FROM: u32 = 4;

/// A writer's turn at SQLite's one write lock, held until dropped.
pub(crate) type WriteTurn = tokio::sync::OwnedMutexGuard<()>;

/// A connection for signal writes ([`Store::signal_writer`]). [`SignalWriter::keep`] gives it
/// back to the signal writes; dropped without (an error on the way), it goes back to the pool,
/// which rolls back what it left open.
pub(crate) struct SignalWriter {
    slot: Option<tokio::sync::OwnedMutexGuard<Option<KeptConnection>>>,
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
}

impl SignalWriter {
    pub(crate) fn connection(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.conn
    }

    /// The writes went through: the connection is kept for the next (if it was the kept one's
    /// turn; one of the pool's, taken while that was busy, goes back to the pool).
    pub(crate) fn keep(self) {
        if let Some(mut slot) = self.slot {
            *slot = Some(KeptConnection {
                conn: self.conn,
                used: std::time::Instant::now(),
            });
        }
    }
}

/// How often SQLite's write-ahead log is copied back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// SQLite's checkpoints, on a task of their own: `PRAGMA wal_checkpoint(PASSIVE)` every
/// [`CHECKPOINT_EVERY`], which copies back what it can without waiting for readers or holding up
/// writers. Each commit writes the pages it changed to the log whole; with a thousand devices a
/// batch changes a thousand pages of each index, and checkpointing after every 4 MB of log
/// (SQLite's default, in the committing connection) copied the same hot pages back again and
/// again and stalled that commit meanwhile.
#[derive(Debug)]
struct Checkpoints {
    stop: tokio::sync::watch::Sender<bool>,
}

impl Checkpoints {
    fn start(pool: AnyPool) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = every.tick() => {}
                }
                if pool.is_closed() {
                    break;
                }
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    tracing::debug!(error = %e, "SQLite checkpoint not done; trying again.");
                }
            }
        });
        Self { stop }
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects to `sqlite://FILE` (created with its folder if missing; WAL mode) or
    /// `postgres://…`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url).map_err(StorageError::Url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            // No test before each acquire. A SQLite connection is a file this process opened,
            // served by a thread of its own: the test only sent that thread a ping and waited for
            // its answer — two thread hand-offs before every statement and batch, on the
            // gateway's path, that could find nothing a statement would not (issue 15; its effect
            // on publish → stored was within the machine's spread: docs/BENCHMARKS.md). A
            // PostgreSQL connection can break with the server: it is pinged when it has been idle
            // for a second or more (`before_acquire`) — after a failure, too, since a failed
            // write is tried again a second later — but not while it is in constant use, where
            // the ping was one round trip of the five a one-row batch of signals took.
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if backend == Backend::Postgres && meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // A new database gets 1 KiB pages (this is a no-op on one that has
                        // tables). A commit writes each page it changed to the log whole, and a
                        // signal changed a leaf of each of its two indexes (its device's, its
                        // resident's: a thousand devices, a thousand places; the dedup index now
                        // leads with the key and takes new signals at its end): with 4 KiB pages
                        // 10,000 events a second wrote 114 MB/s of log for 2 MB of rows, and the
                        // checkpoints' flushes of it stalled the commits. With 1 KiB, 42 MB/s,
                        // and publish → stored and press → alert p99 under that load fell by a
                        // third; reading a month of city figures took a quarter longer (issue 15,
                        // docs/BENCHMARKS.md). Must come before the switch to WAL.
                        sqlx::query("PRAGMA page_size = 1024")
                            .execute(&mut *conn)
                            .await?;
                        // WAL lets readers run beside the writer; busy_timeout makes concurrent
                        // writers wait instead of failing; foreign keys are off by default.
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        // Checkpoints run beside the writers (`checkpoints`), not in the
                        // connection that commits: there a checkpoint stalled the commit — and
                        // the press behind it — while it copied the log back (issue 15). This
                        // backs that up, and more: a log is started again from its beginning
                        // only by a write into one wholly copied back, which writers committing
                        // without a pause never meet, so under a steady stream of signals it
                        // is this checkpoint, in the committing connection, that lets the log
                        // start again — at 10,000 events/s every 3.5 s, holding that commit
                        // 70–130 ms (docs/BENCHMARKS.md, "Ingestion", eleventh round).
                        sqlx::query("PRAGMA wal_autocheckpoint = 100000")
                            .execute(&mut *conn)
                            .await?;
                        // The log keeps its size once a checkpoint has copied it back; it is
                        // cut back only past 512 MB (what a burst beyond the backstop above
                        // left). Cut back to 64 MB after every checkpoint, the file was shrunk
                        // and grown again a few times a second under 10,000 events a second, and
                        // the commits growing it waited for the file system: publish → stored
                        // p99 156–176 ms against 42–47 ms without (issue 15).
                        sqlx::query("PRAGMA journal_size_limit = 536870912")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .after_release(move |conn, _meta| {
                Box::pin(async move {
                    if backend != Backend::Sqlite {
                        return Ok(true);
                    }
                    // A write that failed with SQLITE_FULL (the disk full) may leave its
                    // transaction open, holding the database's write lock: every other writer
                    // then got "database is locked" long after the disk had room again (the
                    // fault suite's disk-full case). A connection still in a transaction when it
                    // comes back is rolled back and closed; the ROLLBACK of one that is not fails
                    // harmlessly.
                    Ok(sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err())
                })
            })
            .connect(&url)
            .await?;
        let checkpoints =
            (backend == Backend::Sqlite).then(|| Arc::new(Checkpoints::start(pool.clone())));
        Ok(Self {
            pool,
            backend,
            fence: None,
            _checkpoints: checkpoints,
            write_turns: (backend == Backend::Sqlite)
                .then(|| Arc::new(tokio::sync::Mutex::new(()))),
            signal_writer: (max_connections >= KEEP_SIGNAL_WRITER_FROM)
                .then(|| Arc::new(tokio::sync::Mutex::new(None))),
            signal_conflicts: Arc::default(),
        })
    }

    /// SQLite: waits for this process's turn to write, first come first served; `None` on
    /// PostgreSQL (no single write lock). SQLite lets one connection write at a time, and a
    /// writer that finds the lock taken waits in SQLite's busy handler, which sleeps 1, 2, 5 … up
    /// to 100 ms between tries: while the gateway wrote back to back, the alert service's
    /// transaction lost nearly every race and an emergency waited hundreds of milliseconds behind
    /// activity data (issue 15). The gateway's signal statements, the alert service's
    /// transactions and the outbox's (numbering an alert message in the stream, recording a
    /// delivery, [`Store::begin_in_turn`]) take turns here instead; other writers, and other
    /// processes, still meet in the busy handler. Take it with a connection in hand: whoever
    /// holds it then never waits for the pool.
    pub(crate) async fn write_turn(&self) -> Option<WriteTurn> {
        match &self.write_turns {
            Some(turns) => Some(turns.clone().lock_owned().await),
            None => None,
        }
    }

    /// A connection for signal writes: the one they keep, unless another signal write holds it
    /// (the gateway stores a batch's emergencies beside the batch before), then one of the pool's.
    /// The gateway writes signals back to back, tens to hundreds of batches a second, and each
    /// connection going back to the pool cost the pool's test on release (a round trip to the
    /// PostgreSQL server; on SQLite two hand-offs to the connection's thread, with the
    /// `ROLLBACK` of `after_release`), and on SQLite a connection that other writes had gone
    /// through since its last use found its page cache stale and read the indexes' pages again.
    /// At 10,000 events a second this took the process from a median of 115 % of a core to 105 %
    /// on SQLite, and PostgreSQL's publish → stored p50 from 5.1–6.1 to 3.2–4.6 ms (issue 15,
    /// docs/BENCHMARKS.md, "eighth round"). A kept PostgreSQL connection idle for
    /// [`PING_AFTER_IDLE`] is pinged first, as the pool pings its own: one the server dropped is
    /// replaced, not used.
    pub(crate) async fn signal_writer(&self) -> Result<SignalWriter, StorageError> {
        let mut slot = self
            .signal_writer
            .as_ref()
            .and_then(|w| w.clone().try_lock_owned().ok());
        let kept = match slot.as_mut().and_then(|s| s.take()) {
            Some(mut kept)
                if self.backend == Backend::Postgres && kept.used.elapsed() >= PING_AFTER_IDLE =>
            {
                // A connection that fails the ping goes back to the pool, which closes it.
                sqlx::Connection::ping(&mut *kept.conn)
                    .await
                    .is_ok()
                    .then_some(kept.conn)
            }
            kept => kept.map(|k| k.conn),
        };
        let conn = match kept {
            Some(conn) => conn,
            None => self.pool.acquire().await?,
        };
        Ok(SignalWriter { slot, conn })
    }

    /// Begins a writing transaction in this process's write turn ([`Store::write_turn`]), held
    /// until the second value is dropped: keep it alive until the transaction ends.
    pub(crate) async fn begin_in_turn(
        &self,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Any>, Option<WriteTurn>), StorageError> {
        let tx = self.pool.begin().await?;
        // After the connection, as the gateway takes them: a turn is never held while waiting
        // for a connection, so the two cannot wait for each other.
        let turn = self.write_turn().await;
        Ok((tx, turn))
    }

    /// Applies the migrations of the backend.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to return.
    pub async fn close(&self) {
        if let Some(writer) = &self.signal_writer {
            drop(writer.lock().await.take());
        }
        self.pool.close().await;
    }
}

/// `sqlite://dir/file.db` → the same URL with `mode=rwc`, after creating `dir`.
fn prepare_sqlite_url(url: &str) -> Result<String, StorageError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StorageError::Url(url.to_string()))?;
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    if path != ":memory:"
        && let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| StorageError::Url(format!("cannot create {}: {e}", parent.display())))?;
    }
    Ok(match query {
        Some(q) if q.contains("mode=") => url.to_string(),
        Some(q) => format!("sqlite://{path}?{q}&mode=rwc"),
        None => format!("sqlite://{path}?mode=rwc"),
    })
}

/// Epoch milliseconds, the stored form of every time.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn time(ms: i64) -> Result<DateTime<Utc>, StorageError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StorageError::Corrupt(format!("time {ms} out of range")))
}

pub(crate) fn opt_time(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StorageError> {
    ms.map(time).transpose()
}

/// Reads a column that holds a domain value.
pub(crate) fn parsed<T: std::str::FromStr>(row: &AnyRow, col: &str) -> Result<T, StorageError>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    s.parse()
        .map_err(|e: T::Err| StorageError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn opt_parsed<T: std::str::FromStr>(
    row: &AnyRow,
    col: &str,
) -> Result<Option<T>, StorageError>
where
    T::Err: std::fmt::Display,
{
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| {
        s.parse()
            .map_err(|e: T::Err| StorageError::Corrupt(format!("{col}: {e}")))
    })
    .transpose()
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    col: &str,
) -> Result<T, StorageError> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| StorageError::Corrupt(format!("{col}: {e}")))
}

/// Appends the rows of a multi-row `VALUES`: `rows` groups of `columns` parameters, numbered
/// (`$1, $2, …`, both backends) or anonymous (`?`: SQLite only, where binding a numbered
/// parameter looks its name up among all of them — `signals.rs`).
pub(super) fn push_values(sql: &mut String, rows: usize, columns: usize, numbered: bool) {
    use std::fmt::Write;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            if numbered {
                let _ = write!(sql, "${}", row * columns + column + 1);
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
}

pub(crate) fn flag(row: &AnyRow, col: &str) -> Result<bool, StorageError> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

/// Turns constraint violations into errors that say what was wrong.
/// `Ok` when a statement changed a row; `NotFound` naming `what` and `id` when it changed none.
pub(crate) fn changed_one(
    done: sqlx::any::AnyQueryResult,
    what: &'static str,
    id: impl std::fmt::Display,
) -> Result<(), StorageError> {
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound {
            what,
            id: id.to_string(),
        });
    }
    Ok(())
}

pub(crate) fn constraint(e: sqlx::Error, what: &str) -> StorageError {
    if let sqlx::Error::Database(db) = &e {
        match db.kind() {
            sqlx::error::ErrorKind::ForeignKeyViolation => {
                return StorageError::Conflict(format!(
                    "{what}: refers to something that does not exist"
                ));
            }
            sqlx::error::ErrorKind::UniqueViolation => {
                return StorageError::Conflict(format!("{what}: already exists"));
            }
            _ => {}
        }
    }
    StorageError::Database(e)
}

#[cfg(test)]
mod tests {
    /// The statement texts the drivers cache: numbered on PostgreSQL, anonymous on SQLite.
    #[test]
    fn values_rows_are_numbered_or_anonymous() {
        let mut numbered = String::new();
        super::push_values(&mut numbered, 2, 3, true);
        assert_eq!(numbered, "($1, $2, $3), ($4, $5, $6)");
        let mut anonymous = String::new();
        super::push_values(&mut anonymous, 2, 3, false);
        assert_eq!(anonymous, "(?, ?, ?), (?, ?, ?)");
    }
}
