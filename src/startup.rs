//! Building the components from configuration, shared by `up`, `broker`, `gateway` and `simulate`.

use crate::Failure;
use mimamori_core::clock::SystemClock;
use mimamori_core::config::{Config, mqtt_host_port};
use mimamori_core::secret::PasswordHasherConfig;
use mimamori_core::storage::Store;
use mimamori_gateway::Ingestor;
use mimamori_gateway::ingest::IngestSettings;
use mimamori_gateway::mqtt::MqttSettings;
use std::net::SocketAddr;
use std::sync::Arc;

/// Starts the embedded broker with device authentication against `store`.
pub fn start_broker(
    config: &Config,
    store: &Store,
    service_password: &str,
) -> Result<mimamori_broker::EmbeddedBroker, Failure> {
    let auth = mimamori_broker::Authenticator::spawn(
        store.clone(),
        config.mqtt.username.clone(),
        service_password.to_string(),
        PasswordHasherConfig::default(),
    );
    let settings = mimamori_broker::BrokerSettings {
        listen: config.broker.listen,
        listen_v5: config.broker.listen_v5,
        tls: match (
            config.broker.tls_listen,
            &config.broker.tls_cert,
            &config.broker.tls_key,
        ) {
            (Some(a), Some(c), Some(k)) => Some((a, c.clone(), k.clone())),
            _ => None,
        },
        max_connections: config.broker.max_connections,
        service_username: config.mqtt.username.clone(),
        service_password: service_password.to_string(),
        max_payload_bytes: 4 * config.gateway.max_payload_bytes,
    };
    mimamori_broker::start(settings, auth).map_err(|e| Failure::Other(e.into()))
}

/// The service account's password: configured, or (all in one with the embedded broker) random.
pub fn service_password(config: &Config, all_in_one: bool) -> Result<String, Failure> {
    if !config.mqtt.password.is_empty() {
        Ok(config.mqtt.password.expose_secret().to_string())
    } else if all_in_one {
        Ok(mimamori_core::secret::generate(32))
    } else {
        Err(Failure::Config(
            "mqtt.password: must be set when broker and gateway run as separate processes (MIMAMORI__MQTT__PASSWORD)".into(),
        ))
    }
}

/// Where platform components reach the broker: `mqtt.url`, or the embedded broker's address.
pub fn broker_address(
    config: &Config,
    embedded: Option<SocketAddr>,
) -> Result<(String, u16), Failure> {
    if !config.mqtt.url.is_empty() {
        return mqtt_host_port(&config.mqtt.url)
            .map_err(|m| Failure::Config(format!("mqtt.url: {m}")));
    }
    let addr = embedded.unwrap_or(config.broker.listen);
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    Ok((host, addr.port()))
}

pub fn gateway_settings(
    config: &Config,
    host: String,
    port: u16,
    password: String,
) -> MqttSettings {
    MqttSettings {
        host,
        port,
        client_id: config.mqtt.client_id.clone(),
        username: config.mqtt.username.clone(),
        password,
        shared_group: config.mqtt.shared_group.clone(),
    }
}

pub fn ingestor(config: &Config, store: &Store) -> Arc<Ingestor> {
    Arc::new(Ingestor::new(
        store.clone(),
        Arc::new(SystemClock),
        IngestSettings {
            message_auth: config.gateway.message_auth,
            max_payload_bytes: config.gateway.max_payload_bytes,
            max_clock_skew: chrono::Duration::seconds(config.gateway.max_clock_skew_seconds),
            zigbee2mqtt_prefix: config.gateway.zigbee2mqtt_topic.clone(),
        },
        Arc::new(mimamori_gateway::Metrics::default()),
    ))
}

/// What alert messages are rendered with: the dashboard's address, district names, the city's zone.
pub fn message_context(
    config: &Config,
    registry: &mimamori_core::registry::Registry,
    targets: &mimamori_alerts::notify::Targets,
) -> mimamori_alerts::notify::message::Context {
    mimamori_alerts::notify::message::Context::new(
        &config.http.public_url,
        registry,
        targets.timezone,
    )
}

/// The Telegram bot of `[notify.telegram]`.
pub fn telegram(
    config: &Config,
    store: &Store,
    registry: &mimamori_core::registry::Registry,
    targets: &mimamori_alerts::notify::Targets,
) -> Result<Arc<mimamori_alerts::notify::telegram::Telegram>, Failure> {
    let bot = mimamori_alerts::notify::telegram::Telegram::new(
        &config.notify.telegram,
        store.clone(),
        message_context(config, registry, targets),
        targets.clone(),
        Arc::new(SystemClock),
    )
    .map_err(|e| {
        Failure::Config(format!(
            "notify.telegram.api_url: {e} ({:?})",
            config.notify.telegram.api_url
        ))
    })?;
    Ok(Arc::new(bot))
}

/// The key of email acknowledgement links, shared by the email channel and the pages.
pub async fn link_signer(
    store: &Store,
) -> Result<mimamori_alerts::notify::link::LinkSigner, Failure> {
    mimamori_alerts::notify::link::LinkSigner::from_store(store, chrono::Utc::now())
        .await
        .map_err(|e| Failure::Other(e.into()))
}

/// The email channel of `[notify.email]`.
pub fn email(
    config: &Config,
    store: &Store,
    registry: &mimamori_core::registry::Registry,
    targets: &mimamori_alerts::notify::Targets,
    signer: mimamori_alerts::notify::link::LinkSigner,
) -> Result<Arc<mimamori_alerts::notify::email::EmailSender>, Failure> {
    let sender = mimamori_alerts::notify::email::EmailSender::new(
        &config.notify.email,
        &config.data_dir,
        store.clone(),
        message_context(config, registry, targets),
        signer,
        Arc::new(SystemClock),
    )
    .map_err(|e| Failure::Config(e.to_string()))?;
    Ok(Arc::new(sender))
}

/// The pages behind email acknowledgement links, served wherever the web server runs.
/// The responders' dashboard pages.
pub fn dashboard(
    config: &Config,
    store: &Store,
    registry: &mimamori_core::registry::Registry,
    targets: &mimamori_alerts::notify::Targets,
) -> mimamori_alerts::dashboard::DashboardState {
    mimamori_alerts::dashboard::DashboardState {
        store: store.clone(),
        ctx: message_context(config, registry, targets),
        targets: targets.clone(),
        clock: Arc::new(SystemClock),
        routing: mimamori_alerts::route::Routing::from_config(&config.alerts),
        registry: Arc::new(registry.clone()),
    }
}

pub fn ack_pages(
    config: &Config,
    store: &Store,
    registry: &mimamori_core::registry::Registry,
    targets: &mimamori_alerts::notify::Targets,
    signer: mimamori_alerts::notify::link::LinkSigner,
) -> mimamori_alerts::ack_link::AckState {
    mimamori_alerts::ack_link::AckState {
        store: store.clone(),
        signer,
        ctx: message_context(config, registry, targets),
        targets: targets.clone(),
        clock: Arc::new(SystemClock),
    }
}
