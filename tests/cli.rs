//! End-to-end tests of the `mimamori` command, run as a user runs it: a fresh folder, the real
//! binary, its exit status and what it prints. The split deployment needs PostgreSQL, the
//! Telegram-and-email story aiosmtpd; where they are missing those two are listed as ignored.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mimamori_testkit::tests! {
    sync the_example_configuration_loads_as_it_is;
    sync broken_configurations_get_one_clear_line;
    sync up_starts_in_a_fresh_folder_and_stops_cleanly_on_sigterm_and_sigint;
    sync device_and_partner_secrets_are_printed_once_and_stored_as_hashes;
    sync integrations_get_a_secret_once_and_the_stream_key_is_printed;
    sync teams_and_responders_from_the_command_line;
    sync a_thousand_row_cp932_csv_imports_and_a_bad_row_imports_nothing;
    sync a_provisioned_device_reaches_a_running_platform;
    sync the_demo_shows_signals_and_alerts_flowing;
    sync a_restarted_demo_prints_only_what_is_new;
    sync a_client_sending_wrong_tokens_is_refused_for_a_while;
    sync policies_and_pauses_from_the_command_line;
    sync an_emergency_press_reaches_the_alerts_topic_and_a_webhook_routed_to_the_district;
    sync split_into_broker_gateway_and_two_alert_services_on_postgresql_one_dies_and_each_alert_goes_out_once: [Postgres];
    sync emergency_presses_reach_telegram_and_email_and_either_acknowledges: [Smtp];
}

fn mimamori(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mimamori"));
    c.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("MIMAMORI") {
            c.env_remove(k);
        }
    }
    c.env_remove("RUST_LOG");
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    mimamori(dir).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = run(dir, args);
    assert!(o.status.success(), "{args:?} failed: {}", stderr(&o));
    stdout(&o)
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(dir, args)).unwrap()
}

fn the_example_configuration_loads_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let example = ok(dir.path(), &["config", "example"]);
    std::fs::write(dir.path().join("mimamori.toml"), &example).unwrap();
    let check = ok(dir.path(), &["config", "check"]);
    assert!(
        check.contains("configuration OK (mimamori.toml)"),
        "{check}"
    );
    assert!(check.contains("Asia/Tokyo"));
}

/// Each broken configuration gets exit status 2 and one line naming the file, line and key.
fn broken_configurations_get_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown-key.toml",
            "[http]\nlisten = \"127.0.0.1:0\"\nlistn = \"x\"\n",
            ":3: http.listn: unknown field",
        ),
        (
            "wrong-type.toml",
            "[storage]\nmax_connections = \"eight\"\n",
            ":2: storage.max_connections: ",
        ),
        (
            "bad-url.toml",
            "\n[storage]\nurl = \"mysql://db/mimamori\"\n",
            ":3: storage.url: unsupported database URL scheme \"mysql\"",
        ),
        (
            "bad-escalation.toml",
            "[[alerts.escalations]]\nkind = \"emergency\"\nfirst_after_minutes = 5\nto = \"houkatsu\"\n",
            ": alerts.escalations: emergency: to must be a city-wide team",
        ),
    ];
    for (name, text, expected) in cases {
        std::fs::write(dir.path().join(name), text).unwrap();
        let o = run(dir.path(), &["--config", name, "up"]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.contains(&format!("{name}{expected}")), "{name}: {err}");
    }
    let o = run(dir.path(), &["--config", "missing.toml", "up"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "mimamori: configuration error: missing.toml: configuration file not found"
    );

    let o = mimamori(dir.path())
        .args(["migrate"])
        .env("MIMAMORI__STORAGE__URL", "redis://x")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("MIMAMORI__STORAGE__URL: storage.url: unsupported"),
        "{}",
        stderr(&o)
    );
    // Nothing was created by a failed start.
    assert!(!dir.path().join("mimamori-data").exists());
}

/// A running `mimamori up`, killed if a test fails before stopping it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A started `mimamori up`: its HTTP and MQTT addresses, and the rest of its output.
struct Up {
    http: String,
    mqtt: String,
    lines: std::sync::mpsc::Receiver<String>,
}

/// Starts `mimamori ARGS` in `dir` with `env`; returns it with the lines it prints.
fn start(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Running, std::sync::mpsc::Receiver<String>) {
    let mut child = Running(
        mimamori(dir)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Waits for the line that starts with `prefix` and returns the rest of it.
fn line_after(lines: &std::sync::mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no line starting with {prefix:?}"));
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
}

/// Starts `mimamori up ARGS` in `dir` (free ports) and returns once it reports its addresses.
fn start_up(dir: &Path, args: &[&str]) -> (Running, Up) {
    let (child, rx) = start(
        dir,
        &[&["up"], args].concat(),
        &[
            ("MIMAMORI__HTTP__LISTEN", "127.0.0.1:0"),
            ("MIMAMORI__BROKER__LISTEN", "127.0.0.1:0"),
        ],
    );
    let (mut http, mut mqtt) = (None, None);
    while http.is_none() || mqtt.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("mimamori up did not report its addresses");
        if let Some(addr) = line.strip_prefix("mimamori: http listening on http://") {
            http = Some(addr.to_string());
        }
        if let Some(addr) = line.strip_prefix("mimamori: mqtt broker listening on ") {
            mqtt = Some(addr.to_string());
        }
    }
    (
        child,
        Up {
            http: http.unwrap(),
            mqtt: mqtt.unwrap(),
            lines: rx,
        },
    )
}

fn http_get(addr: &str, path: &str) -> String {
    http_request(addr, "GET", path, &[], "")
}

/// What the sign-in page gives a browser, which a sign-in sends back: its pre-session cookie
/// (`name=value`) and that value, for the form's `signin_token`.
fn sign_in_pair(addr: &str) -> (String, String) {
    let page = http_get(addr, "/login");
    let cookie = page
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: mimamori_signin="))
        .and_then(|c| c.split(';').next())
        .expect("the sign-in cookie");
    (format!("mimamori_signin={cookie}"), cookie.to_string())
}

fn stop(Running(child): &mut Running, signal: &str) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "mimamori up did not stop within 10 s of {signal}"
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

fn up_starts_in_a_fresh_folder_and_stops_cleanly_on_sigterm_and_sigint() {
    for signal in ["-TERM", "-INT"] {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, up) = start_up(dir.path(), &[]);
        let addr = up.http;
        let health = http_get(&addr, "/healthz");
        assert!(health.starts_with("HTTP/1.0 200"), "{health}");
        assert!(health.contains("\"status\":\"ok\""), "{health}");
        let page = http_get(&addr, "/");
        assert!(page.contains("藤沢市の地区（13）"), "{page}");
        assert!(
            page.contains("href=\"/login\"") && page.contains("href=\"/report\""),
            "the way in for responders and for partners: {page}"
        );
        assert!(
            std::net::TcpStream::connect(&up.mqtt).is_ok(),
            "the embedded broker accepts connections"
        );
        let status = stop(&mut child, signal);
        assert!(status.success(), "{signal}: {status:?}");
        assert!(dir.path().join("mimamori-data/mimamori.db").exists());
    }
}

