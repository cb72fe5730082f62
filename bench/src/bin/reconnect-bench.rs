//! Reconnect benchmark: `cargo run --release -p mimamori-bench --bin reconnect-bench`.
//!
//! 1. **Reconnect storm.** `--devices` devices (10,000; each a store row with its salted-HMAC
//!    secret, inserted before anything is measured) connect at once to the embedded broker, as
//!    after a restart of the platform or of the homes' router. Measured: the time until every one
//!    has its CONNACK; the median of `--rounds` rounds (3), everyone disconnecting between rounds.
//!    Baselines in the same rounds, one after the other: the same clients against rumqttd started
//!    without a login handler (the broker's own connect rate), and against Mosquitto with
//!    `allow_anonymous true` when `mosquitto` is on PATH. The clients are a second process (this
//!    binary, `--storm-client`), so that the broker's and the clients' sockets each count against
//!    their own process's open-files limit; they send a bare CONNECT and wait for the CONNACK.
//!    Where the time goes: the broker's listener and router threads are sampled every millisecond
//!    (running, blocked on a futex, idle in epoll) and their CPU time is read.
//! 2. **Press → receipt under attack.** The embedded broker and the gateway, started through their
//!    faces as `mimamori up` starts them; `--honest` call buttons (100) each press an emergency
//!    `--presses` times (10, one a second) with the device client of `mimamori-devices` and wait
//!    for the signed receipt on their receipts topic, while `--attackers` connections (600) loop
//!    CONNECT with a wrong password for a known device id (the first button's), each reconnecting
//!    as soon as it is refused. Baseline: the same presses without attackers, in the same run.
//!
//! Options: `--devices 10000`, `--attackers 600`, `--honest 100`, `--presses 10`, `--rounds 3`,
//! `--database postgres://…` (an empty database) instead of a temporary SQLite file.

use anyhow::{Context, Result, anyhow, bail};
use mimamori_bench::brokers::{Mosquitto, free_addr, wait_listening};
use mimamori_bench::helper::Helper;
use mimamori_bench::latency::{median, percentile};
use mimamori_bench::machine::{
    CpuTimes, ThreadSampler, ThreadStates, listen_drops, open_files_limit, process_cpu_seconds,
};
use mimamori_bench::wire::{self, ConnAck};
use mimamori_core::clock::SystemClock;
use mimamori_core::config::{Backend, Config};
use mimamori_core::domain::{DeviceId, DeviceKind};
use mimamori_core::endpoint::MqttEndpoint;
use mimamori_core::protocol::EventType;
use mimamori_core::secret::generate_device_password;
use mimamori_devices::{DeviceClient, DeviceConfig};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long one storm connection may wait for its CONNACK before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Keep alive of the storm's connections: longer than a round.
const KEEP_ALIVE_S: u16 = 300;
/// The target of issue 14: every device connected within this.
const STORM_TARGET: Duration = Duration::from_secs(10);
/// The target of issue 14: press → receipt p99 under attack below this.
const RECEIPT_TARGET_MS: f64 = 1_000.0;
/// One press a second per button.
const PRESS_EVERY: Duration = Duration::from_secs(1);
/// A press without its receipt by then is lost.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The attack runs this long before the presses start, past the first refusals' back-off.
const ATTACK_WARM_UP: Duration = Duration::from_secs(3);
/// Sockets the benchmark's own process needs beside those it counts (store, listeners, pipes).
const SPARE_FILES: usize = 256;

/// The command line (see the module's documentation).
struct Options {
    devices: usize,
    attackers: usize,
    honest: usize,
    presses: usize,
    rounds: usize,
    database: Option<String>,
}

