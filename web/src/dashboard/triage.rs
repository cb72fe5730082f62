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
    if session.team.district.is_some() {
        return page(
            StatusCode::FORBIDDEN,
            "振り分けできません",
            "<p>地区への振り分けは市全体のチーム（振り分け担当）が行います。</p>",
        );
    }
    let Some(district) = DistrictId::parse(form.district.trim())
        .ok()
        .filter(|d| state.ctx.districts.contains_key(d))
    else {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "振り分けできません",
            "<p>その地区はありません。アラートのページを開き直してください。</p>",
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
            "既に振り分けられています",
            &format!(
                "<p>このアラートは既に地区に振り分けられたか、解決済みです。<a href=\"/alerts/{}\">アラートのページ</a>で確認してください。</p>",
                alert.id
            ),
        ),
        Err(e) => server_error(e),
    }
}

/// For a partner's concern about an address in the team's district: the residents registered in
/// that town and 丁目, to link the alert to the one it is about (the read of their names audited).
pub(super) async fn link_form(
    state: &DashboardState,
    session: &Session,
    alert: &Alert,
    form_token: &str,
) -> Result<String, StorageError> {
    if alert.kind != mimamori_core::domain::AlertKind::Concern
        || alert.state == AlertState::Resolved
        || alert.district.is_none()
        || !matches!(alert.subject, Subject::Address(_))
    {
        return Ok(String::new());
    }
    let Some(address) = alert.detail["address"]
        .as_str()
        .and_then(|a| state.registry.parse_address(a).ok())
    else {
        return Ok(String::new());
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
    let options: String = found
        .iter()
        .map(|(id, name, banchi, building)| {
            format!(
                "<option value=\"{}\">{}（{}{} {}）</option>",
                escape(id.as_str()),
                escape(name),
                escape(&address.area()),
                escape(banchi.as_deref().unwrap_or("")),
                escape(building.as_deref().unwrap_or(""))
            )
        })
        .collect();
    Ok(if found.is_empty() {
        format!(
            "<h2 style=\"font-size:1.1em\">見守り対象者に結びつける</h2><p>{}に登録された見守り対象者はいません。</p>",
            escape(&address.area())
        )
    } else {
        format!(
            "<h2 style=\"font-size:1.1em\">見守り対象者に結びつける</h2>\
             <p>訪問などで、この連絡が登録済みの方のことだと分かったら選んでください。対象者の情報がこのページに表示されます。</p>\
             <form method=\"post\" action=\"/alerts/{id}/link\"><input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
             <p><select name=\"resident\" required>{options}</select></p>\
             <p><button type=\"submit\">この方の連絡として記録</button></p></form>",
            id = alert.id
        )
    })
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
            "結びつけられません",
            &format!(
                "<p>{}</p><p><a href=\"/alerts/{}\">アラートのページに戻る</a></p>",
                escape(text),
                alert.id
            ),
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

/// `<option>`s of the districts `team` covers, in id order, `selected` chosen.
pub(super) fn district_options(ctx: &Context, team: &Team, selected: &str) -> String {
    let mut districts: Vec<(&DistrictId, &String)> = ctx
        .districts
        .iter()
        .filter(|(id, _)| team.covers(Some(id)))
        .collect();
    districts.sort();
    districts
        .iter()
        .map(|(id, name)| {
            format!(
                "<option value=\"{}\"{}>{}地区</option>",
                escape(id.as_str()),
                if id.as_str() == selected {
                    " selected"
                } else {
                    ""
                },
                escape(name)
            )
        })
        .collect()
}
