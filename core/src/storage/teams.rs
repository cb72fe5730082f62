//! Districts, teams and responders.

use super::{StorageError, Store, constraint, flag, ms, opt_parsed, parsed, time};
use crate::domain::{
    District, DistrictId, Email, NewResponder, NewTeam, OfficeHours, Responder, ResponderId, Role,
    Team, TeamId,
};
use crate::registry::Registry;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

pub(super) const RESPONDER_COLUMNS: &str = "id, team_id, name, email, telegram_chat_id, telegram_user_id, office_hours, role, active, created_at";

impl Store {
    /// Writes the registry's districts (updating names) and creates its default teams where
    /// missing (teams renamed by an admin keep their names).
    pub async fn seed_registry(
        &self,
        registry: &Registry,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        for d in &registry.districts {
            sqlx::query(
                "INSERT INTO districts (id, name, reading, confirmed, position) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, reading = excluded.reading,
                   confirmed = excluded.confirmed, position = excluded.position",
            )
            .bind(d.id.as_str())
            .bind(&d.name)
            .bind(d.reading.as_deref())
            .bind(d.confirmed as i64)
            .bind(d.position)
            .execute(&mut *tx)
            .await?;
        }
        for t in registry.default_teams() {
            sqlx::query(
                "INSERT INTO teams (id, kind, district_id, name, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(t.id.as_str())
            .bind(t.kind.as_str())
            .bind(t.district.as_ref().map(DistrictId::as_str))
            .bind(&t.name)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_districts(&self) -> Result<Vec<District>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, name, reading, confirmed, position FROM districts ORDER BY position, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(District {
                    id: parsed(r, "id")?,
                    name: r.try_get("name")?,
                    reading: r.try_get("reading")?,
                    confirmed: flag(r, "confirmed")?,
                    position: r.try_get("position")?,
                })
            })
            .collect()
    }

    pub async fn add_team(&self, team: &NewTeam, now: DateTime<Utc>) -> Result<Team, StorageError> {
        team.validate()
            .map_err(|e| StorageError::Conflict(e.to_string()))?;
        sqlx::query("INSERT INTO teams (id, kind, district_id, name, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(team.id.as_str())
            .bind(team.kind.as_str())
            .bind(team.district.as_ref().map(DistrictId::as_str))
            .bind(&team.name)
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(|e| constraint(e, &format!("team {}", team.id)))?;
        self.get_team(&team.id).await
    }

    pub async fn get_team(&self, id: &TeamId) -> Result<Team, StorageError> {
        let row = sqlx::query("SELECT id, kind, district_id, name FROM teams WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StorageError::NotFound {
                what: "team",
                id: id.to_string(),
            })?;
        team_from(&row)
    }

    /// Teams, optionally of one district (city-wide teams are listed with every district).
    pub async fn list_teams(
        &self,
        district: Option<&DistrictId>,
    ) -> Result<Vec<Team>, StorageError> {
        let d = district.map(DistrictId::as_str).unwrap_or("");
        let rows = sqlx::query(
            "SELECT id, kind, district_id, name FROM teams
             WHERE $1 = '' OR district_id = $1 OR district_id IS NULL ORDER BY id",
        )
        .bind(d)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(team_from).collect()
    }

    pub async fn add_responder(
        &self,
        r: &NewResponder,
        now: DateTime<Utc>,
    ) -> Result<Responder, StorageError> {
        let hours = r
            .office_hours
            .as_ref()
            .map(|h| serde_json::to_string(h).expect("office hours serialise"));
        sqlx::query(
            // A chat id given by an admin is a private chat, whose user has the same number.
            // A city-wide team's member is a coordinator, everyone else a responder: an admin is
            // made one with `set_responder_role`.
            "INSERT INTO responders (id, team_id, name, email, telegram_chat_id, telegram_user_id, office_hours, role, active, created_at)
             VALUES ($1, $2, $3, $4, $5, $5, $6,
                     CASE WHEN (SELECT district_id FROM teams WHERE id = $2) IS NULL THEN 'coordinator' ELSE 'responder' END,
                     1, $7)",
        )
        .bind(r.id.as_str())
        .bind(r.team.as_str())
        .bind(&r.name)
        .bind(r.email.as_ref().map(Email::as_str))
        .bind(r.telegram_chat_id)
        .bind(hours)
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(|e| constraint(e, &format!("responder {} (team {})", r.id, r.team)))?;
        self.get_responder(&r.id).await
    }

