//! The web server: `/healthz` for load balancers and monitors, `/metrics` (Prometheus), a status
//! page at `/`, and the routes of [`crate::api`], [`crate::ack_link`], [`crate::dashboard`],
//! [`crate::partners`], [`crate::stream`] and Telegram's webhook (in webhook mode), behind one guard: clients sending
//! too many wrong tokens are refused for a while ([`AuthGuard`]). Every answer — page, API, error,
//! 404 — carries [`SECURITY_HEADERS`]. It is served on an already-bound listener and stops with
//! the shutdown token.

use crate::language::{Frame, Lang};
use askama::Template;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use mimamori_core::domain::District;
use mimamori_core::registry::Registry;
use mimamori_core::storage::Store;
use mimamori_core::throttle::AuthThrottle;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The city registry (districts, towns, default teams).
    pub registry: Arc<Registry>,
    /// Ingestion counters, when a gateway runs in this process.
    pub metrics: Vec<Arc<dyn mimamori_core::metrics::Exposition>>,
    pub clock: Arc<dyn mimamori_core::clock::Clock>,
    /// What responders do to alerts through the API.
    pub actions: mimamori_alerts::actions::Actions,
    /// The route Telegram posts updates to (webhook mode).
    pub telegram_webhook: Option<Router>,
    /// The pages behind email acknowledgement links, when email is on.
    pub ack_pages: Option<crate::ack_link::AckState>,
    /// Responders' sign-in and alert pages.
    pub dashboard: crate::dashboard::DashboardState,
    /// Partners' concerns: the API and the report form.
    pub partners: crate::partners::PartnerWeb,
    /// Failed authentication counted per client (`http.max_auth_failures`).
    pub guard: AuthGuard,
    /// The alert stream's key and messages for integrations.
    pub stream: crate::stream::StreamState,
    /// The demo's one-click sign-in on the status page (`up --demo` only).
    pub demo: Option<crate::demo::DemoSignIn>,
}

/// Refuses a client that has sent too many wrong tokens (429 until its window ends) on the routes
/// that take a token: `POST /login`, `POST /report` and the APIs. Every 401 there counts.
#[derive(Clone)]
pub struct AuthGuard {
    pub throttle: Arc<AuthThrottle>,
    /// The header with the client's address behind a proxy (`http.client_ip_header`); empty:
    /// the connection's peer address.
    pub client_ip_header: String,
}

impl AuthGuard {
    pub fn from_config(http: &mimamori_core::config::HttpConfig) -> Self {
        Self {
            throttle: Arc::new(AuthThrottle::new(
                http.max_auth_failures,
                chrono::Duration::seconds(http.auth_failure_window_seconds as i64),
            )),
            client_ip_header: http.client_ip_header.trim().to_ascii_lowercase(),
        }
    }

    fn client(&self, req: &Request) -> String {
        let forwarded = (!self.client_ip_header.is_empty())
            .then(|| req.headers().get(self.client_ip_header.as_str()))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty());
        forwarded
            .or_else(|| {
                req.extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip().to_string())
            })
            .unwrap_or_else(|| "unknown".into())
    }
}

fn takes_a_token(req: &Request) -> bool {
    let path = req.uri().path();
    let post = req.method() == axum::http::Method::POST;
    (post && (path == "/login" || path == "/report"))
        || (path.starts_with("/api/")
            && path != "/api/v1/openapi.json"
            && path != "/api/v1/alerts/key")
}

async fn guard(State(guard): State<AuthGuard>, req: Request, next: Next) -> Response {
    if !takes_a_token(&req) {
        return next.run(req).await;
    }
    let client = guard.client(&req);
    let now = chrono::Utc::now();
    if let Some(after) = guard.throttle.refused(&client, now) {
        tracing::warn!(
            retry_after = after,
            "Too many wrong tokens from one client: refused."
        );
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, after.to_string())],
            Json(serde_json::json!({
                "error": "誤ったトークンが続いたため、しばらく受け付けません / too many failed attempts, try later",
            })),
        )
            .into_response();
    }
    let response = next.run(req).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        guard.throttle.failed(&client, now);
    }
    response
}

/// The content security policy of every answer: our own resources only — the one stylesheet and
/// the alert list's script ([`crate::assets`]), no inline or foreign script or style; never in a
/// frame (no clickjacking of the buttons that act on alerts); forms post only to us; no `<base>`
/// to redirect relative links.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// What every answer of ours tells the browser, set once for all ([`security_headers`]). No
/// referrer anywhere: acknowledgement links carry tokens, and pages carry alert and resident ids.
pub(crate) const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

