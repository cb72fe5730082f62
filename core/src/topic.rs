//! MQTT topic scheme v1.
//!
//! | topic | who publishes | what |
//! |---|---|---|
//! | `mimamori/v1/devices/{device_id}/events` | the device | events (payload v1, see [`crate::protocol`]) |
//! | `mimamori/v1/devices/{device_id}/status` | the device's last will, or the device | `online` / `offline` |
//! | `mimamori/v1/devices/{device_id}/receipts` | the platform | the `seq` of each stored event |
//! | `mimamori/v1/devices/{device_id}/reminders` | the platform | a check-in (元気です) is due |
//! | `mimamori/v1/partners/{partner_id}/concerns` | a partner's system (logged in as that partner) | a concern, the body of `POST /api/v1/concerns` |
//! | `mimamori/v1/partners/{partner_id}/receipts` | the platform | the reference of each stored concern, or why it was refused |
//! | `mimamori/v1/alerts/{district}/{alert_id}` | the platform | alert state changes |

use crate::domain::{DeviceId, PartnerId};

pub const PREFIX: &str = "mimamori/v1";
/// Every device's events.
pub const DEVICE_EVENTS_FILTER: &str = "mimamori/v1/devices/+/events";
/// Every device's status (last wills).
pub const DEVICE_STATUS_FILTER: &str = "mimamori/v1/devices/+/status";

/// Every partner's concerns.
pub const PARTNER_CONCERNS_FILTER: &str = "mimamori/v1/partners/+/concerns";

pub fn device_events(id: &DeviceId) -> String {
    format!("{PREFIX}/devices/{id}/events")
}

pub fn device_status(id: &DeviceId) -> String {
    format!("{PREFIX}/devices/{id}/status")
}

pub fn device_receipts(id: &DeviceId) -> String {
    format!("{PREFIX}/devices/{id}/receipts")
}

/// Check-in reminders for the resident, on their own device.
pub fn device_reminders(id: &DeviceId) -> String {
    format!("{PREFIX}/devices/{id}/reminders")
}

/// Where a partner's system publishes its concerns.
pub fn partner_concerns(id: &PartnerId) -> String {
    format!("{PREFIX}/partners/{id}/concerns")
}

/// Where the platform answers a partner's concerns: a reference, or why a report was refused.
pub fn partner_receipts(id: &PartnerId) -> String {
    format!("{PREFIX}/partners/{id}/receipts")
}

/// The partner of `mimamori/v1/partners/{id}/concerns`; `None` for any other topic or an id
/// that is not a valid partner id.
pub fn parse_partner_concerns(topic: &str) -> Option<PartnerId> {
    let rest = topic.strip_prefix(PREFIX)?.strip_prefix("/partners/")?;
    let id = rest.strip_suffix("/concerns")?;
    PartnerId::parse(id).ok()
}

/// Which of a device's topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceTopic {
    Events,
    Status,
    Receipts,
}

/// Parses `mimamori/v1/devices/{id}/{events|status|receipts}`.
pub fn parse_device_topic(topic: &str) -> Option<(DeviceId, DeviceTopic)> {
    let rest = topic.strip_prefix(PREFIX)?.strip_prefix("/devices/")?;
    let (id, leaf) = rest.split_once('/')?;
    let leaf = match leaf {
        "events" => DeviceTopic::Events,
        "status" => DeviceTopic::Status,
        "receipts" => DeviceTopic::Receipts,
        _ => return None,
    };
    Some((DeviceId::parse(id).ok()?, leaf))
}

/// A shared-subscription filter: `$share/{group}/{filter}`, or the filter itself without a group.
pub fn shared(group: &str, filter: &str) -> String {
    if group.is_empty() {
        filter.to_string()
    } else {
        format!("$share/{group}/{filter}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_topics_round_trip() {
        let id = DeviceId::parse("button-1").unwrap();
        assert_eq!(
            parse_device_topic(&device_events(&id)),
            Some((id.clone(), DeviceTopic::Events))
        );
        assert_eq!(
            parse_device_topic(&device_status(&id)),
            Some((id.clone(), DeviceTopic::Status))
        );
        assert_eq!(parse_device_topic("mimamori/v1/devices/UPPER/events"), None);
        assert_eq!(parse_device_topic("mimamori/v1/devices/a/other"), None);
        assert_eq!(parse_device_topic("other/v1/devices/a/events"), None);
        assert_eq!(
            shared("gw", DEVICE_EVENTS_FILTER),
            "$share/gw/mimamori/v1/devices/+/events"
        );
    }

    #[test]
    fn partner_topics_round_trip() {
        let id = PartnerId::parse("pt-post").unwrap();
        assert_eq!(
            partner_concerns(&id),
            "mimamori/v1/partners/pt-post/concerns"
        );
        assert_eq!(
            partner_receipts(&id),
            "mimamori/v1/partners/pt-post/receipts"
        );
        assert_eq!(parse_partner_concerns(&partner_concerns(&id)), Some(id));
        for other in [
            "mimamori/v1/partners/pt-post/receipts",
            "mimamori/v1/partners/PT POST/concerns",
            "mimamori/v1/partners/a/b/concerns",
            "mimamori/v1/partners//concerns",
            "mimamori/v1/devices/pt-post/concerns",
        ] {
            assert_eq!(parse_partner_concerns(other), None, "{other}");
        }
        assert_eq!(
            shared("gw", PARTNER_CONCERNS_FILTER),
            "$share/gw/mimamori/v1/partners/+/concerns"
        );
    }
}
