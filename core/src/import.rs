//! Resident import from CSV, as city offices keep lists: Excel in Japan saves CSV as CP932
//! (Shift_JIS), newer versions as UTF-8 with a BOM; both are read.
//!
//! Headers may be Japanese or English (`氏名` or `name`). Every bad cell is reported with its line
//! (as a spreadsheet numbers rows: the header is line 1) and column, and a file with any bad row
//! imports nothing: [`parse_residents`] returns either every row or every error.

use crate::domain::{
    Address, BirthYear, Contact, DomainError, Email, LivingSituation, NewResident, ResidentId,
};
use crate::registry::Registry;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// How the file's bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 when the bytes are valid UTF-8, else CP932.
    #[default]
    Auto,
    Utf8,
    /// Windows-31J / CP932, what "Shift_JIS" means in practice.
    Cp932,
}

impl std::str::FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "utf-8" | "utf8" => Ok(Self::Utf8),
            "cp932" | "shift_jis" | "sjis" | "windows-31j" => Ok(Self::Cp932),
            other => Err(format!("unknown encoding {other:?} (auto, utf-8, cp932)")),
        }
    }
}

/// A problem at one place of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {message}", column.as_ref().map(|c| format!(", column {c}")).unwrap_or_default())]
pub struct ImportError {
    /// 1-based line; the header is line 1.
    pub line: u64,
    /// The column as written in the header.
    pub column: Option<String>,
    pub message: String,
}

/// The columns we read; each accepts several header spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Id,
    Name,
    NameKana,
    BirthYear,
    District,
    Address,
    Town,
    Chome,
    Banchi,
    Building,
    Living,
    Phone,
    Notes,
    ContactName,
    ContactRelation,
    ContactPhone,
    ContactEmail,
    ContactConsent,
}

const HEADERS: &[(Column, &[&str])] = &[
    (Column::Id, &["id", "管理番号", "ID"]),
    (Column::Name, &["name", "氏名", "名前"]),
    (
        Column::NameKana,
        &["name_kana", "フリガナ", "ふりがな", "カナ"],
    ),
    (
        Column::BirthYear,
        &["birth_year", "生年", "生まれ年", "生年(西暦)"],
    ),
    (Column::District, &["district", "地区"]),
    (Column::Address, &["address", "住所"]),
    (Column::Town, &["town", "町名"]),
    (Column::Chome, &["chome", "丁目"]),
    (Column::Banchi, &["banchi", "番地"]),
    (Column::Building, &["building", "建物名", "建物"]),
    (Column::Living, &["living", "世帯状況", "世帯"]),
    (Column::Phone, &["phone", "電話", "電話番号"]),
    (Column::Notes, &["notes", "備考"]),
    (
        Column::ContactName,
        &["contact_name", "連絡先氏名", "緊急連絡先"],
    ),
    (
        Column::ContactRelation,
        &["contact_relation", "連絡先続柄", "続柄"],
    ),
    (Column::ContactPhone, &["contact_phone", "連絡先電話"]),
    (Column::ContactEmail, &["contact_email", "連絡先メール"]),
    (
        Column::ContactConsent,
        &["contact_consent", "通知の同意", "連絡先同意"],
    ),
];

/// Decodes the file's bytes to text.
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<String, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let utf8 = || {
        std::str::from_utf8(bytes).map(str::to_string).map_err(|e| {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|b| **b == b'\n')
                .count() as u64
                + 1;
            ImportError {
                line,
                column: None,
                message:
                    "the file is not valid UTF-8 (for Excel's Shift_JIS files use --encoding cp932)"
                        .into(),
            }
        })
    };
    let cp932 = || {
        let (text, had_errors) = encoding_rs::SHIFT_JIS.decode_without_bom_handling(bytes);
        if had_errors {
            let line = text
                .lines()
                .position(|l| l.contains('\u{FFFD}'))
                .map(|p| p as u64 + 1)
                .unwrap_or(1);
            Err(ImportError {
                line,
                column: None,
                message: "the file is neither valid UTF-8 nor valid CP932 (Shift_JIS)".into(),
            })
        } else {
            Ok(text.into_owned())
        }
    };
    match encoding {
        Encoding::Utf8 => utf8(),
        Encoding::Cp932 => cp932(),
        Encoding::Auto => utf8().or_else(|_| cp932()),
    }
}

