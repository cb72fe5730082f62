//! # mimamori-alerts
//!
//! The alert service: it decides, from signals and time, that someone needs a person to look.
//!
//! - [`schedule`]: local times of day in the city's zone — active hours, daily windows, pauses;
//! - [`rules`]: the [`Engine`] — a deadline queue fed with signals and time — and one module per
//!   rule (emergency, inactivity, daily window, check-in, pauses, device health, unmonitored
//!   residents, partners' concerns, compound cases); pure, clock-free, restart-safe by
//!   construction;
//! - [`service`]: the engine fed from the store — rebuilt from it on start, following new signals by
//!   their id, sleeping until the next deadline on an injected clock, writing alerts routed to their
//!   team with their notifications, and carrying out escalation steps;
//! - [`route`]: routing (which team of the district) and escalation chains, as data;
//! - [`notify`]: the delivery outbox worker and its channels (MQTT, webhook, Telegram, email);
//! - [`api`]: the alerts HTTP API; [`ack_link`]: the pages behind email acknowledgement links;
//!   [`dashboard`]: responders' sign-in and the alert pages that chat and email link to (with the
//!   partners' reports behind a concern alert).

pub mod ack_link;
pub mod api;
pub mod dashboard;
pub mod notify;
pub mod route;
pub mod rules;
pub mod schedule;
pub mod service;

pub use rules::{Decision, Engine, EngineSettings};

/// The rules' earlier name, for the callers (the service, the API, reminders, tests) that still
/// import `engine::…`; the same module.
pub use rules as engine;
pub use service::AlertService;
