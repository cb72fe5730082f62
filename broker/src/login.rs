//! Who may connect, and with which topic rights ([`crate::rights`]).
//!
//! | username | password | login |
//! |---|---|---|
//! | `mqtt.username` (client id `mimamori-…`) | the service password | the platform |
//! | a partner id | one of its API tokens (`mmp_…`) | the partner |
//! | an integration id | its secret (`mmi_…`) | the integration |
//! | a device id | its password | the device (a hub if `--kind hub`) |
//!
//! For every login but the platform's, the client id must equal the username, so a session is
//! bound to the identity that opened it. The kind of login is told by the password's prefix.
//!
//! Speed: device passwords are checked with a salted HMAC (`secret::check_device_secret`), partner
//! tokens and integration secrets with SHA-256: microseconds each. Each CONNECT is decided in a
//! task of its own, so checks run in parallel; a device still stored with an argon2 hash (made by
//! an older version) is verified on a blocking thread, at most one per core at a time, and its hash
//! is then replaced by the fast form.
//!
//! Repeated failures are slowed down without blocking anyone else: after
//! [`FREE_FAILURES`] failures of one username or one address, each further refusal is answered
//! only after a delay that doubles up to [`MAX_DELAY`]. Accepted logins are never delayed. The
//! failure counts are bounded ([`MAX_TRACKED`]) and forgotten after [`FORGET_AFTER`].

use crate::rights::{Login, Rights};
use crate::security::{Refusal, SecurityEvents};
use mimamori_core::domain::{DeviceId, DeviceKind, INTEGRATION_SECRET_PREFIX, PartnerId};
use mimamori_core::secret::{
    DeviceSecretCheck, PARTNER_TOKEN_PREFIX, PasswordHasherConfig, check_device_secret,
    constant_time_eq, device_secret_hash, token_hash,
};
use mimamori_core::storage::Store;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Client ids of the platform's own components start with this; device ids may not.
pub const SERVICE_CLIENT_PREFIX: &str = "mimamori-";

/// Failures of one username or address answered without delay.
pub const FREE_FAILURES: u32 = 3;
/// The longest a refusal is delayed.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// Failure counts kept (usernames and addresses together).
pub const MAX_TRACKED: usize = 50_000;
/// A username or address without failures for this long starts afresh.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);

/// What the login handler needs to decide.
#[derive(Clone)]
pub struct LoginSettings {
    pub service_username: String,
    pub service_password: String,
    /// Base topic of a zigbee2mqtt bridge, which hub devices may use (empty: none).
    pub zigbee2mqtt_topic: String,
    /// For devices still stored with an argon2 hash.
    pub hasher: PasswordHasherConfig,
}

/// Decides CONNECTs. Cheap to clone; the decisions are made by tasks in the runtime that created
/// it (rumqttd calls from its own runtimes, which must not touch our database pool).
#[derive(Clone)]
pub struct Logins {
    tx: mpsc::Sender<Request>,
}

struct Request {
    connect: rumqttd::LoginRequest,
    reply: oneshot::Sender<Option<Arc<dyn rumqttd::TopicRights>>>,
}

impl Logins {
    /// Spawns the deciding task on the current runtime.
    pub fn spawn(store: Store, settings: LoginSettings, events: Arc<SecurityEvents>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Request>(4096);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let state = Arc::new(State {
            store,
            settings,
            events,
            argon_slots: Semaphore::new(cores),
            failures: Mutex::new(Failures::default()),
        });
        tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let answer = state.answer(&req.connect).await;
                    let _ = req.reply.send(answer);
                });
            }
        });
        Self { tx }
    }

    /// The rights of a connection, or `None` to refuse it.
    pub async fn decide(
        &self,
        connect: rumqttd::LoginRequest,
    ) -> Option<Arc<dyn rumqttd::TopicRights>> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Request { connect, reply }).await.is_err() {
            return None;
        }
        answer.await.unwrap_or(None)
    }
}

struct State {
    store: Store,
    settings: LoginSettings,
    events: Arc<SecurityEvents>,
    /// argon2 (older device hashes) runs at most once per core at a time.
    argon_slots: Semaphore,
    failures: Mutex<Failures>,
}

