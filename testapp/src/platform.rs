//! The device side, end to end: a store, a broker (our embedded rumqttd started through
//! `mimamori_broker::start_embedded`, or a real Mosquitto with password file and ACL, started for
//! the test on a free port), the gateway built and run through `mimamori_gateway::build`, and
//! provisioned devices that connect over TCP like real ones, and partners (Mosquitto knows their
//! logins and topics as the broker's ACL should). Mosquitto and the TLS certificates
//! panic where their command is missing: the tests that use them declare the `Mosquitto` /
//! `OpenSsl` need.

use mimamori_core::clock::{Clock, SystemClock};
use mimamori_core::config::Config;
use mimamori_core::domain::*;
use mimamori_core::endpoint::MqttEndpoint;
use mimamori_core::registry::Registry;
use mimamori_core::secret::{
    device_mac_key, device_secret_hash, generate_device_password, token_hash,
};
use mimamori_core::storage::Store;
use mimamori_devices::{DeviceClient, DeviceConfig};
use mimamori_gateway::Metrics;
use mimamori_gateway::ingest::IngestEvent;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The platform's own MQTT login (`mqtt.username`), in Mosquitto's password file and ACL too.
pub const SERVICE_USER: &str = "mimamori-service";

/// Which broker the devices and the gateway meet at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    Embedded,
    Mosquitto,
    /// A three-node NATS cluster ([`crate::nats::NatsCluster`]): devices connect to the first
    /// node, the gateway to the second; each moves to the next when its node dies.
    Nats,
}

/// The external broker a test started, stopped with the platform.
enum External {
    // Held for its Drop, which stops the process.
    Mosquitto(Mosquitto),
    Nats(crate::nats::NatsCluster),
}

#[doc(hidden)]
pub use mimamori_core::testing::TestStore as __TestStore;
#[doc(hidden)]
pub use mimamori_testkit as __testkit;

/// Registers each `async fn(Store, BrokerKind)` twice, on a fresh SQLite store and a multi-thread
/// runtime: `embedded::name` on our embedded broker, and `mosquitto::name`, which needs Mosquitto
/// (listed as ignored with the reason where it is missing). The target ends with
/// `mimamori_testkit::main!();`.
#[macro_export]
macro_rules! on_both_brokers {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                $crate::platform::__testkit::case!($name => || {
                    $crate::platform::__testkit::harness::multi_thread(async {
                        let t = $crate::platform::__TestStore::sqlite().await;
                        super::$name(t.store.clone(), $crate::platform::BrokerKind::Embedded).await;
                        t.finish().await;
                    })
                });
            )*
        }
        mod mosquitto {
            $(
                $crate::platform::__testkit::case!($name: [Mosquitto] => || {
                    $crate::platform::__testkit::harness::multi_thread(async {
                        let t = $crate::platform::__TestStore::sqlite().await;
                        super::$name(t.store.clone(), $crate::platform::BrokerKind::Mosquitto).await;
                        t.finish().await;
                    })
                });
            )*
        }
    };
}

/// A provisioned device's credentials.
#[derive(Debug, Clone)]
pub struct Creds {
    pub id: DeviceId,
    pub password: String,
    pub resident: Option<ResidentId>,
}

/// A provisioned partner's login: its id and API token.
#[derive(Debug, Clone)]
pub struct PartnerCreds {
    pub id: PartnerId,
    pub token: String,
}

