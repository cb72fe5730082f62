//! Security events — a message on a device's topic that the device did not sign, a report on the
//! topic of a partner that does not exist or may not send — written so that a flood of them cannot
//! fill the audit log or the log.
//!
//! Events are counted per (sender, reason) in windows of `interval`: the first of a window is
//! written at once (one audit row, one log line); the others are counted, and written as one
//! summary row and line with their count once the window has ended — at the next event of that
//! sender and reason, or at the gateway's next sweep ([`SecurityEvents::due`]). 20,000 forged
//! messages in a minute are two rows and two lines.
//!
//! The windows are bounded too: at most [`MAX_WINDOWS`] senders are followed one by one. Beyond
//! them (a flood naming ever new ids), events are counted per reason under one sender `*`, whose
//! rows carry no object id. A window ends and is forgotten after its interval, its summary
//! written, so what a flood leaves behind is gone one interval after it.

use chrono::{DateTime, Duration, Utc};
use mimamori_core::domain::{Actor, NewAuditEntry};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;

/// Most senders followed one by one.
pub const MAX_WINDOWS: usize = 1024;

/// The sender of events counted together once [`MAX_WINDOWS`] senders are followed.
const MANY: &str = "*";

/// Why a message was a security event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityReason {
    /// On a device's topic, not signed with that device's key.
    BadMac,
    /// On the topic of a partner id nobody registered.
    UnknownPartner,
    /// On the topic of a partner whose every token is revoked.
    DisabledPartner,
    /// A partner's report claiming to come from another partner.
    OtherPartner,
}

impl SecurityReason {
    /// The audit log's action.
    pub fn action(self) -> &'static str {
        match self {
            Self::BadMac => "security.bad_mac",
            Self::UnknownPartner => "security.unknown_partner",
            Self::DisabledPartner => "security.disabled_partner",
            Self::OtherPartner => "security.other_partner",
        }
    }

    /// Whose id the sender is.
    fn subject(self) -> &'static str {
        match self {
            Self::BadMac => "device",
            _ => "partner",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::BadMac => "message authentication failed: not signed by this device",
            Self::UnknownPartner => "report on the topic of an unknown partner",
            Self::DisabledPartner => "report of a partner whose tokens are all revoked",
            Self::OtherPartner => "report claiming to come from another partner",
        }
    }
}

