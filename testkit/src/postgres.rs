//! The PostgreSQL server of the tests: the one `MIMAMORI_TEST_POSTGRES_URL` names (an admin URL,
//! e.g. `postgres://postgres@127.0.0.1:5432/postgres`), else a local server at the usual address.
//! Each test makes its own database there (`mimamori_core::testing::TestStore::postgres`).
//!
//! [`answers`] is what the [harness](crate::harness) asks, once per test process, before it runs
//! the cases that need PostgreSQL: they run when the server answers, and are listed as ignored
//! with the reason when it does not — unless `MIMAMORI_TEST_REQUIRE_POSTGRES=1` (CI), which makes
//! them fail.

use sqlx::Connection;
use std::time::Duration;

/// The environment variable naming the server (an admin URL); it overrides [`LOCAL`].
pub const URL_ENV: &str = "MIMAMORI_TEST_POSTGRES_URL";

/// Set to `1` to fail, instead of ignore, the PostgreSQL cases when no server answers.
pub const REQUIRE_ENV: &str = "MIMAMORI_TEST_REQUIRE_POSTGRES";

/// The usual local server, asked when [`URL_ENV`] is unset: trust authentication for the
/// `postgres` user on 127.0.0.1:5432, as Debian's package and the CI set it up.
pub const LOCAL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long [`answers`] waits for the server.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);

/// The admin URL of the server: [`URL_ENV`], else [`LOCAL`].
pub fn admin_url() -> String {
    std::env::var(URL_ENV).unwrap_or_else(|_| LOCAL.to_string())
}

/// Whether the server at [`admin_url`] accepts a connection; the error says which server (its
/// password hidden) and why not. Blocks the calling thread, which must not be in a runtime.
pub fn answers() -> Result<(), String> {
    let url = admin_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime to reach PostgreSQL: {e}"))?;
    let connected = runtime.block_on(async {
        let connection =
            tokio::time::timeout(CONNECT_LIMIT, sqlx::postgres::PgConnection::connect(&url))
                .await
                .map_err(|_| format!("no answer within {}s", CONNECT_LIMIT.as_secs()))?
                .map_err(|e| e.to_string())?;
        connection.close().await.map_err(|e| e.to_string())
    });
    connected.map_err(|reason| {
        let origin = if std::env::var_os(URL_ENV).is_some() {
            format!("from {URL_ENV}")
        } else {
            format!("the usual local address; {URL_ENV} names another")
        };
        format!(
            "no PostgreSQL answers at {} ({origin}): {reason}",
            without_password(&url)
        )
    })
}

/// `url` with the password of its user info, if any, replaced by `***`, for messages.
fn without_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[scheme_end..]
        .find('/')
        .map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!(
                "{}{user}:***@{host}{}",
                &url[..scheme_end],
                &url[authority_end..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn messages_never_show_the_password() {
        assert_eq!(
            without_password("postgres://admin:s3cret@db.example:5432/postgres?sslmode=require"),
            "postgres://admin:***@db.example:5432/postgres?sslmode=require"
        );
        assert_eq!(without_password(super::LOCAL), super::LOCAL);
        assert_eq!(without_password("not a url"), "not a url");
    }
}
