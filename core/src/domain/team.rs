//! Teams and responders: the people alerts go to.

use super::kinds::vocabulary;
use super::{DistrictId, DomainError, ResponderId, TeamId};
use chrono::{DateTime, NaiveTime, Utc, Weekday};

vocabulary! {
    /// What a team does in the network; routing picks teams by kind and district.
    TeamKind, "team_kind" {
        /// 地域包括支援センター (いきいきサポートセンター): first responder for residents 65+.
        Houkatsu => ("houkatsu", "地域包括支援センター"),
        /// コミュニティソーシャルワーカー of a district: all ages, partner concerns.
        Csw => ("csw", "CSW"),
        /// City-wide coordinator (バックアップふじさわ / 基幹型): escalation and triage.
        Coordinator => ("coordinator", "バックアップふじさわ"),
        /// Operators who look after devices and the platform.
        Operators => ("operators", "運用担当"),
    }
}

vocabulary! {
    /// What a responder may do beyond their team's alerts and residents. Scope (which districts)
    /// stays the team's: a district's team sees its district, a city-wide team everything.
    Role, "role" {
        /// Works on their team's alerts and residents.
        Responder => ("responder", "担当者"),
        /// A city-wide team's member: triage, the city's figures (as every city-wide team's
        /// member had before roles existed).
        Coordinator => ("coordinator", "市の調整担当"),
        /// Also manages devices, responders, partners and teams, and reads the audit log, in the
        /// browser (`/admin/…`).
        Admin => ("admin", "管理者"),
    }
}

/// A team, optionally bound to one district (coordinator and operators are city-wide).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Team {
    pub id: TeamId,
    pub kind: TeamKind,
    pub district: Option<DistrictId>,
    pub name: String,
}

impl Team {
    /// Whether the team's people see and act on an alert of `district`: a district team on its
    /// own district's, a city-wide team (coordinator, operators) on every district's and the
    /// triage queue's. The one scope rule of the API, the Telegram buttons and email links.
    pub fn covers(&self, district: Option<&DistrictId>) -> bool {
        self.district.is_none() || self.district.as_ref() == district
    }
}

/// A team to create.
#[derive(Debug, Clone)]
pub struct NewTeam {
    pub id: TeamId,
    pub kind: TeamKind,
    pub district: Option<DistrictId>,
    pub name: String,
}

impl NewTeam {
    /// Checks that district-bound kinds have a district and city-wide kinds do not.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.name.trim().is_empty() {
            return Err(DomainError::new("name", "the team name is empty"));
        }
        match (self.kind, &self.district) {
            (TeamKind::Houkatsu | TeamKind::Csw, None) => Err(DomainError::new(
                "district",
                format!("a {} team belongs to a district", self.kind.label_ja()),
            )),
            _ => Ok(()),
        }
    }
}

