//! The pages before sign-in, as a new user meets them (issue 17, "first run"): while `up --demo`
//! runs, the status page signs the demo's admin in with one click — for a browser on the machine
//! itself only, never through a proxy or under another site's name — and nowhere else. And the
//! English switch on each of them — the status page, sign-in, the partners' report form, the
//! mail links' pages, with their refusals — Japanese without it, and never a way off the site.

use chrono::Duration;
use mimamori_alerts::notify::link::LinkSigner;
use mimamori_core::clock::{Clock, ManualClock};
use mimamori_core::config::EmailTransport;
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::{Routed, Store};
use mimamori_testapp::pages::{look_at, switch_language};
use mimamori_testapp::platform::provision_partner;
use mimamori_testapp::{Options, TestApp, jst, people, spawn_app};
use mimamori_testkit::browser::Browser;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, COOKIE, HOST, LOCATION, SET_COOKIE};

on_both_backends!(
    the_demo_signs_in_from_the_machine_itself_with_one_click,
    without_the_demo_there_is_no_button_and_no_route,
    the_demo_sign_in_refuses_what_may_not_be_the_machine_itself,
    every_page_before_sign_in_speaks_english_after_the_switch_and_japanese_without_it,
    the_switch_goes_back_to_our_own_pages_only,
    a_new_user_signs_in_to_the_demo_with_the_button: [Browser],
    a_partners_clerk_reads_the_report_form_in_english: [Browser],
);

/// The demo's admin (as `up --demo` makes it): its access token.
async fn demo_admin(store: &Store) -> String {
    people::responder(
        store,
        "p-demo-coordinator",
        "coordinator",
        "デモ担当（バックアップふじさわ）",
        None,
        None,
    )
    .await;
    let id = ResponderId::parse("p-demo-coordinator").unwrap();
    store.set_responder_role(&id, Role::Admin).await.unwrap();
    let token = format!("mmr_{}", mimamori_core::secret::generate(33));
    store
        .add_responder_token(&id, &token_hash(&token), mimamori_core::testing::t0())
        .await
        .unwrap();
    token
}

async fn app(store: &Store, options: impl FnOnce(Options) -> Options) -> TestApp {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    spawn_app(store.clone(), options(Options::on(clock))).await
}

/// The cookie `name=value` a response sets (without its attributes).
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// The value of a hidden field on a page.
fn field(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page.find(&marker)? + marker.len();
    Some(page[at..].split('"').next().unwrap().to_string())
}

/// The status page as a browser gets it, with `headers`: the response's pre-session cookie and
/// the page.
async fn status_page(app: &TestApp, headers: &[(&str, &str)]) -> (Option<String>, String) {
    let mut get = app.http_no_redirects.get(app.url("/"));
    for (name, value) in headers {
        get = get.header(*name, *value);
    }
    let r = get.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    (set_cookie(&r, "mimamori_signin"), r.text().await.unwrap())
}

/// The button's post, with `headers`.
async fn press(
    app: &TestApp,
    cookie: &str,
    signin_token: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut post = app
        .http_no_redirects
        .post(app.url("/demo/signin"))
        .header(COOKIE, cookie)
        .form(&[("signin_token", signin_token)]);
    for (name, value) in headers {
        post = post.header(*name, *value);
    }
    post.send().await.unwrap()
}

