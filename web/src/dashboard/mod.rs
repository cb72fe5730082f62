//! The responders' dashboard: sign-in, and the page of an alert that chat and email messages link
//! to (`/alerts/{id}`), where a responder sees who the alert is about — the resident's name,
//! address, phone, contacts and notes, shown only here, behind sign-in, every view audited — with
//! its timeline, and acknowledges or resolves it; the coordinator routes triage alerts to a
//! district. `residents`: the team's residents, each one's page, and pauses recorded there.
//!
//! Sign-in is with the responder's access token (`mimamori admin responder token`, the same as the
//! API's), once per browser for 12 hours: a session cookie (`mimamori_session`: random, stored as
//! its SHA-256; `HttpOnly`; `SameSite=Lax`, so that a link opened from mail or chat arrives signed
//! in; `Secure` when `http.public_url` is `https`). Every form that changes something carries the
//! session's form token (CSRF). Scope as in the API: a district's team sees that district, a
//! city-wide team everything; an alert out of scope is answered as missing.
//!
//! Here: the alert list and the alert page. `signin`: sessions and the sign-in form;
//! `alert_actions`: acknowledge, resolve, note; `triage`: routing out of triage and linking a
//! concern to a resident; `residents`: the residents' pages.

mod alert_actions;
mod residents;
mod signin;
mod triage;

use alert_actions::{ActionForm, acknowledge, acting, add_note, forged, resolve};
use signin::{Session, login, login_page, logout, session};
use triage::{district_options, link_form, link_to_resident, route_to_district};

use crate::ack_link::page;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mimamori_alerts::actions::{Actions, Note, NoteTooLong, Via};
use mimamori_alerts::notify::Event;
use mimamori_alerts::notify::message::{self, Context, escape};
use mimamori_core::clock::Clock;
use mimamori_core::domain::{
    Actor, Alert, AlertEvent, AlertId, AlertState, DistrictId, Observation, Outcome, PartnerId,
    Responder, Subject, Team,
};
use mimamori_core::secret::{generate, token_hash};
use mimamori_core::storage::{StorageError, Store};
use serde::Deserialize;
use std::sync::Arc;

/// The session cookie's name.
pub const COOKIE: &str = "mimamori_session";

/// How long a sign-in lasts.
#[derive(Clone)]
pub struct DashboardState {
    pub store: Store,
    pub ctx: Context,
    pub clock: Arc<dyn Clock>,
    /// Acknowledge, resolve, note, route out of triage, link: the same actions as every surface.
    pub actions: Actions,
    /// The city's districts and towns: where a newly registered resident's address belongs.
    pub registry: Arc<mimamori_core::registry::Registry>,
}

/// `/login`, `/logout`, `/alerts` (the team's alerts), `/alerts/{id}` and its actions.
pub fn router(state: DashboardState) -> Router {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/alerts", get(alert_list))
        .route("/alerts/{id}", get(alert_page))
        .route("/alerts/{id}/ack", post(acknowledge))
        .route("/alerts/{id}/resolve", post(resolve))
        .route("/alerts/{id}/notes", post(add_note))
        .route("/alerts/{id}/route", post(route_to_district))
        .route("/alerts/{id}/link", post(link_to_resident))
        .route("/residents", get(residents::list))
        .route(
            "/residents/new",
            get(residents::new_page).post(residents::create),
        )
        .route("/residents/{id}", get(residents::show))
        .route("/residents/{id}/policies", post(residents::set_policies))
        .route("/residents/{id}/contacts", post(residents::add_contact))
        .route(
            "/residents/{id}/contacts/{index}/remove",
            post(residents::remove_contact),
        )
        .route("/residents/{id}/pauses", post(residents::add_pause))
        .route(
            "/residents/{id}/pauses/{pause}/end",
            post(residents::end_pause),
        )
        .with_state(state)
}

fn server_error(e: StorageError) -> Response {
    tracing::error!(error = %e, "Dashboard: storage failed.");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "ただいま表示できません",
        "<p>しばらくしてからもう一度お試しください。</p>",
    )
}

fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "見つかりません",
        "<p>このアラートはないか、あなたの担当範囲外です。</p>",
    )
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// The alerts of the responder's district (every district for a city-wide team) still to be
/// handled — unacknowledged first, then by severity, then newest: what, where, when and where it
/// stands; the person only on its page.
async fn alert_list(State(state): State<DashboardState>, headers: HeaderMap) -> Response {
    let session = match session(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/login?next=/alerts"),
        Err(page) => return page,
    };
    let mut alerts = Vec::new();
    for s in [AlertState::Open, AlertState::Acknowledged] {
        let filter = mimamori_core::storage::AlertFilter {
            district: session.team.district.clone(),
            state: Some(s),
            limit: 500,
            ..Default::default()
        };
        match state.store.list_alerts(&filter).await {
            Ok(found) => alerts.extend(found),
            Err(e) => return server_error(e),
        }
    }
    // For a city-wide team the triage queue first (only it can send those on); then nobody on
    // it yet first, the most severe first, then the newest.
    let city_wide = session.team.district.is_none();
    let rank = |a: &Alert| {
        (
            !(city_wide && a.district.is_none()),
            a.state != AlertState::Open,
            mimamori_core::domain::Severity::ALL
                .iter()
                .position(|s| *s == a.severity),
            std::cmp::Reverse((a.opened_at, a.id.0)),
        )
    };
    alerts.sort_by_key(rank);
    let rows: String = alerts
        .iter()
        .map(|a| {
            let district = a
                .district
                .as_ref()
                .map(|d| {
                    state
                        .ctx
                        .districts
                        .get(d)
                        .cloned()
                        .unwrap_or_else(|| d.to_string())
                })
                .unwrap_or_else(|| "振り分け待ち".into());
            format!(
                "<tr><td><a href=\"/alerts/{id}\">#{id} {kind}</a></td><td>{district}</td><td>{at}</td><td>{state}</td><td>{subject}</td></tr>",
                id = a.id,
                kind = escape(a.kind.label_ja()),
                district = escape(&district),
                at = a.opened_at.with_timezone(&state.ctx.timezone).format("%m/%d %H:%M"),
                state = escape(a.state.label_ja()),
                subject = escape(&message::subject_label(&a.subject)),
            )
        })
        .collect();
    let body = if alerts.is_empty() {
        "<p>対応待ちのアラートはありません。</p>".to_string()
    } else {
        format!(
            "<table><tr><th>アラート</th><th>地区</th><th>発生</th><th>状況</th><th>対象</th></tr>{rows}</table>"
        )
    };
    page(
        StatusCode::OK,
        &format!("対応待ちのアラート（{}）", session.team.name),
        &format!(
            "<p style=\"color:#555\">{}としてログイン中 ・ <a href=\"/residents\">見守り対象者の一覧</a></p>{body}",
            escape(&session.responder.name)
        ),
    )
}

/// The signed-in responder and the alert, if they may see it; else the page to answer with.
async fn signed_in_alert(
    state: &DashboardState,
    headers: &HeaderMap,
    id: i64,
) -> Result<(Session, Alert), Response> {
    let Some(session) = session(state, headers).await? else {
        return Err(see_other(&format!("/login?next=/alerts/{id}")));
    };
    match state.store.get_alert(AlertId(id)).await {
        Ok(alert) if session.team.covers(alert.district.as_ref()) => Ok((session, alert)),
        Ok(_) | Err(StorageError::NotFound { .. }) => Err(not_found()),
        Err(e) => Err(server_error(e)),
    }
}

