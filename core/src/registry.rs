//! The city registry: districts, the towns in each, and the default teams.
//!
//! Fujisawa ships built in (`config/fujisawa/districts.toml`, from public data and partly
//! unconfirmed). Another city gives its own file in the same format through `city.registry`.
//!
//! Towns are listed as their public sources list them: `鵠沼海岸一丁目～七丁目` (a range of 丁目),
//! `片瀬山一丁目` (one 丁目), `弥勒寺` (the whole town), `石川 (part?)` or `鵠沼の一部` (part of a
//! town split between districts). A town claimed by several districts is *split*: an address there
//! routes to the district only when its 丁目 decides it, and otherwise is reported as ambiguous so
//! that the caller sends it to city-wide triage instead of guessing.

use crate::domain::address::parse_number;
use crate::domain::{Address, District, DistrictId, DomainError, NewTeam, TeamId, TeamKind};
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// The registry shipped for Fujisawa.
pub const FUJISAWA_TOML: &str = include_str!("../../config/fujisawa/districts.toml");

/// A registry file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{path}: cannot read the registry file: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// How much of a town a registry entry covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    Whole,
    Part,
}

/// One town (or one 丁目 of it) in a district.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TownEntry {
    pub district: DistrictId,
    pub town: String,
    /// `None`: every 丁目 (or a town without 丁目).
    pub chome: Option<u8>,
    pub coverage: Coverage,
    /// False where the public data behind it is not confirmed.
    pub confirmed: bool,
}

/// Where an address belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Exactly one district; `confirmed` is false when it rests on unconfirmed data.
    District {
        district: DistrictId,
        confirmed: bool,
    },
    /// The town is split between these districts and the address does not decide it.
    Ambiguous(Vec<DistrictId>),
    /// The town is not in the registry.
    Unknown,
}

/// The loaded registry.
#[derive(Debug, Clone)]
pub struct Registry {
    /// City name, e.g. 藤沢市.
    pub city: String,
    pub districts: Vec<District>,
    /// Town name → entries naming it.
    towns: HashMap<String, Vec<TownEntry>>,
    houkatsu_name: String,
    csw_name: String,
    coordinator_name: String,
    operators_name: String,
}

#[derive(Deserialize)]
struct RawFile {
    meta: RawMeta,
    district: Vec<RawDistrict>,
    #[serde(default)]
    split_town: Vec<RawSplit>,
}

#[derive(Deserialize)]
struct RawMeta {
    city: String,
    #[serde(default = "default_houkatsu_name")]
    houkatsu_team_name: String,
    #[serde(default = "default_csw_name")]
    csw_team_name: String,
    #[serde(default = "default_coordinator_name")]
    coordinator_team_name: String,
    #[serde(default = "default_operators_name")]
    operators_team_name: String,
}

fn default_houkatsu_name() -> String {
    "{district}地域包括支援センター".into()
}
fn default_csw_name() -> String {
    "{district}地区CSW".into()
}
fn default_coordinator_name() -> String {
    "基幹型地域包括支援センター".into()
}
fn default_operators_name() -> String {
    "運用担当".into()
}

#[derive(Deserialize)]
struct RawDistrict {
    id: String,
    name: String,
    reading: Option<String>,
    #[serde(default = "yes")]
    reading_confirmed: bool,
    #[serde(default)]
    towns: Vec<String>,
    #[serde(default)]
    towns_partial: Vec<String>,
    #[serde(default)]
    towns_unconfirmed: Vec<String>,
    #[serde(default)]
    towns_admin_only: Vec<String>,
    #[serde(default)]
    towns_statistical_extra: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct RawSplit {
    town: String,
    districts: Vec<String>,
}

impl Registry {
    /// The built-in Fujisawa registry.
    pub fn fujisawa() -> Self {
        Self::parse("<built-in Fujisawa registry>", FUJISAWA_TOML)
            .expect("the shipped Fujisawa registry is valid (checked by tests)")
    }

    /// Loads a registry file; `None` means the built-in Fujisawa registry.
    pub fn load(path: Option<&Path>) -> Result<Self, RegistryError> {
        match path {
            None => Ok(Self::fujisawa()),
            Some(p) => {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|source| RegistryError::Read {
                    path: name.clone(),
                    source,
                })?;
                Self::parse(&name, &text)
            }
        }
    }

