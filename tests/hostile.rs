//! What an attacker connected to the broker can make the gateway keep and write is bounded
//! (issue 14): forged events cost a few audit rows and log lines a minute, not one each; ids that
//! do not exist, by the hundred thousand, leave nothing behind once they have expired.
//!
//! Most of it goes straight through the gateway's `Ingestor` (the one step the MQTT loop calls) on
//! a `ManualClock`, so that minutes pass in no time; the last story goes through the real embedded
//! broker and the gateway's own loop, on the same kind of clock.

use chrono::Duration;
use mimamori_core::clock::ManualClock;
use mimamori_core::config::GatewayConfig;
use mimamori_core::domain::*;
use mimamori_core::metrics::Exposition;
use mimamori_core::protocol::{Event, EventType};
use mimamori_core::registry::Registry;
use mimamori_core::storage::Store;
use mimamori_core::testing::{TestStore, t0};
use mimamori_gateway::concern::ConcernIntake;
use mimamori_gateway::ingest::{CACHE_ENTRIES, IngestSettings, Ingestor};
use mimamori_gateway::security_event::MAX_WINDOWS;
use mimamori_gateway::{DropReason, IngestEvent, Metrics};
use mimamori_testapp::platform::{self, BrokerKind, Platform, wait_for};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

mimamori_testkit::tests! {
    current_thread twenty_thousand_bad_macs_are_two_audit_rows_and_two_log_lines_a_minute;
    current_thread ids_that_do_not_exist_are_held_briefly_capped_and_then_let_go;
    current_thread a_flood_of_unknown_partner_ids_writes_a_bounded_number_of_rows;
    multi_thread bad_macs_through_the_embedded_broker_are_summarised_per_interval;
}

const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The gateway's ingestion over `store`, on `clock`, with the default settings (60 s intervals of
/// security events) and partners' reports taken.
fn ingestor(store: &Store, clock: &ManualClock) -> Ingestor {
    let clock = Arc::new(clock.clone());
    Ingestor::new(
        store.clone(),
        clock.clone(),
        IngestSettings::of(&GatewayConfig::default()),
        Arc::new(Metrics::default()),
    )
    .with_concerns(ConcernIntake::new(
        store.clone(),
        Arc::new(Registry::fujisawa()),
        clock,
    ))
}

/// An emergency of `device`, signed with a key that is not its own.
fn forged(device: &DeviceId, seq: u64) -> Vec<u8> {
    let event = Event {
        v: 1,
        kind: EventType::Emergency,
        sensor: None,
        seq,
        ts: None,
        battery: None,
        mac: None,
    }
    .sign(device.as_str(), &"ab".repeat(32));
    serde_json::to_vec(&event).unwrap()
}

async fn security_rows(store: &Store, id: Option<&str>) -> Vec<AuditEntry> {
    store.list_audit("security", id, 100_000).await.unwrap()
}

/// Log lines written while it lives, for counting.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines_with(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }
}

/// The number a row stands for: 1 for the first of an interval, the count for a summary.
fn counted(row: &AuditEntry) -> u64 {
    row.detail["repeated"].as_u64().unwrap_or(1)
}