impl State {
    async fn answer(&self, c: &rumqttd::LoginRequest) -> Option<Arc<dyn rumqttd::TopicRights>> {
        let username = c.username.as_deref().unwrap_or("");
        match self.decide(c).await {
            Ok(login) => {
                self.events
                    .logins_accepted
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.failures().succeeded(username);
                tracing::debug!(client_id = %c.client_id, "MQTT connection accepted.");
                Some(Arc::new(Rights::of(
                    &login,
                    username,
                    &self.settings.zigbee2mqtt_topic,
                    self.events.clone(),
                )))
            }
            Err(reason) => {
                self.events.login_refused(username, reason);
                let delay = self
                    .failures()
                    .failed(username, c.peer.ip(), Instant::now());
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                None
            }
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn decide(&self, c: &rumqttd::LoginRequest) -> Result<Login, Refusal> {
        let (Some(username), Some(password)) = (&c.username, &c.password) else {
            return Err(Refusal::NoLogin);
        };
        if username.is_empty() || password.is_empty() {
            return Err(Refusal::NoLogin);
        }
        if *username == self.settings.service_username {
            let ok = !self.settings.service_password.is_empty()
                && constant_time_eq(
                    password.as_bytes(),
                    self.settings.service_password.as_bytes(),
                )
                && c.client_id.starts_with(SERVICE_CLIENT_PREFIX);
            return if ok {
                Ok(Login::Service)
            } else {
                Err(Refusal::ServiceAccount)
            };
        }
        if c.client_id != *username || username.starts_with(SERVICE_CLIENT_PREFIX) {
            return Err(Refusal::ClientIdMismatch);
        }
        if password.starts_with(PARTNER_TOKEN_PREFIX) {
            self.partner(username, password).await
        } else if password.starts_with(INTEGRATION_SECRET_PREFIX) {
            self.integration(username, password).await
        } else {
            self.device(username, password).await
        }
    }

    async fn partner(&self, username: &str, token: &str) -> Result<Login, Refusal> {
        let id = PartnerId::parse(username).map_err(|_| Refusal::Unknown)?;
        match self.store.partner_by_token(&token_hash(token)).await {
            Ok(Some(p)) if p.id == id => Ok(Login::Partner { id: id.to_string() }),
            Ok(_) => Err(Refusal::WrongPassword),
            Err(e) => Err(self.store_failed(e)),
        }
    }

    async fn integration(&self, username: &str, secret: &str) -> Result<Login, Refusal> {
        match self.store.get_integration(username).await {
            Ok(Some(i)) if i.accepts(secret) => Ok(Login::Integration {
                district: i.district.map(|d| d.to_string()),
            }),
            Ok(Some(i)) if !i.enabled => Err(Refusal::Disabled),
            Ok(Some(_)) => Err(Refusal::WrongPassword),
            Ok(None) => Err(Refusal::Unknown),
            Err(e) => Err(self.store_failed(e)),
        }
    }

    async fn device(&self, username: &str, password: &str) -> Result<Login, Refusal> {
        let id = DeviceId::parse(username).map_err(|_| Refusal::Unknown)?;
        let device = match self.store.get_device(&id).await {
            Ok(Some(d)) => d,
            Ok(None) => return Err(Refusal::Unknown),
            Err(e) => return Err(self.store_failed(e)),
        };
        if !device.enabled {
            return Err(Refusal::Disabled);
        }
        let login = Login::Device {
            id: id.to_string(),
            hub: device.kind == DeviceKind::Hub,
        };
        match check_device_secret(password, &device.secret_hash) {
            DeviceSecretCheck::Valid => Ok(login),
            DeviceSecretCheck::Invalid => Err(Refusal::WrongPassword),
            DeviceSecretCheck::Argon2 => {
                let _slot = self
                    .argon_slots
                    .acquire()
                    .await
                    .map_err(|_| Refusal::WrongPassword)?;
                let hasher = self.settings.hasher.clone();
                let (pw, hash) = (password.to_string(), device.secret_hash.clone());
                let verified = tokio::task::spawn_blocking(move || hasher.verify(&pw, &hash))
                    .await
                    .unwrap_or(false);
                if !verified {
                    return Err(Refusal::WrongPassword);
                }
                let fast = device_secret_hash(password);
                if let Err(e) = self
                    .store
                    .upgrade_device_secret_hash(&id, &device.secret_hash, &fast)
                    .await
                {
                    tracing::warn!(error = %e, "Cannot store a device's password in the fast form.");
                }
                Ok(login)
            }
        }
    }

    fn store_failed(&self, e: mimamori_core::storage::StorageError) -> Refusal {
        tracing::error!(error = %e, "Login lookup failed during MQTT authentication.");
        Refusal::StoreUnavailable
    }
}

/// Failure counts per username and per address.
#[derive(Debug, Default)]
struct Failures {
    by_key: HashMap<FailureKey, (u32, Instant)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FailureKey {
    User(String),
    Addr(IpAddr),
}

impl Failures {
    /// Counts a failure of `username` from `addr`; returns how long to hold the refusal.
    fn failed(&mut self, username: &str, addr: IpAddr, now: Instant) -> Duration {
        if self.by_key.len() >= MAX_TRACKED {
            self.by_key
                .retain(|_, (_, at)| now.duration_since(*at) < FORGET_AFTER);
            if self.by_key.len() >= MAX_TRACKED {
                // Still full of fresh failures: start afresh rather than grow.
                self.by_key = HashMap::new();
            }
        }
        let user: String = username.chars().take(64).collect();
        let mut worst = 0;
        for key in [FailureKey::User(user), FailureKey::Addr(addr)] {
            let entry = self.by_key.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= FORGET_AFTER {
                entry.0 = 0;
            }
            entry.0 = entry.0.saturating_add(1);
            entry.1 = now;
            worst = worst.max(entry.0);
        }
        delay_after(worst)
    }

    /// A username logged in: its count starts afresh (its address's does not).
    fn succeeded(&mut self, username: &str) {
        if !self.by_key.is_empty() {
            self.by_key.remove(&FailureKey::User(username.to_string()));
        }
    }
}

/// The delay of the `n`th consecutive failure: none for the first [`FREE_FAILURES`], then 100 ms
/// doubling up to [`MAX_DELAY`].
fn delay_after(n: u32) -> Duration {
    if n <= FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (n - FREE_FAILURES - 1).min(16);
    (Duration::from_millis(100) * 2u32.pow(doublings)).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_slow_down_per_username_and_address_and_forget() {
        let mut f = Failures::default();
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let delays: Vec<_> = (0..10).map(|_| f.failed("btn-1", a, t0)).collect();
        assert_eq!(delays[..3], [Duration::ZERO; 3]);
        assert_eq!(delays[3], Duration::from_millis(100));
        assert_eq!(delays[4], Duration::from_millis(200));
        assert_eq!(delays[9], MAX_DELAY);
        // The same username from elsewhere is slowed; another username from elsewhere is not.
        assert_eq!(f.failed("btn-1", b, t0), MAX_DELAY);
        assert_eq!(
            f.failed("btn-2", "192.0.2.3".parse().unwrap(), t0),
            Duration::ZERO
        );
        // Ten minutes later it starts afresh.
        assert_eq!(f.failed("btn-1", a, t0 + FORGET_AFTER), Duration::ZERO);
        f.succeeded("btn-1");
        assert!(!f.by_key.contains_key(&FailureKey::User("btn-1".into())));
    }

    #[test]
    fn failure_counts_are_bounded_and_expired_ones_go_first() {
        let mut f = Failures::default();
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 1_000) {
            f.failed(&format!("nobody-{i}"), IpAddr::from(i.to_be_bytes()), t0);
            assert!(f.by_key.len() <= MAX_TRACKED + 1);
        }
        let mut f = Failures::default();
        for i in 0..(MAX_TRACKED as u32 / 2) {
            f.failed(&format!("nobody-{i}"), IpAddr::from(i.to_be_bytes()), t0);
        }
        assert_eq!(f.by_key.len(), MAX_TRACKED);
        f.failed("late", "192.0.2.9".parse().unwrap(), t0 + FORGET_AFTER);
        assert_eq!(f.by_key.len(), 2);
    }
}
