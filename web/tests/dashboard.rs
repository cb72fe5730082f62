//! The responders' dashboard over real HTTP: signing in, the alert page behind it (the resident's
//! details, every view audited), district scope, and acting on the alert with the form token.

use mimamori_core::clock::{Clock, ManualClock};
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::{Routed, Store};
use mimamori_testapp::{Options, TestApp, home, jst, people, sign_in_pair, spawn_app};
use mimamori_web::dashboard::COOKIE as COOKIE_NAME;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

on_both_backends!(
    a_responder_signs_in_and_handles_the_alert_a_message_linked_to,
    a_care_worker_records_a_hospital_stay_on_the_residents_page,
    a_care_worker_registers_a_resident_of_their_district,
    a_care_worker_changes_how_a_resident_is_watched,
    a_care_worker_adds_a_consenting_contact_who_is_then_told,
);

async fn token_for(store: &Store, id: &str, team: &str) -> String {
    people::responder(store, id, team, id, None, None).await;
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

/// The value of the form token field on a page.
fn form_token(page: &str) -> String {
    let at = page.find("name=\"form_token\" value=\"").expect("a form") + 25;
    page[at..].split('"').next().unwrap().to_string()
}

async fn a_responder_signs_in_and_handles_the_alert_a_message_linked_to(
    store: Store,
    _url: String,
) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let resident = home::resident_with_button(&store, clock.now()).await; // 藤沢 花子, 鵠沼
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma").await;
    let chogo = token_for(&store, "p-chogo", "csw-chogo").await;
    let alert = store
        .open_routed_alert(
            &NewAlert {
                subject: Subject::Resident(resident.clone()),
                kind: AlertKind::Emergency,
                severity: Severity::Critical,
                district: Some(mimamori_core::testing::district("kugenuma")),
                summary: "緊急通報".into(),
                detail: serde_json::json!({}),
                at: clock.now(),
            },
            &Routed {
                team: Some(TeamId::parse("houkatsu-kugenuma").unwrap()),
                ..Default::default()
            },
            &[],
            None,
        )
        .await
        .unwrap()
        .alert;
    let (base, http, _app) = serve(&store, &clock, true).await;
    let page_path = format!("/alerts/{}", alert.id);
    let (signin_cookie, signin_token) = sign_in_pair(&http, &base).await;
    let sign_in = |token: String, next: String| {
        http.post(format!("{base}/login"))
            .header(COOKIE, signin_cookie.clone())
            .form(&[
                ("token", token),
                ("next", next),
                ("signin_token", signin_token.clone()),
            ])
            .send()
    };

    // The link from chat or mail, not signed in: to the sign-in page, and back afterwards.
    let r = http.get(format!("{base}{page_path}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], format!("/login?next={page_path}"));
    let r = http
        .get(format!("{base}/login?next={page_path}"))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("アクセストークン"));

    // A wrong token: refused, no session.
    let r = sign_in("mmr_wrong".into(), page_path.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());
    // Never sent on to another site.
    let r = sign_in(sato.clone(), "//evil.example/".into())
        .await
        .unwrap();
    assert_eq!(r.headers()[LOCATION], "/alerts");

    // 鵠沼's responder signs in and is sent back to the alert.
    let r = sign_in(sato.clone(), page_path.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], page_path);
    let set = r.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let get = |cookie: String| {
        http.get(format!("{base}{page_path}"))
            .header(COOKIE, cookie)
            .send()
    };
    let r = get(cookie.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    // Who and where — shown here, behind sign-in, and nowhere else.
    for detail in [
        "藤沢 花子",
        "鵠沼海岸2丁目3-5",
        "糖尿病",
        "藤沢 一郎",
        "緊急通報",
    ] {
        assert!(page.contains(detail), "{detail} on the page");
    }
    let views = store
        .list_audit("resident", Some(resident.as_str()), 10)
        .await
        .unwrap();
    assert!(
        views
            .iter()
            .any(|v| v.action == "resident.view" && v.actor == "responder:p-sato"),
        "the view is audited as the responder: {views:?}"
    );

    // The team's list links to it and says who it is about — a view of names, audited.
    let list = |cookie: String| {
        http.get(format!("{base}/alerts"))
            .header(COOKIE, cookie)
            .send()
    };
    let listed = list(cookie.clone()).await.unwrap().text().await.unwrap();
    assert!(
        listed.contains(&format!("href=\"{page_path}\"")),
        "{listed}"
    );
    assert!(listed.contains("藤沢 花子さん"), "{listed}");
    let names = store.list_audit("resident", None, 50).await.unwrap();
    assert!(
        names.iter().any(|v| v.action == "resident.names"
            && v.actor == "responder:p-sato"
            && v.detail["residents"][0] == resident.as_str()),
        "the names shown are audited: {names:?}"
    );
    // A newer, milder alert of the district comes after the open emergency.
    let battery = store
        .open_alert(
            &NewAlert {
                subject: Subject::Device(DeviceId::parse("button-e").unwrap()),
                kind: AlertKind::BatteryLow,
                severity: Severity::Low,
                district: Some(mimamori_core::testing::district("kugenuma")),
                summary: "電池残量低下".into(),
                detail: serde_json::json!({}),
                at: clock.now() + chrono::Duration::minutes(1),
            },
            &[],
        )
        .await
        .unwrap()
        .alert;
    let listed = list(cookie.clone()).await.unwrap().text().await.unwrap();
    let (emergency_at, battery_at) = (
        listed.find(&format!("href=\"{page_path}\"")).unwrap(),
        listed
            .find(&format!("href=\"/alerts/{}\"", battery.id))
            .unwrap(),
    );
    assert!(emergency_at < battery_at, "the emergency first: {listed}");

    // Another district's responder: as if there were no such alert, and no view of the resident.
    let r = sign_in(chogo, page_path.clone()).await.unwrap();
    let other = r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let r = get(other.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!r.text().await.unwrap().contains("藤沢 花子"));
    let listed = list(other).await.unwrap().text().await.unwrap();
    assert!(!listed.contains(&page_path) && listed.contains("対応待ちのアラートはありません"));

    // Acting needs the page's form token: a form posted from elsewhere changes nothing.
    let post = |path: String, cookie: String, form: Vec<(&'static str, String)>| {
        http.post(format!("{base}{path}"))
            .header(COOKIE, cookie)
            .form(&form)
            .send()
    };
    let r = post(
        format!("{page_path}/ack"),
        cookie.clone(),
        vec![("form_token", "forged".into())],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        store.get_alert(alert.id).await.unwrap().state,
        AlertState::Open
    );
    // A made-up or stale cookie is no session: back to sign-in, nothing shown.
    let r = get(format!("{COOKIE_NAME}=not-a-session")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let token = form_token(&page);
    // An outcome that is not one of the five: refused, the alert stays as it is.
    let r = post(
        format!("{page_path}/resolve"),
        cookie.clone(),
        vec![
            ("form_token", token.clone()),
            ("outcome", "'; DROP TABLE alerts".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        store.get_alert(alert.id).await.unwrap().state,
        AlertState::Open
    );
    let r = post(
        format!("{page_path}/ack"),
        cookie.clone(),
        vec![("form_token", token.clone())],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let acked = store.get_alert(alert.id).await.unwrap();
    assert_eq!(
        (acked.state, acked.acknowledged_by.as_deref()),
        (AlertState::Acknowledged, Some("responder:p-sato"))
    );
    for (bad, why) in [("  ".to_string(), "empty"), ("あ".repeat(4001), "too long")] {
        let r = post(
            format!("{page_path}/notes"),
            cookie.clone(),
            vec![("form_token", token.clone()), ("note", bad)],
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
    }
    let r = post(
        format!("{page_path}/notes"),
        cookie.clone(),
        vec![
            ("form_token", token.clone()),
            ("note", "不在。隣の方に声かけを依頼".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = post(
        format!("{page_path}/resolve"),
        cookie.clone(),
        vec![
            ("form_token", token.clone()),
            ("outcome", "safe".into()),
            ("note", "訪問して無事を確認".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let resolved = store.get_alert(alert.id).await.unwrap();
    assert_eq!(
        (resolved.state, resolved.outcome),
        (AlertState::Resolved, Some(Outcome::Safe))
    );
    // The timeline shows it all, and the integrations were told (the MQTT channel's rows).
    let page = get(cookie.clone()).await.unwrap().text().await.unwrap();
    for entry in [
        "対応開始",
        "不在。隣の方に声かけを依頼",
        "解決",
        "訪問して無事を確認",
    ] {
        assert!(page.contains(entry), "{entry} on the timeline");
    }
    let notes = store
        .alert_timeline(alert.id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == AlertEventKind::Note)
        .count();
    assert_eq!(notes, 1, "the refused notes were not added");
    let told: Vec<String> = store
        .list_notifications(alert.id)
        .await
        .unwrap()
        .iter()
        .filter_map(|n| n.body["event"].as_str().map(String::from))
        .collect();
    assert_eq!(told, ["acknowledged", "resolved"]);

    // A device's alert leads to the home it is in.
    let offline = store
        .open_alert(
            &NewAlert {
                subject: Subject::Device(DeviceId::parse("button-e").unwrap()),
                kind: AlertKind::DeviceOffline,
                severity: Severity::Normal,
                district: Some(mimamori_core::testing::district("kugenuma")),
                summary: "機器の応答なし".into(),
                detail: serde_json::json!({}),
                at: clock.now(),
            },
            &[],
        )
        .await
        .unwrap()
        .alert;
    let page = http
        .get(format!("{base}/alerts/{}", offline.id))
        .header(COOKIE, cookie.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("button-e") && page.contains("藤沢 花子"),
        "{page}"
    );

    // Signing out ends the session on the server, not only in this browser.
    let r = post(
        "/logout".into(),
        cookie.clone(),
        vec![("form_token", token)],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(get(cookie).await.unwrap().status(), StatusCode::SEE_OTHER);
}

/// The app on `clock`, linking to `https://mimamori.example.jp`, alert changes published on the
/// MQTT alerts topic when `mqtt_alerts`: where it serves, a client that does not follow
/// redirects, and the app itself (it serves while it is kept).
async fn serve(
    store: &Store,
    clock: &ManualClock,
    mqtt_alerts: bool,
) -> (String, reqwest::Client, TestApp) {
    let mut options = Options::on(clock.clone()).public_url("https://mimamori.example.jp");
    if mqtt_alerts {
        options = options.mqtt_alerts();
    }
    let app = spawn_app(store.clone(), options).await;
    (app.base.clone(), app.http_no_redirects.clone(), app)
}

/// Signs in with `token`: the session cookie.
async fn cookie_for(http: &reqwest::Client, base: &str, token: &str) -> String {
    let (signin_cookie, signin_token) = sign_in_pair(http, base).await;
    let r = http
        .post(format!("{base}/login"))
        .header(COOKIE, signin_cookie)
        .form(&[
            ("token", token),
            ("next", "/alerts"),
            ("signin_token", &signin_token),
        ])
        .send()
        .await
        .unwrap();
    let set = r.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

async fn a_care_worker_records_a_hospital_stay_on_the_residents_page(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let resident = home::resident_with_button(&store, clock.now()).await; // 藤沢 花子, 鵠沼
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma").await;
    let chogo = token_for(&store, "p-chogo", "csw-chogo").await;
    let (base, http, _app) = serve(&store, &clock, false).await;
    let cookie = cookie_for(&http, &base, &sato).await;
    let get = |path: String, cookie: String| {
        let sent = http
            .get(format!("{base}{path}"))
            .header(COOKIE, cookie)
            .send();
        async move {
            let r = sent.await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let audited = |action: &'static str, actor: &'static str| {
        let store = store.clone();
        let id = resident.to_string();
        async move {
            let all = store.list_audit("resident", Some(&id), 50).await.unwrap();
            let list = store.list_audit("resident", None, 50).await.unwrap();
            all.iter()
                .chain(list.iter().filter(|v| v.object_id.is_none()))
                .filter(|v| v.action == action && v.actor == actor)
                .count()
        }
    };

    // The team's residents, and the resident's page: both audited views.
    let (status, list) = get("/residents".into(), cookie.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        list.contains("藤沢 花子") && list.contains("鵠沼海岸2丁目"),
        "{list}"
    );
    assert!(audited("resident.list", "responder:p-sato").await >= 1);
    let path = format!("/residents/{resident}");
    let (status, page) = get(path.clone(), cookie.clone()).await;
    assert_eq!(status, StatusCode::OK);
    for part in [
        "糖尿病",
        "反応なし 12時間で通知（07:00–22:00に数える）",
        "一時停止を登録",
    ] {
        assert!(page.contains(part), "{part} in {page}");
    }
    assert_eq!(audited("resident.view", "responder:p-sato").await, 1);

    // Another district's CSW: no such resident, no view; not in their list.
    let other = cookie_for(&http, &base, &chogo).await;
    assert_eq!(
        get(path.clone(), other.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    assert!(
        !get("/residents".into(), other)
            .await
            .1
            .contains("藤沢 花子")
    );
    assert_eq!(audited("resident.view", "responder:p-chogo").await, 0);

    let post_as = |cookie: String, path: String, fields: Vec<(&'static str, String)>| {
        http.post(format!("{base}{path}"))
            .header(COOKIE, cookie)
            .form(&fields)
            .send()
    };
    let post = |path: String, fields| post_as(cookie.clone(), path, fields);
    let token = form_token(&page);
    let pause = |form_token: String, to: &str| {
        vec![
            ("form_token", form_token),
            ("reason", "hospital".to_string()),
            ("from", "2026-12-01T09:00".to_string()),
            ("to", to.to_string()),
            ("note", "藤沢市民病院".to_string()),
        ]
    };
    // A form from elsewhere, and an end before the start: refused, nothing stored.
    let r = post(format!("{path}/pauses"), pause("forged".into(), ""))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(
        format!("{path}/pauses"),
        pause(token.clone(), "2026-11-30T09:00"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(store.list_pauses(&resident).await.unwrap().is_empty());

    // The hospital stay, open-ended from 09:00: stored, audited, and told to the alert service.
    let r = post(format!("{path}/pauses"), pause(token.clone(), ""))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let pauses = store.list_pauses(&resident).await.unwrap();
    assert_eq!(pauses.len(), 1);
    assert_eq!(pauses[0].reason, PauseReason::Hospital);
    assert_eq!(pauses[0].starts_at, jst("2026-12-01T09:00:00"));
    assert_eq!(pauses[0].ends_at, None);
    assert_eq!(audited("pause.add", "responder:p-sato").await, 1);
    let changes = store
        .signals_after(SignalId(0), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.kind == SignalKind::Change)
        .count();
    assert_eq!(
        changes, 1,
        "the running alert service re-reads the resident"
    );
    let (_, list) = get("/residents".into(), cookie.clone()).await;
    assert!(list.contains("一時停止中（入院）"), "{list}");

    // Home again three days later (signed in afresh: a session lasts 12 hours): ended now.
    clock.advance(chrono::Duration::days(3));
    let end = format!("{path}/pauses/{}/end", pauses[0].id);
    let r = post(end.clone(), vec![("form_token", token.clone())])
        .await
        .unwrap();
    assert_eq!(
        r.headers()[LOCATION],
        format!("/login?next={path}"),
        "the old session is over"
    );
    let cookie = cookie_for(&http, &base, &sato).await;
    let token = form_token(&get(path.clone(), cookie.clone()).await.1);
    let post = |path: String, fields| post_as(cookie.clone(), path, fields);
    let r = post(end.clone(), vec![("form_token", token.clone())])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], path);
    assert_eq!(
        store.list_pauses(&resident).await.unwrap()[0].ends_at,
        Some(clock.now())
    );
    assert_eq!(audited("pause.end", "responder:p-sato").await, 1);
    let (_, list) = get("/residents".into(), cookie.clone()).await;
    assert!(!list.contains("一時停止中"), "{list}");
    let r = post(end, vec![("form_token", token.clone())])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "already ended");

    // A short stay planned for next week, called off: withdrawn, not ended.
    let planned = vec![
        ("form_token", token.clone()),
        ("reason", "short_stay".to_string()),
        ("from", "2026-12-11T09:00".to_string()),
        ("to", "2026-12-14T17:00".to_string()),
    ];
    let r = post(format!("{path}/pauses"), planned).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = get(path.clone(), cookie.clone()).await.1;
    assert!(page.contains("取り消す"), "{page}");
    let planned = store.list_pauses(&resident).await.unwrap()[1].id;
    let r = post(
        format!("{path}/pauses/{planned}/end"),
        vec![("form_token", token)],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        store.list_pauses(&resident).await.unwrap().len(),
        1,
        "withdrawn"
    );
    assert_eq!(audited("pause.cancel", "responder:p-sato").await, 1);
}

async fn a_care_worker_registers_a_resident_of_their_district(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma").await;
    let (base, http, _app) = serve(&store, &clock, false).await;
    let cookie = cookie_for(&http, &base, &sato).await;
    let page = http
        .get(format!("{base}/residents/new"))
        .header(COOKIE, cookie.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("見守り対象者の登録") && page.contains("反応なしで通知"),
        "{page}"
    );
    let token = form_token(&page);
    let fields = |name: &str, address: &str, birth: &str, token: &str| {
        vec![
            ("form_token", token.to_string()),
            ("name", name.to_string()),
            ("kana", "ツジドウ タロウ".to_string()),
            ("birth_year", birth.to_string()),
            ("address", address.to_string()),
            ("district", String::new()),
            ("living", "alone".to_string()),
            ("phone", "0466-11-2222".to_string()),
            ("notes", "心臓病".to_string()),
            ("inactivity_hours", "12".to_string()),
        ]
    };
    let post = |form: Vec<(&'static str, String)>| {
        http.post(format!("{base}/residents/new"))
            .header(COOKIE, cookie.clone())
            .form(&form)
            .send()
    };
    let count = || async { store.count_residents().await.unwrap() };
    // Refused, each with what to fix, keeping what was typed; nothing stored.
    for (form, status, says) in [
        (
            fields("辻堂 太郎", "鵠沼海岸二丁目3-5", "1942", "forged"),
            StatusCode::FORBIDDEN,
            "",
        ),
        (
            fields("", "鵠沼海岸二丁目3-5", "1942", &token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "氏名を入力してください",
        ),
        (
            fields("辻堂 太郎", "鵠沼海岸二丁目3-5", "昭和十七", &token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "生まれ年を西暦で",
        ),
        (
            fields("辻堂 太郎", "横浜市中区本町1-1", "1942", &token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "地区を選んでください",
        ),
        (
            fields("辻堂 太郎", "辻堂元町一丁目1-1", "1942", &token),
            StatusCode::UNPROCESSABLE_ENTITY,
            "担当地区の方だけ",
        ),
    ] {
        let r = post(form).await.unwrap();
        assert_eq!(r.status(), status);
        let text = r.text().await.unwrap();
        assert!(text.contains(says), "{says} in {text}");
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert!(text.contains("ツジドウ タロウ"), "what was typed is kept");
        }
    }
    assert_eq!(count().await, 0);

    let r = post(fields("鵠沼 次郎", "鵠沼海岸二丁目4-1", "1942", &token))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[LOCATION].to_str().unwrap().to_string();
    let id = ResidentId::parse(location.strip_prefix("/residents/").unwrap()).unwrap();
    let added = store
        .get_resident(&id, &Actor::system(), clock.now())
        .await
        .unwrap();
    assert_eq!(added.name, "鵠沼 次郎");
    assert_eq!(added.district.as_str(), "kugenuma");
    assert_eq!(added.notes.as_deref(), Some("心臓病"));
    assert_eq!(
        added.policies,
        [CheckinPolicy::Inactivity {
            max_silence_minutes: 12 * 60,
            active_from: mimamori_alerts::rules::hm(7, 0),
            active_to: mimamori_alerts::rules::hm(22, 0),
        }]
    );
    let added_by = store
        .list_audit("resident", Some(id.as_str()), 10)
        .await
        .unwrap();
    assert!(
        added_by
            .iter()
            .any(|a| a.action == "resident.add" && a.actor == "responder:p-sato"),
        "{added_by:?}"
    );
    let changes = store
        .signals_after(SignalId(0), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.kind == SignalKind::Change)
        .count();
    assert_eq!(
        changes, 1,
        "the running alert service reads the new resident"
    );
}

async fn a_care_worker_changes_how_a_resident_is_watched(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let resident = home::resident_with_button(&store, clock.now()).await; // inactivity 12 h
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma").await;
    let (base, http, _app) = serve(&store, &clock, false).await;
    let cookie = cookie_for(&http, &base, &sato).await;
    let path = format!("/residents/{resident}");
    let page = http
        .get(format!("{base}{path}"))
        .header(COOKIE, cookie.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("name=\"inactivity_hours\" value=\"12\""),
        "filled with the current settings"
    );
    let token = form_token(&page);
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("form_token", token.clone())];
        form.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        http.post(format!("{base}{path}/policies"))
            .header(COOKIE, cookie.clone())
            .form(&form)
            .send()
    };
    let policies = || async {
        store
            .get_resident(&resident, &Actor::system(), clock.now())
            .await
            .unwrap()
            .policies
    };
    // A time that is not one: refused, the settings as they were.
    let r = post(vec![("window_from", "6時"), ("window_to", "10:00")])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("時間帯の始めの時刻"));
    assert_eq!(policies().await.len(), 1);

    let r = post(vec![
        ("inactivity_hours", "10"),
        ("active_from", "06:30"),
        ("active_to", "21:00"),
        ("window_from", "06:00"),
        ("window_to", "10:00"),
        ("checkin_by", "09:00"),
        ("remind_minutes", "30"),
        ("grace_minutes", "60"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    use mimamori_alerts::rules::hm;
    assert_eq!(
        policies().await,
        [
            CheckinPolicy::Inactivity {
                max_silence_minutes: 600,
                active_from: hm(6, 30),
                active_to: hm(21, 0),
            },
            CheckinPolicy::DailyWindow {
                from: hm(6, 0),
                to: hm(10, 0),
            },
            CheckinPolicy::Checkin {
                due: hm(9, 0),
                remind_minutes_before: Some(30),
                grace_minutes: 60,
            },
        ]
    );
    let audited = store
        .list_audit("resident", Some(resident.as_str()), 20)
        .await
        .unwrap();
    assert!(
        audited
            .iter()
            .any(|a| a.action == "resident.policies" && a.actor == "responder:p-sato")
    );
    let changes = store
        .signals_after(SignalId(0), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.kind == SignalKind::Change)
        .count();
    assert_eq!(
        changes, 1,
        "the running alert service re-reads the resident"
    );

    // Everything empty: only the call button watches over them.
    let r = post(vec![]).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(policies().await.is_empty());
}

async fn a_care_worker_adds_a_consenting_contact_who_is_then_told(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let resident = home::resident_with_button(&store, clock.now()).await; // 一郎 consents
    let sato = token_for(&store, "p-sato", "houkatsu-kugenuma").await;
    let (base, http, _app) = serve(&store, &clock, false).await;
    let cookie = cookie_for(&http, &base, &sato).await;
    let path = format!("/residents/{resident}");
    let page = || {
        let sent = http
            .get(format!("{base}{path}"))
            .header(COOKIE, cookie.clone())
            .send();
        async move { sent.await.unwrap().text().await.unwrap() }
    };
    let token = form_token(&page().await);
    let post = |to: String, fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("form_token", token.clone())];
        form.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        http.post(format!("{base}{to}"))
            .header(COOKIE, cookie.clone())
            .form(&form)
            .send()
    };
    let told = || async {
        store
            .consenting_contacts(&resident, "test", clock.now())
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(told().await, ["藤沢 一郎"]);

    // A bad address is refused; nothing changes.
    let r = post(
        format!("{path}/contacts"),
        vec![
            ("name", "藤沢 道子"),
            ("relation", "長女"),
            ("email", "michiko@"),
            ("consent", "1"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("メールアドレスを確かめてください")
    );

    // 長女 with consent and an email; a 民生委員 without consent.
    for fields in [
        vec![
            ("name", "藤沢 道子"),
            ("relation", "長女"),
            ("email", "michiko@example.jp"),
            ("consent", "1"),
        ],
        vec![
            ("name", "湘南 正"),
            ("relation", "民生委員"),
            ("phone", "0466-33-4444"),
        ],
    ] {
        let r = post(format!("{path}/contacts"), fields).await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(
        told().await,
        ["藤沢 一郎", "藤沢 道子"],
        "only those who consented"
    );
    let shown = page().await;
    assert!(
        shown.contains("連絡先（民生委員）") && shown.contains("（通知の同意なし）"),
        "{shown}"
    );

    // Removing 一郎: the button names who it removes; a stale page's does not match.
    let r = post(
        format!("{path}/contacts/0/remove"),
        vec![("name", "湘南 正")],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = post(
        format!("{path}/contacts/0/remove"),
        vec![("name", "藤沢 一郎")],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(told().await, ["藤沢 道子"]);
    let audited = store
        .list_audit("resident", Some(resident.as_str()), 50)
        .await
        .unwrap()
        .iter()
        .filter(|a| a.action == "resident.contacts" && a.actor == "responder:p-sato")
        .count();
    assert_eq!(audited, 3);
}

mimamori_testkit::main!();