impl Options {
    fn from_args() -> Result<Self> {
        let args = mimamori_bench::args::Args::from_env();
        let text = |name: &str| args.text(name);
        let number = |name: &str, default: usize| args.number(name, default);
        let options = Self {
            devices: number("--devices", 10_000)?,
            attackers: number("--attackers", 600)?,
            honest: number("--honest", 100)?,
            presses: number("--presses", 10)?,
            rounds: number("--rounds", 3)?.max(1),
            database: text("--database"),
        };
        if options.honest == 0 || options.honest > options.devices {
            bail!("--honest must be between 1 and --devices");
        }
        Ok(options)
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--storm-client") {
        let credentials = args
            .get(i + 1)
            .context("--storm-client takes the credentials file")?;
        return storm_client(Path::new(credentials)).await;
    }
    let options = Options::from_args()?;
    check_open_files(&options)?;
    let dir = tempfile::Builder::new()
        .prefix("mimamori-reconnect-bench-")
        .tempdir()
        .context("Failed to create a temporary directory")?;
    let result = run(&options, dir.path()).await;
    drop(dir);
    result?;
    // rumqttd's threads cannot be stopped (its issue #771): leave without waiting for them.
    std::process::exit(0);
}

/// Each of the two processes holds one socket per connection it counts: a soft limit below that
/// would show up as failed connections, not as a slow broker.
fn check_open_files(o: &Options) -> Result<()> {
    let Some(limit) = open_files_limit() else {
        return Ok(());
    };
    // This process: the broker's side of the storm, and both sides of the attack and the presses.
    let needed = (o.devices + 2 * (o.attackers + o.honest) + SPARE_FILES) as u64;
    if limit < needed {
        bail!(
            "reconnect-bench needs {needed} open files per process and the limit is {limit}: \
             raise it first (`ulimit -n {needed}`, up to the hard limit `ulimit -Hn`) or pass a \
             smaller --devices"
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn run(o: &Options, dir: &Path) -> Result<()> {
    let mut config = Config::default();
    config.broker.listen = "127.0.0.1:0".parse()?;
    config.broker.max_connections = config
        .broker
        .max_connections
        .max(o.devices + o.attackers + o.honest + 16);
    let url = o
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let (store, _) = mimamori_bench::database::open(&url, config.storage.max_connections).await?;
    if !store.list_devices(None).await?.is_empty() {
        bail!(
            "the --database already holds devices; give it an empty database of its own \
             (createdb mimamori_reconnect_bench)"
        );
    }
    let backend = match store.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    let started = Instant::now();
    let devices =
        mimamori_bench::fleet::provision(&store, o.devices, "storm", DeviceKind::CallButton)
            .await?;
    eprintln!(
        "reconnect-bench: {} devices stored in {:.1} s ({backend}; not measured)",
        devices.len(),
        started.elapsed().as_secs_f64()
    );
    let credentials = dir.join("devices.txt");
    let lines: String = devices
        .iter()
        .map(|(id, password)| format!("{id} {password}\n"))
        .collect();
    std::fs::write(&credentials, lines).context("Failed to write the storm's credentials")?;

    let service_password = mimamori_core::secret::generate(32);
    let broker = mimamori_broker::start_embedded(&config, &store, &service_password)
        .await
        .context("Failed to start the embedded broker")?;
    let bare = start_bare_rumqttd(config.broker.max_connections).await?;
    let mosquitto = Mosquitto::start(dir, "").await?;
    let mut targets = vec![
        Target {
            label: "embedded broker (every login checked)".into(),
            addr: broker.addr,
            threads: vec!["mqtt-v4", "router-0", "tokio-runtime-w", "sqlx-sqlite-wor"],
            pid: None,
            rounds: Vec::new(),
        },
        Target {
            label: "baseline: rumqttd, no login handler".into(),
            addr: bare,
            threads: vec!["bare-v4", "router-1"],
            pid: None,
            rounds: Vec::new(),
        },
    ];
    if let Some(m) = &mosquitto {
        targets.push(Target {
            label: format!("baseline: {}, anonymous", m.version),
            addr: m.addr,
            threads: Vec::new(),
            pid: m.child.id(),
            rounds: Vec::new(),
        });
    }

    // 1. The storm: the brokers take turns within each round, so that the machine's slow moments
    // fall on all of them alike.
    let mut client = StormClient::spawn(&credentials)?;
    for round in 1..=o.rounds {
        for target in &mut targets {
            eprintln!(
                "reconnect-bench: storm round {round}/{}: {}",
                o.rounds, target.label
            );
            let measured = storm_round(&mut client, target).await?;
            target.rounds.push(measured);
            client.disconnect().await?;
        }
    }
    drop(client);
    print_storm(o, &targets);

    // 2. Press → receipt, without and with the attack.
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let endpoint = MqttEndpoint::resolve(&config, Some(broker.addr), service_password)
        .map_err(|m| anyhow!("the gateway's endpoint: {m}"))?;
    mimamori_gateway::build(
        &config,
        store.clone(),
        Arc::new(mimamori_core::registry::Registry::fujisawa()),
        Arc::new(SystemClock),
        &endpoint,
    )
    .run(&tasks, &shutdown);
    let honest = &devices[..o.honest];
    eprintln!("reconnect-bench: presses without attackers");
    let quiet = press_round(honest, broker.addr, o.presses).await?;
    eprintln!("reconnect-bench: presses under attack");
    let attack = Attack::start(broker.addr, &honest[0].0, o.attackers);
    tokio::time::sleep(ATTACK_WARM_UP).await;
    let refused_before = broker.security.logins_refused.load(Ordering::Relaxed);
    let attack_started = Instant::now();
    let under_attack = press_round(honest, broker.addr, o.presses).await?;
    let refused = broker.security.logins_refused.load(Ordering::Relaxed) - refused_before;
    let attack_seconds = attack_started.elapsed().as_secs_f64();
    let counts = attack.stop().await;
    print_presses(
        o,
        backend,
        &quiet,
        &under_attack,
        refused,
        attack_seconds,
        &counts,
    );
    print_targets(&targets[0], &under_attack);

    shutdown.cancel();
    tasks.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tasks.wait()).await;
    store.close().await;
    Ok(())
}

/// rumqttd as the embedded broker configures it (`broker/src/lib.rs`), but without a login
/// handler: what the broker itself costs per connection. Its threads are named `bare-v4` and
/// `router-1` so that they can be told from the embedded broker's.
async fn start_bare_rumqttd(max_connections: usize) -> Result<SocketAddr> {
    let addr = free_addr()?;
    let server = rumqttd::ServerSettings {
        name: "bare-v4".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 0,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: 16 * 1024,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
            login: None,
            // The bare rumqttd: each acknowledgement as it comes.
            ack_hold_ms: 0,
        },
    };
    let config = rumqttd::Config {
        id: 1,
        router: rumqttd::RouterConfig {
            max_connections,
            max_outgoing_packet_count: 200,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 10,
            ..Default::default()
        },
        v4: Some(HashMap::from([("v4".to_string(), server)])),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("bare-broker".into())
        .spawn(move || {
            let _ = rumqttd::Broker::new(config).start();
        })
        .context("Failed to start the bare rumqttd")?;
    wait_listening(addr, "the bare rumqttd").await?;
    Ok(addr)
}

/// One broker of the storm and what its rounds measured.
struct Target {
    label: String,
    addr: SocketAddr,
    /// Its threads in this process, sampled during its rounds.
    threads: Vec<&'static str>,
    /// Its process, when it is another one.
    pid: Option<u32>,
    rounds: Vec<StormRound>,
}

/// One storm against one broker.
struct StormRound {
    report: StormReport,
    threads: HashMap<String, ThreadStates>,
    /// CPU seconds of the broker's process, when it is another one.
    broker_cpu: Option<f64>,
    /// CPU seconds of the storm's clients.
    client_cpu: Option<f64>,
    /// The machine: busy and stolen, in %.
    machine: Option<(f64, f64)>,
    /// Connection attempts dropped by the kernel at the broker's full listen queue.
    listen_drops: Option<u64>,
}

async fn storm_round(client: &mut StormClient, target: &Target) -> Result<StormRound> {
    let sampler = ThreadSampler::start(&target.threads);
    let cpu = CpuTimes::now();
    let drops = listen_drops();
    let client_cpu = client.pid().and_then(process_cpu_seconds);
    let broker_cpu = target.pid.and_then(process_cpu_seconds);
    let report = client.storm(target.addr).await?;
    let delta =
        |before: Option<f64>, pid: Option<u32>| Some(pid.and_then(process_cpu_seconds)? - before?);
    Ok(StormRound {
        client_cpu: delta(client_cpu, client.pid()),
        broker_cpu: delta(broker_cpu, target.pid),
        machine: CpuTimes::now()
            .zip(cpu)
            .map(|(after, before)| after.since(&before)),
        listen_drops: listen_drops()
            .zip(drops)
            .map(|(after, before)| after - before),
        threads: sampler.finish(),
        report,
    })
}

/// What the storm's client process reports of one storm.
#[derive(Debug, Serialize, Deserialize)]
struct StormReport {
    accepted: usize,
    /// Answered with a CONNACK that refuses.
    refused: usize,
    /// No CONNACK: closed, reset or timed out.
    failed: usize,
    /// From the first connect to the last connection's outcome.
    all_ms: f64,
    /// Connect → CONNACK of the accepted ones, from the storm's start.
    p50_ms: f64,
    p99_ms: f64,
    /// What went wrong first, if anything did.
    error: Option<String>,
}

/// The storm's clients: this binary with `--storm-client`, driven one line at a time
/// (`connect ADDR` → a JSON `StormReport`; `disconnect` → `closed MS`).
struct StormClient(Helper);

impl StormClient {
    fn spawn(credentials: &Path) -> Result<Self> {
        Helper::spawn(
            &["--storm-client".into(), credentials.display().to_string()],
            "the storm's client process",
        )
        .map(Self)
    }

    fn pid(&self) -> Option<u32> {
        self.0.pid()
    }

    async fn storm(&mut self, addr: SocketAddr) -> Result<StormReport> {
        self.0.json(&format!("connect {addr}")).await
    }

    async fn disconnect(&mut self) -> Result<()> {
        self.0.ask("disconnect").await.map(|_| ())
    }
}

/// The storm's client process: holds the connections of one storm until told to disconnect.
async fn storm_client(credentials: &Path) -> Result<()> {
    let text = std::fs::read_to_string(credentials)
        .with_context(|| format!("Failed to read {}", credentials.display()))?;
    let packets: Vec<Arc<[u8]>> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, password)| wire::connect_packet(id, id, password, KEEP_ALIVE_S).into())
        .collect();
    let mut open = Vec::new();
    let mut commands = BufReader::new(tokio::io::stdin()).lines();
    while let Some(command) = commands.next_line().await? {
        if let Some(addr) = command.strip_prefix("connect ") {
            let (streams, report) = storm(addr.parse()?, &packets).await;
            open = streams;
            println!("{}", serde_json::to_string(&report)?);
        } else if command == "disconnect" {
            let started = Instant::now();
            let mut closing = JoinSet::new();
            for stream in open.drain(..) {
                closing.spawn(wire::disconnect(stream, Duration::from_secs(10)));
            }
            while closing.join_next().await.is_some() {}
            println!("closed {:.0}", ms(started.elapsed()));
        }
    }
    Ok(())
}

