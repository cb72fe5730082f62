//! Delivery: the outbox worker and one module per channel.
//!
//! Notification rows are written in the same transaction as the decision to notify (an alert
//! opened, an escalation step). [`Outbox::send_next`] claims one due row atomically, hands it to the
//! channel's [`Sender`], and records the result: sent; a retry with exponential backoff and
//! jitter (a channel's `retry_after` honoured); or a permanent failure, which is flagged to the
//! operators as an alert of its own — while the escalation of the original alert goes on regardless.
//!
//! In one process, the alert service inserts the rows of the channels this outbox sends already
//! claimed by it and hands them over with the alert as written ([`Handoff`]) — and an MQTT row with
//! the stream message numbered for it there: a new emergency goes out without a poll, a claim or a
//! read. The row stays the record; a handed-over row whose lease
//! ran out before its turn is left to the poll, and one whose process died is sent by any worker
//! once its lease ends.
//!
//! What goes out on MQTT and webhooks carries ids, district, kind, time and a short label: never
//! names, addresses or health notes ([`payload`]). On MQTT it goes out as the alert stream's
//! message: numbered, signed and stored first ([`stream`]).

pub mod email;
pub mod link;
pub mod message;
pub mod mqtt;
pub mod reminder;
pub mod stream;
mod targets;
pub mod telegram;
pub mod webhook;

pub use targets::{Event, MQTT_ALERT_TOPIC, Targets, Tell, Told};

use chrono::{DateTime, Utc};
use mimamori_core::clock::Clock;
use mimamori_core::domain::{Alert, AlertKind, Channel, NewAlert, Notification, Severity, Subject};
use mimamori_core::storage::{Claim, StorageError, Store, StreamEntry, StreamMaker};
use rand::Rng;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Installs the process's TLS crypto provider (ring) for HTTPS clients; later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why a delivery did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// Try again later (server error, timeout, rate limit); `after`: what the receiver asked for.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// This will never work (bad address, gone, blocked): stop and flag it.
    Permanent(String),
}

/// The store failing while a message is prepared: try again later.
fn retry_storage(e: StorageError) -> SendError {
    SendError::Retry {
        reason: format!("store: {e}"),
        after: None,
    }
}

/// A channel's delivery. The notification row says what happened (`body.event`) and to whom; the
/// message is rendered at send time from the alert's current state.
pub trait Sender: Send + Sync {
    fn send<'a>(
        &'a self,
        notification: &'a Notification,
        alert: &'a Alert,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

    /// How this sender makes its alert-stream messages, if it publishes the stream (MQTT): a
    /// row claimed for it as it is written then has its message numbered in the same
    /// transaction ([`Claim::stream`]).
    fn stream(&self) -> Option<StreamMaker> {
        None
    }

    /// Sends a row handed over with the stream message its alert's transaction numbered for it
    /// (a sender with a [`Sender::stream`]): that message as it was committed, without reading
    /// it back. Others send as [`Sender::send`] does.
    fn send_numbered<'a>(
        &'a self,
        notification: &'a Notification,
        alert: &'a Alert,
        _entry: StreamEntry,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>> {
        self.send(notification, alert)
    }
}

/// The JSON that integrations receive about an alert: no personal data.
pub fn payload(notification: &Notification, alert: &Alert) -> serde_json::Value {
    let event = match notification
        .body
        .get("event")
        .and_then(|e| e.as_str())
        .unwrap_or("changed")
    {
        "raised" if alert.evidence_count > 1 => "evidence_added",
        "raised" => "created",
        other => other,
    };
    serde_json::json!({
        "v": 1,
        "event": event,
        "notification": notification.id,
        "teams": notification.body.get("teams"),
        "step": notification.body.get("step"),
        "alert": {
            "id": alert.id,
            "kind": alert.kind,
            "label": alert.kind.label_ja(),
            "state": alert.state,
            "severity": alert.severity,
            "district": alert.district,
            "team": alert.team,
            "subject": alert.subject.public_key(),
            "opened_at": alert.opened_at,
            "evidence_count": alert.evidence_count,
            "escalation_step": alert.escalation_step,
            "acknowledged_by": alert.acknowledged_by,
            "outcome": alert.outcome,
        }
    })
}

