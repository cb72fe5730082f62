//! MQTT topic scheme v1.
//!
//! | topic | who publishes | what |
//! |---|---|---|
//! | `mimamori/v1/devices/{device_id}/events` | the device | events (payload v1, see [`crate::protocol`]) |
//! | `mimamori/v1/devices/{device_id}/status` | the device's last will, or the device | `online` / `offline` |
//! | `mimamori/v1/devices/{device_id}/receipts` | the platform | the `seq` of each stored event |
//! | `mimamori/v1/devices/{device_id}/reminders` | the platform | a check-in (元気です) is due |
//! | `mimamori/v1/alerts/{district}/{alert_id}` | the platform | alert state changes |

use crate::domain::DeviceId;

pub const PREFIX: &str = "mimamori/v1";
/// Every device's events.
pub const DEVICE_EVENTS_FILTER: &str = "mimamori/v1/devices/+/events";
/// Every device's status (last wills).
pub const DEVICE_STATUS_FILTER: &str = "mimamori/v1/devices/+/status";

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
}
