//! The runner of every integration test target in the workspace: each case says what it
//! [`Need`]s, the runner asks once per process whether each need is there, and a case whose need
//! is missing is not run but reported by the runner as `ignored, <reason>` — never as passed.
//! With `MIMAMORI_TEST_REQUIRE_<NEED>=1` (CI sets them) such a case fails instead.
//!
//! Output, flags (`--list`, `--exact`, `--skip`, `--ignored`, `--test-threads`, `--format`) and
//! the closing `test result: ok. N passed; M failed; K ignored; …` line are libtest's
//! ([libtest-with]); stdout and stderr are not captured.
//!
//! A test target uses it like this — its `[[test]]` entry in Cargo.toml says `harness = false`:
//!
//! ```text
//! mimamori_testkit::tests! {
//!     sync the_example_configuration_loads_as_it_is;
//!     multi_thread a_clerk_uses_the_pages_in_a_real_browser: [Browser];
//!     current_thread a_press_is_emailed: [Smtp, Postgres];
//! }
//! mimamori_core::on_both_backends!(a_story_on_each_database, a_story_with_email: [Smtp]);
//!
//! mimamori_testkit::main!();
//! ```
//!
//! Nothing is dropped without a word: a test function no macro registers is dead code (an error
//! under `clippy -D warnings`); registering without `main!()` does not compile; `main!()` in a
//! target left on libtest fails a test that says to declare `harness = false`; and a unit test
//! here checks that no `#[test]` attribute, which such a target would silently compile out,
//! remains under a `tests/` folder.
//!
//! [libtest-with]: https://docs.rs/libtest-with

use std::future::Future;
use std::process::{ExitCode, Stdio};
use std::sync::OnceLock;

#[doc(hidden)]
pub use inventory;

/// A service or program a case cannot run without.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A PostgreSQL server that answers at [`crate::postgres::admin_url`].
    Postgres,
    /// aiosmtpd, importable by `python3`, for [`crate::smtp::SmtpServer`].
    Smtp,
    /// Chromium and ChromeDriver, for [`crate::browser::Browser`].
    Browser,
    /// The `mosquitto` and `mosquitto_passwd` commands.
    Mosquitto,
    /// The `openssl` command, which makes the tests' certificates.
    OpenSsl,
    /// The `nats-server` command (2.9 or later: MQTT), for a clustered broker.
    Nats,
    /// Permission to mount a tmpfs ([`crate::tmpfs`]), to fill a disk.
    Tmpfs,
    /// PostgreSQL's server programs and the right to run them as the `postgres` user, for a
    /// server of the test's own that it stops and starts ([`crate::postgres::OwnServer`]).
    PostgresServer,
}

impl Need {
    const ALL: [Need; 8] = [
        Need::Postgres,
        Need::Smtp,
        Need::Browser,
        Need::Mosquitto,
        Need::OpenSsl,
        Need::Nats,
        Need::Tmpfs,
        Need::PostgresServer,
    ];

