//! The alert stream's storage, on SQLite and on PostgreSQL with the same test bodies: the
//! integrations that read it (their logins), the platform's signing key, and the stream itself —
//! its numbers given out gap-free and visible in order to readers racing the writers.

use mimamori_core::alert_stream::{StreamSigner, verify};
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::storage::{StorageError, Store, StreamEntry, StreamMessage};
use mimamori_core::testing::{district, t0};
use std::collections::HashMap;

on_both_backends!(
    integrations_log_in_by_secret_until_disabled_or_rotated,
    the_signing_key_is_made_once_and_shared_by_every_process,
    racing_writers_number_the_stream_gap_free_and_readers_never_miss_one,
    a_notification_is_appended_once_however_often_it_is_published,
    a_reader_of_one_district_pages_past_the_others,
    the_stream_is_append_only,
);

fn new_integration(id: &str, district: Option<DistrictId>, secret: &str) -> NewIntegration {
    NewIntegration {
        id: id.into(),
        name: "市ケース管理システム".into(),
        district,
        secret_hash: mimamori_core::secret::token_hash(secret),
    }
}

async fn integrations_log_in_by_secret_until_disabled_or_rotated(store: Store, _url: String) {
    let secret = Integration::generate_secret();
    let added = store
        .add_integration(
            &new_integration("int-casebook", Some(district("kugenuma")), &secret),
            t0(),
        )
        .await
        .unwrap();
    assert!(added.enabled);
    assert_eq!(added.district, Some(district("kugenuma")));
    assert_ne!(added.secret_hash, secret, "only the hash is kept");

    // The broker's two ways in: by id (username) then the secret, or by the secret.
    let by_id = store
        .get_integration("int-casebook")
        .await
        .unwrap()
        .unwrap();
    assert!(by_id.accepts(&secret));
    assert!(!by_id.accepts("mmi_wrong"));
    let by_token = store.integration_by_token(&secret).await.unwrap().unwrap();
    assert_eq!(by_token, by_id);
    assert_eq!(store.get_integration("int-nobody").await.unwrap(), None);
    assert_eq!(store.integration_by_token("mmi_wrong").await.unwrap(), None);

    // Ids are unique, secrets too, and a device's id is not an integration's.
    let again = store
        .add_integration(&new_integration("int-casebook", None, "other"), t0())
        .await;
    assert!(matches!(again, Err(StorageError::Conflict(_))), "{again:?}");
    let same_secret = store
        .add_integration(&new_integration("int-other", None, &secret), t0())
        .await;
    assert!(matches!(same_secret, Err(StorageError::Conflict(_))));
    store
        .add_device(
            &NewDevice {
                id: DeviceId::parse("button-9").unwrap(),
                resident: None,
                kind: DeviceKind::CallButton,
                label: None,
                external_id: None,
                heartbeat_interval_s: 300,
                secret_hash: "x".into(),
                mac_key: "k".into(),
            },
            t0(),
        )
        .await
        .unwrap();
    let as_device = store
        .add_integration(&new_integration("button-9", None, "third"), t0())
        .await;
    assert!(matches!(as_device, Err(StorageError::Conflict(_))));
    let unknown_district = store
        .add_integration(
            &new_integration("int-x", Some(district("atlantis")), "fourth"),
            t0(),
        )
        .await;
    assert!(matches!(unknown_district, Err(StorageError::Conflict(_))));

    // A city-wide one beside it; the list holds both, by id.
    let city_secret = Integration::generate_secret();
    store
        .add_integration(&new_integration("int-city", None, &city_secret), t0())
        .await
        .unwrap();
    let ids: Vec<String> = store
        .list_integrations()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["int-casebook", "int-city"]);

    // Rotation: the old secret stops working at once.
    let rotated = Integration::generate_secret();
    store
        .set_integration_secret(
            "int-city",
            &mimamori_core::secret::token_hash(&rotated),
            t0(),
        )
        .await
        .unwrap();
    let city = store.get_integration("int-city").await.unwrap().unwrap();
    assert!(city.accepts(&rotated) && !city.accepts(&city_secret));
    assert_eq!(
        store.integration_by_token(&city_secret).await.unwrap(),
        None
    );

    // Disabling: still found (so the caller can say why), no longer accepted.
    assert!(
        store
            .disable_integration("int-casebook", t0())
            .await
            .unwrap()
    );
    assert!(
        !store
            .disable_integration("int-casebook", t0())
            .await
            .unwrap()
    );
    let disabled = store.integration_by_token(&secret).await.unwrap().unwrap();
    assert!(!disabled.enabled && disabled.disabled_at == Some(t0()));
    assert!(!disabled.accepts(&secret));
    assert!(matches!(
        store.disable_integration("int-nobody", t0()).await,
        Err(StorageError::NotFound { .. })
    ));
    assert!(matches!(
        store.set_integration_secret("int-nobody", "h", t0()).await,
        Err(StorageError::NotFound { .. })
    ));
}

