//! From a message to a stored signal: size limit, adapter, device lookup, message authentication,
//! normalisation, idempotent storage, receipt. Partners' reports on
//! `mimamori/v1/partners/{id}/concerns` go to the concern intake ([`Ingestor::with_concerns`]).
//!
//! Everything the ingestor keeps per id is bounded, since ids come from topics that anyone connected
//! may name: the device and partner records it has read ([`crate::cache`]: capped, expiring,
//! shrunk by [`Ingestor::sweep`]) and the windows of security events ([`crate::security_event`]).

use crate::adapter::{self, DeviceRef, Parsed};
use crate::cache::Cache;
use crate::concern::{ConcernIntake, PartnerReceipt, Refusal};
use crate::drop_reason::DropReason;
use crate::metrics::Metrics;
use crate::security_event::{SecurityEvents, SecurityReason};
use chrono::{DateTime, Duration, Utc};
use mimamori_core::clock::Clock;
use mimamori_core::config::{GatewayConfig, MessageAuth};
use mimamori_core::domain::{
    Device, DeviceId, DeviceKind, NewSignal, PartnerId, Signal, SignalKind, SignalSource, Subject,
};
use mimamori_core::protocol::{Event, EventType, Receipt};
use mimamori_core::storage::{PartnerAccess, SignalInsert, StorageError, Store};
use mimamori_core::topic;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{Notify, broadcast};

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
    /// Security events of one sender for one reason are written once per interval (the first at
    /// once, the rest as one summary).
    pub security_event_interval: Duration,
}

impl IngestSettings {
    /// The settings of `[gateway]`.
    pub fn of(config: &GatewayConfig) -> Self {
        Self {
            message_auth: config.message_auth,
            max_payload_bytes: config.max_payload_bytes,
            max_clock_skew: Duration::seconds(config.max_clock_skew_seconds),
            zigbee2mqtt_prefix: config.zigbee2mqtt_topic.clone(),
            security_event_interval: Duration::seconds(config.security_event_interval_seconds),
        }
    }
}

/// The result of one message.
#[derive(Debug)]
pub struct Handled {
    /// What was stored (or found stored already), or why nothing was.
    pub outcome: Result<Vec<SignalInsert>, DropReason>,
    /// A receipt to publish to the sender.
    pub receipt: Option<Reply>,
}

/// A message to publish back to a sender once its message is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub topic: String,
    pub payload: Vec<u8>,
    /// QoS 1, for partners' receipts: a partner's system is told once what became of a report.
    /// Devices' receipts go at QoS 0: a device resends until one arrives.
    pub at_least_once: bool,
}

/// How long a device or partner record is reused before it is read again (so that a disabled
/// device or a revoked partner takes effect within this time).
const CACHE_TTL: Duration = Duration::seconds(30);
/// How long "no such id" is remembered: a flood naming one unknown id costs a query this often,
/// and a device registered just now is seen this soon.
const UNKNOWN_TTL: Duration = Duration::seconds(5);
/// Most device (and, apart, partner) records held; beyond, the oldest are evicted.
pub const CACHE_ENTRIES: usize = 10_000;
/// A MAC that fails against a record read longer ago than this is checked once more against the
/// stored key (the device may have a new secret); a flood of bad MACs then costs one read a
/// second, not one a message.
const RECHECK_AFTER: Duration = Duration::seconds(1);

/// How many announcements ([`IngestEvent`]) a subscriber may fall behind before it misses some:
/// two of the largest batches the MQTT loop hands over (the broker's window), so that one that
/// keeps pace never misses a batch announced while it still reads the one before. A value is
/// dropped once every subscriber has read it: this bounds what a slow one holds, not what is kept.
/// (With a fixed 4,096 and a trial window of 8,192, ingest-bench's recorder missed whole batches
/// and counted them lost, though all were stored: docs/BENCHMARKS.md.)
pub const ANNOUNCED: usize = 2 * mimamori_broker::WINDOW;

