//! Ingestion benchmark: `cargo run --release -p mimamori-bench --bin ingest-bench`.
//!
//! In this process, as `mimamori up` starts them: a store (a temporary SQLite file, or a fresh
//! PostgreSQL database made for the run with `--database postgres://…`), the embedded broker
//! (`mimamori_broker::start_embedded`) and the gateway (`mimamori_gateway::build`, taking its
//! messages from the broker's router in process as `up` does; `--tcp`: over loopback TCP, as a
//! gateway in another process does). `--devices`
//! motion sensors (1,000), each stored with its own salted-HMAC secret, publish HMAC-signed
//! `activity` events (docs/PROTOCOL.md) at QoS 1, each on its own connection with its own login,
//! and listen for their receipts. The devices are a second process (this binary, `--load-client`,
//! speaking MQTT straight on the socket), so that this process's CPU and memory are the platform's.
//!
//! 1. **Baselines**, before the gateway starts: the same devices publish `--baseline-events`
//!    (100,000) as fast as they can to one QoS 1 subscriber of `mimamori/v1/devices/+/events` —
//!    on the embedded broker (its logins and topic rights checked), and on a Mosquitto of the
//!    run's own (anonymous, free port) when `mosquitto` is on PATH. Measured: first publish → last
//!    message at the subscriber.
//! 2. **Saturation**: `--events` (100,000) events as fast as the devices' windows let them
//!    (`--window` unacknowledged publishes per device, 20), stored by the gateway. Measured:
//!    stored per second (first publish → last stored), lost, stored twice, publish → stored and
//!    publish → receipt percentiles, the process's CPU and its resident set's growth.
//! 3. **Fixed rate**: `--rate` events a second (10,000) for `--seconds` (30), spread over the
//!    devices; the same figures, and whether the store kept up with what was offered.
//!
//! Publish, stored and receipt times are taken from the system clock in the two processes (the
//! same machine), in microseconds. A message is lost when no stored signal carries its device and
//! `seq` once everything has settled; the store is counted again at the end (each (device, seq)
//! stored exactly once).
//!
//! Options: `--devices 1000`, `--events 100000`, `--baseline-events` (as `--events`), `--rate
//! 10000`, `--seconds 30`, `--window 20`, `--no-saturation`, `--no-rate`, `--no-mosquitto`, `--tcp`,
//! `--database postgres://USER@HOST/DB` (the bench creates and drops a database of its own on that
//! server), `--nats-cluster` with `--gateways 1|2`.
//!
//! **`--nats-cluster`**: instead of the embedded broker, a 3-node NATS cluster (`nats-server` on
//! PATH; JetStream and MQTT on each node, the logins `mimamori_broker::nats_authorization`
//! makes). The devices connect to node 0; the baseline is the cluster alone, node 0 → one QoS 1
//! subscriber on node 1; then `--gateways` gateways (1 or 2, `mimamori_gateway::build` over TCP,
//! each with its own client id on node 1, 2) store what the devices publish. On NATS each gateway
//! receives everything and the store keeps each (device, seq) once (docs/DEPLOYMENT.md), so
//! "stored" counts each once, and the other gateway's copy is a duplicate.

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;
use mimamori_bench::brokers::Mosquitto;
use mimamori_bench::database::{self, BenchDatabase};
use mimamori_bench::helper::Helper;
use mimamori_bench::latency::percentile;
use mimamori_bench::machine::{
    CpuTimes, load_average, open_files_limit, process_cpu_seconds, process_rss_bytes,
};
use mimamori_bench::wire;
use mimamori_broker::{ExternalLogin, Login};
use mimamori_core::clock::SystemClock;
use mimamori_core::config::Config;
use mimamori_core::domain::{DeviceId, DeviceKind, SignalSource};
use mimamori_core::endpoint::MqttEndpoint;
use mimamori_core::protocol::{Event, EventType, Receipt, Sensor};
use mimamori_core::secret::device_mac_key;
use mimamori_core::topic;
use mimamori_gateway::IngestEvent;
use mimamori_testkit::nats::NatsCluster;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Keep alive of the devices' connections: longer than a run.
const KEEP_ALIVE_S: u16 = 600;
/// A phase has settled when nothing more was stored (or received) for this long.
const SETTLE: Duration = Duration::from_secs(10);
/// How long the devices wait for receipts still missing once everything is stored.
const RECEIPT_GRACE_MS: u64 = 3_000;
/// Sockets the benchmark's processes need beside the devices' (store, listeners, pipes).
const SPARE_FILES: usize = 256;
/// The targets of issue 15.
const SATURATION_SHARE: f64 = 0.5;
const RATE_TOLERANCE: f64 = 0.02;
const P99_TARGET_MS: f64 = 50.0;
const RSS_TARGET_MB: f64 = 100.0;

/// The command line (see the module's documentation).
struct Options {
    devices: usize,
    events: usize,
    baseline_events: usize,
    rate: usize,
    seconds: usize,
    window: usize,
    saturation: bool,
    fixed_rate: bool,
    mosquitto: bool,
    /// The gateway over loopback TCP instead of in process.
    tcp: bool,
    /// A 3-node NATS cluster instead of the embedded broker: devices on node 0, gateways on
    /// nodes 1, 2, … over TCP.
    nats_cluster: bool,
    /// Gateways, each with its own client id (several only with `--nats-cluster`).
    gateways: usize,
    database: Option<String>,
}

