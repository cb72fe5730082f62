//! `[city]`: the city's time zone and registry of districts.

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
}

impl Default for CityConfig {
    fn default() -> Self {
        Self {
            timezone: "Asia/Tokyo".into(),
            registry: None,
        }
    }
}

impl CityConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        self.timezone()
            .map(|_| ())
            .map_err(|m| ("city.timezone", m))
    }

    /// The city's time zone.
    pub fn timezone(&self) -> Result<chrono_tz::Tz, String> {
        self.timezone
            .parse()
            .map_err(|_| format!("unknown time zone {:?} (e.g. Asia/Tokyo)", self.timezone))
    }
}