/// Puts [`SECURITY_HEADERS`] on `response`, over anything a handler set.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Every route: `/metrics` too, unless it has a listener of its own (`metrics_apart`).
pub fn router(state: AppState, metrics_apart: bool) -> Router {
    let api = crate::api::router(crate::api::ApiState {
        store: state.store.clone(),
        clock: state.clock.clone(),
        actions: state.actions.clone(),
    });
    let webhook = state.telegram_webhook.clone();
    let guard_state = state.guard.clone();
    let ack_pages = state.ack_pages.clone();
    let dashboard = crate::dashboard::router(state.dashboard.clone());
    let partners = crate::partners::router(state.partners.clone());
    let stream = crate::stream::router(state.stream.clone());
    let mut app = Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(health));
    if state.demo.is_some() {
        app = app.route(crate::demo::PATH, any(crate::demo::sign_in));
    }
    if !metrics_apart {
        app = app.route("/metrics", get(metrics));
    }
    let mut app = app
        .with_state(state)
        .merge(api)
        .merge(dashboard)
        .merge(partners)
        .merge(stream)
        .merge(crate::assets::router());
    if let Some(webhook) = webhook {
        app = app.merge(webhook);
    }
    if let Some(pages) = ack_pages {
        app = app.merge(crate::ack_link::router(pages));
    }
    app.layer(axum::middleware::from_fn_with_state(guard_state, guard))
        .layer(axum::middleware::map_response(security_headers))
}

/// `/metrics` alone, for its own listener (`http.metrics_listen`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(axum::middleware::map_response(security_headers))
}

/// Serves `router` until `shutdown` is cancelled, then finishes requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ok", "database": "ok" })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "Health check: database unreachable.");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "unavailable", "database": "unreachable" })),
            )
        }
    }
}

/// Prometheus text exposition: the counters of the components running here (gateway, embedded
/// broker) and the alert path's figures from the store (whichever process runs which part).
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body: String = state.metrics.iter().map(|m| m.render()).collect();
    let now = chrono::Utc::now();
    let health = state
        .store
        .path_health(mimamori_alerts::service::CONSUMER, now)
        .await;
    let gauge = |body: &mut String, name: &str, help: &str, lines: &[(String, f64)]| {
        body.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for (labels, value) in lines {
            body.push_str(&format!("{name}{labels} {value}\n"));
        }
    };
    gauge(
        &mut body,
        "mimamori_store_up",
        "1 when the store answered this scrape.",
        &[(String::new(), f64::from(u8::from(health.is_ok())))],
    );
    match health {
        Ok(h) => {
            if let Some(behind) = h.signals_behind {
                gauge(
                    &mut body,
                    "mimamori_alert_service_signals_behind",
                    "Signals stored after the alert service's saved cursor.",
                    &[(String::new(), behind as f64)],
                );
            }
            gauge(
                &mut body,
                "mimamori_outbox_due",
                "Notifications due and not yet sent.",
                &[(String::new(), h.outbox_due as f64)],
            );
            let waited = h
                .outbox_oldest_due
                .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or(0.0);
            gauge(
                &mut body,
                "mimamori_outbox_oldest_due_seconds",
                "How long the oldest due notification has waited.",
                &[(String::new(), waited)],
            );
            gauge(
                &mut body,
                "mimamori_notifications_failed",
                "Notifications that failed permanently (each flagged to the operators).",
                &[(String::new(), h.notifications_failed as f64)],
            );
            let unresolved: Vec<(String, f64)> = h
                .unresolved
                .iter()
                .map(|(kind, state, n)| {
                    (format!("{{kind=\"{kind}\",state=\"{state}\"}}"), *n as f64)
                })
                .collect();
            gauge(
                &mut body,
                "mimamori_alerts_unresolved",
                "Alerts not resolved, by kind and state.",
                &unresolved,
            );
        }
        Err(e) => tracing::warn!(error = %e, "Metrics: the store did not answer."),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// `/`: that the server runs, where people sign in or report, and the city's districts (no
/// personal data), in the browser's language. While the demo runs, for a browser on the machine
/// itself: the demo's sign-in button, with the sign-in form's pair of tokens against forged
/// posts (so: never cached).
#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage<'a> {
    frame: Frame,
    w: &'static StatusWords,
    /// 「藤沢市の地区（13）」.
    districts_heading: String,
    districts: &'a [District],
    /// The form token of the demo's sign-in button, when it is shown.
    demo_signin: Option<&'a str>,
}

