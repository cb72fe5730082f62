//! Responders and contacts by email, against a real SMTP server (aiosmtpd, started per test), the
//! acknowledgement pages served over HTTP, and a real store, on an injected clock. Where aiosmtpd
//! (or, for TLS, openssl) is missing, the cases that need it are listed as ignored with the
//! reason.

use chrono::Duration;
use mimamori_alerts::notify::email::EmailSender;
use mimamori_alerts::notify::link::LinkSigner;
use mimamori_alerts::notify::{Event, Step, Tell};
use mimamori_core::clock::{Clock, ManualClock};
use mimamori_core::config::{EmailConfig, EmailTransport, SmtpSecurity};
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::storage::{Routed, Store};
use mimamori_testapp::pages::look_at;
use mimamori_testapp::privacy::no_personal_data;
use mimamori_testapp::{Options, TestApp, home, jst, people, plain_email, spawn_app};
use mimamori_testkit::browser::Browser;
use mimamori_testkit::smtp::{Received, Security, SmtpOptions, SmtpServer};
use std::sync::Arc;

on_both_backends!(
    a_press_emails_the_team_and_the_link_acknowledges_exactly_once: [Smtp],
    expired_altered_and_out_of_district_links_change_nothing: [Smtp],
    the_links_page_resolves_with_an_outcome_of_the_alerts_kind_once: [Smtp],
    a_device_alerts_link_offers_device_outcomes_and_refuses_others: [Smtp],
    a_responder_resolves_from_the_links_page_in_the_browser: [Smtp, Browser],
    the_smtp_server_down_then_back_delivers_each_email_once: [Smtp],
    a_refused_mailbox_is_flagged_and_the_coordinator_is_still_told: [Smtp],
    consenting_contacts_get_a_notice_without_links: [Smtp],
    every_kind_reads_without_personal_data_on_telegram_and_email: [Smtp],
);

mimamori_testkit::tests! {
    multi_thread tls_with_the_citys_own_ca_and_a_login: [Smtp, OpenSsl];
    multi_thread the_file_transport_writes_one_eml_file_per_message: [Smtp];
    current_thread broken_email_settings_are_clear_errors;
}

const SUZUKI: &str = "suzuki@houkatsu.example.jp";
const TANAKA: &str = "tanaka@houkatsu.example.jp";
const COORDINATOR: &str = "sato@backup.example.jp";
const OTHER: &str = "tsujido@houkatsu.example.jp";
const CONTACT: &str = "ichiro@example.jp";

/// 藤沢 花子 with her call button; 鈴木 and 田中 of 鵠沼's 包括, the coordinator and 辻堂's 山本,
/// each with an email address; the app as `options` say, links to its acknowledgement pages.
async fn spawn(store: Store, options: impl FnOnce(Options) -> Options) -> (TestApp, ResidentId) {
    let at = jst("2026-12-01T10:00:00");
    let resident = home::resident_with_button(&store, at).await;
    people::responder(
        &store,
        "p-suzuki",
        "houkatsu-kugenuma",
        "鈴木",
        Some(SUZUKI),
        None,
    )
    .await;
    people::responder(
        &store,
        "p-tanaka",
        "houkatsu-kugenuma",
        "田中",
        Some(TANAKA),
        None,
    )
    .await;
    people::responder(
        &store,
        "p-coord",
        "coordinator",
        "基幹 佐藤",
        Some(COORDINATOR),
        None,
    )
    .await;
    people::responder(
        &store,
        "p-tsujido",
        "houkatsu-tsujido",
        "辻堂 山本",
        Some(OTHER),
        None,
    )
    .await;
    (spawn_app(store, options(Options::at(at))).await, resident)
}

/// [`spawn`], emailing through a new SMTP server started with `options`, plain SMTP.
async fn spawn_emailing(store: Store, options: SmtpOptions) -> (TestApp, ResidentId) {
    let smtp = SmtpServer::start_with(options).await;
    spawn(store, |o| o.email(smtp)).await
}

/// What a person's browser does with an acknowledgement link: status and text, no redirects
/// followed.
trait AckPages {
    async fn get(&self, url: &str) -> (u16, String);
    async fn post(&self, url: &str) -> (u16, String);
}

