//! Routing and escalation as data: which team of the district receives an alert, and who is told
//! when nobody acknowledges it.

use chrono::Datelike;
use chrono::Duration;
use mimamori_core::domain::{AlertKind, DistrictId, OfficeHours, TeamId, TeamKind};
use mimamori_core::registry::Registry;

/// One routing rule: alerts of these kinds (for residents of at least `min_age`, when given) go to
/// the district's team of this kind.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteRule {
    pub kinds: Vec<AlertKind>,
    pub min_age: Option<i32>,
    pub team: TeamKind,
}

/// The routing table; the first matching rule wins.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    pub rules: Vec<RouteRule>,
    /// When district offices are staffed (city time). Outside them, alerts about people also go to
    /// `after_hours` (e.g. the 24-hour line).
    pub office_hours: Option<OfficeHours>,
    pub after_hours: TeamKind,
}

/// Alerts about a person's wellbeing.
const WELLBEING: [AlertKind; 5] = [
    AlertKind::Emergency,
    AlertKind::Inactivity,
    AlertKind::DailyWindow,
    AlertKind::CheckinMissed,
    AlertKind::Unmonitored,
];

impl Default for Routing {
    /// 65+ → the district's 包括; other residents and partner concerns → the district's CSW;
    /// devices and delivery failures → operators; complex cases → the coordinator. Offices are
    /// staffed Monday to Friday 08:30–17:15; outside those hours the coordinator is told too.
    fn default() -> Self {
        Self {
            rules: vec![
                RouteRule {
                    kinds: WELLBEING.to_vec(),
                    min_age: Some(65),
                    team: TeamKind::Houkatsu,
                },
                RouteRule {
                    kinds: WELLBEING.to_vec(),
                    min_age: None,
                    team: TeamKind::Csw,
                },
                RouteRule {
                    kinds: vec![AlertKind::Concern],
                    min_age: None,
                    team: TeamKind::Csw,
                },
                RouteRule {
                    kinds: vec![
                        AlertKind::DeviceOffline,
                        AlertKind::BatteryLow,
                        AlertKind::DeliveryFailed,
                    ],
                    min_age: None,
                    team: TeamKind::Operators,
                },
                RouteRule {
                    kinds: vec![AlertKind::Compound],
                    min_age: None,
                    team: TeamKind::Coordinator,
                },
            ],
            office_hours: Some(
                OfficeHours::parse("mon-fri 08:30-17:15").expect("valid office hours"),
            ),
            after_hours: TeamKind::Coordinator,
        }
    }
}

impl Routing {
    /// The teams to tell about a new alert: its team, and out of office hours also the after-hours
    /// team for alerts about people (device alerts wait for the operators).
    pub fn teams<Tz: chrono::TimeZone>(
        &self,
        kind: AlertKind,
        age: Option<i32>,
        district: Option<&DistrictId>,
        at: &chrono::DateTime<Tz>,
    ) -> Vec<TeamId> {
        let team = self.team(kind, age, district);
        let mut teams = vec![team];
        let about_people = WELLBEING.contains(&kind) || kind == AlertKind::Concern;
        let staffed = self
            .office_hours
            .as_ref()
            .is_none_or(|h| h.contains(at.weekday(), at.time()));
        let night = Registry::default_team_id(self.after_hours, None);
        if about_people && !staffed && teams[0] != night {
            teams.push(night);
        }
        teams
    }

    /// The team of an alert. Without a district (an unroutable address) it is the city-wide
    /// coordinator's triage queue — never nobody.
    pub fn team(&self, kind: AlertKind, age: Option<i32>, district: Option<&DistrictId>) -> TeamId {
        let team_kind = self
            .rules
            .iter()
            .find(|r| {
                r.kinds.contains(&kind) && r.min_age.is_none_or(|min| age.is_some_and(|a| a >= min))
            })
            .map(|r| r.team)
            .unwrap_or(TeamKind::Coordinator);
        match (team_kind, district) {
            (TeamKind::Houkatsu | TeamKind::Csw, Some(d)) => {
                Registry::default_team_id(team_kind, Some(d))
            }
            (TeamKind::Houkatsu | TeamKind::Csw, None) => {
                Registry::default_team_id(TeamKind::Coordinator, None)
            }
            (city_wide, _) => Registry::default_team_id(city_wide, None),
        }
    }
}

