//! Device payload v1, its message authentication and receipts. Specified for device makers in
//! `docs/PROTOCOL.md`.
//!
//! An event is JSON: `{"v":1,"type":"emergency","seq":42,"ts":"2026-12-01T09:00:00+09:00","mac":"…"}`.
//! `mac` is HMAC-SHA256, in hex, over the canonical string
//! `mimamori-v1|{device_id}|{type}|{sensor}|{seq}|{ts}|{battery}` (absent fields empty), keyed with
//! the device's MAC key (derived from its password: [`crate::secret::device_mac_key`]). It binds the
//! event to the device id, so one device cannot speak as another even on a broker without ACLs.
//!
//! After storing an event the platform publishes a receipt `{"v":1,"seq":42,"mac":"…"}` (MAC over
//! `mimamori-v1-receipt|{device_id}|{seq}`); devices resend emergencies and check-ins until the
//! receipt for their `seq` arrives.

use crate::secret::{constant_time_eq, hex, hmac_sha256};
use serde::{Deserialize, Serialize};

/// What a device reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Emergency,
    Activity,
    Checkin,
    Heartbeat,
    Battery,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Emergency => "emergency",
            Self::Activity => "activity",
            Self::Checkin => "checkin",
            Self::Heartbeat => "heartbeat",
            Self::Battery => "battery",
        }
    }

    /// Events a device must resend until their receipt arrives.
    pub fn needs_receipt(self) -> bool {
        matches!(self, Self::Emergency | Self::Checkin)
    }
}

/// The sensor behind an activity event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sensor {
    Door,
    Motion,
    Power,
    Light,
    Button,
}

impl Sensor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Door => "door",
            Self::Motion => "motion",
            Self::Power => "power",
            Self::Light => "light",
            Self::Button => "button",
        }
    }
}

/// Payload v1 of `…/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Payload version: 1.
    pub v: u8,
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensor: Option<Sensor>,
    /// Per-device counter; the same `seq` is stored once.
    pub seq: u64,
    /// When it happened, RFC 3339, by the device's clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// Battery level 0–100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub battery: Option<u8>,
    /// HMAC of [`Event::canonical`], hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

impl Event {
    /// The string the MAC covers.
    pub fn canonical(&self, device_id: &str) -> String {
        format!(
            "mimamori-v1|{device_id}|{}|{}|{}|{}|{}",
            self.kind.as_str(),
            self.sensor.map(Sensor::as_str).unwrap_or(""),
            self.seq,
            self.ts.as_deref().unwrap_or(""),
            self.battery.map(|b| b.to_string()).unwrap_or_default()
        )
    }

    /// Sets `mac` for `device_id` with its MAC key (hex).
    pub fn sign(mut self, device_id: &str, mac_key_hex: &str) -> Self {
        self.mac = Some(sign(mac_key_hex, &self.canonical(device_id)));
        self
    }

    /// Whether `mac` is present and right for `device_id`.
    pub fn verify(&self, device_id: &str, mac_key_hex: &str) -> bool {
        self.mac
            .as_deref()
            .is_some_and(|mac| verify(mac_key_hex, &self.canonical(device_id), mac))
    }
}

/// Payload of `…/status`: `online`, or `offline` (the last will).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub v: u8,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

impl Status {
    pub fn canonical(device_id: &str, status: &str) -> String {
        format!("mimamori-v1-status|{device_id}|{status}")
    }

    pub fn signed(device_id: &str, status: &str, mac_key_hex: &str) -> Self {
        Self {
            v: 1,
            status: status.into(),
            mac: Some(sign(mac_key_hex, &Self::canonical(device_id, status))),
        }
    }

    pub fn verify(&self, device_id: &str, mac_key_hex: &str) -> bool {
        self.mac
            .as_deref()
            .is_some_and(|mac| verify(mac_key_hex, &Self::canonical(device_id, &self.status), mac))
    }
}

/// Payload of `…/receipts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub v: u8,
    pub seq: u64,
    pub mac: String,
}

