//! Simulated households for `mimamori simulate` and the demo of `mimamori up --demo`: residents
//! (no real person) with a call button, a door sensor, a motion sensor and a smart plug each,
//! given fresh secrets at every run. The demo's and `simulate`'s are different households
//! ([`Fleet`]): `simulate` run beside a running demo re-keys only its own devices, never the
//! demo's (a new secret would drop the demo's devices from the broker).

use crate::Failure;
use mimamori_core::domain::*;
use mimamori_core::registry::Registry;
use mimamori_core::secret::{device_mac_key, device_secret_hash, generate_device_password};
use mimamori_core::storage::{StorageError, Store};
use mimamori_devices::simulate::Household;

/// Devices of one simulated home.
const KINDS: [(DeviceKind, &str); 4] = [
    (DeviceKind::CallButton, "button"),
    (DeviceKind::Door, "door"),
    (DeviceKind::Motion, "motion"),
    (DeviceKind::Power, "plug"),
];

/// Whose simulated households: their ids and names.
#[derive(Debug, Clone, Copy)]
pub struct Fleet {
    /// Devices are `{prefix}-NNNNN-{kind}`, residents `r-{prefix}-NNNNN`.
    prefix: &'static str,
    /// Residents are named `{name} N`.
    name: &'static str,
}

impl Fleet {
    /// The homes of `mimamori up --demo`: `r-sim-NNNNN`, `sim-NNNNN-button`, ….
    pub const DEMO: Fleet = Fleet {
        prefix: "sim",
        name: "シミュレーション",
    };
    /// The homes of `mimamori simulate`: `r-load-NNNNN`, `load-NNNNN-button`, …
    pub const SIMULATE: Fleet = Fleet {
        prefix: "load",
        name: "負荷シミュレーション",
    };
}

