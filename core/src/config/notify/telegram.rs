//! `[notify.telegram]`: the bot that tells responders and takes their acknowledgements.

use crate::config::Invalid;
use crate::secret::Secret;
use serde::Deserialize;

/// The Telegram bot that tells responders and takes their acknowledgements.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Send alerts to responders' linked chats (`mimamori admin responder telegram-code`).
    pub enabled: bool,
    /// The bot token from @BotFather. Keep it out of files: `MIMAMORI__NOTIFY__TELEGRAM__TOKEN`.
    pub token: Secret,
    /// The Bot API server (a self-hosted Bot API server may stand in for Telegram's).
    pub api_url: String,
    /// `polling`: the bot asks for updates (no inbound port needed); `webhook`: Telegram posts
    /// them to `http.public_url` + `/telegram/webhook`.
    pub mode: TelegramMode,
    /// Secret Telegram sends with each webhook call (`X-Telegram-Bot-Api-Secret-Token`);
    /// required in webhook mode. Letters, digits, `_` and `-`, 16 to 256 of them.
    pub webhook_secret: Secret,
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
            token: Secret::default(),
            api_url: "https://api.telegram.org".into(),
            mode: TelegramMode::Polling,
            webhook_secret: Secret::default(),
            per_chat_interval_ms: 1000,
            max_per_second: 25,
        }
    }
}

impl TelegramConfig {
    /// Checked only when the bot is enabled.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !self.enabled {
            return Ok(());
        }
        if self.token.expose_secret().trim().is_empty() {
            return Err((
                "notify.telegram.token",
                "required when notify.telegram.enabled (the token from @BotFather)".into(),
            ));
        }
        if !(self.api_url.starts_with("https://") || self.api_url.starts_with("http://")) {
            return Err((
                "notify.telegram.api_url",
                format!("{:?} must start with https:// or http://", self.api_url),
            ));
        }
        let webhook_secret = self.webhook_secret.expose_secret();
        let secret_ok = (16..=256).contains(&webhook_secret.len())
            && webhook_secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if self.mode == TelegramMode::Webhook && !secret_ok {
            return Err((
                "notify.telegram.webhook_secret",
                "webhook mode needs 16 to 256 letters, digits, _ or -".into(),
            ));
        }
        if self.max_per_second == 0 {
            return Err((
                "notify.telegram.max_per_second",
                "must be at least 1".into(),
            ));
        }
        Ok(())
    }
}
