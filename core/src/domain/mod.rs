//! Domain types: validated on construction, so the rest of the code can trust them.
//!
//! Every type here is a noun of the care network (district, resident, device, alert…). Values
//! that arrive from outside — CLI flags, CSV cells, config files, MQTT payloads — become these
//! types through `parse`/`FromStr`, which reject bad input with a [`DomainError`] naming the field.

pub(crate) mod address;
mod alert;
mod audit;
mod device;
mod district;
mod id;
mod integration;
mod kinds;
mod notification;
mod partner;
mod resident;
mod signal;
mod team;

pub use address::Address;
pub use alert::{
    Alert, AlertEvent, AlertEventKind, AlertKind, AlertState, NewAlert, Outcome, Severity,
};
pub use audit::{Actor, AuditEntry, NewAuditEntry};
pub use device::{Device, DeviceKind, NewDevice};
pub use district::{District, DistrictId};
pub use id::{AlertId, DeviceId, PartnerId, ResidentId, ResponderId, SignalId, TeamId};
pub use integration::{INTEGRATION_SECRET_PREFIX, Integration, NewIntegration};
pub use notification::{Channel, NewNotification, Notification, NotificationStatus};
pub use partner::{NewPartner, Observation, Partner, PartnerKind};
pub use resident::{
    BirthYear, CheckinPolicy, Contact, LivingSituation, NewPause, NewResident, Pause, PauseReason,
    Resident, SilenceHours,
};
pub use signal::{NewSignal, Signal, SignalKind, SignalSource, Subject};
pub use team::{
    Email, LinkCodeHours, NewResponder, NewTeam, OfficeHours, Responder, Role, Team, TeamKind,
};

/// Why a value from outside was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct DomainError {
    /// The field (or CSV column, or flag) the bad value belongs to.
    pub field: &'static str,
    /// What is wrong with it, in words a clerk can act on.
    pub reason: String,
}

impl DomainError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