/// Creates (or re-keys) `count` simulated households of `fleet` spread over the districts.
/// Re-keying touches only `fleet`'s own devices.
pub async fn provision(
    store: &Store,
    registry: &Registry,
    fleet: Fleet,
    count: usize,
) -> Result<Vec<Household>, Failure> {
    let now = chrono::Utc::now();
    let actor = Actor("simulate".into());
    let mut households = Vec::with_capacity(count);
    for n in 1..=count {
        let district = district_of(registry, n);
        let resident = ResidentId::parse(format!("r-{}-{n:05}", fleet.prefix))
            .map_err(|e| Failure::Other(e.into()))?;
        let address = registry.sample_address(&district.id).unwrap_or(Address {
            town: district.name.clone(),
            chome: None,
            banchi: None,
            building: None,
        });
        let new = NewResident {
            id: resident.clone(),
            name: format!("{} {n}", fleet.name),
            name_kana: None,
            birth_year: BirthYear::parse(1935 + (n % 20) as i32, now)
                .map_err(|e| Failure::Other(e.into()))?,
            district: district.id.clone(),
            address,
            living: LivingSituation::Alone,
            phone: None,
            contacts: Vec::new(),
            policies: vec![
                CheckinPolicy::Inactivity {
                    max_silence_minutes: 12 * 60,
                    active_from: chrono::NaiveTime::from_hms_opt(7, 0, 0).expect("valid time"),
                    active_to: chrono::NaiveTime::from_hms_opt(22, 0, 0).expect("valid time"),
                },
                CheckinPolicy::DailyWindow {
                    from: chrono::NaiveTime::from_hms_opt(6, 0, 0).expect("valid time"),
                    to: chrono::NaiveTime::from_hms_opt(10, 0, 0).expect("valid time"),
                },
            ],
            notes: None,
        };
        match store.add_resident(&new, &actor, now).await {
            Ok(_) | Err(StorageError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let mut devices = Vec::new();
        for (kind, suffix) in KINDS {
            let id = DeviceId::parse(format!("{}-{n:05}-{suffix}", fleet.prefix))
                .map_err(|e| Failure::Other(e.into()))?;
            let password = generate_device_password();
            let hash = device_secret_hash(&password);
            let mac_key = device_mac_key(&password);
            if store.get_device(&id).await?.is_some() {
                store
                    .update_device_secret(&id, &hash, &mac_key, now)
                    .await?;
            } else {
                let device = NewDevice {
                    id: id.clone(),
                    resident: Some(resident.clone()),
                    kind,
                    label: Some("simulated".into()),
                    external_id: None,
                    heartbeat_interval_s: 300,
                    secret_hash: hash,
                    mac_key,
                };
                store.add_device(&device, now).await?;
            }
            devices.push((kind, id, password));
        }
        households.push(Household { devices });
    }
    Ok(households)
}

/// The district of the demo's `n`th home (from 1): one after another through the city.
fn district_of(registry: &Registry, n: usize) -> &mimamori_core::domain::District {
    &registry.districts[(n - 1) % registry.districts.len()]
}

/// A responder with an email address in each team the first `count` simulated homes are routed
/// to (their district's 包括 and CSW), so that the demo's alerts are emailed; kept when run again.
/// Returns a fresh dashboard token of the demo's city-wide responder (バックアップふじさわ, who
/// sees every district, and is an admin: the admin pages are in the demo's menu), to sign in
/// with.
pub async fn demo_responders(
    store: &Store,
    registry: &Registry,
    count: usize,
) -> Result<String, Failure> {
    use mimamori_core::domain::{Email, NewResponder, ResponderId, TeamKind};
    let now = chrono::Utc::now();
    for n in 1..=count {
        let district = &district_of(registry, n).id;
        for kind in [TeamKind::Houkatsu, TeamKind::Csw] {
            let team = Registry::default_team_id(kind, Some(district));
            let responder = NewResponder {
                id: ResponderId::parse(format!("p-demo-{team}"))
                    .map_err(|e| Failure::Other(e.into()))?,
                team: team.clone(),
                name: "デモ担当".into(),
                email: Some(
                    Email::parse(format!("demo-{team}@example.invalid"))
                        .map_err(|e| Failure::Other(e.into()))?,
                ),
                telegram_chat_id: None,
                office_hours: None,
            };
            add_demo_responder(store, &responder, now).await?;
        }
    }
    let coordinator = NewResponder {
        id: ResponderId::parse("p-demo-coordinator").map_err(|e| Failure::Other(e.into()))?,
        team: Registry::default_team_id(TeamKind::Coordinator, None),
        name: "デモ担当（バックアップふじさわ）".into(),
        email: None,
        telegram_chat_id: None,
        office_hours: None,
    };
    add_demo_responder(store, &coordinator, now).await?;
    store
        .set_responder_role(&coordinator.id, mimamori_core::domain::Role::Admin)
        .await
        .map_err(|e| Failure::Other(e.into()))?;
    let token = format!("mmr_{}", mimamori_core::secret::generate(33));
    store
        .add_responder_token(
            &coordinator.id,
            &mimamori_core::secret::token_hash(&token),
            now,
        )
        .await
        .map_err(|e| Failure::Other(e.into()))?;
    Ok(token)
}

/// The demo's partner under a watch-over agreement (デモ郵便局), with a fresh token for the report
/// form and the API each run; `true` when this run registered it (its reports are sent once, at
/// the demo's first start, not again at every restart).
pub async fn demo_partner(store: &Store) -> Result<(String, bool), Failure> {
    use mimamori_core::domain::{NewPartner, PartnerId, PartnerKind};
    let now = chrono::Utc::now();
    let token = mimamori_core::secret::generate_partner_token();
    let hash = mimamori_core::secret::token_hash(&token);
    let partner = NewPartner {
        id: PartnerId::parse("pt-demo").map_err(|e| Failure::Other(e.into()))?,
        name: "デモ郵便局".into(),
        kind: PartnerKind::Post,
        agreement: Some("デモ用の見守り協定".into()),
    };
    match store.add_partner(&partner, &hash, now).await {
        Ok(_) => Ok((token, true)),
        Err(mimamori_core::storage::StorageError::Conflict(_)) => {
            store
                .add_partner_token(&partner.id, &hash, now)
                .await
                .map_err(|e| Failure::Other(e.into()))?;
            Ok((token, false))
        }
        Err(e) => Err(Failure::Other(e.into())),
    }
}

/// What the demo's partner reports at its first start: newspapers piling up at the second simulated home
/// (linked to its resident, for that district's CSW) and a place no address names (for the
/// coordinator's triage queue).
pub fn demo_concerns(registry: &Registry) -> Vec<mimamori_gateway::concern::ConcernReport> {
    use mimamori_gateway::concern::ConcernReport;
    let mut reports = Vec::new();
    if let Some(home) = registry.sample_address(&district_of(registry, 2).id) {
        reports.push(ConcernReport {
            address: home.to_string(),
            seen: vec!["newspapers".into(), "not_seen".into()],
            note: Some("新聞が3日分たまっています（デモ）".into()),
            reporter: Some("デモ郵便局 配達担当".into()),
            ..Default::default()
        });
    }
    reports.push(ConcernReport {
        address: "駅前の青い屋根の家".into(),
        seen: vec!["lights".into()],
        note: Some("昼も夜も電気がついています（デモ）".into()),
        ..Default::default()
    });
    reports
}

/// Adds a demo responder unless an earlier demo run did.
async fn add_demo_responder(
    store: &Store,
    responder: &mimamori_core::domain::NewResponder,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Failure> {
    match store.add_responder(responder, now).await {
        Ok(_) | Err(mimamori_core::storage::StorageError::Conflict(_)) => Ok(()),
        Err(e) => Err(Failure::Other(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mimamori simulate` beside a running demo: its homes are its own, and the demo's devices
    /// keep their secrets (a new one would drop them from the broker).
    #[tokio::test]
    async fn simulate_never_rekeys_the_demos_devices() {
        let t = mimamori_core::testing::TestStore::sqlite().await;
        let registry = Registry::fujisawa();
        let demo = provision(&t.store, &registry, Fleet::DEMO, 2)
            .await
            .unwrap();
        let button = DeviceId::parse("sim-00001-button").unwrap();
        let before = t.store.get_device(&button).await.unwrap().unwrap();
        let head = t.store.login_revocations_head().await.unwrap();

        let load = provision(&t.store, &registry, Fleet::SIMULATE, 3)
            .await
            .unwrap();
        let after = t.store.get_device(&button).await.unwrap().unwrap();
        assert_eq!(
            after.secret_hash, before.secret_hash,
            "the demo's secret kept"
        );
        assert!(
            t.store
                .login_revocations_after(head, 100)
                .await
                .unwrap()
                .is_empty(),
            "no demo device dropped"
        );
        let ids = |homes: &[Household]| -> Vec<String> {
            homes
                .iter()
                .flat_map(|h| h.devices.iter().map(|(_, id, _)| id.to_string()))
                .collect()
        };
        assert!(ids(&demo).iter().all(|id| id.starts_with("sim-")));
        assert!(ids(&load).iter().all(|id| id.starts_with("load-")));
        assert_eq!(t.store.list_devices(None).await.unwrap().len(), 4 * (2 + 3));
        t.finish().await;
    }
}
