//! Configuration: built-in defaults, then a TOML file, then `MIMAMORI__SECTION__KEY` environment
//! variables (`MIMAMORI__DATA_DIR` for top-level keys).
//!
//! Every problem is one line that names where it is — the file and line, or the environment
//! variable — and the key: `mimamori.toml:12: storage.url: unsupported database URL scheme "mysql"`.
//! Loading never writes anything.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The environment variable prefix of overrides.
pub const ENV_PREFIX: &str = "MIMAMORI__";

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

/// The database.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`; empty: `data_dir/mimamori.db`.
    pub url: String,
    /// Connections in the pool.
    pub max_connections: u32,
}

/// The embedded MQTT broker.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Run the embedded broker in `mimamori up` (false: use the external broker of `mqtt.url`).
    pub enabled: bool,
    /// MQTT 3.1.1 listener address.
    pub listen: SocketAddr,
    /// MQTT 5 listener address; unset: no MQTT 5 listener.
    pub listen_v5: Option<SocketAddr>,
    /// MQTT over TLS (3.1.1) listener address; needs `tls_cert` and `tls_key`.
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain of the TLS listener.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8 or RSA) of the TLS listener.
    pub tls_key: Option<PathBuf>,
    /// Most simultaneous connections.
    pub max_connections: usize,
}

/// How platform components (gateways, notifiers) connect to the broker, embedded or external.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `mqtt://HOST:PORT`; empty: the embedded broker at `broker.listen`.
    pub url: String,
    /// The platform's service account. The embedded broker accepts it besides devices.
    pub username: String,
    /// Its password; empty: a random one per process (only all-in-one with the embedded broker).
    pub password: String,
    /// Client id of the gateway's persistent session; give each gateway process its own.
    pub client_id: String,
    /// Shared subscription group: several gateways with the same group split the device traffic.
    pub shared_group: String,
}

/// Ingestion of device and partner messages.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// `required`: every device event carries a valid HMAC (the only protection against one device
    /// speaking as another on the embedded broker); `optional`: checked when present — only
    /// behind a broker whose ACLs bind topics to usernames.
    pub message_auth: MessageAuth,
    /// Larger payloads are refused.
    pub max_payload_bytes: usize,
    /// Topic prefix of a zigbee2mqtt bridge; empty: the adapter is off.
    pub zigbee2mqtt_topic: String,
    /// A device clock further off than this is not believed.
    pub max_clock_skew_seconds: i64,
}

/// Where alerts are sent besides the people of the teams.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Publish every alert change on `mimamori/v1/alerts/{district}/{alert_id}` (QoS 1).
    pub mqtt_alerts: bool,
    /// Generic JSON webhooks (LINE WORKS, Slack-style receivers).
    pub webhooks: Vec<WebhookConfig>,
    /// Responders' Telegram chats, with acknowledge / resolve buttons.
    pub telegram: TelegramConfig,
    /// Responders' (and consenting contacts') email, with an acknowledgement link.
    pub email: EmailConfig,
}

/// The Telegram bot that tells responders and takes their acknowledgements.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Send alerts to responders' linked chats (`mimamori admin responder telegram-code`).
    pub enabled: bool,
    /// The bot token from @BotFather. Keep it out of files: `MIMAMORI__NOTIFY__TELEGRAM__TOKEN`.
    pub token: String,
    /// The Bot API server (a self-hosted Bot API server may stand in for Telegram's).
    pub api_url: String,
    /// `polling`: the bot asks for updates (no inbound port needed); `webhook`: Telegram posts
    /// them to `http.public_url` + `/telegram/webhook`.
    pub mode: TelegramMode,
    /// Secret Telegram sends with each webhook call (`X-Telegram-Bot-Api-Secret-Token`);
    /// required in webhook mode. Letters, digits, `_` and `-`, 16 to 256 of them.
    pub webhook_secret: String,
    /// Least time between two messages to one chat (Telegram allows about one a second).
    pub per_chat_interval_ms: u64,
    /// Most messages a second over all chats (Telegram allows about 30).
    pub max_per_second: u32,
}

/// How the bot receives updates (button presses, `/start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    Polling,
    Webhook,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            token: String::new(),
            api_url: "https://api.telegram.org".into(),
            mode: TelegramMode::Polling,
            webhook_secret: String::new(),
            per_chat_interval_ms: 1000,
            max_per_second: 25,
        }
    }
}