/// An email address, checked for the shape mail servers accept.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(s: impl Into<String>) -> Result<Self, DomainError> {
        let s = s.into().trim().to_string();
        let valid = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(s))
        } else {
            Err(DomainError::new(
                "email",
                format!("{s:?} is not an email address"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// When a responder is on duty, in the city's time zone, e.g. `mon-fri 08:30-17:15`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OfficeHours {
    /// Days on duty, Monday first.
    pub days: Vec<Weekday>,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl OfficeHours {
    /// Parses `mon-fri 08:30-17:15`, `mon,wed,fri 09:00-12:00`, `daily 00:00-23:59` or `月-金 08:30-17:15`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let err = || {
            DomainError::new(
                "office_hours",
                format!("{s:?} is not like \"mon-fri 08:30-17:15\""),
            )
        };
        let (days, times) = s.trim().split_once(' ').ok_or_else(err)?;
        let (start, end) = times.trim().split_once('-').ok_or_else(err)?;
        let start = NaiveTime::parse_from_str(start.trim(), "%H:%M").map_err(|_| err())?;
        let end = NaiveTime::parse_from_str(end.trim(), "%H:%M").map_err(|_| err())?;
        if end <= start {
            return Err(DomainError::new(
                "office_hours",
                "the end must be after the start (overnight shifts: use two responders' hours)",
            ));
        }
        let days = if days == "daily" || days == "毎日" {
            WEEK.to_vec()
        } else {
            let mut out = Vec::new();
            for part in days.split(',') {
                match part.split_once('-') {
                    Some((a, b)) => {
                        let (a, b) = (weekday(a).ok_or_else(err)?, weekday(b).ok_or_else(err)?);
                        let (a, b) = (a.num_days_from_monday(), b.num_days_from_monday());
                        if b < a {
                            return Err(err());
                        }
                        out.extend((a..=b).map(|i| WEEK[i as usize]));
                    }
                    None => out.push(weekday(part).ok_or_else(err)?),
                }
            }
            out
        };
        Ok(Self { days, start, end })
    }

    /// Whether a local (city time zone) moment is inside these hours.
    pub fn contains(&self, weekday: Weekday, time: NaiveTime) -> bool {
        self.days.contains(&weekday) && self.start <= time && time < self.end
    }
}

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

fn weekday(s: &str) -> Option<Weekday> {
    let s = s.trim();
    let ja = ["月", "火", "水", "木", "金", "土", "日"];
    if let Some(i) = ja.iter().position(|j| *j == s) {
        return Some(WEEK[i]);
    }
    s.parse().ok()
}

/// A person who receives alerts for a team.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Responder {
    pub id: ResponderId,
    pub team: TeamId,
    pub name: String,
    pub email: Option<Email>,
    /// Telegram chat id, set once the responder links their chat (`/start CODE`).
    pub telegram_chat_id: Option<i64>,
    /// The Telegram user whose button presses act for this responder (set with the chat).
    pub telegram_user_id: Option<i64>,
    /// Hours on duty; `None` means whenever the team is notified.
    pub office_hours: Option<OfficeHours>,
    /// What they may do beyond their team's work: [`Role::Admin`] manages the platform.
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// How long a one-time code that links a responder's Telegram chat works: whole hours, from one
/// hour to a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LinkCodeHours(i64);

impl LinkCodeHours {
    pub const MIN: i64 = 1;
    /// A week: a code that waits longer is more likely found by someone else than used.
    pub const MAX: i64 = 7 * 24;

    pub fn parse(hours: i64) -> Result<Self, DomainError> {
        if (Self::MIN..=Self::MAX).contains(&hours) {
            Ok(Self(hours))
        } else {
            Err(DomainError::new(
                "hours",
                format!(
                    "{hours} is not between {} and {} hours",
                    Self::MIN,
                    Self::MAX
                ),
            ))
        }
    }

    pub fn hours(self) -> i64 {
        self.0
    }
}

/// A responder to create.
#[derive(Debug, Clone)]
pub struct NewResponder {
    pub id: ResponderId,
    pub team: TeamId,
    pub name: String,
    pub email: Option<Email>,
    pub telegram_chat_id: Option<i64>,
    pub office_hours: Option<OfficeHours>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_hours_parse_in_english_and_japanese() {
        let h = OfficeHours::parse("mon-fri 08:30-17:15").unwrap();
        assert_eq!(h.days.len(), 5);
        assert_eq!(h, OfficeHours::parse("月-金 08:30-17:15").unwrap());
        let t = NaiveTime::from_hms_opt(8, 30, 0).unwrap();
        assert!(h.contains(Weekday::Mon, t));
        assert!(!h.contains(Weekday::Sat, t));
        assert!(OfficeHours::parse("mon-fri 17:00-08:00").is_err());
        assert!(OfficeHours::parse("someday 8-5").is_err());
    }

    #[test]
    fn link_codes_work_an_hour_to_a_week() {
        assert!(LinkCodeHours::parse(0).is_err());
        assert_eq!(LinkCodeHours::parse(24).unwrap().hours(), 24);
        assert!(LinkCodeHours::parse(168).is_ok());
        assert!(LinkCodeHours::parse(169).is_err());
    }

    #[test]
    fn emails() {
        assert!(Email::parse("csw-kugenuma@example.jp").is_ok());
        for bad in ["", "no-at", "a@b", "a@@b.jp", "a b@c.jp", "a@.jp"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn district_teams_need_a_district() {
        let t = NewTeam {
            id: TeamId::generate(),
            kind: TeamKind::Csw,
            district: None,
            name: "x".into(),
        };
        assert_eq!(t.validate().unwrap_err().field, "district");
    }
}
