//! Routing, escalation and the outbox against a real store and a real HTTP receiver, on an
//! injected clock.

use chrono::Duration;
use mimamori_alerts::notify::webhook::WebhookSender;
use mimamori_alerts::notify::{Outbox, Step, Targets};
use mimamori_alerts::{AlertService, EngineSettings};
use mimamori_core::clock::{Clock, ManualClock};
use mimamori_core::config::WebhookConfig;
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::storage::{AlertFilter, Store};
use mimamori_testapp::home::press;
use mimamori_testapp::webhook::receiver;
use mimamori_testapp::{Options, TestApp, home, jst, people, spawn_app};
use std::future::Future;
use std::sync::Arc;

on_both_backends!(
    an_emergency_reaches_the_districts_team_and_escalates_until_acknowledged,
    a_receiver_failing_three_times_gets_the_notification_once,
    a_permanently_failing_receiver_is_flagged_and_escalation_goes_on,
    a_checkin_reminder_goes_to_the_residents_own_button_signed,
    an_emergency_is_handed_to_the_running_outbox_and_sent_once,
    a_handed_alert_message_goes_out_as_its_transaction_numbered_it,
    a_handed_over_notification_is_sent_once_when_its_worker_dies,
    a_stopping_worker_gives_back_what_it_had_not_sent,
);

const SECRET: &str = "webhook-secret-0123456789";

/// 藤沢 花子 with her call button; the app posting alert changes to the webhook at `url`.
async fn spawn(store: &Store, url: &str, clock: &ManualClock) -> (TestApp, ResidentId) {
    let resident = home::resident_with_button(store, clock.now()).await; // born 1940, 鵠沼
    let options = Options::on(clock.clone()).webhook(url, SECRET);
    (spawn_app(store.clone(), options).await, resident)
}

/// The alert service and an outbox sending to the webhook at `url`, as units: for the cases
/// about how workers hand over, lease and give back rows.
async fn setup(
    store: &Store,
    url: &str,
    clock: &ManualClock,
) -> (AlertService, Outbox, ResidentId) {
    let resident = home::resident_with_button(store, clock.now()).await; // born 1940, 鵠沼
    let hooks = [hook_config(url)];
    let targets = Targets {
        mqtt_alerts: false,
        webhooks: hooks.to_vec(),
        ..Default::default()
    };
    let service = service(store, clock, targets).await;
    let outbox = webhook_outbox(store, clock, &hooks, "worker-1");
    (service, outbox, resident)
}

async fn an_emergency_reaches_the_districts_team_and_escalates_until_acknowledged(
    store: Store,
    _url: String,
) {
    let (hook, url) = receiver(vec![]).await;
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let (mut app, resident) = spawn(&store, &url, &clock).await;
    press(&store, &resident, 1, clock.now()).await;
    let alerts = app.tick().await;
    assert_eq!(
        alerts[0].team.as_ref().map(|t| t.as_str()),
        Some("houkatsu-kugenuma"),
        "86 years old in 鵠沼 → 鵠沼's 包括"
    );
    assert_eq!(app.drain().await.len(), 1);
    {
        let got = hook.got.lock().unwrap();
        let (_, headers, body) = &got[0];
        assert_eq!(body["event"], "created");
        assert_eq!(body["alert"]["kind"], "emergency");
        assert_eq!(body["alert"]["district"], "kugenuma");
        assert_eq!(body["teams"], serde_json::json!(["houkatsu-kugenuma"]));
        let text = body.to_string();
        assert!(
            !text.contains("花子") && !text.contains("鵠沼海岸") && !text.contains("糖尿病"),
            "no personal data: {text}"
        );
        let signature = headers["x-mimamori-signature"].to_str().unwrap();
        let expected = format!(
            "sha256={}",
            mimamori_core::secret::hex(&mimamori_core::secret::hmac_sha256(
                SECRET.as_bytes(),
                body.to_string().as_bytes()
            ))
        );
        assert_eq!(signature, expected);
    }
    // Nobody acknowledges: after 5 minutes the coordinator is told, then every 5 minutes again.
    clock.advance(Duration::minutes(4));
    app.tick().await;
    assert!(app.drain().await.is_empty());
    clock.advance(Duration::minutes(1));
    app.tick().await;
    assert_eq!(app.drain().await.len(), 1);
    let escalated = hook.got.lock().unwrap().last().unwrap().2.clone();
    assert_eq!(
        (escalated["event"].as_str(), escalated["step"].as_i64()),
        (Some("escalated"), Some(1))
    );
    assert_eq!(
        escalated["teams"],
        serde_json::json!(["coordinator", "houkatsu-kugenuma"])
    );
    clock.advance(Duration::minutes(5));
    app.tick().await;
    assert_eq!(app.drain().await.len(), 1, "a reminder, no cap");
    // Acknowledged: the chain stops at once.
    let alert = store.list_alerts(&AlertFilter::default()).await.unwrap()[0].clone();
    store
        .acknowledge_alert(
            alert.id,
            &Actor("responder:p-sato".into()),
            "web",
            &[],
            clock.now(),
        )
        .await
        .unwrap();
    clock.advance(Duration::hours(2));
    app.tick().await;
    assert!(app.drain().await.is_empty());
    let steps: Vec<_> = store
        .alert_timeline(alert.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        steps
            .iter()
            .filter(|k| **k == AlertEventKind::Escalated)
            .count(),
        2
    );
    assert_eq!(
        steps
            .iter()
            .filter(|k| **k == AlertEventKind::Delivery)
            .count(),
        3
    );
}

