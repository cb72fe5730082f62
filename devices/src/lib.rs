//! # mimamori-devices
//!
//! Simulated devices that behave as real ones must: they connect with their credentials
//! (client id = username = device id), set a signed last will, publish v1 events signed with their
//! MAC key, and resend emergencies and check-ins until the platform's receipt for their `seq`
//! arrives — the way telecare units repeat an alarm until the receiving centre acknowledges it.
//!
//! - [`client`]: one device's MQTT connection ([`client::DeviceClient`]);
//! - [`routine`]: plausible days of a resident (door, motion, smart plug, check-in, rare presses);
//! - [`simulate`]: drives many devices with routines (`mimamori simulate --devices N`).

pub mod client;
pub mod routine;
pub mod simulate;

pub use client::{DeviceClient, DeviceConfig, DeviceStats};
