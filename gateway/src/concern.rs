//! Partners' concerns (見守り協定): from a report — the web form or the HTTP API, both the same
//! fields — to a stored `concern` signal.
//!
//! A report says where (an address as a clerk types it) and what was seen (mail piling up, lights
//! on for days, not seen lately…), with an optional note, the clerk's contact and the time it was
//! seen. Intake checks it field by field (an error names the field, in Japanese and English),
//! routes the address (town + 丁目 → district, through the city registry) and links a known
//! resident when the address names exactly one. What cannot be routed — a split town, a town not in
//! the registry, an address that does not parse — is stored all the same and goes to city-wide
//! triage: never dropped. The partner learns a reference number and nothing about residents.
//!
//! The same (partner, `report_id`) is stored once: a partner's system may resend freely, and the
//! form's hidden `report_id` makes a double click one report.

use chrono::{DateTime, Duration, FixedOffset, Utc};
use mimamori_core::clock::Clock;
use mimamori_core::domain::{
    NewSignal, Observation, Partner, PartnerId, SignalId, SignalKind, SignalSource, Subject,
};
use mimamori_core::html::{TextProblem, form_text};
use mimamori_core::registry::{Registry, Route};
use mimamori_core::storage::{SignalInsert, StorageError, Store};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The largest report accepted, in bytes (the JSON body, or the MQTT payload).
pub const MAX_REPORT_BYTES: usize = 16 * 1024;
const MAX_ADDRESS_CHARS: usize = 200;
const MAX_NOTE_CHARS: usize = 2000;
const MAX_REPORTER_CHARS: usize = 200;
const MAX_REPORT_ID_CHARS: usize = 100;
/// How far ahead of our clock `observed_at` may be (a clerk's watch, a terminal's clock).
const MAX_AHEAD: Duration = Duration::minutes(10);
/// How old a sighting may be: older ones are surely a mistyped date.
const MAX_AGE: Duration = Duration::days(60);

/// A partner's report, as the API and MQTT take it (JSON) and the form fills it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcernReport {
    /// Format version: `1` when given.
    #[serde(default)]
    pub v: Option<u32>,
    /// The partner's own id of the report: the same id is stored once.
    #[serde(default)]
    pub report_id: Option<String>,
    /// Where, as typed: `藤沢市鵠沼海岸二丁目3-5 湘南ハイツ101`.
    pub address: String,
    /// What was seen: codes (`mail`) or the Japanese labels.
    pub seen: Vec<String>,
    /// Seems to need someone now (倒れている可能性など).
    #[serde(default)]
    pub urgent: bool,
    /// Free text: what exactly, since when.
    #[serde(default)]
    pub note: Option<String>,
    /// Who reported, for a call back: the clerk's name and phone.
    #[serde(default)]
    pub reporter: Option<String>,
    /// When it was seen (RFC 3339); the time of the report when absent.
    #[serde(default)]
    pub observed_at: Option<DateTime<FixedOffset>>,
}

/// A report that cannot be taken: which field, and why, in Japanese and English.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ReportError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ReportError {
    ReportError {
        field,
        message: message.into(),
    }
}

impl ConcernReport {
    /// Parses a JSON report, with the size limit and a clear error for each way it can be wrong.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ReportError> {
        if bytes.len() > MAX_REPORT_BYTES {
            return Err(invalid(
                "body",
                format!(
                    "報告が大きすぎます（{MAX_REPORT_BYTES} バイトまで） / report over {MAX_REPORT_BYTES} bytes"
                ),
            ));
        }
        serde_json::from_slice(bytes).map_err(|e| {
            invalid(
                "body",
                format!("JSON として読めません / not a valid report: {e}"),
            )
        })
    }
}

/// Where intake stored a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub signal: SignalId,
    /// The same report had been stored before (a resend): nothing new was written.
    pub duplicate: bool,
}

impl Accepted {
    /// The reference the partner is given: `C-1234`.
    pub fn reference(&self) -> String {
        format!("C-{}", self.signal.0)
    }
}

/// Why intake did not store a report.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Invalid(#[from] ReportError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// How a report arrived, kept on the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Form,
    Api,
    /// Made up by `mimamori up --demo`.
    Demo,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Form => "form",
            Via::Api => "api",
            Via::Demo => "demo",
        }
    }
}

/// Turns reports into stored signals. Cheap to clone.
#[derive(Clone)]
pub struct ConcernIntake {
    store: Store,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    stored: Option<Arc<tokio::sync::Notify>>,
}

