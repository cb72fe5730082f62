//! Districts (地区): the unit by which a city divides its care network.

use super::DomainError;
use super::id::check_slug;

/// A district's stable id, e.g. `kugenuma`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct DistrictId(String);

impl DistrictId {
    pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
        let s = s.into();
        check_slug("district", &s)?;
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DistrictId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

impl std::str::FromStr for DistrictId {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for DistrictId {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}

impl From<DistrictId> for String {
    fn from(id: DistrictId) -> String {
        id.0
    }
}

/// A district as stored: its id, Japanese name and whether the public data behind it is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct District {
    pub id: DistrictId,
    /// Japanese name, e.g. 鵠沼.
    pub name: String,
    /// Reading in hiragana, e.g. くげぬま.
    pub reading: Option<String>,
    /// False while the registry marks the district's data as unconfirmed.
    pub confirmed: bool,
    /// Display order (the city's own order of its districts).
    pub position: i64,
}
