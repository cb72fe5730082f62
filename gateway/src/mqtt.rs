//! The gateway's MQTT session: persistent, acknowledging each message only after it is stored,
//! publishing receipts to devices and partners. Over TCP to any broker ([`run`]), or — in the
//! embedded broker's process — straight on its router ([`run_local`]), without a socket.
//!
//! Both feed one pipeline ([`pipeline`]): batches of what the broker has delivered are prepared
//! (checked, authenticated, turned into signals) while the batch before is being stored, then
//! stored in one statement, then receipted and acknowledged in delivery order. A batch is never
//! acknowledged before it is stored: after a crash the broker delivers it again.

use crate::ingest::{Batch, Ingestor, Reply};
use crate::metrics::Metrics;
use mimamori_broker::local::{Delivery, Local, LocalReceiver, LocalSender, Outgoing};
use mimamori_core::endpoint::BrokerAddress;
use mimamori_core::topic;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Where and how the gateway connects: the platform's broker login, whose client id is fixed so
/// the broker keeps the session (and queues messages) while the gateway is away.
pub type MqttSettings = mimamori_core::endpoint::MqttEndpoint;

/// The topic filters the gateway subscribes to: devices', zigbee2mqtt's (unless off) and
/// partners' concerns (when it takes them).
pub fn filters(settings: &MqttSettings, zigbee2mqtt_prefix: &str, concerns: bool) -> Vec<String> {
    let mut f = vec![
        topic::shared(&settings.shared_group, topic::DEVICE_EVENTS_FILTER),
        topic::shared(&settings.shared_group, topic::DEVICE_STATUS_FILTER),
    ];
    if concerns {
        f.push(topic::shared(
            &settings.shared_group,
            topic::PARTNER_CONCERNS_FILTER,
        ));
    }
    if !zigbee2mqtt_prefix.is_empty() {
        f.push(topic::shared(
            &settings.shared_group,
            &format!("{zigbee2mqtt_prefix}/#"),
        ));
    }
    f
}

/// Runs until `shutdown`. Reconnects with backoff; a message whose storage fails is retried and
/// not acknowledged meanwhile.
///
/// The network loop and the storing are two tasks: the loop must keep polling the connection
/// (which is what sends our acknowledgements and receipts), while the worker stores messages in
/// the order they arrived, in batches of what has queued up, and acknowledges each once stored.
pub async fn run(settings: MqttSettings, ingestor: Arc<Ingestor>, shutdown: CancellationToken) {
    let mut nodes = settings.nodes();
    let (client, mut eventloop) = AsyncClient::new(options(&settings, nodes.current()), 4096);
    // No Nagle: the gateway writes many small packets (acknowledgements, receipts) and waits for
    // the broker's next messages, which wait for those acknowledgements. With Nagle's algorithm
    // each small write waited for the broker's delayed ACK (~40 ms on loopback): the stored times
    // came in bursts of the in-flight window 40–45 ms apart, 2,300 signals/s (issue 15).
    let mut network = eventloop.network_options();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    let subscriptions = filters(
        &settings,
        &ingestor.settings().zigbee2mqtt_prefix,
        ingestor.takes_concerns(),
    );
    // Unbounded: what it holds is bounded by the broker's in-flight window for this session.
    let (to_worker, from_loop) = mpsc::unbounded_channel::<Publish>();
    let worker = tokio::spawn(pipeline(
        TcpSource(from_loop),
        TcpSink(client.clone(), ingestor.clone()),
        ingestor.clone(),
        shutdown.clone(),
    ));
    let mut failures: u32 = 0;
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            e = eventloop.poll() => e,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                failures = 0;
                tracing::info!(session_present = ack.session_present, broker = %nodes.current(), "Gateway connected to the broker.");
                for filter in &subscriptions {
                    if let Err(e) = client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
                        tracing::error!(error = %e, filter, "Cannot subscribe.");
                    }
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if to_worker.send(publish).is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(error = %e, failures, broker = %nodes.current(), "Gateway cannot reach the broker; retrying.");
                }
                // On a cluster the next node; the backoff grows only once every node failed.
                if nodes.len() > 1 {
                    eventloop.mqtt_options = options(&settings, nodes.move_on());
                }
                let rounds = failures / nodes.len() as u32;
                let backoff = Duration::from_millis(100 * 2u64.pow(rounds.min(6)))
                    .min(Duration::from_secs(5));
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
    drop(to_worker);
    let _ = worker.await;
    let _ = client.try_disconnect();
    tracing::info!("Gateway stopped.");
}

