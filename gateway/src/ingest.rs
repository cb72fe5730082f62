//! From a message to a stored signal: size limit, adapter, device lookup, message authentication,
//! normalisation, idempotent storage, receipt.

use crate::adapter::{self, DeviceRef, Parsed};
use crate::drop_reason::DropReason;
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use mimamori_core::clock::Clock;
use mimamori_core::config::MessageAuth;
use mimamori_core::domain::{
    Actor, Device, DeviceId, DeviceKind, NewAuditEntry, NewSignal, Signal, SignalKind,
    SignalSource, Subject,
};
use mimamori_core::protocol::{Event, EventType, Receipt};
use mimamori_core::storage::{SignalInsert, StorageError, Store};
use mimamori_core::topic;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// What happened to a message, for in-process subscribers (the alert service, tests).
#[derive(Debug, Clone)]
pub enum IngestEvent {
    Stored(Signal),
    Duplicate {
        source: SignalSource,
        dedup_key: String,
    },
    Dropped {
        reason: DropReason,
        topic: String,
    },
}

/// How ingestion behaves.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub message_auth: MessageAuth,
    pub max_payload_bytes: usize,
    /// A device clock further off than this is flagged, and the received time is believed.
    pub max_clock_skew: chrono::Duration,
    /// Topic prefix of zigbee2mqtt; empty: off.
    pub zigbee2mqtt_prefix: String,
}

/// The result of one message.
#[derive(Debug)]
pub struct Handled {
    /// What was stored (or found stored already), or why nothing was.
    pub outcome: Result<Vec<SignalInsert>, DropReason>,
    /// A receipt to publish to the device: (topic, payload).
    pub receipt: Option<(String, Vec<u8>)>,
}

/// How long a device record is reused before it is read again (so that a new or disabled device
/// takes effect within this time).
const DEVICE_CACHE_TTL: Duration = Duration::from_secs(30);

/// Turns messages into signals. Shared by the MQTT loop (and any other transport).
pub struct Ingestor {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: IngestSettings,
    metrics: Arc<Metrics>,
    /// Device records by id or external id, with the time they were read (`None`: unknown).
    devices: Mutex<HashMap<String, (Option<Device>, Instant)>>,
    events: broadcast::Sender<IngestEvent>,
}

