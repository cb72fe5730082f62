//! Pauses: a hospital stay, travel, a short stay — times when the resident is known to be away.
//! The rules of silence (inactivity, daily window, check-in and its reminder) ask here and keep
//! quiet; inactivity does not count paused time at all. Emergencies still alert and only note
//! that they came during a pause. Every alert of silence lists the pauses it considered.

use super::engine::Engine;
use super::state::ResidentState;
use crate::schedule::Interval;
use chrono::{DateTime, Utc};
use mimamori_core::domain::ResidentId;
use serde_json::json;

impl Engine {
    /// Replaces a resident's pauses (an admin added or ended one) and re-arms their rules.
    pub fn set_pauses(&mut self, resident: &ResidentId, pauses: Vec<Interval>, now: DateTime<Utc>) {
        if let Some(r) = self.resident_index(resident) {
            self.residents[r as usize].pauses = pauses;
            self.arm_inactivity(r, now);
        }
    }
}

impl ResidentState {
    /// Whether a pause holds at `t`.
    pub(super) fn paused_at(&self, t: DateTime<Utc>) -> bool {
        self.pauses.iter().any(|p| p.covers(t))
    }

    /// Whether a pause holds at any time in `[start, end)`.
    pub(super) fn paused_within(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.pauses.iter().any(|p| p.overlaps(start, end))
    }
}

/// Pauses as they are recorded in an alert's explanation.
pub(super) fn pauses_json(pauses: &[Interval]) -> Vec<serde_json::Value> {
    pauses.iter().map(|p| json!([p.start, p.end])).collect()
}
