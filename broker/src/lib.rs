//! # mimamori-broker
//!
//! The embedded MQTT broker: rumqttd (with our patch, `vendor/rumqttd/PATCHES.md`) in our process,
//! MQTT 3.1.1 only, where every login has the topic rights of what it is.
//!
//! - [`login`]: who may connect — the platform's service account, devices, partners,
//!   integrations — checked in parallel with fast hashes, repeated failures slowed down;
//! - [`rights`]: what each login may publish and subscribe to (a device only its own topics);
//! - [`security`]: refused logins and topics, counted and reported in bounded form;
//! - [`revocation`]: a revoked credential's open connection is dropped;
//! - [`local`]: the platform's own session without a socket, for the gateway in the same process.
//!
//! rumqttd's `start()` blocks forever and cannot be stopped, so the broker runs on its own threads
//! for the life of the process.

pub mod local;
pub mod login;
pub mod revocation;
pub mod rights;
pub mod security;

pub use login::SERVICE_CLIENT_PREFIX;
pub use rights::{ExternalLogin, Login, mosquitto_acl, nats_authorization};

use login::{LoginSettings, Logins};
use mimamori_core::secret::PasswordHasherConfig;
use mimamori_core::storage::Store;
use security::SecurityEvents;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot listen on {addr}: {source} (broker.listen / MIMAMORI__BROKER__LISTEN)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the broker did not start listening on {0}")]
    NotListening(SocketAddr),
    #[error("cannot start the broker thread: {0}")]
    Thread(std::io::Error),
}

/// What rumqttd is started with.
#[derive(Debug, Clone)]
struct BrokerSettings {
    /// MQTT 3.1.1 listener; port 0 picks a free port.
    listen: SocketAddr,
    /// MQTT over TLS listener: address, PEM certificate chain, PEM key.
    tls: Option<(SocketAddr, std::path::PathBuf, std::path::PathBuf)>,
    max_connections: usize,
    /// Largest payload the broker accepts; the gateway applies its own, smaller limit, so that
    /// an oversized event reaches it and is refused with a reason.
    max_payload_bytes: usize,
    /// How long a PUBACK may wait for the receipt to go with it (`broker.ack_hold_ms`).
    ack_hold_ms: u64,
}

/// Most QoS 1 messages sent to one connection and not yet acknowledged (rumqttd's own is 100).
pub const WINDOW: usize = 4096;

/// A running embedded broker.
#[derive(Debug)]
pub struct EmbeddedBroker {
    /// Where MQTT 3.1.1 clients connect.
    pub addr: SocketAddr,
    /// Where MQTT over TLS clients connect.
    pub addr_tls: Option<SocketAddr>,
    /// Refused logins and topics, and accepted logins, as they happen.
    pub security: Arc<SecurityEvents>,
    /// Ends the security reports and the revocation feed.
    shutdown: CancellationToken,
    /// The security reporter and the revocation feed.
    tasks: TaskTracker,
    /// Opens the platform's sessions without a socket.
    local: local::Local,
    /// The messages the broker holds in memory.
    held: rumqttd::HeldMessages,
}

impl EmbeddedBroker {
    /// Opens sessions of the platform's own components in this process straight on the router.
    pub fn local(&self) -> local::Local {
        self.local.clone()
    }

    /// How many messages the broker holds in memory: not yet read by every subscriber that will
    /// read them — a persistent session that is away (the gateway restarting) keeps what it has
    /// not read — or read within the last 100 ms or so. Once everything is delivered and
    /// acknowledged, it falls to 0.
    pub fn held_messages(&self) -> u64 {
        self.held.get()
    }

    /// How many times the broker has released what was read: [`Self::held_messages`] read after
    /// this count has grown is as of a release that began after the count was first read.
    pub fn releases(&self) -> u64 {
        self.held.releases()
    }

    /// The broker's counters for `/metrics`: logins and refusals, and the messages it holds.
    pub fn metrics(&self) -> Arc<dyn mimamori_core::metrics::Exposition> {
        Arc::new(BrokerMetrics {
            security: self.security.clone(),
            held: self.held.clone(),
        })
    }

