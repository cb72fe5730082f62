//! The gateway's MQTT client: a persistent session that acknowledges each message only after it is
//! stored, and publishes receipts to devices and partners.

use crate::ingest::Ingestor;
use crate::metrics::Metrics;
use mimamori_core::endpoint::BrokerAddress;
use mimamori_core::topic;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
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
    let worker = tokio::spawn(store_in_order(
        from_loop,
        client.clone(),
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

/// Most messages stored in one transaction.
const BATCH: usize = 256;

/// Stores messages in the order they arrived — whatever has queued up while the last batch was
/// written goes in the next transaction — then publishes receipts and acknowledges each message.
async fn store_in_order(
    mut messages: mpsc::UnboundedReceiver<Publish>,
    client: AsyncClient,
    ingestor: Arc<Ingestor>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => return,
            p = messages.recv() => match p { Some(p) => p, None => return },
        };
        batch.clear();
        batch.push(first);
        while batch.len() < BATCH {
            match messages.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let items: Vec<(&str, &[u8])> = batch
            .iter()
            .map(|p| (p.topic.as_str(), p.payload.as_ref()))
            .collect();
        let handled = loop {
            match ingestor.handle_batch(&items).await {
                Ok(h) => break h,
                Err(e) => {
                    tracing::error!(error = %e, messages = items.len(), "Cannot store signals; retrying.");
                    // Stopped before they were stored: not acknowledged, so the broker delivers
                    // them again.
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        for (publish, handled) in batch.iter().zip(handled) {
            if let Some(reply) = handled.receipt {
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
                match client.publish(reply.topic, qos, false, reply.payload).await {
                    Ok(()) => Metrics::inc(&ingestor.metrics().receipts),
                    Err(e) => tracing::warn!(error = %e, "Cannot publish a receipt."),
                }
            }
            if let Err(e) = client.ack(publish).await {
                tracing::warn!(error = %e, "Cannot acknowledge a message.");
            }
        }
    }
}
