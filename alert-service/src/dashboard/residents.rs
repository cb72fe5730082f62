//! The residents a responder's team watches over: the list (`/residents`), each one's page
//! (`/residents/{id}`: the record, the watch-over settings, the pauses) and recording a pause
//! (入院・旅行・ショートステイ) or ending one — what a care worker does on hearing that someone went
//! into hospital, so that their silence raises no alert meanwhile.
//!
//! Scope as everywhere: a district's team sees that district's residents, a city-wide team all;
//! anyone else's is answered as missing. The list and every page are audited views
//! (`resident.list`, `resident.view`); pauses are audited (`pause.add`, `pause.end`) and reach the
//! running alert service through the store's change log, as the CLI's do. A responder also
//! registers a new resident of their district there (`/residents/new`).

use super::{
    DashboardState, Session, forged, not_found, page, row, see_other, server_error, session,
};
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mimamori_core::domain::{NewAuditEntry, NewPause, PauseReason, Resident, ResidentId, Subject};
use mimamori_core::html::{escape, form_datetime, form_datetime_value};
use mimamori_core::storage::StorageError;
use serde::Deserialize;

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
                 <button type=\"submit\">今日で終了（帰宅した）</button></form>",
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

#[derive(Deserialize)]
pub(super) struct PauseForm {
    form_token: String,
    reason: String,
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    note: String,
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
    let now = state.clock.now();
    state
        .store
        .record_change(&Subject::Resident(resident.clone()), what, now)
        .await?;
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

/// `POST /residents/{id}/pauses`.
pub(super) async fn add_pause(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<PauseForm>,
) -> Response {
    let (session, r) = match acting(&state, &headers, &id, &f.form_token).await {
        Ok(found) => found,
        Err(p) => return p,
    };
    let tz = state.ctx.timezone;
    let Ok(reason) = f.reason.parse::<PauseReason>() else {
        return refused("理由を選んでください。");
    };
    let Some(starts_at) = form_datetime(&f.from, tz) else {
        return refused("開始の日時が読み取れません。");
    };
    let ends_at = match f.to.trim() {
        "" => None,
        to => match form_datetime(to, tz) {
            Some(t) => Some(t),
            None => return refused("終了の日時が読み取れません。"),
        },
    };
    let note = f.note.trim();
    if note.chars().count() > 500 {
        return refused("メモは500文字までです。");
    }
    let pause = NewPause {
        resident: r.id.clone(),
        reason,
        starts_at,
        ends_at,
        note: (!note.is_empty()).then(|| note.to_string()),
    };
    if pause.validate().is_err() {
        return refused("終了は開始より後にしてください。");
    }
    let done = async {
        let p = state.store.add_pause(&pause, state.clock.now()).await?;
        changed(
            &state,
            &session,
            "pause",
            "pause.add",
            &r.id,
            serde_json::json!({ "pause": p.id, "reason": p.reason }),
        )
        .await
    };
    match done.await {
        Ok(()) => see_other(&format!("/residents/{}", r.id)),
        Err(e) => server_error(e),
    }
}

#[derive(Deserialize)]
pub(super) struct EndForm {
    form_token: String,
}

/// `POST /residents/{id}/pauses/{pause}/end`: the pause ends now.
pub(super) async fn end_pause(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path((id, pause)): Path<(String, i64)>,
    Form(f): Form<EndForm>,
) -> Response {
    let (session, r) = match acting(&state, &headers, &id, &f.form_token).await {
        Ok(found) => found,
        Err(p) => return p,
    };
    let now = state.clock.now();
    let done = async {
        let theirs = state.store.list_pauses(&r.id).await?;
        if !theirs
            .iter()
            .any(|p| p.id == pause && p.ends_at.is_none_or(|end| end > now))
        {
            return Ok(false);
        }
        state.store.end_pause(pause, now).await?;
        changed(
            &state,
            &session,
            "pause",
            "pause.end",
            &r.id,
            serde_json::json!({ "pause": pause }),
        )
        .await?;
        Ok(true)
    };
    match done.await {
        Ok(true) => see_other(&format!("/residents/{}", r.id)),
        Ok(false) => not_found(),
        Err(e) => server_error(e),
    }
}

/// What a registration form holds, to show it again after an error.
#[derive(Deserialize, Default)]
pub(super) struct NewResidentForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kana: String,
    #[serde(default)]
    birth_year: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    district: String,
    #[serde(default)]
    living: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    notes: String,
    /// Hours of silence (inside 07:00–22:00) before an alert; empty: no such rule.
    #[serde(default)]
    inactivity_hours: String,
}