impl Options {
    fn from_args() -> Result<Self> {
        let args = mimamori_bench::args::Args::from_env();
        let text = |name: &str| args.text(name);
        let flag = |name: &str| args.flag(name);
        let number = |name: &str, default: usize| args.number(name, default);
        let events = number("--events", 100_000)?;
        let o = Self {
            devices: number("--devices", 1_000)?.max(1),
            events,
            baseline_events: number("--baseline-events", events)?,
            rate: number("--rate", 10_000)?,
            seconds: number("--seconds", 30)?,
            window: number("--window", 20)?.clamp(1, 60_000),
            saturation: !flag("--no-saturation"),
            fixed_rate: !flag("--no-rate"),
            mosquitto: !flag("--no-mosquitto"),
            tcp: flag("--tcp") || flag("--nats-cluster"),
            nats_cluster: flag("--nats-cluster"),
            gateways: number("--gateways", 1)?.max(1),
            database: text("--database"),
        };
        if o.gateways > 1 && !o.nats_cluster {
            bail!("--gateways above 1 needs --nats-cluster (the embedded broker shares by group)");
        }
        if o.gateways > 2 {
            bail!("--gateways: the cluster has two nodes beside the devices' (1 or 2)");
        }
        if let Some(url) = &o.database {
            database::check_server(url)?;
        }
        Ok(o)
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--load-client") {
        let credentials = args
            .get(i + 1)
            .context("--load-client takes the credentials file")?;
        return load_client(Path::new(credentials)).await;
    }
    let o = Options::from_args()?;
    if let Some(limit) = open_files_limit() {
        let needed = (o.devices + SPARE_FILES) as u64;
        if limit < needed {
            bail!("ingest-bench needs {needed} open files per process and the limit is {limit}");
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("mimamori-ingest-bench-")
        .tempdir()
        .context("Failed to create a temporary directory")?;
    let result = run(&o, dir.path()).await;
    drop(dir);
    result?;
    // rumqttd's threads cannot be stopped (its issue #771): leave without waiting for them.
    std::process::exit(0);
}

async fn run(o: &Options, dir: &Path) -> Result<()> {
    let mut config = Config::default();
    config.broker.listen = "127.0.0.1:0".parse()?;
    config.broker.max_connections = config.broker.max_connections.max(o.devices + 16);
    let database = BenchDatabase::create(o.database.as_deref(), dir, "ingest-bench").await?;
    let outcome = bench(o, dir, &config, &database.url).await;
    if let Err(e) = database.remove().await {
        eprintln!("ingest-bench: could not drop the run's database: {e:#}");
    }
    outcome
}

async fn bench(o: &Options, dir: &Path, config: &Config, url: &str) -> Result<()> {
    let (store, backend) = database::open(url, config.storage.max_connections).await?;
    let started = Instant::now();
    let devices =
        mimamori_bench::fleet::provision(&store, o.devices, "pir", DeviceKind::Motion).await?;
    eprintln!(
        "ingest-bench: {} devices stored in {:.1} s ({backend}; not measured)",
        devices.len(),
        started.elapsed().as_secs_f64()
    );
    let credentials = dir.join("devices.txt");
    let lines: String = devices
        .iter()
        .map(|(id, password)| format!("{id} {password}\n"))
        .collect();
    std::fs::write(&credentials, lines).context("Failed to write the devices' credentials")?;
    let index: Arc<HashMap<String, u32>> = Arc::new(
        devices
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.to_string(), i as u32))
            .collect(),
    );

    let service_password = mimamori_core::secret::generate(32);
    let service = config.mqtt.username.clone();
    // The broker the devices and gateways use: the embedded one as `up` starts it, or a NATS
    // cluster with each device's login and rights.
    let (broker, cluster) = if o.nats_cluster {
        let logins: Vec<ExternalLogin> = devices
            .iter()
            .map(|(id, password)| ExternalLogin {
                username: id.to_string(),
                login: Login::Device {
                    id: id.to_string(),
                    hub: false,
                },
                password: password.clone(),
            })
            .collect();
        let authorization = mimamori_broker::nats_authorization(
            &service,
            &service_password,
            &config.gateway.zigbee2mqtt_topic,
            &logins,
        );
        let started = Instant::now();
        let cluster = NatsCluster::try_start(&authorization, &service, &service_password)
            .await
            .map_err(|why| {
                anyhow!("--nats-cluster needs nats-server (2.9 or later) on PATH: {why}")
            })?;
        eprintln!(
            "ingest-bench: NATS cluster up in {:.1} s (not measured)",
            started.elapsed().as_secs_f64()
        );
        (None, Some(cluster))
    } else {
        let broker = mimamori_broker::start_embedded(config, &store, &service_password)
            .await
            .context("Failed to start the embedded broker")?;
        (Some(broker), None)
    };
    let devices_addr = match (&broker, &cluster) {
        (Some(b), _) => b.addr,
        (None, Some(c)) => c.mqtt[0],
        (None, None) => unreachable!("a broker was started above"),
    };
    // The bare Mosquitto: anonymous, every message queued for the subscriber (no cap, so that
    // it loses none), and the same window of unacknowledged messages as the embedded broker.
    let mosquitto = if o.mosquitto && !o.nats_cluster {
        Mosquitto::start(dir, "max_queued_messages 0\nmax_inflight_messages 100\n").await?
    } else {
        None
    };
    let mut client = spawn_devices(&credentials, o.window)?;

    // 1. Baselines: the brokers alone.
    let mut baselines = Vec::new();
    // (label, the devices' node, the subscriber's node, its login)
    let mut brokers = Vec::new();
    if let Some(b) = &broker {
        brokers.push((
            "embedded broker alone (logins, topic rights)".to_string(),
            b.addr,
            b.addr,
            service.as_str(),
            service_password.as_str(),
        ));
    }
    if let Some(c) = &cluster {
        brokers.push((
            "NATS cluster alone: node 0 → node 1".to_string(),
            c.mqtt[0],
            c.mqtt[1],
            service.as_str(),
            service_password.as_str(),
        ));
    }
    if let Some(m) = &mosquitto {
        brokers.push((
            format!("{} alone (anonymous)", m.version),
            m.addr,
            m.addr,
            "bench",
            "bench",
        ));
    }
    for (label, addr, sink_addr, user, password) in brokers {
        if o.baseline_events == 0 {
            break;
        }
        eprintln!("ingest-bench: baseline, {label}");
        client.ask(&format!("connect {addr}")).await?;
        client
            .ask(&format!("sink {sink_addr} {user} {password}"))
            .await?;
        let cpu = CpuTimes::now();
        let published: Published = client.json(&format!("burst {}", o.baseline_events)).await?;
        let sink: SinkReport = client
            .json(&format!("sink-wait {}", o.baseline_events))
            .await?;
        let machine = CpuTimes::now().zip(cpu).map(|(a, b)| a.since(&b));
        client.ask("disconnect").await?;
        let seconds = (sink.last_us - published.first_us).max(1) as f64 / 1e6;
        baselines.push(Baseline {
            label,
            received: sink.received,
            published: published.published,
            rate: sink.received as f64 / seconds,
            machine,
        });
    }