    /// Parses a registry in the format of `config/fujisawa/districts.toml`.
    pub fn parse(name: &str, text: &str) -> Result<Self, RegistryError> {
        let invalid = |message: String| RegistryError::Invalid {
            path: name.to_string(),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
        let mut districts = Vec::new();
        let mut by_name = HashMap::new();
        let mut towns: HashMap<String, Vec<TownEntry>> = HashMap::new();
        for (position, d) in raw.district.iter().enumerate() {
            let id = DistrictId::parse(&d.id).map_err(|e| invalid(e.to_string()))?;
            if by_name.insert(d.name.clone(), id.clone()).is_some() {
                return Err(invalid(format!("district {} is listed twice", d.name)));
            }
            let lists: [(&[String], bool); 5] = [
                (&d.towns, true),
                (&d.towns_partial, true),
                (&d.towns_unconfirmed, false),
                (&d.towns_admin_only, false),
                (&d.towns_statistical_extra, true),
            ];
            let mut confirmed_district = d.reading_confirmed;
            for (i, (list, confirmed)) in lists.into_iter().enumerate() {
                for entry in list {
                    for mut t in parse_town_entry(&id, entry)? {
                        if i == 1 {
                            t.coverage = Coverage::Part;
                        }
                        t.confirmed &= confirmed;
                        towns.entry(t.town.clone()).or_default().push(t);
                    }
                }
            }
            if d.towns.is_empty() {
                confirmed_district = false;
            }
            districts.push(District {
                id,
                name: d.name.clone(),
                reading: d.reading.clone(),
                confirmed: confirmed_district,
                position: position as i64,
            });
        }
        for split in &raw.split_town {
            for dn in &split.districts {
                let id = by_name.get(dn).ok_or_else(|| {
                    invalid(format!("split_town {}: unknown district {dn}", split.town))
                })?;
                let entries = towns.entry(split.town.clone()).or_default();
                if !entries.iter().any(|e| &e.district == id) {
                    entries.push(TownEntry {
                        district: id.clone(),
                        town: split.town.clone(),
                        chome: None,
                        coverage: Coverage::Part,
                        confirmed: true,
                    });
                }
            }
        }
        Ok(Self {
            city: raw.meta.city,
            districts,
            towns,
            houkatsu_name: raw.meta.houkatsu_team_name,
            csw_name: raw.meta.csw_team_name,
            coordinator_name: raw.meta.coordinator_team_name,
            operators_name: raw.meta.operators_team_name,
        })
    }

    pub fn district(&self, id: &DistrictId) -> Option<&District> {
        self.districts.iter().find(|d| &d.id == id)
    }

    /// Finds a district by id (`kugenuma`) or Japanese name (`鵠沼`, `鵠沼地区`).
    pub fn find_district(&self, key: &str) -> Option<&District> {
        let key = key.trim();
        let name = key.strip_suffix("地区").unwrap_or(key);
        self.districts
            .iter()
            .find(|d| d.id.as_str() == key || d.name == name)
    }

    /// An address in a district, for demo and simulated residents: its first wholly covered town.
    pub fn sample_address(&self, district: &DistrictId) -> Option<Address> {
        let mut entries: Vec<&TownEntry> = self
            .towns
            .values()
            .flatten()
            .filter(|e| &e.district == district && e.coverage == Coverage::Whole && e.confirmed)
            .collect();
        entries.sort_by(|a, b| (&a.town, a.chome).cmp(&(&b.town, b.chome)));
        let e = entries.first()?;
        Some(Address {
            town: e.town.clone(),
            chome: e.chome,
            banchi: Some("1-1".into()),
            building: None,
        })
    }

    /// Every registry entry naming a town.
    pub fn town_entries(&self, town: &str) -> &[TownEntry] {
        self.towns.get(town).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Parses a one-line address as people in this city write it: besides what [`Address::parse`]
    /// reads, `鵠沼海岸2-3-5` — the 丁目 written as the first number, as addresses are commonly
    /// shortened — is read as 鵠沼海岸2丁目3-5 when the registry lists that 丁目 of the town. In a
    /// town without 丁目 (`大庭5060-1`) the numbers stay the 番地.
    pub fn parse_address(&self, line: &str) -> Result<Address, DomainError> {
        let mut a = Address::parse(line)?;
        if a.chome.is_none()
            && let Some((first, rest)) = a.banchi.as_deref().and_then(|b| b.split_once('-'))
            && !rest.is_empty()
            && let Ok(n) = first.parse::<u8>()
            && self
                .town_entries(&a.town)
                .iter()
                .any(|e| e.chome == Some(n))
        {
            let rest = rest.to_string();
            a.chome = Some(n);
            a.banchi = Some(rest);
        }
        Ok(a)
    }

    /// Routes an address to its district by town and 丁目.
    pub fn route(&self, address: &Address) -> Route {
        let matching: Vec<&TownEntry> = self
            .town_entries(&address.town)
            .iter()
            .filter(|e| match (e.chome, address.chome) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            })
            .collect();
        let districts: BTreeSet<&DistrictId> = matching.iter().map(|e| &e.district).collect();
        match districts.len() {
            0 => Route::Unknown,
            1 => Route::District {
                district: matching[0].district.clone(),
                confirmed: matching.iter().all(|e| e.confirmed),
            },
            _ => Route::Ambiguous(districts.into_iter().cloned().collect()),
        }
    }

    /// The district of a resident's address: the one given (by id or name), checked against the
    /// address where the registry is sure; or the one the address routes to. A split or unknown
    /// town without a given district is an error that says what to fill in.
    pub fn resolve_district(
        &self,
        address: &Address,
        given: Option<&str>,
    ) -> Result<DistrictId, DomainError> {
        let name_of = |id: &DistrictId| {
            self.district(id)
                .map(|d| d.name.clone())
                .unwrap_or_else(|| id.to_string())
        };
        let given =
            match given.map(str::trim).filter(|g| !g.is_empty()) {
                Some(g) => Some(self.find_district(g).map(|d| d.id.clone()).ok_or_else(|| {
                    DomainError::new("district", format!("unknown district {g:?}"))
                })?),
                None => None,
            };
        match (self.route(address), given) {
            (
                Route::District {
                    district,
                    confirmed: true,
                },
                Some(given),
            ) if district != given => Err(DomainError::new(
                "district",
                format!(
                    "{} is in {} district, not {}",
                    address.area(),
                    name_of(&district),
                    name_of(&given)
                ),
            )),
            (_, Some(given)) => Ok(given),
            (Route::District { district, .. }, None) => Ok(district),
            (Route::Ambiguous(ds), None) => {
                let names: Vec<_> = ds.iter().map(name_of).collect();
                Err(DomainError::new(
                    "address",
                    format!(
                        "{} is split between {}: give the district (地区)",
                        address.area(),
                        names.join("・")
                    ),
                ))
            }
            (Route::Unknown, None) => Err(DomainError::new(
                "address",
                format!(
                    "{} is not a town of {}: check the address or give the district (地区)",
                    address.area(),
                    self.city
                ),
            )),
        }
    }

    /// The default teams: a 包括 and a CSW team per district, the coordinator and the operators.
    pub fn default_teams(&self) -> Vec<NewTeam> {
        let mut teams = Vec::new();
        for d in &self.districts {
            for (kind, template) in [
                (TeamKind::Houkatsu, &self.houkatsu_name),
                (TeamKind::Csw, &self.csw_name),
            ] {
                teams.push(NewTeam {
                    id: Self::default_team_id(kind, Some(&d.id)),
                    kind,
                    district: Some(d.id.clone()),
                    name: template.replace("{district}", &d.name),
                });
            }
        }
        for (kind, name) in [
            (TeamKind::Coordinator, &self.coordinator_name),
            (TeamKind::Operators, &self.operators_name),
        ] {
            teams.push(NewTeam {
                id: Self::default_team_id(kind, None),
                kind,
                district: None,
                name: name.clone(),
            });
        }
        teams
    }

    /// The id of a default team: `houkatsu-kugenuma`, `csw-kugenuma`, `coordinator`, `operators`.
    pub fn default_team_id(kind: TeamKind, district: Option<&DistrictId>) -> TeamId {
        let id = match district {
            Some(d) => format!("{}-{}", kind.as_str(), d),
            None => kind.as_str().to_string(),
        };
        TeamId::parse(id).expect("kind codes and district ids are slugs")
    }
}

/// Expands one town entry of the registry file.
fn parse_town_entry(district: &DistrictId, entry: &str) -> Result<Vec<TownEntry>, RegistryError> {
    let mut s = entry.trim().to_string();
    let mut coverage = Coverage::Whole;
    let mut confirmed = true;
    for marker in ["(part?)", "(part)", "の一部"] {
        if let Some(rest) = s.strip_suffix(marker) {
            s = rest.trim().to_string();
            coverage = Coverage::Part;
            if marker.contains('?') {
                confirmed = false;
            }
        }
    }
    let entry_for = |town: &str, chome: Option<u8>, coverage: Coverage| TownEntry {
        district: district.clone(),
        town: town.to_string(),
        chome,
        coverage,
        confirmed,
    };
    // `本藤沢二丁目以降`: from that 丁目 on; the town is shared, so a part.
    if let Some(rest) = s.strip_suffix("以降") {
        let town = rest.split_once(|c: char| parse_number(&c.to_string()).is_some());
        let town = town.map(|(t, _)| t).unwrap_or(rest);
        return Ok(vec![entry_for(town, None, Coverage::Part)]);
    }
    if let Some((first, last)) = s.split_once('～') {
        let (town, from) = split_chome(first).ok_or_else(|| RegistryError::Invalid {
            path: "registry".into(),
            message: format!("town entry {entry:?}: cannot read the 丁目 range"),
        })?;
        let to =
            parse_number(last.trim_end_matches("丁目")).ok_or_else(|| RegistryError::Invalid {
                path: "registry".into(),
                message: format!("town entry {entry:?}: cannot read the 丁目 range"),
            })?;
        return Ok((from..=to as u8)
            .map(|c| entry_for(&town, Some(c), coverage))
            .collect());
    }
    match split_chome(&s) {
        Some((town, c)) => Ok(vec![entry_for(&town, Some(c), coverage)]),
        None => Ok(vec![entry_for(&s, None, coverage)]),
    }
}

/// `鵠沼海岸一丁目` → (`鵠沼海岸`, 1).
fn split_chome(s: &str) -> Option<(String, u8)> {
    let before = s.strip_suffix("丁目")?;
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit() || parse_number(&c.to_string()).is_some())
        .last()
        .map(|(i, _)| i)?;
    let n = parse_number(&before[start..])?;
    Some((before[..start].to_string(), u8::try_from(n).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chome_written_as_the_first_number_is_read_as_one() {
        let r = Registry::fujisawa();
        let a = r.parse_address("藤沢市鵠沼海岸2-10-34").unwrap();
        assert_eq!(
            (a.town.as_str(), a.chome, a.banchi.as_deref()),
            ("鵠沼海岸", Some(2), Some("10-34"))
        );
        let b = r.parse_address("大庭5060-1").unwrap();
        assert_eq!(
            (b.chome, b.banchi.as_deref()),
            (None, Some("5060-1")),
            "no 丁目 in that town"
        );
        let c = r.parse_address("鵠沼海岸9-1-1").unwrap();
        assert_eq!(c.chome, None, "鵠沼海岸 has no 9丁目");
        let d = r.parse_address("鵠沼海岸二丁目3-5").unwrap();
        assert_eq!((d.chome, d.banchi.as_deref()), (Some(2), Some("3-5")));
    }

    fn route(r: &Registry, line: &str) -> Route {
        r.route(&Address::parse(line).unwrap())
    }

    fn district(id: &str) -> DistrictId {
        DistrictId::parse(id).unwrap()
    }

    #[test]
    fn fujisawa_has_thirteen_districts_in_the_citys_order() {
        let r = Registry::fujisawa();
        assert_eq!(r.city, "藤沢市");
        let names: Vec<_> = r.districts.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "片瀬",
                "鵠沼",
                "辻堂",
                "村岡",
                "藤沢",
                "明治",
                "善行",
                "湘南大庭",
                "六会",
                "湘南台",
                "遠藤",
                "長後",
                "御所見"
            ]
        );
    }

