//! Signals: everything that arrives from devices and partners, stored once and never changed.

use super::kinds::vocabulary;
use super::{DeviceId, DomainError, PartnerId, ResidentId, SignalId};
use chrono::{DateTime, Utc};

vocabulary! {
    /// What a signal says.
    SignalKind, "signal_kind" {
        /// The call button was pressed (緊急通報).
        Emergency => ("emergency", "緊急通報"),
        /// Door, motion, power use, light: evidence of life.
        Activity => ("activity", "生活反応"),
        /// An explicit 元気です.
        Checkin => ("checkin", "元気です"),
        /// Heartbeat, battery, tamper, last will: about the device, never the person.
        DeviceHealth => ("device_health", "機器の状態"),
        /// A partner's report of something seen.
        Concern => ("concern", "見守り協力事業者からの連絡"),
        /// An administrator changed how a resident is watched (policies, pauses, devices): the
        /// alert service re-reads the resident. Keeps every process's view in step through the
        /// same ordered log as everything else.
        Change => ("change", "設定変更"),
    }
}

/// Who a signal or alert is about; the key of alert deduplication.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Resident(ResidentId),
    /// An address with no known resident (a partner's concern), as `town` + 丁目 area.
    Address(String),
    Device(DeviceId),
    /// A notification channel (`webhook:https://…`), for delivery failures.
    Channel(String),
}

impl Subject {
    /// The stored key: `resident:r-…`, `address:鵠沼海岸2丁目`, `device:d-…`.
    pub fn key(&self) -> String {
        match self {
            Subject::Resident(id) => format!("resident:{id}"),
            Subject::Address(a) => format!("address:{a}"),
            Subject::Device(id) => format!("device:{id}"),
            Subject::Channel(c) => format!("channel:{c}"),
        }
    }

    /// The key as it may leave the platform (MQTT, webhooks): ids as they are, but an address
    /// subject says only `address`, since the address itself is personal data.
    pub fn public_key(&self) -> String {
        match self {
            Subject::Address(_) => "address".to_string(),
            other => other.key(),
        }
    }

    pub fn parse_key(s: &str) -> Result<Self, DomainError> {
        match s.split_once(':') {
            Some(("resident", id)) => Ok(Subject::Resident(ResidentId::parse(id)?)),
            Some(("device", id)) => Ok(Subject::Device(DeviceId::parse(id)?)),
            Some(("address", a)) if !a.is_empty() => Ok(Subject::Address(a.to_string())),
            Some(("channel", c)) if !c.is_empty() => Ok(Subject::Channel(c.to_string())),
            _ => Err(DomainError::new(
                "subject",
                format!("{s:?} is not a subject key"),
            )),
        }
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// Where a signal came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SignalSource {
    Device(DeviceId),
    Partner(PartnerId),
    /// The platform itself (e.g. a rule's own bookkeeping, an admin's manual entry).
    System,
}

impl SignalSource {
    pub fn key(&self) -> String {
        match self {
            SignalSource::Device(id) => format!("device:{id}"),
            SignalSource::Partner(id) => format!("partner:{id}"),
            SignalSource::System => "system".to_string(),
        }
    }

    pub fn parse_key(s: &str) -> Result<Self, DomainError> {
        match s.split_once(':') {
            Some(("device", id)) => Ok(SignalSource::Device(DeviceId::parse(id)?)),
            Some(("partner", id)) => Ok(SignalSource::Partner(PartnerId::parse(id)?)),
            None if s == "system" => Ok(SignalSource::System),
            _ => Err(DomainError::new(
                "source",
                format!("{s:?} is not a source key"),
            )),
        }
    }
}

/// A signal to store. `dedup_key` makes storing idempotent: a device's `seq` or a partner's
/// message id; the same (source, dedup_key) is stored once.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSignal {
    pub source: SignalSource,
    pub dedup_key: Option<String>,
    pub subject: Option<Subject>,
    pub kind: SignalKind,
    /// The normalised payload (JSON), minus anything the platform does not need.
    pub body: serde_json::Value,
    /// The time the device says it happened, when it said one.
    pub device_time: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    /// The device clock was too far off: rules use `received_at`.
    pub clock_skewed: bool,
}

/// A stored signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub id: SignalId,
    pub source: SignalSource,
    pub dedup_key: Option<String>,
    pub subject: Option<Subject>,
    pub kind: SignalKind,
    pub body: serde_json::Value,
    pub device_time: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub clock_skewed: bool,
}

impl Signal {
    /// The time rules should believe: the device's unless its clock was off.
    pub fn effective_time(&self) -> DateTime<Utc> {
        match self.device_time {
            Some(t) if !self.clock_skewed => t,
            _ => self.received_at,
        }
    }
}
