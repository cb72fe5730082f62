//! The partners' HTTP intake: `POST /api/v1/concerns` for partners' systems, and the report form
//! `/report` for their clerks (Japanese first, English by the switch; on a phone as well as a
//! desk).
//!
//! Both take the partner's token (`mimamori admin partner add` prints it once): the API as
//! `Authorization: Bearer <token>`, the form as its 協定事業者コード field, typed (or filled by the
//! browser's password manager) with each report. So the form needs no session and no sign-in,
//! and a forged cross-site post carries no token and is refused. A partner sees nothing about
//! residents: the answer is a reference number (受付番号), whether or not the address is known.

use crate::language::{Frame, Lang};
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

/// The report form, empty or as the clerk filled it, with what to fix, in the browser's language.
#[derive(Template)]
#[template(path = "partners/report.html")]
struct ReportForm<'a> {
    frame: Frame,
    title: &'static str,
    w: &'static ReportWords,
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

/// The report form's and its answer's words in one language.
struct ReportWords {
    title: &'static str,
    intro: &'static str,
    /// Said in bold after the introduction.
    emergency: &'static str,
    code: &'static str,
    address: &'static str,
    address_example: &'static str,
    seen: &'static str,
    urgent: &'static str,
    note: &'static str,
    observed_at: &'static str,
    reporter: &'static str,
    send: &'static str,
    footer: &'static str,
    received: &'static str,
    reference: &'static str,
    /// Before and after the partner's name.
    thanks: (&'static str, &'static str),
    again: &'static str,
}

const REPORT_JA: ReportWords = ReportWords {
    title: "見守り協定 気づきの連絡",
    intro: "配達・訪問などで気になったことを、地区の担当（地域包括支援センター・コミュニティソーシャルワーカー）に届けます。",
    emergency: "倒れている・火事など命に関わるときは、すぐに119番へ。",
    code: "協定事業者コード",
    address: "場所（住所）",
    address_example: "例：鵠沼海岸二丁目3-5 湘南ハイツ101",
    seen: "気づいたこと（あてはまるものすべて）",
    urgent: "至急：すぐに様子を確認してほしい",
    note: "詳しく（いつから・どんな様子か）",
    observed_at: "気づいた日時（空欄なら今）",
    reporter: "報告者（お名前・連絡先）",
    send: "送信する",
    footer: "協定事業者コードは市の担当者が発行します。お住まいの方の情報はこの画面には表示されません。",
    received: "受け付けました",
    reference: "受付番号",
    thanks: (
        "",
        " 様、ご連絡ありがとうございます。地区の担当者が確認します。担当者から連絡することがあります。",
    ),
    again: "続けて連絡する",
};

const REPORT_EN: ReportWords = ReportWords {
    title: "Watch-over agreement: report a concern",
    intro: "What worried you on a delivery or a visit goes to the district's responders (the elder-care centre and the community social worker). ",
    emergency: "If a life is at risk — someone collapsed, a fire — call 119 at once.",
    code: "Partner code",
    address: "Place (address)",
    address_example: "e.g. 鵠沼海岸二丁目3-5 湘南ハイツ101",
    seen: "What you noticed (all that apply)",
    urgent: "Urgent: please check on them right away",
    note: "Details (since when, what you saw)",
    observed_at: "When you noticed (empty: now)",
    reporter: "Reporter (name, contact)",
    send: "Send",
    footer: "The city issues partner codes. Nothing about the people who live there is shown on this page.",
    received: "Received",
    reference: "Reference number",
    thanks: (
        "Thank you, ",
        ". The district's responders will look into it, and may contact you.",
    ),
    again: "Report another",
};

fn form(lang: Lang, status: StatusCode, filled: &Filled, error: Option<&str>) -> Response {
    let r = &filled.report;
    let seen = Observation::ALL
        .iter()
        .map(|o| Choice {
            selected: r.seen.iter().any(|s| s == o.as_str()),
            ..Choice::new(o.as_str(), lang.observation(*o))
        })
        .collect();
    let w = lang.pick(&REPORT_JA, &REPORT_EN);
    page(
        status,
        &ReportForm {
            frame: lang.frame("/report"),
            title: w.title,
            w,
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
    frame: Frame,
    title: &'static str,
    w: &'static ReportWords,
    reference: &'a str,
    partner: &'a str,
}

async fn form_page(headers: HeaderMap) -> Response {
    form(Lang::of(&headers), StatusCode::OK, &Filled::default(), None)
}

async fn form_report(State(web): State<PartnerWeb>, headers: HeaderMap, body: Body) -> Response {
    let lang = Lang::of(&headers);
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
        return form(
            lang,
            StatusCode::PAYLOAD_TOO_LARGE,
            &Filled::default(),
            Some(lang.pick(
                "入力が長すぎます。詳しくの欄を短くしてください。",
                "Too much text. Please shorten the details.",
            )),
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
        |status: StatusCode, filled: &Filled, error: &str| form(lang, status, filled, Some(error));
    let unavailable = lang.pick(
        "ただいま受け付けられません。少し待ってからもう一度送信してください。",
        "Reports cannot be received just now. Please wait a little and send again.",
    );
    let observed = filled.observed_at.trim();
    if !observed.is_empty() {
        match form_datetime(observed, web.timezone) {
            Some(t) => filled.report.observed_at = Some(t.fixed_offset()),
            None => {
                return again(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &filled,
                    lang.pick(
                        "気づいた日時が読み取れません。",
                        "The time you noticed cannot be read.",
                    ),
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
                lang.pick(
                    "協定事業者コードが正しくありません。市から届いたコードを確かめてください。",
                    "The partner code is not right. Please check the code the city sent you.",
                ),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "Report form: the store did not answer.");
            return again(StatusCode::SERVICE_UNAVAILABLE, &filled, unavailable);
        }
    };
    match web
        .intake
        .receive(&partner.id, &filled.report, Via::Form)
        .await
    {
        Ok(a) => {
            let w = lang.pick(&REPORT_JA, &REPORT_EN);
            page(
                StatusCode::OK,
                &Received {
                    frame: lang.frame("/report"),
                    title: w.received,
                    w,
                    reference: &a.reference(),
                    partner: &partner.name,
                },
            )
        }
        Err(IntakeError::Invalid(e)) => again(
            StatusCode::UNPROCESSABLE_ENTITY,
            &filled,
            lang.half(&e.message),
        ),
        Err(IntakeError::Storage(e)) => {
            tracing::error!(error = %e, "Report form: storing a concern failed.");
            again(StatusCode::SERVICE_UNAVAILABLE, &filled, unavailable)
        }
    }
}
