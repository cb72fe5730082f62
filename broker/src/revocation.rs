//! Drops the open connection of a login whose credential was revoked.
//!
//! The broker checks credentials at connect time; a device disabled or given a new secret, a
//! partner token revoked or an integration disabled (by `mimamori admin …`, in another process)
//! would otherwise stay connected until it reconnects. The store records each revocation in a
//! feed (`login_revocations`, written in the same transaction as the change); this task reads it
//! every [`POLL_EVERY`] and drops those clients through rumqttd's `Disconnector`.

use mimamori_core::storage::Store;
use std::time::Duration;

/// How often the revocation feed is read: a revoked login is dropped within about this long.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// Reads the feed after `head` (where it ended before the broker listened; read here, late, if
/// that read failed), for the life of the broker.
pub async fn run(store: Store, disconnector: rumqttd::Disconnector, head: Option<i64>) {
    let mut after = match head {
        Some(head) => head,
        None => loop {
            match store.login_revocations_head().await {
                Ok(head) => break head,
                Err(e) => {
                    tracing::error!(error = %e, "Cannot read the login revocations; retrying.");
                    tokio::time::sleep(POLL_EVERY * 5).await;
                }
            }
        },
    };
    let mut every = tokio::time::interval(POLL_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let revoked = match store.login_revocations_after(after, 500).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read the login revocations.");
                continue;
            }
        };
        for r in revoked {
            after = r.id;
            tracing::info!(client_id = %r.client_id, reason = %r.reason, "Login revoked: dropping its MQTT connection, if any.");
            if !disconnector.disconnect(&r.client_id) {
                return;
            }
        }
    }
}