/// Reads residents from CSV text. Either every row is good, or every problem is returned.
pub fn parse_residents(
    text: &str,
    registry: &Registry,
    now: DateTime<Utc>,
) -> Result<Vec<NewResident>, Vec<ImportError>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![csv_error(1, e)]),
    };
    let mut columns: HashMap<Column, (usize, String)> = HashMap::new();
    let mut errors = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim();
        match HEADERS
            .iter()
            .find(|(_, names)| names.iter().any(|n| n.eq_ignore_ascii_case(h)))
        {
            Some((c, _)) => {
                if columns.insert(*c, (i, h.to_string())).is_some() {
                    errors.push(header_error(h, "this column appears twice"));
                }
            }
            None if h.is_empty() => {}
            None => errors.push(header_error(h, "unknown column")),
        }
    }
    for (required, name) in [
        (Column::Name, "氏名 (name)"),
        (Column::BirthYear, "生年 (birth_year)"),
    ] {
        if !columns.contains_key(&required) {
            errors.push(ImportError {
                line: 1,
                column: None,
                message: format!("the column {name} is missing"),
            });
        }
    }
    if !columns.contains_key(&Column::Address) && !columns.contains_key(&Column::Town) {
        errors.push(ImportError {
            line: 1,
            column: None,
            message:
                "an address column is missing: 住所 (address), or 町名 (town) with 丁目 and 番地"
                    .into(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut residents = Vec::new();
    let mut seen_ids = HashSet::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| line_at(text, p.byte())).unwrap_or(0);
                errors.push(csv_error(line, e));
                continue;
            }
        };
        let line = record
            .position()
            .map(|p| line_at(text, p.byte()))
            .unwrap_or(0);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |c: Column| {
            columns
                .get(&c)
                .and_then(|(i, _)| record.get(*i))
                .filter(|s| !s.is_empty())
        };
        let mut row_errors = Vec::new();
        let mut fail = |c: Column, e: DomainError| {
            row_errors.push(ImportError {
                line,
                column: columns.get(&c).map(|(_, h)| h.clone()),
                message: e.reason,
            })
        };

        let id = match cell(Column::Id) {
            Some(s) => match ResidentId::parse(s) {
                Ok(id) if !seen_ids.insert(id.clone()) => {
                    fail(
                        Column::Id,
                        DomainError::new("id", format!("{id} appears twice in the file")),
                    );
                    None
                }
                Ok(id) => Some(id),
                Err(e) => {
                    fail(Column::Id, e);
                    None
                }
            },
            None => Some(ResidentId::generate()),
        };
        let name = NewResident::check_name(cell(Column::Name).unwrap_or(""))
            .map_err(|e| fail(Column::Name, e))
            .ok();
        let birth_year = BirthYear::parse_text(cell(Column::BirthYear).unwrap_or(""), now)
            .map_err(|e| fail(Column::BirthYear, e))
            .ok();
        let living = match cell(Column::Living) {
            Some(s) => s
                .parse::<LivingSituation>()
                .map_err(|e| fail(Column::Living, e))
                .ok(),
            None => Some(LivingSituation::Alone),
        };
        let (address, address_column) = if let Some(line_address) = cell(Column::Address) {
            (registry.parse_address(line_address), Column::Address)
        } else {
            (
                Address::from_parts(
                    cell(Column::Town).unwrap_or(""),
                    cell(Column::Chome),
                    cell(Column::Banchi),
                    cell(Column::Building),
                ),
                Column::Town,
            )
        };
        let address = address.map_err(|e| fail(address_column, e)).ok();
        let district = address.as_ref().and_then(|a| {
            registry
                .resolve_district(a, cell(Column::District))
                .map_err(|e| {
                    let column = if e.field == "district" {
                        Column::District
                    } else {
                        address_column
                    };
                    fail(column, e)
                })
                .ok()
        });

        // One contact per row (family, 民生委員), told about alerts only with 通知の同意.
        let contact = match cell(Column::ContactName) {
            None => None,
            Some(contact_name) => {
                let relation = cell(Column::ContactRelation);
                if relation.is_none() {
                    fail(
                        Column::ContactName,
                        DomainError::new("contact", "a contact needs its relation (続柄)"),
                    );
                }
                let email = cell(Column::ContactEmail).and_then(|e| {
                    Email::parse(e)
                        .map_err(|e| fail(Column::ContactEmail, e))
                        .ok()
                        .map(|e| e.as_str().to_string())
                });
                let consent = match cell(Column::ContactConsent).map(str::trim) {
                    None => Some(false),
                    Some("はい" | "同意" | "あり" | "有" | "○" | "yes" | "true" | "1") => {
                        Some(true)
                    }
                    Some("いいえ" | "なし" | "無" | "×" | "no" | "false" | "0") => {
                        Some(false)
                    }
                    Some(other) => {
                        fail(
                            Column::ContactConsent,
                            DomainError::new(
                                "contact_consent",
                                format!("{other:?} is not はい or いいえ"),
                            ),
                        );
                        None
                    }
                };
                consent.map(|consent| Contact {
                    name: contact_name.trim().to_string(),
                    relation: relation.unwrap_or("").trim().to_string(),
                    phone: cell(Column::ContactPhone).map(str::to_string),
                    email,
                    consent,
                })
            }
        };

        match (id, name, birth_year, living, address, district) {
            (
                Some(id),
                Some(name),
                Some(birth_year),
                Some(living),
                Some(address),
                Some(district),
            ) if row_errors.is_empty() => residents.push(NewResident {
                id,
                name,
                name_kana: cell(Column::NameKana).map(str::to_string),
                birth_year,
                district,
                address,
                living,
                phone: cell(Column::Phone).map(str::to_string),
                contacts: contact.into_iter().collect(),
                policies: Vec::new(),
                notes: cell(Column::Notes).map(str::to_string),
            }),
            _ => errors.extend(row_errors),
        }
    }
    if errors.is_empty() {
        Ok(residents)
    } else {
        Err(errors)
    }
}