    // 2. The platform: the gateway as `mimamori up` starts it; on the NATS cluster each gateway
    // on a node of its own (1, 2), with its own client id, and no shared group: each receives
    // everything, and the store keeps each (device, seq) once (docs/DEPLOYMENT.md).
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut gateways = Vec::new();
    for g in 0..o.gateways {
        let mut config = config.clone();
        let endpoint = match &cluster {
            Some(c) => {
                config.mqtt.client_id = format!("{}-{}", config.mqtt.client_id, g + 1);
                let mut endpoint = MqttEndpoint::resolve(&config, None, service_password.clone())
                    .map_err(|m| anyhow!("the gateway's endpoint: {m}"))?;
                endpoint.brokers = vec![c.mqtt[1 + g].into()];
                endpoint
            }
            None => MqttEndpoint::resolve(&config, Some(devices_addr), service_password.clone())
                .map_err(|m| anyhow!("the gateway's endpoint: {m}"))?,
        };
        let mut gateway = mimamori_gateway::build(
            &config,
            store.clone(),
            Arc::new(mimamori_core::registry::Registry::fujisawa()),
            Arc::new(SystemClock),
            &endpoint,
        );
        if let (false, Some(b)) = (o.tcp, &broker) {
            gateway.in_process(b.local());
        }
        gateways.push(gateway);
    }
    let metrics: Vec<_> = gateways.iter().map(|g| g.metrics()).collect();
    let capacity = o.devices + o.events + o.rate * o.seconds + 1024;
    let recorder = Recorder::start(
        gateways.iter().map(|g| g.events()).collect(),
        index.clone(),
        capacity,
    );
    for gateway in gateways {
        gateway.run(&tasks, &shutdown);
    }
    client.ask(&format!("connect {devices_addr}")).await?;
    // On NATS a gateway's first session holds nothing from before its subscription: one event
    // at a time until every gateway has received one (stored, and counted below).
    let mut probes = 0;
    if cluster.is_some() {
        let deadline = Instant::now() + Duration::from_secs(60);
        while metrics
            .iter()
            .any(|m| m.received.load(Ordering::Relaxed) == 0)
        {
            if Instant::now() > deadline {
                bail!("a gateway received nothing from the cluster within 60 s");
            }
            let p: Published = client.json("burst 1").await?;
            probes += p.published;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    // Warm-up, not measured: one event per device (the gateway reads each device once).
    eprintln!("ingest-bench: warm-up, one event per device");
    let warm = Phase::run(
        &mut client,
        &recorder,
        &format!("burst {}", o.devices),
        None,
    )
    .await?;
    if warm.lost > 0 {
        bail!(
            "the gateway stored {} of the {} warm-up events",
            warm.found,
            warm.published
        );
    }

    let mut phases = Vec::new();
    if o.saturation && o.events > 0 {
        eprintln!("ingest-bench: saturation, {} events", o.events);
        let label = format!("saturation: {} events at once", o.events);
        phases.push((
            label,
            Phase::run(&mut client, &recorder, &format!("burst {}", o.events), None).await?,
        ));
    }
    if o.fixed_rate && o.rate > 0 && o.seconds > 0 {
        eprintln!("ingest-bench: {} events/s for {} s", o.rate, o.seconds);
        let label = format!("fixed rate: {}/s for {} s", o.rate, o.seconds);
        phases.push((
            label,
            Phase::run(
                &mut client,
                &recorder,
                &format!("rate {} {}", o.rate, o.seconds),
                Some(o.rate as f64),
            )
            .await?,
        ));
    }
    client.ask("disconnect").await?;
    let expected: usize =
        probes + warm.published + phases.iter().map(|(_, p)| p.published).sum::<usize>();
    let counted = count_stored(url).await;

    print_report(
        o, backend, &baselines, &phases, &recorder, &metrics, expected, counted,
    );
    shutdown.cancel();
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await;
    store.close().await;
    Ok(())
}

/// The activity signals in the store: all of them, and distinct (device, seq).
async fn count_stored(url: &str) -> Option<(i64, i64)> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let url = if url.starts_with("sqlite") {
        format!("{url}?mode=ro")
    } else {
        url.to_string()
    };
    let mut conn = sqlx::AnyConnection::connect(&url).await.ok()?;
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT source || '|' || dedup_key) AS d FROM signals WHERE kind = 'activity'",
    )
    .fetch_one(&mut conn)
    .await
    .ok()?;
    Some((row.try_get("n").ok()?, row.try_get("d").ok()?))
}

/// The stored time of every signal the gateway announces, by (device, seq).
struct Recorder {
    stored: Mutex<HashMap<(u32, u64), i64>>,
    count: AtomicUsize,
    /// The same (device, seq) announced as stored a second time: must stay 0.
    stored_twice: AtomicUsize,
    /// Messages the gateway found stored already (a redelivery), deduplicated.
    duplicates: AtomicUsize,
    dropped: Mutex<Vec<String>>,
    /// Announcements this recorder missed (the gateway's broadcast ran ahead of it).
    missed: AtomicU64,
    changed: Notify,
}

