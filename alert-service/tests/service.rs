//! The alert service against a real store (SQLite and PostgreSQL), on an injected clock.

use chrono::{DateTime, Duration, Utc};
use mimamori_alerts::rules::hm;
use mimamori_alerts::{AlertService, EngineSettings};
use mimamori_core::clock::{Clock, ManualClock};
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::storage::{AlertFilter, Store};
use mimamori_testapp::{home, jst, people};
use std::sync::Arc;

on_both_backends!(
    a_restart_gets_exactly_the_alerts_that_were_due,
    emergencies_become_alerts_and_a_second_press_joins,
    an_admins_change_reaches_the_running_service,
    a_press_stored_while_the_service_is_down_becomes_an_alert_once,
    an_alert_the_store_refused_is_written_once_it_accepts_again,
);

async fn watched_resident(store: &Store, at: DateTime<Utc>) -> ResidentId {
    let mut r = mimamori_core::testing::new_resident("r-watched");
    r.policies = vec![
        CheckinPolicy::Inactivity {
            max_silence_minutes: 12 * 60,
            active_from: hm(7, 0),
            active_to: hm(22, 0),
        },
        CheckinPolicy::DailyWindow {
            from: hm(6, 0),
            to: hm(10, 0),
        },
    ];
    store.add_resident(&r, &Actor::system(), at).await.unwrap();
    for (id, kind) in [
        ("door-w", DeviceKind::Door),
        ("button-w", DeviceKind::CallButton),
    ] {
        home::device(store, id, &r.id, kind, "k", at).await;
    }
    r.id
}

fn signal(
    device: &str,
    resident: &ResidentId,
    kind: SignalKind,
    seq: i64,
    at: DateTime<Utc>,
) -> NewSignal {
    NewSignal {
        source: SignalSource::Device(DeviceId::parse(device).unwrap()),
        dedup_key: Some(format!("seq:{seq}")),
        subject: Some(Subject::Resident(resident.clone())),
        kind,
        body: serde_json::json!({ "type": kind.as_str() }),
        device_time: None,
        received_at: at,
        clock_skewed: false,
    }
}

