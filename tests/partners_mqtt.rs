//! Partners' systems report over MQTT (docs/PARTNERS.md): a real MQTT client publishes the body of
//! `POST /api/v1/concerns` on `mimamori/v1/partners/{id}/concerns` and reads its answers on
//! `…/receipts`, through a real broker into the gateway, the concern intake and the alert service.
//!
//! Each story runs on both brokers. The partner logs in as itself (username = partner id, password
//! = its API token); its topic rights are the embedded broker's, or on Mosquitto the ACL that
//! `mimamori admin mosquitto-acl` prints (docs/SECURITY.md). The gateway trusts the topic, which
//! is what the broker guarantees.

use chrono::{DateTime, Duration, Utc};
use mimamori_core::clock::ManualClock;
use mimamori_core::domain::*;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::Store;
use mimamori_core::testing::t0;
use mimamori_core::topic;
use mimamori_gateway::concern::PartnerReceipt;
use mimamori_gateway::{DropReason, IngestEvent};
use mimamori_testapp::platform::{
    self, BrokerKind, PartnerCreds, Platform, provision_partner, wait_for,
};
use mimamori_testapp::{Options, spawn_app};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::mpsc;

const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

mimamori_testapp::on_both_brokers!(
    a_report_over_mqtt_is_the_same_concern_and_alert_as_over_http,
    a_resend_gets_the_same_reference_and_another_partners_report_id_is_its_own,
    a_bad_report_gets_an_error_receipt_and_nothing_is_stored,
    hostile_reports_are_refused_and_the_gateway_carries_on,
);

/// What the gateway asks of a partner id, on SQLite and PostgreSQL.
mod databases {
    use mimamori_core::domain::PartnerId;
    use mimamori_core::on_both_backends;
    use mimamori_core::secret::token_hash;
    use mimamori_core::storage::{PartnerAccess, Store};
    on_both_backends!(a_partner_may_send_while_it_holds_a_token_not_revoked);

    async fn a_partner_may_send_while_it_holds_a_token_not_revoked(store: Store, _: String) {
        let post = mimamori_testapp::platform::provision_partner(&store, "pt-post").await;
        let access = |id: &str| {
            let store = store.clone();
            let id = PartnerId::parse(id).unwrap();
            async move { store.partner_access(&id).await.unwrap() }
        };
        assert_eq!(access("pt-post").await, PartnerAccess::Enabled);
        assert_eq!(access("pt-nobody").await, PartnerAccess::Unknown);
        let now = chrono::Utc::now();
        store
            .add_partner_token(&post.id, &token_hash("second"), now)
            .await
            .unwrap();
        store
            .revoke_partner_token(&token_hash(&post.token), now)
            .await
            .unwrap();
        assert_eq!(access("pt-post").await, PartnerAccess::Enabled, "one left");
        store
            .revoke_partner_token(&token_hash("second"), now)
            .await
            .unwrap();
        assert_eq!(access("pt-post").await, PartnerAccess::Disabled);
    }
}

/// 10:00 on 2026-12-01 in the city.
fn now() -> DateTime<Utc> {
    t0() + Duration::hours(1)
}

/// The broker and the gateway (on `clock`), with the post office and the co-op registered.
struct Stage {
    p: Platform,
    post: PartnerCreds,
    coop: PartnerCreds,
}

async fn stage(store: Store, kind: BrokerKind, clock: &ManualClock) -> Stage {
    let post = provision_partner(&store, "pt-post").await;
    let coop = provision_partner(&store, "pt-coop").await;
    let probe = platform::provision(&store, "probe", DeviceKind::Hub, false, None).await;
    let devices = vec![probe.clone()];
    let mut p =
        Platform::start_with_partners(store, kind, &devices, &[post.clone(), coop.clone()], false)
            .await;
    p.use_clock(Arc::new(clock.clone()));
    p.start_gateway();
    let probe = p.device(&probe);
    assert!(probe.wait_connected(WAIT).await);
    p.wait_gateway_ready(&probe).await;
    Stage { p, post, coop }
}

