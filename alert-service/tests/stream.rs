//! The alert stream end to end: the alert service numbers, signs and stores every MQTT alert
//! message before publishing it to a real (embedded) broker, and an integration that follows
//! docs/ALERTS.md's loop — away while alerts are raised, back later — ends with every message
//! once, in order, each signature valid. Stepped on an injected clock.

use mimamori_alerts::notify::Step;
use mimamori_core::clock::{Clock, ManualClock};
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::storage::Store;
use mimamori_testapp::follower::{Feed, Follower};
use mimamori_testapp::{Options, TestApp, spawn_app};
use std::collections::BTreeSet;
use std::time::Duration;

on_both_backends!(
    an_integration_away_while_alerts_are_raised_catches_up_on_each_once_in_order,
    a_message_is_in_the_stream_while_the_broker_is_away_and_retried_as_it_was,
);

fn t0() -> chrono::DateTime<chrono::Utc> {
    mimamori_core::testing::t0()
}

/// A resident of `district` (born 1940) with a call button `button-{id}`.
async fn resident_in(store: &Store, id: &str, district: &str) -> ResidentId {
    let mut r = mimamori_core::testing::new_resident(id);
    r.district = DistrictId::parse(district).unwrap();
    r.notes = None;
    store
        .add_resident(&r, &Actor::system(), t0())
        .await
        .unwrap();
    mimamori_testapp::home::device(
        store,
        &format!("button-{id}"),
        &r.id,
        DeviceKind::CallButton,
        "k",
        t0(),
    )
    .await;
    r.id
}

/// Press number `seq` of the resident's button, stored as the gateway stores it; the rules see
/// it at once and the outbox sends what is due: the alert.
async fn press(app: &mut TestApp, resident: &ResidentId, seq: i64) -> Alert {
    app.store
        .insert_signal(&NewSignal {
            source: SignalSource::Device(DeviceId::parse(format!("button-{resident}")).unwrap()),
            dedup_key: Some(format!("seq:{seq}")),
            subject: Some(Subject::Resident(resident.clone())),
            kind: SignalKind::Emergency,
            body: serde_json::json!({ "type": "emergency" }),
            device_time: None,
            received_at: app.clock.now(),
            clock_skewed: false,
        })
        .await
        .unwrap();
    let alert = app.tick().await.remove(0);
    let steps = app.drain().await;
    assert!(
        steps.iter().all(|s| matches!(s, Step::Sent(_))),
        "{steps:?}"
    );
    alert
}

/// An integration's secret.
async fn integration(store: &Store, id: &str, district: Option<&str>) -> String {
    let secret = Integration::generate_secret();
    store
        .add_integration(
            &NewIntegration {
                id: id.into(),
                name: id.into(),
                district: district.map(|d| DistrictId::parse(d).unwrap()),
                secret_hash: mimamori_core::secret::token_hash(&secret),
            },
            t0(),
        )
        .await
        .unwrap();
    secret
}

/// The alert topics of the app's broker, subscribed as the platform's login (a `mimamori-`
/// client id; the broker's integration logins are the broker's own tests').
async fn feed(app: &TestApp, client_id: &str, filter: &str) -> Feed {
    let b = app.broker.as_ref().unwrap();
    Feed::subscribe(b.addr, client_id, &b.username, &b.password, filter).await
}

const IDLE: Duration = Duration::from_secs(3);

