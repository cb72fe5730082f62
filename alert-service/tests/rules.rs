//! The rules, driven through days in paused time: the engine reads no clock, each test says when
//! "now" is. Times are Asia/Tokyo.

use chrono::{DateTime, Duration, Utc};
use mimamori_alerts::rules::{
    Decision, DeviceProfile, Engine, EngineSettings, History, Profile, hm,
};
use mimamori_alerts::schedule::Interval;
use mimamori_core::domain::*;

mimamori_testkit::tests! {
    sync silence_inside_active_hours_alerts_at_its_deadline;
    sync a_quiet_night_does_not_count;
    sync activity_before_the_deadline_moves_it;
    sync the_same_lapse_never_alerts_twice;
    sync daily_windows_including_across_midnight;
    sync checkin_with_a_reminder_then_an_alert;
    sync pauses_stop_alerts_and_resume_by_themselves;
    sync an_open_ended_pause_holds_until_it_is_ended;
    sync an_emergency_alerts_at_once_even_during_a_pause;
    sync a_device_offline_is_not_the_resident_inactive;
    sync every_sensor_offline_makes_the_resident_unmonitored_not_inactive;
    sync low_battery_alerts_once_a_day_at_most;
    sync alerts_explain_themselves;
    sync a_restart_fires_what_came_due_while_down_exactly_once;
    sync a_partners_concern_about_a_resident_is_an_alert_in_their_district_at_once;
    sync three_kinds_within_a_month_flag_a_compound_case_once;
    sync kinds_outside_the_window_do_not_make_a_compound_case;
    sync the_configurations_defaults_are_the_engines;
}

fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
        .unwrap()
        .with_timezone(&Utc)
}

const RESIDENT: &str = "r-hanako";

fn resident() -> ResidentId {
    ResidentId::parse(RESIDENT).unwrap()
}

fn inactivity(hours: u32) -> CheckinPolicy {
    CheckinPolicy::Inactivity {
        max_silence_minutes: hours * 60,
        active_from: hm(7, 0),
        active_to: hm(22, 0),
    }
}

fn window(from: (u32, u32), to: (u32, u32)) -> CheckinPolicy {
    CheckinPolicy::DailyWindow {
        from: hm(from.0, from.1),
        to: hm(to.0, to.1),
    }
}

fn checkin(due: (u32, u32), remind: Option<u32>, grace: u32) -> CheckinPolicy {
    CheckinPolicy::Checkin {
        due: hm(due.0, due.1),
        remind_minutes_before: remind,
        grace_minutes: grace,
    }
}

/// A resident with a door sensor, a motion sensor and a call button, registered at `registered`,
/// as the rules engine alone sees them: no store, no service (these cases test the engine).
struct Home {
    engine: Engine,
    next_id: i64,
}

impl Home {
    fn new(
        policies: Vec<CheckinPolicy>,
        registered: DateTime<Utc>,
        history: History,
        now: DateTime<Utc>,
    ) -> Self {
        let profile = Profile {
            resident: resident(),
            district: DistrictId::parse("kugenuma").unwrap(),
            registered_at: registered,
            policies,
        };
        let device = |id: &str, kind| DeviceProfile {
            id: DeviceId::parse(id).unwrap(),
            resident: Some(resident()),
            kind,
            heartbeat_interval: Duration::hours(1),
            registered_at: registered,
        };
        let devices = vec![
            device("door", DeviceKind::Door),
            device("pir", DeviceKind::Motion),
            device("button", DeviceKind::CallButton),
        ];
        Self {
            engine: Engine::new(
                chrono_tz::Asia::Tokyo,
                EngineSettings::default(),
                vec![profile],
                devices,
                history,
                now,
            ),
            next_id: 1,
        }
    }

