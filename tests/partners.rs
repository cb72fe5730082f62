//! Partners' concerns end to end, on SQLite and PostgreSQL: a report through the HTTP API or the
//! clerk's form → a stored signal → the alert service → an alert routed by the address to the
//! district's CSW, or to triage when the address cannot be routed. And every bad report refused
//! with its field named, storing nothing. The browser stories need Chromium and ChromeDriver;
//! like the PostgreSQL cases, they are listed as ignored with the reason where those are missing.

use chrono::{DateTime, Duration, Utc};
use mimamori_core::clock::ManualClock;
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::registry::Registry;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::{AlertFilter, Store};
use mimamori_gateway::concern::ConcernIntake;
use mimamori_testapp::{Options, TestApp, spawn_app};
use mimamori_testkit::browser::Browser;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

on_both_backends!(
    a_report_reaches_the_districts_csw_once_however_often_it_is_sent,
    a_report_at_a_known_residents_home_is_about_them_and_tells_the_partner_nothing,
    what_cannot_be_routed_reaches_triage_and_urgent_is_critical,
    bad_reports_are_refused_with_the_field_named_and_nothing_is_stored,
    the_clerks_form_takes_a_report_and_gives_a_reference,
    the_form_keeps_what_was_typed_when_it_refuses,
    the_csw_reads_the_report_behind_sign_in_and_the_view_is_audited,
    the_coordinator_routes_a_triage_report_to_the_district_it_belongs_to,
    a_csw_links_a_report_about_an_address_to_the_resident_it_was_about,
);

mimamori_testkit::tests! {
    multi_thread a_clerk_and_a_csw_use_their_pages_in_a_real_browser: [Browser];
    multi_thread a_stored_report_wakes_the_rules_and_a_resend_does_not;
    multi_thread a_care_worker_records_and_ends_a_hospital_stay_in_a_real_browser: [Browser];
}

const TOKEN: &str = "partner-token-of-the-post-office-0123456789";

/// 10:00 on 2026-12-01 in the city.
fn now() -> DateTime<Utc> {
    mimamori_core::testing::t0() + Duration::hours(1)
}

/// The app as partners and the city's staff meet it: the post office's partner account, alert
/// changes published on the MQTT alerts topic, the clock at [`now`].
async fn world(store: Store) -> TestApp {
    store
        .add_partner(
            &NewPartner {
                id: PartnerId::parse("pt-post").unwrap(),
                name: "藤沢郵便局".into(),
                kind: PartnerKind::Post,
                agreement: None,
            },
            &token_hash(TOKEN),
            now(),
        )
        .await
        .unwrap();
    spawn_app(store, Options::at(now()).mqtt_alerts()).await
}

/// What partners and the city's staff do, on the app.
trait Partners {
    async fn post(
        &self,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value);
    async fn report(&self, report: Value) -> (StatusCode, Value);
    async fn form(&self, fields: &[(&str, &str)]) -> (StatusCode, String);
    async fn csw_responder(&self, token: &str) -> ResponderId;
    async fn responder(&self, id: &str, team: &str, token: &str) -> ResponderId;
    async fn concerns(&self) -> Vec<Signal>;
}

impl Partners for TestApp {
    async fn post(
        &self,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}/api/v1/concerns", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn report(&self, report: Value) -> (StatusCode, Value) {
        self.post(Some(TOKEN), report.to_string()).await
    }

    async fn form(&self, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let r = self
            .http
            .post(format!("{}/report", self.base))
            .form(fields)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// 鈴木 of 鵠沼's CSW team, signing in with `token`.
    async fn csw_responder(&self, token: &str) -> ResponderId {
        self.responder("p-csw", "csw-kugenuma", token).await
    }

    /// A responder `id` of `team`, signing in with `token`.
    async fn responder(&self, id: &str, team: &str, token: &str) -> ResponderId {
        let responder = ResponderId::parse(id).unwrap();
        self.store
            .add_responder(
                &NewResponder {
                    id: responder.clone(),
                    team: TeamId::parse(team).unwrap(),
                    name: "鈴木".into(),
                    email: None,
                    telegram_chat_id: None,
                    office_hours: None,
                },
                now(),
            )
            .await
            .unwrap();
        self.store
            .add_responder_token(&responder, &token_hash(token), now())
            .await
            .unwrap();
        responder
    }

    async fn concerns(&self) -> Vec<Signal> {
        self.store
            .signals_after(SignalId(0), 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.kind == SignalKind::Concern)
            .collect()
    }
}

