//! The PostgreSQL server of the tests: the one `MIMAMORI_TEST_POSTGRES_URL` names (an admin URL,
//! e.g. `postgres://postgres@127.0.0.1:5432/postgres`), else a local server at the usual address.
//! Each test makes its own database there (`mimamori_core::testing::TestStore::postgres`).
//!
//! [`answers`] is what the [harness](crate::harness) asks, once per test process, before it runs
//! the cases that need PostgreSQL: they run when the server answers, and are listed as ignored
//! with the reason when it does not — unless `MIMAMORI_TEST_REQUIRE_POSTGRES=1` (CI), which makes
//! them fail.
//!
//! [`OwnServer`] is a server of a test's own (initdb and pg_ctl as the `postgres` OS user, a
//! free port), for the cases that stop the database and start it again; they need
//! `PostgresServer`.

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

/// Set to `1` to fail, instead of ignore, the cases that start a PostgreSQL server of their own
/// when its programs are missing.
pub const REQUIRE_SERVER_ENV: &str = "MIMAMORI_TEST_REQUIRE_POSTGRES_SERVER";

/// The folder of the newest installed PostgreSQL's programs (`initdb`, `pg_ctl`), Debian's
/// layout: `/usr/lib/postgresql/<major>/bin`.
fn server_programs() -> Option<std::path::PathBuf> {
    let mut found: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// `Ok` when [`OwnServer::start`] can run here: PostgreSQL's programs, the `postgres` OS user
/// and `runuser` (initdb refuses to run as root, so the server runs as `postgres`), and root to
/// use it; else why not.
pub fn server_available() -> Result<(), String> {
    if server_programs().is_none() {
        return Err(
            "no PostgreSQL server programs in /usr/lib/postgresql/*/bin \
                    (apt-get install -y postgresql)"
                .into(),
        );
    }
    let runs = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !runs("id", &["-u", "postgres"]) {
        return Err("no `postgres` OS user to run a PostgreSQL server as".into());
    }
    if !runs("runuser", &["-u", "postgres", "--", "true"]) {
        return Err("cannot run programs as the `postgres` user (runuser needs root)".into());
    }
    Ok(())
}

/// A PostgreSQL server of a test's own, on a free port of 127.0.0.1 with its data in a
/// temporary folder, run as the `postgres` OS user: a test may stop it and start it again (the
/// database restarted). Trust authentication for `postgres`; stopped (immediately) when dropped.
pub struct OwnServer {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl OwnServer {
    /// Makes a cluster (initdb) and starts the server; returns once it accepts connections.
    pub fn start() -> Result<Self, String> {
        let bin = server_programs().ok_or("no PostgreSQL server programs")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let owned = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !owned.success() {
            return Err(format!("chown postgres {} failed", dir.path().display()));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let server = Self { bin, dir, port };
        server.as_postgres(
            "initdb",
            &[
                "-D",
                &server.data(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        server.start_again()?;
        Ok(server)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs one of PostgreSQL's programs as the `postgres` user; its output when it fails.
    fn as_postgres(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let out = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("runuser {program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// The admin URL (`postgres` database, user `postgres`).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (`pg_ctl stop -m fast`: sessions are ended, as a restart ends them).
    pub fn stop(&self) -> Result<(), String> {
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"])
    }

    /// Starts the (stopped) server again on the same port and data; returns once it accepts
    /// connections.
    pub fn start_again(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        )
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = self.as_postgres(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
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
