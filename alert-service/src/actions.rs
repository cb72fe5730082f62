//! What a person does to an alert, in one place for every surface that offers it — the API, the
//! dashboard, Telegram's buttons and the email link all call [`Actions`]:
//!
//! - [`Actions::acknowledge`] (対応します) and [`Actions::resolve`] (解決, with an outcome);
//! - [`Actions::note`], a line on the timeline;
//! - [`Actions::route`], a triage alert sent to a district's team by the coordinator;
//! - [`Actions::link`], a partner's concern about an address tied to the resident it is about.
//!
//! Each writes its state change, its timeline event and the notifications that announce it in
//! one transaction: a crash leaves all of it or none, never a change nobody is told about. The
//! state changes are claimed (`UPDATE … WHERE state = …`), so of two people pressing at once
//! exactly one wins and the other is told who did.

use crate::notify::{Event, Targets, Tell};
use crate::route::Routing;
use mimamori_core::clock::Clock;
use mimamori_core::domain::{Actor, Alert, DistrictId, Outcome, ResidentId};
use mimamori_core::storage::{AckResult, ResolveResult, StorageError, Store};
use std::sync::Arc;

/// The longest note on an alert, in characters (the API, the dashboard and resolutions alike).
pub const NOTE_MAX: usize = 4000;

/// A note a person writes on an alert: trimmed, not empty, at most [`NOTE_MAX`] characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note<'a>(&'a str);

/// A note over [`NOTE_MAX`] characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("メモは{NOTE_MAX}文字までです / a note has at most {NOTE_MAX} characters")]
pub struct NoteTooLong;

impl<'a> Note<'a> {
    /// The note in `raw`, trimmed; `None` when nothing is written.
    pub fn parse(raw: &'a str) -> Result<Option<Self>, NoteTooLong> {
        let text = raw.trim();
        if text.is_empty() {
            Ok(None)
        } else if text.chars().count() > NOTE_MAX {
            Err(NoteTooLong)
        } else {
            Ok(Some(Self(text)))
        }
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// Where a person acted: written on the timeline (`via`) and in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Api,
    Dashboard,
    Telegram,
    Email,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Api => "api",
            Via::Dashboard => "dashboard",
            Via::Telegram => "telegram",
            Via::Email => "email",
        }
    }
}

/// The alert actions, over the store, the channels to announce them on and the routing table.
#[derive(Clone)]
pub struct Actions {
    store: Store,
    /// Who is told about each change, on which channel.
    targets: Targets,
    /// Which team of a district takes an alert routed out of triage.
    routing: Routing,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Actions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actions").finish_non_exhaustive()
    }
}

impl Actions {
    pub fn new(store: Store, targets: Targets, routing: Routing, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            targets,
            routing,
            clock,
        }
    }

    /// Acknowledges `alert` for `by`: the integrations and every Telegram chat told about it learn
    /// who took it.
    pub async fn acknowledge(
        &self,
        alert: &Alert,
        by: &Actor,
        via: Via,
    ) -> Result<AckResult, StorageError> {
        let now = self.clock.now();
        let notify = self
            .targets
            .plan_update(&self.store, alert, Event::Acknowledged, now)
            .await?;
        let result = self
            .store
            .acknowledge_alert(alert.id, by, via.as_str(), &notify, now)
            .await?;
        if let AckResult::Acknowledged(a) = &result {
            tracing::info!(alert_id = %a.id, actor = %by.0, via = via.as_str(), "Alert acknowledged.");
        }
        Ok(result)
    }

    /// Resolves `alert` with `outcome` (and a note): what had not gone out is cancelled, and the
    /// integrations and Telegram chats learn how it ended. An outcome that does not fit the
    /// alert's kind (a person's for a device alert) changes nothing:
    /// [`ResolveResult::OutcomeNotAllowed`].
    pub async fn resolve(
        &self,
        alert: &Alert,
        by: &Actor,
        outcome: Outcome,
        note: Option<Note<'_>>,
        via: Via,
    ) -> Result<ResolveResult, StorageError> {
        if !alert.kind.allows(outcome) {
            tracing::info!(alert_id = %alert.id, actor = %by.0, via = via.as_str(), outcome = %outcome, "Resolution refused: the outcome does not fit the alert's kind.");
            return Ok(ResolveResult::OutcomeNotAllowed(alert.clone()));
        }
        let now = self.clock.now();
        let notify = self
            .targets
            .plan_update(&self.store, alert, Event::Resolved, now)
            .await?;
        let result = self
            .store
            .resolve_alert(
                alert.id,
                by,
                outcome,
                note.map(|n| n.as_str()),
                &notify,
                now,
            )
            .await?;
        if let ResolveResult::Resolved(a) = &result {
            tracing::info!(alert_id = %a.id, actor = %by.0, via = via.as_str(), outcome = %outcome, "Alert resolved.");
        }
        Ok(result)
    }

    /// Writes a note on `alert`'s timeline.
    pub async fn note(
        &self,
        alert: &Alert,
        by: &Actor,
        note: Note<'_>,
    ) -> Result<(), StorageError> {
        self.store
            .add_alert_note(alert.id, by, note.as_str(), self.clock.now())
            .await
    }

    /// Sends an alert of the triage queue to `district`'s team (by the routing table), which is
    /// told as for a new alert; the escalation goes on. `None` when someone routed it first or it
    /// was resolved.
    pub async fn route(
        &self,
        alert: &Alert,
        district: &DistrictId,
        by: &Actor,
    ) -> Result<Option<Alert>, StorageError> {
        let now = self.clock.now();
        let team = self.routing.team(alert.kind, None, Some(district));
        let teams = [team.as_str()];
        let notify = self
            .targets
            .plan(
                &self.store,
                &Tell {
                    event: Event::Routed,
                    teams: &teams,
                    step: None,
                    subject: &alert.subject,
                    kind: alert.kind,
                },
                now,
            )
            .await?;
        let routed = self
            .store
            .route_alert(alert.id, district, &team, by, &notify, now)
            .await?;
        if routed.is_some() {
            tracing::info!(alert_id = %alert.id, district = %district, team = %team, "Alert routed out of triage.");
        }
        Ok(routed)
    }

    /// Makes `alert`, about an address, one about `resident`. `None` when it is no longer about
    /// that address or was resolved; `Conflict` when the resident already has an open alert of
    /// its kind.
    pub async fn link(
        &self,
        alert: &Alert,
        resident: &ResidentId,
        by: &Actor,
    ) -> Result<Option<Alert>, StorageError> {
        let linked = self
            .store
            .link_alert(alert.id, &alert.subject, resident, by, self.clock.now())
            .await?;
        if linked.is_some() {
            tracing::info!(alert_id = %alert.id, resident_id = %resident, "Alert linked to a resident.");
        }
        Ok(linked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_is_trimmed_and_bounded() {
        assert_eq!(
            Note::parse("  訪問します \n").unwrap().unwrap().as_str(),
            "訪問します"
        );
        assert_eq!(Note::parse(" \n ").unwrap(), None);
        let longest = "あ".repeat(NOTE_MAX);
        assert!(Note::parse(&longest).unwrap().is_some());
        assert_eq!(Note::parse(&format!("{longest}あ")), Err(NoteTooLong));
    }
}
