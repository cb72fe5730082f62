//! # mimamori-web
//!
//! Everything a person's or a partner's browser (or script) touches, on one HTTP server:
//!
//! - [`dashboard`]: responders sign in with their token and work on their district's alerts and
//!   residents (sessions, form tokens against forged posts, every view of a resident audited);
//! - [`api`]: the alerts API for responders' tools (`/api/v1/alerts…`, Bearer token);
//! - [`stream`]: the alert stream for integrations — the platform's public key
//!   (`/api/v1/alerts/key`) and the signed messages by sequence number
//!   (`/api/v1/alerts/events`, an integration's Bearer token);
//! - [`ack_link`]: the pages behind the single-use acknowledgement links in emails;
//! - [`partners`]: partners' concerns — the clerk's report form (`/report`) and
//!   `POST /api/v1/concerns`;
//! - the server itself: health, metrics, the status page (with the demo's one-click sign-in for
//!   the machine itself, `demo`), the wrong-token guard, and the one stylesheet and script the
//!   pages load (`assets`, served by the app, no CDN).
//!
//! Every page is a template of `web/templates/` (askama, checked at compile time, every value
//! escaped) around the shared layout `base.html`, rendered from a struct of what it shows: see
//! `page`.
//!
//! Its face is [`build`] → [`Web`] → [`Web::serve`]. What people do to alerts goes through
//! `mimamori_alerts::actions`, the one place that writes a change with its announcement.

pub mod ack_link;
pub mod api;
mod assets;
pub mod dashboard;
mod demo;
mod language;
mod page;
pub mod partners;
mod resolution;
mod server;
pub mod stream;

pub use server::AuthGuard;

use axum::Router;
use mimamori_core::clock::Clock;
use mimamori_core::config::Config;
use mimamori_core::registry::Registry;
use mimamori_core::storage::{StorageError, Store};
use mimamori_gateway::concern::ConcernIntake;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// What the server serves from the components running beside it in this process.
#[derive(Default)]
pub struct Parts {
    /// The counters of the components running here (gateway, embedded broker), for `/metrics`.
    pub metrics: Vec<Arc<dyn mimamori_core::metrics::Exposition>>,
    /// The route Telegram posts updates to (the alert service's bot, in webhook mode).
    pub telegram_webhook: Option<Router>,
    /// Wakes the rules at once when a partner's concern is stored here.
    pub rules_waker: Option<Arc<Notify>>,
    /// The demo admin's access token, set by `mimamori up --demo` only: the status page then
    /// offers the person at the machine a one-click sign-in (`demo`). Never shown in a page.
    pub demo_token: Option<String>,
}

/// The web server could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A setting that cannot work (the key is named).
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The assembled web server.
#[derive(Clone)]
pub struct Web {
    state: server::AppState,
    /// `/metrics` is served on a listener of its own (`http.metrics_listen`).
    metrics_apart: bool,
}

/// The web server of `config` over `store`.
pub async fn build(
    config: &Config,
    store: Store,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    parts: Parts,
) -> Result<Web, BuildError> {
    let ctx = mimamori_alerts::message_context(config, &registry).map_err(BuildError::Config)?;
    let actions =
        mimamori_alerts::actions_for(config, &store, clock.clone()).map_err(BuildError::Config)?;
    let ack_pages = mimamori_alerts::link_signer(config, &store)
        .await?
        .map(|signer| ack_link::AckState {
            store: store.clone(),
            signer,
            ctx: ctx.clone(),
            actions: actions.clone(),
            clock: clock.clone(),
        });
    let stream_key = mimamori_core::alert_stream::StreamSigner::from_store(&store, clock.now())
        .await?
        .public_key()
        .clone();
    let store_for_stream = store.clone();
    let mut intake = ConcernIntake::new(store.clone(), registry.clone(), clock.clone());
    if let Some(waker) = parts.rules_waker {
        intake = intake.notifying(waker);
    }
    let state = server::AppState {
        store: store.clone(),
        registry: registry.clone(),
        metrics: parts.metrics,
        clock: clock.clone(),
        actions: actions.clone(),
        telegram_webhook: parts.telegram_webhook,
        ack_pages,
        dashboard: dashboard::DashboardState {
            store,
            ctx,
            clock,
            actions,
            registry,
            target: dashboard::figures::Target::of(&config.city),
            live_stop: CancellationToken::new(),
        },
        partners: partners::PartnerWeb {
            intake,
            timezone: config.timezone().map_err(BuildError::Config)?,
        },
        guard: AuthGuard::from_config(&config.http),
        demo: parts
            .demo_token
            .map(|token| demo::DemoSignIn::new(token, &config.http)),
        stream: stream::StreamState {
            store: store_for_stream,
            key: stream_key,
        },
    };
    Ok(Web {
        state,
        metrics_apart: config.http.metrics_listen.is_some(),
    })
}

impl Web {
    /// The partners' intake the form and the API use (the demo files its reports through it).
    pub fn intake(&self) -> ConcernIntake {
        self.state.partners.intake.clone()
    }

    /// Every route, behind the guard (`/metrics` only when it has no listener of its own).
    pub fn router(self) -> Router {
        server::router(self.state, self.metrics_apart)
    }

    /// Serves every route on `listener` until `shutdown`, then finishes the requests in flight.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        // Live lists end when the server stops.
        let live_stop = self.state.dashboard.live_stop.clone();
        let stopping = shutdown.clone();
        tokio::spawn(async move {
            stopping.cancelled().await;
            live_stop.cancel();
        });
        server::serve(listener, self.router(), shutdown).await
    }

    /// Serves `/metrics` alone on `listener` (`http.metrics_listen`) until `shutdown`.
    pub async fn serve_metrics(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        server::serve(listener, server::metrics_router(self.state), shutdown).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(router: Router, path: &str) -> reqwest::StatusCode {
        mimamori_alerts::notify::install_crypto_provider();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        reqwest::get(format!("http://{addr}{path}"))
            .await
            .unwrap()
            .status()
    }

    async fn served(metrics_listen: Option<std::net::SocketAddr>) -> (Web, impl Sized) {
        let t = mimamori_core::testing::TestStore::sqlite().await;
        let mut config = Config::default();
        config.http.metrics_listen = metrics_listen;
        let web = build(
            &config,
            t.store.clone(),
            Arc::new(Registry::fujisawa()),
            Arc::new(mimamori_core::clock::SystemClock),
            Parts::default(),
        )
        .await
        .unwrap();
        (web, t)
    }

    #[tokio::test]
    async fn metrics_are_served_on_their_own_listener_when_one_is_set() {
        let (web, _store) = served(None).await;
        assert_eq!(get(web.router(), "/metrics").await, 200);

        let (web, _store) = served(Some("127.0.0.1:9999".parse().unwrap())).await;
        assert_eq!(
            get(web.clone().router(), "/metrics").await,
            404,
            "not on the public listener"
        );
        assert_eq!(get(web.clone().router(), "/healthz").await, 200);
        let metrics = server::metrics_router(web.state);
        assert_eq!(get(metrics.clone(), "/metrics").await, 200);
        assert_eq!(get(metrics, "/alerts").await, 404, "nothing else there");
    }
}