impl Ingestor {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: IngestSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (events, _) = broadcast::channel(4096);
        Self {
            store,
            clock,
            settings,
            metrics,
            devices: Mutex::new(HashMap::new()),
            events,
        }
    }

    /// Receives what happens to every message from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<IngestEvent> {
        self.events.subscribe()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn settings(&self) -> &IngestSettings {
        &self.settings
    }

    /// Handles one message. An `Err` means storage failed: the message must not be acknowledged,
    /// so that the broker delivers it again.
    pub async fn handle(&self, topic: &str, payload: &[u8]) -> Result<Handled, StorageError> {
        Ok(self.handle_batch(&[(topic, payload)]).await?.remove(0))
    }

    /// Handles messages in order, storing all their signals in one transaction: at a thousand
    /// messages a second, one commit per message would queue them up. An `Err` means nothing of
    /// the batch was stored: none of it may be acknowledged.
    pub async fn handle_batch(
        &self,
        messages: &[(&str, &[u8])],
    ) -> Result<Vec<Handled>, StorageError> {
        let mut prepared = Vec::with_capacity(messages.len());
        for (topic, payload) in messages {
            Metrics::inc(&self.metrics.received);
            let parsed = if payload.len() > self.settings.max_payload_bytes {
                Err(DropReason::Oversized)
            } else {
                adapter::classify(topic, payload, &self.settings.zigbee2mqtt_prefix)
            };
            prepared.push(match parsed {
                Ok(p) => self.store_parsed(topic, p).await?,
                Err(reason) => (Err(reason), None),
            });
        }
        let all: Vec<NewSignal> = prepared
            .iter()
            .filter_map(|(o, _)| o.as_ref().ok())
            .flatten()
            .cloned()
            .collect();
        let mut inserted = self.store.insert_signals(&all).await?.into_iter();
        let mut out = Vec::with_capacity(prepared.len());
        for ((topic, _), (signals, receipt)) in messages.iter().zip(prepared) {
            let outcome = match signals {
                Err(reason) => {
                    self.metrics.record_drop(reason, topic);
                    let _ = self.events.send(IngestEvent::Dropped {
                        reason,
                        topic: topic.to_string(),
                    });
                    Err(reason)
                }
                Ok(signals) => Ok(signals
                    .into_iter()
                    .map(|s| {
                        let i = inserted.next().expect("one result per signal");
                        self.stored(s, i);
                        i
                    })
                    .collect()),
            };
            out.push(Handled { outcome, receipt });
        }
        Ok(out)
    }

    async fn store_parsed(
        &self,
        topic: &str,
        parsed: Parsed,
    ) -> Result<
        (
            Result<Vec<NewSignal>, DropReason>,
            Option<(String, Vec<u8>)>,
        ),
        StorageError,
    > {
        let now = self.clock.now();
        match parsed {
            Parsed::Event { device, event } => {
                let has_mac = event.mac.is_some();
                let dev = match self
                    .authenticated(
                        &device,
                        has_mac,
                        |d| event.verify(device.as_str(), &d.mac_key),
                        topic,
                        now,
                    )
                    .await?
                {
                    Ok(d) => d,
                    Err(reason) => return Ok((Err(reason), None)),
                };
                let signal = self.event_signal(&dev, &event, now);
                let receipt = Receipt::new(device.as_str(), event.seq, &dev.mac_key);
                let receipt = (
                    topic::device_receipts(&device),
                    serde_json::to_vec(&receipt).expect("receipt serialises"),
                );
                Ok((Ok(vec![signal]), Some(receipt)))
            }
            Parsed::Status { device, status } => {
                let has_mac = status.mac.is_some();
                let dev = match self
                    .authenticated(
                        &device,
                        has_mac,
                        |d| status.verify(device.as_str(), &d.mac_key),
                        topic,
                        now,
                    )
                    .await?
                {
                    Ok(d) => d,
                    Err(reason) => return Ok((Err(reason), None)),
                };
                let signal = self.new_signal(
                    &dev,
                    None,
                    SignalKind::DeviceHealth,
                    json!({ "status": status.status }),
                    None,
                    now,
                );
                Ok((Ok(vec![signal]), None))
            }
            Parsed::Foreign { device, signals } => {
                let dev = match self.device(&device).await? {
                    Ok(d) => d,
                    Err(reason) => return Ok((Err(reason), None)),
                };
                let signals = signals
                    .into_iter()
                    .map(|s| {
                        let kind = s.kind.unwrap_or(match dev.kind {
                            DeviceKind::CallButton => SignalKind::Emergency,
                            _ => SignalKind::Checkin,
                        });
                        self.new_signal(&dev, None, kind, s.body, None, now)
                    })
                    .collect();
                Ok((Ok(signals), None))
            }
        }
    }

    /// The device of a v1 message, if the message passes authentication. A MAC that fails against
    /// a cached key is checked once more against the stored key (the device may have been given a
    /// new secret); failing that, it is a security event.
    async fn authenticated(
        &self,
        device: &DeviceId,
        has_mac: bool,
        verify: impl Fn(&Device) -> bool,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Device, DropReason>, StorageError> {
        let r = DeviceRef::Id(device.clone());
        let dev = match self.device(&r).await? {
            Ok(d) => d,
            Err(reason) => return Ok(Err(reason)),
        };
        if self.authentic(has_mac, || verify(&dev)) {
            return Ok(Ok(dev));
        }
        self.devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(device.as_str());
        if let Ok(fresh) = self.device(&r).await?
            && fresh.mac_key != dev.mac_key
            && self.authentic(has_mac, || verify(&fresh))
        {
            return Ok(Ok(fresh));
        }
        self.security_event(device, topic, now).await?;
        Ok(Err(DropReason::BadMac))
    }

    /// Whether a message passes message authentication: required mode needs a valid MAC;
    /// optional mode checks one when present.
    fn authentic(&self, has_mac: bool, verify: impl FnOnce() -> bool) -> bool {
        match (self.settings.message_auth, has_mac) {
            (MessageAuth::Optional, false) => true,
            _ => verify(),
        }
    }

    fn event_signal(&self, dev: &Device, event: &Event, now: DateTime<Utc>) -> NewSignal {
        let kind = match event.kind {
            EventType::Emergency => SignalKind::Emergency,
            EventType::Activity => SignalKind::Activity,
            EventType::Checkin => SignalKind::Checkin,
            EventType::Heartbeat | EventType::Battery => SignalKind::DeviceHealth,
        };
        let mut body = json!({ "type": event.kind.as_str(), "seq": event.seq });
        if let Some(s) = event.sensor {
            body["sensor"] = json!(s.as_str());
        }
        if let Some(b) = event.battery {
            body["battery"] = json!(b);
        }
        let device_time = event
            .ts
            .as_deref()
            .and_then(|ts| DateTime::parse_from_rfc3339(ts).ok())
            .map(|t| t.with_timezone(&Utc));
        self.new_signal(
            dev,
            Some(format!("seq:{}", event.seq)),
            kind,
            body,
            device_time,
            now,
        )
    }

    fn new_signal(
        &self,
        dev: &Device,
        dedup_key: Option<String>,
        kind: SignalKind,
        body: serde_json::Value,
        device_time: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> NewSignal {
        let clock_skewed =
            device_time.is_some_and(|t| (t - now).abs() > self.settings.max_clock_skew);
        NewSignal {
            source: SignalSource::Device(dev.id.clone()),
            dedup_key,
            subject: Some(match &dev.resident {
                Some(r) => Subject::Resident(r.clone()),
                None => Subject::Device(dev.id.clone()),
            }),
            kind,
            body,
            device_time,
            received_at: now,
            clock_skewed,
        }
    }

    /// Counts and announces a stored (or duplicate) signal.
    fn stored(&self, s: NewSignal, inserted: SignalInsert) {
        let event = match inserted {
            SignalInsert::Stored(id) => IngestEvent::Stored(Signal {
                id,
                source: s.source,
                dedup_key: s.dedup_key,
                subject: s.subject,
                kind: s.kind,
                body: s.body,
                device_time: s.device_time,
                received_at: s.received_at,
                clock_skewed: s.clock_skewed,
            }),
            SignalInsert::Duplicate(_) => IngestEvent::Duplicate {
                source: s.source,
                dedup_key: s.dedup_key.unwrap_or_default(),
            },
        };
        match inserted {
            SignalInsert::Stored(_) => Metrics::inc(&self.metrics.stored),
            SignalInsert::Duplicate(_) => Metrics::inc(&self.metrics.duplicates),
        }
        let _ = self.events.send(event);
    }

    /// Writes a security event: a message on a device's topic that the device did not sign.
    async fn security_event(
        &self,
        device: &DeviceId,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        tracing::warn!(device_id = %device, topic, "Security: message authentication failed; message refused.");
        self.store
            .record_audit(&NewAuditEntry {
                actor: Actor("gateway".into()),
                action: "security.bad_mac".into(),
                object_kind: "security".into(),
                object_id: Some(device.to_string()),
                detail: json!({ "topic": topic, "reason": "message authentication failed: not signed by this device" }),
                at: now,
            })
            .await
    }

    /// The device a message names, from the cache or the store; or why it cannot be used.
    async fn device(&self, r: &DeviceRef) -> Result<Result<Device, DropReason>, StorageError> {
        let key = match r {
            DeviceRef::Id(id) => id.to_string(),
            DeviceRef::External(e) => e.clone(),
        };
        let cached = {
            let cache = self.devices.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(&key)
                .filter(|(_, at)| at.elapsed() < DEVICE_CACHE_TTL)
                .map(|(d, _)| d.clone())
        };
        let device = match cached {
            Some(d) => d,
            None => {
                let d = match r {
                    DeviceRef::Id(id) => self.store.get_device(id).await?,
                    DeviceRef::External(e) => self.store.get_device_by_external_id(e).await?,
                };
                self.devices
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, (d.clone(), Instant::now()));
                d
            }
        };
        Ok(match device {
            None => Err(DropReason::UnknownDevice),
            Some(d) if !d.enabled => Err(DropReason::DisabledDevice),
            Some(d) => Ok(d),
        })
    }
}
