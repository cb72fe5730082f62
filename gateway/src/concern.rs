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
//!
//! Partners' systems may also publish the API's body on MQTT, on
//! `mimamori/v1/partners/{id}/concerns` (the gateway subscribes): [`ConcernIntake::receive_published`]
//! takes it through the same checks and storage, with `report_id` required, and gives the receipt
//! the gateway publishes on `mimamori/v1/partners/{id}/receipts` — the reference, or a code and a
//! message (Japanese, then English) saying what to fix.

use crate::drop_reason::DropReason;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use mimamori_core::clock::Clock;
use mimamori_core::domain::{
    NewSignal, Observation, Partner, PartnerId, SignalId, SignalKind, SignalSource, Subject,
};
use mimamori_core::html::{TextProblem, form_text};
use mimamori_core::registry::{Registry, Route};
use mimamori_core::storage::{PartnerAccess, SignalInsert, StorageError, Store};
use serde::{Deserialize, Serialize};
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
    /// Published by the partner's system on its MQTT topic.
    Mqtt,
    /// Made up by `mimamori up --demo`.
    Demo,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Form => "form",
            Via::Api => "api",
            Via::Mqtt => "mqtt",
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
        let (_, stored) = self.take(partner, report, via).await?;
        Ok(Accepted {
            signal: stored.id(),
            duplicate: matches!(stored, SignalInsert::Duplicate(_)),
        })
    }

    /// Whether `partner` may send reports now: registered, with a token not revoked (what the
    /// broker's login and the API ask too).
    pub async fn access(&self, partner: &PartnerId) -> Result<PartnerAccess, StorageError> {
        self.store.partner_access(partner).await
    }

    /// A report that `partner`'s system published on its topic, whose `{id}` the broker
    /// guarantees (the caller has checked [`ConcernIntake::access`]): the same checks, routing and
    /// storage as [`ConcernIntake::receive`], and the receipt to publish back. `report_id` is
    /// required: MQTT delivers at least once, and a redelivery must be the same report.
    ///
    /// An `Err` means the store failed: nothing may be acknowledged, the broker delivers the
    /// report again, and its `report_id` makes that one report.
    pub async fn receive_published(
        &self,
        partner: &PartnerId,
        payload: &[u8],
    ) -> Result<Published, StorageError> {
        let report = match published_report(partner, payload) {
            Ok(r) => r,
            Err((report_id, refusal)) => return Ok(Published::refused(report_id, refusal)),
        };
        match self.take(partner, &report, Via::Mqtt).await {
            Ok((signal, stored)) => {
                let duplicate = matches!(stored, SignalInsert::Duplicate(_));
                let receipt =
                    PartnerReceipt::accepted(report.report_id.clone(), stored.id(), duplicate);
                Ok(Published {
                    outcome: Ok((signal, stored)),
                    receipt: receipt.to_vec(),
                })
            }
            Err(IntakeError::Invalid(e)) => {
                let report_id = report.report_id.filter(|id| echoable(id));
                Ok(Published::refused(report_id, Refusal::Invalid(e)))
            }
            Err(IntakeError::Storage(e)) => Err(e),
        }
    }

    /// Checks, routes and stores one report: the signal and how it was stored.
    async fn take(
        &self,
        partner: &PartnerId,
        report: &ConcernReport,
        via: Via,
    ) -> Result<(NewSignal, SignalInsert), IntakeError> {
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
        let duplicate = matches!(stored, SignalInsert::Duplicate(_));
        if let Some(waker) = self.stored.as_ref().filter(|_| !duplicate) {
            waker.notify_one();
        }
        // Ids only: the address and the note stay in the store.
        tracing::info!(
            partner = %partner,
            signal = stored.id().0,
            duplicate,
            via = via.as_str(),
            "Partner concern received."
        );
        Ok((signal, stored))
    }
}