/// The gateway's session on `node`: the broker keeps it (and queues for it) while the gateway is
/// away — on a cluster, on every node — and each message is acknowledged only once stored.
fn options(settings: &MqttSettings, node: &BrokerAddress) -> MqttOptions {
    let mut options = MqttOptions::new(&settings.client_id, &node.host, node.port);
    options
        .set_credentials(&settings.username, &settings.password)
        .set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(512 * 1024, 512 * 1024)
        .set_inflight(100);
    options
}

/// Most messages in one batch: half the broker's window (the embedded broker's, and what the
/// gateway's own session on it asks for), so that the broker has delivered the next batch while
/// one is stored, and it is prepared meanwhile. With a batch the whole window, nothing more came
/// before the batch was acknowledged, and the storing waited for each next batch's delivery and
/// checks (13–26 ms a batch of 4,096 at saturation, against 45 ms storing it; issue 15).
const BATCH: usize = mimamori_broker::WINDOW / 2;
const _: () = assert!(2 * BATCH <= mimamori_broker::WINDOW);

/// A message as the broker delivered it.
trait Delivered: Send + 'static {
    fn topic(&self) -> &str;
    fn payload(&self) -> &[u8];
}

impl Delivered for Publish {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn payload(&self) -> &[u8] {
        &self.payload
    }
}

impl Delivered for Delivery {
    fn topic(&self) -> &str {
        &self.topic
    }
    fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// Where batches come from; `None`: the session ended.
trait Source<D>: Send {
    fn next_batch(&mut self) -> impl Future<Output = Option<Vec<D>>> + Send;
}

/// Where a stored batch's receipts and acknowledgements go; `false`: the session ended.
trait Sink<D>: Send {
    fn reply(&mut self, done: Vec<D>, receipts: Vec<Reply>) -> impl Future<Output = bool> + Send;
}

/// How a pipeline ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Shutdown,
    SessionLost,
}