/// An escalation chain: without acknowledgement, after `first_after` the `to` team is told, and
/// then everyone again every `repeat_every`, with no cap (an emergency never goes quiet).
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub first_after: Duration,
    pub to: TeamKind,
    pub repeat_every: Duration,
}

/// Chains per alert kind; kinds without one are not escalated.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    pub chains: Vec<(AlertKind, Chain)>,
}

impl Default for Escalation {
    /// Emergencies go to the coordinator after 5 minutes; inactivity-type alerts after 30;
    /// partner concerns after 60.
    fn default() -> Self {
        let chain = |m: i64, to| Chain {
            first_after: Duration::minutes(m),
            to,
            repeat_every: Duration::minutes(m),
        };
        let mut chains = vec![(AlertKind::Emergency, chain(5, TeamKind::Coordinator))];
        for k in [
            AlertKind::Inactivity,
            AlertKind::DailyWindow,
            AlertKind::CheckinMissed,
            AlertKind::Unmonitored,
        ] {
            chains.push((k, chain(30, TeamKind::Coordinator)));
        }
        chains.push((AlertKind::Concern, chain(60, TeamKind::Coordinator)));
        Self { chains }
    }
}

impl Routing {
    /// The routing of `[alerts]`: what it sets, the defaults for the rest.
    pub fn from_config(config: &mimamori_core::config::AlertsConfig) -> Self {
        let default = Self::default();
        Self {
            rules: match &config.routes {
                Some(routes) => routes
                    .iter()
                    .map(|r| RouteRule {
                        kinds: r.kinds.clone(),
                        min_age: r.min_age,
                        team: r.team,
                    })
                    .collect(),
                None => default.rules,
            },
            office_hours: match config.office_hours.as_deref().map(str::trim) {
                None => default.office_hours,
                Some("") => None,
                // Checked when the configuration was loaded.
                Some(h) => OfficeHours::parse(h).ok(),
            },
            after_hours: config.after_hours.unwrap_or(default.after_hours),
        }
    }
}

impl Escalation {
    /// The chains of `[alerts]`: each configured one replaces the default of its kind.
    pub fn from_config(config: &mimamori_core::config::AlertsConfig) -> Self {
        let mut chains = Self::default().chains;
        for e in &config.escalations {
            let chain = Chain {
                first_after: Duration::minutes(e.first_after_minutes.into()),
                to: e.to,
                repeat_every: Duration::minutes(
                    e.repeat_every_minutes
                        .unwrap_or(e.first_after_minutes)
                        .into(),
                ),
            };
            match chains.iter_mut().find(|(k, _)| *k == e.kind) {
                Some((_, c)) => *c = chain,
                None => chains.push((e.kind, chain)),
            }
        }
        Self { chains }
    }

