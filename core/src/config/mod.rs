//! Configuration: built-in defaults, then a TOML file, then `MIMAMORI__SECTION__KEY` environment
//! variables (`MIMAMORI__DATA_DIR` for top-level keys).
//!
//! Every problem is one line that names where it is — the file and line, or the environment
//! variable — and the key: `mimamori.toml:12: storage.url: unsupported database URL scheme "mysql"`.
//! Loading never writes anything.
//!
//! One module per section, each with its settings, their defaults and their checks; [`loader`]
//! layers the sources and turns a failed check into a [`ConfigError`].

mod alerts;
mod broker;
mod city;
mod gateway;
mod http;
mod loader;
mod log;
mod mqtt;
mod notify;
mod rules;
mod storage;

pub use alerts::{AlertsConfig, EscalationConfig, RouteConfig};
pub use broker::BrokerConfig;
pub use city::CityConfig;
pub use gateway::{GatewayConfig, MessageAuth};
pub use http::HttpConfig;
pub use log::{LogConfig, LogFormat};
pub use mqtt::{MqttConfig, mqtt_addresses, mqtt_host_port};
pub use notify::{
    EmailConfig, EmailTransport, NotifyConfig, SmtpSecurity, TelegramConfig, TelegramMode,
    WebhookConfig,
};
pub use rules::RulesConfig;
pub use storage::{Backend, StorageConfig, backend_of, redact_url};

use serde::Deserialize;
use std::path::PathBuf;

/// The environment variable prefix of overrides.
pub const ENV_PREFIX: &str = "MIMAMORI__";

/// A complete, commented example that loads as it is and equals the defaults.
pub const EXAMPLE: &str = include_str!("../../../config/mimamori.example.toml");

/// What a section's check found wrong: the dotted key, and why. The loader adds where it was set.
pub(crate) type Invalid = (&'static str, String);

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded defaults keep their files (the SQLite database, demo mail…).
    pub data_dir: PathBuf,
    pub storage: StorageConfig,
    pub broker: BrokerConfig,
    pub mqtt: MqttConfig,
    pub gateway: GatewayConfig,
    pub notify: NotifyConfig,
    /// Who receives which alerts, and who is told when nobody acknowledges.
    pub alerts: AlertsConfig,
    /// Tunables of the rules that are not per resident (device health, compound cases).
    pub rules: RulesConfig,
    pub http: HttpConfig,
    pub city: CityConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("mimamori-data"),
            storage: StorageConfig::default(),
            broker: BrokerConfig::default(),
            mqtt: MqttConfig::default(),
            gateway: GatewayConfig::default(),
            notify: NotifyConfig::default(),
            alerts: AlertsConfig::default(),
            rules: RulesConfig::default(),
            http: HttpConfig::default(),
            city: CityConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// A configuration problem, printed as one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{line}: {key}{message}", line = line.map(|l| format!(":{l}")).unwrap_or_default(), key = key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default())]
pub struct ConfigError {
    /// The file path or the environment variable.
    pub origin: String,
    pub line: Option<usize>,
    /// The dotted key, e.g. `storage.url`.
    pub key: Option<String>,
    pub message: String,
}

impl Config {
    /// Checks what types alone cannot, section by section; the first problem wins.
    fn validate(&self) -> Result<(), Invalid> {
        self.storage.validate()?;
        self.city.validate()?;
        self.alerts.validate()?;
        self.rules.validate()?;
        self.http.validate()?;
        self.mqtt.validate(self.broker.enabled)?;
        self.broker.validate()?;
        self.notify.validate()?;
        self.gateway.validate()
    }

    /// The city's time zone.
    pub fn timezone(&self) -> Result<chrono_tz::Tz, String> {
        self.city.timezone()
    }

    /// The database URL to use: the configured one, or a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.storage.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("mimamori.db").display())
        } else {
            self.storage.url.clone()
        }
    }
}

#[cfg(test)]
mod tests;
