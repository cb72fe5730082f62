//! The admin pages (issue 17): an admin manages devices, responders, partners and teams in the
//! browser and reads the audit log; nobody else may open or post to them; every post needs the
//! session's form token; hostile input is refused with a clear message and changes nothing.
//! Every admin page is screenshotted into `target/screenshots/` and checked with axe-core.

use mimamori_core::clock::ManualClock;
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::Store;
use mimamori_testapp::pages::look_at;
use mimamori_testapp::{Options, TestApp, home, jst, people, spawn_app};
use mimamori_testkit::browser::Browser;
use reqwest::StatusCode;
use reqwest::header::COOKIE;

on_both_backends!(
    only_an_admin_may_open_or_post_to_the_admin_pages,
    an_admin_post_without_the_form_token_changes_nothing,
    an_admin_rotates_a_devices_secret_and_changes_a_responders_role,
    hostile_input_is_refused_with_a_clear_message_and_changes_nothing,
    the_audit_log_finds_the_admins_actions_by_who_what_and_when,
    an_admin_adds_a_device_sees_its_secret_once_and_disables_it: [Browser],
);

/// A responder of `team` with a sign-in token, and `role`.
async fn person(store: &Store, id: &str, team: &str, name: &str, role: Role) -> String {
    people::responder(store, id, team, name, None, None).await;
    let responder = ResponderId::parse(id).unwrap();
    store.set_responder_role(&responder, role).await.unwrap();
    let token = format!("mmr_{}", mimamori_core::secret::generate(33));
    store
        .add_responder_token(
            &responder,
            &token_hash(&token),
            mimamori_core::testing::t0(),
        )
        .await
        .unwrap();
    token
}

/// The form token on a signed-in page (every page's sign-out form carries it).
fn form_token(page: &str) -> String {
    page.split("name=\"form_token\" value=\"")
        .nth(1)
        .expect("a form token on the page")
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

/// Posts `fields` to `path` signed in with `cookie`: status and page.
async fn post(
    app: &TestApp,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = app
        .http_no_redirects
        .post(app.url(path))
        .header(COOKIE, cookie)
        .form(fields)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Every admin page.
const PAGES: [&str; 6] = [
    "/admin",
    "/admin/devices",
    "/admin/responders",
    "/admin/partners",
    "/admin/teams",
    "/admin/audit",
];

/// Every admin post, with a form an admin could send.
fn posts() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        (
            "/admin/devices",
            vec![
                ("kind", "call_button"),
                ("heartbeat", "300"),
                ("id", "button-x"),
            ],
        ),
        ("/admin/devices/button-e/disable", vec![]),
        ("/admin/devices/button-e/enable", vec![]),
        ("/admin/devices/button-e/secret", vec![]),
        (
            "/admin/responders",
            vec![
                ("name", "侵入 太郎"),
                ("team", "coordinator"),
                ("role", "admin"),
            ],
        ),
        ("/admin/responders/p-sato/token", vec![]),
        ("/admin/responders/p-sato/role", vec![("role", "admin")]),
        ("/admin/responders/p-sato/deactivate", vec![]),
        (
            "/admin/partners",
            vec![("name", "偽郵便局"), ("kind", "post")],
        ),
        ("/admin/partners/post-1/token", vec![]),
        ("/admin/partners/post-1/revoke", vec![]),
        (
            "/admin/teams",
            vec![("name", "偽チーム"), ("kind", "coordinator")],
        ),
    ]
}

/// How many of each thing there are (and how many enabled or active), and the audit entries of
/// changes to them: what must not change.
async fn everything(store: &Store) -> (usize, usize, usize, usize, Vec<String>) {
    let devices = store.list_devices(None).await.unwrap();
    let enabled = devices.iter().filter(|d| d.enabled).count();
    let responders = store.list_responders(None).await.unwrap();
    let active = responders.iter().filter(|r| r.active).count();
    let audit = store
        .search_audit(&Default::default(), 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| ["device", "responder", "partner", "team"].contains(&e.object_kind.as_str()))
        .map(|e| format!("{} {} {:?}", e.actor, e.action, e.object_id))
        .collect();
    (
        devices.len() * 100 + enabled,
        responders.len() * 100 + active,
        store.list_partners().await.unwrap().len(),
        store.list_teams(None).await.unwrap().len(),
        audit,
    )
}