impl Recorder {
    fn start(
        receivers: Vec<tokio::sync::broadcast::Receiver<IngestEvent>>,
        index: Arc<HashMap<String, u32>>,
        capacity: usize,
    ) -> Arc<Self> {
        let me = Arc::new(Self {
            stored: Mutex::new(HashMap::with_capacity(capacity)),
            count: AtomicUsize::new(0),
            stored_twice: AtomicUsize::new(0),
            duplicates: AtomicUsize::new(0),
            dropped: Mutex::new(Vec::new()),
            missed: AtomicU64::new(0),
            changed: Notify::new(),
        });
        for mut events in receivers {
            let (r, index) = (me.clone(), index.clone());
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(IngestEvent::Stored(s)) => {
                            let at = now_us();
                            let SignalSource::Device(id) = &s.source else {
                                continue;
                            };
                            let seq = s
                                .dedup_key
                                .as_deref()
                                .and_then(|k| k.strip_prefix("seq:"))
                                .and_then(|k| k.parse::<u64>().ok());
                            if let (Some(&dev), Some(seq)) = (index.get(id.as_str()), seq)
                                && r.stored
                                    .lock()
                                    .expect("lock")
                                    .insert((dev, seq), at)
                                    .is_some()
                            {
                                r.stored_twice.fetch_add(1, Ordering::Relaxed);
                            }
                            r.count.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(IngestEvent::Duplicate { .. }) => {
                            r.duplicates.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(IngestEvent::Dropped { reason, topic }) => {
                            r.dropped
                                .lock()
                                .expect("lock")
                                .push(format!("{reason:?} {topic}"));
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            r.missed.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                    r.changed.notify_waiters();
                }
            });
        }
        me
    }

    /// Waits until `target` signals have been stored in all, or nothing more for [`SETTLE`].
    async fn wait_for(&self, target: usize) {
        let mut last = self.count.load(Ordering::Relaxed);
        let mut since = Instant::now();
        loop {
            let now = self.count.load(Ordering::Relaxed);
            if now >= target {
                return;
            }
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() > SETTLE {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), self.changed.notified()).await;
        }
    }
}

/// A baseline: the broker alone.
struct Baseline {
    label: String,
    published: usize,
    received: usize,
    rate: f64,
    machine: Option<(f64, f64)>,
}

/// What one phase measured.
struct Phase {
    published: usize,
    /// Offered per second: published over first → last publish.
    offered: f64,
    /// Stored per second: stored over first publish → last stored.
    stored_rate: f64,
    found: usize,
    lost: usize,
    lag_ms: Vec<f64>,
    receipt_ms: Vec<f64>,
    receipts_missing: usize,
    receipts_bad: usize,
    target_rate: Option<f64>,
    /// % of one core used by this process (the platform) and by the devices' process.
    platform_cpu: f64,
    devices_cpu: f64,
    machine: Option<(f64, f64)>,
    load: Option<f64>,
    rss_before_mb: f64,
    rss_peak_mb: f64,
    rss_after_mb: f64,
    seconds: f64,
}

