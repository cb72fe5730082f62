//! Where the platform's own components (the gateway, the alert service's publisher) reach the
//! broker, and with which login: `mqtt.url` or the embedded broker's address, the service account
//! of `[mqtt]`, and a client id per component. A broker may be a cluster: every client of it
//! (devices too) holds its nodes' addresses and moves round them ([`Nodes`]).

use crate::config::{Config, mqtt_addresses};
use std::net::SocketAddr;

/// One node of the broker: where a client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    pub host: String,
    pub port: u16,
}

impl From<SocketAddr> for BrokerAddress {
    fn from(addr: SocketAddr) -> Self {
        Self {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl std::fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A client's way round the broker's nodes: it connects to the current one and, when that
/// connection fails (the node died, or never answered), moves on to the next, round and round.
/// With one node it stays. The nodes of a cluster are equal: the session (and what is queued in
/// it) lives in the cluster, not on one node.
#[derive(Debug, Clone)]
pub struct Nodes {
    list: Vec<BrokerAddress>,
    at: usize,
}

impl Nodes {
    /// Starts on the first of `list`, which must not be empty.
    pub fn new(list: Vec<BrokerAddress>) -> Self {
        assert!(!list.is_empty(), "a broker has at least one node");
        Self { list, at: 0 }
    }

    /// The node to connect to now.
    pub fn current(&self) -> &BrokerAddress {
        &self.list[self.at]
    }

    /// After a failed connection: the node to try next.
    pub fn move_on(&mut self) -> &BrokerAddress {
        self.at = (self.at + 1) % self.list.len();
        self.current()
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Never: there is at least one node.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// The broker and the service login one component connects with.
#[derive(Clone, PartialEq, Eq)]
pub struct MqttEndpoint {
    /// The broker's nodes, the first tried first (`mqtt.url`, one or several).
    pub brokers: Vec<BrokerAddress>,
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
            .field("brokers", &self.brokers)
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
        let brokers = if config.mqtt.url.is_empty() {
            let addr = embedded.unwrap_or(config.broker.listen);
            let host = if addr.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                addr.ip().to_string()
            };
            vec![BrokerAddress {
                host,
                port: addr.port(),
            }]
        } else {
            mqtt_addresses(&config.mqtt.url)
                .map_err(|m| format!("mqtt.url: {m}"))?
                .into_iter()
                .map(|(host, port)| BrokerAddress { host, port })
                .collect()
        };
        Ok(Self {
            brokers,
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

    /// Its brokers' nodes, to go round.
    pub fn nodes(&self) -> Nodes {
        Nodes::new(self.brokers.clone())
    }

    /// The brokers, as `host:port, …`, for messages.
    pub fn brokers_text(&self) -> String {
        self.brokers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_goes_round_the_nodes_and_stays_on_a_single_one() {
        let a: BrokerAddress = "127.0.0.1:1".parse::<SocketAddr>().unwrap().into();
        let b: BrokerAddress = "127.0.0.1:2".parse::<SocketAddr>().unwrap().into();
        let mut nodes = Nodes::new(vec![a.clone(), b.clone()]);
        assert_eq!(nodes.current(), &a);
        assert_eq!(nodes.move_on(), &b);
        assert_eq!(nodes.move_on(), &a);
        let mut one = Nodes::new(vec![a.clone()]);
        assert_eq!(one.move_on(), &a);
    }

    #[test]
    fn mqtt_url_takes_one_address_or_a_list() {
        let mut config = Config::default();
        config.mqtt.url = "mqtt://broker:1884".into();
        let e = MqttEndpoint::resolve(&config, None, "p".into()).unwrap();
        assert_eq!(e.brokers_text(), "broker:1884");
        config.mqtt.url = "mqtt://n1:1883, mqtt://n2:1884,mqtt://[::1]:1885".into();
        let e = MqttEndpoint::resolve(&config, None, "p".into()).unwrap();
        assert_eq!(e.brokers_text(), "n1:1883, n2:1884, [::1]:1885");
        config.mqtt.url = "mqtt://n1:1883, http://n2".into();
        assert!(MqttEndpoint::resolve(&config, None, "p".into()).is_err());
        // Separators only name no broker: refused, not taken for the embedded one.
        config.mqtt.url = " , ,".into();
        let e = MqttEndpoint::resolve(&config, None, "p".into()).unwrap_err();
        assert!(e.contains("names no broker"), "{e}");
    }
}
