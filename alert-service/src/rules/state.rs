//! What the engine knows: the profiles and history it is built from (read from the store), and
//! the state it keeps per resident and per device — no names, addresses or notes.

use super::queue::Slot;
use crate::schedule::Interval;
use chrono::{DateTime, Duration, Utc};
use mimamori_core::domain::{
    AlertKind, CheckinPolicy, DeviceId, DeviceKind, DistrictId, ResidentId,
};
use std::collections::HashMap;

/// What the engine knows of a resident (no names, addresses or notes).
#[derive(Debug, Clone)]
pub struct Profile {
    pub resident: ResidentId,
    pub district: DistrictId,
    pub registered_at: DateTime<Utc>,
    pub policies: Vec<CheckinPolicy>,
}

/// What the engine knows of a device.
#[derive(Debug, Clone)]
pub struct DeviceProfile {
    pub id: DeviceId,
    pub resident: Option<ResidentId>,
    pub kind: DeviceKind,
    pub heartbeat_interval: Duration,
    pub registered_at: DateTime<Utc>,
}

/// What happened before the engine started, read from the store.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub last_activity: HashMap<ResidentId, DateTime<Utc>>,
    pub last_checkin: HashMap<ResidentId, DateTime<Utc>>,
    pub device_last_seen: HashMap<DeviceId, DateTime<Utc>>,
    /// Devices whose latest status was `offline`, and when it came.
    pub device_offline: HashMap<DeviceId, DateTime<Utc>>,
    pub pauses: Vec<(ResidentId, Interval)>,
    /// When the latest alert of each kind was opened for each subject (by subject key).
    pub latest_alerts: HashMap<(String, AlertKind), DateTime<Utc>>,
}

/// A resident as the rules see them.
#[derive(Debug)]
pub(super) struct ResidentState {
    pub(super) id: ResidentId,
    /// Index into the engine's districts (a city has a handful; no string per resident).
    pub(super) district: u16,
    pub(super) registered_at: DateTime<Utc>,
    pub(super) policies: Box<[CheckinPolicy]>,
    pub(super) pauses: Vec<Interval>,
    pub(super) last_activity: Option<DateTime<Utc>>,
    pub(super) last_checkin: Option<DateTime<Utc>>,
    /// When monitoring came back after every activity sensor had been offline.
    pub(super) monitoring_since: Option<DateTime<Utc>>,
    /// Activity sensors (device indexes).
    pub(super) sensors: Vec<u32>,
    /// Other devices (call buttons, hubs): where reminders go.
    pub(super) other_devices: Vec<u32>,
    /// Generation per rule slot (see [`Slot::index`]).
    pub(super) generations: Box<[u32]>,
    /// No inactivity deadline is queued (the last lapse alerted, or nothing can be judged): the
    /// next activity arms one. Otherwise activity never touches the queue.
    pub(super) idle: bool,
}

impl ResidentState {
    /// A resident with no activity seen yet and no devices.
    pub(super) fn new(profile: Profile, district: u16, pauses: Vec<Interval>) -> Self {
        Self {
            id: profile.resident,
            district,
            registered_at: profile.registered_at,
            generations: vec![0; Slot::count(profile.policies.len())].into_boxed_slice(),
            policies: profile.policies.into_boxed_slice(),
            pauses,
            last_activity: None,
            last_checkin: None,
            monitoring_since: None,
            sensors: Vec::new(),
            other_devices: Vec::new(),
            idle: false,
        }
    }

    /// Notes that device `d` of `kind` is in the resident's home.
    pub(super) fn attach(&mut self, d: u32, kind: DeviceKind) {
        if kind.senses_activity() {
            self.sensors.push(d)
        } else {
            self.other_devices.push(d)
        }
    }
}

/// A device as the rules see it.
#[derive(Debug)]
pub(super) struct DeviceState {
    pub(super) id: DeviceId,
    /// Index into the engine's residents.
    pub(super) resident: Option<u32>,
    pub(super) kind: DeviceKind,
    pub(super) interval: Duration,
    pub(super) last_seen: DateTime<Utc>,
    pub(super) offline_since: Option<DateTime<Utc>>,
    pub(super) generation: u32,
}

impl DeviceState {
    pub(super) fn new(
        profile: DeviceProfile,
        resident: Option<u32>,
        last_seen: DateTime<Utc>,
        offline_since: Option<DateTime<Utc>>,
    ) -> Self {
        Self {
            id: profile.id,
            resident,
            kind: profile.kind,
            interval: profile.heartbeat_interval,
            last_seen,
            offline_since,
            generation: 0,
        }
    }
}