/// Email through an SMTP server, or into files for the demo.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Send alerts to responders' (and consenting contacts') email addresses.
    pub enabled: bool,
    /// `smtp`, or `file`: one `.eml` file per message in `file_dir` (demo, trials).
    pub transport: EmailTransport,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `starttls` (port 587), `tls` (implicit TLS, port 465), or `plain` (no encryption: only
    /// to a relay on the same host or a private network).
    pub security: SmtpSecurity,
    /// SMTP login; empty: none.
    pub username: String,
    /// SMTP password. Keep it out of files: `MIMAMORI__NOTIFY__EMAIL__PASSWORD`.
    pub password: String,
    /// The sender, e.g. `見守り mimamori <mimamori@city.example.jp>`.
    pub from: String,
    /// Folder of the file transport; unset: `data_dir/mail`.
    pub file_dir: Option<PathBuf>,
    /// A PEM CA certificate to trust besides the public roots (an internal mail server).
    pub ca_cert: Option<PathBuf>,
    /// How long an acknowledgement link in an email works.
    pub link_valid_hours: u32,
}

impl EmailConfig {
    /// The folder of the file transport: `file_dir`, or `data_dir/mail`.
    pub fn mail_dir(&self, data_dir: &Path) -> PathBuf {
        self.file_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("mail"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    Smtp,
    File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    Starttls,
    Tls,
    Plain,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            transport: EmailTransport::Smtp,
            smtp_host: String::new(),
            smtp_port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: String::new(),
            from: "見守り mimamori <mimamori@localhost>".into(),
            file_dir: None,
            ca_cert: None,
            link_valid_hours: 24,
        }
    }
}

/// One webhook receiver.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `https://…` (or `http://` on a private network).
    pub url: String,
    /// Key of the `X-Mimamori-Signature: sha256=…` HMAC over the body.
    pub secret: String,
    /// Only alerts routed to these teams (ids, e.g. `houkatsu-kugenuma`); empty: every alert.
    #[serde(default)]
    pub teams: Vec<String>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            mqtt_alerts: true,
            webhooks: Vec::new(),
            telegram: TelegramConfig::default(),
            email: EmailConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageAuth {
    Required,
    Optional,
}

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
    fn validate(&self) -> Result<(), (&'static str, String)> {
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

/// The HTTP server (dashboard, partner form, APIs, health).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// The address people use to reach the dashboard, for links in chat and mail.
    pub public_url: String,
    /// Wrong tokens (sign-in, report form, APIs) a client may send within
    /// `auth_failure_window_seconds` before it is refused (429) until that window ends. 0: no limit.
    pub max_auth_failures: u32,
    pub auth_failure_window_seconds: u64,
    /// Behind a reverse proxy: the header that carries the client's address (`x-forwarded-for`,
    /// `x-real-ip`; its last address counts). Empty: the connection's own address.
    pub client_ip_header: String,
}

impl HttpConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err((
                "http.public_url",
                format!("{:?} must start with http:// or https://", self.public_url),
            ));
        }
        if self.max_auth_failures > 0 && self.auth_failure_window_seconds == 0 {
            return Err((
                "http.auth_failure_window_seconds",
                "must be at least 1 when http.max_auth_failures is set".into(),
            ));
        }
        let header = self.client_ip_header.trim();
        if !header.is_empty()
            && !header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err((
                "http.client_ip_header",
                format!("{header:?} is not a header name"),
            ));
        }
        Ok(())
    }
}

/// Routing and escalation, as data. Unset parts keep the built-in defaults (see docs/ALERTS.md).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// When district offices are staffed (city time), e.g. `mon-fri 08:30-17:15`; `""`: always.
    /// Unset: `mon-fri 08:30-17:15`.
    pub office_hours: Option<String>,
    /// The team also told about people's alerts outside office hours. Unset: `coordinator`.
    pub after_hours: Option<crate::domain::TeamKind>,
    /// The routing table, first match wins; given, it replaces the built-in table as a whole.
    pub routes: Option<Vec<RouteConfig>>,
    /// Escalation chains; each replaces the built-in chain of its kind, other kinds keep theirs.
    pub escalations: Vec<EscalationConfig>,
}