fn team(alert: &Alert) -> &str {
    alert.team.as_ref().map(|t| t.as_str()).unwrap_or("")
}

async fn a_report_reaches_the_districts_csw_once_however_often_it_is_sent(store: Store, _: String) {
    let mut w = world(store).await;
    let report = json!({
        "report_id": "post-2026-12-01-001",
        "address": "藤沢市鵠沼海岸三丁目1-1",
        "seen": ["mail", "newspapers"],
        "note": "郵便受けに3日分たまっています",
        "reporter": "配達担当 山田",
    });
    let (status, body) = w.report(report.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let reference = body["reference"].as_str().unwrap().to_string();
    assert!(reference.starts_with("C-"), "{body}");
    assert_eq!(body["duplicate"], false);

    let alerts = w.tick().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a.kind, AlertKind::Concern);
    assert_eq!(a.severity, Severity::Normal);
    assert_eq!(
        a.district,
        Some(mimamori_core::testing::district("kugenuma"))
    );
    assert_eq!(team(a), "csw-kugenuma", "partner concerns go to the CSW");
    assert_eq!(a.subject, Subject::Address("鵠沼海岸3丁目1-1".into()));
    assert_eq!(a.detail["seen"], json!(["mail", "newspapers"]));
    assert_eq!(a.detail["note"], "郵便受けに3日分たまっています");
    assert_eq!(a.detail["source"], "partner:pt-post");
    // On the alerts topic: the alert's ids and kind, never the address.
    let notifications = w.store.list_notifications(a.id).await.unwrap();
    let mqtt = notifications
        .iter()
        .find(|n| n.channel == Channel::Mqtt)
        .expect("published on the alerts topic");
    let payload = mimamori_alerts::notify::payload(mqtt, a).to_string();
    assert!(payload.contains("\"subject\":\"address\""), "{payload}");
    for private in ["鵠沼海岸", "郵便受け", "山田"] {
        assert!(!payload.contains(private), "{private} in {payload}");
    }

    // The partner's system resends (a timeout on its side): the same reference, nothing new.
    let (status, again) = w.report(report).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["reference"], reference.as_str());
    assert_eq!(again["duplicate"], true);
    assert!(w.tick().await.is_empty());
    assert_eq!(w.concerns().await.len(), 1);

    // Another report about the same door joins the open alert as new evidence.
    w.clock.advance(Duration::hours(20));
    let (status, _) = w
        .report(json!({ "address": "鵠沼海岸3丁目1-1", "seen": ["lights"] }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    w.tick().await;
    let open = w
        .store
        .list_alerts(&AlertFilter {
            kind: Some(AlertKind::Concern),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "one open alert per address: {open:?}");
    assert_eq!(open[0].evidence_count, 2);
}

async fn a_report_at_a_known_residents_home_is_about_them_and_tells_the_partner_nothing(
    store: Store,
    _: String,
) {
    let resident = mimamori_core::testing::new_resident("r-elder");
    store
        .add_resident(&resident, &Actor::system(), now())
        .await
        .unwrap();
    let mut w = world(store).await;
    // Typed as a clerk types it: full-width digits, 番/号, with the prefecture.
    let (status, body) = w
        .report(json!({ "address": "神奈川県藤沢市鵠沼海岸二丁目３番５号", "seen": ["not_seen"] }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["duplicate", "reference"],
        "nothing about residents: {body}"
    );
    let alerts = w.tick().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].subject, Subject::Resident(resident.id.clone()));
    assert_eq!(team(&alerts[0]), "csw-kugenuma");

    // Written the short way (丁目-番-号), as clerks often do: the same resident, joining.
    w.report(json!({ "address": "鵠沼海岸2-3-5", "seen": ["mail"] }))
        .await;
    w.tick().await;
    let open = w.store.list_alerts(&AlertFilter::default()).await.unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].evidence_count, 2);

    // Another building at the same 番地 is not this resident.
    w.report(json!({ "address": "鵠沼海岸2丁目3-5 湘南ハイツ202", "seen": ["mail"] }))
        .await;
    let alerts = w.tick().await;
    assert_eq!(
        alerts[0].subject,
        Subject::Address("鵠沼海岸2丁目3-5 湘南ハイツ202".into())
    );
}

