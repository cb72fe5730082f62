//! The buttons of an alert's page: 対応します, 解決 (with an outcome) and a note — each through
//! `mimamori_alerts::actions`, with the session's form token.

use super::*;
use crate::language::Lang;
use crate::resolution::{Resolution, note_too_long};

#[derive(Deserialize)]
pub(super) struct ActionForm {
    pub(super) form_token: String,
    pub(super) outcome: Option<String>,
    pub(super) note: Option<String>,
}

pub(super) fn forged() -> Response {
    notice(
        StatusCode::FORBIDDEN,
        "操作を受け付けられません",
        "画面が古くなっているか、ほかのサイトからの送信です。アラートのページを開き直してください。",
    )
}

/// The signed-in responder and the alert, for a form that changes it: with the session's form
/// token, or nothing happens.
pub(super) async fn acting(
    state: &DashboardState,
    headers: &HeaderMap,
    id: i64,
    form_token: &str,
) -> Result<(Session, Alert), Response> {
    let (session, alert) = signed_in_alert(state, headers, id).await?;
    if form_token != session.form_token {
        return Err(forged());
    }
    Ok((session, alert))
}

pub(super) async fn acknowledge(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Response {
    let (session, alert) = match acting(&state, &headers, id, &f.form_token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if let Err(e) = state
        .actions
        .acknowledge(&alert, &session.actor(), Via::Dashboard)
        .await
    {
        return server_error(e);
    }
    see_other(&format!("/alerts/{id}"))
}

pub(super) async fn resolve(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Response {
    let (session, alert) = match acting(&state, &headers, id, &f.form_token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let resolved = match Resolution::read(alert.kind, f.outcome.as_deref(), f.note.as_deref()) {
        Ok(r) => {
            r.apply(&state.actions, &alert, &session.actor(), Via::Dashboard)
                .await
        }
        Err(refused) => Err(refused),
    };
    match resolved {
        Ok(_) => see_other(&format!("/alerts/{id}")),
        Err(refused) => refused.page(Lang::Ja, server_error),
    }
}

/// The form's note (`None` if empty); `Err` if it is too long.
pub(super) fn note_of(f: &ActionForm) -> Result<Option<Note<'_>>, NoteTooLong> {
    Note::parse(f.note.as_deref().unwrap_or(""))
}

pub(super) async fn add_note(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Response {
    let (session, alert) = match acting(&state, &headers, id, &f.form_token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let note = match note_of(&f) {
        Ok(Some(note)) => note,
        Ok(None) => {
            return notice(
                StatusCode::UNPROCESSABLE_ENTITY,
                "メモが空です",
                "書き込んでから送信してください。",
            );
        }
        Err(NoteTooLong) => return note_too_long(Lang::Ja),
    };
    if let Err(e) = state.actions.note(&alert, &session.actor(), note).await {
        return server_error(e);
    }
    see_other(&format!("/alerts/{id}"))
}
