//! `mimamori up`: every component that exists, in one process, until SIGINT or SIGTERM.

use crate::Failure;
use crate::http::{self, AppState};
use anyhow::Context;
use mimamori_core::config::Config;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown may take before the process stops anyway.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

pub async fn run(config: Config) -> Result<(), Failure> {
    crate::telemetry::init(&config.log);
    let (store, registry) = super::open(&config).await?;
    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (http.listen / MIMAMORI__HTTP__LISTEN)",
                config.http.listen
            )
        })?;
    let http_addr = listener.local_addr().context("listener address")?;

    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let state = AppState {
        store: store.clone(),
        registry: Arc::new(registry),
    };
    {
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = http::serve(listener, state, shutdown.clone()).await {
                tracing::error!(error = %e, "HTTP server failed.");
                shutdown.cancel();
            }
        });
    }
    tasks.close();

    println!("mimamori: http listening on http://{http_addr}");
    println!(
        "mimamori: database {}",
        super::redact(&config.database_url())
    );
    println!("mimamori: 起動しました / running. Ctrl+C で停止 / Ctrl+C to stop.");
    let _ = std::io::stdout().flush();
    tracing::info!(%http_addr, "mimamori is up.");

    tokio::select! {
        signal = shutdown_signal() => {
            let signal = signal.context("cannot listen for shutdown signals")?;
            tracing::info!(signal, "Shutting down.");
        }
        () = shutdown.cancelled() => tracing::warn!("A component stopped; shutting down."),
    }
    shutdown.cancel();
    if tokio::time::timeout(SHUTDOWN_DEADLINE, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            deadline_s = SHUTDOWN_DEADLINE.as_secs(),
            "Shutdown deadline passed; stopping anyway."
        );
    }
    store.close().await;
    println!("mimamori: 停止しました / stopped.");
    Ok(())
}

/// Waits for SIGINT (Ctrl+C) or SIGTERM; returns which.
async fn shutdown_signal() -> std::io::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl+C")
    }
}
