//! Alert timelines: every event of an alert (created, evidence, each delivery attempt, who
//! acknowledged, routed, linked or resolved it, notes) as an append-only list. State changes
//! write their event through [`insert_event`] in their own transaction; the outbox writes each
//! delivery result the same way.

use super::{StorageError, Store, json, ms, parsed, time};
use crate::domain::{Actor, AlertEvent, AlertEventKind, AlertId};
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};

impl Store {
    /// Adds a note to an alert's timeline.
    pub async fn add_alert_note(
        &self,
        id: AlertId,
        by: &Actor,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.record_alert_event(
            id,
            AlertEventKind::Note,
            Some(by),
            &serde_json::json!({ "text": text }),
            at,
        )
        .await
    }

    /// Adds any event to an alert's timeline (escalations, notifications decided…).
    pub async fn record_alert_event(
        &self,
        id: AlertId,
        kind: AlertEventKind,
        by: Option<&Actor>,
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        insert_event(&mut tx, id, kind, by, detail, at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An alert's timeline, oldest first.
    pub async fn alert_timeline(&self, id: AlertId) -> Result<Vec<AlertEvent>, StorageError> {
        let rows = sqlx::query("SELECT id, alert_id, at, kind, actor, detail FROM alert_events WHERE alert_id = $1 ORDER BY id")
            .bind(id.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AlertEvent {
                    id: r.try_get("id")?,
                    alert: AlertId(r.try_get("alert_id")?),
                    at: time(r.try_get("at")?)?,
                    kind: parsed(r, "kind")?,
                    actor: r.try_get("actor")?,
                    detail: json(r, "detail")?,
                })
            })
            .collect()
    }
}

pub(super) async fn insert_event(
    tx: &mut Transaction<'_, Any>,
    alert: AlertId,
    kind: AlertEventKind,
    by: Option<&Actor>,
    detail: &serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO alert_events (alert_id, at, kind, actor, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(alert.0)
    .bind(ms(at))
    .bind(kind.as_str())
    .bind(by.map(|a| a.0.clone()))
    .bind(detail.to_string())
    .execute(&mut **tx)
    .await
    .map_err(|e| super::constraint(e, &format!("event of alert {alert}")))?;
    Ok(())
}
