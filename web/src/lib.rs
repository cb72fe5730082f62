//! # mimamori-web
//!
//! Everything a person's or a partner's browser (or script) touches, on one HTTP server:
//!
//! - [`dashboard`]: responders sign in with their token and work on their district's alerts and
//!   residents (sessions, form tokens against forged posts, every view of a resident audited);
//! - [`api`]: the alerts API for responders' tools (`/api/v1/alerts…`, Bearer token);
//! - [`ack_link`]: the pages behind the single-use acknowledgement links in emails;
//! - [`partners`]: partners' concerns — the clerk's report form (`/report`) and
//!   `POST /api/v1/concerns`;
//! - the server itself: health, metrics, the status page, the wrong-token guard.
//!
//! Every page is a template of `web/templates/` (askama, checked at compile time, every value
//! escaped) around the shared layout `base.html`, rendered from a struct of what it shows: see
//! `page`.
//!
//! Its face is [`build`] → [`Web`] → [`Web::serve`]. What people do to alerts goes through
//! `mimamori_alerts::actions`, the one place that writes a change with its announcement.

pub mod ack_link;
pub mod api;
pub mod dashboard;
mod page;
pub mod partners;
mod server;

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
    /// The gateway's counters, for `/metrics`.
    pub gateway_metrics: Option<Arc<mimamori_gateway::Metrics>>,
    /// The route Telegram posts updates to (the alert service's bot, in webhook mode).
    pub telegram_webhook: Option<Router>,
    /// Wakes the rules at once when a partner's concern is stored here.
    pub rules_waker: Option<Arc<Notify>>,
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
pub struct Web {
    state: server::AppState,
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
    let mut intake = ConcernIntake::new(store.clone(), registry.clone(), clock.clone());
    if let Some(waker) = parts.rules_waker {
        intake = intake.notifying(waker);
    }
    let state = server::AppState {
        store: store.clone(),
        registry: registry.clone(),
        gateway_metrics: parts.gateway_metrics,
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
        },
        partners: partners::PartnerWeb {
            intake,
            timezone: config.timezone().map_err(BuildError::Config)?,
        },
        guard: AuthGuard::from_config(&config.http),
    };
    Ok(Web { state })
}

impl Web {
    /// The partners' intake the form and the API use (the demo files its reports through it).
    pub fn intake(&self) -> ConcernIntake {
        self.state.partners.intake.clone()
    }

    /// Every route, behind the guard.
    pub fn router(self) -> Router {
        server::router(self.state)
    }

    /// Serves on `listener` until `shutdown`, then finishes the requests in flight.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        server::serve(listener, self.state, shutdown).await
    }
}
