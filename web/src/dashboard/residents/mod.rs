//! The residents a responder's team watches over: the list (`/residents`), each one's page
//! (`/residents/{id}`: the record, the watch-over settings, the pauses) and recording a pause
//! (入院・旅行・ショートステイ) or ending one — what a care worker does on hearing that someone went
//! into hospital, so that their silence raises no alert meanwhile.
//!
//! Scope as everywhere: a district's team sees that district's residents, a city-wide team all;
//! anyone else's is answered as missing. The list and every page are audited views
//! (`resident.list`, `resident.view`); pauses are audited (`pause.add`, `pause.end`) and reach the
//! running alert service through the store's change log, as the CLI's do.
//!
//! This module: the list, the page, and what the forms share (scope, form token, audit). The
//! forms, one module each: [`pauses`], [`policies`] (the watch-over settings), [`contacts`]
//! (family and 民生委員, with consent), [`register`] (a new resident, `/residents/new`).

mod contacts;
mod pauses;
mod policies;
mod register;

use contacts::contacts_form;
pub(super) use contacts::{add_contact, remove_contact};
pub(super) use pauses::{add_pause, end_pause};
use policies::policies_form;
pub(super) use policies::set_policies;
pub(super) use register::{create, new_page};

use super::{
    DashboardState, Session, forged, not_found, page, row, see_other, server_error, session,
};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mimamori_core::domain::{NewAuditEntry, PauseReason, Resident, ResidentId, Subject};
use mimamori_core::html::{escape, form_datetime_value};
use mimamori_core::storage::StorageError;

/// The record's lines, as the alert page and the resident's page show them.
pub(super) fn record_rows(r: &Resident) -> String {
    let mut rows = row("氏名", &r.name);
    if let Some(kana) = &r.name_kana {
        rows.push_str(&row("ふりがな", kana));
    }
    rows.push_str(&row("生まれ年", &format!("{}年", r.birth_year.year())));
    rows.push_str(&row("住所", &r.address.to_string()));
    rows.push_str(&row("世帯", r.living.label_ja()));
    if let Some(phone) = &r.phone {
        rows.push_str(&row("電話", phone));
    }
    for c in &r.contacts {
        rows.push_str(&row(
            &format!("連絡先（{}）", c.relation),
            &format!(
                "{} {}{}",
                c.name,
                c.phone.as_deref().unwrap_or(""),
                if c.consent {
                    ""
                } else {
                    "（通知の同意なし）"
                }
            ),
        ));
    }
    if let Some(notes) = &r.notes {
        rows.push_str(&row("備考", notes));
    }
    rows
}

async fn signed_in(
    state: &DashboardState,
    headers: &HeaderMap,
    next: &str,
) -> Result<Session, Response> {
    match session(state, headers).await? {
        Some(s) => Ok(s),
        None => Err(see_other(&format!("/login?next={next}"))),
    }
}

/// The resident, read (and audited) for `session` — if their team covers the resident's district.
async fn visible(
    state: &DashboardState,
    session: &Session,
    id: &str,
) -> Result<Resident, Response> {
    let Ok(id) = ResidentId::parse(id) else {
        return Err(not_found());
    };
    // The district first, without reading the record: out of scope is no view at all.
    let district = match state.store.resident_district(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => return Err(not_found()),
        Err(e) => return Err(server_error(e)),
    };
    if !session.team.covers(Some(&district)) {
        return Err(not_found());
    }
    state
        .store
        .get_resident(&id, &session.actor(), state.clock.now())
        .await
        .map_err(server_error)
}

/// The signed-in responder and the resident, for a form that changes something: with the
/// session's form token, or nothing happens.
async fn acting(
    state: &DashboardState,
    headers: &HeaderMap,
    id: &str,
    form_token: &str,
) -> Result<(Session, Resident), Response> {
    let session = signed_in(state, headers, &format!("/residents/{id}")).await?;
    if form_token != session.form_token {
        return Err(forged());
    }
    let r = visible(state, &session, id).await?;
    Ok((session, r))
}

/// `/residents`: the team's residents, with whether a pause holds now.
pub(super) async fn list(State(state): State<DashboardState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers, "/residents").await {
        Ok(s) => s,
        Err(p) => return p,
    };
    let now = state.clock.now();
    let residents = match state
        .store
        .list_residents(session.team.district.as_ref(), &session.actor(), now)
        .await
    {
        Ok(r) => r,
        Err(e) => return server_error(e),
    };
    let holding = match state
        .store
        .pauses_holding(session.team.district.as_ref(), now)
        .await
    {
        Ok(p) => p,
        Err(e) => return server_error(e),
    };
    let mut rows = String::new();
    for r in &residents {
        let paused = holding.iter().find(|p| p.resident == r.id);
        rows.push_str(&format!(
            "<tr><td><a href=\"/residents/{id}\">{name}</a></td><td>{district}</td><td>{area}</td><td>{pause}</td></tr>",
            id = escape(r.id.as_str()),
            name = escape(&r.name),
            district = escape(
                state
                    .ctx
                    .districts
                    .get(&r.district)
                    .map(String::as_str)
                    .unwrap_or(r.district.as_str())
            ),
            area = escape(&r.address.area()),
            pause = paused
                .map(|p| format!("一時停止中（{}）", escape(p.reason.label_ja())))
                .unwrap_or_default(),
        ));
    }
    let body = if residents.is_empty() {
        "<p>見守り対象者は登録されていません。</p>".to_string()
    } else {
        format!(
            "<table><tr><th>氏名</th><th>地区</th><th>住所</th><th>状態</th></tr>{rows}</table>"
        )
    };
    page(
        StatusCode::OK,
        "見守り対象者",
        &format!(
            "<p style=\"color:#555\"><a href=\"/alerts\">対応待ちの一覧</a> ・ {}（{}）としてログイン中・{}人</p>\
             <p><a href=\"/residents/new\">新しく登録する</a></p>{body}",
            escape(&session.responder.name),
            escape(&session.team.name),
            residents.len()
        ),
    )
}

