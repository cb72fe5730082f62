//! The reads behind the responders' desk (the dashboard's alert list and pages): a cheap marker
//! that moves whenever any alert changes, counts per state, the homes of devices, and residents'
//! names for a list — the one read here that touches personal data, audited like every other.

use super::{StorageError, Store, parsed};
use crate::domain::{
    Actor, AlertKind, AlertState, DeviceId, DistrictId, NewAuditEntry, ResidentId,
};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// A number that grows whenever an alert is opened, joined, told, acknowledged, escalated,
    /// routed, noted or resolved (the last timeline entry's id): a live view re-reads when it moves.
    pub async fn alert_change_marker(&self) -> Result<i64, StorageError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS m FROM alert_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("m")?)
    }

    /// How many alerts are in each state, of one district (`None`: all; `triage_only`: those
    /// without a district) and optionally one kind.
    pub async fn count_alerts_by_state(
        &self,
        district: Option<&DistrictId>,
        triage_only: bool,
        kind: Option<AlertKind>,
    ) -> Result<HashMap<AlertState, i64>, StorageError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM alerts
             WHERE ($1 = '' OR district_id = $1) AND ($2 = 0 OR district_id IS NULL)
               AND ($3 = '' OR kind = $3)
             GROUP BY state",
        )
        .bind(district.map(DistrictId::as_str).unwrap_or(""))
        .bind(triage_only as i64)
        .bind(kind.map(AlertKind::as_str).unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        let mut counts = HashMap::new();
        for row in &rows {
            counts.insert(parsed::<AlertState>(row, "state")?, row.try_get("n")?);
        }
        Ok(counts)
    }

    /// The resident whose home each of `devices` is in (devices in stock are left out). Ids
    /// only: not a view of anyone's record.
    pub async fn device_homes(
        &self,
        devices: &[DeviceId],
    ) -> Result<HashMap<DeviceId, ResidentId>, StorageError> {
        let mut homes = HashMap::new();
        for chunk in devices.chunks(500) {
            let sql = format!(
                "SELECT id, resident_id FROM devices WHERE resident_id IS NOT NULL AND id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for d in chunk {
                q = q.bind(d.as_str());
            }
            for row in q.fetch_all(&self.pool).await? {
                homes.insert(parsed(&row, "id")?, parsed(&row, "resident_id")?);
            }
        }
        Ok(homes)
    }

    /// The names of `residents`, for a list shown to `actor` (whose team may see them): one
    /// audited view, `resident.names`, naming whose names were shown. Nothing is read or audited
    /// for an empty list.
    pub async fn resident_names(
        &self,
        residents: &[ResidentId],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<HashMap<ResidentId, String>, StorageError> {
        let mut names = HashMap::new();
        if residents.is_empty() {
            return Ok(names);
        }
        for chunk in residents.chunks(500) {
            let sql = format!(
                "SELECT id, name FROM residents WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q.bind(r.as_str());
            }
            for row in q.fetch_all(&self.pool).await? {
                names.insert(parsed(&row, "id")?, row.try_get("name")?);
            }
        }
        let mut shown: Vec<&str> = names.keys().map(ResidentId::as_str).collect();
        shown.sort_unstable();
        self.record_audit(&NewAuditEntry {
            actor: actor.clone(),
            action: "resident.names".into(),
            object_kind: "resident".into(),
            object_id: None,
            detail: serde_json::json!({ "residents": shown, "count": shown.len() }),
            at: now,
        })
        .await?;
        Ok(names)
    }
}
