//! Benchmark of the rules engine: `cargo run --release -p mimamori-alerts --bin rules-bench`.
//!
//! For 10,000 / 100,000 / 1,000,000 residents, each with an inactivity and a daily-window policy
//! and a motion sensor, it prints: time to rebuild the state, memory per resident, cost per applied
//! activity signal, and the delay from a deadline to the alert decision — each beside a baseline
//! measured in the same run (a bare hash-map update per signal; one tokio timer per deadline, the
//! way a per-device watchdog timer works).
//!
//! Options: `--sizes 10000,100000,1000000`, `--signals 200000`, `--timed 10000`.

use chrono::{DateTime, Duration, Utc};
use mimamori_alerts::rules::{
    Decision, DeviceProfile, Engine, EngineSettings, History, Profile, hm,
};
use mimamori_core::domain::*;
use rand::Rng;
use std::collections::HashMap;
use std::time::Instant;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rid(i: usize) -> ResidentId {
    ResidentId::parse(format!("r-{i:07}")).expect("valid id")
}

fn did(i: usize) -> DeviceId {
    DeviceId::parse(format!("m-{i:07}")).expect("valid id")
}

fn inputs(n: usize, now: DateTime<Utc>) -> (Vec<Profile>, Vec<DeviceProfile>, History) {
    let mut rng = rand::rng();
    let districts: Vec<DistrictId> = [
        "katase",
        "kugenuma",
        "tsujido",
        "muraoka",
        "fujisawa",
        "meiji",
        "zengyo",
        "shonan_oba",
        "mutsuai",
        "shonandai",
        "endo",
        "chogo",
        "goshomi",
    ]
    .iter()
    .map(|d| DistrictId::parse(*d).expect("valid"))
    .collect();
    let mut profiles = Vec::with_capacity(n);
    let mut devices = Vec::with_capacity(n);
    let mut history = History::default();
    for i in 0..n {
        profiles.push(Profile {
            resident: rid(i),
            district: districts[i % districts.len()].clone(),
            registered_at: now,
            policies: vec![
                CheckinPolicy::Inactivity {
                    max_silence_minutes: 12 * 60,
                    active_from: hm(7, 0),
                    active_to: hm(22, 0),
                },
                CheckinPolicy::DailyWindow {
                    from: hm(6, 0),
                    to: hm(10, 0),
                },
            ],
        });
        devices.push(DeviceProfile {
            id: did(i),
            resident: Some(rid(i)),
            kind: DeviceKind::Motion,
            heartbeat_interval: Duration::hours(1),
            registered_at: now,
        });
        history
            .last_activity
            .insert(rid(i), now - Duration::minutes(rng.random_range(0..360)));
        history.device_last_seen.insert(did(i), now);
    }
    (profiles, devices, history)
}

fn activity(resident: ResidentId, device: DeviceId, at: DateTime<Utc>, id: i64) -> Signal {
    Signal {
        id: SignalId(id),
        source: SignalSource::Device(device),
        dedup_key: None,
        subject: Some(Subject::Resident(resident)),
        kind: SignalKind::Activity,
        body: serde_json::Value::Null,
        device_time: None,
        received_at: at,
        clock_skewed: false,
    }
}

struct Row {
    n: usize,
    rebuild_ms: f64,
    bytes_per_resident: f64,
    ns_per_signal: f64,
    baseline_ns_per_signal: f64,
    delay_p50_ms: f64,
    delay_p99_ms: f64,
    timer_p50_ms: f64,
    timer_p99_ms: f64,
}

