//! One device's MQTT connection.

use mimamori_core::domain::DeviceId;
use mimamori_core::endpoint::{BrokerAddress, Nodes};
use mimamori_core::protocol::{Event, EventType, Receipt, Sensor, Status};
use mimamori_core::secret::device_mac_key;
use mimamori_core::topic;
use rumqttc::{AsyncClient, ClientError, Event as MqttEvent, LastWill, MqttOptions, Packet, QoS};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// How a device connects and behaves.
#[derive(Clone)]
pub struct DeviceConfig {
    pub id: DeviceId,
    /// The secret from `mimamori admin device add`: the MQTT password and the source of the MAC key.
    pub password: String,
    /// The broker's nodes: the device connects to the first and moves to the next when its
    /// connection fails.
    pub brokers: Vec<BrokerAddress>,
    /// How often unacknowledged emergencies and check-ins are sent again.
    pub resend_interval: Duration,
    /// Connect over TLS, trusting this PEM CA (or self-signed certificate) for the broker.
    pub tls_ca: Option<Vec<u8>>,
}

/// Everything but the password.
impl std::fmt::Debug for DeviceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceConfig")
            .field("id", &self.id)
            .field(
                "password",
                &format_args!("{}", mimamori_core::secret::REDACTED),
            )
            .field("brokers", &self.brokers)
            .field("resend_interval", &self.resend_interval)
            .field("tls_ca", &self.tls_ca)
            .finish()
    }
}

impl DeviceConfig {
    /// The device's connection to `node`: its login, a signed `offline` last will, TLS when
    /// configured.
    fn options(&self, mac_key: &str, node: &BrokerAddress) -> MqttOptions {
        let id = self.id.as_str();
        let mut options = MqttOptions::new(id, &node.host, node.port);
        let will =
            serde_json::to_vec(&Status::signed(id, "offline", mac_key)).expect("status serialises");
        options
            .set_credentials(id, &self.password)
            .set_keep_alive(Duration::from_secs(30))
            .set_last_will(LastWill::new(
                topic::device_status(&self.id),
                will,
                QoS::AtLeastOnce,
                false,
            ));
        if let Some(ca) = self.tls_ca.clone() {
            let _ = rustls::crypto::ring::default_provider().install_default();
            options.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Simple {
                    ca,
                    alpn: None,
                    client_auth: None,
                },
            ));
        }
        options
    }
}

/// What a device has done, for tests and the simulator's report.
#[derive(Debug, Default)]
pub struct DeviceStats {
    pub sent: AtomicU64,
    pub resent: AtomicU64,
    pub receipts: AtomicU64,
    pub connects: AtomicU64,
}

/// A connected (or reconnecting) device.
#[derive(Clone)]
pub struct DeviceClient {
    id: DeviceId,
    mac_key: String,
    client: AsyncClient,
    next_seq: Arc<AtomicU64>,
    /// Events waiting for their receipt: seq → payload.
    pending: Arc<Mutex<BTreeMap<u64, Vec<u8>>>>,
    receipt_arrived: Arc<Notify>,
    resent: Arc<Notify>,
    connected: watch::Receiver<bool>,
    stats: Arc<DeviceStats>,
}

