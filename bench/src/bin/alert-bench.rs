//! Benchmark of the whole path: `cargo run --release -p mimamori-bench --bin alert-bench`.
//!
//! In one process, as `mimamori up` runs it: a SQLite store, the embedded broker, the gateway, the
//! alert service and the outbox publishing on `mimamori/v1/alerts/…`. 200 call buttons press 1,000
//! times in all (one press every 10 ms; later presses of a button join its open alert) while 50
//! motion sensors send 1,000 activity events a second. Measured: press published → alert change
//! received on the alerts topic, p50/p99, split at the stored signal; baselines in the same run and
//! under the same load: the bare broker's publish → receive latency for 1,000 messages, to a quiet
//! subscriber and to one that also takes every device event (as the gateway does).
//!
//! The gateway takes its messages as in `mimamori up`, straight from the embedded broker's router
//! (`--tcp`: over a loopback socket instead), and wakes the alert service as soon as an
//! emergency is stored; "press → signal stored" is measured when the gateway announces the
//! stored signal, after the rest of its batch.
//!
//! Options: `--presses 1000`, `--load 1000` (activity events per second), `--connections 8`, `--tcp`,
//! `--database postgres://…` (an empty database) instead of a temporary SQLite file,
//! `--separate-alerts`: the gateway does not wake the alert service in memory, as when
//! `mimamori alerts` runs in a process of its own (it then learns of new signals from the store:
//! PostgreSQL's notifications, or its one-second poll on SQLite).

use chrono::Utc;
use mimamori_alerts::notify::{Outbox, Targets};
use mimamori_bench::latency::percentile;
use mimamori_bench::machine::CpuTimes;
use mimamori_core::clock::SystemClock;
use mimamori_core::config::MessageAuth;
use mimamori_core::domain::*;
use mimamori_core::protocol::{EventType, Sensor};
use mimamori_core::registry::Registry;
use mimamori_core::secret::{device_mac_key, device_secret_hash, generate_device_password};
use mimamori_core::storage::Store;
use mimamori_devices::{DeviceClient, DeviceConfig};
use mimamori_gateway::ingest::{IngestSettings, Ingestor};
use mimamori_gateway::{IngestEvent, Metrics};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const BUTTONS: usize = 200;
const SENSORS: usize = 50;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

async fn provision(
    store: &Store,
    n: usize,
    kind: DeviceKind,
    prefix: &str,
) -> Vec<(DeviceId, String)> {
    let now = Utc::now();
    let mut out = Vec::new();
    for i in 0..n {
        let rid = ResidentId::parse(format!("r-{prefix}-{i:04}")).expect("valid");
        let resident = NewResident {
            id: rid.clone(),
            name: format!("ベンチ {i}"),
            name_kana: None,
            birth_year: BirthYear::parse(1940, now).expect("valid"),
            district: DistrictId::parse("kugenuma").expect("valid"),
            address: Address::parse("鵠沼海岸二丁目1-1").expect("valid"),
            living: LivingSituation::Alone,
            phone: None,
            contacts: vec![],
            policies: vec![],
            notes: None,
        };
        store
            .add_resident(&resident, &Actor::system(), now)
            .await
            .expect("resident");
        let id = DeviceId::parse(format!("{prefix}-{i:04}")).expect("valid");
        let password = generate_device_password();
        let device = NewDevice {
            id: id.clone(),
            resident: Some(rid),
            kind,
            label: None,
            external_id: None,
            heartbeat_interval_s: 3600,
            secret_hash: device_secret_hash(&password),
            mac_key: device_mac_key(&password),
        };
        store.add_device(&device, now).await.expect("device");
        out.push((id, password));
    }
    out
}

