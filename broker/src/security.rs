//! Security events of the broker: refused logins and refused topics, counted as they happen and
//! reported in bounded form.
//!
//! A flood (600 connections with a wrong password, a device publishing on the alerts topic in a
//! loop) must not become a flood of log lines and audit rows: events are aggregated per (login,
//! what) and reported once per interval ([`REPORT_EVERY`]) as one log line and one audit row each
//! (`object_kind = 'security'`, `action = 'security.login_refused'` or
//! `'security.topic_refused'`, with the count). At most [`MAX_REPORTED`] (login, what) pairs are
//! reported individually per interval, the rest as one summary; at most [`MAX_PENDING`] are held
//! between reports, further ones only counted. Counters for `/metrics` only grow.

use chrono::{DateTime, Utc};
use mimamori_core::domain::{Actor, NewAuditEntry};
use mimamori_core::metrics::{Exposition, metric};
use mimamori_core::storage::Store;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often aggregated security events are reported.
pub const REPORT_EVERY: Duration = Duration::from_secs(60);
/// (login, what) pairs reported one by one per interval; the rest are summed in one line.
pub const MAX_REPORTED: usize = 20;
/// (login, what) pairs held between two reports.
pub const MAX_PENDING: usize = 10_000;
/// Usernames are chosen by whoever connects: reports keep at most this many characters.
const MAX_NAME: usize = 64;

/// What was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Login(Refusal),
    Publish,
    Subscribe,
    LastWill,
}

/// Why a login was refused (never the password).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// No username or password in the CONNECT.
    NoLogin,
    /// The client id is not the username (or uses the platform's prefix).
    ClientIdMismatch,
    /// No device, partner or integration of that name.
    Unknown,
    /// Disabled device or integration.
    Disabled,
    WrongPassword,
    ServiceAccount,
    /// The store could not be read: refused to be safe.
    StoreUnavailable,
}

impl Refusal {
    pub const ALL: [Refusal; 7] = [
        Refusal::NoLogin,
        Refusal::ClientIdMismatch,
        Refusal::Unknown,
        Refusal::Disabled,
        Refusal::WrongPassword,
        Refusal::ServiceAccount,
        Refusal::StoreUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoLogin => "no_login",
            Refusal::ClientIdMismatch => "client_id_mismatch",
            Refusal::Unknown => "unknown",
            Refusal::Disabled => "disabled",
            Refusal::WrongPassword => "wrong_password",
            Refusal::ServiceAccount => "service_account",
            Refusal::StoreUnavailable => "store_unavailable",
        }
    }
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Login(r) => r.as_str(),
            Kind::Publish => "publish",
            Kind::Subscribe => "subscribe",
            Kind::LastWill => "last_will",
        }
    }
}

#[derive(Debug)]
struct Pending {
    count: u64,
    /// The first topic refused in the interval (topic refusals), as an example.
    example: Option<String>,
}

/// One aggregated report line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub login: String,
    pub kind: Kind,
    pub count: u64,
    pub example: Option<String>,
}

/// Counts and aggregates the broker's security events. Shared by the login handler and every
/// connection's rights; its methods never block for long (the router thread calls them).
#[derive(Debug, Default)]
pub struct SecurityEvents {
    pending: Mutex<HashMap<(String, Kind), Pending>>,
    /// Events beyond [`MAX_PENDING`] pairs in an interval: counted, reported as a sum.
    overflow: AtomicU64,
    pub logins_accepted: AtomicU64,
    pub logins_refused: AtomicU64,
    pub topics_refused: AtomicU64,
    /// Refused logins by reason, in the order of [`Refusal::ALL`].
    refused_by_reason: [AtomicU64; Refusal::ALL.len()],
    /// Refused topics by what was attempted, in the order of [`TOPIC_KINDS`].
    refused_by_kind: [AtomicU64; TOPIC_KINDS.len()],
}

/// What a connection may be refused on a topic.
const TOPIC_KINDS: [Kind; 3] = [Kind::Publish, Kind::Subscribe, Kind::LastWill];