async fn alert_page(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let (session, alert) = match signed_in_alert(&state, &headers, id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    match render_alert(&state, &session, &alert).await {
        Ok(body) => page(
            StatusCode::OK,
            &format!("{} #{}", alert.kind.label_ja(), alert.id),
            &body,
        ),
        Err(e) => server_error(e),
    }
}

fn row(label: &str, value: &str) -> String {
    format!(
        "<tr><th style=\"text-align:left;padding-right:1em;vertical-align:top\">{}</th><td>{}</td></tr>",
        escape(label),
        escape(value)
    )
}

async fn render_alert(
    state: &DashboardState,
    session: &Session,
    alert: &Alert,
) -> Result<String, StorageError> {
    let now = state.clock.now();
    let who = message::acknowledger_name(&state.store, alert).await?;
    let mut html = format!(
        "<p style=\"color:#555\"><a href=\"/alerts\">対応待ちの一覧</a> ・ {}（{}）としてログイン中</p>",
        escape(&session.responder.name),
        escape(&session.team.name)
    );
    html.push_str(&message::render(&state.ctx, alert, Event::Raised, None, who.as_deref()).html());
    // The person — the alert's subject, or the resident whose home a device is in — behind
    // sign-in only: reading it is audited as this responder.
    let resident = match &alert.subject {
        Subject::Resident(id) => Some(id.clone()),
        Subject::Device(d) => {
            let device = state.store.get_device(d).await?;
            if let Some(device) = &device {
                html.push_str(&format!(
                    "<h2 style=\"font-size:1.1em\">機器</h2><table>{}{}</table>",
                    row("機器", &format!("{} {}", device.id, device.kind.label_ja())),
                    row("設置場所", device.label.as_deref().unwrap_or("")),
                ));
            }
            device.and_then(|d| d.resident)
        }
        _ => None,
    };
    if let Some(id) = &resident {
        let r = state.store.get_resident(id, &session.actor(), now).await?;
        html.push_str(&format!(
            "<h2 style=\"font-size:1.1em\">対象者</h2><table>{}</table>\
             <p><a href=\"/residents/{}\">対象者のページ（見守り設定・入院などの一時停止）</a></p>",
            residents::record_rows(&r),
            escape(r.id.as_str())
        ));
    }
    let timeline = state.store.alert_timeline(alert.id).await?;
    // An address and a partner's words about a household: a view of personal data, audited.
    if crate::api::audit_concern_view(&state.store, &session.actor(), alert.id, &timeline, now)
        .await?
    {
        html.push_str(&concern_reports(state, &timeline).await?);
    }
    let form_token = escape(&session.form_token);
    html.push_str(&link_form(state, session, alert, &form_token).await?);
    if alert.district.is_none()
        && alert.state != AlertState::Resolved
        && session.team.district.is_none()
    {
        let options = district_options(&state.ctx, &session.team, "");
        html.push_str(&format!(
            "<h2 style=\"font-size:1.1em\">地区に振り分ける</h2>\
             <p>住所から地区を決められなかったアラートです。確認した地区の担当チームに送ります。</p>\
             <form method=\"post\" action=\"/alerts/{id}/route\"><input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
             <p><label>地区 <select name=\"district\" required>{options}</select></label></p>\
             <p><button type=\"submit\">この地区に振り分ける</button></p></form>",
            id = alert.id
        ));
    }
    if alert.state == AlertState::Open {
        html.push_str(&format!(
            "<form method=\"post\" action=\"/alerts/{id}/ack\"><input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
             <p><button type=\"submit\" style=\"font-size:1.2em;padding:.6em 1.6em\">対応します</button></p></form>",
            id = alert.id
        ));
    }
    if alert.state != AlertState::Resolved {
        let options: String = Outcome::ALL
            .iter()
            .map(|o| format!("<option value=\"{}\">{}</option>", o.as_str(), o.label_ja()))
            .collect();
        html.push_str(&format!(
            "<h2 style=\"font-size:1.1em\">解決として記録</h2>\
             <form method=\"post\" action=\"/alerts/{id}/resolve\"><input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
             <p><label>結果 <select name=\"outcome\">{options}</select></label></p>\
             <p><label>メモ<br><textarea name=\"note\" rows=\"3\" style=\"width:100%\"></textarea></label></p>\
             <p><button type=\"submit\">解決として記録</button></p></form>",
            id = alert.id
        ));
    }
    html.push_str(&format!(
        "<h2 style=\"font-size:1.1em\">メモを残す</h2>\
         <form method=\"post\" action=\"/alerts/{id}/notes\"><input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
         <p><textarea name=\"note\" rows=\"3\" style=\"width:100%\" required></textarea></p>\
         <p><button type=\"submit\">メモを追加</button></p></form>",
        id = alert.id
    ));
    let events: String = timeline
        .iter()
        .map(|e| {
            let text = e
                .detail
                .get("text")
                .or_else(|| e.detail.get("note"))
                .and_then(|t| t.as_str())
                .unwrap_or("");
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e.at.with_timezone(&state.ctx.timezone)
                    .format("%m/%d %H:%M:%S"),
                escape(e.kind.label_ja()),
                escape(e.actor.as_deref().unwrap_or("")),
                escape(text)
            )
        })
        .collect();
    html.push_str(&format!(
        "<h2 style=\"font-size:1.1em\">経過</h2><table>{events}</table>\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
         <p><button type=\"submit\">ログアウト</button></p></form>"
    ));
    Ok(html)
}

/// The partners' reports behind a concern alert (the first and each that joined it): where, what
/// was seen, their words and who to call back — behind sign-in, like the resident's record.
async fn concern_reports(
    state: &DashboardState,
    timeline: &[AlertEvent],
) -> Result<String, StorageError> {
    let mut html = String::new();
    for e in timeline.iter().filter(|e| e.detail["rule"] == "concern") {
        let d = &e.detail;
        let text = |k: &str| d[k].as_str().unwrap_or("").to_string();
        let partner = match d["source"]
            .as_str()
            .and_then(|s| s.strip_prefix("partner:"))
            .and_then(|id| PartnerId::parse(id).ok())
        {
            Some(id) => match state.store.get_partner(&id).await {
                Ok(p) => format!("{}（{}）", p.name, p.kind.label_ja()),
                Err(StorageError::NotFound { .. }) => id.to_string(),
                Err(e) => return Err(e),
            },
            None => String::new(),
        };
        let seen: Vec<&str> = d["seen"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str()?.parse::<Observation>().ok())
            .map(Observation::label_ja)
            .collect();
        let observed = d["observed_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| {
                t.with_timezone(&state.ctx.timezone)
                    .format("%Y年%m月%d日 %H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        let mut rows = row("事業者", &partner);
        rows.push_str(&row("場所", &text("address")));
        rows.push_str(&row("気づいたこと", &seen.join("、")));
        if d["urgent"] == true {
            rows.push_str(&row("至急", "すぐに様子を確認してほしい"));
        }
        rows.push_str(&row("気づいた日時", &observed));
        for (label, key) in [("詳しく", "note"), ("報告者", "reporter")] {
            if !text(key).is_empty() {
                rows.push_str(&row(label, &text(key)));
            }
        }
        if d["route"] != "district" {
            rows.push_str(&row(
                "振り分け",
                "住所から地区を決められませんでした（市全体の振り分け待ち）",
            ));
        }
        html.push_str(&format!(
            "<h2 style=\"font-size:1.1em\">協力事業者からの連絡</h2><table>{rows}</table>"
        ));
    }
    Ok(html)
}