async fn the_signing_key_is_made_once_and_shared_by_every_process(store: Store, url: String) {
    // Two processes start at once on an empty database.
    let other = Store::connect(&url, 2).await.unwrap();
    let (a, b) = tokio::join!(
        StreamSigner::from_store(&store, t0()),
        StreamSigner::from_store(&other, t0())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.public_key(), b.public_key());
    // After a restart: the same key.
    let again = StreamSigner::from_store(&other, t0()).await.unwrap();
    assert_eq!(again.public_key(), a.public_key());
    let stored = store.platform_key("alert_stream").await.unwrap().unwrap();
    assert_eq!(stored.algorithm, "Ed25519");
    assert_eq!(stored.public_key, a.public_key().public_key);
    assert!(!format!("{stored:?}").contains(stored.secret_key.expose_secret()));
    other.close().await;
}

/// `count` alerts, each with `per_alert` MQTT notifications, spread over kugenuma, tsujido and
/// the triage queue (no district): the notification ids and each one's district.
async fn mqtt_notifications(
    store: &Store,
    count: usize,
    per_alert: usize,
) -> Vec<(i64, Option<DistrictId>)> {
    let mut out = Vec::new();
    for i in 0..count {
        let district = [Some(district("kugenuma")), Some(district("tsujido")), None][i % 3].clone();
        let alert = store
            .open_alert(
                &NewAlert {
                    subject: Subject::parse_key(&format!("resident:r-{i}")).unwrap(),
                    kind: AlertKind::Emergency,
                    severity: Severity::Critical,
                    district: district.clone(),
                    summary: "緊急通報".into(),
                    detail: serde_json::json!({ "rule": "emergency" }),
                    at: t0(),
                },
                &[],
            )
            .await
            .unwrap()
            .alert;
        let rows: Vec<NewNotification> = (0..per_alert).map(|_| mqtt_row()).collect();
        store
            .enqueue_notifications(alert.id, &rows, t0())
            .await
            .unwrap();
        for n in store.list_notifications(alert.id).await.unwrap() {
            out.push((n.id, district.clone()));
        }
    }
    out
}

fn mqtt_row() -> NewNotification {
    NewNotification {
        channel: Channel::Mqtt,
        target: "alert-topic".into(),
        body: serde_json::json!({ "event": "raised" }),
        not_before: t0(),
    }
}

/// Appends notification `n` as the alert service does: a signed message of the alert as the
/// stream's lock finds it.
async fn append(store: &Store, signer: &StreamSigner, n: i64) -> StreamEntry {
    store
        .append_to_alert_stream(n, t0(), |alert, position| StreamMessage {
            topic: format!("mimamori/v1/alerts/x/{}", alert.id),
            message: signer.sign(
                &serde_json::json!({ "v": 1, "notification": n, "alert": { "id": alert.id, "district": alert.district } }),
                position,
            ),
        })
        .await
        .unwrap()
}