/// The store `mimamori` made in `dir` (the default SQLite file).
async fn data_store(dir: &Path) -> mimamori_core::storage::Store {
    let url = format!("sqlite://{}/mimamori-data/mimamori.db", dir.display());
    mimamori_core::storage::Store::connect(&url, 1)
        .await
        .unwrap()
}

fn device_and_partner_secrets_are_printed_once_and_stored_as_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let r = json(
        dir.path(),
        &[
            "admin",
            "resident",
            "add",
            "--name",
            "藤沢 花子",
            "--birth-year",
            "1940",
            "--address",
            "鵠沼海岸二丁目3-5",
            "--json",
        ],
    );
    let rid = r["id"].as_str().unwrap().to_string();
    assert_eq!(r["district"], "kugenuma");

    let d = json(
        dir.path(),
        &[
            "admin",
            "device",
            "add",
            "--resident",
            &rid,
            "--kind",
            "call_button",
            "--json",
        ],
    );
    let secret = d["secret"].as_str().unwrap();
    assert!(secret.len() >= 24);
    assert_eq!(d["username"], d["id"]);
    let listed = ok(dir.path(), &["admin", "device", "list", "--json"]);
    assert!(listed.contains(d["id"].as_str().unwrap()));
    assert!(!listed.contains(secret), "a device secret was shown again");

    let p = json(
        dir.path(),
        &[
            "admin",
            "partner",
            "add",
            "--name",
            "藤沢郵便局",
            "--kind",
            "post",
            "--json",
        ],
    );
    let token = p["secret"].as_str().unwrap();
    assert!(token.starts_with("mmp_"));
    assert!(!ok(dir.path(), &["admin", "partner", "list", "--json"]).contains(token));

    // What the database holds verifies against the secrets, and is not them.
    let db = std::fs::read(dir.path().join("mimamori-data/mimamori.db")).unwrap();
    let wal = std::fs::read(dir.path().join("mimamori-data/mimamori.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = data_store(dir.path()).await;
        let id = mimamori_core::domain::DeviceId::parse(d["id"].as_str().unwrap()).unwrap();
        let device = store.get_device(&id).await.unwrap().unwrap();
        assert_eq!(
            mimamori_core::secret::check_device_secret(secret, &device.secret_hash),
            mimamori_core::secret::DeviceSecretCheck::Valid
        );
        let partner = store
            .partner_by_token(&mimamori_core::secret::token_hash(token))
            .await
            .unwrap();
        assert_eq!(partner.unwrap().name, "藤沢郵便局");
        store.close().await;
    });

    // A leaked token is replaced: the new one works, the old one no longer does.
    let pid = p["id"].as_str().unwrap();
    let t = json(
        dir.path(),
        &[
            "admin",
            "partner",
            "token",
            pid,
            "--revoke-others",
            "--json",
        ],
    );
    assert_eq!(t["revoked"], 1);
    // No such partner, or not an id at all: refused, nothing issued.
    for id in ["pt-nobody", "../x"] {
        let o = run(dir.path(), &["admin", "partner", "token", id]);
        assert_eq!(o.status.code(), Some(1), "{id}: {}", stderr(&o));
        assert!(!stdout(&o).contains("mmp_"), "{id}: a token was printed");
    }
    let new_token = t["secret"].as_str().unwrap().to_string();
    assert!(new_token.starts_with("mmp_") && new_token != token);
    rt.block_on(async {
        let store = data_store(dir.path()).await;
        let hash = mimamori_core::secret::token_hash;
        let old = store.partner_by_token(&hash(token)).await.unwrap();
        assert!(old.is_none(), "the old token is revoked");
        let new = store.partner_by_token(&hash(&new_token)).await.unwrap();
        assert_eq!(new.unwrap().name, "藤沢郵便局");
        store.close().await;
    });
}

