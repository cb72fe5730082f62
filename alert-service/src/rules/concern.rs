//! Partners' concerns (見守り協定): a report from a partner — a newspaper round, a utility, a
//! shop — alerts at once, about the linked resident (in their district) or the address (in the
//! district intake routed it to; none → triage). The report's own words go in the detail, which
//! only signed-in responders read.

use super::engine::{Decision, Engine};
use mimamori_core::domain::{AlertKind, DistrictId, NewAlert, Severity, Signal};
use serde_json::json;

/// The fields of a concern alert's detail (and of each report joining it) that are personal data:
/// the place, the partner's words, who to call back. Lists leave them out; the pages that show
/// them audit the view.
pub const CONCERN_PERSONAL: [&str; 3] = ["address", "note", "reporter"];

impl Engine {
    /// An urgent report is critical; any other, normal.
    pub(super) fn concern(&self, signal: &Signal, resident: Option<u32>) -> Decision {
        let body = &signal.body;
        let routed = body
            .get("district")
            .and_then(|d| d.as_str())
            .and_then(|d| DistrictId::parse(d).ok());
        let (subject, district) = self.about(signal, resident, routed);
        let urgent = body.get("urgent").and_then(|u| u.as_bool()) == Some(true);
        let field = |k: &str| body.get(k).cloned().unwrap_or(serde_json::Value::Null);
        Decision::Alert(NewAlert {
            subject,
            kind: AlertKind::Concern,
            severity: if urgent {
                Severity::Critical
            } else {
                Severity::Normal
            },
            district,
            summary: AlertKind::Concern.label_ja().to_string(),
            detail: json!({
                "rule": "concern",
                "signal": signal.id,
                "source": signal.source.key(),
                "observed_at": signal.effective_time(),
                "urgent": urgent,
                "seen": field("seen"),
                "route": field("route"),
                "address": field("address"),
                "note": field("note"),
                "reporter": field("reporter"),
                // CONCERN_PERSONAL lists the three above.
            }),
            at: signal.received_at,
        })
    }
}