impl Phase {
    async fn run(
        client: &mut Helper,
        recorder: &Recorder,
        command: &str,
        target_rate: Option<f64>,
    ) -> Result<Self> {
        let pid = std::process::id();
        let rss = || process_rss_bytes(pid).map_or(f64::NAN, |b| b as f64 / 1048576.0);
        let rss_before_mb = rss();
        let peak = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        {
            let (peak, stop) = (peak.clone(), stop.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_millis(50));
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        _ = every.tick() => {
                            if let Some(b) = process_rss_bytes(pid) {
                                peak.fetch_max(b, Ordering::Relaxed);
                            }
                        }
                    }
                }
            });
        }
        let cpu = CpuTimes::now();
        let platform_before = process_cpu_seconds(pid);
        let devices_before = client.pid().and_then(process_cpu_seconds);
        let wall = Instant::now();
        let before = recorder.count.load(Ordering::Relaxed);
        let published: Published = client.json(command).await?;
        recorder.wait_for(before + published.published).await;
        let seconds = wall.elapsed().as_secs_f64();
        let platform_cpu = process_cpu_seconds(pid)
            .zip(platform_before)
            .map_or(f64::NAN, |(a, b)| 100.0 * (a - b) / seconds);
        let devices_cpu = client
            .pid()
            .and_then(process_cpu_seconds)
            .zip(devices_before)
            .map_or(f64::NAN, |(a, b)| 100.0 * (a - b) / seconds);
        let machine = CpuTimes::now().zip(cpu).map(|(a, b)| a.since(&b));
        stop.cancel();
        let rss_peak_mb = peak.load(Ordering::Relaxed) as f64 / 1048576.0;
        let rss_after_mb = rss();
        let report: ReceiptReport = client.json(&format!("receipts {RECEIPT_GRACE_MS}")).await?;
        let log = std::fs::read_to_string(&report.log)
            .with_context(|| format!("Failed to read {}", report.log.display()))?;
        let stored = recorder.stored.lock().expect("lock");
        let (mut found, mut lost, mut last_stored) = (0, 0, published.first_us);
        let mut lag_ms = Vec::with_capacity(published.published);
        for line in log.lines() {
            let mut f = line.split(' ').map(|v| v.parse::<i64>().unwrap_or(-1));
            let (Some(dev), Some(seq), Some(at)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            match stored.get(&(dev as u32, seq as u64)) {
                Some(&t) => {
                    found += 1;
                    last_stored = last_stored.max(t);
                    lag_ms.push((t - at) as f64 / 1e3);
                }
                None => lost += 1,
            }
        }
        drop(stored);
        let _ = std::fs::remove_file(&report.log);
        let span = |from: i64, to: i64| (to - from).max(1) as f64 / 1e6;
        Ok(Self {
            published: published.published,
            offered: published.published as f64 / span(published.first_us, published.last_us),
            stored_rate: found as f64 / span(published.first_us, last_stored),
            found,
            lost,
            lag_ms,
            receipt_ms: report.latency_ms,
            receipts_missing: report.missing,
            receipts_bad: report.bad,
            target_rate,
            platform_cpu,
            devices_cpu,
            machine,
            load: load_average(),
            rss_before_mb,
            rss_peak_mb,
            rss_after_mb,
            seconds,
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn print_report(
    o: &Options,
    backend: &str,
    baselines: &[Baseline],
    phases: &[(String, Phase)],
    recorder: &Recorder,
    metrics: &[Arc<mimamori_gateway::Metrics>],
    expected: usize,
    counted: Option<(i64, i64)>,
) {
    println!();
    println!(
        "ingestion: {} devices, each with its own login, HMAC-signed activity events at QoS 1, window {} per device; {backend}; {}",
        o.devices,
        o.window,
        if o.nats_cluster {
            format!(
                "{} gateway(s) over loopback TCP on a 3-node NATS cluster (devices on node 0, gateway i on node i, each its own client id, no shared group)",
                o.gateways
            )
        } else if o.tcp {
            "gateway over loopback TCP".to_string()
        } else {
            "gateway in process".to_string()
        }
    );
    println!(
        "{:<48} | {:>9} | {:>8} | {:>12} | machine busy / stolen",
        "baseline: publish → one QoS 1 subscriber", "messages", "lost", "rate"
    );
    for b in baselines {
        println!(
            "{:<48} | {:>9} | {:>8} | {:>10.0}/s | {}",
            b.label,
            b.published,
            b.published.saturating_sub(b.received),
            b.rate,
            b.machine
                .map_or_else(String::new, |(busy, st)| format!("{busy:.0} % / {st:.1} %")),
        );
    }
    let mosquitto = baselines
        .iter()
        .find(|b| b.label.starts_with("Mosquitto"))
        .map(|b| b.rate);
    let nats = baselines
        .iter()
        .find(|b| b.label.starts_with("NATS"))
        .map(|b| b.rate);
    println!();
    println!(
        "{:<34} | {:>8} | {:>10} | {:>10} | {:>5} | {:>17} | {:>17} | {:>11} | {:>16} | busy / stolen, load",
        if o.nats_cluster {
            "gateways (NATS cluster + store)"
        } else {
            "gateway (embedded broker + store)"
        },
        "events",
        "offered",
        "stored",
        "lost",
        "stored lag p50/p99",
        "receipt p50/p99",
        "CPU plat/dev",
        "RSS MB +peak/+end"
    );
    for (label, p) in phases {
        let mut lag = p.lag_ms.clone();
        let mut receipts = p.receipt_ms.clone();
        println!(
            "{:<34} | {:>8} | {:>8.0}/s | {:>8.0}/s | {:>5} | {:>7.1} / {:>5.1} ms | {:>7.1} / {:>5.1} ms | {:>4.0} / {:>3.0} % | {:>5.0} +{:.0} / +{:.0} | {} (in {:.1} s)",
            label,
            p.published,
            p.offered,
            p.stored_rate,
            p.lost,
            percentile(&mut lag, 0.5),
            percentile(&mut lag, 0.99),
            percentile(&mut receipts, 0.5),
            percentile(&mut receipts, 0.99),
            p.platform_cpu,
            p.devices_cpu,
            p.rss_before_mb,
            p.rss_peak_mb - p.rss_before_mb,
            p.rss_after_mb - p.rss_before_mb,
            p.machine.map_or_else(String::new, |(busy, st)| format!(
                "{busy:.0} % / {st:.1} %, load {:.1}",
                p.load.unwrap_or(f64::NAN)
            )),
            p.seconds,
        );
        if p.receipts_missing > 0 || p.receipts_bad > 0 {
            println!(
                "    receipts missing after {RECEIPT_GRACE_MS} ms: {}; with a bad MAC: {}",
                p.receipts_missing, p.receipts_bad
            );
        }
    }
    let dropped = recorder.dropped.lock().expect("lock");
    println!(
        "stored twice: {}; redeliveries found stored already: {} (gateway metric: {}); dropped: {}{}; announcements the bench missed: {}",
        recorder.stored_twice.load(Ordering::Relaxed),
        recorder.duplicates.load(Ordering::Relaxed),
        metrics
            .iter()
            .map(|m| m.duplicates.load(Ordering::Relaxed))
            .sum::<u64>(),
        dropped.len(),
        dropped
            .first()
            .map_or_else(String::new, |d| format!(" (first: {d})")),
        recorder.missed.load(Ordering::Relaxed),
    );
    match counted {
        Some((n, distinct)) => println!(
            "the store at the end: {n} activity signals, {distinct} distinct (device, seq); published to the gateway: {expected}"
        ),
        None => println!("the store at the end: could not be counted"),
    }

    println!();
    if o.nats_cluster {
        for (label, p) in phases {
            println!(
                "{label}: {} gateway(s) stored {:.0}/s = {} of the cluster's own pub → sub rate; {} lost, {} stored twice",
                o.gateways,
                p.stored_rate,
                nats.map_or_else(
                    || "no baseline".into(),
                    |n| format!("{:.2}", p.stored_rate / n)
                ),
                p.lost,
                recorder.stored_twice.load(Ordering::Relaxed),
            );
        }
        return;
    }
    let verdict = |met: bool| if met { "met" } else { "NOT MET" };
    for (label, p) in phases {
        let mut lag = p.lag_ms.clone();
        let mut receipts = p.receipt_ms.clone();
        let (lag99, rec99) = (percentile(&mut lag, 0.99), percentile(&mut receipts, 0.99));
        let clean = p.lost == 0 && recorder.stored_twice.load(Ordering::Relaxed) == 0;
        match p.target_rate {
            None => {
                let share = mosquitto.map(|m| p.stored_rate / m);
                println!(
                    "target, {label}: stored ≥ {SATURATION_SHARE} × bare Mosquitto, 0 lost, 0 twice: {} ({:.0}/s = {} of Mosquitto; {} lost); RSS growth < {RSS_TARGET_MB} MB: {} (+{:.0} MB at peak)",
                    verdict(clean && share.is_some_and(|s| s >= SATURATION_SHARE)),
                    p.stored_rate,
                    share.map_or_else(|| "no Mosquitto".into(), |s| format!("{s:.2}")),
                    p.lost,
                    verdict(p.rss_peak_mb - p.rss_before_mb < RSS_TARGET_MB),
                    p.rss_peak_mb - p.rss_before_mb,
                );
            }
            Some(rate) => {
                let kept_up = p.stored_rate >= rate * (1.0 - RATE_TOLERANCE)
                    && p.stored_rate >= p.offered * (1.0 - RATE_TOLERANCE);
                println!(
                    "target, {label}: stored within {:.0} % of offered: {} ({:.0} of {:.0}/s); stored lag p99 < {P99_TARGET_MS} ms: {} ({lag99:.1} ms); receipts p99 < {P99_TARGET_MS} ms: {} ({rec99:.1} ms); 0 lost: {}",
                    RATE_TOLERANCE * 100.0,
                    verdict(kept_up),
                    p.stored_rate,
                    p.offered,
                    verdict(lag99 < P99_TARGET_MS),
                    verdict(rec99 < P99_TARGET_MS),
                    verdict(clean),
                );
            }
        }
    }
}

/// What the devices published in one command, once every publish was acknowledged.
#[derive(Debug, Serialize, Deserialize)]
struct Published {
    published: usize,
    first_us: i64,
    last_us: i64,
}

/// What the baseline subscriber received.
#[derive(Debug, Serialize, Deserialize)]
struct SinkReport {
    received: usize,
    last_us: i64,
}

/// The receipts of a phase, and where its publish times are (`device seq publish_us` a line).
#[derive(Debug, Serialize, Deserialize)]
struct ReceiptReport {
    latency_ms: Vec<f64>,
    missing: usize,
    bad: usize,
    log: PathBuf,
}

/// The devices: this binary with `--load-client`, driven one line at a time; each answer is one
/// line (JSON where there is something to report).
fn spawn_devices(credentials: &Path, window: usize) -> Result<Helper> {
    Helper::spawn(
        &[
            "--load-client".into(),
            credentials.display().to_string(),
            "--window".into(),
            window.to_string(),
        ],
        "the devices' process",
    )
}

// ---- The devices' process ----

/// One device of the load: its login, its keys, and what it has published.
struct Device {
    index: u32,
    id: String,
    password: String,
    mac_key: String,
    events: String,
    receipts: String,
    log: Mutex<DeviceLog>,
}

#[derive(Default)]
struct DeviceLog {
    next_seq: u64,
    /// This phase's publishes: seq, publish time.
    sent: Vec<(u64, i64)>,
    /// This phase's receipts: seq → arrival time.
    receipts: HashMap<u64, i64>,
    bad_receipts: usize,
}

/// What all devices share: counts of publishes sent and acknowledged.
#[derive(Default)]
struct Counts {
    acked: AtomicUsize,
    first_us: AtomicU64,
    last_us: AtomicU64,
    acked_now: Notify,
}

/// One device's open connection: a channel of "publish one now".
struct Link {
    publish: mpsc::UnboundedSender<()>,
}

async fn load_client(credentials: &Path) -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let window: usize = args
        .iter()
        .position(|a| a == "--window")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let text = std::fs::read_to_string(credentials)
        .with_context(|| format!("Failed to read {}", credentials.display()))?;
    let devices: Vec<Arc<Device>> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .enumerate()
        .map(|(i, (id, password))| {
            let device = DeviceId::parse(id).expect("the bench's ids are valid");
            Arc::new(Device {
                index: i as u32,
                id: id.to_string(),
                password: password.to_string(),
                mac_key: device_mac_key(password),
                events: topic::device_events(&device),
                receipts: topic::device_receipts(&device),
                log: Mutex::new(DeviceLog {
                    next_seq: 1,
                    ..Default::default()
                }),
            })
        })
        .collect();
    let counts = Arc::new(Counts::default());
    let mut links: Vec<Link> = Vec::new();
    let mut connected = CancellationToken::new();
    let sink = Arc::new(Sink::default());
    let mut commands = BufReader::new(tokio::io::stdin()).lines();
    let dir = credentials.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut phase = 0;
    while let Some(command) = commands.next_line().await? {
        let words: Vec<&str> = command.split_whitespace().collect();
        let reply: Result<String> = async {
            match words.as_slice() {
                ["connect", addr] => {
                    connected = CancellationToken::new();
                    links =
                        connect_all(&devices, addr.parse()?, window, &counts, &connected).await?;
                    Ok("ok".into())
                }
                ["sink", addr, user, password] => {
                    sink.start(addr.parse()?, user, password, &connected)
                        .await?;
                    Ok("ok".into())
                }
                ["burst", n] => {
                    let n: usize = n.parse()?;
                    let start = counts.acked.load(Ordering::Relaxed);
                    reset_span(&counts);
                    for k in 0..n {
                        let _ = links[k % links.len()].publish.send(());
                    }
                    wait_acked(&counts, start + n).await?;
                    Ok(serde_json::to_string(&published(&counts, n))?)
                }
                ["rate", rate, seconds] => {
                    let (rate, seconds): (f64, f64) = (rate.parse()?, seconds.parse()?);
                    let start = counts.acked.load(Ordering::Relaxed);
                    reset_span(&counts);
                    let began = tokio::time::Instant::now();
                    let total = (rate * seconds) as usize;
                    let mut every = tokio::time::interval(Duration::from_millis(1));
                    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    let mut sent = 0;
                    while sent < total {
                        every.tick().await;
                        let due = ((began.elapsed().as_secs_f64() * rate) as usize).min(total);
                        while sent < due {
                            let _ = links[sent % links.len()].publish.send(());
                            sent += 1;
                        }
                    }
                    wait_acked(&counts, start + total).await?;
                    Ok(serde_json::to_string(&published(&counts, total))?)
                }
                ["sink-wait", n] => {
                    let n: usize = n.parse()?;
                    Ok(serde_json::to_string(&sink.wait(n).await)?)
                }
                ["receipts", grace_ms] => {
                    phase += 1;
                    let log = dir.join(format!("phase-{phase}.txt"));
                    let report =
                        collect_receipts(&devices, Duration::from_millis(grace_ms.parse()?), log)
                            .await?;
                    Ok(serde_json::to_string(&report)?)
                }
                ["disconnect"] => {
                    connected.cancel();
                    links.clear();
                    sink.reset();
                    for d in &devices {
                        let mut log = d.log.lock().expect("lock");
                        log.sent.clear();
                        log.receipts.clear();
                    }
                    // Let the connections' tasks send DISCONNECT and close.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    Ok("ok".into())
                }
                _ => bail!("unknown command {command:?}"),
            }
        }
        .await;
        let line = match reply {
            Ok(r) => r,
            Err(e) => format!("error {e:#}"),
        };
        let mut out = tokio::io::stdout();
        out.write_all(format!("{line}\n").as_bytes()).await?;
        out.flush().await?;
    }
    Ok(())
}

fn reset_span(counts: &Counts) {
    counts.first_us.store(0, Ordering::Relaxed);
    counts.last_us.store(0, Ordering::Relaxed);
}

fn published(counts: &Counts, n: usize) -> Published {
    Published {
        published: n,
        first_us: counts.first_us.load(Ordering::Relaxed) as i64,
        last_us: counts.last_us.load(Ordering::Relaxed) as i64,
    }
}

/// Waits until `target` publishes have been acknowledged in all (or none for [`SETTLE`]).
async fn wait_acked(counts: &Counts, target: usize) -> Result<()> {
    let mut last = counts.acked.load(Ordering::Relaxed);
    let mut since = Instant::now();
    loop {
        let now = counts.acked.load(Ordering::Relaxed);
        if now >= target {
            return Ok(());
        }
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > SETTLE {
            bail!("{} publishes never acknowledged", target - now);
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), counts.acked_now.notified()).await;
    }
}

/// Connects every device at once and subscribes each to its receipts.
async fn connect_all(
    devices: &[Arc<Device>],
    addr: SocketAddr,
    window: usize,
    counts: &Arc<Counts>,
    stop: &CancellationToken,
) -> Result<Vec<Link>> {
    let mut set = JoinSet::new();
    for d in devices {
        let (d, counts, stop) = (d.clone(), counts.clone(), stop.clone());
        set.spawn(async move {
            let link = open_device(d.clone(), addr, window, counts, stop).await;
            (d.index, link)
        });
    }
    let mut links: Vec<Option<Link>> = (0..devices.len()).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (i, link) = joined?;
        links[i as usize] = Some(link.with_context(|| format!("device {i} could not connect"))?);
    }
    Ok(links.into_iter().flatten().collect())
}

