//! Ingestion end to end: real MQTT clients and a real broker — our embedded rumqttd, and Mosquitto
//! with password file and ACL — through the gateway into the store. The Mosquitto cases need the
//! `mosquitto` command, TLS the `openssl` one: where missing, they are listed as ignored.

use mimamori_core::domain::*;
use mimamori_core::metrics::Exposition;
use mimamori_core::protocol::{Event, EventType, Sensor};
use mimamori_core::storage::Store;
use mimamori_gateway::{DropReason, IngestEvent};
use mimamori_testapp::platform::{self, BrokerKind, Platform, setup, wait_for};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

mimamori_testapp::on_both_brokers!(
    an_emergency_is_a_stored_signal_within_a_second,
    wrong_passwords_and_strangers_are_refused,
    a_device_cannot_speak_as_another,
    a_badly_signed_event_is_a_security_event,
    an_emergency_sent_while_the_gateway_is_down_is_stored_when_it_returns,
    bad_payloads_are_refused_with_their_reason_and_the_rest_flows,
    the_same_seq_twice_is_stored_once,
    a_device_clock_far_off_is_flagged_and_both_times_kept,
    a_thousand_events_sent_while_the_gateway_is_stopped_are_all_stored_once,
    zigbee2mqtt_samples_give_the_right_signals,
    two_gateways_store_each_press_once,
);

/// The same story on PostgreSQL (and SQLite) with the embedded broker.
mod databases {
    use mimamori_core::on_both_backends;
    on_both_backends!(
        emergency_on_this_database,
        an_emergency_queued_behind_thousands_of_events_is_stored_first_and_wakes_the_rules,
    );

    async fn emergency_on_this_database(store: mimamori_core::storage::Store, _url: String) {
        super::an_emergency_is_a_stored_signal_within_a_second(store, super::BrokerKind::Embedded)
            .await;
    }

    /// A batch as the gateway takes it under load: thousands of activity events, then a press.
    /// The press is stored, and the alert service woken, as soon as the batch is checked — before
    /// any of the activity, and without waiting for the batch before it to be stored (the
    /// gateway prepares a batch while it stores the one before) — and keeps its id when the
    /// rest is stored.
    async fn an_emergency_queued_behind_thousands_of_events_is_stored_first_and_wakes_the_rules(
        store: mimamori_core::storage::Store,
        _url: String,
    ) {
        use mimamori_core::domain::*;
        use mimamori_core::protocol::{EventType, Sensor};
        let door = super::platform::provision(&store, "door-1", DeviceKind::Door, true, None).await;
        let button =
            super::platform::provision(&store, "btn-1", DeviceKind::CallButton, true, None).await;
        let ingestor = super::ingestor(&store);
        let woken = std::sync::Arc::new(tokio::sync::Notify::new());
        ingestor.wake_on_store(woken.clone());
        const ACTIVITY: usize = 5000;
        let mut payloads: Vec<(String, Vec<u8>)> = (0..ACTIVITY as u64)
            .map(|seq| super::signed(&door, EventType::Activity, Some(Sensor::Door), seq))
            .collect();
        payloads.push(super::signed(&button, EventType::Emergency, None, 1));
        let batch = ingestor.prepare(&super::messages(&payloads)).await.unwrap();

        // What the woken alert service reads: the press, and none of the activity yet.
        tokio::time::timeout(std::time::Duration::from_secs(10), woken.notified())
            .await
            .expect("the rules are woken once the batch is checked");
        let seen_at_wake = store
            .signals_after(SignalId(0), ACTIVITY as i64 + 1)
            .await
            .unwrap();
        let kinds: Vec<SignalKind> = seen_at_wake.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [SignalKind::Emergency],
            "when the rules are woken, the press alone is stored"
        );

        let inserted = ingestor.store(&batch).await.unwrap();
        assert_eq!(inserted.len(), ACTIVITY + 1);
        assert_eq!(
            inserted.last(),
            Some(&mimamori_core::storage::SignalInsert::Stored(
                seen_at_wake[0].id
            )),
            "the press keeps the id it was stored with"
        );
        let handled = ingestor.finish(batch, inserted);
        assert!(
            handled
                .iter()
                .all(|h| h.outcome.is_ok() && h.receipt.is_some()),
            "every message stored, with its receipt"
        );
        assert_eq!(
            store
                .signals_after(SignalId(0), ACTIVITY as i64 + 10)
                .await
                .unwrap()
                .len(),
            ACTIVITY + 1,
            "each signal stored once"
        );
    }
}