/// An integration of one district and a city-wide one: each secret printed once, kept as a
/// hash; replaced and disabled from the command line; every change audited. The stream's public
/// key is printed, the same every time.
fn integrations_get_a_secret_once_and_the_stream_key_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let a = json(
        dir.path(),
        &[
            "admin",
            "integration",
            "add",
            "--name",
            "鵠沼ケース管理",
            "--district",
            "鵠沼",
            "--json",
        ],
    );
    let id = a["id"].as_str().unwrap().to_string();
    let secret = a["secret"].as_str().unwrap().to_string();
    assert!(id.starts_with("int-"), "{a}");
    assert!(secret.starts_with("mmi_") && secret.len() == 37, "{a}");
    assert_eq!(a["district"], "kugenuma");
    let city = ok(
        dir.path(),
        &[
            "admin",
            "integration",
            "add",
            "--name",
            "市ケース管理システム",
            "--id",
            "int-city",
        ],
    );
    assert!(city.contains("int-city") && city.contains("mmi_"), "{city}");
    assert!(city.contains("全地区"), "{city}");
    let listed = ok(dir.path(), &["admin", "integration", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        !listed.contains(&secret) && !listed.contains("secret"),
        "{listed}"
    );

    // Refused: an unknown district, an id that is no slug, an id taken.
    for args in [
        &["--name", "x", "--district", "atlantis"][..],
        &["--name", "x", "--id", "bad/topic"],
        &["--name", "x", "--id", "int-city"],
        &["--name", " "],
    ] {
        let o = run(
            dir.path(),
            &[&["admin", "integration", "add"], args].concat(),
        );
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(
            !stdout(&o).contains("mmi_"),
            "{args:?}: a secret was printed"
        );
    }

    // The key: printed, the same each time, and what the store signs with.
    let key = json(dir.path(), &["admin", "integration", "key", "--json"]);
    assert_eq!(key["algorithm"], "Ed25519");
    assert_eq!(
        key,
        json(dir.path(), &["admin", "integration", "key", "--json"])
    );
    let text = ok(dir.path(), &["admin", "integration", "key"]);
    assert!(text.contains(key["public_key"].as_str().unwrap()), "{text}");

    // The Mosquitto ACL gives each enabled integration its alerts to read, and nothing else.
    let acl = ok(dir.path(), &["admin", "mosquitto-acl"]);
    let block = |acl: &str, user: &str| -> Vec<String> {
        acl.split("\n\n")
            .find(|b| b.lines().any(|l| l == format!("user {user}")))
            .map(|b| {
                b.lines()
                    .filter(|l| l.starts_with("topic"))
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        block(&acl, &id),
        ["topic read mimamori/v1/alerts/kugenuma/#"],
        "{acl}"
    );
    assert_eq!(
        block(&acl, "int-city"),
        ["topic read mimamori/v1/alerts/#"],
        "{acl}"
    );
    assert!(
        acl.contains("pattern write mimamori/v1/devices/%u/events"),
        "{acl}"
    );
    // NATS: a user per login, from the passwords the operator kept; the others left out, said.
    let passwords = dir.path().join("nats-passwords");
    std::fs::write(
        &passwords,
        format!("# kept at provisioning\n{id} {secret}\n"),
    )
    .unwrap();
    let nats_authorization = |passwords: &Path| {
        mimamori(dir.path())
            .args(["admin", "nats-authorization", "--passwords"])
            .arg(passwords)
            .env("MIMAMORI__MQTT__PASSWORD", "service-secret")
            .output()
            .unwrap()
    };
    let o = nats_authorization(&passwords);
    assert!(o.status.success(), "{}", stderr(&o));
    let nats = stdout(&o);
    assert!(
        nats.lines().any(
            |l| l.contains(&format!("user: \"{id}\", password: \"{secret}\""))
                && l.contains("mimamori.v1.alerts.kugenuma.>")
        ),
        "{nats}"
    );
    assert!(
        nats.contains("# not in") && nats.contains("int-city"),
        "{nats}"
    );
    assert!(stderr(&o).contains("int-city"), "{}", stderr(&o));
    std::fs::write(&passwords, "only-a-name\n").unwrap();
    let o = nats_authorization(&passwords);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("line 1"), "{}", stderr(&o));

    // A new secret, then disabled.
    let rotated = json(
        dir.path(),
        &["admin", "integration", "secret", &id, "--json"],
    );
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    let disabled = json(
        dir.path(),
        &["admin", "integration", "revoke", &id, "--json"],
    );
    assert_eq!(disabled["changed"], true);
    assert!(ok(dir.path(), &["admin", "integration", "disable", &id]).contains("既に無効"));
    assert!(
        block(&ok(dir.path(), &["admin", "mosquitto-acl"]), &id).is_empty(),
        "a disabled integration keeps its place in the ACL"
    );
    let o = run(
        dir.path(),
        &["admin", "integration", "disable", "int-nobody"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    let db = std::fs::read(dir.path().join("mimamori-data/mimamori.db")).unwrap();
    let wal = std::fs::read(dir.path().join("mimamori-data/mimamori.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        for s in [&secret, &new_secret] {
            assert!(!bytes.windows(s.len()).any(|w| w == s.as_bytes()));
        }
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = data_store(dir.path()).await;
        let i = store.get_integration(&id).await.unwrap().unwrap();
        assert!(!i.enabled && !i.accepts(&new_secret));
        assert_eq!(store.integration_by_token(&secret).await.unwrap(), None);
        let signer =
            mimamori_core::alert_stream::StreamSigner::from_store(&store, chrono::Utc::now())
                .await
                .unwrap();
        assert_eq!(signer.public_key().public_key, key["public_key"]);
        let actions: Vec<String> = store
            .list_audit("integration", Some(&id), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        for action in [
            "integration.add",
            "integration.secret",
            "integration.disable",
        ] {
            assert!(
                actions.iter().any(|a| a == action),
                "{action} in {actions:?}"
            );
        }
        store.close().await;
    });
}

fn teams_and_responders_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let teams = json(
        dir.path(),
        &["admin", "team", "list", "--district", "鵠沼", "--json"],
    );
    let names: Vec<_> = teams
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&"鵠沼いきいきサポートセンター".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"バックアップふじさわ".to_string()));

    let t = json(
        dir.path(),
        &[
            "admin",
            "team",
            "add",
            "--kind",
            "csw",
            "--district",
            "kugenuma",
            "--name",
            "鵠沼 夜間",
            "--json",
        ],
    );
    let r = json(
        dir.path(),
        &[
            "admin",
            "responder",
            "add",
            "--team",
            t["id"].as_str().unwrap(),
            "--name",
            "佐藤",
            "--email",
            "sato@example.jp",
            "--office-hours",
            "mon-fri 08:30-17:15",
            "--json",
        ],
    );
    assert!(r["id"].as_str().unwrap().starts_with("p-"));
    assert_eq!(r["role"], "responder", "a district's team: responder");

    // Roles: an admin (the admin pages) added, then one made a coordinator; a made-up role refused.
    let admin = json(
        dir.path(),
        &[
            "admin",
            "responder",
            "add",
            "--team",
            "coordinator",
            "--name",
            "市 管理者",
            "--role",
            "admin",
            "--json",
        ],
    );
    assert_eq!(admin["role"], "admin");
    let admin_id = admin["id"].as_str().unwrap();
    let changed = json(
        dir.path(),
        &[
            "admin",
            "responder",
            "role",
            admin_id,
            "--role",
            "coordinator",
            "--json",
        ],
    );
    assert_eq!(changed["role"], "coordinator");
    let bad = run(
        dir.path(),
        &["admin", "responder", "role", admin_id, "--role", "root"],
    );
    assert_eq!(bad.status.code(), Some(1), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("役割"), "{}", stderr(&bad));
    let listed = json(dir.path(), &["admin", "responder", "list", "--json"]);
    let role_of = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["role"]
            .clone()
    };
    assert_eq!(role_of(admin_id), "coordinator");
    let listed: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] != admin_id)
        .cloned()
        .collect();
    assert_eq!(listed[0]["email"], "sato@example.jp");
    let token = json(
        dir.path(),
        &[
            "admin",
            "responder",
            "token",
            r["id"].as_str().unwrap(),
            "--json",
        ],
    );
    assert!(token["secret"].as_str().unwrap().starts_with("mmr_"));
    let bad = run(dir.path(), &["admin", "responder", "token", "p-nobody"]);
    assert!(stderr(&bad).contains("not found"), "{}", stderr(&bad));

    // A lost phone: a new token, and the old one stops working at once.
    let id = r["id"].as_str().unwrap();
    let replaced = json(
        dir.path(),
        &[
            "admin",
            "responder",
            "token",
            id,
            "--revoke-others",
            "--json",
        ],
    );
    assert_eq!(replaced["revoked"], 1);
    // 佐藤 leaves: the new token ends too, and the change is in the audit log.
    let gone = json(
        dir.path(),
        &["admin", "responder", "deactivate", id, "--json"],
    );
    assert_eq!(gone["revoked"], 1);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = data_store(dir.path()).await;
        let hash = mimamori_core::secret::token_hash;
        for t in [&token["secret"], &replaced["secret"]] {
            let found = store.responder_by_token(&hash(t.as_str().unwrap())).await;
            assert!(found.unwrap().is_none(), "a token still works");
        }
        let audit = store.list_audit("responder", Some(id), 10).await.unwrap();
        assert!(audit.iter().any(|e| e.action == "responder.deactivate"));
        store.close().await;
    });
    // No such responder, or not an id at all: refused with a clear error, nothing changed.
    for id in ["p-nobody", "../x", ""] {
        let o = run(dir.path(), &["admin", "responder", "deactivate", id]);
        assert_eq!(o.status.code(), Some(1), "{id}: {}", stderr(&o));
        assert!(!stderr(&o).is_empty(), "{id}: no error");
    }

    let bad = run(
        dir.path(),
        &[
            "admin",
            "responder",
            "add",
            "--team",
            "no-such-team",
            "--name",
            "x",
        ],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad).contains("team no-such-team not found"),
        "{}",
        stderr(&bad)
    );
    let bad = run(
        dir.path(),
        &["admin", "team", "add", "--kind", "houkatsu", "--name", "x"],
    );
    assert!(
        stderr(&bad).contains("belongs to a district"),
        "{}",
        stderr(&bad)
    );
    let bad = run(
        dir.path(),
        &[
            "admin",
            "resident",
            "add",
            "--name",
            "x",
            "--birth-year",
            "1940",
            "--address",
            "石川5",
        ],
    );
    assert!(stderr(&bad).contains("split between"), "{}", stderr(&bad));
}

