//! Where the platform's own components (the gateway, the alert service's publisher) reach the
//! broker, and with which login: `mqtt.url` or the embedded broker's address, the service account
//! of `[mqtt]`, and a client id per component.

use crate::config::{Config, mqtt_host_port};
use std::net::SocketAddr;

/// The broker and the service login one component connects with.
#[derive(Clone, PartialEq, Eq)]
pub struct MqttEndpoint {
    pub host: String,
    pub port: u16,
    /// The gateway's persistent session (`mqtt.client_id`); other components add a suffix.
    pub client_id: String,
    pub username: String,
    pub password: String,
    /// Shared subscription group of the gateways; empty: none.
    pub shared_group: String,
}

impl std::fmt::Debug for MqttEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttEndpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &format_args!("{}", crate::secret::REDACTED))
            .field("shared_group", &self.shared_group)
            .finish()
    }
}

impl MqttEndpoint {
    /// The endpoint of `config`: `mqtt.url`, or the embedded broker (`embedded`, its bound
    /// address, else `broker.listen`), logged in with `password`.
    pub fn resolve(
        config: &Config,
        embedded: Option<SocketAddr>,
        password: String,
    ) -> Result<Self, String> {
        let (host, port) = if config.mqtt.url.is_empty() {
            let addr = embedded.unwrap_or(config.broker.listen);
            let host = if addr.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                addr.ip().to_string()
            };
            (host, addr.port())
        } else {
            mqtt_host_port(&config.mqtt.url).map_err(|m| format!("mqtt.url: {m}"))?
        };
        Ok(Self {
            host,
            port,
            client_id: config.mqtt.client_id.clone(),
            username: config.mqtt.username.clone(),
            password,
            shared_group: config.mqtt.shared_group.clone(),
        })
    }

    /// The service account's password: configured, or — all in one process with the embedded
    /// broker, where nothing else needs it — random.
    pub fn service_password(config: &Config, all_in_one: bool) -> Result<String, String> {
        if !config.mqtt.password.is_empty() {
            Ok(config.mqtt.password.expose_secret().to_string())
        } else if all_in_one {
            Ok(crate::secret::generate(32))
        } else {
            Err("mqtt.password: must be set when broker and gateway run as separate processes (MIMAMORI__MQTT__PASSWORD)".into())
        }
    }

    /// The same login under another client id (`{client_id}-{suffix}`), for a second connection
    /// of the platform that must not take over the gateway's session.
    pub fn for_component(&self, suffix: &str) -> Self {
        Self {
            client_id: format!("{}-{suffix}", self.client_id),
            ..self.clone()
        }
    }
}