fn new_form(
    state: &DashboardState,
    session: &Session,
    f: &NewResidentForm,
    error: Option<&str>,
) -> String {
    let v = |s: &str| escape(s);
    let mut districts: Vec<(&mimamori_core::domain::DistrictId, &String)> = state
        .ctx
        .districts
        .iter()
        .filter(|(id, _)| session.team.covers(Some(id)))
        .collect();
    districts.sort();
    let district_options: String = districts
        .iter()
        .map(|(id, name)| {
            format!(
                "<option value=\"{id}\"{sel}>{name}地区</option>",
                id = escape(id.as_str()),
                sel = if f.district == id.as_str() {
                    " selected"
                } else {
                    ""
                },
                name = escape(name)
            )
        })
        .collect();
    let living_options: String = mimamori_core::domain::LivingSituation::ALL
        .iter()
        .map(|l| {
            format!(
                "<option value=\"{}\"{}>{}</option>",
                l.as_str(),
                if f.living == l.as_str() {
                    " selected"
                } else {
                    ""
                },
                l.label_ja()
            )
        })
        .collect();
    let hours = if f.form_token.is_empty() && f.inactivity_hours.is_empty() {
        "12"
    } else {
        f.inactivity_hours.as_str()
    };
    format!(
        "{error}<p style=\"color:#555\"><a href=\"/residents\">見守り対象者の一覧</a></p>\
         <form method=\"post\" action=\"/residents/new\"><input type=\"hidden\" name=\"form_token\" value=\"{token}\">\
         <p><label>氏名<br><input type=\"text\" name=\"name\" value=\"{name}\" required maxlength=\"100\" style=\"width:100%\"></label></p>\
         <p><label>ふりがな<br><input type=\"text\" name=\"kana\" value=\"{kana}\" maxlength=\"100\" style=\"width:100%\"></label></p>\
         <p><label>生まれ年（西暦）<br><input type=\"text\" name=\"birth_year\" value=\"{birth}\" required inputmode=\"numeric\" placeholder=\"例：1942\"></label></p>\
         <p><label>住所<br><input type=\"text\" name=\"address\" value=\"{address}\" required maxlength=\"200\" placeholder=\"例：鵠沼海岸二丁目3-5 湘南ハイツ101\" style=\"width:100%\"></label></p>\
         <p><label>地区 <select name=\"district\"><option value=\"\">住所から判定</option>{district_options}</select></label></p>\
         <p><label>世帯 <select name=\"living\">{living_options}</select></label></p>\
         <p><label>電話<br><input type=\"tel\" name=\"phone\" value=\"{phone}\" maxlength=\"50\"></label></p>\
         <p><label>備考（病歴・介護の状況など。ログインした担当者だけが見られます）<br><textarea name=\"notes\" rows=\"3\" maxlength=\"2000\" style=\"width:100%\">{notes}</textarea></label></p>\
         <p><label>反応なしで通知するまでの時間（07:00–22:00に数える。空欄なら設定しない）<br><input type=\"number\" name=\"inactivity_hours\" value=\"{hours}\" min=\"1\" max=\"168\">時間</label></p>\
         <p><button type=\"submit\">登録する</button></p></form>\
         <p style=\"color:#555\">機器の登録は管理者が行います（mimamori admin device add）。</p>",
        error = error
            .map(|e| format!(
                "<p role=\"alert\" style=\"color:#b00020\"><strong>{}</strong></p>",
                escape(e)
            ))
            .unwrap_or_default(),
        token = escape(&session.form_token),
        name = v(&f.name),
        kana = v(&f.kana),
        birth = v(&f.birth_year),
        address = v(&f.address),
        phone = v(&f.phone),
        notes = v(&f.notes),
        hours = v(hours),
    )
}