impl AckPages for TestApp {
    async fn get(&self, url: &str) -> (u16, String) {
        let r = self.http_no_redirects.get(url).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post(&self, url: &str) -> (u16, String) {
        let r = self.http_no_redirects.post(url).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

/// The email to `to` among `mails`.
fn to<'a>(mails: &'a [Received], to: &str) -> &'a Received {
    mails
        .iter()
        .find(|m| m.rcpt_to.iter().any(|r| r == to))
        .unwrap_or_else(|| panic!("no email to {to} among {mails:#?}"))
}

/// An email's decoded headers, one a line (the raw message is base64 with a random boundary,
/// where digits such as a phone number's area code can turn up by chance).
fn headers(mail: &Received) -> String {
    mail.headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect()
}

/// The acknowledgement link in an email's text.
fn ack_link(mail: &Received, base: &str) -> String {
    let text = mail.text.as_deref().unwrap();
    let start = text
        .find(&format!("{base}/ack/"))
        .unwrap_or_else(|| panic!("no link in {text}"));
    text[start..].split_whitespace().next().unwrap().to_string()
}

async fn a_press_emails_the_team_and_the_link_acknowledges_exactly_once(store: Store, _: String) {
    let (mut w, elder) = spawn_emailing(store, SmtpOptions::default()).await;
    let alert = w.press_button(&elder, 1).await;
    let steps = w.drain().await;
    assert_eq!(
        steps.len(),
        3,
        "鈴木, 田中 and the consenting contact: {steps:?}"
    );
    let mails = w.smtp().wait_for(3).await;
    for address in [SUZUKI, TANAKA] {
        let m = to(&mails, address);
        assert!(
            m.subject.starts_with("【緊急通報】 鵠沼地区"),
            "{}",
            m.subject
        );
        assert!(m.from.contains("mimamori@city.example.jp"), "{}", m.from);
        let text = m.text.as_deref().unwrap();
        assert!(text.contains("見守り対象者 r-elder"), "{text}");
        assert!(text.contains("状態: 未対応"), "{text}");
        assert!(text.contains(&format!("{}/alerts/{}", w.base, alert.id)));
        let html = m.html.as_deref().unwrap();
        assert!(html.contains("対応します（確認画面へ）"), "{html}");
        no_personal_data(&headers(m));
        no_personal_data(text);
        no_personal_data(html);
    }
    let suzuki = ack_link(to(&mails, SUZUKI), &w.base);
    let tanaka = ack_link(to(&mails, TANAKA), &w.base);
    assert_ne!(suzuki, tanaka, "each responder has their own link");
    assert!(
        to(&mails, SUZUKI)
            .html
            .as_deref()
            .unwrap()
            .contains(&suzuki),
        "the HTML part has the same link"
    );

    // A mail scanner or link preview fetching the link changes nothing.
    w.clock.advance(Duration::minutes(2));
    let (status, page) = w.get(&suzuki).await;
    assert_eq!(status, 200);
    assert!(page.contains("対応の確認"), "{page}");
    assert!(page.contains("<form method=\"post\">"), "{page}");
    no_personal_data(&page);
    let (status, _) = w.get(&suzuki).await;
    assert_eq!(status, 200);
    assert_eq!(w.alert(alert.id).await.state, AlertState::Open);

    // 鈴木 presses 対応します on the page.
    let (status, page) = w.post(&suzuki).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("対応開始を記録しました"), "{page}");
    let acked = w.alert(alert.id).await;
    assert_eq!(acked.state, AlertState::Acknowledged);
    assert_eq!(acked.acknowledged_by.as_deref(), Some("responder:p-suzuki"));
    let timeline = w.store.alert_timeline(alert.id).await.unwrap();
    let acks: Vec<_> = timeline
        .iter()
        .filter(|e| e.kind == AlertEventKind::Acknowledged)
        .collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].detail["via"], "email");

    // A second use of the link is refused with a clear page, and changes nothing.
    let (status, page) = w.post(&suzuki).await;
    assert_eq!(status, 410);
    assert!(page.contains("このリンクは使用済みです"), "{page}");
    let (status, page) = w.get(&suzuki).await;
    assert_eq!(status, 410);
    assert!(page.contains("使用済み"), "{page}");
    // 田中's link now says who has it, and does not take it over.
    let (status, page) = w.get(&tanaka).await;
    assert_eq!(status, 200);
    assert!(page.contains("既に鈴木さんが対応中です"), "{page}");
    assert!(!page.contains("<form"), "no button on a taken alert");
    let (_, page) = w.post(&tanaka).await;
    assert!(page.contains("既に鈴木さんが対応中です"), "{page}");
    assert_eq!(
        w.alert(alert.id).await.acknowledged_by.as_deref(),
        Some("responder:p-suzuki")
    );

    // The escalation stopped: the coordinator is not emailed, however long it stays taken.
    w.clock.advance(Duration::hours(1));
    w.tick().await;
    w.drain().await;
    assert_eq!(w.smtp().messages().len(), 3);
}

