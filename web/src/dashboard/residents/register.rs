//! Registering a new resident of the team's district (`/residents/new`).

use super::super::{DashboardState, Session, page, see_other, server_error};
use super::super::{district_options, forged};
use super::signed_in;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mimamori_core::domain::{ResidentId, SilenceHours, Subject};
use mimamori_core::html::{TextProblem, error_banner, escape, form_text};
use mimamori_core::storage::StorageError;
use serde::Deserialize;

/// What a registration form holds, to show it again after an error.
#[derive(Deserialize, Default)]
pub(in crate::dashboard) struct NewResidentForm {
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
    let district_options = district_options(&state.ctx, &session.team, &f.district);
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
         <p><label>反応なしで通知するまでの時間（07:00–22:00に数える。空欄なら設定しない）<br><input type=\"number\" name=\"inactivity_hours\" value=\"{hours}\" min=\"{silence_min}\" max=\"{silence_max}\">時間</label></p>\
         <p><button type=\"submit\">登録する</button></p></form>\
         <p style=\"color:#555\">機器の登録は管理者が行います（mimamori admin device add）。</p>",
        error = error.map(error_banner).unwrap_or_default(),
        token = escape(&session.form_token),
        name = v(&f.name),
        kana = v(&f.kana),
        birth = v(&f.birth_year),
        address = v(&f.address),
        phone = v(&f.phone),
        notes = v(&f.notes),
        hours = v(hours),
        silence_min = SilenceHours::MIN,
        silence_max = SilenceHours::MAX,
    )
}

const NEW_TITLE: &str = "見守り対象者の登録";

/// `GET /residents/new`.
pub(in crate::dashboard) async fn new_page(
    State(state): State<DashboardState>,
    headers: HeaderMap,
) -> Response {
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
    use mimamori_core::domain::{BirthYear, CheckinPolicy, NewResident};
    let now = state.clock.now();
    let name = NewResident::check_name(&f.name)
        .map_err(|_| "氏名を入力してください（100文字まで）。".to_string())?;
    let birth_year = BirthYear::parse_text(&f.birth_year, now)
        .map_err(|_| "生まれ年を西暦で入力してください（例：1942）。".to_string())?;
    let address = state
        .registry
        .parse_address(&f.address)
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
    let text = |s: &str, max: usize, what: &str| {
        form_text(s, max, what == "備考").map_err(|problem| match problem {
            TextProblem::TooLong => format!("{what}は{max}文字までです。"),
            TextProblem::ControlCharacter => format!("{what}に使えない文字があります。"),
        })
    };
    let policies = match f.inactivity_hours.trim() {
        "" => Vec::new(),
        h => {
            let silence = h
                .parse()
                .ok()
                .and_then(|h| SilenceHours::parse(h).ok())
                .ok_or_else(|| {
                    format!(
                        "反応なしの時間は{}〜{}時間で入力してください。",
                        SilenceHours::MIN,
                        SilenceHours::MAX
                    )
                })?;
            vec![CheckinPolicy::inactivity(
                silence,
                chrono::NaiveTime::from_hms_opt(7, 0, 0).expect("a time"),
                chrono::NaiveTime::from_hms_opt(22, 0, 0).expect("a time"),
            )]
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
pub(in crate::dashboard) async fn create(
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
