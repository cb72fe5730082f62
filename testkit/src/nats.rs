//! A real clustered broker for the tests: three `nats-server` processes (2.9 or later) on
//! loopback, routed to each other as one cluster with JetStream, each with its MQTT listener,
//! and the `authorization` block `mimamori admin nats-authorization` makes. MQTT sessions and QoS
//! 1 messages live in JetStream, replicated across the nodes. [`NatsCluster::start`] panics
//! where `nats-server` is missing (the tests that start it declare the `Nats` need);
//! [`NatsCluster::try_start`] says why instead (the benchmarks: `ingest-bench --nats-cluster`).

use std::net::SocketAddr;
use std::time::Duration;

/// A running three-node NATS cluster.
pub struct NatsCluster {
    /// Each node's MQTT listener.
    pub mqtt: Vec<SocketAddr>,
    nodes: Vec<Option<std::process::Child>>,
    dir: tempfile::TempDir,
}

/// A free port on loopback (bound and released: NATS needs its route ports in every node's
/// configuration before any node runs).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl NatsCluster {
    /// Starts three nodes with `authorization` (a NATS `authorization { … }` block) and returns
    /// once each node's MQTT listener answers a login of `(user, password)` with a session kept
    /// in JetStream. The ports are picked free and then given to the nodes, so another test may
    /// take one in between (seen in CI: a node could not bind its route port, and the cluster
    /// never formed): a cluster not ready in time is stopped and started again on other ports.
    pub async fn start(authorization: &str, user: &str, password: &str) -> Self {
        Self::try_start(authorization, user, password)
            .await
            .unwrap_or_else(|why| panic!("{why}"))
    }

    /// As [`NatsCluster::start`], or why not (`nats-server` missing, or not ready on three sets
    /// of ports).
    pub async fn try_start(
        authorization: &str,
        user: &str,
        password: &str,
    ) -> Result<Self, String> {
        const ATTEMPTS: usize = 3;
        let mut why = String::new();
        for attempt in 1..=ATTEMPTS {
            let mut cluster = Self::start_once(authorization)?;
            match cluster.wait_all_ready(user, password).await {
                Ok(()) => return Ok(cluster),
                Err(reason) => {
                    if attempt < ATTEMPTS {
                        eprintln!(
                            "NATS cluster not ready, starting it again on other ports: {reason}"
                        );
                    }
                    why = reason;
                }
            }
        }
        Err(why)
    }

    fn start_once(authorization: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("authorization.conf"), authorization)
            .map_err(|e| e.to_string())?;
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mqtt: Vec<SocketAddr> = (0..3)
            .map(|_| SocketAddr::from(([127, 0, 0, 1], free_port())))
            .collect();
        let route_list = routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut cluster = Self {
            mqtt,
            nodes: Vec::new(),
            dir,
        };
        for (i, route) in routes.iter().enumerate() {
            let conf = cluster.dir.path().join(format!("n{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:-1\n\
                     jetstream {{ store_dir: \"{store}\" }}\n\
                     cluster {{ name: mimamori, listen: 127.0.0.1:{route}, routes: [{route_list}] }}\n\
                     mqtt {{ listen: {mqtt} }}\n\
                     include authorization.conf\n",
                    store = cluster.dir.path().join(format!("js{i}")).display(),
                    mqtt = cluster.mqtt[i],
                ),
            )
            .map_err(|e| e.to_string())?;
            let log = std::fs::File::create(cluster.dir.path().join(format!("n{i}.log")))
                .map_err(|e| e.to_string())?;
            let child = std::process::Command::new("nats-server")
                .arg("-c")
                .arg(&conf)
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| {
                    format!("cannot start nats-server ({e}): is it installed? (the Nats need)")
                })?;
            cluster.nodes.push(Some(child));
        }
        Ok(cluster)
    }

    /// Waits until every node accepts a login with a persistent session (JetStream is up); or
    /// why not, when a node has exited or 30 s have passed.
    async fn wait_all_ready(&mut self, user: &str, password: &str) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        for addr in self.mqtt.clone() {
            self.wait_ready(addr, user, password, deadline).await?;
        }
        Ok(())
    }

    /// Waits until `addr` accepts a login with a persistent session.
    async fn wait_ready(
        &mut self,
        addr: SocketAddr,
        user: &str,
        password: &str,
        deadline: tokio::time::Instant,
    ) -> Result<(), String> {
        loop {
            if let Some(i) = self.nodes.iter_mut().position(|n| {
                n.as_mut()
                    .is_some_and(|c| !matches!(c.try_wait(), Ok(None)))
            }) {
                return Err(format!(
                    "NATS node n{i} exited; its log: {}",
                    self.log(self.mqtt[i])
                ));
            }
            let mut options = rumqttc::MqttOptions::new(
                format!("mimamori-nats-probe-{}", addr.port()),
                addr.ip().to_string(),
                addr.port(),
            );
            options
                .set_credentials(user, password)
                .set_clean_session(false);
            let (_client, mut events) = rumqttc::AsyncClient::new(options, 4);
            let ready = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match events.poll().await {
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(ack))) => {
                            return ack.code == rumqttc::ConnectReturnCode::Success;
                        }
                        Ok(_) => {}
                        Err(_) => return false,
                    }
                }
            })
            .await
            .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "the NATS node at {addr} did not accept MQTT logins within 40 s; its log: {}",
                    self.log(addr)
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The log of the node listening at `addr`, for failure messages.
    pub fn log(&self, addr: SocketAddr) -> String {
        let i = self.mqtt.iter().position(|a| *a == addr).unwrap_or(0);
        std::fs::read_to_string(self.dir.path().join(format!("n{i}.log"))).unwrap_or_default()
    }

    /// Kills node `i` (SIGKILL), as a machine lost.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