/// Every packet's connection opened at once; returns the accepted connections, open.
async fn storm(addr: SocketAddr, packets: &[Arc<[u8]>]) -> (Vec<TcpStream>, StormReport) {
    let start = Instant::now();
    let mut set = JoinSet::new();
    for packet in packets {
        let packet = packet.clone();
        set.spawn(async move {
            let outcome = tokio::time::timeout(CONNECT_TIMEOUT, wire::connect(addr, &packet)).await;
            (outcome, start.elapsed())
        });
    }
    let mut streams = Vec::with_capacity(packets.len());
    let mut times = Vec::with_capacity(packets.len());
    let (mut refused, mut failed, mut last, mut error) = (0, 0, Duration::ZERO, None);
    while let Some(joined) = set.join_next().await {
        let Ok((outcome, at)) = joined else {
            failed += 1;
            continue;
        };
        last = last.max(at);
        match outcome {
            Ok(Ok((stream, ConnAck::Accepted))) => {
                streams.push(stream);
                times.push(ms(at));
            }
            Ok(Ok((_, ConnAck::Refused(code)))) => {
                refused += 1;
                error.get_or_insert(format!("CONNACK return code {code}"));
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                failed += 1;
                error.get_or_insert("closed by the broker without a CONNACK".into());
            }
            Ok(Err(e)) => {
                failed += 1;
                error.get_or_insert(e.to_string());
            }
            Err(_) => {
                failed += 1;
                error.get_or_insert(format!("no CONNACK within {CONNECT_TIMEOUT:?}"));
            }
        }
    }
    let report = StormReport {
        accepted: times.len(),
        refused,
        failed,
        all_ms: ms(last),
        p50_ms: percentile(&mut times, 0.5),
        p99_ms: percentile(&mut times, 0.99),
        error,
    };
    (streams, report)
}

