//! Alert changes published on `mimamori/v1/alerts/{district}/{alert_id}` (QoS 1), for integrations.

use super::{SendError, Sender};
use mimamori_core::domain::{Alert, Notification};
use mimamori_core::endpoint::MqttEndpoint;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A persistent MQTT connection for publishing alerts.
pub struct MqttSender {
    client: AsyncClient,
    connected: watch::Receiver<bool>,
}

/// The connection behind an [`MqttSender`]: polled by [`Connection::run`] on the caller's task
/// tracker, reconnecting until shutdown.
pub struct Connection {
    eventloop: rumqttc::EventLoop,
    connected: watch::Sender<bool>,
}

impl MqttSender {
    /// A publisher logged in as `endpoint`; it sends once its [`Connection`] runs.
    pub fn new(endpoint: &MqttEndpoint) -> (Self, Connection) {
        let mut options = MqttOptions::new(&endpoint.client_id, &endpoint.host, endpoint.port);
        options
            .set_credentials(&endpoint.username, &endpoint.password)
            .set_keep_alive(Duration::from_secs(30));
        let (client, eventloop) = AsyncClient::new(options, 1024);
        let (tx, connected) = watch::channel(false);
        (
            Self { client, connected },
            Connection {
                eventloop,
                connected: tx,
            },
        )
    }

    /// The underlying client, for other messages of the platform (check-in reminders).
    pub fn client(&self) -> AsyncClient {
        self.client.clone()
    }
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
                    tracing::debug!(error = %e, "Alert publisher disconnected; reconnecting.");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(500)) => {}
                    }
                }
            }
        }
    }
}

impl Sender for MqttSender {
    fn send<'a>(
        &'a self,
        n: &'a Notification,
        alert: &'a Alert,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>> {
        Box::pin(async move {
            if !*self.connected.borrow() {
                return Err(SendError::Retry {
                    reason: "broker not connected".into(),
                    after: Some(Duration::from_secs(1)),
                });
            }
            self.client
                .publish(
                    super::alert_topic(alert),
                    QoS::AtLeastOnce,
                    false,
                    super::payload(n, alert).to_string(),
                )
                .await
                .map_err(|e| SendError::Retry {
                    reason: e.to_string(),
                    after: None,
                })
        })
    }
}