    pub fn chain(&self, kind: AlertKind) -> Option<&Chain> {
        self.chains.iter().find(|(k, _)| *k == kind).map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(id: &str) -> DistrictId {
        DistrictId::parse(id).unwrap()
    }

    #[test]
    fn configured_routing_and_chains_replace_the_defaults() {
        let config: mimamori_core::config::Config = toml_config(
            r#"
            [alerts]
            office_hours = ""
            after_hours = "operators"
            [[alerts.routes]]
            kinds = ["emergency", "inactivity"]
            team = "csw"
            [[alerts.escalations]]
            kind = "inactivity"
            first_after_minutes = 60
            to = "coordinator"
            repeat_every_minutes = 120
            [[alerts.escalations]]
            kind = "battery_low"
            first_after_minutes = 1440
            to = "operators"
            "#,
        );
        let routing = Routing::from_config(&config.alerts);
        let k = Some(&d("kugenuma"));
        assert_eq!(
            routing.team(AlertKind::Emergency, Some(90), k).as_str(),
            "csw-kugenuma",
            "the configured table replaces the built-in one"
        );
        assert_eq!(
            routing.team(AlertKind::Concern, None, k).as_str(),
            "coordinator",
            "a kind no rule names goes to the coordinator"
        );
        assert_eq!(routing.office_hours, None, "always staffed");
        assert_eq!(routing.after_hours, TeamKind::Operators);
        let chains = Escalation::from_config(&config.alerts);
        let inactivity = chains.chain(AlertKind::Inactivity).unwrap();
        assert_eq!(
            (inactivity.first_after, inactivity.repeat_every),
            (Duration::minutes(60), Duration::minutes(120))
        );
        assert_eq!(
            chains.chain(AlertKind::Emergency),
            Escalation::default().chain(AlertKind::Emergency),
            "kinds not configured keep their default chain"
        );
        let battery = chains.chain(AlertKind::BatteryLow).unwrap();
        assert_eq!(
            (battery.to, battery.repeat_every),
            (TeamKind::Operators, Duration::minutes(1440))
        );
        // Nothing configured: the defaults.
        let none = mimamori_core::config::AlertsConfig::default();
        assert_eq!(Routing::from_config(&none), Routing::default());
        assert_eq!(Escalation::from_config(&none), Escalation::default());
    }

    fn toml_config(text: &str) -> mimamori_core::config::Config {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        mimamori_core::config::Config::load(Some(file.path()), []).unwrap()
    }

    #[test]
    fn every_default_rule() {
        let r = Routing::default();
        let k = Some(&d("kugenuma"));
        for kind in WELLBEING {
            assert_eq!(
                r.team(kind, Some(80), k).as_str(),
                "houkatsu-kugenuma",
                "{kind}"
            );
            assert_eq!(
                r.team(kind, Some(65), k).as_str(),
                "houkatsu-kugenuma",
                "{kind}"
            );
            assert_eq!(r.team(kind, Some(64), k).as_str(), "csw-kugenuma", "{kind}");
            assert_eq!(
                r.team(kind, None, k).as_str(),
                "csw-kugenuma",
                "{kind}: age unknown"
            );
        }
        assert_eq!(
            r.team(AlertKind::Concern, None, Some(&d("chogo"))).as_str(),
            "csw-chogo"
        );
        for kind in [
            AlertKind::DeviceOffline,
            AlertKind::BatteryLow,
            AlertKind::DeliveryFailed,
        ] {
            assert_eq!(r.team(kind, Some(80), k).as_str(), "operators");
        }
        assert_eq!(
            r.team(AlertKind::Compound, Some(80), k).as_str(),
            "coordinator"
        );
    }

    #[test]
    fn the_unroutable_reach_triage() {
        let r = Routing::default();
        assert_eq!(
            r.team(AlertKind::Concern, None, None).as_str(),
            "coordinator"
        );
        assert_eq!(
            r.team(AlertKind::Emergency, Some(80), None).as_str(),
            "coordinator"
        );
    }

    #[test]
    fn out_of_office_hours_the_24_hour_line_is_told_too() {
        let r = Routing::default();
        let tokyo = chrono_tz::Asia::Tokyo;
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .unwrap()
                .with_timezone(&tokyo)
        };
        let k = Some(&d("kugenuma"));
        let names = |v: Vec<TeamId>| v.into_iter().map(|t| t.to_string()).collect::<Vec<_>>();
        // Tuesday 10:00, Tuesday 22:00, Saturday 10:00.
        assert_eq!(
            names(r.teams(
                AlertKind::Emergency,
                Some(80),
                k,
                &at("2026-12-01T10:00:00+09:00")
            )),
            ["houkatsu-kugenuma"]
        );
        assert_eq!(
            names(r.teams(
                AlertKind::Emergency,
                Some(80),
                k,
                &at("2026-12-01T22:00:00+09:00")
            )),
            ["houkatsu-kugenuma", "coordinator"]
        );
        assert_eq!(
            names(r.teams(
                AlertKind::Inactivity,
                Some(70),
                k,
                &at("2026-12-05T10:00:00+09:00")
            )),
            ["houkatsu-kugenuma", "coordinator"]
        );
        assert_eq!(
            names(r.teams(
                AlertKind::DeviceOffline,
                None,
                k,
                &at("2026-12-01T22:00:00+09:00")
            )),
            ["operators"]
        );
        assert_eq!(
            names(r.teams(
                AlertKind::Concern,
                None,
                None,
                &at("2026-12-01T22:00:00+09:00")
            )),
            ["coordinator"],
            "triage once"
        );
    }

    #[test]
    fn default_chains() {
        let e = Escalation::default();
        assert_eq!(
            e.chain(AlertKind::Emergency).unwrap().first_after,
            Duration::minutes(5)
        );
        assert_eq!(
            e.chain(AlertKind::Inactivity).unwrap().first_after,
            Duration::minutes(30)
        );
        assert!(e.chain(AlertKind::BatteryLow).is_none());
    }
}
