//! Two alert services side by side on one database, as two `mimamori alerts` processes run them:
//! one leads under the rules' lease and the other stands by; when the leader dies the standby
//! takes over from the store. A press is applied once and each escalation step is taken once,
//! through the failover, on an injected clock.

use chrono::Duration;
use mimamori_alerts::notify::Targets;
use mimamori_alerts::route::{Escalation, Routing};
use mimamori_alerts::service::{LEASE, Leadership};
use mimamori_alerts::{AlertService, EngineSettings};
use mimamori_core::clock::{Clock, ManualClock};
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::storage::{AlertFilter, Store};
use mimamori_testapp::home::press;
use mimamori_testapp::{home, jst};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

on_both_backends!(two_alert_services_never_both_apply_a_press_or_take_an_escalation_step);

/// How long the test waits for the services to reach a state (they poll the store every second).
const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

async fn service(store: &Store, clock: &ManualClock, holder: &str) -> AlertService {
    AlertService::start(
        store.clone(),
        chrono_tz::Asia::Tokyo,
        EngineSettings::default(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap()
    .with_delivery(
        Routing::default(),
        Escalation::default(),
        Targets {
            mqtt_alerts: false,
            ..Default::default()
        },
    )
    .with_leadership(Leadership {
        holder: holder.into(),
        ttl: std::time::Duration::from_secs(3),
    })
}

/// Waits until `check` gives a value.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    check: impl Fn() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn emergencies(store: &Store) -> Vec<Alert> {
    store
        .list_alerts(&AlertFilter {
            kind: Some(AlertKind::Emergency),
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn two_alert_services_never_both_apply_a_press_or_take_an_escalation_step(
    store: Store,
    _url: String,
) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let resident = home::resident_with_button(&store, clock.now()).await;
    let mut running = Vec::new();
    for holder in ["alerts-a", "alerts-b"] {
        let s = service(&store, &clock, holder).await;
        let (wake, stop) = (s.waker(), CancellationToken::new());
        let task = tokio::spawn(s.run(stop.clone()));
        running.push((holder, wake, stop, task));
    }
    let wake_all = |running: &Vec<(&str, Arc<tokio::sync::Notify>, CancellationToken, _)>| {
        for (_, wake, _, _) in running {
            wake.notify_one();
        }
    };
    let leader = until("a leader", || async {
        store.lease_holder(LEASE, clock.now()).await.unwrap()
    })
    .await;

    // The press: both services see it in the store, only the leader applies it.
    press(&store, &resident, 1, clock.now()).await;
    wake_all(&running);
    let alert = until("the emergency", || async {
        emergencies(&store).await.into_iter().next()
    })
    .await;

    for step in 1..=4 {
        if step == 2 {
            // The leader dies without giving its lease up (kill -9): the standby takes over once
            // the lease lapsed, rebuilt from the store.
            let i = running.iter().position(|r| r.0 == leader.holder).unwrap();
            let (_, _, _, task) = running.remove(i);
            task.abort();
            let _ = task.await;
        }
        clock.advance(Duration::minutes(5));
        wake_all(&running);
        until("the next escalation step", || async {
            (store.get_alert(alert.id).await.unwrap().escalation_step >= step).then_some(())
        })
        .await;
    }
    let successor = until("the successor renewing its lease", || async {
        store.lease_holder(LEASE, clock.now()).await.unwrap()
    })
    .await;
    assert_ne!(successor.holder, leader.holder, "the standby took over");
    assert!(successor.token > leader.token);

    // Once more through the store as the services left it: settle, then stop the survivor.
    for (_, _, stop, task) in running {
        stop.cancel();
        task.await.unwrap();
    }
    let all = emergencies(&store).await;
    assert_eq!(all.len(), 1, "one alert for the press");
    let alert = &all[0];
    assert_eq!(alert.evidence_count, 1, "the press was applied once");
    assert_eq!(alert.escalation_step, 4);
    let steps: Vec<i64> = store
        .alert_timeline(alert.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == AlertEventKind::Escalated)
        .filter_map(|e| e.detail["step"].as_i64())
        .collect();
    assert_eq!(steps, [1, 2, 3, 4], "each escalation step taken once");
    assert_eq!(
        store.lease_holder(LEASE, clock.now()).await.unwrap(),
        None,
        "a service that stops gives its lease up"
    );
}

mimamori_testkit::main!();