async fn open_device(
    d: Arc<Device>,
    addr: SocketAddr,
    window: usize,
    counts: Arc<Counts>,
    stop: CancellationToken,
) -> Result<Link> {
    let packet = wire::connect_packet(&d.id, &d.id, &d.password, KEEP_ALIVE_S);
    let (mut stream, ack) =
        tokio::time::timeout(Duration::from_secs(30), wire::connect(addr, &packet))
            .await
            .context("no CONNACK within 30 s")??;
    if ack != wire::ConnAck::Accepted {
        bail!("refused: {ack:?}");
    }
    // The load generator writes whole batches itself; the broker's and the gateway's sockets are
    // what is measured.
    stream.set_nodelay(true)?;
    stream
        .write_all(&wire::subscribe_packet(1, &d.receipts, 0))
        .await?;
    let (header, _) = wire::read_packet(&mut stream).await?;
    if header != 0x90 {
        bail!("expected a SUBACK, got {header:#04x}");
    }
    let (read, write) = stream.into_split();
    let permits = Arc::new(Semaphore::new(window));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(device_reader(
        d.clone(),
        read,
        permits.clone(),
        counts.clone(),
        stop.clone(),
    ));
    tokio::spawn(device_writer(d, write, rx, permits, counts, stop));
    Ok(Link { publish: tx })
}

