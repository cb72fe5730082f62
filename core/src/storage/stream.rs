//! The alert stream: every alert message published to integrations, kept by its sequence number
//! exactly as it was signed and published, so that a consumer that missed some reads them again.
//! And the platform's key pairs (`platform_keys`), which sign it.
//!
//! Sequence numbers are given out by `UPDATE alert_stream_head SET seq = seq + 1` in the
//! transaction that inserts the message. The head row stays locked until that transaction ends
//! (a row lock on PostgreSQL, the write lock on SQLite), so numbers are given out one transaction
//! at a time, in commit order, without gaps (a rolled-back number is given again): a reader never
//! sees seq 6 before seq 5 is visible. A sequence or `BIGSERIAL` would not do: under read
//! committed, 5 can commit after a reader saw 6. The alert is read under the same lock, so a later
//! message never carries an older state of an alert than an earlier one.
//!
//! A message is numbered in one of two places, the same way ([`append_in`]): by the outbox as it
//! sends the row ([`Store::append_to_alert_stream`]), or — for a row a process writes already
//! claimed by its own MQTT sender ([`super::Claim::stream`]) — in the transaction that writes the
//! alert, with the alert as that transaction leaves it (its row is locked by then, so no other
//! state of it can be numbered in between). The second spares the alert's message a transaction
//! of its own between the alert and its publication.

use super::alerts::{ALERT_COLUMNS, alert_from};
use super::{StorageError, Store, ms, opt_parsed, time};
use crate::domain::{Alert, AlertId, DistrictId, Notification};
use crate::secret::Secret;
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::sync::Arc;

const ENTRY_COLUMNS: &str =
    "seq, notification_id, alert_id, district_id, topic, message, created_at";

/// Where a message stands in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamPosition {
    pub seq: i64,
    /// The `seq` of the previous message about the same district (for alerts without a district,
    /// the previous without one), 0 if none.
    pub district_prev: i64,
    /// Whether this is the stream's first message about the alert (what integrations learn of
    /// it from first, whatever the order its notification rows went out in).
    pub first_of_alert: bool,
}

/// A message of the stream, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub seq: i64,
    /// The MQTT notification row it was published for.
    pub notification: i64,
    pub alert: AlertId,
    /// The alert's district when the message was made; `None`: the triage queue.
    pub district: Option<DistrictId>,
    pub topic: String,
    /// The signed message, byte for byte as published.
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// What a message is made of, from the alert as the stream's lock finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMessage {
    pub topic: String,
    pub message: String,
}

/// Makes the message of an MQTT notification about an alert at its place in the stream: the MQTT
/// channel's signer, handed to the store in a [`super::Claim`] so that the alert's own
/// transaction can number the message.
pub type StreamMaker =
    Arc<dyn Fn(&Notification, &Alert, StreamPosition) -> StreamMessage + Send + Sync>;

/// One page of the stream for a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPage {
    /// The messages after `after`, oldest first.
    pub entries: Vec<StreamEntry>,
    /// Where the next page starts: the last message returned, or — when this page holds every
    /// message up to the head that the reader may see — the head itself (a reader of one
    /// district skips the others' numbers this way).
    pub next_after: i64,
    /// The last sequence number given out when the page was read.
    pub head: i64,
    /// Whether a next page may hold more (this one is full).
    pub more: bool,
}