/// The report in a published payload, or (its `report_id` when one can be read, why not).
fn published_report(
    partner: &PartnerId,
    payload: &[u8],
) -> Result<ConcernReport, (Option<String>, Refusal)> {
    let error = match ConcernReport::from_json(payload) {
        Ok(report)
            if report
                .report_id
                .as_deref()
                .is_none_or(|id| id.trim().is_empty()) =>
        {
            return Err((
                None,
                Refusal::Invalid(invalid(
                    "report_id",
                    "report_id を指定してください（再送しても1件として受け付けるため） / \
                     report_id is required over MQTT, so that a resend is stored once",
                )),
            ));
        }
        Ok(report) => return Ok(report),
        Err(e) => e,
    };
    if payload.len() > MAX_REPORT_BYTES {
        return Err((None, Refusal::TooLarge(error)));
    }
    // Read leniently, to answer with the partner's own report_id and to tell a report that
    // claims to be another partner's.
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice(payload) else {
        return Err((None, Refusal::NotJson(error)));
    };
    let report_id = fields
        .get("report_id")
        .and_then(|v| v.as_str())
        .filter(|id| echoable(id))
        .map(str::to_string);
    let claimed = ["partner", "partner_id"]
        .iter()
        .filter_map(|k| fields.get(*k)?.as_str())
        .find(|claimed| *claimed != partner.as_str());
    match claimed {
        Some(_) => Err((report_id, Refusal::OtherPartner)),
        None => Err((report_id, Refusal::Invalid(error))),
    }
}

/// Whether a `report_id` may be echoed in a receipt: what the check lets through.
fn echoable(id: &str) -> bool {
    id.len() <= MAX_REPORT_ID_CHARS && id.chars().all(|c| c.is_ascii_graphic())
}

/// What became of a published report.
#[derive(Debug)]
pub struct Published {
    /// The signal stored (or found stored: a resend), or why the report was refused.
    pub outcome: Result<(NewSignal, SignalInsert), Refusal>,
    /// The receipt (JSON, a [`PartnerReceipt`]) for `mimamori/v1/partners/{id}/receipts`.
    pub receipt: Vec<u8>,
}

impl Published {
    fn refused(report_id: Option<String>, refusal: Refusal) -> Self {
        Self {
            receipt: PartnerReceipt::refused(report_id, &refusal).to_vec(),
            outcome: Err(refusal),
        }
    }
}

/// Why a published report was refused. Nothing of it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Over [`MAX_REPORT_BYTES`].
    TooLarge(ReportError),
    /// Not a JSON object.
    NotJson(ReportError),
    /// A field is wrong, missing or unknown (the error names it).
    Invalid(ReportError),
    /// The report says it comes from another partner than the topic's.
    OtherPartner,
    /// The partner's every token is revoked.
    PartnerDisabled,
}

impl Refusal {
    /// The receipt's `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge(_) => "too_large",
            Self::NotJson(_) => "not_json",
            Self::Invalid(_) => "invalid",
            Self::OtherPartner => "other_partner",
            Self::PartnerDisabled => "partner_disabled",
        }
    }

    /// How the gateway counts it.
    pub fn drop_reason(&self) -> DropReason {
        match self {
            Self::TooLarge(_) => DropReason::Oversized,
            Self::NotJson(_) => DropReason::Malformed,
            Self::Invalid(_) => DropReason::InvalidReport,
            Self::OtherPartner => DropReason::OtherPartner,
            Self::PartnerDisabled => DropReason::DisabledPartner,
        }
    }

    fn field(&self) -> Option<&'static str> {
        match self {
            Self::TooLarge(e) | Self::NotJson(e) | Self::Invalid(e) => Some(e.field),
            Self::OtherPartner => Some("partner"),
            Self::PartnerDisabled => None,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::TooLarge(e) | Self::NotJson(e) | Self::Invalid(e) => e.message.clone(),
            Self::OtherPartner => "ほかの協定事業者として報告することはできません / \
                 a report may only come from the partner whose topic it is on"
                .into(),
            Self::PartnerDisabled => {
                "この協定事業者の受け付けは停止されています。市の担当者にお問い合わせください / \
                 this partner's access has been revoked; ask the city"
                    .into()
            }
        }
    }
}