/// One routing rule: alerts of `kinds` (about residents of at least `min_age`, when given) go to
/// the district's team of kind `team` (or the city-wide team of that kind).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub kinds: Vec<crate::domain::AlertKind>,
    #[serde(default)]
    pub min_age: Option<i32>,
    pub team: crate::domain::TeamKind,
}

/// One escalation chain: without acknowledgement, after `first_after_minutes` the city-wide team
/// `to` is told, then everyone again every `repeat_every_minutes` (no cap).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationConfig {
    pub kind: crate::domain::AlertKind,
    pub first_after_minutes: u32,
    pub to: crate::domain::TeamKind,
    /// Unset: the same as `first_after_minutes`.
    #[serde(default)]
    pub repeat_every_minutes: Option<u32>,
}

impl AlertsConfig {
    fn validate(&self) -> Result<(), (&'static str, String)> {
        use crate::domain::TeamKind;
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

/// The city.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CityConfig {
    /// IANA time zone of schedules and office hours.
    pub timezone: String,
    /// A registry file of districts and towns; empty: the built-in Fujisawa registry.
    pub registry: Option<PathBuf>,
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `info,mimamori_core=debug`; `RUST_LOG` wins when set.
    pub filter: String,
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
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

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 8,
        }
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 1883)),
            listen_v5: None,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            max_connections: 20_000,
        }
    }
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            username: "mimamori-service".into(),
            password: String::new(),
            client_id: "mimamori-gateway".into(),
            shared_group: String::new(),
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            message_auth: MessageAuth::Required,
            max_payload_bytes: 4096,
            zigbee2mqtt_topic: "zigbee2mqtt".into(),
            max_clock_skew_seconds: 300,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://localhost:8080".into(),
            max_auth_failures: 10,
            auth_failure_window_seconds: 600,
            client_ip_header: String::new(),
        }
    }
}

