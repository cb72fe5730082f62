//! # mimamori-alerts
//!
//! The alert service: it decides, from signals and time, that someone needs a person to look, and
//! makes sure someone does.
//!
//! Its face is [`build`] → [`Alerts`] → [`Alerts::run`]; every process and test starts it that
//! way. Inside:
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
//! - [`actions`]: what a person does to an alert (acknowledge, resolve, note, route out of triage,
//!   link to a resident), one place for every surface, each change written with its announcement
//!   in one transaction;
//! - [`notify`]: the delivery outbox worker and its channels (MQTT, webhook, Telegram, email), and
//!   the messages they carry.
//!
//! The pages and APIs people use (dashboard, alerts API, email link pages) are `mimamori-web`'s;
//! they call [`actions`] and render with [`notify::message`].

pub mod actions;
mod component;
pub mod notify;
pub mod route;
pub mod rules;
pub mod schedule;
pub mod service;

pub use component::{
    Alerts, BuildError, actions_for, build, link_signer, message_context, targets,
};
pub use rules::{CONCERN_PERSONAL, Decision, Engine, EngineSettings};
pub use service::AlertService;