/// What the honest buttons measured in one round.
struct PressRound {
    /// Start → CONNACK per button.
    connect_ms: Vec<f64>,
    /// Press → receipt.
    latency_ms: Vec<f64>,
    /// Presses without a receipt within [`RECEIPT_TIMEOUT`].
    lost: usize,
}

/// The buttons connect at once, press once each to warm up (not counted), then press `presses`
/// times each, one a second, spread evenly over the second, each waiting for its receipt.
async fn press_round(
    devices: &[(DeviceId, String)],
    addr: SocketAddr,
    presses: usize,
) -> Result<PressRound> {
    let stop = CancellationToken::new();
    let ready = Arc::new(tokio::sync::Barrier::new(devices.len()));
    let mut set = JoinSet::new();
    for (i, (id, password)) in devices.iter().enumerate() {
        let config = DeviceConfig {
            id: id.clone(),
            password: password.clone(),
            brokers: vec![addr.into()],
            resend_interval: Duration::from_secs(2),
            tls_ca: None,
        };
        let (stop, ready, n) = (stop.clone(), ready.clone(), devices.len());
        set.spawn(async move {
            let started = Instant::now();
            let button = DeviceClient::start(config, stop);
            if !button.wait_connected(Duration::from_secs(60)).await {
                bail!("button {} did not connect", button.id());
            }
            let connect_ms = ms(started.elapsed());
            let seq = button.send(EventType::Emergency, None, None).await?;
            if !button.wait_receipt(seq, RECEIPT_TIMEOUT).await {
                bail!("button {}: no receipt for the warm-up press", button.id());
            }
            tokio::time::timeout(Duration::from_secs(60), ready.wait())
                .await
                .context("the other buttons did not get ready")?;
            let first = tokio::time::Instant::now() + PRESS_EVERY.mul_f64(i as f64 / n as f64);
            let mut tick = tokio::time::interval_at(first, PRESS_EVERY);
            let (mut latency_ms, mut lost) = (Vec::with_capacity(presses), 0);
            for _ in 0..presses {
                tick.tick().await;
                let pressed = Instant::now();
                let seq = button.send(EventType::Emergency, None, None).await?;
                if button.wait_receipt(seq, RECEIPT_TIMEOUT).await {
                    latency_ms.push(ms(pressed.elapsed()));
                } else {
                    lost += 1;
                }
            }
            button.disconnect().await;
            Ok((connect_ms, latency_ms, lost))
        });
    }
    let mut round = PressRound {
        connect_ms: Vec::new(),
        latency_ms: Vec::new(),
        lost: 0,
    };
    while let Some(joined) = set.join_next().await {
        let (connect_ms, latency_ms, lost) = joined??;
        round.connect_ms.push(connect_ms);
        round.latency_ms.extend(latency_ms);
        round.lost += lost;
    }
    stop.cancel();
    Ok(round)
}

