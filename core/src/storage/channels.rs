//! What the people channels keep: one-time codes that link a responder to a Telegram chat, the
//! bot's messages about each alert (to edit them later), used email acknowledgement links, and
//! small named platform values (the link signing key, Telegram's update offset).

use super::teams::{RESPONDER_COLUMNS, responder_from};
use super::{StorageError, Store, ms, time};
use crate::domain::{
    Actor, AlertId, Contact, NewAuditEntry, ResidentId, Responder, ResponderId, TeamId,
};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// What [`Store::use_link_code`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkCodeResult {
    /// The chat is now the responder's.
    Linked(Responder),
    /// No such code, already used, or expired: nothing changed.
    Refused,
}

/// A message the bot sent about an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct TelegramMessage {
    pub chat_id: i64,
    pub message_id: i64,
    pub alert: AlertId,
    pub responder: Option<ResponderId>,
    pub sent_at: DateTime<Utc>,
}

impl Store {
    /// Stores a one-time code (its hash) that links `responder` to the chat that sends it.
    pub async fn add_link_code(
        &self,
        responder: &ResponderId,
        code_hash: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO link_codes (code_hash, responder_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(code_hash)
        .bind(responder.as_str())
        .bind(ms(expires_at))
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(|e| super::constraint(e, &format!("link code of responder {responder}")))?;
        Ok(())
    }

    /// Uses a link code: claimed once (`UPDATE … WHERE used_at IS NULL`), then the responder's
    /// Telegram chat and user are set, with an audit entry — all in one transaction.
    pub async fn use_link_code(
        &self,
        code_hash: &str,
        chat_id: i64,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<LinkCodeResult, StorageError> {
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "UPDATE link_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING responder_id",
        )
        .bind(ms(now))
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = claimed else {
            tx.rollback().await?;
            return Ok(LinkCodeResult::Refused);
        };
        let responder: String = row.try_get("responder_id")?;
        // The Telegram user moves to this responder: one user acts for one responder.
        sqlx::query("UPDATE responders SET telegram_user_id = NULL WHERE telegram_user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE responders SET telegram_chat_id = $1, telegram_user_id = $2 WHERE id = $3",
        )
        .bind(chat_id)
        .bind(user_id)
        .bind(&responder)
        .execute(&mut *tx)
        .await?;
        self.audit_in(
            &mut tx,
            NewAuditEntry {
                actor: Actor::responder(&responder),
                action: "responder.telegram_link".into(),
                object_kind: "responder".into(),
                object_id: Some(responder.clone()),
                detail: serde_json::json!({ "via": "telegram" }),
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        let id = ResponderId::parse(responder).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        Ok(LinkCodeResult::Linked(self.get_responder(&id).await?))
    }

    /// The active responder a Telegram user acts for.
    pub async fn responder_by_telegram_user(
        &self,
        user_id: i64,
    ) -> Result<Option<Responder>, StorageError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESPONDER_COLUMNS} FROM responders WHERE telegram_user_id = $1 AND active = 1"
        )))
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(responder_from).transpose()
    }

    /// Active responders of a team.
    pub async fn team_responders(&self, team: &TeamId) -> Result<Vec<Responder>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESPONDER_COLUMNS} FROM responders WHERE team_id = $1 AND active = 1 ORDER BY id"
        )))
        .bind(team.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(responder_from).collect()
    }

    /// Remembers a message the bot sent about an alert.
    pub async fn record_telegram_message(&self, m: &TelegramMessage) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO telegram_messages (chat_id, message_id, alert_id, responder_id, sent_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (chat_id, message_id) DO NOTHING",
        )
        .bind(m.chat_id)
        .bind(m.message_id)
        .bind(m.alert.0)
        .bind(m.responder.as_ref().map(ResponderId::as_str))
        .bind(ms(m.sent_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The bot's messages about an alert, oldest first.
    pub async fn telegram_messages(
        &self,
        alert: AlertId,
    ) -> Result<Vec<TelegramMessage>, StorageError> {
        let rows = sqlx::query(
            "SELECT chat_id, message_id, alert_id, responder_id, sent_at FROM telegram_messages WHERE alert_id = $1 ORDER BY sent_at, message_id",
        )
        .bind(alert.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let responder: Option<String> = r.try_get("responder_id")?;
                Ok(TelegramMessage {
                    chat_id: r.try_get("chat_id")?,
                    message_id: r.try_get("message_id")?,
                    alert: AlertId(r.try_get("alert_id")?),
                    responder: responder
                        .map(ResponderId::parse)
                        .transpose()
                        .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                    sent_at: time(r.try_get("sent_at")?)?,
                })
            })
            .collect()
    }

    /// Marks an email link (by its nonce) used. False if it had been used before: a link works
    /// once, even when two requests race.
    pub async fn use_link(
        &self,
        nonce: &str,
        alert: AlertId,
        responder: &ResponderId,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "INSERT INTO used_links (nonce, alert_id, responder_id, used_at) VALUES ($1, $2, $3, $4) ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce)
        .bind(alert.0)
        .bind(responder.as_str())
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether an email link (by its nonce) has been used.
    pub async fn link_used(&self, nonce: &str) -> Result<bool, StorageError> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM used_links WHERE nonce = $1")
                .bind(nonce)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// A named platform value.
    pub async fn platform_value(&self, name: &str) -> Result<Option<String>, StorageError> {
        let row = sqlx::query("SELECT value FROM platform_state WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get("value").map_err(StorageError::from))
            .transpose()
    }

    /// Sets a named platform value.
    pub async fn set_platform_value(
        &self,
        name: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        sqlx::query(
            "INSERT INTO platform_state (name, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value)
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The value of `name`, set to `make()` first if it has none. Every process sharing the
    /// database gets the same value, even when they race at first start.
    pub async fn platform_value_or_init(
        &self,
        name: &str,
        make: impl FnOnce() -> String,
        now: DateTime<Utc>,
    ) -> Result<String, StorageError> {
        sqlx::query(
            "INSERT INTO platform_state (name, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(make())
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        self.platform_value(name)
            .await?
            .ok_or_else(|| StorageError::Corrupt(format!("platform value {name} vanished")))
    }

    /// The contacts of a resident who consented to be told about alerts, and who can be reached
    /// by email. The read is audited: contacts are part of the resident's record.
    pub async fn consenting_contacts(
        &self,
        resident: &ResidentId,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Contact>, StorageError> {
        let row = sqlx::query("SELECT contacts FROM residents WHERE id = $1")
            .bind(resident.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(Vec::new());
        };
        let contacts: Vec<Contact> = super::json(&row, "contacts")?;
        let consenting: Vec<Contact> = contacts.into_iter().filter(|c| c.consent).collect();
        if !consenting.is_empty() {
            self.record_audit(&NewAuditEntry {
                actor: Actor("system:notify".into()),
                action: "resident.contacts_read".into(),
                object_kind: "resident".into(),
                object_id: Some(resident.to_string()),
                detail: serde_json::json!({ "purpose": purpose, "contacts": consenting.len() }),
                at: now,
            })
            .await?;
        }
        Ok(consenting)
    }
}
