//! The alert stream as the MQTT channel writes it: each alert message numbered, signed and stored
//! ([`mimamori_core::storage::Store::append_to_alert_stream`]) before it is published, so that
//! the store is the record and MQTT the fast path. An integration that missed messages (a broker
//! restart, its own outage) reads them again by number from `GET /api/v1/alerts/events`.
//!
//! The message is made from the alert as it is when its number is given out, under the stream's
//! lock: a later number never carries an older state of an alert. A notification published again
//! (a retry, a worker that took over a lapsed lease) goes out with the message it got first.
//!
//! A row this process claims as it writes the alert is numbered in the alert's own transaction
//! ([`AlertStream::maker`], handed to the store with the claim): on PostgreSQL a transaction of
//! its own, about ten round trips and a flush, stood between every alert and its publication.

use mimamori_core::alert_stream::StreamSigner;
use mimamori_core::clock::Clock;
use mimamori_core::domain::{Alert, Notification};
use mimamori_core::storage::{
    StorageError, Store, StreamEntry, StreamMaker, StreamMessage, StreamPosition,
};
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

    /// The stream's message for an MQTT notification: the one it already has (numbered when
    /// its alert was written, or by an earlier try), or a new one at the next number.
    pub async fn message_for(&self, n: &Notification) -> Result<StreamEntry, StorageError> {
        let make = self.maker();
        self.store
            .append_to_alert_stream(n.id, self.clock.now(), |alert, position| {
                make(n, alert, position)
            })
            .await
    }

    /// How a message is made from its notification and alert at its place in the stream, for
    /// the store to number in the alert's own transaction ([`mimamori_core::storage::Claim`]).
    ///
    /// A raised alert's message is `created` when it is the stream's first about the alert and
    /// `evidence_added` after that — named by the stream, not by the evidence count when it is
    /// sent: after a crash, the row of the first press can go out after the second press joined
    /// (its lease had to run out), and integrations must still learn of the alert by `created`.
    pub fn maker(&self) -> StreamMaker {
        let signer = self.signer.clone();
        Arc::new(
            move |n: &Notification, alert: &Alert, position: StreamPosition| {
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
                    message: signer.sign(&payload, position),
                }
            },
        )
    }
}