/// A key pair of the platform (`platform_keys`).
#[derive(Debug, Clone)]
pub struct PlatformKey {
    pub name: String,
    pub algorithm: String,
    /// Lowercase hex.
    pub public_key: String,
    /// Lowercase hex; redacted in `Debug`.
    pub secret_key: Secret,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// The key pair `name`, made with `make` (public, secret) first if there is none. Every
    /// process sharing the database gets the same pair, even when they race at first start.
    pub async fn platform_key_or_init(
        &self,
        name: &str,
        algorithm: &str,
        make: impl FnOnce() -> (String, String),
        now: DateTime<Utc>,
    ) -> Result<PlatformKey, StorageError> {
        if let Some(key) = self.platform_key(name).await? {
            return Ok(key);
        }
        let (public, secret) = make();
        sqlx::query(
            "INSERT INTO platform_keys (name, algorithm, public_key, secret_key, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(algorithm)
        .bind(public)
        .bind(secret)
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        self.platform_key(name)
            .await?
            .ok_or_else(|| StorageError::Corrupt(format!("platform key {name} vanished")))
    }

    /// The key pair `name`, if made.
    pub async fn platform_key(&self, name: &str) -> Result<Option<PlatformKey>, StorageError> {
        let row = sqlx::query(
            "SELECT name, algorithm, public_key, secret_key, created_at FROM platform_keys WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(PlatformKey {
                name: r.try_get("name")?,
                algorithm: r.try_get("algorithm")?,
                public_key: r.try_get("public_key")?,
                secret_key: Secret::from(r.try_get::<String, _>("secret_key")?),
                created_at: time(r.try_get("created_at")?)?,
            })
        })
        .transpose()
    }

    /// The stream's message for the MQTT notification `notification`: the one already appended
    /// (a retry publishes the same message), or a new one at the next sequence number, made by
    /// `make` from its alert as it is now.
    pub async fn append_to_alert_stream(
        &self,
        notification: i64,
        at: DateTime<Utc>,
        make: impl FnOnce(&Alert, StreamPosition) -> StreamMessage,
    ) -> Result<StreamEntry, StorageError> {
        if let Some(entry) = self.alert_stream_entry(notification).await? {
            return Ok(entry);
        }
        let (mut tx, _turn) = self.begin_in_turn().await?;
        let seq = next_seq(&mut tx).await?;
        // Another worker may have appended it while this one waited for the lock.
        let appended = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM alert_stream WHERE notification_id = $1"
        )))
        .bind(notification)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = appended {
            tx.rollback().await?;
            return entry_from(&row);
        }
        let alert = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = (SELECT alert_id FROM notifications WHERE id = $1)"
        )))
        .bind(notification)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StorageError::NotFound {
            what: "notification",
            id: notification.to_string(),
        })?;
        let alert = alert_from(&alert)?;
        let entry = append_in(&mut tx, seq, notification, &alert, None, at, make).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// The stream's message for the notification `notification`, if appended.
    pub async fn alert_stream_entry(
        &self,
        notification: i64,
    ) -> Result<Option<StreamEntry>, StorageError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM alert_stream WHERE notification_id = $1"
        )))
        .bind(notification)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(entry_from).transpose()
    }

    /// The last sequence number given out (0 before the first).
    pub async fn alert_stream_head(&self) -> Result<i64, StorageError> {
        Ok(
            sqlx::query("SELECT seq FROM alert_stream_head WHERE id = 1")
                .fetch_one(&self.pool)
                .await?
                .try_get("seq")?,
        )
    }

    /// Up to `limit` messages after `after`, oldest first: all of them, or those of one
    /// `district` (`Some(None)`: the triage queue's). Every message up to the head read first is
    /// already visible (numbers become visible in order), so the page misses none of those.
    pub async fn alert_stream_page(
        &self,
        after: i64,
        district: Option<Option<&DistrictId>>,
        limit: i64,
    ) -> Result<StreamPage, StorageError> {
        let head = self.alert_stream_head().await?;
        let limit = limit.max(1);
        // A district's condition as the index (district_id, seq) answers it: `= $4`, or
        // `IS NULL` for the triage queue's (see `append_in`).
        let of_district = match district {
            None => "",
            Some(Some(_)) => "AND district_id = $4",
            Some(None) => "AND district_id IS NULL",
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM alert_stream WHERE seq > $1 AND seq <= $2 {of_district}
             ORDER BY seq LIMIT $3"
        )))
        .bind(after)
        .bind(head)
        .bind(limit);
        if let Some(Some(d)) = district {
            query = query.bind(d.as_str());
        }
        let entries = query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(entry_from)
            .collect::<Result<Vec<_>, _>>()?;
        let more = entries.len() as i64 == limit;
        let next_after = match entries.last() {
            Some(last) if more => last.seq,
            _ => head.max(after),
        };
        Ok(StreamPage {
            entries,
            next_after,
            head,
            more,
        })
    }
}

