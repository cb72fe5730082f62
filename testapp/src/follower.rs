//! An integration that follows the alert stream exactly as docs/ALERTS.md tells consumers to:
//! subscribe on MQTT, and once the subscription is acknowledged catch up from the events API;
//! then verify every message, apply it when it is the next one, drop it when already applied,
//! and catch up from the API when one is missing (a gap), after every (re)connection, and when
//! nothing has arrived for a while. A follower of one district checks `district_prev` instead
//! of `seq - 1`.
//!
//! It panics on a message whose signature does not verify: the tests assert that none arrives.

use mimamori_core::alert_stream::{PublicKey, verify};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

/// What the follower applied, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub seq: i64,
    pub event: String,
    pub alert: i64,
    pub notification: i64,
    pub district: Option<String>,
    pub state: String,
}

/// How a message reached the follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Mqtt,
    Api,
}

/// The consumer's state: the last `seq` applied (which a real one persists) and what it did.
pub struct Follower {
    http: reqwest::Client,
    base: String,
    token: String,
    /// The platform's key, from `GET /api/v1/alerts/key`.
    pub key: PublicKey,
    /// Follows one district: loss shows in `district_prev`, not in `seq`.
    scoped: bool,
    /// The last `seq` applied.
    pub last: i64,
    pub applied: Vec<Applied>,
    /// Messages dropped because they were applied already.
    pub duplicates: usize,
    /// How many applied messages came from MQTT, how many from the API.
    pub via_mqtt: usize,
    pub via_api: usize,
    /// How many times a gap sent it to the API.
    pub gaps: usize,
}

impl Follower {
    /// A follower of the app at `base` (`http://…`) with an integration's secret `token`;
    /// `scoped` for one that follows a single district.
    pub async fn new(base: &str, token: &str, scoped: bool) -> Self {
        mimamori_alerts::notify::install_crypto_provider();
        let http = reqwest::Client::new();
        let key: serde_json::Value = http
            .get(format!("{base}/api/v1/alerts/key"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(key["algorithm"], "Ed25519");
        let key = PublicKey::from_hex(key["public_key"].as_str().unwrap()).unwrap();
        Self {
            http,
            base: base.into(),
            token: token.into(),
            key,
            scoped,
            last: 0,
            applied: Vec::new(),
            duplicates: 0,
            via_mqtt: 0,
            via_api: 0,
            gaps: 0,
        }
    }

    /// Reads the events API after `last` until it has no more.
    pub async fn catch_up(&mut self) {
        loop {
            let page: serde_json::Value = self
                .http
                .get(format!(
                    "{}/api/v1/alerts/events?after={}&limit=50",
                    self.base, self.last
                ))
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap()
                .json()
                .await
                .unwrap();
            for e in page["events"].as_array().unwrap() {
                let message = e["message"].as_str().unwrap();
                let fields = self.verified(message.as_bytes());
                assert_eq!(fields["seq"], e["seq"], "the page's seq is the message's");
                assert!(
                    self.is_next(&fields),
                    "the API skipped one after {}: {fields}",
                    self.last
                );
                self.apply(&fields, Via::Api);
            }
            // A follower of one district moves past the other districts' numbers too.
            self.last = self.last.max(page["next_after"].as_i64().unwrap());
            if page["more"] != true {
                return;
            }
        }
    }

    /// One message from MQTT: verified; applied if next, dropped if old, else a catch-up.
    pub async fn on_message(&mut self, payload: &[u8]) {
        let fields = self.verified(payload);
        let seq = fields["seq"].as_i64().unwrap();
        if seq <= self.last {
            self.duplicates += 1;
        } else if self.is_next(&fields) {
            self.apply(&fields, Via::Mqtt);
        } else {
            self.gaps += 1;
            self.catch_up().await;
        }
    }

    /// Follows `feed` until `seq` has been applied (or passed, for a follower of one district);
    /// when nothing arrives for `idle`, it asks the API, as a consumer does now and then.
    pub async fn follow_until(&mut self, feed: &mut Feed, seq: i64, idle: Duration) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.last < seq {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not at {seq} within 60 s (at {})",
                self.last
            );
            match tokio::time::timeout(idle, feed.messages.recv()).await {
                Ok(Some(payload)) => self.on_message(&payload).await,
                Ok(None) => panic!("the MQTT feed ended"),
                Err(_) => self.catch_up().await,
            }
        }
    }

    fn verified(&self, message: &[u8]) -> serde_json::Value {
        verify(message, &self.key).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(message));
        })
    }

    fn is_next(&self, fields: &serde_json::Value) -> bool {
        if self.scoped {
            // Every message of the district up to `last` is applied, and none came between
            // the previous one and this.
            fields["district_prev"].as_i64() <= Some(self.last)
                && fields["seq"].as_i64() > Some(self.last)
        } else {
            fields["seq"].as_i64() == Some(self.last + 1)
        }
    }

    fn apply(&mut self, fields: &serde_json::Value, via: Via) {
        self.last = fields["seq"].as_i64().unwrap();
        match via {
            Via::Mqtt => self.via_mqtt += 1,
            Via::Api => self.via_api += 1,
        }
        self.applied.push(Applied {
            seq: self.last,
            event: fields["event"].as_str().unwrap().into(),
            alert: fields["alert"]["id"].as_i64().unwrap(),
            notification: fields["notification"].as_i64().unwrap(),
            district: fields["alert"]["district"].as_str().map(String::from),
            state: fields["alert"]["state"].as_str().unwrap().into(),
        });
    }
}

/// An MQTT subscription to alert messages: what arrives, until it is dropped.
pub struct Feed {
    pub messages: mpsc::UnboundedReceiver<Vec<u8>>,
    client: rumqttc::AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Feed {
    /// Connects to `broker` as (`user`, `password`) with a clean session, subscribes to
    /// `filter` (QoS 1) and returns once the subscription is acknowledged.
    pub async fn subscribe(
        broker: SocketAddr,
        client_id: &str,
        user: &str,
        password: &str,
        filter: &str,
    ) -> Self {
        let mut options =
            rumqttc::MqttOptions::new(client_id, broker.ip().to_string(), broker.port());
        options
            .set_credentials(user, password)
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true);
        let (client, mut events) = rumqttc::AsyncClient::new(options, 256);
        client
            .subscribe(filter, rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        let (tx, messages) = mpsc::unbounded_channel();
        let (subscribed, acked) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut subscribed = Some(subscribed);
            loop {
                match events.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        if let Some(s) = subscribed.take() {
                            let _ = s.send(Ok(()));
                        }
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        if tx.send(p.payload.to_vec()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Gone (the test disconnects it, or the broker went away): no reconnection,
                    // a new Feed is the new connection.
                    Err(e) => {
                        if let Some(s) = subscribed.take() {
                            let _ = s.send(Err(e.to_string()));
                        }
                        return;
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(30), acked)
            .await
            .expect("the broker acknowledges the subscription within 30 s")
            .expect("the connection's task answers")
            .unwrap_or_else(|e| panic!("{client_id} cannot subscribe: {e}"));
        Self {
            messages,
            client,
            task,
        }
    }

    /// Disconnects; what was published meanwhile is not delivered to it.
    pub async fn disconnect(self) {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
