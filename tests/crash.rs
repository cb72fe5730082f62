//! Crashes under load, end to end: `mimamori up` as a child process, 50 call buttons that resend
//! until their receipt, the process killed with SIGKILL twice while presses are in flight and
//! started again on the same database and ports. Nothing may be lost or doubled: every press
//! stored once, one alert per resident, and an integration following docs/ALERTS.md's loop — its
//! MQTT connection lost at each crash — ends with every alert message once, in order, each
//! signature valid. So does the documented Python consumer reading the stream from the start.

use mimamori_core::domain::{AlertKind, Channel, DeviceKind};
use mimamori_core::storage::{AlertFilter, Store};
use mimamori_devices::{DeviceClient, DeviceConfig};
use mimamori_testapp::follower::{Feed, Follower};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mimamori_testkit::tests! {
    sync killed_twice_under_load_nothing_is_lost_doubled_or_unsigned;
}

const BUTTONS: usize = 50;
const PRESSES: usize = 3;
const SERVICE_PASSWORD: &str = "crash-service-password";

fn mimamori(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mimamori"));
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("MIMAMORI") {
            c.env_remove(k);
        }
    }
    c.env_remove("RUST_LOG");
    c
}

/// A running `mimamori up`, killed if the test fails before it does.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `mimamori up` in `dir` and returns once it serves HTTP and MQTT.
fn up(dir: &Path) -> Running {
    let mut child = Running(
        mimamori(dir)
            .arg("up")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let (mut http, mut mqtt) = (false, false);
    while !(http && mqtt) {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("mimamori up reports its addresses within 30 s");
        http |= line.starts_with("mimamori: http listening on ");
        mqtt |= line.starts_with("mimamori: mqtt broker listening on ");
    }
    child
}

/// SIGKILL: no shutdown, no goodbye, whatever was in memory is gone.
fn kill_9(Running(child): &mut Running) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A port free now, for `mimamori up` to listen on each time it starts (devices reconnect to
/// the same address, as they would to a real server).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn killed_twice_under_load_nothing_is_lost_doubled_or_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    let (http_port, mqtt_port) = (free_port(), free_port());
    std::fs::write(
        dir.path().join("mimamori.toml"),
        format!(
            "[http]\nlisten = \"127.0.0.1:{http_port}\"\n\n[broker]\nlisten = \"127.0.0.1:{mqtt_port}\"\n\n\
             [mqtt]\npassword = \"{SERVICE_PASSWORD}\"\n\n\
             # A crashed process's claimed notifications go out 5 s later, not 2 min.\n\
             [notify]\nmqtt_alerts = true\nlease_seconds = 5\n"
        ),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{http_port}");
    let broker: std::net::SocketAddr = format!("127.0.0.1:{mqtt_port}").parse().unwrap();
    let migrated = mimamori(dir.path()).arg("migrate").output().unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let added = mimamori(dir.path())
        .args([
            "admin",
            "integration",
            "add",
            "--name",
            "市ケース管理",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let integration: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let secret = integration["secret"].as_str().unwrap().to_string();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!(
        "sqlite://{}/mimamori-data/mimamori.db",
        dir.path().display()
    );
    let store = rt.block_on(Store::connect(&url, 2)).unwrap();
    let creds = rt.block_on(async {
        let mut creds = Vec::new();
        for i in 0..BUTTONS {
            creds.push(
                mimamori_testapp::platform::provision(
                    &store,
                    &format!("button-{i:02}"),
                    DeviceKind::CallButton,
                    true,
                    None,
                )
                .await,
            );
        }
        creds
    });

    let mut platform = up(dir.path());
    let shutdown = CancellationToken::new();
    let _stop_devices = shutdown.clone().drop_guard();
    rt.block_on(async {
        let mut follower = Follower::new(&base, &secret, false).await;
        let mut connections = 0;
        let mut subscribe = async |follower: &mut Follower| {
            connections += 1;
            let feed = Feed::subscribe(
                broker,
                &format!("mimamori-test-consumer-{connections}"),
                "mimamori-service",
                SERVICE_PASSWORD,
                "mimamori/v1/alerts/#",
            )
            .await;
            follower.catch_up().await;
            feed
        };
        let mut feed = subscribe(&mut follower).await;

        let buttons: Vec<DeviceClient> = creds
            .iter()
            .map(|c| {
                DeviceClient::start(
                    DeviceConfig {
                        id: c.id.clone(),
                        password: c.password.clone(),
                        brokers: vec![broker.into()],
                        resend_interval: Duration::from_millis(300),
                        tls_ca: None,
                    },
                    shutdown.clone(),
                )
            })
            .collect();
        for b in &buttons {
            assert!(b.wait_connected(Duration::from_secs(30)).await);
        }

        // Three presses of every button; after each of the first two, SIGKILL while a third of
        // the round has its receipt and the rest is in flight, then a restart.
        let mut pressed: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for round in 0..PRESSES {
            let mut seqs = Vec::new();
            for b in &buttons {
                let seq = b
                    .send(mimamori_core::protocol::EventType::Emergency, None, None)
                    .await
                    .unwrap();
                pressed.entry(b.id().to_string()).or_default().push(seq);
                seqs.push(seq);
            }
            if round + 1 < PRESSES {
                for (b, seq) in buttons.iter().zip(&seqs).take(BUTTONS / 3) {
                    assert!(b.wait_receipt(*seq, Duration::from_secs(30)).await);
                }
                kill_9(&mut platform);
                platform = up(dir.path());
                // The documented loop after a lost connection: subscribe again, catch up.
                feed = subscribe(&mut follower).await;
            }
        }
        // Every press is receipted in the end: the buttons stop resending.
        for b in &buttons {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            for seq in b.pending() {
                let left = deadline - tokio::time::Instant::now();
                assert!(b.wait_receipt(seq, left).await, "{} press {seq}", b.id());
            }
        }

        // Follow the stream until every press has reached its alert and every alert message
        // is in the stream and applied.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        loop {
            let alerts = store
                .list_alerts(&AlertFilter {
                    kind: Some(AlertKind::Emergency),
                    limit: 1000,
                    ..Default::default()
                })
                .await
                .unwrap();
            let all_presses_in =
                alerts.iter().map(|a| a.evidence_count).sum::<i64>() == (BUTTONS * PRESSES) as i64;
            let head = store.alert_stream_head().await.unwrap();
            let mut unstreamed = 0;
            for a in &alerts {
                for n in store.list_notifications(a.id).await.unwrap() {
                    if n.channel == Channel::Mqtt
                        && store.alert_stream_entry(n.id).await.unwrap().is_none()
                    {
                        unstreamed += 1;
                    }
                }
            }
            if all_presses_in && unstreamed == 0 && follower.last == head {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not settled: presses in {all_presses_in}, {unstreamed} messages not in the \
                 stream, follower at {} of {head}",
                follower.last
            );
            follower
                .follow_until(&mut feed, follower.last + 1, Duration::from_secs(1))
                .await;
        }

        // 0 lost, 0 doubled: every press stored once, under its button's own seq.
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT source, dedup_key FROM signals WHERE kind = 'emergency' ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), BUTTONS * PRESSES, "each press stored once");
        let stored: BTreeSet<(String, String)> = rows.into_iter().collect();
        let expected: BTreeSet<(String, String)> = pressed
            .iter()
            .flat_map(|(id, seqs)| {
                seqs.iter()
                    .map(move |s| (format!("device:{id}"), format!("seq:{s}")))
            })
            .collect();
        assert_eq!(stored, expected);
        pool.close().await;

        // One alert per resident's emergency, every press joined to it.
        let alerts = store
            .list_alerts(&AlertFilter {
                kind: Some(AlertKind::Emergency),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(alerts.len(), BUTTONS);
        let subjects: BTreeSet<String> = alerts.iter().map(|a| a.subject.key()).collect();
        assert_eq!(subjects.len(), BUTTONS, "one alert per resident");
        assert!(alerts.iter().all(|a| a.evidence_count == PRESSES as i64));

        // The integration: every message once, in order (its signatures checked as it went),
        // exactly one per MQTT notification of these alerts, each alert's first one `created`.
        let head = store.alert_stream_head().await.unwrap();
        let seqs: Vec<i64> = follower.applied.iter().map(|a| a.seq).collect();
        assert_eq!(seqs, (1..=head).collect::<Vec<_>>());
        let mut notifications = BTreeSet::new();
        for a in &alerts {
            for n in store.list_notifications(a.id).await.unwrap() {
                if n.channel == Channel::Mqtt {
                    notifications.insert(n.id);
                }
            }
        }
        let applied: BTreeSet<i64> = follower.applied.iter().map(|a| a.notification).collect();
        assert_eq!(applied, notifications);
        assert_eq!(applied.len(), follower.applied.len(), "none twice");
        for a in &alerts {
            let first = follower
                .applied
                .iter()
                .find(|m| m.alert == a.id.0)
                .expect("every alert reached the integration");
            assert_eq!(first.event, "created", "alert {}", a.id);
        }
        println!(
            "crash: {head} messages; {} live on MQTT, {} from the API ({} gaps), {} repeats dropped",
            follower.via_mqtt, follower.via_api, follower.gaps, follower.duplicates
        );

        // The documented Python consumer, from the start: the same messages, verified.
        let python = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/alert_consumer.py"))
            .arg("--once")
            .env("MIMAMORI_URL", &base)
            .env("MIMAMORI_SECRET", &secret)
            .env("MIMAMORI_STATE", dir.path().join("python-last-seq.txt"))
            .output()
            .expect("python3 runs (with the cryptography package)");
        assert!(
            python.status.success(),
            "{}",
            String::from_utf8_lossy(&python.stderr)
        );
        let printed: Vec<i64> = String::from_utf8(python.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split(' ').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(printed, seqs);
        feed.disconnect().await;
    });
    shutdown.cancel();
    kill_9(&mut platform);
}

mimamori_testkit::main!();