/// `/residents/{id}`: the record, the settings, the pauses and the form to add one.
pub(super) async fn show(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let session = match signed_in(&state, &headers, &format!("/residents/{id}")).await {
        Ok(s) => s,
        Err(p) => return p,
    };
    let r = match visible(&state, &session, &id).await {
        Ok(r) => r,
        Err(p) => return p,
    };
    match render(&state, &session, &r).await {
        Ok(body) => page(StatusCode::OK, &r.name, &body),
        Err(e) => server_error(e),
    }
}

async fn render(
    state: &DashboardState,
    session: &Session,
    r: &Resident,
) -> Result<String, StorageError> {
    let now = state.clock.now();
    let tz = state.ctx.timezone;
    let at = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&tz)
            .format("%Y年%m月%d日 %H:%M")
            .to_string()
    };
    let form_token = escape(&session.form_token);
    let mut html = format!(
        "<p style=\"color:#555\"><a href=\"/residents\">見守り対象者の一覧</a> ・ <a href=\"/alerts\">対応待ちの一覧</a></p>\
         <table>{}</table>",
        record_rows(r)
    );
    let policies: String = r
        .policies
        .iter()
        .map(|p| format!("<li>{}</li>", escape(&p.label_ja())))
        .collect();
    html.push_str(&format!(
        "<h2 style=\"font-size:1.1em\">見守り設定</h2>{}",
        if policies.is_empty() {
            "<p>なし（緊急通報のみ）</p>".to_string()
        } else {
            format!("<ul>{policies}</ul>")
        }
    ));
    html.push_str(&contacts_form(r, &form_token));
    html.push_str(&policies_form(r, &form_token));
    let pauses = state.store.list_pauses(&r.id).await?;
    let mut rows = String::new();
    for p in pauses.iter().rev() {
        let end = match p.ends_at {
            Some(end) if end <= now => at(end),
            Some(end) => format!("{}（予定）", at(end)),
            None => "未定".into(),
        };
        let action = if p.ends_at.is_none_or(|end| end > now) {
            format!(
                "<form method=\"post\" action=\"/residents/{id}/pauses/{pause}/end\" style=\"margin:0\">\
                 <input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
                 <button type=\"submit\">{label}</button></form>",
                label = if p.starts_at >= now {
                    "取り消す"
                } else {
                    "今日で終了（帰宅した）"
                },
                id = escape(r.id.as_str()),
                pause = p.id
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
            escape(p.reason.label_ja()),
            escape(&at(p.starts_at)),
            escape(&end),
            escape(p.note.as_deref().unwrap_or("")),
        ));
    }
    html.push_str("<h2 style=\"font-size:1.1em\">一時停止（入院・旅行・ショートステイ）</h2>");
    html.push_str(
        "<p>一時停止の間は、反応なし・時間帯・元気ですの通知をしません（緊急通報は届きます）。</p>",
    );
    if !rows.is_empty() {
        html.push_str(&format!(
            "<table><tr><th>理由</th><th>開始</th><th>終了</th><th>メモ</th><th></th></tr>{rows}</table>"
        ));
    }
    let reasons: String = PauseReason::ALL
        .iter()
        .map(|p| format!("<option value=\"{}\">{}</option>", p.as_str(), p.label_ja()))
        .collect();
    html.push_str(&format!(
        "<form method=\"post\" action=\"/residents/{id}/pauses\"><input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
         <p><label>理由 <select name=\"reason\">{reasons}</select></label></p>\
         <p><label>開始<br><input type=\"datetime-local\" name=\"from\" value=\"{from}\" required></label></p>\
         <p><label>終了（未定なら空欄）<br><input type=\"datetime-local\" name=\"to\"></label></p>\
         <p><label>メモ<br><input type=\"text\" name=\"note\" maxlength=\"500\" style=\"width:100%\"></label></p>\
         <p><button type=\"submit\">一時停止を登録</button></p></form>",
        id = escape(r.id.as_str()),
        from = form_datetime_value(now, tz),
    ));
    Ok(html)
}

fn refused(message: &str) -> Response {
    page(
        StatusCode::UNPROCESSABLE_ENTITY,
        "登録できません",
        &format!(
            "<p>{}</p><p>前のページに戻って直してください。</p>",
            escape(message)
        ),
    )
}

/// Tells the running alert service that `what` of the resident changed (through the store's
/// change log) and audits `action` by the responder.
async fn changed(
    state: &DashboardState,
    session: &Session,
    what: &str,
    action: &str,
    resident: &ResidentId,
    detail: serde_json::Value,
) -> Result<(), StorageError> {
    state
        .store
        .record_change(
            &Subject::Resident(resident.clone()),
            what,
            state.clock.now(),
        )
        .await?;
    audit(state, session, action, resident, detail).await
}

/// Audits `action` on the resident's record by the responder.
async fn audit(
    state: &DashboardState,
    session: &Session,
    action: &str,
    resident: &ResidentId,
    detail: serde_json::Value,
) -> Result<(), StorageError> {
    let now = state.clock.now();
    state
        .store
        .record_audit(&NewAuditEntry {
            actor: session.actor(),
            action: action.into(),
            object_kind: "resident".into(),
            object_id: Some(resident.to_string()),
            detail,
            at: now,
        })
        .await
}
