//! Registering a new resident of the team's district (`/residents/new`).

use super::super::{DashboardState, Session, see_other, server_error};
use super::super::{district_options, forged};
use super::signed_in;
use crate::page::{Choice, page};
use askama::Template;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mimamori_core::domain::{ResidentId, SilenceHours, Subject};
use mimamori_core::html::{TextProblem, form_text};
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

/// The registration form, empty or as filled, with what to fix.
#[derive(Template)]
#[template(path = "residents/new.html")]
struct NewResidentPage<'a> {
    title: &'static str,
    me: crate::dashboard::Me,
    error: Option<&'a str>,
    form_token: &'a str,
    f: &'a NewResidentForm,
    districts: Vec<Choice>,
    living: Vec<Choice>,
    /// Hours of silence: 12 on an empty form, else as typed.
    hours: &'a str,
    silence_min: u32,
    silence_max: u32,
}

fn new_form(
    status: StatusCode,
    state: &DashboardState,
    session: &Session,
    f: &NewResidentForm,
    error: Option<&str>,
) -> Response {
    let living = mimamori_core::domain::LivingSituation::ALL
        .iter()
        .map(|l| Choice {
            selected: f.living == l.as_str(),
            ..Choice::new(l.as_str(), l.label_ja())
        })
        .collect();
    let hours = if f.form_token.is_empty() && f.inactivity_hours.is_empty() {
        "12"
    } else {
        f.inactivity_hours.as_str()
    };
    page(
        status,
        &NewResidentPage {
            title: NEW_TITLE,
            me: session.me("residents"),
            error,
            form_token: &session.form_token,
            f,
            districts: district_options(&state.registry, &session.team, &f.district),
            living,
            hours,
            silence_min: SilenceHours::MIN,
            silence_max: SilenceHours::MAX,
        },
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
    new_form(
        StatusCode::OK,
        &state,
        &session,
        &NewResidentForm::default(),
        None,
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
    // No control characters in a name or an address (a form, unlike the CSV import, has no
    // reason to send them).
    for (value, what) in [(&f.name, "氏名"), (&f.address, "住所")] {
        if form_text(value, 200, false) == Err(TextProblem::ControlCharacter) {
            return Err(format!("{what}に使えない文字があります。"));
        }
    }
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
            return new_form(
                StatusCode::UNPROCESSABLE_ENTITY,
                &state,
                &session,
                &f,
                Some(&message),
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

/// `POST /residents/{id}/edit`: changes the record — a new address is routed to its district
/// again (a district's team keeps residents of its own district only; a city-wide team may move
/// anyone) — audited as `resident.edit`, and tells the running alert service.
pub(in crate::dashboard) async fn edit(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(mut f): Form<NewResidentForm>,
) -> Response {
    let (session, current) = match super::acting(&state, &headers, &id, &f.form_token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    // The watch-over settings have a form of their own.
    f.inactivity_hours.clear();
    let changed = match resident_of(&state, &session, &f) {
        Ok(r) => mimamori_core::domain::NewResident {
            id: current.id.clone(),
            contacts: current.contacts.clone(),
            policies: current.policies.clone(),
            ..r
        },
        Err(message) => return super::refused(&message),
    };
    let now = state.clock.now();
    let done = async {
        let r = state
            .store
            .update_resident(&changed, &session.actor(), now)
            .await?;
        state
            .store
            .record_change(&Subject::Resident(r.id.clone()), "resident", now)
            .await?;
        Ok::<_, StorageError>(r)
    };
    match done.await {
        Ok(r) => {
            tracing::info!(resident = %r.id, district = %r.district, "Resident changed on the dashboard.");
            see_other(&format!("/residents/{}", r.id))
        }
        Err(e) => server_error(e),
    }
}

/// The record's form on the resident's page, filled with the record.
pub(in crate::dashboard) struct EditForm {
    pub(in crate::dashboard) name: String,
    pub(in crate::dashboard) kana: String,
    pub(in crate::dashboard) birth_year: String,
    pub(in crate::dashboard) address: String,
    pub(in crate::dashboard) districts: Vec<Choice>,
    pub(in crate::dashboard) living: Vec<Choice>,
    pub(in crate::dashboard) phone: String,
    pub(in crate::dashboard) notes: String,
}

impl EditForm {
    pub(in crate::dashboard) fn of(
        state: &DashboardState,
        session: &Session,
        r: &mimamori_core::domain::Resident,
    ) -> Self {
        EditForm {
            name: r.name.clone(),
            kana: r.name_kana.clone().unwrap_or_default(),
            birth_year: r.birth_year.year().to_string(),
            address: r.address.to_string(),
            districts: district_options(&state.registry, &session.team, ""),
            living: mimamori_core::domain::LivingSituation::ALL
                .iter()
                .map(|l| Choice {
                    selected: *l == r.living,
                    ..Choice::new(l.as_str(), l.label_ja())
                })
                .collect(),
            phone: r.phone.clone().unwrap_or_default(),
            notes: r.notes.clone().unwrap_or_default(),
        }
    }
}
