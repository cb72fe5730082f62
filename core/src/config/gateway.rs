//! `[gateway]`: ingestion of device and partner messages.

use super::Invalid;
use serde::Deserialize;

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
    /// Security events (a bad MAC, a refused partner) of one sender for one reason are written
    /// once per interval: the first at once, the rest as one summary with their count.
    pub security_event_interval_seconds: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageAuth {
    Required,
    Optional,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            message_auth: MessageAuth::Required,
            max_payload_bytes: 4096,
            zigbee2mqtt_topic: "zigbee2mqtt".into(),
            max_clock_skew_seconds: 300,
            security_event_interval_seconds: 60,
        }
    }
}

impl GatewayConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !(64..=262_144).contains(&self.max_payload_bytes) {
            return Err((
                "gateway.max_payload_bytes",
                "must be between 64 and 262144".into(),
            ));
        }
        if !(1..=86_400).contains(&self.security_event_interval_seconds) {
            return Err((
                "gateway.security_event_interval_seconds",
                "must be between 1 and 86400".into(),
            ));
        }
        Ok(())
    }
}
