//! Japanese street addresses as the care network uses them: town (町名), 丁目 and 番地.
//!
//! Routing needs only the town and the 丁目; the 番地 and building name are kept for the people
//! who visit. Parsing accepts what clerks type: kanji or full-width numerals, an optional
//! prefecture and city prefix, `二丁目3-5` or `2丁目3番5号`.

use super::DomainError;

/// An address inside the city.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Address {
    /// Town name without 丁目, e.g. 鵠沼海岸.
    pub town: String,
    /// 丁目 number, when the town has them.
    pub chome: Option<u8>,
    /// 番地 and 号, e.g. `3-5`; free text after the 丁目.
    pub banchi: Option<String>,
    /// Building and room, e.g. `湘南ハイツ101`.
    pub building: Option<String>,
}

/// Prefixes removed before the town: a clerk may paste the full postal form.
const PREFIXES: &[&str] = &["神奈川県", "藤沢市"];

impl Address {
    /// Builds an address from its parts (as separate CSV columns give them).
    pub fn from_parts(
        town: &str,
        chome: Option<&str>,
        banchi: Option<&str>,
        building: Option<&str>,
    ) -> Result<Self, DomainError> {
        let town = normalize(town);
        let town = strip_prefixes(&town).trim().to_string();
        if town.is_empty() {
            return Err(DomainError::new("town", "the town (町名) is empty"));
        }
        if town.chars().any(|c| c.is_ascii_digit()) {
            return Err(DomainError::new(
                "town",
                format!("{town:?} contains digits; give 丁目 and 番地 separately"),
            ));
        }
        let chome = match chome.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(c) => {
                let c = normalize(c);
                let c = c.trim_end_matches("丁目");
                Some(
                    parse_number(c)
                        .filter(|n| (1..=99).contains(n))
                        .ok_or_else(|| {
                            DomainError::new("chome", format!("{c:?} is not a 丁目 number (1–99)"))
                        })? as u8,
                )
            }
        };
        Ok(Self {
            town,
            chome,
            banchi: non_empty(banchi.map(normalize)),
            building: non_empty(building.map(normalize)),
        })
    }

    /// Parses a one-line address such as `藤沢市鵠沼海岸二丁目3-5 湘南ハイツ101`.
    ///
    /// Without the word 丁目 the digits after the town are taken as 番地 (as in `大庭5060-1`).
    pub fn parse(line: &str) -> Result<Self, DomainError> {
        let line = normalize(line);
        let rest = strip_prefixes(line.trim());
        if let Some(pos) = rest.find("丁目") {
            let before = &rest[..pos];
            let num_start = before
                .char_indices()
                .rev()
                .take_while(|(_, c)| c.is_ascii_digit() || kanji_digit(*c).is_some())
                .last()
                .map(|(i, _)| i)
                .ok_or_else(|| DomainError::new("address", "丁目 without a number"))?;
            let (town, number) = before.split_at(num_start);
            let after = &rest[pos + "丁目".len()..];
            let (banchi, building) = split_building(after);
            return Self::from_parts(town, Some(number), banchi, building);
        }
        let town_end = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || c.is_whitespace())
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let (town, after) = rest.split_at(town_end);
        let (banchi, building) = split_building(after);
        Self::from_parts(town, None, banchi, building)
    }

    /// The part that routing uses: town and 丁目, e.g. `鵠沼海岸2丁目`.
    pub fn area(&self) -> String {
        match self.chome {
            Some(c) => format!("{}{}丁目", self.town, c),
            None => self.town.clone(),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.area())?;
        if let Some(b) = &self.banchi {
            f.write_str(b)?;
        }
        if let Some(b) = &self.building {
            write!(f, " {b}")?;
        }
        Ok(())
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn strip_prefixes(mut s: &str) -> &str {
    for p in PREFIXES {
        s = s.trim_start().strip_prefix(p).unwrap_or(s);
    }
    s
}

/// Splits `3-5 湘南ハイツ101` into the 番地 and the building.
fn split_building(s: &str) -> (Option<&str>, Option<&str>) {
    let s = s.trim();
    match s.split_once(char::is_whitespace) {
        Some((b, rest)) => (Some(b), Some(rest)),
        None => (Some(s), None),
    }
}

/// Full-width digits, hyphens and spaces to their ASCII forms; 番/号 written as hyphens.
pub(crate) fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '０'..='９' => out.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            '－' | 'ー' | '‐' | '−' | '–' | '—' => {
                // A long-vowel mark inside katakana (ハイツ) is not a hyphen.
                if c == 'ー' && out.chars().last().is_some_and(is_kana) {
                    out.push(c)
                } else {
                    out.push('-')
                }
            }
            '　' => out.push(' '),
            _ => out.push(c),
        }
    }
    let out = out
        .replace("番地", "-")
        .replace('番', "-")
        .replace('号', "");
    out.trim_end_matches('-').to_string()
}

fn is_kana(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}')
}

fn kanji_digit(c: char) -> Option<u32> {
    "〇一二三四五六七八九"
        .chars()
        .position(|k| k == c)
        .map(|p| p as u32)
}

/// Parses `12`, `十二`, `二十` or `七`.
pub(crate) fn parse_number(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        return s.parse().ok();
    }
    let mut total = 0;
    let mut current = 0;
    let mut seen = false;
    for c in s.chars() {
        if c == '十' {
            total += if current == 0 { 10 } else { current * 10 };
            current = 0;
        } else {
            current = kanji_digit(c)?;
        }
        seen = true;
    }
    seen.then_some(total + current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_clerks_type() {
        let a = Address::parse("藤沢市鵠沼海岸二丁目３番５号 湘南ハイツ101").unwrap();
        assert_eq!(a.town, "鵠沼海岸");
        assert_eq!(a.chome, Some(2));
        assert_eq!(a.banchi.as_deref(), Some("3-5"));
        assert_eq!(a.building.as_deref(), Some("湘南ハイツ101"));
        assert_eq!(a.area(), "鵠沼海岸2丁目");

        let b = Address::parse("神奈川県藤沢市大庭5060-1").unwrap();
        assert_eq!((b.town.as_str(), b.chome), ("大庭", None));
        assert_eq!(b.banchi.as_deref(), Some("5060-1"));

        let c = Address::parse("湘南台1丁目10-2").unwrap();
        assert_eq!((c.town.as_str(), c.chome), ("湘南台", Some(1)));
    }

    #[test]
    fn kanji_numbers() {
        assert_eq!(parse_number("七"), Some(7));
        assert_eq!(parse_number("十"), Some(10));
        assert_eq!(parse_number("十二"), Some(12));
        assert_eq!(parse_number("二十一"), Some(21));
        assert_eq!(parse_number("x"), None);
    }

    #[test]
    fn bad_addresses_name_the_part() {
        assert_eq!(Address::parse("").unwrap_err().field, "town");
        assert_eq!(
            Address::from_parts("鵠沼海岸", Some("abc"), None, None)
                .unwrap_err()
                .field,
            "chome"
        );
    }
}