impl Default for CityConfig {
    fn default() -> Self {
        Self {
            timezone: "Asia/Tokyo".into(),
            registry: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            format: LogFormat::Text,
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

/// The database backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Config {
    /// Loads configuration: defaults, then `file` (when given), then the environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (mut value, text, origin) = match file {
            None => (toml::Table::new(), String::new(), String::new()),
            Some(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    origin: origin.clone(),
                    line: None,
                    key: None,
                    message: match e.kind() {
                        std::io::ErrorKind::NotFound => "configuration file not found".into(),
                        _ => format!("cannot read the configuration file: {e}"),
                    },
                })?;
                // Parse once into the typed config for precise errors (line, key), then keep
                // the table to merge the environment into.
                parse_typed(&text, &origin)?;
                let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError {
                    origin: origin.clone(),
                    line: e.span().map(|s| line_of(&text, s.start)),
                    key: None,
                    message: e.message().to_string(),
                })?;
                (table, text, origin)
            }
        };

        let mut env_keys = Vec::new();
        for (name, raw) in env {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
            if keys.iter().any(String::is_empty) {
                return Err(ConfigError {
                    origin: name.clone(),
                    line: None,
                    key: None,
                    message: "malformed variable name (use MIMAMORI__SECTION__KEY)".into(),
                });
            }
            set_path(&mut value, &keys, env_value(&raw)).map_err(|message| ConfigError {
                origin: name.clone(),
                line: None,
                key: Some(keys.join(".")),
                message,
            })?;
            env_keys.push((keys.join("."), name));
        }

        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(value)).map_err(|e| {
                let key = e.path().to_string();
                let origin = env_keys
                    .iter()
                    .find(|(k, _)| {
                        key == *k
                            || key.starts_with(&format!("{k}."))
                            || k.starts_with(&format!("{key}."))
                    })
                    .map(|(_, name)| name.clone())
                    .unwrap_or_else(|| origin.clone());
                ConfigError {
                    origin,
                    line: None,
                    key: (key != ".").then_some(key),
                    message: e.into_inner().message().to_string(),
                }
            })?;
        config.validate().map_err(|(key, message)| {
            let from_env = env_keys.iter().find(|(k, _)| *k == key);
            match from_env {
                Some((_, name)) => ConfigError {
                    origin: name.clone(),
                    line: None,
                    key: Some(key.to_string()),
                    message,
                },
                None => ConfigError {
                    origin: if origin.is_empty() {
                        "defaults".into()
                    } else {
                        origin.clone()
                    },
                    line: line_of_key(&text, key),
                    key: Some(key.to_string()),
                    message,
                },
            }
        })?;
        Ok(config)
    }

    /// Loads from the process environment.
    pub fn load_from_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, std::env::vars())
    }

    /// Checks what types alone cannot.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.storage.url.is_empty() {
            backend_of(&self.storage.url).map_err(|m| ("storage.url", m))?;
        }
        if self.storage.max_connections == 0 {
            return Err(("storage.max_connections", "must be at least 1".into()));
        }
        self.timezone().map_err(|m| ("city.timezone", m))?;
        self.alerts.validate()?;
        self.rules.validate()?;
        self.http.validate()?;
        if !self.mqtt.url.is_empty() {
            mqtt_host_port(&self.mqtt.url).map_err(|m| ("mqtt.url", m))?;
        } else if !self.broker.enabled {
            return Err((
                "mqtt.url",
                "the embedded broker is disabled: give the external broker's URL".into(),
            ));
        }
        if self.mqtt.client_id.is_empty() || self.mqtt.username.is_empty() {
            return Err((
                "mqtt.client_id",
                "client id and username must not be empty".into(),
            ));
        }
        if self.broker.tls_listen.is_some() {
            for (key, path) in [
                ("broker.tls_cert", &self.broker.tls_cert),
                ("broker.tls_key", &self.broker.tls_key),
            ] {
                match path {
                    None => return Err((key, "required with broker.tls_listen".into())),
                    Some(p) if !p.is_file() => {
                        return Err((key, format!("{} is not a readable file", p.display())));
                    }
                    Some(_) => {}
                }
            }
        }
        for w in &self.notify.webhooks {
            if !(w.url.starts_with("https://") || w.url.starts_with("http://")) {
                return Err((
                    "notify.webhooks.url",
                    format!("{:?} must start with https:// or http://", w.url),
                ));
            }
            if w.secret.len() < 16 {
                return Err((
                    "notify.webhooks.secret",
                    "must be at least 16 characters".into(),
                ));
            }
        }
        let telegram = &self.notify.telegram;
        if telegram.enabled {
            if telegram.token.trim().is_empty() {
                return Err((
                    "notify.telegram.token",
                    "required when notify.telegram.enabled (the token from @BotFather)".into(),
                ));
            }
            if !(telegram.api_url.starts_with("https://")
                || telegram.api_url.starts_with("http://"))
            {
                return Err((
                    "notify.telegram.api_url",
                    format!("{:?} must start with https:// or http://", telegram.api_url),
                ));
            }
            let secret_ok = (16..=256).contains(&telegram.webhook_secret.len())
                && telegram
                    .webhook_secret
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if telegram.mode == TelegramMode::Webhook && !secret_ok {
                return Err((
                    "notify.telegram.webhook_secret",
                    "webhook mode needs 16 to 256 letters, digits, _ or -".into(),
                ));
            }
            if telegram.max_per_second == 0 {
                return Err((
                    "notify.telegram.max_per_second",
                    "must be at least 1".into(),
                ));
            }
        }
        let email = &self.notify.email;
        if email.enabled {
            if email.transport == EmailTransport::Smtp && email.smtp_host.trim().is_empty() {
                return Err((
                    "notify.email.smtp_host",
                    "required when notify.email.enabled with the smtp transport".into(),
                ));
            }
            if !email.from.contains('@') {
                return Err((
                    "notify.email.from",
                    format!("{:?} is not a sender address", email.from),
                ));
            }
            if let Some(ca) = &email.ca_cert
                && !ca.is_file()
            {
                return Err((
                    "notify.email.ca_cert",
                    format!("{} is not a readable file", ca.display()),
                ));
            }
        }
        if email.link_valid_hours == 0 || email.link_valid_hours > 24 * 14 {
            return Err((
                "notify.email.link_valid_hours",
                "must be between 1 and 336 (two weeks)".into(),
            ));
        }
        if !(64..=262_144).contains(&self.gateway.max_payload_bytes) {
            return Err((
                "gateway.max_payload_bytes",
                "must be between 64 and 262144".into(),
            ));
        }
        Ok(())
    }

    /// The city's time zone.
    pub fn timezone(&self) -> Result<chrono_tz::Tz, String> {
        self.city.timezone.parse().map_err(|_| {
            format!(
                "unknown time zone {:?} (e.g. Asia/Tokyo)",
                self.city.timezone
            )
        })
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

/// Host and port of an `mqtt://HOST:PORT` URL.
pub fn mqtt_host_port(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| format!("{url:?} is not an mqtt://HOST:PORT URL"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "1883"));
    let port = port
        .parse()
        .map_err(|_| format!("{url:?} has no valid port"))?;
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// The backend of a database URL, or why it is not usable.
pub fn backend_of(url: &str) -> Result<Backend, String> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "sqlite" if url.len() > "sqlite:".len() => Ok(Backend::Sqlite),
        "postgres" | "postgresql" if url.contains("://") && url.len() > scheme.len() + 3 => {
            Ok(Backend::Postgres)
        }
        "sqlite" | "postgres" | "postgresql" => {
            Err(format!("{url:?} has no database path or host"))
        }
        "" => Err(format!(
            "{url:?} is not a database URL (expected sqlite://FILE or postgres://USER@HOST/DB)"
        )),
        other => Err(format!(
            "unsupported database URL scheme {other:?} (expected sqlite:// or postgres://)"
        )),
    }
}