async fn device_writer(
    d: Arc<Device>,
    mut write: OwnedWriteHalf,
    mut publish: mpsc::UnboundedReceiver<()>,
    permits: Arc<Semaphore>,
    counts: Arc<Counts>,
    stop: CancellationToken,
) {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut pkid: u16 = 0;
    loop {
        let first = tokio::select! {
            () = stop.cancelled() => break,
            p = publish.recv() => p,
        };
        if first.is_none() {
            break;
        }
        let mut pending = 1;
        while pending > 0 {
            pending -= 1;
            if permits.try_acquire().map(|p| p.forget()).is_err() {
                if !buf.is_empty() && write.write_all(&buf).await.is_err() {
                    return;
                }
                buf.clear();
                tokio::select! {
                    () = stop.cancelled() => return,
                    p = permits.acquire() => match p {
                        Ok(p) => p.forget(),
                        Err(_) => return,
                    },
                }
            }
            pkid = pkid.checked_add(1).unwrap_or(1);
            let at = now_us();
            let seq = {
                let mut log = d.log.lock().expect("lock");
                let seq = log.next_seq;
                log.next_seq += 1;
                log.sent.push((seq, at));
                seq
            };
            let event = Event {
                v: 1,
                kind: EventType::Activity,
                sensor: Some(Sensor::Motion),
                seq,
                ts: Some(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                battery: None,
                mac: None,
            }
            .sign(&d.id, &d.mac_key);
            let payload = serde_json::to_vec(&event).expect("an event serialises");
            buf.extend_from_slice(&wire::publish_packet(&d.events, &payload, Some(pkid)));
            let _ = counts.first_us.compare_exchange(
                0,
                at as u64,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            counts.last_us.fetch_max(at as u64, Ordering::Relaxed);
            if pending == 0 && publish.try_recv().is_ok() {
                pending = 1;
            }
        }
        if !buf.is_empty() && write.write_all(&buf).await.is_err() {
            return;
        }
        buf.clear();
    }
    let _ = write.write_all(&wire::DISCONNECT).await;
}

async fn device_reader(
    d: Arc<Device>,
    read: tokio::net::tcp::OwnedReadHalf,
    permits: Arc<Semaphore>,
    counts: Arc<Counts>,
    stop: CancellationToken,
) {
    let mut read = BufReader::with_capacity(16 * 1024, read);
    loop {
        let packet = tokio::select! {
            () = stop.cancelled() => break,
            p = wire::read_packet(&mut read) => p,
        };
        let Ok((header, body)) = packet else { break };
        match header >> 4 {
            // PUBACK
            4 => {
                permits.add_permits(1);
                counts.acked.fetch_add(1, Ordering::Relaxed);
                counts.acked_now.notify_waiters();
            }
            // PUBLISH: a receipt (QoS 0)
            3 => {
                let at = now_us();
                let Some((_, _, payload)) = wire::parse_publish(header, &body) else {
                    continue;
                };
                let mut log = d.log.lock().expect("lock");
                match serde_json::from_slice::<Receipt>(payload) {
                    Ok(r) if r.verify(&d.id, &d.mac_key) => {
                        log.receipts.entry(r.seq).or_insert(at);
                    }
                    _ => log.bad_receipts += 1,
                }
            }
            _ => {}
        }
    }
}

/// Waits (up to `grace`) for the receipts of this phase's publishes, writes the publish times to
/// `log`, and starts the next phase's record.
async fn collect_receipts(
    devices: &[Arc<Device>],
    grace: Duration,
    log: PathBuf,
) -> Result<ReceiptReport> {
    let deadline = Instant::now() + grace;
    loop {
        let missing: usize = devices
            .iter()
            .map(|d| {
                let l = d.log.lock().expect("lock");
                l.sent
                    .iter()
                    .filter(|(s, _)| !l.receipts.contains_key(s))
                    .count()
            })
            .sum();
        if missing == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut text = String::new();
    let (mut latency_ms, mut missing, mut bad) = (Vec::new(), 0, 0);
    for d in devices {
        let mut l = d.log.lock().expect("lock");
        for (seq, at) in &l.sent {
            text.push_str(&format!("{} {seq} {at}\n", d.index));
            match l.receipts.get(seq) {
                Some(r) => latency_ms.push((r - at) as f64 / 1e3),
                None => missing += 1,
            }
        }
        bad += l.bad_receipts;
        l.sent.clear();
        l.receipts.clear();
        l.bad_receipts = 0;
    }
    std::fs::write(&log, text)?;
    Ok(ReceiptReport {
        latency_ms,
        missing,
        bad,
        log,
    })
}

/// The baseline's subscriber: counts what arrives on the devices' events topics.
#[derive(Default)]
struct Sink {
    received: AtomicUsize,
    last_us: AtomicU64,
    arrived: Notify,
}

impl Sink {
    fn reset(&self) {
        self.received.store(0, Ordering::Relaxed);
        self.last_us.store(0, Ordering::Relaxed);
    }

    async fn start(
        self: &Arc<Self>,
        addr: SocketAddr,
        user: &str,
        password: &str,
        stop: &CancellationToken,
    ) -> Result<()> {
        self.reset();
        let packet =
            wire::connect_packet("mimamori-ingest-bench-sink", user, password, KEEP_ALIVE_S);
        let (mut stream, ack) = wire::connect(addr, &packet).await?;
        if ack != wire::ConnAck::Accepted {
            bail!("the baseline subscriber was refused: {ack:?}");
        }
        stream.set_nodelay(true)?;
        stream
            .write_all(&wire::subscribe_packet(1, topic::DEVICE_EVENTS_FILTER, 1))
            .await?;
        let (header, body) = wire::read_packet(&mut stream).await?;
        if header != 0x90 || body.get(2) != Some(&1) {
            bail!("the baseline subscription was not granted at QoS 1: {header:#04x} {body:?}");
        }
        let (read, mut write) = stream.into_split();
        let (me, stop) = (self.clone(), stop.clone());
        tokio::spawn(async move {
            let mut read = BufReader::with_capacity(64 * 1024, read);
            let mut acks = Vec::with_capacity(4096);
            loop {
                let packet = tokio::select! {
                    () = stop.cancelled() => break,
                    p = wire::read_packet(&mut read) => p,
                };
                let Ok((header, body)) = packet else { break };
                if header >> 4 != 3 {
                    continue;
                }
                if let Some((_, Some(pkid), _)) = wire::parse_publish(header, &body) {
                    acks.extend_from_slice(&wire::puback(pkid));
                }
                me.received.fetch_add(1, Ordering::Relaxed);
                me.last_us.fetch_max(now_us() as u64, Ordering::Relaxed);
                // Acknowledge what has been read once nothing more is waiting in the buffer.
                if read.buffer().is_empty() && !acks.is_empty() {
                    if write.write_all(&acks).await.is_err() {
                        break;
                    }
                    acks.clear();
                    me.arrived.notify_waiters();
                }
            }
            let _ = write.write_all(&wire::DISCONNECT).await;
        });
        Ok(())
    }

    /// Waits until `n` messages have arrived (or none for [`SETTLE`]).
    async fn wait(&self, n: usize) -> SinkReport {
        let mut last = self.received.load(Ordering::Relaxed);
        let mut since = Instant::now();
        loop {
            let now = self.received.load(Ordering::Relaxed);
            if now >= n || (now == last && since.elapsed() > SETTLE) {
                break;
            }
            if now != last {
                (last, since) = (now, Instant::now());
            }
            let _ = tokio::time::timeout(Duration::from_millis(100), self.arrived.notified()).await;
        }
        SinkReport {
            received: self.received.load(Ordering::Relaxed),
            last_us: self.last_us.load(Ordering::Relaxed) as i64,
        }
    }
}
