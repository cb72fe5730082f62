//! Alert changes published on `mimamori/v1/alerts/{district}/{alert_id}` (QoS 1, not retained),
//! for integrations: each one first numbered, signed and stored in the alert stream
//! ([`super::stream`]), then published as stored.

use super::stream::AlertStream;
use super::{SendError, Sender};
use mimamori_core::domain::{Alert, Notification};
use mimamori_core::endpoint::{BrokerAddress, MqttEndpoint, Nodes};
use mimamori_core::storage::{StreamEntry, StreamMaker};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The platform's persistent MQTT connection: alert messages ([`MqttSender::alerts`]) and
/// check-in reminders ([`MqttSender::client`]).
pub struct MqttSender {
    client: AsyncClient,
    connected: watch::Receiver<bool>,
}

/// The connection behind an [`MqttSender`]: polled by [`Connection::run`] on the caller's task
/// tracker, reconnecting until shutdown.
pub struct Connection {
    eventloop: rumqttc::EventLoop,
    connected: watch::Sender<bool>,
    /// The login, to connect to another node with.
    endpoint: MqttEndpoint,
    /// The broker's nodes: on a failed connection, the next.
    nodes: Nodes,
}

/// The publisher's connection to `node`.
fn options(endpoint: &MqttEndpoint, node: &BrokerAddress) -> MqttOptions {
    let mut options = MqttOptions::new(&endpoint.client_id, &node.host, node.port);
    options
        .set_credentials(&endpoint.username, &endpoint.password)
        .set_keep_alive(Duration::from_secs(30));
    options
}

impl MqttSender {
    /// A publisher logged in as `endpoint`; it sends once its [`Connection`] runs.
    pub fn new(endpoint: &MqttEndpoint) -> (Self, Connection) {
        let nodes = endpoint.nodes();
        let (client, eventloop) = AsyncClient::new(options(endpoint, nodes.current()), 1024);
        let (tx, connected) = watch::channel(false);
        (
            Self { client, connected },
            Connection {
                eventloop,
                connected: tx,
                endpoint: endpoint.clone(),
                nodes,
            },
        )
    }

    /// Whether the connection is up now, and every change of it.
    pub fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    /// The underlying client, for other messages of the platform (check-in reminders).
    pub fn client(&self) -> AsyncClient {
        self.client.clone()
    }

    /// The outbox's MQTT channel on this connection: alert messages through `stream`.
    pub fn alerts(&self, stream: AlertStream) -> AlertPublisher {
        AlertPublisher {
            client: self.client.clone(),
            connected: self.connected.clone(),
            stream,
        }
    }
}

/// Publishes alert messages: the outbox's [`Sender`] of the MQTT channel.
pub struct AlertPublisher {
    client: AsyncClient,
    connected: watch::Receiver<bool>,
    /// Where each message is numbered, signed and kept before it is published.
    stream: AlertStream,
}

impl Connection {
    /// Connects, and keeps reconnecting, until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => break,
                e = self.eventloop.poll() => e,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = self.connected.send(true);
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = self.connected.send(false);
                    tracing::debug!(error = %e, broker = %self.nodes.current(), "Alert publisher disconnected; reconnecting.");
                    if self.nodes.len() > 1 {
                        self.eventloop.mqtt_options = options(&self.endpoint, self.nodes.move_on());
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    }
}

impl AlertPublisher {
    /// Publishes a message of the stream; its row is the record, so a failure is retried.
    async fn publish(&self, entry: StreamEntry) -> Result<(), SendError> {
        if !*self.connected.borrow() {
            return Err(SendError::Retry {
                reason: "broker not connected".into(),
                after: Some(Duration::from_secs(1)),
            });
        }
        self.client
            .publish(entry.topic, QoS::AtLeastOnce, false, entry.message)
            .await
            .map_err(|e| SendError::Retry {
                reason: e.to_string(),
                after: None,
            })
    }
}

impl Sender for AlertPublisher {
    /// Appends the message to the stream (or finds it there: numbered when its alert was written,
    /// or on an earlier try), then publishes it. The stream row is written even while the broker
    /// is away: integrations read it from the API, and the publication is retried.
    fn send<'a>(
        &'a self,
        n: &'a Notification,
        _alert: &'a Alert,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>> {
        Box::pin(async move {
            let entry = self
                .stream
                .message_for(n)
                .await
                .map_err(super::retry_storage)?;
            self.publish(entry).await
        })
    }

    /// Publishes the message its alert's transaction numbered: no read of the stream between
    /// the alert and its publication.
    fn send_numbered<'a>(
        &'a self,
        _n: &'a Notification,
        _alert: &'a Alert,
        entry: StreamEntry,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>> {
        Box::pin(self.publish(entry))
    }

    fn stream(&self) -> Option<StreamMaker> {
        Some(self.stream.maker())
    }
}
