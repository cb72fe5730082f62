//! The alert stream's storage, on SQLite and on PostgreSQL with the same test bodies: the
//! integrations that read it (their logins) and, below, the stream itself.

use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::storage::{StorageError, Store};
use mimamori_core::testing::{district, t0};

on_both_backends!(integrations_log_in_by_secret_until_disabled_or_rotated,);

fn new_integration(id: &str, district: Option<DistrictId>, secret: &str) -> NewIntegration {
    NewIntegration {
        id: id.into(),
        name: "市ケース管理システム".into(),
        district,
        secret_hash: mimamori_core::secret::token_hash(secret),
    }
}

async fn integrations_log_in_by_secret_until_disabled_or_rotated(store: Store, _url: String) {
    let secret = Integration::generate_secret();
    let added = store
        .add_integration(
            &new_integration("int-casebook", Some(district("kugenuma")), &secret),
            t0(),
        )
        .await
        .unwrap();
    assert!(added.enabled);
    assert_eq!(added.district, Some(district("kugenuma")));
    assert_ne!(added.secret_hash, secret, "only the hash is kept");

    // The broker's two ways in: by id (username) then the secret, or by the secret.
    let by_id = store
        .get_integration("int-casebook")
        .await
        .unwrap()
        .unwrap();
    assert!(by_id.accepts(&secret));
    assert!(!by_id.accepts("mmi_wrong"));
    let by_token = store.integration_by_token(&secret).await.unwrap().unwrap();
    assert_eq!(by_token, by_id);
    assert_eq!(store.get_integration("int-nobody").await.unwrap(), None);
    assert_eq!(store.integration_by_token("mmi_wrong").await.unwrap(), None);

    // Ids are unique, secrets too, and a device's id is not an integration's.
    let again = store
        .add_integration(&new_integration("int-casebook", None, "other"), t0())
        .await;
    assert!(matches!(again, Err(StorageError::Conflict(_))), "{again:?}");
    let same_secret = store
        .add_integration(&new_integration("int-other", None, &secret), t0())
        .await;
    assert!(matches!(same_secret, Err(StorageError::Conflict(_))));
    store
        .add_device(
            &NewDevice {
                id: DeviceId::parse("button-9").unwrap(),
                resident: None,
                kind: DeviceKind::CallButton,
                label: None,
                external_id: None,
                heartbeat_interval_s: 300,
                secret_hash: "x".into(),
                mac_key: "k".into(),
            },
            t0(),
        )
        .await
        .unwrap();
    let as_device = store
        .add_integration(&new_integration("button-9", None, "third"), t0())
        .await;
    assert!(matches!(as_device, Err(StorageError::Conflict(_))));
    let unknown_district = store
        .add_integration(
            &new_integration("int-x", Some(district("atlantis")), "fourth"),
            t0(),
        )
        .await;
    assert!(matches!(unknown_district, Err(StorageError::Conflict(_))));

    // A city-wide one beside it; the list holds both, by id.
    let city_secret = Integration::generate_secret();
    store
        .add_integration(&new_integration("int-city", None, &city_secret), t0())
        .await
        .unwrap();
    let ids: Vec<String> = store
        .list_integrations()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["int-casebook", "int-city"]);

    // Rotation: the old secret stops working at once.
    let rotated = Integration::generate_secret();
    store
        .set_integration_secret("int-city", &mimamori_core::secret::token_hash(&rotated))
        .await
        .unwrap();
    let city = store.get_integration("int-city").await.unwrap().unwrap();
    assert!(city.accepts(&rotated) && !city.accepts(&city_secret));
    assert_eq!(
        store.integration_by_token(&city_secret).await.unwrap(),
        None
    );

    // Disabling: still found (so the caller can say why), no longer accepted.
    assert!(
        store
            .disable_integration("int-casebook", t0())
            .await
            .unwrap()
    );
    assert!(
        !store
            .disable_integration("int-casebook", t0())
            .await
            .unwrap()
    );
    let disabled = store.integration_by_token(&secret).await.unwrap().unwrap();
    assert!(!disabled.enabled && disabled.disabled_at == Some(t0()));
    assert!(!disabled.accepts(&secret));
    assert!(matches!(
        store.disable_integration("int-nobody", t0()).await,
        Err(StorageError::NotFound { .. })
    ));
    assert!(matches!(
        store.set_integration_secret("int-nobody", "h").await,
        Err(StorageError::NotFound { .. })
    ));
}

mimamori_testkit::main!();