#[tokio::main]
async fn main() {
    let presses = arg("--presses", 1000);
    let load = arg("--load", 1000);
    let dir = std::env::temp_dir().join(format!("mimamori-alert-bench-{}", std::process::id()));
    // `--database postgres://…` (an empty database: the run fills it) instead of a SQLite file.
    let url =
        text_arg("--database").unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let (store, _) = mimamori_bench::database::open(&url, arg("--connections", 8) as u32)
        .await
        .expect("store");
    if store.max_signal_id().await.expect("read signals").0 != 0 {
        eprintln!(
            "alert-bench: the --database already holds signals; give it an empty database of its own (createdb mimamori_bench)"
        );
        std::process::exit(2);
    }
    store
        .seed_registry(&Registry::fujisawa(), Utc::now())
        .await
        .expect("seed");
    let buttons = provision(&store, BUTTONS, DeviceKind::CallButton, "btn").await;
    let sensors = provision(&store, SENSORS, DeviceKind::Motion, "pir").await;

    let shutdown = CancellationToken::new();
    let service_password = mimamori_core::secret::generate(32);
    let mut config = mimamori_core::config::Config::default();
    config.broker.listen = "127.0.0.1:0".parse().expect("addr");
    config.broker.max_connections = 2000;
    config.mqtt.username = "mimamori-service".into();
    config.gateway.max_payload_bytes = 4096;
    let broker = mimamori_broker::start_embedded(&config, &store, &service_password)
        .await
        .expect("broker");
    let (host, port) = (broker.addr.ip().to_string(), broker.addr.port());

    let ingestor = Arc::new(Ingestor::new(
        store.clone(),
        Arc::new(SystemClock),
        IngestSettings {
            message_auth: MessageAuth::Required,
            zigbee2mqtt_prefix: String::new(),
            ..IngestSettings::of(&Default::default())
        },
        Arc::new(Metrics::default()),
    ));
    let gateway = mimamori_gateway::mqtt::MqttSettings {
        brokers: vec![broker.addr.into()],
        client_id: "mimamori-bench-gateway".into(),
        username: "mimamori-service".into(),
        password: service_password.clone(),
        shared_group: String::new(),
    };
    // As `mimamori up` runs it: in process, straight from the embedded broker's router; or over
    // TCP on loopback (`--tcp`), as a gateway of its own would.
    let tcp = std::env::args().any(|a| a == "--tcp");
    if tcp {
        tokio::spawn(mimamori_gateway::mqtt::run(
            gateway,
            ingestor.clone(),
            shutdown.clone(),
        ));
    } else {
        tokio::spawn(mimamori_gateway::mqtt::run_local(
            broker.local(),
            gateway,
            ingestor.clone(),
            shutdown.clone(),
        ));
    }
    let (mqtt, connection) =
        mimamori_alerts::notify::mqtt::MqttSender::new(&mimamori_core::endpoint::MqttEndpoint {
            brokers: vec![broker.addr.into()],
            client_id: "mimamori-bench-alerts".into(),
            username: "mimamori-service".into(),
            password: service_password.clone(),
            shared_group: String::new(),
        });
    tokio::spawn(connection.run(shutdown.clone()));
    let stream = mimamori_alerts::notify::stream::AlertStream::from_store(
        store.clone(),
        Arc::new(SystemClock),
    )
    .await
    .expect("the alert stream's key");
    let outbox = Outbox::new(store.clone(), Arc::new(SystemClock), "bench")
        .with_sender(Channel::Mqtt, Arc::new(mqtt.alerts(stream)));
    let service = mimamori_alerts::AlertService::start(
        store.clone(),
        chrono_tz::Asia::Tokyo,
        Default::default(),
        Arc::new(SystemClock),
    )
    .await
    .expect("service")
    .with_delivery(
        Default::default(),
        Default::default(),
        Targets {
            mqtt_alerts: true,
            webhooks: vec![],
            ..Default::default()
        },
    )
    .with_outbox(outbox.handoff());
    let in_process = !std::env::args().any(|a| a == "--separate-alerts");
    if in_process {
        // As in `mimamori up`: woken as soon as signals are stored, emergencies first.
        ingestor.wake_on_store(service.waker());
    }
    let mut stored = ingestor.subscribe();
    // Press → stored (the gateway's share), and stored → alert received (the rest): a button's
    // presses are 2 s apart, so one is in flight at a time; the stored one is the button's n-th
    // (each press is a new `seq`, stored once), which is the alert's evidence count. Keyed by
    // (subject, n): an alert message that comes before the gateway announces the stored signal
    // (the alert service is woken at once, the announcement follows the rest of the batch) has
    // no sample, rather than matching the next press's stored time 2 s later.
    let press_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stored_at: Arc<Mutex<HashMap<(String, i64), Instant>>> = Arc::default();
    let stored_count: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let store_latency: Arc<Mutex<Vec<f64>>> = Arc::default();
    {
        let (press_at, stored_at, store_latency, stored_count) = (
            press_at.clone(),
            stored_at.clone(),
            store_latency.clone(),
            stored_count.clone(),
        );
        tokio::spawn(async move {
            while let Ok(e) = stored.recv().await {
                if let IngestEvent::Stored(s) = e
                    && s.kind == SignalKind::Emergency
                    && let Some(subject) = s.subject.as_ref().map(|s| s.key())
                {
                    let now = Instant::now();
                    if let Some(at) = press_at.lock().expect("lock").remove(&subject) {
                        store_latency
                            .lock()
                            .expect("lock")
                            .push((now - at).as_secs_f64() * 1e3);
                    }
                    let n = {
                        let mut counts = stored_count.lock().expect("lock");
                        let n = counts.entry(subject.clone()).or_insert(0);
                        *n += 1;
                        *n
                    };
                    stored_at.lock().expect("lock").insert((subject, n), now);
                }
            }
        });
    }
    tokio::spawn(outbox.run(shutdown.clone()));
    tokio::spawn(service.run(shutdown.clone()));

    // The listener: alert changes, and the baseline topic.
    let alert_latency: Arc<Mutex<Vec<f64>>> = Arc::default();
    let rest_latency: Arc<Mutex<Vec<f64>>> = Arc::default();
    let base_latency: Arc<Mutex<Vec<f64>>> = Arc::default();
    let pressed: Arc<Mutex<HashMap<(String, i64), Instant>>> = Arc::default();
    let mut options = MqttOptions::new("mimamori-bench-listener", host.clone(), port);
    options
        .set_credentials("mimamori-service", &service_password)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (listener, mut events) = AsyncClient::new(options, 10_000);
    let mut network = events.network_options();
    network.set_tcp_nodelay(true);
    events.set_network_options(network);
    listener
        .subscribe("mimamori/v1/alerts/#", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    listener
        .subscribe("bench/baseline", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    // A second baseline: the broker's delivery to a subscriber that, like the gateway, also
    // takes every device event (the background load) at QoS 1.
    let mut options = MqttOptions::new("mimamori-bench-firehose", host.clone(), port);
    options
        .set_credentials("mimamori-service", &service_password)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (firehose, mut firehose_events) = AsyncClient::new(options, 10_000);
    firehose
        .subscribe("mimamori/v1/devices/+/events", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    firehose
        .subscribe("bench/baseline", QoS::AtLeastOnce)
        .await
        .expect("subscribe");
    let firehose_latency: Arc<Mutex<Vec<f64>>> = Arc::default();
    let epoch = Instant::now();
    {
        let (alert_latency, base_latency, pressed, stored_at, rest_latency) = (
            alert_latency.clone(),
            base_latency.clone(),
            pressed.clone(),
            stored_at.clone(),
            rest_latency.clone(),
        );
        tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let now = epoch.elapsed().as_secs_f64() * 1e3;
                        if p.topic == "bench/baseline" {
                            let sent: f64 =
                                String::from_utf8_lossy(&p.payload).parse().unwrap_or(now);
                            base_latency.lock().expect("lock").push(now - sent);
                        } else if let Ok(body) =
                            serde_json::from_slice::<serde_json::Value>(&p.payload)
                        {
                            let subject = body["alert"]["subject"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string();
                            let count = body["alert"]["evidence_count"].as_i64().unwrap_or(0);
                            if let Some(at) = stored_at
                                .lock()
                                .expect("lock")
                                .remove(&(subject.clone(), count))
                            {
                                rest_latency
                                    .lock()
                                    .expect("lock")
                                    .push(at.elapsed().as_secs_f64() * 1e3);
                            }
                            if let Some(at) =
                                pressed.lock().expect("lock").remove(&(subject, count))
                            {
                                alert_latency
                                    .lock()
                                    .expect("lock")
                                    .push(at.elapsed().as_secs_f64() * 1e3);
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
    }

    {
        let firehose_latency = firehose_latency.clone();
        tokio::spawn(async move {
            let _keep = firehose;
            loop {
                match firehose_events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) if p.topic == "bench/baseline" => {
                        let now = epoch.elapsed().as_secs_f64() * 1e3;
                        let sent: f64 = String::from_utf8_lossy(&p.payload).parse().unwrap_or(now);
                        firehose_latency.lock().expect("lock").push(now - sent);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
    }
    let device = |(id, password): &(DeviceId, String)| {
        DeviceClient::start(
            DeviceConfig {
                id: id.clone(),
                password: password.clone(),
                brokers: vec![broker.addr.into()],
                resend_interval: Duration::from_secs(2),
                tls_ca: None,
            },
            shutdown.clone(),
        )
    };
    let button_clients: Vec<DeviceClient> = buttons.iter().map(device).collect();
    let sensor_clients: Vec<DeviceClient> = sensors.iter().map(device).collect();
    for d in button_clients.iter().chain(&sensor_clients) {
        assert!(
            d.wait_connected(Duration::from_secs(60)).await,
            "device could not connect"
        );
    }

    // Background load: `load` activity events a second, spread over the sensors.
    let stop_load = CancellationToken::new();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    for s in sensor_clients.clone() {
        let (stop, sent) = (stop_load.clone(), sent.clone());
        let every = Duration::from_secs_f64(SENSORS as f64 / load.max(1) as f64);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = tick.tick() => {
                        if s.send(EventType::Activity, Some(Sensor::Motion), None).await.is_ok() {
                            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Baseline: the bare broker, same load.
    let mut options = MqttOptions::new("mimamori-bench-publisher", host.clone(), port);
    options.set_credentials("mimamori-service", &service_password);
    let (publisher, mut pub_loop) = AsyncClient::new(options, 10_000);
    let mut network = pub_loop.network_options();
    network.set_tcp_nodelay(true);
    pub_loop.set_network_options(network);
    tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
    // Presses: one every 10 ms, round robin over the buttons; each tick also publishes one
    // baseline message, so that both meet the machine's hiccups at the same moments.
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let load_start = Instant::now();
    let cpu_before = CpuTimes::now();
    let sent_before = sent.load(std::sync::atomic::Ordering::Relaxed);
    for k in 0..presses {
        tick.tick().await;
        let sent_ms = epoch.elapsed().as_secs_f64() * 1e3;
        let _ = publisher
            .publish(
                "bench/baseline",
                QoS::AtLeastOnce,
                false,
                format!("{sent_ms}"),
            )
            .await;
        let b = k % BUTTONS;
        let subject = format!("resident:r-btn-{b:04}");
        let now = Instant::now();
        press_at.lock().expect("lock").insert(subject.clone(), now);
        pressed
            .lock()
            .expect("lock")
            .insert((subject, (k / BUTTONS + 1) as i64), now);
        button_clients[b]
            .send(EventType::Emergency, None, None)
            .await
            .expect("press");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while alert_latency.lock().expect("lock").len() < presses && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let load_rate = (sent.load(std::sync::atomic::Ordering::Relaxed) - sent_before) as f64
        / load_start.elapsed().as_secs_f64();
    let cpu = CpuTimes::now().zip(cpu_before).map(|(a, b)| a.since(&b));
    stop_load.cancel();
    println!(
        "alert path benchmark: {presses} presses over {BUTTONS} call buttons, background {load_rate:.0} activity events/s; gateway {}{}",
        if tcp {
            "over TCP (--tcp)"
        } else {
            "in process"
        },
        if in_process {
            ""
        } else {
            "; alert service woken only by the store (--separate-alerts)"
        }
    );
    match cpu {
        Some((busy, stolen)) => println!(
            "machine during the presses: {busy:.0} % of the CPUs busy, {stolen:.1} % stolen by the hypervisor"
        ),
        None => println!("machine during the presses: /proc/stat not readable"),
    }
    println!("{:<44} | {:>6} | {:>9} | {:>9}", "", "n", "p50", "p99");
    for (label, samples) in [
        ("press → alert on mimamori/v1/alerts/…", &alert_latency),
        ("baseline: bare broker publish → receive", &base_latency),
        (
            "baseline: the same, to a firehose subscriber",
            &firehose_latency,
        ),
        ("  of which: press → signal stored", &store_latency),
        ("  of which: stored → alert received", &rest_latency),
    ] {
        let mut v = samples.lock().expect("lock").clone();
        println!(
            "{:<44} | {:>6} | {:>7.2}ms | {:>7.2}ms",
            label,
            v.len(),
            percentile(&mut v, 0.5),
            percentile(&mut v, 0.99)
        );
    }
    shutdown.cancel();
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    std::process::exit(0);
}