const NEW_TITLE: &str = "見守り対象者の登録";

/// `GET /residents/new`.
pub(super) async fn new_page(State(state): State<DashboardState>, headers: HeaderMap) -> Response {
    let session = match signed_in(&state, &headers, "/residents/new").await {
        Ok(s) => s,
        Err(p) => return p,
    };
    page(
        StatusCode::OK,
        NEW_TITLE,
        &new_form(&state, &session, &NewResidentForm::default(), None),
    )
}

/// The resident a form describes, or what to tell the care worker (in Japanese).
fn resident_of(
    state: &DashboardState,
    session: &Session,
    f: &NewResidentForm,
) -> Result<mimamori_core::domain::NewResident, String> {
    use mimamori_core::domain::{Address, BirthYear, CheckinPolicy, NewResident};
    let now = state.clock.now();
    let name = NewResident::check_name(&f.name)
        .map_err(|_| "氏名を入力してください（100文字まで）。".to_string())?;
    let birth_year = BirthYear::parse_text(&f.birth_year, now)
        .map_err(|_| "生まれ年を西暦で入力してください（例：1942）。".to_string())?;
    let address = Address::parse(&f.address)
        .map_err(|_| "住所を読み取れません。町名・丁目・番地を確かめてください。".to_string())?;
    let district = state
        .registry
        .resolve_district(
            &address,
            Some(f.district.as_str()).filter(|d| !d.is_empty()),
        )
        .map_err(|e| match e.field {
            "district" => "選んだ地区と住所が合いません。地区を「住所から判定」にするか、住所を確かめてください。".to_string(),
            _ => "住所から地区を決められません。地区を選んでください。".to_string(),
        })?;
    if !session.team.covers(Some(&district)) {
        let name = state
            .ctx
            .districts
            .get(&district)
            .cloned()
            .unwrap_or_else(|| district.to_string());
        return Err(format!(
            "この住所は{name}地区です。担当地区の方だけを登録できます。"
        ));
    }
    let living = f
        .living
        .parse()
        .map_err(|_| "世帯を選んでください。".to_string())?;
    let text = |s: &str, max: usize, what: &str| -> Result<Option<String>, String> {
        let s = s.trim();
        if s.chars().count() > max {
            return Err(format!("{what}は{max}文字までです。"));
        }
        Ok((!s.is_empty()).then(|| s.to_string()))
    };
    let policies = match f.inactivity_hours.trim() {
        "" => Vec::new(),
        h => {
            let hours: u32 = h
                .parse()
                .ok()
                .filter(|h| (1..=168).contains(h))
                .ok_or("反応なしの時間は1〜168時間で入力してください。")?;
            vec![CheckinPolicy::Inactivity {
                max_silence_minutes: hours * 60,
                active_from: chrono::NaiveTime::from_hms_opt(7, 0, 0).expect("a time"),
                active_to: chrono::NaiveTime::from_hms_opt(22, 0, 0).expect("a time"),
            }]
        }
    };
    Ok(NewResident {
        id: ResidentId::generate(),
        name,
        name_kana: text(&f.kana, 100, "ふりがな")?,
        birth_year,
        district,
        address,
        living,
        phone: text(&f.phone, 50, "電話")?,
        contacts: Vec::new(),
        policies,
        notes: text(&f.notes, 2000, "備考")?,
    })
}

/// `POST /residents/new`: registers the resident (audited as `resident.add`) and tells the running
/// alert service, then shows their page.
pub(super) async fn create(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Form(f): Form<NewResidentForm>,
) -> Response {
    let session = match signed_in(&state, &headers, "/residents/new").await {
        Ok(s) => s,
        Err(p) => return p,
    };
    if f.form_token != session.form_token {
        return forged();
    }
    let new = match resident_of(&state, &session, &f) {
        Ok(r) => r,
        Err(message) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                NEW_TITLE,
                &new_form(&state, &session, &f, Some(&message)),
            );
        }
    };
    let now = state.clock.now();
    let done = async {
        let r = state
            .store
            .add_resident(&new, &session.actor(), now)
            .await?;
        state
            .store
            .record_change(&Subject::Resident(r.id.clone()), "resident", now)
            .await?;
        Ok::<_, StorageError>(r)
    };
    match done.await {
        Ok(r) => {
            tracing::info!(resident = %r.id, district = %r.district, "Resident registered on the dashboard.");
            see_other(&format!("/residents/{}", r.id))
        }
        Err(e) => server_error(e),
    }
}

