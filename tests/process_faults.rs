//! Issue 16's first "done when", as one story: a three-node NATS cluster on loopback, two
//! `mimamori gateway` and two `mimamori alerts` processes on one PostgreSQL database, a webhook
//! receiver standing in for the responders' channel, and call buttons pressing emergencies
//! throughout — a button of a new resident every second, each resending until its receipt.
//! Four faults, one after another, each a SIGKILL under that load:
//!
//! 1. a broker node (a `nats-server` process: the first gateway's node, and a third of the
//!    buttons');
//! 2. a gateway (a `mimamori gateway` process);
//! 3. the alert service holding the rules' lease (a `mimamori alerts` process): the standby, on
//!    the same machine, sees the holder's process gone and takes over at once;
//! 4. the leading alert service again (a third process started as the new standby), this time
//!    frozen (SIGSTOP) until the standby has taken the lapsed lease, then killed: to the standby
//!    that is what a leader on another machine that died looks like.
//!
//! Everything the test kills is a real process killed with SIGKILL: the cluster's nodes
//! (testapp's `NatsCluster`), the gateways and the alert services (the `mimamori` binary, as
//! `tests/cli.rs` starts it). Only the buttons (`mimamori_devices::DeviceClient`, real MQTT
//! clients that resend until their receipt) and the webhook receiver run in the test's process.
//!
//! For each fault it prints the fault suite's line (`fault: …`: signals sent / stored /
//! duplicated, alerts expected / raised / duplicated, notifications due / delivered / delivered
//! twice, the longest wait of an emergency for its first notification) for the presses of that
//! phase, and asserts 0 lost, 0 doubled and every first notification within 15 s of its press.

use mimamori_broker::{ExternalLogin, Login};
use mimamori_core::domain::{Alert, AlertKind, Channel, DeviceKind, SignalKind, Subject};
use mimamori_core::protocol::EventType;
use mimamori_core::storage::{AlertFilter, Store};
use mimamori_devices::{DeviceClient, DeviceConfig};
use mimamori_testapp::nats::NatsCluster;
use mimamori_testapp::platform::{Creds, SERVICE_USER, provision};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

mimamori_testkit::tests! {
    multi_thread a_broker_node_a_gateway_and_the_leading_alert_service_killed_under_load: [Nats, Postgres];
    multi_thread postgresql_stopped_thirty_seconds_under_load: [PostgresServer];
    multi_thread up_killed_under_load_and_started_again;
}

const SERVICE_PASSWORD: &str = "failover-service-password";
const WEBHOOK_SECRET: &str = "failover-webhook-secret-123";
/// Presses of each phase, one a second, on buttons of residents not pressed before.
const PRESSES: usize = 10;
/// The phases, one fault each.
const PHASES: usize = 4;
/// The presses of a phase before its fault; the rest come after it, through the failover.
const BEFORE_FAULT: usize = 2;
/// The longest an emergency may wait for its first notification (issue 16).
const FIRST_NOTIFICATION_WITHIN: Duration = Duration::from_secs(15);
/// How long a phase may take to settle after its last press.
const SETTLE: Duration = Duration::from_secs(60);

/// A `mimamori` process, killed when the test ends; its log (stderr) in a file.
struct Process {
    name: String,
    child: std::process::Child,
    log: PathBuf,
    /// Its HTTP listener (`host:port`), where it serves one (a gateway: `/metrics`).
    http: Option<String>,
    /// Its embedded broker's listener (`mimamori up`).
    mqtt: Option<String>,
}

