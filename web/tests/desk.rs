//! The care worker's desk (issue 17): the alert list as the home page — counts, filters, history,
//! names for the team that may see them, scope and audit — its live stream (`/alerts/live`), the
//! stylesheet, and the pages in headless Chromium at a desk's and a phone's width: an emergency
//! pressed on a device appears on an open list without reload, and is acknowledged and resolved
//! at 390 px; every page is screenshotted into `target/screenshots/` and checked with axe-core.

use mimamori_core::clock::{Clock, ManualClock};
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::protocol::EventType;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::{Routed, Store};
use mimamori_testapp::pages::{look_at, switch_language};
use mimamori_testapp::platform::{BrokerKind, setup, wait_for};
use mimamori_testapp::{Options, TestApp, home, jst, people, spawn_app};
use mimamori_testkit::browser::Browser;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use std::time::{Duration, Instant};

on_both_backends!(
    the_alert_list_counts_filters_names_and_keeps_history,
    the_alert_list_refuses_hostile_filters_and_other_districts,
    history_groups_related_alerts_and_device_alerts_end_with_device_outcomes,
    the_live_list_streams_a_new_alert_and_ends_with_the_session,
    every_page_uses_our_stylesheet_and_no_inline_style,
    the_alert_page_explains_says_who_was_told_and_whom_to_call,
    the_residents_page_draws_the_routine_devices_and_past_alerts,
    the_city_figures_count_by_district_and_download_for_excel,
    the_city_figures_count_partner_reports_by_partner_kind,
    the_coordinators_rights_come_from_the_role_not_the_team,
    the_district_overview_shows_whom_to_look_after,
    editing_an_address_routes_the_resident_to_its_district,
    the_figures_of_a_year_for_a_thousand_residents_count_every_month,
    an_emergency_pressed_on_a_device_appears_live_and_is_handled_at_phone_width: [Browser],
    the_page_chrome_switches_to_english_and_back: [Browser],
    the_routine_shows_and_an_address_change_reroutes_in_the_browser: [Browser],
);

const WAIT: Duration = Duration::from_secs(10);

async fn token_for(store: &Store, id: &str, team: &str, name: &str) -> String {
    people::responder(store, id, team, name, None, None).await;
    let token = format!("mmr_{}", mimamori_core::secret::generate(33));
    store
        .add_responder_token(
            &ResponderId::parse(id).unwrap(),
            &token_hash(&token),
            mimamori_core::testing::t0(),
        )
        .await
        .unwrap();
    token
}

/// Opens an alert of `kind` about `subject` in `district` (`None`: triage) at `at`.
async fn alert(
    store: &Store,
    subject: Subject,
    kind: AlertKind,
    severity: Severity,
    district: Option<&str>,
    at: chrono::DateTime<chrono::Utc>,
) -> Alert {
    store
        .open_routed_alert(
            &NewAlert {
                subject,
                kind,
                severity,
                district: district.map(mimamori_core::testing::district),
                summary: kind.label_ja().into(),
                detail: serde_json::json!({}),
                at,
            },
            &Routed::default(),
            &[],
            None,
        )
        .await
        .unwrap()
        .alert
}

/// 藤沢 花子 of 鵠沼 with her call button, 辻堂's 山田 太郎, and alerts: her open emergency (3
/// minutes old), a battery alert of her button acknowledged by 佐藤, a resolved inactivity alert
/// of hers, 辻堂's open inactivity alert, and an address concern without a district (triage).
struct Desk {
    hanako: ResidentId,
    emergency: Alert,
    battery: Alert,
    resolved: Alert,
    tsujido: Alert,
    triage: Alert,
}

async fn desk(store: &Store, clock: &ManualClock) -> Desk {
    let t = clock.now();
    let hanako = home::resident_with_button(store, t).await;
    let mut taro = mimamori_core::testing::new_resident("r-taro");
    taro.name = "山田 太郎".into();
    taro.district = mimamori_core::testing::district("tsujido");
    taro.address = Address::parse("辻堂元町一丁目1-1").unwrap();
    store
        .add_resident(&taro, &Actor::system(), t)
        .await
        .unwrap();
    let m = |n: i64| t - chrono::Duration::minutes(n);
    let emergency = alert(
        store,
        Subject::Resident(hanako.clone()),
        AlertKind::Emergency,
        Severity::Critical,
        Some("kugenuma"),
        m(3),
    )
    .await;
    let battery = alert(
        store,
        Subject::Device(DeviceId::parse("button-e").unwrap()),
        AlertKind::BatteryLow,
        Severity::Low,
        Some("kugenuma"),
        m(200),
    )
    .await;
    let resolved = alert(
        store,
        Subject::Resident(hanako.clone()),
        AlertKind::Inactivity,
        Severity::High,
        Some("kugenuma"),
        m(60 * 30),
    )
    .await;
    let tsujido = alert(
        store,
        Subject::Resident(taro.id.clone()),
        AlertKind::Inactivity,
        Severity::High,
        Some("tsujido"),
        m(10),
    )
    .await;
    let triage = alert(
        store,
        Subject::Address("本町一丁目".into()),
        AlertKind::Concern,
        Severity::Normal,
        None,
        m(5),
    )
    .await;
    let sato = Actor::responder(ResponderId::parse("p-sato").unwrap());
    store
        .acknowledge_alert(battery.id, &sato, "dashboard", &[], m(100))
        .await
        .unwrap();
    store
        .resolve_alert(resolved.id, &sato, Outcome::Safe, None, &[], m(60 * 29))
        .await
        .unwrap();
    Desk {
        hanako,
        emergency,
        battery,
        resolved,
        tsujido,
        triage,
    }
}

/// Where `needle` is in `page` (panics when absent).
fn at(page: &str, needle: &str) -> usize {
    page.find(needle)
        .unwrap_or_else(|| panic!("{needle} not on the page:\n{page}"))
}