/// A partner with a token, 鵠沼's call button and 佐藤 of 鵠沼's 包括.
async fn registry(store: &Store, clock: &ManualClock) {
    use mimamori_core::clock::Clock;
    home::resident_with_button(store, clock.now()).await;
    store
        .add_partner(
            &NewPartner {
                id: PartnerId::parse("post-1").unwrap(),
                name: "藤沢郵便局".into(),
                kind: PartnerKind::Post,
                agreement: None,
            },
            &token_hash("mmp_partner-token"),
            clock.now(),
        )
        .await
        .unwrap();
}

async fn only_an_admin_may_open_or_post_to_the_admin_pages(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let sato = person(
        &store,
        "p-sato",
        "houkatsu-kugenuma",
        "佐藤 美咲",
        Role::Responder,
    )
    .await;
    let backup = person(
        &store,
        "p-backup",
        "coordinator",
        "市 調整担当",
        Role::Coordinator,
    )
    .await;
    let admin = person(&store, "p-admin", "coordinator", "市 管理者", Role::Admin).await;
    registry(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let before = everything(&store).await;

    // Nobody signed in: sent to sign in, to come back.
    for path in PAGES {
        let r = app
            .http_no_redirects
            .get(app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login")
        );
    }
    // A district's worker and the city's coordinator: 403 on every page and every post, even
    // with their own session's form token, and no link to the pages.
    for (who, token) in [("a district's worker", &sato), ("the coordinator", &backup)] {
        let cookie = app.sign_in(token).await;
        let (_, home) = app.page("/alerts", &cookie).await;
        assert!(
            !home.contains("/admin"),
            "{who}: no link to the admin pages"
        );
        let own = form_token(&home);
        for path in PAGES {
            let (status, page) = app.page(path, &cookie).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}: GET {path}");
            assert!(
                page.contains("管理者だけが使えます"),
                "{who}: {path} says why"
            );
        }
        for (path, fields) in posts() {
            let mut fields = fields.clone();
            fields.push(("form_token", &own));
            let (status, _) = post(&app, &cookie, path, &fields).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{who}: POST {path}");
        }
    }
    assert_eq!(everything(&store).await, before, "nothing changed");

    // The admin: the link in the menu, and every page.
    let cookie = app.sign_in(&admin).await;
    let (_, home) = app.page("/alerts", &cookie).await;
    assert!(
        home.contains("href=\"/admin/devices\""),
        "the menu links the admin pages"
    );
    for path in PAGES {
        let (status, _) = app.page(path, &cookie).await;
        assert_eq!(status, StatusCode::OK, "admin: GET {path}");
    }
}

async fn an_admin_post_without_the_form_token_changes_nothing(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    people::responder(
        &store,
        "p-sato",
        "houkatsu-kugenuma",
        "佐藤 美咲",
        None,
        None,
    )
    .await;
    let admin = person(&store, "p-admin", "coordinator", "市 管理者", Role::Admin).await;
    registry(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&admin).await;
    let before = everything(&store).await;
    for (path, fields) in posts() {
        // No token at all, and another session's (or a stale page's) token.
        let (status, page) = post(&app, &cookie, path, &fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "POST {path} without a token");
        assert!(page.contains("ほかのサイトからの送信"), "{path} says why");
        let mut forged = fields.clone();
        forged.push(("form_token", "forged-token"));
        let (status, _) = post(&app, &cookie, path, &forged).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "POST {path} with a forged token"
        );
    }
    assert_eq!(everything(&store).await, before, "nothing changed");
}

/// A post that must be refused: where, with what, the status, and what the page says.
type Refusal<'a> = (&'a str, Vec<(&'a str, &'a str)>, StatusCode, &'a str);