/// The watch-over settings as a form, filled with the current ones.
fn policies_form(r: &Resident, form_token: &str) -> String {
    use mimamori_core::domain::CheckinPolicy;
    let hm = |t: &chrono::NaiveTime| t.format("%H:%M").to_string();
    let (mut hours, mut active_from, mut active_to) =
        (String::new(), "07:00".to_string(), "22:00".to_string());
    let (mut window_from, mut window_to) = (String::new(), String::new());
    let (mut checkin_by, mut remind, mut grace) = (String::new(), String::new(), "60".to_string());
    for p in &r.policies {
        match p {
            CheckinPolicy::Inactivity {
                max_silence_minutes,
                active_from: f,
                active_to: t,
            } => {
                hours = (max_silence_minutes / 60).to_string();
                (active_from, active_to) = (hm(f), hm(t));
            }
            CheckinPolicy::DailyWindow { from, to } => {
                (window_from, window_to) = (hm(from), hm(to))
            }
            CheckinPolicy::Checkin {
                due,
                remind_minutes_before,
                grace_minutes,
            } => {
                checkin_by = hm(due);
                remind = remind_minutes_before
                    .map(|m| m.to_string())
                    .unwrap_or_default();
                grace = grace_minutes.to_string();
            }
        }
    }
    format!(
        "<details><summary>見守り設定を変更する</summary>\
         <form method=\"post\" action=\"/residents/{id}/policies\"><input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
         <p>空欄の項目は設定しません。</p>\
         <fieldset><legend>反応なし</legend><label><input type=\"number\" name=\"inactivity_hours\" value=\"{hours}\" min=\"1\" max=\"168\">時間反応がなければ通知</label>\
         （<label><input type=\"time\" name=\"active_from\" value=\"{active_from}\">から</label><label><input type=\"time\" name=\"active_to\" value=\"{active_to}\">までの間で数える</label>）</fieldset>\
         <fieldset><legend>時間帯</legend><label><input type=\"time\" name=\"window_from\" value=\"{window_from}\">から</label>\
         <label><input type=\"time\" name=\"window_to\" value=\"{window_to}\">までに生活反応がなければ通知</label></fieldset>\
         <fieldset><legend>元気です</legend><label><input type=\"time\" name=\"checkin_by\" value=\"{checkin_by}\">までに押してもらう</label>、\
         <label><input type=\"number\" name=\"remind_minutes\" value=\"{remind}\" min=\"1\" max=\"720\">分前にお知らせ</label>、\
         <label>猶予<input type=\"number\" name=\"grace_minutes\" value=\"{grace}\" min=\"0\" max=\"720\">分</label></fieldset>\
         <p><button type=\"submit\">見守り設定を保存</button></p></form></details>",
        id = escape(r.id.as_str()),
        form_token = form_token,
    )
}

#[derive(Deserialize)]
pub(super) struct PoliciesForm {
    form_token: String,
    #[serde(default)]
    inactivity_hours: String,
    #[serde(default)]
    active_from: String,
    #[serde(default)]
    active_to: String,
    #[serde(default)]
    window_from: String,
    #[serde(default)]
    window_to: String,
    #[serde(default)]
    checkin_by: String,
    #[serde(default)]
    remind_minutes: String,
    #[serde(default)]
    grace_minutes: String,
}