impl SecurityEvents {
    pub fn new() -> Self {
        Self::default()
    }

    /// A login was refused.
    pub fn login_refused(&self, username: &str, reason: Refusal) {
        self.logins_refused.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = Refusal::ALL.iter().position(|r| *r == reason) {
            self.refused_by_reason[i].fetch_add(1, Ordering::Relaxed);
        }
        self.add(username, Kind::Login(reason), None);
    }

    /// A connection used a topic its rights do not allow.
    pub fn topic_refused(&self, login: &str, kind: Kind, topic: &str) {
        self.topics_refused.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = TOPIC_KINDS.iter().position(|k| *k == kind) {
            self.refused_by_kind[i].fetch_add(1, Ordering::Relaxed);
        }
        self.add(login, kind, Some(topic));
    }

    fn add(&self, login: &str, kind: Kind, topic: Option<&str>) {
        let login: String = login.chars().take(MAX_NAME).collect();
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let full = pending.len() >= MAX_PENDING;
        match pending.get_mut(&(login.clone(), kind)) {
            Some(p) => p.count += 1,
            None if full => {
                self.overflow.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                pending.insert(
                    (login, kind),
                    Pending {
                        count: 1,
                        example: topic.map(|t| t.chars().take(200).collect()),
                    },
                );
            }
        }
    }

    /// Takes what happened since the last call: the [`MAX_REPORTED`] largest counts one by one,
    /// and the sum of the rest (with the overflow).
    pub fn take(&self) -> (Vec<Report>, u64) {
        let drained: Vec<_> = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let drained = pending.drain().collect();
            pending.shrink_to(64);
            drained
        };
        let mut reports: Vec<Report> = drained
            .into_iter()
            .map(|((login, kind), p)| Report {
                login,
                kind,
                count: p.count,
                example: p.example,
            })
            .collect();
        reports.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.login.cmp(&b.login)));
        let rest: u64 = reports
            .iter()
            .skip(MAX_REPORTED)
            .map(|r| r.count)
            .sum::<u64>()
            + self.overflow.swap(0, Ordering::Relaxed);
        reports.truncate(MAX_REPORTED);
        (reports, rest)
    }

    /// Reports what happened since the last call: a log line and an audit row each.
    pub async fn report(&self, store: &Store, now: DateTime<Utc>) {
        let (reports, rest) = self.take();
        for r in &reports {
            let (action, what) = match r.kind {
                Kind::Login(_) => ("security.login_refused", "MQTT login refused"),
                _ => ("security.topic_refused", "MQTT topic refused"),
            };
            tracing::warn!(
                login = %r.login,
                reason = r.kind.as_str(),
                count = r.count,
                example_topic = r.example.as_deref().unwrap_or(""),
                "Security: {what}."
            );
            let entry = NewAuditEntry {
                actor: Actor("broker".into()),
                action: action.into(),
                object_kind: "security".into(),
                object_id: Some(r.login.clone()),
                detail: json!({
                    "reason": r.kind.as_str(),
                    "count": r.count,
                    "topic": r.example,
                    "interval_s": REPORT_EVERY.as_secs(),
                }),
                at: now,
            };
            if let Err(e) = store.record_audit(&entry).await {
                tracing::error!(error = %e, "Cannot record a security event.");
            }
        }
        if rest > 0 {
            tracing::warn!(
                count = rest,
                "Security: further MQTT refusals from other logins in this interval."
            );
            let entry = NewAuditEntry {
                actor: Actor("broker".into()),
                action: "security.refusals_other".into(),
                object_kind: "security".into(),
                object_id: None,
                detail: json!({ "count": rest, "interval_s": REPORT_EVERY.as_secs() }),
                at: now,
            };
            if let Err(e) = store.record_audit(&entry).await {
                tracing::error!(error = %e, "Cannot record a security event.");
            }
        }
    }

    /// Reports every [`REPORT_EVERY`] until `shutdown`, and once more then.
    pub async fn run(&self, store: Store, shutdown: CancellationToken) {
        let mut every = tokio::time::interval(REPORT_EVERY);
        every.tick().await;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = every.tick() => self.report(&store, Utc::now()).await,
            }
        }
        self.report(&store, Utc::now()).await;
    }
}