/// A CSV file as Excel in Japan writes it: CP932, CRLF line ends, Japanese headers.
fn cp932_csv(rows: usize, bad_line: Option<usize>) -> Vec<u8> {
    let towns = [
        "鵠沼海岸二丁目1-1",
        "湘南台三丁目4-5",
        "片瀬山一丁目2-3",
        "御所見・用田100",
        "辻堂元町5-5",
    ];
    let mut text = String::from("氏名,フリガナ,生年,住所,地区,世帯状況,電話\r\n");
    for i in 0..rows {
        let line = i + 2;
        let address = towns[i % towns.len()].replace("御所見・", "");
        let year = if Some(line) == bad_line {
            "昭和十五".to_string()
        } else {
            (1930 + i % 25).to_string()
        };
        text.push_str(&format!(
            "髙橋 はな{i},タカハシ ハナ,{year},{address},,独居,0466-00-{i:04}\r\n"
        ));
    }
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!unmappable);
    bytes.into_owned()
}

fn a_thousand_row_cp932_csv_imports_and_a_bad_row_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.csv"), cp932_csv(1000, Some(500))).unwrap();
    let o = run(dir.path(), &["admin", "import", "residents", "bad.csv"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("bad.csv: line 500, column 生年: \"昭和十五\" is not a year"),
        "{err}"
    );
    assert!(err.contains("nothing imported: 1 error(s)"), "{err}");
    assert_eq!(
        json(dir.path(), &["admin", "resident", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        0
    );

    std::fs::write(dir.path().join("good.csv"), cp932_csv(1000, None)).unwrap();
    let out = ok(dir.path(), &["admin", "import", "residents", "good.csv"]);
    assert!(out.contains("imported 1000 residents"), "{out}");
    let residents = json(dir.path(), &["admin", "resident", "list", "--json"]);
    let residents = residents.as_array().unwrap();
    assert_eq!(residents.len(), 1000);
    assert!(
        residents
            .iter()
            .any(|r| r["name"] == "髙橋 はな0" && r["district"] == "kugenuma")
    );
    assert!(residents.iter().any(|r| r["district"] == "goshomi"));
}

/// A device provisioned with the command line presses its button against a running `mimamori up`:
/// the receipt it gets back means the emergency is stored, and the metrics count it.
fn a_provisioned_device_reaches_a_running_platform() {
    let dir = tempfile::tempdir().unwrap();
    let d = provision_button(dir.path());
    let (mut child, up) = start_up(dir.path(), &[]);
    let mqtt: std::net::SocketAddr = up.mqtt.parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let button = device_client(&d, mqtt, &shutdown);
        assert!(
            button.wait_connected(Duration::from_secs(30)).await,
            "the device could not log in"
        );
        let seq = button
            .send(mimamori_core::protocol::EventType::Emergency, None, None)
            .await
            .unwrap();
        assert!(
            button.wait_receipt(seq, Duration::from_secs(30)).await,
            "no receipt: the emergency was not stored"
        );

        // Disabled while connected: dropped, and its reconnects are refused as disabled.
        let id = id_of(&d);
        let disabled = json(dir.path(), &["admin", "device", "disable", id, "--json"]);
        assert_eq!(disabled["enabled"], false, "{disabled}");
        wait_for_metric(
            &up.http,
            "mimamori_broker_logins_refused_total{reason=\"disabled\"}",
        )
        .await;
        // Enabled again: the same client logs in and its press is stored.
        ok(dir.path(), &["admin", "device", "enable", id]);
        let seq = button
            .send(mimamori_core::protocol::EventType::Emergency, None, None)
            .await
            .unwrap();
        assert!(
            button.wait_receipt(seq, Duration::from_secs(30)).await,
            "an enabled device could not log in again"
        );
        // A new secret: the old one is refused from then on.
        let rotated = json(
            dir.path(),
            &["admin", "device", "rotate-secret", id, "--json"],
        );
        assert_ne!(rotated["secret"], d["secret"]);
        wait_for_metric(
            &up.http,
            "mimamori_broker_logins_refused_total{reason=\"wrong_password\"}",
        )
        .await;
        shutdown.cancel();
    });
    let metrics = http_get(&up.http, "/metrics");
    assert!(
        metrics.contains("mimamori_gateway_signals_stored_total "),
        "{metrics}"
    );
    assert!(
        !metrics.contains("mimamori_gateway_signals_stored_total 0\n"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("mimamori_broker_logins_accepted_total 0\n"),
        "{metrics}"
    );
    assert!(stop(&mut child, "-TERM").success());
    // The refusals of the last minute were reported at shutdown, not lost with the process.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (audit, security) = rt.block_on(async {
        let store = data_store(dir.path()).await;
        let audit = store
            .list_audit("device", Some(id_of(&d)), 50)
            .await
            .unwrap();
        let security = store.list_audit("security", None, 50).await.unwrap();
        store.close().await;
        (audit, security)
    });
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for action in ["device.disable", "device.enable", "device.rotate_secret"] {
        assert!(
            actions.contains(&action),
            "{action} not audited: {actions:?}"
        );
    }
    assert!(
        security
            .iter()
            .any(|a| a.action == "security.login_refused"),
        "the refusals were not reported at shutdown"
    );
}

fn id_of(device: &serde_json::Value) -> &str {
    device["id"].as_str().unwrap()
}

/// Waits until the counter `name` (with its labels) on `/metrics` is above 0.
async fn wait_for_metric(http: &str, name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = http_get(http, "/metrics");
        let value = metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok());
        if value.is_some_and(|v| v > 0) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} stayed at {value:?}:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the demo prints, each line one of these: a summary of the signals every few seconds
/// (not a line per heartbeat, which scrolled the sign-in token away), each alert and mail, and
/// the sign-in lines (the token; the status page's button) and the report-form line.
const DEMO_LINES: [&str; 6] = [
    "デモ / demo: 集計 / summary ",
    "デモ / demo: アラート #",
    "デモ / demo: メール / email ",
    "デモ / demo: ダッシュボード / dashboard ",
    "デモ / demo: このパソコンのブラウザなら ",
    "デモ / demo: 協力事業者の連絡フォーム / partner form ",
];

/// The signals a demo summary line counts since the previous one.
fn summarised_signals(line: &str) -> Option<u64> {
    let rest = line.strip_prefix(DEMO_LINES[0])?;
    let (_, after) = rest.split_once("信号 / signals ")?;
    after.split('（').next()?.parse().ok()
}

