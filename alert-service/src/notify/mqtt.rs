//! Alert changes published on `mimamori/v1/alerts/{district}/{alert_id}` (QoS 1), for integrations.

use super::{SendError, Sender};
use mimamori_core::domain::{Alert, Notification};
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

impl MqttSender {
    /// Connects (and keeps reconnecting) until `shutdown`.
    pub fn start(
        host: &str,
        port: u16,
        client_id: &str,
        username: &str,
        password: &str,
        shutdown: CancellationToken,
    ) -> Self {
        let mut options = MqttOptions::new(client_id, host, port);
        options
            .set_credentials(username, password)
            .set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let (tx, connected) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = shutdown.cancelled() => break,
                    e = eventloop.poll() => e,
                };
                match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = tx.send(true);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(false);
                        tracing::debug!(error = %e, "Alert publisher disconnected; reconnecting.");
                        tokio::select! {
                            () = shutdown.cancelled() => break,
                            () = tokio::time::sleep(Duration::from_millis(500)) => {}
                        }
                    }
                }
            }
        });
        Self { client, connected }
    }

    /// The underlying client, for other messages of the platform (check-in reminders).
    pub fn client(&self) -> AsyncClient {
        self.client.clone()
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