/// The MQTT topic of an alert: `mimamori/v1/alerts/{district}/{alert_id}` (`triage` without a district).
pub fn alert_topic(alert: &Alert) -> String {
    format!(
        "{}/alerts/{}/{}",
        mimamori_core::topic::PREFIX,
        alert
            .district
            .as_ref()
            .map(|d| d.as_str())
            .unwrap_or("triage"),
        alert.id
    )
}

/// A row claimed as it was written, with its alert as the same transaction left it and, for an
/// MQTT row, its stream message numbered there.
type Handed = (Notification, Alert, Option<StreamEntry>);

/// The way to hand notifications to this process's outbox as they are written (from
/// [`Outbox::handoff`]).
#[derive(Clone)]
pub struct Handoff {
    worker: String,
    lease: chrono::Duration,
    queues: HashMap<Channel, tokio::sync::mpsc::UnboundedSender<Handed>>,
    wake: Arc<tokio::sync::Notify>,
    /// The MQTT sender's signer ([`Claim::stream`]).
    stream: Option<StreamMaker>,
}

impl Handoff {
    /// The claim to write rows with at `now`: this outbox's channels, for one lease.
    pub fn claim(&self, now: DateTime<Utc>) -> Claim {
        Claim {
            worker: self.worker.clone(),
            channels: self.queues.keys().copied().collect(),
            until: now + self.lease,
            stream: self.stream.clone(),
        }
    }

    /// Hands over the rows an alert's transaction wrote with [`Handoff::claim`], with the stream
    /// messages it numbered for them (after it committed).
    pub fn hand(&self, opened: &mimamori_core::storage::OpenedAlert) {
        for n in &opened.claimed {
            if let Some(queue) = self.queues.get(&n.channel) {
                let entry = opened
                    .streamed
                    .iter()
                    .find(|e| e.notification == n.id)
                    .cloned();
                // A worker that is gone leaves the row to the lease, like a crash.
                let _ = queue.send((n.clone(), opened.alert.clone(), entry));
            }
        }
    }

    /// Tells the worker that rows were written unclaimed: it looks at once, not at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Claims and sends notifications.
pub struct Outbox {
    store: Store,
    senders: HashMap<Channel, Arc<dyn Sender>>,
    clock: Arc<dyn Clock>,
    worker: String,
    /// First retry delay; doubled per attempt up to `max_backoff`.
    pub base_backoff: chrono::Duration,
    pub max_backoff: chrono::Duration,
    /// How long a claimed row is ours before another worker may take it over.
    pub lease: chrono::Duration,
    /// Notified when rows are written, so that they go out at once rather than at the next poll.
    wake: Arc<tokio::sync::Notify>,
    /// Per channel: rows handed over as they were written ([`Handoff`]).
    queues: HashMap<Channel, tokio::sync::mpsc::UnboundedSender<Handed>>,
    handed: std::sync::Mutex<HashMap<Channel, tokio::sync::mpsc::UnboundedReceiver<Handed>>>,
    /// Rows [`Outbox::step`] took from the handed-over queues and has not sent yet, lowest id
    /// first, so that one step at a time sends them in the order they were written.
    stepped: std::sync::Mutex<std::collections::VecDeque<Handed>>,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Sent(i64),
    Retry(i64, DateTime<Utc>),
    Failed(i64),
}

impl Outbox {
    pub fn new(store: Store, clock: Arc<dyn Clock>, worker: impl Into<String>) -> Self {
        Self {
            store,
            senders: HashMap::new(),
            clock,
            worker: worker.into(),
            base_backoff: chrono::Duration::seconds(2),
            // Short enough that a channel back after an outage delivers within a minute (jitter
            // included: at most 54 s); one try per notification per ~45 s is no load for it.
            max_backoff: chrono::Duration::seconds(45),
            lease: chrono::Duration::minutes(2),
            wake: Arc::new(tokio::sync::Notify::new()),
            queues: HashMap::new(),
            handed: Default::default(),
            stepped: Default::default(),
        }
    }

    /// Notify this after writing notifications: the worker sends them at once.
    pub fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// For writers in this process: claim rows as they are written and hand them over.
    pub fn handoff(&self) -> Handoff {
        Handoff {
            worker: self.worker.clone(),
            lease: self.lease,
            queues: self.queues.clone(),
            wake: self.wake.clone(),
            stream: self
                .senders
                .get(&Channel::Mqtt)
                .and_then(|sender| sender.stream()),
        }
    }

