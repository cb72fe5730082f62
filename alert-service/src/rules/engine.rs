//! The engine core: residents' and devices' state, the deadline queue, what the engine decides,
//! and the two ways in — signals ([`Engine::apply`]) and time ([`Engine::due`]). What each rule
//! checks lives in its own module; here is only how rules are armed and their deadlines
//! dispatched, and the memory of alerts opened that keeps the same lapse from alerting twice.

use super::queue::{DeadlineQueue, Owner, Slot};
use super::settings::EngineSettings;
use super::state::{DeviceProfile, DeviceState, History, Profile, ResidentState};
use crate::schedule::{DailySpan, Interval};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use mimamori_core::domain::{
    AlertKind, DeviceId, DistrictId, NewAlert, ResidentId, Severity, Signal, SignalKind,
    SignalSource, Subject,
};
use std::collections::HashMap;

/// What the engine decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Open (or join) an alert.
    Alert(NewAlert),
    /// Remind the resident to check in (to their own devices or chat).
    Reminder {
        resident: ResidentId,
        devices: Vec<DeviceId>,
        due: DateTime<Utc>,
    },
}

/// The engine. See the module documentation of [`crate::rules`].
#[derive(Debug)]
pub struct Engine {
    /// The city's zone: daily rules are in its local time.
    pub(super) tz: Tz,
    /// The tunables of `[rules]`.
    pub(super) settings: EngineSettings,
    /// Residents by index: the queue and devices refer to them by number, not by id.
    pub(super) residents: Vec<ResidentState>,
    /// A resident's index from their id (signals and admin changes name residents by id).
    by_resident: HashMap<ResidentId, u32>,
    /// Devices by index.
    pub(super) devices: Vec<DeviceState>,
    /// A device's index from its id.
    by_device: HashMap<DeviceId, u32>,
    /// Every armed deadline.
    pub(super) queue: DeadlineQueue,
    /// When the latest alert of each kind was opened for each subject (by subject key).
    latest_alerts: HashMap<(String, AlertKind), DateTime<Utc>>,
    /// The districts residents are in, indexed by [`ResidentState::district`].
    districts: Vec<DistrictId>,
}

impl Engine {
    /// Builds the state and arms every rule. Deadlines already past fire on the first [`Engine::due`].
    pub fn new(
        tz: Tz,
        settings: EngineSettings,
        profiles: Vec<Profile>,
        devices: Vec<DeviceProfile>,
        history: History,
        now: DateTime<Utc>,
    ) -> Self {
        let mut engine = Self {
            tz,
            settings,
            residents: Vec::with_capacity(profiles.len()),
            by_resident: HashMap::with_capacity(profiles.len()),
            devices: Vec::with_capacity(devices.len()),
            by_device: HashMap::with_capacity(devices.len()),
            queue: DeadlineQueue::with_capacity(profiles.len() * 2 + devices.len()),
            latest_alerts: history.latest_alerts,
            districts: Vec::new(),
        };
        for p in profiles {
            let idx = engine.residents.len() as u32;
            engine.by_resident.insert(p.resident.clone(), idx);
            let district = engine.district_index(&p.district);
            let last_activity = history.last_activity.get(&p.resident).copied();
            let last_checkin = history.last_checkin.get(&p.resident).copied();
            let mut state = ResidentState::new(p, district, Vec::new());
            state.last_activity = last_activity;
            state.last_checkin = last_checkin;
            engine.residents.push(state);
        }
        for (resident, interval) in history.pauses {
            if let Some(&i) = engine.by_resident.get(&resident) {
                engine.residents[i as usize].pauses.push(interval);
            }
        }
        for d in devices {
            let idx = engine.devices.len() as u32;
            let resident = d
                .resident
                .as_ref()
                .and_then(|r| engine.by_resident.get(r).copied());
            if let Some(r) = resident {
                engine.residents[r as usize].attach(idx, d.kind);
            }
            engine.by_device.insert(d.id.clone(), idx);
            let last_seen = history
                .device_last_seen
                .get(&d.id)
                .copied()
                .unwrap_or(d.registered_at)
                .max(d.registered_at);
            let offline_since = history.device_offline.get(&d.id).copied();
            engine
                .devices
                .push(DeviceState::new(d, resident, last_seen, offline_since));
        }
        for d in 0..engine.devices.len() as u32 {
            engine.arm_device(d);
        }
        for r in 0..engine.residents.len() as u32 {
            engine.arm_resident(r, now, true);
        }
        engine
    }

    fn district_index(&mut self, d: &DistrictId) -> u16 {
        match self.districts.iter().position(|x| x == d) {
            Some(i) => i as u16,
            None => {
                self.districts.push(d.clone());
                (self.districts.len() - 1) as u16
            }
        }
    }

    pub(super) fn resident_index(&self, id: &ResidentId) -> Option<u32> {
        self.by_resident.get(id).copied()
    }

