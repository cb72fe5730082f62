//! `[broker]`: the embedded MQTT broker that `mimamori up` runs.

use super::Invalid;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The embedded MQTT broker.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// Run the embedded broker in `mimamori up` (false: use the external broker of `mqtt.url`).
    pub enabled: bool,
    /// MQTT 3.1.1 listener address.
    pub listen: SocketAddr,
    /// Withdrawn: the embedded broker offers MQTT 3.1.1 only (see docs/PROTOCOL.md). Kept so
    /// that a configuration setting it gets that reason rather than "unknown field".
    pub listen_v5: Option<SocketAddr>,
    /// MQTT over TLS (3.1.1) listener address; needs `tls_cert` and `tls_key`.
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain of the TLS listener.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8 or RSA) of the TLS listener.
    pub tls_key: Option<PathBuf>,
    /// Most simultaneous connections.
    pub max_connections: usize,
    /// How long the acknowledgement (PUBACK) of a device's QoS 1 publish may wait for the
    /// receipt the gateway sends once it is stored, so that both go in one packet: one write
    /// and one wake-up of the device instead of two. Anything else for the device goes at once
    /// and takes the held acknowledgements with it. 0: each acknowledgement at once.
    pub ack_hold_ms: u64,
}

/// The longest `ack_hold_ms`: a device waiting longer for its acknowledgement would start to
/// send again what was already stored.
pub const MAX_ACK_HOLD_MS: u64 = 1_000;

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 1883)),
            listen_v5: None,
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            max_connections: 20_000,
            ack_hold_ms: 20,
        }
    }
}

impl BrokerConfig {
    /// A TLS listener needs its certificate and key, and they must be there to read; an
    /// acknowledgement is held at most [`MAX_ACK_HOLD_MS`].
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.ack_hold_ms > MAX_ACK_HOLD_MS {
            return Err((
                "broker.ack_hold_ms",
                format!(
                    "{MAX_ACK_HOLD_MS} ミリ秒以下にしてください / must be at most {MAX_ACK_HOLD_MS} ms: \
                     a device waiting longer would send again what was stored"
                ),
            ));
        }
        if self.listen_v5.is_some() {
            return Err((
                "broker.listen_v5",
                "MQTT 5 の受付は廃止しました / withdrawn: the embedded broker speaks MQTT 3.1.1 only, \
                 because its MQTT 5 ignored session and message expiry (docs/PROTOCOL.md); \
                 remove the key, or use an external broker for MQTT 5"
                    .into(),
            ));
        }
        if self.tls_listen.is_some() {
            for (key, path) in [
                ("broker.tls_cert", &self.tls_cert),
                ("broker.tls_key", &self.tls_key),
            ] {
                match path {
                    None => return Err((key, "required with broker.tls_listen".into())),
                    Some(p) if !p.is_file() => {
                        return Err((key, format!("{} is not a readable file", p.display())));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }
}