    fn signal(
        &mut self,
        device: &str,
        kind: SignalKind,
        body: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Vec<Decision> {
        self.next_id += 1;
        let s = Signal {
            id: SignalId(self.next_id),
            source: SignalSource::Device(DeviceId::parse(device).unwrap()),
            dedup_key: Some(format!("seq:{}", self.next_id)),
            subject: Some(Subject::Resident(resident())),
            kind,
            body,
            device_time: None,
            received_at: at,
            clock_skewed: false,
        };
        self.engine.apply(&s, at)
    }

    fn activity(&mut self, at: DateTime<Utc>) -> Vec<Decision> {
        self.signal(
            "door",
            SignalKind::Activity,
            serde_json::json!({"sensor": "door"}),
            at,
        )
    }

    /// Heartbeats of every device, so device health stays quiet.
    fn heartbeats(&mut self, at: DateTime<Utc>) {
        for d in ["door", "pir", "button"] {
            self.signal(
                d,
                SignalKind::DeviceHealth,
                serde_json::json!({"type": "heartbeat"}),
                at,
            );
        }
    }

    /// Runs time forward to `until` in steps, keeping devices alive, and returns the alert kinds
    /// (and reminders) decided, with when.
    fn run(&mut self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
        let mut out = Vec::new();
        let mut t = from;
        while t < until {
            t = (t + Duration::minutes(30)).min(until);
            self.heartbeats(t);
            out.extend(self.due(t));
        }
        out
    }

    fn due(&mut self, now: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
        self.engine
            .due(now)
            .into_iter()
            .map(|d| describe(&d))
            .collect()
    }
}

fn describe(d: &Decision) -> (String, DateTime<Utc>) {
    match d {
        Decision::Alert(a) => (a.kind.to_string(), a.at),
        Decision::Reminder { due, .. } => ("reminder".to_string(), *due),
    }
}

fn kinds(ds: &[Decision]) -> Vec<String> {
    ds.iter().map(|d| describe(d).0).collect()
}

fn silence_inside_active_hours_alerts_at_its_deadline() {
    let t0 = jst("2026-12-01T06:00:00");
    let mut w = Home::new(vec![inactivity(12)], t0, History::default(), t0);
    w.activity(jst("2026-12-01T08:00:00"));
    let fired = w.run(t0, jst("2026-12-01T19:30:00"));
    assert!(fired.is_empty(), "{fired:?}");
    let fired = w.run(jst("2026-12-01T19:30:00"), jst("2026-12-01T20:00:00"));
    assert_eq!(
        fired,
        [("inactivity".to_string(), jst("2026-12-01T20:00:00"))]
    );
}

fn a_quiet_night_does_not_count() {
    let t0 = jst("2026-12-01T06:00:00");
    let mut w = Home::new(vec![inactivity(12)], t0, History::default(), t0);
    w.activity(jst("2026-12-01T20:00:00"));
    // 2 h tonight + 10 h from 07:00: the deadline is 17:00 the next day, not 08:00.
    let fired = w.run(jst("2026-12-01T20:00:00"), jst("2026-12-02T16:30:00"));
    assert!(fired.is_empty(), "{fired:?}");
    let fired = w.run(jst("2026-12-02T16:30:00"), jst("2026-12-02T17:00:00"));
    assert_eq!(
        fired,
        [("inactivity".to_string(), jst("2026-12-02T17:00:00"))]
    );
}

fn activity_before_the_deadline_moves_it() {
    let t0 = jst("2026-12-01T06:00:00");
    let mut w = Home::new(vec![inactivity(12)], t0, History::default(), t0);
    w.activity(jst("2026-12-01T08:00:00"));
    w.activity(jst("2026-12-01T19:00:00"));
    assert!(w.run(t0, jst("2026-12-02T09:30:00")).is_empty());
    // 19:00 + 3 h tonight + 9 h → 16:00.
    assert_eq!(
        w.run(jst("2026-12-02T09:30:00"), jst("2026-12-02T16:00:00")),
        [("inactivity".to_string(), jst("2026-12-02T16:00:00"))]
    );
}

fn the_same_lapse_never_alerts_twice() {
    let t0 = jst("2026-12-01T06:00:00");
    let mut w = Home::new(vec![inactivity(12)], t0, History::default(), t0);
    w.activity(jst("2026-12-01T08:00:00"));
    assert_eq!(
        w.run(t0, jst("2026-12-03T12:00:00")).len(),
        1,
        "one alert for one lapse, however long it lasts"
    );
    // A new lapse after new activity alerts again.
    w.activity(jst("2026-12-03T12:00:00"));
    let fired = w.run(jst("2026-12-03T12:00:00"), jst("2026-12-04T12:00:00"));
    assert_eq!(
        fired,
        [("inactivity".to_string(), jst("2026-12-04T09:00:00"))]
    );
}

fn daily_windows_including_across_midnight() {
    let t0 = jst("2026-12-01T00:00:00");
    let mut w = Home::new(vec![window((6, 0), (10, 0))], t0, History::default(), t0);
    w.activity(jst("2026-12-01T07:15:00"));
    assert!(
        w.run(t0, jst("2026-12-01T23:00:00")).is_empty(),
        "seen in the window"
    );
    assert_eq!(
        w.run(jst("2026-12-01T23:00:00"), jst("2026-12-02T11:00:00")),
        [("daily_window".to_string(), jst("2026-12-02T10:00:00"))]
    );
    // Activity outside the window does not count for it.
    w.activity(jst("2026-12-02T15:00:00"));
    assert_eq!(
        w.run(jst("2026-12-02T11:00:00"), jst("2026-12-03T11:00:00"))
            .len(),
        1
    );

    let mut w = Home::new(vec![window((22, 0), (2, 0))], t0, History::default(), t0);
    w.activity(jst("2026-12-01T23:30:00"));
    assert!(
        w.run(t0, jst("2026-12-02T21:00:00")).is_empty(),
        "seen between 22:00 and 02:00"
    );
    assert_eq!(
        w.run(jst("2026-12-02T21:00:00"), jst("2026-12-03T03:00:00")),
        [("daily_window".to_string(), jst("2026-12-03T02:00:00"))]
    );
}

fn checkin_with_a_reminder_then_an_alert() {
    let t0 = jst("2026-12-01T00:00:00");
    let mut w = Home::new(
        vec![checkin((9, 0), Some(30), 60)],
        t0,
        History::default(),
        t0,
    );
    let fired = w.run(t0, jst("2026-12-01T12:00:00"));
    assert_eq!(
        fired,
        [
            ("reminder".to_string(), jst("2026-12-01T09:00:00")),
            ("checkin_missed".to_string(), jst("2026-12-01T10:00:00"))
        ]
    );
    // Next day the resident checks in after the reminder: no alert.
    let mut fired = w.run(jst("2026-12-01T12:00:00"), jst("2026-12-02T08:40:00"));
    let d = w.signal(
        "button",
        SignalKind::Checkin,
        serde_json::json!({"type": "checkin"}),
        jst("2026-12-02T08:45:00"),
    );
    assert!(d.is_empty());
    fired.extend(w.run(jst("2026-12-02T08:45:00"), jst("2026-12-02T12:00:00")));
    assert_eq!(
        fired,
        [("reminder".to_string(), jst("2026-12-02T09:00:00"))]
    );
    // A check-in before the reminder: neither.
    w.signal(
        "button",
        SignalKind::Checkin,
        serde_json::json!({"type": "checkin"}),
        jst("2026-12-03T07:00:00"),
    );
    assert!(
        w.run(jst("2026-12-02T12:00:00"), jst("2026-12-03T12:00:00"))
            .is_empty()
    );
}

fn pauses_stop_alerts_and_resume_by_themselves() {
    let t0 = jst("2026-12-01T06:00:00");
    let hospital = Interval {
        start: jst("2026-12-01T09:00:00"),
        end: Some(jst("2026-12-03T15:00:00")),
    };
    let history = History {
        pauses: vec![(resident(), hospital)],
        ..Default::default()
    };
    let mut w = Home::new(
        vec![
            inactivity(12),
            window((6, 0), (10, 0)),
            checkin((9, 0), None, 60),
        ],
        t0,
        history,
        t0,
    );
    w.activity(jst("2026-12-01T08:00:00"));
    // During the stay: nothing. The pause ends while the resident is already silent: 1 h before the
    // stay counted, 11 h after it: 15:00 + 7 h = 22:00, then 4 h on the 4th → 11:00.
    let fired = w.run(t0, jst("2026-12-03T23:00:00"));
    assert!(fired.is_empty(), "{fired:?}");
    let fired = w.run(jst("2026-12-03T23:00:00"), jst("2026-12-04T12:00:00"));
    let mut names: Vec<_> = fired.iter().map(|(k, _)| k.as_str()).collect();
    names.sort();
    assert_eq!(names, ["checkin_missed", "daily_window", "inactivity"]);
    assert!(
        fired.contains(&("inactivity".to_string(), jst("2026-12-04T11:00:00"))),
        "{fired:?}"
    );
}

fn an_open_ended_pause_holds_until_it_is_ended() {
    let t0 = jst("2026-12-01T06:00:00");
    let mut w = Home::new(vec![inactivity(12)], t0, History::default(), t0);
    w.activity(jst("2026-12-01T08:00:00"));
    w.engine.set_pauses(
        &resident(),
        vec![Interval {
            start: jst("2026-12-01T10:00:00"),
            end: None,
        }],
        jst("2026-12-01T10:00:00"),
    );
    assert!(w.run(t0, jst("2026-12-05T12:00:00")).is_empty());
    let end = jst("2026-12-05T12:00:00");
    w.engine.set_pauses(
        &resident(),
        vec![Interval {
            start: jst("2026-12-01T10:00:00"),
            end: Some(end),
        }],
        end,
    );
    // 2 h before + 10 h from 12:00 → 22:00.
    assert_eq!(
        w.run(end, jst("2026-12-06T00:00:00")),
        [("inactivity".to_string(), jst("2026-12-05T22:00:00"))]
    );
}

fn an_emergency_alerts_at_once_even_during_a_pause() {
    let t0 = jst("2026-12-01T06:00:00");
    let history = History {
        pauses: vec![(
            resident(),
            Interval {
                start: t0,
                end: None,
            },
        )],
        ..Default::default()
    };
    let mut w = Home::new(vec![inactivity(12)], t0, history, t0);
    let d = w.signal(
        "button",
        SignalKind::Emergency,
        serde_json::json!({"type": "emergency"}),
        jst("2026-12-01T07:00:00"),
    );
    assert_eq!(kinds(&d), ["emergency"]);
    let Decision::Alert(a) = &d[0] else {
        unreachable!()
    };
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.detail["during_pause"], true);
    // A second press decides again; the store joins it to the open alert.
    let d = w.signal(
        "button",
        SignalKind::Emergency,
        serde_json::json!({"type": "emergency"}),
        jst("2026-12-01T07:01:00"),
    );
    assert_eq!(kinds(&d), ["emergency"]);
}