/// The answer to a published report, on `mimamori/v1/partners/{id}/receipts` (QoS 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerReceipt {
    /// `1`.
    pub v: u32,
    /// The report's `report_id`, when it could be read.
    pub report_id: Option<String>,
    /// `accepted` (stored now), `duplicate` (stored before: the same reference), `refused`.
    pub status: String,
    /// The reference number (`C-1234`), when stored.
    pub reference: Option<String>,
    /// Why it was refused.
    pub error: Option<ReceiptError>,
}

/// Why a report was refused: a code for programs, the field, and a message (Japanese, then
/// English) for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptError {
    pub code: String,
    pub field: Option<String>,
    pub message: String,
}

impl PartnerReceipt {
    fn accepted(report_id: Option<String>, signal: SignalId, duplicate: bool) -> Self {
        let accepted = Accepted { signal, duplicate };
        Self {
            v: 1,
            report_id,
            status: if duplicate { "duplicate" } else { "accepted" }.into(),
            reference: Some(accepted.reference()),
            error: None,
        }
    }

    /// The receipt of a refused report.
    pub fn refused(report_id: Option<String>, refusal: &Refusal) -> Self {
        Self {
            v: 1,
            report_id,
            status: "refused".into(),
            reference: None,
            error: Some(ReceiptError {
                code: refusal.code().into(),
                field: refusal.field().map(str::to_string),
                message: refusal.message(),
            }),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a receipt serialises")
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
    fn a_published_report_needs_a_report_id_and_is_refused_with_a_code() {
        let pt = PartnerId::parse("pt-post").unwrap();
        let refused = |payload: &[u8]| published_report(&pt, payload).unwrap_err();
        let ok = r#"{"report_id":"r-1","address":"鵠沼海岸2丁目3-5","seen":["mail"]}"#;
        assert!(published_report(&pt, ok.as_bytes()).is_ok());

        let (id, r) = refused(br#"{"address":"x","seen":["mail"]}"#);
        assert_eq!(
            (id, r.code(), r.field()),
            (None, "invalid", Some("report_id"))
        );
        let (_, r) = refused(&vec![b' '; MAX_REPORT_BYTES + 1]);
        assert_eq!(r.code(), "too_large");
        let (_, r) = refused(b"{not json");
        assert_eq!(r.code(), "not_json");
        let (_, r) = refused(b"[1,2]");
        assert_eq!(r.code(), "not_json", "a report is an object");
        // The partner's own report_id comes back with the error, when it is one we could accept.
        let (id, r) = refused(br#"{"report_id":"r-2","address":"x","seen":["mail"],"extra":1}"#);
        assert_eq!((id.as_deref(), r.code()), (Some("r-2"), "invalid"));
        let (id, _) = refused(br#"{"report_id":"\u5831\u544a","address":"x"}"#);
        assert_eq!(id, None, "not echoed: not a report_id we accept");
        // A body that says it comes from another partner.
        let (_, r) =
            refused(br#"{"report_id":"r-3","partner":"pt-coop","address":"x","seen":["mail"]}"#);
        assert_eq!(r, Refusal::OtherPartner);
        let (_, r) =
            refused(br#"{"report_id":"r-3","partner_id":"pt-post","address":"x","seen":["mail"]}"#);
        assert_eq!(r.code(), "invalid", "its own id is only an unknown field");
    }

    #[test]
    fn receipts_say_the_reference_or_what_to_fix_in_japanese_first() {
        let ok = PartnerReceipt::accepted(Some("r-1".into()), SignalId(12), false);
        let json: serde_json::Value = serde_json::from_slice(&ok.to_vec()).unwrap();
        assert_eq!(
            json,
            json!({"v":1,"report_id":"r-1","status":"accepted","reference":"C-12","error":null})
        );
        let again = PartnerReceipt::accepted(Some("r-1".into()), SignalId(12), true);
        assert_eq!(again.status, "duplicate");
        let refused = PartnerReceipt::refused(None, &Refusal::PartnerDisabled);
        let error = refused.error.unwrap();
        assert_eq!(error.code, "partner_disabled");
        let (ja, en) = error.message.split_once(" / ").unwrap();
        assert!(!ja.is_ascii() && en.is_ascii(), "{}", error.message);
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