/// The gateway's ingestion over `store`, on the system clock, with the default settings.
fn ingestor(store: &Store) -> mimamori_gateway::ingest::Ingestor {
    mimamori_gateway::ingest::Ingestor::new(
        store.clone(),
        std::sync::Arc::new(mimamori_core::clock::SystemClock),
        mimamori_gateway::ingest::IngestSettings::of(&Default::default()),
        std::sync::Arc::new(mimamori_gateway::Metrics::default()),
    )
}

/// Published messages as the gateway's `prepare` takes them: (topic, payload).
fn messages(payloads: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    payloads
        .iter()
        .map(|(t, p)| (t.as_str(), p.as_slice()))
        .collect()
}

/// A device's event as it publishes it: its topic and the signed payload (docs/PROTOCOL.md).
fn signed(
    creds: &platform::Creds,
    kind: EventType,
    sensor: Option<Sensor>,
    seq: u64,
) -> (String, Vec<u8>) {
    let event = Event {
        v: 1,
        kind,
        sensor,
        seq,
        ts: None,
        battery: None,
        mac: None,
    }
    .sign(
        creds.id.as_str(),
        &mimamori_core::secret::device_mac_key(&creds.password),
    );
    (
        mimamori_core::topic::device_events(&creds.id),
        serde_json::to_vec(&event).unwrap(),
    )
}

/// Two of the largest batches the gateway takes from the broker (its window), stored one after
/// the other before a subscriber of the announcements reads any: it still gets every one. With
/// room for one batch only, a subscriber a moment behind (the demo's console, ingest-bench's
/// recorder) missed a whole batch and took it for lost.
async fn a_subscriber_a_batch_behind_misses_no_announcement() {
    let t = mimamori_core::testing::TestStore::sqlite().await;
    let door = platform::provision(&t.store, "door-1", DeviceKind::Door, true, None).await;
    let ingestor = ingestor(&t.store);
    let mut announced = ingestor.subscribe();
    let window = mimamori_broker::WINDOW as u64;
    for batch in 0..2 {
        let payloads: Vec<(String, Vec<u8>)> = (batch * window..(batch + 1) * window)
            .map(|seq| signed(&door, EventType::Activity, Some(Sensor::Door), seq))
            .collect();
        let prepared = ingestor.prepare(&messages(&payloads)).await.unwrap();
        let inserted = ingestor.store(&prepared).await.unwrap();
        ingestor.finish(prepared, inserted);
    }
    let mut stored = 0;
    loop {
        match announced.try_recv() {
            Ok(IngestEvent::Stored(_)) => stored += 1,
            Ok(other) => panic!("not stored: {other:?}"),
            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
            Err(e) => panic!("announcements missed: {e}"),
        }
    }
    assert_eq!(stored, 2 * window);
    t.finish().await;
}

/// The same story on a three-node NATS cluster (docs/DEPLOYMENT.md): the button on one node, the
/// gateway on another, topic rights from `mimamori admin nats-authorization`.
mod cluster {
    mimamori_testkit::case!(emergency_across_a_nats_cluster: [Nats] => || {
        mimamori_testkit::harness::multi_thread(async {
            let t = mimamori_core::testing::TestStore::sqlite().await;
            super::an_emergency_is_a_stored_signal_within_a_second(
                t.store.clone(),
                super::BrokerKind::Nats,
            )
            .await;
            t.finish().await;
        })
    });
    mimamori_testkit::case!(two_gateways_each_receiving_everything: [Nats] => || {
        mimamori_testkit::harness::multi_thread(async {
            let t = mimamori_core::testing::TestStore::sqlite().await;
            super::two_gateways_store_each_press_once(t.store.clone(), super::BrokerKind::Nats).await;
            t.finish().await;
        })
    });
    mimamori_testkit::case!(the_gateways_node_killed: [Nats] => || {
        mimamori_testkit::harness::multi_thread(async {
            let t = mimamori_core::testing::TestStore::sqlite().await;
            super::presses_survive_a_node_killed(t.store.clone(), super::Node::Gateways).await;
            t.finish().await;
        })
    });
    mimamori_testkit::case!(the_devices_node_killed: [Nats] => || {
        mimamori_testkit::harness::multi_thread(async {
            let t = mimamori_core::testing::TestStore::sqlite().await;
            super::presses_survive_a_node_killed(t.store.clone(), super::Node::Devices).await;
            t.finish().await;
        })
    });
}