    /// Stops the broker's own tasks: the security events counted since the last report are
    /// reported (log line and audit row) before this returns, and revocations are no longer read.
    /// rumqttd's threads cannot be stopped; they end with the process.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// What the embedded broker offers to `/metrics`.
struct BrokerMetrics {
    security: Arc<SecurityEvents>,
    held: rumqttd::HeldMessages,
}

impl mimamori_core::metrics::Exposition for BrokerMetrics {
    fn render(&self) -> String {
        let mut out = self.security.render();
        mimamori_core::metrics::metric(
            &mut out,
            "gauge",
            "mimamori_broker_held_messages",
            "Messages the embedded broker holds in memory: not yet read by every subscriber that will read them (a gateway away keeps its backlog here).",
            self.held.get(),
        );
        out
    }
}

/// The embedded broker of `config` (`[broker]`, the service account of `[mqtt]` with
/// `service_password`), logging devices, partners and integrations in against `store`: the one way
/// the platform starts it. Must be called inside a tokio runtime: the login decisions, the
/// security reports and the revocation feed run there. The feed is read from where it ends before
/// the broker listens: read by its task once started, a device that connected meanwhile and was
/// revoked before that first read stayed connected (a test under load saw it).
pub async fn start_embedded(
    config: &mimamori_core::config::Config,
    store: &Store,
    service_password: &str,
) -> Result<EmbeddedBroker, BrokerError> {
    let head = match store.login_revocations_head().await {
        Ok(head) => Some(head),
        Err(e) => {
            tracing::error!(error = %e, "Cannot read the login revocations; reading them once the broker runs.");
            None
        }
    };
    let security = Arc::new(SecurityEvents::new());
    let logins = Logins::spawn(
        store.clone(),
        LoginSettings {
            service_username: config.mqtt.username.clone(),
            service_password: service_password.to_string(),
            zigbee2mqtt_topic: config.gateway.zigbee2mqtt_topic.clone(),
            hasher: PasswordHasherConfig::default(),
        },
        security.clone(),
    );
    let broker = &config.broker;
    let settings = BrokerSettings {
        listen: broker.listen,
        tls: match (broker.tls_listen, &broker.tls_cert, &broker.tls_key) {
            (Some(a), Some(c), Some(k)) => Some((a, c.clone(), k.clone())),
            _ => None,
        },
        max_connections: broker.max_connections,
        max_payload_bytes: 4 * config.gateway.max_payload_bytes,
        ack_hold_ms: broker.ack_hold_ms,
    };
    let (broker, disconnector) = start(settings, logins, security.clone())?;
    let (reporter, feed, shutdown) = (security, store.clone(), broker.shutdown.clone());
    broker
        .tasks
        .spawn(async move { reporter.run(feed, shutdown).await });
    let (shutdown, store) = (broker.shutdown.clone(), store.clone());
    broker.tasks.spawn(async move {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = revocation::run(store, disconnector, head) => {}
        }
    });
    Ok(broker)
}

/// Starts rumqttd on its own threads with logins decided by `logins`, and returns once it accepts
/// connections, with the handle that drops connections.
fn start(
    settings: BrokerSettings,
    logins: Logins,
    security: Arc<SecurityEvents>,
) -> Result<(EmbeddedBroker, rumqttd::Disconnector), BrokerError> {
    let addr = resolve_port(settings.listen)?;
    let addr_tls = settings
        .tls
        .as_ref()
        .map(|(a, _, _)| resolve_port(*a))
        .transpose()?;

    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: settings.max_payload_bytes.max(64 * 1024),
        // The window of QoS 1 messages sent to a connection and not yet acknowledged: a gateway
        // in another process stores in batches and acknowledges a batch at once; with rumqttd's
        // 100 it waited for every batch's round trip (issue 15). Devices receive at QoS 0.
        max_inflight_count: WINDOW,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
        login: None,
        // A device's PUBACK waits (up to this long) for the receipt of what it published, which
        // the gateway sends once it is stored: one packet instead of two, to the device and on
        // the broker's network thread — at 10,000 events/s the writes to devices were over half
        // of that thread's time (issue 15, docs/BENCHMARKS.md). Everything else is sent at once.
        ack_hold_ms: settings.ack_hold_ms,
    };
    connections.set_login_handler(move |request: rumqttd::LoginRequest| {
        let logins = logins.clone();
        async move { logins.decide(request).await }
    });
    let server = |name: &str, listen: SocketAddr| rumqttd::ServerSettings {
        name: name.to_string(),
        listen,
        tls: None,
        // Accept as fast as connections come: a reconnect storm after a restart must not queue
        // behind a fixed delay per connection.
        next_connection_delay_ms: 0,
        connections: connections.clone(),
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: settings.max_connections,
            max_outgoing_packet_count: 200,
            // What every subscriber has read is released from memory (rumqttd patch), a segment at
            // a time: small segments free a burst as it is delivered. What nobody has read yet
            // is kept up to 256 × 1 MB per topic filter (a gateway away for a while), after which
            // the oldest is dropped.
            max_segment_size: 1024 * 1024,
            max_segment_count: 256,
            ..Default::default()
        },
        v4: Some({
            let mut v4 = HashMap::from([("v4".to_string(), server("mqtt-v4", addr))]);
            if let (Some(tls_addr), Some((_, cert, key))) = (addr_tls, &settings.tls) {
                let mut tls = server("mqtt-tls", tls_addr);
                tls.tls = Some(rumqttd::TlsConfig::Rustls {
                    capath: None,
                    certpath: cert.display().to_string(),
                    keypath: key.display().to_string(),
                });
                v4.insert("tls".to_string(), tls);
            }
            v4
        }),
        ..Default::default()
    };
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            let _ = handle_tx.send((
                broker.disconnector(),
                broker.linker(),
                broker.held_messages(),
            ));
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "The embedded MQTT broker stopped.");
            }
        })
        .map_err(BrokerError::Thread)?;
    let (disconnector, linker, held) = handle_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| BrokerError::NotListening(addr))?;
    for a in std::iter::once(addr).chain(addr_tls) {
        wait_listening(a)?;
    }
    tracing::info!(%addr, ?addr_tls, "Embedded MQTT broker listening.");
    Ok((
        EmbeddedBroker {
            addr,
            addr_tls,
            security,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            local: local::Local::new(linker),
            held,
        },
        disconnector,
    ))
}

/// rumqttd binds its listeners itself and does not report the port of `:0`: check the address is
/// free (or pick a free port) here, so that a taken port is a clear error rather than a log line.
fn resolve_port(addr: SocketAddr) -> Result<SocketAddr, BrokerError> {
    let probe = TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source })?;
    probe
        .local_addr()
        .map_err(|source| BrokerError::Bind { addr, source })
}

/// Waits (bounded) until the broker's listener accepts connections.
fn wait_listening(addr: SocketAddr) -> Result<(), BrokerError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::park_timeout(Duration::from_millis(10));
    }
    Err(BrokerError::NotListening(addr))
}
