//! Plausible days of a resident living alone, as the devices in the home see them.

use chrono::{Duration, NaiveTime};
use mimamori_core::domain::DeviceKind;
use mimamori_core::protocol::{EventType, Sensor};
use rand::Rng;

/// One thing a device will report, at a local time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub at: NaiveTime,
    pub device: DeviceKind,
    pub kind: EventType,
    pub sensor: Option<Sensor>,
}

/// How a simulated resident lives.
#[derive(Debug, Clone)]
pub struct Routine {
    /// Chance per day of a press of the call button.
    pub emergency_per_day: f64,
    /// Chance per day of a quiet day (stays in bed, no activity after waking) — what inactivity
    /// rules exist to notice.
    pub quiet_day_per_day: f64,
}

impl Default for Routine {
    fn default() -> Self {
        Self {
            emergency_per_day: 0.002,
            quiet_day_per_day: 0.01,
        }
    }
}

fn at(minutes: i64) -> NaiveTime {
    NaiveTime::MIN + Duration::minutes(minutes.clamp(0, 24 * 60 - 1))
}

impl Routine {
    /// The steps of one day, in time order.
    pub fn day(&self, rng: &mut impl Rng) -> Vec<Step> {
        let mut steps = Vec::new();
        let activity = |t: i64, device: DeviceKind, sensor: Sensor| Step {
            at: at(t),
            device,
            kind: EventType::Activity,
            sensor: Some(sensor),
        };
        let wake = rng.random_range(5 * 60 + 30..7 * 60 + 30);
        steps.push(activity(wake, DeviceKind::Motion, Sensor::Motion));
        if rng.random_bool(self.quiet_day_per_day) {
            return steps;
        }
        steps.push(activity(
            wake + rng.random_range(5..30),
            DeviceKind::Power,
            Sensor::Power,
        ));
        steps.push(Step {
            at: at(wake + rng.random_range(30..90)),
            device: DeviceKind::CallButton,
            kind: EventType::Checkin,
            sensor: None,
        });
        for _ in 0..rng.random_range(3..8) {
            steps.push(activity(
                rng.random_range(wake..21 * 60),
                DeviceKind::Motion,
                Sensor::Motion,
            ));
        }
        if rng.random_bool(0.7) {
            let out = rng.random_range(9 * 60..15 * 60);
            steps.push(activity(out, DeviceKind::Door, Sensor::Door));
            steps.push(activity(
                out + rng.random_range(30..180),
                DeviceKind::Door,
                Sensor::Door,
            ));
        }
        steps.push(activity(
            rng.random_range(17 * 60..19 * 60),
            DeviceKind::Power,
            Sensor::Power,
        ));
        steps.push(activity(
            rng.random_range(21 * 60..23 * 60),
            DeviceKind::Motion,
            Sensor::Motion,
        ));
        if rng.random_bool(self.emergency_per_day) {
            steps.push(Step {
                at: at(rng.random_range(wake..23 * 60)),
                device: DeviceKind::CallButton,
                kind: EventType::Emergency,
                sensor: None,
            });
        }
        steps.sort_by_key(|s| s.at);
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_with_waking_and_is_in_order() {
        let mut rng = rand::rng();
        let routine = Routine {
            emergency_per_day: 1.0,
            quiet_day_per_day: 0.0,
        };
        let day = routine.day(&mut rng);
        assert!(day.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(day.iter().any(|s| s.kind == EventType::Checkin));
        assert!(day.iter().any(|s| s.kind == EventType::Emergency));
        let quiet = Routine {
            emergency_per_day: 0.0,
            quiet_day_per_day: 1.0,
        }
        .day(&mut rng);
        assert_eq!(quiet.len(), 1);
    }
}
