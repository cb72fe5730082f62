//! Whether a partner may send reports now — asked by the gateway, which learns the partner from the
//! topic its broker login may publish on (`mimamori/v1/partners/{id}/concerns`), not from a token.

use super::{StorageError, Store};
use crate::domain::PartnerId;
use sqlx::Row;

/// What the store knows of a partner id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerAccess {
    /// Nobody registered this id.
    Unknown,
    /// Registered, but every token of it is revoked: it can neither log in nor report.
    Disabled,
    /// Registered, with at least one token not revoked.
    Enabled,
}

impl Store {
    /// Whether partner `id` exists and holds a token not revoked — what the broker's login and
    /// the HTTP API ask of a partner too.
    pub async fn partner_access(&self, id: &PartnerId) -> Result<PartnerAccess, StorageError> {
        let row = sqlx::query(
            "SELECT COUNT(t.token_hash) AS tokens FROM partners p
             LEFT JOIN partner_tokens t ON t.partner_id = p.id AND t.revoked_at IS NULL
             WHERE p.id = $1 GROUP BY p.id",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => PartnerAccess::Unknown,
            Some(r) if r.try_get::<i64, _>("tokens")? == 0 => PartnerAccess::Disabled,
            Some(_) => PartnerAccess::Enabled,
        })
    }
}