fn a_device_offline_is_not_the_resident_inactive() {
    let t0 = jst("2026-12-01T06:00:00");
    let mut w = Home::new(vec![inactivity(12)], t0, History::default(), t0);
    w.activity(jst("2026-12-01T08:00:00"));
    // Only the door sensor goes quiet: an alert about the device, not the resident.
    let mut fired = Vec::new();
    let mut t = jst("2026-12-01T08:00:00");
    while t < jst("2026-12-01T12:00:00") {
        t += Duration::minutes(30);
        for d in ["pir", "button"] {
            w.signal(
                d,
                SignalKind::DeviceHealth,
                serde_json::json!({"type": "heartbeat"}),
                t,
            );
        }
        fired.extend(w.due(t));
    }
    assert_eq!(
        fired,
        [("device_offline".to_string(), jst("2026-12-01T11:00:00"))]
    );
}

fn every_sensor_offline_makes_the_resident_unmonitored_not_inactive() {
    let t0 = jst("2026-12-01T06:00:00");
    let mut w = Home::new(vec![inactivity(12)], t0, History::default(), t0);
    w.activity(jst("2026-12-01T08:00:00"));
    // The door sensor's last will, then the motion sensor's heartbeats stop.
    let d = w.signal(
        "door",
        SignalKind::DeviceHealth,
        serde_json::json!({"status": "offline"}),
        jst("2026-12-01T09:00:00"),
    );
    assert_eq!(
        kinds(&d),
        ["device_offline"],
        "one sensor offline: not yet unmonitored"
    );
    let mut fired = Vec::new();
    let mut t = jst("2026-12-01T09:00:00");
    while t < jst("2026-12-02T12:00:00") {
        t += Duration::minutes(30);
        w.signal(
            "button",
            SignalKind::DeviceHealth,
            serde_json::json!({"type": "heartbeat"}),
            t,
        );
        fired.extend(w.due(t));
    }
    let names: Vec<_> = fired.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["device_offline", "unmonitored"],
        "no inactivity from silence the dead sensors cause: {fired:?}"
    );
    // A sensor comes back: silence is counted from then.
    let back = jst("2026-12-02T12:00:00");
    w.signal(
        "pir",
        SignalKind::DeviceHealth,
        serde_json::json!({"status": "online"}),
        back,
    );
    let fired = w.run(back, jst("2026-12-03T12:00:00"));
    // 10 h today (12:00–22:00) + 2 h from 07:00 → 09:00.
    assert_eq!(
        fired,
        [("inactivity".to_string(), jst("2026-12-03T09:00:00"))]
    );
}

