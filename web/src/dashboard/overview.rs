//! How a district is doing (`/overview`, a city-wide team may pick a district with
//! `?district=`): the residents with an open alert, those nobody can watch right now (every
//! activity sensor silent: an open 見守り不能 alert), devices offline or low on battery, and pauses
//! (hospital stays…) ending within a week, so that a care worker knows whom to call. Names are
//! shown to the team that may see them: one audited view (`resident.names`), as on the alert
//! list. Another district is answered as missing (404).

use super::alert_list::{elapsed_ja, severity_class};
use super::{DashboardState, not_found, server_error, signed_in};
use crate::page::{Choice, notice, page};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mimamori_core::domain::{
    Alert, AlertKind, AlertState, DeviceId, DistrictId, ResidentId, Subject,
};
use mimamori_core::storage::{AlertFilter, StorageError};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
pub(super) struct OverviewQuery {
    #[serde(default)]
    district: String,
}

/// A resident and what is open about them.
struct Person {
    id: String,
    name: String,
    /// The open alerts: kind, severity class, link, elapsed.
    alerts: Vec<(i64, &'static str, &'static str, String)>,
}

/// A device with an open device alert.
struct DeviceTrouble {
    alert: i64,
    device: String,
    what: &'static str,
    home: String,
    elapsed: String,
}

/// A pause ending soon.
struct PauseEnding {
    resident: String,
    name: String,
    reason: &'static str,
    ends: String,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    title: String,
    me: super::Me,
    districts: Option<Vec<Choice>>,
    with_alerts: Vec<Person>,
    unmonitored: Vec<Person>,
    devices: Vec<DeviceTrouble>,
    pauses: Vec<PauseEnding>,
}

/// `GET /overview`.
pub(super) async fn overview(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Query(query): Query<OverviewQuery>,
) -> Response {
    let session = match signed_in(&state, &headers, "/overview").await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let district = match query.district.as_str() {
        "" => session.team.district.clone(),
        d => match DistrictId::parse(d) {
            Ok(d) if session.team.covers(Some(&d)) => Some(d),
            Ok(_) => return not_found(),
            Err(_) => {
                return notice(
                    StatusCode::BAD_REQUEST,
                    "条件が正しくありません",
                    "地区を読み取れませんでした。メニューから開き直してください。",
                );
            }
        },
    };
    match build(&state, &session, district).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => server_error(e),
    }
}

async fn build(
    state: &DashboardState,
    session: &super::Session,
    district: Option<DistrictId>,
) -> Result<OverviewPage, StorageError> {
    let now = state.clock.now();
    let tz = state.ctx.timezone;
    let mut open: Vec<Alert> = Vec::new();
    for s in [AlertState::Open, AlertState::Acknowledged] {
        open.extend(
            state
                .store
                .list_alerts(&AlertFilter {
                    district: district.clone(),
                    state: Some(s),
                    limit: 1000,
                    ..Default::default()
                })
                .await?,
        );
    }
    // A city-wide team looking at the whole city: the triage queue has no resident yet.
    open.retain(|a| a.district.is_some());
    let devices: Vec<DeviceId> = open
        .iter()
        .filter_map(|a| match &a.subject {
            Subject::Device(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    let homes = state.store.device_homes(&devices).await?;
    let about = |a: &Alert| match &a.subject {
        Subject::Resident(r) => Some(r.clone()),
        Subject::Device(d) => homes.get(d).cloned(),
        _ => None,
    };
    let ending_by = now + chrono::Duration::days(7);
    let pauses: Vec<_> = state
        .store
        .pauses_holding(district.as_ref(), now)
        .await?
        .into_iter()
        .filter(|p| p.ends_at.is_some_and(|end| end <= ending_by))
        .collect();
    let mut ids: Vec<ResidentId> = open
        .iter()
        .filter_map(&about)
        .chain(pauses.iter().map(|p| p.resident.clone()))
        .collect();
    ids.sort();
    ids.dedup();
    let names = state
        .store
        .resident_names(&ids, &session.actor(), now)
        .await?;
    let name_of = |r: &ResidentId| names.get(r).cloned().unwrap_or_else(|| r.to_string());

    let mut people: BTreeMap<ResidentId, Person> = BTreeMap::new();
    let mut unmonitored: BTreeMap<ResidentId, Person> = BTreeMap::new();
    let mut troubles = Vec::new();
    for a in &open {
        let line = (
            a.id.0,
            a.kind.label_ja(),
            severity_class(a.severity),
            elapsed_ja(now, a.opened_at),
        );
        match a.kind {
            AlertKind::DeviceOffline | AlertKind::BatteryLow => {
                if let Subject::Device(d) = &a.subject {
                    troubles.push(DeviceTrouble {
                        alert: a.id.0,
                        device: d.to_string(),
                        what: if a.kind == AlertKind::BatteryLow {
                            "電池残量低下"
                        } else {
                            "通信途絶"
                        },
                        home: homes
                            .get(d)
                            .map(|r| format!("{}さん宅", name_of(r)))
                            .unwrap_or_else(|| "設置先なし".into()),
                        elapsed: elapsed_ja(now, a.opened_at),
                    });
                }
            }
            _ => {
                let Some(r) = about(a) else { continue };
                let target = if a.kind == AlertKind::Unmonitored {
                    &mut unmonitored
                } else {
                    &mut people
                };
                target
                    .entry(r.clone())
                    .or_insert_with(|| Person {
                        id: r.to_string(),
                        name: name_of(&r),
                        alerts: Vec::new(),
                    })
                    .alerts
                    .push(line);
            }
        }
    }
    let pauses = pauses
        .iter()
        .map(|p| PauseEnding {
            resident: p.resident.to_string(),
            name: name_of(&p.resident),
            reason: p.reason.label_ja(),
            ends: p
                .ends_at
                .map(|t| t.with_timezone(&tz).format("%m月%d日 %H:%M").to_string())
                .unwrap_or_default(),
        })
        .collect();
    let district_name = district
        .as_ref()
        .and_then(|d| state.ctx.districts.get(d))
        .map(|n| format!("{n}地区"))
        .unwrap_or_else(|| "市全体".into());
    let districts = session.team.district.is_none().then(|| {
        let selected = district.as_ref().map(DistrictId::as_str).unwrap_or("");
        let mut all = vec![Choice {
            selected: selected.is_empty(),
            ..Choice::new("", "市全体")
        }];
        all.extend(super::triage::district_options(
            &state.registry,
            &session.team,
            selected,
        ));
        all
    });
    Ok(OverviewPage {
        title: format!("地区の状況（{district_name}）"),
        me: session.me("overview"),
        districts,
        with_alerts: people.into_values().collect(),
        unmonitored: unmonitored.into_values().collect(),
        devices: troubles,
        pauses,
    })
}