/// The settings a form describes, or what to fix (in Japanese).
fn policies_of(f: &PoliciesForm) -> Result<Vec<mimamori_core::domain::CheckinPolicy>, String> {
    use mimamori_core::domain::CheckinPolicy;
    let time = |s: &str, what: &str| {
        chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .map_err(|_| format!("{what}の時刻を 09:00 のように入力してください。"))
    };
    let number = |s: &str, range: std::ops::RangeInclusive<u32>, what: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                format!(
                    "{what}は{}〜{}で入力してください。",
                    range.start(),
                    range.end()
                )
            })
    };
    let mut policies = Vec::new();
    if !f.inactivity_hours.trim().is_empty() {
        let hours = number(&f.inactivity_hours, 1..=168, "反応なしの時間")?;
        policies.push(CheckinPolicy::Inactivity {
            max_silence_minutes: hours * 60,
            active_from: time(&f.active_from, "数え始め")?,
            active_to: time(&f.active_to, "数え終わり")?,
        });
    }
    match (f.window_from.trim(), f.window_to.trim()) {
        ("", "") => {}
        (from, to) => {
            let (from, to) = (time(from, "時間帯の始め")?, time(to, "時間帯の終わり")?);
            if from == to {
                return Err("時間帯の始めと終わりを別の時刻にしてください。".into());
            }
            policies.push(CheckinPolicy::DailyWindow { from, to });
        }
    }
    if !f.checkin_by.trim().is_empty() {
        policies.push(CheckinPolicy::Checkin {
            due: time(&f.checkin_by, "元気です")?,
            remind_minutes_before: match f.remind_minutes.trim() {
                "" => None,
                m => Some(number(m, 1..=720, "お知らせ")?),
            },
            grace_minutes: match f.grace_minutes.trim() {
                "" => 0,
                g => number(g, 0..=720, "猶予")?,
            },
        });
    }
    Ok(policies)
}

/// `POST /residents/{id}/policies`: replaces the resident's watch-over settings (audited as
/// `resident.policies`, told to the running alert service).
pub(super) async fn set_policies(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<PoliciesForm>,
) -> Response {
    let (session, r) = match acting(&state, &headers, &id, &f.form_token).await {
        Ok(found) => found,
        Err(p) => return p,
    };
    let policies = match policies_of(&f) {
        Ok(p) => p,
        Err(message) => return refused(&message),
    };
    let now = state.clock.now();
    let done = async {
        state.store.set_policies(&r.id, &policies, now).await?;
        changed(
            &state,
            &session,
            "policies",
            "resident.policies",
            &r.id,
            serde_json::json!({ "policies": policies.len() }),
        )
        .await
    };
    match done.await {
        Ok(()) => see_other(&format!("/residents/{}", r.id)),
        Err(e) => server_error(e),
    }
}

/// At most this many contacts per resident.
const MAX_CONTACTS: usize = 10;

/// The contacts, each with a button to remove it, and a form to add one.
fn contacts_form(r: &Resident, form_token: &str) -> String {
    let id = escape(r.id.as_str());
    let rows: String = r
        .contacts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "<tr><td>{name}（{relation}）</td><td>{consent}</td><td>\
                 <form method=\"post\" action=\"/residents/{id}/contacts/{i}/remove\" style=\"margin:0\">\
                 <input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
                 <input type=\"hidden\" name=\"name\" value=\"{name}\">\
                 <button type=\"submit\">削除</button></form></td></tr>",
                name = escape(&c.name),
                relation = escape(&c.relation),
                consent = if c.consent && c.email.is_some() {
                    "アラートをメールで通知"
                } else if c.consent {
                    "通知に同意（メールなし）"
                } else {
                    "通知しない"
                },
            )
        })
        .collect();
    format!(
        "<details><summary>連絡先を編集する（家族・民生委員・協力員）</summary>\
         {list}\
         <form method=\"post\" action=\"/residents/{id}/contacts\"><input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
         <p><label>氏名<br><input type=\"text\" name=\"name\" required maxlength=\"100\"></label></p>\
         <p><label>続柄・立場<br><input type=\"text\" name=\"relation\" required maxlength=\"50\" placeholder=\"例：長女、民生委員\"></label></p>\
         <p><label>電話<br><input type=\"tel\" name=\"phone\" maxlength=\"50\"></label></p>\
         <p><label>メール<br><input type=\"email\" name=\"email\" maxlength=\"254\"></label></p>\
         <p><label><input type=\"checkbox\" name=\"consent\" value=\"1\"> ご本人が、この方にアラートを知らせることに同意している</label></p>\
         <p><button type=\"submit\">連絡先を追加</button></p></form></details>",
        list = if rows.is_empty() {
            String::new()
        } else {
            format!("<table>{rows}</table>")
        },
    )
}

