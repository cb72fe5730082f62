//! Our own format: `mimamori/v1/devices/{id}/events` and `…/status` (see `docs/PROTOCOL.md`).

use super::Parsed;
use crate::drop_reason::DropReason;
use mimamori_core::protocol::{Event, EventType, Status};
use mimamori_core::topic::{DeviceTopic, parse_device_topic};

pub fn parse(topic: &str, payload: &[u8]) -> Result<Parsed, DropReason> {
    let (device, leaf) = parse_device_topic(topic).ok_or(DropReason::UnknownTopic)?;
    match leaf {
        DeviceTopic::Events => {
            let event: Event = serde_json::from_slice(payload).map_err(|_| diagnose(payload))?;
            if event.v != 1 {
                return Err(DropReason::UnsupportedVersion);
            }
            let sensor_ok = match event.kind {
                EventType::Activity => event.sensor.is_some(),
                _ => true,
            };
            let battery_ok = event.battery.is_none_or(|b| b <= 100);
            let ts_ok = event
                .ts
                .as_deref()
                .is_none_or(|ts| chrono::DateTime::parse_from_rfc3339(ts).is_ok());
            if !(sensor_ok && battery_ok && ts_ok) {
                return Err(DropReason::Malformed);
            }
            Ok(Parsed::Event { device, event })
        }
        DeviceTopic::Status => {
            let status: Status =
                serde_json::from_slice(payload).map_err(|_| DropReason::Malformed)?;
            if status.v != 1 {
                return Err(DropReason::UnsupportedVersion);
            }
            if !matches!(status.status.as_str(), "online" | "offline") {
                return Err(DropReason::Malformed);
            }
            Ok(Parsed::Status { device, status })
        }
        // Receipts are ours; a device publishing one is not a signal.
        DeviceTopic::Receipts => Err(DropReason::UnknownTopic),
    }
}

/// Tells an unknown `type` (valid JSON, a type we do not know) from malformed JSON.
fn diagnose(payload: &[u8]) -> DropReason {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(v) => match v.get("type").and_then(|t| t.as_str()) {
            Some(t)
                if serde_json::from_value::<EventType>(serde_json::Value::String(t.into()))
                    .is_err() =>
            {
                DropReason::UnknownType
            }
            _ => DropReason::Malformed,
        },
        Err(_) => DropReason::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "mimamori/v1/devices/d-1/events";

    #[test]
    fn reasons() {
        assert!(matches!(
            parse(T, br#"{"v":1,"type":"emergency","seq":1}"#),
            Ok(Parsed::Event { .. })
        ));
        assert_eq!(parse(T, b"{not json"), Err(DropReason::Malformed));
        assert_eq!(
            parse(T, br#"{"v":1,"type":"dance","seq":1}"#),
            Err(DropReason::UnknownType)
        );
        assert_eq!(
            parse(T, br#"{"v":2,"type":"emergency","seq":1}"#),
            Err(DropReason::UnsupportedVersion)
        );
        assert_eq!(
            parse(T, br#"{"v":1,"type":"activity","seq":1}"#),
            Err(DropReason::Malformed),
            "activity needs a sensor"
        );
        assert_eq!(
            parse(T, br#"{"v":1,"type":"battery","battery":150,"seq":1}"#),
            Err(DropReason::Malformed)
        );
        assert_eq!(
            parse(T, br#"{"v":1,"type":"checkin","seq":1,"ts":"yesterday"}"#),
            Err(DropReason::Malformed)
        );
        assert_eq!(
            parse(T, br#"{"v":1,"type":"checkin"}"#),
            Err(DropReason::Malformed),
            "seq is required"
        );
        assert_eq!(
            parse("mimamori/v1/devices/d-1/receipts", b"{}"),
            Err(DropReason::UnknownTopic)
        );
        assert_eq!(
            parse("mimamori/v1/devices/BAD ID/events", b"{}"),
            Err(DropReason::UnknownTopic)
        );
    }
}
