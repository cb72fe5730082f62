//! Test support (feature `testing`): fresh stores — a SQLite file in a temporary folder, and a
//! new PostgreSQL database per test on the server of [`mimamori_testkit::postgres`]
//! (`MIMAMORI_TEST_POSTGRES_URL`, else the usual local address) — and the
//! [`on_both_backends!`](crate::on_both_backends) macro that registers one test body on each with
//! testkit's [harness](mimamori_testkit::harness), which runs the PostgreSQL case only where the
//! server answers and lists it as ignored with the reason elsewhere.

use crate::domain::*;
use crate::registry::Registry;
use crate::storage::Store;
use sqlx::Connection;

/// The environment variable naming the PostgreSQL server for tests (an admin URL, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`); unset, the usual local address is used.
pub const POSTGRES_ENV: &str = mimamori_testkit::postgres::URL_ENV;

#[doc(hidden)]
pub use mimamori_testkit as testkit;

/// A store under test and what keeps it alive.
#[derive(Debug)]
pub struct TestStore {
    pub store: Store,
    /// The URL of the store's database, for tests that need a second, raw connection.
    pub url: String,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, database: String },
}

impl TestStore {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/test.db", dir.path().display());
        let store = Store::connect(&url, 8).await.unwrap();
        store.migrate().await.unwrap();
        store
            .seed_registry(&Registry::fujisawa(), t0())
            .await
            .unwrap();
        Self {
            store,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A new database on the tests' PostgreSQL server. Panics when the server does not answer:
    /// a test that calls this declares the `Postgres` need (as `on_both_backends!` does), so that
    /// the harness runs it only where the server answers.
    pub async fn postgres() -> Self {
        let admin_url = mimamori_testkit::postgres::admin_url();
        let database = format!(
            "mimamori_test_{}",
            crate::secret::generate(12).to_lowercase()
        );
        let mut admin = sqlx::postgres::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot reach PostgreSQL ({POSTGRES_ENV} or the local server): {e}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = replace_database(&admin_url, &database);
        let store = Store::connect(&url, 8).await.unwrap();
        store.migrate().await.unwrap();
        store
            .seed_registry(&Registry::fujisawa(), t0())
            .await
            .unwrap();
        Self {
            store,
            url,
            cleanup: Cleanup::Postgres {
                admin_url,
                database,
            },
        }
    }

    /// Drops the test database (PostgreSQL); the SQLite folder goes with the value. Forced: the
    /// processes a fault test started (and killed or stopped) may still hold connections to it,
    /// and a plain `DROP DATABASE` then failed quietly, leaving a database behind on every run.
    pub async fn finish(self) {
        self.store.close().await;
        if let Cleanup::Postgres {
            admin_url,
            database,
        } = &self.cleanup
            && let Ok(mut admin) = sqlx::postgres::PgConnection::connect(admin_url).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// Registers each named async test body `fn(Store, String)` (the store and its URL) as two cases
/// of testkit's harness, `sqlite::name` and `postgres::name`, each on a multi-thread runtime
/// with 4 workers. The PostgreSQL case needs `Postgres`: where no server answers it is listed as
/// ignored with the reason, or fails under `MIMAMORI_TEST_REQUIRE_POSTGRES=1`. A body that needs
/// more says so after a colon, e.g. `on_both_backends!(a, b: [Smtp])` (the variants of
/// [`Need`](mimamori_testkit::harness::Need)). The target ends with `mimamori_testkit::main!();`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident $(: [$($need:ident),* $(,)?])?),* $(,)?) => {
        mod sqlite {
            $(
                $crate::testing::testkit::case!($name $(: [$($need),*])? => || {
                    $crate::testing::testkit::harness::multi_thread(async {
                        let t = $crate::testing::TestStore::sqlite().await;
                        super::$name(t.store.clone(), t.url.clone()).await;
                        t.finish().await;
                    })
                });
            )*
        }
        mod postgres {
            $(
                $crate::testing::testkit::case!($name: [Postgres $($(, $need)*)?] => || {
                    $crate::testing::testkit::harness::multi_thread(async {
                        let t = $crate::testing::TestStore::postgres().await;
                        super::$name(t.store.clone(), t.url.clone()).await;
                        t.finish().await;
                    })
                });
            )*
        }
    };
}

/// A fixed start time for tests: 2026-12-01 09:00 JST.
pub fn t0() -> chrono::DateTime<chrono::Utc> {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

pub fn district(id: &str) -> DistrictId {
    DistrictId::parse(id).unwrap()
}

/// A resident in 鵠沼海岸2丁目.
pub fn new_resident(id: &str) -> NewResident {
    NewResident {
        id: ResidentId::parse(id).unwrap(),
        name: "藤沢 花子".into(),
        name_kana: Some("フジサワ ハナコ".into()),
        birth_year: BirthYear::parse(1940, t0()).unwrap(),
        district: district("kugenuma"),
        address: Address::parse("鵠沼海岸二丁目3-5").unwrap(),
        living: LivingSituation::Alone,
        phone: Some("0466-00-0000".into()),
        contacts: vec![Contact {
            name: "藤沢 一郎".into(),
            relation: "長男".into(),
            phone: None,
            email: Some("ichiro@example.jp".into()),
            consent: true,
        }],
        policies: vec![CheckinPolicy::Inactivity {
            max_silence_minutes: 720,
            active_from: chrono::NaiveTime::from_hms_opt(7, 0, 0).unwrap(),
            active_to: chrono::NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
        }],
        notes: Some("糖尿病".into()),
    }
}