impl Receipt {
    pub fn canonical(device_id: &str, seq: u64) -> String {
        format!("mimamori-v1-receipt|{device_id}|{seq}")
    }

    pub fn new(device_id: &str, seq: u64, mac_key_hex: &str) -> Self {
        Self {
            v: 1,
            seq,
            mac: sign(mac_key_hex, &Self::canonical(device_id, seq)),
        }
    }

    /// Devices check this before they stop resending.
    pub fn verify(&self, device_id: &str, mac_key_hex: &str) -> bool {
        verify(
            mac_key_hex,
            &Self::canonical(device_id, self.seq),
            &self.mac,
        )
    }
}

/// Payload of `…/reminders`: a check-in is due at `due` (RFC 3339).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reminder {
    pub v: u8,
    #[serde(rename = "type")]
    pub kind: String,
    pub due: String,
    pub mac: String,
}

impl Reminder {
    pub fn canonical(device_id: &str, due: &str) -> String {
        format!("mimamori-v1-reminder|{device_id}|{due}")
    }

    pub fn checkin(device_id: &str, due: &str, mac_key_hex: &str) -> Self {
        Self {
            v: 1,
            kind: "checkin".into(),
            due: due.into(),
            mac: sign(mac_key_hex, &Self::canonical(device_id, due)),
        }
    }

    /// Devices check this before they prompt the resident.
    pub fn verify(&self, device_id: &str, mac_key_hex: &str) -> bool {
        verify(
            mac_key_hex,
            &Self::canonical(device_id, &self.due),
            &self.mac,
        )
    }
}

fn key_bytes(mac_key_hex: &str) -> Vec<u8> {
    (0..mac_key_hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(mac_key_hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn sign(mac_key_hex: &str, message: &str) -> String {
    hex(&hmac_sha256(&key_bytes(mac_key_hex), message.as_bytes()))
}

fn verify(mac_key_hex: &str, message: &str, mac: &str) -> bool {
    constant_time_eq(
        sign(mac_key_hex, message).as_bytes(),
        mac.to_ascii_lowercase().as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::device_mac_key;

    fn press(seq: u64) -> Event {
        Event {
            v: 1,
            kind: EventType::Emergency,
            sensor: None,
            seq,
            ts: None,
            battery: None,
            mac: None,
        }
    }

    #[test]
    fn a_signed_event_verifies_only_for_its_device_and_content() {
        let key = device_mac_key("password-of-a");
        let e = press(7).sign("dev-a", &key);
        assert!(e.verify("dev-a", &key));
        assert!(!e.verify("dev-b", &key), "bound to the device id");
        assert!(
            !Event {
                seq: 8,
                ..e.clone()
            }
            .verify("dev-a", &key),
            "bound to the content"
        );
        assert!(!e.verify("dev-a", &device_mac_key("other")));
        assert!(
            !press(7).verify("dev-a", &key),
            "a missing MAC never verifies"
        );
    }

    #[test]
    fn the_json_shape_is_the_documented_one() {
        let e: Event = serde_json::from_str(
            r#"{"v":1,"type":"activity","sensor":"door","seq":3,"battery":80}"#,
        )
        .unwrap();
        assert_eq!(
            (e.kind, e.sensor, e.seq, e.battery),
            (EventType::Activity, Some(Sensor::Door), 3, Some(80))
        );
        assert_eq!(e.canonical("d1"), "mimamori-v1|d1|activity|door|3||80");
        assert!(serde_json::from_str::<Event>(r#"{"v":1,"type":"dance","seq":1}"#).is_err());
        assert!(
            serde_json::from_str::<Event>(r#"{"v":1,"type":"checkin","seq":1,"extra":1}"#).is_err()
        );
    }

    #[test]
    fn receipts_and_status_verify() {
        let key = device_mac_key("p");
        assert!(Receipt::new("d1", 9, &key).verify("d1", &key));
        assert!(!Receipt::new("d1", 9, &key).verify("d2", &key));
        assert!(Status::signed("d1", "offline", &key).verify("d1", &key));
        assert!(!Status::signed("d1", "offline", &key).verify("d2", &key));
    }
}
