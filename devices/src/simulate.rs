//! Many devices living through simulated days, faster than real time.

use crate::client::{DeviceClient, DeviceConfig};
use crate::routine::Routine;
use chrono::{DateTime, Duration as ChronoDuration, NaiveTime, Utc};
use chrono_tz::Tz;
use mimamori_core::domain::{DeviceId, DeviceKind};
use mimamori_core::protocol::EventType;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One simulated home: its devices' credentials.
#[derive(Debug, Clone)]
pub struct Household {
    pub devices: Vec<(DeviceKind, DeviceId, String)>,
}

/// How the simulation runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The broker's nodes (`mqtt.url`, one or several).
    pub brokers: Vec<mimamori_core::endpoint::BrokerAddress>,
    /// Simulated seconds per real second (60: an hour a minute).
    pub speed: f64,
    pub timezone: Tz,
    pub routine: Routine,
    /// Simulated time between heartbeats of each device.
    pub heartbeat: ChronoDuration,
    /// The first home presses its call button a few seconds after start (for demos).
    pub opening_emergency: bool,
}

/// Totals, for the report.
#[derive(Debug, Default)]
pub struct Totals {
    pub events: AtomicU64,
    pub emergencies: AtomicU64,
}

/// Runs every household until `shutdown`.
pub async fn run(
    households: Vec<Household>,
    settings: Settings,
    shutdown: CancellationToken,
) -> Arc<Totals> {
    let totals = Arc::new(Totals::default());
    let start = Utc::now();
    let mut tasks = Vec::new();
    for (n, household) in households.into_iter().enumerate() {
        let mut settings = settings.clone();
        settings.opening_emergency &= n == 0;
        let totals = totals.clone();
        let shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            live(household, settings, start, totals, shutdown).await
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    totals
}

/// The simulated time at a real instant.
fn sim_now(start: DateTime<Utc>, speed: f64) -> DateTime<Utc> {
    let real = Utc::now() - start;
    start + ChronoDuration::milliseconds((real.num_milliseconds() as f64 * speed) as i64)
}

async fn live(
    household: Household,
    settings: Settings,
    start: DateTime<Utc>,
    totals: Arc<Totals>,
    shutdown: CancellationToken,
) {
    let mut devices: HashMap<DeviceKind, DeviceClient> = HashMap::new();
    for (kind, id, password) in household.devices {
        let config = DeviceConfig {
            id,
            password,
            brokers: settings.brokers.clone(),
            resend_interval: Duration::from_secs(5),
            tls_ca: None,
        };
        devices.insert(kind, DeviceClient::start(config, shutdown.clone()));
    }
    let mut next_heartbeat = sim_now(start, settings.speed);
    if settings.opening_emergency
        && let Some(button) = devices.get(&DeviceKind::CallButton)
        && button.wait_connected(Duration::from_secs(30)).await
    {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(3)) => {}
        }
        if button.send(EventType::Emergency, None, None).await.is_ok() {
            totals.emergencies.fetch_add(1, Ordering::Relaxed);
        }
    }
    loop {
        let now = sim_now(start, settings.speed);
        let local = now.with_timezone(&settings.timezone);
        let today = settings.routine.day(&mut rand::rng());
        let day_start = local.date_naive().and_time(NaiveTime::MIN);
        for step in today {
            let Some(when) = day_start
                .and_local_timezone(settings.timezone)
                .single()
                .map(|d| d + (step.at - NaiveTime::MIN))
            else {
                continue;
            };
            let when = when.with_timezone(&Utc);
            if when < now {
                continue;
            }
            loop {
                let now = sim_now(start, settings.speed);
                let target = when.min(next_heartbeat);
                if target > now {
                    let wait = (target - now).num_milliseconds() as f64 / settings.speed;
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(wait.max(1.0) as u64)) => {}
                    }
                    continue;
                }
                if next_heartbeat <= now {
                    for d in devices.values() {
                        let _ = d.send(EventType::Heartbeat, None, Some(90)).await;
                    }
                    next_heartbeat = now + settings.heartbeat;
                    continue;
                }
                break;
            }
            if let Some(d) = devices.get(&step.device)
                && d.send(step.kind, step.sensor, None).await.is_ok()
            {
                totals.events.fetch_add(1, Ordering::Relaxed);
                if step.kind == EventType::Emergency {
                    totals.emergencies.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        // Sleep through to the next local midnight.
        let now = sim_now(start, settings.speed);
        let tomorrow = (now.with_timezone(&settings.timezone).date_naive()
            + ChronoDuration::days(1))
        .and_time(NaiveTime::MIN);
        let Some(next) = tomorrow.and_local_timezone(settings.timezone).single() else {
            return;
        };
        let wait =
            (next.with_timezone(&Utc) - now).num_milliseconds().max(0) as f64 / settings.speed;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
        }
    }
}
