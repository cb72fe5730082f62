//! Bulk reads that rebuild the alert service's state on start: who is watched and how, and the
//! latest of everything that matters to the rules. No names, addresses or notes are read here.

use super::{StorageError, Store, json, ms, parsed, time};
use crate::domain::{
    AlertKind, CheckinPolicy, DistrictId, Pause, ResidentId, SignalId, SignalKind,
};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// What the rules need of a resident.
#[derive(Debug, Clone)]
pub struct WatchProfile {
    pub resident: ResidentId,
    pub district: DistrictId,
    pub birth_year: i32,
    pub registered_at: DateTime<Utc>,
    pub policies: Vec<CheckinPolicy>,
}

impl Store {
    /// Every resident's district, registration time and check-in policies.
    pub async fn watch_profiles(&self) -> Result<Vec<WatchProfile>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, district_id, birth_year, created_at, policies FROM residents ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(profile_from).collect()
    }

    /// One resident's watch profile.
    pub async fn watch_profile(
        &self,
        resident: &ResidentId,
    ) -> Result<Option<WatchProfile>, StorageError> {
        let row = sqlx::query(
            "SELECT id, district_id, birth_year, created_at, policies FROM residents WHERE id = $1",
        )
        .bind(resident.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(profile_from).transpose()
    }

    /// Records that how a resident or device is watched changed, in the signal log, so that every
    /// alert service (in this process or another) re-reads it in order with the signals.
    pub async fn record_change(
        &self,
        subject: &crate::domain::Subject,
        what: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.insert_signal(&crate::domain::NewSignal {
            source: crate::domain::SignalSource::System,
            dedup_key: None,
            subject: Some(subject.clone()),
            kind: SignalKind::Change,
            body: serde_json::json!({ "change": what }),
            device_time: None,
            received_at: now,
            clock_skewed: false,
        })
        .await?;
        Ok(())
    }

    /// Replaces a resident's check-in policies (admins edit them as data).
    pub async fn set_policies(
        &self,
        resident: &ResidentId,
        policies: &[CheckinPolicy],
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let policies = serde_json::to_string(policies).expect("policies serialise");
        self.set_resident_json(resident, "policies", policies, now)
            .await
    }

    /// Every pause of every resident.
    pub async fn all_pauses(&self) -> Result<Vec<Pause>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM pauses ORDER BY resident_id, starts_at",
            super::residents::PAUSE_COLUMNS
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(super::residents::pause_from).collect()
    }

    /// The latest receipt time of a kind of signal, per subject key.
    pub async fn latest_signal_times(
        &self,
        kind: SignalKind,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StorageError> {
        let rows = sqlx::query("SELECT subject, MAX(received_at) AS at FROM signals WHERE kind = $1 AND subject IS NOT NULL GROUP BY subject")
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("subject")?, time(r.try_get("at")?)?)))
            .collect()
    }

    /// When each source (`device:…`) was last heard from.
    pub async fn latest_source_times(&self) -> Result<Vec<(String, DateTime<Utc>)>, StorageError> {
        let rows =
            sqlx::query("SELECT source, MAX(received_at) AS at FROM signals GROUP BY source")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("source")?, time(r.try_get("at")?)?)))
            .collect()
    }

    /// Each device's latest connection status (`online`/`offline`) and when it came.
    pub async fn latest_device_status(
        &self,
    ) -> Result<Vec<(String, String, DateTime<Utc>)>, StorageError> {
        let rows = sqlx::query(
            "SELECT s.source, s.body, s.received_at FROM signals s
             JOIN (SELECT source, MAX(id) AS id FROM signals WHERE kind = 'device_health' AND dedup_key IS NULL GROUP BY source) m
             ON s.id = m.id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let body: serde_json::Value = json(r, "body")?;
            if let Some(status) = body.get("status").and_then(|s| s.as_str()) {
                out.push((
                    r.try_get("source")?,
                    status.to_string(),
                    time(r.try_get("received_at")?)?,
                ));
            }
        }
        Ok(out)
    }

    /// When the latest alert of each kind was opened, per subject key.
    pub async fn latest_alert_times(
        &self,
    ) -> Result<Vec<(String, AlertKind, DateTime<Utc>)>, StorageError> {
        let rows = sqlx::query(
            "SELECT subject, kind, MAX(opened_at) AS at FROM alerts GROUP BY subject, kind",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("subject")?,
                    parsed(r, "kind")?,
                    time(r.try_get("at")?)?,
                ))
            })
            .collect()
    }

    /// The id of the newest signal (0 when there is none): where a new consumer starts following.
    pub async fn max_signal_id(&self) -> Result<SignalId, StorageError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM signals")
            .fetch_one(&self.pool)
            .await?;
        Ok(SignalId(row.try_get("id")?))
    }

    /// The last signal `consumer` has applied, if it saved one.
    pub async fn signal_cursor(&self, consumer: &str) -> Result<Option<SignalId>, StorageError> {
        let row = sqlx::query("SELECT signal_id FROM signal_cursors WHERE consumer = $1")
            .bind(consumer)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| r.try_get("signal_id"))
            .transpose()?
            .map(SignalId))
    }

    /// Saves how far `cursor.consumer` has got (never backwards).
    pub async fn save_signal_cursor(
        &self,
        cursor: &SignalCursor,
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let (mut tx, _turn) = self.begin_write().await?;
        save_cursor(&mut tx, cursor, at).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// How far a consumer of the signal log has got.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalCursor {
    pub consumer: String,
    pub signal: SignalId,
}

pub(super) async fn save_cursor(
    conn: &mut sqlx::AnyConnection,
    cursor: &SignalCursor,
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO signal_cursors (consumer, signal_id, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (consumer) DO UPDATE SET signal_id = excluded.signal_id, updated_at = excluded.updated_at
         WHERE signal_cursors.signal_id < excluded.signal_id",
    )
    .bind(&cursor.consumer)
    .bind(cursor.signal.0)
    .bind(ms(at))
    .execute(conn)
    .await?;
    Ok(())
}

fn profile_from(r: &sqlx::any::AnyRow) -> Result<WatchProfile, StorageError> {
    Ok(WatchProfile {
        resident: parsed(r, "id")?,
        district: parsed(r, "district_id")?,
        birth_year: r.try_get::<i64, _>("birth_year")? as i32,
        registered_at: time(r.try_get("created_at")?)?,
        policies: json(r, "policies")?,
    })
}
