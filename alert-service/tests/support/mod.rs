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
use mimamori_core::storage::Store;
use std::sync::Arc;

/// A time in the city (JST), e.g. `2026-12-01T10:00:00`.
pub fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00"))
        .unwrap()
        .with_timezone(&Utc)
}

/// 藤沢 花子 (born 1940, 鵠沼; a consenting contact 一郎; a health note) with call button
/// `button-e`.
pub async fn resident_with_button(store: &Store, at: DateTime<Utc>) -> ResidentId {
    let r = mimamori_core::testing::new_resident("r-elder");
    store.add_resident(&r, &Actor::system(), at).await.unwrap();
    store
        .add_device(
            &NewDevice {
                id: DeviceId::parse("button-e").unwrap(),
                resident: Some(r.id.clone()),
                kind: DeviceKind::CallButton,
                label: None,
                external_id: None,
                heartbeat_interval_s: 7 * 24 * 3600,
                secret_hash: "x".into(),
                mac_key: "k".into(),
            },
            at,
        )
        .await
        .unwrap();
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

/// Fails if `text` shows any of the resident's personal data.
pub fn no_personal_data(text: &str) {
    for private in [
        "藤沢 花子",
        "フジサワ",
        "鵠沼海岸",
        "二丁目",
        "糖尿病",
        "0466",
        "一郎",
        "長男",
    ] {
        assert!(!text.contains(private), "{private:?} in {text}");
    }
}