/// A broker, the gateway (when running) and the store they write to.
pub struct Platform {
    pub store: Store,
    pub kind: BrokerKind,
    /// Where devices connect (plain MQTT): the first of `nodes`.
    pub addr: SocketAddr,
    /// The broker's nodes in the devices' order of preference: one, or a cluster's three (the
    /// gateway's list starts at the second).
    pub nodes: Vec<SocketAddr>,
    /// The embedded broker's TLS listener, when started with one.
    pub addr_tls: Option<SocketAddr>,
    /// What the components are built from: the broker's listeners, the service login.
    config: Config,
    /// How the gateway reaches the broker.
    pub endpoint: MqttEndpoint,
    /// The clock of the gateways started from now on ([`Platform::use_clock`]).
    clock: Arc<dyn Clock>,
    /// The running gateway's stop signal and tasks.
    gateway: Option<(CancellationToken, TaskTracker)>,
    /// The running (or last) gateway's counters.
    metrics: Arc<Metrics>,
    /// Gateways started beside the first ([`Platform::start_gateways`]): stop signal, tasks,
    /// counters.
    more_gateways: Vec<(CancellationToken, TaskTracker, Arc<Metrics>)>,
    /// Every gateway's ingest events, passed on here so that a test may listen at any time,
    /// across a gateway's restart.
    events: broadcast::Sender<IngestEvent>,
    /// Stops devices and everything else at the end of the test.
    pub shutdown: CancellationToken,
    external: Option<External>,
    /// The embedded broker's sessions without a socket: the gateway takes its messages there,
    /// as in `mimamori up`.
    local: Option<mimamori_broker::local::Local>,
}

/// Adds a resident (when `with_resident`) and a device with a cheap password hash.
pub async fn provision(
    store: &Store,
    id: &str,
    kind: DeviceKind,
    with_resident: bool,
    zigbee_name: Option<&str>,
) -> Creds {
    let now = chrono::Utc::now();
    let resident = if with_resident {
        let mut r = mimamori_core::testing::new_resident(&format!("r-{id}"));
        r.notes = None;
        store.add_resident(&r, &Actor::system(), now).await.unwrap();
        Some(r.id)
    } else {
        None
    };
    let password = generate_device_password();
    store
        .add_device(
            &NewDevice {
                id: DeviceId::parse(id).unwrap(),
                resident: resident.clone(),
                kind,
                label: None,
                external_id: zigbee_name.map(|n| format!("z2m:{n}")),
                heartbeat_interval_s: 300,
                secret_hash: device_secret_hash(&password),
                mac_key: device_mac_key(&password),
            },
            now,
        )
        .await
        .unwrap();
    Creds {
        id: DeviceId::parse(id).unwrap(),
        password,
        resident,
    }
}