/// A partner's system: a real MQTT client publishing the partner's concerns and reading its
/// receipts.
struct PartnerSystem {
    client: AsyncClient,
    concerns: String,
    receipts: mpsc::UnboundedReceiver<PartnerReceipt>,
}

impl PartnerSystem {
    /// Connects as `partner` with its id and API token and
    /// subscribes to its receipts.
    async fn connect(s: &Stage, kind: BrokerKind, partner: &PartnerCreds) -> Self {
        // Both brokers log the partner in with its id and API token.
        let _ = kind;
        let (user, password) = (partner.id.to_string(), partner.token.clone());
        let mut options = MqttOptions::new(&user, s.p.addr.ip().to_string(), s.p.addr.port());
        options
            .set_credentials(&user, &password)
            .set_max_packet_size(64 * 1024, 64 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        client
            .subscribe(topic::partner_receipts(&partner.id), QoS::AtLeastOnce)
            .await
            .unwrap();
        loop {
            match tokio::time::timeout(WAIT, eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
                Ok(Ok(_)) => {}
                other => panic!("{user} could not subscribe: {other:?}"),
            }
        }
        let (to_test, receipts) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let receipt = serde_json::from_slice(&p.payload).expect("a receipt");
                        if to_test.send(receipt).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Self {
            client,
            concerns: topic::partner_concerns(&partner.id),
            receipts,
        }
    }

    async fn publish(&self, payload: impl Into<Vec<u8>>) {
        self.publish_on(&self.concerns.clone(), payload).await;
    }

    async fn publish_on(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .unwrap();
    }

    async fn receipt(&mut self) -> PartnerReceipt {
        tokio::time::timeout(WAIT, self.receipts.recv())
            .await
            .expect("a receipt in time")
            .expect("the client is connected")
    }

    /// Publishes `report` and returns its receipt.
    async fn report(&mut self, report: &Value) -> PartnerReceipt {
        self.publish(report.to_string()).await;
        self.receipt().await
    }
}

async fn concerns(store: &Store) -> Vec<Signal> {
    store
        .signals_after(SignalId(0), 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.kind == SignalKind::Concern)
        .collect()
}

async fn security_actions(store: &Store, partner: &str) -> Vec<String> {
    store
        .list_audit("security", Some(partner), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

fn report(report_id: &str) -> Value {
    json!({
        "report_id": report_id,
        "address": "藤沢市鵠沼海岸三丁目1-1",
        "seen": ["mail", "newspapers"],
        "note": "郵便受けに3日分たまっています",
        "reporter": "配達担当 山田",
    })
}

/// The post office's system publishes a report; its receipt names the reference; the alert
/// service raises the district CSW's concern alert from it. The same report through the HTTP
/// API is the same signal but for how it came, and joins the same alert.
async fn a_report_over_mqtt_is_the_same_concern_and_alert_as_over_http(
    store: Store,
    kind: BrokerKind,
) {
    let mut w = spawn_app(store.clone(), Options::at(now())).await;
    let s = stage(store, kind, &w.clock).await;
    let mut system = PartnerSystem::connect(&s, kind, &s.post).await;

    let receipt = system.report(&report("mqtt-1")).await;
    assert_eq!(receipt.status, "accepted", "{receipt:?}");
    assert_eq!(receipt.report_id.as_deref(), Some("mqtt-1"));
    assert_eq!(receipt.error, None);
    let reference = receipt.reference.clone().unwrap();

    let alerts = w.tick().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert.kind, AlertKind::Concern);
    assert_eq!(alert.severity, Severity::Normal);
    assert_eq!(
        alert.district,
        Some(mimamori_core::testing::district("kugenuma"))
    );
    assert_eq!(
        alert.team.as_ref().map(|t| t.as_str()),
        Some("csw-kugenuma")
    );
    assert_eq!(alert.subject, Subject::Address("鵠沼海岸3丁目1-1".into()));
    assert_eq!(alert.detail["source"], "partner:pt-post");
    assert_eq!(alert.detail["seen"], json!(["mail", "newspapers"]));

    let answer = w
        .http
        .post(format!("{}/api/v1/concerns", w.base))
        .bearer_auth(&s.post.token)
        .header("content-type", "application/json")
        .body(report("http-1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::CREATED);
    let answer: Value = answer.json().await.unwrap();
    assert_ne!(answer["reference"], reference.as_str());
    w.tick().await;
    assert_eq!(
        w.alert(alert.id).await.evidence_count,
        2,
        "the HTTP report joins the alert"
    );

    let stored = concerns(&s.p.store).await;
    assert_eq!(stored.len(), 2);
    let (mqtt, http) = (&stored[0], &stored[1]);
    assert_eq!(reference, format!("C-{}", mqtt.id.0));
    assert_eq!(
        (mqtt.body["via"].as_str(), http.body["via"].as_str()),
        (Some("mqtt"), Some("api"))
    );
    let without_via = |s: &Signal| {
        let mut body = s.body.clone();
        body.as_object_mut().unwrap().remove("via");
        (s.source.clone(), s.subject.clone(), s.kind, body)
    };
    assert_eq!(without_via(mqtt), without_via(http), "the same concern");
    assert_eq!(mqtt.dedup_key.as_deref(), Some("mqtt-1"));
    s.p.finish().await;
}

/// A partner's system resends after a timeout: the same reference, marked a duplicate, nothing
/// new stored. Another partner's report with the same report_id is its own report.
async fn a_resend_gets_the_same_reference_and_another_partners_report_id_is_its_own(
    store: Store,
    kind: BrokerKind,
) {
    let clock = ManualClock::new(now());
    let s = stage(store, kind, &clock).await;
    let mut post = PartnerSystem::connect(&s, kind, &s.post).await;
    let mut events = s.p.events();
    let first = post.report(&report("r-1")).await;
    let again = post.report(&report("r-1")).await;
    assert_eq!(first.status, "accepted");
    assert_eq!(again.status, "duplicate");
    assert_eq!(again.reference, first.reference);
    assert!(
        wait_for(&mut events, WAIT, |e| matches!(
            e,
            IngestEvent::Duplicate { .. }
        ))
        .await
        .is_some()
    );
    assert_eq!(concerns(&s.p.store).await.len(), 1);

    let mut coop = PartnerSystem::connect(&s, kind, &s.coop).await;
    let theirs = coop.report(&report("r-1")).await;
    assert_eq!(theirs.status, "accepted");
    assert_ne!(theirs.reference, first.reference);
    assert_eq!(concerns(&s.p.store).await.len(), 2);
    s.p.finish().await;
}

/// Mistakes a partner's system can make: each answered with a code, the field and what to fix
/// (Japanese first), nothing stored; once fixed, the same report_id is taken.
async fn a_bad_report_gets_an_error_receipt_and_nothing_is_stored(store: Store, kind: BrokerKind) {
    let clock = ManualClock::new(now());
    let s = stage(store, kind, &clock).await;
    let mut post = PartnerSystem::connect(&s, kind, &s.post).await;

    let mut no_seen = report("r-7");
    no_seen["seen"] = json!([]);
    let r = post.report(&no_seen).await;
    assert_eq!(
        (r.status.as_str(), r.report_id.as_deref()),
        ("refused", Some("r-7"))
    );
    let error = r.error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.field.as_deref()),
        ("invalid", Some("seen"))
    );
    assert!(
        error.message.starts_with("気づいたこと"),
        "{}",
        error.message
    );

    let mut no_id = report("x");
    no_id.as_object_mut().unwrap().remove("report_id");
    let error = post.report(&no_id).await.error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.field.as_deref()),
        ("invalid", Some("report_id"))
    );

