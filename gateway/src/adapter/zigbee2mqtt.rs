//! zigbee2mqtt: `zigbee2mqtt/{friendly_name}` with the device's state as JSON, as its public device
//! docs show for common sensors — `contact` (door: `false` = open), `occupancy` (motion), `action`
//! (buttons: `single`, `double`, `hold`…), `battery` (%) — and `zigbee2mqtt/{friendly_name}/availability`
//! (`{"state":"offline"}`). Devices are found in the registry by their friendly name
//! (`mimamori admin device add --zigbee-name NAME`).
//!
//! zigbee2mqtt signs nothing and has no sequence numbers: these messages are as trustworthy as the
//! broker's control of who may publish under the prefix (see `docs/SECURITY.md`).

use super::{DeviceRef, ForeignSignal, Parsed};
use crate::drop_reason::DropReason;
use mimamori_core::domain::SignalKind;
use serde_json::{Value, json};

/// Parses the part of the topic after the prefix, and the payload.
pub fn parse(rest: &str, payload: &[u8]) -> Result<Parsed, DropReason> {
    let (name, leaf) = match rest.split_once('/') {
        Some((name, leaf)) => (name, Some(leaf)),
        None => (rest, None),
    };
    // The bridge's own topics and commands to devices are not signals.
    if name.is_empty() || name == "bridge" {
        return Err(DropReason::UnknownTopic);
    }
    let device = DeviceRef::External(format!("z2m:{name}"));
    let state: Value =
        serde_json::from_slice(payload).map_err(|_| availability_text(payload, leaf))?;
    let Some(state) = state.as_object() else {
        return Err(DropReason::Malformed);
    };
    match leaf {
        Some("availability") => {
            let s = state
                .get("state")
                .and_then(Value::as_str)
                .ok_or(DropReason::Malformed)?;
            return Ok(Parsed::Foreign {
                device,
                signals: vec![ForeignSignal {
                    kind: Some(SignalKind::DeviceHealth),
                    body: json!({ "status": s, "source": "zigbee2mqtt" }),
                }],
            });
        }
        Some(_) => return Err(DropReason::UnknownTopic),
        None => {}
    }

    let mut signals = Vec::new();
    if let Some(contact) = state.get("contact").and_then(Value::as_bool) {
        signals.push(ForeignSignal {
            kind: Some(SignalKind::Activity),
            body: json!({ "sensor": "door", "open": !contact, "source": "zigbee2mqtt" }),
        });
    }
    if let Some(occupancy) = state.get("occupancy").and_then(Value::as_bool)
        && occupancy
    {
        signals.push(ForeignSignal {
            kind: Some(SignalKind::Activity),
            body: json!({ "sensor": "motion", "source": "zigbee2mqtt" }),
        });
    }
    if let Some(action) = state
        .get("action")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        signals.push(ForeignSignal {
            kind: None,
            body: json!({ "sensor": "button", "action": action, "source": "zigbee2mqtt" }),
        });
    }
    if let Some(battery) = state.get("battery").and_then(Value::as_f64) {
        if !(0.0..=100.0).contains(&battery) {
            return Err(DropReason::Malformed);
        }
        signals.push(ForeignSignal {
            kind: Some(SignalKind::DeviceHealth),
            body: json!({ "battery": battery.round() as u8, "source": "zigbee2mqtt" }),
        });
    }
    if signals.is_empty() {
        // A state report with nothing we use (e.g. only linkquality): not an error, not a signal.
        return Err(DropReason::NothingToStore);
    }
    Ok(Parsed::Foreign { device, signals })
}

/// Older zigbee2mqtt versions publish availability as plain `online`/`offline`.
fn availability_text(payload: &[u8], leaf: Option<&str>) -> DropReason {
    match (leaf, payload) {
        (Some("availability"), b"online" | b"offline") => DropReason::LegacyAvailability,
        _ => DropReason::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(rest: &str, payload: &str) -> Vec<ForeignSignal> {
        match parse(rest, payload.as_bytes()) {
            Ok(Parsed::Foreign { signals, .. }) => signals,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn door_open_and_close_are_activity() {
        let open = signals(
            "hallway_door",
            r#"{"contact":false,"battery":91,"linkquality":120}"#,
        );
        assert_eq!(open[0].kind, Some(SignalKind::Activity));
        assert_eq!(open[0].body["open"], true);
        assert_eq!(open[1].body["battery"], 91);
        let closed = signals("hallway_door", r#"{"contact":true}"#);
        assert_eq!(closed[0].body["open"], false);
    }

    #[test]
    fn motion_button_and_battery() {
        assert_eq!(
            signals("pir", r#"{"occupancy":true}"#)[0].body["sensor"],
            "motion"
        );
        assert_eq!(
            parse("pir", br#"{"occupancy":false}"#).unwrap_err(),
            DropReason::NothingToStore
        );
        let press = signals("button", r#"{"action":"single","battery":100}"#);
        assert_eq!(
            (press[0].kind, press[0].body["action"].as_str()),
            (None, Some("single"))
        );
        assert_eq!(
            signals("button", r#"{"battery":12.6}"#)[0].body["battery"],
            13
        );
    }

    #[test]
    fn availability_and_noise() {
        let off = signals("pir/availability", r#"{"state":"offline"}"#);
        assert_eq!(off[0].body["status"], "offline");
        assert_eq!(
            parse("bridge/state", b"{}").unwrap_err(),
            DropReason::UnknownTopic
        );
        assert_eq!(
            parse("pir/set", b"{}").unwrap_err(),
            DropReason::UnknownTopic
        );
        assert_eq!(
            parse("pir", b"not json").unwrap_err(),
            DropReason::Malformed
        );
        assert_eq!(
            parse("pir", br#"{"battery":500}"#).unwrap_err(),
            DropReason::Malformed
        );
    }
}