/// `mimamori up --demo` sums up the signals of simulated homes every few seconds, shows the
/// alert the first home's call button raises, and prints its sign-in line again while it runs.
fn the_demo_shows_signals_and_alerts_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, up) = start_up(dir.path(), &["--demo"]);
    let (mut signals, mut alert, mut mail, mut token, mut code) = (0, None, None, None, None);
    let mut demo_concerns = (false, false);
    let (mut sign_ins, mut button) = (0, None);
    while signals < 3
        || sign_ins < 2
        || button.is_none()
        || alert.is_none()
        || mail.is_none()
        || token.is_none()
        || code.is_none()
        || demo_concerns != (true, true)
    {
        let line = up
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("no demo output");
        if line.starts_with("デモ / demo: ") {
            assert!(
                DEMO_LINES.iter().any(|p| line.starts_with(p)),
                "a line of its own for one signal: {line}"
            );
        }
        if let Some(n) = summarised_signals(&line) {
            signals += n;
        } else if let Some(path) = line.strip_prefix("デモ / demo: メール / email ") {
            mail = Some(dir.path().join(path));
        } else if let Some(rest) = line.strip_prefix("デモ / demo: ダッシュボード / dashboard ")
        {
            let printed = rest.split(' ').next_back().map(String::from);
            assert!(token.is_none() || token == printed, "{line}");
            token = printed;
            sign_ins += 1;
        } else if let Some(rest) = line.strip_prefix("デモ / demo: このパソコンのブラウザなら ")
        {
            button = rest.split(' ').next().map(String::from);
        } else if let Some(rest) =
            line.strip_prefix("デモ / demo: 協力事業者の連絡フォーム / partner form ")
        {
            assert!(rest.contains("/report"), "{line}");
            code = rest.split(' ').next_back().map(String::from);
        } else if let Some(rest) = line.strip_prefix("デモ / demo: アラート #") {
            // The first home's opening press, routed to its district (not the triage queue).
            // (Another home's routine may press first on a busy machine: simulated days run fast.)
            if alert.is_none() && line.contains("緊急通報") && line.contains("resident:r-sim-00001")
            {
                assert!(!line.contains("(地区不明・市の振り分け待ち)"), "{line}");
                alert = rest.split(' ').next().map(String::from);
            }
            // The demo partner's two reports: one linked to the second home's resident, in
            // its district; one that no address names, in the triage queue.
            if line.contains("見守り協力事業者からの連絡") {
                if line.contains("resident:r-sim-00002") {
                    assert!(!line.contains("(地区不明・市の振り分け待ち)"), "{line}");
                    demo_concerns.0 = true;
                } else {
                    assert!(
                        line.contains("(地区不明・市の振り分け待ち) address"),
                        "{line}"
                    );
                    demo_concerns.1 = true;
                }
            }
        }
    }
    // The alert was emailed to the district's demo responder, as a file, with its link.
    let eml = std::fs::read_to_string(mail.unwrap()).unwrap();
    assert!(eml.contains("To: demo-"), "{eml}");
    assert!(eml.contains("example.invalid"), "{eml}");
    assert!(eml.contains("multipart/alternative"), "{eml}");
    // The printed token signs in to the dashboard, where the alert's page shows who it is about.
    let (signin_cookie, signin_token) = sign_in_pair(&up.http);
    let body = format!(
        "token={}&next=/alerts/{}&signin_token={signin_token}",
        token.as_deref().unwrap(),
        alert.clone().unwrap()
    );
    let signed_in = http_request(
        &up.http,
        "POST",
        "/login",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &signin_cookie),
        ],
        &body,
    );
    assert!(
        signed_in.starts_with("HTTP/1.1 303") || signed_in.starts_with("HTTP/1.0 303"),
        "{signed_in}"
    );
    let cookie = signed_in
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let page = http_request(
        &up.http,
        "GET",
        &format!("/alerts/{}", alert.unwrap()),
        &[("Cookie", &cookie)],
        "",
    );
    assert!(
        page.contains(" 200 ") && page.contains("緊急通報") && page.contains("対象者"),
        "{page}"
    );
    // The demo's user is an admin: the admin pages are in the menu and open, with the demo's
    // simulated devices listed.
    assert!(page.contains("href=\"/admin/devices\""), "{page}");
    let devices = http_request(
        &up.http,
        "GET",
        "/admin/devices",
        &[("Cookie", &cookie)],
        "",
    );
    assert!(
        devices.contains(" 200 ") && devices.contains("sim-00001-button"),
        "{devices}"
    );
    // The status page the console names has the demo's one-click sign-in for this machine; it
    // signs the same admin in, without the token in the page.
    assert_eq!(button.unwrap(), format!("http://{}/", up.http));
    let status = http_request(&up.http, "GET", "/", &[], "");
    assert!(status.contains("デモにサインイン"), "{status}");
    assert!(!status.contains(token.as_deref().unwrap()), "{status}");
    let signin_cookie = status
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("the sign-in cookie");
    let (_, signin_token) = signin_cookie.split_once('=').unwrap();
    let signed_in = http_request(
        &up.http,
        "POST",
        "/demo/signin",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", signin_cookie),
        ],
        &format!("signin_token={signin_token}"),
    );
    assert!(signed_in.contains(" 303 "), "{signed_in}");
    assert!(signed_in.contains("location: /alerts\r\n"), "{signed_in}");
    let cookie = signed_in
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: mimamori_session="))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie");
    let admin = http_request(
        &up.http,
        "GET",
        "/admin/devices",
        &[("Cookie", &format!("mimamori_session={cookie}"))],
        "",
    );
    assert!(admin.contains(" 200 "), "{admin}");
    // The printed partner code files a concern through the API; it becomes an alert for 鵠沼's
    // team, printed without the address.
    let report = r#"{"address":"藤沢市鵠沼海岸三丁目1-1","seen":["mail","lights"]}"#;
    let filed = http_request(
        &up.http,
        "POST",
        "/api/v1/concerns",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &format!("Bearer {}", code.unwrap())),
        ],
        report,
    );
    assert!(
        filed.contains(" 201 ") && filed.contains("\"reference\":\"C-"),
        "{filed}"
    );
    loop {
        let line = up
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("no alert for the partner's concern");
        if line.contains("(鵠沼地区) address") {
            assert!(line.contains("見守り協力事業者からの連絡"), "{line}");
            assert!(!line.contains("鵠沼海岸"), "{line}");
            break;
        }
    }
    assert!(stop(&mut child, "-INT").success());
}

