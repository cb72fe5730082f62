//! Payload adapters: one module per format. Each turns one MQTT message into what it says, in
//! terms of our devices; [`crate::ingest`] does the rest (authentication, storage, receipts).
//!
//! To add a format (Shelly, Tasmota…): a module with a `parse` function returning [`Parsed`], and
//! one line in [`classify`].

pub mod v1;
pub mod zigbee2mqtt;

use crate::drop_reason::DropReason;
use mimamori_core::domain::{DeviceId, SignalKind};
use mimamori_core::protocol;

/// Whose message it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceRef {
    /// Our own id, from a `mimamori/v1/devices/{id}/…` topic.
    Id(DeviceId),
    /// A name in a foreign system, looked up in the registry (`z2m:hallway_door`).
    External(String),
}

/// A message understood by an adapter.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A v1 event (carries its own MAC and `seq`).
    Event {
        device: DeviceId,
        event: protocol::Event,
    },
    /// A v1 status (last will `offline`, or `online`).
    Status {
        device: DeviceId,
        status: protocol::Status,
    },
    /// Signals from a format without message authentication or sequence numbers.
    Foreign {
        device: DeviceRef,
        signals: Vec<ForeignSignal>,
    },
}

/// One signal of a foreign message, before the device is known.
#[derive(Debug, Clone, PartialEq)]
pub struct ForeignSignal {
    /// What it is; `None`: decided by the device's kind (a button press is an emergency on a
    /// call button and a check-in elsewhere).
    pub kind: Option<SignalKind>,
    pub body: serde_json::Value,
}

/// Picks the adapter by topic and parses the payload.
pub fn classify(
    topic: &str,
    payload: &[u8],
    zigbee2mqtt_prefix: &str,
) -> Result<Parsed, DropReason> {
    if topic.starts_with(mimamori_core::topic::PREFIX) {
        return v1::parse(topic, payload);
    }
    if !zigbee2mqtt_prefix.is_empty()
        && let Some(rest) = topic
            .strip_prefix(zigbee2mqtt_prefix)
            .and_then(|r| r.strip_prefix('/'))
    {
        return zigbee2mqtt::parse(rest, payload);
    }
    Err(DropReason::UnknownTopic)
}