    pub async fn get_responder(&self, id: &ResponderId) -> Result<Responder, StorageError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESPONDER_COLUMNS} FROM responders WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StorageError::NotFound {
            what: "responder",
            id: id.to_string(),
        })?;
        responder_from(&row)
    }

    /// Adds an API token (its hash) for a responder.
    pub async fn add_responder_token(
        &self,
        responder: &ResponderId,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        sqlx::query("INSERT INTO responder_tokens (token_hash, responder_id, created_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(responder.as_str())
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(|e| constraint(e, &format!("token of responder {responder}")))?;
        Ok(())
    }

    /// Revokes every API token of `responder` but `keep` (a hash) and ends their dashboard
    /// sessions, in one transaction: a leaked token, and any session opened with it, stop working
    /// at once. Returns how many tokens and sessions ended.
    pub async fn revoke_other_responder_tokens(
        &self,
        responder: &ResponderId,
        keep: &str,
        now: DateTime<Utc>,
    ) -> Result<(u64, u64), StorageError> {
        let mut tx = self.pool.begin().await?;
        let ended = end_access(&mut tx, responder, keep, now).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Deactivates `responder` (someone who left): every token revoked and every dashboard
    /// session ended in the same transaction, and no alert is sent to them any more. Returns how
    /// many tokens and sessions ended.
    pub async fn deactivate_responder(
        &self,
        responder: &ResponderId,
        now: DateTime<Utc>,
    ) -> Result<(u64, u64), StorageError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE responders SET active = 0 WHERE id = $1")
            .bind(responder.as_str())
            .execute(&mut *tx)
            .await?;
        super::changed_one(done, "responder", responder)?;
        // No token hash is empty: every token goes.
        let ended = end_access(&mut tx, responder, "", now).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Gives `responder` the role `role` (an admin made, or one no longer).
    pub async fn set_responder_role(
        &self,
        responder: &ResponderId,
        role: Role,
    ) -> Result<(), StorageError> {
        let done = sqlx::query("UPDATE responders SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(responder.as_str())
            .execute(&self.pool)
            .await?;
        super::changed_one(done, "responder", responder)
    }

    /// The active responder a token (given as its hash) belongs to, with their team.
    pub async fn responder_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(Responder, Team)>, StorageError> {
        let row = sqlx::query(
            "SELECT r.id FROM responders r JOIN responder_tokens t ON t.responder_id = r.id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND r.active = 1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: ResponderId = parsed(&row, "id")?;
        let responder = self.get_responder(&id).await?;
        let team = self.get_team(&responder.team).await?;
        Ok(Some((responder, team)))
    }

    /// Responders, optionally of one team.
    pub async fn list_responders(
        &self,
        team: Option<&TeamId>,
    ) -> Result<Vec<Responder>, StorageError> {
        let t = team.map(TeamId::as_str).unwrap_or("");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESPONDER_COLUMNS} FROM responders WHERE $1 = '' OR team_id = $1 ORDER BY team_id, name, id"
        )))
        .bind(t)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(responder_from).collect()
    }
}

fn team_from(r: &AnyRow) -> Result<Team, StorageError> {
    Ok(Team {
        id: parsed(r, "id")?,
        kind: parsed(r, "kind")?,
        district: opt_parsed(r, "district_id")?,
        name: r.try_get("name")?,
    })
}

pub(super) fn responder_from(r: &AnyRow) -> Result<Responder, StorageError> {
    let hours: Option<String> = r.try_get("office_hours")?;
    let email: Option<String> = r.try_get("email")?;
    Ok(Responder {
        id: parsed(r, "id")?,
        team: parsed(r, "team_id")?,
        name: r.try_get("name")?,
        email: email
            .map(|e| Email::parse(e).map_err(|e| StorageError::Corrupt(e.to_string())))
            .transpose()?,
        telegram_chat_id: r.try_get("telegram_chat_id")?,
        telegram_user_id: r.try_get("telegram_user_id")?,
        office_hours: hours
            .map(|h| {
                serde_json::from_str::<OfficeHours>(&h)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))
            })
            .transpose()?,
        role: parsed(r, "role")?,
        active: flag(r, "active")?,
        created_at: time(r.try_get("created_at")?)?,
    })
}

/// Revokes `responder`'s tokens but `keep` (a hash) and ends their dashboard sessions, in the
/// caller's transaction; how many of each ended.
async fn end_access(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    responder: &ResponderId,
    keep: &str,
    now: DateTime<Utc>,
) -> Result<(u64, u64), StorageError> {
    let tokens = sqlx::query(
        "UPDATE responder_tokens SET revoked_at = $1
         WHERE responder_id = $2 AND token_hash <> $3 AND revoked_at IS NULL",
    )
    .bind(ms(now))
    .bind(responder.as_str())
    .bind(keep)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    let sessions = sqlx::query("DELETE FROM web_sessions WHERE responder_id = $1")
        .bind(responder.as_str())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok((tokens, sessions))
}
