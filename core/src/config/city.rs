//! `[city]`: the city's time zone, registry of districts, and its target for emergencies.

use super::Invalid;
use serde::Deserialize;
use std::path::PathBuf;

/// The city.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CityConfig {
    /// IANA time zone of schedules and office hours.
    pub timezone: String,
    /// A registry file of districts and towns; empty: the built-in Fujisawa registry.
    pub registry: Option<PathBuf>,
    /// The city's target for emergencies, against which `/figures` counts: acknowledged within
    /// this many minutes of the press…
    pub ack_target_minutes: u32,
    /// …in at least this share of cases (percent).
    pub ack_target_percent: u32,
}

impl Default for CityConfig {
    fn default() -> Self {
        Self {
            timezone: "Asia/Tokyo".into(),
            registry: None,
            ack_target_minutes: 5,
            ack_target_percent: 95,
        }
    }
}

impl CityConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        self.timezone().map_err(|m| ("city.timezone", m))?;
        if !(1..=1440).contains(&self.ack_target_minutes) {
            return Err((
                "city.ack_target_minutes",
                format!(
                    "{} minutes: the target is from 1 minute to a day (1440), e.g. 5",
                    self.ack_target_minutes
                ),
            ));
        }
        if !(1..=100).contains(&self.ack_target_percent) {
            return Err((
                "city.ack_target_percent",
                format!(
                    "{} %: a share from 1 to 100, e.g. 95",
                    self.ack_target_percent
                ),
            ));
        }
        Ok(())
    }

    /// The city's time zone.
    pub fn timezone(&self) -> Result<chrono_tz::Tz, String> {
        self.timezone
            .parse()
            .map_err(|_| format!("unknown time zone {:?} (e.g. Asia/Tokyo)", self.timezone))
    }
}