/// From the machine the demo runs on, the status page has a 「デモにサインイン」 button; it
/// posts no secret, and signs the demo's admin in to the alert list. A post without the page's
/// pair of tokens, or a GET, signs nobody in.
async fn the_demo_signs_in_from_the_machine_itself_with_one_click(store: Store, _url: String) {
    let token = demo_admin(&store).await;
    let app = app(&store, |o| o.demo(&token)).await;

    let (cookie, page) = status_page(&app, &[]).await;
    assert!(page.contains("デモにサインイン"), "{page}");
    assert!(!page.contains(&token), "the token is never in the page");
    let cookie = cookie.expect("the sign-in form's pre-session cookie");
    let signin_token = field(&page, "signin_token").expect("the form's token");
    assert_eq!(cookie, format!("mimamori_signin={signin_token}"));

    // Forged: no pair, or a pair that does not match.
    for (cookie, posted) in [
        ("", ""),
        (cookie.as_str(), "x"),
        ("", signin_token.as_str()),
    ] {
        let r = press(&app, cookie, posted, &[]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{cookie:?} {posted:?}");
        assert!(set_cookie(&r, "mimamori_session").is_none());
    }
    // A GET does nothing.
    let r = app
        .http_no_redirects
        .get(app.url("/demo/signin"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().get(SET_COOKIE).is_none());

    let r = press(&app, &cookie, &signin_token, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/alerts");
    assert_eq!(
        set_cookie(&r, "mimamori_signin").as_deref(),
        Some("mimamori_signin="),
        "the pre-session cookie has served"
    );
    let session = set_cookie(&r, "mimamori_session").expect("a session");
    let (status, alerts) = app.page("/alerts", &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        alerts.contains("デモ担当（バックアップふじさわ）"),
        "{alerts}"
    );
    assert!(
        alerts.contains("href=\"/admin/devices\""),
        "an admin: {alerts}"
    );
}

/// Without the demo, the status page has no button and sets no cookie, and the route does not
/// exist.
async fn without_the_demo_there_is_no_button_and_no_route(store: Store, _url: String) {
    let token = demo_admin(&store).await;
    let app = app(&store, |o| o).await;
    let (cookie, page) = status_page(&app, &[]).await;
    assert!(!page.contains("デモにサインイン"), "{page}");
    assert!(!page.contains("/demo/signin"), "{page}");
    assert!(cookie.is_none());
    // Even with a sign-in pair from the sign-in page.
    let (cookie, signin_token) =
        mimamori_testapp::sign_in_pair(&app.http_no_redirects, &app.base).await;
    let r = press(&app, &cookie, &signin_token, &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(set_cookie(&r, "mimamori_session").is_none());
    // The token still signs in the ordinary way.
    assert!(app.sign_in(&token).await.starts_with("mimamori_session="));
}

/// A request that may not come from the machine itself — through a proxy (its headers, or a
/// server configured to read clients' addresses from one), or under another site's name (DNS
/// rebinding) — sees no button, and the route answers as a path that does not exist, even with a
/// valid pair of tokens.
async fn the_demo_sign_in_refuses_what_may_not_be_the_machine_itself(store: Store, _url: String) {
    let token = demo_admin(&store).await;
    let app = app(&store, |o| o.demo(&token)).await;
    let port = app.base.rsplit(':').next().unwrap().to_string();
    let evil = format!("evil.example:{port}");
    let rebound = format!("127.0.0.1.evil.example:{port}");
    let hostile: [(&str, &str); 6] = [
        ("x-forwarded-for", "203.0.113.9"),
        ("forwarded", "for=203.0.113.9;proto=https"),
        ("x-real-ip", "203.0.113.9"),
        (HOST.as_str(), "evil.example"),
        (HOST.as_str(), &evil),
        (HOST.as_str(), &rebound),
    ];
    for header in hostile {
        let (cookie, page) = status_page(&app, &[header]).await;
        assert!(!page.contains("デモにサインイン"), "{header:?}: {page}");
        assert!(cookie.is_none(), "{header:?}");
        // The pair a browser on the machine got, replayed with the header.
        let (cookie, page) = status_page(&app, &[]).await;
        let (cookie, signin_token) = (cookie.unwrap(), field(&page, "signin_token").unwrap());
        let r = press(&app, &cookie, &signin_token, &[header]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{header:?}");
        assert!(set_cookie(&r, "mimamori_session").is_none(), "{header:?}");
        assert!(
            r.text().await.unwrap().is_empty(),
            "as a path that does not exist"
        );
    }

    // Behind a proxy by configuration: every peer would look like the machine itself.
    let proxied = self::app(&store, |o| {
        o.demo(&token)
            .configure(|c| c.http.client_ip_header = "X-Forwarded-For".into())
    })
    .await;
    let (cookie, page) = status_page(&proxied, &[]).await;
    assert!(!page.contains("デモにサインイン"), "{page}");
    assert!(cookie.is_none());
    let (cookie, signin_token) =
        mimamori_testapp::sign_in_pair(&proxied.http_no_redirects, &proxied.base).await;
    let r = press(&proxied, &cookie, &signin_token, &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(set_cookie(&r, "mimamori_session").is_none());
}

/// A new user opens the status page of the demo in a browser on the machine and presses the
/// button: the alert list, signed in as the demo's admin.
async fn a_new_user_signs_in_to_the_demo_with_the_button(store: Store, _url: String) {
    let token = demo_admin(&store).await;
    let app = app(&store, |o| o.demo(&token)).await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    look_at(&browser, "status-demo").await;
    browser
        .find("form[action=\"/demo/signin\"] button")
        .await
        .click_to_load()
        .await;
    assert!(browser.url().await.ends_with("/alerts"));
    assert!(
        browser
            .find("header.site")
            .await
            .text()
            .await
            .contains("デモ担当（バックアップふじさわ）")
    );
    browser.quit().await;
}

/// The language cookie the switch to English sets.
const ENGLISH: &str = "mimamori_lang=en";

/// A page as a browser with `cookie` gets it: status and text (no redirect followed).
async fn get(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let r = app
        .http_no_redirects
        .get(app.url(path))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// A form posted as a browser with `cookie` posts it: status and text.
async fn post(
    app: &TestApp,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let r = app
        .http_no_redirects
        .post(app.url(path))
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// `page` is in English: its `lang`, `words` there, and none of `japanese`.
#[track_caller]
fn english(page: &str, words: &[&str], japanese: &[&str]) {
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    for word in words {
        assert!(page.contains(word), "{word:?} in {page}");
    }
    for word in japanese {
        assert!(!page.contains(word), "no {word:?} in {page}");
    }
}

/// `page` is in Japanese, with `words`.
#[track_caller]
fn japanese(page: &str, words: &[&str]) {
    assert!(page.contains("<html lang=\"ja\">"), "{page}");
    for word in words {
        assert!(page.contains(word), "{word:?} in {page}");
    }
}

/// The status page, sign-in (and its refusals), the partners' report form (its errors, and the
/// report received) and a mail link's pages (taking the alert, resolving, used up, altered,
/// forged): in Japanese without a choice, in English after the switch — each with the switch back
/// to the same page.
async fn every_page_before_sign_in_speaks_english_after_the_switch_and_japanese_without_it(
    store: Store,
    _url: String,
) {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&store, |o| {
        o.configure(|c| {
            c.notify.email.enabled = true;
            c.notify.email.transport = EmailTransport::File;
            c.data_dir = dir.path().into();
        })
    })
    .await;
    people::responder(&store, "p-suzuki", "houkatsu-kugenuma", "鈴木", None, None).await;
    let partner = provision_partner(&store, "pt-post").await;

    // The switch: to English, back to the status page.
    let r = app
        .http_no_redirects
        .get(app.url("/lang?to=en&next=/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/");
    assert_eq!(set_cookie(&r, "mimamori_lang").as_deref(), Some(ENGLISH));

    // The status page.
    let (_, page) = get(&app, "/", "").await;
    japanese(
        &page,
        &[
            "稼働しています。",
            "藤沢市の地区（13）",
            "href=\"/lang?to=en&amp;next=%2F\"",
        ],
    );
    let (_, page) = get(&app, "/", ENGLISH).await;
    english(
        &page,
        &[
            "Running.",
            "Districts of 藤沢市 (13)",
            "Sign in for responders",
            "href=\"/lang?to=ja&amp;next=%2F\"",
            ">日本語</a>",
        ],
        &["稼働しています", "ログイン", "未確認"],
    );

    // Sign-in: the form, a wrong token, a post without the form's pair.
    let (_, page) = get(&app, "/login?next=/alerts/7", "").await;
    japanese(
        &page,
        &[
            "アクセストークン",
            "href=\"/lang?to=en&amp;next=%2Flogin%3Fnext%3D%252Falerts%252F7\"",
        ],
    );
    let (_, page) = get(&app, "/login?next=/alerts/7", ENGLISH).await;
    english(
        &page,
        &[
            "<title>Sign in - 見守り mimamori</title>",
            "Access token",
            "Skip to content",
        ],
        &["ログイン", "アクセストークン", "本文へ移動"],
    );
    let (signin_cookie, signin_token) =
        mimamori_testapp::sign_in_pair(&app.http_no_redirects, &app.base).await;
    let wrong = [
        ("token", "mmr_wrong"),
        ("next", "/alerts"),
        ("signin_token", signin_token.as_str()),
    ];
    let (status, page) = post(&app, "/login", &signin_cookie, &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    japanese(&page, &["トークンが正しくないか、無効になっています。"]);
    let (status, page) = post(
        &app,
        "/login",
        &format!("{signin_cookie}; {ENGLISH}"),
        &wrong,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    english(
        &page,
        &["The token is wrong or no longer valid."],
        &["トークン"],
    );
    let (status, page) = post(
        &app,
        "/login",
        ENGLISH,
        &[("token", "mmr_x"), ("next", "/alerts")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    english(
        &page,
        &["Sign-in refused", "Open the sign-in page"],
        &["ログイン"],
    );
    let (_, page) = post(
        &app,
        "/login",
        "",
        &[("token", "mmr_x"), ("next", "/alerts")],
    )
    .await;
    japanese(&page, &["ログインを受け付けられません"]);

    // The partners' report form: the form, a wrong code, an intake refusal, a report received.
    let (_, page) = get(&app, "/report", "").await;
    japanese(
        &page,
        &["見守り協定 気づきの連絡", "郵便物がたまっている", "119番"],
    );
    let (_, page) = get(&app, "/report", ENGLISH).await;
    english(
        &page,
        &[
            "Watch-over agreement: report a concern",
            "Partner code",
            "Mail is piling up",
            "call 119",
            "href=\"/lang?to=ja&amp;next=%2Freport\"",
        ],
        &["協定事業者コード", "郵便物", "送信する"],
    );
    fn report<'a>(code: &'a str, seen: &'a str) -> [(&'a str, &'a str); 3] {
        [
            ("token", code),
            ("address", "藤沢市鵠沼海岸二丁目3-5"),
            ("seen", seen),
        ]
    }
    let (status, page) = post(&app, "/report", ENGLISH, &report("mmp_wrong", "mail")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    english(
        &page,
        &["The partner code is not right."],
        &["協定事業者コードが"],
    );
    let (status, page) = post(&app, "/report", ENGLISH, &report(&partner.token, "x-ray")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    english(&page, &["unknown observation"], &["選択肢にありません"]);
    let (status, page) = post(&app, "/report", "", &report(&partner.token, "x-ray")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    japanese(&page, &["選択肢にありません"]);
    let (status, page) = post(&app, "/report", ENGLISH, &report(&partner.token, "mail")).await;
    assert_eq!(status, StatusCode::OK);
    english(
        &page,
        &[
            "<title>Received - 見守り mimamori</title>",
            "Reference number",
            "Thank you, pt-post 郵便局.",
        ],
        &["受付番号", "ありがとう"],
    );

    // A mail link's pages: taking the alert, resolving it, a used-up, an altered and a forged link.
    let alert = store
        .open_routed_alert(
            &NewAlert {
                subject: Subject::Address("藤沢市鵠沼海岸二丁目3-5".into()),
                kind: AlertKind::Emergency,
                severity: Severity::Critical,
                district: Some(mimamori_core::testing::district("kugenuma")),
                summary: "緊急通報".into(),
                detail: serde_json::json!({}),
                at: app.clock.now(),
            },
            &Routed::default(),
            &[],
            None,
        )
        .await
        .unwrap()
        .alert;
    let signer = LinkSigner::from_store(&store, app.clock.now())
        .await
        .unwrap();
    let link = || {
        format!(
            "/ack/{}",
            signer.issue(
                alert.id,
                &ResponderId::parse("p-suzuki").unwrap(),
                app.clock.now() + Duration::hours(1)
            )
        )
    };
    let (take, resolve) = (link(), link());
    let (_, page) = get(&app, &take, "").await;
    japanese(
        &page,
        &["対応の確認", "対応します", "選んでください", "無事確認"],
    );
    let (_, page) = get(&app, &take, ENGLISH).await;
    english(
        &page,
        &[
            "Will you respond?",
            "I&#39;ll respond",
            "Record the resolution",
            "Confirmed safe",
            "Taken to hospital",
            "See the details (sign-in required)",
            &format!("href=\"/lang?to=ja&amp;next=%2Fack%2F{}\"", &take[5..]),
        ],
        &["対応します", "選んでください", "無事確認", "詳細を見る"],
    );
    // Forged from another site.
    let r = app
        .http_no_redirects
        .post(app.url(&take))
        .header(COOKIE, ENGLISH)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    english(
        &r.text().await.unwrap(),
        &["The form was sent from another site."],
        &["ほかのサイト"],
    );
    // Resolving without an outcome, and with one of a device's.
    let (status, page) = post(&app, &resolve, ENGLISH, &[("action", "resolve")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    english(
        &page,
        &[
            "Choose an outcome",
            "Confirmed safe, Taken to hospital, False alarm, Not at home, Other",
        ],
        &["結果を選んで"],
    );
    let (status, page) = post(
        &app,
        &resolve,
        ENGLISH,
        &[("action", "resolve"), ("outcome", "battery_replaced")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    english(
        &page,
        &["This outcome does not fit this alert", "“Emergency call”"],
        &["この結果"],
    );
    let (status, page) = post(
        &app,
        &resolve,
        "",
        &[("action", "resolve"), ("outcome", "battery_replaced")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    japanese(
        &page,
        &["「緊急通報」のアラートの結果は、無事確認・救急搬送・誤報・不在・その他のいずれかです。"],
    );
    // Taken through the link; the link used up; the other link sees who took it.
    let (status, page) = post(&app, &take, ENGLISH, &[]).await;
    assert_eq!(status, StatusCode::OK);
    english(
        &page,
        &[
            "Recorded: you are responding",
            "The other responders will see that 鈴木 is handling it.",
        ],
        &["対応開始"],
    );
    let (status, page) = post(&app, &take, ENGLISH, &[]).await;
    assert_eq!(status, StatusCode::GONE);
    english(&page, &["This link has been used"], &["使用済み"]);
    let (status, page) = post(&app, &take, "", &[]).await;
    assert_eq!(status, StatusCode::GONE);
    japanese(&page, &["このリンクは使用済みです"]);
    let (status, page) = post(
        &app,
        &resolve,
        ENGLISH,
        &[("action", "resolve"), ("outcome", "safe")],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    english(
        &page,
        &["Resolution recorded", "Resolved as “Confirmed safe”."],
        &["解決を記録しました"],
    );
    let (status, page) = get(&app, &format!("{}x", &take[..take.len() - 1]), ENGLISH).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    english(&page, &["This link is not valid"], &["無効"]);
}

/// The switch comes back to the status page and our other pages before sign-in, and never leads
/// off the site, however `next` is written.
async fn the_switch_goes_back_to_our_own_pages_only(store: Store, _url: String) {
    let app = app(&store, |o| o).await;
    let back = |to: &'static str, next: &'static str| {
        let app = &app;
        async move {
            let r = app
                .http_no_redirects
                .get(app.url(&format!("/lang?to={to}&next={next}")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{next}");
            r.headers()[LOCATION].to_str().unwrap().to_string()
        }
    };
    for (next, location) in [
        ("/", "/"),
        ("%2F", "/"),
        ("/report", "/report"),
        (
            "%2Flogin%3Fnext%3D%252Falerts%252F7",
            "/login?next=%2Falerts%2F7",
        ),
        ("/ack/1.p-suzuki.1.x.y", "/ack/1.p-suzuki.1.x.y"),
    ] {
        assert_eq!(back("en", next).await, location, "{next}");
        assert_eq!(back("ja", next).await, location, "{next}");
    }
    for hostile in [
        "//evil.example",
        "//evil.example/",
        "https://evil.example",
        "https://evil.example/",
        "https:evil.example",
        "%2F%2Fevil.example",
        "/%2F%2Fevil.example",
        "/%5Cevil.example",
        "/\\evil.example",
        "%09/evil.example",
        "/%09/evil.example",
        "javascript:alert(1)",
        "evil.example",
        "///evil.example",
        "//",
    ] {
        assert_eq!(back("en", hostile).await, "/alerts", "{hostile}");
    }
}

/// A clerk opens the report form, switches it to English, and reads and sends it in English; the
/// page passes the accessibility check in both languages.
async fn a_partners_clerk_reads_the_report_form_in_english(store: Store, _url: String) {
    let partner = provision_partner(&store, "pt-post").await;
    let app = app(&store, |o| o).await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    assert_eq!(browser.lang().await, "ja");
    switch_language(&browser).await;
    assert!(browser.url().await.ends_with(&format!("{}/", app.base)));
    assert_eq!(browser.lang().await, "en");
    look_at(&browser, "status-en").await;
    browser
        .find("a[href=\"/report\"]")
        .await
        .click_to_load()
        .await;
    assert_eq!(browser.lang().await, "en");
    assert!(
        browser
            .text()
            .await
            .contains("What you noticed (all that apply)")
    );
    look_at(&browser, "report-en").await;
    browser
        .find("input[name=token]")
        .await
        .type_text(&partner.token)
        .await;
    browser
        .find("input[name=address]")
        .await
        .type_text("藤沢市鵠沼海岸二丁目3-5")
        .await;
    browser
        .find("input[name=seen][value=mail]")
        .await
        .click()
        .await;
    browser
        .find("form[action=\"/report\"] button")
        .await
        .click_to_load()
        .await;
    assert!(
        browser.text().await.contains("Reference number"),
        "{}",
        browser.text().await
    );
    // Back to Japanese from there.
    switch_language(&browser).await;
    assert_eq!(browser.lang().await, "ja");
    assert!(browser.text().await.contains("協定事業者コード"));
    browser.quit().await;
}

mimamori_testkit::main!();
