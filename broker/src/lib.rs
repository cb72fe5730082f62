//! # mimamori-broker
//!
//! The embedded MQTT broker: rumqttd in our process, with device authentication against the
//! registry.
//!
//! - A device connects with username = its device id, password = the secret issued by
//!   `mimamori admin device add`, and **client id = username**: every connection's client id is
//!   bound to its authenticated identity. Disabled and unknown devices are refused.
//! - The platform's own components connect with the service account of `[mqtt]`, with client ids
//!   starting with `mimamori-`.
//! - Passwords are checked against the stored argon2 hash on a blocking thread, one at a time, and a
//!   verified password is cached (as its SHA-256) for [`CACHE_TTL`], so a device that reconnects
//!   often, or a storm of reconnects, costs a hash lookup rather than an argon2 run.
//!
//! rumqttd has no per-topic ACL and no publish hook: an authenticated device could publish on
//! another device's topic. The gateway therefore checks a per-device HMAC on every event
//! (see `docs/SECURITY.md`). rumqttd's `start()` blocks forever and cannot be stopped, so the broker
//! runs on its own threads for the life of the process.

use mimamori_core::domain::DeviceId;
use mimamori_core::secret::{PasswordHasherConfig, constant_time_eq};
use mimamori_core::storage::Store;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// How long a verified device password is trusted without running argon2 again.
pub const CACHE_TTL: Duration = Duration::from_secs(600);

/// Client ids of the platform's own components start with this; device ids may not.
pub const SERVICE_CLIENT_PREFIX: &str = "mimamori-";

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

/// What the broker needs to run.
#[derive(Clone)]
pub struct BrokerSettings {
    /// MQTT 3.1.1 listener; port 0 picks a free port.
    pub listen: SocketAddr,
    /// MQTT 5 listener.
    pub listen_v5: Option<SocketAddr>,
    /// MQTT over TLS listener: address, PEM certificate chain, PEM key.
    pub tls: Option<(SocketAddr, std::path::PathBuf, std::path::PathBuf)>,
    pub max_connections: usize,
    /// The platform's service account.
    pub service_username: String,
    pub service_password: String,
    /// Largest payload the broker accepts; the gateway applies its own, smaller limit, so that
    /// an oversized event reaches it and is refused with a reason.
    pub max_payload_bytes: usize,
}

/// Everything but the service password.
impl std::fmt::Debug for BrokerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerSettings")
            .field("listen", &self.listen)
            .field("listen_v5", &self.listen_v5)
            .field("tls", &self.tls)
            .field("max_connections", &self.max_connections)
            .field("service_username", &self.service_username)
            .field(
                "service_password",
                &format_args!("{}", mimamori_core::secret::REDACTED),
            )
            .field("max_payload_bytes", &self.max_payload_bytes)
            .finish()
    }
}

/// A running embedded broker.
#[derive(Debug)]
pub struct EmbeddedBroker {
    /// Where MQTT 3.1.1 clients connect.
    pub addr: SocketAddr,
    /// Where MQTT 5 clients connect.
    pub addr_v5: Option<SocketAddr>,
    /// Where MQTT over TLS clients connect.
    pub addr_tls: Option<SocketAddr>,
}

/// The embedded broker of `config` (`[broker]`, the service account of `[mqtt]` with
/// `service_password`), authenticating devices against `store`: the one way the platform starts it.
pub fn start_embedded(
    config: &mimamori_core::config::Config,
    store: &Store,
    service_password: &str,
) -> Result<EmbeddedBroker, BrokerError> {
    let auth = Authenticator::spawn(
        store.clone(),
        config.mqtt.username.clone(),
        service_password.to_string(),
        PasswordHasherConfig::default(),
    );
    let broker = &config.broker;
    let settings = BrokerSettings {
        listen: broker.listen,
        listen_v5: broker.listen_v5,
        tls: match (broker.tls_listen, &broker.tls_cert, &broker.tls_key) {
            (Some(a), Some(c), Some(k)) => Some((a, c.clone(), k.clone())),
            _ => None,
        },
        max_connections: broker.max_connections,
        service_username: config.mqtt.username.clone(),
        service_password: service_password.to_string(),
        max_payload_bytes: 4 * config.gateway.max_payload_bytes,
    };
    start(settings, auth)
}