#[derive(Deserialize)]
pub(super) struct ContactForm {
    form_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    relation: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    consent: String,
}

fn contact_of(f: &ContactForm) -> Result<mimamori_core::domain::Contact, String> {
    let text = |s: &str, max: usize| {
        let s = s.trim();
        (s.chars().count() <= max && !s.chars().any(char::is_control)).then(|| s.to_string())
    };
    let name = text(&f.name, 100)
        .filter(|n| !n.is_empty())
        .ok_or("連絡先の氏名を入力してください（100文字まで）。")?;
    let relation = text(&f.relation, 50)
        .filter(|r| !r.is_empty())
        .ok_or("続柄・立場を入力してください（50文字まで）。")?;
    let phone = text(&f.phone, 50).ok_or("電話は50文字までです。")?;
    let email = match f.email.trim() {
        "" => None,
        e => Some(
            mimamori_core::domain::Email::parse(e)
                .map_err(|_| "メールアドレスを確かめてください。".to_string())?
                .as_str()
                .to_string(),
        ),
    };
    Ok(mimamori_core::domain::Contact {
        name,
        relation,
        phone: Some(phone).filter(|p| !p.is_empty()),
        email,
        consent: !f.consent.is_empty(),
    })
}

/// `POST /residents/{id}/contacts`: adds a contact (audited as `resident.contacts`).
pub(super) async fn add_contact(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ContactForm>,
) -> Response {
    let (session, r) = match acting(&state, &headers, &id, &f.form_token).await {
        Ok(found) => found,
        Err(p) => return p,
    };
    let contact = match contact_of(&f) {
        Ok(c) => c,
        Err(message) => return refused(&message),
    };
    if r.contacts.len() >= MAX_CONTACTS {
        return refused("連絡先は10件までです。");
    }
    let mut contacts = r.contacts.clone();
    contacts.push(contact);
    save_contacts(&state, &session, &r, &contacts).await
}

#[derive(Deserialize)]
pub(super) struct RemoveContactForm {
    form_token: String,
    /// The name shown beside the button: the contact must still be the one at that place.
    name: String,
}

/// `POST /residents/{id}/contacts/{index}/remove`.
pub(super) async fn remove_contact(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path((id, index)): Path<(String, usize)>,
    Form(f): Form<RemoveContactForm>,
) -> Response {
    let (session, r) = match acting(&state, &headers, &id, &f.form_token).await {
        Ok(found) => found,
        Err(p) => return p,
    };
    if r.contacts.get(index).is_none_or(|c| c.name != f.name) {
        return page(
            StatusCode::CONFLICT,
            "削除できません",
            "<p>連絡先が変わっています。対象者のページを開き直してください。</p>",
        );
    }
    let mut contacts = r.contacts.clone();
    contacts.remove(index);
    save_contacts(&state, &session, &r, &contacts).await
}

async fn save_contacts(
    state: &DashboardState,
    session: &Session,
    r: &Resident,
    contacts: &[mimamori_core::domain::Contact],
) -> Response {
    let now = state.clock.now();
    let done = async {
        state.store.set_contacts(&r.id, contacts, now).await?;
        state
            .store
            .record_audit(&NewAuditEntry {
                actor: session.actor(),
                action: "resident.contacts".into(),
                object_kind: "resident".into(),
                object_id: Some(r.id.to_string()),
                detail: serde_json::json!({ "contacts": contacts.len() }),
                at: now,
            })
            .await
    };
    match done.await {
        Ok(()) => see_other(&format!("/residents/{}", r.id)),
        Err(e) => server_error(e),
    }
}
