//! `[mqtt]`: how platform components (gateways, notifiers) reach the broker, embedded or external.

use super::Invalid;
use crate::secret::Secret;
use serde::Deserialize;

/// How platform components (gateways, notifiers) connect to the broker, embedded or external.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `mqtt://HOST:PORT`, or the nodes of a broker cluster separated by commas
    /// (`mqtt://a:1883, mqtt://b:1883`): a client moves to the next when its node's connection
    /// fails. Empty: the embedded broker at `broker.listen`.
    pub url: String,
    /// The platform's service account. The embedded broker accepts it besides devices.
    pub username: String,
    /// Its password; empty: a random one per process (only all-in-one with the embedded broker).
    pub password: Secret,
    /// Client id of the gateway's persistent session; give each gateway process its own.
    pub client_id: String,
    /// Shared subscription group: several gateways with the same group split the device traffic.
    pub shared_group: String,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            username: "mimamori-service".into(),
            password: Secret::default(),
            client_id: "mimamori-gateway".into(),
            shared_group: String::new(),
        }
    }
}

impl MqttConfig {
    /// Without the embedded broker (`broker_enabled` false) there must be an external one.
    pub(crate) fn validate(&self, broker_enabled: bool) -> Result<(), Invalid> {
        if !self.url.is_empty() {
            mqtt_addresses(&self.url).map_err(|m| ("mqtt.url", m))?;
        } else if !broker_enabled {
            return Err((
                "mqtt.url",
                "the embedded broker is disabled: give the external broker's URL".into(),
            ));
        }
        if self.client_id.is_empty() || self.username.is_empty() {
            return Err((
                "mqtt.client_id",
                "client id and username must not be empty".into(),
            ));
        }
        Ok(())
    }
}

/// Host and port of each `mqtt://HOST:PORT` URL of a comma-separated list (at least one).
pub fn mqtt_addresses(urls: &str) -> Result<Vec<(String, u16)>, String> {
    urls.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(mqtt_host_port)
        .collect::<Result<Vec<_>, _>>()
        .and_then(|nodes| {
            if nodes.is_empty() {
                Err(format!("{urls:?} names no broker"))
            } else {
                Ok(nodes)
            }
        })
}

/// Host and port of an `mqtt://HOST:PORT` URL.
pub fn mqtt_host_port(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| format!("{url:?} is not an mqtt://HOST:PORT URL"))?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "1883"));
    let port = port
        .parse()
        .map_err(|_| format!("{url:?} has no valid port"))?;
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}
