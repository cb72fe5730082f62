//! What the alert service's tests share: a watched resident with a call button, a press of it,
//! the service with the default routing and chains, draining the outbox, and the personal data
//! that must never show in what is sent.
#![allow(dead_code)] // each test file uses its own part

use chrono::{DateTime, Utc};
use mimamori_alerts::notify::{Outbox, Step, Targets};
use mimamori_alerts::route::{Escalation, Routing};
use mimamori_alerts::{AlertService, EngineSettings};
use mimamori_core::clock::ManualClock;
use mimamori_core::domain::*;
use mimamori_core::storage::{AlertFilter, Store};
use std::sync::Arc;

/// A time in the city (JST), e.g. `2026-12-01T10:00:00`.
pub fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
        .unwrap()
        .with_timezone(&Utc)
}

/// A device of `resident` with a week-long heartbeat (these tests are about the person, not
/// device health) and message key `mac_key`.
pub async fn device(
    store: &Store,
    id: &str,
    resident: &ResidentId,
    kind: DeviceKind,
    mac_key: &str,
    at: DateTime<Utc>,
) {
    store
        .add_device(
            &NewDevice {
                id: DeviceId::parse(id).unwrap(),
                resident: Some(resident.clone()),
                kind,
                label: None,
                external_id: None,
                heartbeat_interval_s: 7 * 24 * 3600,
                secret_hash: "x".into(),
                mac_key: mac_key.into(),
            },
            at,
        )
        .await
        .unwrap();
}

/// A responder of `team`, with an email address and a linked Telegram chat when given.
pub async fn responder(
    store: &Store,
    id: &str,
    team: &str,
    name: &str,
    email: Option<&str>,
    chat: Option<i64>,
) {
    store
        .add_responder(
            &NewResponder {
                id: ResponderId::parse(id).unwrap(),
                team: TeamId::parse(team).unwrap(),
                name: name.into(),
                email: email.map(|e| Email::parse(e).unwrap()),
                telegram_chat_id: chat,
                office_hours: None,
            },
            mimamori_core::testing::t0(),
        )
        .await
        .unwrap();
}

/// How messages are rendered: links under `public_url`, Fujisawa's districts, city time.
pub fn context(public_url: &str) -> mimamori_alerts::notify::message::Context {
    mimamori_alerts::notify::message::Context::new(
        public_url,
        &mimamori_core::registry::Registry::fujisawa(),
        chrono_tz::Asia::Tokyo,
    )
}

/// The alerts of one kind (the operators' delivery failures: `AlertKind::DeliveryFailed`).
pub async fn alerts_of(store: &Store, kind: AlertKind) -> Vec<Alert> {
    store
        .list_alerts(&AlertFilter {
            kind: Some(kind),
            ..Default::default()
        })
        .await
        .unwrap()
}

/// 藤沢 花子 (born 1940, 鵠沼; a consenting contact 一郎; a health note) with call button
/// `button-e`.
pub async fn resident_with_button(store: &Store, at: DateTime<Utc>) -> ResidentId {
    let r = mimamori_core::testing::new_resident("r-elder");
    store.add_resident(&r, &Actor::system(), at).await.unwrap();
    device(store, "button-e", &r.id, DeviceKind::CallButton, "k", at).await;
    r.id
}

/// The button's press number `seq`, as the gateway stores it.
pub async fn press(store: &Store, resident: &ResidentId, seq: i64, at: DateTime<Utc>) {
    store
        .insert_signal(&NewSignal {
            source: SignalSource::Device(DeviceId::parse("button-e").unwrap()),
            dedup_key: Some(format!("seq:{seq}")),
            subject: Some(Subject::Resident(resident.clone())),
            kind: SignalKind::Emergency,
            body: serde_json::json!({ "type": "emergency" }),
            device_time: None,
            received_at: at,
            clock_skewed: false,
        })
        .await
        .unwrap();
}

/// The alert service on `clock`, with the default routing and escalation chains.
pub async fn service(store: &Store, clock: &ManualClock, targets: Targets) -> AlertService {
    AlertService::start(
        store.clone(),
        chrono_tz::Asia::Tokyo,
        EngineSettings::default(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap()
    .with_delivery(Routing::default(), Escalation::default(), targets)
}

/// Sends everything due now.
pub async fn drain(outbox: &Outbox) -> Vec<Step> {
    let mut steps = Vec::new();
    while let Some(s) = outbox.send_next().await.unwrap() {
        steps.push(s);
    }
    steps
}

/// Fails if `text` shows any of the resident's personal data. The phone number is matched whole:
/// ack links carry random hex, where a bare area code such as "0466" turns up by chance.
pub fn no_personal_data(text: &str) {
    for private in [
        "藤沢 花子",
        "フジサワ",
        "鵠沼海岸",
        "二丁目",
        "糖尿病",
        "0466-00-0000",
        "一郎",
        "長男",
    ] {
        assert!(!text.contains(private), "{private:?} in {text}");
    }
}
