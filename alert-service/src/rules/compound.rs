//! Compound cases (複合): a person or address with alerts of `compound_kinds` of the three kinds
//! of trouble — an emergency press, silence, a partner's concern — within `compound_window` is
//! flagged for the coordinator. It is decided as alerts are noted: an alert that brings a kind of
//! trouble new within the window, and completes enough kinds, adds the compound decision.

use super::engine::Engine;
use chrono::{DateTime, Utc};
use mimamori_core::domain::{AlertKind, NewAlert, Severity, Subject};
use serde_json::json;

/// The kinds of trouble that make a compound case, each with the alert kinds that show it. Device
/// health (and unmonitored, which is about the sensors) does not count.
pub const COMPOUND_TROUBLES: [(&str, &[AlertKind]); 3] = [
    ("emergency", &[AlertKind::Emergency]),
    (
        "silence",
        &[
            AlertKind::Inactivity,
            AlertKind::DailyWindow,
            AlertKind::CheckinMissed,
        ],
    ),
    ("concern", &[AlertKind::Concern]),
];

impl Engine {
    /// Whether `a` is a kind of trouble its subject had not had within the window (asked before
    /// `a` itself is noted).
    pub(super) fn is_new_trouble(&self, a: &NewAlert) -> bool {
        let since = a.at - self.settings.compound_window;
        COMPOUND_TROUBLES
            .iter()
            .find(|(_, kinds)| kinds.contains(&a.kind))
            .is_some_and(|(_, kinds)| !self.troubled_since(&a.subject, kinds, since))
    }

    fn troubled_since(&self, subject: &Subject, kinds: &[AlertKind], since: DateTime<Utc>) -> bool {
        kinds.iter().any(|k| self.fired_since(subject, *k, since))
    }

    /// The compound case `a` completes, if the subject now has enough kinds of trouble within the
    /// window.
    pub(super) fn compound(&self, a: &NewAlert) -> Option<NewAlert> {
        let since = a.at - self.settings.compound_window;
        let troubles: Vec<&str> = COMPOUND_TROUBLES
            .iter()
            .filter(|(_, kinds)| self.troubled_since(&a.subject, kinds, since))
            .map(|(name, _)| *name)
            .collect();
        if self.settings.compound_kinds == 0 || troubles.len() < self.settings.compound_kinds {
            return None;
        }
        Some(NewAlert {
            subject: a.subject.clone(),
            kind: AlertKind::Compound,
            severity: Severity::High,
            district: a.district.clone(),
            summary: AlertKind::Compound.label_ja().to_string(),
            detail: json!({
                "rule": "compound",
                "troubles": troubles,
                "window_days": self.settings.compound_window.num_days(),
                "completed_by": a.kind,
            }),
            at: a.at,
        })
    }
}
