//! Alerts and their timelines. One open alert per (subject, kind), enforced by a partial unique
//! index; state changes are claimed with `UPDATE … WHERE state = …`, so two responders (or two
//! workers) never both win.

use super::timeline::insert_event;
use super::{StorageError, Store, json, ms, opt_parsed, opt_time, parsed, time};
use crate::domain::{
    Actor, Alert, AlertEventKind, AlertId, AlertKind, AlertState, Channel, DistrictId, NewAlert,
    NewNotification, Outcome, ResidentId, Subject, TeamId,
};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

/// What [`Store::open_alert`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedAlert {
    pub alert: Alert,
    /// True when a new alert was opened; false when the signal joined the open one.
    pub created: bool,
    /// Its notifications inserted claimed by the caller's worker ([`super::Claim`]).
    pub claimed: Vec<crate::domain::Notification>,
    /// The alert-stream messages of the claimed MQTT rows, numbered in the same transaction
    /// ([`super::Claim::stream`]): the caller's publisher needs no read to send them.
    pub streamed: Vec<super::StreamEntry>,
}

/// What [`Store::acknowledge_alert`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum AckResult {
    Acknowledged(Alert),
    /// Someone else was first; the alert shows who.
    AlreadyAcknowledged(Alert),
    AlreadyResolved(Alert),
}

/// What [`Store::resolve_alert`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolveResult {
    Resolved(Alert),
    AlreadyResolved(Alert),
    /// The outcome does not fit the alert's kind (a person's outcome for a device alert, or the
    /// other way round): nothing changed. [`AlertKind::allows`](crate::domain::AlertKind::allows).
    OutcomeNotAllowed(Alert),
}

/// Where a new alert goes: its team and when its escalation chain's first step is due.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routed {
    pub team: Option<TeamId>,
    pub escalate_at: Option<DateTime<Utc>>,
    /// The deciding consumer's cursor at the signal that led to the alert, saved in the same
    /// transaction: after a crash the signal is neither applied twice nor skipped.
    pub cursor: Option<super::SignalCursor>,
}

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub district: Option<DistrictId>,
    /// Only alerts without a district: the city-wide triage queue.
    pub triage_only: bool,
    pub state: Option<AlertState>,
    pub kind: Option<AlertKind>,
    /// At most this many, newest first (0: 100).
    pub limit: i64,
}

pub(super) const ALERT_COLUMNS: &str = "id, subject, kind, state, severity, district_id, summary, detail, opened_at, last_evidence_at, evidence_count, acknowledged_at, acknowledged_by, resolved_at, resolved_by, outcome, team_id, escalation_step, next_escalation_at";

impl Store {
    /// Opens an alert, or joins the open alert of the same subject and kind. The notifications
    /// are written in the same transaction, so a decision to notify is never lost.
    pub async fn open_alert(
        &self,
        new: &NewAlert,
        notify: &[NewNotification],
    ) -> Result<OpenedAlert, StorageError> {
        self.open_routed_alert(new, &Routed::default(), notify, None)
            .await
    }

