//! `[notify.email]`: email through an SMTP server, or into files for the demo.

use crate::config::Invalid;
use crate::secret::Secret;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Email through an SMTP server, or into files for the demo.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// Send alerts to responders' (and consenting contacts') email addresses.
    pub enabled: bool,
    /// `smtp`, or `file`: one `.eml` file per message in `file_dir` (demo, trials).
    pub transport: EmailTransport,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `starttls` (port 587), `tls` (implicit TLS, port 465), or `plain` (no encryption: only
    /// to a relay on the same host or a private network).
    pub security: SmtpSecurity,
    /// SMTP login; empty: none.
    pub username: String,
    /// SMTP password. Keep it out of files: `MIMAMORI__NOTIFY__EMAIL__PASSWORD`.
    pub password: Secret,
    /// The sender, e.g. `見守り mimamori <mimamori@city.example.jp>`.
    pub from: String,
    /// Folder of the file transport; unset: `data_dir/mail`.
    pub file_dir: Option<PathBuf>,
    /// A PEM CA certificate to trust besides the public roots (an internal mail server).
    pub ca_cert: Option<PathBuf>,
    /// How long an acknowledgement link in an email works.
    pub link_valid_hours: u32,
}

impl EmailConfig {
    /// The folder of the file transport: `file_dir`, or `data_dir/mail`.
    pub fn mail_dir(&self, data_dir: &Path) -> PathBuf {
        self.file_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("mail"))
    }

    /// The transport is checked only when email is enabled; the link lifetime always.
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.enabled {
            if self.transport == EmailTransport::Smtp && self.smtp_host.trim().is_empty() {
                return Err((
                    "notify.email.smtp_host",
                    "required when notify.email.enabled with the smtp transport".into(),
                ));
            }
            if !self.from.contains('@') {
                return Err((
                    "notify.email.from",
                    format!("{:?} is not a sender address", self.from),
                ));
            }
            if let Some(ca) = &self.ca_cert
                && !ca.is_file()
            {
                return Err((
                    "notify.email.ca_cert",
                    format!("{} is not a readable file", ca.display()),
                ));
            }
        }
        if self.link_valid_hours == 0 || self.link_valid_hours > 24 * 14 {
            return Err((
                "notify.email.link_valid_hours",
                "must be between 1 and 336 (two weeks)".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    Smtp,
    File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    Starttls,
    Tls,
    Plain,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            transport: EmailTransport::Smtp,
            smtp_host: String::new(),
            smtp_port: 587,
            security: SmtpSecurity::Starttls,
            username: String::new(),
            password: Secret::default(),
            from: "見守り mimamori <mimamori@localhost>".into(),
            file_dir: None,
            ca_cert: None,
            link_valid_hours: 24,
        }
    }
}