/// The next sequence number, and with it the stream's lock: held by the transaction until it ends.
pub(super) async fn next_seq(tx: &mut Transaction<'_, Any>) -> Result<i64, StorageError> {
    Ok(
        sqlx::query("UPDATE alert_stream_head SET seq = seq + 1 WHERE id = 1 RETURNING seq")
            .fetch_one(&mut **tx)
            .await?
            .try_get("seq")?,
    )
}

/// Appends the message for `notification` about `alert` (as the transaction sees it, under the
/// lock [`next_seq`] took) at `seq`. `first_of_alert`: whether it is the alert's first message,
/// when the caller knows (a new alert's first row); looked up otherwise.
pub(super) async fn append_in(
    tx: &mut Transaction<'_, Any>,
    seq: i64,
    notification: i64,
    alert: &Alert,
    first_of_alert: Option<bool>,
    at: DateTime<Utc>,
    make: impl FnOnce(&Alert, StreamPosition) -> StreamMessage,
) -> Result<StreamEntry, StorageError> {
    let district = alert.district.as_ref().map(|d| d.as_str());
    // One statement for a district and one for none, each answered from the end of the
    // (district_id, seq) index. A single `district_id = $1 OR ($1 IS NULL AND …)` could not use
    // it in a plan made for any value (PostgreSQL's generic plan, after five runs): PostgreSQL
    // walked the stream back from its end to a quiet district's last message, 66 ms at 300,000
    // messages, growing with the stream, inside the stream's lock.
    // Whether the alert had a message in the stream before, when the caller does not know, is
    // asked in the same statement (through the alert's notifications: both lookups indexed): one
    // round trip inside the stream's lock, not two.
    let (in_district, next) = match district {
        Some(_) => ("= $1", 2),
        None => ("IS NULL", 1),
    };
    let mut sql = format!(
        "SELECT (SELECT COALESCE(MAX(seq), 0) FROM alert_stream WHERE district_id {in_district}) AS prev"
    );
    if first_of_alert.is_none() {
        sql.push_str(&format!(
            ", CAST(CASE WHEN EXISTS (SELECT 1 FROM notifications n WHERE n.alert_id = ${next} AND n.id <> ${}
                 AND EXISTS (SELECT 1 FROM alert_stream s WHERE s.notification_id = n.id))
               THEN 1 ELSE 0 END AS BIGINT) AS seen",
            next + 1
        ));
    }
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(d) = district {
        query = query.bind(d);
    }
    if first_of_alert.is_none() {
        query = query.bind(alert.id.0).bind(notification);
    }
    let row = query.fetch_one(&mut **tx).await?;
    let district_prev: i64 = row.try_get("prev")?;
    let first_of_alert = match first_of_alert {
        Some(known) => known,
        None => !super::flag(&row, "seen")?,
    };
    let made = make(
        alert,
        StreamPosition {
            seq,
            district_prev,
            first_of_alert,
        },
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO alert_stream (seq, notification_id, alert_id, district_id, topic, message, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ENTRY_COLUMNS}"
    )))
    .bind(seq)
    .bind(notification)
    .bind(alert.id.0)
    .bind(district)
    .bind(&made.topic)
    .bind(&made.message)
    .bind(ms(at))
    .fetch_one(&mut **tx)
    .await?;
    entry_from(&row)
}

fn entry_from(r: &AnyRow) -> Result<StreamEntry, StorageError> {
    Ok(StreamEntry {
        seq: r.try_get("seq")?,
        notification: r.try_get("notification_id")?,
        alert: AlertId(r.try_get("alert_id")?),
        district: opt_parsed(r, "district_id")?,
        topic: r.try_get("topic")?,
        message: r.try_get("message")?,
        created_at: time(r.try_get("created_at")?)?,
    })
}
