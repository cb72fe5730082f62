//! The alert stream as the MQTT channel writes it: each alert message numbered, signed and stored
//! ([`mimamori_core::storage::Store::append_to_alert_stream`]) before it is published, so that
//! the store is the record and MQTT the fast path. An integration that missed messages (a broker
//! restart, its own outage) reads them again by number from `GET /api/v1/alerts/events`.
//!
//! The message is made from the alert as it is when its number is given out, under the stream's
//! lock: a later number never carries an older state of an alert. A notification published again
//! (a retry, a worker that took over a lapsed lease) goes out with the message it got first.

use mimamori_core::alert_stream::StreamSigner;
use mimamori_core::clock::Clock;
use mimamori_core::domain::Notification;
use mimamori_core::storage::{StorageError, Store, StreamEntry, StreamMessage};
use std::sync::Arc;

/// Writes the stream: the store and the platform's key.
#[derive(Clone)]
pub struct AlertStream {
    store: Store,
    signer: StreamSigner,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AlertStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertStream")
            .field("signer", &self.signer)
            .finish()
    }
}

impl AlertStream {
    /// The deployment's stream, signed with its key from the store (made on first use).
    pub async fn from_store(store: Store, clock: Arc<dyn Clock>) -> Result<Self, StorageError> {
        let signer = StreamSigner::from_store(&store, clock.now()).await?;
        Ok(Self {
            store,
            signer,
            clock,
        })
    }

    /// The signer, for tests and tools that check what was published.
    pub fn signer(&self) -> &StreamSigner {
        &self.signer
    }

    /// The stream's message for an MQTT notification: the one it already has, or a new one at
    /// the next number.
    ///
    /// A raised alert's message is `created` when it is the stream's first about the alert and
    /// `evidence_added` after that — named by the stream, not by the evidence count when it is
    /// sent: after a crash, the row of the first press can go out after the second press joined
    /// (its lease had to run out), and integrations must still learn of the alert by `created`.
    pub async fn message_for(&self, n: &Notification) -> Result<StreamEntry, StorageError> {
        self.store
            .append_to_alert_stream(n.id, self.clock.now(), |alert, position| {
                let mut payload = super::payload(n, alert);
                if matches!(
                    payload["event"].as_str(),
                    Some("created" | "evidence_added")
                ) {
                    payload["event"] = if position.first_of_alert {
                        "created"
                    } else {
                        "evidence_added"
                    }
                    .into();
                }
                StreamMessage {
                    topic: super::alert_topic(alert),
                    message: self.signer.sign(&payload, position),
                }
            })
            .await
    }
}
