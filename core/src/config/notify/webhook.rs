//! `[[notify.webhooks]]`: generic JSON webhooks, signed with a shared secret.

use crate::config::Invalid;
use crate::secret::Secret;
use serde::Deserialize;

/// One webhook receiver.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `https://…` (or `http://` on a private network).
    pub url: String,
    /// Key of the `X-Mimamori-Signature: sha256=…` HMAC over the body.
    pub secret: Secret,
    /// Only alerts routed to these teams (ids, e.g. `houkatsu-kugenuma`); empty: every alert.
    #[serde(default)]
    pub teams: Vec<String>,
}

impl WebhookConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            return Err((
                "notify.webhooks.url",
                format!("{:?} must start with https:// or http://", self.url),
            ));
        }
        if self.secret.expose_secret().len() < 16 {
            return Err((
                "notify.webhooks.secret",
                "must be at least 16 characters".into(),
            ));
        }
        Ok(())
    }
}
