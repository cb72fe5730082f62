//! The audit log: who looked at or changed what. Every view of a resident record writes one.

use chrono::{DateTime, Utc};

/// Who acts: `cli:<os user>`, `responder:<id>`, `system`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Actor(pub String);

impl Actor {
    pub fn system() -> Self {
        Self("system".into())
    }

    /// A responder, by id: `responder:<id>` (timelines, the audit log, acknowledgements).
    pub fn responder(id: impl std::fmt::Display) -> Self {
        Self(format!("responder:{id}"))
    }

    /// The operating-system user running the CLI.
    pub fn cli() -> Self {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Self(format!("cli:{user}"))
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An entry to write.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: Actor,
    /// What was done, e.g. `resident.view`, `resident.import`, `device.add`.
    pub action: String,
    pub object_kind: String,
    pub object_id: Option<String>,
    /// Context without personal data (counts, filters, ids).
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub object_kind: String,
    pub object_id: Option<String>,
    pub detail: serde_json::Value,
}