/// POSTs `form` to an email link's page as a browser on `origin`'s page would (none: a mail
/// client): status and text.
async fn post_form(
    w: &TestApp,
    url: &str,
    form: &[(&str, &str)],
    origin: Option<(&str, &str)>,
) -> (u16, String) {
    let mut r = w.http_no_redirects.post(url).form(form);
    if let Some((name, value)) = origin {
        r = r.header(name, value);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn the_links_page_resolves_with_an_outcome_of_the_alerts_kind_once(store: Store, _: String) {
    let (mut w, elder) = spawn_emailing(store, SmtpOptions::default()).await;
    let alert = w.press_button(&elder, 1).await;
    w.drain().await;
    let mails = w.smtp().wait_for(2).await;
    let suzuki = ack_link(to(&mails, SUZUKI), &w.base);
    let tanaka = ack_link(to(&mails, TANAKA), &w.base);

    // The page offers 対応します and, beside it, the person's outcomes to resolve with.
    let (status, page) = w.get(&suzuki).await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"action\" value=\"resolve\""), "{page}");
    assert!(page.contains("<option value=\"transported\">救急搬送</option>"));
    assert!(!page.contains("battery_replaced"));
    no_personal_data(&page);

    // Hostile, each refused before the link is used: an outcome of a device alert, none, a
    // made-up one, a note too long, a form posted from another site.
    let long = "あ".repeat(4001);
    for (form, expected, says) in [
        (
            vec![("action", "resolve"), ("outcome", "battery_replaced")],
            422,
            "この結果はこのアラートには使えません",
        ),
        (vec![("action", "resolve")], 422, "結果を選んでください"),
        (
            vec![("action", "resolve"), ("outcome", "<script>x</script>")],
            422,
            "無事確認・救急搬送・誤報・不在・その他",
        ),
        (
            vec![("action", "resolve"), ("outcome", "safe"), ("note", &long)],
            422,
            "メモが長すぎます",
        ),
    ] {
        let (status, page) = post_form(&w, &suzuki, &form, None).await;
        assert_eq!(status, expected, "{form:?}: {page}");
        assert!(page.contains(says), "{page}");
        assert!(!page.contains("<script>x"));
    }
    for origin in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let (status, page) = post_form(
            &w,
            &suzuki,
            &[("action", "resolve"), ("outcome", "safe")],
            Some(origin),
        )
        .await;
        assert_eq!(status, 403, "{origin:?}");
        assert!(page.contains("ほかのサイトからの送信です"), "{page}");
    }
    assert_eq!(w.alert(alert.id).await.state, AlertState::Open);
    let (status, _) = w.get(&suzuki).await;
    assert_eq!(status, 200, "the link is still unused");
    // A forged token: nothing.
    let (status, _) = post_form(
        &w,
        &format!("{}/ack/{}.0.0.0", w.base, alert.id),
        &[("action", "resolve"), ("outcome", "safe")],
        None,
    )
    .await;
    assert_eq!(status, 404);

    // 鈴木 resolves from the page (as a browser on our page would say): recorded as him, via
    // the mail, with the note, and the link is used up.
    w.clock.advance(Duration::minutes(30));
    let page_origin = w.base.trim_end_matches('/').to_string();
    let (status, page) = post_form(
        &w,
        &suzuki,
        &[
            ("action", "resolve"),
            ("outcome", "transported"),
            ("note", "救急車で市民病院へ"),
        ],
        Some(("origin", &page_origin)),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("解決を記録しました"), "{page}");
    assert!(page.contains("結果「救急搬送」"), "{page}");
    let done = w.alert(alert.id).await;
    assert_eq!(
        (done.state, done.outcome, done.resolved_by.as_deref()),
        (
            AlertState::Resolved,
            Some(Outcome::Transported),
            Some("responder:p-suzuki")
        )
    );
    let timeline = w.store.alert_timeline(alert.id).await.unwrap();
    let resolved: Vec<_> = timeline
        .iter()
        .filter(|e| e.kind == AlertEventKind::Resolved)
        .collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].actor.as_deref(), Some("responder:p-suzuki"));
    assert_eq!(resolved[0].detail["note"], "救急車で市民病院へ");

    // Used: neither a second resolution nor an acknowledgement.
    for form in [vec![("action", "resolve"), ("outcome", "safe")], vec![]] {
        let (status, page) = post_form(&w, &suzuki, &form, None).await;
        assert_eq!(status, 410, "{form:?}");
        assert!(page.contains("このリンクは使用済みです"), "{page}");
    }
    assert_eq!(w.alert(alert.id).await.outcome, Some(Outcome::Transported));
    // 田中's link: resolved, no form.
    let (status, page) = w.get(&tanaka).await;
    assert_eq!(status, 200);
    assert!(page.contains("このアラートは解決済みです"), "{page}");
    assert!(!page.contains("<form"), "{page}");
}