async fn hostile_input_is_refused_with_a_clear_message_and_changes_nothing(
    store: Store,
    _url: String,
) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let admin = person(&store, "p-admin", "coordinator", "市 管理者", Role::Admin).await;
    registry(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&admin).await;
    let (_, page) = app.page("/admin/devices", &cookie).await;
    let token = form_token(&page);
    let before = everything(&store).await;
    let long = "あ".repeat(101);
    let script = "<script>alert(1)</script>";
    let cases: Vec<Refusal> = vec![
        // Devices.
        (
            "/admin/devices",
            vec![
                ("kind", "call_button"),
                ("heartbeat", "300"),
                ("resident", "r-nobody"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "その見守り対象者はいません",
        ),
        (
            "/admin/devices",
            vec![
                ("kind", "call_button"),
                ("heartbeat", "300"),
                ("id", script),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "機器IDが正しくありません",
        ),
        (
            "/admin/devices",
            vec![
                ("kind", "call_button"),
                ("heartbeat", "300"),
                ("id", "mimamori-gateway"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "システム用",
        ),
        (
            "/admin/devices",
            vec![
                ("kind", "call_button"),
                ("heartbeat", "300"),
                ("id", "button-e"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "重複",
        ),
        (
            "/admin/devices",
            vec![("kind", "rocket"), ("heartbeat", "300")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "機器の種類を選んでください",
        ),
        (
            "/admin/devices",
            vec![("kind", "call_button"), ("heartbeat", "soon")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "死活確認の間隔",
        ),
        (
            "/admin/devices",
            vec![
                ("kind", "call_button"),
                ("heartbeat", "300"),
                ("label", &long),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "設置場所は100文字までです",
        ),
        (
            "/admin/devices/no-such-device/disable",
            vec![],
            StatusCode::NOT_FOUND,
            "見つかりません",
        ),
        (
            "/admin/devices/%3Cscript%3E/enable",
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "機器IDが正しくありません",
        ),
        (
            "/admin/devices/no-such-device/secret",
            vec![],
            StatusCode::NOT_FOUND,
            "見つかりません",
        ),
        (
            "/admin/devices/%3Cscript%3E/secret",
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "機器IDが正しくありません",
        ),
        // Responders.
        (
            "/admin/responders/p-nobody/role",
            vec![("role", "admin")],
            StatusCode::NOT_FOUND,
            "見つかりません",
        ),
        (
            "/admin/responders/p-admin/role",
            vec![("role", "root")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "役割を選んでください",
        ),
        (
            "/admin/responders/p-admin/role",
            vec![("role", "responder")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "自分の役割は変更できません",
        ),
        (
            "/admin/responders/%3Cscript%3E/role",
            vec![("role", "admin")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "担当者IDが正しくありません",
        ),
        (
            "/admin/responders",
            vec![("name", &long), ("team", "coordinator")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "氏名は100文字までです",
        ),
        (
            "/admin/responders",
            vec![("name", script), ("team", "coordinator")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "氏名に &lt; や &gt; は使えません",
        ),
        (
            "/admin/responders",
            vec![("name", "藤\u{0007}沢"), ("team", "coordinator")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "氏名に使えない文字があります",
        ),
        (
            "/admin/responders",
            vec![("name", "新人 一郎"), ("team", "no-such-team")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "そのチームはありません",
        ),
        (
            "/admin/responders",
            vec![
                ("name", "新人 一郎"),
                ("team", "coordinator"),
                ("role", "root"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "役割を選んでください",
        ),
        (
            "/admin/responders",
            vec![
                ("name", "新人 一郎"),
                ("team", "coordinator"),
                ("email", "not an address"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "メールアドレスが正しくありません",
        ),
        (
            "/admin/responders/p-nobody/token",
            vec![],
            StatusCode::NOT_FOUND,
            "見つかりません",
        ),
        (
            "/admin/responders/p-nobody/deactivate",
            vec![],
            StatusCode::NOT_FOUND,
            "見つかりません",
        ),
        // Partners.
        (
            "/admin/partners",
            vec![("name", &long), ("kind", "post")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "名称は100文字までです",
        ),
        (
            "/admin/partners",
            vec![("name", "郵便局"), ("kind", "spy")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "事業者の種類を選んでください",
        ),
        (
            "/admin/partners/nobody/token",
            vec![],
            StatusCode::NOT_FOUND,
            "見つかりません",
        ),
        (
            "/admin/partners/nobody/revoke",
            vec![],
            StatusCode::NOT_FOUND,
            "見つかりません",
        ),
        // Teams.
        (
            "/admin/teams",
            vec![("name", "包括X"), ("kind", "houkatsu")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "地区を選んでください",
        ),
        (
            "/admin/teams",
            vec![
                ("name", "包括X"),
                ("kind", "houkatsu"),
                ("district", "atlantis"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "その地区はありません",
        ),
        (
            "/admin/teams",
            vec![("name", script), ("kind", "coordinator")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "使えません",
        ),
        (
            "/admin/teams",
            vec![
                ("name", "市の班"),
                ("kind", "coordinator"),
                ("id", "coordinator"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "重複",
        ),
    ];
    for (path, fields, expected, says) in cases {
        let mut fields = fields.clone();
        fields.push(("form_token", &token));
        let (status, page) = post(&app, &cookie, path, &fields).await;
        assert_eq!(status, expected, "POST {path} {fields:?}");
        assert!(
            page.contains(says),
            "POST {path} {fields:?} says {says:?}:\n{page}"
        );
        assert!(
            page.contains("何も変更していません"),
            "{path}: says nothing changed"
        );
        assert!(!page.contains("<script>alert"), "{path}: nothing unescaped");
    }
    assert_eq!(everything(&store).await, before, "nothing changed");
}

async fn an_admin_rotates_a_devices_secret_and_changes_a_responders_role(
    store: Store,
    _url: String,
) {
    use mimamori_core::secret::{DeviceSecretCheck, check_device_secret, device_mac_key};
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let sato = person(
        &store,
        "p-sato",
        "houkatsu-kugenuma",
        "佐藤 美咲",
        Role::Responder,
    )
    .await;
    let admin = person(&store, "p-admin", "coordinator", "市 管理者", Role::Admin).await;
    registry(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&admin).await;
    let (_, page) = app.page("/admin/devices", &cookie).await;
    assert!(page.contains("action=\"/admin/devices/button-e/secret\""));
    let token = form_token(&page);
    let button = DeviceId::parse("button-e").unwrap();

    // Rotated twice: each new password shown once, on the answer; the one before stops working
    // (the stored check, the message key) and the broker is told to drop a connection made
    // with it (the revocation feed, as the command line's rotate-secret does).
    let mut passwords = Vec::new();
    for _ in 0..2 {
        let (status, page) = post(
            &app,
            &cookie,
            "/admin/devices/button-e/secret",
            &[("form_token", &token)],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let issued = &page[page.find("class=\"issued").expect("issued")..];
        let password = issued
            .split("<code class=\"secret\">")
            .nth(2)
            .expect("the new password")
            .split('<')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(password.len(), 24, "a device password");
        assert!(issued.contains("パスワードを再発行しました"));
        passwords.push(password);
    }
    let device = store.get_device(&button).await.unwrap().unwrap();
    assert_eq!(
        check_device_secret(&passwords[1], &device.secret_hash),
        DeviceSecretCheck::Valid
    );
    assert_eq!(
        check_device_secret(&passwords[0], &device.secret_hash),
        DeviceSecretCheck::Invalid,
        "the old password stops working"
    );
    assert_eq!(device.mac_key, device_mac_key(&passwords[1]));
    let revoked = store.login_revocations_after(0, 100).await.unwrap();
    assert_eq!(
        revoked
            .iter()
            .filter(|r| r.client_id == "button-e" && r.reason == "device.secret")
            .count(),
        2
    );
    let (_, again) = app.page("/admin/devices", &cookie).await;
    assert!(!again.contains(&passwords[1]), "shown once");
    let audit = store
        .list_audit("device", Some("button-e"), 10)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .filter(|e| e.actor == "responder:p-admin" && e.action == "device.rotate_secret")
            .count()
            == 2
    );
    for e in &audit {
        let detail = e.detail.to_string();
        assert!(
            !passwords.iter().any(|p| detail.contains(p.as_str())),
            "no secret in the audit"
        );
    }

    // 佐藤 made a coordinator: audited with before and after, and it takes effect at once.
    let district = app.sign_in(&sato).await;
    assert_eq!(
        app.page("/figures", &district).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, page) = app.page("/admin/responders", &cookie).await;
    assert!(page.contains("action=\"/admin/responders/p-sato/role\""));
    assert!(
        !page.contains("action=\"/admin/responders/p-admin/role\""),
        "no form for the admin's own role"
    );
    let (status, _) = post(
        &app,
        &cookie,
        "/admin/responders/p-sato/role",
        &[("form_token", &token), ("role", "coordinator")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let sato_now = store
        .get_responder(&ResponderId::parse("p-sato").unwrap())
        .await
        .unwrap();
    assert_eq!(sato_now.role, Role::Coordinator);
    let audit = store
        .list_audit("responder", Some("p-sato"), 10)
        .await
        .unwrap();
    let change = audit
        .iter()
        .find(|e| e.action == "responder.role")
        .expect("audited");
    assert_eq!(change.actor, "responder:p-admin");
    assert_eq!(
        (&change.detail["from"], &change.detail["to"]),
        (
            &serde_json::json!("responder"),
            &serde_json::json!("coordinator")
        )
    );
    assert_eq!(app.page("/figures", &district).await.0, StatusCode::OK);
}

async fn the_audit_log_finds_the_admins_actions_by_who_what_and_when(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let admin = person(&store, "p-admin", "coordinator", "市 管理者", Role::Admin).await;
    registry(&store, &clock).await;
    // Someone else's entries: the command line, long before.
    for n in 0..60 {
        store
            .record_audit(&NewAuditEntry {
                actor: Actor("cli:ops".into()),
                action: "team.add".into(),
                object_kind: "team".into(),
                object_id: Some(format!("t-{n}")),
                detail: serde_json::json!({}),
                at: jst("2026-11-01T09:00:00"),
            })
            .await
            .unwrap();
    }
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&admin).await;
    let (_, page) = app.page("/admin/devices", &cookie).await;
    let token = form_token(&page);
    let (status, _) = post(
        &app,
        &cookie,
        "/admin/devices",
        &[
            ("form_token", &token),
            ("kind", "door"),
            ("heartbeat", "300"),
            ("id", "door-9"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &app,
        &cookie,
        "/admin/teams",
        &[
            ("form_token", &token),
            ("kind", "operators"),
            ("name", "機器班"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Who and what: the admin's device change, not the team, not the command line's.
    let (status, page) = app
        .page("/admin/audit?who=p-admin&action=device.", &cookie)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("device.add"), "{page}");
    assert!(page.contains("機器の登録"));
    assert!(page.contains("device door-9"));
    assert!(page.contains("市 管理者"), "named");
    assert!(!page.contains("team.add"));
    assert!(!page.contains("cli:ops"));
    // The period: that day (in the city's zone) has them; the day before has none of them.
    let (_, page) = app
        .page(
            "/admin/audit?who=p-admin&from=2026-12-01&until=2026-12-01",
            &cookie,
        )
        .await;
    assert!(page.contains("device.add") && page.contains("team.add"));
    let (_, page) = app
        .page("/admin/audit?who=p-admin&until=2026-11-30", &cookie)
        .await;
    assert!(!page.contains("device.add"));
    assert!(page.contains("該当する記録はありません"));
    // Paged: 60 of the command line's, 50 a page.
    let (_, first) = app.page("/admin/audit?who=cli%3Aops", &cookie).await;
    assert_eq!(first.matches("<td>2026/11/01 09:00:00</td>").count(), 50);
    assert!(first.contains("次のページ"));
    let (_, second) = app.page("/admin/audit?who=cli%3Aops&page=2", &cookie).await;
    assert_eq!(second.matches("<td>2026/11/01 09:00:00</td>").count(), 10);
    assert!(second.contains("前のページ") && !second.contains("次のページ"));
    // A LIKE wildcard is only itself.
    let (_, page) = app.page("/admin/audit?who=%25", &cookie).await;
    assert!(page.contains("該当する記録はありません"));
    // Filters that are no date or too long: said, not guessed.
    for bad in [
        "from=2026-13-45",
        "until=yesterday",
        &format!("who={}", "x".repeat(101)),
    ] {
        let (status, page) = app.page(&format!("/admin/audit?{bad}"), &cookie).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(page.contains("role=\"alert\""), "{bad}");
    }
}

/// The browser signs in with `token` through the form.
async fn browser_signs_in(browser: &Browser, app: &TestApp, token: &str) {
    browser.goto(&app.url("/login")).await;
    browser
        .find("input[name=token]")
        .await
        .type_text(token)
        .await;
    browser
        .find("button[type=submit]")
        .await
        .click_to_load()
        .await;
    assert!(browser.url().await.ends_with("/alerts"));
}

async fn an_admin_adds_a_device_sees_its_secret_once_and_disables_it(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    people::responder(
        &store,
        "p-sato",
        "houkatsu-kugenuma",
        "佐藤 美咲",
        None,
        None,
    )
    .await;
    let admin = person(&store, "p-admin", "coordinator", "市 管理者", Role::Admin).await;
    registry(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let browser = Browser::start().await;
    browser_signs_in(&browser, &app, &admin).await;

    // From the menu to the devices.
    browser
        .find("header nav a[href='/admin/devices']")
        .await
        .click_to_load()
        .await;
    look_at(&browser, "admin-devices").await;
    browser
        .find("#device-kind option[value=call_button]")
        .await
        .click()
        .await;
    browser
        .find("#device-resident")
        .await
        .type_text("r-elder")
        .await;
    browser.find("#device-label").await.type_text("寝室").await;
    browser
        .find("#device-id")
        .await
        .type_text("button-new")
        .await;
    browser
        .find("form[action='/admin/devices'] button[type=submit]")
        .await
        .click_to_load()
        .await;

    // Its password, once: on the page the post answered with.
    let issued = browser.find(".issued").await.text().await;
    assert!(issued.contains("button-new"), "{issued}");
    let secrets = browser
        .execute(
            "return [...document.querySelectorAll('.issued code.secret')].map(c => c.textContent);",
            vec![],
        )
        .await;
    let password = secrets[1].as_str().unwrap().to_string();
    assert_eq!(password.len(), 24, "a device password");
    let device = store
        .get_device(&DeviceId::parse("button-new").unwrap())
        .await
        .unwrap()
        .expect("registered");
    assert!(device.enabled);
    assert_eq!(
        device.resident.as_ref().map(ResidentId::as_str),
        Some("r-elder")
    );
    assert_ne!(device.secret_hash, password, "stored hashed");
    assert_eq!(
        device.mac_key,
        mimamori_core::secret::device_mac_key(&password)
    );
    look_at(&browser, "admin-device-added").await;
    // Never again: not on the list, not on any admin page.
    for path in ["/admin/devices", "/admin/audit"] {
        browser.goto(&app.url(path)).await;
        assert!(!browser.text().await.contains(&password), "{path}");
    }

    // Disabled: refused from now on, and dropped from the broker at once (the revocation feed
    // the embedded broker reads).
    browser.goto(&app.url("/admin/devices")).await;
    browser
        .find("#device-button-new form[action$='/disable'] button")
        .await
        .click_to_load()
        .await;
    let device = store
        .get_device(&DeviceId::parse("button-new").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!device.enabled);
    let revoked = store.login_revocations_after(0, 100).await.unwrap();
    assert!(
        revoked
            .iter()
            .any(|r| r.client_id == "button-new" && r.reason == "device.disabled")
    );
    assert!(
        browser
            .try_find("#device-button-new form[action$='/enable']")
            .await
            .is_some()
    );
    let audit = store
        .list_audit("device", Some("button-new"), 10)
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("responder:p-admin", "device.disable"),
            ("responder:p-admin", "device.add")
        ]
    );

    // A new password for it: shown once, the first one no longer valid.
    browser
        .find("#device-button-new form[action$='/secret'] button")
        .await
        .click_to_load()
        .await;
    let rotated = browser
        .execute(
            "return [...document.querySelectorAll('.issued code.secret')].map(c => c.textContent);",
            vec![],
        )
        .await;
    let rotated = rotated[1].as_str().unwrap().to_string();
    assert_ne!(rotated, password);
    let device = store
        .get_device(&DeviceId::parse("button-new").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        mimamori_core::secret::check_device_secret(&password, &device.secret_hash),
        mimamori_core::secret::DeviceSecretCheck::Invalid
    );
    look_at(&browser, "admin-device-rotated").await;

    // The other admin pages, looked at as an admin would; a token issued to a responder.
    browser.goto(&app.url("/admin/responders")).await;
    look_at(&browser, "admin-responders").await;
    browser
        .find("#responder-p-sato form[action$='/token'] button")
        .await
        .click_to_load()
        .await;
    let token = browser.find(".issued code.secret").await.text().await;
    assert!(token.starts_with("mmr_"), "{token}");
    assert!(
        store
            .responder_by_token(&token_hash(&token))
            .await
            .unwrap()
            .is_some(),
        "the token signs 佐藤 in"
    );
    look_at(&browser, "admin-responder-token").await;
    browser.goto(&app.url("/admin/partners")).await;
    look_at(&browser, "admin-partners").await;
    browser.goto(&app.url("/admin/teams")).await;
    look_at(&browser, "admin-teams").await;
    browser.goto(&app.url("/admin/audit?who=p-admin")).await;
    look_at(&browser, "admin-audit").await;
    // A refused form, as the admin sees it.
    browser.goto(&app.url("/admin/devices")).await;
    browser
        .find("#device-id")
        .await
        .type_text("mimamori-x")
        .await;
    browser
        .find("form[action='/admin/devices'] button[type=submit]")
        .await
        .click_to_load()
        .await;
    assert!(
        browser
            .find("p.error")
            .await
            .text()
            .await
            .contains("システム用")
    );
    look_at(&browser, "admin-device-refused").await;

    browser.quit().await;
}

mimamori_testkit::main!();