fn low_battery_alerts_once_a_day_at_most() {
    let t0 = jst("2026-12-01T06:00:00");
    let mut w = Home::new(vec![], t0, History::default(), t0);
    assert!(
        w.signal(
            "door",
            SignalKind::DeviceHealth,
            serde_json::json!({"battery": 50}),
            t0
        )
        .is_empty()
    );
    let d = w.signal(
        "door",
        SignalKind::DeviceHealth,
        serde_json::json!({"battery": 15}),
        t0 + Duration::hours(1),
    );
    assert_eq!(kinds(&d), ["battery_low"]);
    assert!(
        w.signal(
            "door",
            SignalKind::DeviceHealth,
            serde_json::json!({"battery": 14}),
            t0 + Duration::hours(2)
        )
        .is_empty()
    );
    let d = w.signal(
        "door",
        SignalKind::DeviceHealth,
        serde_json::json!({"battery": 12}),
        t0 + Duration::hours(26),
    );
    assert_eq!(kinds(&d), ["battery_low"]);
}

fn alerts_explain_themselves() {
    let t0 = jst("2026-12-01T06:00:00");
    let mut w = Home::new(vec![inactivity(12)], t0, History::default(), t0);
    w.activity(jst("2026-12-01T08:00:00"));
    w.heartbeats(jst("2026-12-01T19:00:00"));
    let d = w.engine.due(jst("2026-12-01T20:00:00"));
    assert_eq!(d.len(), 1, "{d:?}");
    let Decision::Alert(a) = &d[0] else {
        panic!("{d:?}")
    };
    assert_eq!(a.detail["rule"], "inactivity");
    assert_eq!(a.detail["max_silence_minutes"], 720);
    assert_eq!(
        a.detail["active_hours"],
        serde_json::json!(["07:00", "22:00"])
    );
    assert!(a.detail["last_activity"].is_string());
    assert!(a.detail["deadline"].is_string());
    assert!(a.detail["pauses_considered"].is_array());
    assert_eq!(a.detail["sensors_offline"], serde_json::json!([]));
    assert_eq!(a.district.as_ref().map(|d| d.as_str()), Some("kugenuma"));
    assert!(!a.summary.contains("花子"), "no names in the summary");
}