/// 20,000 forged events over ten minutes: per minute one row and one line at once, and one
/// summary with the count of the rest — and the counts add up to every event.
async fn twenty_thousand_bad_macs_are_two_audit_rows_and_two_log_lines_a_minute() {
    let log = Captured::default();
    let writer = log.clone();
    let _log = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let t = TestStore::sqlite().await;
    let door = platform::provision(&t.store, "door-1", DeviceKind::Door, true, None).await;
    let clock = ManualClock::new(t0());
    let ingestor = ingestor(&t.store, &clock);
    let topic = mimamori_core::topic::device_events(&door.id);
    // 200 batches of 100, three seconds apart: ten minutes.
    for batch in 0..200u64 {
        let payloads: Vec<Vec<u8>> = (0..100)
            .map(|i| forged(&door.id, batch * 100 + i))
            .collect();
        let messages: Vec<(&str, &[u8])> = payloads
            .iter()
            .map(|p| (topic.as_str(), p.as_slice()))
            .collect();
        let handled = ingestor.handle_batch(&messages).await.unwrap();
        assert!(
            handled
                .iter()
                .all(|h| h.outcome == Err(DropReason::BadMac) && h.receipt.is_none())
        );
        clock.advance(Duration::seconds(3));
    }
    assert_eq!(ingestor.metrics().dropped(DropReason::BadMac), 20_000);
    let rows = security_rows(&t.store, Some(door.id.as_str())).await;
    assert_eq!(
        rows.len(),
        19,
        "ten firsts, and the summaries of the nine minutes that have ended"
    );
    // A minute after the last, the gateway's sweep writes the last summary.
    clock.advance(Duration::seconds(60));
    ingestor.sweep().await.unwrap();
    let rows = security_rows(&t.store, Some(door.id.as_str())).await;
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r.action == "security.bad_mac"));
    assert_eq!(
        rows.iter().map(counted).sum::<u64>(),
        20_000,
        "nothing uncounted"
    );
    for minute in 0..10 {
        let start = t0() + Duration::minutes(minute);
        let within: Vec<_> = rows
            .iter()
            .filter(|r| r.at >= start && r.at < start + Duration::minutes(1))
            .collect();
        assert!(within.len() <= 2, "minute {minute}: {within:?}");
    }
    let summary = rows.iter().find(|r| r.detail["repeated"].is_u64()).unwrap();
    assert_eq!(summary.detail["repeated"], 1_999, "{summary:?}");
    assert_eq!(summary.detail["subject"], "device");
    assert_eq!(log.lines_with("Security:"), 20, "as many log lines as rows");
    assert_eq!(
        ingestor.metrics().security_windows.load(Ordering::Relaxed),
        0
    );
    t.finish().await;
}

/// 30,000 events on the topics of devices nobody registered: each is refused, the records held
/// never pass the cap (the oldest go first), a registered device still works among them, and
/// once they expire the sweep holds nothing of them.
async fn ids_that_do_not_exist_are_held_briefly_capped_and_then_let_go() {
    let t = TestStore::sqlite().await;
    let button =
        platform::provision(&t.store, "button-1", DeviceKind::CallButton, true, None).await;
    let clock = ManualClock::new(t0());
    let ingestor = ingestor(&t.store, &clock);
    let held = || ingestor.metrics().cached_records.load(Ordering::Relaxed) as usize;
    let unsigned = br#"{"v":1,"type":"emergency","seq":1}"#.to_vec();
    let key = mimamori_core::secret::device_mac_key(&button.password);
    for batch in 0..120 {
        let topics: Vec<String> = (0..250)
            .map(|i| format!("mimamori/v1/devices/ghost-{batch}-{i}/events"))
            .collect();
        let mut messages: Vec<(&str, &[u8])> = topics
            .iter()
            .map(|t| (t.as_str(), unsigned.as_slice()))
            .collect();
        let real = serde_json::to_vec(
            &Event {
                v: 1,
                kind: EventType::Checkin,
                sensor: None,
                seq: batch,
                ts: None,
                battery: None,
                mac: None,
            }
            .sign(button.id.as_str(), &key),
        )
        .unwrap();
        let real_topic = mimamori_core::topic::device_events(&button.id);
        messages.push((&real_topic, &real));
        let handled = ingestor.handle_batch(&messages).await.unwrap();
        assert!(
            handled[..250]
                .iter()
                .all(|h| h.outcome == Err(DropReason::UnknownDevice))
        );
        assert!(
            handled[250].outcome.is_ok(),
            "the registered device is taken"
        );
        assert!(held() <= CACHE_ENTRIES, "{} held", held());
    }
    assert_eq!(
        ingestor.metrics().dropped(DropReason::UnknownDevice),
        30_000
    );
    assert!(held() >= CACHE_ENTRIES / 2, "the newest are remembered");
    // Unknown ids are remembered for seconds; then the sweep lets them go.
    clock.advance(Duration::seconds(6));
    ingestor.sweep().await.unwrap();
    assert_eq!(
        held(),
        1,
        "only the registered device's record, for its 30 s"
    );
    clock.advance(Duration::seconds(30));
    ingestor.sweep().await.unwrap();
    assert_eq!(held(), 0);
    assert!(
        ingestor
            .metrics()
            .render()
            .contains("mimamori_gateway_cached_records 0")
    );
    t.finish().await;
}

