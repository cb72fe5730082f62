//! # mimamori-core
//!
//! What every mimamori component shares:
//!
//! - [`domain`]: the nouns of the care network (district, resident, device, partner, signal,
//!   alert, notification, audit entry) as validated types;
//! - [`admin`]: managing devices, responders, partners and teams — the one place each
//!   administrator's action is done, for the command line and the admin pages alike;
//! - [`config`]: the TOML configuration with `MIMAMORI__SECTION__KEY` environment overrides and
//!   one-line errors that name file, line and key;
//! - [`endpoint`]: where and how the platform's own components log in to the broker;
//! - [`registry`]: the city's districts, towns and default teams (Fujisawa ships built in);
//! - [`storage`]: one API over SQLite (embedded default) and PostgreSQL, chosen by URL;
//! - [`alert_stream`]: the messages integrations receive about alerts, numbered and signed
//!   (Ed25519), and how to check them;
//! - [`import`]: resident import from CSV files as Excel writes them (UTF-8 or CP932);
//! - [`secret`]: device passwords (argon2), partner tokens (SHA-256 of high-entropy tokens), and
//!   [`secret::Secret`], the configuration's tokens and passwords, redacted in `Debug`;
//! - [`clock`]: injected time, so time rules run in tests without waiting;
//! - [`html`]: escaping and the page document our web pages share; [`throttle`]: failed
//!   authentication counted per client;
//! - [`topic`] and [`protocol`]: the MQTT topic scheme v1 and the device payload v1 with its MAC.
#![forbid(unsafe_code)]

pub mod admin;
pub mod alert_stream;
pub mod clock;
pub mod config;
pub mod domain;
pub mod endpoint;
pub mod html;
pub mod import;
pub mod metrics;
pub mod protocol;
pub mod registry;
pub mod secret;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;
pub mod topic;