    /// [`Store::open_alert`] for an alert routed to a team, with the first escalation step due at
    /// `routed.escalate_at` (a new alert only: joining changes neither). With a `claim`, the
    /// notifications of its channels are inserted claimed and returned, and — with its
    /// [`stream`](super::Claim::stream) — their MQTT messages numbered in the alert stream. The
    /// alert's row is locked before the stream's head, and nothing takes them the other way round
    /// (the outbox's append takes the head and only reads alerts): no two writers wait for each
    /// other.
    pub async fn open_routed_alert(
        &self,
        new: &NewAlert,
        routed: &Routed,
        notify: &[NewNotification],
        claim: Option<&super::Claim>,
    ) -> Result<OpenedAlert, StorageError> {
        let (mut tx, _turn) = self.begin_write().await?;
        // One statement opens the alert or joins the open one: the conflict is on the partial
        // unique index of open alerts, so a resolved alert of the same subject and kind is left
        // alone and a new one opened. On PostgreSQL the insert-or-update is atomic, even against
        // a responder resolving the open alert at that moment. A new row has one piece of
        // evidence and a joined one at least two: that tells which it was.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO alerts (subject, kind, state, severity, district_id, summary, detail, opened_at, last_evidence_at, evidence_count, team_id, escalation_step, next_escalation_at)
             VALUES ($1, $2, 'open', $3, $4, $5, $6, $7, $7, 1, $8, 0, $9)
             ON CONFLICT (subject, kind) WHERE state <> 'resolved'
             DO UPDATE SET evidence_count = alerts.evidence_count + 1, last_evidence_at = excluded.last_evidence_at
             RETURNING {ALERT_COLUMNS}"
        )))
        .bind(new.subject.key())
        .bind(new.kind.as_str())
        .bind(new.severity.as_str())
        .bind(new.district.as_ref().map(DistrictId::as_str))
        .bind(&new.summary)
        .bind(new.detail.to_string())
        .bind(ms(new.at))
        .bind(routed.team.as_ref().map(TeamId::as_str))
        .bind(routed.escalate_at.map(ms))
        .fetch_one(&mut *tx)
        .await?;
        // The row as this transaction leaves it: no read after the commit.
        let alert = alert_from(&row)?;
        let created = alert.evidence_count == 1;
        let kind = if created {
            AlertEventKind::Created
        } else {
            AlertEventKind::Joined
        };
        insert_event(&mut tx, alert.id, kind, None, &new.detail, new.at).await?;
        if let Some(cursor) = &routed.cursor {
            super::watch::save_cursor(&mut tx, cursor, new.at).await?;
        }
        let claimed =
            super::outbox::insert_notifications(&mut tx, alert.id, notify, new.at, claim).await?;
        // Last, so that the stream's lock is held only until the commit that follows.
        let mut streamed = Vec::new();
        if let Some(make) = claim.and_then(|c| c.stream.as_ref()) {
            let mut first = created;
            for n in claimed.iter().filter(|n| n.channel == Channel::Mqtt) {
                let seq = super::stream::next_seq(&mut tx).await?;
                let entry = super::stream::append_in(
                    &mut tx,
                    seq,
                    n.id,
                    &alert,
                    first.then_some(true),
                    new.at,
                    |alert, position| make(n, alert, position),
                )
                .await?;
                streamed.push(entry);
                first = false;
            }
        }
        tx.commit().await?;
        Ok(OpenedAlert {
            alert,
            created,
            claimed,
            streamed,
        })
    }

    pub async fn get_alert(&self, id: AlertId) -> Result<Alert, StorageError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StorageError::NotFound {
            what: "alert",
            id: id.to_string(),
        })?;
        alert_from(&row)
    }

    /// The open (or acknowledged) alert of a subject and kind, if any.
    pub async fn find_open_alert(
        &self,
        subject: &Subject,
        kind: AlertKind,
    ) -> Result<Option<Alert>, StorageError> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE subject = $1 AND kind = $2 AND state <> 'resolved'"
        )))
        .bind(subject.key())
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(alert_from)
        .transpose()
    }

    /// Alerts matching a filter, newest first.
    pub async fn list_alerts(&self, f: &AlertFilter) -> Result<Vec<Alert>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts
             WHERE ($1 = '' OR district_id = $1) AND ($2 = 0 OR district_id IS NULL)
               AND ($3 = '' OR state = $3) AND ($4 = '' OR kind = $4)
             ORDER BY id DESC LIMIT $5"
        )))
        .bind(f.district.as_ref().map(DistrictId::as_str).unwrap_or(""))
        .bind(f.triage_only as i64)
        .bind(f.state.map(AlertState::as_str).unwrap_or(""))
        .bind(f.kind.map(AlertKind::as_str).unwrap_or(""))
        .bind(if f.limit > 0 { f.limit } else { 100 })
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_from).collect()
    }

    /// Acknowledges an open alert, with its timeline event and the notifications that announce it
    /// (`notify`), in one transaction. Exactly one of several racing responders wins; the others
    /// write nothing.
    pub async fn acknowledge_alert(
        &self,
        id: AlertId,
        by: &Actor,
        via: &str,
        notify: &[NewNotification],
        at: DateTime<Utc>,
    ) -> Result<AckResult, StorageError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2, next_escalation_at = NULL WHERE id = $3 AND state = 'open'",
        )
        .bind(ms(at))
        .bind(&by.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            insert_event(
                &mut tx,
                id,
                AlertEventKind::Acknowledged,
                Some(by),
                &serde_json::json!({ "via": via }),
                at,
            )
            .await?;
            super::outbox::insert_notifications(&mut tx, id, notify, at, None).await?;
            tx.commit().await?;
            return Ok(AckResult::Acknowledged(self.get_alert(id).await?));
        }
        tx.rollback().await?;
        let alert = self.get_alert(id).await?;
        Ok(match alert.state {
            AlertState::Resolved => AckResult::AlreadyResolved(alert),
            _ => AckResult::AlreadyAcknowledged(alert),
        })
    }

    /// Resolves an alert with an outcome: notifications still waiting are cancelled, and the
    /// timeline event and the notifications that announce it (`notify`) are written, in one
    /// transaction.
    pub async fn resolve_alert(
        &self,
        id: AlertId,
        by: &Actor,
        outcome: Outcome,
        note: Option<&str>,
        notify: &[NewNotification],
        at: DateTime<Utc>,
    ) -> Result<ResolveResult, StorageError> {
        // The kind never changes, so checking it before the claim is as good as inside it.
        let alert = self.get_alert(id).await?;
        if !alert.kind.allows(outcome) {
            return Ok(ResolveResult::OutcomeNotAllowed(alert));
        }
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE alerts SET state = 'resolved', resolved_at = $1, resolved_by = $2, outcome = $3, next_escalation_at = NULL WHERE id = $4 AND state <> 'resolved'",
        )
        .bind(ms(at))
        .bind(&by.0)
        .bind(outcome.as_str())
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(ResolveResult::AlreadyResolved(self.get_alert(id).await?));
        }
        let cancelled = super::outbox::cancel_pending(&mut tx, id).await?;
        insert_event(
            &mut tx,
            id,
            AlertEventKind::Resolved,
            Some(by),
            &serde_json::json!({ "outcome": outcome.as_str(), "note": note, "cancelled_notifications": cancelled }),
            at,
        )
        .await?;
        super::outbox::insert_notifications(&mut tx, id, notify, at, None).await?;
        tx.commit().await?;
        Ok(ResolveResult::Resolved(self.get_alert(id).await?))
    }

    /// Open alerts whose next escalation step is due, oldest due first.
    pub async fn due_escalations(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Alert>, StorageError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'open' AND next_escalation_at <= $1 ORDER BY next_escalation_at, id LIMIT $2"
        )))
        .bind(ms(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_from).collect()
    }

    /// Carries out escalation step `from_step + 1` of an alert: claims it (only if the alert is
    /// still open at `from_step`, so two workers never both escalate), schedules the next step,
    /// and writes its notifications and timeline event in the same transaction. False if
    /// someone acknowledged, resolved or escalated it first.
    pub async fn advance_escalation(
        &self,
        id: AlertId,
        from_step: i64,
        next_at: Option<DateTime<Utc>>,
        notify: &[NewNotification],
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let (mut tx, _turn) = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE alerts SET escalation_step = escalation_step + 1, next_escalation_at = $1
             WHERE id = $2 AND state = 'open' AND escalation_step = $3",
        )
        .bind(next_at.map(ms))
        .bind(id.0)
        .bind(from_step)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_event(&mut tx, id, AlertEventKind::Escalated, None, detail, at).await?;
        super::outbox::insert_notifications(&mut tx, id, notify, at, None).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Sends an alert of the triage queue (no district) to `district`'s `team`, with the timeline
    /// event and the notifications to that team, all in one transaction. `None` when it is no
    /// longer in triage (someone routed it first) or is resolved.
    pub async fn route_alert(
        &self,
        id: AlertId,
        district: &DistrictId,
        team: &TeamId,
        by: &Actor,
        notify: &[NewNotification],
        at: DateTime<Utc>,
    ) -> Result<Option<Alert>, StorageError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE alerts SET district_id = $1, team_id = $2
             WHERE id = $3 AND district_id IS NULL AND state <> 'resolved' RETURNING {ALERT_COLUMNS}"
        )))
        .bind(district.as_str())
        .bind(team.as_str())
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let alert = alert_from(&row)?;
        let detail = serde_json::json!({ "district": district, "team": team });
        insert_event(&mut tx, id, AlertEventKind::Routed, Some(by), &detail, at).await?;
        super::outbox::insert_notifications(&mut tx, id, notify, at, None).await?;
        tx.commit().await?;
        Ok(Some(alert))
    }

    /// Makes an alert about an address one about the resident a responder found living there, with
    /// the timeline event, in one transaction. `None` when it is no longer about that address or is
    /// resolved; `Conflict` when the resident already has an open alert of the same kind.
    pub async fn link_alert(
        &self,
        id: AlertId,
        from: &Subject,
        to: &ResidentId,
        by: &Actor,
        at: DateTime<Utc>,
    ) -> Result<Option<Alert>, StorageError> {
        let to = Subject::Resident(to.clone());
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE alerts SET subject = $1 WHERE id = $2 AND subject = $3 AND state <> 'resolved'
             RETURNING {ALERT_COLUMNS}"
        )))
        .bind(to.key())
        .bind(id.0)
        .bind(from.key())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| super::constraint(e, &format!("an open alert about {to}")))?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let alert = alert_from(&row)?;
        let detail = serde_json::json!({ "subject": to.key() });
        insert_event(&mut tx, id, AlertEventKind::Linked, Some(by), &detail, at).await?;
        tx.commit().await?;
        Ok(Some(alert))
    }
}

