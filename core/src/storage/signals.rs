//! Signals: append-only, idempotent on (source, dedup key).

use super::{StorageError, Store, flag, json, ms, opt_time, parsed, time};
use crate::domain::{NewSignal, Signal, SignalId, SignalKind, SignalSource, Subject};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

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

const SIGNAL_COLUMNS: &str =
    "id, source, dedup_key, subject, kind, body, device_time, received_at, clock_skewed";

impl Store {
    /// Stores a signal once: a second insert with the same source and dedup key is a no-op.
    pub async fn insert_signal(&self, s: &NewSignal) -> Result<SignalInsert, StorageError> {
        let source = s.source.key();
        let inserted = sqlx::query(
            "INSERT INTO signals (source, dedup_key, subject, kind, body, device_time, received_at, clock_skewed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&source)
        .bind(s.dedup_key.as_deref())
        .bind(s.subject.as_ref().map(Subject::key))
        .bind(s.kind.as_str())
        .bind(s.body.to_string())
        .bind(s.device_time.map(ms))
        .bind(ms(s.received_at))
        .bind(s.clock_skewed as i64)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = inserted {
            return Ok(SignalInsert::Stored(SignalId(row.try_get("id")?)));
        }
        let row = sqlx::query("SELECT id FROM signals WHERE source = $1 AND dedup_key = $2")
            .bind(&source)
            .bind(s.dedup_key.as_deref().unwrap_or(""))
            .fetch_one(&self.pool)
            .await?;
        Ok(SignalInsert::Duplicate(SignalId(row.try_get("id")?)))
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
