//! The alert service as one component: [`build`] it from the configuration, then
//! [`Alerts::run`] it on the caller's task tracker. `mimamori up`, `mimamori alerts`, the
//! benchmarks and the tests start it only this way.
//!
//! What it assembles: the rules over the store ([`AlertService`]), routing and escalation from
//! `[alerts]`, the delivery outbox with every channel `[notify]` turns on (MQTT, webhooks,
//! Telegram, email), the check-in reminders to residents' buttons, and — in Telegram's webhook
//! mode — the route Telegram posts to, which the web server serves.

use crate::EngineSettings;
use crate::actions::Actions;
use crate::notify::link::LinkSigner;
use crate::notify::message::Context;
use crate::notify::telegram::Telegram;
use crate::notify::{Outbox, Targets};
use crate::route::{Escalation, Routing};
use crate::service::AlertService;
use mimamori_core::clock::Clock;
use mimamori_core::config::{Config, TelegramMode};
use mimamori_core::domain::Channel;
use mimamori_core::endpoint::MqttEndpoint;
use mimamori_core::registry::Registry;
use mimamori_core::storage::{StorageError, Store};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The alert service could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A setting that cannot work (the key is named).
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The assembled alert service, ready to run.
pub struct Alerts {
    service: AlertService,
    outbox: Outbox,
    /// The platform's MQTT connection (alert messages, check-in reminders); taken when it runs.
    mqtt: Option<crate::notify::mqtt::Connection>,
    /// Whether that connection is up.
    mqtt_connected: tokio::sync::watch::Receiver<bool>,
    reminders_client: rumqttc::AsyncClient,
    store: Store,
    /// The bot, with how Telegram reaches it.
    telegram: Option<(Arc<Telegram>, TelegramMode)>,
    /// `http.public_url` and the webhook's secret, for registering the webhook with Telegram.
    webhook: (String, mimamori_core::secret::Secret),
}

/// Who is told what, as `[notify]` says, in the city's zone.
pub fn targets(config: &Config) -> Result<Targets, String> {
    Ok(Targets::from_config(&config.notify, config.timezone()?))
}

/// What people do to alerts, from any surface: announced on the channels of `config`, routed by
/// its table.
pub fn actions_for(
    config: &Config,
    store: &Store,
    clock: Arc<dyn Clock>,
) -> Result<Actions, String> {
    Ok(Actions::new(
        store.clone(),
        targets(config)?,
        Routing::from_config(&config.alerts),
        clock,
    ))
}

/// What alert messages are rendered with: the dashboard's address, district names, the zone.
pub fn message_context(config: &Config, registry: &Registry) -> Result<Context, String> {
    Ok(Context::new(
        &config.http.public_url,
        registry,
        config.timezone()?,
    ))
}

/// The key of email acknowledgement links (kept in the store), when email is on.
pub async fn link_signer(
    config: &Config,
    store: &Store,
) -> Result<Option<LinkSigner>, StorageError> {
    if !config.notify.email.enabled {
        return Ok(None);
    }
    Ok(Some(
        LinkSigner::from_store(store, chrono::Utc::now()).await?,
    ))
}

/// The alert service of `config`, over `store`, publishing through `endpoint`.
pub async fn build(
    config: &Config,
    store: Store,
    registry: &Registry,
    clock: Arc<dyn Clock>,
    endpoint: &MqttEndpoint,
) -> Result<Alerts, BuildError> {
    let tz = config.timezone().map_err(BuildError::Config)?;
    let targets = targets(config).map_err(BuildError::Config)?;
    let service = AlertService::start(
        store.clone(),
        tz,
        EngineSettings::from_config(&config.rules),
        clock.clone(),
    )
    .await?
    .with_delivery(
        Routing::from_config(&config.alerts),
        Escalation::from_config(&config.alerts),
        targets.clone(),
    )
    .with_leadership(crate::service::Leadership::of_this_process(
        config.alerts.leader_lease(),
    ));
    let mut outbox = Outbox::new(
        store.clone(),
        clock.clone(),
        format!("outbox-{}", std::process::id()),
    );
    outbox.lease = chrono::Duration::seconds(config.notify.lease_seconds as i64);
    if !config.notify.webhooks.is_empty() {
        let sender = crate::notify::webhook::WebhookSender::new(&config.notify.webhooks)
            .map_err(|e| BuildError::Config(format!("notify.webhooks: {e}")))?;
        outbox = outbox.with_sender(Channel::Webhook, Arc::new(sender));
    }
    // Alert changes (when enabled) and check-in reminders go out on the platform's own connection,
    // under a client id of this process's own: several alert services side by side would
    // otherwise take each other's connection over in a loop.
    let client = format!(
        "alerts-{}",
        mimamori_core::secret::generate(8).to_ascii_lowercase()
    );
    let (mqtt, connection) = crate::notify::mqtt::MqttSender::new(&endpoint.for_component(&client));
    let reminders_client = mqtt.client();
    let mqtt_connected = mqtt.connected();
    if config.notify.mqtt_alerts {
        let stream =
            crate::notify::stream::AlertStream::from_store(store.clone(), clock.clone()).await?;
        outbox = outbox.with_sender(Channel::Mqtt, Arc::new(mqtt.alerts(stream)));
    }
    let ctx = message_context(config, registry).map_err(BuildError::Config)?;
    let telegram = if config.notify.telegram.enabled {
        let actions = actions_for(config, &store, clock.clone()).map_err(BuildError::Config)?;
        let bot = Telegram::new(
            &config.notify.telegram,
            store.clone(),
            ctx.clone(),
            actions,
            clock.clone(),
        )
        .map_err(|e| {
            BuildError::Config(format!(
                "notify.telegram.api_url: {e} ({:?})",
                config.notify.telegram.api_url
            ))
        })?;
        let bot = Arc::new(bot);
        outbox = outbox.with_sender(Channel::Telegram, bot.clone());
        Some((bot, config.notify.telegram.mode))
    } else {
        None
    };
    if let Some(signer) = link_signer(config, &store).await? {
        let email = crate::notify::email::EmailSender::new(
            &config.notify.email,
            &config.data_dir,
            store.clone(),
            ctx,
            signer,
            clock,
        )
        .map_err(|e| BuildError::Config(e.to_string()))?;
        outbox = outbox.with_sender(Channel::Email, Arc::new(email));
    }
    let service = service.with_outbox(outbox.handoff());
    Ok(Alerts {
        service,
        outbox,
        mqtt: Some(connection),
        mqtt_connected,
        reminders_client,
        store,
        telegram,
        webhook: (
            config.http.public_url.clone(),
            config.notify.telegram.webhook_secret.clone(),
        ),
    })
}