pub(super) fn alert_from(r: &AnyRow) -> Result<Alert, StorageError> {
    let subject: String = r.try_get("subject")?;
    Ok(Alert {
        id: AlertId(r.try_get("id")?),
        subject: Subject::parse_key(&subject).map_err(|e| StorageError::Corrupt(e.to_string()))?,
        kind: parsed(r, "kind")?,
        state: parsed(r, "state")?,
        severity: parsed(r, "severity")?,
        district: opt_parsed(r, "district_id")?,
        summary: r.try_get("summary")?,
        detail: json(r, "detail")?,
        opened_at: time(r.try_get("opened_at")?)?,
        last_evidence_at: time(r.try_get("last_evidence_at")?)?,
        evidence_count: r.try_get("evidence_count")?,
        acknowledged_at: opt_time(r.try_get("acknowledged_at")?)?,
        acknowledged_by: r.try_get("acknowledged_by")?,
        resolved_at: opt_time(r.try_get("resolved_at")?)?,
        resolved_by: r.try_get("resolved_by")?,
        outcome: opt_parsed(r, "outcome")?,
        team: opt_parsed(r, "team_id")?,
        escalation_step: r.try_get("escalation_step")?,
        next_escalation_at: opt_time(r.try_get("next_escalation_at")?)?,
    })
}
