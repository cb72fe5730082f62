//! Emergency: a call-button press alerts at once, at the highest severity, about the resident
//! whose button it is (or the signal's own subject). A pause does not hold it back; the alert
//! only notes that the press came during one.

use super::engine::{Decision, Engine};
use mimamori_core::domain::{AlertKind, NewAlert, Severity, Signal};
use serde_json::json;

impl Engine {
    pub(super) fn emergency(&self, signal: &Signal, resident: Option<u32>) -> Decision {
        let (subject, district) = self.about(signal, resident, None);
        let paused =
            resident.is_some_and(|r| self.residents[r as usize].paused_at(signal.received_at));
        Decision::Alert(NewAlert {
            subject,
            kind: AlertKind::Emergency,
            severity: Severity::Critical,
            district,
            summary: AlertKind::Emergency.label_ja().to_string(),
            detail: json!({
                "rule": "emergency",
                "signal": signal.id,
                "source": signal.source.key(),
                "pressed_at": signal.effective_time(),
                "during_pause": paused,
            }),
            at: signal.received_at,
        })
    }
}