async fn a_device_alerts_link_offers_device_outcomes_and_refuses_others(store: Store, _: String) {
    let (w, _) = spawn_emailing(store, SmtpOptions::default()).await;
    let battery = w
        .store
        .open_routed_alert(
            &NewAlert {
                subject: Subject::Device(DeviceId::parse("button-e").unwrap()),
                kind: AlertKind::BatteryLow,
                severity: Severity::Low,
                district: Some(mimamori_core::testing::district("kugenuma")),
                summary: "電池残量低下".into(),
                detail: serde_json::json!({}),
                at: w.clock.now(),
            },
            &Routed::default(),
            &[],
            None,
        )
        .await
        .unwrap()
        .alert;
    let signer = LinkSigner::from_store(&w.store, w.clock.now())
        .await
        .unwrap();
    let link = |who: &str| {
        format!(
            "{}/ack/{}",
            w.base,
            signer.issue(
                battery.id,
                &ResponderId::parse(who).unwrap(),
                w.clock.now() + Duration::hours(1)
            )
        )
    };
    let (suzuki, tanaka) = (link("p-suzuki"), link("p-tanaka"));
    let (_, page) = w.get(&suzuki).await;
    for o in [
        "battery_replaced",
        "reconnected",
        "device_replaced",
        "other",
    ] {
        assert!(
            page.contains(&format!("<option value=\"{o}\"")),
            "{o}: {page}"
        );
    }
    assert!(!page.contains("transported"));
    // A person's outcome for a device alert: refused, nothing changed, the link unused.
    let (status, page) = post_form(
        &w,
        &suzuki,
        &[("action", "resolve"), ("outcome", "transported")],
        None,
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        page.contains("電池交換・再接続・機器交換・その他"),
        "{page}"
    );
    assert_eq!(w.alert(battery.id).await.state, AlertState::Open);
    // Taken by 田中 meanwhile: 鈴木's link does not resolve it for him.
    let tanaka_actor = Actor::responder(ResponderId::parse("p-tanaka").unwrap());
    w.store
        .acknowledge_alert(battery.id, &tanaka_actor, "dashboard", &[], w.clock.now())
        .await
        .unwrap();
    let (status, page) = post_form(
        &w,
        &suzuki,
        &[("action", "resolve"), ("outcome", "reconnected")],
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("既に田中さんが対応中です"), "{page}");
    assert_eq!(w.alert(battery.id).await.state, AlertState::Acknowledged);
    // 田中's own link offers him the resolution of the alert he took.
    let (_, page) = w.get(&tanaka).await;
    assert!(page.contains("対応中のアラート"), "{page}");
    assert!(page.contains("name=\"action\" value=\"resolve\""), "{page}");
    assert!(!page.contains(">対応します</button>"), "{page}");
    let (status, _) = post_form(
        &w,
        &tanaka,
        &[("action", "resolve"), ("outcome", "電池交換")],
        None,
    )
    .await;
    assert_eq!(status, 200);
    let done = w.alert(battery.id).await;
    assert_eq!(
        (done.state, done.outcome),
        (AlertState::Resolved, Some(Outcome::BatteryReplaced))
    );
}