/// Two gateways take the device traffic: every press stored once and receipted. Where the broker
/// has shared subscriptions (the embedded one) they split it; on NATS, which has none, each
/// receives everything and the store keeps each (device, `seq`) once (docs/DEPLOYMENT.md).
async fn two_gateways_store_each_press_once(store: Store, kind: BrokerKind) {
    let mut specs: Vec<(String, DeviceKind, bool, Option<&str>)> = (0..4)
        .map(|i| (format!("button-{i}"), DeviceKind::CallButton, true, None))
        .collect();
    specs.push(("gw-probe".into(), DeviceKind::Hub, false, None));
    let specs: Vec<platform::Spec> = specs
        .iter()
        .map(|(id, k, r, z)| (id.as_str(), *k, *r, *z))
        .collect();
    let (mut p, mut creds) = setup(store, kind, &specs, false).await;
    let probe = p.device(&creds.pop().unwrap());
    assert!(probe.wait_connected(WAIT).await);
    p.start_gateways(2, &probe).await;
    let buttons: Vec<_> = creds.iter().map(|c| p.device(c)).collect();
    const PRESSES: usize = 20;
    let mut sent = Vec::new();
    for b in &buttons {
        assert!(b.wait_connected(WAIT).await);
    }
    for _ in 0..PRESSES {
        for b in &buttons {
            sent.push((
                b.clone(),
                b.send(EventType::Emergency, None, None).await.unwrap(),
            ));
        }
    }
    for (b, seq) in &sent {
        assert!(b.wait_receipt(*seq, WAIT).await, "seq {seq} receipted");
    }
    let mut stored = 0;
    for c in &creds {
        let events = events_of(&p, &c.id).await;
        let keys: std::collections::BTreeSet<_> = events.iter().map(|s| &s.dedup_key).collect();
        assert_eq!(keys.len(), PRESSES, "every press of {} stored", c.id);
        assert_eq!(events.len(), PRESSES, "each press of {} stored once", c.id);
        stored += events.len();
    }
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    // (received, stored, duplicates) of each gateway.
    let per_gateway: Vec<(u64, u64, u64)> = p
        .gateway_metrics()
        .iter()
        .map(|m| (load(&m.received), load(&m.stored), load(&m.duplicates)))
        .collect();
    let receipts: u64 = buttons
        .iter()
        .map(|b| {
            b.stats()
                .receipts
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .sum();
    println!(
        "two gateways on {kind:?}: presses sent {} / stored {stored}; per gateway (received, stored, duplicates) {per_gateway:?}; receipts at the devices {receipts}",
        sent.len()
    );
    let each_received_all = per_gateway.iter().all(|g| g.0 as usize >= sent.len());
    if kind == BrokerKind::Nats {
        assert!(
            each_received_all,
            "on NATS each gateway receives everything"
        );
    } else {
        assert!(
            !each_received_all,
            "a shared subscription splits the traffic"
        );
    }
    p.finish().await;
}

/// Which node of the cluster dies.
#[derive(Debug, Clone, Copy)]
enum Node {
    /// The one the gateway is on (the second).
    Gateways,
    /// The one the device is on (the first).
    Devices,
}

/// A node of the three is killed (SIGKILL) between presses: the gateway or the device moves to
/// the next node of its list, and every press — the one sent just before the kill, resent until
/// its receipt, and those after — is stored once and receipted.
async fn presses_survive_a_node_killed(store: Store, node: Node) {
    let (mut p, creds) = setup(
        store,
        BrokerKind::Nats,
        &[("button-1", DeviceKind::CallButton, true, None)],
        true,
    )
    .await;
    let button = p.device(&creds[0]);
    assert!(button.wait_connected(WAIT).await);
    let mut seqs = vec![button.send(EventType::Emergency, None, None).await.unwrap()];
    assert!(button.wait_receipt(seqs[0], WAIT).await);
    seqs.push(button.send(EventType::Emergency, None, None).await.unwrap());
    let killed = Instant::now();
    p.nats().unwrap().kill(match node {
        Node::Gateways => 1,
        Node::Devices => 0,
    });
    seqs.push(button.send(EventType::Emergency, None, None).await.unwrap());
    let failover = Duration::from_secs(60);
    for seq in &seqs {
        if !button.wait_receipt(*seq, failover).await {
            let cluster = p.nats().unwrap();
            let logs: Vec<String> = cluster
                .mqtt
                .clone()
                .iter()
                .map(|a| cluster.log(*a))
                .collect();
            panic!(
                "seq {seq} not receipted within {failover:?} after the {node:?} node died; device connects {}; the nodes' logs:\n{}",
                button
                    .stats()
                    .connects
                    .load(std::sync::atomic::Ordering::Relaxed),
                logs.join("\n----\n")
            );
        }
    }
    let took = killed.elapsed();
    let stored = events_of(&p, &creds[0].id).await;
    let keys: std::collections::BTreeSet<_> = stored.iter().map(|s| s.dedup_key.clone()).collect();
    let lost = seqs
        .iter()
        .filter(|seq| !keys.contains(&Some(format!("seq:{seq}"))))
        .count();
    println!(
        "failover: {node:?} node killed; presses sent {} / stored {} / duplicated {}; lost {lost}; \
         all receipted {:.1} s after the kill (resends: {})",
        seqs.len(),
        keys.len(),
        stored.len() - keys.len(),
        took.as_secs_f64(),
        button
            .stats()
            .resent
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    assert_eq!(lost, 0);
    assert_eq!(stored.len(), seqs.len(), "each press stored once");
    p.finish().await;
}

mimamori_testkit::tests! {
    multi_thread devices_connect_over_tls: [OpenSsl];
    current_thread a_subscriber_a_batch_behind_misses_no_announcement;
}

fn is_stored_from(e: &IngestEvent, device: &DeviceId) -> bool {
    matches!(e, IngestEvent::Stored(s) if s.source == SignalSource::Device(device.clone()) && !is_status(s))
}

/// The `online`/`offline` status a device publishes when it connects or drops.
fn is_status(s: &Signal) -> bool {
    s.kind == SignalKind::DeviceHealth && s.body.get("status").is_some()
}

/// A device's stored signals other than its connection status.
async fn events_of(p: &Platform, device: &DeviceId) -> Vec<Signal> {
    p.signals_of(device)
        .await
        .into_iter()
        .filter(|s| !is_status(s))
        .collect()
}

async fn an_emergency_is_a_stored_signal_within_a_second(store: Store, kind: BrokerKind) {
    let (p, creds) = setup(
        store,
        kind,
        &[("button-1", DeviceKind::CallButton, true, None)],
        true,
    )
    .await;
    let button = p.device(&creds[0]);
    assert!(button.wait_connected(WAIT).await);
    let mut events = p.events();
    let pressed = Instant::now();
    let seq = button.send(EventType::Emergency, None, None).await.unwrap();
    let stored = wait_for(&mut events, WAIT, |e| is_stored_from(e, &creds[0].id))
        .await
        .expect("stored");
    let elapsed = pressed.elapsed();
    assert!(elapsed < Duration::from_secs(1), "stored after {elapsed:?}");
    let IngestEvent::Stored(signal) = stored else {
        unreachable!()
    };
    assert_eq!(signal.kind, SignalKind::Emergency);
    assert_eq!(
        signal.subject,
        Some(Subject::Resident(creds[0].resident.clone().unwrap()))
    );
    assert_eq!(signal.dedup_key, Some(format!("seq:{seq}")));
    assert!(signal.device_time.is_some() && !signal.clock_skewed);
    assert_eq!(
        p.store.get_signal(signal.id).await.unwrap().kind,
        SignalKind::Emergency
    );
    assert!(
        button.wait_receipt(seq, WAIT).await,
        "the receipt stops the resending"
    );
    assert!(button.pending().is_empty());
    p.finish().await;
}

/// Connects a bare client and reports whether the broker accepted it.
async fn accepted(p: &Platform, client_id: &str, user: &str, password: &str) -> bool {
    let mut options = rumqttc::MqttOptions::new(client_id, p.addr.ip().to_string(), p.addr.port());
    options.set_credentials(user, password);
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    let first = tokio::time::timeout(WAIT, eventloop.poll())
        .await
        .expect("the broker answered");
    match first {
        Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack))) => {
            ack.code == rumqttc::ConnectReturnCode::Success
        }
        _ => false,
    }
}

