//! The delivery outbox. Workers claim a due row atomically (`UPDATE … WHERE id = ? AND status =
//! 'pending'`), with a lease: a worker that dies leaves a row that becomes due again when its
//! lease ends. Every result is also written to the alert's timeline.
//!
//! A writer whose own process sends a channel can insert that channel's rows already claimed
//! ([`Claim`]) and hand them straight to its worker: the row is still written in the decision's
//! transaction, but nobody has to find and claim it before it goes out. If the process dies first,
//! the lease runs out and any worker sends it, as with every claim.

use super::timeline::insert_event;
use super::{StorageError, Store, json, ms, opt_time, parsed, time};
use crate::domain::{AlertEventKind, AlertId, Channel, NewNotification, Notification};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

const NOTIFICATION_COLUMNS: &str = "id, alert_id, channel, target, body, status, attempts, next_attempt_at, claimed_by, claimed_until, last_error, created_at, sent_at";

/// Due: pending and its time has come, or claimed by a worker whose lease ran out (`$1`: now).
pub(super) const DUE: &str = "((status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND claimed_until <= $1))";

/// Notifications claimed as they are written: those of `channels` (the ones the writing process
/// sends itself) go in as `sending`, held by `worker` until `until`.
#[derive(Clone)]
pub struct Claim {
    pub worker: String,
    pub channels: Vec<Channel>,
    pub until: DateTime<Utc>,
    /// The process's MQTT sender's signer, when it has one: a claimed MQTT row's message is then
    /// numbered in the alert stream in the same transaction ([`super::stream`]), and the sender
    /// finds it there — no transaction of its own between the alert and its publication.
    pub stream: Option<super::StreamMaker>,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("worker", &self.worker)
            .field("channels", &self.channels)
            .field("until", &self.until)
            .field("stream", &self.stream.is_some())
            .finish()
    }
}

impl Store {
    /// Enqueues notifications for an alert (escalation steps, reminders).
    pub async fn enqueue_notifications(
        &self,
        alert: AlertId,
        notify: &[NewNotification],
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let (mut tx, _turn) = self.begin_in_turn().await?;
        insert_notifications(&mut tx, alert, notify, at, None).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims the next due notification for `worker` until `now + lease`.
    pub async fn claim_notification(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<Notification>, StorageError> {
        self.claim_notification_on(worker, None, now, lease).await
    }

    /// Claims the next due notification of one channel (`None`: any) for `worker`.
    pub async fn claim_notification_on(
        &self,
        worker: &str,
        channel: Option<Channel>,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<Notification>, StorageError> {
        loop {
            let candidate = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM notifications WHERE {DUE} AND ($2 = '' OR channel = $2) ORDER BY next_attempt_at, id LIMIT 1"
            )))
            .bind(ms(now))
            .bind(channel.map(Channel::as_str).unwrap_or(""))
            .fetch_optional(&self.pool)
            .await?;
            let Some(candidate) = candidate else {
                return Ok(None);
            };
            let id: i64 = candidate.try_get("id")?;
            let claimed = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE notifications SET status = 'sending', claimed_by = $2, claimed_until = $3, attempts = attempts + 1
                 WHERE id = $4 AND {DUE} RETURNING {NOTIFICATION_COLUMNS}"
            )))
            .bind(ms(now))
            .bind(worker)
            .bind(ms(now + lease))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = claimed {
                return notification_from(&row).map(Some);
            }
            // Another worker took it first: look for the next one.
        }
    }

    /// Gives back a claimed row that was not attempted (its worker is stopping): due again at
    /// once for any worker, rather than when the lease ends. False if `worker` no longer holds it.
    pub async fn release_notification(&self, id: i64, worker: &str) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE notifications SET status = 'pending', claimed_by = NULL, claimed_until = NULL,
               attempts = attempts - 1
             WHERE id = $1 AND status = 'sending' AND claimed_by = $2",
        )
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a successful delivery. False if `worker` no longer holds the claim.
    pub async fn mark_notification_sent(
        &self,
        id: i64,
        worker: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        self.finish(id, worker, "sent", None, None, at).await
    }

    /// Records a failed attempt that will be retried at `retry_at`.
    pub async fn mark_notification_retry(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        self.finish(id, worker, "pending", Some(error), Some(retry_at), at)
            .await
    }

    /// Records a permanent failure (bad address, blocked bot).
    pub async fn mark_notification_failed(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        self.finish(id, worker, "failed", Some(error), None, at)
            .await
    }

    async fn finish(
        &self,
        id: i64,
        worker: &str,
        status: &str,
        error: Option<&str>,
        retry_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let (mut tx, _turn) = self.begin_in_turn().await?;
        let row = sqlx::query(
            "UPDATE notifications SET status = $1, last_error = COALESCE($2, last_error),
               next_attempt_at = COALESCE($3, next_attempt_at),
               sent_at = CASE WHEN $1 = 'sent' THEN $4 ELSE sent_at END,
               claimed_by = NULL, claimed_until = NULL
             WHERE id = $5 AND status = 'sending' AND claimed_by = $6
             RETURNING alert_id, channel, target, attempts",
        )
        .bind(status)
        .bind(error)
        .bind(retry_at.map(ms))
        .bind(ms(at))
        .bind(id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(false);
        };
        let alert = AlertId(row.try_get("alert_id")?);
        let detail = serde_json::json!({
            "notification": id,
            "channel": row.try_get::<String, _>("channel")?,
            "attempt": row.try_get::<i64, _>("attempts")?,
            "result": status,
            "error": error,
        });
        insert_event(&mut tx, alert, AlertEventKind::Delivery, None, &detail, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// An alert's notifications, oldest first.
    pub async fn list_notifications(
        &self,
        alert: AlertId,
    ) -> Result<Vec<Notification>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE alert_id = $1 ORDER BY id"
        )))
        .bind(alert.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notification_from).collect()
    }
}