fn parse_typed(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| ConfigError {
        origin: origin.to_string(),
        line: e.span().map(|s| line_of(text, s.start)),
        key: None,
        message: e.message().to_string(),
    })?;
    serde_path_to_error::deserialize::<_, Config>(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        ConfigError {
            origin: origin.to_string(),
            line: inner.span().map(|s| line_of(text, s.start)),
            key: (key != ".").then_some(key),
            message: inner.message().to_string(),
        }
    })
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where a dotted key (`section.key` or `key`) is set, if the file sets it.
fn line_of_key(text: &str, dotted: &str) -> Option<usize> {
    let (section, key) = match dotted.rsplit_once('.') {
        Some((s, k)) => (s, k),
        None => ("", dotted),
    };
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            current = h.trim().to_string();
        } else if current == section && t.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            return Some(i + 1);
        }
    }
    None
}

/// An environment value as TOML: numbers and booleans typed, anything else a string.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(i) = raw.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("empty key")?;
    let mut t = table;
    for k in parents {
        let entry = t
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("{k} is not a section"))?;
    }
    if t.get(last).is_some_and(toml::Value::is_table) {
        return Err(format!("{last} is a section, not a value"));
    }
    // A number given for a string setting (e.g. a numeric password) stays a string.
    t.insert(last.clone(), value);
    Ok(())
}