async fn wrong_passwords_and_strangers_are_refused(store: Store, kind: BrokerKind) {
    let (p, creds) = setup(
        store,
        kind,
        &[
            ("door-1", DeviceKind::Door, true, None),
            ("door-2", DeviceKind::Door, true, None),
        ],
        true,
    )
    .await;
    let id = creds[0].id.as_str();
    assert!(
        accepted(&p, id, id, &creds[0].password).await,
        "the right password is accepted"
    );
    assert!(!accepted(&p, id, id, "wrong-password").await);
    assert!(
        !accepted(&p, id, id, &creds[1].password).await,
        "another device's password"
    );
    assert!(!accepted(&p, "stranger", "stranger", "whatever").await);
    assert!(!accepted(&p, "x", "mimamori-service", "guess").await);
    if kind == BrokerKind::Embedded {
        // The client id is bound to the authenticated identity.
        assert!(!accepted(&p, "door-2", id, &creds[0].password).await);
        p.store
            .set_device_enabled(&creds[1].id, false, chrono::Utc::now())
            .await
            .unwrap();
        assert!(
            !accepted(&p, "door-2", "door-2", &creds[1].password).await,
            "a disabled device"
        );
    }
    p.finish().await;
}

async fn a_device_cannot_speak_as_another(store: Store, kind: BrokerKind) {
    let (p, creds) = setup(
        store,
        kind,
        &[
            ("device-a", DeviceKind::Door, true, None),
            ("device-b", DeviceKind::CallButton, true, None),
        ],
        true,
    )
    .await;
    let (a, b) = (p.device(&creds[0]), p.device(&creds[1]));
    assert!(a.wait_connected(WAIT).await && b.wait_connected(WAIT).await);
    let mut events = p.events();
    // A forges an emergency of B, signed with A's own key, on B's topic; then sends one of its own
    // on the same connection (which a broker handles after the forgery).
    let forged = Event {
        v: 1,
        kind: EventType::Emergency,
        sensor: None,
        seq: 1,
        ts: None,
        battery: None,
        mac: None,
    }
    .sign(creds[1].id.as_str(), a.mac_key());
    a.publish_raw(
        &mimamori_core::topic::device_events(&creds[1].id),
        serde_json::to_vec(&forged).unwrap(),
    )
    .await
    .unwrap();
    a.send(EventType::Activity, Some(Sensor::Door), None)
        .await
        .unwrap();
    // Both brokers refuse the forgery by A's topic rights (the embedded one with our rumqttd
    // patch, Mosquitto with the shipped ACL), so it never reaches the gateway, whose MAC check
    // stays the second line (gateway tests): A's own event is stored, nothing of B's.
    wait_for(&mut events, WAIT, |e| is_stored_from(e, &creds[0].id))
        .await
        .expect("A's own event");
    assert!(
        events_of(&p, &creds[1].id).await.is_empty(),
        "no signal for B"
    );
    assert_eq!(p.metrics().dropped(DropReason::BadMac), 0);
    drop(b);
    p.finish().await;
}

