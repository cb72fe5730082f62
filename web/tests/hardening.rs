//! The web server as an attacker meets it (issue 14, "the broker is a trust boundary", its web
//! part): `next` after sign-in never leads to another site, the sign-in form refuses a post
//! without its own token, and every answer carries the security headers. Over real HTTP, on the
//! whole server as `mimamori up` serves it; one story in headless Chromium.

use mimamori_core::clock::SystemClock;
use mimamori_core::config::Config;
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::registry::Registry;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::Store;
use mimamori_testkit::browser::Browser;
use mimamori_web::dashboard::{COOKIE as SESSION_COOKIE, SIGNIN_COOKIE};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use std::sync::Arc;
use tokio_util::sync::DropGuard;

on_both_backends!(
    a_hostile_next_after_sign_in_lands_on_our_own_pages,
    the_sign_in_form_refuses_a_post_without_its_own_token,
);

mimamori_testkit::tests! {
    multi_thread every_answer_carries_the_security_headers;
    multi_thread chromium_signed_in_with_a_hostile_next_stays_on_our_site: [Browser];
}

/// The whole web server of `config` over `store` (every route, behind the guard), on a free
/// port: its base URL, a client that follows no redirects, and what stops the server when
/// dropped.
async fn serve(store: &Store, config: Config) -> (String, reqwest::Client, DropGuard) {
    mimamori_alerts::notify::install_crypto_provider();
    let web = mimamori_web::build(
        &config,
        store.clone(),
        Arc::new(Registry::fujisawa()),
        Arc::new(SystemClock),
        mimamori_web::Parts::default(),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(web.serve(listener, shutdown.clone()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (base, http, shutdown.drop_guard())
}

/// 鵠沼's responder `id` with an access token: the token.
async fn responder(store: &Store, id: &str) -> String {
    let now = mimamori_core::testing::t0();
    let responder = ResponderId::parse(id).unwrap();
    store
        .add_responder(
            &NewResponder {
                id: responder.clone(),
                team: TeamId::parse("houkatsu-kugenuma").unwrap(),
                name: id.into(),
                email: None,
                telegram_chat_id: None,
                office_hours: None,
            },
            now,
        )
        .await
        .unwrap();
    let token = format!("mmr_{}", mimamori_core::secret::generate(33));
    store
        .add_responder_token(&responder, &token_hash(&token), now)
        .await
        .unwrap();
    token
}

/// The cookie `name=value` a response sets, with its attributes.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// The value of a hidden field on a page.
fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {page}"))
        + marker.len();
    page[at..].split('"').next().unwrap().to_string()
}

/// What the sign-in page gives a browser: the cookie (`name=value`) and the form's token.
async fn open_sign_in(http: &reqwest::Client, base: &str, query: &str) -> (String, String, String) {
    let r = http
        .get(format!("{base}/login{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = set_cookie(&r, SIGNIN_COOKIE).expect("a sign-in cookie");
    let cookie = cookie.split(';').next().unwrap().to_string();
    let page = r.text().await.unwrap();
    (cookie, field(&page, "signin_token"), page)
}

/// Posts the sign-in form as a browser sends it: `body` is already form-encoded.
async fn post_login(
    http: &reqwest::Client,
    base: &str,
    cookie: Option<String>,
    body: String,
) -> reqwest::Response {
    let mut post = http
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(cookie) = cookie {
        post = post.header(COOKIE, cookie);
    }
    post.send().await.unwrap()
}

/// The attacker's link `/login?next=/%09/evil.example` (a browser drops the tab and reads
/// `//evil.example`) and its cousins: the page's form goes back to `/alerts`, and a post that
/// names them itself is sent to `/alerts` too. A path of ours is kept.
async fn a_hostile_next_after_sign_in_lands_on_our_own_pages(store: Store, _url: String) {
    let sato = responder(&store, "p-sato").await;
    let (base, http, _server) = serve(&store, Config::default()).await;

    let (cookie, signin_token, page) = open_sign_in(&http, &base, "?next=/%09/evil.example").await;
    assert_eq!(field(&page, "next"), "/alerts", "{page}");

    // As written in a forged form or a crafted post: each percent-encoded once more by the form.
    for hostile in [
        "/%09/evil.example",
        "/%2509/evil.example",
        "//evil.example",
        "/%5Cevil.example",
        "/%5C%5Cevil.example",
        "/%2F%2Fevil.example",
        "/%252F%252Fevil.example",
        "https%3A%2F%2Fevil.example",
        "javascript%3Aalert(1)",
        "/.//evil.example",
        "/%0D%0A/evil.example",
    ] {
        let r = post_login(
            &http,
            &base,
            Some(cookie.clone()),
            format!("token={sato}&next={hostile}&signin_token={signin_token}"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{hostile}");
        assert_eq!(r.headers()[LOCATION], "/alerts", "{hostile}");
    }

    // Back to where the link from chat or mail led.
    let r = post_login(
        &http,
        &base,
        Some(cookie.clone()),
        format!("token={sato}&next=/residents/r-1%3Fx%3D1&signin_token={signin_token}"),
    )
    .await;
    assert_eq!(r.headers()[LOCATION], "/residents/r-1?x=1");
}

/// The sign-in page sets a short-lived random cookie and puts the same value in its form; a post
/// without the pair — from another site, or no page at all — is refused with 403 and a page
/// saying to reopen the sign-in page, even with a right access token, before the token is looked
/// at: it signs nobody in and does not count as a wrong token.
async fn the_sign_in_form_refuses_a_post_without_its_own_token(store: Store, _url: String) {
    let sato = responder(&store, "p-sato").await;
    let mut config = Config::default();
    config.http.public_url = "https://mimamori.example.jp".into();
    config.http.max_auth_failures = 3;
    let (base, http, _server) = serve(&store, config).await;

    let r = http
        .get(format!("{base}/login?next=/alerts/7"))
        .send()
        .await
        .unwrap();
    let set = set_cookie(&r, SIGNIN_COOKIE).expect("the sign-in cookie");
    assert!(set.starts_with("mimamori_signin="), "{set}");
    for attribute in [
        "Path=/",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=1800",
        "Secure",
    ] {
        assert!(set.contains(attribute), "{attribute} in {set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let value = cookie.split_once('=').unwrap().1.to_string();
    assert_eq!(value.len(), 32);
    let page = r.text().await.unwrap();
    assert_eq!(
        field(&page, "signin_token"),
        value,
        "the same value in the form"
    );
    // A second tab's sign-in page keeps the first one's token, so both still work.
    let r = http
        .get(format!("{base}/login"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(field(&r.text().await.unwrap(), "signin_token"), value);
    // Another browser gets another one.
    let (other_cookie, other_token, _) = open_sign_in(&http, &base, "").await;
    assert_ne!(other_token, value);

    // A right access token, but not the pair: refused, nobody signed in. More of them than
    // `max_auth_failures` and still 403, not 429: they are not wrong tokens.
    let login = |cookie: Option<&str>, form_token: &str| {
        post_login(
            &http,
            &base,
            cookie.map(str::to_string),
            format!("token={sato}&next=/alerts/7&signin_token={form_token}"),
        )
    };
    let empty = format!("{SIGNIN_COOKIE}=");
    for (cookie, form_token) in [
        (None, ""),
        (None, value.as_str()),
        (Some(cookie.as_str()), ""),
        (Some(cookie.as_str()), other_token.as_str()),
        (Some(other_cookie.as_str()), value.as_str()),
        (Some(&empty), ""),
    ] {
        let r = login(cookie, form_token).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{cookie:?} {form_token}");
        assert!(set_cookie(&r, SESSION_COOKIE).is_none());
        let page = r.text().await.unwrap();
        assert!(page.contains("ログイン画面を開き直して"), "{page}");
        assert!(
            page.contains("href=\"/login?next=%2Falerts%2F7\""),
            "{page}"
        );
    }
    assert_eq!(
        http.post(format!("{base}/login"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "no form at all"
    );

    // With the pair, a wrong access token is a wrong token (401), and the form comes back with
    // the same token (the cookie is still there).
    let r = post_login(
        &http,
        &base,
        Some(cookie.clone()),
        format!("token=mmr_wrong&next=/alerts/7&signin_token={value}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none(), "no session");
    assert_eq!(field(&r.text().await.unwrap(), "signin_token"), value);

    // And the right one signs in: the session cookie set, the sign-in cookie removed.
    let r = login(Some(&cookie), &value).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/alerts/7");
    let session = set_cookie(&r, SESSION_COOKIE).expect("a session");
    assert!(session.contains("SameSite=Lax") && session.contains("Secure"));
    let used = set_cookie(&r, SIGNIN_COOKIE).expect("the sign-in cookie removed");
    assert!(used.starts_with(&format!("{SIGNIN_COOKIE}=;")) && used.contains("Max-Age=0"));
}

/// The headers every answer carries, however it comes about.
fn assert_security_headers(r: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        r.headers()
            .get(name)
            .unwrap_or_else(|| panic!("{name} on {what}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    let csp = header("content-security-policy");
    let directives: Vec<Vec<&str>> = csp
        .split(';')
        .map(|d| d.split_whitespace().collect())
        .collect();
    let directive = |name: &str| {
        directives
            .iter()
            .find(|d| d.first() == Some(&name))
            .map(|d| d[1..].to_vec())
    };
    assert_eq!(directive("default-src"), Some(vec!["'self'"]), "{csp}");
    assert_eq!(directive("frame-ancestors"), Some(vec!["'none'"]), "{csp}");
    assert_eq!(directive("form-action"), Some(vec!["'self'"]), "{csp}");
    assert_eq!(directive("base-uri"), Some(vec!["'none'"]), "{csp}");
    assert_eq!(
        directive("script-src"),
        None,
        "scripts fall under default-src: ours only, none inline ({csp})"
    );
    for d in &directives {
        if d.first() != Some(&"style-src") {
            assert!(
                !d.iter().any(|v| v.starts_with("'unsafe")),
                "only the inline style attributes are allowed: {csp}"
            );
        }
    }
}

/// A page, the sign-in page, the partners' report form, an API answer (refused and served), a
/// 404, the health check: each carries the CSP, `X-Frame-Options`, `Referrer-Policy` and
/// `nosniff`; the pages keep `Cache-Control: no-store`.
async fn every_answer_carries_the_security_headers() {
    let t = mimamori_core::testing::TestStore::sqlite().await;
    let sato = responder(&t.store, "p-sato").await;
    let (base, http, server) = serve(&t.store, Config::default()).await;
    let get = |path: &'static str, token: Option<&str>| {
        let mut get = http.get(format!("{base}{path}"));
        if let Some(token) = token {
            get = get.bearer_auth(token);
        }
        async move { get.send().await.unwrap() }
    };
    for (path, token, status) in [
        ("/", None, StatusCode::OK),
        ("/login", None, StatusCode::OK),
        ("/report", None, StatusCode::OK),
        ("/alerts", None, StatusCode::SEE_OTHER),
        ("/api/v1/alerts", None, StatusCode::UNAUTHORIZED),
        ("/api/v1/alerts", Some(sato.as_str()), StatusCode::OK),
        ("/api/v1/openapi.json", None, StatusCode::OK),
        ("/no/such/page", None, StatusCode::NOT_FOUND),
        ("/healthz", None, StatusCode::OK),
        ("/metrics", None, StatusCode::OK),
    ] {
        let r = get(path, token).await;
        assert_eq!(r.status(), status, "{path}");
        assert_security_headers(&r, path);
        if matches!(path, "/login" | "/report") {
            assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
            assert_eq!(r.headers()["x-robots-tag"], "noindex", "{path}");
        }
    }
    // A refused form post and a page rendered for an error carry them too.
    let r = http
        .post(format!("{base}/login"))
        .form(&[("token", "mmr_x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_security_headers(&r, "a refused sign-in");
    drop(server);
    t.finish().await;
}

/// The attacker's link in a real browser: Chromium opens `/login?next=/%09/evil.example`, the
/// responder signs in on the page it shows, and ends on our own alert list — through the page's
/// CSP, whose `form-action 'self'` also covers the redirect after the post.
async fn chromium_signed_in_with_a_hostile_next_stays_on_our_site() {
    let browser = Browser::start().await;
    let t = mimamori_core::testing::TestStore::sqlite().await;
    let sato = responder(&t.store, "p-sato").await;
    let (base, _http, server) = serve(&t.store, Config::default()).await;
    for hostile in ["/%09/evil.example", "/%5C%5Cevil.example", "//evil.example"] {
        browser.goto(&format!("{base}/login?next={hostile}")).await;
        browser
            .find("input[name=token]")
            .await
            .type_text(&sato)
            .await;
        browser
            .find("button[type=submit]")
            .await
            .click_to_load()
            .await;
        let url = browser.url().await;
        assert_eq!(url, format!("{base}/alerts"), "{hostile}");
        assert!(browser.text().await.contains("対応待ちのアラート"), "{url}");
    }
    browser.quit().await;
    drop(server);
    t.finish().await;
}

mimamori_testkit::main!();