    /// The environment variable that, set to `1`, makes a case fail when this need is missing.
    pub fn require_env(self) -> &'static str {
        match self {
            Need::Postgres => crate::postgres::REQUIRE_ENV,
            Need::Smtp => crate::smtp::REQUIRE_ENV,
            Need::Browser => crate::browser::REQUIRE_ENV,
            Need::Mosquitto => "MIMAMORI_TEST_REQUIRE_MOSQUITTO",
            Need::OpenSsl => "MIMAMORI_TEST_REQUIRE_OPENSSL",
            Need::Nats => "MIMAMORI_TEST_REQUIRE_NATS",
            Need::Tmpfs => crate::tmpfs::REQUIRE_ENV,
            Need::PostgresServer => crate::postgres::REQUIRE_SERVER_ENV,
        }
    }

    /// Whether the run must not ignore cases with this need: [`Need::require_env`] is `1`.
    pub fn required(self) -> bool {
        std::env::var(self.require_env()).is_ok_and(|v| v == "1")
    }

    /// `Ok` when the need is met, else why not and how to meet it. Asked once per process.
    pub fn met(self) -> Result<(), &'static str> {
        static ANSWERS: [OnceLock<Result<(), String>>; Need::ALL.len()] =
            [const { OnceLock::new() }; Need::ALL.len()];
        let index = Need::ALL.iter().position(|n| *n == self).unwrap();
        ANSWERS[index]
            .get_or_init(|| self.probe())
            .as_ref()
            .map(|_| ())
            .map_err(String::as_str)
    }

    fn probe(self) -> Result<(), String> {
        let ok = |met: bool, missing: &str| {
            if met {
                Ok(())
            } else {
                Err(missing.to_string())
            }
        };
        match self {
            Need::Postgres => crate::postgres::answers(),
            Need::Smtp => ok(
                crate::smtp::available(),
                "python3 cannot import aiosmtpd (pip install aiosmtpd)",
            ),
            Need::Browser => ok(
                crate::browser::installed(),
                "no Chromium and ChromeDriver at /usr/bin \
                 (apt-get install -y chromium chromium-driver)",
            ),
            Need::Mosquitto => ok(
                runs("mosquitto", &["-h"]) && runs("mosquitto_passwd", &["-h"]),
                "mosquitto is not installed (apt-get install -y mosquitto)",
            ),
            Need::OpenSsl => ok(
                runs("openssl", &["version"]),
                "the openssl command is missing (apt-get install -y openssl)",
            ),
            Need::Nats => ok(
                runs("nats-server", &["--version"]),
                "nats-server is not installed (apt-get install -y nats-server)",
            ),
            Need::Tmpfs => ok(
                crate::tmpfs::available(),
                "this process may not mount a tmpfs (needs root or CAP_SYS_ADMIN)",
            ),
            Need::PostgresServer => crate::postgres::server_available(),
        }
    }
}