async fn a_badly_signed_event_is_a_security_event(store: Store, kind: BrokerKind) {
    let (p, creds) = setup(
        store,
        kind,
        &[("device-a", DeviceKind::Door, true, None)],
        true,
    )
    .await;
    let a = p.device(&creds[0]);
    assert!(a.wait_connected(WAIT).await);
    let mut events = p.events();
    let unsigned = Event {
        v: 1,
        kind: EventType::Emergency,
        sensor: None,
        seq: 5,
        ts: None,
        battery: None,
        mac: None,
    };
    a.publish_raw(
        &mimamori_core::topic::device_events(&creds[0].id),
        serde_json::to_vec(&unsigned).unwrap(),
    )
    .await
    .unwrap();
    let dropped = wait_for(&mut events, WAIT, |e| {
        matches!(e, IngestEvent::Dropped { .. })
    })
    .await
    .unwrap();
    assert!(
        matches!(
            dropped,
            IngestEvent::Dropped {
                reason: DropReason::BadMac,
                ..
            }
        ),
        "{dropped:?}"
    );
    assert_eq!(p.security_events(&creds[0].id).await, 1);
    assert!(events_of(&p, &creds[0].id).await.is_empty());
    p.finish().await;
}

async fn an_emergency_sent_while_the_gateway_is_down_is_stored_when_it_returns(
    store: Store,
    kind: BrokerKind,
) {
    // The gateway has never connected: the broker holds nothing for it, only the device's
    // resending can bring the emergency in.
    let (mut p, creds) = setup(
        store,
        kind,
        &[("button-1", DeviceKind::CallButton, true, None)],
        false,
    )
    .await;
    let button = p.device(&creds[0]);
    assert!(button.wait_connected(WAIT).await);
    let seq = button.send(EventType::Emergency, None, None).await.unwrap();
    assert_eq!(button.pending(), vec![seq]);
    // It keeps resending while nobody stores it.
    assert!(button.wait_resent(2, WAIT).await);
    assert_eq!(button.pending(), vec![seq]);
    let mut events = p.events();
    p.start_gateway();
    wait_for(&mut events, WAIT, |e| is_stored_from(e, &creds[0].id))
        .await
        .expect("stored once the gateway is back");
    assert!(button.wait_receipt(seq, WAIT).await, "the receipt arrives");
    assert!(button.pending().is_empty(), "and stops the resending");
    assert!(
        button
            .stats()
            .resent
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1,
        "it came in by a resend"
    );
    let stored: Vec<_> = p
        .signals_of(&creds[0].id)
        .await
        .into_iter()
        .filter(|s| s.kind == SignalKind::Emergency)
        .collect();
    assert_eq!(stored.len(), 1, "stored once, however often it was resent");
    p.finish().await;
}

