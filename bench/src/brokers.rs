//! Brokers a benchmark starts beside the platform as its baselines: Mosquitto as a child process,
//! on a free port of its own (never the system's 1883).

use anyhow::{Context, Result, bail};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// A free port on the loopback interface, for a broker that binds its own listener.
pub fn free_addr() -> Result<SocketAddr> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").context("Failed to find a free port")?;
    Ok(probe.local_addr()?)
}

/// Waits (bounded) until something accepts connections at `addr`.
pub async fn wait_listening(addr: SocketAddr, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("{what} did not start listening on {addr}")
}

/// Mosquitto as a child process on a free port, anonymous logins allowed.
pub struct Mosquitto {
    /// Killed when dropped.
    pub child: Child,
    pub addr: SocketAddr,
    /// "Mosquitto 2.0.11".
    pub version: String,
}

impl Mosquitto {
    /// Starts `mosquitto` with its configuration in `dir`, plus the lines of `extra`; `None` when
    /// `mosquitto` is not on PATH.
    pub async fn start(dir: &Path, extra: &str) -> Result<Option<Self>> {
        let help = match Command::new("mosquitto").arg("-h").output().await {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context("Failed to run mosquitto"),
        };
        let version = String::from_utf8_lossy(&help.stdout)
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("mosquitto version "))
            .map_or_else(|| "Mosquitto".to_string(), |v| format!("Mosquitto {v}"));
        let addr = free_addr()?;
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {} {}\nallow_anonymous true\nmax_connections -1\npersistence false\nlog_dest none\n{extra}",
                addr.port(),
                addr.ip()
            ),
        )?;
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("Failed to start mosquitto")?;
        wait_listening(addr, "mosquitto").await?;
        Ok(Some(Self {
            child,
            addr,
            version,
        }))
    }
}

/// A three-node NATS cluster (`nats-server` 2.9 or later) on loopback, as `testapp`'s: routed
/// to each other with JetStream, each node with its MQTT listener and the `authorization` block
/// `mimamori_broker::nats_authorization` makes. Its nodes are killed when it is dropped.
pub struct NatsCluster {
    /// Each node's MQTT listener.
    pub mqtt: Vec<SocketAddr>,
    /// Killed when dropped (`kill_on_drop`).
    _nodes: Vec<Child>,
}

impl NatsCluster {
    /// Starts three nodes with their files in `dir`, and returns once each accepts a login of
    /// `(user, password)` with a session kept in JetStream; `None` when `nats-server` is not on
    /// PATH.
    pub async fn start(
        dir: &Path,
        authorization: &str,
        user: &str,
        password: &str,
    ) -> Result<Option<Self>> {
        match Command::new("nats-server").arg("--version").output().await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context("Failed to run nats-server"),
        }
        std::fs::write(dir.join("authorization.conf"), authorization)?;
        let routes = (0..3).map(|_| free_addr()).collect::<Result<Vec<_>>>()?;
        let mqtt = (0..3).map(|_| free_addr()).collect::<Result<Vec<_>>>()?;
        let route_list = routes
            .iter()
            .map(|a| format!("nats://{a}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut nodes = Vec::new();
        for (i, route) in routes.iter().enumerate() {
            let conf = dir.join(format!("nats{i}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:-1\n\
                     jetstream {{ store_dir: \"{store}\" }}\n\
                     cluster {{ name: mimamori, listen: {route}, routes: [{route_list}] }}\n\
                     mqtt {{ listen: {addr} }}\n\
                     include authorization.conf\n",
                    store = dir.join(format!("js{i}")).display(),
                    addr = mqtt[i],
                ),
            )?;
            let log = std::fs::File::create(dir.join(format!("nats{i}.log")))?;
            nodes.push(
                Command::new("nats-server")
                    .arg("-c")
                    .arg(&conf)
                    .stdout(Stdio::null())
                    .stderr(log)
                    .kill_on_drop(true)
                    .spawn()
                    .context("Failed to start nats-server")?,
            );
        }
        for addr in &mqtt {
            wait_mqtt_session(*addr, user, password).await?;
        }
        Ok(Some(Self {
            mqtt,
            _nodes: nodes,
        }))
    }
}

/// Waits (bounded, 60 s) until `addr` accepts a login with a persistent session: on NATS, once
/// JetStream is up.
async fn wait_mqtt_session(addr: SocketAddr, user: &str, password: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut options = rumqttc::MqttOptions::new(
            format!("mimamori-bench-probe-{}", addr.port()),
            addr.ip().to_string(),
            addr.port(),
        );
        options
            .set_credentials(user, password)
            .set_clean_session(false);
        let (_client, mut events) = rumqttc::AsyncClient::new(options, 4);
        let accepted = tokio::time::timeout(Duration::from_secs(5), async {
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
        if accepted {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the NATS node at {addr} did not accept MQTT logins within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
