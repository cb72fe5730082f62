//! `[alerts]`: routing and escalation, as data.

use super::Invalid;
use crate::domain::{AlertKind, TeamKind};
use serde::Deserialize;

/// Routing and escalation, as data. Unset parts keep the built-in defaults (see docs/ALERTS.md).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// When district offices are staffed (city time), e.g. `mon-fri 08:30-17:15`; `""`: always.
    /// Unset: `mon-fri 08:30-17:15`.
    pub office_hours: Option<String>,
    /// The team also told about people's alerts outside office hours. Unset: `coordinator`.
    pub after_hours: Option<TeamKind>,
    /// The routing table, first match wins; given, it replaces the built-in table as a whole.
    pub routes: Option<Vec<RouteConfig>>,
    /// Escalation chains; each replaces the built-in chain of its kind, other kinds keep theirs.
    pub escalations: Vec<EscalationConfig>,
    /// Several `mimamori alerts` on one database: one runs the rules and escalations under a
    /// lease of this many seconds, renewed every third of it; a standby takes over when it lapses.
    /// Unset: [`AlertsConfig::DEFAULT_LEADER_LEASE_SECONDS`].
    pub leader_lease_seconds: Option<u64>,
}

/// One routing rule: alerts of `kinds` (about residents of at least `min_age`, when given) go to
/// the district's team of kind `team` (or the city-wide team of that kind).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub kinds: Vec<AlertKind>,
    #[serde(default)]
    pub min_age: Option<i32>,
    pub team: TeamKind,
}

/// One escalation chain: without acknowledgement, after `first_after_minutes` the city-wide team
/// `to` is told, then everyone again every `repeat_every_minutes` (no cap).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    pub kind: AlertKind,
    pub first_after_minutes: u32,
    pub to: TeamKind,
    /// Unset: the same as `first_after_minutes`.
    #[serde(default)]
    pub repeat_every_minutes: Option<u32>,
}

impl AlertsConfig {
    pub const DEFAULT_LEADER_LEASE_SECONDS: u64 = 15;

    /// How long the rules' lease runs without renewal.
    pub fn leader_lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(
            self.leader_lease_seconds
                .unwrap_or(Self::DEFAULT_LEADER_LEASE_SECONDS),
        )
    }

    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if let Some(s) = self.leader_lease_seconds
            && !(3..=600).contains(&s)
        {
            return Err((
                "alerts.leader_lease_seconds",
                format!("{s} must be between 3 and 600"),
            ));
        }
        if let Some(h) = self
            .office_hours
            .as_deref()
            .filter(|h| !h.trim().is_empty())
        {
            crate::domain::OfficeHours::parse(h)
                .map_err(|e| ("alerts.office_hours", e.to_string()))?;
        }
        for (i, r) in self.routes.iter().flatten().enumerate() {
            if r.kinds.is_empty() {
                return Err((
                    "alerts.routes",
                    format!("rule {}: kinds must not be empty", i + 1),
                ));
            }
            if let Some(age) = r.min_age
                && !(0..=130).contains(&age)
            {
                return Err((
                    "alerts.routes",
                    format!("rule {}: min_age {age} is not an age", i + 1),
                ));
            }
        }
        let mut seen = Vec::new();
        for e in &self.escalations {
            if seen.contains(&e.kind) {
                return Err(("alerts.escalations", format!("{} has two chains", e.kind)));
            }
            seen.push(e.kind);
            if e.first_after_minutes == 0 || e.repeat_every_minutes == Some(0) {
                return Err((
                    "alerts.escalations",
                    format!("{}: waits are at least 1 minute", e.kind),
                ));
            }
            if !matches!(e.to, TeamKind::Coordinator | TeamKind::Operators) {
                return Err((
                    "alerts.escalations",
                    format!(
                        "{}: to must be a city-wide team (coordinator or operators), not {}",
                        e.kind, e.to
                    ),
                ));
            }
        }
        Ok(())
    }
}