impl Process {
    /// Starts `mimamori ARGS` in `dir` with `env` and waits for its "running" line.
    fn start(dir: &Path, name: &str, args: &[&str], env: &[(&str, String)]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_mimamori"));
        command.current_dir(dir);
        for (k, _) in std::env::vars() {
            if k.starts_with("MIMAMORI") {
                command.env_remove(k);
            }
        }
        let mut child = command
            .env_remove("RUST_LOG")
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut process = Self {
            name: name.into(),
            child,
            log,
            http: None,
            mqtt: None,
        };
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("{name} did not start: {}", process.log_text()));
            if let Some(addr) = line.strip_prefix("mimamori: http listening on http://") {
                process.http = Some(addr.to_string());
            }
            if let Some(addr) = line.strip_prefix("mimamori: mqtt broker listening on ") {
                process.mqtt = Some(addr.to_string());
            }
            if line.starts_with("mimamori: 起動しました") {
                return process;
            }
        }
    }

    /// A counter of its `/metrics` (0 when it does not answer).
    async fn metric(&self, name: &str) -> u64 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Some(addr) = &self.http else { return 0 };
        let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
            return 0;
        };
        let request = format!("GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n");
        let mut text = String::new();
        if stream.write_all(request.as_bytes()).await.is_err()
            || stream.read_to_string(&mut text).await.is_err()
        {
            return 0;
        }
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no lease given up, whatever was in memory is gone.
    fn kill_9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        format!(
            "\n--- {} (last lines) ---\n{}",
            self.name,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }
}

/// Sends `signal` (`-STOP`, `-KILL`…) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What the webhook receiver got: (notification id, alert id, when).
type Deliveries = Arc<Mutex<Vec<(i64, i64, Instant)>>>;