async fn a_responder_resolves_from_the_links_page_in_the_browser(store: Store, _: String) {
    let (mut w, elder) = spawn_emailing(store, SmtpOptions::default()).await;
    let alert = w.press_button(&elder, 1).await;
    w.drain().await;
    let mails = w.smtp().wait_for(2).await;
    let suzuki = ack_link(to(&mails, SUZUKI), &w.base);
    let browser = Browser::start().await;
    browser.goto(&suzuki).await;
    look_at(&browser, "ack-link").await;
    // At a phone's width (where look_at leaves the window): choose, write, press.
    browser.find("select[name=outcome]").await.click().await;
    browser
        .find("select[name=outcome] option[value=safe]")
        .await
        .click()
        .await;
    browser
        .find("form.resolve textarea[name=note]")
        .await
        .type_text("訪問して無事を確認")
        .await;
    browser
        .find("form.resolve button")
        .await
        .click_to_load()
        .await;
    let done = w.alert(alert.id).await;
    assert_eq!(
        (done.state, done.outcome),
        (AlertState::Resolved, Some(Outcome::Safe))
    );
    assert!(browser.text().await.contains("解決を記録しました"));
    look_at(&browser, "ack-link-resolved").await;
    browser.quit().await;
}

async fn expired_altered_and_out_of_district_links_change_nothing(store: Store, _: String) {
    let (mut w, elder) = spawn_emailing(store, SmtpOptions::default()).await;
    let alert = w.press_button(&elder, 1).await;
    w.drain().await;
    let mails = w.smtp().wait_for(2).await;
    let link = ack_link(to(&mails, SUZUKI), &w.base);

    // Altered: another alert id in the same token.
    let altered = link.replacen(
        &format!("/ack/{}.", alert.id),
        &format!("/ack/{}.", alert.id.0 + 1),
        1,
    );
    assert_ne!(altered, link);
    let (status, page) = w.post(&altered).await;
    assert_eq!(status, 404);
    assert!(page.contains("このリンクは無効です"), "{page}");
    let (status, _) = w.post(&format!("{}/ack/not-a-token", w.base)).await;
    assert_eq!(status, 404);

    // A responder of 辻堂 holding a valid token for a 鵠沼 alert (a forwarded email, say).
    let signer = LinkSigner::from_store(&w.store, w.clock.now())
        .await
        .unwrap();
    let foreign = signer.issue(
        alert.id,
        &ResponderId::parse("p-tsujido").unwrap(),
        w.clock.now() + Duration::hours(1),
    );
    let (status, page) = w.post(&format!("{}/ack/{foreign}", w.base)).await;
    assert_eq!(status, 403);
    assert!(page.contains("担当範囲外"), "{page}");

    // Expired: the link works for 24 hours.
    w.clock.advance(Duration::hours(24) + Duration::minutes(1));
    let (status, page) = w.get(&link).await;
    assert_eq!(status, 410);
    assert!(page.contains("有効期限が切れています"), "{page}");
    let (status, _) = w.post(&link).await;
    assert_eq!(status, 410);
    assert_eq!(w.alert(alert.id).await.state, AlertState::Open);
}

