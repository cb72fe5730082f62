//! `[notify]`: where alerts are sent besides the people of the teams — MQTT, webhooks, and the
//! responders' Telegram chats and email.

mod email;
mod telegram;
mod webhook;

pub use email::{EmailConfig, EmailTransport, SmtpSecurity};
pub use telegram::{TelegramConfig, TelegramMode};
pub use webhook::WebhookConfig;

use super::Invalid;
use serde::Deserialize;

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
    /// How long a notification a process has claimed stays its own. After a crash, what that
    /// process had claimed and not sent goes out (from another process, or the restarted one)
    /// when this runs out; keep it longer than the slowest channel takes to send one message.
    pub lease_seconds: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            mqtt_alerts: true,
            webhooks: Vec::new(),
            telegram: TelegramConfig::default(),
            email: EmailConfig::default(),
            lease_seconds: 120,
        }
    }
}

impl NotifyConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !(5..=3600).contains(&self.lease_seconds) {
            return Err((
                "notify.lease_seconds",
                format!("{} must be between 5 and 3600", self.lease_seconds),
            ));
        }
        for w in &self.webhooks {
            w.validate()?;
        }
        self.telegram.validate()?;
        self.email.validate()
    }
}
