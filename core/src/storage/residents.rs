//! Residents and pauses. Reading a resident's details always writes an audit entry.

use super::{StorageError, Store, constraint, json, ms, opt_time, parsed, time};
use crate::domain::{
    Actor, Address, DistrictId, NewAuditEntry, NewPause, NewResident, Pause, Resident, ResidentId,
};
use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

const RESIDENT_COLUMNS: &str = "id, name, name_kana, birth_year, district_id, town, chome, banchi, building, living, phone, contacts, policies, notes, created_at, updated_at";

impl Store {
    /// Adds one resident.
    pub async fn add_resident(
        &self,
        r: &NewResident,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Resident, StorageError> {
        let mut tx = self.pool.begin().await?;
        insert_resident(&mut tx, r, now).await?;
        self.audit_in(
            &mut tx,
            audit(
                actor,
                "resident.add",
                Some(r.id.as_str()),
                serde_json::json!({}),
                now,
            ),
        )
        .await?;
        tx.commit().await?;
        self.read_resident(&r.id).await
    }

    /// Changes a resident's record — name, ふりがな, birth year, address and the district it is
    /// routed to, living situation, phone, notes (`r`'s contacts and policies are left as they
    /// are) — audited as `resident.edit` with the fields that changed (their names only) and, when
    /// the district changed, both districts. One writing statement, then the audit.
    pub async fn update_resident(
        &self,
        r: &NewResident,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Resident, StorageError> {
        let before = self.read_resident(&r.id).await?;
        let done = sqlx::query(
            "UPDATE residents SET name = $1, name_kana = $2, birth_year = $3, district_id = $4,
               town = $5, chome = $6, banchi = $7, building = $8, living = $9, phone = $10,
               notes = $11, updated_at = $12
             WHERE id = $13",
        )
        .bind(&r.name)
        .bind(r.name_kana.as_deref())
        .bind(i64::from(r.birth_year.year()))
        .bind(r.district.as_str())
        .bind(&r.address.town)
        .bind(r.address.chome.map(i64::from))
        .bind(r.address.banchi.as_deref())
        .bind(r.address.building.as_deref())
        .bind(r.living.as_str())
        .bind(r.phone.as_deref())
        .bind(r.notes.as_deref())
        .bind(ms(now))
        .bind(r.id.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| constraint(e, &format!("resident {} (district {})", r.id, r.district)))?;
        super::changed_one(done, "resident", &r.id)?;
        let mut changed = Vec::new();
        for (field, differs) in [
            ("name", before.name != r.name),
            ("name_kana", before.name_kana != r.name_kana),
            ("birth_year", before.birth_year != r.birth_year),
            ("address", before.address != r.address),
            ("district", before.district != r.district),
            ("living", before.living != r.living),
            ("phone", before.phone != r.phone),
            ("notes", before.notes != r.notes),
        ] {
            if differs {
                changed.push(field);
            }
        }
        let mut detail = serde_json::json!({ "changed": changed });
        if before.district != r.district {
            detail["district_from"] = before.district.as_str().into();
            detail["district_to"] = r.district.as_str().into();
        }
        self.record_audit(&audit(
            actor,
            "resident.edit",
            Some(r.id.as_str()),
            detail,
            now,
        ))
        .await?;
        self.read_resident(&r.id).await
    }

    /// Adds many residents in one transaction: all of them or none.
    pub async fn import_residents(
        &self,
        residents: &[NewResident],
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<usize, StorageError> {
        let mut tx = self.pool.begin().await?;
        for r in residents {
            insert_resident(&mut tx, r, now).await?;
        }
        self.audit_in(
            &mut tx,
            audit(
                actor,
                "resident.import",
                None,
                serde_json::json!({ "count": residents.len() }),
                now,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(residents.len())
    }

    /// A resident's record, audited as a view by `actor`.
    pub async fn get_resident(
        &self,
        id: &ResidentId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Resident, StorageError> {
        let resident = self.read_resident(id).await?;
        self.record_audit(&audit(
            actor,
            "resident.view",
            Some(id.as_str()),
            serde_json::json!({}),
            now,
        ))
        .await?;
        Ok(resident)
    }

    /// Residents, optionally of one district, audited as a list view by `actor`.
    pub async fn list_residents(
        &self,
        district: Option<&DistrictId>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<Resident>, StorageError> {
        let d = district.map(DistrictId::as_str).unwrap_or("");
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESIDENT_COLUMNS} FROM residents WHERE $1 = '' OR district_id = $1 ORDER BY district_id, id"
        )))
        .bind(d)
        .fetch_all(&self.pool)
        .await?;
        let residents = rows
            .iter()
            .map(resident_from)
            .collect::<Result<Vec<_>, _>>()?;
        self.record_audit(&audit(
            actor,
            "resident.list",
            None,
            serde_json::json!({ "district": d, "count": residents.len() }),
            now,
        ))
        .await?;
        Ok(residents)
    }

    /// How many residents there are (no personal data, not audited).
    pub async fn count_residents(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM residents")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    async fn read_resident(&self, id: &ResidentId) -> Result<Resident, StorageError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RESIDENT_COLUMNS} FROM residents WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StorageError::NotFound {
            what: "resident",
            id: id.to_string(),
        })?;
        resident_from(&row)
    }

    /// Replaces a resident's contacts (family, 民生委員, 協力員).
    pub async fn set_contacts(
        &self,
        resident: &ResidentId,
        contacts: &[crate::domain::Contact],
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let contacts = serde_json::to_string(contacts).expect("contacts serialise");
        self.set_resident_json(resident, "contacts", contacts, now)
            .await
    }

    /// Replaces one of a resident's JSON columns (`contacts`, `policies`).
    pub(super) async fn set_resident_json(
        &self,
        resident: &ResidentId,
        column: &'static str,
        value: String,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        debug_assert!(matches!(column, "contacts" | "policies"));
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE residents SET {column} = $1, updated_at = $2 WHERE id = $3"
        )))
        .bind(value)
        .bind(ms(now))
        .bind(resident.as_str())
        .execute(&self.pool)
        .await?;
        super::changed_one(done, "resident", resident)
    }

    /// A resident's district (an id only: not a view of the record, not audited); `None` when
    /// there is no such resident.
    pub async fn resident_district(
        &self,
        id: &ResidentId,
    ) -> Result<Option<DistrictId>, StorageError> {
        let row = sqlx::query("SELECT district_id FROM residents WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parsed(&r, "district_id")).transpose()
    }

    /// The resident living at `address`, when the address names exactly one: same town, 丁目 and
    /// 番地, and the same building when the address names one. Used to link a partner's
    /// concern to a known resident; returns an id only, so it is not a view of the record.
    pub async fn resident_at(&self, address: &Address) -> Result<Option<ResidentId>, StorageError> {
        let Some(banchi) = &address.banchi else {
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT id, building FROM residents
             WHERE town = $1 AND COALESCE(chome, 0) = $2 AND banchi = $3 ORDER BY id",
        )
        .bind(&address.town)
        .bind(i64::from(address.chome.unwrap_or(0)))
        .bind(banchi)
        .fetch_all(&self.pool)
        .await?;
        let compact = |b: Option<String>| -> String {
            b.unwrap_or_default()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect()
        };
        let found: Vec<(ResidentId, String)> = rows
            .iter()
            .map(|r| Ok((parsed(r, "id")?, compact(r.try_get("building")?))))
            .collect::<Result<_, StorageError>>()?;
        let wanted = compact(address.building.clone());
        // A building named must be the resident's own; none named, the 番地 must name one resident.
        let mut fits = found
            .iter()
            .filter(|(_, b)| wanted.is_empty() || *b == wanted)
            .map(|(id, _)| id);
        Ok(match (fits.next(), fits.next()) {
            (Some(id), None) => Some(id.clone()),
            _ => None,
        })
    }

    /// Residents at a town and 丁目 (for linking an address's alert): id, name, 番地 and building.
    /// Names are personal data: the read is audited as `resident.list` by `actor`.
    pub async fn residents_in_area(
        &self,
        town: &str,
        chome: Option<u8>,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Result<Vec<(ResidentId, String, Option<String>, Option<String>)>, StorageError> {
        let rows = sqlx::query(
            "SELECT id, name, banchi, building FROM residents
             WHERE town = $1 AND COALESCE(chome, 0) = $2 ORDER BY banchi, id",
        )
        .bind(town)
        .bind(i64::from(chome.unwrap_or(0)))
        .fetch_all(&self.pool)
        .await?;
        let found = rows
            .iter()
            .map(|r| {
                Ok((
                    parsed(r, "id")?,
                    r.try_get("name")?,
                    r.try_get("banchi")?,
                    r.try_get("building")?,
                ))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.record_audit(&audit(
            actor,
            "resident.list",
            None,
            serde_json::json!({ "area": true, "count": found.len() }),
            at,
        ))
        .await?;
        Ok(found)
    }

    /// Adds a pause (hospital stay, travel…).
    pub async fn add_pause(&self, p: &NewPause, now: DateTime<Utc>) -> Result<Pause, StorageError> {
        p.validate()
            .map_err(|e| StorageError::Conflict(e.to_string()))?;
        let row = sqlx::query(
            "INSERT INTO pauses (resident_id, reason, starts_at, ends_at, note, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(p.resident.as_str())
        .bind(p.reason.as_str())
        .bind(ms(p.starts_at))
        .bind(p.ends_at.map(ms))
        .bind(p.note.as_deref())
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| constraint(e, &format!("pause of resident {}", p.resident)))?;
        Ok(Pause {
            id: row.try_get("id")?,
            resident: p.resident.clone(),
            reason: p.reason,
            starts_at: p.starts_at,
            ends_at: p.ends_at,
            note: p.note.clone(),
        })
    }

    /// Ends an open-ended pause (or moves its end).
    pub async fn end_pause(&self, id: i64, at: DateTime<Utc>) -> Result<(), StorageError> {
        let done = sqlx::query("UPDATE pauses SET ends_at = $1 WHERE id = $2 AND starts_at < $1")
            .bind(ms(at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        super::changed_one(done, "pause", id)
    }

    /// Withdraws a pause that has not begun by `now` (a planned stay called off, or one entered by
    /// mistake): it is deleted. `NotFound` when it has begun (end it instead) or does not exist.
    pub async fn cancel_pause(&self, id: i64, now: DateTime<Utc>) -> Result<(), StorageError> {
        let done = sqlx::query("DELETE FROM pauses WHERE id = $1 AND starts_at >= $2")
            .bind(id)
            .bind(ms(now))
            .execute(&self.pool)
            .await?;
        super::changed_one(done, "pause", id)
    }

    /// A resident's pauses, oldest first.
    pub async fn list_pauses(&self, resident: &ResidentId) -> Result<Vec<Pause>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PAUSE_COLUMNS} FROM pauses WHERE resident_id = $1 ORDER BY starts_at, id"
        )))
        .bind(resident.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pause_from).collect()
    }

    /// The pauses that hold at `now`, of one district's residents (every district's: `None`), in
    /// one query — for lists of residents.
    pub async fn pauses_holding(
        &self,
        district: Option<&DistrictId>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Pause>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PAUSE_COLUMNS} FROM pauses
             WHERE resident_id IN (SELECT id FROM residents WHERE $1 = '' OR district_id = $1)
               AND starts_at <= $2 AND (ends_at IS NULL OR ends_at > $2)
             ORDER BY starts_at, id"
        )))
        .bind(district.map(DistrictId::as_str).unwrap_or(""))
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pause_from).collect()
    }
}

