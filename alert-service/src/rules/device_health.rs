//! Device health: a device is offline when it misses `heartbeat_misses` heartbeats in a row or
//! its last will says so, and its battery is low at or below `battery_low_percent` (alerted at
//! most once per `battery_realert`). A device going offline may leave its resident unmonitored;
//! one coming back may resume monitoring, and silence is then counted from that moment.

use super::engine::{Decision, Engine};
use super::queue::Owner;
use chrono::{DateTime, Utc};
use mimamori_core::domain::{AlertKind, NewAlert, Severity, Signal, Subject};
use serde_json::json;

impl Engine {
    /// Queues a device's heartbeat deadline, unless it is already offline.
    pub(super) fn arm_device(&mut self, d: u32) {
        let misses = self.heartbeat_misses();
        let state = &mut self.devices[d as usize];
        state.generation = state.generation.wrapping_add(1);
        if state.offline_since.is_none() {
            let at = state.last_seen + state.interval * misses;
            let generation = state.generation;
            self.queue.push(at, Owner::Device(d), generation);
        }
    }

    fn heartbeat_misses(&self) -> i32 {
        i32::try_from(self.settings.heartbeat_misses).unwrap_or(3)
    }

    /// Any message from a device: it is alive.
    pub(super) fn device_seen(&mut self, d: u32, at: DateTime<Utc>, now: DateTime<Utc>) {
        let state = &mut self.devices[d as usize];
        state.last_seen = state.last_seen.max(at);
        // While online, the queued heartbeat deadline is moved lazily when it comes up.
        let came_back = state.offline_since.take().is_some();
        if came_back {
            // Back online: if every sensor of the resident had been offline, monitoring resumes now
            // and silence is counted from here.
            if let Some(r) = state.resident
                && state.kind.senses_activity()
            {
                let was_unmonitored = self.residents[r as usize]
                    .sensors
                    .iter()
                    .filter(|s| **s != d)
                    .all(|s| self.devices[*s as usize].offline_since.is_some());
                if was_unmonitored {
                    self.residents[r as usize].monitoring_since = Some(at);
                    self.arm_inactivity(r, now);
                }
            }
            self.arm_device(d);
        }
    }

    /// A device's own report of its health: its last will (`status: offline`) or its battery.
    pub(super) fn device_health(
        &mut self,
        d: u32,
        signal: &Signal,
        at: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) {
        if signal.body.get("status").and_then(|s| s.as_str()) == Some("offline") {
            self.device_offline(d, at, "last_will", out);
        }
        if let Some(level) = signal.body.get("battery").and_then(|b| b.as_u64()) {
            self.battery(d, level.min(100) as u8, at, out);
        }
    }

    pub(super) fn heartbeat_due(&mut self, d: u32, now: DateTime<Utc>, out: &mut Vec<Decision>) {
        let state = &self.devices[d as usize];
        let due_at = state.last_seen + state.interval * self.heartbeat_misses();
        if due_at > now {
            // Heard from since this entry was queued: move it (signals never touch the queue).
            let generation = state.generation;
            self.queue.push(due_at, Owner::Device(d), generation);
            return;
        }
        self.device_offline(d, due_at, "heartbeat_missed", out);
    }

    fn device_offline(&mut self, d: u32, since: DateTime<Utc>, why: &str, out: &mut Vec<Decision>) {
        {
            let state = &mut self.devices[d as usize];
            if state.offline_since.is_some() {
                return;
            }
            state.offline_since = Some(since);
            state.generation = state.generation.wrapping_add(1);
        }
        let state = &self.devices[d as usize];
        let subject = Subject::Device(state.id.clone());
        let lapse = state.last_seen;
        let district = state.resident.map(|r| self.district_of(r));
        if !self.fired_since(&subject, AlertKind::DeviceOffline, lapse) {
            out.push(Decision::Alert(NewAlert {
                subject,
                kind: AlertKind::DeviceOffline,
                severity: Severity::Normal,
                district,
                summary: AlertKind::DeviceOffline.label_ja().to_string(),
                detail: json!({
                    "rule": "device_health",
                    "reason": why,
                    "device_kind": state.kind,
                    "last_seen": state.last_seen,
                    "heartbeat_interval_s": state.interval.num_seconds(),
                    "heartbeat_misses": self.settings.heartbeat_misses,
                    "offline_since": since,
                }),
                at: since,
            }));
        }
        if let Some(r) = self.devices[d as usize].resident {
            self.check_unmonitored(r, since, out);
        }
    }

    fn battery(&mut self, d: u32, level: u8, at: DateTime<Utc>, out: &mut Vec<Decision>) {
        if level > self.settings.battery_low_percent {
            return;
        }
        let state = &self.devices[d as usize];
        let subject = Subject::Device(state.id.clone());
        if self.fired_since(
            &subject,
            AlertKind::BatteryLow,
            at - self.settings.battery_realert,
        ) {
            return;
        }
        out.push(Decision::Alert(NewAlert {
            subject,
            kind: AlertKind::BatteryLow,
            severity: Severity::Low,
            district: state.resident.map(|r| self.district_of(r)),
            summary: AlertKind::BatteryLow.label_ja().to_string(),
            detail: json!({ "rule": "device_health", "reason": "battery_low", "battery": level, "threshold": self.settings.battery_low_percent, "device_kind": state.kind }),
            at,
        }));
    }
}
