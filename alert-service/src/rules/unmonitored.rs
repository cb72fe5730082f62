//! Unmonitored residents: when every activity sensor of a resident who is watched for activity
//! (inactivity or a daily window) is offline, silence says nothing about them. One alert says so,
//! once per outage, and the rules of silence hold back until a sensor is back.

use super::engine::{Decision, Engine};
use chrono::{DateTime, Utc};
use mimamori_core::domain::{AlertKind, CheckinPolicy, Severity, Subject};
use serde_json::json;

impl Engine {
    /// Called when one of resident `r`'s devices goes offline at `at`.
    pub(super) fn check_unmonitored(&mut self, r: u32, at: DateTime<Utc>, out: &mut Vec<Decision>) {
        let state = &self.residents[r as usize];
        let watches_activity = state.policies.iter().any(|p| {
            matches!(
                p,
                CheckinPolicy::Inactivity { .. } | CheckinPolicy::DailyWindow { .. }
            )
        });
        if state.sensors.is_empty() || !watches_activity {
            return;
        }
        let mut last_offline = None;
        for s in &state.sensors {
            match self.devices[*s as usize].offline_since {
                None => return,
                Some(t) => last_offline = Some(last_offline.map_or(t, |l: DateTime<Utc>| l.max(t))),
            }
        }
        let lapse = last_offline.unwrap_or(at);
        let subject = Subject::Resident(state.id.clone());
        if self.fired_since(&subject, AlertKind::Unmonitored, lapse) {
            return;
        }
        let offline = self.offline_sensors(r);
        out.push(self.alert(
            r,
            AlertKind::Unmonitored,
            Severity::High,
            at,
            json!({
                "rule": "unmonitored",
                "sensors_offline": offline,
                "since": lapse,
                "note": "every activity sensor is offline: silence says nothing about the resident",
            }),
        ));
    }

    /// The ids of resident `r`'s activity sensors that are offline.
    pub(super) fn offline_sensors(&self, r: u32) -> Vec<String> {
        self.residents[r as usize]
            .sensors
            .iter()
            .map(|d| &self.devices[*d as usize])
            .filter(|d| d.offline_since.is_some())
            .map(|d| d.id.to_string())
            .collect()
    }
}