async fn bad_payloads_are_refused_with_their_reason_and_the_rest_flows(
    store: Store,
    kind: BrokerKind,
) {
    let (p, creds) = setup(
        store,
        kind,
        &[("door-1", DeviceKind::Door, true, None)],
        true,
    )
    .await;
    let door = p.device(&creds[0]);
    assert!(door.wait_connected(WAIT).await);
    let topic = mimamori_core::topic::device_events(&creds[0].id);
    let mut events = p.events();
    let cases: [(Vec<u8>, DropReason); 3] = [
        (b"{this is not json".to_vec(), DropReason::Malformed),
        (
            br#"{"v":1,"type":"dance","seq":1}"#.to_vec(),
            DropReason::UnknownType,
        ),
        (
            format!(
                r#"{{"v":1,"type":"checkin","seq":2,"pad":"{}"}}"#,
                "x".repeat(5000)
            )
            .into_bytes(),
            DropReason::Oversized,
        ),
    ];
    for (payload, expected) in cases {
        door.publish_raw(&topic, payload).await.unwrap();
        let e = wait_for(&mut events, WAIT, |e| {
            matches!(e, IngestEvent::Dropped { .. })
        })
        .await
        .unwrap();
        assert!(
            matches!(e, IngestEvent::Dropped { reason, .. } if reason == expected),
            "expected {expected:?}, got {e:?}"
        );
    }
    // An event on the topic of a device nobody registered.
    door.publish_raw(
        "mimamori/v1/devices/nobody/events",
        br#"{"v":1,"type":"emergency","seq":1}"#.to_vec(),
    )
    .await
    .unwrap();
    // (Both brokers refuse it by the door's topic rights before it reaches the gateway.)
    // A valid event after them is processed.
    door.send(EventType::Activity, Some(Sensor::Door), None)
        .await
        .unwrap();
    let e = wait_for(&mut events, WAIT, |e| is_stored_from(e, &creds[0].id))
        .await
        .unwrap();
    assert!(
        matches!(e, IngestEvent::Stored(s) if s.kind == SignalKind::Activity && s.body["sensor"] == "door")
    );
    let m = p.metrics();
    for reason in [
        DropReason::Malformed,
        DropReason::UnknownType,
        DropReason::Oversized,
    ] {
        assert_eq!(m.dropped(reason), 1, "{reason:?}");
    }
    assert!(
        m.render()
            .contains("mimamori_gateway_messages_dropped_total{reason=\"oversized\"} 1")
    );
    p.finish().await;
}

async fn the_same_seq_twice_is_stored_once(store: Store, kind: BrokerKind) {
    let (p, creds) = setup(
        store,
        kind,
        &[("button-1", DeviceKind::CallButton, true, None)],
        true,
    )
    .await;
    let button = p.device(&creds[0]);
    assert!(button.wait_connected(WAIT).await);
    let mut events = p.events();
    let event = Event {
        v: 1,
        kind: EventType::Checkin,
        sensor: None,
        seq: 77,
        ts: None,
        battery: None,
        mac: None,
    }
    .sign(creds[0].id.as_str(), button.mac_key());
    button.send_event(&event).await.unwrap();
    button.send_event(&event).await.unwrap();
    wait_for(&mut events, WAIT, |e| is_stored_from(e, &creds[0].id))
        .await
        .unwrap();
    let dup = wait_for(&mut events, WAIT, |e| {
        matches!(e, IngestEvent::Duplicate { .. })
    })
    .await;
    assert!(
        dup.is_some(),
        "the second copy is recognised as a duplicate"
    );
    assert_eq!(events_of(&p, &creds[0].id).await.len(), 1);
    assert!(button.wait_receipt(77, WAIT).await);
    p.finish().await;
}

