//! Devices and partner organisations, with their credentials (hashes only).

use super::revocations::revoke_login;
use super::{StorageError, Store, constraint, flag, ms, opt_parsed, parsed, time};
use crate::domain::{Device, DeviceId, NewDevice, NewPartner, Partner, PartnerId, ResidentId};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

impl Store {
    /// Registers a device with the hash of its secret.
    pub async fn add_device(
        &self,
        d: &NewDevice,
        now: DateTime<Utc>,
    ) -> Result<Device, StorageError> {
        if d.heartbeat_interval_s <= 0 {
            return Err(StorageError::Conflict(
                "heartbeat interval must be positive".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO devices (id, resident_id, kind, label, external_id, secret_hash, mac_key, heartbeat_interval_s, enabled, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)",
        )
        .bind(d.id.as_str())
        .bind(d.resident.as_ref().map(ResidentId::as_str))
        .bind(d.kind.as_str())
        .bind(d.label.as_deref())
        .bind(d.external_id.as_deref())
        .bind(&d.secret_hash)
        .bind(&d.mac_key)
        .bind(d.heartbeat_interval_s)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(|e| constraint(e, &format!("device {}", d.id)))?;
        self.get_device(&d.id)
            .await?
            .ok_or_else(|| StorageError::NotFound {
                what: "device",
                id: d.id.to_string(),
            })
    }

    /// A device by id, with its secret hash (for authentication).
    pub async fn get_device(&self, id: &DeviceId) -> Result<Option<Device>, StorageError> {
        sqlx::query(
            "SELECT id, resident_id, kind, label, external_id, secret_hash, mac_key, heartbeat_interval_s, enabled, created_at FROM devices WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(device_from)
        .transpose()
    }

    /// A device by its name in a foreign system (e.g. `z2m:hallway_door`).
    pub async fn get_device_by_external_id(
        &self,
        external_id: &str,
    ) -> Result<Option<Device>, StorageError> {
        sqlx::query(
            "SELECT id, resident_id, kind, label, external_id, secret_hash, mac_key, heartbeat_interval_s, enabled, created_at FROM devices WHERE external_id = $1",
        )
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(device_from)
        .transpose()
    }

    /// Devices, optionally of one resident.
    pub async fn list_devices(
        &self,
        resident: Option<&ResidentId>,
    ) -> Result<Vec<Device>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, resident_id, kind, label, external_id, secret_hash, mac_key, heartbeat_interval_s, enabled, created_at
             FROM devices WHERE $1 = '' OR resident_id = $1 ORDER BY id",
        )
        .bind(resident.map(ResidentId::as_str).unwrap_or(""))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(device_from).collect()
    }

    /// Gives a device a new secret (its password hash and MAC key); the old one stops working,
    /// and a connection made with it is dropped (see [`super::revocations`]).
    pub async fn update_device_secret(
        &self,
        id: &DeviceId,
        secret_hash: &str,
        mac_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE devices SET secret_hash = $1, mac_key = $2 WHERE id = $3")
            .bind(secret_hash)
            .bind(mac_key)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        super::changed_one(done, "device", id)?;
        revoke_login(&mut tx, id.as_str(), "device.secret", now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a device's stored password hash by `new_hash` if it is still `old_hash` (the
    /// broker moving a verified argon2 hash to the fast form); false when it changed meanwhile.
    pub async fn upgrade_device_secret_hash(
        &self,
        id: &DeviceId,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StorageError> {
        let done =
            sqlx::query("UPDATE devices SET secret_hash = $1 WHERE id = $2 AND secret_hash = $3")
                .bind(new_hash)
                .bind(id.as_str())
                .bind(old_hash)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Enables or disables a device: a disabled device's connections are refused, and its open
    /// connection is dropped.
    pub async fn set_device_enabled(
        &self,
        id: &DeviceId,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE devices SET enabled = $1 WHERE id = $2")
            .bind(enabled as i64)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        super::changed_one(done, "device", id)?;
        if !enabled {
            revoke_login(&mut tx, id.as_str(), "device.disabled", now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Registers a partner with the hash of its first API token.
    pub async fn add_partner(
        &self,
        p: &NewPartner,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Partner, StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO partners (id, name, kind, agreement, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(p.id.as_str())
            .bind(&p.name)
            .bind(p.kind.as_str())
            .bind(p.agreement.as_deref())
            .bind(ms(now))
            .execute(&mut *tx)
            .await
            .map_err(|e| constraint(e, &format!("partner {}", p.id)))?;
        sqlx::query(
            "INSERT INTO partner_tokens (token_hash, partner_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(p.id.as_str())
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint(e, "partner token"))?;
        tx.commit().await?;
        self.get_partner(&p.id).await
    }

    /// Adds another API token to a partner (rotation: add the new one, then revoke the old).
    pub async fn add_partner_token(
        &self,
        partner: &PartnerId,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO partner_tokens (token_hash, partner_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(partner.as_str())
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(|e| constraint(e, &format!("token of partner {partner}")))?;
        Ok(())
    }

    /// Revokes a token; it no longer authenticates.
    pub async fn revoke_partner_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        let revoked = sqlx::query("UPDATE partner_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL RETURNING partner_id")
            .bind(ms(now))
            .bind(token_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = revoked else {
            return Err(StorageError::NotFound {
                what: "partner token",
                id: "(hash)".into(),
            });
        };
        let partner: String = row.try_get("partner_id")?;
        revoke_login(&mut tx, &partner, "partner.token", now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes every token of `partner` but `keep` (a hash): how a leaked token is replaced.
    /// Returns how many were revoked.
    pub async fn revoke_other_partner_tokens(
        &self,
        partner: &PartnerId,
        keep: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE partner_tokens SET revoked_at = $1
             WHERE partner_id = $2 AND token_hash <> $3 AND revoked_at IS NULL",
        )
        .bind(ms(now))
        .bind(partner.as_str())
        .bind(keep)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() > 0 {
            revoke_login(&mut tx, partner.as_str(), "partner.token", now).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// The partner a token (given as its hash) belongs to, unless revoked.
    pub async fn partner_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<Partner>, StorageError> {
        sqlx::query(
            "SELECT p.id, p.name, p.kind, p.agreement, p.created_at FROM partners p
             JOIN partner_tokens t ON t.partner_id = p.id WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(partner_from)
        .transpose()
    }

    pub async fn get_partner(&self, id: &PartnerId) -> Result<Partner, StorageError> {
        let row =
            sqlx::query("SELECT id, name, kind, agreement, created_at FROM partners WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StorageError::NotFound {
                    what: "partner",
                    id: id.to_string(),
                })?;
        partner_from(&row)
    }

    pub async fn list_partners(&self) -> Result<Vec<Partner>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, name, kind, agreement, created_at FROM partners ORDER BY name, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(partner_from).collect()
    }
}

fn device_from(r: &AnyRow) -> Result<Device, StorageError> {
    Ok(Device {
        id: parsed(r, "id")?,
        resident: opt_parsed(r, "resident_id")?,
        kind: parsed(r, "kind")?,
        label: r.try_get("label")?,
        external_id: r.try_get("external_id")?,
        heartbeat_interval_s: r.try_get("heartbeat_interval_s")?,
        enabled: flag(r, "enabled")?,
        created_at: time(r.try_get("created_at")?)?,
        secret_hash: r.try_get("secret_hash")?,
        mac_key: r.try_get("mac_key")?,
    })
}

fn partner_from(r: &AnyRow) -> Result<Partner, StorageError> {
    Ok(Partner {
        id: parsed(r, "id")?,
        name: r.try_get("name")?,
        kind: parsed(r, "kind")?,
        agreement: r.try_get("agreement")?,
        created_at: time(r.try_get("created_at")?)?,
    })
}
