//! Responders on Telegram, against a local Bot API server (Telegram's own cannot be reached from
//! tests) and a real store, on an injected clock.

use chrono::Duration;
use mimamori_alerts::notify::Step;
use mimamori_core::clock::Clock;
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::Store;
use mimamori_testapp::privacy::no_personal_data;
use mimamori_testapp::{Options, TestApp, home, jst, people, spawn_app};
use mimamori_testkit::telegram::Failure;

on_both_backends!(
    a_press_reaches_the_teams_chats_and_the_button_acknowledges_it,
    resolving_asks_for_the_outcome_and_every_message_shows_it,
    a_stranger_pressing_a_button_is_refused_and_audited,
    linking_a_chat_takes_a_valid_unused_code,
    too_many_requests_is_waited_out_and_a_blocked_bot_is_flagged,
    telegram_unreachable_then_back_delivers_once,
    webhook_mode_takes_updates_only_with_the_secret,
);

const TOKEN: &str = "123456:TEST-token";
/// Telegram user (and private chat) ids of the responders.
const SUZUKI: i64 = 1001;
const TANAKA: i64 = 1002;
const COORDINATOR: i64 = 2001;

/// 藤沢 花子 with her call button; 鈴木 and 田中 of 鵠沼's 包括 and the coordinator, each in
/// their Telegram chat; Telegram on as `options` say (polling unless told otherwise).
async fn spawn(store: Store, options: impl FnOnce(Options) -> Options) -> (TestApp, ResidentId) {
    let at = jst("2026-12-01T10:00:00");
    let resident = home::resident_with_button(&store, at).await;
    people::responder(
        &store,
        "p-suzuki",
        "houkatsu-kugenuma",
        "鈴木",
        None,
        Some(SUZUKI),
    )
    .await;
    people::responder(
        &store,
        "p-tanaka",
        "houkatsu-kugenuma",
        "田中",
        None,
        Some(TANAKA),
    )
    .await;
    people::responder(
        &store,
        "p-coord",
        "coordinator",
        "基幹 佐藤",
        None,
        Some(COORDINATOR),
    )
    .await;
    let options = options(Options::at(at).public_url("https://mimamori.example.jp"));
    (spawn_app(store, options).await, resident)
}

/// Telegram polling for updates, as by default.
fn polling(options: Options) -> Options {
    options.telegram(TOKEN)
}

async fn a_press_reaches_the_teams_chats_and_the_button_acknowledges_it(store: Store, _: String) {
    let (mut w, r) = spawn(store, polling).await;
    let alert = w.press_button(&r, 1).await;
    assert_eq!(w.drain().await.len(), 2, "both of 鵠沼's 包括 responders");
    let sent = w.bot_api().sent();
    let chats: Vec<i64> = sent.iter().map(|s| s.chat_id).collect();
    assert_eq!(chats, [SUZUKI, TANAKA]);
    for m in &sent {
        assert!(m.text.starts_with("【緊急通報】 鵠沼地区"), "{}", m.text);
        assert!(m.text.contains("見守り対象者 r-elder"));
        assert!(
            m.text
                .contains(&format!("https://mimamori.example.jp/alerts/{}", alert.id))
        );
        no_personal_data(&m.text);
        assert_eq!(
            m.buttons,
            [
                ("対応します".to_string(), format!("ack:{}", alert.id)),
                ("解決".to_string(), format!("resolve:{}", alert.id)),
            ]
        );
    }
    // 鈴木 presses 対応します.
    w.clock.advance(Duration::minutes(2));
    let query = w.bot_api().press(
        SUZUKI,
        SUZUKI,
        sent[0].message_id,
        &format!("ack:{}", alert.id),
    );
    assert_eq!(w.poll_telegram().await, 1);
    let acked = w.alert(alert.id).await;
    assert_eq!(acked.state, AlertState::Acknowledged);
    assert_eq!(acked.acknowledged_by.as_deref(), Some("responder:p-suzuki"));
    let answer = w.bot_api().answers().pop().unwrap();
    assert_eq!(answer["callback_query_id"], query);
    assert_eq!(answer["text"], "対応開始を記録しました。");
    let timeline = w.store.alert_timeline(alert.id).await.unwrap();
    let ack = timeline
        .iter()
        .find(|e| e.kind == AlertEventKind::Acknowledged)
        .unwrap();
    assert_eq!(ack.detail["via"], "telegram");
    // Both messages now say who took it, with only 解決 left.
    w.drain().await;
    let edits = w.bot_api().edits();
    assert_eq!(edits.len(), 2);
    for e in &edits {
        assert!(e.text.contains("状態: 対応中（鈴木"), "{}", e.text);
        assert_eq!(
            e.buttons,
            [("解決".to_string(), format!("resolve:{}", alert.id))]
        );
    }
    // The escalation stopped: nobody else is told, however long it stays acknowledged.
    w.clock.advance(Duration::hours(1));
    w.tick().await;
    w.drain().await;
    assert_eq!(w.bot_api().sent().len(), 2);
    // 田中 presses 対応します too late: told who has it.
    w.bot_api().press(
        TANAKA,
        TANAKA,
        sent[1].message_id,
        &format!("ack:{}", alert.id),
    );
    w.poll_telegram().await;
    assert_eq!(
        w.bot_api().answers().pop().unwrap()["text"],
        "既に鈴木さんが対応中です。"
    );
}

