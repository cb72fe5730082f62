//! `mimamori up` (every component in one process), and `broker` / `gateway` (one component each),
//! until SIGINT or SIGTERM.

use crate::Failure;
use anyhow::Context;
use mimamori_core::clock::{Clock, SystemClock};
use mimamori_core::config::Config;
use mimamori_core::endpoint::MqttEndpoint;
use mimamori_gateway::IngestEvent;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown may take before the process stops anyway.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// Which components this process runs.
#[derive(Debug, Clone, Copy)]
pub struct Components {
    broker: bool,
    gateway: bool,
    alerts: bool,
    http: bool,
    demo: bool,
}

impl Components {
    pub fn all(demo: bool) -> Self {
        Self {
            broker: true,
            gateway: true,
            alerts: true,
            http: true,
            demo,
        }
    }
    pub fn broker_only() -> Self {
        Self {
            broker: true,
            gateway: false,
            alerts: false,
            http: false,
            demo: false,
        }
    }
    pub fn gateway_only() -> Self {
        Self {
            broker: false,
            gateway: true,
            alerts: false,
            http: true,
            demo: false,
        }
    }
    pub fn alerts_only() -> Self {
        Self {
            broker: false,
            gateway: false,
            alerts: true,
            http: false,
            demo: false,
        }
    }
}