async fn a_thousand_events_sent_while_the_gateway_is_stopped_are_all_stored_once(
    store: Store,
    kind: BrokerKind,
) {
    let specs: Vec<(String, DeviceKind, bool, Option<&str>)> = (0..10)
        .map(|i| (format!("motion-{i}"), DeviceKind::Motion, false, None))
        .collect();
    let specs: Vec<_> = specs
        .iter()
        .map(|(id, k, r, z)| (id.as_str(), *k, *r, *z))
        .collect();
    let (mut p, creds) = setup(store, kind, &specs, true).await;
    // The gateway has a persistent session now; stop it, and the broker keeps its messages.
    p.stop_gateway().await;
    let devices: Vec<_> = creds.iter().map(|c| p.device(c)).collect();
    for d in &devices {
        assert!(d.wait_connected(WAIT).await);
    }
    for round in 0..100 {
        for d in &devices {
            d.send(EventType::Activity, Some(Sensor::Motion), Some(round % 100))
                .await
                .unwrap();
        }
    }
    let mut events = p.events();
    p.start_gateway();
    let mut stored = 0;
    let deadline = Duration::from_secs(120);
    while stored < 1000 {
        let e = wait_for(
            &mut events,
            deadline,
            |e| matches!(e, IngestEvent::Stored(s) if s.kind == SignalKind::Activity),
        )
        .await
        .unwrap_or_else(|| panic!("only {stored} of 1000 stored"));
        if let IngestEvent::Stored(_) = e {
            stored += 1;
        }
    }
    let mut total = 0;
    for c in &creds {
        let signals = p.signals_of(&c.id).await;
        let activity: Vec<_> = signals
            .iter()
            .filter(|s| s.kind == SignalKind::Activity)
            .collect();
        assert_eq!(activity.len(), 100, "{}", c.id);
        total += activity.len();
    }
    assert_eq!(total, 1000);
    p.finish().await;
}

