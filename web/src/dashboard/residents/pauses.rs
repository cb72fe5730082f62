//! Pauses (入院・旅行・ショートステイ): recorded and ended from the resident's page.

use super::super::{DashboardState, not_found, see_other, server_error};
use super::{acting, changed, refused};
use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use mimamori_core::domain::{NewPause, PauseReason};
use mimamori_core::html::form_datetime;
use serde::Deserialize;

#[derive(Deserialize)]
pub(in crate::dashboard) struct PauseForm {
    form_token: String,
    reason: String,
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    note: String,
}

/// `POST /residents/{id}/pauses`.
pub(in crate::dashboard) async fn add_pause(
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
pub(in crate::dashboard) struct EndForm {
    form_token: String,
}

/// `POST /residents/{id}/pauses/{pause}/end`: the pause ends now; one that has not begun yet is
/// withdrawn instead (audited as `pause.cancel`).
pub(in crate::dashboard) async fn end_pause(
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
        let Some(p) = theirs
            .iter()
            .find(|p| p.id == pause && p.ends_at.is_none_or(|end| end > now))
        else {
            return Ok(false);
        };
        let action = if p.starts_at >= now {
            state.store.cancel_pause(pause, now).await?;
            "pause.cancel"
        } else {
            state.store.end_pause(pause, now).await?;
            "pause.end"
        };
        changed(
            &state,
            &session,
            "pause",
            action,
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