async fn resolving_asks_for_the_outcome_and_every_message_shows_it(store: Store, _: String) {
    let (mut w, r) = spawn(store, polling).await;
    let alert = w.press_button(&r, 1).await;
    w.drain().await;
    let message = w.bot_api().sent()[1].clone();
    w.bot_api().press(
        TANAKA,
        TANAKA,
        message.message_id,
        &format!("resolve:{}", alert.id),
    );
    w.poll_telegram().await;
    let choice = w.bot_api().edits().pop().unwrap();
    let labels: Vec<&str> = choice.buttons.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(
        labels,
        ["無事確認", "救急搬送", "誤報", "不在", "その他", "戻る"]
    );
    assert_eq!(w.alert(alert.id).await.state, AlertState::Open, "not yet");
    w.bot_api().press(
        TANAKA,
        TANAKA,
        message.message_id,
        &format!("outcome:{}:transported", alert.id),
    );
    w.poll_telegram().await;
    let resolved = w.alert(alert.id).await;
    assert_eq!(resolved.state, AlertState::Resolved);
    assert_eq!(resolved.outcome, Some(Outcome::Transported));
    assert_eq!(resolved.resolved_by.as_deref(), Some("responder:p-tanaka"));
    w.drain().await;
    let finals: Vec<_> = w.bot_api().edits().into_iter().rev().take(2).collect();
    for e in finals {
        assert!(e.text.contains("解決（救急搬送）"), "{}", e.text);
        assert!(e.buttons.is_empty(), "no buttons on a resolved alert");
    }
}

async fn a_stranger_pressing_a_button_is_refused_and_audited(store: Store, _: String) {
    let (mut w, r) = spawn(store, polling).await;
    let alert = w.press_button(&r, 1).await;
    w.drain().await;
    let message = w.bot_api().sent()[0].clone();
    w.bot_api().press(
        4242,
        SUZUKI,
        message.message_id,
        &format!("ack:{}", alert.id),
    );
    w.poll_telegram().await;
    assert_eq!(w.alert(alert.id).await.state, AlertState::Open);
    let answer = w.bot_api().answers().pop().unwrap();
    assert_eq!(answer["show_alert"], true);
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("登録されていない")
    );
    let audit = w
        .store
        .list_audit("alert", Some(&alert.id.to_string()), 10)
        .await
        .unwrap();
    assert_eq!(audit[0].action, "telegram.refused");
    assert_eq!(audit[0].actor, "telegram:4242");
    // A responder of another district cannot take 鵠沼's alert either.
    people::responder(
        &w.store,
        "p-tsujido",
        "houkatsu-tsujido",
        "辻堂の人",
        None,
        Some(3001),
    )
    .await;
    w.bot_api()
        .press(3001, 3001, message.message_id, &format!("ack:{}", alert.id));
    w.poll_telegram().await;
    assert_eq!(w.alert(alert.id).await.state, AlertState::Open);
    assert_eq!(
        w.bot_api().answers().pop().unwrap()["text"],
        "このアラートは担当範囲外です。"
    );
}

async fn linking_a_chat_takes_a_valid_unused_code(store: Store, _: String) {
    let (w, _) = spawn(store, polling).await;
    people::responder(&w.store, "p-new", "csw-kugenuma", "新人", None, None).await;
    let id = ResponderId::parse("p-new").unwrap();
    let now = w.clock.now();
    w.store
        .add_link_code(
            &id,
            &token_hash("CODE1234abcd"),
            now + Duration::hours(24),
            now,
        )
        .await
        .unwrap();
    w.store
        .add_link_code(
            &id,
            &token_hash("OLDCODE9999"),
            now + Duration::minutes(1),
            now,
        )
        .await
        .unwrap();
    w.bot_api().user_says(5555, "新人", "/start WRONGCODE");
    w.poll_telegram().await;
    assert!(
        w.bot_api()
            .sent()
            .pop()
            .unwrap()
            .text
            .contains("このコードは無効です")
    );
    w.bot_api().user_says(5555, "新人", "/start CODE1234abcd");
    w.poll_telegram().await;
    let reply = w.bot_api().sent().pop().unwrap();
    assert_eq!(reply.chat_id, 5555);
    assert!(reply.text.starts_with("連携しました。"), "{}", reply.text);
    let linked = w.store.get_responder(&id).await.unwrap();
    assert_eq!(
        (linked.telegram_chat_id, linked.telegram_user_id),
        (Some(5555), Some(5555))
    );
    // Single use, and codes expire.
    w.bot_api().user_says(6666, "誰か", "/start CODE1234abcd");
    w.clock.advance(Duration::minutes(2));
    w.bot_api().user_says(6666, "誰か", "/start OLDCODE9999");
    w.poll_telegram().await;
    let replies: Vec<_> = w.bot_api().sent().into_iter().rev().take(2).collect();
    assert!(
        replies
            .iter()
            .all(|r| r.text.contains("このコードは無効です"))
    );
    assert_eq!(
        w.store.responder_by_telegram_user(6666).await.unwrap(),
        None
    );
    // The next poll confirms what was handled, as on Telegram: nothing is handled twice.
    assert_eq!(w.poll_telegram().await, 0);
    assert_eq!(w.bot_api().pending_updates(), 0, "every update confirmed");
}

