//! Leases with fencing: one holder at a time for a job only one process may do (the alert
//! service's rules and escalations, when several `mimamori alerts` share one database).
//!
//! [`Store::try_lease`] takes a lease that is free or lapsed, or renews one this holder has; each
//! take-over increments the lease's token. A store made with [`Store::fenced`] checks that token as
//! the first statement of each of its writing transactions (an `UPDATE` of the lease row, which
//! also locks that row, or SQLite's database, until the transaction ends): once another process
//! took the lease over, the old holder's writes fail with [`StorageError::Fenced`] and change
//! nothing, even if it has not noticed yet that its lease lapsed (a paused process, a slow disk).

use super::{StorageError, Store, WriteTurn, ms};
use chrono::{DateTime, Utc};
use sqlx::{Any, Row, Transaction};

/// A lease held: what a fenced store checks before it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub name: String,
    pub holder: String,
    /// Grows by one at every change of holder.
    pub token: i64,
}

impl Store {
    /// Takes the lease `name` for `holder` until `now + ttl` if it is free, lapsed or already
    /// `holder`'s (then renewed, same token). `None` while another holder's lease runs.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<Option<Fence>, StorageError> {
        self.take_lease(name, holder, None, now, ttl).await
    }

    /// [`Store::try_lease`], and also from `dead`, a holder known to be gone although its lease
    /// still runs (a process of this machine killed: its successor need not wait for the lapse).
    /// The token grows as at any change of holder, so `dead`'s writes are fenced off.
    pub async fn take_lease_from(
        &self,
        name: &str,
        holder: &str,
        dead: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<Option<Fence>, StorageError> {
        self.take_lease(name, holder, Some(dead), now, ttl).await
    }

    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        dead: Option<&str>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<Option<Fence>, StorageError> {
        // One statement: a read followed by a write would race another process's take-over.
        let row = sqlx::query(
            "INSERT INTO leases (name, holder, token, expires_at, acquired_at) VALUES ($1, $2, 1, $3, $4)
             ON CONFLICT (name) DO UPDATE SET
                 token = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > $4
                              THEN leases.token ELSE leases.token + 1 END,
                 acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > $4
                              THEN leases.acquired_at ELSE excluded.acquired_at END,
                 holder = excluded.holder,
                 expires_at = excluded.expires_at
             WHERE leases.holder = excluded.holder OR leases.expires_at <= $4 OR leases.holder = $5
             RETURNING token",
        )
        .bind(name)
        .bind(holder)
        .bind(ms(now + ttl))
        .bind(ms(now))
        .bind(dead.unwrap_or(""))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Fence {
                name: name.to_string(),
                holder: holder.to_string(),
                token: r.try_get("token")?,
            })
        })
        .transpose()
    }

    /// Gives the lease up at once (a clean shutdown), so that a standby need not wait for it to
    /// lapse. False if it was not this fence's any more.
    pub async fn release_lease(&self, fence: &Fence) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2 AND token = $3",
        )
        .bind(&fence.name)
        .bind(&fence.holder)
        .bind(fence.token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Who holds the lease `name` now, if anyone (for status pages and tests).
    pub async fn lease_holder(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Fence>, StorageError> {
        let row =
            sqlx::query("SELECT holder, token FROM leases WHERE name = $1 AND expires_at > $2")
                .bind(name)
                .bind(ms(now))
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(Fence {
                name: name.to_string(),
                holder: r.try_get("holder")?,
                token: r.try_get("token")?,
            })
        })
        .transpose()
    }

    /// This store, writing only while `fence` is the lease's current holder and token (see the
    /// module's overview). Clones share the connection pool.
    pub fn fenced(&self, fence: Fence) -> Store {
        Store {
            fence: Some(std::sync::Arc::new(fence)),
            ..self.clone()
        }
    }

    /// Begins a writing transaction; in a fenced store its first statement checks the fence.
    /// On SQLite it holds the process's write turn (`Store::write_turn`) until it is dropped:
    /// keep the second value alive until the transaction ends.
    pub(super) async fn begin_write(
        &self,
    ) -> Result<(Transaction<'static, Any>, Option<WriteTurn>), StorageError> {
        let (mut tx, turn) = self.begin_in_turn().await?;
        if let Some(fence) = &self.fence {
            let held = sqlx::query(
                "UPDATE leases SET token = token WHERE name = $1 AND holder = $2 AND token = $3",
            )
            .bind(&fence.name)
            .bind(&fence.holder)
            .bind(fence.token)
            .execute(&mut *tx)
            .await?;
            if held.rows_affected() != 1 {
                tx.rollback().await?;
                return Err(StorageError::Fenced(fence.name.clone()));
            }
        }
        Ok((tx, turn))
    }
}