async fn the_alert_list_counts_filters_names_and_keeps_history(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    let backup = token_for(&store, "p-backup", "coordinator", "市 調整担当").await;
    let d = desk(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&sato).await;

    // The home page: what is still to be handled, the emergency first, with who it is about.
    let (status, page) = app.page("/alerts", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let line = |a: &Alert| format!("id=\"alert-{}\"", a.id);
    let (emergency, battery) = (at(&page, &line(&d.emergency)), at(&page, &line(&d.battery)));
    assert!(emergency < battery, "the open emergency first");
    assert!(
        !page.contains(&line(&d.resolved)),
        "resolved: only in history"
    );
    assert!(!page.contains(&line(&d.tsujido)), "another district: never");
    assert!(
        !page.contains(&line(&d.triage)),
        "triage: the coordinator's"
    );
    for shown in [
        "3分前",
        "緊急",
        "藤沢 花子さん",
        "藤沢 花子さん宅（機器 button-e）",
        "対応：佐藤 美咲",
        "鵠沼地区",
        // Counts per state: 2 to handle (1 open, 1 acknowledged), 1 resolved, 3 in all.
        "対応待ち <strong>2</strong>",
        "未対応 <strong>1</strong>",
        "対応中 <strong>1</strong>",
        "解決 <strong>1</strong>",
        "すべて <strong>3</strong>",
    ] {
        at(&page, shown);
    }
    // The names shown are one audited view, naming whose.
    let audit = store.list_audit("resident", None, 20).await.unwrap();
    let names = audit
        .iter()
        .find(|e| e.action == "resident.names" && e.actor == "responder:p-sato")
        .expect("the names are audited");
    assert_eq!(names.detail["residents"], serde_json::json!([d.hanako]));

    // History: the resolved one, with its outcome; searchable by name and by kind.
    let (_, history) = app.page("/alerts?state=resolved", &cookie).await;
    at(&history, &line(&d.resolved));
    at(&history, "結果：無事確認");
    assert!(!history.contains(&line(&d.emergency)));
    let (_, found) = app
        .page("/alerts?state=all&q=%E8%8A%B1%E5%AD%90", &cookie)
        .await; // 花子
    for a in [&d.emergency, &d.battery, &d.resolved] {
        at(&found, &line(a));
    }
    let (_, found) = app
        .page(
            "/alerts?state=all&q=%E9%9B%BB%E6%B1%A0", // 電池
            &cookie,
        )
        .await;
    at(&found, &line(&d.battery));
    assert!(!found.contains(&line(&d.emergency)));
    // By kind and state.
    let (_, open) = app.page("/alerts?state=open&kind=emergency", &cookie).await;
    at(&open, &line(&d.emergency));
    assert!(!open.contains(&line(&d.battery)));
    let (_, none) = app.page("/alerts?kind=compound", &cookie).await;
    at(&none, "対応待ちのアラートはありません");

    // The coordinator: the triage queue on top, every district, a district filter.
    let coordinator = app.sign_in(&backup).await;
    let (_, page) = app.page("/alerts", &coordinator).await;
    let queue = at(&page, "振り分け待ち（地区不明）</h2>");
    assert!(queue < at(&page, &line(&d.triage)));
    assert!(at(&page, &line(&d.triage)) < at(&page, &line(&d.emergency)));
    at(&page, &line(&d.tsujido));
    at(&page, "山田 太郎さん");
    let (_, tsujido) = app.page("/alerts?district=tsujido", &coordinator).await;
    at(&tsujido, &line(&d.tsujido));
    assert!(!tsujido.contains(&line(&d.emergency)));
    let (_, triage) = app.page("/alerts?district=triage", &coordinator).await;
    at(&triage, &line(&d.triage));
    assert!(!triage.contains(&line(&d.tsujido)));
}

async fn the_alert_list_refuses_hostile_filters_and_other_districts(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    let d = desk(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&sato).await;
    let views_before = store.list_audit("resident", None, 100).await.unwrap().len();

    // Another district, by filter or by address: as if it did not exist, and nothing viewed.
    for path in [
        "/alerts?district=tsujido".to_string(),
        "/alerts?district=triage".to_string(),
        "/alerts/live?district=tsujido".to_string(),
        format!("/alerts/{}", d.tsujido.id),
        format!("/alerts/{}", d.triage.id),
    ] {
        let (status, page) = app.page(&path, &cookie).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.contains("山田 太郎"), "{path}");
    }
    assert_eq!(
        store.list_audit("resident", None, 100).await.unwrap().len(),
        views_before,
        "no view of anyone"
    );
    // Values that are not ours: refused, never echoed as markup.
    for path in [
        "/alerts?state=deleted",
        "/alerts?kind=%3Cscript%3E",
        "/alerts?district=..%2F..%2Fetc",
        "/alerts?state=open%27%3B%20DROP%20TABLE%20alerts",
        "/alerts/live?kind=nothing",
    ] {
        let (status, page) = app.page(path, &cookie).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND,
            "{path}: {status}"
        );
        assert!(!page.contains("<script>"), "{path}");
    }
    let long = "あ".repeat(101);
    let (status, _) = app.page(&format!("/alerts?q={long}"), &cookie).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a search too long");
    let (status, _) = app.page("/alerts?q=%E8%8A%B1%00", &cookie).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a control character");
    // A search is shown back escaped, in the form and in the links.
    let (status, page) = app
        .page(
            "/alerts?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%3E",
            &cookie,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("<script>alert(1)"), "{page}");
    at(
        &page,
        "value=\"&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;\"",
    );
    at(&page, "条件に合うアラートはありません");
    // Not signed in: to the sign-in page; the stream says 401.
    let r = app
        .http_no_redirects
        .get(app.url("/alerts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.http.get(app.url("/alerts/live")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

/// The value of the form token field on a page.
fn form_token(page: &str) -> String {
    page.split("name=\"form_token\" value=\"")
        .nth(1)
        .expect("a form")
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

async fn history_groups_related_alerts_and_device_alerts_end_with_device_outcomes(
    store: Store,
    _url: String,
) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    let d = desk(&store, &clock).await;
    let t = clock.now();
    let hours = |n: i64| t - chrono::Duration::hours(n);
    let by = Actor::responder(ResponderId::parse("p-sato").unwrap());
    // 花子さん's home: a second device, and five 通信途絶 — four in one afternoon (her button's
    // and her door sensor's), one three days before — each resolved before the next opened.
    home::device(
        &store,
        "door-e",
        &d.hanako,
        DeviceKind::Door,
        "k2",
        hours(24 * 5),
    )
    .await;
    let mut offline = Vec::new();
    for (device, at) in [
        ("button-e", hours(24 * 3)),
        ("button-e", hours(8)),
        ("door-e", hours(7)),
        ("button-e", hours(5)),
        ("door-e", hours(4)),
    ] {
        let a = alert(
            &store,
            Subject::Device(DeviceId::parse(device).unwrap()),
            AlertKind::DeviceOffline,
            Severity::Normal,
            Some("kugenuma"),
            at,
        )
        .await;
        store
            .resolve_alert(
                a.id,
                &by,
                Outcome::Reconnected,
                None,
                &[],
                at + chrono::Duration::minutes(20),
            )
            .await
            .unwrap();
        offline.push(a);
    }
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&sato).await;
    let (status, history) = app.page("/alerts?state=resolved", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    // One group line for the afternoon's four, its newest first, the others inside it; the
    // earlier one and the resolved inactivity alert are lines of their own.
    assert_eq!(history.matches("alert-group").count(), 1, "{history}");
    let group = at(
        &history,
        &format!(
            "id=\"alert-{}\" class=\"sev-normal alert-group\"",
            offline[4].id
        ),
    );
    let inside = &history[group..];
    let end = at(inside, "</details>");
    for member in &offline[1..4] {
        assert!(at(inside, &format!("id=\"alert-{}\"", member.id)) < end);
    }
    at(
        inside,
        "関連する機器の異常: 通信途絶 4件（12月01日 01:00〜12月01日 05:00）",
    );
    let alone = at(&history, &format!("id=\"alert-{}\"", offline[0].id));
    assert!(alone > group + end, "the earlier one is not in the group");
    at(&history, "結果：再接続");
    at(&history, &format!("id=\"alert-{}\"", d.resolved.id));
    // The list of what is to be handled is never grouped.
    let (_, active) = app.page("/alerts", &cookie).await;
    assert!(!active.contains("alert-group"));

    // A device alert offers the device's outcomes, a person's alert the person's.
    let (_, battery) = app
        .page(&format!("/alerts/{}", d.battery.id), &cookie)
        .await;
    for o in [
        "battery_replaced",
        "reconnected",
        "device_replaced",
        "other",
    ] {
        at(&battery, &format!("<option value=\"{o}\""));
    }
    for o in ["safe", "transported", "false_alarm", "absent"] {
        assert!(!battery.contains(&format!("<option value=\"{o}\"")), "{o}");
    }
    let (_, emergency) = app
        .page(&format!("/alerts/{}", d.emergency.id), &cookie)
        .await;
    at(&emergency, "<option value=\"transported\"");
    assert!(!emergency.contains("<option value=\"battery_replaced\""));

    // Hostile: a person's outcome posted for a device alert, and a device's for a person's, are
    // refused in Japanese and change nothing.
    let token = form_token(&battery);
    let post = |id: AlertId, outcome: &'static str| {
        app.http_no_redirects
            .post(app.url(&format!("/alerts/{id}/resolve")))
            .header(COOKIE, &cookie)
            .form(&[("form_token", token.as_str()), ("outcome", outcome)])
            .send()
    };
    let events = store.alert_timeline(d.battery.id).await.unwrap().len();
    for (id, outcome) in [
        (d.battery.id, "transported"),
        (d.battery.id, "救急搬送"),
        (d.emergency.id, "battery_replaced"),
    ] {
        let r = post(id, outcome).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{outcome}");
        let text = r.text().await.unwrap();
        at(&text, "この結果はこのアラートには使えません");
        assert_ne!(
            store.get_alert(id).await.unwrap().state,
            AlertState::Resolved
        );
    }
    assert_eq!(
        store.alert_timeline(d.battery.id).await.unwrap().len(),
        events,
        "nothing written"
    );
    // The API goes through the same check (`Actions::resolve`, as Telegram's buttons do).
    let r = app
        .http
        .post(app.url(&format!("/api/v1/alerts/{}/resolve", d.battery.id)))
        .bearer_auth(&sato)
        .json(&serde_json::json!({ "outcome": "safe" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    at(
        &r.text().await.unwrap(),
        "電池交換・再接続・機器交換・その他",
    );
    assert_eq!(
        store.alert_timeline(d.battery.id).await.unwrap().len(),
        events,
        "nothing written"
    );
    let r = post(d.battery.id, "battery_replaced").await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let done = store.get_alert(d.battery.id).await.unwrap();
    assert_eq!(
        (done.state, done.outcome),
        (AlertState::Resolved, Some(Outcome::BatteryReplaced))
    );
    let (_, page) = app
        .page(&format!("/alerts/{}", d.battery.id), &cookie)
        .await;
    at(&page, "佐藤 美咲さんが解決（電池交換）");
}

/// Reads server-sent events from `r` until one holds `needle` (or `WAIT` passes): its data.
async fn event_with(r: &mut reqwest::Response, needle: &str, buffer: &mut String) -> String {
    tokio::time::timeout(WAIT, async {
        loop {
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let data: String = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: ").or(l.strip_prefix("data:")))
                    .collect::<Vec<_>>()
                    .join("\n");
                if event.contains("event: alerts") && data.contains(needle) {
                    return data;
                }
            }
            let chunk = r.chunk().await.unwrap().expect("the stream goes on");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no event with {needle} within {WAIT:?}"))
}

async fn the_live_list_streams_a_new_alert_and_ends_with_the_session(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    let d = desk(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&sato).await;
    let mut r = app
        .http
        .get(app.url("/alerts/live"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut buffer = String::new();
    // At once: the list as it is.
    event_with(&mut r, &format!("alert-{}", d.emergency.id), &mut buffer).await;
    // A new alert of the district: sent without being asked, within 2 s; another district's is
    // not.
    let hidden = alert(
        &store,
        Subject::Resident(ResidentId::parse("r-taro").unwrap()),
        AlertKind::Emergency,
        Severity::Critical,
        Some("tsujido"),
        clock.now(),
    )
    .await;
    let opened = Instant::now();
    let fresh = alert(
        &store,
        Subject::Device(DeviceId::parse("button-e").unwrap()),
        AlertKind::DeviceOffline,
        Severity::Normal,
        Some("kugenuma"),
        clock.now(),
    )
    .await;
    let data = event_with(&mut r, &format!("alert-{}", fresh.id), &mut buffer).await;
    assert!(
        opened.elapsed() < Duration::from_secs(2),
        "{:?}",
        opened.elapsed()
    );
    assert!(!data.contains(&format!("alert-{}", hidden.id)));
    // A change of one shown: acknowledged elsewhere, the list says by whom.
    store
        .acknowledge_alert(
            d.emergency.id,
            &Actor::responder(ResponderId::parse("p-sato").unwrap()),
            "telegram",
            &[],
            clock.now(),
        )
        .await
        .unwrap();
    event_with(&mut r, "対応中 <strong>2</strong>", &mut buffer).await;
    // Signing out ends the stream.
    let (_, page) = app.page("/alerts", &cookie).await;
    let token = page
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    app.http
        .post(app.url("/logout"))
        .header(COOKIE, &cookie)
        .form(&[("form_token", token)])
        .send()
        .await
        .unwrap();
    // A change wakes the stream, which finds the session gone and ends.
    alert(
        &store,
        Subject::Device(DeviceId::parse("button-e").unwrap()),
        AlertKind::Unmonitored,
        Severity::Normal,
        Some("kugenuma"),
        clock.now(),
    )
    .await;
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(chunk) = r.chunk().await.unwrap() {
            assert!(!String::from_utf8_lossy(&chunk).contains("見守り不能"));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends with the session");
}

async fn every_page_uses_our_stylesheet_and_no_inline_style(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let sato = token_for(
        &store,
        "p-demo",
        "coordinator",
        "デモ担当（バックアップふじさわ）",
    )
    .await;
    let d = desk(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let r = app
        .http
        .get(app.url("/static/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(r.text().await.unwrap().contains("--sev-critical"));
    let r = app
        .http
        .get(app.url("/static/live.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // No inline style or script is allowed, and none is needed.
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let cookie = app.sign_in(&sato).await;
    for path in [
        "/".to_string(),
        "/login".into(),
        "/alerts".into(),
        "/alerts?state=resolved".into(),
        format!("/alerts/{}", d.emergency.id),
        "/residents".into(),
        format!("/residents/{}", d.hanako),
        "/residents/new".into(),
        "/report".into(),
    ] {
        let (status, page) = app.page(&path, &cookie).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        at(&page, "<link rel=\"stylesheet\" href=\"/static/app.css\">");
        assert!(!page.contains(" style=\""), "{path} has an inline style");
        assert!(!page.contains("<script>"), "{path} has an inline script");
        // The header names the team once, however the responder is named.
        assert!(
            !page.contains("（バックアップふじさわ）（バックアップふじさわ）"),
            "{path}"
        );
    }
    let (_, page) = app.page("/alerts", &cookie).await;
    at(&page, "デモ担当（バックアップふじさわ）</span>");
    // The alert page does not link to itself.
    let (_, page) = app
        .page(&format!("/alerts/{}", d.emergency.id), &cookie)
        .await;
    assert!(!page.contains("詳細を見る"), "{page}");
}

async fn the_alert_page_explains_says_who_was_told_and_whom_to_call(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let sato_token = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    token_for(&store, "p-suzuki", "houkatsu-kugenuma", "鈴木 健").await;
    let backup = token_for(&store, "p-backup", "coordinator", "市 調整担当").await;
    let d = desk(&store, &clock).await;
    // An inactivity alert as the rule records it, told to 佐藤 (Telegram, arrived), 鈴木 (email,
    // failed for good) and the integrations (MQTT, waiting).
    let told = |channel: Channel, responder: Option<&str>| NewNotification {
        channel,
        target: "x".into(),
        body: match responder {
            Some(r) => serde_json::json!({ "event": "raised", "responder": r }),
            None => serde_json::json!({ "event": "raised" }),
        },
        not_before: clock.now(),
    };
    let silent = store
        .open_routed_alert(
            &NewAlert {
                subject: Subject::Resident(d.hanako.clone()),
                kind: AlertKind::Inactivity,
                severity: Severity::High,
                district: Some(mimamori_core::testing::district("kugenuma")),
                summary: "安否確認: 反応なし".into(),
                detail: serde_json::json!({
                    "rule": "inactivity", "max_silence_minutes": 720,
                    "active_hours": ["07:00", "22:00"],
                    "last_activity": "2026-11-30T21:40:00Z", "pauses_considered": [],
                }),
                at: clock.now(),
            },
            &Routed {
                escalate_at: Some(clock.now() + chrono::Duration::minutes(15)),
                ..Default::default()
            },
            &[
                told(Channel::Telegram, Some("p-sato")),
                told(Channel::Email, Some("p-suzuki")),
                told(Channel::Mqtt, None),
            ],
            None,
        )
        .await
        .unwrap()
        .alert;
    // The store's own signals of the last 48 hours: two hours with activity.
    for (n, minutes_ago) in [(1, 30), (2, 35), (3, 60 * 20)] {
        store
            .insert_signal(&NewSignal {
                source: SignalSource::Device(DeviceId::parse("button-e").unwrap()),
                dedup_key: Some(format!("seq:{n}")),
                subject: Some(Subject::Resident(d.hanako.clone())),
                kind: SignalKind::Activity,
                body: serde_json::json!({ "type": "activity" }),
                device_time: None,
                received_at: clock.now() - chrono::Duration::minutes(minutes_ago),
                clock_skewed: false,
            })
            .await
            .unwrap();
    }
    let lease = chrono::Duration::minutes(1);
    let mut sent = Vec::new();
    while let Some(n) = store
        .claim_notification("w", clock.now(), lease)
        .await
        .unwrap()
    {
        sent.push(n);
    }
    for n in &sent {
        match n.channel {
            Channel::Telegram => store
                .mark_notification_sent(n.id, "w", clock.now())
                .await
                .unwrap(),
            Channel::Email => store
                .mark_notification_failed(n.id, "w", "550 no such user", clock.now())
                .await
                .unwrap(),
            _ => store.release_notification(n.id, "w").await.unwrap(),
        };
    }
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&sato_token).await;
    let (status, page) = app.page(&format!("/alerts/{}", silent.id), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    for shown in [
        // Why, in plain Japanese.
        "12時間反応なし（07:00–22:00に数えて）。最後の生活反応は 12月01日 06:40。",
        // What comes next if nobody takes it.
        "2026年12月01日 09:15までに誰も対応しなければ",
        // Who was told, how, and whether it arrived.
        "発生の知らせ → 佐藤 美咲さん（Telegram）",
        "届きました",
        "発生の知らせ → 鈴木 健さん（メール）",
        "届きませんでした（1回試行。運用担当に知らせました）",
        "発生の知らせ → 連携システム（MQTT）",
        "送信待ち",
        // Whom to call, on the page itself.
        "href=\"tel:0466-00-0000\"",
        "藤沢 一郎（長男）",
        // Her last 48 hours: two hours with a sign of life.
        "data-filled=\"2\"",
    ] {
        at(&page, shown);
    }
    assert!(!page.contains("配信結果"), "no raw delivery rows");
    assert!(!page.contains("550 no such user"), "no raw errors");
    assert!(!page.contains("詳細を見る"), "no link to itself");
    // The view is audited.
    let views = store
        .list_audit("resident", Some(d.hanako.as_str()), 10)
        .await
        .unwrap();
    assert!(views.iter().any(|v| v.action == "resident.view"));

    // The coordinator's triage alert: the district must be chosen, none is preselected.
    let coordinator = app.sign_in(&backup).await;
    let (_, page) = app
        .page(&format!("/alerts/{}", d.triage.id), &coordinator)
        .await;
    at(
        &page,
        "<select id=\"route-district\" name=\"district\" required><option value=\"\">地区を選んでください</option>",
    );
    assert!(!page.contains("selected>"), "nothing chosen yet");
    // 鵠沼 comes in the city's order, by its Japanese name.
    at(&page, ">鵠沼地区</option>");
}

/// Stores 28 days of the demo's simulated routine for `resident`'s call button, as the gateway
/// stores signals, up to the clock's now, and returns the number of hours (day × hour) that hold
/// a sign of life: the cells the heatmap must fill.
async fn store_a_routine(store: &Store, clock: &ManualClock, resident: &ResidentId) -> usize {
    use chrono::TimeZone;
    use rand::SeedableRng;
    let tz = chrono_tz::Asia::Tokyo;
    let today = clock.now().with_timezone(&tz).date_naive();
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    let routine = mimamori_devices::routine::Routine::default();
    let mut signals = Vec::new();
    let mut expected = std::collections::HashSet::new();
    for back in 0..28 {
        let day = today - chrono::Duration::days(back);
        for step in routine.day(&mut rng) {
            let when = tz
                .from_local_datetime(&day.and_time(step.at))
                .earliest()
                .unwrap()
                .with_timezone(&chrono::Utc);
            if when >= clock.now() {
                continue;
            }
            let kind = match step.kind {
                EventType::Emergency => SignalKind::Emergency,
                EventType::Activity => SignalKind::Activity,
                EventType::Checkin => SignalKind::Checkin,
                EventType::Heartbeat | EventType::Battery => SignalKind::DeviceHealth,
            };
            if kind != SignalKind::DeviceHealth {
                expected.insert((day, when.with_timezone(&tz).format("%H").to_string()));
            }
            signals.push(NewSignal {
                source: SignalSource::Device(DeviceId::parse("button-e").unwrap()),
                dedup_key: Some(format!("seq:{}", signals.len())),
                subject: Some(Subject::Resident(resident.clone())),
                kind,
                body: serde_json::json!({ "type": step.kind.as_str(), "battery": 64 }),
                device_time: None,
                received_at: when,
                clock_skewed: false,
            });
        }
    }
    assert!(
        expected.len() > 28 * 4,
        "a routine fills hours: {}",
        expected.len()
    );
    store.insert_signals(&signals).await.unwrap();
    expected.len()
}

async fn the_residents_page_draws_the_routine_devices_and_past_alerts(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T15:30:00"));
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    let chogo = token_for(&store, "p-chogo", "csw-chogo", "長後 CSW").await;
    let d = desk(&store, &clock).await;
    let expected = store_a_routine(&store, &clock, &d.hanako).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&sato).await;
    let (status, page) = app.page(&format!("/residents/{}", d.hanako), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    // The heatmap: as many filled cells as hours with a stored sign of life; 28 × 24 cells.
    let filled = page.matches("<rect class=\"on\"").count();
    assert_eq!(filled, expected, "filled cells against the stored signals");
    at(&page, &format!("data-filled=\"{expected}\""));
    let cells = page.matches("<rect class=\"on\"").count()
        + page.matches("<rect class=\"off\"").count()
        + page.matches("<rect class=\"future\"").count();
    assert_eq!(cells, 28 * 24);
    at(&page, "赤枠は見守りの活動時間（07:00–22:00）");
    // The device: kind, state, battery, last signal; past alerts with outcomes.
    for shown in [
        "緊急通報ボタン",
        "button-e",
        "64%",
        "オンライン",
        "結果：無事確認",
    ] {
        at(&page, shown);
    }
    for a in [&d.emergency, &d.battery, &d.resolved] {
        at(&page, &format!("href=\"/alerts/{}\"", a.id));
    }
    // Another district's team: as if there were no such resident, and nothing read.
    let before = store.list_audit("resident", None, 100).await.unwrap().len();
    let other = app.sign_in(&chogo).await;
    let (status, page) = app.page(&format!("/residents/{}", d.hanako), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!page.contains("藤沢 花子") && !page.contains("<rect"));
    assert_eq!(
        store.list_audit("resident", None, 100).await.unwrap().len(),
        before
    );
}

async fn the_city_figures_count_by_district_and_download_for_excel(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-20T09:00:00"));
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    let backup = token_for(&store, "p-backup", "coordinator", "市 調整担当").await;
    let d = desk(&store, &clock).await;
    let who = Actor::responder(ResponderId::parse("p-sato").unwrap());
    // The emergency taken after 3 minutes (within the target), the 辻堂 one after 12.
    store
        .acknowledge_alert(
            d.emergency.id,
            &who,
            "dashboard",
            &[],
            d.emergency.opened_at + chrono::Duration::minutes(3),
        )
        .await
        .unwrap();
    let late = alert(
        &store,
        Subject::Resident(ResidentId::parse("r-taro").unwrap()),
        AlertKind::Emergency,
        Severity::Critical,
        Some("tsujido"),
        clock.now() - chrono::Duration::hours(1),
    )
    .await;
    store
        .acknowledge_alert(
            late.id,
            &who,
            "dashboard",
            &[],
            late.opened_at + chrono::Duration::minutes(12),
        )
        .await
        .unwrap();
    // Last month's: not counted in December.
    alert(
        &store,
        Subject::Device(DeviceId::parse("button-e").unwrap()),
        AlertKind::DeviceOffline,
        Severity::Normal,
        Some("kugenuma"),
        jst("2026-11-30T23:59:00"),
    )
    .await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    // A district's team: no such page.
    let district = app.sign_in(&sato).await;
    for path in ["/figures", "/figures.csv", "/figures?month=2026-12"] {
        assert_eq!(
            app.page(path, &district).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let views = store.list_audit("resident", None, 100).await.unwrap().len();
    let cookie = app.sign_in(&backup).await;
    let (status, page) = app.page("/figures", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    for shown in [
        "市の集計（2026年12月）",
        "鵠沼地区</th><td>3</td>",
        "辻堂地区</th><td>2</td>",
        "地区不明（振り分け待ちだったもの）</th><td>1</td>",
        "市全体</th><td>6</td>",
        "100%（1/1件）",
        "0%（0/1件）（目標未達）",
        "50%（1/2件）（目標未達）",
        "href=\"/figures.csv?month=2026-12\"",
    ] {
        at(&page, shown);
    }
    assert!(
        !page.contains("藤沢 花子") && !page.contains("山田"),
        "no names"
    );
    let (_, november) = app.page("/figures?month=2026-11", &cookie).await;
    at(&november, "市全体</th><td>1</td>");

    let r = app
        .http
        .get(app.url("/figures.csv?month=2026-12"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("mimamori-figures-2026-12.csv")
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 with a byte order mark");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(text.contains("\r\n"), "CRLF");
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header = rows.headers().unwrap().clone();
    assert_eq!(&header[0], "月");
    assert_eq!(&header[1], "地区");
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    let row = |district: &str, kind: &str| {
        rows.iter()
            .find(|r| &r[1] == district && &r[2] == kind)
            .unwrap_or_else(|| panic!("{district} {kind}: {text}"))
            .clone()
    };
    let kugenuma = row("鵠沼地区", "緊急通報");
    assert_eq!((&kugenuma[0], &kugenuma[3]), ("2026-12", "1"));
    let city = row("市全体", "すべて");
    assert_eq!(&city[3], "6");
    let safe = header.iter().position(|h| h == "結果:無事確認").unwrap();
    assert_eq!(&row("鵠沼地区", "すべて")[safe], "1");
    let ack_p50 = header
        .iter()
        .position(|h| h == "対応開始までの中央値(分)")
        .unwrap();
    assert_eq!(&kugenuma[ack_p50], "3.0");
    for personal in ["藤沢 花子", "山田", "r-elder", "r-taro", "button-e", "本町"] {
        assert!(!text.contains(personal), "{personal} in the CSV");
    }
    // Figures are no view of anyone.
    assert_eq!(
        store.list_audit("resident", None, 100).await.unwrap().len(),
        views
    );
    // A month that is not one.
    for bad in ["2026-13", "12-2026", "2026-1", "%3Cscript%3E", "2026-12%0A"] {
        for path in ["/figures", "/figures.csv"] {
            let (status, page) = app.page(&format!("{path}?month={bad}"), &cookie).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?month={bad}");
            assert!(!page.contains("<script>"));
        }
    }

    // The city sets its own target (`[city]`): within 15 minutes in half the cases, 辻堂's
    // 12 minutes count, and no district falls short.
    let app = spawn_app(
        store.clone(),
        Options::on(clock.clone()).configure(|c| {
            c.city.ack_target_minutes = 15;
            c.city.ack_target_percent = 50;
        }),
    )
    .await;
    let cookie = app.sign_in(&backup).await;
    let (_, page) = app.page("/figures?month=2026-12", &cookie).await;
    at(&page, "目標：緊急通報の50%を15分以内に対応開始");
    at(&page, "100%（2/2件）");
    assert!(!page.contains("目標未達"), "{page}");
    let csv = app.page("/figures.csv?month=2026-12", &cookie).await.1;
    at(&csv, "緊急通報のうち15分以内に対応開始");
}

async fn the_city_figures_count_partner_reports_by_partner_kind(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-20T09:00:00"));
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    let backup = token_for(&store, "p-backup", "coordinator", "市 調整担当").await;
    let d = desk(&store, &clock).await;
    for (id, kind) in [
        ("pt-post", PartnerKind::Post),
        ("pt-news", PartnerKind::Newspaper),
        ("pt-coop", PartnerKind::Coop),
    ] {
        store
            .add_partner(
                &NewPartner {
                    id: PartnerId::parse(id).unwrap(),
                    name: format!("{} {id}", kind.label_ja()),
                    kind,
                    agreement: None,
                },
                &token_hash(&format!("mmp_{id}")),
                jst("2026-11-01T09:00:00"),
            )
            .await
            .unwrap();
    }
    let mut app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    // Partners' reports as intake stores them, each applied by the rules when it arrives: a
    // newspaper round's about 花子さん in November (her concern alert opens then), then in
    // December the post office's and the newspaper's about her (joining it), the co-op's about
    // 山田さん of 辻堂, and the post office's about an address no district claims (triage).
    let taro = ResidentId::parse("r-taro").unwrap();
    for (i, (partner, subject, district, at)) in [
        (
            "pt-news",
            Subject::Resident(d.hanako.clone()),
            Some("kugenuma"),
            "2026-11-28T10:00:00",
        ),
        (
            "pt-post",
            Subject::Resident(d.hanako.clone()),
            Some("kugenuma"),
            "2026-12-02T10:00:00",
        ),
        (
            "pt-news",
            Subject::Resident(d.hanako.clone()),
            Some("kugenuma"),
            "2026-12-03T06:00:00",
        ),
        (
            "pt-coop",
            Subject::Resident(taro.clone()),
            Some("tsujido"),
            "2026-12-04T15:00:00",
        ),
        (
            "pt-post",
            Subject::Address("本町一丁目2-3".into()),
            None,
            "2026-12-05T11:00:00",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let at = jst(at);
        clock.set(at);
        store
            .insert_signal(&NewSignal {
                source: SignalSource::Partner(PartnerId::parse(partner).unwrap()),
                dedup_key: Some(format!("report-{i}")),
                subject: Some(subject),
                kind: SignalKind::Concern,
                body: serde_json::json!({
                    "seen": ["mail"],
                    "urgent": false,
                    "route": if district.is_some() { "district" } else { "triage" },
                    "district": district,
                    "address": "本町一丁目2-3",
                }),
                device_time: None,
                received_at: at,
                clock_skewed: false,
            })
            .await
            .unwrap();
        app.tick().await;
    }
    clock.set(jst("2026-12-20T09:00:00"));

    // What the figures must say, counted from the stored reports of December by partner kind.
    let kinds = [
        ("pt-post", PartnerKind::Post),
        ("pt-news", PartnerKind::Newspaper),
        ("pt-coop", PartnerKind::Coop),
    ];
    let stored: Vec<Signal> = store
        .signals_after(SignalId(0), 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| {
            s.kind == SignalKind::Concern
                && s.received_at >= jst("2026-12-01T00:00:00")
                && s.received_at < jst("2027-01-01T00:00:00")
        })
        .collect();
    let count = |kind: PartnerKind| {
        stored
            .iter()
            .filter(|s| {
                kinds
                    .iter()
                    .any(|(id, k)| *k == kind && s.source.key() == format!("partner:{id}"))
            })
            .count()
    };
    let city_row = format!(
        "市全体</th><td>{}</td>{}</tr>",
        stored.len(),
        PartnerKind::ALL
            .iter()
            .map(|k| format!("<td>{}</td>", count(*k)))
            .collect::<String>()
    );
    assert_eq!(stored.len(), 4);

    let views = store.list_audit("resident", None, 100).await.unwrap().len();
    // A district's team: no such figures.
    let district = app.sign_in(&sato).await;
    assert_eq!(
        app.page("/figures", &district).await.0,
        StatusCode::NOT_FOUND
    );
    let cookie = app.sign_in(&backup).await;
    let (status, page) = app.page("/figures?month=2026-12", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let reports = &page[at(&page, "<h2>協力事業者からの連絡")..];
    // Columns: 合計, then 郵便局, 宅配事業者, 新聞販売店, 生協, 電気・ガス・水道, 金融機関, 小売店, その他.
    at(
        reports,
        "<th scope=\"col\">郵便局</th><th scope=\"col\">宅配事業者</th><th scope=\"col\">新聞販売店</th><th scope=\"col\">生協</th>",
    );
    for row in [
        "鵠沼地区</th><td>2</td><td>1</td><td>0</td><td>1</td><td>0</td>".to_string(),
        "辻堂地区</th><td>1</td><td>0</td><td>0</td><td>0</td><td>1</td>".to_string(),
        "地区不明（振り分け待ちだったもの）</th><td>1</td><td>1</td><td>0</td>".to_string(),
        city_row,
    ] {
        at(reports, &row);
    }
    for personal in ["本町一丁目2-3", "藤沢 花子", "山田", "pt-post"] {
        assert!(!page.contains(personal), "{personal} on the figures");
    }
    let (_, november) = app.page("/figures?month=2026-11", &cookie).await;
    let reports = &november[at(&november, "<h2>協力事業者からの連絡")..];
    at(
        reports,
        "鵠沼地区</th><td>1</td><td>0</td><td>0</td><td>1</td>",
    );

    // The CSV: the reports on each district's 「すべて」 row and its concerns' row.
    let r = app
        .http
        .get(app.url("/figures.csv?month=2026-12"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let header = rows.headers().unwrap().clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name}: {header:?}"))
    };
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    let row = |district: &str, kind: &str| {
        rows.iter()
            .find(|r| &r[1] == district && &r[2] == kind)
            .unwrap_or_else(|| panic!("{district} {kind}: {text}"))
            .clone()
    };
    let (all, post, news, coop) = (
        col("協力事業者からの連絡"),
        col("連絡:郵便局"),
        col("連絡:新聞販売店"),
        col("連絡:生協"),
    );
    let kugenuma = row("鵠沼地区", "すべて");
    assert_eq!(
        (&kugenuma[all], &kugenuma[post], &kugenuma[news]),
        ("2", "1", "1")
    );
    // 辻堂's concern opened in December: its row has them too (花子さん's opened in November).
    let concerns = row("辻堂地区", AlertKind::Concern.label_ja());
    assert_eq!((&concerns[all], &concerns[coop]), ("1", "1"));
    assert_eq!(
        &row("鵠沼地区", "緊急通報")[post],
        "",
        "not a figure of emergencies"
    );
    assert_eq!(&row("辻堂地区", "すべて")[coop], "1");
    let city = row("市全体", "すべて");
    assert_eq!(
        (&city[all], &city[post], &city[news], &city[coop]),
        (
            stored.len().to_string().as_str(),
            count(PartnerKind::Post).to_string().as_str(),
            count(PartnerKind::Newspaper).to_string().as_str(),
            count(PartnerKind::Coop).to_string().as_str()
        )
    );
    for personal in ["本町一丁目2-3", "藤沢 花子", "山田", "pt-", "r-elder"] {
        assert!(!text.contains(personal), "{personal} in the CSV");
    }
    // Figures are no view of anyone.
    assert_eq!(
        store.list_audit("resident", None, 100).await.unwrap().len(),
        views
    );
}

async fn the_coordinators_rights_come_from_the_role_not_the_team(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let backup = token_for(&store, "p-backup", "coordinator", "市 調整担当").await;
    // On the city-wide team, but a responder by role (as an admin may set).
    let plain = token_for(&store, "p-plain", "coordinator", "市 応援担当").await;
    store
        .set_responder_role(&ResponderId::parse("p-plain").unwrap(), Role::Responder)
        .await
        .unwrap();
    // An admin of a district's team: the figures (the role), not the triage (not the scope).
    let admin = token_for(&store, "p-admin", "houkatsu-kugenuma", "鵠沼 管理").await;
    store
        .set_responder_role(&ResponderId::parse("p-admin").unwrap(), Role::Admin)
        .await
        .unwrap();
    let d = desk(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let (plain, backup, admin) = (
        app.sign_in(&plain).await,
        app.sign_in(&backup).await,
        app.sign_in(&admin).await,
    );
    let triage_page = format!("/alerts/{}", d.triage.id);

    // The responder of the city-wide team: every district's alerts (the team's scope), but the
    // coordinator's pages are refused as such — and nothing is said about a resident.
    let (status, list) = app.page("/alerts", &plain).await;
    assert_eq!(status, StatusCode::OK);
    at(&list, &format!("id=\"alert-{}\"", d.tsujido.id));
    assert!(
        !list.contains("振り分け待ち（地区不明）</h2>"),
        "no triage queue"
    );
    assert!(!list.contains("value=\"triage\""), "no triage filter");
    assert!(
        !list.contains("href=\"/figures\""),
        "no figures in the menu"
    );
    for path in [
        "/figures",
        "/figures.csv",
        "/figures?month=2026-12",
        "/alerts?district=triage",
        "/alerts/live?district=triage",
    ] {
        let (status, page) = app.page(path, &plain).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        at(&page, "市の調整担当の機能です");
    }
    let (status, page) = app.page(&triage_page, &plain).await;
    assert_eq!(status, StatusCode::OK, "in the team's scope");
    assert!(!page.contains("/route\""), "no routing form");
    let token = form_token(&page);
    let r = app
        .http_no_redirects
        .post(app.url(&format!("{triage_page}/route")))
        .header(COOKIE, &plain)
        .form(&[("form_token", token.as_str()), ("district", "kugenuma")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("市の調整担当"));
    assert_eq!(store.get_alert(d.triage.id).await.unwrap().district, None);

    // The district's admin: the city's figures (counts only), but triage is out of scope.
    assert_eq!(app.page("/figures", &admin).await.0, StatusCode::OK);
    assert_eq!(app.page("/figures.csv", &admin).await.0, StatusCode::OK);
    assert_eq!(
        app.page("/alerts?district=triage", &admin).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.page(&triage_page, &admin).await.0,
        StatusCode::NOT_FOUND
    );

    // The coordinator: all of it, and routes the alert on (on its timeline as them).
    let (_, list) = app.page("/alerts", &backup).await;
    at(&list, "振り分け待ち（地区不明）</h2>");
    at(&list, "href=\"/figures\"");
    for path in ["/figures", "/figures.csv", "/alerts?district=triage"] {
        assert_eq!(app.page(path, &backup).await.0, StatusCode::OK, "{path}");
    }
    let (_, page) = app.page(&triage_page, &backup).await;
    at(&page, &format!("action=\"{triage_page}/route\""));
    let token = form_token(&page);
    let r = app
        .http_no_redirects
        .post(app.url(&format!("{triage_page}/route")))
        .header(COOKIE, &backup)
        .form(&[("form_token", token.as_str()), ("district", "kugenuma")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        store.get_alert(d.triage.id).await.unwrap().district,
        Some(mimamori_core::testing::district("kugenuma"))
    );
    let routed = store.alert_timeline(d.triage.id).await.unwrap();
    assert!(
        routed.iter().any(|e| e.kind == AlertEventKind::Routed
            && e.actor.as_deref() == Some("responder:p-backup"))
    );
}

async fn the_figures_of_a_year_for_a_thousand_residents_count_every_month(
    store: Store,
    url: String,
) {
    // A year of alerts for 1,000 residents in five districts (two a month each: 24,000), written
    // in bulk, resolved with an outcome their kind allows. One in fifty is opened in the first or
    // the last minute of a month in the city's time (the first minute is, in UTC, still the month
    // before): the page counts by the city's months.
    let clock = ManualClock::new(jst("2026-12-20T09:00:00"));
    let backup = token_for(&store, "p-backup", "coordinator", "市 調整担当").await;
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let districts = [
        ("kugenuma", "鵠沼"),
        ("tsujido", "辻堂"),
        ("chogo", "長後"),
        ("fujisawa", "藤沢"),
        ("katase", "片瀬"),
    ];
    let kinds = [
        AlertKind::Emergency,
        AlertKind::Inactivity,
        AlertKind::DeviceOffline,
        AlertKind::BatteryLow,
        AlertKind::Concern,
    ];
    let first_of = |month: i64| {
        jst(&format!(
            "{}-{:02}-01T00:00:00",
            2026 + (month - 1) / 12,
            (month - 1) % 12 + 1
        ))
        .timestamp_millis()
    };
    // What each month's page must count: per district (in `districts`' order).
    let mut seeded = [[0u64; 5]; 13];
    let mut values = Vec::new();
    for month in 1..=12i64 {
        let (first, next) = (first_of(month), first_of(month + 1));
        for resident in 0..1000i64 {
            for n in 0..2i64 {
                let i = ((month - 1) * 1000 + resident) * 2 + n;
                let offset = match i % 50 {
                    0 => i % 60_000,
                    1 => next - first - 1 - i % 60_000,
                    _ => i * 2_654_435_761 % (next - first),
                };
                let opened = first + offset;
                let d = (resident % 5) as usize;
                seeded[month as usize][d] += 1;
                let kind = kinds[(i % 5) as usize];
                let outcome = kind.outcomes()[(i % 4) as usize];
                values.push(format!(
                    "('resident:r-{resident:04}', '{kind}', 'resolved', 'high', '{}', 's', '{{}}', {opened}, {opened}, 1, {}, 'responder:p-backup', {}, 'responder:p-backup', '{outcome}')",
                    districts[d].0,
                    opened + (i % 20) * 60_000,
                    opened + (20 + i % 300) * 60_000,
                ));
            }
        }
    }
    for chunk in values.chunks(1000) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO alerts (subject, kind, state, severity, district_id, summary, detail, opened_at, last_evidence_at, evidence_count, acknowledged_at, acknowledged_by, resolved_at, resolved_by, outcome) VALUES {}",
            chunk.join(", ")
        )))
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&backup).await;
    let mut shown = 0;
    for (month, counts) in seeded.iter().enumerate().skip(1) {
        let (status, page) = app
            .page(&format!("/figures?month=2026-{month:02}"), &cookie)
            .await;
        assert_eq!(status, StatusCode::OK, "2026-{month:02}");
        let total: u64 = counts.iter().sum();
        at(&page, &format!("市全体</th><td>{total}</td>"));
        // Every district's row, in each month.
        for ((_, name), n) in districts.iter().zip(counts) {
            at(&page, &format!("{name}地区</th><td>{n}</td>"));
        }
        shown += total;
    }
    assert_eq!(shown, 24_000, "every alert in one month's figures");
    // The month before the year, and the CSV's city row of one month.
    let (_, before) = app.page("/figures?month=2025-12", &cookie).await;
    at(&before, "市全体</th><td>0</td>");
    let (_, csv) = app.page("/figures.csv?month=2026-06", &cookie).await;
    at(
        &csv,
        &format!("2026-06,市全体,すべて,{},", seeded[6].iter().sum::<u64>()),
    );
}

async fn the_district_overview_shows_whom_to_look_after(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    let backup = token_for(&store, "p-backup", "coordinator", "市 調整担当").await;
    let d = desk(&store, &clock).await;
    // Her sensors all silent; a hospital stay of hers ending in three days; another ending in ten.
    let blind = alert(
        &store,
        Subject::Resident(d.hanako.clone()),
        AlertKind::Unmonitored,
        Severity::Normal,
        Some("kugenuma"),
        clock.now(),
    )
    .await;
    for days in [3, 10] {
        store
            .add_pause(
                &NewPause {
                    resident: d.hanako.clone(),
                    reason: PauseReason::Hospital,
                    starts_at: clock.now() - chrono::Duration::days(1),
                    ends_at: Some(clock.now() + chrono::Duration::days(days)),
                    note: None,
                },
                clock.now(),
            )
            .await
            .unwrap_or_else(|e| panic!("pause: {e}"));
    }
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let cookie = app.sign_in(&sato).await;
    let (status, page) = app.page("/overview", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    for shown in [
        "地区の状況（鵠沼地区）",
        "対応待ちのアラートがある方（1人）",
        &format!("href=\"/alerts/{}\"", d.emergency.id),
        "見守りできていない方（センサーがすべて停止：1人）",
        &format!("href=\"/alerts/{}\"", blind.id),
        "通信途絶・電池残量低下の機器（1台）",
        "電池残量低下</a> button-e（藤沢 花子さん宅",
        "1週間以内に終わる一時停止（1件）",
        "12月04日 09:00まで",
    ] {
        at(&page, shown);
    }
    assert!(!page.contains("山田 太郎"), "another district's resident");
    let audit = store.list_audit("resident", None, 20).await.unwrap();
    assert!(
        audit.iter().any(|e| e.action == "resident.names"
            && e.actor == "responder:p-sato"
            && e.detail["residents"] == serde_json::json!([d.hanako])),
        "{audit:?}"
    );
    // Another district: 404, nothing read; not a district at all: 400.
    let before = store.list_audit("resident", None, 100).await.unwrap().len();
    let (status, page) = app.page("/overview?district=tsujido", &cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!page.contains("山田"));
    assert_eq!(
        store.list_audit("resident", None, 100).await.unwrap().len(),
        before
    );
    for bad in ["%3Cscript%3E", "..%2Fx", "kugenuma%00"] {
        let (status, page) = app
            .page(&format!("/overview?district={bad}"), &cookie)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(!page.contains("<script>"));
    }
    // The coordinator: the whole city, or one district.
    let coordinator = app.sign_in(&backup).await;
    let (_, city) = app.page("/overview", &coordinator).await;
    at(&city, "地区の状況（市全体）");
    at(&city, "山田 太郎さん");
    at(&city, "藤沢 花子さん");
    let (_, tsujido) = app.page("/overview?district=tsujido", &coordinator).await;
    at(&tsujido, "山田 太郎さん");
    assert!(!tsujido.contains("藤沢 花子"));
}

async fn editing_an_address_routes_the_resident_to_its_district(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    let backup = token_for(&store, "p-backup", "coordinator", "市 調整担当").await;
    let d = desk(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let path = format!("/residents/{}", d.hanako);
    let edit = |cookie: String, fields: Vec<(&'static str, String)>| {
        let http = app.http_no_redirects.clone();
        let url = app.url(&format!("{path}/edit"));
        async move {
            let r = http
                .post(url)
                .header(COOKIE, cookie)
                .form(&fields)
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let form = |token: &str, name: &str, address: &str| {
        vec![
            ("form_token", token.to_string()),
            ("name", name.to_string()),
            ("kana", "フジサワ ハナコ".to_string()),
            ("birth_year", "1940".to_string()),
            ("address", address.to_string()),
            ("district", String::new()),
            ("living", "alone".to_string()),
            ("phone", "0466-11-2222".to_string()),
            ("notes", "糖尿病".to_string()),
        ]
    };
    let cookie = app.sign_in(&sato).await;
    let (_, page) = app.page(&path, &cookie).await;
    let token = page
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    at(&page, "value=\"鵠沼海岸2丁目3-5\"");
    // Without the form token: nothing changes.
    let (status, _) = edit(
        cookie.clone(),
        form("forged", "藤沢 花", "鵠沼海岸二丁目3-5"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Hostile or broken values: refused, nothing changes.
    for (name, address, why) in [
        (
            "藤沢\u{0007}花子".to_string(),
            "鵠沼海岸二丁目3-5",
            "a control character",
        ),
        ("あ".repeat(101), "鵠沼海岸二丁目3-5", "a name too long"),
        (" ".to_string(), "鵠沼海岸二丁目3-5", "no name"),
        (
            "藤沢 花子".to_string(),
            "どこでもない町999",
            "no such address",
        ),
        // 辻堂 is not 鵠沼's team's to move someone to.
        (
            "藤沢 花子".to_string(),
            "辻堂元町一丁目1-1",
            "another district",
        ),
    ] {
        let (status, _) = edit(cookie.clone(), form(&token, &name, address)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
    }
    let unchanged = store
        .get_resident(&d.hanako, &Actor::system(), clock.now())
        .await
        .unwrap();
    assert_eq!(
        (unchanged.name.as_str(), unchanged.district.as_str()),
        ("藤沢 花子", "kugenuma")
    );
    // A change within the district: saved, shown escaped, audited with what changed.
    let (status, _) = edit(
        cookie.clone(),
        form(&token, "藤沢 <b>花子</b>", "鵠沼海岸二丁目3-5"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = app.page(&path, &cookie).await;
    at(&page, "藤沢 &lt;b&gt;花子&lt;/b&gt;");
    at(&page, "0466-11-2222");
    let audit = store
        .list_audit("resident", Some(d.hanako.as_str()), 20)
        .await
        .unwrap();
    let edited = audit
        .iter()
        .find(|e| e.action == "resident.edit")
        .expect("audited");
    assert_eq!(edited.actor, "responder:p-sato");
    assert_eq!(
        edited.detail["changed"],
        serde_json::json!(["name", "phone"])
    );

    // The coordinator moves her to 辻堂: routed there; 鵠沼's team no longer sees her.
    let sato_token = token;
    let coordinator = app.sign_in(&backup).await;
    let (_, page) = app.page(&path, &coordinator).await;
    let token = page
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let (status, _) = edit(
        coordinator.clone(),
        form(&token, "藤沢 花子", "辻堂元町一丁目1-1"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        store
            .resident_district(&d.hanako)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        "tsujido"
    );
    let audit = store
        .list_audit("resident", Some(d.hanako.as_str()), 20)
        .await
        .unwrap();
    let moved = audit.iter().find(|e| e.action == "resident.edit").unwrap();
    assert_eq!(
        (&moved.detail["district_from"], &moved.detail["district_to"]),
        (
            &serde_json::json!("kugenuma"),
            &serde_json::json!("tsujido")
        )
    );
    assert_eq!(app.page(&path, &cookie).await.0, StatusCode::NOT_FOUND);
    // 鵠沼's team cannot edit her any more either.
    let (status, _) = edit(cookie.clone(), form(&sato_token, "x", "鵠沼海岸二丁目3-5")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// In Chromium, as the people who use it: 鵠沼's worker sees the demo's routine on the heatmap (a
/// filled cell for every hour with a stored sign of life), and the coordinator moves the resident
/// to 辻堂 with the page's own form, after which 鵠沼's worker no longer finds her.
async fn the_routine_shows_and_an_address_change_reroutes_in_the_browser(
    store: Store,
    _url: String,
) {
    let clock = ManualClock::new(jst("2026-12-01T15:30:00"));
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    let backup = token_for(&store, "p-backup", "coordinator", "市 調整担当").await;
    let d = desk(&store, &clock).await;
    let expected = store_a_routine(&store, &clock, &d.hanako).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let browser = Browser::start().await;
    let path = format!("/residents/{}", d.hanako);
    let cells = |class: &'static str| {
        let browser = &browser;
        async move {
            browser
                .execute(
                    &format!(
                        "return document.querySelectorAll('figure.activity svg rect.{class}').length;"
                    ),
                    vec![],
                )
                .await
                .as_u64()
                .unwrap() as usize
        }
    };
    let sign_out = || async {
        browser
            .find("header form[action='/logout'] button")
            .await
            .click_to_load()
            .await;
    };

    browser_signs_in(&browser, &app, &sato).await;
    browser.goto(&app.url(&path)).await;
    assert_eq!(
        cells("on").await,
        expected,
        "filled cells against the stored signals"
    );
    assert_eq!(
        cells("on").await + cells("off").await + cells("future").await,
        28 * 24
    );
    look_at(&browser, "resident-routine").await;
    sign_out().await;

    browser_signs_in(&browser, &app, &backup).await;
    browser.goto(&app.url(&path)).await;
    browser
        .find("section[aria-labelledby=record] details summary")
        .await
        .click()
        .await;
    browser
        .execute(
            "document.getElementById('edit-address').value = '';",
            vec![],
        )
        .await;
    browser
        .find("#edit-address")
        .await
        .type_text("辻堂元町一丁目1-1")
        .await;
    look_at(&browser, "resident-edit").await;
    browser
        .find("form[action$='/edit'] button[type=submit]")
        .await
        .click_to_load()
        .await;
    assert_eq!(
        store
            .resident_district(&d.hanako)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        "tsujido"
    );
    let record = browser.find("table.record").await.text().await;
    // Stored as the address registry writes it (一丁目 → 1丁目), which is how it was routed.
    assert!(record.contains("辻堂元町1丁目1-1"), "{record}");
    sign_out().await;

    browser_signs_in(&browser, &app, &sato).await;
    browser.goto(&app.url(&path)).await;
    let page = browser.text().await;
    assert!(!page.contains("藤沢 花子"), "{page}");
    assert_eq!(cells("on").await + cells("off").await, 0);
    browser.quit().await;
}

async fn the_page_chrome_switches_to_english_and_back(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let backup = token_for(&store, "p-backup", "coordinator", "市 調整担当").await;
    desk(&store, &clock).await;
    let app = spawn_app(store.clone(), Options::on(clock.clone())).await;

    // Hostile: a language we do not have, and a `next` that leads off the site.
    let r = app
        .http_no_redirects
        .get(app.url("/lang?to=%3Cscript%3E"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(!r.text().await.unwrap().contains("<script>"));
    for next in [
        "//evil.example/",
        "https://evil.example/",
        "/%5C%5Cevil.example",
    ] {
        let r = app
            .http_no_redirects
            .get(app.url(&format!("/lang?to=en&next={next}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/alerts", "{next}");
    }
    // A cookie that is not ours: Japanese.
    let cookie = app.sign_in(&backup).await;
    let (_, page) = app
        .page("/alerts", &format!("{cookie}; mimamori_lang=<x>"))
        .await;
    at(&page, "<html lang=\"ja\">");

    // In the browser: Japanese first; English by the link, on every signed-in page, and back.
    let browser = Browser::start().await;
    browser_signs_in(&browser, &app, &backup).await;
    assert_eq!(browser.lang().await, "ja");
    browser.goto(&app.url("/figures")).await;
    switch_language(&browser).await;
    assert!(
        browser.url().await.ends_with("/figures"),
        "back to the page's section"
    );
    assert_eq!(browser.lang().await, "en");
    let nav = browser.find("header.site").await.text().await;
    for word in [
        "Alerts",
        "History",
        "District",
        "Residents",
        "City figures",
        "Sign out",
        "日本語",
    ] {
        assert!(nav.contains(word), "{word}: {nav}");
    }
    // The content stays as written: Japanese.
    assert!(browser.text().await.contains("市の集計"));
    look_at(&browser, "figures-en").await;
    browser.goto(&app.url("/alerts")).await;
    assert_eq!(browser.lang().await, "en");
    look_at(&browser, "alerts-en").await;
    switch_language(&browser).await;
    assert_eq!(browser.lang().await, "ja");
    assert!(
        browser
            .find("header.site")
            .await
            .text()
            .await
            .contains("ログアウト")
    );
    browser.quit().await;
}

/// The browser signs in with `token` through the form, and is on the alert list.
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
    assert!(
        browser.url().await.ends_with("/alerts"),
        "{}",
        browser.url().await
    );
}

async fn an_emergency_pressed_on_a_device_appears_live_and_is_handled_at_phone_width(
    store: Store,
    _url: String,
) {
    // The device side for real: the embedded broker, the gateway and a call button over MQTT.
    let (platform, creds) = setup(
        store.clone(),
        BrokerKind::Embedded,
        &[("button-1", DeviceKind::CallButton, true, None)],
        true,
    )
    .await;
    let clock = ManualClock::new(chrono::Utc::now());
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma", "佐藤 美咲").await;
    let backup = token_for(&store, "p-backup", "coordinator", "市 調整担当").await;
    let d = desk(&store, &clock).await;
    let mut app = spawn_app(store.clone(), Options::on(clock.clone())).await;
    let browser = Browser::start().await;

    browser.goto(&app.url("/login")).await;
    look_at(&browser, "signin").await;
    browser_signs_in(&browser, &app, &sato).await;
    look_at(&browser, "alerts").await;
    browser
        .wait_for("#live-status:not([hidden])", WAIT)
        .await
        .expect("the list says it is live");

    // The button is pressed; the gateway stores it; the rules open the alert.
    let button = platform.device(&creds[0]);
    assert!(button.wait_connected(WAIT).await);
    let mut events = platform.events();
    button.send(EventType::Emergency, None, None).await.unwrap();
    wait_for(&mut events, WAIT, |e| {
        matches!(e, mimamori_gateway::IngestEvent::Stored(s)
            if s.kind == SignalKind::Emergency)
    })
    .await
    .expect("the press is stored");
    let raised = app.tick().await;
    let pressed = raised
        .iter()
        .find(|a| a.kind == AlertKind::Emergency)
        .expect("an emergency alert")
        .clone();
    // The app's clock moves on with the real one the gateway stamped the press with.
    clock.set(chrono::Utc::now());
    let opened = Instant::now();
    let shown = browser
        .wait_for(&format!("#alert-{}", pressed.id), Duration::from_secs(2))
        .await;
    assert!(
        shown.is_some(),
        "the emergency is on the open list within 2 s of being raised ({:?})",
        opened.elapsed()
    );
    // The cue: a banner linking to it, the line marked; no reload happened.
    browser
        .wait_for("#live-banner:not([hidden])", WAIT)
        .await
        .expect("a banner");
    assert!(
        browser
            .find("#live-banner")
            .await
            .text()
            .await
            .contains(&format!("#{}", pressed.id))
    );
    assert!(
        browser
            .try_find(&format!("#alert-{}.fresh", pressed.id))
            .await
            .is_some()
    );
    look_at(&browser, "alerts-live-emergency").await;

    // At a phone's width: open it, take it, resolve it with an outcome.
    browser.set_size(390, 900).await;
    browser
        .find(&format!("#alert-{} a", pressed.id))
        .await
        .click_to_load()
        .await;
    look_at(&browser, "alert").await;
    browser
        .find("form[action$='/ack'] button")
        .await
        .click_to_load()
        .await;
    assert_eq!(app.alert(pressed.id).await.state, AlertState::Acknowledged);
    let select = browser.find("select[name=outcome]").await;
    select.click().await;
    browser
        .find("select[name=outcome] option[value=transported]")
        .await
        .click()
        .await;
    browser
        .find("form[action$='/resolve'] textarea[name=note]")
        .await
        .type_text("救急車で市民病院へ")
        .await;
    browser
        .find("form[action$='/resolve'] button")
        .await
        .click_to_load()
        .await;
    let resolved = app.alert(pressed.id).await;
    assert_eq!(
        (resolved.state, resolved.outcome),
        (AlertState::Resolved, Some(Outcome::Transported))
    );
    look_at(&browser, "alert-resolved").await;

    // The other pages, looked at as a user would.
    // History with a group: two 通信途絶 of her home an hour apart are one line, opened to show
    // the other.
    let mut offline = Vec::new();
    for minutes in [120, 60] {
        let at = clock.now() - chrono::Duration::minutes(minutes);
        let a = alert(
            &store,
            Subject::Device(DeviceId::parse("button-e").unwrap()),
            AlertKind::DeviceOffline,
            Severity::Normal,
            Some("kugenuma"),
            at,
        )
        .await;
        store
            .resolve_alert(
                a.id,
                &Actor::responder(ResponderId::parse("p-sato").unwrap()),
                Outcome::Reconnected,
                None,
                &[],
                at + chrono::Duration::minutes(10),
            )
            .await
            .unwrap();
        offline.push(a);
    }
    browser.goto(&app.url("/alerts?state=resolved")).await;
    // Read and opened by script, not by a held element: the live list may replace its items
    // (the same content) at any moment.
    let member = browser
        .execute(
            &format!(
                "const g = document.querySelector('#alert-{} details.group');
                 g.open = true;
                 return g.querySelector('#alert-{} a').textContent;",
                offline[1].id, offline[0].id
            ),
            vec![],
        )
        .await;
    assert!(member.as_str().unwrap().contains("通信途絶"), "{member}");
    look_at(&browser, "history").await;
    browser.goto(&app.url("/overview")).await;
    look_at(&browser, "overview").await;
    browser.goto(&app.url("/residents")).await;
    look_at(&browser, "residents").await;
    browser
        .goto(&app.url(&format!("/residents/{}", d.hanako)))
        .await;
    look_at(&browser, "resident").await;
    browser.goto(&app.url("/residents/new")).await;
    look_at(&browser, "resident-new").await;
    browser.goto(&app.url("/report")).await;
    look_at(&browser, "report").await;
    browser.goto(&app.url("/")).await;
    look_at(&browser, "status").await;

    // The coordinator: the triage queue on the list, and the city's figures.
    browser.goto(&app.url("/alerts")).await;
    browser
        .find("header form[action='/logout'] button")
        .await
        .click_to_load()
        .await;
    browser_signs_in(&browser, &app, &backup).await;
    look_at(&browser, "alerts-coordinator").await;
    browser
        .goto(&app.url(&format!("/alerts/{}", d.triage.id)))
        .await;
    look_at(&browser, "alert-triage").await;
    browser.goto(&app.url("/figures")).await;
    look_at(&browser, "figures").await;

    browser.quit().await;
    drop(button);
    platform.finish().await;
}

mimamori_testkit::main!();