/// One (sender, reason)'s current window.
#[derive(Debug)]
struct Window {
    started: DateTime<Utc>,
    /// The first event's topic, for the summary.
    topic: String,
    /// Events after the first, not written yet.
    repeated: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub struct SecurityEvents {
    interval: Duration,
    windows: Mutex<HashMap<(String, SecurityReason), Window>>,
}

impl SecurityEvents {
    /// Counting in windows of `interval` (at least a second).
    pub fn new(interval: Duration) -> Self {
        Self {
            interval: interval.max(Duration::seconds(1)),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Notes one event of `sender` (a device or partner id, as the topic names it) on `topic` at
    /// `now`, and logs what is due. Returns the audit entries to write now: none while the
    /// sender's window is open; else the summary of its last window (when it had repeats) and
    /// this event, the first of a new window.
    pub fn note(
        &self,
        reason: SecurityReason,
        sender: &str,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Vec<NewAuditEntry> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut due = Vec::new();
        let mut key = (sender.to_string(), reason);
        if !windows.contains_key(&key) && windows.len() >= MAX_WINDOWS {
            self.close_ended(&mut windows, now, &mut due);
            if windows.len() >= MAX_WINDOWS {
                key.0 = MANY.to_string();
            }
        }
        if let Some(w) = windows.get_mut(&key) {
            if now < w.started + self.interval {
                w.repeated += 1;
                return due;
            }
            let ended = windows.remove(&key).expect("present");
            due.extend(self.summary(&key, ended));
        }
        tracing::warn!(
            sender = key.0.as_str(),
            subject = reason.subject(),
            reason = reason.action(),
            topic,
            "Security: {}; message refused.",
            reason.describe()
        );
        due.push(NewAuditEntry {
            actor: Actor("gateway".into()),
            action: reason.action().into(),
            object_kind: "security".into(),
            object_id: (key.0 != MANY).then(|| key.0.clone()),
            detail: json!({
                "subject": reason.subject(),
                "topic": topic,
                "reason": reason.describe(),
            }),
            at: now,
        });
        windows.insert(
            key,
            Window {
                started: now,
                topic: topic.to_string(),
                repeated: 0,
            },
        );
        due
    }

    /// The summaries of the windows that have ended by `now`, which are forgotten.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<NewAuditEntry> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut due = Vec::new();
        self.close_ended(&mut windows, now, &mut due);
        due
    }

    /// How many (sender, reason) windows are open.
    pub fn open(&self) -> usize {
        self.windows.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn close_ended(
        &self,
        windows: &mut HashMap<(String, SecurityReason), Window>,
        now: DateTime<Utc>,
        due: &mut Vec<NewAuditEntry>,
    ) {
        let ended: Vec<_> = windows
            .iter()
            .filter(|(_, w)| now >= w.started + self.interval)
            .map(|(k, _)| k.clone())
            .collect();
        for key in ended {
            let w = windows.remove(&key).expect("present");
            due.extend(self.summary(&key, w));
        }
        if windows.capacity() > 2 * windows.len() + 16 {
            windows.shrink_to_fit();
        }
    }

    /// The summary row of an ended window, and its log line; none when it had no repeats.
    fn summary(
        &self,
        (sender, reason): &(String, SecurityReason),
        w: Window,
    ) -> Option<NewAuditEntry> {
        if w.repeated == 0 {
            return None;
        }
        let ended = w.started + self.interval;
        tracing::warn!(
            sender = sender.as_str(),
            subject = reason.subject(),
            reason = reason.action(),
            repeated = w.repeated,
            since = %w.started.to_rfc3339(),
            "Security: {} more refused in {} s after the first ({}).",
            w.repeated,
            self.interval.num_seconds(),
            reason.describe()
        );
        Some(NewAuditEntry {
            actor: Actor("gateway".into()),
            action: reason.action().into(),
            object_kind: "security".into(),
            object_id: (sender != MANY).then(|| sender.clone()),
            detail: json!({
                "subject": reason.subject(),
                "topic": w.topic,
                "reason": reason.describe(),
                "repeated": w.repeated,
                "from": w.started.to_rfc3339(),
                "to": ended.to_rfc3339(),
            }),
            at: ended,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::milliseconds(ms)
    }

    const MIN: i64 = 60_000;

    #[test]
    fn the_first_is_written_at_once_and_the_rest_as_one_summary() {
        let s = SecurityEvents::new(Duration::minutes(1));
        let first = s.note(SecurityReason::BadMac, "d-1", "topic", t(0));
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].object_id.as_deref(), Some("d-1"));
        for i in 1..1000 {
            assert!(
                s.note(SecurityReason::BadMac, "d-1", "topic", t(i))
                    .is_empty()
            );
        }
        assert!(s.due(t(MIN - 1)).is_empty(), "the window is still open");
        let summary = s.due(t(MIN));
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].detail["repeated"], 999);
        assert_eq!(summary[0].at, t(MIN));
        assert_eq!(s.open(), 0, "an ended window is forgotten");
    }

    #[test]
    fn the_next_event_after_a_window_writes_its_summary_and_opens_another() {
        let s = SecurityEvents::new(Duration::minutes(1));
        s.note(SecurityReason::BadMac, "d-1", "topic", t(0));
        s.note(SecurityReason::BadMac, "d-1", "topic", t(1));
        let next = s.note(SecurityReason::BadMac, "d-1", "topic", t(MIN + 5));
        assert_eq!(next.len(), 2);
        assert_eq!(next[0].detail["repeated"], 1);
        assert!(next[1].detail.get("repeated").is_none());
        // A window without repeats has no summary.
        assert_eq!(
            s.note(SecurityReason::BadMac, "d-1", "topic", t(3 * MIN))
                .len(),
            1
        );
    }

    #[test]
    fn senders_and_reasons_are_counted_apart() {
        let s = SecurityEvents::new(Duration::minutes(1));
        assert_eq!(s.note(SecurityReason::BadMac, "d-1", "a", t(0)).len(), 1);
        assert_eq!(s.note(SecurityReason::BadMac, "d-2", "b", t(0)).len(), 1);
        assert_eq!(
            s.note(SecurityReason::UnknownPartner, "d-1", "c", t(0))
                .len(),
            1
        );
        assert_eq!(s.open(), 3);
    }

    #[test]
    fn beyond_the_cap_senders_are_counted_together() {
        let s = SecurityEvents::new(Duration::minutes(1));
        let mut rows = 0;
        for i in 0..20_000 {
            rows += s
                .note(
                    SecurityReason::UnknownPartner,
                    &format!("pt-{i}"),
                    "t",
                    t(i),
                )
                .len();
        }
        assert_eq!(s.open(), MAX_WINDOWS + 1);
        assert_eq!(
            rows,
            MAX_WINDOWS + 1,
            "one row per followed sender, one for the rest"
        );
        let summaries = s.due(t(2 * MIN));
        assert_eq!(summaries.len(), 1, "only the shared window had repeats");
        assert_eq!(summaries[0].object_id, None);
        assert_eq!(
            summaries[0].detail["repeated"],
            20_000 - MAX_WINDOWS as u64 - 1
        );
        assert_eq!(s.open(), 0);
    }
}
