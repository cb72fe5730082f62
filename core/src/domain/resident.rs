//! Residents under watch (見守り対象者), their check-in policies and pauses.

use super::kinds::vocabulary;
use super::{Address, DistrictId, DomainError, ResidentId};
use chrono::{DateTime, Datelike, NaiveTime, Utc};

vocabulary! {
    /// Household situation, which decides how much silence means.
    LivingSituation, "living_situation" {
        Alone => ("alone", "独居"),
        ElderlyCouple => ("elderly_couple", "高齢者のみ世帯"),
        WithFamily => ("with_family", "家族同居"),
        Other => ("other", "その他"),
    }
}

vocabulary! {
    /// Why monitoring is paused.
    PauseReason, "pause_reason" {
        Hospital => ("hospital", "入院"),
        Travel => ("travel", "旅行・外泊"),
        ShortStay => ("short_stay", "ショートステイ"),
        Other => ("other", "その他"),
    }
}

/// A year of birth, checked to be plausible for a living person.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "i32", into = "i32")]
pub struct BirthYear(i32);

impl BirthYear {
    pub fn parse(year: i32, today: DateTime<Utc>) -> Result<Self, DomainError> {
        let this_year = today.year();
        if (1900..=this_year).contains(&year) {
            Ok(Self(year))
        } else {
            Err(DomainError::new(
                "birth_year",
                format!("{year} is not a birth year between 1900 and {this_year}"),
            ))
        }
    }

    /// Parses a CSV cell: `1942`, `１９４２` or `1942年`.
    pub fn parse_text(s: &str, today: DateTime<Utc>) -> Result<Self, DomainError> {
        let t = super::address::normalize(s);
        let t = t.trim().trim_end_matches('年');
        let year = t
            .parse::<i32>()
            .map_err(|_| DomainError::new("birth_year", format!("{s:?} is not a year")))?;
        Self::parse(year, today)
    }

    pub fn year(self) -> i32 {
        self.0
    }

    /// Age reached in the given year (the age-band rules use this, e.g. 65+).
    pub fn age_in(self, year: i32) -> i32 {
        year - self.0
    }
}

impl TryFrom<i32> for BirthYear {
    type Error = DomainError;
    fn try_from(y: i32) -> Result<Self, DomainError> {
        Self::parse(y, Utc::now())
    }
}

impl From<BirthYear> for i32 {
    fn from(y: BirthYear) -> i32 {
        y.0
    }
}

/// Someone the network may contact about a resident — only with the resident's consent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contact {
    pub name: String,
    /// Relation to the resident, e.g. 長女, 民生委員, 協力員.
    pub relation: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The resident agreed that this contact may be told about alerts.
    pub consent: bool,
}

/// How long a resident may be silent before an inactivity policy alerts: whole hours, from one
/// hour to a week. Every way in — the CLI, the dashboard's forms — goes through [`Self::parse`],
/// and says the bound in its own words from [`Self::MIN`] and [`Self::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SilenceHours(u32);

impl SilenceHours {
    /// The shortest silence worth an alert.
    pub const MIN: u32 = 1;
    /// A week: longer than that, a policy no longer watches over anyone.
    pub const MAX: u32 = 7 * 24;

    pub fn parse(hours: u32) -> Result<Self, DomainError> {
        if (Self::MIN..=Self::MAX).contains(&hours) {
            Ok(Self(hours))
        } else {
            Err(DomainError::new(
                "inactivity_hours",
                format!(
                    "{hours} is not between {} and {} hours",
                    Self::MIN,
                    Self::MAX
                ),
            ))
        }
    }

    pub fn hours(self) -> u32 {
        self.0
    }

    pub fn minutes(self) -> u32 {
        self.0 * 60
    }
}

/// How silence is judged for one resident (stored as data, editable by admins).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckinPolicy {
    /// No activity for `max_silence_minutes`, counted only inside active hours.
    Inactivity {
        max_silence_minutes: u32,
        active_from: NaiveTime,
        active_to: NaiveTime,
    },
    /// At least one activity between `from` and `to` each day, else an alert at `to`.
    DailyWindow { from: NaiveTime, to: NaiveTime },
    /// An explicit 元気です check-in by `due`, with an optional reminder and a grace period.
    Checkin {
        due: NaiveTime,
        remind_minutes_before: Option<u32>,
        grace_minutes: u32,
    },
}

