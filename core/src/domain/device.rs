//! Devices in residents' homes.

use super::kinds::vocabulary;
use super::{DeviceId, ResidentId};
use crate::secret::REDACTED;
use chrono::{DateTime, Utc};

vocabulary! {
    /// What a device senses; activity sensors are evidence of life, the call button of an emergency.
    DeviceKind, "device_kind" {
        CallButton => ("call_button", "緊急通報ボタン"),
        Door => ("door", "ドアセンサー"),
        Motion => ("motion", "人感センサー"),
        Power => ("power", "スマートプラグ"),
        Light => ("light", "照明センサー"),
        Hub => ("hub", "ハブ"),
    }
}

impl DeviceKind {
    /// Whether the device's events count as evidence that the resident is active.
    pub fn senses_activity(self) -> bool {
        matches!(self, Self::Door | Self::Motion | Self::Power | Self::Light)
    }
}

/// A registered device. Its secret is stored only as a hash.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct Device {
    pub id: DeviceId,
    /// The resident whose home it is in; `None` while in stock.
    pub resident: Option<ResidentId>,
    pub kind: DeviceKind,
    pub label: Option<String>,
    /// Name in a foreign system, e.g. `z2m:hallway_door` for a zigbee2mqtt friendly name.
    pub external_id: Option<String>,
    /// Seconds between heartbeats the device promises.
    pub heartbeat_interval_s: i64,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    /// argon2 PHC string of the device's MQTT password; never serialised.
    #[serde(skip)]
    pub secret_hash: String,
    /// Hex key of the HMAC on the device's messages; never serialised.
    #[serde(skip)]
    pub mac_key: String,
}

/// A device to register.
#[derive(Clone)]
pub struct NewDevice {
    pub id: DeviceId,
    pub resident: Option<ResidentId>,
    pub kind: DeviceKind,
    pub label: Option<String>,
    pub external_id: Option<String>,
    pub heartbeat_interval_s: i64,
    pub secret_hash: String,
    pub mac_key: String,
}

/// Everything but the password hash and the MAC key.
impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("id", &self.id)
            .field("resident", &self.resident)
            .field("kind", &self.kind)
            .field("label", &self.label)
            .field("external_id", &self.external_id)
            .field("heartbeat_interval_s", &self.heartbeat_interval_s)
            .field("enabled", &self.enabled)
            .field("created_at", &self.created_at)
            .field("secret_hash", &format_args!("{REDACTED}"))
            .field("mac_key", &format_args!("{REDACTED}"))
            .finish()
    }
}

/// Everything but the password hash and the MAC key.
impl std::fmt::Debug for NewDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDevice")
            .field("id", &self.id)
            .field("resident", &self.resident)
            .field("kind", &self.kind)
            .field("label", &self.label)
            .field("external_id", &self.external_id)
            .field("heartbeat_interval_s", &self.heartbeat_interval_s)
            .field("secret_hash", &format_args!("{REDACTED}"))
            .field("mac_key", &format_args!("{REDACTED}"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_out_the_password_hash_and_mac_key() {
        let d = NewDevice {
            id: DeviceId::parse("door-1").unwrap(),
            resident: None,
            kind: DeviceKind::Door,
            label: None,
            external_id: None,
            heartbeat_interval_s: 3600,
            secret_hash: "$argon2id$v=19$hash-0001".into(),
            mac_key: "mac-key-0002".into(),
        };
        let shown = format!("{d:?}");
        assert!(shown.contains("door-1"), "{shown}");
        assert!(
            !shown.contains("hash-0001") && !shown.contains("mac-key-0002"),
            "{shown}"
        );
    }
}