/// A demo started again in the same folder prints only what is new: not the alerts and mails
/// of the first run, and the demo partner's reports are not sent again (their alerts would be
/// joined and printed anew).
fn a_restarted_demo_prints_only_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, up) = start_up(dir.path(), &["--demo"]);
    let (mut concerns, mut mails) = (0, std::collections::HashSet::new());
    while concerns < 2 || mails.is_empty() {
        let line = up
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("no demo output");
        if line.starts_with("デモ / demo: アラート #")
            && line.contains("見守り協力事業者からの連絡")
        {
            concerns += 1;
        } else if let Some(path) = line.strip_prefix("デモ / demo: メール / email ") {
            mails.insert(path.to_string());
        }
    }
    assert!(stop(&mut child, "-INT").success());

    // Every line from the first on (the old alerts would be printed before the addresses).
    let (mut child, lines) = start(
        dir.path(),
        &["up", "--demo"],
        &[
            ("MIMAMORI__HTTP__LISTEN", "127.0.0.1:0"),
            ("MIMAMORI__BROKER__LISTEN", "127.0.0.1:0"),
        ],
    );
    // Two summaries: long past the start, when the reports were sent and printed.
    let mut summaries = 0;
    while summaries < 2 {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("no demo output");
        if summarised_signals(&line).is_some() {
            summaries += 1;
        } else if line.starts_with("デモ / demo: アラート #") {
            assert!(
                !line.contains("見守り協力事業者からの連絡"),
                "again: {line}"
            );
        } else if let Some(path) = line.strip_prefix("デモ / demo: メール / email ") {
            assert!(!mails.contains(path), "the first run's mail again: {line}");
        }
    }
    assert!(stop(&mut child, "-INT").success());
    let concerns = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = data_store(dir.path()).await;
        let filter = mimamori_core::storage::AlertFilter {
            kind: Some(mimamori_core::domain::AlertKind::Concern),
            ..Default::default()
        };
        store.list_alerts(&filter).await.unwrap()
    });
    assert_eq!(concerns.len(), 2, "the partner's two reports, once");
    assert!(
        concerns.iter().all(|a| a.evidence_count == 1),
        "{concerns:?}"
    );
}

/// One HTTP/1.0 request; the whole response, headers (lower-case names) and body.
fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    s.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    response
}

/// Ten wrong tokens from one client, and the sign-in, the report form and the APIs refuse it
/// (429 with Retry-After) — even with a right token — while the rest of the site still answers.
fn a_client_sending_wrong_tokens_is_refused_for_a_while() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, up) = start_up(dir.path(), &[]);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let status = |response: &str| response.split(' ').nth(1).unwrap_or("").to_string();
    let (signin_cookie, signin_token) = sign_in_pair(&up.http);
    let login = [form[0], ("Cookie", signin_cookie.as_str())];
    for i in 0..10 {
        let r = http_request(
            &up.http,
            "POST",
            "/login",
            &login,
            &format!("token=mmr_guess{i}&signin_token={signin_token}"),
        );
        assert_eq!(status(&r), "401", "{r}");
    }
    let r = http_request(
        &up.http,
        "POST",
        "/login",
        &login,
        &format!("token=mmr_guess&signin_token={signin_token}"),
    );
    assert_eq!(status(&r), "429", "{r}");
    assert!(r.to_ascii_lowercase().contains("retry-after: "), "{r}");
    assert!(r.contains("しばらく受け付けません"), "{r}");
    let api = http_request(
        &up.http,
        "POST",
        "/api/v1/concerns",
        &[
            ("Authorization", "Bearer mmp_x"),
            ("Content-Type", "application/json"),
        ],
        "{}",
    );
    assert_eq!(status(&api), "429", "{api}");
    let report = http_request(
        &up.http,
        "POST",
        "/report",
        &form,
        "token=x&address=a&seen=mail",
    );
    assert_eq!(status(&report), "429", "{report}");
    assert_eq!(status(&http_get(&up.http, "/healthz")), "200");
    assert_eq!(
        status(&http_get(&up.http, "/report")),
        "200",
        "the form still shows"
    );
    assert!(stop(&mut child, "-TERM").success());
}

/// Policies and pauses set from the command line.
fn policies_and_pauses_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let r = json(
        dir.path(),
        &[
            "admin",
            "resident",
            "add",
            "--name",
            "藤沢 花子",
            "--birth-year",
            "1940",
            "--address",
            "辻堂元町5-5",
            "--json",
        ],
    );
    let id = r["id"].as_str().unwrap();
    let p = json(
        dir.path(),
        &[
            "admin",
            "resident",
            "policy",
            id,
            "--inactivity-hours",
            "12",
            "--active",
            "07:00-22:00",
            "--window",
            "06:00-10:00",
            "--checkin-by",
            "09:00",
            "--remind-minutes",
            "30",
            "--json",
        ],
    );
    let kinds: Vec<_> = p["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["inactivity", "daily_window", "checkin"]);
    let pause = json(
        dir.path(),
        &[
            "admin",
            "pause",
            "add",
            "--resident",
            id,
            "--reason",
            "入院",
            "--from",
            "2026-12-01 09:00",
            "--json",
        ],
    );
    let pause_id = pause["id"].as_i64().unwrap().to_string();
    ok(
        dir.path(),
        &[
            "admin",
            "pause",
            "end",
            &pause_id,
            "--resident",
            id,
            "--at",
            "2026-12-05 15:00",
        ],
    );
    let pauses = json(
        dir.path(),
        &["admin", "pause", "list", "--resident", id, "--json"],
    );
    assert_eq!(pauses[0]["reason"], "hospital");
    assert_eq!(
        pauses[0]["starts_at"], "2026-12-01T00:00:00Z",
        "local time in Asia/Tokyo"
    );
    assert_eq!(pauses[0]["ends_at"], "2026-12-05T06:00:00Z");
    let bad = run(
        dir.path(),
        &["admin", "resident", "policy", id, "--window", "6-10"],
    );
    assert!(stderr(&bad).contains("--window"), "{}", stderr(&bad));
    let bad = run(
        dir.path(),
        &[
            "admin",
            "pause",
            "add",
            "--resident",
            id,
            "--reason",
            "vacation",
        ],
    );
    assert!(stderr(&bad).contains("unknown value"), "{}", stderr(&bad));
}

