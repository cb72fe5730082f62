//! The coordinator's triage: an alert no address could route is sent to a district's team, and a
//! partner's concern about an address is linked to the resident it turned out to be about.

use super::*;

#[derive(Deserialize)]
pub(super) struct RouteForm {
    form_token: String,
    district: String,
}

/// The coordinator sends an alert of the triage queue to a district's team: the team the routing
/// table names for its kind there, told as for a new alert.
pub(super) async fn route_to_district(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<RouteForm>,
) -> Response {
    let (session, alert) = match acting(&state, &headers, id, &form.form_token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if !session.triages() {
        return notice(
            StatusCode::FORBIDDEN,
            "振り分けできません",
            "地区への振り分けは、市全体のチームの調整担当（役割「市の調整担当」または「管理者」）が行います。",
        );
    }
    let Some(district) = DistrictId::parse(form.district.trim())
        .ok()
        .filter(|d| state.ctx.districts.contains_key(d))
    else {
        return notice(
            StatusCode::UNPROCESSABLE_ENTITY,
            "振り分けできません",
            "その地区はありません。アラートのページを開き直してください。",
        );
    };
    match state
        .actions
        .route(&alert, &district, &session.actor())
        .await
    {
        Ok(Some(_)) => see_other(&format!("/alerts/{}", alert.id)),
        Ok(None) => page(
            StatusCode::CONFLICT,
            &RouteTaken {
                title: "既に振り分けられています",
                id: alert.id,
            },
        ),
        Err(e) => server_error(e),
    }
}

/// Routing an alert that was routed or resolved meanwhile: a link back to it.
#[derive(Template)]
#[template(path = "dashboard/route_taken.html")]
struct RouteTaken {
    title: &'static str,
    id: AlertId,
}

/// The residents a concern about an address may be about, to link it to one of them.
pub(super) struct LinkChoice {
    /// The town and 丁目 of the address.
    pub(super) area: String,
    pub(super) residents: Vec<Choice>,
}

/// For a partner's concern about an address in the team's district: the residents registered in
/// that town and 丁目, to link the alert to the one it is about (the read of their names audited).
pub(super) async fn link_choice(
    state: &DashboardState,
    session: &Session,
    alert: &Alert,
) -> Result<Option<LinkChoice>, StorageError> {
    if alert.kind != mimamori_core::domain::AlertKind::Concern
        || alert.state == AlertState::Resolved
        || alert.district.is_none()
        || !matches!(alert.subject, Subject::Address(_))
    {
        return Ok(None);
    }
    let Some(address) = alert.detail["address"]
        .as_str()
        .and_then(|a| state.registry.parse_address(a).ok())
    else {
        return Ok(None);
    };
    let found = state
        .store
        .residents_in_area(
            &address.town,
            address.chome,
            &session.actor(),
            state.clock.now(),
        )
        .await?;
    let area = address.area();
    let residents = found
        .iter()
        .map(|(id, name, banchi, building)| {
            Choice::new(
                id.as_str(),
                format!(
                    "{name}（{area}{} {}）",
                    banchi.as_deref().unwrap_or(""),
                    building.as_deref().unwrap_or("")
                ),
            )
        })
        .collect();
    Ok(Some(LinkChoice { area, residents }))
}

#[derive(Deserialize)]
pub(super) struct LinkForm {
    form_token: String,
    resident: String,
}

/// Links a concern about an address to the resident it turned out to be about.
pub(super) async fn link_to_resident(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<LinkForm>,
) -> Response {
    let (session, alert) = match acting(&state, &headers, id, &form.form_token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let refused = |status: StatusCode, text: &str| {
        page(
            status,
            &Notice::new("結びつけられません", text)
                .back(format!("/alerts/{}", alert.id), "アラートのページに戻る"),
        )
    };
    let Ok(resident) = mimamori_core::domain::ResidentId::parse(form.resident.trim()) else {
        return refused(StatusCode::UNPROCESSABLE_ENTITY, "対象者を選んでください。");
    };
    match state.store.resident_district(&resident).await {
        Ok(Some(d)) if alert.district.as_ref() == Some(&d) => {}
        Ok(_) => {
            return refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                "この地区の見守り対象者を選んでください。",
            );
        }
        Err(e) => return server_error(e),
    }
    match state
        .actions
        .link(&alert, &resident, &session.actor())
        .await
    {
        Ok(Some(_)) => see_other(&format!("/alerts/{}", alert.id)),
        Ok(None) => refused(
            StatusCode::CONFLICT,
            "このアラートは既に対象者に結びつけられたか、解決済みです。",
        ),
        Err(StorageError::Conflict(_)) => refused(
            StatusCode::CONFLICT,
            "この方には対応中の協力事業者からの連絡が既にあります。そちらのアラートにメモを残してください。",
        ),
        Err(e) => server_error(e),
    }
}

/// The districts `team` covers, as `<option>`s in the city's own order (the registry's, which
/// follows the Japanese reading), each by its Japanese name (鵠沼地区); `selected` chosen.
pub(super) fn district_options(
    registry: &mimamori_core::registry::Registry,
    team: &Team,
    selected: &str,
) -> Vec<Choice> {
    let mut districts: Vec<&mimamori_core::domain::District> = registry
        .districts
        .iter()
        .filter(|d| team.covers(Some(&d.id)))
        .collect();
    districts.sort_by_key(|d| (d.position, d.reading.clone()));
    districts
        .iter()
        .map(|d| Choice {
            selected: d.id.as_str() == selected,
            ..Choice::new(d.id.as_str(), format!("{}地区", d.name))
        })
        .collect()
}