impl CheckinPolicy {
    /// An alert after `silence` without activity, counted only between `active_from` and
    /// `active_to`.
    pub fn inactivity(silence: SilenceHours, active_from: NaiveTime, active_to: NaiveTime) -> Self {
        CheckinPolicy::Inactivity {
            max_silence_minutes: silence.minutes(),
            active_from,
            active_to,
        }
    }

    /// How people read it: `反応なし 12時間で通知（07:00–22:00に数える）`.
    pub fn label_ja(&self) -> String {
        let hm = |t: &NaiveTime| t.format("%H:%M").to_string();
        match self {
            CheckinPolicy::Inactivity {
                max_silence_minutes,
                active_from,
                active_to,
            } => format!(
                "反応なし {}で通知（{}–{}に数える）",
                minutes_ja(*max_silence_minutes),
                hm(active_from),
                hm(active_to)
            ),
            CheckinPolicy::DailyWindow { from, to } => {
                format!("毎日 {}–{} に生活反応がなければ通知", hm(from), hm(to))
            }
            CheckinPolicy::Checkin {
                due,
                remind_minutes_before,
                grace_minutes,
            } => format!(
                "「元気です」を {} までに（{}猶予{}分）",
                hm(due),
                remind_minutes_before
                    .map(|m| format!("{m}分前にお知らせ、"))
                    .unwrap_or_default(),
                grace_minutes
            ),
        }
    }
}

fn minutes_ja(m: u32) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m}分"),
        (h, 0) => format!("{h}時間"),
        (h, m) => format!("{h}時間{m}分"),
    }
}

/// A resident record. Sensitive (要配慮個人情報): every read is audited by the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resident {
    pub id: ResidentId,
    pub name: String,
    pub name_kana: Option<String>,
    pub birth_year: BirthYear,
    pub district: DistrictId,
    pub address: Address,
    pub living: LivingSituation,
    pub phone: Option<String>,
    pub contacts: Vec<Contact>,
    pub policies: Vec<CheckinPolicy>,
    /// Health and care notes: shown only behind login, never in chat, mail or logs.
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A resident to create (from the CLI, the dashboard or a CSV import).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResident {
    pub id: ResidentId,
    pub name: String,
    pub name_kana: Option<String>,
    pub birth_year: BirthYear,
    pub district: DistrictId,
    pub address: Address,
    pub living: LivingSituation,
    pub phone: Option<String>,
    pub contacts: Vec<Contact>,
    pub policies: Vec<CheckinPolicy>,
    pub notes: Option<String>,
}

impl NewResident {
    /// Checks a name given from outside.
    pub fn check_name(name: &str) -> Result<String, DomainError> {
        let n = name.trim();
        if n.is_empty() {
            return Err(DomainError::new("name", "the name is empty"));
        }
        if n.chars().count() > 100 {
            return Err(DomainError::new(
                "name",
                "the name is longer than 100 characters",
            ));
        }
        Ok(n.to_string())
    }
}

/// A time when no silence-based alert is raised (hospital stay, travel, short stay).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pause {
    pub id: i64,
    pub resident: ResidentId,
    pub reason: PauseReason,
    pub starts_at: DateTime<Utc>,
    /// `None`: open-ended, until someone ends it.
    pub ends_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

impl Pause {
    /// Whether the pause covers a moment.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.starts_at <= at && self.ends_at.is_none_or(|end| at < end)
    }
}

/// A pause to create.
#[derive(Debug, Clone)]
pub struct NewPause {
    pub resident: ResidentId,
    pub reason: PauseReason,
    pub starts_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

impl NewPause {
    pub fn validate(&self) -> Result<(), DomainError> {
        match self.ends_at {
            Some(end) if end <= self.starts_at => Err(DomainError::new(
                "ends_at",
                "a pause must end after it starts",
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_an_hour_to_a_week() {
        assert!(SilenceHours::parse(0).is_err());
        assert_eq!(SilenceHours::parse(1).unwrap().minutes(), 60);
        assert_eq!(SilenceHours::parse(168).unwrap().hours(), 168);
        let e = SilenceHours::parse(169).unwrap_err();
        assert_eq!(
            e.to_string(),
            "inactivity_hours: 169 is not between 1 and 168 hours"
        );
    }
}