async fn what_cannot_be_routed_reaches_triage_and_urgent_is_critical(store: Store, _: String) {
    let mut w = world(store).await;
    for (address, route) in [
        ("横浜市中区本町1-1", "unknown"),
        ("駅前の青い屋根の家", "unknown"),
        ("石川", "ambiguous"),
    ] {
        let (status, body) = w
            .report(json!({ "address": address, "seen": ["no_answer", "smell"], "urgent": true }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{address}: {body}");
        let alerts = w.tick().await;
        assert_eq!(alerts.len(), 1, "{address}: never dropped");
        let a = &alerts[0];
        assert_eq!(a.district, None, "{address}");
        assert_eq!(team(a), "coordinator", "{address}: the triage queue");
        assert_eq!(a.severity, Severity::Critical, "{address}: urgent");
        assert_eq!(a.detail["route"], route, "{address}");
    }
}

async fn bad_reports_are_refused_with_the_field_named_and_nothing_is_stored(
    store: Store,
    _: String,
) {
    let w = world(store).await;
    let fine = json!({ "address": "鵠沼海岸3丁目1-1", "seen": ["mail"] }).to_string();
    assert_eq!(w.post(None, fine.clone()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        w.post(Some("guessed"), fine.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A revoked token no longer works.
    w.store
        .revoke_partner_token(&token_hash(TOKEN), now())
        .await
        .unwrap();
    assert_eq!(
        w.post(Some(TOKEN), fine.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    w.store
        .add_partner_token(
            &PartnerId::parse("pt-post").unwrap(),
            &token_hash("new-token"),
            now(),
        )
        .await
        .unwrap();
    for (body, field) in [
        ("{not json".to_string(), "body"),
        (
            r#"{"address":"鵠沼","seen":["mail"],"resident_name":"藤沢 花子"}"#.into(),
            "body",
        ),
        (r#"{"address":"鵠沼","seen":[]}"#.into(), "seen"),
        (r#"{"address":"鵠沼","seen":["ufo"]}"#.into(), "seen"),
        (r#"{"address":"","seen":["mail"]}"#.into(), "address"),
        (
            r#"{"address":"鵠沼","seen":["mail"],"observed_at":"2030-01-01T00:00:00+09:00"}"#
                .into(),
            "observed_at",
        ),
        (r#"{"v":2,"address":"鵠沼","seen":["mail"]}"#.into(), "v"),
    ] {
        let (status, answer) = w.post(Some("new-token"), body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
        assert!(
            !answer["error"].as_str().unwrap().is_ascii(),
            "Japanese first: {answer}"
        );
    }
    let huge = json!({ "address": "鵠沼", "seen": ["mail"], "note": "x".repeat(40_000) });
    let (status, answer) = w.post(Some("new-token"), huge.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert!(w.concerns().await.is_empty(), "nothing stored");
    // And the new token works.
    assert_eq!(w.post(Some("new-token"), fine).await.0, StatusCode::CREATED);
}

async fn the_clerks_form_takes_a_report_and_gives_a_reference(store: Store, _: String) {
    let mut w = world(store).await;
    let page = w
        .http
        .get(format!("{}/report", w.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    for part in [
        "協定事業者コード",
        "郵便物がたまっている",
        "119番",
        "name=\"report_id\"",
    ] {
        assert!(html.contains(part), "{part} on the form");
    }
    let report_id = html
        .split("name=\"report_id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let fields = [
        ("report_id", report_id.as_str()),
        ("token", TOKEN),
        ("address", "鵠沼海岸三丁目1-1"),
        ("seen", "mail"),
        ("seen", "not_seen"),
        ("urgent", "1"),
        ("note", "新聞が5日分"),
        ("observed_at", "2026-12-01T08:30"),
        ("reporter", "配達担当 山田 0466-99-9999"),
    ];
    let (status, done) = w.form(&fields).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(done.contains("受け付けました"), "{done}");
    assert!(done.contains("受付番号"), "{done}");
    // A double click: the same report, the same reference.
    let (_, again) = w.form(&fields).await;
    let reference = |p: &str| {
        p.split("<strong>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(reference(&done), reference(&again));
    let stored = w.concerns().await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body["via"], "form");
    assert_eq!(
        stored[0].device_time,
        Some(mimamori_core::testing::t0() - Duration::minutes(30)),
        "08:30 in the city"
    );
    let alerts = w.tick().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].severity, Severity::Critical);
    assert_eq!(alerts[0].detail["seen"], json!(["mail", "not_seen"]));
    assert_eq!(team(&alerts[0]), "csw-kugenuma");
}

async fn the_form_keeps_what_was_typed_when_it_refuses(store: Store, _: String) {
    let w = world(store).await;
    let (status, page) = w
        .form(&[
            ("token", "wrong"),
            ("address", "<script>alert(1)</script>鵠沼"),
            ("seen", "mail"),
        ])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        page.contains("協定事業者コードが正しくありません"),
        "{page}"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;鵠沼"),
        "kept, escaped"
    );
    assert!(!page.contains("<script>"), "{page}");
    assert!(
        !page.contains("value=\"wrong\""),
        "the code is never echoed"
    );

    let (status, page) = w
        .form(&[("token", TOKEN), ("address", "鵠沼海岸3丁目1-1")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("気づいたことを1つ以上選んでください"),
        "{page}"
    );
    assert!(page.contains("鵠沼海岸3丁目1-1"), "{page}");

    let (status, page) = w
        .form(&[
            ("token", TOKEN),
            ("address", "鵠沼海岸3丁目1-1"),
            ("seen", "mail"),
            ("observed_at", "昨日の朝"),
        ])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("気づいた日時が読み取れません"), "{page}");
    let note = "あ".repeat(30_000);
    let (status, _) = w
        .form(&[
            ("token", TOKEN),
            ("address", "鵠沼"),
            ("seen", "mail"),
            ("note", &note),
        ])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(w.concerns().await.is_empty(), "nothing stored");
}

async fn the_csw_reads_the_report_behind_sign_in_and_the_view_is_audited(store: Store, _: String) {
    let mut w = world(store).await;
    w.report(json!({
        "address": "鵠沼海岸三丁目1-1 湘南ハイツ101",
        "seen": ["mail", "not_seen"],
        "note": "1週間ほど姿を見ません",
        "reporter": "配達担当 山田 0466-99-9999",
    }))
    .await;
    let alert = w.tick().await.remove(0);
    let responder = w.csw_responder("mmr_csw-token").await;
    let page = format!("{}/alerts/{}", w.base, alert.id);
    let r = w.http.get(&page).send().await.unwrap();
    let text = r.text().await.unwrap();
    assert!(!text.contains("湘南ハイツ"), "nothing without sign-in");

    let cookie = w.sign_in("mmr_csw-token").await;
    let (_, text) = w.page(&format!("/alerts/{}", alert.id), &cookie).await;
    for part in [
        "協力事業者からの連絡",
        "藤沢郵便局（郵便局）",
        "鵠沼海岸三丁目1-1 湘南ハイツ101",
        "郵便物がたまっている、最近姿を見かけない",
        "1週間ほど姿を見ません",
        "配達担当 山田 0466-99-9999",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    // Through the API: the list leaves out the place and the words; the alert has them, audited.
    let api = |path: String| {
        let sent = w
            .http
            .get(format!("{}{path}", w.base))
            .bearer_auth("mmr_csw-token")
            .send();
        async move { sent.await.unwrap().text().await.unwrap() }
    };
    let alert_id = alert.id.to_string();
    let audited = || w.store.list_audit("alert", Some(&alert_id), 10);
    let listed = api("/api/v1/alerts".into()).await;
    assert!(listed.contains("\"subject\":\"address\""), "{listed}");
    for private in ["鵠沼海岸", "1週間", "山田"] {
        assert!(!listed.contains(private), "{private} in the list: {listed}");
    }
    let before = audited().await.unwrap().len();
    let shown = api(format!("/api/v1/alerts/{}", alert.id)).await;
    assert!(shown.contains("1週間ほど姿を見ません"), "{shown}");
    let views = audited().await.unwrap();
    assert!(
        views
            .iter()
            .any(|v| v.action == "concern.view"
                && v.actor == Actor::responder(&responder).to_string()),
        "{views:?}"
    );
    assert_eq!(views.len(), before + 1, "the API's view is audited too");
}

/// Signs in on the sign-in page the browser shows.
async fn sign_in_on(browser: &Browser, token: &str) {
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
}

/// The clerk's form and the CSW's alert page in a real browser (headless Chromium): the checkboxes,
/// the cookie and the form token work as a person uses them.
async fn a_clerk_and_a_csw_use_their_pages_in_a_real_browser() {
    let browser = Browser::start().await;
    let t = mimamori_core::testing::TestStore::sqlite().await;
    let mut w = world(t.store.clone()).await;
    browser.goto(&format!("{}/report", w.base)).await;
    browser
        .find("input[name=token]")
        .await
        .type_text(TOKEN)
        .await;
    browser
        .find("input[name=address]")
        .await
        .type_text("鵠沼海岸三丁目1-1")
        .await;
    browser.find("input[value=mail]").await.click().await;
    browser.find("input[value=not_seen]").await.click().await;
    browser.find("input[name=urgent]").await.click().await;
    browser
        .find("textarea[name=note]")
        .await
        .type_text("新聞が5日分")
        .await;
    browser
        .find("input[name=reporter]")
        .await
        .type_text("山田")
        .await;
    browser
        .find("button[type=submit]")
        .await
        .click_to_load()
        .await;
    let done = browser.text().await;
    assert!(
        done.contains("受け付けました") && done.contains("受付番号 C-"),
        "{done}"
    );

    let alert = w.tick().await.remove(0);
    assert_eq!(alert.severity, Severity::Critical);
    w.csw_responder("mmr_csw-browser").await;
    browser
        .goto(&format!("{}/alerts/{}", w.base, alert.id))
        .await;
    assert!(browser.url().await.contains("/login"), "sign in first");
    sign_in_on(&browser, "mmr_csw-browser").await;
    assert!(
        browser
            .url()
            .await
            .ends_with(&format!("/alerts/{}", alert.id)),
        "back to the alert after sign-in"
    );
    let page = browser.text().await;
    for part in [
        "協力事業者からの連絡",
        "鵠沼海岸三丁目1-1",
        "郵便物がたまっている、最近姿を見かけない",
        "すぐに様子を確認してほしい",
        "新聞が5日分",
        "山田",
    ] {
        assert!(page.contains(part), "{part} in {page}");
    }
    browser
        .find(&format!("form[action=\"/alerts/{}/ack\"] button", alert.id))
        .await
        .click_to_load()
        .await;
    assert!(browser.text().await.contains("対応中"), "acknowledged");
    let acked = w.store.get_alert(alert.id).await.unwrap();
    assert_eq!(acked.state, AlertState::Acknowledged);
    assert_eq!(acked.acknowledged_by.as_deref(), Some("responder:p-csw"));
    browser.quit().await;
    t.finish().await;
}

/// A new report wakes the alert service at once (`notifying`); a resend stores nothing and wakes
/// nobody.
async fn a_stored_report_wakes_the_rules_and_a_resend_does_not() {
    use mimamori_gateway::concern::{ConcernReport, Via};
    let t = mimamori_core::testing::TestStore::sqlite().await;
    let waker = Arc::new(tokio::sync::Notify::new());
    let intake = ConcernIntake::new(
        t.store.clone(),
        Arc::new(Registry::fujisawa()),
        Arc::new(ManualClock::new(now())),
    )
    .notifying(waker.clone());
    let partner = PartnerId::parse("pt-post").unwrap();
    let report = ConcernReport {
        report_id: Some("r-1".into()),
        address: "鵠沼海岸3丁目1-1".into(),
        seen: vec!["mail".into()],
        ..Default::default()
    };
    let first = intake.receive(&partner, &report, Via::Api).await.unwrap();
    assert!(!first.duplicate);
    // notify_one keeps the permit for the next waiter: this returns at once.
    waker.notified().await;
    let again = intake.receive(&partner, &report, Via::Api).await.unwrap();
    assert!(again.duplicate && again.signal == first.signal);
    let woken = tokio::time::timeout(std::time::Duration::from_millis(50), waker.notified()).await;
    assert!(woken.is_err(), "a resend wakes nobody");
    t.finish().await;
}

async fn the_coordinator_routes_a_triage_report_to_the_district_it_belongs_to(
    store: Store,
    _: String,
) {
    let mut w = world(store).await;
    // 石川 is split between districts: the address alone does not decide it.
    w.report(json!({ "address": "石川1234", "seen": ["no_answer"], "note": "湘南台寄りの一軒家" }))
        .await;
    let alert = w.tick().await.remove(0);
    assert_eq!(
        (alert.district.as_ref(), team(&alert)),
        (None, "coordinator")
    );
    w.responder("p-coord", "coordinator", "mmr_coord").await;
    w.csw_responder("mmr_csw").await;
    let coordinator = w.sign_in("mmr_coord").await;
    let path = format!("/alerts/{}", alert.id);
    // Another district's alert, opened later, does not push it down the coordinator's list.
    w.clock.advance(Duration::minutes(5));
    w.report(json!({ "address": "鵠沼海岸3丁目1-1", "seen": ["mail"], "urgent": true }))
        .await;
    w.tick().await;
    let (_, list) = w.page("/alerts", &coordinator).await;
    let first_row = list.split("<li id=\"alert-").nth(1).unwrap_or("");
    assert!(
        first_row.contains(&format!("#{}", alert.id)) && first_row.contains("振り分け待ち"),
        "the triage queue first: {list}"
    );
    let (_, page) = w.page(&path, &coordinator).await;
    assert!(page.contains("地区に振り分ける"), "{page}");
    let form_token = page
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let route = |cookie: String, district: &str| {
        w.http
            .post(format!("{}{path}/route", w.base))
            .header("cookie", cookie)
            .form(&[("form_token", form_token.as_str()), ("district", district)])
            .send()
    };
    // Not a district the city has; then 湘南台 (shonandai).
    let r = route(coordinator.clone(), "atlantis").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A post from another site carries no form token: refused, nothing routed.
    let forged = w
        .http
        .post(format!("{}{path}/route", w.base))
        .header("cookie", coordinator.clone())
        .form(&[("form_token", "forged"), ("district", "shonandai")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(w.store.get_alert(alert.id).await.unwrap().district, None);
    let r = route(coordinator.clone(), "shonandai").await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let routed = w.store.get_alert(alert.id).await.unwrap();
    assert_eq!(
        routed.district,
        Some(mimamori_core::testing::district("shonandai"))
    );
    assert_eq!(
        team(&routed),
        "csw-shonandai",
        "the district's CSW, as for any concern"
    );
    let timeline = w.store.alert_timeline(alert.id).await.unwrap();
    let event = timeline
        .iter()
        .find(|e| e.kind == AlertEventKind::Routed)
        .expect("a routed event");
    assert_eq!(event.actor.as_deref(), Some("responder:p-coord"));
    let told: Vec<String> = w
        .store
        .list_notifications(alert.id)
        .await
        .unwrap()
        .iter()
        .filter(|n| n.body["event"] == "routed")
        .map(|n| n.body["teams"].to_string())
        .collect();
    assert_eq!(told, ["[\"csw-shonandai\"]"], "the new team is told");
    // Once routed, routing again is refused; a district team cannot route at all.
    let r = route(coordinator, "kugenuma").await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let csw = w.sign_in("mmr_csw").await;
    let (status, _) = w.page(&path, &csw).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "鵠沼's CSW does not see 湘南台's alert"
    );
}

/// A care worker records a hospital stay on a resident's page in a real browser (the form as
/// Chromium submits it, with the start prefilled), then ends it.
async fn a_care_worker_records_and_ends_a_hospital_stay_in_a_real_browser() {
    let browser = Browser::start().await;
    let t = mimamori_core::testing::TestStore::sqlite().await;
    let w = world(t.store.clone()).await;
    let resident = mimamori_core::testing::new_resident("r-elder");
    w.store
        .add_resident(&resident, &Actor::system(), now())
        .await
        .unwrap();
    w.csw_responder("mmr_csw-browser").await;
    let page = format!("{}/residents/r-elder", w.base);
    browser.goto(&page).await;
    sign_in_on(&browser, "mmr_csw-browser").await;
    assert_eq!(
        browser.url().await,
        page,
        "back to the resident after sign-in"
    );
    assert!(browser.text().await.contains("藤沢 花子"));
    browser
        .find("select[name=reason] option[value=hospital]")
        .await
        .click()
        .await;
    browser
        .find("form[action$='/pauses'] input[name=note]")
        .await
        .type_text("藤沢市民病院")
        .await;
    browser
        .find("form[action$='/pauses'] button")
        .await
        .click_to_load()
        .await;
    let shown = browser.text().await;
    assert!(
        shown.contains("藤沢市民病院") && shown.contains("未定"),
        "{shown}"
    );
    let pauses = w.store.list_pauses(&resident.id).await.unwrap();
    assert_eq!(pauses.len(), 1);
    assert_eq!(
        (pauses[0].reason, pauses[0].starts_at, pauses[0].ends_at),
        (PauseReason::Hospital, now(), None),
        "from the prefilled start, open-ended"
    );
    // Home three days later (signed in again: a session lasts 12 hours).
    w.clock.advance(Duration::days(3));
    browser.goto(&page).await;
    assert!(
        browser.url().await.contains("/login"),
        "the session has ended"
    );
    sign_in_on(&browser, "mmr_csw-browser").await;
    browser
        .find("form[action$='/end'] button")
        .await
        .click_to_load()
        .await;
    let pauses = w.store.list_pauses(&resident.id).await.unwrap();
    assert_eq!(pauses[0].ends_at, Some(now() + Duration::days(3)));
    browser.quit().await;
    t.finish().await;
}

async fn a_csw_links_a_report_about_an_address_to_the_resident_it_was_about(
    store: Store,
    _: String,
) {
    let mut w = world(store).await;
    let hanako = mimamori_core::testing::new_resident("r-elder"); // 鵠沼海岸2丁目3-5
    let mut neighbour = mimamori_core::testing::new_resident("r-next");
    neighbour.name = "鵠沼 三郎".into();
    neighbour.address = Address::parse("鵠沼海岸二丁目8-1").unwrap();
    let mut far = mimamori_core::testing::new_resident("r-far");
    far.district = mimamori_core::testing::district("tsujido");
    far.address = Address::parse("辻堂元町一丁目1-1").unwrap();
    for r in [&hanako, &neighbour, &far] {
        w.store
            .add_resident(r, &Actor::system(), now())
            .await
            .unwrap();
    }
    // The clerk named a building the record does not have: about the address, not linked.
    w.report(json!({ "address": "鵠沼海岸2丁目3-5 湘南ハイツ202", "seen": ["mail"] }))
        .await;
    let alert = w.tick().await.remove(0);
    assert!(matches!(alert.subject, Subject::Address(_)));
    w.csw_responder("mmr_csw").await;
    let cookie = w.sign_in("mmr_csw").await;
    let path = format!("/alerts/{}", alert.id);
    let (_, page) = w.page(&path, &cookie).await;
    assert!(page.contains("見守り対象者に結びつける"), "{page}");
    assert!(
        page.contains("藤沢 花子") && page.contains("鵠沼 三郎"),
        "the area's residents"
    );
    assert!(
        !page.contains("対象者</h2>"),
        "no record shown before linking"
    );
    let form_token = page
        .split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let (http, base) = (w.http.clone(), w.base.clone());
    let link = |alert: AlertId, resident: &str| {
        http.post(format!("{base}/alerts/{alert}/link"))
            .header("cookie", cookie.clone())
            .form(&[("form_token", form_token.as_str()), ("resident", resident)])
            .send()
    };
    // Someone of another district: refused.
    let r = link(alert.id, "r-far").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for junk in ["", "r-nobody", "'; DROP TABLE residents; --"] {
        let r = link(alert.id, junk).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{junk:?}");
    }
    let r = link(alert.id, "r-elder").await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let linked = w.store.get_alert(alert.id).await.unwrap();
    assert_eq!(linked.subject, Subject::Resident(hanako.id.clone()));
    let (_, page) = w.page(&path, &cookie).await;
    assert!(
        page.contains("対象者に結びつけ") && page.contains("糖尿病"),
        "{page}"
    );
    // The names were read: audited as the CSW's list view.
    let lists = w.store.list_audit("resident", None, 50).await.unwrap();
    assert!(
        lists
            .iter()
            .any(|a| a.action == "resident.list" && a.actor == "responder:p-csw"),
        "{lists:?}"
    );

    // Another report, another flat: 花子 already has an open concern, so it cannot be hers too.
    w.clock.advance(Duration::minutes(5));
    w.report(json!({ "address": "鵠沼海岸2丁目3-5 湘南ハイツ303", "seen": ["lights"] }))
        .await;
    let second = w.tick().await.remove(0);
    let r = link(second.id, "r-elder").await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(matches!(
        w.store.get_alert(second.id).await.unwrap().subject,
        Subject::Address(_)
    ));
}

mimamori_testkit::main!();