/// The 1-based line of a byte offset, counting `\n` (so CRLF and LF files number alike).
fn line_at(text: &str, byte: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut end = (byte as usize).min(bytes.len());
    // A record's position may sit on the line end before it (the `\n` of a CRLF).
    while end < bytes.len() && (bytes[end] == b'\r' || bytes[end] == b'\n') {
        end += 1;
    }
    bytes[..end].iter().filter(|b| **b == b'\n').count() as u64 + 1
}

fn header_error(h: &str, message: &str) -> ImportError {
    ImportError {
        line: 1,
        column: Some(h.to_string()),
        message: message.into(),
    }
}

fn csv_error(line: u64, e: csv::Error) -> ImportError {
    ImportError {
        line,
        column: None,
        message: format!("cannot read the CSV: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn japanese_headers_and_derived_districts() {
        let csv = "氏名,フリガナ,生年,住所,世帯状況,電話\n藤沢 花子,フジサワ ハナコ,1940,鵠沼海岸二丁目3-5,独居,0466-00-0000\n";
        let rows = parse_residents(csv, &Registry::fujisawa(), now()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].district.as_str(), "kugenuma");
        assert_eq!(rows[0].living, LivingSituation::Alone);
        assert_eq!(rows[0].address.chome, Some(2));
    }

    #[test]
    fn a_contact_per_row_with_consent_or_not() {
        let csv = "氏名,生年,住所,連絡先氏名,続柄,連絡先メール,通知の同意\n\
                   藤沢 花子,1940,鵠沼海岸2-3-5,藤沢 一郎,長男,ichiro@example.jp,はい\n\
                   辻堂 太郎,1938,辻堂元町一丁目1-1,湘南 正,民生委員,,\n";
        let rs = parse_residents(csv, &Registry::fujisawa(), now()).unwrap();
        assert_eq!(
            rs[0].contacts[0].email.as_deref(),
            Some("ichiro@example.jp")
        );
        assert!(rs[0].contacts[0].consent);
        assert_eq!(
            (rs[0].address.chome, rs[0].address.banchi.as_deref()),
            (Some(2), Some("3-5"))
        );
        assert_eq!(rs[1].contacts[0].relation, "民生委員");
        assert!(!rs[1].contacts[0].consent, "no consent unless it says so");

        let bad = "氏名,生年,住所,連絡先氏名,続柄,連絡先メール,通知の同意\n\
                   藤沢 花子,1940,鵠沼海岸2-3-5,藤沢 一郎,,ichiro@,たぶん\n";
        let errors = parse_residents(bad, &Registry::fujisawa(), now()).unwrap_err();
        let columns: Vec<&str> = errors.iter().filter_map(|e| e.column.as_deref()).collect();
        assert_eq!(
            columns,
            ["連絡先氏名", "連絡先メール", "通知の同意"],
            "{errors:?}"
        );
    }

    #[test]
    fn every_bad_cell_is_named_and_nothing_is_returned() {
        let csv = "name,birth_year,town,chome,district\n\
                   A,1940,鵠沼海岸,2,\n\
                   B,19x0,鵠沼海岸,2,\n\
                   C,1940,石川,,\n\
                   D,1940,鵠沼海岸,2,長後\n\
                   E,1940,鵠沼海岸,2,どこか\n";
        let errors = parse_residents(csv, &Registry::fujisawa(), now()).unwrap_err();
        let summary: Vec<_> = errors
            .iter()
            .map(|e| (e.line, e.column.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            summary,
            [
                (3, "birth_year".into()),
                (4, "town".into()),
                (5, "district".into()),
                (6, "district".into())
            ],
            "{errors:#?}"
        );
        assert!(errors[1].message.contains("split between"), "{}", errors[1]);
        assert_eq!(
            errors[0].to_string(),
            "line 3, column birth_year: \"19x0\" is not a year"
        );
    }

    #[test]
    fn crlf_files_number_lines_like_a_spreadsheet() {
        let csv = "name,birth_year,town\r\nA,1940,鵠沼海岸\r\nB,x,鵠沼海岸\r\n";
        let errors = parse_residents(csv, &Registry::fujisawa(), now()).unwrap_err();
        assert_eq!(errors[0].line, 3);
    }

    #[test]
    fn header_problems_are_reported_on_line_one() {
        let errors =
            parse_residents("氏名,年齢\nA,80\n", &Registry::fujisawa(), now()).unwrap_err();
        assert!(errors.iter().all(|e| e.line == 1));
        assert!(errors.iter().any(|e| e.column.as_deref() == Some("年齢")));
        assert!(errors.iter().any(|e| e.message.contains("生年")));
    }

    #[test]
    fn cp932_bytes_decode_and_bad_bytes_are_refused() {
        let (bytes, _, _) = encoding_rs::SHIFT_JIS.encode("氏名,生年\n髙橋 はな,1938\n");
        let text = decode(&bytes, Encoding::Auto).unwrap();
        assert!(text.contains("髙橋"));
        assert!(decode(&bytes, Encoding::Utf8).is_err());
        assert!(decode(b"a,b\n\xff\xff\xff\n", Encoding::Cp932).is_err());
        let bom = [b"\xEF\xBB\xBF".as_slice(), "氏名\n".as_bytes()].concat();
        assert_eq!(decode(&bom, Encoding::Auto).unwrap(), "氏名\n");
    }
}
