//! Inactivity: an alert when a resident's silence reaches the policy's limit, counting only their
//! active hours and no time under a pause.
//!
//! Activity never touches the queue while a deadline is armed: when the deadline comes up it is
//! recomputed from the last activity and moved on if the resident was active since. Once a lapse
//! is settled (alerted now or before, or silence means nothing because every sensor is offline)
//! the rule goes idle, and the next activity — or monitoring resuming — arms it again.

use super::engine::{Decision, Engine};
use super::minutes;
use super::pause::pauses_json;
use super::queue::{Owner, Slot};
use super::state::ResidentState;
use crate::schedule::{DailySpan, after_counted_time};
use chrono::{DateTime, Utc};
use mimamori_core::domain::{AlertKind, CheckinPolicy, Severity, Subject};
use serde_json::json;

impl Engine {
    /// Re-arms every inactivity policy of a resident (activity after an idle spell, pauses
    /// changed, monitoring resumed).
    pub(super) fn arm_inactivity(&mut self, r: u32, now: DateTime<Utc>) {
        for i in 0..self.residents[r as usize].policies.len() {
            if matches!(
                self.residents[r as usize].policies[i],
                CheckinPolicy::Inactivity { .. }
            ) {
                self.arm(r, Slot::Inactivity(i as u16), now, false);
            }
        }
    }

    /// When the current silence reaches the limit of inactivity policy `policy`; `None` while an
    /// open-ended pause holds (it is re-armed when the pause ends).
    pub(super) fn inactivity_deadline(&self, r: u32, policy: u16) -> Option<DateTime<Utc>> {
        let state = &self.residents[r as usize];
        let &CheckinPolicy::Inactivity {
            max_silence_minutes,
            active_from,
            active_to,
        } = &state.policies[usize::from(policy)]
        else {
            return None;
        };
        after_counted_time(
            self.tz,
            DailySpan {
                from: active_from,
                to: active_to,
            },
            &state.pauses,
            state.inactivity_lapse(),
            minutes(max_silence_minutes),
        )
    }

    pub(super) fn inactivity_due(
        &mut self,
        r: u32,
        policy: u16,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) {
        let &CheckinPolicy::Inactivity {
            max_silence_minutes,
            active_from,
            active_to,
        } = &self.residents[r as usize].policies[usize::from(policy)]
        else {
            return;
        };
        let slot = Slot::Inactivity(policy);
        let state = &self.residents[r as usize];
        let lapse = state.inactivity_lapse();
        // Activity never touches the queue: the deadline is recomputed here, and moved on when the
        // resident was active since it was queued.
        let deadline = match self.inactivity_deadline(r, policy) {
            // An open-ended pause: re-armed when it ends.
            None => {
                self.residents[r as usize].idle = true;
                return;
            }
            Some(t) if t > now => {
                let generation = state.generations[slot.index()];
                self.queue.push(t, Owner::Resident(r, slot), generation);
                return;
            }
            Some(t) => t,
        };
        let offline = self.offline_sensors(r);
        let unmonitored = !state.sensors.is_empty() && offline.len() == state.sensors.len();
        if unmonitored {
            // Silence that dead sensors cause is not the resident's: the unmonitored alert speaks
            // for it. Monitoring resuming re-arms this rule.
            self.residents[r as usize].idle = true;
            return;
        }
        // From here on this lapse is settled (alerted now or before): the next activity re-arms.
        self.residents[r as usize].idle = true;
        let state = &self.residents[r as usize];
        let subject = Subject::Resident(state.id.clone());
        if state.sensors.is_empty() || self.fired_since(&subject, AlertKind::Inactivity, lapse) {
            return;
        }
        out.push(self.alert(
            r,
            AlertKind::Inactivity,
            Severity::High,
            now,
            json!({
                "rule": "inactivity",
                "max_silence_minutes": max_silence_minutes,
                "active_hours": [active_from.format("%H:%M").to_string(), active_to.format("%H:%M").to_string()],
                "last_activity": state.last_activity,
                "silence_counted_from": lapse,
                "deadline": deadline,
                "pauses_considered": pauses_json(&state.pauses),
                "sensors": state.sensors.len(),
                "sensors_offline": offline,
            }),
        ));
    }
}

impl ResidentState {
    /// Where the resident's current silence began: the last activity, or monitoring resuming, or
    /// registration, whichever is latest.
    pub(super) fn inactivity_lapse(&self) -> DateTime<Utc> {
        [self.last_activity, self.monitoring_since]
            .into_iter()
            .flatten()
            .fold(self.registered_at, DateTime::max)
    }
}