/// Reports on the topics of 5,000 partner ids nobody registered (a broker without ACLs, or one
/// misconfigured): each refused without a receipt, and the security rows stop at one per
/// followed sender plus one for all the rest.
async fn a_flood_of_unknown_partner_ids_writes_a_bounded_number_of_rows() {
    let t = TestStore::sqlite().await;
    let clock = ManualClock::new(t0());
    let ingestor = ingestor(&t.store, &clock);
    let report = r#"{"report_id":"r-1","address":"鵠沼海岸2丁目3-5","seen":["mail"]}"#
        .as_bytes()
        .to_vec();
    for batch in 0..20 {
        let topics: Vec<String> = (0..250)
            .map(|i| format!("mimamori/v1/partners/pt-ghost-{batch}-{i}/concerns"))
            .collect();
        let messages: Vec<(&str, &[u8])> = topics
            .iter()
            .map(|t| (t.as_str(), report.as_slice()))
            .collect();
        for h in ingestor.handle_batch(&messages).await.unwrap() {
            assert_eq!(h.outcome, Err(DropReason::UnknownPartner));
            assert_eq!(h.receipt, None, "nobody of that id listens");
        }
    }
    let rows = security_rows(&t.store, None).await;
    assert_eq!(rows.len(), MAX_WINDOWS + 1);
    assert!(rows.iter().all(|r| r.action == "security.unknown_partner"));
    assert!(ingestor.metrics().cached_records.load(Ordering::Relaxed) as usize <= CACHE_ENTRIES);
    clock.advance(Duration::seconds(60));
    ingestor.sweep().await.unwrap();
    let rows = security_rows(&t.store, None).await;
    assert_eq!(rows.len(), MAX_WINDOWS + 2, "and one summary of the rest");
    assert_eq!(rows.iter().map(counted).sum::<u64>(), 5_000);
    assert_eq!(
        ingestor.metrics().security_windows.load(Ordering::Relaxed),
        0
    );
    assert!(
        t.store
            .signals_after(SignalId(0), 10)
            .await
            .unwrap()
            .is_empty()
    );
    t.finish().await;
}

/// A device on the real embedded broker sends 50 badly signed events, then one more after the
/// minute: the gateway's loop writes one row at once, and the summary of the 49 when the next
/// minute's first arrives.
async fn bad_macs_through_the_embedded_broker_are_summarised_per_interval() {
    let t = TestStore::sqlite().await;
    let door = platform::provision(&t.store, "door-1", DeviceKind::Door, true, None).await;
    let probe = platform::provision(&t.store, "probe", DeviceKind::Hub, false, None).await;
    let mut p = Platform::start(
        t.store.clone(),
        BrokerKind::Embedded,
        &[door.clone(), probe.clone()],
        false,
    )
    .await;
    let clock = ManualClock::new(t0());
    p.use_clock(Arc::new(clock.clone()));
    p.start_gateway();
    p.wait_gateway_ready(&p.device(&probe)).await;
    let device = p.device(&door);
    assert!(device.wait_connected(WAIT).await);
    let topic = mimamori_core::topic::device_events(&door.id);
    let mut events = p.events();
    let refused = |e: &IngestEvent| {
        matches!(
            e,
            IngestEvent::Dropped {
                reason: DropReason::BadMac,
                ..
            }
        )
    };
    for seq in 0..50 {
        device
            .publish_raw(&topic, forged(&door.id, seq))
            .await
            .unwrap();
    }
    for n in 0..50 {
        wait_for(&mut events, WAIT, refused)
            .await
            .unwrap_or_else(|| panic!("only {n} of 50 refused"));
    }
    assert_eq!(
        security_rows(&t.store, Some(door.id.as_str())).await.len(),
        1
    );
    clock.advance(Duration::seconds(61));
    device
        .publish_raw(&topic, forged(&door.id, 50))
        .await
        .unwrap();
    wait_for(&mut events, WAIT, refused).await.expect("refused");
    let rows = security_rows(&t.store, Some(door.id.as_str())).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows.iter().map(counted).sum::<u64>(), 51);
    assert!(
        p.signals_of(&door.id)
            .await
            .iter()
            .all(|s| s.kind != SignalKind::Emergency)
    );
    p.finish().await;
    t.finish().await;
}

mimamori_testkit::main!();