/// The columns [`pause_from`] reads.
pub(super) const PAUSE_COLUMNS: &str = "id, resident_id, reason, starts_at, ends_at, note";

pub(super) fn pause_from(r: &AnyRow) -> Result<Pause, StorageError> {
    Ok(Pause {
        id: r.try_get("id")?,
        resident: parsed(r, "resident_id")?,
        reason: parsed(r, "reason")?,
        starts_at: time(r.try_get("starts_at")?)?,
        ends_at: opt_time(r.try_get("ends_at")?)?,
        note: r.try_get("note")?,
    })
}

fn audit(
    actor: &Actor,
    action: &str,
    id: Option<&str>,
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.clone(),
        action: action.into(),
        object_kind: "resident".into(),
        object_id: id.map(str::to_string),
        detail,
        at,
    }
}

async fn insert_resident(
    tx: &mut Transaction<'_, Any>,
    r: &NewResident,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO residents (id, name, name_kana, birth_year, district_id, town, chome, banchi, building, living, phone, contacts, policies, notes, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
    )
    .bind(r.id.as_str())
    .bind(&r.name)
    .bind(r.name_kana.as_deref())
    .bind(i64::from(r.birth_year.year()))
    .bind(r.district.as_str())
    .bind(&r.address.town)
    .bind(r.address.chome.map(i64::from))
    .bind(r.address.banchi.as_deref())
    .bind(r.address.building.as_deref())
    .bind(r.living.as_str())
    .bind(r.phone.as_deref())
    .bind(serde_json::to_string(&r.contacts).expect("contacts serialise"))
    .bind(serde_json::to_string(&r.policies).expect("policies serialise"))
    .bind(r.notes.as_deref())
    .bind(ms(now))
    .execute(&mut **tx)
    .await
    .map_err(|e| constraint(e, &format!("resident {} (district {})", r.id, r.district)))?;
    Ok(())
}

fn resident_from(r: &AnyRow) -> Result<Resident, StorageError> {
    let birth_year: i64 = r.try_get("birth_year")?;
    let chome: Option<i64> = r.try_get("chome")?;
    Ok(Resident {
        id: parsed(r, "id")?,
        name: r.try_get("name")?,
        name_kana: r.try_get("name_kana")?,
        birth_year: (birth_year as i32)
            .try_into()
            .map_err(|e: crate::domain::DomainError| StorageError::Corrupt(e.to_string()))?,
        district: parsed(r, "district_id")?,
        address: Address {
            town: r.try_get("town")?,
            chome: chome.map(|c| c as u8),
            banchi: r.try_get("banchi")?,
            building: r.try_get("building")?,
        },
        living: parsed(r, "living")?,
        phone: r.try_get("phone")?,
        contacts: json(r, "contacts")?,
        policies: json(r, "policies")?,
        notes: r.try_get("notes")?,
        created_at: time(r.try_get("created_at")?)?,
        updated_at: time(r.try_get("updated_at")?)?,
    })
}
