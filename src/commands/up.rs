//! `mimamori up` (every component in one process), and `broker` / `gateway` (one component each),
//! until SIGINT or SIGTERM.

use crate::Failure;
use crate::http::{self, AppState};
use crate::startup;
use anyhow::Context;
use mimamori_core::config::{Config, TelegramMode};
use mimamori_gateway::IngestEvent;
use std::io::Write;
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
    let service_password = startup::service_password(&config, all_in_one)?;
    let (store, registry) = super::open(&config).await?;
    let registry = Arc::new(registry);

    let broker = if parts.broker {
        Some(startup::start_broker(&config, &store, &service_password)?)
    } else {
        None
    };
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();

    // The demo's homes and responders exist before the alert service reads its state, so that
    // their alerts are routed to their district from the first press.
    let (demo_homes, demo_token, demo_partner) = if parts.demo {
        let homes = crate::simulation::provision(&store, &registry, 3).await?;
        let token = crate::simulation::demo_responders(&store, &registry, homes.len()).await?;
        let partner = crate::simulation::demo_partner(&store).await?;
        (Some(homes), Some(token), Some(partner))
    } else {
        (None, None, None)
    };
    // Email links: one key for the links the channel writes and the pages that check them.
    let link_signer = if config.notify.email.enabled {
        Some(startup::link_signer(&store).await?)
    } else {
        None
    };
    let ingestor = startup::ingestor(&config, &store);
    let tz = config.timezone().map_err(Failure::Config)?;
    let targets = mimamori_alerts::notify::Targets::from_config(&config.notify, tz);
    let (host, port) = startup::broker_address(&config, broker.as_ref().map(|b| b.addr))?;
    if parts.gateway {
        let settings =
            startup::gateway_settings(&config, host.clone(), port, service_password.clone());
        tasks.spawn(mimamori_gateway::mqtt::run(
            settings,
            ingestor.clone(),
            shutdown.clone(),
        ));
    }
    // The Telegram bot lives with the alert service: it sends alert messages and takes the
    // responders' button presses.
    let telegram = if parts.alerts && config.notify.telegram.enabled {
        Some(startup::telegram(&config, &store, &registry, &targets)?)
    } else {
        None
    };
    if let Some(bot) = &telegram {
        match config.notify.telegram.mode {
            TelegramMode::Polling => {
                tasks.spawn(bot.clone().run_polling(shutdown.clone()));
            }
            TelegramMode::Webhook => {
                let bot = bot.clone();
                let (public_url, secret) = (
                    config.http.public_url.clone(),
                    config
                        .notify
                        .telegram
                        .webhook_secret
                        .expose_secret()
                        .to_string(),
                );
                tasks.spawn(async move {
                    if let Err(e) = bot.set_webhook(&public_url, &secret).await {
                        tracing::error!(error = %e, "Telegram: setting the webhook failed.");
                    }
                });
            }
        }
    }
    let mut rules_waker = None;
    if parts.alerts {
        let service = mimamori_alerts::AlertService::start(
            store.clone(),
            tz,
            mimamori_alerts::EngineSettings::from_config(&config.rules),
            Arc::new(mimamori_core::clock::SystemClock),
        )
        .await?
        .with_delivery(
            mimamori_alerts::route::Routing::from_config(&config.alerts),
            mimamori_alerts::route::Escalation::from_config(&config.alerts),
            targets.clone(),
        );
        let (mut outbox, mqtt) = outbox(
            &config,
            &store,
            &host,
            port,
            &service_password,
            shutdown.clone(),
        )?;
        if let Some(bot) = &telegram {
            outbox = outbox.with_sender(mimamori_core::domain::Channel::Telegram, bot.clone());
        }
        if let Some(signer) = link_signer.clone() {
            let email = startup::email(&config, &store, &registry, &targets, signer)?;
            outbox = outbox.with_sender(mimamori_core::domain::Channel::Email, email);
        }
        let service = service.with_outbox(outbox.handoff());
        tasks.spawn(outbox.run(shutdown.clone()));
        tasks.spawn(mimamori_alerts::notify::reminder::deliver(
            service.reminders(),
            store.clone(),
            mqtt,
            shutdown.clone(),
        ));
        // Stored signals wake the rules at once; without this they are read within a second anyway.
        let waker = service.waker();
        rules_waker = Some(waker.clone());
        let mut stored = ingestor.subscribe();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    e = stored.recv() => match e {
                        Ok(IngestEvent::Stored(_)) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => waker.notify_one(),
                        Ok(_) => {}
                        Err(_) => break,
                    },
                }
            }
        });
        if parts.demo {
            let mail = (config.notify.email.transport
                == mimamori_core::config::EmailTransport::File)
                .then(|| config.notify.email.mail_dir(&config.data_dir));
            tasks.spawn(demo_alerts(store.clone(), mail, shutdown.clone()));
        }
        tasks.spawn(service.run(shutdown.clone()));
    }
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
        let intake = mimamori_gateway::concern::ConcernIntake::new(
            store.clone(),
            registry.clone(),
            Arc::new(mimamori_core::clock::SystemClock),
        );
        let intake = match rules_waker.clone() {
            Some(waker) => intake.notifying(waker),
            None => intake,
        };
        if parts.demo {
            tasks.spawn(demo_concerns(intake.clone(), registry.clone()));
        }
        let state = AppState {
            store: store.clone(),
            registry: registry.clone(),
            gateway_metrics: parts.gateway.then(|| ingestor.metrics().clone()),
            targets: targets.clone(),
            telegram_webhook: telegram
                .clone()
                .filter(|_| config.notify.telegram.mode == TelegramMode::Webhook)
                .map(|bot| {
                    (
                        bot,
                        config
                            .notify
                            .telegram
                            .webhook_secret
                            .expose_secret()
                            .to_string(),
                    )
                }),
            ack_pages: link_signer
                .clone()
                .map(|signer| startup::ack_pages(&config, &store, &registry, &targets, signer)),
            dashboard: startup::dashboard(&config, &store, &registry, &targets),
            partners: mimamori_gateway::partners::PartnerWeb {
                intake: intake.clone(),
                timezone: tz,
            },
            guard: http::AuthGuard::from_config(&config.http),
        };
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = http::serve(listener, state, shutdown.clone()).await {
                tracing::error!(error = %e, "HTTP server failed.");
                shutdown.cancel();
            }
        });
        Some(addr)
    } else {
        None
    };
    if let Some(homes) = demo_homes {
        tasks.spawn(demo_report(ingestor.subscribe(), shutdown.clone()));
        let settings = mimamori_devices::simulate::Settings {
            host: host.clone(),
            port,
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
    tasks.close();

    if let Some(addr) = http_addr {
        println!("mimamori: http listening on http://{addr}");
    }
    if let Some(b) = &broker {
        println!("mimamori: mqtt broker listening on {}", b.addr);
        if let Some(v5) = b.addr_v5 {
            println!("mimamori: mqtt 5 broker listening on {v5}");
        }
    }
    if parts.gateway {
        println!("mimamori: gateway connecting to mqtt://{host}:{port}");
    }
    if parts.alerts {
        println!("mimamori: alert service following signals");
    }
    println!(
        "mimamori: database {}",
        super::redact(&config.database_url())
    );
    if let (Some(addr), Some(token)) = (http_addr, &demo_token) {
        println!(
            "デモ / demo: ダッシュボード / dashboard http://{addr}/login トークン / token {token}"
        );
    }
    if let (Some(addr), Some(code)) = (http_addr, &demo_partner) {
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
    store.close().await;
    // The embedded broker's threads cannot be stopped (rumqttd); they end with the process.
    println!("mimamori: 停止しました / stopped.");
    Ok(())
}

/// Prints what the demo's homes send as it is stored: ids and kinds only, no personal data.
async fn demo_report(
    mut events: tokio::sync::broadcast::Receiver<IngestEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            e = events.recv() => e,
        };
        match event {
            Ok(IngestEvent::Stored(s)) => {
                let source = s.source.key();
                let what = s
                    .body
                    .get("sensor")
                    .or_else(|| s.body.get("type"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("");
                println!(
                    "デモ / demo: {} {} {} {}",
                    s.received_at.format("%H:%M:%S"),
                    s.kind.label_ja(),
                    what,
                    source
                );
            }
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

/// The delivery worker with the channels configured, and the MQTT client it publishes with.
fn outbox(
    config: &Config,
    store: &mimamori_core::storage::Store,
    host: &str,
    port: u16,
    service_password: &str,
    shutdown: CancellationToken,
) -> Result<(mimamori_alerts::notify::Outbox, rumqttc::AsyncClient), Failure> {
    use mimamori_core::domain::Channel;
    let mut outbox = mimamori_alerts::notify::Outbox::new(
        store.clone(),
        Arc::new(mimamori_core::clock::SystemClock),
        format!("outbox-{}", std::process::id()),
    );
    if !config.notify.webhooks.is_empty() {
        let sender = mimamori_alerts::notify::webhook::WebhookSender::new(&config.notify.webhooks)
            .map_err(|e| Failure::Other(e.into()))?;
        outbox = outbox.with_sender(Channel::Webhook, Arc::new(sender));
    }
    // The platform's MQTT connection: alert changes (when enabled) and check-in reminders.
    let client_id = format!("{}-alerts", config.mqtt.client_id);
    let mqtt = Arc::new(mimamori_alerts::notify::mqtt::MqttSender::start(
        host,
        port,
        &client_id,
        &config.mqtt.username,
        service_password,
        shutdown,
    ));
    if config.notify.mqtt_alerts {
        outbox = outbox.with_sender(Channel::Mqtt, mqtt.clone());
    }
    Ok((outbox, mqtt.client()))
}

/// Prints each alert of the demo as it is opened (kind, district, alert id) and each email the
/// file transport writes to `mail` (its file: open it to read the message and its link).
/// The demo partner's reports at start, through the same intake as the form and the API.
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

async fn demo_alerts(
    store: mimamori_core::storage::Store,
    mail: Option<std::path::PathBuf>,
    shutdown: CancellationToken,
) {
    let mut seen = std::collections::HashSet::new();
    let mut mails = std::collections::HashSet::new();
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
                    "デモ / demo: アラート #{} {} ({}地区) {}",
                    a.id,
                    a.kind.label_ja(),
                    a.district.as_ref().map(|d| d.as_str()).unwrap_or("-"),
                    a.subject.public_key()
                );
            }
        }
        let Some(dir) = &mail else { continue };
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut new: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml") && !mails.contains(p))
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