fn a_restart_fires_what_came_due_while_down_exactly_once() {
    let t0 = jst("2026-12-01T06:00:00");
    let last = jst("2026-12-01T08:00:00");
    let history = || History {
        last_activity: [(resident(), last)].into(),
        device_last_seen: ["door", "pir", "button"]
            .iter()
            .map(|d| (DeviceId::parse(*d).unwrap(), jst("2026-12-02T11:30:00")))
            .collect(),
        ..Default::default()
    };
    // Down from 08:00 on the 1st to 12:00 on the 2nd: the inactivity deadline (20:00) and the
    // window of the 2nd (06:00–10:00) passed.
    let restart = jst("2026-12-02T12:00:00");
    let mut w = Home::new(
        vec![inactivity(12), window((6, 0), (10, 0))],
        t0,
        history(),
        restart,
    );
    let mut fired = kinds(&w.engine.due(restart));
    fired.sort();
    assert_eq!(fired, ["daily_window", "inactivity"]);
    // Restart again, this time knowing those alerts exist: nothing fires twice.
    let mut h = history();
    h.latest_alerts.insert(
        (format!("resident:{RESIDENT}"), AlertKind::Inactivity),
        restart,
    );
    h.latest_alerts.insert(
        (format!("resident:{RESIDENT}"), AlertKind::DailyWindow),
        restart,
    );
    let mut w = Home::new(
        vec![inactivity(12), window((6, 0), (10, 0))],
        t0,
        h,
        restart + Duration::minutes(5),
    );
    assert!(w.engine.due(restart + Duration::minutes(5)).is_empty());
}