pub async fn run(mut config: Config, mut parts: Components) -> Result<(), Failure> {
    crate::telemetry::init(&config.log);
    if parts.demo && !config.notify.email.enabled {
        // The demo's emails go to files (data_dir/mail), so that nothing leaves the machine.
        config.notify.email.enabled = true;
        config.notify.email.transport = mimamori_core::config::EmailTransport::File;
    }
    parts.broker &= config.broker.enabled;
    let all_in_one = parts.broker && parts.gateway;
    // Every component logs in to the broker (the alert service publishes alerts and reminders).
    let service_password =
        MqttEndpoint::service_password(&config, all_in_one).map_err(Failure::Config)?;
    let (store, registry) = super::open(&config).await?;
    let registry = Arc::new(registry);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    let broker = if parts.broker {
        Some(
            mimamori_broker::start_embedded(&config, &store, &service_password)
                .await
                .map_err(|e| Failure::Other(e.into()))?,
        )
    } else {
        None
    };
    let endpoint = MqttEndpoint::resolve(
        &config,
        broker.as_ref().map(|b| b.addr),
        service_password.clone(),
    )
    .map_err(Failure::Config)?;
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();

    // The demo's homes and responders exist before the alert service reads its state, so that
    // their alerts are routed to their district from the first press.
    let (demo_homes, demo_token, demo_partner) = if parts.demo {
        let homes =
            crate::simulation::provision(&store, &registry, crate::simulation::Fleet::DEMO, 3)
                .await?;
        let token = crate::simulation::demo_responders(&store, &registry, homes.len()).await?;
        let partner = crate::simulation::demo_partner(&store).await?;
        (Some(homes), Some(token), Some(partner))
    } else {
        (None, None, None)
    };
    let mut gateway = parts.gateway.then(|| {
        mimamori_gateway::build(
            &config,
            store.clone(),
            registry.clone(),
            clock.clone(),
            &endpoint,
        )
    });
    if let (Some(gateway), Some(broker)) = (&mut gateway, &broker)
        && config.mqtt.url.is_empty()
    {
        // The broker is in this process: the gateway takes its messages without a socket.
        gateway.in_process(broker.local());
    }
    let alerts = if parts.alerts {
        let alerts =
            mimamori_alerts::build(&config, store.clone(), &registry, clock.clone(), &endpoint)
                .await
                .map_err(|e| match e {
                    mimamori_alerts::BuildError::Config(m) => Failure::Config(m),
                    e => Failure::Other(e.into()),
                })?;
        if let Some(gateway) = &mut gateway {
            // Stored signals wake the rules at once; without this they are read within a second.
            gateway.wake_on_store(alerts.waker());
        }
        if parts.demo {
            let mail = (config.notify.email.transport
                == mimamori_core::config::EmailTransport::File)
                .then(|| config.notify.email.mail_dir(&config.data_dir));
            // What an earlier run printed is not printed again as new.
            let printed = DemoPrinted::before_start(&store, mail.as_deref()).await;
            tasks.spawn(demo_alerts(
                store.clone(),
                registry.clone(),
                mail,
                printed,
                shutdown.clone(),
            ));
        }
        Some(alerts)
    } else {
        None
    };
    let http_addr = if parts.http {
        let listener = TcpListener::bind(config.http.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (http.listen / MIMAMORI__HTTP__LISTEN)",
                    config.http.listen
                )
            })?;
        let addr = listener.local_addr().context("listener address")?;
        let web = mimamori_web::build(
            &config,
            store.clone(),
            registry.clone(),
            clock.clone(),
            mimamori_web::Parts {
                metrics: component_metrics(broker.as_ref(), gateway.as_ref()),
                telegram_webhook: alerts.as_ref().and_then(|a| a.telegram_webhook()),
                rules_waker: alerts.as_ref().map(|a| a.waker()),
                demo_token: demo_token.clone(),
            },
        )
        .await
        .map_err(|e| match e {
            mimamori_web::BuildError::Config(m) => Failure::Config(m),
            e => Failure::Other(e.into()),
        })?;
        if let Some((_, true)) = demo_partner {
            tasks.spawn(demo_concerns(web.intake(), registry.clone()));
        }
        if let Some(metrics) = config.http.metrics_listen {
            let listener = TcpListener::bind(metrics).await.with_context(|| {
                format!("cannot listen on {metrics} (http.metrics_listen / MIMAMORI__HTTP__METRICS_LISTEN)")
            })?;
            println!(
                "mimamori: metrics listening on http://{}/metrics",
                listener.local_addr().context("listener address")?
            );
            let (web, shutdown) = (web.clone(), shutdown.clone());
            tasks.spawn(async move {
                if let Err(e) = web.serve_metrics(listener, shutdown.clone()).await {
                    tracing::error!(error = %e, "Metrics server failed.");
                    shutdown.cancel();
                }
            });
        }
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = web.serve(listener, shutdown.clone()).await {
                tracing::error!(error = %e, "HTTP server failed.");
                shutdown.cancel();
            }
        });
        Some(addr)
    } else {
        None
    };
    let sign_in = match (http_addr, &demo_token) {
        (Some(addr), Some(token)) => Some(format!(
            "デモ / demo: ダッシュボード / dashboard http://{addr}/login トークン / token {token}"
        )),
        _ => None,
    };
    if let Some(homes) = demo_homes {
        if let Some(gateway) = &gateway {
            tasks.spawn(demo_report(
                gateway.events(),
                sign_in.clone(),
                shutdown.clone(),
            ));
        }
        let settings = mimamori_devices::simulate::Settings {
            brokers: endpoint.brokers.clone(),
            speed: 600.0,
            timezone: config.timezone().map_err(Failure::Config)?,
            routine: mimamori_devices::routine::Routine {
                emergency_per_day: 0.5,
                quiet_day_per_day: 0.1,
            },
            heartbeat: chrono::Duration::minutes(30),
            opening_emergency: true,
        };
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            mimamori_devices::simulate::run(homes, settings, shutdown).await;
        });
    }
    if let Some(alerts) = alerts {
        alerts.run(&tasks, &shutdown);
    }
    if let Some(gateway) = gateway {
        gateway.run(&tasks, &shutdown);
    }
    tasks.close();

    if let Some(addr) = http_addr {
        println!("mimamori: http listening on http://{addr}");
    }
    if let Some(b) = &broker {
        println!("mimamori: mqtt broker listening on {}", b.addr);
    }
    if parts.gateway {
        println!(
            "mimamori: gateway connecting to mqtt://{}",
            endpoint.brokers_text()
        );
    }
    if parts.alerts {
        println!("mimamori: alert service following signals");
    }
    println!(
        "mimamori: database {}",
        super::redact(&config.database_url())
    );
    if let Some(line) = &sign_in {
        println!("{line}");
    }
    if let (Some(addr), Some(_)) = (http_addr, &demo_token) {
        // The status page's one-click sign-in answers a browser on this machine only, at a name
        // of this machine: `localhost` when the server listens on every address.
        let status = match addr.ip() {
            ip if ip.is_loopback() => Some(format!("http://{addr}/")),
            ip if ip.is_unspecified() => Some(format!("http://localhost:{}/", addr.port())),
            _ => None,
        };
        if let Some(status) = status {
            println!(
                "デモ / demo: このパソコンのブラウザなら {status} の「デモにサインイン」でも / or, on this machine, the 「デモにサインイン」 button at {status}"
            );
        }
    }
    if let (Some(addr), Some((code, _))) = (http_addr, &demo_partner) {
        println!(
            "デモ / demo: 協力事業者の連絡フォーム / partner form http://{addr}/report コード / code {code}"
        );
    }
    println!("mimamori: 起動しました / running. Ctrl+C で停止 / Ctrl+C to stop.");
    let _ = std::io::stdout().flush();
    tracing::info!("mimamori is up.");

    tokio::select! {
        signal = shutdown_signal() => {
            let signal = signal.context("cannot listen for shutdown signals")?;
            tracing::info!(signal, "Shutting down.");
        }
        () = shutdown.cancelled() => tracing::warn!("A component stopped; shutting down."),
    }
    shutdown.cancel();
    if tokio::time::timeout(SHUTDOWN_DEADLINE, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            deadline_s = SHUTDOWN_DEADLINE.as_secs(),
            "Shutdown deadline passed; stopping anyway."
        );
    }
    if let Some(broker) = broker {
        // The security events of the last minute are reported; rumqttd's own threads cannot be
        // stopped and end with the process.
        broker.stop().await;
    }
    store.close().await;
    println!("mimamori: 停止しました / stopped.");
    Ok(())
}