impl ConcernIntake {
    pub fn new(store: Store, registry: Arc<Registry>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            registry,
            clock,
            stored: None,
        }
    }

    /// Notifies `waker` after each new report is stored: the alert service in this process applies
    /// it at once instead of at its next read of the store.
    pub fn notifying(mut self, waker: Arc<tokio::sync::Notify>) -> Self {
        self.stored = Some(waker);
        self
    }

    /// The partner holding `token` (an API token of `mimamori admin partner add`), unless revoked.
    pub async fn partner(&self, token: &str) -> Result<Option<Partner>, StorageError> {
        self.store
            .partner_by_token(&mimamori_core::secret::token_hash(token.trim()))
            .await
    }

    /// Checks, routes and stores one report of `partner`.
    pub async fn receive(
        &self,
        partner: &PartnerId,
        report: &ConcernReport,
        via: Via,
    ) -> Result<Accepted, IntakeError> {
        let now = self.clock.now();
        let checked = check(report, now)?;
        let (subject, routing) = match self.registry.parse_address(&checked.address) {
            Ok(address) => {
                let resident = self.store.resident_at(&address).await?;
                let routing = match self.registry.route(&address) {
                    Route::District {
                        district,
                        confirmed,
                    } => {
                        json!({ "route": "district", "district": district, "confirmed": confirmed })
                    }
                    Route::Ambiguous(candidates) => {
                        json!({ "route": "ambiguous", "district": null, "candidates": candidates })
                    }
                    Route::Unknown => json!({ "route": "unknown", "district": null }),
                };
                let subject = match resident {
                    Some(id) => Subject::Resident(id),
                    None => Subject::Address(address.to_string()),
                };
                (subject, routing)
            }
            Err(_) => (
                Subject::Address(checked.address.clone()),
                json!({ "route": "unparsed", "district": null }),
            ),
        };
        let seen: Vec<&str> = checked.seen.iter().map(|o| o.as_str()).collect();
        let mut body = json!({
            "v": 1,
            "via": via.as_str(),
            "address": checked.address,
            "seen": seen,
            "urgent": report.urgent,
            "note": checked.note,
            "reporter": checked.reporter,
        });
        if let (Some(body), Some(routing)) = (body.as_object_mut(), routing.as_object()) {
            body.extend(routing.clone());
        }
        let signal = NewSignal {
            source: SignalSource::Partner(partner.clone()),
            dedup_key: checked.report_id,
            subject: Some(subject),
            kind: SignalKind::Concern,
            body,
            device_time: report.observed_at.map(|t| t.with_timezone(&Utc)),
            received_at: now,
            clock_skewed: false,
        };
        let stored = self.store.insert_signal(&signal).await?;
        let accepted = Accepted {
            signal: stored.id(),
            duplicate: matches!(stored, SignalInsert::Duplicate(_)),
        };
        if let Some(waker) = self.stored.as_ref().filter(|_| !accepted.duplicate) {
            waker.notify_one();
        }
        // Ids only: the address and the note stay in the store.
        tracing::info!(
            partner = %partner,
            signal = accepted.signal.0,
            duplicate = accepted.duplicate,
            via = via.as_str(),
            "Partner concern received."
        );
        Ok(accepted)
    }
}

/// A report's fields, trimmed and checked.
struct Checked {
    report_id: Option<String>,
    address: String,
    seen: Vec<Observation>,
    note: Option<String>,
    reporter: Option<String>,
}

fn text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ReportError> {
    form_text(value.unwrap_or(""), max, true).map_err(|problem| match problem {
        TextProblem::TooLong => invalid(
            field,
            format!("{max} 文字までにしてください / at most {max} characters"),
        ),
        TextProblem::ControlCharacter => invalid(
            field,
            "制御文字は使えません / control characters are not allowed",
        ),
    })
}

