//! The partners' HTTP intake: `POST /api/v1/concerns` for partners' systems, and the report form
//! `/report` for their clerks (Japanese, on a phone as well as a desk).
//!
//! Both take the partner's token (`mimamori admin partner add` prints it once): the API as
//! `Authorization: Bearer <token>`, the form as its 協定事業者コード field, typed (or filled by the
//! browser's password manager) with each report. So the form needs no session and no sign-in,
//! and a forged cross-site post carries no token and is refused. A partner sees nothing about
//! residents: the answer is a reference number (受付番号), whether or not the address is known.

use crate::page::{Choice, page};
use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono_tz::Tz;
use mimamori_core::domain::Observation;
use mimamori_core::html::form_datetime;
use mimamori_gateway::concern::{ConcernIntake, ConcernReport, IntakeError, MAX_REPORT_BYTES, Via};
use serde_json::json;

/// A form post may be this large: percent-encoding makes Japanese text nine bytes a character.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// What the routes need.
#[derive(Clone)]
pub struct PartnerWeb {
    pub intake: ConcernIntake,
    /// The city's time zone: the form's 気づいた日時 is local time.
    pub timezone: Tz,
}

/// `POST /api/v1/concerns`, `GET`/`POST /report`.
pub fn router(state: PartnerWeb) -> Router {
    Router::new()
        .route("/api/v1/concerns", post(api_report))
        .route("/report", get(form_page).post(form_report))
        .with_state(state)
}

fn api_error(status: StatusCode, field: Option<&str>, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": message, "field": field })),
    )
        .into_response()
}

fn unavailable() -> Response {
    let mut r = api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "ただいま受け付けられません。少し待って再送してください / temporarily unavailable, resend later",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("30"));
    r
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

async fn api_report(State(web): State<PartnerWeb>, headers: HeaderMap, body: Body) -> Response {
    let unauthorized = || {
        api_error(
            StatusCode::UNAUTHORIZED,
            None,
            "協定事業者のトークンが必要です / a partner token is required",
        )
    };
    let Some(token) = bearer(&headers) else {
        return unauthorized();
    };
    let partner = match web.intake.partner(token).await {
        Ok(Some(p)) => p,
        Ok(None) => return unauthorized(),
        Err(e) => {
            tracing::error!(error = %e, "Partner API: the store did not answer.");
            return unavailable();
        }
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REPORT_BYTES).await else {
        return api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("body"),
            &format!(
                "報告が大きすぎます（{MAX_REPORT_BYTES} バイトまで） / report over {MAX_REPORT_BYTES} bytes"
            ),
        );
    };
    let report = match ConcernReport::from_json(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return api_error(StatusCode::UNPROCESSABLE_ENTITY, Some(e.field), &e.message);
        }
    };
    match web.intake.receive(&partner.id, &report, Via::Api).await {
        Ok(a) => (
            if a.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            },
            axum::Json(json!({ "reference": a.reference(), "duplicate": a.duplicate })),
        )
            .into_response(),
        Err(IntakeError::Invalid(e)) => {
            api_error(StatusCode::UNPROCESSABLE_ENTITY, Some(e.field), &e.message)
        }
        Err(IntakeError::Storage(e)) => {
            tracing::error!(error = %e, "Partner API: storing a concern failed.");
            unavailable()
        }
    }
}

/// What the clerk typed, to show the form again after an error (never the token).
#[derive(Default)]
struct Filled {
    report: ConcernReport,
    observed_at: String,
}

/// The report form, empty or as the clerk filled it, with what to fix.
#[derive(Template)]
#[template(path = "partners/report.html")]
struct ReportForm<'a> {
    title: &'static str,
    error: Option<&'a str>,
    /// The same on a resend: a double click files one report.
    report_id: String,
    address: &'a str,
    /// The observations to tick, those the clerk ticked selected.
    seen: Vec<Choice>,
    urgent: bool,
    note: &'a str,
    observed_at: &'a str,
    reporter: &'a str,
}

fn form(status: StatusCode, filled: &Filled, error: Option<&str>) -> Response {
    let r = &filled.report;
    let seen = Observation::ALL
        .iter()
        .map(|o| Choice {
            selected: r.seen.iter().any(|s| s == o.as_str()),
            ..Choice::new(o.as_str(), o.label_ja())
        })
        .collect();
    page(
        status,
        &ReportForm {
            title: FORM_TITLE,
            error,
            report_id: r
                .report_id
                .clone()
                .unwrap_or_else(|| mimamori_core::secret::generate(16)),
            address: &r.address,
            seen,
            urgent: r.urgent,
            note: r.note.as_deref().unwrap_or(""),
            observed_at: &filled.observed_at,
            reporter: r.reporter.as_deref().unwrap_or(""),
        },
    )
}

/// A report received: its reference number, and thanks by the partner's name.
#[derive(Template)]
#[template(path = "partners/received.html")]
struct Received<'a> {
    title: &'static str,
    reference: &'a str,
    partner: &'a str,
}

const FORM_TITLE: &str = "見守り協定 気づきの連絡";

async fn form_page() -> Response {
    form(StatusCode::OK, &Filled::default(), None)
}

async fn form_report(State(web): State<PartnerWeb>, body: Body) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return form(
            StatusCode::PAYLOAD_TOO_LARGE,
            &Filled::default(),
            Some("入力が長すぎます。詳しくの欄を短くしてください。"),
        );
    };
    let mut filled = Filled::default();
    let mut token = String::new();
    for (k, v) in url::form_urlencoded::parse(&bytes) {
        let v = v.into_owned();
        match k.as_ref() {
            "token" => token = v,
            "report_id" => filled.report.report_id = Some(v),
            "address" => filled.report.address = v,
            "seen" => filled.report.seen.push(v),
            "urgent" => filled.report.urgent = !v.is_empty(),
            "note" => filled.report.note = Some(v),
            "reporter" => filled.report.reporter = Some(v),
            "observed_at" => filled.observed_at = v,
            _ => {}
        }
    }
    let again =
        |status: StatusCode, filled: &Filled, error: &str| form(status, filled, Some(error));
    let observed = filled.observed_at.trim();
    if !observed.is_empty() {
        match form_datetime(observed, web.timezone) {
            Some(t) => filled.report.observed_at = Some(t.fixed_offset()),
            None => {
                return again(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &filled,
                    "気づいた日時が読み取れません。",
                );
            }
        }
    }
    let partner = match web.intake.partner(&token).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return again(
                StatusCode::UNAUTHORIZED,
                &filled,
                "協定事業者コードが正しくありません。市から届いたコードを確かめてください。",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "Report form: the store did not answer.");
            return again(
                StatusCode::SERVICE_UNAVAILABLE,
                &filled,
                "ただいま受け付けられません。少し待ってからもう一度送信してください。",
            );
        }
    };
    match web
        .intake
        .receive(&partner.id, &filled.report, Via::Form)
        .await
    {
        Ok(a) => page(
            StatusCode::OK,
            &Received {
                title: "受け付けました",
                reference: &a.reference(),
                partner: &partner.name,
            },
        ),
        Err(IntakeError::Invalid(e)) => again(
            StatusCode::UNPROCESSABLE_ENTITY,
            &filled,
            e.message.split(" / ").next().unwrap_or(&e.message),
        ),
        Err(IntakeError::Storage(e)) => {
            tracing::error!(error = %e, "Report form: storing a concern failed.");
            again(
                StatusCode::SERVICE_UNAVAILABLE,
                &filled,
                "ただいま受け付けられません。少し待ってからもう一度送信してください。",
            )
        }
    }
}
