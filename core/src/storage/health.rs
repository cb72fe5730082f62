//! What operators watch (`/metrics`): whether the alert path is keeping up, read from
//! the store so that it holds whichever process runs which part — how far the alert service is
//! behind the signal log, what the outbox has waiting or has given up on, and the alerts nobody
//! has closed. Counts and ages only: no ids of people.

use super::{StorageError, Store, ms, time};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// The alert path at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct PathHealth {
    /// Signals stored after the alert service's saved cursor (`None`: it never started).
    pub signals_behind: Option<i64>,
    /// Notifications due now and not sent (pending, or claimed by a worker whose lease ran out).
    pub outbox_due: i64,
    /// When the oldest of them became due.
    pub outbox_oldest_due: Option<DateTime<Utc>>,
    /// Notifications that failed permanently (each flagged as an alert to the operators).
    pub notifications_failed: i64,
    /// Alerts not resolved, by kind and state.
    pub unresolved: Vec<(String, String, i64)>,
}

impl Store {
    /// The alert path's figures as of `now`, for the consumer `cursor_of` (the alert service).
    pub async fn path_health(
        &self,
        cursor_of: &str,
        now: DateTime<Utc>,
    ) -> Result<PathHealth, StorageError> {
        let behind = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM signals) - c.signal_id AS behind
             FROM signal_cursors c WHERE c.consumer = $1",
        )
        .bind(cursor_of)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| r.try_get::<i64, _>("behind"))
        .transpose()?;
        let due = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n, MIN(CASE WHEN status = 'pending' THEN next_attempt_at ELSE claimed_until END) AS oldest
             FROM notifications WHERE {}",
            super::outbox::DUE
        )))
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        let failed = sqlx::query("SELECT COUNT(*) AS n FROM notifications WHERE status = 'failed'")
            .fetch_one(&self.pool)
            .await?;
        let unresolved = sqlx::query(
            "SELECT kind, state, COUNT(*) AS n FROM alerts WHERE state <> 'resolved'
             GROUP BY kind, state ORDER BY kind, state",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("kind")?, r.try_get("state")?, r.try_get("n")?)))
        .collect::<Result<_, sqlx::Error>>()?;
        Ok(PathHealth {
            signals_behind: behind,
            outbox_due: due.try_get("n")?,
            outbox_oldest_due: due
                .try_get::<Option<i64>, _>("oldest")?
                .map(time)
                .transpose()?,
            notifications_failed: failed.try_get("n")?,
            unresolved,
        })
    }
}