async fn the_smtp_server_down_then_back_delivers_each_email_once(store: Store, _: String) {
    let (mut w, elder) = spawn_emailing(store, SmtpOptions::default()).await;
    w.smtp_mut().stop().await;
    w.press_button(&elder, 1).await;
    let steps = w.drain().await;
    assert_eq!(steps.len(), 3);
    assert!(
        steps.iter().all(|s| matches!(s, Step::Retry(..))),
        "{steps:?}"
    );
    // Still down at the retries: they wait again, nothing is dropped.
    for _ in 0..3 {
        w.clock.advance(Duration::minutes(6));
        let steps = w.drain().await;
        assert!(steps.iter().all(|s| matches!(s, Step::Retry(..))));
    }
    w.smtp_mut().start_again().await;
    w.clock.advance(Duration::minutes(6));
    let steps = w.drain().await;
    assert_eq!(
        steps.iter().filter(|s| matches!(s, Step::Sent(_))).count(),
        3,
        "{steps:?}"
    );
    let mails = w.smtp().wait_for(3).await;
    for address in [SUZUKI, TANAKA, CONTACT] {
        assert_eq!(
            mails
                .iter()
                .filter(|m| m.rcpt_to.iter().any(|r| r == address))
                .count(),
            1
        );
    }
    w.clock.advance(Duration::minutes(10));
    w.drain().await;
    assert_eq!(w.smtp().messages().len(), 3, "each once");
    // No operators' alert: an outage is not a bad address.
    let failures = people::alerts_of(&w.store, AlertKind::DeliveryFailed).await;
    assert!(failures.is_empty(), "{failures:?}");
}

async fn a_refused_mailbox_is_flagged_and_the_coordinator_is_still_told(store: Store, _: String) {
    let (mut w, elder) = spawn_emailing(
        store,
        SmtpOptions {
            refuse: vec![TANAKA.into()],
            ..Default::default()
        },
    )
    .await;
    let alert = w.press_button(&elder, 1).await;
    let steps = w.drain().await;
    assert_eq!(
        steps
            .iter()
            .filter(|s| matches!(s, Step::Failed(_)))
            .count(),
        1,
        "{steps:?}"
    );
    let failures = people::alerts_of(&w.store, AlertKind::DeliveryFailed).await;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].team.as_ref().unwrap().as_str(), "operators");
    // The reason says what SMTP said without quoting the address, and the alert (whose subject
    // goes out on MQTT and webhooks) does not name it either.
    assert!(!failures[0].detail.to_string().contains(TANAKA));
    assert!(
        !failures[0].subject.key().contains("tanaka"),
        "{}",
        failures[0].subject.key()
    );
    assert!(failures[0].subject.key().starts_with("channel:email:"));
    assert!(
        failures[0].detail["reason"]
            .as_str()
            .unwrap()
            .contains("550")
    );
    // Nobody acknowledges: after 5 minutes the coordinator is emailed all the same.
    w.clock.advance(Duration::minutes(5));
    w.tick().await;
    w.drain().await;
    let mails = w.smtp().wait_for(3).await;
    let coordinator = to(&mails, COORDINATOR);
    assert!(
        coordinator
            .subject
            .starts_with("【エスカレーション・未対応】緊急通報"),
        "{}",
        coordinator.subject
    );
    assert!(coordinator.subject.contains(&format!("#{}", alert.id)));
    // Still nobody: reminders go on every 5 minutes, to the team and the coordinator, each with a
    // fresh link.
    w.clock.advance(Duration::minutes(5));
    w.tick().await;
    w.drain().await;
    let mails = w.smtp().wait_for(5).await;
    let reminders: Vec<&Received> = mails
        .iter()
        .filter(|m| m.subject.starts_with("【再通知・未対応 2回目】緊急通報"))
        .collect();
    let mut told: Vec<&str> = reminders.iter().map(|m| m.rcpt_to[0].as_str()).collect();
    told.sort();
    assert_eq!(told, [COORDINATOR, SUZUKI], "{mails:#?}");
    assert!(reminders[0].text.as_deref().unwrap().contains("/ack/"));
}

async fn consenting_contacts_get_a_notice_without_links(store: Store, _: String) {
    let (mut w, elder) = spawn_emailing(store, SmtpOptions::default()).await;
    w.press_button(&elder, 1).await;
    w.drain().await;
    let mails = w.smtp().wait_for(3).await;
    let notice = to(&mails, CONTACT);
    assert_eq!(notice.subject, "【見守り】緊急通報のお知らせ");
    let text = notice.text.as_deref().unwrap();
    assert!(text.contains("鵠沼いきいきサポートセンター"), "{text}");
    assert!(text.contains("2026年12月01日 10:00"), "{text}");
    assert!(
        !text.contains("http"),
        "no dashboard or acknowledgement link: {text}"
    );
    assert!(!notice.html.as_deref().unwrap().contains("href"));
    no_personal_data(&headers(notice));
    // Telling the contact read their record: audited.
    let audit = w
        .store
        .list_audit("resident", Some("r-elder"), 50)
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "resident.contacts_read" && e.detail["purpose"] == "alert email"),
        "{audit:?}"
    );
}

