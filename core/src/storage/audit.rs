//! The audit log.

use super::{StorageError, Store, json, ms, time};
use crate::domain::{AuditEntry, NewAuditEntry};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

/// Which audit entries to read (the admin's audit log page): every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Text the actor contains (`responder:p-…`, `cli:…`, `system`).
    pub actor: Option<String>,
    /// How the action begins: `device.` for every device change, `device.add` for one.
    pub action: Option<String>,
    /// From this instant (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// Before this instant.
    pub until: Option<DateTime<Utc>>,
}

/// `text` as a LIKE pattern matching itself (`\` escapes `%`, `_` and itself).
fn like_literal(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

impl Store {
    /// Writes an audit entry.
    pub async fn record_audit(&self, e: &NewAuditEntry) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        self.audit_in(&mut tx, e.clone()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes an audit entry inside a transaction, so it stands or falls with the change.
    pub(crate) async fn audit_in(
        &self,
        tx: &mut Transaction<'_, Any>,
        e: NewAuditEntry,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor, action, object_kind, object_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(ms(e.at))
        .bind(e.actor.0)
        .bind(e.action)
        .bind(e.object_kind)
        .bind(e.object_id)
        .bind(e.detail.to_string())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Audit entries about one kind of object (and optionally one object), newest first.
    pub async fn list_audit(
        &self,
        object_kind: &str,
        object_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, object_kind, object_id, detail FROM audit_log
             WHERE object_kind = $1 AND ($2 = '' OR object_id = $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(object_kind)
        .bind(object_id.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from).collect()
    }

    /// Audit entries that `filter` lets through, newest first: `limit` of them after skipping
    /// `offset` (a page of the audit log).
    pub async fn search_audit(
        &self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let actor = filter
            .actor
            .as_deref()
            .map(|a| format!("%{}%", like_literal(a)))
            .unwrap_or_else(|| "%".into());
        let action = filter
            .action
            .as_deref()
            .map(|a| format!("{}%", like_literal(a)))
            .unwrap_or_else(|| "%".into());
        let rows = sqlx::query(
            "SELECT id, at, actor, action, object_kind, object_id, detail FROM audit_log
             WHERE actor LIKE $1 ESCAPE '\\' AND action LIKE $2 ESCAPE '\\' AND at >= $3 AND at < $4
             ORDER BY id DESC LIMIT $5 OFFSET $6",
        )
        .bind(actor)
        .bind(action)
        .bind(filter.from.map(ms).unwrap_or(i64::MIN))
        .bind(filter.until.map(ms).unwrap_or(i64::MAX))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from).collect()
    }
}

fn entry_from(r: &AnyRow) -> Result<AuditEntry, StorageError> {
    Ok(AuditEntry {
        id: r.try_get("id")?,
        at: time(r.try_get("at")?)?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        object_kind: r.try_get("object_kind")?,
        object_id: r.try_get("object_id")?,
        detail: json(r, "detail")?,
    })
}
