//! Check-in: an explicit 元気です by a time each day, with a grace period before the alert, and
//! an optional reminder to the resident's own devices before it is due. Only a check-in counts;
//! other activity does not. A pause at the deadline keeps both the reminder and the alert quiet.

use super::engine::{Decision, Engine};
use super::minutes;
use super::pause::pauses_json;
use super::queue::Slot;
use crate::schedule::DailySpan;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use mimamori_core::domain::{AlertKind, CheckinPolicy, Severity, Subject};
use serde_json::json;

impl Engine {
    /// The end of the grace of check-in policy `policy`.
    pub(super) fn checkin_deadline(
        &self,
        r: u32,
        policy: u16,
        now: DateTime<Utc>,
        starting: bool,
    ) -> Option<DateTime<Utc>> {
        let &CheckinPolicy::Checkin {
            due, grace_minutes, ..
        } = &self.residents[r as usize].policies[usize::from(policy)]
        else {
            return None;
        };
        Some(self.span_end(r, checkin_span(due, grace_minutes), now, starting))
    }

    pub(super) fn checkin_due(
        &mut self,
        r: u32,
        policy: u16,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) {
        let &CheckinPolicy::Checkin {
            due, grace_minutes, ..
        } = &self.residents[r as usize].policies[usize::from(policy)]
        else {
            return;
        };
        let span = checkin_span(due, grace_minutes);
        let (_, end) = span.last_ended_by(self.tz, now);
        let (_, previous_end) = span.last_ended_by(self.tz, end - Duration::seconds(1));
        let state = &self.residents[r as usize];
        let subject = Subject::Resident(state.id.clone());
        let checked_in = state.last_checkin.is_some_and(|t| t > previous_end);
        let paused = state.paused_at(end);
        if !checked_in
            && !paused
            && end > state.registered_at
            && !self.fired_since(&subject, AlertKind::CheckinMissed, end)
        {
            out.push(self.alert(
                r,
                AlertKind::CheckinMissed,
                Severity::High,
                now,
                json!({
                    "rule": "checkin",
                    "due_local": due.format("%H:%M").to_string(),
                    "grace_minutes": grace_minutes,
                    "deadline": end,
                    "counted_since": previous_end,
                    "last_checkin": state.last_checkin,
                    "pauses_considered": pauses_json(&state.pauses),
                }),
            ));
        }
        self.arm(r, Slot::Checkin(policy), now, false);
    }

    /// When the reminder of check-in policy `policy` is next sent.
    pub(super) fn reminder_deadline(
        &self,
        r: u32,
        policy: u16,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let &CheckinPolicy::Checkin {
            due,
            remind_minutes_before: Some(before),
            ..
        } = &self.residents[r as usize].policies[usize::from(policy)]
        else {
            return None;
        };
        let at = due - minutes(before);
        let span = DailySpan {
            from: at,
            to: at + Duration::seconds(1),
        };
        Some(span.next_ending_after(self.tz, now).0.max(now))
    }

    pub(super) fn reminder_due(
        &mut self,
        r: u32,
        policy: u16,
        deadline: DateTime<Utc>,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) {
        let &CheckinPolicy::Checkin {
            due, grace_minutes, ..
        } = &self.residents[r as usize].policies[usize::from(policy)]
        else {
            return;
        };
        let tz = self.tz;
        let (_, previous_end) = checkin_span(due, grace_minutes).last_ended_by(tz, deadline);
        let state = &self.residents[r as usize];
        let checked_in = state.last_checkin.is_some_and(|t| t > previous_end);
        let paused = state.paused_at(deadline);
        // A reminder long past (the service was down) is not sent late.
        if !checked_in
            && !paused
            && now - deadline < minutes(grace_minutes).max(Duration::minutes(10))
        {
            out.push(Decision::Reminder {
                resident: state.id.clone(),
                devices: state
                    .other_devices
                    .iter()
                    .map(|d| self.devices[*d as usize].id.clone())
                    .collect(),
                due: crate::schedule::instant(tz, deadline.with_timezone(&tz).date_naive(), due)
                    .max(deadline),
            });
        }
        self.arm(
            r,
            Slot::CheckinReminder(policy),
            now + Duration::seconds(1),
            false,
        );
    }
}

/// A check-in's daily stretch: from the time it is due to the end of its grace.
fn checkin_span(due: NaiveTime, grace_minutes: u32) -> DailySpan {
    DailySpan {
        from: due,
        to: due + minutes(grace_minutes),
    }
}
