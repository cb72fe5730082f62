//! Dashboard sign-in sessions: a random token in the responder's cookie, stored as its SHA-256,
//! with an expiry and a form token (CSRF) that state-changing forms must send back. A session
//! counts only while its responder is active.

use super::{StorageError, Store, ms, parsed};
use crate::domain::{Responder, ResponderId, Team};
use chrono::{DateTime, Utc};
use sqlx::Row;

impl Store {
    /// Opens a session for `responder` until `expires_at`.
    pub async fn create_web_session(
        &self,
        token_hash: &str,
        responder: &ResponderId,
        form_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        // Expired sessions are of no use to anyone: cleared as new ones open.
        sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
            .bind(ms(now))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, responder_id, form_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(responder.as_str())
        .bind(form_token)
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The active responder of an unexpired session, with their team and the session's form token.
    pub async fn web_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Responder, Team, String)>, StorageError> {
        let row = sqlx::query(
            "SELECT s.responder_id, s.form_token FROM web_sessions s JOIN responders r ON r.id = s.responder_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND r.active = 1",
        )
        .bind(token_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: ResponderId = parsed(&row, "responder_id")?;
        let form_token: String = row.try_get("form_token")?;
        let responder = self.get_responder(&id).await?;
        let team = self.get_team(&responder.team).await?;
        Ok(Some((responder, team, form_token)))
    }

    /// Ends a session (signing out).
    pub async fn end_web_session(&self, token_hash: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
