//! # mimamori (見守り)
//!
//! The `mimamori` command: one binary that runs the platform (`up`), administers it (`admin`,
//! `migrate`) and explains its configuration (`config`). The components it runs live in their
//! own crates; what they share (domain, configuration, registry, storage) is `mimamori-core`.
//!
//! - [`cli`]: the command line (clap);
//! - [`commands`]: one module per command;
//! - [`telemetry`]: tracing set-up, shared with tests;
//! - [`simulation`]: simulated homes for `simulate` and `up --demo`.
//!
//! Each component is started only through its face: `mimamori_broker::start_embedded`,
//! `mimamori_gateway::build`, `mimamori_alerts::build`, `mimamori_web::build` (see
//! docs/ARCHITECTURE.md).
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod simulation;
pub mod telemetry;

use clap::Parser;
use std::process::ExitCode;

/// A failure with the exit status it deserves.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Configuration (or command line) problem: exit status 2.
    #[error("{0}")]
    Config(String),
    /// Bad input (a CSV file, a flag's value): exit status 1, message as is.
    #[error("{0}")]
    Input(String),
    /// Anything else: exit status 1.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<mimamori_core::config::ConfigError> for Failure {
    fn from(e: mimamori_core::config::ConfigError) -> Self {
        Failure::Config(e.to_string())
    }
}

impl From<mimamori_core::storage::StorageError> for Failure {
    fn from(e: mimamori_core::storage::StorageError) -> Self {
        Failure::Other(e.into())
    }
}

impl From<mimamori_core::admin::AdminError> for Failure {
    fn from(e: mimamori_core::admin::AdminError) -> Self {
        use mimamori_core::admin::AdminError;
        match e {
            AdminError::Invalid(m) | AdminError::NotFound(m) => {
                Failure::Input(format!("mimamori: {m}"))
            }
            AdminError::Storage(e) => e.into(),
        }
    }
}

/// Runs the command line and returns the exit status.
pub fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mimamori: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(m)) => {
            eprintln!("mimamori: configuration error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Input(m)) => {
            eprintln!("{m}");
            ExitCode::FAILURE
        }
        Err(Failure::Other(e)) => {
            eprintln!("mimamori: {e:#}");
            ExitCode::FAILURE
        }
    }
}