async fn zigbee2mqtt_samples_give_the_right_signals(store: Store, kind: BrokerKind) {
    let (p, creds) = setup(
        store,
        kind,
        &[
            ("z2m-bridge", DeviceKind::Hub, false, None),
            ("door-z", DeviceKind::Door, true, Some("hallway_door")),
            (
                "button-z",
                DeviceKind::CallButton,
                true,
                Some("bedroom_button"),
            ),
            ("pir-z", DeviceKind::Motion, true, Some("living_pir")),
        ],
        true,
    )
    .await;
    let bridge = p.device(&creds[0]);
    assert!(bridge.wait_connected(WAIT).await);
    let mut events = p.events();
    let samples = [
        (
            "zigbee2mqtt/hallway_door",
            r#"{"contact":false,"battery":91,"linkquality":120}"#,
            &creds[1].id,
            SignalKind::Activity,
        ),
        (
            "zigbee2mqtt/hallway_door",
            r#"{"contact":true,"linkquality":118}"#,
            &creds[1].id,
            SignalKind::Activity,
        ),
        (
            "zigbee2mqtt/bedroom_button",
            r#"{"action":"single","linkquality":90}"#,
            &creds[2].id,
            SignalKind::Emergency,
        ),
        (
            "zigbee2mqtt/living_pir",
            r#"{"occupancy":true,"illuminance":12}"#,
            &creds[3].id,
            SignalKind::Activity,
        ),
        (
            "zigbee2mqtt/living_pir",
            r#"{"battery":15}"#,
            &creds[3].id,
            SignalKind::DeviceHealth,
        ),
    ];
    for (topic, payload, device, expected) in samples {
        bridge
            .publish_raw(topic, payload.as_bytes().to_vec())
            .await
            .unwrap();
        let e = wait_for(&mut events, WAIT, |e| is_stored_from(e, device))
            .await
            .unwrap_or_else(|| panic!("{topic} {payload}"));
        let IngestEvent::Stored(s) = e else {
            unreachable!()
        };
        assert_eq!(s.kind, expected, "{topic} {payload}");
        assert_eq!(
            s.subject.as_ref().map(Subject::key),
            creds
                .iter()
                .find(|c| &c.id == device)
                .unwrap()
                .resident
                .as_ref()
                .map(|r| format!("resident:{r}"))
        );
        if payload.contains("contact") {
            assert_eq!(s.body["open"], payload.contains("false"));
            // The battery in the same message is its own device-health signal.
            if payload.contains("battery") {
                let b = wait_for(&mut events, WAIT, |e| is_stored_from(e, device))
                    .await
                    .unwrap();
                assert!(
                    matches!(b, IngestEvent::Stored(s) if s.kind == SignalKind::DeviceHealth && s.body["battery"] == 91)
                );
            }
        }
        if payload.contains("battery\":15") {
            assert_eq!(s.body["battery"], 15);
        }
    }
    // An unknown friendly name is dropped with its reason.
    bridge
        .publish_raw("zigbee2mqtt/garage", br#"{"contact":false}"#.to_vec())
        .await
        .unwrap();
    let e = wait_for(
        &mut events,
        WAIT,
        |e| matches!(e, IngestEvent::Dropped { topic, .. } if topic == "zigbee2mqtt/garage"),
    )
    .await;
    assert!(
        matches!(
            e,
            Some(IngestEvent::Dropped {
                reason: DropReason::UnknownDevice,
                ..
            })
        ),
        "{e:?}"
    );
    p.finish().await;
}

async fn a_device_clock_far_off_is_flagged_and_both_times_kept(store: Store, kind: BrokerKind) {
    let (p, creds) = setup(
        store,
        kind,
        &[("door-1", DeviceKind::Door, true, None)],
        true,
    )
    .await;
    let door = p.device(&creds[0]);
    assert!(door.wait_connected(WAIT).await);
    let mut events = p.events();
    let an_hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let event = Event {
        v: 1,
        kind: EventType::Activity,
        sensor: Some(Sensor::Door),
        seq: 3,
        ts: Some(an_hour_ago.clone()),
        battery: None,
        mac: None,
    }
    .sign(creds[0].id.as_str(), door.mac_key());
    door.send_event(&event).await.unwrap();
    let e = wait_for(&mut events, WAIT, |e| is_stored_from(e, &creds[0].id))
        .await
        .unwrap();
    let IngestEvent::Stored(s) = e else {
        unreachable!()
    };
    assert!(s.clock_skewed);
    assert_eq!(
        s.device_time.map(|t| t.to_rfc3339()),
        Some(
            chrono::DateTime::parse_from_rfc3339(&an_hour_ago)
                .unwrap()
                .with_timezone(&chrono::Utc)
                .to_rfc3339()
        )
    );
    assert_eq!(
        s.effective_time(),
        s.received_at,
        "the received time is believed"
    );
    p.finish().await;
}

/// Devices reach the embedded broker over TLS; a plain-text client on the TLS port gets nowhere.
async fn devices_connect_over_tls() {
    let (ca_pem, cert, key, _dir) = platform::test_certificates();
    let t = mimamori_core::testing::TestStore::sqlite().await;
    let creds =
        platform::provision(&t.store, "button-tls", DeviceKind::CallButton, true, None).await;
    let probe = platform::provision(&t.store, "probe", DeviceKind::Hub, false, None).await;
    let p = Platform::start_with_tls(
        t.store.clone(),
        BrokerKind::Embedded,
        &[],
        true,
        Some((cert.clone(), key)),
    )
    .await;
    p.wait_gateway_ready(&p.device(&probe)).await;
    let tls = p.addr_tls.expect("a TLS listener");
    let ca = std::fs::read(&ca_pem).unwrap();
    let button = mimamori_devices::DeviceClient::start(
        mimamori_devices::DeviceConfig {
            id: creds.id.clone(),
            password: creds.password.clone(),
            brokers: vec![tls.into()],
            resend_interval: Duration::from_millis(200),
            tls_ca: Some(ca),
        },
        p.shutdown.clone(),
    );
    assert!(
        button.wait_connected(WAIT).await,
        "the device could not connect over TLS"
    );
    let mut events = p.events();
    let seq = button.send(EventType::Emergency, None, None).await.unwrap();
    wait_for(&mut events, WAIT, |e| is_stored_from(e, &creds.id))
        .await
        .expect("stored");
    assert!(button.wait_receipt(seq, WAIT).await);
    // Plain MQTT on the TLS port: no CONNACK.
    let mut options = rumqttc::MqttOptions::new(creds.id.as_str(), "127.0.0.1", tls.port());
    options.set_credentials(creds.id.as_str(), &creds.password);
    let (_c, mut plain) = rumqttc::AsyncClient::new(options, 10);
    let first = tokio::time::timeout(WAIT, plain.poll())
        .await
        .expect("an answer");
    assert!(
        !matches!(
            first,
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_)))
        ),
        "{first:?}"
    );
    p.finish().await;
    t.finish().await;
}

mimamori_testkit::main!();