/// A webhook receiver on `127.0.0.1:0` answering 200; its URL and what it got.
async fn receiver() -> (String, Deliveries) {
    let got: Deliveries = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let keep = keep.clone();
            async move {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                keep.lock().unwrap().push((
                    v["notification"].as_i64().unwrap(),
                    v["alert"]["id"].as_i64().unwrap(),
                    Instant::now(),
                ));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

/// `mqtt.url` of the cluster's nodes, starting at node `first`.
fn mqtt_url(nodes: &[SocketAddr], first: usize) -> String {
    (0..nodes.len())
        .map(|i| format!("mqtt://{}", nodes[(first + i) % nodes.len()]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One press: the button, its resident, its `seq`, and when it was sent.
struct Press {
    button: DeviceClient,
    creds: Creds,
    seq: u64,
    at: Instant,
}

/// What one phase counted, printed as the fault suite's line and asserted.
#[derive(Debug, Default)]
struct Counts {
    sent: usize,
    stored: usize,
    stored_twice: usize,
    alerts: usize,
    alerts_twice: usize,
    applied_twice: usize,
    due: usize,
    delivered: usize,
    delivered_twice: usize,
    longest_first_wait: Duration,
    /// Presses without a notification (their wait is then unbounded).
    never_notified: usize,
}

impl Counts {
    fn report(&self, case: &str) {
        println!(
            "fault: {case}: signals sent {} / stored {} / duplicated {}; alerts expected {} / raised {} / duplicated {}; \
             notifications due {} / delivered {} / delivered twice {}; longest wait for a first notification {:.1} s",
            self.sent,
            self.stored,
            self.stored_twice,
            self.sent,
            self.alerts,
            self.alerts_twice,
            self.due,
            self.delivered,
            self.delivered_twice,
            self.longest_first_wait.as_secs_f64(),
        );
    }

    /// Asserts nothing lost or doubled and every first notification within `within` of its
    /// press.
    fn assert(&self, case: &str, within: Duration, logs: impl Fn() -> String) {
        let ok = self.stored == self.sent
            && self.stored_twice == 0
            && self.alerts == self.sent
            && self.alerts_twice == 0
            && self.applied_twice == 0
            && self.due >= self.sent
            && self.delivered == self.due
            && self.delivered_twice == 0
            && self.never_notified == 0
            && self.longest_first_wait < within;
        assert!(ok, "{case}: {self:?}{}", logs());
    }
}

/// The emergency alerts of the store.
async fn emergencies(store: &Store) -> Vec<Alert> {
    store
        .list_alerts(&AlertFilter {
            kind: Some(AlertKind::Emergency),
            ..Default::default()
        })
        .await
        .unwrap()
}

/// Counts what became of `presses`: waits until each is receipted and its alert's notifications
/// delivered, or [`SETTLE`] has passed.
async fn count(store: &Store, presses: &[Press], got: &Deliveries) -> Counts {
    let deadline = Instant::now() + SETTLE;
    let residents: BTreeMap<Subject, &Press> = presses
        .iter()
        .map(|p| (Subject::Resident(p.creds.resident.clone().unwrap()), p))
        .collect();
    loop {
        let receipted = presses.iter().all(|p| !p.button.pending().contains(&p.seq));
        let alerts: Vec<Alert> = emergencies(store)
            .await
            .into_iter()
            .filter(|a| residents.contains_key(&a.subject))
            .collect();
        let mut due = BTreeSet::new();
        for a in &alerts {
            for n in store.list_notifications(a.id).await.unwrap() {
                if n.channel == Channel::Webhook {
                    due.insert(n.id);
                }
            }
        }
        let delivered: BTreeSet<i64> = got
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.0)
            .filter(|n| due.contains(n))
            .collect();
        let settled = receipted && alerts.len() >= presses.len() && delivered.len() >= due.len();
        if settled || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut c = Counts {
        sent: presses.len(),
        ..Default::default()
    };
    for p in presses {
        let key = Some(format!("seq:{}", p.seq));
        let rows = store
            .signals_for_subject(
                &Subject::Resident(p.creds.resident.clone().unwrap()),
                chrono::Utc::now() - chrono::Duration::hours(1),
                chrono::Utc::now() + chrono::Duration::hours(1),
                100,
            )
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.kind == SignalKind::Emergency && s.dedup_key == key)
            .count();
        c.stored += rows.min(1);
        c.stored_twice += rows.saturating_sub(1);
    }
    let alerts: Vec<Alert> = emergencies(store)
        .await
        .into_iter()
        .filter(|a| residents.contains_key(&a.subject))
        .collect();
    let subjects: BTreeSet<&Subject> = alerts.iter().map(|a| &a.subject).collect();
    c.alerts = subjects.len();
    c.alerts_twice = alerts.len() - subjects.len();
    c.applied_twice = alerts.iter().filter(|a| a.evidence_count != 1).count();
    let got = got.lock().unwrap().clone();
    for a in &alerts {
        let due: BTreeSet<i64> = store
            .list_notifications(a.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|n| n.channel == Channel::Webhook)
            .map(|n| n.id)
            .collect();
        let arrived: Vec<&(i64, i64, Instant)> =
            got.iter().filter(|d| due.contains(&d.0)).collect();
        let distinct: BTreeSet<i64> = arrived.iter().map(|d| d.0).collect();
        c.due += due.len();
        c.delivered += distinct.len();
        c.delivered_twice += arrived.len() - distinct.len();
        let press = residents[&a.subject];
        match arrived.iter().map(|d| d.2).min() {
            Some(first) => {
                c.longest_first_wait = c
                    .longest_first_wait
                    .max(first.saturating_duration_since(press.at))
            }
            None => c.never_notified += 1,
        }
    }
    c.never_notified += presses.len() - subjects.len();
    c
}

/// Which process or node a phase kills.
#[derive(Debug, Clone, Copy)]
enum Fault {
    BrokerNode,
    Gateway,
    /// Killed on this machine: the standby sees the holder's process gone and takes over at once.
    LeadingAlertService,
    /// Frozen (SIGSTOP), as a leader on another machine that died is to the standby: its lease
    /// must lapse first; killed (SIGKILL) once the standby has taken over.
    FrozenLeadingAlertService,
}

async fn a_broker_node_a_gateway_and_the_leading_alert_service_killed_under_load() {
    let db = mimamori_core::testing::TestStore::postgres().await;
    let store = db.store.clone();
    let dir = tempfile::tempdir().unwrap();
    let probe = provision(&store, "probe", DeviceKind::Hub, false, None).await;
    let mut creds = Vec::new();
    for i in 0..PHASES * PRESSES {
        creds.push(
            provision(
                &store,
                &format!("button-{i:02}"),
                DeviceKind::CallButton,
                true,
                None,
            )
            .await,
        );
    }
    let logins: Vec<ExternalLogin> = creds
        .iter()
        .chain([&probe])
        .map(|c| ExternalLogin {
            username: c.id.to_string(),
            login: Login::Device {
                id: c.id.to_string(),
                hub: c.resident.is_none(),
            },
            password: c.password.clone(),
        })
        .collect();
    let authorization =
        mimamori_broker::nats_authorization(SERVICE_USER, SERVICE_PASSWORD, "zigbee2mqtt", &logins);
    let mut cluster = NatsCluster::start(&authorization, SERVICE_USER, SERVICE_PASSWORD).await;
    let nodes = cluster.mqtt.clone();

    let (hook, got) = receiver().await;
    std::fs::write(
        dir.path().join("mimamori.toml"),
        format!(
            "[storage]\nurl = \"{}\"\n\n[mqtt]\nusername = \"{SERVICE_USER}\"\npassword = \"{SERVICE_PASSWORD}\"\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\n\n\
             # A killed process's claimed notifications go out 5 s later, not 2 min.\n\
             [notify]\nmqtt_alerts = false\nlease_seconds = 5\n\n\
             [[notify.webhooks]]\nurl = \"{hook}\"\nsecret = \"{WEBHOOK_SECRET}\"\n\n\
             [alerts]\nleader_lease_seconds = 3\n",
            db.url
        ),
    )
    .unwrap();
    // Gateway 1 on node 0 (killed first), gateway 2 on node 1; the alert services on node 2.
    let mut gateways: Vec<Process> = (0..2)
        .map(|i| {
            Process::start(
                dir.path(),
                &format!("gateway-{}", i + 1),
                &["gateway"],
                &[
                    ("MIMAMORI__MQTT__URL", mqtt_url(&nodes, i)),
                    (
                        "MIMAMORI__MQTT__CLIENT_ID",
                        format!("mimamori-gateway-{}", i + 1),
                    ),
                ],
            )
        })
        .collect();
    let mut alerts: Vec<Process> = (0..2)
        .map(|i| {
            Process::start(
                dir.path(),
                &format!("alerts-{}", i + 1),
                &["alerts"],
                &[("MIMAMORI__MQTT__URL", mqtt_url(&nodes, 2))],
            )
        })
        .collect();

    // The buttons, spread over the three nodes, all connected before the first press.
    let shutdown = CancellationToken::new();
    let _stop_devices = shutdown.clone().drop_guard();
    let buttons: Vec<DeviceClient> = creds
        .iter()
        .enumerate()
        .map(|(i, c)| {
            DeviceClient::start(
                DeviceConfig {
                    id: c.id.clone(),
                    password: c.password.clone(),
                    brokers: (0..3).map(|k| nodes[(i + k) % 3].into()).collect(),
                    resend_interval: Duration::from_millis(500),
                    tls_ca: None,
                },
                shutdown.clone(),
            )
        })
        .collect();
    for b in &buttons {
        assert!(b.wait_connected(Duration::from_secs(30)).await);
    }
    // Ready: both gateways have received a probe's heartbeat (they are subscribed), and one alert
    // service leads.
    let probe = DeviceClient::start(
        DeviceConfig {
            id: probe.id.clone(),
            password: probe.password.clone(),
            brokers: vec![nodes[2].into()],
            resend_interval: Duration::from_millis(500),
            tls_ca: None,
        },
        shutdown.clone(),
    );
    assert!(probe.wait_connected(Duration::from_secs(30)).await);
    let ready = Instant::now() + Duration::from_secs(60);
    loop {
        let mut received = Vec::new();
        for g in &gateways {
            received.push(g.metric("mimamori_gateway_messages_received_total").await);
        }
        let leads = store
            .lease_holder("alert-service", chrono::Utc::now())
            .await
            .unwrap()
            .is_some();
        if leads && received.iter().all(|r| *r > 0) {
            break;
        }
        assert!(
            Instant::now() < ready,
            "the platform did not become ready: received by the gateways {received:?}, a leader: {leads}"
        );
        let _ = probe.send(EventType::Heartbeat, None, Some(99)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let logs = |gateways: &[Process], alerts: &[Process]| {
        gateways
            .iter()
            .chain(alerts)
            .map(Process::log_text)
            .collect::<String>()
    };

    let mut next = 0;
    for fault in [
        Fault::BrokerNode,
        Fault::Gateway,
        Fault::LeadingAlertService,
        Fault::FrozenLeadingAlertService,
    ] {
        if matches!(fault, Fault::FrozenLeadingAlertService) {
            // A standby again beside the survivor of the last phase.
            alerts.push(Process::start(
                dir.path(),
                "alerts-3",
                &["alerts"],
                &[("MIMAMORI__MQTT__URL", mqtt_url(&nodes, 2))],
            ));
        }
        let mut presses = Vec::new();
        let mut killed_at: Option<Instant> = None;
        let mut frozen: Option<(usize, String)> = None;
        for k in 0..PRESSES {
            if let Some((i, holder)) = &frozen
                && let Some(now) = store
                    .lease_holder("alert-service", chrono::Utc::now())
                    .await
                    .unwrap()
                && now.holder != *holder
            {
                println!(
                    "failover: the standby took the lease {:.1} s after the leader froze",
                    killed_at.unwrap().elapsed().as_secs_f64()
                );
                alerts[*i].kill_9();
                frozen = None;
            }
            if k == BEFORE_FAULT {
                killed_at = Some(Instant::now());
                match fault {
                    Fault::BrokerNode => cluster.kill(0),
                    Fault::Gateway => gateways[1].kill_9(),
                    Fault::LeadingAlertService | Fault::FrozenLeadingAlertService => {
                        let leader = store
                            .lease_holder("alert-service", chrono::Utc::now())
                            .await
                            .unwrap()
                            .expect("one alert service leads");
                        let i = alerts
                            .iter()
                            .position(|a| leader.holder.contains(&format!("-{}-", a.pid())))
                            .expect("the leader is one of the two");
                        if matches!(fault, Fault::LeadingAlertService) {
                            alerts[i].kill_9();
                        } else {
                            frozen = Some((i, leader.holder));
                            signal(alerts[i].pid(), "-STOP");
                        }
                    }
                }
            }
            let (button, creds) = (buttons[next].clone(), creds[next].clone());
            next += 1;
            let seq = button.send(EventType::Emergency, None, None).await.unwrap();
            presses.push(Press {
                button,
                creds,
                seq,
                at: Instant::now(),
            });
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let counts = count(&store, &presses, &got).await;
        let case = match fault {
            Fault::BrokerNode => "a NATS node killed (kill -9), 2 gateways, 2 alert services",
            Fault::Gateway => "a gateway process killed (kill -9), NATS cluster, 2 alert services",
            Fault::LeadingAlertService => {
                "the leading alert service killed (kill -9), NATS cluster, PostgreSQL"
            }
            Fault::FrozenLeadingAlertService => {
                "the leading alert service frozen until its lease lapsed, then killed (kill -9)"
            }
        };
        assert!(
            frozen.is_none(),
            "the standby never took over from the frozen leader"
        );
        counts.report(case);
        counts.assert(case, FIRST_NOTIFICATION_WITHIN, || {
            format!(
                "{}\n--- the nodes ---\n{}",
                logs(&gateways, &alerts),
                nodes
                    .iter()
                    .map(|n| cluster.log(*n))
                    .collect::<Vec<_>>()
                    .join("\n----\n")
            )
        });
    }
    shutdown.cancel();
    drop(gateways);
    drop(alerts);
    drop(cluster);
    db.finish().await;
}

/// Call buttons of residents not pressed before, each pressed once, in turn.
struct Load {
    buttons: Vec<DeviceClient>,
    creds: Vec<Creds>,
    next: usize,
    shutdown: CancellationToken,
}

impl Load {
    /// `creds`' buttons, connected to `brokers` (each starting at another node of the list).
    async fn connect(creds: Vec<Creds>, brokers: &[SocketAddr]) -> Self {
        let shutdown = CancellationToken::new();
        let buttons: Vec<DeviceClient> = creds
            .iter()
            .enumerate()
            .map(|(i, c)| {
                DeviceClient::start(
                    DeviceConfig {
                        id: c.id.clone(),
                        password: c.password.clone(),
                        brokers: (0..brokers.len())
                            .map(|k| brokers[(i + k) % brokers.len()].into())
                            .collect(),
                        resend_interval: Duration::from_millis(500),
                        tls_ca: None,
                    },
                    shutdown.clone(),
                )
            })
            .collect();
        for b in &buttons {
            assert!(b.wait_connected(Duration::from_secs(30)).await);
        }
        Self {
            buttons,
            creds,
            next: 0,
            shutdown,
        }
    }

    /// The next button's emergency press.
    async fn press(&mut self) -> Press {
        let (button, creds) = (
            self.buttons[self.next].clone(),
            self.creds[self.next].clone(),
        );
        self.next += 1;
        let seq = button.send(EventType::Emergency, None, None).await.unwrap();
        Press {
            button,
            creds,
            seq,
            at: Instant::now(),
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// `n` call buttons, each of a resident of its own.
async fn buttons(store: &Store, n: usize) -> Vec<Creds> {
    let mut creds = Vec::new();
    for i in 0..n {
        creds.push(
            provision(
                store,
                &format!("button-{i:02}"),
                DeviceKind::CallButton,
                true,
                None,
            )
            .await,
        );
    }
    creds
}

/// `mimamori.toml` of a `mimamori up` on `storage` with the broker on `mqtt_port`, alerts
/// delivered to `hook`.
fn up_config(dir: &Path, storage: &str, mqtt_port: u16, hook: &str) {
    std::fs::write(
        dir.join("mimamori.toml"),
        format!(
            "[storage]\nurl = \"{storage}\"\n\n[broker]\nlisten = \"127.0.0.1:{mqtt_port}\"\n\n\
             [mqtt]\npassword = \"{SERVICE_PASSWORD}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n\
             # A killed process's claimed notifications go out 5 s later, not 2 min.\n\
             [notify]\nmqtt_alerts = false\nlease_seconds = 5\n\n\
             [[notify.webhooks]]\nurl = \"{hook}\"\nsecret = \"{WEBHOOK_SECRET}\"\n"
        ),
    )
    .unwrap();
}

/// A port free now, for `mimamori up` to listen on each time it starts (devices reconnect to the
/// same address, as they would to a real server).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// When the last of `presses`' alerts had its first notification: with the presses made before
/// a fault ended, when delivery was back.
fn last_first_notification(store_alerts: &[Alert], presses: &[Press], got: &Deliveries) -> Instant {
    let got = got.lock().unwrap();
    presses
        .iter()
        .filter_map(|p| {
            let subject = Subject::Resident(p.creds.resident.clone().unwrap());
            let alert = store_alerts.iter().find(|a| a.subject == subject)?;
            got.iter().filter(|d| d.1 == alert.id.0).map(|d| d.2).min()
        })
        .max()
        .expect("notifications arrived")
}

/// How long PostgreSQL is down.
const OUTAGE: Duration = Duration::from_secs(30);
/// Within this of the fault's end, everything due has been delivered (issue 16).
const RESUME_WITHIN: Duration = Duration::from_secs(60);

/// `mimamori up` (embedded broker) on a PostgreSQL server of the test's own (initdb and pg_ctl,
/// as the `postgres` user, on a free port); a button of a new resident pressed every 2 s. The
/// server is stopped (`pg_ctl stop -m fast`: every session ended) for 30 s and started again.
/// Presses meanwhile wait in the buttons (resent until their receipt); afterwards every press is
/// stored once, each alert raised once and notified once, within 60 s of the restart, by the
/// same `up` process (it must not have died or given up).
async fn postgresql_stopped_thirty_seconds_under_load() {
    let server = mimamori_testkit::postgres::OwnServer::start().expect("a PostgreSQL server");
    let url = server.url();
    let store = Store::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    store
        .seed_registry(
            &mimamori_core::registry::Registry::fujisawa(),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let creds = buttons(&store, 24).await;
    let (hook, got) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    up_config(dir.path(), &url, 0, &hook);
    let mut up = Process::start(
        dir.path(),
        "up",
        &["up"],
        &[("MIMAMORI__BROKER__LISTEN", "127.0.0.1:0".into())],
    );
    let broker: SocketAddr = up
        .mqtt
        .clone()
        .expect("up reports its broker")
        .parse()
        .unwrap();
    let mut load = Load::connect(creds, &[broker]).await;
    let mut presses = Vec::new();
    for _ in 0..2 {
        presses.push(load.press().await);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    server.stop().unwrap();
    let stopped = Instant::now();
    while stopped.elapsed() < OUTAGE {
        presses.push(load.press().await);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    server.start_again().unwrap();
    let restarted = Instant::now();
    let before_restart = presses.len();
    println!(
        "fault: PostgreSQL stopped for {:.0} s and started again",
        restarted.duration_since(stopped).as_secs_f64()
    );
    for _ in 0..3 {
        presses.push(load.press().await);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let counts = count(&store, &presses, &got).await;
    let case = "PostgreSQL stopped 30 s and started again, `mimamori up` on it";
    counts.report(case);
    let alive = up.child.try_wait().unwrap().is_none();
    let logs = || format!("{}\n--- PostgreSQL ---\n{}", up.log_text(), server.log());
    let alerts = emergencies(&store).await;
    let back = last_first_notification(&alerts, &presses[..before_restart], &got)
        .saturating_duration_since(restarted);
    println!(
        "fault: {case}: delivery back {:.1} s after the restart",
        back.as_secs_f64()
    );
    // Presses during the outage wait for it to end: bounded by the outage and the resumption.
    counts.assert(case, OUTAGE + RESUME_WITHIN, logs);
    assert!(
        back < RESUME_WITHIN,
        "delivery back only {back:?} after the restart{}",
        logs()
    );
    assert!(alive, "up lived through the outage{}", logs());
    drop(load);
    drop(up);
    store.close().await;
}

/// `mimamori up` on SQLite (embedded broker), a button of a new resident pressed every second;
/// after the third press the process is killed (SIGKILL) and started again on the same database
/// and ports, the presses going on. Every press is stored once, each alert raised once and
/// notified once (a notification the killed process had claimed goes out when its claim of 5 s
/// runs out), within 60 s of the restart.
async fn up_killed_under_load_and_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let (hook, got) = receiver().await;
    let mqtt_port = free_port();
    let database = dir.path().join("mimamori.db");
    let url = format!("sqlite://{}", database.display());
    up_config(dir.path(), &url, mqtt_port, &hook);
    let mut up = Process::start(dir.path(), "up", &["up"], &[]);
    let store = Store::connect(&url, 2).await.unwrap();
    let creds = buttons(&store, 12).await;
    let broker: SocketAddr = format!("127.0.0.1:{mqtt_port}").parse().unwrap();
    let mut load = Load::connect(creds, &[broker]).await;
    let mut presses = Vec::new();
    for _ in 0..3 {
        presses.push(load.press().await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    up.kill_9();
    let killed = Instant::now();
    // Pressed while no process runs: resent until the new one receipts them.
    presses.push(load.press().await);
    let mut up = Process::start(dir.path(), "up-again", &["up"], &[]);
    let restarted = Instant::now();
    let before_restart = presses.len();
    for _ in 0..8 {
        presses.push(load.press().await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let counts = count(&store, &presses, &got).await;
    let case = "`mimamori up` (embedded broker, SQLite) killed (kill -9) and started again";
    counts.report(case);
    let alerts = emergencies(&store).await;
    let back = last_first_notification(&alerts, &presses[..before_restart], &got)
        .saturating_duration_since(restarted);
    println!(
        "fault: {case}: started again in {:.1} s; delivery back {:.1} s after the restart",
        restarted.duration_since(killed).as_secs_f64(),
        back.as_secs_f64()
    );
    counts.assert(case, RESUME_WITHIN, || up.log_text());
    assert!(
        back < RESUME_WITHIN,
        "delivery back only {back:?}{}",
        up.log_text()
    );
    drop(load);
    let _ = up.child.kill();
    store.close().await;
}

mimamori_testkit::main!();
