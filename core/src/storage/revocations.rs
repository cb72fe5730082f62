//! Revoked MQTT logins, for the embedded broker to drop their open connections.
//!
//! The store methods that revoke a credential write the row in the same transaction as the change
//! (see [`Store::set_device_enabled`], [`Store::update_device_secret`], the partner token
//! revocations): no path that revokes can forget to tell the broker.

use super::{StorageError, Store, ms};
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};

/// A revoked login, as the broker reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRevocation {
    /// Position in the feed: read on after it.
    pub id: i64,
    /// The MQTT client id (= username) to drop.
    pub client_id: String,
    /// Why, for the log: `device.disabled`, `device.secret`, `partner.token`, …
    pub reason: String,
}

/// Records that `client_id`'s login was revoked, inside the caller's transaction.
pub(super) async fn revoke_login(
    tx: &mut Transaction<'_, Any>,
    client_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    sqlx::query("INSERT INTO login_revocations (client_id, reason, at) VALUES ($1, $2, $3)")
        .bind(client_id)
        .bind(reason)
        .bind(ms(now))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Where the revocation feed ends now: a broker that starts reads on from here (connections
    /// made before it started do not exist).
    pub async fn login_revocations_head(&self) -> Result<i64, StorageError> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS head FROM login_revocations")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("head")?)
    }

    /// Revocations after `after`, oldest first, at most `limit`.
    pub async fn login_revocations_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<LoginRevocation>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, client_id, reason FROM login_revocations WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LoginRevocation {
                    id: r.try_get("id")?,
                    client_id: r.try_get("client_id")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }
}
