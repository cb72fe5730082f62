//! The gateway as one component: [`build`] it from the configuration, then [`Gateway::run`] it
//! on the caller's task tracker. `mimamori up`, `mimamori gateway`, the benchmarks and the tests
//! start it only this way.

use crate::concern::ConcernIntake;
use crate::ingest::{IngestEvent, IngestSettings, Ingestor};
use crate::metrics::Metrics;
use crate::mqtt::MqttSettings;
use mimamori_core::clock::Clock;
use mimamori_core::config::Config;
use mimamori_core::endpoint::MqttEndpoint;
use mimamori_core::registry::Registry;
use mimamori_core::storage::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The gateway: its MQTT session and the ingestor that stores what arrives.
pub struct Gateway {
    ingestor: Arc<Ingestor>,
    /// Where it connects, and with which persistent session.
    mqtt: MqttSettings,
    /// The embedded broker in this process, reached without a socket; `None`: over `mqtt`.
    local: Option<mimamori_broker::local::Local>,
}

/// How often the gateway writes the summaries of security events whose interval has ended and
/// drops expired records from its caches.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The gateway of `config`, storing into `store` and reaching the broker at `endpoint`; partners'
/// reports on MQTT are routed by addresses through `registry`, as the HTTP API's are.
pub fn build(
    config: &Config,
    store: Store,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    endpoint: &MqttEndpoint,
) -> Gateway {
    let concerns = ConcernIntake::new(store.clone(), registry, clock.clone());
    let ingestor = Arc::new(
        Ingestor::new(
            store,
            clock,
            IngestSettings::of(&config.gateway),
            Arc::new(Metrics::default()),
        )
        .with_concerns(concerns),
    );
    Gateway {
        ingestor,
        mqtt: endpoint.clone(),
        local: None,
    }
}

impl Gateway {
    /// Its counters (stored, dropped and why), for `/metrics`.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.ingestor.metrics().clone()
    }

    /// Every signal as it is stored, and every message dropped (with why).
    pub fn events(&self) -> broadcast::Receiver<IngestEvent> {
        self.ingestor.subscribe()
    }

    /// Wakes `waker` whenever signals are stored, emergencies before the rest of their batch,
    /// so a consumer in this process reads them at once instead of at its next poll.
    pub fn wake_on_store(&self, waker: Arc<Notify>) {
        self.ingestor.wake_on_store(waker);
    }

    /// Takes its messages from the embedded broker of this process (`EmbeddedBroker::local`),
    /// straight from its router instead of over TCP on loopback (same client id, same persistent
    /// session).
    pub fn in_process(&mut self, local: mimamori_broker::local::Local) {
        self.local = Some(local);
    }

    /// Connects and stores until `shutdown`, every task on `tasks`.
    pub fn run(self, tasks: &TaskTracker, shutdown: &CancellationToken) {
        let (ingestor, stop) = (self.ingestor.clone(), shutdown.clone());
        tasks.spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = every.tick() => {
                        if let Err(e) = ingestor.sweep().await {
                            tracing::error!(error = %e, "Cannot write the summaries of security events.");
                        }
                    }
                }
            }
        });
        match self.local {
            Some(local) => tasks.spawn(crate::mqtt::run_local(
                local,
                self.mqtt,
                self.ingestor,
                shutdown.clone(),
            )),
            None => tasks.spawn(crate::mqtt::run(self.mqtt, self.ingestor, shutdown.clone())),
        };
    }
}