async fn start(store: &Store, clock: &ManualClock) -> AlertService {
    AlertService::start(
        store.clone(),
        chrono_tz::Asia::Tokyo,
        EngineSettings::default(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap()
}

async fn alert_kinds(store: &Store) -> Vec<AlertKind> {
    let mut kinds: Vec<_> = store
        .list_alerts(&AlertFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    kinds.sort();
    kinds
}

async fn a_restart_gets_exactly_the_alerts_that_were_due(store: Store, _url: String) {
    let t0 = jst("2026-12-01T06:00:00");
    let clock = ManualClock::new(t0);
    let resident = watched_resident(&store, t0).await;
    let mut service = start(&store, &clock).await;
    clock.set(jst("2026-12-01T08:00:00"));
    store
        .insert_signal(&signal(
            "door-w",
            &resident,
            SignalKind::Activity,
            1,
            clock.now(),
        ))
        .await
        .unwrap();
    assert!(service.tick().await.unwrap().is_empty());
    clock.set(jst("2026-12-01T12:00:00"));
    assert!(service.tick().await.unwrap().is_empty());
    drop(service); // stopped

    // While it is down, the inactivity deadline (20:00) and the window of the 2nd (06:00–10:00) pass.
    clock.set(jst("2026-12-02T12:00:00"));
    let mut service = start(&store, &clock).await;
    let alerts = service.tick().await.unwrap();
    let mut kinds: Vec<_> = alerts.iter().map(|a| a.kind).collect();
    kinds.sort();
    assert_eq!(kinds, [AlertKind::Inactivity, AlertKind::DailyWindow]);
    assert!(
        alerts
            .iter()
            .all(|a| a.subject == Subject::Resident(resident.clone())
                && a.district.as_ref().map(|d| d.as_str()) == Some("kugenuma"))
    );
    assert!(
        service.tick().await.unwrap().is_empty(),
        "nothing fires twice"
    );
    drop(service);

    // Another restart: still nothing new; the store holds exactly the two.
    clock.set(jst("2026-12-02T12:05:00"));
    let mut service = start(&store, &clock).await;
    assert!(service.tick().await.unwrap().is_empty());
    assert_eq!(
        alert_kinds(&store).await,
        [AlertKind::Inactivity, AlertKind::DailyWindow]
    );

    // Once resolved, a new lapse after new activity alerts again.
    for a in store.list_alerts(&AlertFilter::default()).await.unwrap() {
        store
            .resolve_alert(
                a.id,
                &Actor::system(),
                Outcome::Safe,
                None,
                &[],
                clock.now(),
            )
            .await
            .unwrap();
    }
    clock.set(jst("2026-12-02T13:00:00"));
    store
        .insert_signal(&signal(
            "door-w",
            &resident,
            SignalKind::Activity,
            2,
            clock.now(),
        ))
        .await
        .unwrap();
    assert!(service.tick().await.unwrap().is_empty());
    // 13:00 → 22:00 counts 9 h; 3 h more from 07:00: 10:00, when the day's window also ends empty.
    clock.set(jst("2026-12-03T09:59:00"));
    assert!(service.tick().await.unwrap().is_empty());
    clock.set(jst("2026-12-03T10:00:00"));
    let mut kinds: Vec<_> = service
        .tick()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    kinds.sort();
    assert_eq!(kinds, [AlertKind::Inactivity, AlertKind::DailyWindow]);
}

async fn emergencies_become_alerts_and_a_second_press_joins(store: Store, _url: String) {
    let t0 = jst("2026-12-01T06:00:00");
    let clock = ManualClock::new(t0);
    let resident = watched_resident(&store, t0).await;
    let mut service = start(&store, &clock).await;
    clock.advance(Duration::minutes(1));
    store
        .insert_signal(&signal(
            "button-w",
            &resident,
            SignalKind::Emergency,
            10,
            clock.now(),
        ))
        .await
        .unwrap();
    let alerts = service.tick().await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].kind, alerts[0].severity, alerts[0].evidence_count),
        (AlertKind::Emergency, Severity::Critical, 1)
    );
    clock.advance(Duration::minutes(1));
    store
        .insert_signal(&signal(
            "button-w",
            &resident,
            SignalKind::Emergency,
            11,
            clock.now(),
        ))
        .await
        .unwrap();
    let alerts = service.tick().await.unwrap();
    assert_eq!(alerts[0].evidence_count, 2, "joined, not a second alert");
    assert_eq!(
        store
            .list_alerts(&AlertFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
    let timeline: Vec<_> = store
        .alert_timeline(alerts[0].id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(timeline, [AlertEventKind::Created, AlertEventKind::Joined]);
}

async fn an_admins_change_reaches_the_running_service(store: Store, _url: String) {
    let t0 = jst("2026-12-01T06:00:00");
    let clock = ManualClock::new(t0);
    let resident = watched_resident(&store, t0).await;
    store.set_policies(&resident, &[], t0).await.unwrap();
    let mut service = start(&store, &clock).await;
    clock.set(jst("2026-12-01T08:00:00"));
    store
        .insert_signal(&signal(
            "door-w",
            &resident,
            SignalKind::Activity,
            1,
            clock.now(),
        ))
        .await
        .unwrap();
    assert!(service.tick().await.unwrap().is_empty());
    // An admin (another process) sets a 2-hour inactivity policy, then a hospital stay.
    let policy = CheckinPolicy::Inactivity {
        max_silence_minutes: 120,
        active_from: hm(7, 0),
        active_to: hm(22, 0),
    };
    store
        .set_policies(&resident, &[policy], clock.now())
        .await
        .unwrap();
    store
        .record_change(
            &Subject::Resident(resident.clone()),
            "policies",
            clock.now(),
        )
        .await
        .unwrap();
    assert!(service.tick().await.unwrap().is_empty());
    clock.set(jst("2026-12-01T09:30:00"));
    store
        .add_pause(
            &NewPause {
                resident: resident.clone(),
                reason: PauseReason::Hospital,
                starts_at: clock.now(),
                ends_at: None,
                note: None,
            },
            clock.now(),
        )
        .await
        .unwrap();
    store
        .record_change(&Subject::Resident(resident.clone()), "pause", clock.now())
        .await
        .unwrap();
    assert!(service.tick().await.unwrap().is_empty());
    clock.set(jst("2026-12-02T12:00:00"));
    assert!(service.tick().await.unwrap().is_empty(), "paused");
    // Without the pause the 2 hours are up at 10:00.
    let pause = store.list_pauses(&resident).await.unwrap()[0].id;
    store
        .end_pause(pause, jst("2026-12-01T09:31:00"))
        .await
        .unwrap();
    store
        .record_change(&Subject::Resident(resident.clone()), "pause", clock.now())
        .await
        .unwrap();
    let kinds: Vec<_> = service
        .tick()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(kinds, [AlertKind::Inactivity]);
}

async fn a_press_stored_while_the_service_is_down_becomes_an_alert_once(
    store: Store,
    _url: String,
) {
    let t0 = jst("2026-12-01T09:00:00");
    let clock = ManualClock::new(t0);
    let resident = watched_resident(&store, t0).await;
    let service = start(&store, &clock).await;
    drop(service); // stopped (a restart, an upgrade, a crash)

    // The gateway keeps storing: a press arrives while nothing follows the signals.
    clock.advance(Duration::minutes(1));
    let press = clock.now();
    store
        .insert_signal(&signal(
            "button-w",
            &resident,
            SignalKind::Emergency,
            1,
            press,
        ))
        .await
        .unwrap();
    clock.advance(Duration::minutes(1));
    let mut service = start(&store, &clock).await;
    let alerts = service.tick().await.unwrap();
    assert_eq!(
        alerts
            .iter()
            .map(|a| (a.kind, a.opened_at))
            .collect::<Vec<_>>(),
        [(AlertKind::Emergency, press)],
        "the press is not lost, and the alert says when it came"
    );
    drop(service); // stopped again right after the alert, before any periodic save

    // The press led to an alert: it is not applied a second time.
    let mut service = start(&store, &clock).await;
    assert!(service.tick().await.unwrap().is_empty());
    let open = people::alerts_of(&store, AlertKind::Emergency).await;
    assert_eq!(
        open.iter().map(|a| a.evidence_count).collect::<Vec<_>>(),
        [1]
    );
    // A second press joins the same alert, once.
    store
        .insert_signal(&signal(
            "button-w",
            &resident,
            SignalKind::Emergency,
            2,
            clock.now(),
        ))
        .await
        .unwrap();
    service.tick().await.unwrap();
    drop(service);
    let mut service = start(&store, &clock).await;
    service.tick().await.unwrap();
    assert_eq!(
        people::alerts_of(&store, AlertKind::Emergency).await[0].evidence_count,
        2
    );
}

/// Makes the store refuse (or accept again) new alerts, as a full disk or a database failing over
/// would: a trigger on the real table.
async fn refuse_alerts(store: &Store, url: &str, refuse: bool) {
    use sqlx::Connection;
    let mut db = sqlx::AnyConnection::connect(url).await.unwrap();
    let statements: &[&str] = match (store.backend(), refuse) {
        (mimamori_core::config::Backend::Sqlite, true) => &[
            "CREATE TRIGGER refuse_alerts BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'disk full'); END",
        ],
        (mimamori_core::config::Backend::Sqlite, false) => &["DROP TRIGGER refuse_alerts"],
        (mimamori_core::config::Backend::Postgres, true) => &[
            "CREATE FUNCTION refuse_alerts() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_alerts BEFORE INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION refuse_alerts()",
        ],
        (mimamori_core::config::Backend::Postgres, false) => &[
            "DROP TRIGGER refuse_alerts ON alerts",
            "DROP FUNCTION refuse_alerts()",
        ],
    };
    for sql in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut db)
            .await
            .unwrap();
    }
    db.close().await.unwrap();
}

async fn an_alert_the_store_refused_is_written_once_it_accepts_again(store: Store, url: String) {
    let t0 = jst("2026-12-01T09:00:00");
    let clock = ManualClock::new(t0);
    let resident = watched_resident(&store, t0).await;
    let mut service = start(&store, &clock).await;
    refuse_alerts(&store, &url, true).await;
    store
        .insert_signal(&signal("button-w", &resident, SignalKind::Emergency, 1, t0))
        .await
        .unwrap();
    store
        .insert_signal(&signal("door-w", &resident, SignalKind::Activity, 2, t0))
        .await
        .unwrap();
    assert!(service.tick().await.is_err(), "the store refuses the alert");
    assert!(service.tick().await.is_err(), "and still refuses it");
    refuse_alerts(&store, &url, false).await;
    let alerts = service.tick().await.unwrap();
    assert_eq!(
        alerts.iter().map(|a| a.kind).collect::<Vec<_>>(),
        [AlertKind::Emergency],
        "the press is not stepped over"
    );
    assert!(service.tick().await.unwrap().is_empty(), "and written once");
    assert_eq!(
        people::alerts_of(&store, AlertKind::Emergency).await[0].evidence_count,
        1
    );
}

mimamori_testkit::main!();
