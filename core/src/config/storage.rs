//! `[storage]`: the database, SQLite (embedded default) or PostgreSQL, chosen by the URL.

use super::Invalid;
use serde::Deserialize;

/// The database.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`; empty: `data_dir/mimamori.db`.
    pub url: String,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 8,
        }
    }
}

/// The URL may carry a password (`postgres://user:password@host/db`): shown without it.
impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl StorageConfig {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !self.url.is_empty() {
            backend_of(&self.url).map_err(|m| ("storage.url", m))?;
        }
        if self.max_connections == 0 {
            return Err(("storage.max_connections", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// The database backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend of a database URL, or why it is not usable.
pub fn backend_of(url: &str) -> Result<Backend, String> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "sqlite" if url.len() > "sqlite:".len() => Ok(Backend::Sqlite),
        "postgres" | "postgresql" if url.contains("://") && url.len() > scheme.len() + 3 => {
            Ok(Backend::Postgres)
        }
        "sqlite" | "postgres" | "postgresql" => {
            Err(format!("{url:?} has no database path or host"))
        }
        "" => Err(format!(
            "{url:?} is not a database URL (expected sqlite://FILE or postgres://USER@HOST/DB)"
        )),
        other => Err(format!(
            "unsupported database URL scheme {other:?} (expected sqlite:// or postgres://)"
        )),
    }
}

/// A database URL without its password, for messages and `Debug`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
