//! What a flood of ids that do not exist leaves in the gateway's memory:
//! `cargo run --release -p mimamori-bench --bin gateway-memory-bench`.
//!
//! The gateway's ingestion (the `Ingestor` the MQTT loop calls) over a temporary SQLite store, on
//! a hand-moved clock, `--rounds 3` times: `--ids 100000` events on the topics of devices nobody
//! registered (new ids each round), and `--forged 20000` events on a registered device's topic
//! with a bad MAC. Measured, as the process's resident set (`VmRSS` of `/proc/self/status`,
//! Linux): before, after each flood, and after the records have expired and the gateway's sweep
//! has run; with the cached records, the open security windows and the audit rows written. The
//! rounds show whether what a flood leaves is reused by the next or adds up.
//!
//! **Baseline**, in the same run: the same ids kept as the gateway kept them before issue 14 — a
//! `HashMap` from id to (record or none, time read), never swept — and what it holds after the
//! same time.

use chrono::Utc;
use mimamori_core::clock::ManualClock;
use mimamori_core::config::GatewayConfig;
use mimamori_core::domain::*;
use mimamori_core::protocol::{Event, EventType};
use mimamori_core::registry::Registry;
use mimamori_core::secret::{PasswordHasherConfig, device_mac_key, generate_device_password};
use mimamori_core::storage::Store;
use mimamori_gateway::Metrics;
use mimamori_gateway::concern::ConcernIntake;
use mimamori_gateway::ingest::{IngestSettings, Ingestor};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The resident set of this process, in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Sends `n` messages through `ingestor`, 256 a batch, each made when its batch is: the bench
/// holds no more than a batch, so that what stays in memory is the gateway's.
async fn flood(ingestor: &Ingestor, n: usize, message: impl Fn(usize) -> (String, Vec<u8>)) {
    for start in (0..n).step_by(256) {
        let batch: Vec<(String, Vec<u8>)> = (start..n.min(start + 256)).map(&message).collect();
        let messages: Vec<(&str, &[u8])> = batch
            .iter()
            .map(|(t, p)| (t.as_str(), p.as_slice()))
            .collect();
        ingestor.handle_batch(&messages).await.expect("store");
    }
}

/// One line of the table.
async fn row(store: &Store, metrics: &Metrics, label: String, rss: f64) {
    let rows = store
        .list_audit("security", None, 1_000_000)
        .await
        .expect("audit")
        .len();
    println!(
        "{label:<40} | {rss:>8.1} | {:>12} | {:>16} | {rows:>10}",
        metrics.cached_records.load(Ordering::Relaxed),
        metrics.security_windows.load(Ordering::Relaxed),
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let ids = arg("--ids", 100_000);
    let forged = arg("--forged", 20_000);
    let rounds = arg("--rounds", 3);
    let dir = std::env::temp_dir().join(format!("mimamori-memory-bench-{}", std::process::id()));
    let (store, _) =
        mimamori_bench::database::open(&format!("sqlite://{}/bench.db", dir.display()), 4)
            .await
            .expect("store");
    store
        .seed_registry(&Registry::fujisawa(), Utc::now())
        .await
        .expect("seed");
    let password = generate_device_password();
    let door = DeviceId::parse("door-1").expect("valid");
    store
        .add_device(
            &NewDevice {
                id: door.clone(),
                resident: None,
                kind: DeviceKind::Door,
                label: None,
                external_id: None,
                heartbeat_interval_s: 300,
                secret_hash: PasswordHasherConfig::insecure_for_tests()
                    .hash(&password)
                    .expect("hash"),
                mac_key: device_mac_key(&password),
            },
            Utc::now(),
        )
        .await
        .expect("device");
    let clock = ManualClock::new(Utc::now());
    let ingestor = Ingestor::new(
        store.clone(),
        Arc::new(clock.clone()),
        IngestSettings::of(&GatewayConfig::default()),
        Arc::new(Metrics::default()),
    )
    .with_concerns(ConcernIntake::new(
        store.clone(),
        Arc::new(Registry::fujisawa()),
        Arc::new(clock.clone()),
    ));
    let unsigned = br#"{"v":1,"type":"emergency","seq":1}"#.to_vec();
    let ghost = |from: usize| {
        let unsigned = unsigned.clone();
        move |i: usize| {
            (
                format!("mimamori/v1/devices/ghost-{:08}/events", from + i),
                unsigned.clone(),
            )
        }
    };
    // Warm up the store's connections and statement caches, so that they are not counted.
    flood(&ingestor, 2_000, ghost(0)).await;
    clock.advance(chrono::Duration::minutes(2));
    ingestor.sweep().await.expect("sweep");

    let before = rss_mib();
    println!(
        "gateway-memory-bench: {rounds} rounds of {ids} unknown ids and {forged} forged events"
    );
    println!(
        "{:<40} | {:>8} | {:>12} | {:>16} | {:>10}",
        "", "RSS MiB", "records held", "security windows", "audit rows"
    );
    println!(
        "{:<40} | {before:>8.1} | {:>12} | {:>16} | {:>10}",
        "before", 0, 0, 0
    );
    let metrics = ingestor.metrics().clone();
    let mut after = before;
    for round in 0..rounds {
        let started = Instant::now();
        flood(&ingestor, ids, ghost(1_000_000 * (round + 1))).await;
        let door_topic = mimamori_core::topic::device_events(&door);
        flood(&ingestor, forged, |i| {
            let event = Event {
                v: 1,
                kind: EventType::Emergency,
                sensor: None,
                seq: i as u64,
                ts: None,
                battery: None,
                mac: None,
            }
            .sign(door.as_str(), &"ab".repeat(32));
            (
                door_topic.clone(),
                serde_json::to_vec(&event).expect("json"),
            )
        })
        .await;
        let took = started.elapsed();
        row(
            &store,
            &metrics,
            format!(
                "round {}: after the flood ({:.1} µs/msg)",
                round + 1,
                took.as_secs_f64() * 1e6 / (ids + forged) as f64
            ),
            rss_mib(),
        )
        .await;
        clock.advance(chrono::Duration::minutes(2));
        ingestor.sweep().await.expect("sweep");
        after = rss_mib();
        row(
            &store,
            &metrics,
            format!("round {}: after expiry and sweep", round + 1),
            after,
        )
        .await;
    }

    // Baseline: the unbounded map the gateway kept before.
    let base_before = rss_mib();
    let mut old: HashMap<String, (Option<Device>, Instant)> = HashMap::new();
    for i in 0..ids {
        old.insert(
            format!("ghost-{:08}", 1_000_000 + i),
            (None, Instant::now()),
        );
    }
    let base_after = rss_mib();

    println!(
        "baseline: the unbounded map of before, one round's ids: {} held, {:+.1} MiB",
        old.len(),
        base_after - base_before
    );
    println!(
        "left after the last expiry: {:+.1} MiB over before (goal: within 10 MiB)",
        after - before
    );
    drop(old);
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}
