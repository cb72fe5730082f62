//! `[rules]`: the rules' tunables that are the same for every resident.

use super::Invalid;
use serde::Deserialize;

/// The rules' tunables that are the same for everyone (docs/RULES.md); the per-resident ones are
/// the residents' policies.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// A device is offline after this many heartbeat intervals without a message.
    pub heartbeat_misses: u32,
    /// Battery at or below this percentage is low.
    pub battery_low_percent: u8,
    /// While a battery stays low, at most one alert per device in this many hours.
    pub battery_realert_hours: u32,
    /// How many of the three kinds of trouble (emergency, silence, partner concern) make a
    /// compound case (複合) for the coordinator; 0: never.
    pub compound_kinds: u32,
    /// Within how many days.
    pub compound_window_days: u32,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            heartbeat_misses: 3,
            battery_low_percent: 20,
            battery_realert_hours: 24,
            compound_kinds: 3,
            compound_window_days: 30,
        }
    }
}

impl RulesConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.heartbeat_misses == 0 {
            return Err(("rules.heartbeat_misses", "must be at least 1".into()));
        }
        if !(1..=99).contains(&self.battery_low_percent) {
            return Err(("rules.battery_low_percent", "must be 1–99".into()));
        }
        if self.battery_realert_hours == 0 {
            return Err(("rules.battery_realert_hours", "must be at least 1".into()));
        }
        if self.compound_kinds > 3 {
            return Err((
                "rules.compound_kinds",
                "there are three kinds of trouble: 0 (off) to 3".into(),
            ));
        }
        if !(1..=365).contains(&self.compound_window_days) {
            return Err(("rules.compound_window_days", "must be 1–365".into()));
        }
        Ok(())
    }
}