impl Home {
    /// A partner's concern about the resident (the gateway links the address), at `at`.
    fn concern(&mut self, at: DateTime<Utc>) -> Vec<Decision> {
        self.next_id += 1;
        let s = Signal {
            id: SignalId(self.next_id),
            source: SignalSource::Partner(PartnerId::parse("pt-post").unwrap()),
            dedup_key: None,
            subject: Some(Subject::Resident(resident())),
            kind: SignalKind::Concern,
            body: serde_json::json!({ "seen": ["mail"], "urgent": false, "route": "district", "district": "kugenuma" }),
            device_time: None,
            received_at: at,
            clock_skewed: false,
        };
        self.engine.apply(&s, at)
    }

    fn press(&mut self, at: DateTime<Utc>) -> Vec<Decision> {
        self.signal("button", SignalKind::Emergency, serde_json::json!({}), at)
    }
}

fn a_partners_concern_about_a_resident_is_an_alert_in_their_district_at_once() {
    let t0 = jst("2026-12-01T06:00:00");
    let mut w = Home::new(vec![], t0, History::default(), t0);
    let d = w.concern(jst("2026-12-01T10:00:00"));
    let [Decision::Alert(a)] = d.as_slice() else {
        panic!("{d:?}")
    };
    assert_eq!(a.kind, AlertKind::Concern);
    assert_eq!(a.subject, Subject::Resident(resident()));
    assert_eq!(a.district.as_ref().map(|d| d.as_str()), Some("kugenuma"));
    assert_eq!(a.severity, Severity::Normal);
    assert_eq!(a.detail["seen"], serde_json::json!(["mail"]));
}

fn three_kinds_within_a_month_flag_a_compound_case_once() {
    let t0 = jst("2026-12-01T06:00:00");
    let mut w = Home::new(vec![inactivity(12)], t0, History::default(), t0);
    w.activity(jst("2026-12-01T08:00:00"));
    assert_eq!(kinds(&w.press(jst("2026-12-01T09:00:00"))), ["emergency"]);
    assert_eq!(kinds(&w.concern(jst("2026-12-05T10:00:00"))), ["concern"]);
    // Then silence: the inactivity alert is the third kind within 30 days.
    let fired = w.run(jst("2026-12-05T10:00:00"), jst("2026-12-06T12:00:00"));
    let names: Vec<&str> = fired.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["inactivity", "compound"], "{fired:?}");
    assert_eq!(
        fired[0].1, fired[1].1,
        "flagged with the alert that completed it"
    );

    // More of kinds already counted: no new flag.
    assert_eq!(kinds(&w.concern(jst("2026-12-08T10:00:00"))), ["concern"]);
    assert_eq!(kinds(&w.press(jst("2026-12-09T10:00:00"))), ["emergency"]);
}

fn kinds_outside_the_window_do_not_make_a_compound_case() {
    let t0 = jst("2026-11-01T06:00:00");
    let mut w = Home::new(vec![], t0, History::default(), t0);
    w.press(jst("2026-11-01T09:00:00"));
    w.heartbeats(jst("2026-12-05T09:00:00"));
    assert_eq!(kinds(&w.concern(jst("2026-12-05T10:00:00"))), ["concern"]);
    let fired = kinds(&w.press(jst("2026-12-06T10:00:00")));
    assert_eq!(
        fired,
        ["emergency"],
        "two kinds in the last 30 days, not three"
    );
}

fn the_configurations_defaults_are_the_engines() {
    assert_eq!(
        EngineSettings::from_config(&mimamori_core::config::RulesConfig::default()),
        EngineSettings::default()
    );
}

mimamori_testkit::main!();