/// Every alert kind, about the kind of subject it has, with personal data in its summary and
/// detail (as rules and partners write them): neither channel shows any of it.
async fn every_kind_reads_without_personal_data_on_telegram_and_email(store: Store, _: String) {
    // Telegram beside email: 木村 of the same team reads alerts on Telegram.
    let smtp = SmtpServer::start().await;
    let (w, elder) = spawn(store, |o| o.email(smtp).telegram("1:T")).await;
    let api = w.bot_api();
    let targets = mimamori_alerts::targets(&w.config).unwrap();
    assert!(targets.telegram && targets.email);
    let chat = 1001;
    people::responder(
        &w.store,
        "p-kimura",
        "houkatsu-kugenuma",
        "木村",
        None,
        Some(chat),
    )
    .await;
    let private = serde_json::json!({
        "name": "藤沢 花子", "address": "鵠沼海岸二丁目3-5", "notes": "糖尿病", "phone": "0466-00-0000",
    });
    // Every email planned, so that the wait below ends only when the last of them has arrived
    // (contacts' notices make more than two per kind).
    let mut planned = 0;
    for kind in AlertKind::ALL {
        let subject = match kind {
            AlertKind::DeviceOffline | AlertKind::BatteryLow => {
                Subject::Device(DeviceId::parse("button-e").unwrap())
            }
            AlertKind::Concern => Subject::Address("鵠沼海岸二丁目3-5".into()),
            AlertKind::DeliveryFailed => Subject::Channel(format!("email:{CONTACT}")),
            _ => Subject::Resident(elder.clone()),
        };
        let teams = ["houkatsu-kugenuma"];
        let at = w.clock.now();
        let notify = targets
            .plan(
                &w.store,
                &Tell {
                    event: Event::Raised,
                    teams: &teams,
                    step: None,
                    subject: &subject,
                    kind: *kind,
                },
                at,
            )
            .await
            .unwrap();
        planned += notify
            .iter()
            .filter(|n| n.channel == Channel::Email)
            .count();
        w.store
            .open_routed_alert(
                &NewAlert {
                    subject,
                    kind: *kind,
                    severity: Severity::High,
                    district: Some(mimamori_core::testing::district("kugenuma")),
                    summary: "藤沢 花子さん 鵠沼海岸二丁目3-5 糖尿病".into(),
                    detail: private.clone(),
                    at,
                },
                &Routed {
                    team: Some(TeamId::parse("houkatsu-kugenuma").unwrap()),
                    escalate_at: None,
                    cursor: None,
                },
                &notify,
                None,
            )
            .await
            .unwrap();
        w.drain().await;
        let label = kind.label_ja();
        let telegram = api.sent().pop().unwrap();
        assert_eq!(telegram.chat_id, chat);
        assert!(telegram.text.contains(label), "{kind}: {}", telegram.text);
        no_personal_data(&telegram.text);
    }
    let mails = w.smtp().wait_for(planned).await;
    for kind in AlertKind::ALL {
        let label = kind.label_ja();
        let of_kind: Vec<_> = mails
            .iter()
            .filter(|m| {
                m.text
                    .as_deref()
                    .unwrap()
                    .contains(&format!("種別: {label}"))
            })
            .collect();
        assert!(
            of_kind.len() >= 2,
            "{kind}: an email each for 鈴木 and 田中"
        );
        for m in of_kind {
            no_personal_data(&m.subject);
            no_personal_data(&headers(m));
            no_personal_data(m.text.as_deref().unwrap());
            no_personal_data(m.html.as_deref().unwrap());
        }
    }
}

