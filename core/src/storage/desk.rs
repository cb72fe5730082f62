//! The reads behind the responders' desk (the dashboard's alert list and pages): a cheap marker
//! that moves whenever any alert changes, counts per state, the homes of devices, and residents'
//! names for a list — the one read here that touches personal data, audited like every other.

use super::alerts::{ALERT_COLUMNS, alert_from};
use super::{StorageError, Store, ms, parsed, time};
use crate::domain::{
    Actor, Alert, AlertKind, AlertState, DeviceId, DistrictId, NewAuditEntry, PartnerKind,
    ResidentId, SignalSource, Subject,
};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::HashMap;

/// What was last heard from a device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceSeen {
    /// Its last signal of any kind.
    pub last_signal: Option<DateTime<Utc>>,
    /// The battery level (%) it last reported, and when.
    pub battery: Option<(i64, DateTime<Utc>)>,
    /// Its last connection status (`online` / `offline`, from the broker's last will).
    pub status: Option<String>,
}

/// What the city's figures need of an alert: no subject, no summary, no detail.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertTimes {
    pub district: Option<DistrictId>,
    pub kind: AlertKind,
    pub state: AlertState,
    pub outcome: Option<crate::domain::Outcome>,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
}

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

    /// How many signs of life (activity, 元気です, the call button) of `subject` were received in
    /// each hour of `[from, to)`: by the hour's index since the epoch (`ms / 3 600 000`); hours
    /// without any are left out. Part of a view of the resident's record, which its caller audits.
    pub async fn activity_per_hour(
        &self,
        subject: &Subject,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<HashMap<i64, i64>, StorageError> {
        let rows = sqlx::query(
            "SELECT received_at / 3600000 AS h, COUNT(*) AS n FROM signals
             WHERE subject = $1 AND kind IN ('activity', 'checkin', 'emergency')
               AND received_at >= $2 AND received_at < $3
             GROUP BY received_at / 3600000",
        )
        .bind(subject.key())
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await?;
        let mut hours = HashMap::new();
        for row in &rows {
            hours.insert(row.try_get::<i64, _>("h")?, row.try_get::<i64, _>("n")?);
        }
        Ok(hours)
    }

    /// What was last heard from `device` (in `resident`'s home, whose signals it files them
    /// under): its last signal, battery level and connection status. No personal data.
    pub async fn device_seen(
        &self,
        resident: Option<&ResidentId>,
        device: &DeviceId,
    ) -> Result<DeviceSeen, StorageError> {
        let subjects = [
            resident
                .map(|r| Subject::Resident(r.clone()).key())
                .unwrap_or_default(),
            Subject::Device(device.clone()).key(),
        ];
        let source = format!("device:{device}");
        let latest = |extra: &'static str| {
            let sql = format!(
                "SELECT received_at, body FROM signals
                 WHERE subject IN ($1, $2) AND source = $3 {extra}
                 ORDER BY received_at DESC, id DESC LIMIT 1"
            );
            let q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(subjects[0].clone())
                .bind(subjects[1].clone())
                .bind(source.clone());
            async move { q.fetch_optional(&self.pool).await }
        };
        let mut seen = DeviceSeen::default();
        if let Some(row) = latest("").await? {
            seen.last_signal = Some(time(row.try_get("received_at")?)?);
        }
        if let Some(row) = latest("AND body LIKE '%\"battery\"%'").await? {
            let body: serde_json::Value =
                serde_json::from_str(&row.try_get::<String, _>("body")?).unwrap_or_default();
            if let Some(level) = body["battery"].as_i64() {
                seen.battery = Some((level, time(row.try_get("received_at")?)?));
            }
        }
        if let Some(row) = latest("AND body LIKE '%\"status\"%'").await? {
            let body: serde_json::Value =
                serde_json::from_str(&row.try_get::<String, _>("body")?).unwrap_or_default();
            seen.status = body["status"].as_str().map(str::to_string);
        }
        Ok(seen)
    }

    /// The alerts about any of `subjects` (a resident and the devices in their home), newest
    /// first, at most `limit`.
    pub async fn alerts_about(
        &self,
        subjects: &[Subject],
        limit: i64,
    ) -> Result<Vec<Alert>, StorageError> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE subject IN ({}) ORDER BY opened_at DESC, id DESC LIMIT ${}",
            placeholders(1, subjects.len()),
            subjects.len() + 1
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in subjects {
            q = q.bind(s.key());
        }
        let rows = q.bind(limit).fetch_all(&self.pool).await?;
        rows.iter().map(alert_from).collect()
    }

    /// Every alert opened in `[from, to)`, as the city's figures count them (no personal data).
    pub async fn alert_times(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertTimes>, StorageError> {
        let rows = sqlx::query(
            "SELECT district_id, kind, state, outcome, opened_at, acknowledged_at, resolved_at
             FROM alerts WHERE opened_at >= $1 AND opened_at < $2",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AlertTimes {
                    district: super::opt_parsed(r, "district_id")?,
                    kind: parsed(r, "kind")?,
                    state: parsed(r, "state")?,
                    outcome: super::opt_parsed(r, "outcome")?,
                    opened_at: time(r.try_get("opened_at")?)?,
                    acknowledged_at: super::opt_time(r.try_get("acknowledged_at")?)?,
                    resolved_at: super::opt_time(r.try_get("resolved_at")?)?,
                })
            })
            .collect()
    }

    /// The partners' reports that reached an alert from `from` to `to` — each concern alert's
    /// first report and each that joined it — as the district of the alert (`None`: triage) and
    /// the kind of the partner who sent it (a partner no longer registered: その他). For the
    /// city's figures: nothing else of a report is read out of the store.
    pub async fn concern_reports(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(Option<DistrictId>, PartnerKind)>, StorageError> {
        let kinds: HashMap<String, PartnerKind> = sqlx::query("SELECT id, kind FROM partners")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("id")?, parsed(r, "kind")?)))
            .collect::<Result<_, StorageError>>()?;
        let rows = sqlx::query(
            "SELECT a.district_id, e.detail FROM alert_events e JOIN alerts a ON a.id = e.alert_id
             WHERE a.kind = 'concern' AND e.kind IN ('created', 'joined')
               AND e.at >= $1 AND e.at < $2",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await?;
        let mut reports = Vec::new();
        for r in &rows {
            let detail: String = r.try_get("detail")?;
            let detail: serde_json::Value = serde_json::from_str(&detail).unwrap_or_default();
            if detail["rule"] != "concern" {
                continue;
            }
            let Some(SignalSource::Partner(partner)) = detail["source"]
                .as_str()
                .and_then(|s| SignalSource::parse_key(s).ok())
            else {
                continue;
            };
            let kind = kinds
                .get(partner.as_str())
                .copied()
                .unwrap_or(PartnerKind::Other);
            reports.push((super::opt_parsed(r, "district_id")?, kind));
        }
        Ok(reports)
    }
}
