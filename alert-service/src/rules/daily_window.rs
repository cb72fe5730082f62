//! Daily window: at least one activity between two local times each day, else an alert at the
//! window's end — unless a pause overlapped the window or no sensor could have seen the resident.

use super::engine::{Decision, Engine};
use super::pause::pauses_json;
use super::queue::Slot;
use crate::schedule::DailySpan;
use chrono::{DateTime, Utc};
use mimamori_core::domain::{AlertKind, CheckinPolicy, Severity, Subject};
use serde_json::json;

impl Engine {
    /// The end of the window of daily-window policy `policy`.
    pub(super) fn daily_window_deadline(
        &self,
        r: u32,
        policy: u16,
        now: DateTime<Utc>,
        starting: bool,
    ) -> Option<DateTime<Utc>> {
        let &CheckinPolicy::DailyWindow { from, to } =
            &self.residents[r as usize].policies[usize::from(policy)]
        else {
            return None;
        };
        Some(self.span_end(r, DailySpan { from, to }, now, starting))
    }

    pub(super) fn daily_window_due(
        &mut self,
        r: u32,
        policy: u16,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) {
        let &CheckinPolicy::DailyWindow { from, to } =
            &self.residents[r as usize].policies[usize::from(policy)]
        else {
            return;
        };
        let span = DailySpan { from, to };
        let (start, end) = span.last_ended_by(self.tz, now);
        let state = &self.residents[r as usize];
        let subject = Subject::Resident(state.id.clone());
        let seen = state.last_activity.is_some_and(|t| t >= start);
        let paused = state.paused_within(start, end);
        let monitored =
            !state.sensors.is_empty() && self.offline_sensors(r).len() < state.sensors.len();
        if !seen
            && !paused
            && monitored
            && end > state.registered_at
            && !self.fired_since(&subject, AlertKind::DailyWindow, end)
        {
            out.push(self.alert(
                r,
                AlertKind::DailyWindow,
                Severity::High,
                now,
                json!({
                    "rule": "daily_window",
                    "window": [start, end],
                    "window_local": [from.format("%H:%M").to_string(), to.format("%H:%M").to_string()],
                    "last_activity": state.last_activity,
                    "pauses_considered": pauses_json(&state.pauses),
                }),
            ));
        }
        self.arm(r, Slot::DailyWindow(policy), now, false);
    }
}
