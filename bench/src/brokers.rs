//! Brokers a benchmark starts beside the platform as its baselines: Mosquitto as a child process,
//! on a free port of its own (never the system's 1883). The three-node NATS cluster is the
//! tests' own (`mimamori_testkit::nats`), one copy for both.

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