    pub fn with_sender(mut self, channel: Channel, sender: Arc<dyn Sender>) -> Self {
        self.senders.insert(channel, sender);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.queues.insert(channel, tx);
        self.handed
            .get_mut()
            .expect("handed-over queues")
            .insert(channel, rx);
        self
    }

    /// One step of what [`Outbox::run`] does, for callers that drive the outbox themselves (the
    /// tests, on an injected clock): sends the oldest row handed over as it was written, else
    /// the next due row of any channel, if any.
    pub async fn step(&self) -> Result<Option<Step>, StorageError> {
        loop {
            let next = {
                let mut stepped = self.stepped.lock().expect("stepped rows");
                let mut handed = self.handed.lock().expect("handed-over queues");
                for queue in handed.values_mut() {
                    while let Ok(h) = queue.try_recv() {
                        stepped.push_back(h);
                    }
                }
                stepped.make_contiguous().sort_by_key(|(n, _, _)| n.id);
                stepped.pop_front()
            };
            match next {
                // A handed-over row whose lease ran out is due again: the poll below sends it.
                Some(h) => match self.send_handed(h).await? {
                    Some(step) => return Ok(Some(step)),
                    None => continue,
                },
                None => return self.send_next().await,
            }
        }
    }

    /// Sends the next due notification of any channel, if any.
    pub async fn send_next(&self) -> Result<Option<Step>, StorageError> {
        self.send_next_on(None).await
    }

    /// Sends the next due notification of `channel` (any channel: `None`), if any.
    pub async fn send_next_on(
        &self,
        channel: Option<Channel>,
    ) -> Result<Option<Step>, StorageError> {
        let now = self.clock.now();
        let Some(n) = self
            .store
            .claim_notification_on(&self.worker, channel, now, self.lease)
            .await?
        else {
            return Ok(None);
        };
        let alert = self.store.get_alert(n.alert).await?;
        self.deliver(n, alert, None).await.map(Some)
    }

    /// Sends a row handed over as it was written, unless its lease ran out while it waited (then
    /// it is due again, and the poll sends it).
    async fn send_handed(&self, (n, alert, entry): Handed) -> Result<Option<Step>, StorageError> {
        if n.claimed_until
            .is_none_or(|until| self.clock.now() >= until)
        {
            return Ok(None);
        }
        self.deliver(n, alert, entry).await.map(Some)
    }

    /// Sends a claimed row (with its stream message, when handed over with it) and records the
    /// result.
    async fn deliver(
        &self,
        n: Notification,
        alert: Alert,
        entry: Option<StreamEntry>,
    ) -> Result<Step, StorageError> {
        let result = match (self.senders.get(&n.channel), entry) {
            (Some(sender), Some(entry)) => sender.send_numbered(&n, &alert, entry).await,
            (Some(sender), None) => sender.send(&n, &alert).await,
            // A channel this deployment does not run (yet): keep the row, try again later.
            (None, _) => Err(SendError::Retry {
                reason: format!("no sender for channel {}", n.channel),
                after: Some(Duration::from_secs(60)),
            }),
        };
        let done = self.clock.now();
        match result {
            Ok(()) => {
                self.store
                    .mark_notification_sent(n.id, &self.worker, done)
                    .await?;
                tracing::info!(notification_id = n.id, alert_id = %n.alert, channel = %n.channel, attempt = n.attempts, "Notification sent.");
                Ok(Step::Sent(n.id))
            }
            Err(SendError::Retry { reason, after }) => {
                let retry_at = done + self.backoff(n.attempts, after);
                self.store
                    .mark_notification_retry(n.id, &self.worker, &reason, retry_at, done)
                    .await?;
                tracing::warn!(notification_id = n.id, alert_id = %n.alert, channel = %n.channel, attempt = n.attempts, %retry_at, reason, "Notification failed; will retry.");
                Ok(Step::Retry(n.id, retry_at))
            }
            Err(SendError::Permanent(reason)) => {
                self.store
                    .mark_notification_failed(n.id, &self.worker, &reason, done)
                    .await?;
                tracing::error!(notification_id = n.id, alert_id = %n.alert, channel = %n.channel, reason, "Notification failed permanently; flagged to operators.");
                self.flag(&n, &reason, done).await?;
                Ok(Step::Failed(n.id))
            }
        }
    }

