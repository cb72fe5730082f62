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

use contacts::ContactLine;
pub(super) use contacts::{add_contact, remove_contact};
pub(super) use pauses::{add_pause, end_pause};
use policies::Settings;
pub(super) use policies::set_policies;
pub(super) use register::{create, edit, new_page};

use super::{DashboardState, Session, forged, not_found, server_error, signed_in};
use crate::page::{Choice, Notice, Row, page};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mimamori_core::domain::{
    NewAuditEntry, PauseReason, Resident, ResidentId, SilenceHours, Subject,
};
use mimamori_core::html::form_datetime_value;
use mimamori_core::storage::StorageError;

/// The record's lines, as the alert page and the resident's page show them.
pub(super) fn record_rows(r: &Resident) -> Vec<Row> {
    let mut rows = vec![Row::new("氏名", &r.name)];
    if let Some(kana) = &r.name_kana {
        rows.push(Row::new("ふりがな", kana));
    }
    rows.push(Row::new("生まれ年", format!("{}年", r.birth_year.year())));
    rows.push(Row::new("住所", r.address.to_string()));
    rows.push(Row::new("世帯", r.living.label_ja()));
    if let Some(phone) = &r.phone {
        rows.push(Row::new("電話", phone));
    }
    for c in &r.contacts {
        rows.push(Row::new(
            format!("連絡先（{}）", c.relation),
            format!(
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
        rows.push(Row::new("備考", notes));
    }
    rows
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
    let residents = residents
        .iter()
        .map(|r| ListedResident {
            id: r.id.to_string(),
            name: r.name.clone(),
            district: state
                .ctx
                .districts
                .get(&r.district)
                .cloned()
                .unwrap_or_else(|| r.district.to_string()),
            area: r.address.area(),
            paused: holding
                .iter()
                .find(|p| p.resident == r.id)
                .map(|p| p.reason.label_ja()),
        })
        .collect();
    page(
        StatusCode::OK,
        &ResidentList {
            title: "見守り対象者",
            me: session.me("residents"),
            residents,
        },
    )
}

/// `/residents`: the team's residents.
#[derive(Template)]
#[template(path = "residents/list.html")]
struct ResidentList {
    title: &'static str,
    me: super::Me,
    residents: Vec<ListedResident>,
}

/// A line of the residents' list.
struct ListedResident {
    id: String,
    name: String,
    district: String,
    /// The town and 丁目 only.
    area: String,
    /// The reason of the pause holding now.
    paused: Option<&'static str>,
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
    match resident_view(&state, &session, &r).await {
        Ok(view) => page(StatusCode::OK, &view),
        Err(e) => server_error(e),
    }
}

/// `/residents/{id}`: a resident's page.
#[derive(Template)]
#[template(path = "residents/show.html")]
struct ResidentPage<'a> {
    /// The resident's name.
    title: &'a str,
    me: super::Me,
    id: &'a str,
    form_token: &'a str,
    record: Vec<Row>,
    /// The watch-over settings, as sentences.
    policies: Vec<String>,
    contacts: Vec<ContactLine<'a>>,
    /// The settings' form, filled with the current ones.
    settings: Settings,
    silence_min: u32,
    silence_max: u32,
    /// Newest first.
    pauses: Vec<PauseLine>,
    reasons: Vec<Choice>,
    /// The new pause's start: now.
    pause_from: String,
    /// 生活リズム: 28 days × 24 hours.
    heatmap: super::activity::Chart,
    /// The record's form.
    edit: register::EditForm,
    devices: Vec<DeviceLine>,
    /// Alerts about the resident and their devices, newest first.
    alerts: Vec<PastAlert>,
}

/// A device in the resident's home, as last heard from.
struct DeviceLine {
    id: String,
    kind: &'static str,
    label: String,
    /// オンライン / 応答なし / オフライン / 無効, and its badge class.
    online: &'static str,
    online_class: &'static str,
    battery: String,
    last: String,
}

/// A past (or open) alert on the resident's page.
struct PastAlert {
    id: i64,
    kind: &'static str,
    severity: &'static str,
    opened: String,
    state: &'static str,
    state_label: &'static str,
    outcome: String,
}

/// A pause on the resident's page.
struct PauseLine {
    id: i64,
    reason: &'static str,
    starts: String,
    ends: String,
    note: String,
    /// Still to come or holding: the button ending it (or withdrawing it), labelled.
    end_button: Option<&'static str>,
}

async fn resident_view<'a>(
    state: &DashboardState,
    session: &'a Session,
    r: &'a Resident,
) -> Result<ResidentPage<'a>, StorageError> {
    let now = state.clock.now();
    let tz = state.ctx.timezone;
    let at = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&tz)
            .format("%Y年%m月%d日 %H:%M")
            .to_string()
    };
    let pauses = state
        .store
        .list_pauses(&r.id)
        .await?
        .into_iter()
        .rev()
        .map(|p| PauseLine {
            id: p.id,
            reason: p.reason.label_ja(),
            starts: at(p.starts_at),
            ends: match p.ends_at {
                Some(end) if end <= now => at(end),
                Some(end) => format!("{}（予定）", at(end)),
                None => "未定".into(),
            },
            note: p.note.clone().unwrap_or_default(),
            end_button: p
                .ends_at
                .is_none_or(|end| end > now)
                .then_some(if p.starts_at >= now {
                    "取り消す"
                } else {
                    "今日で終了（帰宅した）"
                }),
        })
        .collect();
    let heatmap =
        super::activity::heatmap_28d(state, &r.id, now, super::activity::active_hours(r)).await?;
    let mut devices = Vec::new();
    let mut subjects = vec![Subject::Resident(r.id.clone())];
    for d in state.store.list_devices(Some(&r.id)).await? {
        let seen = state.store.device_seen(Some(&r.id), &d.id).await?;
        let silent_for = seen.last_signal.map(|t| now - t);
        let (online, online_class) = if !d.enabled {
            ("無効", "state-resolved")
        } else if seen.status.as_deref() == Some("offline") {
            ("オフライン", "state-open")
        } else if silent_for
            .is_none_or(|s| s > chrono::Duration::seconds(3 * d.heartbeat_interval_s.max(60)))
        {
            ("応答なし", "state-open")
        } else {
            ("オンライン", "state-acknowledged")
        };
        devices.push(DeviceLine {
            id: d.id.to_string(),
            kind: d.kind.label_ja(),
            label: d.label.clone().unwrap_or_default(),
            online,
            online_class,
            battery: seen
                .battery
                .map(|(level, _)| format!("{level}%"))
                .unwrap_or_else(|| "—".into()),
            last: match seen.last_signal {
                Some(t) => format!("{}（{}）", at(t), super::alert_list::elapsed_ja(now, t)),
                None => "まだありません".into(),
            },
        });
        subjects.push(Subject::Device(d.id.clone()));
    }
    let alerts = state
        .store
        .alerts_about(&subjects, 50)
        .await?
        .into_iter()
        .map(|a| PastAlert {
            id: a.id.0,
            kind: a.kind.label_ja(),
            severity: super::alert_list::severity_class(a.severity),
            opened: at(a.opened_at),
            state: match a.state {
                mimamori_core::domain::AlertState::Open => "state-open",
                mimamori_core::domain::AlertState::Acknowledged => "state-acknowledged",
                mimamori_core::domain::AlertState::Resolved => "state-resolved",
            },
            state_label: a.state.label_ja(),
            outcome: a.outcome.map(|o| o.label_ja()).unwrap_or("").to_string(),
        })
        .collect();
    Ok(ResidentPage {
        edit: register::EditForm::of(state, session, r),
        heatmap,
        devices,
        alerts,
        title: &r.name,
        me: session.me("residents"),
        id: r.id.as_str(),
        form_token: &session.form_token,
        record: record_rows(r),
        policies: r.policies.iter().map(|p| p.label_ja()).collect(),
        contacts: contacts::lines(r),
        settings: Settings::of(r),
        silence_min: SilenceHours::MIN,
        silence_max: SilenceHours::MAX,
        pauses,
        reasons: PauseReason::ALL
            .iter()
            .map(|p| Choice::new(p.as_str(), p.label_ja()))
            .collect(),
        pause_from: form_datetime_value(now, tz),
    })
}

fn refused(message: &str) -> Response {
    page(
        StatusCode::UNPROCESSABLE_ENTITY,
        &Notice::new("登録できません", message).then("前のページに戻って直してください。"),
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
