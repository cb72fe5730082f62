//! Leases and fencing against both backends: one holder at a time, a lapsed lease taken over with
//! a new token, and a holder that lost its lease writing nothing.

use chrono::Duration;
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::storage::{Routed, SignalCursor, StorageError, Store};
use mimamori_core::testing::t0;

on_both_backends!(
    one_holder_at_a_time_and_a_lapsed_lease_changes_hands,
    a_holder_that_lost_its_lease_writes_nothing,
);

const TTL: Duration = Duration::seconds(15);

async fn one_holder_at_a_time_and_a_lapsed_lease_changes_hands(store: Store, _: String) {
    let a = store
        .try_lease("rules", "a", t0(), TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.token, 1);
    assert_eq!(
        store.try_lease("rules", "b", t0(), TTL).await.unwrap(),
        None
    );
    // Renewed by its holder: the same token, running on.
    let later = t0() + Duration::seconds(10);
    assert_eq!(
        store.try_lease("rules", "a", later, TTL).await.unwrap(),
        Some(a.clone())
    );
    let still = t0() + Duration::seconds(20);
    assert_eq!(
        store.try_lease("rules", "b", still, TTL).await.unwrap(),
        None
    );
    assert_eq!(
        store.lease_holder("rules", still).await.unwrap(),
        Some(a.clone())
    );
    // Lapsed: taken over with the next token; the old holder cannot renew it.
    let lapsed = later + TTL;
    let b = store
        .try_lease("rules", "b", lapsed, TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((b.holder.as_str(), b.token), ("b", 2));
    assert_eq!(
        store.try_lease("rules", "a", lapsed, TTL).await.unwrap(),
        None
    );
    // Given up: free at once for the next.
    assert!(store.release_lease(&b).await.unwrap());
    assert!(!store.release_lease(&a).await.unwrap(), "not a's any more");
    let c = store
        .try_lease("rules", "c", lapsed, TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.token, 3);
    // Taken from a holder known to be dead before its lease lapsed, with the next token.
    let d = store
        .take_lease_from("rules", "d", "c", lapsed, TTL)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.token, 4);
    assert_eq!(
        store
            .take_lease_from("rules", "e", "c", lapsed, TTL)
            .await
            .unwrap(),
        None,
        "only from the named holder"
    );
    // Other names are other leases.
    assert!(
        store
            .try_lease("other", "a", lapsed, TTL)
            .await
            .unwrap()
            .is_some()
    );
}

async fn a_holder_that_lost_its_lease_writes_nothing(store: Store, _: String) {
    let a = store
        .try_lease("rules", "a", t0(), TTL)
        .await
        .unwrap()
        .unwrap();
    let old = store.fenced(a);
    let cursor = |n| SignalCursor {
        consumer: "alert-service".into(),
        signal: SignalId(n),
    };
    old.save_signal_cursor(&cursor(5), t0()).await.unwrap();
    let alert = NewAlert {
        subject: Subject::Resident(ResidentId::parse("r-1").unwrap()),
        kind: AlertKind::Emergency,
        severity: Severity::Critical,
        district: None,
        summary: "緊急通報".into(),
        detail: serde_json::json!({}),
        at: t0(),
    };
    let opened = old
        .open_routed_alert(&alert, &Routed::default(), &[], None)
        .await
        .unwrap();

    // Another process takes the lapsed lease over; the old holder has not noticed.
    let b = store
        .try_lease("rules", "b", t0() + TTL, TTL)
        .await
        .unwrap()
        .unwrap();
    let fenced = |r: Result<_, StorageError>| matches!(r, Err(StorageError::Fenced(_)));
    assert!(fenced(
        old.save_signal_cursor(&cursor(9), t0()).await.map(|_| ())
    ));
    assert!(fenced(
        old.open_routed_alert(&alert, &Routed::default(), &[], None)
            .await
            .map(|_| ())
    ));
    assert!(fenced(
        old.advance_escalation(opened.alert.id, 0, None, &[], &serde_json::json!({}), t0())
            .await
            .map(|_| ())
    ));
    // Nothing of it was written: the cursor, the evidence and the step are as they were.
    assert_eq!(
        store.signal_cursor("alert-service").await.unwrap(),
        Some(SignalId(5))
    );
    let now = store.get_alert(opened.alert.id).await.unwrap();
    assert_eq!((now.evidence_count, now.escalation_step), (1, 0));
    // The new holder writes.
    let new = store.fenced(b);
    new.save_signal_cursor(&cursor(9), t0()).await.unwrap();
    assert!(
        new.advance_escalation(opened.alert.id, 0, None, &[], &serde_json::json!({}), t0())
            .await
            .unwrap()
    );
    // An unfenced store (people acting on the web) is not held back by any lease.
    store
        .acknowledge_alert(
            opened.alert.id,
            &Actor("responder:p-1".into()),
            "web",
            &[],
            t0(),
        )
        .await
        .unwrap();
}

mimamori_testkit::main!();
