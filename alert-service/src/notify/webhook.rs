//! Generic webhook: a JSON POST with an HMAC signature, for LINE WORKS / Slack-style receivers.
//!
//! Headers: `X-Mimamori-Signature: sha256=HEX(HMAC-SHA256(secret, body))`,
//! `X-Mimamori-Notification: ID` (the same id on every retry: receivers deduplicate on it).

use super::{SendError, Sender};
use mimamori_core::domain::{Alert, Notification};
use mimamori_core::secret::{Secret, hex, hmac_sha256};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub struct WebhookSender {
    client: reqwest::Client,
    /// Secret per URL.
    secrets: HashMap<String, Secret>,
}

impl WebhookSender {
    pub fn new(webhooks: &[mimamori_core::config::WebhookConfig]) -> Result<Self, reqwest::Error> {
        super::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            client,
            secrets: webhooks
                .iter()
                .map(|w| (w.url.clone(), w.secret.clone()))
                .collect(),
        })
    }
}

impl Sender for WebhookSender {
    fn send<'a>(
        &'a self,
        n: &'a Notification,
        alert: &'a Alert,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>> {
        Box::pin(async move {
            let Some(secret) = self.secrets.get(&n.target) else {
                return Err(SendError::Permanent("webhook no longer configured".into()));
            };
            let body = super::payload(n, alert).to_string();
            let signature = format!(
                "sha256={}",
                hex(&hmac_sha256(
                    secret.expose_secret().as_bytes(),
                    body.as_bytes()
                ))
            );
            let response = self
                .client
                .post(&n.target)
                .header("content-type", "application/json")
                .header("x-mimamori-signature", signature)
                .header("x-mimamori-notification", n.id.to_string())
                .body(body)
                .send()
                .await
                .map_err(|e| SendError::Retry {
                    reason: format!("unreachable: {}", e.without_url()),
                    after: None,
                })?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            match status.as_u16() {
                400 | 401 | 403 | 404 | 410 | 422 => {
                    Err(SendError::Permanent(format!("HTTP {status}")))
                }
                _ => Err(SendError::Retry {
                    reason: format!("HTTP {status}"),
                    after,
                }),
            }
        })
    }
}