/// Prepares each batch while the one before is stored, stores it, then replies — one batch
/// ahead at most, so what is held is bounded by a few batches. A batch that cannot be prepared or
/// stored is tried again every second and not acknowledged meanwhile.
///
/// Preparing is a task of its own, so that it runs on another core than the storing: in one
/// task, each of the store's round trips to the database waited for a whole batch's checks.
async fn pipeline<D: Delivered>(
    mut source: impl Source<D> + 'static,
    mut sink: impl Sink<D>,
    ingestor: Arc<Ingestor>,
    shutdown: CancellationToken,
) -> Ended {
    let (to_store, mut prepared) = mpsc::channel::<(Vec<D>, Batch)>(1);
    let (checker, stop) = (ingestor.clone(), shutdown.clone());
    let preparing = tokio::spawn(async move {
        while let Some(delivered) = source.next_batch().await {
            let items: Vec<(&str, &[u8])> =
                delivered.iter().map(|d| (d.topic(), d.payload())).collect();
            let Some(batch) = retry(&stop, items.len(), || checker.prepare(&items)).await else {
                return;
            };
            drop(items);
            if to_store.send((delivered, batch)).await.is_err() {
                return;
            }
        }
    });
    let _stop_preparing = AbortOnDrop(preparing.abort_handle());
    let storing = async {
        while let Some((delivered, batch)) = prepared.recv().await {
            let Some(inserted) = retry(&shutdown, batch.len(), || ingestor.store(&batch)).await
            else {
                return Ended::Shutdown;
            };
            let receipts = ingestor
                .finish(batch, inserted)
                .into_iter()
                .filter_map(|h| h.receipt)
                .collect();
            if !sink.reply(delivered, receipts).await {
                return Ended::SessionLost;
            }
        }
        Ended::SessionLost
    };
    tokio::select! {
        () = shutdown.cancelled() => Ended::Shutdown,
        ended = storing => ended,
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `attempt` until it succeeds (`None` on shutdown first), logging each failure.
async fn retry<T, F: Future<Output = Result<T, mimamori_core::storage::StorageError>>>(
    shutdown: &CancellationToken,
    messages: usize,
    mut attempt: impl FnMut() -> F,
) -> Option<T> {
    loop {
        match attempt().await {
            Ok(t) => return Some(t),
            Err(e) => {
                tracing::error!(error = %e, messages, "Cannot store signals; retrying.");
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

/// What the TCP session's network loop passes on, in batches of what has queued up.
struct TcpSource(mpsc::UnboundedReceiver<Publish>);

impl Source<Publish> for TcpSource {
    async fn next_batch(&mut self) -> Option<Vec<Publish>> {
        let mut batch = vec![self.0.recv().await?];
        while batch.len() < BATCH {
            match self.0.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        Some(batch)
    }
}

/// Receipts and acknowledgements through the TCP session's client.
struct TcpSink(AsyncClient, Arc<Ingestor>);

impl Sink<Publish> for TcpSink {
    async fn reply(&mut self, done: Vec<Publish>, receipts: Vec<Reply>) -> bool {
        for reply in receipts {
            // Devices' receipts at QoS 0: a lost receipt only means the device sends again
            // (and is receipted again). At QoS 1 a thousand receipts a second, each with its
            // PUBACK, filled the connection's in-flight window and held back the
            // acknowledgements of incoming messages behind them: p99 press → alert went from
            // 50 to 110 ms. Partners' receipts at QoS 1: few, and the only answer they get.
            let qos = if reply.at_least_once {
                QoS::AtLeastOnce
            } else {
                QoS::AtMostOnce
            };
            match self.0.publish(reply.topic, qos, false, reply.payload).await {
                Ok(()) => Metrics::inc(&self.1.metrics().receipts),
                Err(e) => tracing::warn!(error = %e, "Cannot publish a receipt."),
            }
        }
        for publish in &done {
            if let Err(e) = self.0.ack(publish).await {
                tracing::warn!(error = %e, "Cannot acknowledge a message.");
            }
        }
        // A broken connection is the network loop's to mend: it reconnects, and the broker
        // delivers again what was not acknowledged.
        true
    }
}

impl Source<Delivery> for LocalReceiver {
    async fn next_batch(&mut self) -> Option<Vec<Delivery>> {
        let mut batch = Vec::with_capacity(BATCH);
        match self.recv(&mut batch, BATCH).await {
            Ok(()) => Some(batch),
            Err(e) => {
                tracing::warn!(error = %e, "Gateway's session on the embedded broker ended; opening it again.");
                None
            }
        }
    }
}

/// Receipts and acknowledgements pushed to the router, a batch at a time.
struct LocalSink(LocalSender, Arc<Ingestor>);

impl Sink<Delivery> for LocalSink {
    async fn reply(&mut self, done: Vec<Delivery>, receipts: Vec<Reply>) -> bool {
        let sent = receipts.len() as u64;
        let receipts = receipts
            .into_iter()
            .map(|r| Outgoing {
                topic: r.topic,
                payload: r.payload,
                at_least_once: r.at_least_once,
            })
            .collect();
        match self.0.reply(&done, receipts).await {
            Ok(()) => {
                self.1
                    .metrics()
                    .receipts
                    .fetch_add(sent, std::sync::atomic::Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "Gateway's session on the embedded broker ended; opening it again.");
                false
            }
        }
    }
}

/// Runs on the embedded broker's router until `shutdown`: the same persistent session as over
/// TCP, without a socket. What the router has queued arrives as one batch; the batch's receipts
/// and acknowledgements go back in one push.
pub async fn run_local(
    local: Local,
    settings: MqttSettings,
    ingestor: Arc<Ingestor>,
    shutdown: CancellationToken,
) {
    let subscriptions = filters(
        &settings,
        &ingestor.settings().zigbee2mqtt_prefix,
        ingestor.takes_concerns(),
    );
    loop {
        let opened = tokio::select! {
            () = shutdown.cancelled() => break,
            s = local.open(&settings.client_id, &subscriptions, mimamori_broker::WINDOW) => s,
        };
        let (receiver, sender) = match opened {
            Ok(s) => {
                tracing::info!("Gateway connected to the embedded broker (in process).");
                s
            }
            Err(e) => {
                tracing::warn!(error = %e, "Gateway cannot open its session on the embedded broker; retrying.");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let mut sink = LocalSink(sender, ingestor.clone());
        let ended = pipeline(receiver, &mut sink, ingestor.clone(), shutdown.clone()).await;
        sink.0.close().await;
        if ended == Ended::Shutdown {
            break;
        }
    }
    tracing::info!("Gateway stopped.");
}

impl<D, S: Sink<D>> Sink<D> for &mut S {
    fn reply(&mut self, done: Vec<D>, receipts: Vec<Reply>) -> impl Future<Output = bool> + Send {
        (**self).reply(done, receipts)
    }
}