/// Issue 5's story end to end: a device's emergency press reaches the MQTT alerts topic and a
/// webhook, routed to the 包括 of the resident's district, with no personal data.
fn an_emergency_press_reaches_the_alerts_topic_and_a_webhook_routed_to_the_district() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (received, webhook_calls) = std::sync::mpsc::channel::<serde_json::Value>();
    let hook_url = rt.block_on(async {
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let received = received.clone();
                async move {
                    let _ = received.send(serde_json::from_str(&body).unwrap());
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    });
    std::fs::write(
        dir.path().join("mimamori.toml"),
        format!("[mqtt]\npassword = \"e2e-service-password\"\n\n[notify]\nmqtt_alerts = true\n\n[[notify.webhooks]]\nurl = \"{hook_url}\"\nsecret = \"e2e-webhook-secret-123\"\n"),
    )
    .unwrap();
    let d = provision_button(dir.path());
    let (mut child, up) = start_up(dir.path(), &[]);
    let mqtt: std::net::SocketAddr = up.mqtt.parse().unwrap();
    let (topic, body) = rt.block_on(press_and_listen(&d, mqtt, "e2e-service-password"));
    assert!(topic.starts_with("mimamori/v1/alerts/tsujido/"), "{topic}");
    assert_eq!(body["event"], "created");
    assert_eq!(body["alert"]["kind"], "emergency");
    assert_eq!(body["alert"]["team"], "houkatsu-tsujido");
    assert!(!body.to_string().contains("花子"));
    // And at the webhook.
    let hook = webhook_calls
        .recv_timeout(Duration::from_secs(30))
        .expect("a webhook call");
    assert_eq!(
        (hook["event"].as_str(), hook["alert"]["district"].as_str()),
        (Some("created"), Some("tsujido"))
    );
    // The operators' view of it: the store answers, the emergency is open, the alert service's lag.
    let metrics = http_get(&up.http, "/metrics");
    for line in [
        "mimamori_store_up 1",
        "mimamori_alerts_unresolved{kind=\"emergency\",state=\"open\"} 1",
        "mimamori_alert_service_signals_behind ",
        "mimamori_outbox_due ",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert!(stop(&mut child, "-TERM").success());
}

/// Presses the provisioned button `d` once an integration listens on the alerts topics of the
/// broker at `mqtt`; returns the first emergency's alert change published there (topic and JSON).
async fn press_and_listen(
    d: &serde_json::Value,
    mqtt: std::net::SocketAddr,
    service_password: &str,
) -> (String, serde_json::Value) {
    let mut options =
        rumqttc::MqttOptions::new("mimamori-e2e-listener", mqtt.ip().to_string(), mqtt.port());
    options.set_credentials("mimamori-service", service_password);
    let (listener, mut events) = rumqttc::AsyncClient::new(options, 16);
    listener
        .subscribe("mimamori/v1/alerts/#", rumqttc::QoS::AtLeastOnce)
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let button = device_client(d, mqtt, &shutdown);
    let mut pressed = false;
    let published = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) if !pressed => {
                    assert!(button.wait_connected(Duration::from_secs(30)).await);
                    button
                        .send(mimamori_core::protocol::EventType::Emergency, None, None)
                        .await
                        .unwrap();
                    pressed = true;
                }
                // The emergency's message: another alert (an earlier button's 通信途絶, applied
                // first by a standby that just took over) may come before it.
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))
                    if serde_json::from_slice::<serde_json::Value>(&p.payload)
                        .is_ok_and(|m| m["alert"]["kind"] == "emergency") =>
                {
                    return p;
                }
                Ok(_) => {}
                Err(e) => panic!("listener: {e}"),
            }
        }
    })
    .await
    .expect("an alert on the MQTT alerts topic");
    shutdown.cancel();
    (
        published.topic.clone(),
        serde_json::from_slice(&published.payload).unwrap(),
    )
}

