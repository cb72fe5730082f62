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
pub mod browser;
pub mod smtp;
pub mod telegram;
