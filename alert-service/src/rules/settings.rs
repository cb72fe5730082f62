//! The tunables of the rules that are the same for everyone: `[rules]` in the configuration.

use chrono::Duration;

/// Tunables of the rules that are the same for everyone (`[rules]` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    /// A device is offline after this many heartbeat intervals without a message.
    pub heartbeat_misses: u32,
    /// Battery at or below this is low.
    pub battery_low_percent: u8,
    /// While the battery stays low, at most one alert per device in this time.
    pub battery_realert: Duration,
    /// A person or address with alerts of this many of the three kinds of trouble — an emergency
    /// press, silence (inactivity, daily window or check-in missed: one silent day can raise all
    /// three, and counts once) and a partner's concern — within `compound_window` is flagged for
    /// the coordinator as a compound case (複合). 0: never.
    pub compound_kinds: usize,
    pub compound_window: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            heartbeat_misses: 3,
            battery_low_percent: 20,
            battery_realert: Duration::days(1),
            compound_kinds: 3,
            compound_window: Duration::days(30),
        }
    }
}

impl EngineSettings {
    /// The settings of `[rules]`.
    pub fn from_config(rules: &mimamori_core::config::RulesConfig) -> Self {
        Self {
            heartbeat_misses: rules.heartbeat_misses,
            battery_low_percent: rules.battery_low_percent,
            battery_realert: Duration::hours(i64::from(rules.battery_realert_hours)),
            compound_kinds: rules.compound_kinds as usize,
            compound_window: Duration::days(i64::from(rules.compound_window_days)),
        }
    }
}
