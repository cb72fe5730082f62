//! `[http]`: the HTTP server (dashboard, partner form, APIs, health).

use super::Invalid;
use serde::Deserialize;
use std::net::SocketAddr;

/// The HTTP server (dashboard, partner form, APIs, health).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// The address people use to reach the dashboard, for links in chat and mail.
    pub public_url: String,
    /// Wrong tokens (sign-in, report form, APIs) a client may send within
    /// `auth_failure_window_seconds` before it is refused (429) until that window ends. 0: no limit.
    pub max_auth_failures: u32,
    pub auth_failure_window_seconds: u64,
    /// Behind a reverse proxy: the header that carries the client's address (`x-forwarded-for`,
    /// `x-real-ip`; its last address counts). Empty: the connection's own address.
    pub client_ip_header: String,
    /// A listener of its own for `/metrics` (e.g. an address only the monitoring network
    /// reaches); then `/metrics` is not served on `listen`. Unset: served on `listen`.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://localhost:8080".into(),
            max_auth_failures: 10,
            auth_failure_window_seconds: 600,
            client_ip_header: String::new(),
            metrics_listen: None,
        }
    }
}

impl HttpConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !(self.public_url.starts_with("http://") || self.public_url.starts_with("https://")) {
            return Err((
                "http.public_url",
                format!("{:?} must start with http:// or https://", self.public_url),
            ));
        }
        if self.max_auth_failures > 0 && self.auth_failure_window_seconds == 0 {
            return Err((
                "http.auth_failure_window_seconds",
                "must be at least 1 when http.max_auth_failures is set".into(),
            ));
        }
        if self.metrics_listen == Some(self.listen) {
            return Err((
                "http.metrics_listen",
                "must differ from http.listen (leave it unset to serve /metrics there)".into(),
            ));
        }
        let header = self.client_ip_header.trim();
        if !header.is_empty()
            && !header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err((
                "http.client_ip_header",
                format!("{header:?} is not a header name"),
            ));
        }
        Ok(())
    }
}
