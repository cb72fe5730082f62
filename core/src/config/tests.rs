//! The loader and every section's checks, through files and variables as operators write them.

use super::*;
use std::io::Write;
use std::path::Path;

fn write(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::load(Some(write(text).path()), [])
}

#[test]
fn the_example_loads_and_equals_the_defaults() {
    assert_eq!(load(EXAMPLE).unwrap(), Config::default());
}

#[test]
fn environment_overrides_the_file() {
    let f = write("[storage]\nurl = \"sqlite://a.db\"\n");
    let env = [
        (
            "MIMAMORI__STORAGE__URL",
            "postgres://postgres@127.0.0.1/test",
        ),
        ("MIMAMORI__BROKER__LISTEN", "0.0.0.0:8883"),
        ("MIMAMORI__HTTP__LISTEN", "127.0.0.1:9090"),
        ("MIMAMORI__DATA_DIR", "/var/lib/mimamori"),
        ("MIMAMORI__STORAGE__MAX_CONNECTIONS", "20"),
        ("UNRELATED", "x"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let c = Config::load(Some(f.path()), env).unwrap();
    assert_eq!(c.storage.url, "postgres://postgres@127.0.0.1/test");
    assert_eq!(c.broker.listen.port(), 8883);
    assert_eq!(c.http.listen.port(), 9090);
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/mimamori"));
    assert_eq!(c.storage.max_connections, 20);
}

#[test]
fn an_unknown_key_names_file_line_and_key() {
    let f = write("data_dir = \"x\"\n\n[storage]\nurll = \"sqlite://a.db\"\n");
    let e = Config::load(Some(f.path()), []).unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert_eq!(e.key.as_deref(), Some("storage.urll"), "{e}");
    assert!(e.message.contains("unknown field"), "{e}");
    assert!(!e.to_string().contains('\n'));
    assert!(
        e.to_string()
            .starts_with(&format!("{}:4: storage.urll: ", f.path().display()))
    );
}

#[test]
fn a_wrong_type_names_file_line_and_key() {
    let e = load("[storage]\nmax_connections = \"many\"\n").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("storage.max_connections")),
        "{e}"
    );
    let e = load("[http]\nlisten = \"not an address\"\n").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("http.listen")),
        "{e}"
    );
}

#[test]
fn a_bad_url_names_file_line_and_key() {
    let e = load("# db\n[storage]\nurl = \"mysql://x\"\n").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(3), Some("storage.url")),
        "{e}"
    );
    assert!(e.message.contains("mysql"), "{e}");
    assert!(load("[storage]\nurl = \"nonsense\"\n").is_err());
    assert!(load("[storage]\nurl = \"postgres://\"\n").is_err());
}

