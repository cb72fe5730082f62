//! # mimamori-gateway
//!
//! The path from a message on the broker to a stored, trusted signal.
//!
//! - [`mqtt`]: an MQTT client with a persistent session (fixed client id, clean session off,
//!   QoS 1, manual acknowledgements: a message is acknowledged to the broker only after it is
//!   stored), optionally in a shared-subscription group so several gateways split the load. It works
//!   the same against the embedded broker and an external one.
//! - [`adapter`]: one small module per payload format — our v1 JSON, zigbee2mqtt — each turning a
//!   message into zero or more signals.
//! - [`ingest`]: authentication (per-device HMAC), validation, normalisation, storage (idempotent on
//!   device + `seq`) and the receipt to the device. [`ingest::Ingestor::handle`] is the one step
//!   that tests call directly.
//! - [`cache`]: the device and partner records ingestion has read, capped and expiring (ids come
//!   from topics: anyone connected can name a million).
//! - [`security_event`]: security events (bad MACs, refused partners) written at most once per
//!   sender and reason per interval, with a summary of the rest.
//! - [`metrics`]: counters of what was stored and what was dropped, and why.
//! - [`drop_reason`]: why a message was not stored — named by the adapters and ingestion, counted
//!   by the metrics; it imports nothing from the gateway, so the modules' imports form no loop
//!   (`mqtt` → `ingest` → `adapter`, `metrics` → `drop_reason`).
//! - [`concern`]: partners' reports (見守り協定) from the web form or the HTTP API (served by
//!   `mimamori-web`) and from partners' systems on MQTT (`mimamori/v1/partners/{id}/concerns`,
//!   answered on `…/receipts`): checked, routed by address, linked to a known resident, stored as
//!   `concern` signals.
//! - [`service`]: the component's face — [`build`] from the configuration, [`Gateway::run`].
//!
//! Hand-off to the alert service: every stored signal is in the database (durable), and is also
//! broadcast in-process to subscribers of [`ingest::Ingestor::subscribe`]. A consumer in another
//! process reads the signals table by id (`Store::signals_after`): at-least-once, in order.

pub mod adapter;
pub mod cache;
pub mod concern;
pub mod drop_reason;
pub mod ingest;
pub mod metrics;
pub mod mqtt;
pub mod security_event;
pub mod service;

pub use drop_reason::DropReason;
pub use ingest::{IngestEvent, Ingestor};
pub use metrics::Metrics;
pub use service::{Gateway, build};
