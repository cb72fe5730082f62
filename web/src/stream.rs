//! The alert stream for integrations over HTTP: the platform's public key, and the messages by
//! sequence number — what a consumer reads when it (re)connects or sees a gap on MQTT.
//!
//! - `GET /api/v1/alerts/key`: the Ed25519 public key the messages are signed with (no
//!   authentication: nothing secret in it).
//! - `GET /api/v1/alerts/events?after=SEQ[&limit=N]` with `Authorization: Bearer mmi_…` (an
//!   integration's secret, `mimamori admin integration add`): the messages after `SEQ`, oldest
//!   first, each exactly as signed and published on MQTT, and where to continue (`next_after`).
//!   An integration of one district sees that district's messages only.
//!
//! Any other token (a responder's, a partner's) or a disabled integration's is refused with 401;
//! a bad `after` or `limit` with 400, in Japanese and English.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mimamori_core::alert_stream::PublicKey;
use mimamori_core::domain::Integration;
use mimamori_core::storage::{StorageError, Store};
use serde::Deserialize;

/// A page holds at most this many messages.
pub const MAX_LIMIT: i64 = 1000;

/// A page holds this many messages unless the reader asks for fewer (or more, up to [`MAX_LIMIT`]).
pub const DEFAULT_LIMIT: i64 = 100;

/// What the stream's routes share.
#[derive(Clone)]
pub struct StreamState {
    pub store: Store,
    /// The platform's key, as published.
    pub key: PublicKey,
}

/// The stream's routes, to merge into the application's router.
pub fn router(state: StreamState) -> Router {
    Router::new()
        .route("/api/v1/alerts/key", get(key))
        .route("/api/v1/alerts/events", get(events))
        .with_state(state)
}

/// Why a request for the stream was refused.
#[derive(Debug)]
enum StreamError {
    Unauthorized,
    BadRequest(&'static str),
    Internal,
}

impl IntoResponse for StreamError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            StreamError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "連携用トークンが必要です / an integration token is required",
            ),
            StreamError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            StreamError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "内部エラー / internal error",
            ),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

impl From<StorageError> for StreamError {
    fn from(e: StorageError) -> Self {
        tracing::error!(error = %e, "Alert stream: storage error.");
        StreamError::Internal
    }
}

async fn key(State(state): State<StreamState>) -> Json<PublicKey> {
    Json(state.key)
}

/// The enabled integration whose secret is the Bearer token.
async fn integration(state: &StreamState, headers: &HeaderMap) -> Result<Integration, StreamError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(StreamError::Unauthorized)?;
    match state.store.integration_by_token(token).await? {
        Some(i) if i.enabled => Ok(i),
        _ => Err(StreamError::Unauthorized),
    }
}

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// A whole number in range, or the message to answer with.
fn number(
    value: Option<&str>,
    default: i64,
    min: i64,
    message: &'static str,
) -> Result<i64, StreamError> {
    match value {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= min)
            .ok_or(StreamError::BadRequest(message)),
    }
}

async fn events(
    State(state): State<StreamState>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Result<Response, StreamError> {
    let reader = integration(&state, &headers).await?;
    let after = number(
        q.after.as_deref(),
        0,
        0,
        "after は 0 以上の整数です / after must be a whole number, 0 or more",
    )?;
    let limit = number(
        q.limit.as_deref(),
        DEFAULT_LIMIT,
        1,
        "limit は 1 以上の整数です / limit must be a whole number, 1 or more",
    )?
    .min(MAX_LIMIT);
    let scope = reader.district.as_ref().map(Some);
    let page = state.store.alert_stream_page(after, scope, limit).await?;
    tracing::debug!(integration = %reader.id, after, returned = page.entries.len(), "Alert stream read.");
    let events: Vec<serde_json::Value> = page
        .entries
        .iter()
        .map(|e| serde_json::json!({ "seq": e.seq, "topic": e.topic, "message": e.message }))
        .collect();
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({
            "events": events,
            "next_after": page.next_after,
            "head": page.head,
            "more": page.more,
        })),
    )
        .into_response())
}