async fn racing_writers_number_the_stream_gap_free_and_readers_never_miss_one(
    store: Store,
    _url: String,
) {
    let signer = StreamSigner::from_store(&store, t0()).await.unwrap();
    let notifications = mqtt_notifications(&store, 24, 4).await;
    let total = notifications.len() as i64;
    let kugenuma = district("kugenuma");

    // A reader of everything and a reader of one district follow the stream while it is written.
    let everything = {
        let (store, key) = (store.clone(), signer.public_key().clone());
        tokio::spawn(async move {
            let mut last = 0;
            while last < total {
                let page = store.alert_stream_page(last, None, 7).await.unwrap();
                for e in page.entries {
                    assert_eq!(e.seq, last + 1, "a reader after {last} was shown {}", e.seq);
                    let fields = verify(e.message.as_bytes(), &key).unwrap();
                    assert_eq!(fields["seq"], e.seq);
                    last = e.seq;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let one_district = {
        let (store, kugenuma) = (store.clone(), kugenuma.clone());
        let expected = notifications
            .iter()
            .filter(|(_, d)| d.as_ref() == Some(&kugenuma))
            .count();
        tokio::spawn(async move {
            let (mut after, mut last_seen, mut seen) = (0, 0, 0);
            while seen < expected {
                let page = store
                    .alert_stream_page(after, Some(Some(&kugenuma)), 5)
                    .await
                    .unwrap();
                for e in &page.entries {
                    assert_eq!(e.district.as_ref(), Some(&kugenuma));
                    let fields: serde_json::Value = serde_json::from_str(&e.message).unwrap();
                    assert_eq!(
                        fields["district_prev"], last_seen,
                        "the district's reader missed one before {}",
                        e.seq
                    );
                    last_seen = e.seq;
                    seen += 1;
                }
                assert!(page.next_after >= after);
                after = page.next_after;
                tokio::task::yield_now().await;
            }
        })
    };

    // Four workers append at once, each its share.
    let mut writers = Vec::new();
    for share in 0..4 {
        let store = store.clone();
        let signer = signer.clone();
        let mine: Vec<i64> = notifications
            .iter()
            .skip(share)
            .step_by(4)
            .map(|(n, _)| *n)
            .collect();
        writers.push(tokio::spawn(async move {
            for n in mine {
                append(&store, &signer, n).await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        everything.await.unwrap();
        one_district.await.unwrap();
    })
    .await
    .expect("the readers reached the head");

    // 1..=total, each notification once, each district's chain unbroken.
    let page = store.alert_stream_page(0, None, 1000).await.unwrap();
    let seqs: Vec<i64> = page.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    assert_eq!(
        (page.head, page.next_after, page.more),
        (total, total, false)
    );
    let mut ids: Vec<i64> = page.entries.iter().map(|e| e.notification).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as i64, total);
    let mut previous: HashMap<Option<DistrictId>, i64> = HashMap::new();
    for e in &page.entries {
        let fields = verify(e.message.as_bytes(), signer.public_key()).unwrap();
        let prev = previous.insert(e.district.clone(), e.seq).unwrap_or(0);
        assert_eq!(fields["district_prev"], prev, "seq {}", e.seq);
    }
}

async fn a_notification_is_appended_once_however_often_it_is_published(store: Store, _url: String) {
    let signer = StreamSigner::from_store(&store, t0()).await.unwrap();
    let notifications = mqtt_notifications(&store, 2, 1).await;
    let (n, _) = notifications[0];
    // Two workers (one whose lease ran out) publish the same row at once, then it is retried.
    let (a, b) = tokio::join!(append(&store, &signer, n), append(&store, &signer, n));
    assert_eq!(a, b);
    let retried = append(&store, &signer, n).await;
    assert_eq!(retried, a, "a retry publishes the same bytes");
    assert_eq!(store.alert_stream_entry(n).await.unwrap(), Some(a.clone()));
    // The next one follows without a gap.
    let next = append(&store, &signer, notifications[1].0).await;
    assert_eq!((a.seq, next.seq), (1, 2));
    assert_eq!(store.alert_stream_head().await.unwrap(), 2);
    // The first message about an alert is known as such, whichever of its rows goes out first.
    let (store2, signer2) = (store.clone(), signer.clone());
    let alert = store
        .open_alert(
            &NewAlert {
                subject: Subject::parse_key("resident:r-two").unwrap(),
                kind: AlertKind::Emergency,
                severity: Severity::Critical,
                district: None,
                summary: "緊急通報".into(),
                detail: serde_json::json!({}),
                at: t0(),
            },
            &[mqtt_row(), mqtt_row()],
        )
        .await
        .unwrap()
        .alert;
    let two = store.list_notifications(alert.id).await.unwrap();
    let mut firsts = Vec::new();
    for n in [two[1].id, two[0].id] {
        store2
            .append_to_alert_stream(n, t0(), |alert, position| {
                firsts.push(position.first_of_alert);
                StreamMessage {
                    topic: format!("mimamori/v1/alerts/x/{}", alert.id),
                    message: signer2.sign(&serde_json::json!({ "v": 1 }), position),
                }
            })
            .await
            .unwrap();
    }
    assert_eq!(firsts, [true, false]);
    assert_eq!(store.alert_stream_head().await.unwrap(), 4);

    // A notification that does not exist gives out no number.
    assert!(matches!(
        store
            .append_to_alert_stream(999_999, t0(), |_, _| unreachable!())
            .await,
        Err(StorageError::NotFound { .. })
    ));
    assert_eq!(store.alert_stream_head().await.unwrap(), 4);
}

async fn a_reader_of_one_district_pages_past_the_others(store: Store, _url: String) {
    let signer = StreamSigner::from_store(&store, t0()).await.unwrap();
    // Alerts 0, 3, 6 are kugenuma's, 1, 4, 7 tsujido's, 2, 5, 8 have no district.
    for (n, _) in mqtt_notifications(&store, 9, 1).await {
        append(&store, &signer, n).await;
    }
    let kugenuma = district("kugenuma");
    let first = store
        .alert_stream_page(0, Some(Some(&kugenuma)), 2)
        .await
        .unwrap();
    let seqs: Vec<i64> = first.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 4]);
    assert_eq!((first.next_after, first.more, first.head), (4, true, 9));
    let second = store
        .alert_stream_page(4, Some(Some(&kugenuma)), 2)
        .await
        .unwrap();
    assert_eq!(
        second.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [7]
    );
    // The whole page up to the head was read: the next starts after the head, past the others.
    assert_eq!((second.next_after, second.more), (9, false));
    let triage = store.alert_stream_page(0, Some(None), 10).await.unwrap();
    assert_eq!(
        triage.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [3, 6, 9]
    );
    assert!(triage.entries.iter().all(|e| e.district.is_none()));
    // A reader ahead of the store (a restored database) keeps its place and sees the head.
    let ahead = store.alert_stream_page(50, None, 10).await.unwrap();
    assert!(ahead.entries.is_empty());
    assert_eq!((ahead.next_after, ahead.head, ahead.more), (50, 9, false));
    let all = store.alert_stream_page(0, None, 100).await.unwrap();
    assert_eq!(all.entries.len(), 9);
}

async fn the_stream_is_append_only(store: Store, url: String) {
    let signer = StreamSigner::from_store(&store, t0()).await.unwrap();
    let (n, _) = mqtt_notifications(&store, 1, 1).await[0];
    append(&store, &signer, n).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let update = sqlx::query("UPDATE alert_stream SET message = 'forged'")
        .execute(&pool)
        .await;
    assert!(update.is_err(), "{update:?}");
    let delete = sqlx::query("DELETE FROM alert_stream").execute(&pool).await;
    assert!(delete.is_err(), "{delete:?}");
    pool.close().await;
    assert_eq!(
        store.alert_stream_entry(n).await.unwrap().unwrap().message,
        append(&store, &signer, n).await.message
    );
}

mimamori_testkit::main!();