/// The deployment of docs/DEPLOYMENT.md "Separate processes": the broker, the gateway and two
/// alert services as processes on one PostgreSQL database. A press reaches the alerts topic through
/// the database alone (the alert service hears of the stored signal from PostgreSQL's
/// notification, tested on its own in core/tests/storage.rs, or else from its poll). Only the
/// leading alert service applies it (one alert, one `created` message); when the leader is
/// killed, the other takes over and the next press reaches the alerts topic too.
fn split_into_broker_gateway_and_two_alert_services_on_postgresql_one_dies_and_each_alert_goes_out_once()
 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(mimamori_core::testing::TestStore::postgres());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mimamori.toml"),
        format!(
            "[storage]\nurl = \"{}\"\n\n[mqtt]\npassword = \"split-service-password\"\n\n[notify]\nmqtt_alerts = true\n\n[alerts]\nleader_lease_seconds = 3\n",
            db.url
        ),
    )
    .unwrap();
    let d = provision_button(dir.path());
    let (mut broker, lines) = start(
        dir.path(),
        &["broker"],
        &[("MIMAMORI__BROKER__LISTEN", "127.0.0.1:0")],
    );
    let mqtt: std::net::SocketAddr = line_after(&lines, "mimamori: mqtt broker listening on ")
        .parse()
        .unwrap();
    let url = format!("mqtt://{mqtt}");
    let (mut gateway, lines) = start(dir.path(), &["gateway"], &[("MIMAMORI__MQTT__URL", &url)]);
    line_after(&lines, "mimamori: 起動しました");
    let mut alerts: Vec<Running> = (0..2)
        .map(|_| {
            let (alerts, lines) = start(dir.path(), &["alerts"], &[("MIMAMORI__MQTT__URL", &url)]);
            line_after(&lines, "mimamori: 起動しました");
            alerts
        })
        .collect();
    let (topic, first) = rt.block_on(press_and_listen(&d, mqtt, "split-service-password"));
    assert!(topic.starts_with("mimamori/v1/alerts/tsujido/"), "{topic}");
    assert_eq!(
        (first["event"].as_str(), first["alert"]["team"].as_str()),
        (Some("created"), Some("houkatsu-tsujido"))
    );

    // The leader dies (kill -9); the standby takes the rules over.
    let leader = rt
        .block_on(db.store.lease_holder("alert-service", chrono::Utc::now()))
        .unwrap()
        .expect("one alert service leads");
    let i = alerts
        .iter()
        .position(|a| leader.holder.contains(&format!("-{}-", a.0.id())))
        .expect("the leader is one of the two");
    let mut dead = alerts.remove(i);
    assert!(!stop(&mut dead, "-KILL").success());
    let second = provision_button(dir.path());
    let pressed = std::time::Instant::now();
    let (_, next) = rt.block_on(press_and_listen(&second, mqtt, "split-service-password"));
    assert_eq!(next["event"], "created");
    assert_ne!(next["alert"]["id"], first["alert"]["id"]);
    assert!(
        pressed.elapsed() < Duration::from_secs(15),
        "the first alert after the failover took {:?}",
        pressed.elapsed()
    );

    for part in alerts.iter_mut().chain([&mut gateway, &mut broker]) {
        assert!(stop(part, "-TERM").success());
    }
    // One alert per press, each applied once, each announced once on the stream.
    rt.block_on(async {
        // (The first button's disconnection is an alert of its own: 通信途絶.)
        let alerts = db
            .store
            .list_alerts(&mimamori_core::storage::AlertFilter {
                kind: Some(mimamori_core::domain::AlertKind::Emergency),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert!(alerts.iter().all(|a| a.evidence_count == 1), "{alerts:?}");
        let stream = db.store.alert_stream_page(0, None, 100).await.unwrap();
        let created: Vec<_> = stream
            .entries
            .iter()
            .filter(|e| e.message.contains("\"event\":\"created\""))
            .map(|e| e.alert)
            .filter(|a| alerts.iter().any(|e| e.id == *a))
            .collect();
        assert_eq!(created.len(), 2, "{:?}", stream.entries);
        assert_ne!(created[0], created[1]);
    });
    rt.block_on(db.finish());
}

/// A resident in 辻堂元町 (born 1940) with a call button, registered with the command line;
/// returns the device's `--json` output (id and secret).
fn provision_button(dir: &Path) -> serde_json::Value {
    let r = json(
        dir,
        &[
            "admin",
            "resident",
            "add",
            "--name",
            "藤沢 花子",
            "--birth-year",
            "1940",
            "--address",
            "辻堂元町5-5",
            "--json",
        ],
    );
    json(
        dir,
        &[
            "admin",
            "device",
            "add",
            "--resident",
            r["id"].as_str().unwrap(),
            "--kind",
            "call_button",
            "--json",
        ],
    )
}

/// The provisioned button, connected to the broker at `mqtt`.
fn device_client(
    d: &serde_json::Value,
    mqtt: std::net::SocketAddr,
    shutdown: &tokio_util::sync::CancellationToken,
) -> mimamori_devices::DeviceClient {
    mimamori_devices::DeviceClient::start(
        mimamori_devices::DeviceConfig {
            id: mimamori_core::domain::DeviceId::parse(d["id"].as_str().unwrap()).unwrap(),
            password: d["secret"].as_str().unwrap().to_string(),
            brokers: vec![mqtt.into()],
            resend_interval: Duration::from_millis(500),
            tls_ca: None,
        },
        shutdown.clone(),
    )
}

/// Issue 6's story end to end: real devices' emergency presses reach a responder's Telegram chat
/// (at a local Bot API server) and the team's mailboxes (a real SMTP server); 対応します on
/// Telegram acknowledges one alert, the email link the other — once.
fn emergency_presses_reach_telegram_and_email_and_either_acknowledges() {
    const SUZUKI: i64 = 7001;
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (api, smtp) = rt.block_on(async {
        (
            mimamori_testkit::telegram::BotApi::start("123:E2E").await,
            mimamori_testkit::smtp::SmtpServer::start().await,
        )
    });
    std::fs::write(
        dir.path().join("mimamori.toml"),
        format!(
            "[notify.telegram]\nenabled = true\ntoken = \"123:E2E\"\napi_url = \"{}\"\nper_chat_interval_ms = 0\n\n\
             [notify.email]\nenabled = true\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsecurity = \"plain\"\n\
             from = \"見守り mimamori <mimamori@city.example.jp>\"\n\n\
             [http]\npublic_url = \"https://mimamori.example.jp\"\n",
            api.url,
            smtp.port()
        ),
    )
    .unwrap();
    let buttons = [provision_button(dir.path()), provision_button(dir.path())];
    let add = |name: &str, email: &str| {
        json(
            dir.path(),
            &[
                "admin",
                "responder",
                "add",
                "--team",
                "houkatsu-tsujido",
                "--name",
                name,
                "--email",
                email,
                "--json",
            ],
        )["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let suzuki = add("鈴木", "suzuki@houkatsu.example.jp");
    add("田中", "tanaka@houkatsu.example.jp");
    let code = json(
        dir.path(),
        &["admin", "responder", "telegram-code", &suzuki, "--json"],
    )["command"]
        .as_str()
        .unwrap()
        .to_string();
    let (mut child, up) = start_up(dir.path(), &[]);
    let mqtt: std::net::SocketAddr = up.mqtt.parse().unwrap();
    rt.block_on(async {
        // 鈴木 links their chat with the one-time code.
        api.user_says(SUZUKI, "鈴木", &code);
        api.wait_until("the linking reply", |a| {
            a.sent()
                .into_iter()
                .find(|s| s.chat_id == SUZUKI && s.text.starts_with("連携しました"))
        })
        .await;
        let shutdown = tokio_util::sync::CancellationToken::new();
        let mut alerts = Vec::new();
        for (i, d) in buttons.iter().enumerate() {
            let button = device_client(d, mqtt, &shutdown);
            assert!(button.wait_connected(Duration::from_secs(30)).await);
            button
                .send(mimamori_core::protocol::EventType::Emergency, None, None)
                .await
                .unwrap();
            let message = api
                .wait_until("the alert message on Telegram", |a| {
                    a.sent()
                        .into_iter()
                        .filter(|s| s.chat_id == SUZUKI && s.text.starts_with("【緊急通報】"))
                        .nth(i)
                })
                .await;
            assert!(message.text.contains("辻堂地区"), "{}", message.text);
            assert!(!message.text.contains("花子") && !message.text.contains("辻堂元町"));
            let ack = message.buttons[0].1.clone();
            let mails = smtp.wait_for(2 * (i + 1)).await;
            let mails = &mails[2 * i..];
            let mut rcpts: Vec<&str> = mails.iter().map(|m| m.rcpt_to[0].as_str()).collect();
            rcpts.sort();
            assert_eq!(
                rcpts,
                ["suzuki@houkatsu.example.jp", "tanaka@houkatsu.example.jp"]
            );
            for m in mails {
                assert!(
                    m.subject.starts_with("【緊急通報】 辻堂地区"),
                    "{}",
                    m.subject
                );
                for part in [
                    m.text.as_deref(),
                    m.html.as_deref(),
                    Some(m.subject.as_str()),
                ] {
                    let part = part.unwrap_or_default();
                    assert!(
                        !part.contains("花子") && !part.contains("辻堂元町"),
                        "{part}"
                    );
                }
            }
            let tanaka_link = mails
                .iter()
                .find(|m| m.rcpt_to[0].starts_with("tanaka"))
                .and_then(|m| {
                    let text = m.text.as_deref()?;
                    let start = text.find("https://mimamori.example.jp/ack/")?;
                    text[start..].split_whitespace().next().map(str::to_string)
                })
                .expect("an acknowledgement link in 田中's email");
            // Served by this platform, not at the public address of the example.
            let path = tanaka_link
                .strip_prefix("https://mimamori.example.jp")
                .unwrap()
                .to_string();
            alerts.push((message, ack, path));
        }

        // Alert 1: 鈴木 presses 対応します on Telegram.
        let (message, ack, tanaka_path) = &alerts[0];
        api.press(SUZUKI, SUZUKI, message.message_id, ack);
        api.wait_until("the button's answer", |a| {
            a.answers()
                .into_iter()
                .find(|x| x["text"] == "対応開始を記録しました。")
        })
        .await;
        api.wait_until("the message edited to show who took it", |a| {
            a.edits()
                .into_iter()
                .find(|e| e.message_id == message.message_id && e.text.contains("対応中（鈴木"))
        })
        .await;
        let page = http_get(&up.http, tanaka_path);
        assert!(page.contains("既に鈴木さんが対応中です"), "{page}");

        // Alert 2: 田中 acknowledges with the email link, once.
        let (message, _, tanaka_path) = &alerts[1];
        let page = http_get(&up.http, tanaka_path);
        assert_eq!(status(&page), 200, "{page}");
        assert!(page.contains("対応します</button>"), "{page}");
        let page = http_post(&up.http, tanaka_path);
        assert_eq!(status(&page), 200, "{page}");
        assert!(page.contains("対応開始を記録しました"), "{page}");
        let page = http_post(&up.http, tanaka_path);
        assert_eq!(status(&page), 410, "{page}");
        assert!(page.contains("このリンクは使用済みです"), "{page}");
        // 鈴木's Telegram message now shows that 田中 has it.
        api.wait_until("鈴木's message edited to show 田中", |a| {
            a.edits()
                .into_iter()
                .find(|e| e.message_id == message.message_id && e.text.contains("対応中（田中"))
        })
        .await;
        shutdown.cancel();
    });
    assert!(stop(&mut child, "-TERM").success());
}

/// The status code of a raw HTTP response.
fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn http_post(addr: &str, path: &str) -> String {
    http_request(addr, "POST", path, &[], "")
}

mimamori_testkit::main!();
