//! Integrations' logins: other systems that read the alert stream, on MQTT (username = id,
//! password = secret) and over HTTP (`Authorization: Bearer` secret). Only the secret's SHA-256
//! is stored ([`crate::secret::token_hash`]).
//!
//! The lookups return disabled integrations too, with `enabled = false`: the caller refuses them
//! ([`Integration::accepts`] checks both the secret and `enabled`).

use super::revocations::revoke_login;
use super::{StorageError, Store, constraint, flag, ms, opt_parsed, opt_time, time};
use crate::domain::{Integration, NewIntegration};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

const INTEGRATION_COLUMNS: &str =
    "id, name, district_id, secret_hash, enabled, created_at, disabled_at";

impl Store {
    /// Registers an integration. Its id is also an MQTT username, so it may not be a device's.
    pub async fn add_integration(
        &self,
        new: &NewIntegration,
        now: DateTime<Utc>,
    ) -> Result<Integration, StorageError> {
        // One statement that writes: a transaction reading first and writing after would have
        // to upgrade its SQLite lock, which fails at once ("database is locked") when another
        // connection wrote in between.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO integrations (id, name, district_id, secret_hash, enabled, created_at)
             SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), 1, CAST($5 AS BIGINT)
             WHERE NOT EXISTS (SELECT 1 FROM devices WHERE id = CAST($1 AS TEXT))
             RETURNING {INTEGRATION_COLUMNS}"
        )))
        .bind(&new.id)
        .bind(&new.name)
        .bind(new.district.as_ref().map(|d| d.as_str()))
        .bind(&new.secret_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| constraint(e, &format!("integration {}", new.id)))?;
        match row {
            Some(row) => integration_from(&row),
            None => Err(StorageError::Conflict(format!(
                "integration {}: a device has this id (both log in to the broker by id)",
                new.id
            ))),
        }
    }

    /// The integration `id` (enabled or not); what the broker looks up for a login.
    pub async fn get_integration(&self, id: &str) -> Result<Option<Integration>, StorageError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(integration_from).transpose()
    }

    /// The integration whose secret is `token` (enabled or not): hashed here, looked up by hash.
    pub async fn integration_by_token(
        &self,
        token: &str,
    ) -> Result<Option<Integration>, StorageError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE secret_hash = $1"
        )))
        .bind(crate::secret::token_hash(token))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(integration_from).transpose()
    }

    /// Every integration, by id.
    pub async fn list_integrations(&self) -> Result<Vec<Integration>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INTEGRATION_COLUMNS} FROM integrations ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(integration_from).collect()
    }

    /// Disables an integration: its secret stops working at once. False if it already was.
    pub async fn disable_integration(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        self.get_integration(id)
            .await?
            .ok_or_else(|| StorageError::NotFound {
                what: "integration",
                id: id.to_string(),
            })?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE integrations SET enabled = 0, disabled_at = $1 WHERE id = $2 AND enabled = 1",
        )
        .bind(ms(now))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // Its open MQTT connection is dropped by the broker.
        revoke_login(&mut tx, id, "integration.disabled", now).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces an integration's secret (its hash): the old one stops working at once.
    pub async fn set_integration_secret(
        &self,
        id: &str,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE integrations SET secret_hash = $1 WHERE id = $2")
            .bind(secret_hash)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| constraint(e, &format!("secret of integration {id}")))?;
        super::changed_one(done, "integration", id)?;
        revoke_login(&mut tx, id, "integration.secret", now).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn integration_from(r: &AnyRow) -> Result<Integration, StorageError> {
    Ok(Integration {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        district: opt_parsed(r, "district_id")?,
        secret_hash: r.try_get("secret_hash")?,
        enabled: flag(r, "enabled")?,
        created_at: time(r.try_get("created_at")?)?,
        disabled_at: opt_time(r.try_get("disabled_at")?)?,
    })
}
