//! The store a benchmark runs against: a SQLite file in the run's temporary directory, or, with
//! `--database postgres://USER@HOST/DB`, a database of the run's own on that server, created
//! before the run and dropped after it — so a run never meets another's rows, and leaves none.

use anyhow::{Context, Result, bail};
use chrono::Utc;
use mimamori_core::config::Backend;
use mimamori_core::storage::Store;
use sqlx::Connection;
use std::path::Path;

/// The store at `url`, migrated, with `max_connections`, and its backend's name as the figures
/// print it.
pub async fn open(url: &str, max_connections: u32) -> Result<(Store, &'static str)> {
    let store = Store::connect(url, max_connections)
        .await
        .context("Failed to open the store")?;
    store
        .migrate()
        .await
        .context("Failed to migrate the store")?;
    let backend = match store.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    Ok((store, backend))
}

/// Where a benchmark's store lives, and how to remove it.
pub struct BenchDatabase {
    /// The URL the store opens.
    pub url: String,
    /// The server's own URL (the `--database` given), to drop the run's database from; `None`
    /// for SQLite, whose file goes with the temporary directory.
    admin: Option<String>,
}

impl BenchDatabase {
    /// A SQLite file `bench.db` in `dir`; with `server` (a `postgres://` URL), a fresh database
    /// named `mimamori_{bench}_{pid}_{time}` on that server.
    pub async fn create(server: Option<&str>, dir: &Path, bench: &str) -> Result<Self> {
        let Some(server) = server else {
            return Ok(Self {
                url: format!("sqlite://{}/bench.db", dir.display()),
                admin: None,
            });
        };
        check_server(server)?;
        let mut url = url::Url::parse(server).context("--database is not a URL")?;
        let name = format!(
            "mimamori_{}_{}_{}",
            bench.replace('-', "_"),
            std::process::id(),
            Utc::now().timestamp()
        );
        let mut conn = sqlx::PgConnection::connect(url.as_str())
            .await
            .with_context(|| format!("Failed to connect to {server}"))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .context("Failed to create the run's database")?;
        conn.close().await?;
        let admin = url.to_string();
        url.set_path(&format!("/{name}"));
        Ok(Self {
            url: url.to_string(),
            admin: Some(admin),
        })
    }

    /// Drops the run's PostgreSQL database (its connections are ended first); nothing for SQLite.
    pub async fn remove(self) -> Result<()> {
        let Some(admin) = self.admin else {
            return Ok(());
        };
        let name = url::Url::parse(&self.url)?
            .path()
            .trim_start_matches('/')
            .to_string();
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(())
    }
}

/// `--database` takes a PostgreSQL server's URL (SQLite is the default, in a temporary file).
pub fn check_server(url: &str) -> Result<()> {
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        bail!("--database takes a postgres:// URL (SQLite is the default)");
    }
    Ok(())
}