async fn a_receiver_failing_three_times_gets_the_notification_once(store: Store, _url: String) {
    let (hook, url) = receiver(vec![503, 503, 500]).await;
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let (mut app, resident) = spawn(&store, &url, &clock).await;
    press(&store, &resident, 1, clock.now()).await;
    app.tick().await;
    let mut sent = 0;
    for _ in 0..10 {
        for step in app.drain().await {
            match step {
                Step::Sent(_) => sent += 1,
                Step::Retry(_, at) => assert!(at > clock.now(), "a retry waits"),
                Step::Failed(_) => panic!("not permanent"),
            }
        }
        clock.advance(Duration::seconds(30));
    }
    assert_eq!(sent, 1);
    let got = hook.got.lock().unwrap();
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        [503, 503, 500, 200]
    );
    let ids: std::collections::HashSet<_> = got
        .iter()
        .map(|g| g.1["x-mimamori-notification"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "the same notification id on every attempt");
}

async fn a_permanently_failing_receiver_is_flagged_and_escalation_goes_on(
    store: Store,
    _url: String,
) {
    let (_hook, url) = receiver(vec![410, 410, 410, 410]).await;
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let (mut app, resident) = spawn(&store, &url, &clock).await;
    press(&store, &resident, 1, clock.now()).await;
    app.tick().await;
    assert!(matches!(app.drain().await[..], [Step::Failed(_)]));
    let flagged = people::alerts_of(&store, AlertKind::DeliveryFailed).await;
    assert_eq!(flagged.len(), 1);
    assert_eq!(
        flagged[0].team.as_ref().map(|t| t.as_str()),
        Some("operators")
    );
    // The escalation of the emergency itself carries on.
    clock.advance(Duration::minutes(5));
    assert_eq!(app.escalate().await, 1);
    let emergency = store
        .list_alerts(&AlertFilter {
            kind: Some(AlertKind::Emergency),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(emergency[0].escalation_step, 1);
}

async fn a_checkin_reminder_goes_to_the_residents_own_button_signed(store: Store, _url: String) {
    let clock = ManualClock::new(jst("2026-12-01T06:00:00"));
    let mut r = mimamori_core::testing::new_resident("r-remind");
    r.policies = vec![CheckinPolicy::Checkin {
        due: mimamori_alerts::rules::hm(9, 0),
        remind_minutes_before: Some(30),
        grace_minutes: 60,
    }];
    store
        .add_resident(&r, &Actor::system(), clock.now())
        .await
        .unwrap();
    let password = mimamori_core::secret::generate_device_password();
    let key = mimamori_core::secret::device_mac_key(&password);
    home::device(
        &store,
        "button-r",
        &r.id,
        DeviceKind::CallButton,
        &key,
        clock.now(),
    )
    .await;
    let mut service = AlertService::start(
        store.clone(),
        chrono_tz::Asia::Tokyo,
        EngineSettings::default(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let mut reminders = service.reminders();
    clock.set(jst("2026-12-01T08:29:00"));
    service.tick().await.unwrap();
    assert!(reminders.try_recv().is_err(), "not yet");
    clock.set(jst("2026-12-01T08:30:00"));
    service.tick().await.unwrap();
    let decision = reminders.try_recv().expect("a reminder at 08:30");
    let messages = mimamori_alerts::notify::reminder::messages(&store, &decision)
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].0, "mimamori/v1/devices/button-r/reminders");
    let reminder: mimamori_core::protocol::Reminder =
        serde_json::from_slice(&messages[0].1).unwrap();
    assert_eq!(reminder.kind, "checkin");
    assert!(
        reminder.verify("button-r", &key),
        "signed with the button's own key"
    );
    assert!(!reminder.verify("button-x", &key));
}

/// A webhook receiver's configuration.
fn hook_config(url: &str) -> WebhookConfig {
    WebhookConfig {
        url: url.to_string(),
        secret: SECRET.into(),
        teams: vec![],
    }
}

/// An outbox worker that sends to `hooks`.
fn webhook_outbox(
    store: &Store,
    clock: &ManualClock,
    hooks: &[WebhookConfig],
    worker: &str,
) -> Outbox {
    Outbox::new(store.clone(), Arc::new(clock.clone()), worker).with_sender(
        Channel::Webhook,
        Arc::new(WebhookSender::new(hooks).unwrap()),
    )
}

async fn an_emergency_is_handed_to_the_running_outbox_and_sent_once(store: Store, _url: String) {
    let (hook, url) = receiver(vec![]).await;
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let (service, outbox, resident) = setup(&store, &url, &clock).await;
    let mut service = service.with_outbox(outbox.handoff());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(outbox.run(shutdown.clone()));
    press(&store, &resident, 1, clock.now()).await;
    let alert = service.tick().await.unwrap().remove(0);
    tokio::time::timeout(std::time::Duration::from_secs(10), hook.arrived.notified())
        .await
        .expect("the webhook is called");
    shutdown.cancel();
    running.await.unwrap();
    // The clock never moved, so no poll could have claimed the row: it went out as it was
    // handed over, in its first and only attempt.
    let rows = store.list_notifications(alert.id).await.unwrap();
    assert_eq!(
        rows.iter()
            .map(|n| (n.status, n.attempts))
            .collect::<Vec<_>>(),
        [(NotificationStatus::Sent, 1)]
    );
    assert_eq!(hook.got.lock().unwrap().len(), 1);
    assert_eq!(hook.got.lock().unwrap()[0].2["event"], "created");
}

/// What the MQTT channel was asked to send: stream messages it was handed, and rows it had to
/// find (or number) in the stream itself.
#[derive(Default)]
struct Published {
    handed: std::sync::Mutex<Vec<mimamori_core::storage::StreamEntry>>,
    looked_up: std::sync::Mutex<Vec<i64>>,
}

/// The MQTT channel's numbering, recording how each row reached it.
struct RecordingPublisher {
    stream: mimamori_alerts::notify::stream::AlertStream,
    published: Arc<Published>,
}

impl mimamori_alerts::notify::Sender for RecordingPublisher {
    fn send<'a>(
        &'a self,
        n: &'a Notification,
        _alert: &'a Alert,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<(), mimamori_alerts::notify::SendError>> + Send + 'a>,
    > {
        Box::pin(async move {
            self.stream.message_for(n).await.unwrap();
            self.published.looked_up.lock().unwrap().push(n.id);
            Ok(())
        })
    }

    fn send_numbered<'a>(
        &'a self,
        _n: &'a Notification,
        _alert: &'a Alert,
        entry: mimamori_core::storage::StreamEntry,
    ) -> std::pin::Pin<
        Box<dyn Future<Output = Result<(), mimamori_alerts::notify::SendError>> + Send + 'a>,
    > {
        self.published.handed.lock().unwrap().push(entry);
        Box::pin(async { Ok(()) })
    }

    fn stream(&self) -> Option<mimamori_core::storage::StreamMaker> {
        Some(self.stream.maker())
    }
}

/// The alert's message on MQTT is numbered and signed in the alert's own transaction; handed
/// over with its row, it is published as committed, with no read of the stream in between
/// (a round trip to PostgreSQL on every alert's way out). A row that is not handed over — here
/// the second press's, sent by a worker of another process once the lease ran out — is found in
/// the stream as before.
async fn a_handed_alert_message_goes_out_as_its_transaction_numbered_it(
    store: Store,
    _url: String,
) {
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let resident = home::resident_with_button(&store, clock.now()).await;
    let published = Arc::new(Published::default());
    let outbox = |worker: &str| {
        let store = store.clone();
        let clock = clock.clone();
        let published = published.clone();
        let worker = worker.to_string();
        async move {
            let stream = mimamori_alerts::notify::stream::AlertStream::from_store(
                store.clone(),
                Arc::new(clock.clone()),
            )
            .await
            .unwrap();
            Outbox::new(store, Arc::new(clock), &worker).with_sender(
                Channel::Mqtt,
                Arc::new(RecordingPublisher { stream, published }),
            )
        }
    };
    let first = outbox("worker-1").await;
    let targets = Targets {
        mqtt_alerts: true,
        ..Default::default()
    };
    let mut service = service(&store, &clock, targets)
        .await
        .with_outbox(first.handoff());
    press(&store, &resident, 1, clock.now()).await;
    let alert = service.tick().await.unwrap().remove(0);
    assert!(matches!(first.step().await.unwrap(), Some(Step::Sent(_))));
    let handed = published.handed.lock().unwrap().clone();
    assert_eq!(handed.len(), 1);
    let stored = store
        .alert_stream_entry(handed[0].notification)
        .await
        .unwrap()
        .expect("in the stream");
    assert_eq!(handed[0], stored, "published byte for byte as committed");
    assert_eq!(stored.alert, alert.id);
    assert!(published.looked_up.lock().unwrap().is_empty());

    // The second press's row, handed to a worker that died: another process sends it once the
    // lease has run out, from the stream.
    let dead = outbox("worker-1").await;
    let mut service = service.with_outbox(dead.handoff());
    clock.advance(Duration::seconds(2));
    press(&store, &resident, 2, clock.now()).await;
    service.tick().await.unwrap();
    clock.advance(dead.lease + Duration::seconds(1));
    let other = outbox("worker-2").await;
    assert!(matches!(drain(&other).await[..], [Step::Sent(_)]));
    let looked_up = published.looked_up.lock().unwrap().clone();
    assert_eq!(looked_up.len(), 1);
    let second = store
        .alert_stream_entry(looked_up[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.seq, stored.seq + 1);
    assert_eq!(published.handed.lock().unwrap().len(), 1);
}

async fn a_handed_over_notification_is_sent_once_when_its_worker_dies(store: Store, _url: String) {
    let (hook, url) = receiver(vec![]).await;
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let (service, outbox, resident) = setup(&store, &url, &clock).await;
    let mut service = service.with_outbox(outbox.handoff());
    press(&store, &resident, 1, clock.now()).await;
    let alert = service.tick().await.unwrap().remove(0);
    // Written claimed by worker-1 in the alert's own transaction: no other worker takes it…
    let rows = store.list_notifications(alert.id).await.unwrap();
    assert_eq!(
        (rows[0].status, rows[0].claimed_by.as_deref()),
        (NotificationStatus::Sending, Some("worker-1"))
    );
    let other = webhook_outbox(&store, &clock, &[hook_config(&url)], "worker-2");
    assert!(drain(&other).await.is_empty());
    // …until worker-1's lease runs out without it having sent (it hung or died).
    clock.advance(outbox.lease + Duration::seconds(1));
    assert!(matches!(drain(&other).await[..], [Step::Sent(_)]));
    // Worker-1 coming back to its queue finds the lease gone and leaves the row alone.
    let stopped = tokio_util::sync::CancellationToken::new();
    stopped.cancel();
    outbox.run(stopped).await;
    assert_eq!(hook.got.lock().unwrap().len(), 1, "sent once");
    let rows = store.list_notifications(alert.id).await.unwrap();
    assert_eq!(rows[0].status, NotificationStatus::Sent);
}

async fn a_stopping_worker_gives_back_what_it_had_not_sent(store: Store, _url: String) {
    let (hook, url) = receiver(vec![]).await;
    let clock = ManualClock::new(jst("2026-12-01T09:00:00"));
    let resident = home::resident_with_button(&store, clock.now()).await;
    // Two receivers (the same one at two addresses): two rows handed over for the one alert.
    let hooks = [hook_config(&url), hook_config(&format!("{url}?copy=2"))];
    let targets = Targets {
        webhooks: hooks.to_vec(),
        ..Default::default()
    };
    let outbox = webhook_outbox(&store, &clock, &hooks, "worker-1");
    let mut service = service(&store, &clock, targets)
        .await
        .with_outbox(outbox.handoff());
    press(&store, &resident, 1, clock.now()).await;
    let alert = service.tick().await.unwrap().remove(0);
    // The process is stopping: the worker finishes the send it has begun and gives the other back.
    let stopping = tokio_util::sync::CancellationToken::new();
    stopping.cancel();
    outbox.run(stopping).await;
    assert_eq!(hook.got.lock().unwrap().len(), 1);
    // The next process sends it at once, not when worker-1's lease would have ended.
    let next = webhook_outbox(&store, &clock, &hooks, "worker-2");
    assert!(matches!(drain(&next).await[..], [Step::Sent(_)]));
    assert_eq!(hook.got.lock().unwrap().len(), 2);
    let rows = store.list_notifications(alert.id).await.unwrap();
    assert_eq!(
        rows.iter()
            .map(|n| (n.status, n.attempts))
            .collect::<Vec<_>>(),
        [(NotificationStatus::Sent, 1), (NotificationStatus::Sent, 1)],
        "each sent once, in one attempt"
    );
}

/// The alert service alone on `clock`, with the default routing and escalation chains: these
/// cases test it and the outbox as units, each against a scripted receiver.
async fn service(store: &Store, clock: &ManualClock, targets: Targets) -> AlertService {
    AlertService::start(
        store.clone(),
        chrono_tz::Asia::Tokyo,
        EngineSettings::default(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap()
    .with_delivery(
        mimamori_alerts::route::Routing::default(),
        mimamori_alerts::route::Escalation::default(),
        targets,
    )
}

/// Sends everything due now.
async fn drain(outbox: &Outbox) -> Vec<Step> {
    let mut steps = Vec::new();
    while let Some(s) = outbox.send_next().await.unwrap() {
        steps.push(s);
    }
    steps
}

mimamori_testkit::main!();