impl Exposition for SecurityEvents {
    fn render(&self) -> String {
        let mut out = String::new();
        metric(
            &mut out,
            "counter",
            "mimamori_broker_logins_accepted_total",
            "MQTT logins the embedded broker accepted.",
            self.logins_accepted.load(Ordering::Relaxed),
        );
        let labelled =
            |out: &mut String, name: &str, help: &str, label: &str, values: Vec<(&str, u64)>| {
                out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
                for (value, count) in values {
                    out.push_str(&format!("{name}{{{label}=\"{value}\"}} {count}\n"));
                }
            };
        labelled(
            &mut out,
            "mimamori_broker_logins_refused_total",
            "MQTT logins the embedded broker refused, by reason.",
            "reason",
            Refusal::ALL
                .iter()
                .zip(&self.refused_by_reason)
                .map(|(r, c)| (r.as_str(), c.load(Ordering::Relaxed)))
                .collect(),
        );
        labelled(
            &mut out,
            "mimamori_broker_topics_refused_total",
            "Publishes, subscriptions and last wills the embedded broker refused by topic rights.",
            "what",
            TOPIC_KINDS
                .iter()
                .zip(&self.refused_by_kind)
                .map(|(k, c)| (k.as_str(), c.load(Ordering::Relaxed)))
                .collect(),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_refusals_by_reason_and_what() {
        let events = SecurityEvents::new();
        for _ in 0..600 {
            events.login_refused("btn-1", Refusal::WrongPassword);
        }
        events.login_refused("nobody", Refusal::Unknown);
        events.topic_refused("door-1", Kind::Subscribe, "#");
        let text = events.render();
        for line in [
            "mimamori_broker_logins_refused_total{reason=\"wrong_password\"} 600",
            "mimamori_broker_logins_refused_total{reason=\"unknown\"} 1",
            "mimamori_broker_logins_refused_total{reason=\"disabled\"} 0",
            "mimamori_broker_topics_refused_total{what=\"subscribe\"} 1",
            "mimamori_broker_topics_refused_total{what=\"publish\"} 0",
            "mimamori_broker_logins_accepted_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(!text.contains("btn-1"), "no login names in metrics");
    }

    #[test]
    fn a_flood_becomes_one_report_per_login_and_what() {
        let events = SecurityEvents::new();
        for _ in 0..20_000 {
            events.topic_refused("door-1", Kind::Publish, "mimamori/v1/alerts/katase/2");
        }
        for _ in 0..600 {
            events.login_refused("btn-1", Refusal::WrongPassword);
        }
        let (reports, rest) = events.take();
        assert_eq!(rest, 0);
        assert_eq!(
            reports,
            vec![
                Report {
                    login: "door-1".into(),
                    kind: Kind::Publish,
                    count: 20_000,
                    example: Some("mimamori/v1/alerts/katase/2".into()),
                },
                Report {
                    login: "btn-1".into(),
                    kind: Kind::Login(Refusal::WrongPassword),
                    count: 600,
                    example: None,
                },
            ]
        );
        assert_eq!(events.take(), (vec![], 0));
        assert_eq!(events.topics_refused.load(Ordering::Relaxed), 20_000);
    }

    #[test]
    fn many_names_are_bounded_and_summed() {
        let events = SecurityEvents::new();
        for i in 0..(MAX_PENDING + 5_000) {
            events.login_refused(&format!("nobody-{i}"), Refusal::Unknown);
        }
        let long = "x".repeat(10_000);
        events.login_refused(&long, Refusal::Unknown);
        let (reports, rest) = events.take();
        assert_eq!(reports.len(), MAX_REPORTED);
        assert_eq!(
            reports.iter().map(|r| r.count).sum::<u64>() + rest,
            (MAX_PENDING + 5_001) as u64
        );
        assert!(reports.iter().all(|r| r.login.len() <= MAX_NAME));
    }
}
