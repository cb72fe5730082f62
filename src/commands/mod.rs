//! One module per command.

mod admin;
mod config;
mod simulate;
mod up;

use crate::Failure;
use crate::cli::{Cli, Command};
use mimamori_core::config::Config;
use mimamori_core::registry::Registry;
use mimamori_core::storage::Store;
use std::path::{Path, PathBuf};

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let file = config_file(cli.config.as_deref());
    match cli.command {
        Command::Config(c) => config::run(c, file.as_deref()),
        Command::Up { demo } => up::run(load(file.as_deref())?, up::Components::all(demo)).await,
        Command::Broker => up::run(load(file.as_deref())?, up::Components::broker_only()).await,
        Command::Gateway => up::run(load(file.as_deref())?, up::Components::gateway_only()).await,
        Command::Alerts => up::run(load(file.as_deref())?, up::Components::alerts_only()).await,
        Command::Simulate { devices, speed } => {
            simulate::run(load(file.as_deref())?, devices, speed).await
        }
        Command::Migrate => {
            let config = load(file.as_deref())?;
            crate::telemetry::init(&config.log);
            let (store, registry) = open(&config).await?;
            println!(
                "データベースを準備しました / database ready: {} districts, {} teams",
                registry.districts.len(),
                store.list_teams(None).await?.len()
            );
            store.close().await;
            Ok(())
        }
        Command::Admin(a) => {
            let config = load(file.as_deref())?;
            let (store, registry) = open(&config).await?;
            let tz = config.timezone().map_err(Failure::Config)?;
            let result = admin::run(a, &config, &store, &registry, tz).await;
            store.close().await;
            result
        }
    }
}

/// The configuration file in effect: the one given, or `./mimamori.toml` when it exists.
fn config_file(given: Option<&Path>) -> Option<PathBuf> {
    match given {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from("mimamori.toml")).filter(|p| p.exists()),
    }
}

fn load(file: Option<&Path>) -> Result<Config, Failure> {
    Ok(Config::load_from_env(file)?)
}

/// Connects to the database, applies migrations and loads the registry into it.
pub(crate) async fn open(config: &Config) -> Result<(Store, Registry), Failure> {
    let registry = Registry::load(config.city.registry.as_deref())
        .map_err(|e| Failure::Config(e.to_string()))?;
    let url = config.database_url();
    let store = Store::connect(&url, config.storage.max_connections)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database ({}): {e}", redact(&url)))?;
    store.migrate().await?;
    store.seed_registry(&registry, chrono::Utc::now()).await?;
    Ok((store, registry))
}

/// A database URL without its password, for messages.
pub(crate) use mimamori_core::config::redact_url as redact;