/// Registers a partner (a post office) with one API token.
pub async fn provision_partner(store: &Store, id: &str) -> PartnerCreds {
    let creds = PartnerCreds {
        id: PartnerId::parse(id).unwrap(),
        token: format!("mmp_{}", mimamori_core::secret::generate(33)),
    };
    store
        .add_partner(
            &NewPartner {
                id: creds.id.clone(),
                name: format!("{id} 郵便局"),
                kind: PartnerKind::Post,
                agreement: None,
            },
            &token_hash(&creds.token),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    creds
}

impl Platform {
    /// Starts the broker of `kind` knowing `devices`, and the gateway.
    pub async fn start(store: Store, kind: BrokerKind, devices: &[Creds], gateway: bool) -> Self {
        Self::launch(store, kind, devices, &[], gateway, None, &[]).await
    }

    /// As [`Platform::start`], Mosquitto also knowing `partners`' logins (the embedded broker
    /// asks the store).
    pub async fn start_with_partners(
        store: Store,
        kind: BrokerKind,
        devices: &[Creds],
        partners: &[PartnerCreds],
        gateway: bool,
    ) -> Self {
        Self::launch(store, kind, devices, partners, gateway, None, &[]).await
    }

    /// As [`Platform::start`], the embedded broker also listening on TLS with (cert, key).
    pub async fn start_with_tls(
        store: Store,
        kind: BrokerKind,
        devices: &[Creds],
        gateway: bool,
        tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    ) -> Self {
        Self::launch(store, kind, devices, &[], gateway, tls, &[]).await
    }

    /// As [`Platform::start_with_tls`], Mosquitto also knowing `logins` (username, password):
    /// integrations, which the embedded broker finds in the store.
    pub async fn start_with_logins(
        store: Store,
        kind: BrokerKind,
        devices: &[Creds],
        gateway: bool,
        tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
        logins: &[(String, String)],
    ) -> Self {
        Self::launch(store, kind, devices, &[], gateway, tls, logins).await
    }

    async fn launch(
        store: Store,
        kind: BrokerKind,
        devices: &[Creds],
        partners: &[PartnerCreds],
        gateway: bool,
        tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
        logins: &[(String, String)],
    ) -> Self {
        let service_password = generate_device_password();
        let mut config = Config::default();
        config.mqtt.username = SERVICE_USER.into();
        config.mqtt.client_id = "mimamori-gateway-test".into();
        config.broker.listen = "127.0.0.1:0".parse().unwrap();
        if let Some((cert, key)) = tls {
            config.broker.tls_listen = Some("127.0.0.1:0".parse().unwrap());
            config.broker.tls_cert = Some(cert);
            config.broker.tls_key = Some(key);
        }
        let mut addr_tls = None;
        let mut local = None;
        let (addr, external) = match kind {
            BrokerKind::Embedded => {
                let broker = mimamori_broker::start_embedded(&config, &store, &service_password)
                    .await
                    .unwrap();
                addr_tls = broker.addr_tls;
                local = Some(broker.local());
                (broker.addr, None)
            }
            BrokerKind::Mosquitto => {
                let hubs: Vec<String> = store
                    .list_devices(None)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|d| d.kind == DeviceKind::Hub)
                    .map(|d| d.id.to_string())
                    .collect();
                let integrations: Vec<_> = store
                    .list_integrations()
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|i| (i.id, i.district.map(|d| d.to_string())))
                    .collect();
                let acl = mimamori_broker::mosquitto_acl(
                    SERVICE_USER,
                    &config.gateway.zigbee2mqtt_topic,
                    &hubs,
                    &integrations,
                );
                let mut users: Vec<(String, String)> = devices
                    .iter()
                    .map(|d| (d.id.to_string(), d.password.clone()))
                    .collect();
                users.extend(partners.iter().map(|p| (p.id.to_string(), p.token.clone())));
                users.extend(logins.iter().cloned());
                let m = Mosquitto::start(&service_password, &users, &acl);
                (m.addr, Some(External::Mosquitto(m)))
            }
            BrokerKind::Nats => {
                use mimamori_broker::{ExternalLogin, Login};
                let mut external: Vec<ExternalLogin> = Vec::new();
                for d in devices {
                    let hub = store
                        .get_device(&d.id)
                        .await
                        .unwrap()
                        .is_some_and(|d| d.kind == DeviceKind::Hub);
                    external.push(ExternalLogin {
                        username: d.id.to_string(),
                        login: Login::Device {
                            id: d.id.to_string(),
                            hub,
                        },
                        password: d.password.clone(),
                    });
                }
                for p in partners {
                    external.push(ExternalLogin {
                        username: p.id.to_string(),
                        login: Login::Partner {
                            id: p.id.to_string(),
                        },
                        password: p.token.clone(),
                    });
                }
                for i in store.list_integrations().await.unwrap() {
                    if let Some((_, password)) = logins.iter().find(|(u, _)| *u == i.id) {
                        external.push(ExternalLogin {
                            username: i.id.clone(),
                            login: Login::Integration {
                                district: i.district.map(|d| d.to_string()),
                            },
                            password: password.clone(),
                        });
                    }
                }
                for (username, password) in logins {
                    if let Ok(id) = PartnerId::parse(username)
                        && !external.iter().any(|e| e.username == *username)
                        && store.get_partner(&id).await.is_ok()
                    {
                        external.push(ExternalLogin {
                            username: username.clone(),
                            login: Login::Partner {
                                id: username.clone(),
                            },
                            password: password.clone(),
                        });
                    }
                }
                let authorization = mimamori_broker::nats_authorization(
                    SERVICE_USER,
                    &service_password,
                    &config.gateway.zigbee2mqtt_topic,
                    &external,
                );
                let cluster = crate::nats::NatsCluster::start(
                    &authorization,
                    SERVICE_USER,
                    &service_password,
                )
                .await;
                (cluster.mqtt[0], Some(External::Nats(cluster)))
            }
        };
        let nodes = match &external {
            Some(External::Nats(cluster)) => cluster.mqtt.clone(),
            _ => vec![addr],
        };
        let mut endpoint = MqttEndpoint::resolve(&config, Some(addr), service_password).unwrap();
        endpoint.brokers = match &external {
            Some(External::Mosquitto(m)) => vec![m.services],
            _ => nodes.clone(),
        }
        .iter()
        .cycle()
        .skip(1.min(nodes.len() - 1))
        .take(nodes.len())
        .map(|a| (*a).into())
        .collect();
        let mut p = Self {
            store,
            kind,
            addr,
            nodes,
            addr_tls,
            config,
            endpoint,
            clock: Arc::new(SystemClock),
            gateway: None,
            metrics: Arc::new(Metrics::default()),
            more_gateways: Vec::new(),
            events: broadcast::channel(16 * 1024).0,
            shutdown: CancellationToken::new(),
            external,
            local,
        };
        if gateway {
            p.start_gateway();
        }
        p
    }

    /// The clock of the gateways started from now on (the system's until told).
    pub fn use_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// Builds the gateway through its face (Fujisawa's registry) and runs it (again, after
    /// [`Platform::stop_gateway`]: the same persistent session).
    pub fn start_gateway(&mut self) {
        assert!(self.gateway.is_none());
        let (stop, tasks, metrics) = self.run_gateway(&self.endpoint);
        self.metrics = metrics;
        self.gateway = Some((stop, tasks));
    }

    /// Starts `n` gateways, each with its own session (`…-1`, `…-2`, …), as a deployment that
    /// shares the device traffic: in one shared-subscription group where the broker has them
    /// (`$share/…`), each receiving everything on NATS, which has none (docs/DEPLOYMENT.md). The
    /// platform was started without a gateway. Returns once every one has stored a probe's event.
    pub async fn start_gateways(&mut self, n: usize, probe: &DeviceClient) {
        assert!(self.gateway.is_none() && n >= 1);
        if self.kind != BrokerKind::Nats {
            self.endpoint.shared_group = "gateways".into();
        }
        let base = self.endpoint.client_id.clone();
        for i in 1..=n {
            let mut endpoint = self.endpoint.clone();
            endpoint.client_id = format!("{base}-{i}");
            let (stop, tasks, metrics) = self.run_gateway(&endpoint);
            if i == 1 {
                self.metrics = metrics;
                self.gateway = Some((stop, tasks));
            } else {
                self.more_gateways.push((stop, tasks, metrics));
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.gateway_metrics().iter().any(|m| {
            m.stored.load(std::sync::atomic::Ordering::Relaxed)
                + m.duplicates.load(std::sync::atomic::Ordering::Relaxed)
                == 0
        }) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not every gateway became ready"
            );
            let _ = probe
                .send(
                    mimamori_core::protocol::EventType::Heartbeat,
                    None,
                    Some(99),
                )
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every running gateway's counters, the first first.
    pub fn gateway_metrics(&self) -> Vec<Arc<Metrics>> {
        std::iter::once(self.metrics.clone())
            .chain(self.more_gateways.iter().map(|g| g.2.clone()))
            .collect()
    }

    /// Builds a gateway through its face (Fujisawa's registry) logged in as `endpoint`, and runs
    /// it, its ingest events passed on to [`Platform::events`].
    fn run_gateway(
        &self,
        endpoint: &MqttEndpoint,
    ) -> (CancellationToken, TaskTracker, Arc<Metrics>) {
        let mut gateway = mimamori_gateway::build(
            &self.config,
            self.store.clone(),
            Arc::new(Registry::fujisawa()),
            self.clock.clone(),
            endpoint,
        );
        if let Some(local) = &self.local {
            gateway.in_process(local.clone());
        }
        let metrics = gateway.metrics();
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let mut from_gateway = gateway.events();
        let to_tests = self.events.clone();
        let forwarding = stop.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = forwarding.cancelled() => break,
                    e = from_gateway.recv() => match e {
                        Ok(e) => { let _ = to_tests.send(e); }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                }
            }
        });
        gateway.run(&tasks, &stop);
        tasks.close();
        (stop, tasks, metrics)
    }

    /// Stops the gateway and waits until it has.
    pub async fn stop_gateway(&mut self) {
        let (stop, tasks) = self.gateway.take().expect("gateway running");
        stop.cancel();
        tasks.wait().await;
    }

    /// The gateway's counters (stored, dropped and why).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Waits until the gateway's subscriptions are in place (a probe event round-trips).
    pub async fn wait_gateway_ready(&self, probe: &DeviceClient) {
        let mut events = self.events();
        for _ in 0..50 {
            let seq = probe
                .send(
                    mimamori_core::protocol::EventType::Heartbeat,
                    None,
                    Some(99),
                )
                .await
                .unwrap();
            let key = format!("seq:{seq}");
            let found = wait_for(&mut events, Duration::from_millis(300), |e| {
                matches!(e, IngestEvent::Stored(s) if s.dedup_key.as_deref() == Some(key.as_str()))
            })
            .await;
            if found.is_some() {
                return;
            }
        }
        panic!("the gateway never became ready");
    }

    /// A device with `c`'s credentials, connecting to the broker.
    pub fn device(&self, c: &Creds) -> DeviceClient {
        DeviceClient::start(
            DeviceConfig {
                id: c.id.clone(),
                password: c.password.clone(),
                brokers: self.nodes.iter().map(|a| (*a).into()).collect(),
                resend_interval: Duration::from_millis(200),
                tls_ca: None,
            },
            self.shutdown.clone(),
        )
    }

    /// Every signal stored and every message dropped from now on.
    pub fn events(&self) -> broadcast::Receiver<IngestEvent> {
        self.events.subscribe()
    }

    /// Security events about a device id.
    pub async fn security_events(&self, device: &DeviceId) -> usize {
        self.store
            .list_audit("security", Some(device.as_str()), 100)
            .await
            .unwrap()
            .len()
    }

    /// The signals stored from `device`.
    pub async fn signals_of(&self, device: &DeviceId) -> Vec<Signal> {
        let source = SignalSource::Device(device.clone());
        self.store
            .signals_after(SignalId(0), 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.source == source)
            .collect()
    }

    /// The NATS cluster of a [`BrokerKind::Nats`] platform: to kill a node.
    pub fn nats(&mut self) -> Option<&mut crate::nats::NatsCluster> {
        match &mut self.external {
            Some(External::Nats(cluster)) => Some(cluster),
            _ => None,
        }
    }

    /// Stops the devices, the gateway and the external broker.
    pub async fn finish(mut self) {
        self.shutdown.cancel();
        if self.gateway.is_some() {
            self.stop_gateway().await;
        }
        for (stop, tasks, _) in std::mem::take(&mut self.more_gateways) {
            stop.cancel();
            tasks.wait().await;
        }
        drop(self.external.take());
    }
}