impl<'a> StatusPage<'a> {
    fn new(
        lang: Lang,
        city: &str,
        districts: &'a [District],
        demo_signin: Option<&'a str>,
    ) -> Self {
        let n = districts.len();
        StatusPage {
            frame: lang.frame("/"),
            w: lang.pick(&STATUS_JA, &STATUS_EN),
            districts_heading: lang.pick(
                format!("{city}の地区（{n}）"),
                format!("Districts of {city} ({n})"),
            ),
            districts,
            demo_signin,
        }
    }
}

/// The status page's words in one language.
struct StatusWords {
    running: &'static str,
    sign_in: &'static str,
    report: &'static str,
    /// After a district whose data is not confirmed.
    unconfirmed: &'static str,
    demo_button: &'static str,
    demo_note: &'static str,
}

const STATUS_JA: StatusWords = StatusWords {
    running: "稼働しています。",
    sign_in: "担当者の方（地域包括支援センター・CSW・市）のログイン",
    report: "見守り協定の事業者の方：気づいたことの連絡",
    unconfirmed: "（未確認データを含む）",
    demo_button: "デモにサインイン",
    demo_note: "デモの管理者としてログインします。このボタンは、デモを動かしているこのパソコンのブラウザにだけ表示されます。",
};

const STATUS_EN: StatusWords = StatusWords {
    running: "Running.",
    sign_in: "Sign in for responders (elder-care centres, community social workers, the city)",
    report: "Partners under a watch-over agreement: report what you noticed",
    unconfirmed: " (includes unconfirmed data)",
    demo_button: "Sign in to the demo",
    demo_note: "Signs you in as the demo's admin. This button is shown only to a browser on the computer the demo runs on.",
};

async fn status_page(
    State(state): State<AppState>,
    uri: Uri,
    extensions: Extensions,
    headers: HeaderMap,
) -> Response {
    let demo = state
        .demo
        .as_ref()
        .filter(|d| d.at_the_machine(&extensions, &headers, &uri))
        .map(|_| crate::dashboard::signin_pair(&state.dashboard, &headers));
    let page = crate::page::page(
        StatusCode::OK,
        &StatusPage::new(
            Lang::of(&headers),
            &state.registry.city,
            &state.registry.districts,
            demo.as_ref().map(|(token, _)| token.as_str()),
        ),
    );
    match demo {
        Some((_, cookie)) => ([(header::SET_COOKIE, cookie)], page).into_response(),
        None => page,
    }
}

#[cfg(test)]
mod tests {
    use super::StatusPage;
    use crate::language::Lang;
    use askama::Template;
    use mimamori_core::domain::{District, DistrictId};

    #[test]
    fn the_status_page_names_the_districts_escaped_and_which_are_unconfirmed() {
        let district = |id: &str, name: &str, confirmed| District {
            id: DistrictId::parse(id).unwrap(),
            name: name.into(),
            reading: None,
            confirmed,
            position: 0,
        };
        let districts = [
            district("kugenuma", "鵠沼", true),
            district("tsujido", "辻堂<b>", false),
        ];
        let html = StatusPage::new(Lang::Ja, "藤沢市", &districts, None)
            .render()
            .unwrap();
        assert!(html.contains("<h2>藤沢市の地区（2）</h2><ul><li>鵠沼</li><li>辻堂&lt;b&gt;（未確認データを含む）</li></ul>"), "{html}");
        assert!(html.contains("<a href=\"/report\">"));
        assert!(html.contains("<html lang=\"ja\">"));
        assert!(html.contains("href=\"/lang?to=en&amp;next=%2F\""), "{html}");
        assert!(!html.contains("デモにサインイン"), "no demo, no button");
        let html = StatusPage::new(Lang::En, "藤沢市", &districts, Some("<t>"))
            .render()
            .unwrap();
        assert!(html.contains("<form method=\"post\" action=\"/demo/signin\"><input type=\"hidden\" name=\"signin_token\" value=\"&lt;t&gt;\">"), "{html}");
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("<h2>Districts of 藤沢市 (2)</h2><ul><li>鵠沼</li><li>辻堂&lt;b&gt; (includes unconfirmed data)</li></ul>"), "{html}");
    }
}