/// Whether `program` is on the PATH and starts (its exit status does not matter).
fn runs(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// One test as the runner sees it. Made by [`tests!`](crate::tests),
/// `mimamori_core::on_both_backends!` or [`case!`](crate::case), never by hand.
#[derive(Debug)]
pub struct Case {
    /// `module_path!()` where it was registered; its first segment, the target's name, is left
    /// out of the test's name, as libtest does.
    pub module: &'static str,
    /// The test function's name.
    pub name: &'static str,
    /// What it cannot run without.
    pub needs: &'static [Need],
    /// The test, with its runtime; a panic fails it.
    pub run: fn(),
}

inventory::collect!(Case);

impl Case {
    /// The name the runner prints and filters on: `module::path::name`, without the target.
    pub fn path(&self) -> String {
        match self.module.split_once("::") {
            Some((_target, module)) => format!("{module}::{}", self.name),
            None => self.name.to_string(),
        }
    }

    /// The first need that is missing, and why.
    fn missing(&self) -> Option<(Need, &'static str)> {
        self.needs
            .iter()
            .find_map(|need| need.met().err().map(|why| (*need, why)))
    }
}

/// Runs the cases registered in this test target, as libtest would, and says how it went.
/// Called by [`main!`](crate::main).
pub fn run() -> ExitCode {
    let args = libtest_with::Arguments::from_args();
    let mut cases: Vec<&Case> = inventory::iter::<Case>.into_iter().collect();
    cases.sort_by_key(|c| c.path());
    let trials = cases
        .into_iter()
        .map(|case| {
            let run = case.run;
            match case.missing() {
                None => libtest_with::Trial::test(case.path(), move || {
                    run();
                    Ok(())
                }),
                Some((need, why)) if need.required() => {
                    libtest_with::Trial::test(case.path(), move || {
                        Err(format!("{why}, and {}=1 requires it", need.require_env()).into())
                    })
                }
                Some((_, why)) => libtest_with::Trial::test(case.path(), move || {
                    run();
                    Ok(())
                })
                .with_ignored_flag(true, Some(why.to_string())),
            }
        })
        .collect();
    libtest_with::run(&args, trials).exit_code()
}

/// The worker threads of a `multi_thread` case, as `#[tokio::test(flavor = "multi_thread",
/// worker_threads = 4)]` had them.
pub const WORKER_THREADS: usize = 4;

/// Runs `test` on a new multi-thread runtime with [`WORKER_THREADS`] workers.
pub fn multi_thread<F: Future>(test: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(test)
}

/// Runs `test` on a new current-thread runtime, as `#[tokio::test]` did.
pub fn current_thread<F: Future>(test: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(test)
}

/// Runs `test` on a new current-thread runtime whose clock starts paused, as
/// `#[tokio::test(start_paused = true)]` did.
pub fn paused<F: Future>(test: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a test runtime")
        .block_on(test)
}

/// Registers one case: `case!(name: [Need, …] => run)`, where `run` is a `fn()` (or a closure
/// that captures nothing) running the test with its runtime. The building block of
/// [`tests!`](crate::tests) and of suite-specific macros such as `mimamori_core::on_both_backends!`.
#[macro_export]
// `crate::main` is the calling target's `main`, on purpose.
#[allow(clippy::crate_in_macro_def)]
macro_rules! case {
    ($name:ident $(: [$($need:ident),* $(,)?])? => $run:expr) => {
        // A target that registers cases ends with `mimamori_testkit::main!();`.
        const _: fn() -> ::std::process::ExitCode = crate::main;
        $crate::harness::inventory::submit! {
            $crate::harness::Case {
                module: ::std::module_path!(),
                name: ::std::stringify!($name),
                needs: &[$($($crate::harness::Need::$need),*)?],
                run: $run,
            }
        }
    };
}

/// Registers standalone test functions, one a line: the runtime, the function's name, and
/// after a colon what it needs, in brackets.
///
/// Runtimes: `sync` (a plain `fn`), `current_thread` (`#[tokio::test]`), `paused`
/// (`#[tokio::test(start_paused = true)]`), `multi_thread` (`#[tokio::test(flavor =
/// "multi_thread", worker_threads = 4)]`). Needs: the variants of [`Need`].
///
/// ```text
/// mimamori_testkit::tests! {
///     sync the_example_configuration_loads_as_it_is;
///     multi_thread devices_connect_over_tls: [OpenSsl];
/// }
/// ```
#[macro_export]
macro_rules! tests {
    ($($runtime:ident $name:ident $(: [$($need:ident),* $(,)?])?;)*) => {
        $(
            $crate::case!($name $(: [$($need),*])? => || $crate::tests!(@run $runtime $name));
        )*
    };
    (@run sync $name:ident) => { $name() };
    (@run current_thread $name:ident) => { $crate::harness::current_thread($name()) };
    (@run paused $name:ident) => { $crate::harness::paused($name()) };
    (@run multi_thread $name:ident) => { $crate::harness::multi_thread($name()) };
}

/// The `main` of a test target declared `harness = false`: runs its registered cases.
#[macro_export]
macro_rules! main {
    () => {
        fn main() -> ::std::process::ExitCode {
            $crate::harness::run()
        }

        /// Only a target left on libtest runs this: its cases would never run there.
        #[test]
        fn this_target_is_declared_harness_false_in_cargo_toml() {
            panic!(
                "{} registers its cases with mimamori_testkit's harness: declare it \
                 `[[test]] name = \"…\" harness = false` in its Cargo.toml",
                ::std::file!()
            );
        }
    };
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every `.rs` file under a `tests/` folder of the workspace.
    fn test_sources(dir: &Path, under_tests: bool, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" {
                    test_sources(&path, under_tests || name == "tests", found);
                }
            } else if under_tests && name.ends_with(".rs") {
                found.push(path);
            }
        }
    }

    #[test]
    fn no_test_under_a_tests_folder_is_left_to_libtest_attributes() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut sources = Vec::new();
        test_sources(workspace, false, &mut sources);
        assert!(
            sources.iter().any(|p| p.ends_with("core/tests/storage.rs")),
            "{sources:?}"
        );
        let mut left = Vec::new();
        for path in &sources {
            let text = std::fs::read_to_string(path).unwrap();
            for (number, line) in text.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
                    left.push(format!("{}:{}: {line}", path.display(), number + 1));
                }
            }
        }
        assert!(
            left.is_empty(),
            "integration test targets are `harness = false`, where these attributes compile to \
             nothing: register the tests with mimamori_testkit::tests! instead\n{}",
            left.join("\n")
        );
    }
}
