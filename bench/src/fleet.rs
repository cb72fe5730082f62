//! The devices a benchmark connects, stored before anything is measured.

use anyhow::{Context, Result};
use chrono::Utc;
use mimamori_core::config::Backend;
use mimamori_core::domain::{DeviceId, DeviceKind, NewDevice};
use mimamori_core::secret::{device_mac_key, device_secret_hash, generate_device_password};
use mimamori_core::storage::Store;
use tokio::task::JoinSet;

/// `n` devices of `kind` (ids `{prefix}-00000`, …) with fresh passwords, stored with their
/// salted-HMAC hashes as `mimamori admin device add` stores them; returns (id, password) in id
/// order. SQLite takes one writer at a time; PostgreSQL is written to from several connections.
pub async fn provision(
    store: &Store,
    n: usize,
    prefix: &str,
    kind: DeviceKind,
) -> Result<Vec<(DeviceId, String)>> {
    let writers = match store.backend() {
        Backend::Sqlite => 1,
        Backend::Postgres => 8,
    };
    let now = Utc::now();
    let mut set = JoinSet::new();
    for w in 0..writers {
        let (store, prefix) = (store.clone(), prefix.to_string());
        set.spawn(async move {
            let mut out = Vec::new();
            for i in (w..n).step_by(writers) {
                let id = DeviceId::parse(format!("{prefix}-{i:05}"))?;
                let password = generate_device_password();
                let device = NewDevice {
                    id: id.clone(),
                    resident: None,
                    kind,
                    label: None,
                    external_id: None,
                    heartbeat_interval_s: 3600,
                    secret_hash: device_secret_hash(&password),
                    mac_key: device_mac_key(&password),
                };
                store
                    .add_device(&device, now)
                    .await
                    .with_context(|| format!("Failed to store device {id}"))?;
                out.push((i, id, password));
            }
            Ok::<_, anyhow::Error>(out)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(part) = set.join_next().await {
        all.extend(part??);
    }
    all.sort_by_key(|(i, _, _)| *i);
    Ok(all.into_iter().map(|(_, id, pw)| (id, pw)).collect())
}