#[test]
fn bad_throttle_settings_name_their_key() {
    let e = load("[http]\nauth_failure_window_seconds = 0\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("http.auth_failure_window_seconds"));
    let e = load("[http]\nclient_ip_header = \"x forwarded\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("http.client_ip_header"));
    assert!(load("[http]\nmax_auth_failures = 0\nauth_failure_window_seconds = 0\n").is_ok());
    let c = load("[http]\nclient_ip_header = \"X-Forwarded-For\"\n").unwrap();
    assert_eq!(c.http.client_ip_header, "X-Forwarded-For");
}

#[test]
fn the_outbox_lease_is_bounded() {
    assert_eq!(Config::default().notify.lease_seconds, 120);
    assert_eq!(
        load("[notify]\nlease_seconds = 5\n")
            .unwrap()
            .notify
            .lease_seconds,
        5
    );
    for bad in ["0", "4", "3601"] {
        let e = load(&format!("[notify]\nlease_seconds = {bad}\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("notify.lease_seconds"), "{bad}");
    }
}

#[test]
fn the_rules_lease_is_bounded() {
    assert_eq!(
        Config::default().alerts.leader_lease(),
        std::time::Duration::from_secs(15)
    );
    let c = load("[alerts]\nleader_lease_seconds = 6\n").unwrap();
    assert_eq!(c.alerts.leader_lease(), std::time::Duration::from_secs(6));
    for bad in ["0", "2", "601"] {
        let e = load(&format!("[alerts]\nleader_lease_seconds = {bad}\n")).unwrap_err();
        assert_eq!(
            e.key.as_deref(),
            Some("alerts.leader_lease_seconds"),
            "{bad}"
        );
    }
}

#[test]
fn metrics_listen_is_optional_and_not_the_public_listener() {
    assert_eq!(load("").unwrap().http.metrics_listen, None);
    let c = load("[http]\nmetrics_listen = \"127.0.0.1:9090\"\n").unwrap();
    assert_eq!(
        c.http.metrics_listen,
        Some("127.0.0.1:9090".parse().unwrap())
    );
    let e = load("[http]\nlisten = \"127.0.0.1:9090\"\nmetrics_listen = \"127.0.0.1:9090\"\n")
        .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("http.metrics_listen"));
    let e = load("[http]\nmetrics_listen = \"nowhere\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("http.metrics_listen"));
}

#[test]
fn bad_rule_settings_name_their_key() {
    for (text, key) in [
        ("[rules]\nheartbeat_misses = 0\n", "rules.heartbeat_misses"),
        (
            "[rules]\nbattery_low_percent = 100\n",
            "rules.battery_low_percent",
        ),
        ("[rules]\ncompound_kinds = 4\n", "rules.compound_kinds"),
        (
            "[rules]\ncompound_window_days = 0\n",
            "rules.compound_window_days",
        ),
    ] {
        assert_eq!(load(text).unwrap_err().key.as_deref(), Some(key), "{text}");
    }
    let c = load("[rules]\ncompound_kinds = 2\ncompound_window_days = 14\n").unwrap();
    assert_eq!(
        (c.rules.compound_kinds, c.rules.compound_window_days),
        (2, 14)
    );
}

#[test]
fn a_missing_file_is_one_line() {
    let e = Config::load(Some(Path::new("/nonexistent/mimamori.toml")), []).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/mimamori.toml: configuration file not found"
    );
}

#[test]
fn broken_toml_names_the_line() {
    let e = load("[storage]\nurl = \n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert!(!e.to_string().contains('\n'), "{e}");
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let env = [("MIMAMORI__HTTP__LISTEN".to_string(), "nowhere".to_string())];
    let e = Config::load(None, env).unwrap_err();
    assert_eq!(e.origin, "MIMAMORI__HTTP__LISTEN", "{e}");
    assert_eq!(e.key.as_deref(), Some("http.listen"));
    let env = [(
        "MIMAMORI__STORAGE__URL".to_string(),
        "mysql://x".to_string(),
    )];
    let e = Config::load(None, env).unwrap_err();
    assert_eq!(e.origin, "MIMAMORI__STORAGE__URL", "{e}");
    let env = [("MIMAMORI__NOPE__X".to_string(), "1".to_string())];
    let e = Config::load(None, env).unwrap_err();
    assert_eq!(e.origin, "MIMAMORI__NOPE__X", "{e}");
}

#[test]
fn a_bad_timezone_is_refused() {
    let e = load("[city]\ntimezone = \"Mars/Olympus\"\n").unwrap_err();
    assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("city.timezone")));
}

#[test]
fn the_citys_emergency_target_is_read_and_nonsense_refused() {
    let c = load("[city]\nack_target_minutes = 10\nack_target_percent = 90\n").unwrap();
    assert_eq!(
        (c.city.ack_target_minutes, c.city.ack_target_percent),
        (10, 90)
    );
    let c = load("").unwrap();
    assert_eq!(
        (c.city.ack_target_minutes, c.city.ack_target_percent),
        (5, 95)
    );
    for (text, key) in [
        ("ack_target_minutes = 0", "city.ack_target_minutes"),
        ("ack_target_minutes = 100000", "city.ack_target_minutes"),
        ("ack_target_percent = 0", "city.ack_target_percent"),
        ("ack_target_percent = 101", "city.ack_target_percent"),
    ] {
        let e = load(&format!("[city]\n{text}\n")).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some(key)), "{e}");
    }
    let e = load("[city]\nack_target_minutes = -5\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
}

#[test]
fn the_withdrawn_mqtt5_listener_is_refused_with_its_reason() {
    let e = load("[broker]\nlisten_v5 = \"127.0.0.1:1884\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("broker.listen_v5"), "{e}");
    assert!(e.message.contains("MQTT 3.1.1 only"), "{e}");
}

#[test]
fn an_acknowledgement_is_held_a_second_at_most() {
    assert_eq!(load("").unwrap().broker.ack_hold_ms, 20);
    assert_eq!(
        load("[broker]\nack_hold_ms = 0\n")
            .unwrap()
            .broker
            .ack_hold_ms,
        0
    );
    let e = load("[broker]\nack_hold_ms = 5000\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("broker.ack_hold_ms"), "{e}");
    assert!(e.message.contains("at most 1000 ms"), "{e}");
    let e = load("[broker]\nack_hold_ms = -1\n").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("broker.ack_hold_ms")),
        "{e}"
    );
}

#[test]
fn a_tls_listener_needs_its_files() {
    let e = load("[broker]\ntls_listen = \"127.0.0.1:8883\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("broker.tls_cert"), "{e}");
    let e = load("[broker]\ntls_listen = \"127.0.0.1:8883\"\ntls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"\n").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(3), Some("broker.tls_cert")),
        "{e}"
    );
    assert!(e.message.contains("not a readable file"), "{e}");
}

#[test]
fn webhooks_are_checked() {
    let ok = load("[[notify.webhooks]]\nurl = \"https://hooks.example.jp/x\"\nsecret = \"0123456789abcdef\"\nteams = [\"coordinator\"]\n").unwrap();
    assert_eq!(ok.notify.webhooks[0].teams, ["coordinator"]);
    let e = load("[[notify.webhooks]]\nurl = \"ftp://x\"\nsecret = \"0123456789abcdef\"\n")
        .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("notify.webhooks.url"), "{e}");
    let e = load("[[notify.webhooks]]\nurl = \"https://x.jp\"\nsecret = \"short\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("notify.webhooks.secret"), "{e}");
    let e = load("[[notify.webhooks]]\nurl = \"https://x.jp\"\n").unwrap_err();
    assert!(e.message.contains("secret"), "{e}");
}

#[test]
fn the_default_database_is_a_file_in_the_data_dir() {
    let c = Config::default();
    assert_eq!(c.database_url(), "sqlite://mimamori-data/mimamori.db");
    assert_eq!(backend_of(&c.database_url()), Ok(Backend::Sqlite));
}

#[test]
fn routing_and_escalation_settings_are_checked() {
    let cases = [
        (
            "[alerts]\noffice_hours = \"weekdays\"\n",
            "alerts.office_hours",
            "is not like",
        ),
        (
            "[[alerts.routes]]\nkinds = []\nteam = \"csw\"\n",
            "alerts.routes",
            "rule 1: kinds must not be empty",
        ),
        (
            "[[alerts.routes]]\nkinds = [\"emergency\"]\nteam = \"csw\"\nmin_age = 200\n",
            "alerts.routes",
            "min_age 200",
        ),
        (
            "[[alerts.escalations]]\nkind = \"emergency\"\nfirst_after_minutes = 0\nto = \"coordinator\"\n",
            "alerts.escalations",
            "at least 1 minute",
        ),
        (
            "[[alerts.escalations]]\nkind = \"emergency\"\nfirst_after_minutes = 5\nto = \"houkatsu\"\n",
            "alerts.escalations",
            "city-wide team",
        ),
        (
            "[[alerts.escalations]]\nkind = \"emergency\"\nfirst_after_minutes = 5\nto = \"coordinator\"\n[[alerts.escalations]]\nkind = \"emergency\"\nfirst_after_minutes = 9\nto = \"coordinator\"\n",
            "alerts.escalations",
            "two chains",
        ),
    ];
    for (text, key, message) in cases {
        let err = load(text).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{text}: {err}");
        assert!(err.message.contains(message), "{text}: {err}");
    }
    // Unknown kinds and teams are named by the parser, with the line.
    let err = load("[[alerts.routes]]\nkinds = [\"earthquake\"]\nteam = \"csw\"\n").unwrap_err();
    assert_eq!(err.line, Some(2), "{err}");
    assert!(err.to_string().contains("earthquake"), "{err}");
    let ok = load("[alerts]\noffice_hours = \"\"\n[[alerts.escalations]]\nkind = \"inactivity\"\nfirst_after_minutes = 60\nto = \"coordinator\"\n").unwrap();
    assert_eq!(ok.alerts.escalations[0].repeat_every_minutes, None);
}

#[test]
fn telegram_and_email_settings_are_checked() {
    let err = load("[notify.telegram]\nenabled = true\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("notify.telegram.token"));
    let err = load("[notify.telegram]\nenabled = true\ntoken = \"1:x\"\nmode = \"webhook\"\nwebhook_secret = \"short\"\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("notify.telegram.webhook_secret"));
    let err = load("[notify.telegram]\nenabled = true\ntoken = \"1:x\"\napi_url = \"ftp://x\"\n")
        .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("notify.telegram.api_url"));
    let err = load("[notify.telegram]\nmode = \"carrier-pigeon\"\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("notify.telegram.mode"));
    let err = load("[notify.email]\nenabled = true\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("notify.email.smtp_host"));
    let err = load("[notify.email]\nlink_valid_hours = 0\n").unwrap_err();
    assert_eq!(err.key.as_deref(), Some("notify.email.link_valid_hours"));
    assert!(load("[notify.telegram]\nenabled = true\ntoken = \"1:x\"\nmode = \"webhook\"\nwebhook_secret = \"0123456789abcdef_-\"\n").is_ok());
}

#[test]
fn passwords_are_redacted() {
    assert_eq!(
        redact_url("postgres://u:secret@h/db"),
        "postgres://u:***@h/db"
    );
    assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
}

#[test]
fn a_logged_configuration_shows_no_secret() {
    let secrets = [
        "db-password-0001",
        "mqtt-password-0002",
        "123456:telegram-token-0003",
        "telegram_webhook_secret_0004",
        "smtp-password-0005",
        "webhook-signing-key-0006",
    ];
    let env = [
        (
            "MIMAMORI__STORAGE__URL",
            format!("postgres://mimamori:{}@db.example/mimamori", secrets[0]),
        ),
        ("MIMAMORI__MQTT__PASSWORD", secrets[1].into()),
        ("MIMAMORI__NOTIFY__TELEGRAM__ENABLED", "true".into()),
        ("MIMAMORI__NOTIFY__TELEGRAM__TOKEN", secrets[2].into()),
        ("MIMAMORI__NOTIFY__TELEGRAM__MODE", "webhook".into()),
        (
            "MIMAMORI__NOTIFY__TELEGRAM__WEBHOOK_SECRET",
            secrets[3].into(),
        ),
        ("MIMAMORI__NOTIFY__EMAIL__USERNAME", "mimamori".into()),
        ("MIMAMORI__NOTIFY__EMAIL__PASSWORD", secrets[4].into()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    let f = write(&format!(
        "[[notify.webhooks]]\nurl = \"https://hooks.example.jp/x\"\nsecret = \"{}\"\n",
        secrets[5]
    ));
    let c = Config::load(Some(f.path()), env).unwrap();
    assert_eq!(c.mqtt.password.expose_secret(), secrets[1]);
    assert_eq!(c.notify.webhooks[0].secret.expose_secret(), secrets[5]);
    let shown = format!("{c:?} {c:#?}");
    for s in secrets {
        assert!(!shown.contains(s), "{s} shows in {shown}");
    }
    assert!(shown.contains("[REDACTED]"));
}
