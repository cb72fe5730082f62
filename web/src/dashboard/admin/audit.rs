//! `/admin/audit`: the audit log for the admin — who did what to which record, and when — newest
//! first, filtered by who (text their actor contains), what (how the action begins: `device.`,
//! `resident.view`) and a period of days in the city's zone, [`PAGE`] entries a page.

use super::{Section, SectionLink, admin_session, sections};
use crate::dashboard::{DashboardState, Me, actor_name, server_error};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{NaiveDate, TimeZone};
use mimamori_core::storage::AuditFilter;
use serde::Deserialize;

/// Entries on a page.
const PAGE: i64 = 50;

/// The longest filter text taken (longer is refused, not cut).
const FILTER_MAX: usize = 100;

/// The filters, as the form sends them.
#[derive(Deserialize, Default)]
pub(in crate::dashboard) struct AuditQuery {
    #[serde(default)]
    who: String,
    #[serde(default)]
    action: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    until: String,
    /// 1, 2, …
    #[serde(default)]
    page: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    title: &'static str,
    me: Me,
    section: Vec<SectionLink>,
    error: Option<String>,
    q: AuditQuery,
    entries: Vec<AuditLine>,
    page: i64,
    /// Links to the pages before and after, with the same filters.
    previous: Option<String>,
    next: Option<String>,
}

struct AuditLine {
    at: String,
    who: String,
    actor: String,
    action: String,
    what: &'static str,
    object: String,
    detail: String,
}

/// What an action means, in Japanese (the code is shown beside it).
fn action_ja(action: &str) -> &'static str {
    match action {
        "device.add" => "機器の登録",
        "device.disable" => "機器の無効化",
        "device.enable" => "機器の有効化",
        "device.rotate_secret" => "機器のパスワード再発行",
        "responder.add" => "担当者の登録",
        "responder.role" => "担当者の役割変更",
        "responder.token" => "担当者のトークン発行",
        "responder.deactivate" => "担当者の無効化",
        "responder.telegram_code" => "Telegram 連携コード発行",
        "partner.add" => "協力事業者の登録",
        "partner.token" => "協力事業者のトークン発行",
        "partner.revoke" => "協力事業者のトークン無効化",
        "team.add" => "チームの作成",
        "resident.view" => "見守り対象者の閲覧",
        "resident.list" => "見守り対象者一覧の閲覧",
        "resident.names" => "氏名の表示",
        "resident.add" => "見守り対象者の登録",
        "resident.edit" => "見守り対象者の変更",
        "pause.add" => "一時停止の登録",
        "pause.end" => "一時停止の終了",
        _ => "",
    }
}

/// A date of the form, as the start of that day in the city's zone.
fn day(text: &str, tz: chrono_tz::Tz) -> Result<Option<chrono::DateTime<chrono::Utc>>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| ())?;
    let start = date.and_hms_opt(0, 0, 0).ok_or(())?;
    tz.from_local_datetime(&start)
        .earliest()
        .map(|t| Some(t.with_timezone(&chrono::Utc)))
        .ok_or(())
}

/// The filter the query asks for, or what to fix.
fn filter_of(q: &AuditQuery, tz: chrono_tz::Tz) -> Result<AuditFilter, String> {
    let text =
        |value: &str, what: &str| match mimamori_core::html::form_text(value, FILTER_MAX, false) {
            Ok(t) => Ok(t),
            Err(_) => Err(format!(
                "{what}は{FILTER_MAX}文字までの1行で入力してください。"
            )),
        };
    let from = day(&q.from, tz)
        .map_err(|_| "期間の始まりを日付で入力してください（例：2026-12-01）。".to_string())?;
    let until = day(&q.until, tz)
        .map_err(|_| "期間の終わりを日付で入力してください（例：2026-12-31）。".to_string())?
        // The whole last day.
        .map(|t| t + chrono::Duration::days(1));
    Ok(AuditFilter {
        actor: text(&q.who, "誰が")?,
        action: text(&q.action, "操作")?,
        from,
        until,
    })
}

/// `GET /admin/audit`.
pub(in crate::dashboard) async fn audit_log(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let session = match admin_session(&state, &headers, "/admin/audit").await {
        Ok(s) => s,
        Err(p) => return p,
    };
    let tz = state.ctx.timezone;
    let page_no = q.page.unwrap_or(1).clamp(1, 1_000_000);
    let (status, error, mut found) = match filter_of(&q, tz) {
        Ok(filter) => match state
            .store
            .search_audit(&filter, (page_no - 1) * PAGE, PAGE + 1)
            .await
        {
            Ok(found) => (StatusCode::OK, None, found),
            Err(e) => return server_error(e),
        },
        Err(m) => (StatusCode::UNPROCESSABLE_ENTITY, Some(m), Vec::new()),
    };
    let more = found.len() as i64 > PAGE;
    found.truncate(PAGE as usize);
    let mut names = std::collections::HashMap::new();
    let mut entries = Vec::with_capacity(found.len());
    for e in found {
        let who = match actor_name(&state, &mut names, Some(&e.actor)).await {
            Ok(n) => n,
            Err(e) => return server_error(e),
        };
        entries.push(AuditLine {
            at: e
                .at
                .with_timezone(&tz)
                .format("%Y/%m/%d %H:%M:%S")
                .to_string(),
            who,
            actor: e.actor,
            what: action_ja(&e.action),
            action: e.action,
            object: match e.object_id {
                Some(id) => format!("{} {id}", e.object_kind),
                None => e.object_kind,
            },
            detail: if e.detail.as_object().is_some_and(|o| o.is_empty()) || e.detail.is_null() {
                String::new()
            } else {
                e.detail.to_string()
            },
        });
    }
    let link = |page: i64| {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("who", &q.who)
            .append_pair("action", &q.action)
            .append_pair("from", &q.from)
            .append_pair("until", &q.until)
            .append_pair("page", &page.to_string())
            .finish();
        format!("/admin/audit?{query}")
    };
    let view = AuditPage {
        title: "監査ログ",
        me: session.me("admin"),
        section: sections(Section::Audit),
        error,
        entries,
        page: page_no,
        previous: (page_no > 1).then(|| link(page_no - 1)),
        next: more.then(|| link(page_no + 1)),
        q,
    };
    crate::page::page(status, &view)
}