    #[test]
    fn chome_ranges_route_each_chome() {
        let r = Registry::fujisawa();
        for c in 1..=7 {
            assert_eq!(
                route(&r, &format!("鵠沼海岸{c}丁目1-1")),
                Route::District {
                    district: district("kugenuma"),
                    confirmed: true
                }
            );
        }
        assert_eq!(route(&r, "鵠沼海岸8丁目1-1"), Route::Unknown);
        assert_eq!(
            route(&r, "湘南台二丁目5-5"),
            Route::District {
                district: district("shonandai"),
                confirmed: true
            }
        );
    }

    #[test]
    fn split_towns_are_ambiguous_not_guessed() {
        let r = Registry::fujisawa();
        match route(&r, "石川1234") {
            Route::Ambiguous(ds) => assert_eq!(ds.len(), 4),
            other => panic!("{other:?}"),
        }
        assert!(matches!(route(&r, "大庭5060-1"), Route::Ambiguous(_)));
        assert!(matches!(route(&r, "鵠沼1-1"), Route::Ambiguous(_)));
    }

    #[test]
    fn unconfirmed_data_stays_marked() {
        let r = Registry::fujisawa();
        assert_eq!(
            route(&r, "鵠沼石上一丁目1-1"),
            Route::District {
                district: district("kugenuma"),
                confirmed: false
            }
        );
        assert!(!r.find_district("村岡").unwrap().confirmed);
        assert!(r.find_district("鵠沼地区").unwrap().confirmed);
    }

    #[test]
    fn unknown_towns_are_unknown() {
        assert_eq!(route(&Registry::fujisawa(), "横浜町1-1"), Route::Unknown);
    }

    #[test]
    fn default_teams_cover_every_district() {
        let r = Registry::fujisawa();
        let teams = r.default_teams();
        assert_eq!(teams.len(), 13 * 2 + 2);
        let kugenuma = teams
            .iter()
            .find(|t| t.id.as_str() == "houkatsu-kugenuma")
            .unwrap();
        assert_eq!(kugenuma.name, "鵠沼いきいきサポートセンター");
        assert!(teams.iter().any(|t| t.name == "バックアップふじさわ"));
        for t in &teams {
            t.validate().unwrap();
        }
    }

    #[test]
    fn a_broken_registry_names_the_problem() {
        let err = Registry::parse(
            "x.toml",
            "[meta]\ncity='c'\n[[district]]\nid='Bad Id'\nname='n'\n",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("x.toml: district"), "{err}");
    }
}