fn measure(n: usize, signals: usize, timed: usize) -> Row {
    let tz = chrono_tz::Asia::Tokyo;
    let now = Utc::now();
    let rss0 = rss_bytes();
    let (profiles, devices, history) = inputs(n, now);
    let t = Instant::now();
    let mut engine = Engine::new(
        tz,
        EngineSettings::default(),
        profiles,
        devices,
        history,
        now,
    );
    let rebuild_ms = t.elapsed().as_secs_f64() * 1e3;
    let bytes_per_resident = rss_bytes().saturating_sub(rss0) as f64 / n as f64;

    // Cost per signal: activity of random residents, time moving forward.
    let mut rng = rand::rng();
    let batch: Vec<Signal> = (0..signals)
        .map(|i| {
            let r = rng.random_range(0..n);
            activity(
                rid(r),
                did(r),
                now + Duration::milliseconds(i as i64),
                i as i64,
            )
        })
        .collect();
    let t = Instant::now();
    let mut decided = 0;
    for s in &batch {
        decided += engine.apply(s, s.received_at).len();
    }
    let ns_per_signal = t.elapsed().as_nanos() as f64 / signals as f64;
    assert_eq!(decided, 0, "activity decides nothing by itself");
    // Baseline: the least a watcher must do per signal — remember the last activity.
    let mut last: HashMap<ResidentId, DateTime<Utc>> = HashMap::with_capacity(n);
    let t = Instant::now();
    for s in &batch {
        if let Some(Subject::Resident(r)) = &s.subject {
            last.insert(r.clone(), s.received_at);
        }
    }
    let baseline_ns_per_signal = t.elapsed().as_nanos() as f64 / signals as f64;
    drop(last);
    drop(batch);

    // Deadline → decision, in real time: `timed` extra residents fall silent so that their
    // deadlines spread over the next two seconds, among the n others.
    let start = Utc::now();
    let spread_ms = 2000;
    let mut deadlines = Vec::with_capacity(timed);
    for i in 0..timed {
        let id = n + i;
        engine.update_resident(
            Profile {
                resident: rid(id),
                district: DistrictId::parse("kugenuma").expect("valid"),
                registered_at: start - Duration::hours(1),
                policies: vec![CheckinPolicy::Inactivity {
                    max_silence_minutes: 1,
                    active_from: hm(0, 0),
                    active_to: hm(0, 0),
                }],
            },
            Vec::new(),
            start,
        );
        engine.update_device(
            DeviceProfile {
                id: did(id),
                resident: Some(rid(id)),
                kind: DeviceKind::Motion,
                heartbeat_interval: Duration::hours(1),
                registered_at: start,
            },
            start,
        );
        let deadline = start + Duration::milliseconds(200 + rng.random_range(0..spread_ms));
        engine.apply(
            &activity(rid(id), did(id), deadline - Duration::minutes(1), id as i64),
            start,
        );
        deadlines.push(deadline);
    }
    let mut delays = Vec::with_capacity(timed);
    let give_up = Instant::now() + std::time::Duration::from_secs(30);
    while delays.len() < timed && Instant::now() < give_up {
        let Some(next) = engine.next_deadline() else {
            break;
        };
        if let Ok(wait) = (next - Utc::now()).to_std() {
            std::thread::sleep(wait);
        }
        let now = Utc::now();
        for d in engine.due(now) {
            if let Decision::Alert(a) = d
                && let Some(deadline) = a
                    .detail
                    .get("deadline")
                    .and_then(|d| d.as_str())
                    .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
            {
                delays.push(
                    (Utc::now() - deadline.with_timezone(&Utc))
                        .num_microseconds()
                        .unwrap_or(0) as f64
                        / 1e3,
                );
            }
        }
    }
    delays.sort_by(f64::total_cmp);

    // Baseline: one tokio timer per deadline, on a runtime of its own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let mut timer_delays: Vec<f64> = runtime.block_on(async {
        let start = Utc::now();
        let mut tasks = Vec::with_capacity(timed);
        for _ in 0..timed {
            let deadline =
                start + Duration::milliseconds(200 + rand::rng().random_range(0..spread_ms));
            tasks.push(tokio::spawn(async move {
                let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                (Utc::now() - deadline).num_microseconds().unwrap_or(0) as f64 / 1e3
            }));
        }
        let mut out = Vec::with_capacity(timed);
        for t in tasks {
            out.push(t.await.unwrap_or(f64::NAN));
        }
        out
    });
    timer_delays.sort_by(f64::total_cmp);
    drop(engine);

    Row {
        n,
        rebuild_ms,
        bytes_per_resident,
        ns_per_signal,
        baseline_ns_per_signal,
        delay_p50_ms: percentile(&delays, 0.5),
        delay_p99_ms: percentile(&delays, 0.99),
        timer_p50_ms: percentile(&timer_delays, 0.5),
        timer_p99_ms: percentile(&timer_delays, 0.99),
    }
}

fn main() {
    let sizes: Vec<usize> = arg("--sizes", "10000,100000,1000000")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let signals: usize = arg("--signals", "200000").parse().unwrap_or(200_000);
    let timed: usize = arg("--timed", "10000").parse().unwrap_or(10_000);
    println!(
        "rules engine benchmark: {signals} activity signals per size, {timed} timed deadlines over 2 s"
    );
    println!(
        "{:>9} | {:>10} | {:>9} | {:>12} | {:>14} | {:>10} | {:>10} | {:>11} | {:>11}",
        "residents",
        "rebuild ms",
        "B/resident",
        "ns/signal",
        "baseline ns/sig",
        "delay p50",
        "delay p99",
        "timer p50",
        "timer p99"
    );
    let mut rows = Vec::new();
    for n in sizes {
        let r = measure(n, signals, timed);
        println!(
            "{:>9} | {:>10.0} | {:>9.0} | {:>12.0} | {:>14.0} | {:>8.3}ms | {:>8.3}ms | {:>9.3}ms | {:>9.3}ms",
            r.n,
            r.rebuild_ms,
            r.bytes_per_resident,
            r.ns_per_signal,
            r.baseline_ns_per_signal,
            r.delay_p50_ms,
            r.delay_p99_ms,
            r.timer_p50_ms,
            r.timer_p99_ms
        );
        rows.push(r);
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last())
        && rows.len() > 1
    {
        println!(
            "cost per signal, {} → {} residents: {:+.0} %",
            first.n,
            last.n,
            (last.ns_per_signal / first.ns_per_signal - 1.0) * 100.0
        );
    }
}