/// An internal mail server with the city's own CA and a login: STARTTLS on 587 and implicit
/// TLS on 465 both deliver; without the CA the certificate is not trusted, and the emails wait.
async fn tls_with_the_citys_own_ca_and_a_login() {
    for security in [Security::Starttls, Security::Tls] {
        for trusted in [true, false] {
            let smtp = SmtpServer::start_with(SmtpOptions {
                security,
                auth: Some(("mimamori".into(), "mail-password".into())),
                ..Default::default()
            })
            .await;
            let config = EmailConfig {
                smtp_host: "localhost".into(),
                security: match security {
                    Security::Tls => SmtpSecurity::Tls,
                    _ => SmtpSecurity::Starttls,
                },
                username: "mimamori".into(),
                password: "mail-password".into(),
                ca_cert: trusted.then(|| smtp.ca_pem_path().unwrap().to_path_buf()),
                ..plain_email(&smtp)
            };
            let t = mimamori_core::testing::TestStore::sqlite().await;
            let (mut w, elder) = spawn(t.store.clone(), |o| o.email_with(smtp, config)).await;
            w.press_button(&elder, 1).await;
            let steps = w.drain().await;
            assert_eq!(steps.len(), 3, "{steps:?}");
            if trusted {
                assert!(
                    steps.iter().all(|s| matches!(s, Step::Sent(_))),
                    "{security:?}: {steps:?}"
                );
                let mails = w.smtp().wait_for(3).await;
                for m in &mails {
                    assert!(m.tls, "{security:?}: sent under TLS");
                    assert_eq!(m.auth_user.as_deref(), Some("mimamori"));
                }
            } else {
                assert!(
                    steps.iter().all(|s| matches!(s, Step::Retry(..))),
                    "{security:?}: {steps:?}"
                );
                assert!(w.smtp().messages().is_empty());
            }
            t.finish().await;
        }
    }
}

/// The demo's transport: one `.eml` file per message, nothing sent anywhere.
async fn the_file_transport_writes_one_eml_file_per_message() {
    let smtp = SmtpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = EmailConfig {
        transport: EmailTransport::File,
        file_dir: Some(dir.path().join("mail")),
        ..plain_email(&smtp)
    };
    let t = mimamori_core::testing::TestStore::sqlite().await;
    let (mut w, elder) = spawn(t.store.clone(), |o| o.email_with(smtp, config)).await;
    w.press_button(&elder, 1).await;
    let steps = w.drain().await;
    assert!(
        steps.iter().all(|s| matches!(s, Step::Sent(_))),
        "{steps:?}"
    );
    let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    let all: String = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "eml"))
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    for address in [SUZUKI, TANAKA, CONTACT] {
        assert!(all.contains(&format!("To: {address}")), "{all}");
    }
    assert!(all.contains("multipart/alternative"));
    assert!(
        w.smtp().messages().is_empty(),
        "nothing went to the SMTP server"
    );
    t.finish().await;
}

/// Settings that cannot work stop the start with the key and the reason.
async fn broken_email_settings_are_clear_errors() {
    let t = mimamori_core::testing::TestStore::sqlite().await;
    // The sender alone: its settings are checked when it is made.
    let ctx = mimamori_alerts::notify::message::Context::new(
        "https://mimamori.example.jp",
        &mimamori_core::registry::Registry::fujisawa(),
        chrono_tz::Asia::Tokyo,
    );
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("not-a-cert.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let base = EmailConfig {
        enabled: true,
        smtp_host: "mail.example.jp".into(),
        ..Default::default()
    };
    for (config, expected) in [
        (
            EmailConfig {
                from: "nobody".into(),
                ..base.clone()
            },
            "notify.email.from: \"nobody\" is not a sender address",
        ),
        (
            EmailConfig {
                ca_cert: Some(dir.path().join("missing.pem")),
                ..base.clone()
            },
            "notify.email.ca_cert: cannot read",
        ),
        (
            EmailConfig {
                ca_cert: Some(garbage.clone()),
                ..base.clone()
            },
            "notify.email.ca_cert: ",
        ),
    ] {
        let err = EmailSender::new(
            &config,
            dir.path(),
            t.store.clone(),
            ctx.clone(),
            LinkSigner::new(b"key".to_vec()),
            Arc::new(ManualClock::new(jst("2026-12-01T10:00:00"))),
        )
        .err()
        .expect("refused");
        assert!(err.to_string().starts_with(expected), "{err}");
    }
    t.finish().await;
}

mimamori_testkit::main!();