async fn an_integration_away_while_alerts_are_raised_catches_up_on_each_once_in_order(
    store: Store,
    _url: String,
) {
    let hanako = resident_in(&store, "r-hanako", "kugenuma").await;
    let taro = resident_in(&store, "r-taro", "tsujido").await;
    let jiro = resident_in(&store, "r-jiro", "chogo").await;
    let responder_token = format!("mmr_{}", mimamori_core::secret::generate(33));
    mimamori_testapp::people::responder(&store, "p-sato", "houkatsu-kugenuma", "佐藤", None, None)
        .await;
    store
        .add_responder_token(
            &ResponderId::parse("p-sato").unwrap(),
            &mimamori_core::secret::token_hash(&responder_token),
            t0(),
        )
        .await
        .unwrap();
    let city = integration(&store, "int-city", None).await;
    let tsujido = integration(&store, "int-tsujido", Some("tsujido")).await;

    let clock = ManualClock::new(t0());
    let mut app = spawn_app(store.clone(), Options::on(clock.clone()).mqtt_broker()).await;
    app.wait_mqtt_connected().await;

    // The city's integration and 辻堂's start as the loop says: subscribe, then catch up.
    let mut everything = Follower::new(&app.base, &city, false).await;
    let mut feed_all = feed(&app, "mimamori-test-city-1", "mimamori/v1/alerts/#").await;
    everything.catch_up().await;
    let mut district = Follower::new(&app.base, &tsujido, true).await;
    let mut feed_tsujido = feed(
        &app,
        "mimamori-test-tsujido",
        "mimamori/v1/alerts/tsujido/#",
    )
    .await;
    district.catch_up().await;
    assert_eq!((everything.last, district.last), (0, 0));

    // 花子 presses: the message arrives live.
    let first = press(&mut app, &hanako, 1).await;
    let head = store.alert_stream_head().await.unwrap();
    everything.follow_until(&mut feed_all, head, IDLE).await;
    assert_eq!(everything.via_mqtt, 1);

    // The city's integration goes away. Meanwhile: 太郎 (辻堂) and 次郎 (長後) press, 花子
    // presses again, and 佐藤 takes 花子's alert.
    feed_all.disconnect().await;
    let second = press(&mut app, &taro, 1).await;
    clock.advance(chrono::Duration::minutes(1));
    let third = press(&mut app, &jiro, 1).await;
    press(&mut app, &hanako, 2).await;
    let ack = app
        .http
        .post(app.url(&format!("/api/v1/alerts/{}/ack", first.id)))
        .bearer_auth(&responder_token)
        .send()
        .await
        .unwrap();
    assert!(ack.status().is_success(), "{}", ack.status());
    let steps = app.drain().await;
    assert!(
        steps.iter().all(|s| matches!(s, Step::Sent(_))),
        "{steps:?}"
    );
    let missed = store.alert_stream_head().await.unwrap() - head;
    assert_eq!(missed, 4, "created ×2, evidence_added, acknowledged");

    // Back: subscribe, catch up, then live again (次郎 presses once more).
    let mut feed_all = feed(&app, "mimamori-test-city-2", "mimamori/v1/alerts/#").await;
    everything.catch_up().await;
    assert_eq!(everything.via_api, missed as usize);
    press(&mut app, &jiro, 2).await;
    let head = store.alert_stream_head().await.unwrap();
    everything.follow_until(&mut feed_all, head, IDLE).await;
    district.follow_until(&mut feed_tsujido, head, IDLE).await;

    assert_eq!(
        (everything.via_mqtt, everything.via_api, district.via_mqtt),
        (2, missed as usize, 1),
        "live when connected, from the API what it missed"
    );

    // Every message once, in order: exactly the stream, which holds one per MQTT notification.
    let seqs: Vec<i64> = everything.applied.iter().map(|a| a.seq).collect();
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>());
    let mut published = BTreeSet::new();
    for a in [first.id, second.id, third.id] {
        for n in store.list_notifications(a).await.unwrap() {
            if n.channel == Channel::Mqtt {
                assert_eq!(n.status, NotificationStatus::Sent);
                published.insert(n.id);
            }
        }
    }
    let applied: BTreeSet<i64> = everything.applied.iter().map(|a| a.notification).collect();
    assert_eq!(applied, published);
    assert_eq!(applied.len(), everything.applied.len(), "none twice");
    // 花子's alert as the integration saw it change.
    let hers: Vec<(&str, &str)> = everything
        .applied
        .iter()
        .filter(|a| a.alert == first.id.0)
        .map(|a| (a.event.as_str(), a.state.as_str()))
        .collect();
    assert_eq!(
        hers,
        [
            ("created", "open"),
            ("evidence_added", "open"),
            ("acknowledged", "acknowledged")
        ]
    );

    // 辻堂's integration: 太郎's alert only, once, nothing of the other districts.
    let theirs: Vec<(i64, Option<&str>)> = district
        .applied
        .iter()
        .map(|a| (a.alert, a.district.as_deref()))
        .collect();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(theirs[0].1, Some("tsujido"));
    assert_eq!(district.gaps, 0, "district_prev told it nothing was missed");

    feed_all.disconnect().await;
    feed_tsujido.disconnect().await;
}

async fn a_message_is_in_the_stream_while_the_broker_is_away_and_retried_as_it_was(
    store: Store,
    _url: String,
) {
    let hanako = resident_in(&store, "r-hanako", "kugenuma").await;
    let city = integration(&store, "int-city", None).await;
    let clock = ManualClock::new(t0());
    // MQTT alerts on, no broker: every publication fails and is retried.
    let mut app = spawn_app(store.clone(), Options::on(clock.clone()).mqtt_alerts()).await;
    store
        .insert_signal(&NewSignal {
            source: SignalSource::Device(DeviceId::parse("button-r-hanako").unwrap()),
            dedup_key: Some("seq:1".into()),
            subject: Some(Subject::Resident(hanako.clone())),
            kind: SignalKind::Emergency,
            body: serde_json::json!({ "type": "emergency" }),
            device_time: None,
            received_at: clock.now(),
            clock_skewed: false,
        })
        .await
        .unwrap();
    let alert = app.tick().await.remove(0);
    // Numbered in the alert's own transaction: in the stream before the outbox sends it.
    let numbered = store.alert_stream_page(0, None, 10).await.unwrap().entries;
    assert_eq!(
        numbered.iter().map(|e| e.alert).collect::<Vec<_>>(),
        [alert.id],
        "the alert's message is in the stream as soon as the alert is"
    );
    let steps = app.drain().await;
    assert!(matches!(steps[..], [Step::Retry(..)]), "{steps:?}");

    // The store has it already: an integration reads it, signed, from the API.
    let mut follower = Follower::new(&app.base, &city, false).await;
    follower.catch_up().await;
    assert_eq!(follower.applied.len(), 1);
    assert_eq!(follower.applied[0].alert, alert.id.0);
    let first = store.alert_stream_page(0, None, 10).await.unwrap().entries;
    assert_eq!(
        first, numbered,
        "the try published the message numbered with the alert"
    );

    // Retried later (the broker still away): the same number, the same bytes.
    clock.advance(chrono::Duration::seconds(5));
    let steps = app.drain().await;
    assert!(matches!(steps[..], [Step::Retry(..)]), "{steps:?}");
    let again = store.alert_stream_page(0, None, 10).await.unwrap().entries;
    assert_eq!(again, first);
    assert_eq!(store.alert_stream_head().await.unwrap(), 1);
}

mimamori_testkit::main!();