    pub(super) fn district_of(&self, r: u32) -> DistrictId {
        self.districts[self.residents[r as usize].district as usize].clone()
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.queue.next()
    }

    pub fn knows_device(&self, id: &DeviceId) -> bool {
        self.by_device.contains_key(id)
    }

    /// Armed entries, stale ones included (for memory accounting).
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub fn residents(&self) -> usize {
        self.residents.len()
    }

    /// Records that an alert was opened (so that its lapse does not alert again).
    pub fn opened(&mut self, subject: &Subject, kind: AlertKind, at: DateTime<Utc>) {
        let entry = self
            .latest_alerts
            .entry((subject.key(), kind))
            .or_insert(at);
        *entry = (*entry).max(at);
    }

    /// Applies a stored signal; returns what must happen at once (emergencies, devices going offline…).
    pub fn apply(&mut self, signal: &Signal, now: DateTime<Utc>) -> Vec<Decision> {
        let at = signal.received_at;
        let mut out = Vec::new();
        let device = match &signal.source {
            SignalSource::Device(id) => self.by_device.get(id).copied(),
            _ => None,
        };
        // A device's signal is about its resident: one hash lookup instead of two.
        let resident = match (
            device.and_then(|d| self.devices[d as usize].resident),
            &signal.subject,
        ) {
            (Some(r), Some(Subject::Resident(_))) => Some(r),
            (_, Some(Subject::Resident(r))) => self.by_resident.get(r).copied(),
            _ => None,
        };
        if let Some(d) = device {
            self.device_seen(d, at, now);
        }
        match signal.kind {
            SignalKind::Emergency => out.push(self.emergency(signal, resident)),
            SignalKind::Activity | SignalKind::Checkin => {
                if let Some(r) = resident {
                    self.activity(r, at, signal.kind == SignalKind::Checkin, now);
                }
            }
            SignalKind::DeviceHealth => {
                if let Some(d) = device {
                    self.device_health(d, signal, at, &mut out);
                }
            }
            SignalKind::Concern => out.push(self.concern(signal, resident)),
            SignalKind::Change => {}
        }
        self.remember(&mut out);
        out
    }

    /// A sign of life (a check-in is one too): what the rules of silence count from.
    fn activity(&mut self, r: u32, at: DateTime<Utc>, checkin: bool, now: DateTime<Utc>) {
        let state = &mut self.residents[r as usize];
        state.last_activity = Some(state.last_activity.map_or(at, |t| t.max(at)));
        if checkin {
            state.last_checkin = Some(state.last_checkin.map_or(at, |t| t.max(at)));
        }
        if std::mem::take(&mut state.idle) {
            self.arm_inactivity(r, now);
        }
    }

    /// Adds a resident, or replaces what the engine knows of one (an admin changed the policies or
    /// pauses), and re-arms their rules.
    pub fn update_resident(&mut self, profile: Profile, pauses: Vec<Interval>, now: DateTime<Utc>) {
        let slots = Slot::count(profile.policies.len());
        let district = self.district_index(&profile.district);
        match self.by_resident.get(&profile.resident).copied() {
            Some(r) => {
                let state = &mut self.residents[r as usize];
                // Continue above every generation in use, so no queued entry of the old rules matches.
                let base = state
                    .generations
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(0)
                    .wrapping_add(1);
                state.generations = vec![base; slots].into_boxed_slice();
                state.policies = profile.policies.into_boxed_slice();
                state.district = district;
                state.pauses = pauses;
                self.arm_resident(r, now, false);
            }
            None => {
                let r = self.residents.len() as u32;
                self.by_resident.insert(profile.resident.clone(), r);
                self.residents
                    .push(ResidentState::new(profile, district, pauses));
                self.arm_resident(r, now, false);
            }
        }
    }

    /// Adds a device registered after start, or updates one.
    pub fn update_device(&mut self, d: DeviceProfile, now: DateTime<Utc>) {
        let resident = d
            .resident
            .as_ref()
            .and_then(|r| self.by_resident.get(r).copied());
        let idx = match self.by_device.get(&d.id).copied() {
            Some(i) => {
                let state = &mut self.devices[i as usize];
                state.interval = d.heartbeat_interval;
                state.kind = d.kind;
                i
            }
            None => {
                let i = self.devices.len() as u32;
                self.by_device.insert(d.id.clone(), i);
                let kind = d.kind;
                let last_seen = now.max(d.registered_at);
                self.devices
                    .push(DeviceState::new(d, resident, last_seen, None));
                if let Some(r) = resident {
                    self.residents[r as usize].attach(i, kind);
                }
                i
            }
        };
        self.arm_device(idx);
    }