/// Inserts notification rows; returns those inserted claimed by `claim` (rows of its channels
/// that are due at once), for the caller to hand to its worker.
pub(super) async fn insert_notifications(
    tx: &mut Transaction<'_, Any>,
    alert: AlertId,
    notify: &[NewNotification],
    at: DateTime<Utc>,
    claim: Option<&Claim>,
) -> Result<Vec<Notification>, StorageError> {
    let mut claimed = Vec::new();
    // All of them in one statement (a team's responders on two channels are a dozen rows, each
    // a round trip to PostgreSQL inside the alert's transaction when inserted one by one).
    for rows in notify.chunks(NOTIFICATIONS_PER_INSERT) {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(insert_notifications_sql(rows.len())));
        for n in rows {
            let ours = claim.filter(|c| c.channels.contains(&n.channel) && n.not_before <= at);
            query = query
                .bind(alert.0)
                .bind(n.channel.as_str())
                .bind(&n.target)
                .bind(n.body.to_string())
                .bind(if ours.is_some() { "sending" } else { "pending" })
                .bind(i64::from(ours.is_some()))
                .bind(ms(n.not_before))
                .bind(ms(at))
                .bind(ours.map(|c| c.worker.as_str()))
                .bind(ours.map(|c| ms(c.until)));
        }
        // Only rows inserted claimed carry a worker: those are the caller's.
        for row in query.fetch_all(&mut **tx).await? {
            let n = notification_from(&row)?;
            if n.claimed_by.is_some() {
                claimed.push(n);
            }
        }
    }
    // In the order they were given (ids are taken row by row), whatever order RETURNING used.
    claimed.sort_by_key(|n| n.id);
    Ok(claimed)
}

/// Most notification rows per INSERT (10 parameters each).
const NOTIFICATIONS_PER_INSERT: usize = 256;

/// The INSERT of `rows` notifications, returning them.
fn insert_notifications_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO notifications (alert_id, channel, target, body, status, attempts, next_attempt_at, created_at, claimed_by, claimed_until) VALUES ",
    );
    super::push_values(&mut sql, rows, 10, true);
    sql.push_str(" RETURNING ");
    sql.push_str(NOTIFICATION_COLUMNS);
    sql
}

/// Cancels what has not gone out yet; returns how many.
pub(super) async fn cancel_pending(
    tx: &mut Transaction<'_, Any>,
    alert: AlertId,
) -> Result<u64, StorageError> {
    let done = sqlx::query(
        "UPDATE notifications SET status = 'cancelled', claimed_by = NULL, claimed_until = NULL
         WHERE alert_id = $1 AND status IN ('pending', 'sending')",
    )
    .bind(alert.0)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

fn notification_from(r: &AnyRow) -> Result<Notification, StorageError> {
    Ok(Notification {
        id: r.try_get("id")?,
        alert: AlertId(r.try_get("alert_id")?),
        channel: parsed(r, "channel")?,
        target: r.try_get("target")?,
        body: json(r, "body")?,
        status: parsed(r, "status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: time(r.try_get("next_attempt_at")?)?,
        claimed_by: r.try_get("claimed_by")?,
        claimed_until: opt_time(r.try_get("claimed_until")?)?,
        last_error: r.try_get("last_error")?,
        created_at: time(r.try_get("created_at")?)?,
        sent_at: opt_time(r.try_get("sent_at")?)?,
    })
}