impl Alerts {
    /// Wakes the rules to read stored signals at once (a gateway in the same process).
    pub fn waker(&self) -> Arc<Notify> {
        self.service.waker()
    }

    /// The route Telegram posts updates to, in webhook mode: for the web server to serve.
    pub fn telegram_webhook(&self) -> Option<axum::Router> {
        match &self.telegram {
            Some((bot, TelegramMode::Webhook)) => Some(
                bot.clone()
                    .webhook_router(self.webhook.1.expose_secret().to_string()),
            ),
            _ => None,
        }
    }

    /// One step of the rules, for tests on an injected clock (what [`Alerts::run`] does in a
    /// loop): the alerts opened or escalated now. Not to be called while the service runs.
    pub async fn tick(&mut self) -> Result<Vec<mimamori_core::domain::Alert>, StorageError> {
        self.service.tick().await
    }

    /// The escalation steps due now, for tests on an injected clock (part of [`Alerts::tick`]):
    /// how many were taken. Not to be called while the service runs.
    pub async fn escalate(&mut self) -> Result<usize, StorageError> {
        self.service.escalate().await
    }

    /// One step of the delivery outbox, for tests (what [`Alerts::run`] does in a loop): sends
    /// the next notification due, if any. Not to be called while the service runs.
    pub async fn send_next(&self) -> Result<Option<crate::notify::Step>, StorageError> {
        self.outbox.step().await
    }

    /// Connects to the broker — the MQTT connection alone, until `shutdown` — for tests that
    /// step the rest ([`Alerts::send_next`]) and publish to a real broker. [`Alerts::run`]
    /// then leaves the connection as it is.
    pub fn connect(&mut self, tasks: &TaskTracker, shutdown: &CancellationToken) {
        if let Some(mqtt) = self.mqtt.take() {
            tasks.spawn(mqtt.run(shutdown.clone()));
        }
    }

    /// Whether the MQTT connection is up now, and every change of it.
    pub fn mqtt_connected(&self) -> tokio::sync::watch::Receiver<bool> {
        self.mqtt_connected.clone()
    }

    /// The Telegram bot, when `[notify.telegram]` is on: tests step it with
    /// [`Telegram::poll_once`] instead of running its polling loop.
    pub fn telegram(&self) -> Option<Arc<Telegram>> {
        self.telegram.as_ref().map(|(bot, _)| bot.clone())
    }

    /// Runs the rules, the outbox, the reminders, the MQTT connection and the Telegram bot until
    /// `shutdown`, every task on `tasks`.
    pub fn run(self, tasks: &TaskTracker, shutdown: &CancellationToken) {
        if let Some((bot, mode)) = self.telegram {
            match mode {
                TelegramMode::Polling => {
                    tasks.spawn(bot.run_polling(shutdown.clone()));
                }
                TelegramMode::Webhook => {
                    let (public_url, secret) = self.webhook;
                    tasks.spawn(async move {
                        if let Err(e) = bot.set_webhook(&public_url, secret.expose_secret()).await {
                            tracing::error!(error = %e, "Telegram: setting the webhook failed.");
                        }
                    });
                }
            }
        }
        if let Some(mqtt) = self.mqtt {
            tasks.spawn(mqtt.run(shutdown.clone()));
        }
        tasks.spawn(crate::notify::reminder::deliver(
            self.service.reminders(),
            self.store,
            self.reminders_client,
            shutdown.clone(),
        ));
        tasks.spawn(self.outbox.run(shutdown.clone()));
        tasks.spawn(self.service.run(shutdown.clone()));
    }
}