    /// Exponential backoff with ±20 % jitter, or what the receiver asked for if longer.
    fn backoff(&self, attempts: i64, asked: Option<Duration>) -> chrono::Duration {
        let exp = self.base_backoff * 2i32.pow(attempts.clamp(1, 16) as u32 - 1);
        let capped = exp.min(self.max_backoff);
        let jitter = rand::rng().random_range(0.8..1.2);
        let with_jitter =
            chrono::Duration::milliseconds((capped.num_milliseconds() as f64 * jitter) as i64);
        match asked.and_then(|a| chrono::Duration::from_std(a).ok()) {
            Some(a) if a > with_jitter => a,
            _ => with_jitter,
        }
    }

    /// Opens (or joins) a delivery-failure alert for the operators about the channel.
    async fn flag(
        &self,
        n: &Notification,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        // One alert per failing address, named by a digest of it: the subject travels in MQTT
        // and webhook payloads, and an address (a family member's email) is personal data. The
        // address itself is on the notification row, behind login.
        let address = mimamori_core::secret::token_hash(&n.target);
        let new = NewAlert {
            subject: Subject::Channel(format!("{}:{}", n.channel, &address[..16])),
            kind: AlertKind::DeliveryFailed,
            severity: Severity::High,
            district: None,
            summary: AlertKind::DeliveryFailed.label_ja().to_string(),
            detail: serde_json::json!({ "channel": n.channel, "notification": n.id, "alert": n.alert, "reason": reason }),
            at,
        };
        let routed = mimamori_core::storage::Routed {
            team: Some(mimamori_core::registry::Registry::default_team_id(
                mimamori_core::domain::TeamKind::Operators,
                None,
            )),
            escalate_at: None,
            cursor: None,
        };
        self.store
            .open_routed_alert(&new, &routed, &[], None)
            .await?;
        Ok(())
    }

    /// Sends until `shutdown`: one loop per channel, so that a slow or failing channel (a
    /// Telegram outage, an SMTP server timing out) never holds back the others. Each loop sends
    /// what is handed over first, idles up to 250 ms when nothing is due, and wakes at once when
    /// rows are written or handed over.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut handed = std::mem::take(&mut *self.handed.lock().expect("handed-over queues"));
        let wake = self.wake.clone();
        let this = Arc::new(self);
        let tasks = tokio_util::task::TaskTracker::new();
        let mut wakers = Vec::new();
        for (channel, queue) in handed.drain() {
            let waker = Arc::new(tokio::sync::Notify::new());
            wakers.push(waker.clone());
            tasks.spawn(
                this.clone()
                    .run_channel(channel, queue, waker, shutdown.clone()),
            );
        }
        tasks.close();
        // One waker for writers, passed on to every channel's loop.
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => wakers.iter().for_each(|w| w.notify_one()),
            }
        }
        tasks.wait().await;
    }

    async fn run_channel(
        self: Arc<Self>,
        channel: Channel,
        mut handed: tokio::sync::mpsc::UnboundedReceiver<Handed>,
        wake: Arc<tokio::sync::Notify>,
        shutdown: CancellationToken,
    ) {
        // A row handed over while this loop waited, to send first on the next turn.
        let mut arrived: Option<Handed> = None;
        loop {
            let step = match arrived.take().or_else(|| handed.try_recv().ok()) {
                Some(h) => self.send_handed(h).await.map(|_| Some(())),
                None => self
                    .send_next_on(Some(channel))
                    .await
                    .map(|s| s.map(|_| ())),
            };
            let idle = match step {
                Ok(Some(())) => false,
                Ok(None) => true,
                Err(e) => {
                    tracing::error!(error = %e, %channel, "Outbox step failed; retrying.");
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    Some(h) = handed.recv() => arrived = Some(h),
                    () = wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            } else if shutdown.is_cancelled() {
                break;
            }
        }
        // Rows handed over but not sent: given back, so that the next process (a restart, an
        // upgrade) sends them at once instead of when their lease ends.
        while let Some((n, _, _)) = arrived.take().or_else(|| handed.try_recv().ok()) {
            if let Err(e) = self.store.release_notification(n.id, &self.worker).await {
                tracing::warn!(error = %e, notification_id = n.id, "Cannot give back a notification; it is sent when its lease ends.");
            }
        }
    }
}
