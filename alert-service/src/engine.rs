//! The rules engine: per-resident and per-device state, and a queue of deadlines.
//!
//! Every armed rule has one entry in a binary heap ordered by deadline. An incoming signal updates
//! the state it concerns and re-arms only the rules it affects (O(log n) per push); an entry made
//! stale by a re-arm is recognised by its generation number and skipped when it comes up. Nothing
//! scans all residents. The engine does no I/O and reads no clock: callers pass `now`, so tests
//! drive it through days in microseconds.
//!
//! "The same lapse never alerts twice": every alert decision names the start of its lapse (the
//! last activity for inactivity, the window's end for daily windows…), and the engine remembers
//! when it last opened an alert of each kind for each subject — rebuilt from the store on start —
//! and stays quiet when that alert is newer than the lapse.

use crate::schedule::{DailySpan, Interval, after_counted_time};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use mimamori_core::domain::{
    AlertKind, CheckinPolicy, DeviceId, DeviceKind, DistrictId, NewAlert, ResidentId, Severity,
    Signal, SignalKind, SignalSource, Subject,
};
use serde_json::json;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Tunables of the rules that are the same for everyone (`[rules]` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    /// A device is offline after this many heartbeat intervals without a message.
    pub heartbeat_misses: u32,
    /// Battery at or below this is low.
    pub battery_low_percent: u8,
    /// While the battery stays low, at most one alert per device in this time.
    pub battery_realert: Duration,
    /// A person or address with alerts of this many of the three kinds of trouble — an emergency
    /// press, silence (inactivity, daily window or check-in missed: one silent day can raise all
    /// three, and counts once) and a partner's concern — within `compound_window` is flagged for
    /// the coordinator as a compound case (複合). 0: never.
    pub compound_kinds: usize,
    pub compound_window: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            heartbeat_misses: 3,
            battery_low_percent: 20,
            battery_realert: Duration::days(1),
            compound_kinds: 3,
            compound_window: Duration::days(30),
        }
    }
}

impl EngineSettings {
    /// The settings of `[rules]`.
    pub fn from_config(rules: &mimamori_core::config::RulesConfig) -> Self {
        Self {
            heartbeat_misses: rules.heartbeat_misses,
            battery_low_percent: rules.battery_low_percent,
            battery_realert: Duration::hours(i64::from(rules.battery_realert_hours)),
            compound_kinds: rules.compound_kinds as usize,
            compound_window: Duration::days(i64::from(rules.compound_window_days)),
        }
    }
}

/// The kinds of trouble that make a compound case, each with the alert kinds that show it. Device
/// health (and unmonitored, which is about the sensors) does not count.
pub const COMPOUND_TROUBLES: [(&str, &[AlertKind]); 3] = [
    ("emergency", &[AlertKind::Emergency]),
    (
        "silence",
        &[
            AlertKind::Inactivity,
            AlertKind::DailyWindow,
            AlertKind::CheckinMissed,
        ],
    ),
    ("concern", &[AlertKind::Concern]),
];

/// The fields of a concern alert's detail (and of each report joining it) that are personal data:
/// the place, the partner's words, who to call back. Lists leave them out; the pages that show
/// them audit the view.
pub const CONCERN_PERSONAL: [&str; 3] = ["address", "note", "reporter"];

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    /// A resident and a rule slot: policy index × 2 (+ 1 for a check-in's reminder).
    Resident(u32, u16),
    Device(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: DateTime<Utc>,
    owner: Owner,
    generation: u32,
}

#[derive(Debug)]
struct ResidentState {
    id: ResidentId,
    /// Index into [`Engine::districts`] (a city has a handful; no string per resident).
    district: u16,
    registered_at: DateTime<Utc>,
    policies: Box<[CheckinPolicy]>,
    pauses: Vec<Interval>,
    last_activity: Option<DateTime<Utc>>,
    last_checkin: Option<DateTime<Utc>>,
    /// When monitoring came back after every activity sensor had been offline.
    monitoring_since: Option<DateTime<Utc>>,
    /// Activity sensors (device indexes).
    sensors: Vec<u32>,
    /// Other devices (call buttons, hubs): where reminders go.
    other_devices: Vec<u32>,
    /// Generation per rule slot.
    generations: Box<[u32]>,
    /// No inactivity deadline is queued (the last lapse alerted, or nothing can be judged): the
    /// next activity arms one. Otherwise activity never touches the queue.
    idle: bool,
}