    let mut typo = report("r-7");
    typo["adress"] = json!("鵠沼海岸3丁目1-1");
    let r = post.report(&typo).await;
    let error = r.error.unwrap();
    assert!(
        error.message.contains("adress"),
        "unknown fields are named: {}",
        error.message
    );
    assert_eq!(r.report_id.as_deref(), Some("r-7"));

    let mut in_the_future = report("r-7");
    in_the_future["observed_at"] = json!((now() + Duration::hours(2)).to_rfc3339());
    let error = post.report(&in_the_future).await.error.unwrap();
    assert_eq!(error.field.as_deref(), Some("observed_at"));

    assert!(concerns(&s.p.store).await.is_empty(), "nothing stored");
    let fixed = post.report(&report("r-7")).await;
    assert_eq!(fixed.status, "accepted", "{fixed:?}");
    assert_eq!(concerns(&s.p.store).await.len(), 1);
    assert_eq!(s.p.metrics().dropped(DropReason::InvalidReport), 4);
    assert!(
        security_actions(&s.p.store, "pt-post").await.is_empty(),
        "mistakes, not attacks"
    );
    s.p.finish().await;
}

/// What a hostile or broken sender may try: each refused, nothing stored, the attempts that are
/// security events recorded as such — and the gateway goes on taking good reports.
async fn hostile_reports_are_refused_and_the_gateway_carries_on(store: Store, kind: BrokerKind) {
    let clock = ManualClock::new(now());
    let s = stage(store, kind, &clock).await;
    let mut post = PartnerSystem::connect(&s, kind, &s.post).await;
    let mut coop = PartnerSystem::connect(&s, kind, &s.coop).await;

    for not_json in [&b"{not json"[..], b"[1,2]", b"\xff\xfe", b""] {
        post.publish(not_json).await;
        let r = post.receipt().await;
        assert_eq!(r.error.unwrap().code, "not_json", "{not_json:?}");
    }

    // A body that says it comes from the co-op.
    let mut claiming = report("r-1");
    claiming["partner"] = json!("pt-coop");
    let r = post.report(&claiming).await;
    assert_eq!(r.error.unwrap().code, "other_partner");
    assert_eq!(
        security_actions(&s.p.store, "pt-post").await,
        ["security.other_partner"]
    );

    // Both brokers: the embedded one by its topic rights, Mosquitto by the shipped ACL.
    // Over the reports' 16 KiB .
    let mut huge = report("r-2");
    huge["note"] = json!("あ".repeat(6_000));
    let r = post.report(&huge).await;
    assert_eq!(r.error.unwrap().code, "too_large");
    // The co-op's topic: both brokers' topic rights refuse it before the gateway sees it.
    post.publish_on(
        &topic::partner_concerns(&s.coop.id),
        report("r-3").to_string(),
    )
    .await;

    // The city revokes the post office's every token. On Mosquitto (which checks logins only at
    // connect), within the gateway's 30 s of caching its reports are refused, told so, and
    // recorded; the embedded broker drops its connection (broker/tests/embedded.rs).
    s.p.store
        .revoke_partner_token(&token_hash(&s.post.token), now())
        .await
        .unwrap();
    if kind == BrokerKind::Mosquitto {
        clock.advance(Duration::seconds(31));
        let r = post.report(&report("r-5")).await;
        assert_eq!(r.error.unwrap().code, "partner_disabled");
        assert!(
            security_actions(&s.p.store, "pt-post")
                .await
                .contains(&"security.disabled_partner".to_string())
        );
    }

    assert!(
        concerns(&s.p.store).await.is_empty(),
        "nothing of it stored"
    );
    let r = coop.report(&report("r-6")).await;
    assert_eq!(r.status, "accepted", "the gateway carries on: {r:?}");
    let stored = concerns(&s.p.store).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].source, SignalSource::Partner(s.coop.id.clone()));
    s.p.finish().await;
}

mimamori_testkit::main!();
