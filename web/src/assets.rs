//! The few files pages load besides themselves, compiled into the binary and served by the app
//! (no CDN, no web fonts, nothing fetched from elsewhere): the one stylesheet, and the small
//! script that keeps the alert list live (pages work without it). Cached for a short while
//! only, so that an upgrade shows at once.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// `web/static/app.css`: every page's styles.
pub const STYLESHEET: &str = include_str!("../static/app.css");

/// `web/static/live.js`: the alert list's live updates (server-sent events).
pub const LIVE_SCRIPT: &str = include_str!("../static/live.js");

const CACHE: &str = "public, max-age=300";

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        STYLESHEET,
    )
}

async fn live_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        LIVE_SCRIPT,
    )
}

/// `/static/app.css` and `/static/live.js`.
pub fn router() -> Router {
    Router::new()
        .route("/static/app.css", get(stylesheet))
        .route("/static/live.js", get(live_script))
}
