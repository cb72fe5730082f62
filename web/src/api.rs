//! The HTTP API for alerts: list, get with timeline, acknowledge, resolve, add a note.
//!
//! Authentication: `Authorization: Bearer <token>` with a responder's token
//! (`mimamori admin responder token RESPONDER`). Scope: a responder of a district team sees and
//! handles that district's alerts; a responder of a city-wide team (coordinator, operators) sees
//! every district and the triage queue. Out of scope is answered like missing: 404.
//! Described by `GET /api/v1/openapi.json`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mimamori_alerts::actions::{Actions, Note, Via};
use mimamori_core::clock::Clock;
use mimamori_core::domain::{
    Actor, Alert, AlertEvent, AlertId, AlertKind, AlertState, DistrictId, NewAuditEntry, Outcome,
    Responder, Team,
};
use mimamori_core::secret::token_hash;
use mimamori_core::storage::{AckResult, AlertFilter, ResolveResult, StorageError, Store};
use serde::Deserialize;
use std::sync::Arc;

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Acknowledge, resolve, note: the same actions as every other surface.
    pub actions: Actions,
}

/// The API routes, to merge into the application's router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/alerts", get(list))
        .route("/api/v1/alerts/{id}", get(show))
        .route("/api/v1/alerts/{id}/ack", post(ack))
        .route("/api/v1/alerts/{id}/resolve", post(resolve))
        .route("/api/v1/alerts/{id}/notes", post(note))
        .with_state(state)
}

/// An API error: a status and a message in Japanese and English, never internals.
#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    NotFound,
    Invalid(String),
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "認証が必要です / authentication required".to_string(),
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                "見つかりません / not found".to_string(),
            ),
            ApiError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "内部エラー / internal error".to_string(),
            ),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { .. } => ApiError::NotFound,
            other => {
                tracing::error!(error = %other, "API storage error.");
                ApiError::Internal
            }
        }
    }
}

/// The authenticated responder and what they may see.
struct Caller {
    responder: Responder,
    team: Team,
}

impl Caller {
    fn actor(&self) -> Actor {
        Actor::responder(&self.responder.id)
    }

    fn sees(&self, alert: &Alert) -> bool {
        self.team.covers(alert.district.as_ref())
    }
}

async fn caller(state: &ApiState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let (responder, team): (Responder, Team) = state
        .store
        .responder_by_token(&token_hash(token.trim()))
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(Caller { responder, team })
}

async fn visible(state: &ApiState, caller: &Caller, id: i64) -> Result<Alert, ApiError> {
    let alert = state.store.get_alert(AlertId(id)).await?;
    if caller.sees(&alert) {
        Ok(alert)
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    kind: Option<String>,
    district: Option<String>,
    triage: Option<bool>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let parse_err = |e: mimamori_core::domain::DomainError| ApiError::Invalid(e.to_string());
    let asked = q
        .district
        .map(DistrictId::parse)
        .transpose()
        .map_err(parse_err)?;
    let district = match (&caller.team.district, asked) {
        (Some(own), Some(asked)) if *own != asked => return Ok(Json(Vec::new())),
        (Some(own), _) => Some(own.clone()),
        (None, asked) => asked,
    };
    let filter = AlertFilter {
        district,
        triage_only: q.triage.unwrap_or(false) && caller.team.district.is_none(),
        state: q
            .state
            .map(|s| s.parse::<AlertState>())
            .transpose()
            .map_err(parse_err)?,
        kind: q
            .kind
            .map(|k| k.parse::<AlertKind>())
            .transpose()
            .map_err(parse_err)?,
        limit: q.limit.unwrap_or(100).clamp(1, 500),
    };
    let alerts = state.store.list_alerts(&filter).await?;
    Ok(Json(alerts.iter().map(listed).collect()))
}

/// An alert as a list shows it: a partner's concern without its place and words (the alert itself,
/// `GET /api/v1/alerts/{id}`, has them, audited).
fn listed(alert: &Alert) -> serde_json::Value {
    let mut v = serde_json::to_value(alert).unwrap_or_default();
    v["subject"] = serde_json::json!(alert.subject.public_key());
    if let Some(detail) = v.get_mut("detail").and_then(|d| d.as_object_mut()) {
        for k in mimamori_alerts::CONCERN_PERSONAL {
            detail.remove(k);
        }
    }
    v
}

/// Records that `actor` read partners' reports behind an alert (its place and their words), when
/// its timeline holds any.
pub(crate) async fn audit_concern_view(
    store: &Store,
    actor: &Actor,
    alert: AlertId,
    timeline: &[AlertEvent],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool, StorageError> {
    if !timeline.iter().any(|e| e.detail["rule"] == "concern") {
        return Ok(false);
    }
    store
        .record_audit(&NewAuditEntry {
            actor: actor.clone(),
            action: "concern.view".into(),
            object_kind: "alert".into(),
            object_id: Some(alert.to_string()),
            detail: serde_json::json!({}),
            at: now,
        })
        .await?;
    Ok(true)
}

async fn show(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let alert = visible(&state, &caller, id).await?;
    let timeline = state.store.alert_timeline(alert.id).await?;
    audit_concern_view(
        &state.store,
        &caller.actor(),
        alert.id,
        &timeline,
        state.clock.now(),
    )
    .await?;
    Ok(Json(
        serde_json::json!({ "alert": alert, "timeline": timeline }),
    ))
}

async fn ack(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers).await?;
    let alert = visible(&state, &caller, id).await?;
    match state.actions.acknowledge(&alert, &caller.actor(), Via::Api).await? {
        AckResult::Acknowledged(a) => Ok(Json(a).into_response()),
        AckResult::AlreadyAcknowledged(a) | AckResult::AlreadyResolved(a) => Ok((StatusCode::CONFLICT, Json(serde_json::json!({
            "error": format!("既に対応済みです（{}） / already {}", a.acknowledged_by.clone().unwrap_or_default(), a.state),
            "alert": a,
        })))
        .into_response()),
    }
}

#[derive(Deserialize)]
struct ResolveBody {
    outcome: String,
    note: Option<String>,
}

async fn resolve(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(body): Json<ResolveBody>,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers).await?;
    let alert = visible(&state, &caller, id).await?;
    let outcome: Outcome = body
        .outcome
        .parse()
        .map_err(|e: mimamori_core::domain::DomainError| ApiError::Invalid(e.to_string()))?;
    let note = Note::parse(body.note.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    match state
        .actions
        .resolve(&alert, &caller.actor(), outcome, note, Via::Api)
        .await?
    {
        ResolveResult::Resolved(a) => Ok(Json(a).into_response()),
        ResolveResult::AlreadyResolved(a) => Ok((
            StatusCode::CONFLICT,
            Json(serde_json::json!({ "error": "既に解決済みです / already resolved", "alert": a })),
        )
            .into_response()),
        ResolveResult::OutcomeNotAllowed(a) => Err(ApiError::Invalid(format!(
            "この種別のアラートには使えない結果です（{}のいずれか） / outcome not allowed for a {} alert",
            a.kind.outcomes_ja(),
            a.kind
        ))),
    }
}

#[derive(Deserialize)]
struct NoteBody {
    text: String,
}

async fn note(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Json(body): Json<NoteBody>,
) -> Result<StatusCode, ApiError> {
    let caller = caller(&state, &headers).await?;
    let alert = visible(&state, &caller, id).await?;
    let Ok(Some(note)) = Note::parse(&body.text) else {
        return Err(ApiError::Invalid(
            "メモは1〜4000文字です / a note has 1–4000 characters".into(),
        ));
    };
    state.actions.note(&alert, &caller.actor(), note).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");