/// Starts rumqttd on its own threads with authentication by `auth`, and returns once it accepts
/// connections. Must be called inside a tokio runtime (the authenticator runs there).
pub fn start(settings: BrokerSettings, auth: Authenticator) -> Result<EmbeddedBroker, BrokerError> {
    let addr = resolve_port(settings.listen)?;
    let addr_v5 = settings.listen_v5.map(resolve_port).transpose()?;
    let addr_tls = settings
        .tls
        .as_ref()
        .map(|(a, _, _)| resolve_port(*a))
        .transpose()?;

    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: settings.max_payload_bytes.max(16 * 1024),
        max_inflight_count: 100,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
        login: None,
    };
    connections.set_auth_handler(
        move |client_id: String, username: String, password: String| {
            let auth = auth.clone();
            async move { auth.check(client_id, username, password).await }
        },
    );
    let server = |name: &str, listen: SocketAddr| rumqttd::ServerSettings {
        name: name.to_string(),
        listen,
        tls: None,
        next_connection_delay_ms: 1,
        connections: connections.clone(),
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: settings.max_connections,
            max_outgoing_packet_count: 200,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 10,
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
        v5: addr_v5.map(|a| HashMap::from([("v5".to_string(), server("mqtt-v5", a))])),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "The embedded MQTT broker stopped.");
            }
        })
        .map_err(BrokerError::Thread)?;
    for a in std::iter::once(addr).chain(addr_v5).chain(addr_tls) {
        wait_listening(a)?;
    }
    tracing::info!(%addr, ?addr_v5, ?addr_tls, "Embedded MQTT broker listening.");
    Ok(EmbeddedBroker {
        addr,
        addr_v5,
        addr_tls,
    })
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

/// Decides who may connect. Cheap to clone; the decisions are made by a task in the runtime that
/// created it (rumqttd calls from its own runtimes, which must not touch our database pool).
#[derive(Clone)]
pub struct Authenticator {
    tx: mpsc::Sender<AuthRequest>,
}

struct AuthRequest {
    client_id: String,
    username: String,
    password: String,
    reply: oneshot::Sender<bool>,
}

/// Why a connection was refused (for logs and metrics; never the password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ClientIdMismatch,
    UnknownDevice,
    DisabledDevice,
    WrongPassword,
    ServiceAccount,
}

impl Authenticator {
    /// Spawns the deciding task on the current runtime.
    pub fn spawn(
        store: Store,
        service_username: String,
        service_password: String,
        hasher: PasswordHasherConfig,
    ) -> Self {
        let (tx, mut rx) = mpsc::channel::<AuthRequest>(1024);
        let state = Arc::new(AuthState {
            store,
            service_username,
            service_password,
            hasher,
            cache: Mutex::new(HashMap::new()),
            argon_slots: Semaphore::new(1),
        });
        tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let decision = state
                        .decide(&req.client_id, &req.username, &req.password)
                        .await;
                    match decision {
                        Ok(()) => {
                            tracing::debug!(client_id = %req.client_id, "MQTT connection accepted.")
                        }
                        Err(reason) => {
                            tracing::warn!(client_id = %req.client_id, ?reason, "MQTT connection refused.")
                        }
                    }
                    let _ = req.reply.send(decision.is_ok());
                });
            }
        });
        Self { tx }
    }

    /// Whether a connection may proceed.
    pub async fn check(&self, client_id: String, username: String, password: String) -> bool {
        let (reply, answer) = oneshot::channel();
        let request = AuthRequest {
            client_id,
            username,
            password,
            reply,
        };
        if self.tx.send(request).await.is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }
}

struct AuthState {
    store: Store,
    service_username: String,
    service_password: String,
    hasher: PasswordHasherConfig,
    /// Device id → (SHA-256 of the verified password, when verified).
    cache: Mutex<HashMap<String, ([u8; 32], Instant)>>,
    /// argon2 runs one at a time: a reconnect storm queues instead of taking every core.
    argon_slots: Semaphore,
}

impl AuthState {
    async fn decide(&self, client_id: &str, username: &str, password: &str) -> Result<(), Refusal> {
        if username == self.service_username {
            let ok = !self.service_password.is_empty()
                && constant_time_eq(password.as_bytes(), self.service_password.as_bytes())
                && client_id.starts_with(SERVICE_CLIENT_PREFIX);
            return if ok {
                Ok(())
            } else {
                Err(Refusal::ServiceAccount)
            };
        }
        if client_id != username || client_id.starts_with(SERVICE_CLIENT_PREFIX) {
            return Err(Refusal::ClientIdMismatch);
        }
        let id = DeviceId::parse(username).map_err(|_| Refusal::UnknownDevice)?;
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(username)
                .is_some_and(|(d, at)| at.elapsed() < CACHE_TTL && constant_time_eq(d, &digest))
        };
        let device = match self.store.get_device(&id).await {
            Ok(Some(d)) => d,
            Ok(None) => return Err(Refusal::UnknownDevice),
            Err(e) => {
                tracing::error!(error = %e, "Device lookup failed during MQTT authentication.");
                return Err(Refusal::UnknownDevice);
            }
        };
        if !device.enabled {
            return Err(Refusal::DisabledDevice);
        }
        if cached {
            return Ok(());
        }
        let _slot = self
            .argon_slots
            .acquire()
            .await
            .map_err(|_| Refusal::WrongPassword)?;
        let hasher = self.hasher.clone();
        let (pw, hash) = (password.to_string(), device.secret_hash.clone());
        let verified = tokio::task::spawn_blocking(move || hasher.verify(&pw, &hash))
            .await
            .unwrap_or(false);
        if !verified {
            return Err(Refusal::WrongPassword);
        }
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(username.to_string(), (digest, Instant::now()));
        Ok(())
    }
}
