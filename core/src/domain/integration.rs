//! Integrations: other systems that follow the alert stream (a city's case system, a LINE WORKS
//! bot, a dispatch board). They only read: on MQTT they subscribe to `mimamori/v1/alerts/…`
//! (logged in with username = their id, password = their secret), over HTTP they catch up with
//! `GET /api/v1/alerts/events`. One scoped to a district reads that district's alerts only.

use super::{DistrictId, DomainError};
use crate::secret::REDACTED;
use chrono::{DateTime, Utc};

/// What an integration's secret starts with, so that a leaked one is recognised for what it is.
pub const INTEGRATION_SECRET_PREFIX: &str = "mmi_";

/// A registered integration. Its secret is stored only as a hash.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct Integration {
    /// Its MQTT username too: a slug (`a-z 0-9 - _`), `int-…` when generated.
    pub id: String,
    /// Whose system it is, for people to read (`市ケース管理システム`).
    pub name: String,
    /// The one district it may read; `None`: every district and the triage queue.
    pub district: Option<DistrictId>,
    /// SHA-256 hex of its secret ([`crate::secret::token_hash`]); never serialised.
    #[serde(skip)]
    pub secret_hash: String,
    /// A disabled integration is refused everywhere (broker and HTTP) at once.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    /// When it was disabled, if it is.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl Integration {
    /// A new integration's id: `int-` and 10 random characters.
    pub fn generate_id() -> String {
        format!("int-{}", super::id::random_slug(10))
    }

    /// Checks an id given from outside (the same slug rule as every text id).
    pub fn parse_id(id: &str) -> Result<String, DomainError> {
        super::id::check_slug("integration", id)?;
        Ok(id.to_string())
    }

    /// A new secret: `mmi_` and 33 characters, about 190 bits. Shown once; stored as its hash.
    pub fn generate_secret() -> String {
        format!("{INTEGRATION_SECRET_PREFIX}{}", crate::secret::generate(33))
    }

    /// Whether `secret` logs this integration in: it is enabled and the secret's hash matches
    /// (compared in constant time). What a broker's login check needs after
    /// [`crate::storage::Store::get_integration`].
    pub fn accepts(&self, secret: &str) -> bool {
        self.enabled
            && crate::secret::constant_time_eq(
                crate::secret::token_hash(secret).as_bytes(),
                self.secret_hash.as_bytes(),
            )
    }

    /// Whether it may read an alert of `district` (`None`: the triage queue).
    pub fn covers(&self, district: Option<&DistrictId>) -> bool {
        match &self.district {
            None => true,
            Some(own) => Some(own) == district,
        }
    }
}

/// An integration to register.
#[derive(Clone)]
pub struct NewIntegration {
    pub id: String,
    pub name: String,
    pub district: Option<DistrictId>,
    /// [`crate::secret::token_hash`] of the secret handed over once.
    pub secret_hash: String,
}

/// Everything but the secret's hash.
impl std::fmt::Debug for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("district", &self.district)
            .field("secret_hash", &format_args!("{REDACTED}"))
            .field("enabled", &self.enabled)
            .field("created_at", &self.created_at)
            .field("disabled_at", &self.disabled_at)
            .finish()
    }
}

/// Everything but the secret's hash.
impl std::fmt::Debug for NewIntegration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewIntegration")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("district", &self.district)
            .field("secret_hash", &format_args!("{REDACTED}"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration(secret: &str) -> Integration {
        Integration {
            id: "int-casebook".into(),
            name: "ケース管理".into(),
            district: Some(DistrictId::parse("kugenuma").unwrap()),
            secret_hash: crate::secret::token_hash(secret),
            enabled: true,
            created_at: "2026-12-01T00:00:00Z".parse().unwrap(),
            disabled_at: None,
        }
    }

    #[test]
    fn debug_and_json_leave_out_the_secret_hash() {
        let i = integration("mmi_secret-0001");
        let hash = i.secret_hash.clone();
        let shown = format!("{i:?}");
        assert!(shown.contains("int-casebook"), "{shown}");
        assert!(!shown.contains(&hash), "{shown}");
        let json = serde_json::to_string(&i).unwrap();
        assert!(!json.contains(&hash) && !json.contains("secret"), "{json}");
        let new = NewIntegration {
            id: i.id.clone(),
            name: i.name.clone(),
            district: None,
            secret_hash: hash.clone(),
        };
        assert!(!format!("{new:?}").contains(&hash));
    }

    #[test]
    fn the_secret_logs_in_only_while_enabled() {
        let secret = Integration::generate_secret();
        assert!(secret.starts_with("mmi_") && secret.len() == 37, "{secret}");
        let mut i = integration(&secret);
        assert!(i.accepts(&secret));
        assert!(!i.accepts("mmi_wrong"));
        assert!(!i.accepts(""));
        i.enabled = false;
        assert!(!i.accepts(&secret));
    }

    #[test]
    fn a_district_integration_covers_its_district_only() {
        let i = integration("x");
        assert!(i.covers(Some(&DistrictId::parse("kugenuma").unwrap())));
        assert!(!i.covers(Some(&DistrictId::parse("tsujido").unwrap())));
        assert!(!i.covers(None), "not the triage queue");
        let city = Integration {
            district: None,
            ..integration("x")
        };
        assert!(city.covers(None) && city.covers(Some(&DistrictId::parse("tsujido").unwrap())));
    }

    #[test]
    fn ids_are_slugs() {
        assert!(Integration::generate_id().starts_with("int-"));
        assert!(Integration::parse_id("int-casebook").is_ok());
        assert!(Integration::parse_id("bad/topic").is_err());
        assert!(Integration::parse_id("").is_err());
    }
}