async fn too_many_requests_is_waited_out_and_a_blocked_bot_is_flagged(store: Store, _: String) {
    let (mut w, r) = spawn(store, polling).await;
    w.bot_api()
        .fail_next("sendMessage", Failure::TooMany { retry_after: 30 }, 1);
    w.bot_api().fail_next("sendMessage", Failure::Blocked, 1);
    let alert = w.press_button(&r, 1).await;
    let steps = w.drain().await;
    let retry_at = steps
        .iter()
        .find_map(|s| match s {
            Step::Retry(_, at) => Some(*at),
            _ => None,
        })
        .expect("the 429 is retried");
    assert!(
        retry_at >= w.clock.now() + Duration::seconds(30),
        "retry_after honoured"
    );
    assert!(
        steps.iter().any(|s| matches!(s, Step::Failed(_))),
        "403 is permanent"
    );
    w.clock.advance(Duration::seconds(29));
    assert!(w.drain().await.is_empty(), "not before retry_after");
    w.clock.advance(Duration::seconds(2));
    assert!(matches!(w.drain().await[..], [Step::Sent(_)]));
    assert_eq!(
        w.bot_api().sent().len(),
        1,
        "one of the two chats got it, once"
    );
    let flagged = people::alerts_of(&w.store, AlertKind::DeliveryFailed).await;
    assert_eq!(flagged.len(), 1);
    assert_eq!(
        flagged[0].team.as_ref().map(|t| t.as_str()),
        Some("operators")
    );
    // Nobody acknowledged: the coordinator is told after 5 minutes, regardless.
    w.clock.set(alert.opened_at + Duration::minutes(5));
    w.tick().await;
    w.drain().await;
    let escalated = w
        .bot_api()
        .sent()
        .into_iter()
        .find(|s| s.chat_id == COORDINATOR)
        .unwrap();
    assert!(
        escalated
            .text
            .starts_with("【エスカレーション・未対応】緊急通報"),
        "{}",
        escalated.text
    );
}

async fn telegram_unreachable_then_back_delivers_once(store: Store, _: String) {
    let (mut w, r) = spawn(store, polling).await;
    w.bot_api_mut().stop();
    w.press_button(&r, 1).await;
    let steps = w.drain().await;
    assert_eq!(steps.len(), 2);
    assert!(
        steps.iter().all(|s| matches!(s, Step::Retry(..))),
        "{steps:?}"
    );
    w.clock.advance(Duration::seconds(10));
    assert!(w.drain().await.iter().all(|s| matches!(s, Step::Retry(..))));
    w.bot_api_mut().resume().await;
    w.clock.advance(Duration::minutes(1));
    let steps = w.drain().await;
    assert_eq!(
        steps.iter().filter(|s| matches!(s, Step::Sent(_))).count(),
        2
    );
    w.clock.advance(Duration::minutes(1));
    assert!(w.drain().await.is_empty());
    assert_eq!(w.bot_api().sent().len(), 2, "each chat once, nothing lost");
}

async fn webhook_mode_takes_updates_only_with_the_secret(store: Store, _: String) {
    let secret = "webhook_secret_0123456789";
    let (mut w, r) = spawn(store, |o| o.telegram_webhook(TOKEN, secret)).await;
    let alert = w.press_button(&r, 1).await;
    w.drain().await;
    w.bot()
        .set_webhook("https://mimamori.example.jp", secret)
        .await
        .unwrap();
    let hook = w.bot_api().webhook().unwrap();
    assert_eq!(hook["url"], "https://mimamori.example.jp/telegram/webhook");
    assert_eq!(hook["secret_token"], secret);
    // The web server serves the route, as in `mimamori up`.
    let url = w.url("/telegram/webhook");
    let message = w.bot_api().sent()[0].clone();
    w.bot_api().press(
        SUZUKI,
        SUZUKI,
        message.message_id,
        &format!("ack:{}", alert.id),
    );
    let update = w.bot_api().take_updates().remove(0);
    let client = reqwest::Client::new();
    let forged = client
        .post(&url)
        .header("x-telegram-bot-api-secret-token", "guess")
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert_eq!(w.alert(alert.id).await.state, AlertState::Open);
    let real = client
        .post(&url)
        .header("x-telegram-bot-api-secret-token", secret)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(real.status(), 200);
    assert_eq!(w.alert(alert.id).await.state, AlertState::Acknowledged);
}

mimamori_testkit::main!();
