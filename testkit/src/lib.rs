//! # mimamori-testkit
//!
//! The peers mimamori talks to, for tests, each on a free port of 127.0.0.1:
//!
//! - [`telegram`]: a local HTTP server that speaks the Telegram Bot API calls mimamori uses
//!   (`getMe`, `getUpdates`, `sendMessage`, `editMessageText`, `answerCallbackQuery`,
//!   `setWebhook`, `deleteWebhook`) with the public API's JSON shapes, including its failures
//!   (429 with `retry_after`, 403 bot blocked, 5xx) — Telegram's own servers cannot be reached.
//! - [`smtp`]: a real SMTP server (Python's aiosmtpd as a child process) in plain, STARTTLS or
//!   implicit-TLS mode with a throw-away CA, optional AUTH and refused recipients; received
//!   messages come back decoded (RFC 2047 headers, charsets). Needs `pip install aiosmtpd`.
//! - [`browser`]: headless Chromium through ChromeDriver (W3C WebDriver), to use our pages as a
//!   person does. Needs `apt-get install -y chromium chromium-driver`.
//! - [`postgres`]: the PostgreSQL server of the tests — `MIMAMORI_TEST_POSTGRES_URL`, else the
//!   usual local address — and whether it answers.
//! - [`tmpfs`]: a small tmpfs to fill up (the disk-full fault); mounting needs root.
//! - [`nats`]: a three-node NATS cluster on loopback (`nats-server` 2.9 or later), a clustered
//!   MQTT broker; the benchmarks start it too.
//!
//! And the [`harness`] every integration test target runs under (`harness = false`): cases
//! registered with [`tests!`] or `mimamori_core::on_both_backends!` say what they need, and one
//! whose need is missing is reported as `ignored, <reason>` instead of running — or fails, where
//! `MIMAMORI_TEST_REQUIRE_<NEED>=1`.
pub mod browser;
pub mod harness;
pub mod nats;
pub mod postgres;
pub mod smtp;
pub mod telegram;
pub mod tmpfs;