/// Turns messages into signals. Shared by the MQTT loop (and any other transport).
pub struct Ingestor {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: IngestSettings,
    metrics: Arc<Metrics>,
    /// Device records by id or external id (`None`: no such device). Shared, not copied: an
    /// entry costs a pointer whether the device exists or not.
    devices: Cache<Option<Arc<Device>>>,
    /// Whether each partner id may send reports.
    partners: Cache<PartnerAccess>,
    /// Security events, written at most once per sender and reason per interval.
    security: SecurityEvents,
    /// Partners' reports published on MQTT; `None`: not taken (not subscribed).
    concerns: Option<ConcernIntake>,
    events: broadcast::Sender<IngestEvent>,
    /// Woken as soon as signals are stored (the alert service in this process).
    wake: std::sync::Mutex<Vec<Arc<Notify>>>,
}

/// A batch of messages checked and turned into signals ([`Ingestor::prepare`]), to be stored
/// ([`Ingestor::store`]) and finished ([`Ingestor::finish`]).
#[derive(Debug)]
pub struct Batch {
    /// Every signal of the batch, in the order of its messages.
    signals: Vec<NewSignal>,
    /// Per signal, what storing it did, for those stored already: the emergencies, stored as
    /// soon as the batch is prepared ([`Ingestor::prepare`]).
    urgent: Vec<Option<SignalInsert>>,
    /// Per message, in order: how many of `signals` are its own, or what became of it.
    messages: Vec<Step>,
}

impl Batch {
    /// The number of messages in the batch.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

/// Whether a signal goes ahead of the rest ([`Ingestor::prepare`]): a call button's press.
fn is_urgent(signal: &NewSignal) -> bool {
    signal.kind == SignalKind::Emergency
}

/// One message of a [`Batch`].
#[derive(Debug)]
enum Step {
    /// Its next `usize` signals of the batch, and the receipt to send once they are stored.
    Signals(usize, Option<Reply>),
    Stored(Box<NewSignal>, SignalInsert, Reply),
    /// Why not, on which topic.
    Dropped(DropReason, String, Option<Reply>),
}

/// What became of one message before the batch's signals are stored.
enum Prepared {
    /// Signals to store in the batch's transaction, and the receipt to send once they are.
    Signals(Vec<NewSignal>, Option<Reply>),
    /// A signal the concern intake has stored already (in a transaction of its own).
    Stored(NewSignal, SignalInsert, Reply),
    Dropped(DropReason, Option<Reply>),
}

impl Ingestor {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: IngestSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (events, _) = broadcast::channel(ANNOUNCED);
        Self {
            store,
            clock,
            security: SecurityEvents::new(settings.security_event_interval),
            settings,
            metrics,
            devices: Cache::new(CACHE_ENTRIES),
            partners: Cache::new(CACHE_ENTRIES),
            concerns: None,
            events,
            wake: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Wakes `waker` as soon as signals are stored — emergencies before the rest of their batch
    /// ([`Ingestor::store`]) — so a consumer in this process reads them at once instead of at its
    /// next poll.
    pub fn wake_on_store(&self, waker: Arc<Notify>) {
        self.wake
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(waker);
    }

    /// Wakes the consumers if `inserted` stored anything.
    fn stored_wake(&self, inserted: &[SignalInsert]) {
        if inserted
            .iter()
            .any(|i| matches!(i, SignalInsert::Stored(_)))
        {
            for waker in self.wake.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                waker.notify_one();
            }
        }
    }

    /// Takes partners' reports published on `mimamori/v1/partners/{id}/concerns` through
    /// `intake`, the same intake as the HTTP API's.
    pub fn with_concerns(mut self, intake: ConcernIntake) -> Self {
        self.concerns = Some(intake);
        self
    }