/// How often the demo's console sums up the signals stored since the last summary: a line per
/// signal (mostly heartbeats) scrolled the sign-in token away within a minute.
const DEMO_SUMMARY_EVERY: Duration = Duration::from_secs(10);
/// Every this many summaries the sign-in line is printed again, so that it stays findable.
const DEMO_SIGN_IN_EVERY: u32 = 3;

/// Prints one line every [`DEMO_SUMMARY_EVERY`] with the signals the demo's homes sent since the
/// last one, by kind (counts only, no personal data), and every [`DEMO_SIGN_IN_EVERY`] lines the
/// sign-in line again.
async fn demo_report(
    mut events: tokio::sync::broadcast::Receiver<IngestEvent>,
    sign_in: Option<String>,
    shutdown: CancellationToken,
) {
    let mut counts = std::collections::BTreeMap::<&'static str, u64>::new();
    let mut total = 0u64;
    let mut summaries = 0u32;
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + DEMO_SUMMARY_EVERY,
        DEMO_SUMMARY_EVERY,
    );
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let since: u64 = counts.values().sum();
                total += since;
                let kinds: Vec<String> =
                    counts.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
                println!(
                    "デモ / demo: 集計 / summary {} 信号 / signals {since}（{}）合計 / total {total}",
                    chrono::Local::now().format("%H:%M:%S"),
                    if kinds.is_empty() { "-".to_string() } else { kinds.join("・") },
                );
                counts.clear();
                summaries += 1;
                if summaries.is_multiple_of(DEMO_SIGN_IN_EVERY)
                    && let Some(line) = &sign_in
                {
                    println!("{line}");
                }
                let _ = std::io::stdout().flush();
                continue;
            }
            e = events.recv() => e,
        };
        match event {
            Ok(IngestEvent::Stored(s)) => *counts.entry(s.kind.label_ja()).or_default() += 1,
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

/// The demo partner's reports at its first start, through the same intake as the form and the API.
async fn demo_concerns(
    intake: mimamori_gateway::concern::ConcernIntake,
    registry: Arc<mimamori_core::registry::Registry>,
) {
    let partner = mimamori_core::domain::PartnerId::parse("pt-demo").expect("a partner id");
    for report in crate::simulation::demo_concerns(&registry) {
        if let Err(e) = intake
            .receive(&partner, &report, mimamori_gateway::concern::Via::Demo)
            .await
        {
            tracing::warn!(error = %e, "Demo: a partner's report was not taken.");
        }
    }
}

/// The alerts (with their evidence count) and mails the demo's console has shown.
struct DemoPrinted {
    alerts: std::collections::HashSet<(mimamori_core::domain::AlertId, i64)>,
    mails: std::collections::HashSet<std::path::PathBuf>,
}

impl DemoPrinted {
    /// What is already in the store and the mail folder when the demo starts: an earlier run's,
    /// not news to this one.
    async fn before_start(store: &mimamori_core::storage::Store, mail: Option<&Path>) -> Self {
        let alerts = store
            .list_alerts(&mimamori_core::storage::AlertFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.id, a.evidence_count))
            .collect();
        Self {
            alerts,
            mails: mail.map(mail_files).unwrap_or_default(),
        }
    }
}