    /// Evaluates every deadline that has come by `now`.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Decision> {
        let mut out = Vec::new();
        while let Some(entry) = self.queue.pop_due(now) {
            match entry.owner {
                Owner::Device(d) => {
                    if self.devices[d as usize].generation == entry.generation {
                        self.heartbeat_due(d, now, &mut out);
                    }
                }
                Owner::Resident(r, slot) => {
                    if self.residents[r as usize].generations[slot.index()] == entry.generation {
                        match slot {
                            Slot::Inactivity(p) => self.inactivity_due(r, p, now, &mut out),
                            Slot::DailyWindow(p) => self.daily_window_due(r, p, now, &mut out),
                            Slot::Checkin(p) => self.checkin_due(r, p, now, &mut out),
                            Slot::CheckinReminder(p) => {
                                self.reminder_due(r, p, entry.at, now, &mut out)
                            }
                        }
                    }
                }
            }
        }
        self.remember(&mut out);
        out
    }

    /// Arms every rule of a resident. `starting`: at start-up, daily rules look back at the last
    /// window (it may have passed while the service was down).
    fn arm_resident(&mut self, r: u32, now: DateTime<Utc>, starting: bool) {
        for i in 0..self.residents[r as usize].policies.len() {
            let policy = &self.residents[r as usize].policies[i];
            let (deadline, reminder) = (Slot::deadline(i, policy), Slot::reminder(i, policy));
            self.arm(r, deadline, now, starting);
            if let Some(reminder) = reminder {
                self.arm(r, reminder, now, starting);
            }
        }
    }

    /// Computes and queues the next deadline of one rule slot, making any entry already queued
    /// for it stale.
    pub(super) fn arm(&mut self, r: u32, slot: Slot, now: DateTime<Utc>, starting: bool) {
        let generation = &mut self.residents[r as usize].generations[slot.index()];
        *generation = generation.wrapping_add(1);
        let generation = *generation;
        let deadline = match slot {
            Slot::Inactivity(p) => self.inactivity_deadline(r, p),
            Slot::DailyWindow(p) => self.daily_window_deadline(r, p, now, starting),
            Slot::Checkin(p) => self.checkin_deadline(r, p, now, starting),
            Slot::CheckinReminder(p) => self.reminder_deadline(r, p, now),
        };
        if let Some(at) = deadline {
            self.queue.push(at, Owner::Resident(r, slot), generation);
        }
    }

    /// The end of a daily rule's next `span`; at start-up, of the last one if it ended after the
    /// resident was registered (it may have passed while the service was down).
    pub(super) fn span_end(
        &self,
        r: u32,
        span: DailySpan,
        now: DateTime<Utc>,
        starting: bool,
    ) -> DateTime<Utc> {
        let (_, last_end) = span.last_ended_by(self.tz, now);
        if starting && last_end > self.residents[r as usize].registered_at {
            last_end
        } else {
            span.next_ending_after(self.tz, now).1
        }
    }

    /// Notes the alerts decided (so the same lapse never alerts twice), and adds a compound
    /// decision where one of them is a kind of trouble the subject had not had within the window
    /// and completes enough kinds: more of a kind already counted never flags again.
    fn remember(&mut self, decisions: &mut Vec<Decision>) {
        let mut compound = Vec::new();
        for d in decisions.iter() {
            if let Decision::Alert(a) = d {
                let new_trouble = self.is_new_trouble(a);
                self.opened(&a.subject, a.kind, a.at);
                if new_trouble && let Some(c) = self.compound(a) {
                    compound.push(c);
                }
            }
        }
        for a in &compound {
            self.opened(&a.subject, a.kind, a.at);
        }
        decisions.extend(compound.into_iter().map(Decision::Alert));
    }

    /// Whether an alert of `kind` was opened for `subject` at or after `lapse` began.
    pub(super) fn fired_since(
        &self,
        subject: &Subject,
        kind: AlertKind,
        lapse: DateTime<Utc>,
    ) -> bool {
        self.latest_alerts
            .get(&(subject.key(), kind))
            .is_some_and(|t| *t >= lapse)
    }

    /// An alert about resident `r`, in their district.
    pub(super) fn alert(
        &self,
        r: u32,
        kind: AlertKind,
        severity: Severity,
        at: DateTime<Utc>,
        detail: serde_json::Value,
    ) -> Decision {
        let state = &self.residents[r as usize];
        Decision::Alert(NewAlert {
            subject: Subject::Resident(state.id.clone()),
            kind,
            severity,
            district: Some(self.district_of(r)),
            summary: kind.label_ja().to_string(),
            detail,
            at,
        })
    }

    /// Who a signal's alert is about: the known resident, in their district; otherwise the
    /// signal's own subject, in `district_otherwise`.
    pub(super) fn about(
        &self,
        signal: &Signal,
        resident: Option<u32>,
        district_otherwise: Option<DistrictId>,
    ) -> (Subject, Option<DistrictId>) {
        match resident {
            Some(r) => (
                Subject::Resident(self.residents[r as usize].id.clone()),
                Some(self.district_of(r)),
            ),
            None => (
                signal
                    .subject
                    .clone()
                    .unwrap_or_else(|| Subject::Address("unknown".into())),
                district_otherwise,
            ),
        }
    }
}