impl DeviceClient {
    /// Starts the device's connection and resend loop; both stop with `shutdown`.
    pub fn start(config: DeviceConfig, shutdown: CancellationToken) -> Self {
        let mac_key = device_mac_key(&config.password);
        let id = config.id.clone();
        let mut nodes = Nodes::new(config.brokers.clone());
        let options = config.options(&mac_key, nodes.current());
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let (connected_tx, connected) = watch::channel(false);
        // Sequence numbers must grow across restarts: start from the clock (a real device stores it).
        let start_seq = chrono::Utc::now().timestamp_millis().max(0) as u64 * 1000;
        let device = Self {
            id,
            mac_key,
            client,
            next_seq: Arc::new(AtomicU64::new(start_seq)),
            pending: Arc::new(Mutex::new(BTreeMap::new())),
            receipt_arrived: Arc::new(Notify::new()),
            resent: Arc::new(Notify::new()),
            connected,
            stats: Arc::new(DeviceStats::default()),
        };

        let me = device.clone();
        let stop = shutdown.clone();
        let resend_interval = config.resend_interval;
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = stop.cancelled() => break,
                    e = eventloop.poll() => e,
                };
                match event {
                    Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                        me.stats.connects.fetch_add(1, Ordering::Relaxed);
                        let _ = me
                            .client
                            .subscribe(topic::device_receipts(&me.id), QoS::AtLeastOnce)
                            .await;
                        let online = serde_json::to_vec(&Status::signed(
                            me.id.as_str(),
                            "online",
                            &me.mac_key,
                        ))
                        .expect("status serialises");
                        let _ = me
                            .client
                            .publish(
                                topic::device_status(&me.id),
                                QoS::AtLeastOnce,
                                false,
                                online,
                            )
                            .await;
                        let _ = connected_tx.send(true);
                    }
                    Ok(MqttEvent::Incoming(Packet::SubAck(ack)))
                        if ack
                            .return_codes
                            .contains(&rumqttc::SubscribeReasonCode::Failure) =>
                    {
                        // Refused, e.g. by a cluster node whose replicated state is still moving
                        // after another node died (NATS: "Unable to add JetStream consumer"):
                        // without it no receipt arrives and the device resends for ever. Asked
                        // again a second later.
                        tracing::debug!(device_id = %me.id, "Receipts subscription refused; asking again.");
                        let (client, topic) = (me.client.clone(), topic::device_receipts(&me.id));
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            let _ = client.subscribe(topic, QoS::AtLeastOnce).await;
                        });
                    }
                    Ok(MqttEvent::Incoming(Packet::Publish(p))) => me.on_receipt(&p.payload),
                    Ok(_) => {}
                    Err(e) => {
                        let _ = connected_tx.send(false);
                        tracing::debug!(device_id = %me.id, error = %e, "Device connection lost; reconnecting.");
                        if nodes.len() > 1 {
                            eventloop.mqtt_options = config.options(&me.mac_key, nodes.move_on());
                        }
                        tokio::select! {
                            () = stop.cancelled() => break,
                            () = tokio::time::sleep(Duration::from_millis(200)) => {}
                        }
                    }
                }
            }
        });

        let me = device.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(resend_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => me.resend().await,
                }
            }
        });
        device
    }

    pub fn id(&self) -> &DeviceId {
        &self.id
    }

    pub fn stats(&self) -> &DeviceStats {
        &self.stats
    }

    /// Waits until the broker accepted the connection.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let mut rx = self.connected.clone();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Sends an event with the next `seq`; returns the `seq`.
    pub async fn send(
        &self,
        kind: EventType,
        sensor: Option<Sensor>,
        battery: Option<u8>,
    ) -> Result<u64, ClientError> {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let event = Event {
            v: 1,
            kind,
            sensor,
            seq,
            ts: Some(chrono::Utc::now().to_rfc3339()),
            battery,
            mac: None,
        }
        .sign(self.id.as_str(), &self.mac_key);
        self.send_event(&event).await?;
        Ok(seq)
    }

    /// Sends a prepared event as it is (tests use this for duplicates and forgeries); emergencies
    /// and check-ins are kept for resending until their receipt arrives.
    pub async fn send_event(&self, event: &Event) -> Result<(), ClientError> {
        let payload = serde_json::to_vec(event).expect("event serialises");
        if event.kind.needs_receipt() {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(event.seq, payload.clone());
        }
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        self.client
            .publish(
                topic::device_events(&self.id),
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .await
    }

    /// Publishes anything anywhere, as a misbehaving device could.
    pub async fn publish_raw(&self, topic: &str, payload: Vec<u8>) -> Result<(), ClientError> {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
    }

    /// The `seq`s still waiting for a receipt.
    pub fn pending(&self) -> Vec<u64> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// Waits until `seq` has its receipt.
    pub async fn wait_receipt(&self, seq: u64, timeout: Duration) -> bool {
        wait_until(&self.receipt_arrived, timeout, || {
            !self.pending().contains(&seq)
        })
        .await
    }

    /// Waits until the device has resent unacknowledged events at least `times` times.
    pub async fn wait_resent(&self, times: u64, timeout: Duration) -> bool {
        wait_until(&self.resent, timeout, || {
            self.stats.resent.load(Ordering::Relaxed) >= times
        })
        .await
    }

    /// The device's MAC key (hex), derived from its password.
    pub fn mac_key(&self) -> &str {
        &self.mac_key
    }

    /// Disconnects cleanly (no last will).
    pub async fn disconnect(&self) {
        let _ = self.client.disconnect().await;
    }

    fn on_receipt(&self, payload: &[u8]) {
        let Ok(receipt) = serde_json::from_slice::<Receipt>(payload) else {
            return;
        };
        // A receipt that is not the platform's (anyone may publish on this topic) is ignored.
        if !receipt.verify(self.id.as_str(), &self.mac_key) {
            tracing::warn!(device_id = %self.id, "Ignored a receipt with a bad MAC.");
            return;
        }
        self.stats.receipts.fetch_add(1, Ordering::Relaxed);
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&receipt.seq);
        self.receipt_arrived.notify_waiters();
    }

    async fn resend(&self) {
        if !*self.connected.borrow() {
            return;
        }
        let due: Vec<Vec<u8>> = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for payload in due {
            self.stats.resent.fetch_add(1, Ordering::Relaxed);
            if self
                .client
                .publish(
                    topic::device_events(&self.id),
                    QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .await
                .is_err()
            {
                break;
            }
        }
        self.resent.notify_waiters();
    }
}

/// Waits (up to `timeout`) until `done()` holds, re-checking each time `notify` fires. The
/// notification is armed before the check, so a change between the two is not missed.
async fn wait_until(notify: &Notify, timeout: Duration, done: impl Fn() -> bool) -> bool {
    tokio::time::timeout(timeout, async {
        loop {
            let notified = notify.notified();
            if done() {
                return;
            }
            notified.await;
        }
    })
    .await
    .is_ok()
}
