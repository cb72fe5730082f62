//! Logging set-up, one place for the binary and the tests.
//!
//! Logs carry ids, kinds and counts — never names, addresses or health notes.

use mimamori_core::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (once; later calls are ignored). `RUST_LOG` wins over the
/// configured filter.
pub fn init(config: &LogConfig) {
    // rumqttd logs every ordinary client disconnect at ERROR and every connect and subscription
    // at INFO; its bind failures are reported by our own start-up checks, and refused logins and
    // topics by the broker's security reports, instead.
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            EnvFilter::try_new(format!(
                "{},rumqttd=warn,rumqttd::server::broker=off",
                config.filter
            ))
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