/// A complete, commented example that loads as it is and equals the defaults.
pub const EXAMPLE: &str = include_str!("../../config/mimamori.example.toml");

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::load(Some(write(text).path()), [])
    }

    #[test]
    fn the_example_loads_and_equals_the_defaults() {
        assert_eq!(load(EXAMPLE).unwrap(), Config::default());
    }

    #[test]
    fn environment_overrides_the_file() {
        let f = write("[storage]\nurl = \"sqlite://a.db\"\n");
        let env = [
            (
                "MIMAMORI__STORAGE__URL",
                "postgres://postgres@127.0.0.1/test",
            ),
            ("MIMAMORI__BROKER__LISTEN", "0.0.0.0:8883"),
            ("MIMAMORI__HTTP__LISTEN", "127.0.0.1:9090"),
            ("MIMAMORI__DATA_DIR", "/var/lib/mimamori"),
            ("MIMAMORI__STORAGE__MAX_CONNECTIONS", "20"),
            ("UNRELATED", "x"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let c = Config::load(Some(f.path()), env).unwrap();
        assert_eq!(c.storage.url, "postgres://postgres@127.0.0.1/test");
        assert_eq!(c.broker.listen.port(), 8883);
        assert_eq!(c.http.listen.port(), 9090);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/mimamori"));
        assert_eq!(c.storage.max_connections, 20);
    }

    #[test]
    fn an_unknown_key_names_file_line_and_key() {
        let f = write("data_dir = \"x\"\n\n[storage]\nurll = \"sqlite://a.db\"\n");
        let e = Config::load(Some(f.path()), []).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert_eq!(e.key.as_deref(), Some("storage.urll"), "{e}");
        assert!(e.message.contains("unknown field"), "{e}");
        assert!(!e.to_string().contains('\n'));
        assert!(
            e.to_string()
                .starts_with(&format!("{}:4: storage.urll: ", f.path().display()))
        );
    }

    #[test]
    fn a_wrong_type_names_file_line_and_key() {
        let e = load("[storage]\nmax_connections = \"many\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("storage.max_connections")),
            "{e}"
        );
        let e = load("[http]\nlisten = \"not an address\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("http.listen")),
            "{e}"
        );
    }

    #[test]
    fn a_bad_url_names_file_line_and_key() {
        let e = load("# db\n[storage]\nurl = \"mysql://x\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("storage.url")),
            "{e}"
        );
        assert!(e.message.contains("mysql"), "{e}");
        assert!(load("[storage]\nurl = \"nonsense\"\n").is_err());
        assert!(load("[storage]\nurl = \"postgres://\"\n").is_err());
    }

    #[test]
    fn bad_throttle_settings_name_their_key() {
        let e = load("[http]\nauth_failure_window_seconds = 0\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("http.auth_failure_window_seconds"));
        let e = load("[http]\nclient_ip_header = \"x forwarded\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("http.client_ip_header"));
        assert!(load("[http]\nmax_auth_failures = 0\nauth_failure_window_seconds = 0\n").is_ok());
        let c = load("[http]\nclient_ip_header = \"X-Forwarded-For\"\n").unwrap();
        assert_eq!(c.http.client_ip_header, "X-Forwarded-For");
    }

    #[test]
    fn bad_rule_settings_name_their_key() {
        for (text, key) in [
            ("[rules]\nheartbeat_misses = 0\n", "rules.heartbeat_misses"),
            (
                "[rules]\nbattery_low_percent = 100\n",
                "rules.battery_low_percent",
            ),
            ("[rules]\ncompound_kinds = 4\n", "rules.compound_kinds"),
            (
                "[rules]\ncompound_window_days = 0\n",
                "rules.compound_window_days",
            ),
        ] {
            assert_eq!(load(text).unwrap_err().key.as_deref(), Some(key), "{text}");
        }
        let c = load("[rules]\ncompound_kinds = 2\ncompound_window_days = 14\n").unwrap();
        assert_eq!(
            (c.rules.compound_kinds, c.rules.compound_window_days),
            (2, 14)
        );
    }

    #[test]
    fn a_missing_file_is_one_line() {
        let e = Config::load(Some(Path::new("/nonexistent/mimamori.toml")), []).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/mimamori.toml: configuration file not found"
        );
    }

    #[test]
    fn broken_toml_names_the_line() {
        let e = load("[storage]\nurl = \n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(!e.to_string().contains('\n'), "{e}");
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let env = [("MIMAMORI__HTTP__LISTEN".to_string(), "nowhere".to_string())];
        let e = Config::load(None, env).unwrap_err();
        assert_eq!(e.origin, "MIMAMORI__HTTP__LISTEN", "{e}");
        assert_eq!(e.key.as_deref(), Some("http.listen"));
        let env = [(
            "MIMAMORI__STORAGE__URL".to_string(),
            "mysql://x".to_string(),
        )];
        let e = Config::load(None, env).unwrap_err();
        assert_eq!(e.origin, "MIMAMORI__STORAGE__URL", "{e}");
        let env = [("MIMAMORI__NOPE__X".to_string(), "1".to_string())];
        let e = Config::load(None, env).unwrap_err();
        assert_eq!(e.origin, "MIMAMORI__NOPE__X", "{e}");
    }

    #[test]
    fn a_bad_timezone_is_refused() {
        let e = load("[city]\ntimezone = \"Mars/Olympus\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("city.timezone")));
    }

    #[test]
    fn a_tls_listener_needs_its_files() {
        let e = load("[broker]\ntls_listen = \"127.0.0.1:8883\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("broker.tls_cert"), "{e}");
        let e = load("[broker]\ntls_listen = \"127.0.0.1:8883\"\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("broker.tls_cert")),
            "{e}"
        );
        assert!(e.message.contains("not a readable file"), "{e}");
    }

    #[test]
    fn webhooks_are_checked() {
        let ok = load("[[notify.webhooks]]\nurl = \"https://hooks.example.jp/x\"\nsecret = \"0123456789abcdef\"\nteams = [\"coordinator\"]\n").unwrap();
        assert_eq!(ok.notify.webhooks[0].teams, ["coordinator"]);
        let e = load("[[notify.webhooks]]\nurl = \"ftp://x\"\nsecret = \"0123456789abcdef\"\n")
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("notify.webhooks.url"), "{e}");
        let e =
            load("[[notify.webhooks]]\nurl = \"https://x.jp\"\nsecret = \"short\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("notify.webhooks.secret"), "{e}");
        let e = load("[[notify.webhooks]]\nurl = \"https://x.jp\"\n").unwrap_err();
        assert!(e.message.contains("secret"), "{e}");
    }

    #[test]
    fn the_default_database_is_a_file_in_the_data_dir() {
        let c = Config::default();
        assert_eq!(c.database_url(), "sqlite://mimamori-data/mimamori.db");
        assert_eq!(backend_of(&c.database_url()), Ok(Backend::Sqlite));
    }

    #[test]
    fn routing_and_escalation_settings_are_checked() {
        let cases = [
            (
                "[alerts]\noffice_hours = \"weekdays\"\n",
                "alerts.office_hours",
                "is not like",
            ),
            (
                "[[alerts.routes]]\nkinds = []\nteam = \"csw\"\n",
                "alerts.routes",
                "rule 1: kinds must not be empty",
            ),
            (
                "[[alerts.routes]]\nkinds = [\"emergency\"]\nteam = \"csw\"\nmin_age = 200\n",
                "alerts.routes",
                "min_age 200",
            ),
            (
                "[[alerts.escalations]]\nkind = \"emergency\"\nfirst_after_minutes = 0\nto = \"coordinator\"\n",
                "alerts.escalations",
                "at least 1 minute",
            ),
            (
                "[[alerts.escalations]]\nkind = \"emergency\"\nfirst_after_minutes = 5\nto = \"houkatsu\"\n",
                "alerts.escalations",
                "city-wide team",
            ),
            (
                "[[alerts.escalations]]\nkind = \"emergency\"\nfirst_after_minutes = 5\nto = \"coordinator\"\n[[alerts.escalations]]\nkind = \"emergency\"\nfirst_after_minutes = 9\nto = \"coordinator\"\n",
                "alerts.escalations",
                "two chains",
            ),
        ];
        for (text, key, message) in cases {
            let err = load(text).unwrap_err();
            assert_eq!(err.key.as_deref(), Some(key), "{text}: {err}");
            assert!(err.message.contains(message), "{text}: {err}");
        }
        // Unknown kinds and teams are named by the parser, with the line.
        let err =
            load("[[alerts.routes]]\nkinds = [\"earthquake\"]\nteam = \"csw\"\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.to_string().contains("earthquake"), "{err}");
        let ok = load("[alerts]\noffice_hours = \"\"\n[[alerts.escalations]]\nkind = \"inactivity\"\nfirst_after_minutes = 60\nto = \"coordinator\"\n").unwrap();
        assert_eq!(ok.alerts.escalations[0].repeat_every_minutes, None);
    }

    #[test]
    fn telegram_and_email_settings_are_checked() {
        let err = load("[notify.telegram]\nenabled = true\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("notify.telegram.token"));
        let err = load("[notify.telegram]\nenabled = true\ntoken = \"1:x\"\nmode = \"webhook\"\nwebhook_secret = \"short\"\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("notify.telegram.webhook_secret"));
        let err =
            load("[notify.telegram]\nenabled = true\ntoken = \"1:x\"\napi_url = \"ftp://x\"\n")
                .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("notify.telegram.api_url"));
        let err = load("[notify.telegram]\nmode = \"carrier-pigeon\"\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("notify.telegram.mode"));
        let err = load("[notify.email]\nenabled = true\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("notify.email.smtp_host"));
        let err = load("[notify.email]\nlink_valid_hours = 0\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("notify.email.link_valid_hours"));
        assert!(load("[notify.telegram]\nenabled = true\ntoken = \"1:x\"\nmode = \"webhook\"\nwebhook_secret = \"0123456789abcdef_-\"\n").is_ok());
    }
}