    /// Whether partners' reports are taken (and their topic is to be subscribed).
    pub fn takes_concerns(&self) -> bool {
        self.concerns.is_some()
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

    /// Handles messages in order, storing all their signals in a few statements: at a thousand
    /// messages a second, one commit per message would queue them up. An `Err` means the batch
    /// was not (or not wholly) stored: none of it may be acknowledged, and what was stored is a
    /// duplicate when delivered again.
    pub async fn handle_batch(
        &self,
        messages: &[(&str, &[u8])],
    ) -> Result<Vec<Handled>, StorageError> {
        let batch = self.prepare(messages).await?;
        let inserted = self.store(&batch).await?;
        Ok(self.finish(batch, inserted))
    }

    /// The first step of [`Ingestor::handle_batch`]: each message checked (size, adapter,
    /// device, MAC) and turned into the signals to store. Of these only the emergencies are
    /// stored here, in a transaction of their own, and the alert service woken: a call button's
    /// press then waits neither for the batch being stored before it nor for the rest of its
    /// own — under 10,000 events a second a batch holds thousands of them (issue 15), and even at
    /// 1,000 a second one of a hundred or more, which took PostgreSQL up to 13 ms. (A partner's
    /// report is stored here too, by the concern intake, in a transaction of its own.) The
    /// gateway prepares the next batch while the last one is stored. Stored ids are therefore
    /// not in message order, which no rule depends on. May be tried again after an `Err`: what
    /// was stored already is then a duplicate of itself.
    pub async fn prepare(&self, messages: &[(&str, &[u8])]) -> Result<Batch, StorageError> {
        let mut batch = Batch {
            signals: Vec::with_capacity(messages.len()),
            urgent: Vec::new(),
            messages: Vec::with_capacity(messages.len()),
        };
        for (topic, payload) in messages {
            Metrics::inc(&self.metrics.received);
            let partner = topic::parse_partner_concerns(topic);
            let prepared = match (&self.concerns, partner) {
                // Before the devices' size limit: a report may be larger (its own limit, with a
                // receipt saying so).
                (Some(intake), Some(partner)) => {
                    self.partner_report(intake, topic, partner, payload).await?
                }
                _ if payload.len() > self.settings.max_payload_bytes => {
                    Prepared::Dropped(DropReason::Oversized, None)
                }
                _ => match adapter::classify(topic, payload, &self.settings.zigbee2mqtt_prefix) {
                    Ok(p) => self.store_parsed(topic, p).await?,
                    Err(reason) => Prepared::Dropped(reason, None),
                },
            };
            batch.messages.push(match prepared {
                Prepared::Signals(signals, receipt) => {
                    let count = signals.len();
                    batch.signals.extend(signals);
                    Step::Signals(count, receipt)
                }
                Prepared::Stored(signal, inserted, receipt) => {
                    // A partner's report, stored by the concern intake already.
                    self.stored_wake(std::slice::from_ref(&inserted));
                    Step::Stored(Box::new(signal), inserted, receipt)
                }
                Prepared::Dropped(reason, receipt) => {
                    Step::Dropped(reason, topic.to_string(), receipt)
                }
            });
        }
        let urgent: Vec<NewSignal> = batch
            .signals
            .iter()
            .filter(|s| is_urgent(s))
            .cloned()
            .collect();
        if !urgent.is_empty() {
            let mut stored = self.store.insert_signals(&urgent).await?.into_iter();
            self.stored_wake(stored.as_slice());
            batch.urgent = batch
                .signals
                .iter()
                .map(|s| if is_urgent(s) { stored.next() } else { None })
                .collect();
        }
        Ok(batch)
    }

    /// The second step: the batch's signals stored (`Store::insert_signals`), but for the
    /// emergencies [`Ingestor::prepare`] stored. May be tried again after an `Err`: what was
    /// stored already is then a duplicate of itself.
    pub async fn store(&self, batch: &Batch) -> Result<Vec<SignalInsert>, StorageError> {
        if batch.urgent.is_empty() {
            let inserted = self.store.insert_signals(&batch.signals).await?;
            self.stored_wake(&inserted);
            return Ok(inserted);
        }
        let rest: Vec<NewSignal> = batch
            .signals
            .iter()
            .zip(&batch.urgent)
            .filter(|(_, stored)| stored.is_none())
            .map(|(s, _)| s.clone())
            .collect();
        let mut inserted = self.store.insert_signals(&rest).await?.into_iter();
        self.stored_wake(inserted.as_slice());
        batch
            .urgent
            .iter()
            .map(|stored| {
                stored
                    .or_else(|| inserted.next())
                    .ok_or_else(|| StorageError::Corrupt("a signal was not stored".into()))
            })
            .collect()
    }

    /// The last step, once stored: counts, announcements and receipts, one per message in order.
    pub fn finish(&self, batch: Batch, inserted: Vec<SignalInsert>) -> Vec<Handled> {
        let mut signals = batch.signals.into_iter().zip(inserted);
        let mut out = Vec::with_capacity(batch.messages.len());
        for step in batch.messages {
            out.push(match step {
                Step::Dropped(reason, topic, receipt) => {
                    self.metrics.record_drop(reason, &topic);
                    let _ = self.events.send(IngestEvent::Dropped { reason, topic });
                    Handled {
                        outcome: Err(reason),
                        receipt,
                    }
                }
                Step::Signals(count, receipt) => Handled {
                    outcome: Ok(signals
                        .by_ref()
                        .take(count)
                        .map(|(s, i)| {
                            self.stored(s, i);
                            i
                        })
                        .collect()),
                    receipt,
                },
                Step::Stored(signal, i, receipt) => {
                    self.stored(*signal, i);
                    Handled {
                        outcome: Ok(vec![i]),
                        receipt: Some(receipt),
                    }
                }
            });
        }
        self.count_held();
        out
    }

    /// Writes the summaries of security events whose interval has ended, and drops the device and
    /// partner records that have expired, giving their memory back. The gateway runs it every few
    /// seconds; tests call it after moving the clock.
    pub async fn sweep(&self) -> Result<(), StorageError> {
        let now = self.clock.now();
        self.devices.sweep(now);
        self.partners.sweep(now);
        let due = self.security.due(now);
        self.count_held();
        for entry in &due {
            self.store.record_audit(entry).await?;
        }
        Ok(())
    }

    /// Updates the gauges of what is held per id.
    fn count_held(&self) {
        let cached = self.devices.len() + self.partners.len();
        self.metrics
            .cached_records
            .store(cached as u64, Ordering::Relaxed);
        self.metrics
            .security_windows
            .store(self.security.open() as u64, Ordering::Relaxed);
    }

    /// A partner's report: the partner checked (it exists and may send), then the concern
    /// intake's checks and storage, and the receipt for its receipts topic.
    async fn partner_report(
        &self,
        intake: &ConcernIntake,
        topic: &str,
        partner: PartnerId,
        payload: &[u8],
    ) -> Result<Prepared, StorageError> {
        let now = self.clock.now();
        let receipts = topic::partner_receipts(&partner);
        let reply = |payload: Vec<u8>| Reply {
            topic: receipts.clone(),
            payload,
            at_least_once: true,
        };
        let access = match self.partners.get(partner.as_str(), now) {
            Some((access, _)) => access,
            None => {
                let access = intake.access(&partner).await?;
                let ttl = match access {
                    PartnerAccess::Unknown => UNKNOWN_TTL,
                    _ => CACHE_TTL,
                };
                self.partners.insert(partner.to_string(), access, now, ttl);
                access
            }
        };
        match access {
            // Nobody to answer: a topic of no partner is not where a partner's system listens.
            PartnerAccess::Unknown => {
                self.security_event(SecurityReason::UnknownPartner, partner.as_str(), topic, now)
                    .await?;
                return Ok(Prepared::Dropped(DropReason::UnknownPartner, None));
            }
            PartnerAccess::Disabled => {
                self.security_event(
                    SecurityReason::DisabledPartner,
                    partner.as_str(),
                    topic,
                    now,
                )
                .await?;
                let refusal = Refusal::PartnerDisabled;
                let receipt = PartnerReceipt::refused(None, &refusal).to_vec();
                return Ok(Prepared::Dropped(
                    refusal.drop_reason(),
                    Some(reply(receipt)),
                ));
            }
            PartnerAccess::Enabled => {}
        }
        let published = intake.receive_published(&partner, payload).await?;
        let receipt = reply(published.receipt);
        Ok(match published.outcome {
            Ok((signal, stored)) => Prepared::Stored(signal, stored, receipt),
            Err(refusal) => {
                if refusal == Refusal::OtherPartner {
                    self.security_event(SecurityReason::OtherPartner, partner.as_str(), topic, now)
                        .await?;
                }
                Prepared::Dropped(refusal.drop_reason(), Some(receipt))
            }
        })
    }

    async fn store_parsed(&self, topic: &str, parsed: Parsed) -> Result<Prepared, StorageError> {
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
                    Err(reason) => return Ok(Prepared::Dropped(reason, None)),
                };
                let signal = self.event_signal(&dev, &event, now);
                let receipt = Receipt::new(device.as_str(), event.seq, &dev.mac_key);
                let receipt = Reply {
                    topic: topic::device_receipts(&device),
                    payload: serde_json::to_vec(&receipt).expect("receipt serialises"),
                    at_least_once: false,
                };
                Ok(Prepared::Signals(vec![signal], Some(receipt)))
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
                    Err(reason) => return Ok(Prepared::Dropped(reason, None)),
                };
                let signal = self.new_signal(
                    &dev,
                    None,
                    SignalKind::DeviceHealth,
                    json!({ "status": status.status }),
                    None,
                    now,
                );
                Ok(Prepared::Signals(vec![signal], None))
            }
            Parsed::Foreign { device, signals } => {
                let dev = match self.device(&device, now).await? {
                    Ok((d, _)) => d,
                    Err(reason) => return Ok(Prepared::Dropped(reason, None)),
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
                Ok(Prepared::Signals(signals, None))
            }
        }
    }

    /// The device of a v1 message, if the message passes authentication. A MAC that fails against
    /// a cached key is checked once more against the stored key (the device may have been given a
    /// new secret) when the cached record is older than [`RECHECK_AFTER`]; failing that, it is a
    /// security event.
    async fn authenticated(
        &self,
        device: &DeviceId,
        has_mac: bool,
        verify: impl Fn(&Device) -> bool,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<Arc<Device>, DropReason>, StorageError> {
        let r = DeviceRef::Id(device.clone());
        let (dev, read_at) = match self.device(&r, now).await? {
            Ok(d) => d,
            Err(reason) => return Ok(Err(reason)),
        };
        if self.authentic(has_mac, || verify(&dev)) {
            return Ok(Ok(dev));
        }
        if now - read_at >= RECHECK_AFTER {
            self.devices.remove(device.as_str());
            if let Ok((fresh, _)) = self.device(&r, now).await?
                && fresh.mac_key != dev.mac_key
                && self.authentic(has_mac, || verify(&fresh))
            {
                return Ok(Ok(fresh));
            }
        }
        self.security_event(SecurityReason::BadMac, device.as_str(), topic, now)
            .await?;
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

    /// Counts a security event of `sender` (a device or partner id) and writes what is due: the
    /// first of its interval, and the summary of the interval before.
    async fn security_event(
        &self,
        reason: SecurityReason,
        sender: &str,
        topic: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        for entry in self.security.note(reason, sender, topic, now) {
            self.store.record_audit(&entry).await?;
        }
        Ok(())
    }

    /// The device a message names (and when its record was read), from the cache or the store;
    /// or why it cannot be used.
    async fn device(
        &self,
        r: &DeviceRef,
        now: DateTime<Utc>,
    ) -> Result<Result<(Arc<Device>, DateTime<Utc>), DropReason>, StorageError> {
        let key = match r {
            DeviceRef::Id(id) => id.as_str(),
            DeviceRef::External(e) => e.as_str(),
        };
        let (device, read_at) = match self.devices.get(key, now) {
            Some(cached) => cached,
            None => {
                let d = match r {
                    DeviceRef::Id(id) => self.store.get_device(id).await?,
                    DeviceRef::External(e) => self.store.get_device_by_external_id(e).await?,
                }
                .map(Arc::new);
                let ttl = if d.is_some() { CACHE_TTL } else { UNKNOWN_TTL };
                self.devices.insert(key.to_string(), d.clone(), now, ttl);
                (d, now)
            }
        };
        Ok(match device {
            None => Err(DropReason::UnknownDevice),
            Some(d) if !d.enabled => Err(DropReason::DisabledDevice),
            Some(d) => Ok((d, read_at)),
        })
    }
}