fn check(report: &ConcernReport, now: DateTime<Utc>) -> Result<Checked, ReportError> {
    if let Some(v) = report.v.filter(|v| *v != 1) {
        return Err(invalid(
            "v",
            format!("形式のバージョン {v} には対応していません / unsupported version {v}"),
        ));
    }
    let report_id = text(
        "report_id",
        report.report_id.as_deref(),
        MAX_REPORT_ID_CHARS,
    )?;
    if let Some(id) = &report_id
        && !id.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(invalid(
            "report_id",
            "英数字と記号だけで指定してください / ASCII letters, digits and symbols only",
        ));
    }
    let address = text("address", Some(&report.address), MAX_ADDRESS_CHARS)?
        .filter(|a| !a.contains(['\n', '\r', '\t']))
        .ok_or_else(|| {
            invalid(
                "address",
                "住所を1行で入力してください / the address is required, on one line",
            )
        })?;
    let mut seen = Vec::new();
    for s in &report.seen {
        let o: Observation = s.parse().map_err(|_| {
            invalid(
                "seen",
                format!(
                    "{s:?} は選択肢にありません / unknown observation; expected one of: {}",
                    Observation::ALL
                        .iter()
                        .map(|o| o.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        if !seen.contains(&o) {
            seen.push(o);
        }
    }
    if seen.is_empty() {
        return Err(invalid(
            "seen",
            "気づいたことを1つ以上選んでください / choose at least one observation",
        ));
    }
    let note = text("note", report.note.as_deref(), MAX_NOTE_CHARS)?;
    let reporter = text("reporter", report.reporter.as_deref(), MAX_REPORTER_CHARS)?;
    if let Some(at) = report.observed_at {
        let at = at.with_timezone(&Utc);
        if at > now + MAX_AHEAD {
            return Err(invalid(
                "observed_at",
                "未来の日時です / the time is in the future",
            ));
        }
        if at < now - MAX_AGE {
            return Err(invalid(
                "observed_at",
                "60日より前の日時です / more than 60 days ago",
            ));
        }
    }
    Ok(Checked {
        report_id,
        address,
        seen,
        note,
        reporter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 1, 0, 0).unwrap()
    }

    fn report() -> ConcernReport {
        ConcernReport {
            address: "藤沢市鵠沼海岸二丁目3-5".into(),
            seen: vec![
                "mail".into(),
                "郵便物がたまっている".into(),
                "lights".into(),
            ],
            ..Default::default()
        }
    }

    fn field(r: ConcernReport) -> &'static str {
        check(&r, now()).err().expect("refused").field
    }

    #[test]
    fn codes_and_labels_are_both_understood_once_each() {
        let c = check(&report(), now()).unwrap();
        assert_eq!(c.seen, vec![Observation::Mail, Observation::Lights]);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            field(ConcernReport {
                address: "  ".into(),
                ..report()
            }),
            "address"
        );
        assert_eq!(
            field(ConcernReport {
                address: "鵠沼海岸\n二丁目".into(),
                ..report()
            }),
            "address"
        );
        assert_eq!(
            field(ConcernReport {
                address: "あ".repeat(201),
                ..report()
            }),
            "address"
        );
        assert_eq!(
            field(ConcernReport {
                seen: vec![],
                ..report()
            }),
            "seen"
        );
        assert_eq!(
            field(ConcernReport {
                seen: vec!["ufo".into()],
                ..report()
            }),
            "seen"
        );
        assert_eq!(
            field(ConcernReport {
                note: Some("x\u{0}y".into()),
                ..report()
            }),
            "note"
        );
        assert_eq!(
            field(ConcernReport {
                report_id: Some("報告1".into()),
                ..report()
            }),
            "report_id"
        );
        assert_eq!(
            field(ConcernReport {
                v: Some(2),
                ..report()
            }),
            "v"
        );
        let at = |t: DateTime<Utc>| Some(t.fixed_offset());
        assert_eq!(
            field(ConcernReport {
                observed_at: at(now() + Duration::hours(1)),
                ..report()
            }),
            "observed_at"
        );
        assert_eq!(
            field(ConcernReport {
                observed_at: at(now() - Duration::days(61)),
                ..report()
            }),
            "observed_at"
        );
        assert!(
            check(
                &ConcernReport {
                    observed_at: at(now() - Duration::days(2)),
                    ..report()
                },
                now()
            )
            .is_ok()
        );
    }

    #[test]
    fn json_is_limited_and_strict() {
        let big = format!(
            r#"{{"address":"鵠沼","seen":["mail"],"note":"{}"}}"#,
            "x".repeat(MAX_REPORT_BYTES)
        );
        assert_eq!(
            ConcernReport::from_json(big.as_bytes()).unwrap_err().field,
            "body"
        );
        let unknown = r#"{"address":"鵠沼","seen":["mail"],"resident_name":"x"}"#;
        let e = ConcernReport::from_json(unknown.as_bytes()).unwrap_err();
        assert!(e.message.contains("resident_name"), "{e}");
        assert!(ConcernReport::from_json(b"{not json").is_err());
        assert!(
            ConcernReport::from_json(r#"{"address":"鵠沼","seen":["mail"]}"#.as_bytes()).is_ok()
        );
    }
}