/// Connections that guess a device's password, each reconnecting as soon as it is refused.
struct Attack {
    stop: CancellationToken,
    tasks: JoinSet<()>,
    counts: Arc<AttackCounts>,
}

#[derive(Default)]
struct AttackCounts {
    refused: AtomicU64,
    /// Must stay 0.
    accepted: AtomicU64,
    /// Connections that ended without a CONNACK.
    errors: AtomicU64,
}

impl Attack {
    fn start(addr: SocketAddr, victim: &DeviceId, connections: usize) -> Self {
        let stop = CancellationToken::new();
        let counts = Arc::new(AttackCounts::default());
        let packet: Arc<[u8]> = wire::connect_packet(
            victim.as_str(),
            victim.as_str(),
            &generate_device_password(),
            KEEP_ALIVE_S,
        )
        .into();
        let mut tasks = JoinSet::new();
        for _ in 0..connections {
            let (stop, counts, packet) = (stop.clone(), counts.clone(), packet.clone());
            tasks.spawn(async move {
                loop {
                    let attempt = async {
                        let (stream, ack) = wire::connect(addr, &packet).await?;
                        // The broker closes a refused connection: wait for it, as a client
                        // that reconnects on close does.
                        wire::disconnect(stream, Duration::from_secs(10)).await;
                        Ok::<_, std::io::Error>(ack)
                    };
                    let outcome = tokio::select! {
                        () = stop.cancelled() => break,
                        outcome = attempt => outcome,
                    };
                    let counter = match outcome {
                        Ok(ConnAck::Refused(_)) => &counts.refused,
                        Ok(ConnAck::Accepted) => &counts.accepted,
                        Err(_) => &counts.errors,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if outcome.is_err() {
                        // Not refused but broken (a full backlog): do not spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            });
        }
        Self {
            stop,
            tasks,
            counts,
        }
    }

    async fn stop(mut self) -> Arc<AttackCounts> {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        self.counts
    }
}

fn seconds(ms: f64) -> String {
    format!("{:.2} s", ms / 1e3)
}

fn print_storm(o: &Options, targets: &[Target]) {
    println!();
    println!(
        "reconnect storm: {} devices connect at once; median of {} rounds (all disconnect between rounds)",
        o.devices, o.rounds
    );
    println!(
        "{:<42} | {:>11} | {:>9} | {:>9} | {:>6} | each round (all CONNACK)",
        "", "all CONNACK", "conn. p50", "conn. p99", "failed"
    );
    for t in targets {
        let mut all: Vec<f64> = t.rounds.iter().map(|r| r.report.all_ms).collect();
        let each: Vec<String> = all.iter().map(|v| format!("{:.2}", v / 1e3)).collect();
        let mid = median(&mut all);
        let middle = t
            .rounds
            .iter()
            .find(|r| r.report.all_ms == mid)
            .map(|r| &r.report);
        let failed: usize = t
            .rounds
            .iter()
            .map(|r| r.report.failed + r.report.refused)
            .sum();
        println!(
            "{:<42} | {:>11} | {:>9} | {:>9} | {:>6} | {} s",
            t.label,
            seconds(mid),
            middle.map_or_else(String::new, |r| seconds(r.p50_ms)),
            middle.map_or_else(String::new, |r| seconds(r.p99_ms)),
            failed,
            each.join(" / ")
        );
        if let Some(e) = t.rounds.iter().find_map(|r| r.report.error.as_ref()) {
            println!("    first failure: {e}");
        }
    }
    println!("where the storm's time went (all rounds together; threads sampled every ms):");
    for t in targets {
        let mut threads: HashMap<String, ThreadStates> = HashMap::new();
        for r in &t.rounds {
            for (name, s) in &r.threads {
                let sum = threads.entry(name.clone()).or_default();
                sum.running += s.running;
                sum.blocked += s.blocked;
                sum.idle += s.idle;
                sum.other += s.other;
                sum.cpu_seconds += s.cpu_seconds;
            }
        }
        let wall: f64 = t.rounds.iter().map(|r| r.report.all_ms / 1e3).sum();
        let mut parts = vec![format!("wall {wall:.1} s")];
        for name in &t.threads {
            if let Some(s) = threads.get(*name) {
                let mut part = format!("{name} CPU {:.1} s", s.cpu_seconds);
                if name.ends_with("-v4") {
                    part += &format!(
                        " ({:.0} % running, {:.0} % blocked on a futex, {:.0} % idle in epoll, {:.0} % other)",
                        s.share(s.running),
                        s.share(s.blocked),
                        s.share(s.idle),
                        s.share(s.other)
                    );
                }
                parts.push(part);
            }
        }
        let sum = |f: fn(&StormRound) -> Option<f64>| -> Option<f64> {
            t.rounds.iter().map(f).sum::<Option<f64>>()
        };
        if let Some(drops) = t.rounds.iter().map(|r| r.listen_drops).sum::<Option<u64>>() {
            parts.push(format!(
                "{drops} connection attempts dropped at the full listen queue"
            ));
        }
        if let Some(cpu) = sum(|r| r.broker_cpu) {
            parts.push(format!("broker process CPU {cpu:.1} s"));
        }
        if let Some(cpu) = sum(|r| r.client_cpu) {
            parts.push(format!("clients' process CPU {cpu:.1} s"));
        }
        let machine: Vec<(f64, f64)> = t.rounds.iter().filter_map(|r| r.machine).collect();
        if !machine.is_empty() {
            let n = machine.len() as f64;
            parts.push(format!(
                "machine {:.0} % busy, {:.1} % stolen",
                machine.iter().map(|m| m.0).sum::<f64>() / n,
                machine.iter().map(|m| m.1).sum::<f64>() / n
            ));
        }
        println!("  {}: {}", t.label, parts.join("; "));
    }
}

fn print_presses(
    o: &Options,
    backend: &str,
    quiet: &PressRound,
    under_attack: &PressRound,
    refused: u64,
    attack_seconds: f64,
    counts: &AttackCounts,
) {
    println!();
    println!(
        "press → receipt: {} call buttons × {} emergencies (one a second each), embedded broker + gateway, {backend}",
        o.honest, o.presses
    );
    println!(
        "{:<42} | {:>5} | {:>4} | {:>8} | {:>8} | {:>8} | {:>19}",
        "", "n", "lost", "p50", "p99", "max", "connect p50 / max"
    );
    for (label, round) in [
        ("without attackers".to_string(), quiet),
        (
            format!("under attack: {} wrong-password loops", o.attackers),
            under_attack,
        ),
    ] {
        let mut latency = round.latency_ms.clone();
        let mut connect = round.connect_ms.clone();
        println!(
            "{:<42} | {:>5} | {:>4} | {:>5.1} ms | {:>5.1} ms | {:>5.1} ms | {:>7.1} / {:>6.1} ms",
            label,
            latency.len(),
            round.lost,
            percentile(&mut latency, 0.5),
            percentile(&mut latency, 0.99),
            percentile(&mut latency, 1.0),
            percentile(&mut connect, 0.5),
            percentile(&mut connect, 1.0),
        );
    }
    println!(
        "the attack during the presses: {refused} logins refused by the broker ({:.0}/s); over the whole attack the attackers saw {} refusals, {} accepted, {} broken connections",
        refused as f64 / attack_seconds.max(1e-9),
        counts.refused.load(Ordering::Relaxed),
        counts.accepted.load(Ordering::Relaxed),
        counts.errors.load(Ordering::Relaxed),
    );
}

fn print_targets(embedded: &Target, under_attack: &PressRound) {
    let mut all: Vec<f64> = embedded.rounds.iter().map(|r| r.report.all_ms).collect();
    let storm = median(&mut all);
    let failed: usize = embedded
        .rounds
        .iter()
        .map(|r| r.report.failed + r.report.refused)
        .sum();
    let storm_met = failed == 0 && storm <= ms(STORM_TARGET);
    let mut latency = under_attack.latency_ms.clone();
    let p99 = percentile(&mut latency, 0.99);
    let presses_met = under_attack.lost == 0 && p99 < RECEIPT_TARGET_MS;
    let verdict = |met: bool| if met { "met" } else { "NOT MET" };
    println!();
    println!(
        "targets (issue 14): storm, every device connected within {} s: {} (median {}, {failed} failed); press → receipt p99 under attack below {:.0} ms: {} ({p99:.1} ms, {} lost)",
        STORM_TARGET.as_secs(),
        verdict(storm_met),
        seconds(storm),
        RECEIPT_TARGET_MS,
        verdict(presses_met),
        under_attack.lost
    );
}
