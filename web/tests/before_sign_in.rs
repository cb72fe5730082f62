//! The pages before sign-in, as a new user meets them (issue 17, "first run"): while `up --demo`
//! runs, the status page signs the demo's admin in with one click — for a browser on the machine
//! itself only, never through a proxy or under another site's name — and nowhere else.

use mimamori_core::clock::ManualClock;
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::Store;
use mimamori_testapp::pages::look_at;
use mimamori_testapp::{Options, TestApp, jst, people, spawn_app};
use mimamori_testkit::browser::Browser;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, COOKIE, HOST, LOCATION, SET_COOKIE};

on_both_backends!(
    the_demo_signs_in_from_the_machine_itself_with_one_click,
    without_the_demo_there_is_no_button_and_no_route,
    the_demo_sign_in_refuses_what_may_not_be_the_machine_itself,
    a_new_user_signs_in_to_the_demo_with_the_button: [Browser],
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

mimamori_testkit::main!();