/// Waits for the first event that matches, up to `timeout`.
pub async fn wait_for(
    events: &mut broadcast::Receiver<IngestEvent>,
    timeout: Duration,
    mut matches: impl FnMut(&IngestEvent) -> bool,
) -> Option<IngestEvent> {
    tokio::time::timeout(timeout, async {
        loop {
            match events.recv().await {
                Ok(e) if matches(&e) => return Some(e),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// A Mosquitto started for one test: password file with the logins and the service account, and
/// the ACL `mimamori admin mosquitto-acl` ships, on two listeners as docs/SECURITY.md configures
/// it: devices' (their username is their client id) and the platform's services' (each gateway
/// and alert service with a client id of its own under the one service account).
pub struct Mosquitto {
    /// The devices' and partners' listener.
    pub addr: SocketAddr,
    /// The platform's services' listener.
    pub services: SocketAddr,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start(service_password: &str, logins: &[(String, String)], acl: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let passwd = dir.path().join("passwd");
        std::fs::write(&passwd, "").unwrap();
        let mut users = vec![(SERVICE_USER.to_string(), service_password.to_string())];
        users.extend(logins.iter().cloned());
        for (user, password) in users {
            let ok = std::process::Command::new("mosquitto_passwd")
                .args(["-b", passwd.to_str().unwrap(), &user, &password])
                .status()
                .expect("mosquitto_passwd is installed: declare the Mosquitto need of this test");
            assert!(ok.success());
        }
        let acl_file = dir.path().join("acl");
        std::fs::write(&acl_file, acl).unwrap();
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (port, services_port) = (free(), free());
        let conf = dir.path().join("mosquitto.conf");
        let security = format!(
            "allow_anonymous false\npassword_file {}\nacl_file {}\n",
            passwd.display(),
            acl_file.display()
        );
        std::fs::write(
            &conf,
            format!(
                "per_listener_settings true\n\
                 listener {port} 127.0.0.1\n{security}use_username_as_clientid true\n\
                 listener {services_port} 127.0.0.1\n{security}\
                 persistence false\nmax_queued_messages 100000\nmax_inflight_messages 100\n\
                 log_dest stderr\nlog_type {}\n",
                std::env::var("MOSQUITTO_LOG_TYPE").unwrap_or_else(|_| "error".into())
            ),
        )
        .unwrap();
        for f in [&passwd, &acl_file, &conf] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let child = std::process::Command::new("mosquitto")
            .args(["-c", conf.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto is installed: declare the Mosquitto need of this test");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let services: SocketAddr = format!("127.0.0.1:{services_port}").parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err()
            || std::net::TcpStream::connect(services).is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "mosquitto did not start"
            );
            std::thread::park_timeout(Duration::from_millis(20));
        }
        Self {
            addr,
            services,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a test needs: devices to provision (id, kind, with a resident, zigbee2mqtt name).
pub type Spec<'a> = (&'a str, DeviceKind, bool, Option<&'a str>);

/// Provisions `specs` and a probe device, starts broker and gateway (unless `gateway` is false),
/// and returns once the gateway is ready.
pub async fn setup(
    store: Store,
    kind: BrokerKind,
    specs: &[Spec<'_>],
    gateway: bool,
) -> (Platform, Vec<Creds>) {
    let mut creds = Vec::new();
    for (id, device_kind, with_resident, zigbee) in specs {
        creds.push(provision(&store, id, *device_kind, *with_resident, *zigbee).await);
    }
    let probe = provision(&store, "probe", DeviceKind::Hub, false, None).await;
    let mut all = creds.clone();
    all.push(probe.clone());
    // Without a gateway the broker holds no session for it: nothing published now is queued for it.
    let platform = Platform::start(store, kind, &all, gateway).await;
    if gateway {
        let probe = platform.device(&probe);
        assert!(
            probe.wait_connected(Duration::from_secs(10)).await,
            "probe device could not connect"
        );
        platform.wait_gateway_ready(&probe).await;
    }
    (platform, creds)
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made by the `openssl` command:
/// (CA certificate, server certificate chain, server key, folder). Panics where openssl is
/// missing or fails: a test that calls this declares the `OpenSsl` need.
pub fn test_certificates() -> (
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(
        p("server.ext"),
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    let steps: [Vec<std::ffi::OsString>; 3] = [
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=mimamori test CA",
            "-keyout",
        ]
        .iter()
        .map(Into::into)
        .chain([p("ca.key").into(), "-out".into(), p("ca.pem").into()])
        .collect(),
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ]
        .iter()
        .map(Into::into)
        .chain([
            p("server.key").into(),
            "-out".into(),
            p("server.csr").into(),
        ])
        .collect(),
        ["x509", "-req", "-days", "1", "-CAcreateserial", "-in"]
            .iter()
            .map(Into::into)
            .chain([
                p("server.csr").into(),
                "-CA".into(),
                p("ca.pem").into(),
                "-CAkey".into(),
                p("ca.key").into(),
                "-extfile".into(),
                p("server.ext").into(),
                "-out".into(),
                p("server.pem").into(),
            ])
            .collect(),
    ];
    for args in steps {
        let ok = std::process::Command::new("openssl")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "openssl is missing or failed: declare the OpenSsl need of this test"
        );
    }
    (p("ca.pem"), p("server.pem"), p("server.key"), dir)
}