/// The `.eml` files in `dir`.
fn mail_files(dir: &Path) -> std::collections::HashSet<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect()
        })
        .unwrap_or_default()
}

/// Prints each alert of the demo as it is opened (kind, district, alert id) and each email the
/// file transport writes to `mail` (its file: open it to read the message and its link).
/// What `printed` holds (an earlier run's) is not printed again.
async fn demo_alerts(
    store: mimamori_core::storage::Store,
    registry: Arc<mimamori_core::registry::Registry>,
    mail: Option<std::path::PathBuf>,
    printed: DemoPrinted,
    shutdown: CancellationToken,
) {
    let DemoPrinted {
        alerts: mut seen,
        mut mails,
    } = printed;
    // Districts by their Japanese names (鵠沼地区), from the registry, not their ids.
    let districts: std::collections::HashMap<_, _> = registry
        .districts
        .iter()
        .map(|d| (d.id.clone(), d.name.clone()))
        .collect();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Ok(alerts) = store
            .list_alerts(&mimamori_core::storage::AlertFilter {
                limit: 50,
                ..Default::default()
            })
            .await
        else {
            continue;
        };
        for a in alerts.into_iter().rev() {
            if seen.insert((a.id, a.evidence_count)) {
                println!(
                    "デモ / demo: アラート #{} {} ({}) {}",
                    a.id,
                    a.kind.label_ja(),
                    match &a.district {
                        Some(d) => format!(
                            "{}地区",
                            districts.get(d).map(String::as_str).unwrap_or(d.as_str())
                        ),
                        None => "地区不明・市の振り分け待ち".into(),
                    },
                    a.subject.public_key()
                );
            }
        }
        let Some(dir) = &mail else { continue };
        let mut new: Vec<_> = mail_files(dir)
            .into_iter()
            .filter(|p| !mails.contains(p))
            .collect();
        new.sort();
        for path in new {
            println!("デモ / demo: メール / email {}", path.display());
            mails.insert(path);
        }
    }
}

/// Waits for SIGINT (Ctrl+C) or SIGTERM; returns which.
async fn shutdown_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl+C")
    }
}

/// The counters of the components running in this process, for `/metrics`.
fn component_metrics(
    broker: Option<&mimamori_broker::EmbeddedBroker>,
    gateway: Option<&mimamori_gateway::Gateway>,
) -> Vec<Arc<dyn mimamori_core::metrics::Exposition>> {
    let mut metrics: Vec<Arc<dyn mimamori_core::metrics::Exposition>> = Vec::new();
    if let Some(b) = broker {
        metrics.push(b.metrics());
    }
    if let Some(g) = gateway {
        metrics.push(g.metrics());
    }
    metrics
}
