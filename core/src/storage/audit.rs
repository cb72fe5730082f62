//! The audit log.

use super::{StorageError, Store, json, ms, time};
use crate::domain::{AuditEntry, NewAuditEntry};
use sqlx::{Any, Row, Transaction};

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
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: time(r.try_get("at")?)?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    object_kind: r.try_get("object_kind")?,
                    object_id: r.try_get("object_id")?,
                    detail: json(r, "detail")?,
                })
            })
            .collect()
    }
}
