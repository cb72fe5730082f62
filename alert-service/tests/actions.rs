//! The alert actions write a state change and its announcement together or not at all: a store
//! that fails between them (a trigger refusing the notification rows, on the real database)
//! leaves the alert as it was, its timeline without the event and nothing to send.

use chrono::{DateTime, Utc};
use mimamori_alerts::actions::{Actions, Via};
use mimamori_alerts::notify::Targets;
use mimamori_alerts::route::Routing;
use mimamori_core::clock::ManualClock;
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::storage::{AckResult, ResolveResult, Routed, Store};
use sqlx::Connection;
use std::sync::Arc;

on_both_backends!(
    an_acknowledgement_and_its_announcement_are_written_together_or_not_at_all,
    a_resolution_and_its_announcement_are_written_together_or_not_at_all,
);

fn t0() -> DateTime<Utc> {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

/// Actions that announce every change on the MQTT alerts topic (one row each).
fn actions(store: &Store) -> Actions {
    Actions::new(
        store.clone(),
        Targets {
            mqtt_alerts: true,
            ..Default::default()
        },
        Routing::default(),
        Arc::new(ManualClock::new(t0())),
    )
}

async fn open_emergency(store: &Store) -> Alert {
    let new = NewAlert {
        subject: Subject::parse_key("resident:r-1").unwrap(),
        kind: AlertKind::Emergency,
        severity: Severity::Critical,
        district: Some(DistrictId::parse("kugenuma").unwrap()),
        summary: "緊急通報".into(),
        detail: serde_json::json!({}),
        at: t0(),
    };
    let routed = Routed {
        team: Some(TeamId::parse("houkatsu-kugenuma").unwrap()),
        escalate_at: Some(t0() + chrono::Duration::minutes(5)),
        cursor: None,
    };
    store
        .open_routed_alert(&new, &routed, &[], None)
        .await
        .unwrap()
        .alert
}

/// Makes every insert of a notification row fail, as a store failing mid-transaction would.
async fn fail_announcements(url: &str) {
    let mut db = sqlx::AnyConnection::connect(url).await.unwrap();
    let sql = if url.starts_with("sqlite") {
        "CREATE TRIGGER fail_announcements BEFORE INSERT ON notifications
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END;"
    } else {
        "CREATE FUNCTION fail_announcements() RETURNS trigger AS $$
         BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql;
         CREATE TRIGGER fail_announcements BEFORE INSERT ON notifications
         FOR EACH ROW EXECUTE FUNCTION fail_announcements();"
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
}

async fn heal(url: &str) {
    let mut db = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::raw_sql("DROP TRIGGER fail_announcements ON notifications")
        .execute(&mut db)
        .await
        .or(sqlx::raw_sql("DROP TRIGGER fail_announcements")
            .execute(&mut db)
            .await)
        .unwrap();
    db.close().await.unwrap();
}

fn events_of(timeline: &[AlertEvent], kind: AlertEventKind) -> usize {
    timeline.iter().filter(|e| e.kind == kind).count()
}

async fn an_acknowledgement_and_its_announcement_are_written_together_or_not_at_all(
    store: Store,
    url: String,
) {
    let alert = open_emergency(&store).await;
    let actions = actions(&store);
    let sato = Actor::responder("p-sato");
    fail_announcements(&url).await;

    let failed = actions.acknowledge(&alert, &sato, Via::Dashboard).await;
    assert!(failed.is_err(), "the store failed: {failed:?}");
    let after = store.get_alert(alert.id).await.unwrap();
    assert_eq!(after.state, AlertState::Open, "not acknowledged");
    assert_eq!(after.acknowledged_by, None);
    assert!(
        after.next_escalation_at.is_some(),
        "the escalation still runs"
    );
    let timeline = store.alert_timeline(alert.id).await.unwrap();
    assert_eq!(events_of(&timeline, AlertEventKind::Acknowledged), 0);
    assert!(store.list_notifications(alert.id).await.unwrap().is_empty());

    heal(&url).await;
    let AckResult::Acknowledged(done) = actions
        .acknowledge(&alert, &sato, Via::Dashboard)
        .await
        .unwrap()
    else {
        panic!("the second try acknowledges");
    };
    assert_eq!(done.acknowledged_by.as_deref(), Some("responder:p-sato"));
    let timeline = store.alert_timeline(alert.id).await.unwrap();
    assert_eq!(events_of(&timeline, AlertEventKind::Acknowledged), 1);
    let sent = store.list_notifications(alert.id).await.unwrap();
    assert_eq!(sent.len(), 1, "announced once: {sent:?}");
    assert_eq!(sent[0].channel, Channel::Mqtt);
    assert_eq!(sent[0].body["event"], "acknowledged");
}

async fn a_resolution_and_its_announcement_are_written_together_or_not_at_all(
    store: Store,
    url: String,
) {
    let alert = open_emergency(&store).await;
    let actions = actions(&store);
    let sato = Actor::responder("p-sato");
    fail_announcements(&url).await;

    let failed = actions
        .resolve(&alert, &sato, Outcome::Safe, None, Via::Api)
        .await;
    assert!(failed.is_err(), "the store failed: {failed:?}");
    let after = store.get_alert(alert.id).await.unwrap();
    assert_eq!(after.state, AlertState::Open, "not resolved");
    assert_eq!(after.outcome, None);
    let timeline = store.alert_timeline(alert.id).await.unwrap();
    assert_eq!(events_of(&timeline, AlertEventKind::Resolved), 0);
    assert!(store.list_notifications(alert.id).await.unwrap().is_empty());

    heal(&url).await;
    let ResolveResult::Resolved(done) = actions
        .resolve(&alert, &sato, Outcome::Safe, None, Via::Api)
        .await
        .unwrap()
    else {
        panic!("the second try resolves");
    };
    assert_eq!(done.outcome, Some(Outcome::Safe));
    let sent = store.list_notifications(alert.id).await.unwrap();
    assert_eq!(sent.len(), 1, "announced once: {sent:?}");
    assert_eq!(sent[0].body["event"], "resolved");
    assert_eq!(sent[0].status, NotificationStatus::Pending);
}

mimamori_testkit::main!();
