//! The home the stories are about: 藤沢 花子 with a call button, its devices, and presses of it
//! stored as the gateway stores them.

use chrono::{DateTime, Utc};
use mimamori_core::domain::*;
use mimamori_core::storage::Store;

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
    press_on(store, "button-e", resident, seq, at).await;
}

/// Press number `seq` of the call button `device` of `resident`, as the gateway stores it.
pub async fn press_on(
    store: &Store,
    device: &str,
    resident: &ResidentId,
    seq: i64,
    at: DateTime<Utc>,
) {
    try_press_on(store, device, resident, seq, at)
        .await
        .unwrap();
}

/// As [`press_on`], failing as the store fails (down, full): the device sends it again later.
pub async fn try_press_on(
    store: &Store,
    device: &str,
    resident: &ResidentId,
    seq: i64,
    at: DateTime<Utc>,
) -> Result<(), mimamori_core::storage::StorageError> {
    store
        .insert_signal(&NewSignal {
            source: SignalSource::Device(DeviceId::parse(device).unwrap()),
            dedup_key: Some(format!("seq:{seq}")),
            subject: Some(Subject::Resident(resident.clone())),
            kind: SignalKind::Emergency,
            body: serde_json::json!({ "type": "emergency" }),
            device_time: None,
            received_at: at,
            clock_skewed: false,
        })
        .await
        .map(|_| ())
}