#[derive(Debug)]
struct DeviceState {
    id: DeviceId,
    resident: Option<u32>,
    kind: DeviceKind,
    interval: Duration,
    last_seen: DateTime<Utc>,
    offline_since: Option<DateTime<Utc>>,
    generation: u32,
}

/// The engine. See the module documentation.
#[derive(Debug)]
pub struct Engine {
    tz: Tz,
    settings: EngineSettings,
    residents: Vec<ResidentState>,
    by_resident: HashMap<ResidentId, u32>,
    devices: Vec<DeviceState>,
    by_device: HashMap<DeviceId, u32>,
    queue: BinaryHeap<Reverse<Entry>>,
    latest_alerts: HashMap<(String, AlertKind), DateTime<Utc>>,
    districts: Vec<DistrictId>,
}

fn minutes(m: u32) -> Duration {
    Duration::minutes(i64::from(m))
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
            queue: BinaryHeap::with_capacity(profiles.len() * 2 + devices.len()),
            latest_alerts: history.latest_alerts,
            districts: Vec::new(),
        };
        for p in profiles {
            let idx = engine.residents.len() as u32;
            engine.by_resident.insert(p.resident.clone(), idx);
            let district = engine.district_index(p.district);
            engine.residents.push(ResidentState {
                last_activity: history.last_activity.get(&p.resident).copied(),
                last_checkin: history.last_checkin.get(&p.resident).copied(),
                id: p.resident,
                district,
                registered_at: p.registered_at,
                generations: vec![0; p.policies.len() * 2].into_boxed_slice(),
                policies: p.policies.into_boxed_slice(),
                pauses: Vec::new(),
                monitoring_since: None,
                sensors: Vec::new(),
                other_devices: Vec::new(),
                idle: false,
            });
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
                let state = &mut engine.residents[r as usize];
                if d.kind.senses_activity() {
                    state.sensors.push(idx)
                } else {
                    state.other_devices.push(idx)
                }
            }
            engine.by_device.insert(d.id.clone(), idx);
            engine.devices.push(DeviceState {
                last_seen: history
                    .device_last_seen
                    .get(&d.id)
                    .copied()
                    .unwrap_or(d.registered_at)
                    .max(d.registered_at),
                offline_since: history.device_offline.get(&d.id).copied(),
                id: d.id,
                resident,
                kind: d.kind,
                interval: d.heartbeat_interval,
                generation: 0,
            });
        }
        for d in 0..engine.devices.len() as u32 {
            engine.arm_device(d);
        }
        for r in 0..engine.residents.len() as u32 {
            engine.arm_resident(r, now, true);
        }
        engine
    }

    fn district_index(&mut self, d: DistrictId) -> u16 {
        match self.districts.iter().position(|x| *x == d) {
            Some(i) => i as u16,
            None => {
                self.districts.push(d);
                (self.districts.len() - 1) as u16
            }
        }
    }

    fn district_of(&self, r: u32) -> DistrictId {
        self.districts[self.residents[r as usize].district as usize].clone()
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.queue.peek().map(|Reverse(e)| e.at)
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
                    let state = &mut self.residents[r as usize];
                    state.last_activity = Some(state.last_activity.map_or(at, |t| t.max(at)));
                    if signal.kind == SignalKind::Checkin {
                        state.last_checkin = Some(state.last_checkin.map_or(at, |t| t.max(at)));
                    }
                    if std::mem::take(&mut state.idle) {
                        self.arm_inactivity(r, now);
                    }
                }
            }
            SignalKind::DeviceHealth => {
                if let Some(d) = device {
                    if signal.body.get("status").and_then(|s| s.as_str()) == Some("offline") {
                        self.device_offline(d, at, "last_will", &mut out);
                    }
                    if let Some(level) = signal.body.get("battery").and_then(|b| b.as_u64()) {
                        self.battery(d, level.min(100) as u8, at, &mut out);
                    }
                }
            }
            SignalKind::Concern => out.push(self.concern(signal, resident)),
            SignalKind::Change => {}
        }
        self.remember(&mut out);
        out
    }

    /// Adds a resident, or replaces what the engine knows of one (an admin changed the policies or
    /// pauses), and re-arms their rules.
    pub fn update_resident(&mut self, profile: Profile, pauses: Vec<Interval>, now: DateTime<Utc>) {
        let slots = profile.policies.len() * 2;
        let district = self.district_index(profile.district);
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
                self.residents.push(ResidentState {
                    id: profile.resident,
                    district,
                    registered_at: profile.registered_at,
                    generations: vec![0; slots].into_boxed_slice(),
                    policies: profile.policies.into_boxed_slice(),
                    pauses,
                    last_activity: None,
                    last_checkin: None,
                    monitoring_since: None,
                    sensors: Vec::new(),
                    other_devices: Vec::new(),
                    idle: false,
                });
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
                self.devices.push(DeviceState {
                    id: d.id,
                    resident,
                    kind: d.kind,
                    interval: d.heartbeat_interval,
                    last_seen: now.max(d.registered_at),
                    offline_since: None,
                    generation: 0,
                });
                if let Some(r) = resident {
                    let state = &mut self.residents[r as usize];
                    if d.kind.senses_activity() {
                        state.sensors.push(i)
                    } else {
                        state.other_devices.push(i)
                    }
                }
                i
            }
        };
        self.arm_device(idx);
    }

    /// Replaces a resident's pauses (an admin added or ended one) and re-arms their rules.
    pub fn set_pauses(&mut self, resident: &ResidentId, pauses: Vec<Interval>, now: DateTime<Utc>) {
        if let Some(&r) = self.by_resident.get(resident) {
            self.residents[r as usize].pauses = pauses;
            self.arm_inactivity(r, now);
        }
    }

    /// Evaluates every deadline that has come by `now`.
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<Decision> {
        let mut out = Vec::new();
        while let Some(Reverse(entry)) = self.queue.peek().copied() {
            if entry.at > now {
                break;
            }
            self.queue.pop();
            match entry.owner {
                Owner::Device(d) => {
                    if self.devices[d as usize].generation == entry.generation {
                        self.heartbeat_deadline(d, now, &mut out);
                    }
                }
                Owner::Resident(r, slot) => {
                    if self.residents[r as usize].generations[slot as usize] == entry.generation {
                        self.resident_deadline(r, slot, entry.at, now, &mut out);
                    }
                }
            }
        }
        self.remember(&mut out);
        out
    }

    /// Notes the alerts decided (so the same lapse never alerts twice), and adds a compound
    /// decision where one of them is a kind of trouble the subject had not had within the window
    /// and completes enough kinds: more of a kind already counted never flags again.
    fn remember(&mut self, decisions: &mut Vec<Decision>) {
        let mut compound = Vec::new();
        for d in decisions.iter() {
            if let Decision::Alert(a) = d {
                let since = a.at - self.settings.compound_window;
                let trouble = COMPOUND_TROUBLES
                    .iter()
                    .find(|(_, kinds)| kinds.contains(&a.kind));
                let new_trouble = trouble
                    .is_some_and(|(_, kinds)| !self.troubled_since(&a.subject, kinds, since));
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

    fn troubled_since(&self, subject: &Subject, kinds: &[AlertKind], since: DateTime<Utc>) -> bool {
        kinds.iter().any(|k| self.fired_since(subject, *k, since))
    }

    /// The compound case `a` completes, if the subject now has enough kinds of trouble within the
    /// window.
    fn compound(&self, a: &NewAlert) -> Option<NewAlert> {
        let since = a.at - self.settings.compound_window;
        let troubles: Vec<&str> = COMPOUND_TROUBLES
            .iter()
            .filter(|(_, kinds)| self.troubled_since(&a.subject, kinds, since))
            .map(|(name, _)| *name)
            .collect();
        if self.settings.compound_kinds == 0 || troubles.len() < self.settings.compound_kinds {
            return None;
        }
        Some(NewAlert {
            subject: a.subject.clone(),
            kind: AlertKind::Compound,
            severity: Severity::High,
            district: a.district.clone(),
            summary: AlertKind::Compound.label_ja().to_string(),
            detail: json!({
                "rule": "compound",
                "troubles": troubles,
                "window_days": self.settings.compound_window.num_days(),
                "completed_by": a.kind,
            }),
            at: a.at,
        })
    }

    fn fired_since(&self, subject: &Subject, kind: AlertKind, lapse: DateTime<Utc>) -> bool {
        self.latest_alerts
            .get(&(subject.key(), kind))
            .is_some_and(|t| *t >= lapse)
    }

    fn push(&mut self, at: DateTime<Utc>, owner: Owner, generation: u32) {
        self.queue.push(Reverse(Entry {
            at,
            owner,
            generation,
        }));
    }

    // ---- residents ----

    fn arm_resident(&mut self, r: u32, now: DateTime<Utc>, starting: bool) {
        for slot in 0..self.residents[r as usize].policies.len() {
            self.arm_slot(r, (slot * 2) as u16, now, starting);
            if matches!(
                self.residents[r as usize].policies[slot],
                CheckinPolicy::Checkin {
                    remind_minutes_before: Some(_),
                    ..
                }
            ) {
                self.arm_slot(r, (slot * 2 + 1) as u16, now, starting);
            }
        }
    }

    fn arm_inactivity(&mut self, r: u32, now: DateTime<Utc>) {
        for slot in 0..self.residents[r as usize].policies.len() {
            if matches!(
                self.residents[r as usize].policies[slot],
                CheckinPolicy::Inactivity { .. }
            ) {
                self.arm_slot(r, (slot * 2) as u16, now, false);
            }
        }
    }

    /// Computes and queues the next deadline of one rule slot. `starting`: at start-up, daily rules
    /// look back at the last window (it may have passed while the service was down).
    fn arm_slot(&mut self, r: u32, slot: u16, now: DateTime<Utc>, starting: bool) {
        let tz = self.tz;
        let state = &mut self.residents[r as usize];
        let policy = state.policies[(slot / 2) as usize].clone();
        state.generations[slot as usize] = state.generations[slot as usize].wrapping_add(1);
        let generation = state.generations[slot as usize];
        let deadline = match (policy, slot % 2) {
            (
                CheckinPolicy::Inactivity {
                    max_silence_minutes,
                    active_from,
                    active_to,
                },
                0,
            ) => {
                let lapse = Self::inactivity_lapse(state);
                after_counted_time(
                    tz,
                    DailySpan {
                        from: active_from,
                        to: active_to,
                    },
                    &state.pauses,
                    lapse,
                    minutes(max_silence_minutes),
                )
            }
            (CheckinPolicy::DailyWindow { from, to }, 0) => {
                let span = DailySpan { from, to };
                let (_, last_end) = span.last_ended_by(tz, now);
                Some(if starting && last_end > state.registered_at {
                    last_end
                } else {
                    span.next_ending_after(tz, now).1
                })
            }
            (
                CheckinPolicy::Checkin {
                    due, grace_minutes, ..
                },
                0,
            ) => {
                let span = checkin_span(due, grace_minutes);
                let (_, last_end) = span.last_ended_by(tz, now);
                Some(if starting && last_end > state.registered_at {
                    last_end
                } else {
                    span.next_ending_after(tz, now).1
                })
            }
            (
                CheckinPolicy::Checkin {
                    due,
                    remind_minutes_before: Some(before),
                    ..
                },
                1,
            ) => {
                let at = due - minutes(before);
                let span = DailySpan {
                    from: at,
                    to: at + Duration::seconds(1),
                };
                Some(span.next_ending_after(tz, now).0.max(now))
            }
            _ => None,
        };
        if let Some(at) = deadline {
            self.push(at, Owner::Resident(r, slot), generation);
        }
    }

    /// Where a resident's current silence began.
    fn inactivity_lapse(state: &ResidentState) -> DateTime<Utc> {
        [state.last_activity, state.monitoring_since]
            .into_iter()
            .flatten()
            .fold(state.registered_at, DateTime::max)
    }

    fn resident_deadline(
        &mut self,
        r: u32,
        slot: u16,
        deadline: DateTime<Utc>,
        now: DateTime<Utc>,
        out: &mut Vec<Decision>,
    ) {
        let tz = self.tz;
        let policy = self.residents[r as usize].policies[(slot / 2) as usize].clone();
        let subject = Subject::Resident(self.residents[r as usize].id.clone());
        match (&policy, slot % 2) {
            (
                CheckinPolicy::Inactivity {
                    max_silence_minutes,
                    active_from,
                    active_to,
                },
                0,
            ) => {
                let state = &self.residents[r as usize];
                let lapse = Self::inactivity_lapse(state);
                // Activity never touches the queue: the deadline is recomputed here, and moved on
                // when the resident was active since it was queued.
                let hours = DailySpan {
                    from: *active_from,
                    to: *active_to,
                };
                let deadline = match after_counted_time(
                    tz,
                    hours,
                    &state.pauses,
                    lapse,
                    minutes(*max_silence_minutes),
                ) {
                    // An open-ended pause: re-armed when it ends.
                    None => {
                        self.residents[r as usize].idle = true;
                        return;
                    }
                    Some(t) if t > now => {
                        let generation = state.generations[slot as usize];
                        self.push(t, Owner::Resident(r, slot), generation);
                        return;
                    }
                    Some(t) => t,
                };
                let offline = self.offline_sensors(r);
                let unmonitored = !state.sensors.is_empty() && offline.len() == state.sensors.len();
                if unmonitored {
                    // Silence that dead sensors cause is not the resident's: the unmonitored alert
                    // speaks for it. Monitoring resuming re-arms this rule.
                    self.residents[r as usize].idle = true;
                    return;
                }
                // From here on this lapse is settled (alerted now or before): the next activity re-arms.
                self.residents[r as usize].idle = true;
                let state = &self.residents[r as usize];
                if state.sensors.is_empty()
                    || self.fired_since(&subject, AlertKind::Inactivity, lapse)
                {
                    return;
                }
                out.push(self.alert(
                    r,
                    AlertKind::Inactivity,
                    Severity::High,
                    now,
                    json!({
                        "rule": "inactivity",
                        "max_silence_minutes": max_silence_minutes,
                        "active_hours": [active_from.format("%H:%M").to_string(), active_to.format("%H:%M").to_string()],
                        "last_activity": state.last_activity,
                        "silence_counted_from": lapse,
                        "deadline": deadline,
                        "pauses_considered": pauses_json(&state.pauses),
                        "sensors": state.sensors.len(),
                        "sensors_offline": offline,
                    }),
                ));
            }
            (CheckinPolicy::DailyWindow { from, to }, 0) => {
                let span = DailySpan {
                    from: *from,
                    to: *to,
                };
                let (start, end) = span.last_ended_by(tz, now);
                let state = &self.residents[r as usize];
                let seen = state.last_activity.is_some_and(|t| t >= start);
                let paused = state.pauses.iter().any(|p| p.overlaps(start, end));
                let monitored = !state.sensors.is_empty()
                    && self.offline_sensors(r).len() < state.sensors.len();
                if !seen
                    && !paused
                    && monitored
                    && end > state.registered_at
                    && !self.fired_since(&subject, AlertKind::DailyWindow, end)
                {
                    out.push(self.alert(
                        r,
                        AlertKind::DailyWindow,
                        Severity::High,
                        now,
                        json!({
                            "rule": "daily_window",
                            "window": [start, end],
                            "window_local": [from.format("%H:%M").to_string(), to.format("%H:%M").to_string()],
                            "last_activity": state.last_activity,
                            "pauses_considered": pauses_json(&state.pauses),
                        }),
                    ));
                }
                self.arm_slot(r, slot, now, false);
            }
            (
                CheckinPolicy::Checkin {
                    due, grace_minutes, ..
                },
                0,
            ) => {
                let span = checkin_span(*due, *grace_minutes);
                let (_, end) = span.last_ended_by(tz, now);
                let (_, previous_end) = span.last_ended_by(tz, end - Duration::seconds(1));
                let state = &self.residents[r as usize];
                let checked_in = state.last_checkin.is_some_and(|t| t > previous_end);
                let paused = state.pauses.iter().any(|p| p.covers(end));
                if !checked_in
                    && !paused
                    && end > state.registered_at
                    && !self.fired_since(&subject, AlertKind::CheckinMissed, end)
                {
                    out.push(self.alert(
                        r,
                        AlertKind::CheckinMissed,
                        Severity::High,
                        now,
                        json!({
                            "rule": "checkin",
                            "due_local": due.format("%H:%M").to_string(),
                            "grace_minutes": grace_minutes,
                            "deadline": end,
                            "counted_since": previous_end,
                            "last_checkin": state.last_checkin,
                            "pauses_considered": pauses_json(&state.pauses),
                        }),
                    ));
                }
                self.arm_slot(r, slot, now, false);
            }
            (
                CheckinPolicy::Checkin {
                    due, grace_minutes, ..
                },
                1,
            ) => {
                let span = checkin_span(*due, *grace_minutes);
                let (_, previous_end) = span.last_ended_by(tz, deadline);
                let state = &self.residents[r as usize];
                let checked_in = state.last_checkin.is_some_and(|t| t > previous_end);
                let paused = state.pauses.iter().any(|p| p.covers(deadline));
                // A reminder long past (the service was down) is not sent late.
                if !checked_in
                    && !paused
                    && now - deadline < minutes(*grace_minutes).max(Duration::minutes(10))
                {
                    out.push(Decision::Reminder {
                        resident: state.id.clone(),
                        devices: state
                            .other_devices
                            .iter()
                            .map(|d| self.devices[*d as usize].id.clone())
                            .collect(),
                        due: crate::schedule::instant(
                            tz,
                            deadline.with_timezone(&tz).date_naive(),
                            *due,
                        )
                        .max(deadline),
                    });
                }
                self.arm_slot(r, slot, now + Duration::seconds(1), false);
            }
            _ => {}
        }
    }

    fn alert(
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
    fn about(
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

    fn emergency(&self, signal: &Signal, resident: Option<u32>) -> Decision {
        let (subject, district) = self.about(signal, resident, None);
        let paused = resident.is_some_and(|r| {
            self.residents[r as usize]
                .pauses
                .iter()
                .any(|p| p.covers(signal.received_at))
        });
        Decision::Alert(NewAlert {
            subject,
            kind: AlertKind::Emergency,
            severity: Severity::Critical,
            district,
            summary: AlertKind::Emergency.label_ja().to_string(),
            detail: json!({
                "rule": "emergency",
                "signal": signal.id,
                "source": signal.source.key(),
                "pressed_at": signal.effective_time(),
                "during_pause": paused,
            }),
            at: signal.received_at,
        })
    }

    /// A partner's concern: an alert at once, about the linked resident (in their district) or the
    /// address (in the district intake routed it to; none → triage). The report's own words go in
    /// the detail, which only signed-in responders read.
    fn concern(&self, signal: &Signal, resident: Option<u32>) -> Decision {
        let body = &signal.body;
        let routed = body
            .get("district")
            .and_then(|d| d.as_str())
            .and_then(|d| DistrictId::parse(d).ok());
        let (subject, district) = self.about(signal, resident, routed);
        let urgent = body.get("urgent").and_then(|u| u.as_bool()) == Some(true);
        let field = |k: &str| body.get(k).cloned().unwrap_or(serde_json::Value::Null);
        Decision::Alert(NewAlert {
            subject,
            kind: AlertKind::Concern,
            severity: if urgent {
                Severity::Critical
            } else {
                Severity::Normal
            },
            district,
            summary: AlertKind::Concern.label_ja().to_string(),
            detail: json!({
                "rule": "concern",
                "signal": signal.id,
                "source": signal.source.key(),
                "observed_at": signal.effective_time(),
                "urgent": urgent,
                "seen": field("seen"),
                "route": field("route"),
                "address": field("address"),
                "note": field("note"),
                "reporter": field("reporter"),
                // CONCERN_PERSONAL lists the three above.
            }),
            at: signal.received_at,
        })
    }

    fn offline_sensors(&self, r: u32) -> Vec<String> {
        self.residents[r as usize]
            .sensors
            .iter()
            .map(|d| &self.devices[*d as usize])
            .filter(|d| d.offline_since.is_some())
            .map(|d| d.id.to_string())
            .collect()
    }

    // ---- devices ----

    fn arm_device(&mut self, d: u32) {
        let misses = i32::try_from(self.settings.heartbeat_misses).unwrap_or(3);
        let state = &mut self.devices[d as usize];
        state.generation = state.generation.wrapping_add(1);
        if state.offline_since.is_none() {
            let at = state.last_seen + state.interval * misses;
            let generation = state.generation;
            self.push(at, Owner::Device(d), generation);
        }
    }

    fn device_seen(&mut self, d: u32, at: DateTime<Utc>, now: DateTime<Utc>) {
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

    fn heartbeat_deadline(&mut self, d: u32, now: DateTime<Utc>, out: &mut Vec<Decision>) {
        let state = &self.devices[d as usize];
        let misses = i32::try_from(self.settings.heartbeat_misses).unwrap_or(3);
        let due_at = state.last_seen + state.interval * misses;
        if due_at > now {
            // Heard from since this entry was queued: move it (signals never touch the queue).
            let generation = state.generation;
            self.push(due_at, Owner::Device(d), generation);
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

    fn check_unmonitored(&mut self, r: u32, at: DateTime<Utc>, out: &mut Vec<Decision>) {
        let state = &self.residents[r as usize];
        let watches_activity = state.policies.iter().any(|p| {
            matches!(
                p,
                CheckinPolicy::Inactivity { .. } | CheckinPolicy::DailyWindow { .. }
            )
        });
        if state.sensors.is_empty() || !watches_activity {
            return;
        }
        let mut last_offline = None;
        for s in &state.sensors {
            match self.devices[*s as usize].offline_since {
                None => return,
                Some(t) => last_offline = Some(last_offline.map_or(t, |l: DateTime<Utc>| l.max(t))),
            }
        }
        let lapse = last_offline.unwrap_or(at);
        let subject = Subject::Resident(state.id.clone());
        if self.fired_since(&subject, AlertKind::Unmonitored, lapse) {
            return;
        }
        let offline = self.offline_sensors(r);
        out.push(self.alert(
            r,
            AlertKind::Unmonitored,
            Severity::High,
            at,
            json!({
                "rule": "unmonitored",
                "sensors_offline": offline,
                "since": lapse,
                "note": "every activity sensor is offline: silence says nothing about the resident",
            }),
        ));
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

/// Pauses as they are recorded in an alert's explanation.
fn pauses_json(pauses: &[Interval]) -> Vec<serde_json::Value> {
    pauses.iter().map(|p| json!([p.start, p.end])).collect()
}

/// A check-in's daily stretch: from the time it is due to the end of its grace.
fn checkin_span(due: NaiveTime, grace_minutes: u32) -> DailySpan {
    DailySpan {
        from: due,
        to: due + minutes(grace_minutes),
    }
}

/// Local times of day used by tests and examples.
pub fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).expect("valid time of day")
}
