//! Every storage operation, run on SQLite and on PostgreSQL with the same test bodies. The
//! PostgreSQL cases run where a server answers (`MIMAMORI_TEST_POSTGRES_URL`, else
//! 127.0.0.1:5432) and are listed as ignored with the reason elsewhere.

use chrono::Duration;
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::storage::{
    AckResult, AlertFilter, Claim, ResolveResult, Routed, SignalCursor, SignalInsert, StorageError,
    Store,
};
use mimamori_core::testing::{district, new_resident, t0};

on_both_backends!(
    migrations_and_registry_seed_are_idempotent,
    a_store_upgraded_to_the_key_led_dedup_index_keeps_its_signals_stored_once,
    teams_and_responders,
    residents_are_audited_on_every_read,
    import_is_all_or_nothing,
    pauses,
    devices_keep_only_a_hash,
    partners_and_tokens,
    signals_are_stored_once_and_never_changed,
    a_batch_of_signals_is_stored_in_order_each_once,
    a_signal_comes_back_as_it_was_written_whatever_its_text_holds,
    duplicates_are_found_after_a_long_run_of_new_signals_and_new_ones_after_duplicates,
    signal_queries,
    alerts_dedup_lifecycle_and_timeline,
    racing_tasks_open_exactly_one_alert,
    evidence_racing_a_resolution_joins_an_open_alert_or_opens_a_new_one,
    the_database_itself_refuses_a_second_open_alert,
    alert_lists_filter_by_district_state_kind_and_triage,
    outbox_claims_retries_and_leases,
    racing_workers_send_each_notification_once,
    notifications_written_claimed_are_held_until_their_lease_ends,
    a_follower_by_id_sees_every_signal_written_concurrently,
    a_follower_in_another_process_is_woken_when_signals_are_stored,
    the_signal_writes_keep_a_connection_only_where_the_pool_can_spare_one,
    the_alert_paths_health_is_counted_from_the_store,
    escalation_steps_are_claimed_once_and_stop_at_acknowledgement,
    audit_log,
    a_responders_tokens_and_sessions_end_at_once,
);

mimamori_testkit::tests! {
    current_thread a_new_sqlite_file_has_small_pages_and_an_old_one_keeps_its_own;
    multi_thread a_connection_the_server_dropped_is_replaced_before_it_is_used: [Postgres];
}

/// The pool pings a PostgreSQL connection only once it has been idle a while (not before every
/// use, a round trip on each batch of signals), and the signal writes ping the connection they
/// keep the same way: one the server dropped meanwhile — a restart, an administrator, a proxy's
/// timeout — is found and replaced, and the next write goes through.
async fn a_connection_the_server_dropped_is_replaced_before_it_is_used() {
    use sqlx::Row;
    let t = mimamori_core::testing::TestStore::postgres().await;
    let store = t.store.clone();
    assert!(matches!(
        store.insert_signal(&emergency("dev-001", 1, t0())).await,
        Ok(SignalInsert::Stored(_))
    ));
    let admin = raw_pool(&t.url).await;
    let dropped: i64 = sqlx::query(
        "SELECT COUNT(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&admin)
    .await
    .unwrap()
    .try_get("n")
    .unwrap();
    assert!(dropped >= 1, "the store's pooled connection was dropped");
    admin.close().await;
    // Idle past the threshold, as every connection is after a failed write (tried again a
    // second later). The pool's idle time runs on the real clock.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let stored = store.insert_signal(&emergency("dev-001", 2, t0())).await;
    assert!(matches!(stored, Ok(SignalInsert::Stored(_))), "{stored:?}");
    t.finish().await;
}

fn cli() -> Actor {
    Actor("cli:test".into())
}

async fn raw_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.unwrap()
}

async fn migrations_and_registry_seed_are_idempotent(store: Store, _url: String) {
    store.migrate().await.unwrap();
    store
        .seed_registry(&mimamori_core::registry::Registry::fujisawa(), t0())
        .await
        .unwrap();
    let districts = store.list_districts().await.unwrap();
    assert_eq!(districts.len(), 13);
    assert_eq!(districts[0].name, "片瀬");
    assert_eq!(districts[12].name, "御所見");
    assert!(
        !districts
            .iter()
            .find(|d| d.id.as_str() == "muraoka")
            .unwrap()
            .confirmed
    );
    assert_eq!(store.list_teams(None).await.unwrap().len(), 28);
    store.ping().await.unwrap();
}

/// A store from before migration 14 (its signals' dedup index led by the source) upgraded: the
/// index is rebuilt led by the key, every signal is kept, and one stored before is still found
/// as a duplicate.
async fn a_store_upgraded_to_the_key_led_dedup_index_keeps_its_signals_stored_once(
    store: Store,
    url: String,
) {
    let before: Vec<_> = [("dev-001", 1), ("dev-001", 2), ("dev-002", 1)]
        .into_iter()
        .map(|(d, seq)| emergency(d, seq, t0()))
        .collect();
    let stored = store.insert_signals(&before).await.unwrap();
    // Back to the index as it was, and the migration not yet run.
    let raw = raw_pool(&url).await;
    for sql in [
        "DROP INDEX signals_dedup",
        "CREATE UNIQUE INDEX signals_dedup ON signals(source, dedup_key) WHERE dedup_key IS NOT NULL",
        "DELETE FROM _sqlx_migrations WHERE version = 14",
    ] {
        sqlx::query(sql).execute(&raw).await.unwrap();
    }
    store.migrate().await.unwrap();
    use sqlx::Row;
    let leading: String = if url.starts_with("sqlite") {
        sqlx::query("SELECT name FROM pragma_index_info('signals_dedup') WHERE seqno = 0")
            .fetch_one(&raw)
            .await
            .unwrap()
            .get("name")
    } else {
        sqlx::query(
            "SELECT a.attname::text AS name FROM pg_index i
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             WHERE i.indexrelid = 'signals_dedup'::regclass",
        )
        .fetch_one(&raw)
        .await
        .unwrap()
        .get("name")
    };
    assert_eq!(leading, "dedup_key");
    assert_eq!(
        store.signals_after(SignalId(0), 100).await.unwrap().len(),
        3
    );
    // Stored before the upgrade: a duplicate of the same id; the other device's same seq and
    // the next seq are new.
    let again = store
        .insert_signals(&[
            emergency("dev-001", 2, t0()),
            emergency("dev-002", 2, t0()),
            emergency("dev-003", 1, t0()),
        ])
        .await
        .unwrap();
    assert_eq!(again[0], SignalInsert::Duplicate(stored[1].id()));
    assert!(matches!(again[1], SignalInsert::Stored(_)));
    assert!(matches!(again[2], SignalInsert::Stored(_)));
}

async fn teams_and_responders(store: Store, _url: String) {
    let kugenuma = store.list_teams(Some(&district("kugenuma"))).await.unwrap();
    let kinds: Vec<_> = kugenuma.iter().map(|t| t.kind).collect();
    assert_eq!(kugenuma.len(), 4, "{kugenuma:?}");
    for k in TeamKind::ALL {
        assert!(kinds.contains(k));
    }

    let team = store
        .add_team(
            &NewTeam {
                id: TeamId::parse("kugenuma-night").unwrap(),
                kind: TeamKind::Houkatsu,
                district: Some(district("kugenuma")),
                name: "鵠沼 夜間".into(),
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(store.get_team(&team.id).await.unwrap(), team);
    let dup = store
        .add_team(
            &NewTeam {
                id: team.id.clone(),
                kind: TeamKind::Csw,
                district: Some(district("kugenuma")),
                name: "x".into(),
            },
            t0(),
        )
        .await;
    assert!(matches!(dup, Err(StorageError::Conflict(_))), "{dup:?}");
    let bad = store
        .add_team(
            &NewTeam {
                id: TeamId::parse("nowhere").unwrap(),
                kind: TeamKind::Csw,
                district: Some(district("atlantis")),
                name: "x".into(),
            },
            t0(),
        )
        .await;
    assert!(matches!(bad, Err(StorageError::Conflict(_))), "{bad:?}");

    let r = store
        .add_responder(
            &NewResponder {
                id: ResponderId::parse("p-sato").unwrap(),
                team: team.id.clone(),
                name: "佐藤".into(),
                email: Some(Email::parse("sato@example.jp").unwrap()),
                telegram_chat_id: Some(123456789),
                office_hours: Some(OfficeHours::parse("mon-fri 08:30-17:15").unwrap()),
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(store.get_responder(&r.id).await.unwrap(), r);
    assert_eq!(r.office_hours.as_ref().unwrap().days.len(), 5);
    assert_eq!(
        store.list_responders(Some(&team.id)).await.unwrap(),
        vec![r.clone()]
    );
    assert_eq!(store.list_responders(None).await.unwrap().len(), 1);
    let orphan = store
        .add_responder(
            &NewResponder {
                id: ResponderId::generate(),
                team: TeamId::parse("no-such-team").unwrap(),
                name: "x".into(),
                email: None,
                telegram_chat_id: None,
                office_hours: None,
            },
            t0(),
        )
        .await;
    assert!(
        matches!(orphan, Err(StorageError::Conflict(_))),
        "{orphan:?}"
    );
    assert!(matches!(
        store
            .get_responder(&ResponderId::parse("p-none").unwrap())
            .await,
        Err(StorageError::NotFound { .. })
    ));
}

async fn residents_are_audited_on_every_read(store: Store, _url: String) {
    let new = new_resident("r-hanako");
    let added = store.add_resident(&new, &cli(), t0()).await.unwrap();
    assert_eq!(added.address, new.address);
    assert_eq!(added.contacts, new.contacts);
    assert_eq!(added.policies, new.policies);
    assert_eq!(store.count_residents().await.unwrap(), 1);

    let viewer = Actor("responder:p-sato".into());
    let seen = store.get_resident(&new.id, &viewer, t0()).await.unwrap();
    assert_eq!(seen, added);
    let list = store
        .list_residents(Some(&district("kugenuma")), &viewer, t0())
        .await
        .unwrap();
    assert_eq!(list, vec![added.clone()]);
    assert!(
        store
            .list_residents(Some(&district("chogo")), &viewer, t0())
            .await
            .unwrap()
            .is_empty()
    );

    let audit = store.list_audit("resident", None, 10).await.unwrap();
    let actions: Vec<_> = audit
        .iter()
        .map(|a| (a.action.as_str(), a.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("resident.list", "responder:p-sato"),
            ("resident.list", "responder:p-sato"),
            ("resident.view", "responder:p-sato"),
            ("resident.add", "cli:test"),
        ]
    );
    assert_eq!(audit[2].object_id.as_deref(), Some("r-hanako"));
    // The audit log itself carries no personal data.
    assert!(audit.iter().all(|a| !a.detail.to_string().contains("花子")));

    let mut elsewhere = new_resident("r-x");
    elsewhere.district = district("atlantis");
    assert!(matches!(
        store.add_resident(&elsewhere, &cli(), t0()).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        store.add_resident(&new, &cli(), t0()).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        store
            .get_resident(&ResidentId::parse("r-none").unwrap(), &viewer, t0())
            .await,
        Err(StorageError::NotFound { .. })
    ));
}

async fn import_is_all_or_nothing(store: Store, _url: String) {
    let batch: Vec<_> = (0..50)
        .map(|i| new_resident(&format!("r-{i:03}")))
        .collect();
    assert_eq!(
        store.import_residents(&batch, &cli(), t0()).await.unwrap(),
        50
    );
    assert_eq!(store.count_residents().await.unwrap(), 50);
    // A second batch with one id that exists already: none of it is written.
    let mut second: Vec<_> = (50..60)
        .map(|i| new_resident(&format!("r-{i:03}")))
        .collect();
    second.push(new_resident("r-007"));
    assert!(store.import_residents(&second, &cli(), t0()).await.is_err());
    assert_eq!(store.count_residents().await.unwrap(), 50);
    let audit = store.list_audit("resident", None, 10).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "resident.import")
            .count(),
        1
    );
    assert_eq!(audit[0].detail["count"], 50);
}

async fn pauses(store: Store, _url: String) {
    let r = store
        .add_resident(&new_resident("r-p"), &cli(), t0())
        .await
        .unwrap();
    let hospital = store
        .add_pause(
            &NewPause {
                resident: r.id.clone(),
                reason: PauseReason::Hospital,
                starts_at: t0(),
                ends_at: None,
                note: Some("入院".into()),
            },
            t0(),
        )
        .await
        .unwrap();
    let travel = store
        .add_pause(
            &NewPause {
                resident: r.id.clone(),
                reason: PauseReason::Travel,
                starts_at: t0() + Duration::days(10),
                ends_at: Some(t0() + Duration::days(12)),
                note: None,
            },
            t0(),
        )
        .await
        .unwrap();
    assert!(hospital.covers(t0() + Duration::days(100)));
    store
        .end_pause(hospital.id, t0() + Duration::days(3))
        .await
        .unwrap();
    let listed = store.list_pauses(&r.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].ends_at, Some(t0() + Duration::days(3)));
    assert!(!listed[0].covers(t0() + Duration::days(4)));
    assert_eq!(listed[1], travel);
    assert!(store.end_pause(9999, t0()).await.is_err());
    let backwards = NewPause {
        resident: r.id.clone(),
        reason: PauseReason::Other,
        starts_at: t0(),
        ends_at: Some(t0()),
        note: None,
    };
    assert!(store.add_pause(&backwards, t0()).await.is_err());
    let nobody = NewPause {
        resident: ResidentId::parse("r-none").unwrap(),
        ends_at: None,
        ..backwards
    };
    assert!(matches!(
        store.add_pause(&nobody, t0()).await,
        Err(StorageError::Conflict(_))
    ));
}

async fn devices_keep_only_a_hash(store: Store, _url: String) {
    let now = t0();
    let r = store
        .add_resident(&new_resident("r-d"), &cli(), t0())
        .await
        .unwrap();
    let hasher = mimamori_core::secret::PasswordHasherConfig::insecure_for_tests();
    let secret = mimamori_core::secret::generate_device_password();
    let d = store
        .add_device(
            &NewDevice {
                id: DeviceId::parse("button-1").unwrap(),
                resident: Some(r.id.clone()),
                kind: DeviceKind::CallButton,
                label: Some("寝室".into()),
                heartbeat_interval_s: 300,
                external_id: Some("z2m:bedroom_button".into()),
                secret_hash: hasher.hash(&secret).unwrap(),
                mac_key: mimamori_core::secret::device_mac_key(&secret),
            },
            t0(),
        )
        .await
        .unwrap();
    assert!(d.enabled);
    assert_ne!(d.secret_hash, secret);
    assert!(hasher.verify(&secret, &d.secret_hash));
    let spare = store
        .add_device(
            &NewDevice {
                id: DeviceId::generate(),
                resident: None,
                kind: DeviceKind::Door,
                label: None,
                heartbeat_interval_s: 600,
                external_id: None,
                secret_hash: "x".into(),
                mac_key: "k".into(),
            },
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.list_devices(Some(&r.id)).await.unwrap(),
        vec![d.clone()]
    );
    assert_eq!(store.list_devices(None).await.unwrap().len(), 2);
    let new_secret = mimamori_core::secret::generate_device_password();
    store
        .update_device_secret(
            &d.id,
            &hasher.hash(&new_secret).unwrap(),
            &mimamori_core::secret::device_mac_key(&new_secret),
            now,
        )
        .await
        .unwrap();
    let rotated = store.get_device(&d.id).await.unwrap().unwrap();
    assert!(
        hasher.verify(&new_secret, &rotated.secret_hash)
            && !hasher.verify(&secret, &rotated.secret_hash)
    );
    assert_eq!(
        rotated.mac_key,
        mimamori_core::secret::device_mac_key(&new_secret)
    );
    assert!(
        store
            .update_device_secret(&DeviceId::parse("nope").unwrap(), "h", "k", now)
            .await
            .is_err()
    );
    let head = store.login_revocations_head().await.unwrap();
    store.set_device_enabled(&d.id, false, now).await.unwrap();
    assert!(!store.get_device(&d.id).await.unwrap().unwrap().enabled);
    // The broker learns of the rotation and the disabling, in order, from the revocation feed.
    let revoked = store.login_revocations_after(head - 1, 10).await.unwrap();
    assert_eq!(
        revoked
            .iter()
            .map(|r| (r.client_id.as_str(), r.reason.as_str()))
            .collect::<Vec<_>>(),
        [
            (d.id.as_str(), "device.secret"),
            (d.id.as_str(), "device.disabled")
        ]
    );
    store.set_device_enabled(&d.id, true, now).await.unwrap();
    assert_eq!(store.login_revocations_head().await.unwrap(), head + 1);
    assert!(
        store
            .get_device(&DeviceId::parse("nope").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .set_device_enabled(&DeviceId::parse("nope").unwrap(), true, now)
            .await
            .is_err()
    );
    let dup = NewDevice {
        id: spare.id.clone(),
        resident: None,
        kind: DeviceKind::Door,
        label: None,
        heartbeat_interval_s: 600,
        external_id: None,
        secret_hash: "x".into(),
        mac_key: "k".into(),
    };
    assert!(matches!(
        store.add_device(&dup, t0()).await,
        Err(StorageError::Conflict(_))
    ));
    let orphan = NewDevice {
        id: DeviceId::generate(),
        resident: Some(ResidentId::parse("r-none").unwrap()),
        ..dup
    };
    assert!(matches!(
        store.add_device(&orphan, t0()).await,
        Err(StorageError::Conflict(_))
    ));
}

async fn partners_and_tokens(store: Store, _url: String) {
    use mimamori_core::secret::{generate_partner_token, token_hash};
    let token = generate_partner_token();
    let p = store
        .add_partner(
            &NewPartner {
                id: PartnerId::parse("post-fujisawa").unwrap(),
                name: "藤沢郵便局".into(),
                kind: PartnerKind::Post,
                agreement: Some("包括連携協定 2019-07-05".into()),
            },
            &token_hash(&token),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.partner_by_token(&token_hash(&token)).await.unwrap(),
        Some(p.clone())
    );
    assert_eq!(
        store
            .partner_by_token(&token_hash("mmp_wrong"))
            .await
            .unwrap(),
        None
    );
    let second = generate_partner_token();
    store
        .add_partner_token(&p.id, &token_hash(&second), t0())
        .await
        .unwrap();
    store
        .revoke_partner_token(&token_hash(&token), t0())
        .await
        .unwrap();
    assert_eq!(
        store.partner_by_token(&token_hash(&token)).await.unwrap(),
        None
    );
    assert_eq!(
        store.partner_by_token(&token_hash(&second)).await.unwrap(),
        Some(p.clone())
    );
    assert!(
        store
            .revoke_partner_token(&token_hash(&token), t0())
            .await
            .is_err()
    );
    assert_eq!(store.list_partners().await.unwrap(), vec![p.clone()]);
    assert_eq!(store.get_partner(&p.id).await.unwrap(), p);
    assert!(
        store
            .add_partner_token(&PartnerId::parse("nobody").unwrap(), "h", t0())
            .await
            .is_err()
    );
}

fn emergency(device: &str, seq: i64, at: chrono::DateTime<chrono::Utc>) -> NewSignal {
    NewSignal {
        source: SignalSource::Device(DeviceId::parse(device).unwrap()),
        dedup_key: Some(format!("seq:{seq}")),
        subject: Some(Subject::Resident(ResidentId::parse("r-1").unwrap())),
        kind: SignalKind::Emergency,
        body: serde_json::json!({ "type": "emergency", "seq": seq }),
        device_time: Some(at - Duration::seconds(1)),
        received_at: at,
        clock_skewed: false,
    }
}

/// Several gateways (and the HTTP intake) write signals at once while an alert service follows
/// them by id: whatever order the writers commit in, the follower must not step over a signal
/// that commits after one with a higher id.
async fn a_follower_by_id_sees_every_signal_written_concurrently(store: Store, _url: String) {
    const WRITERS: i64 = 4;
    const BATCHES: i64 = 10;
    // Batches of several INSERT statements, as a busy gateway writes: the time between a row's
    // id being taken and its commit spans round trips.
    const BATCH: i64 = 250;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let device = format!("button-{w}");
                for b in 0..BATCHES {
                    let batch: Vec<_> = (0..BATCH)
                        .map(|i| emergency(&device, b * BATCH + i, t0()))
                        .collect();
                    store.insert_signals(&batch).await.unwrap();
                }
            })
        })
        .collect();
    let mut cursor = SignalId(0);
    let mut seen = std::collections::HashSet::new();
    loop {
        let finished = writers.iter().all(|w| w.is_finished());
        let batch = store.signals_after(cursor, 1000).await.unwrap();
        for s in &batch {
            assert!(seen.insert(s.id), "each signal once");
            cursor = s.id;
        }
        if finished && batch.is_empty() {
            break;
        }
    }
    assert_eq!(
        seen.len() as i64,
        WRITERS * BATCHES * BATCH,
        "no signal stepped over"
    );
}

async fn a_follower_in_another_process_is_woken_when_signals_are_stored(store: Store, url: String) {
    let listener = store.listen_for_signals().await.unwrap();
    if store.backend() == mimamori_core::config::Backend::Sqlite {
        assert!(listener.is_none(), "SQLite followers poll");
        return;
    }
    let mut listener = listener.expect("PostgreSQL tells followers");
    // Another process's gateway, with its own pool.
    let gateway = Store::connect(&url, 2).await.unwrap();
    gateway
        .insert_signal(&emergency("button-1", 1, t0()))
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(30), listener.recv())
        .await
        .expect("woken by the commit")
        .unwrap();
}

/// The signal writes keep a connection of the pool for themselves (`Store::signal_writer`):
/// never in a pool too small to spare it, where everything else would wait for it, and never past
/// the store's close.
async fn the_signal_writes_keep_a_connection_only_where_the_pool_can_spare_one(
    _store: Store,
    url: String,
) {
    let soon = std::time::Duration::from_secs(5);
    for size in [1, 2, 3, 4, 8] {
        let store = Store::connect(&url, size).await.unwrap();
        for seq in 1..=3 {
            store
                .insert_signal(&emergency(&format!("pool-{size}"), seq, t0()))
                .await
                .unwrap();
        }
        // Then an alert opened and acknowledged, each on a connection of the pool.
        tokio::time::timeout(soon, async {
            let opened = store
                .open_alert(
                    &new_alert(
                        &format!("resident:r-pool-{size}"),
                        AlertKind::Emergency,
                        t0(),
                    ),
                    &[],
                )
                .await
                .unwrap();
            let acked = store
                .acknowledge_alert(opened.alert.id, &cli(), "web", &[], t0())
                .await
                .unwrap();
            assert!(matches!(acked, AckResult::Acknowledged(_)), "{acked:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("a pool of {size} served no one after the signal writes"));
        let stored = store
            .signals_after(SignalId(0), 1_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|s| s.source.key() == format!("device:pool-{size}"))
            .count();
        assert_eq!(stored, 3, "pool of {size}");
        tokio::time::timeout(soon, store.close())
            .await
            .unwrap_or_else(|_| panic!("a pool of {size} closed with the kept connection out"));
    }
}

async fn the_alert_paths_health_is_counted_from_the_store(store: Store, _url: String) {
    let h = store.path_health("alert-service", t0()).await.unwrap();
    assert_eq!(
        (
            h.signals_behind,
            h.outbox_due,
            h.outbox_oldest_due,
            h.notifications_failed
        ),
        (None, 0, None, 0),
        "nothing yet, and no alert service has started"
    );
    assert!(h.unresolved.is_empty());
    store
        .save_signal_cursor(
            &SignalCursor {
                consumer: "alert-service".into(),
                signal: SignalId(0),
            },
            t0(),
        )
        .await
        .unwrap();
    for seq in 1..=3 {
        store
            .insert_signal(&emergency("button-1", seq, t0()))
            .await
            .unwrap();
    }
    let later = NewNotification {
        not_before: t0() + Duration::minutes(10),
        target: "http://127.0.0.1/later".into(),
        ..webhook(t0())
    };
    let alert = store
        .open_alert(
            &new_alert("resident:r-1", AlertKind::Emergency, t0()),
            &[webhook(t0()), later],
        )
        .await
        .unwrap()
        .alert;
    let h = store
        .path_health("alert-service", t0() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(h.signals_behind, Some(3));
    assert_eq!((h.outbox_due, h.outbox_oldest_due), (1, Some(t0())));
    assert_eq!(
        h.unresolved,
        [("emergency".to_string(), "open".to_string(), 1)]
    );
    let n = store
        .claim_notification("w1", t0(), Duration::minutes(2))
        .await
        .unwrap()
        .unwrap();
    store
        .mark_notification_failed(n.id, "w1", "410 Gone", t0())
        .await
        .unwrap();
    store
        .resolve_alert(
            alert.id,
            &Actor::system(),
            Outcome::FalseAlarm,
            None,
            &[],
            t0(),
        )
        .await
        .unwrap();
    let h = store
        .path_health("alert-service", t0() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!((h.outbox_due, h.notifications_failed), (0, 1));
    assert!(h.unresolved.is_empty(), "resolved alerts are not counted");
}

/// What the gateway writes in one statement: new rows, rows without a key, a key stored before
/// and the same key twice in the batch — each answered as if inserted one by one.
async fn a_batch_of_signals_is_stored_in_order_each_once(store: Store, _url: String) {
    let earlier = store
        .insert_signal(&emergency("button-1", 1, t0()))
        .await
        .unwrap();
    let unkeyed = NewSignal {
        source: SignalSource::System,
        dedup_key: None,
        ..emergency("button-1", 0, t0())
    };
    let batch = vec![
        emergency("button-1", 2, t0()),
        unkeyed.clone(),
        emergency("button-1", 1, t0()), // stored before
        emergency("button-2", 2, t0()),
        emergency("button-1", 2, t0()), // earlier in this batch
        unkeyed.clone(),
    ];
    let done = store.insert_signals(&batch).await.unwrap();
    assert_eq!(done.len(), 6);
    let stored: Vec<i64> = done
        .iter()
        .filter_map(|d| match d {
            SignalInsert::Stored(id) => Some(id.0),
            SignalInsert::Duplicate(_) => None,
        })
        .collect();
    assert_eq!(stored.len(), 4);
    assert!(
        stored.windows(2).all(|w| w[0] < w[1]),
        "ids in batch order: {stored:?}"
    );
    assert_eq!(done[2], SignalInsert::Duplicate(earlier.id()));
    assert_eq!(done[4], SignalInsert::Duplicate(done[0].id()));
    for (d, s) in done.iter().zip(&batch) {
        let got = store.get_signal(d.id()).await.unwrap();
        assert_eq!(
            (got.source, got.dedup_key.clone()),
            (s.source.clone(), s.dedup_key.clone())
        );
    }
    let all = store.signals_after(SignalId(0), 100).await.unwrap();
    assert_eq!(all.len(), 5, "one earlier and four new");
    assert!(store.insert_signals(&[]).await.unwrap().is_empty());

    // More than one statement holds on SQLite (512 rows at most): still in order, and a
    // key of the first statement's rows repeated in the third's is a duplicate of it.
    let big: Vec<_> = (0..1200)
        .map(|i| emergency("button-3", if i == 1100 { 100 } else { i }, t0()))
        .collect();
    let done = store.insert_signals(&big).await.unwrap();
    assert_eq!(done[1100], SignalInsert::Duplicate(done[100].id()));
    assert_eq!(
        done.iter()
            .filter(|d| matches!(d, SignalInsert::Stored(_)))
            .count(),
        1199
    );
    let ids: Vec<i64> = done
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1100)
        .map(|(_, d)| d.id().0)
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids in batch order");

    // All new, in statements of 512, 256, 128, 64, 32 and 8 rows on SQLite (one on PostgreSQL):
    // each id is its own signal's.
    let fresh: Vec<_> = (0..1000)
        .map(|i| emergency(&format!("button-{}", 10 + i % 7), i, t0()))
        .collect();
    let done = store.insert_signals(&fresh).await.unwrap();
    assert!(done.iter().all(|d| matches!(d, SignalInsert::Stored(_))));
    for (d, s) in done.iter().zip(&fresh) {
        let got = store.get_signal(d.id()).await.unwrap();
        assert_eq!(
            (got.source, got.dedup_key),
            (s.source.clone(), s.dedup_key.clone())
        );
    }
}

/// A batch goes to PostgreSQL as one JSON text (`store_signals`, migration 0015): whatever a
/// device or a partner put in its payload and keys — quotes, backslashes, escapes, SQL, control
/// characters, text in any script — every field comes back exactly as written, on both stores.
async fn a_signal_comes_back_as_it_was_written_whatever_its_text_holds(store: Store, _url: String) {
    let nasty = [
        "\"},{\"source\":\"device:x\"}]",
        "'); DROP TABLE signals; --",
        "\\u0000 \\\"\\n",
        "\u{7}\u{1b}[31m\r\n\t",
        "見守り 🆘 \u{202e}عربى",
        "$1::json $$ \\x00",
    ];
    let batch: Vec<NewSignal> = nasty
        .iter()
        .enumerate()
        .map(|(i, text)| NewSignal {
            dedup_key: Some(format!("{text}|{i}")),
            body: serde_json::json!({
                "note": text,
                "nul": "a\u{0}b",
                "nested": { "list": [text, i, null, 1.5] },
            }),
            device_time: (i % 2 == 0).then(t0),
            clock_skewed: i % 3 == 0,
            subject: (i != 4).then(|| Subject::Resident(ResidentId::parse("r-1").unwrap())),
            ..emergency(
                "button-9",
                i as i64,
                t0() + Duration::milliseconds(i as i64),
            )
        })
        .collect();
    let done = store.insert_signals(&batch).await.unwrap();
    for (d, s) in done.iter().zip(&batch) {
        assert!(matches!(d, SignalInsert::Stored(_)), "{d:?}");
        let got = store.get_signal(d.id()).await.unwrap();
        assert_eq!(
            (
                &got.source,
                &got.dedup_key,
                &got.subject,
                got.kind,
                &got.body,
                got.device_time,
                got.received_at,
                got.clock_skewed
            ),
            (
                &s.source,
                &s.dedup_key,
                &s.subject,
                s.kind,
                &s.body,
                s.device_time,
                s.received_at,
                s.clock_skewed
            )
        );
    }
    // The same keys again are duplicates of the rows stored, however their text reads.
    let again = store.insert_signals(&batch).await.unwrap();
    assert_eq!(
        again,
        done.iter()
            .map(|d| SignalInsert::Duplicate(d.id()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        store.signals_after(SignalId(0), 100).await.unwrap().len(),
        nasty.len()
    );
}

/// On PostgreSQL a batch is first stored with a plain INSERT, which a key stored before makes
/// fail, and after a duplicate the next writes skip conflicts for a while (signals.rs): whichever
/// way a write goes, a key stored before is a duplicate of its first id, every new signal is
/// stored once, in order, and the write after a failed attempt goes through.
async fn duplicates_are_found_after_a_long_run_of_new_signals_and_new_ones_after_duplicates(
    store: Store,
    _url: String,
) {
    let mut seq = 0;
    let mut new_batches = |store: Store, n: usize| {
        let batches: Vec<Vec<NewSignal>> = (0..n)
            .map(|_| {
                (0..3)
                    .map(|_| {
                        seq += 1;
                        emergency("button-1", seq, t0())
                    })
                    .collect()
            })
            .collect();
        async move {
            let mut ids = Vec::new();
            for batch in batches {
                for d in store.insert_signals(&batch).await.unwrap() {
                    let SignalInsert::Stored(id) = d else {
                        panic!("a new signal taken for a duplicate: {d:?}");
                    };
                    ids.push(id);
                }
            }
            ids
        }
    };
    // Longer than the writes that skip conflicts after a duplicate, both times.
    let runs = 2 * mimamori_core::storage::SKIP_CONFLICTS_AFTER_A_DUPLICATE as usize;
    let first = new_batches(store.clone(), runs).await;
    let mut expected = first.len();
    let mut last_id = first.last().unwrap().0;
    for round in 0..2 {
        let stored_before = emergency("button-1", 1 + round, t0());
        let fresh = emergency("button-2", 1 + round, t0());
        let done = store
            .insert_signals(&[fresh.clone(), stored_before])
            .await
            .unwrap();
        assert!(matches!(done[0], SignalInsert::Stored(_)), "{done:?}");
        assert_eq!(
            done[1],
            SignalInsert::Duplicate(first[round as usize]),
            "round {round}"
        );
        expected += 1;
        let after = new_batches(store.clone(), runs).await;
        expected += after.len();
        assert!(done[0].id().0 > last_id && after[0] > done[0].id());
        last_id = after.last().unwrap().0;
    }
    let all = store.signals_after(SignalId(0), 10_000).await.unwrap();
    assert_eq!(all.len(), expected, "every new signal once, none twice");
    let mut keys: Vec<_> = all
        .iter()
        .map(|s| (s.source.key(), s.dedup_key.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), expected);
}

async fn signals_are_stored_once_and_never_changed(store: Store, url: String) {
    let s = emergency("button-1", 7, t0());
    let first = store.insert_signal(&s).await.unwrap();
    assert!(matches!(first, SignalInsert::Stored(_)));
    let again = store
        .insert_signal(&NewSignal {
            received_at: t0() + Duration::seconds(5),
            ..s.clone()
        })
        .await
        .unwrap();
    assert_eq!(again, SignalInsert::Duplicate(first.id()));
    // Another device with the same seq is another signal.
    assert!(matches!(
        store
            .insert_signal(&emergency("button-2", 7, t0()))
            .await
            .unwrap(),
        SignalInsert::Stored(_)
    ));
    // Without a dedup key every insert is stored.
    let manual = NewSignal {
        source: SignalSource::System,
        dedup_key: None,
        ..s.clone()
    };
    let a = store.insert_signal(&manual).await.unwrap();
    let b = store.insert_signal(&manual).await.unwrap();
    assert_ne!(a.id(), b.id());

    let stored = store.get_signal(first.id()).await.unwrap();
    assert_eq!(stored.received_at, t0());
    assert_eq!(stored.effective_time(), t0() - Duration::seconds(1));
    assert_eq!(stored.body, s.body);

    let pool = raw_pool(&url).await;
    let update = sqlx::query("UPDATE signals SET kind = 'activity'")
        .execute(&pool)
        .await;
    assert!(update.is_err(), "signals must be append-only");
    let delete = sqlx::query("DELETE FROM signals").execute(&pool).await;
    assert!(delete.is_err(), "signals must be append-only");
    pool.close().await;
}

async fn signal_queries(store: Store, _url: String) {
    let subject = Subject::Resident(ResidentId::parse("r-1").unwrap());
    for i in 0..5 {
        let mut s = emergency("door-1", i, t0() + Duration::minutes(i));
        s.kind = if i % 2 == 0 {
            SignalKind::Activity
        } else {
            SignalKind::Checkin
        };
        store.insert_signal(&s).await.unwrap();
    }
    let window = store
        .signals_for_subject(
            &subject,
            t0() + Duration::minutes(1),
            t0() + Duration::minutes(4),
            100,
        )
        .await
        .unwrap();
    assert_eq!(window.len(), 3);
    assert!(
        window
            .windows(2)
            .all(|w| w[0].received_at <= w[1].received_at)
    );
    let latest = store
        .latest_signal(&subject, SignalKind::Activity)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.received_at, t0() + Duration::minutes(4));
    let other = Subject::Resident(ResidentId::parse("r-2").unwrap());
    assert!(
        store
            .latest_signal(&other, SignalKind::Activity)
            .await
            .unwrap()
            .is_none()
    );
    let first_two = store.signals_after(SignalId(0), 2).await.unwrap();
    assert_eq!(first_two.len(), 2);
    let rest = store.signals_after(first_two[1].id, 100).await.unwrap();
    assert_eq!(rest.len(), 3);
    assert!(matches!(
        store.get_signal(SignalId(9999)).await,
        Err(StorageError::NotFound { .. })
    ));
}

fn new_alert(subject: &str, kind: AlertKind, at: chrono::DateTime<chrono::Utc>) -> NewAlert {
    NewAlert {
        subject: Subject::parse_key(subject).unwrap(),
        kind,
        severity: Severity::Critical,
        district: Some(district("kugenuma")),
        summary: "鵠沼 緊急通報".into(),
        detail: serde_json::json!({ "rule": "emergency" }),
        at,
    }
}

fn webhook(at: chrono::DateTime<chrono::Utc>) -> NewNotification {
    NewNotification {
        channel: Channel::Webhook,
        target: "http://127.0.0.1/hook".into(),
        body: serde_json::json!({}),
        not_before: at,
    }
}

async fn alerts_dedup_lifecycle_and_timeline(store: Store, _url: String) {
    let first = store
        .open_alert(
            &new_alert("resident:r-1", AlertKind::Emergency, t0()),
            &[webhook(t0())],
        )
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.alert.state, AlertState::Open);
    let second = store
        .open_alert(
            &new_alert(
                "resident:r-1",
                AlertKind::Emergency,
                t0() + Duration::minutes(1),
            ),
            &[webhook(t0())],
        )
        .await
        .unwrap();
    assert!(!second.created);
    assert_eq!(second.alert.id, first.alert.id);
    assert_eq!(second.alert.evidence_count, 2);
    assert_eq!(second.alert.last_evidence_at, t0() + Duration::minutes(1));
    // Another kind for the same resident is another alert.
    let other = store
        .open_alert(&new_alert("resident:r-1", AlertKind::Inactivity, t0()), &[])
        .await
        .unwrap();
    assert!(other.created);
    assert_ne!(other.alert.id, first.alert.id);
    let id = first.alert.id;
    assert_eq!(
        store
            .find_open_alert(&first.alert.subject, AlertKind::Emergency)
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );

    let sato = Actor("responder:p-sato".into());
    let suzuki = Actor("responder:p-suzuki".into());
    let acked = store
        .acknowledge_alert(id, &sato, "telegram", &[], t0() + Duration::minutes(2))
        .await
        .unwrap();
    let AckResult::Acknowledged(a) = acked else {
        panic!("{acked:?}")
    };
    assert_eq!(a.state, AlertState::Acknowledged);
    assert_eq!(a.acknowledged_by.as_deref(), Some("responder:p-sato"));
    let late = store
        .acknowledge_alert(id, &suzuki, "email", &[], t0() + Duration::minutes(3))
        .await
        .unwrap();
    let AckResult::AlreadyAcknowledged(a) = late else {
        panic!("{late:?}")
    };
    assert_eq!(a.acknowledged_by.as_deref(), Some("responder:p-sato"));

    store
        .add_alert_note(id, &sato, "訪問します", t0() + Duration::minutes(4))
        .await
        .unwrap();
    let resolved = store
        .resolve_alert(
            id,
            &sato,
            Outcome::Safe,
            Some("無事"),
            &[],
            t0() + Duration::minutes(30),
        )
        .await
        .unwrap();
    let ResolveResult::Resolved(a) = resolved else {
        panic!("{resolved:?}")
    };
    assert_eq!(
        (a.state, a.outcome),
        (AlertState::Resolved, Some(Outcome::Safe))
    );
    assert!(matches!(
        store
            .resolve_alert(id, &sato, Outcome::Other, None, &[], t0())
            .await
            .unwrap(),
        ResolveResult::AlreadyResolved(_)
    ));
    assert!(matches!(
        store
            .acknowledge_alert(id, &suzuki, "web", &[], t0())
            .await
            .unwrap(),
        AckResult::AlreadyResolved(_)
    ));
    // Resolution cancelled what had not gone out.
    let n = store.list_notifications(id).await.unwrap();
    assert_eq!(n.len(), 2);
    assert!(n.iter().all(|n| n.status == NotificationStatus::Cancelled));

    let timeline: Vec<_> = store
        .alert_timeline(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        timeline,
        [
            AlertEventKind::Created,
            AlertEventKind::Joined,
            AlertEventKind::Acknowledged,
            AlertEventKind::Note,
            AlertEventKind::Resolved
        ]
    );

    // Once resolved, a new press opens a new alert.
    let next = store
        .open_alert(
            &new_alert(
                "resident:r-1",
                AlertKind::Emergency,
                t0() + Duration::hours(1),
            ),
            &[],
        )
        .await
        .unwrap();
    assert!(next.created);
    assert_ne!(next.alert.id, id);
    assert!(matches!(
        store.get_alert(AlertId(9999)).await,
        Err(StorageError::NotFound { .. })
    ));
}

async fn racing_tasks_open_exactly_one_alert(store: Store, _url: String) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .open_alert(
                        &new_alert(
                            "resident:r-race",
                            AlertKind::Emergency,
                            t0() + Duration::seconds(i),
                        ),
                        &[webhook(t0())],
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let opened = t.await.unwrap();
        created += opened.created as usize;
        ids.insert(opened.alert.id);
    }
    assert_eq!(created, 1);
    assert_eq!(ids.len(), 1);
    let open = store
        .list_alerts(&AlertFilter {
            state: Some(AlertState::Open),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].evidence_count, 16);
    assert_eq!(
        store.list_notifications(open[0].id).await.unwrap().len(),
        16
    );
}

/// Presses that come while a responder resolves the alert they belong to: each joins the open
/// alert or opens the next one, never the resolved one, and none is lost or counted twice.
async fn evidence_racing_a_resolution_joins_an_open_alert_or_opens_a_new_one(
    store: Store,
    _url: String,
) {
    const PRESSES: i64 = 24;
    let sato = Actor("responder:p-sato".into());
    let presses: Vec<_> = (0..PRESSES)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let at = t0() + Duration::seconds(i);
                store
                    .open_alert(&new_alert("resident:r-race", AlertKind::Emergency, at), &[])
                    .await
                    .unwrap()
            })
        })
        .collect();
    let resolver = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut resolved = 0;
            for _ in 0..200 {
                let open = store
                    .find_open_alert(
                        &Subject::parse_key("resident:r-race").unwrap(),
                        AlertKind::Emergency,
                    )
                    .await
                    .unwrap();
                if let Some(open) = open
                    && let ResolveResult::Resolved(_) = store
                        .resolve_alert(open.id, &sato, Outcome::Safe, None, &[], t0())
                        .await
                        .unwrap()
                {
                    resolved += 1;
                }
                tokio::task::yield_now().await;
            }
            resolved
        })
    };
    let mut opened = Vec::new();
    for p in presses {
        opened.push(p.await.unwrap());
    }
    let resolved = resolver.await.unwrap();
    // Each press came back on an alert that was not resolved when its transaction ended.
    for o in &opened {
        assert_ne!(o.alert.state, AlertState::Resolved, "{o:?}");
    }
    let alerts: Vec<_> = store
        .list_alerts(&AlertFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    // Every press counted once, over the alerts it opened and joined.
    assert_eq!(
        alerts.iter().map(|a| a.evidence_count).sum::<i64>(),
        PRESSES
    );
    assert_eq!(
        alerts.len(),
        opened.iter().filter(|o| o.created).count(),
        "{resolved} resolved"
    );
    // Nothing joined an alert after it was resolved.
    for a in &alerts {
        let kinds: Vec<_> = store
            .alert_timeline(a.id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .filter(|k| {
                matches!(
                    k,
                    AlertEventKind::Created | AlertEventKind::Joined | AlertEventKind::Resolved
                )
            })
            .collect();
        let resolved_at = kinds.iter().position(|k| *k == AlertEventKind::Resolved);
        assert!(
            resolved_at.is_none_or(|r| r == kinds.len() - 1),
            "evidence after the resolution: {kinds:?}"
        );
        assert_eq!(kinds[0], AlertEventKind::Created);
        assert_eq!(
            kinds.len() as i64 - i64::from(resolved_at.is_some()),
            a.evidence_count
        );
    }
}

async fn the_database_itself_refuses_a_second_open_alert(store: Store, url: String) {
    store
        .open_alert(&new_alert("resident:r-1", AlertKind::Emergency, t0()), &[])
        .await
        .unwrap();
    let pool = raw_pool(&url).await;
    let insert = "INSERT INTO alerts (subject, kind, state, severity, summary, detail, opened_at, last_evidence_at)
                  VALUES ('resident:r-1', 'emergency', 'acknowledged', 'critical', 's', '{}', 0, 0)";
    assert!(sqlx::query(insert).execute(&pool).await.is_err());
    // Resolved alerts are history: any number of them may exist.
    let resolved = "INSERT INTO alerts (subject, kind, state, severity, summary, detail, opened_at, last_evidence_at)
                    VALUES ('resident:r-1', 'emergency', 'resolved', 'critical', 's', '{}', 0, 0)";
    sqlx::query(resolved).execute(&pool).await.unwrap();
    sqlx::query(resolved).execute(&pool).await.unwrap();
    pool.close().await;
}

async fn alert_lists_filter_by_district_state_kind_and_triage(store: Store, _url: String) {
    store
        .open_alert(&new_alert("resident:r-1", AlertKind::Emergency, t0()), &[])
        .await
        .unwrap();
    let mut chogo = new_alert("resident:r-2", AlertKind::Inactivity, t0());
    chogo.district = Some(district("chogo"));
    let chogo = store.open_alert(&chogo, &[]).await.unwrap().alert;
    let mut unrouted = new_alert("address:石川", AlertKind::Concern, t0());
    unrouted.district = None;
    store.open_alert(&unrouted, &[]).await.unwrap();
    store
        .acknowledge_alert(chogo.id, &cli(), "web", &[], t0())
        .await
        .unwrap();

    let list = |f: AlertFilter| {
        let store = store.clone();
        async move {
            store
                .list_alerts(&f)
                .await
                .unwrap()
                .into_iter()
                .map(|a| a.subject.key())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(AlertFilter::default()).await.len(), 3);
    assert_eq!(
        list(AlertFilter {
            district: Some(district("chogo")),
            ..Default::default()
        })
        .await,
        ["resident:r-2"]
    );
    assert_eq!(
        list(AlertFilter {
            triage_only: true,
            ..Default::default()
        })
        .await,
        ["address:石川"]
    );
    assert_eq!(
        list(AlertFilter {
            state: Some(AlertState::Acknowledged),
            ..Default::default()
        })
        .await,
        ["resident:r-2"]
    );
    assert_eq!(
        list(AlertFilter {
            kind: Some(AlertKind::Emergency),
            ..Default::default()
        })
        .await,
        ["resident:r-1"]
    );
    assert_eq!(
        list(AlertFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .len(),
        1
    );
}

async fn outbox_claims_retries_and_leases(store: Store, _url: String) {
    let alert = store
        .open_alert(
            &new_alert("resident:r-1", AlertKind::Emergency, t0()),
            &[webhook(t0())],
        )
        .await
        .unwrap()
        .alert;
    let lease = Duration::seconds(30);
    let n = store
        .claim_notification("w1", t0(), lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (n.status, n.attempts, n.claimed_by.as_deref()),
        (NotificationStatus::Sending, 1, Some("w1"))
    );
    assert!(
        store
            .claim_notification("w2", t0(), lease)
            .await
            .unwrap()
            .is_none(),
        "claimed rows are not handed out twice"
    );

    // A failed attempt waits for its retry time.
    assert!(
        store
            .mark_notification_retry(n.id, "w1", "HTTP 503", t0() + Duration::seconds(10), t0())
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_notification("w2", t0() + Duration::seconds(9), lease)
            .await
            .unwrap()
            .is_none()
    );
    let n2 = store
        .claim_notification("w2", t0() + Duration::seconds(10), lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (n2.id, n2.attempts, n2.last_error.as_deref()),
        (n.id, 2, Some("HTTP 503"))
    );

    // w2 dies; after its lease another worker takes the row over, and w2's late report is ignored.
    let t = t0() + Duration::seconds(41);
    let n3 = store
        .claim_notification("w3", t, lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((n3.id, n3.attempts), (n.id, 3));
    assert!(!store.mark_notification_sent(n.id, "w2", t).await.unwrap());
    assert!(store.mark_notification_sent(n.id, "w3", t).await.unwrap());
    let sent = &store.list_notifications(alert.id).await.unwrap()[0];
    assert_eq!(
        (sent.status, sent.sent_at),
        (NotificationStatus::Sent, Some(t))
    );
    assert!(
        store
            .claim_notification("w1", t + Duration::hours(1), lease)
            .await
            .unwrap()
            .is_none()
    );

    // A permanent failure.
    store
        .enqueue_notifications(alert.id, &[webhook(t)], t)
        .await
        .unwrap();
    let m = store
        .claim_notification("w1", t, lease)
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .mark_notification_failed(m.id, "w1", "HTTP 410 Gone", t)
            .await
            .unwrap()
    );
    let all = store.list_notifications(alert.id).await.unwrap();
    assert_eq!(all[1].status, NotificationStatus::Failed);

    let deliveries: Vec<_> = store
        .alert_timeline(alert.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == AlertEventKind::Delivery)
        .map(|e| e.detail["result"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(deliveries, ["pending", "sent", "failed"]);
}

async fn notifications_written_claimed_are_held_until_their_lease_ends(store: Store, _url: String) {
    let mqtt = NewNotification {
        channel: Channel::Mqtt,
        target: "alert-topic".into(),
        ..webhook(t0())
    };
    let later = NewNotification {
        not_before: t0() + Duration::minutes(10),
        ..webhook(t0())
    };
    let claim = Claim {
        worker: "w1".into(),
        channels: vec![Channel::Webhook],
        until: t0() + Duration::minutes(2),
        stream: None,
    };
    let opened = store
        .open_routed_alert(
            &new_alert("resident:r-1", AlertKind::Emergency, t0()),
            &Routed::default(),
            &[
                webhook(t0()),
                mqtt,
                later,
                NewNotification {
                    target: "http://127.0.0.1/second".into(),
                    ..webhook(t0())
                },
            ],
            Some(&claim),
        )
        .await
        .unwrap();
    // Only the rows of the claimed channel that are due now come back claimed, in order.
    assert_eq!(
        opened
            .claimed
            .iter()
            .map(|n| (
                n.target.as_str(),
                n.status,
                n.attempts,
                n.claimed_by.as_deref()
            ))
            .collect::<Vec<_>>(),
        [
            (
                "http://127.0.0.1/hook",
                NotificationStatus::Sending,
                1,
                Some("w1")
            ),
            (
                "http://127.0.0.1/second",
                NotificationStatus::Sending,
                1,
                Some("w1")
            )
        ]
    );
    assert_eq!(opened.alert.evidence_count, 1);
    // Another worker gets the unclaimed row, not the claimed one…
    let other = store
        .claim_notification("w2", t0(), Duration::minutes(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.channel, Channel::Mqtt);
    assert!(
        store
            .claim_notification("w2", t0() + Duration::seconds(119), Duration::minutes(2))
            .await
            .unwrap()
            .is_none()
    );
    // …until the lease has run out; the holder can still finish while it holds the claim.
    let taken = store
        .claim_notification("w2", t0() + Duration::minutes(2), Duration::minutes(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.id, opened.claimed[0].id);
    assert!(
        !store
            .mark_notification_sent(taken.id, "w1", t0() + Duration::minutes(2))
            .await
            .unwrap(),
        "w1 lost its claim"
    );
    // Joining the open alert returns it as the transaction left it.
    let joined = store
        .open_routed_alert(
            &new_alert(
                "resident:r-1",
                AlertKind::Emergency,
                t0() + Duration::minutes(3),
            ),
            &Routed::default(),
            &[],
            Some(&claim),
        )
        .await
        .unwrap();
    assert_eq!((joined.created, joined.alert.evidence_count), (false, 2));
    assert_eq!(joined.alert.last_evidence_at, t0() + Duration::minutes(3));
}

async fn racing_workers_send_each_notification_once(store: Store, _url: String) {
    let drafts: Vec<_> = (0..40).map(|_| webhook(t0())).collect();
    let alert = store
        .open_alert(
            &new_alert("resident:r-1", AlertKind::Emergency, t0()),
            &drafts,
        )
        .await
        .unwrap()
        .alert;
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let me = format!("w{w}");
                let mut sent = Vec::new();
                while let Some(n) = store
                    .claim_notification(&me, t0(), Duration::minutes(5))
                    .await
                    .unwrap()
                {
                    assert!(store.mark_notification_sent(n.id, &me, t0()).await.unwrap());
                    sent.push(n.id);
                }
                sent
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "a notification was sent twice");
    assert_eq!(all.len(), 40);
    let rows = store.list_notifications(alert.id).await.unwrap();
    assert!(
        rows.iter()
            .all(|n| n.status == NotificationStatus::Sent && n.attempts == 1)
    );
}

async fn audit_log(store: Store, _url: String) {
    for i in 0..3 {
        store
            .record_audit(&NewAuditEntry {
                actor: cli(),
                action: "device.add".into(),
                object_kind: "device".into(),
                object_id: Some(format!("d-{i}")),
                detail: serde_json::json!({ "kind": "door" }),
                at: t0(),
            })
            .await
            .unwrap();
    }
    let all = store.list_audit("device", None, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].object_id.as_deref(), Some("d-2"), "newest first");
    let one = store.list_audit("device", Some("d-1"), 10).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].detail["kind"], "door");
}

async fn escalation_steps_are_claimed_once_and_stop_at_acknowledgement(store: Store, _url: String) {
    let team = TeamId::parse("houkatsu-kugenuma").unwrap();
    let routed = Routed {
        team: Some(team.clone()),
        escalate_at: Some(t0() + Duration::minutes(5)),
        cursor: None,
    };
    let alert = store
        .open_routed_alert(
            &new_alert("resident:r-1", AlertKind::Emergency, t0()),
            &routed,
            &[webhook(t0())],
            None,
        )
        .await
        .unwrap()
        .alert;
    assert_eq!(
        (
            alert.team.as_ref(),
            alert.escalation_step,
            alert.next_escalation_at
        ),
        (Some(&team), 0, routed.escalate_at)
    );
    assert!(
        store
            .due_escalations(t0() + Duration::minutes(4), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store
        .due_escalations(t0() + Duration::minutes(5), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    let at = t0() + Duration::minutes(5);
    let detail = serde_json::json!({ "step": 1, "to": "coordinator" });
    // Two workers race for the same step: one wins.
    let notify = [webhook(at)];
    let next = Some(at + Duration::minutes(5));
    let (a, b) = tokio::join!(
        store.advance_escalation(alert.id, 0, next, &notify, &detail, at),
        store.advance_escalation(alert.id, 0, next, &notify, &detail, at),
    );
    assert!(a.unwrap() ^ b.unwrap(), "exactly one worker escalates");
    let after = store.get_alert(alert.id).await.unwrap();
    assert_eq!(
        (after.escalation_step, after.next_escalation_at),
        (1, Some(at + Duration::minutes(5)))
    );
    assert_eq!(store.list_notifications(alert.id).await.unwrap().len(), 2);
    assert_eq!(
        store
            .alert_timeline(alert.id)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.kind == AlertEventKind::Escalated)
            .count(),
        1
    );
    // Acknowledgement stops the chain at once.
    store
        .acknowledge_alert(alert.id, &cli(), "web", &[], at + Duration::minutes(1))
        .await
        .unwrap();
    assert!(
        store
            .due_escalations(at + Duration::hours(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .advance_escalation(alert.id, 1, None, &[], &detail, at)
            .await
            .unwrap(),
        "no escalation after acknowledgement"
    );
    assert_eq!(
        store.get_alert(alert.id).await.unwrap().next_escalation_at,
        None
    );
}

/// A new SQLite file gets 1 KiB pages (a signal's index entries write a page each to the log,
/// issue 15); a file made with SQLite's 4 KiB pages, as earlier versions made it, opens with its
/// own and keeps its signals.
async fn a_new_sqlite_file_has_small_pages_and_an_old_one_keeps_its_own() {
    use sqlx::Row;
    let dir = tempfile::tempdir().unwrap();
    let page_size = |url: String| async move {
        let pool = raw_pool(&url).await;
        let size: i64 = sqlx::query("PRAGMA page_size")
            .fetch_one(&pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        pool.close().await;
        size
    };

    let new = format!("sqlite://{}/new.db", dir.path().display());
    let store = Store::connect(&new, 2).await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    assert_eq!(page_size(new).await, 1024);

    // Made as an earlier version made it: SQLite's default pages, in WAL mode.
    let old = format!("sqlite://{}/old.db", dir.path().display());
    let made = raw_pool(&format!("{old}?mode=rwc")).await;
    for statement in ["PRAGMA page_size = 4096", "PRAGMA journal_mode = WAL"] {
        sqlx::query(statement).execute(&made).await.unwrap();
    }
    made.close().await;
    let store = Store::connect(&old, 2).await.unwrap();
    store.migrate().await.unwrap();
    let signal = emergency("btn-1", 1, t0());
    let SignalInsert::Stored(id) = store.insert_signal(&signal).await.unwrap() else {
        panic!("the first signal was not stored");
    };
    store.close().await;

    let store = Store::connect(&old, 2).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(
        store.get_signal(id).await.unwrap().dedup_key,
        signal.dedup_key
    );
    assert_eq!(
        store.insert_signal(&signal).await.unwrap(),
        SignalInsert::Duplicate(id)
    );
    store.close().await;
    assert_eq!(
        page_size(old).await,
        4096,
        "an existing file keeps its pages"
    );
}

mimamori_testkit::main!();

async fn a_responders_tokens_and_sessions_end_at_once(store: Store, _url: String) {
    let team = TeamId::parse("houkatsu-kugenuma").unwrap();
    let sato = ResponderId::parse("p-sato").unwrap();
    let suzuki = ResponderId::parse("p-suzuki").unwrap();
    for id in [&sato, &suzuki] {
        store
            .add_responder(
                &NewResponder {
                    id: id.clone(),
                    team: team.clone(),
                    name: id.to_string(),
                    email: Some(Email::parse(format!("{id}@example.jp")).unwrap()),
                    telegram_chat_id: None,
                    office_hours: None,
                },
                t0(),
            )
            .await
            .unwrap();
    }
    let later = t0() + Duration::hours(12);
    for (token, who) in [("old", &sato), ("leaked", &sato), ("suzuki", &suzuki)] {
        store.add_responder_token(who, token, t0()).await.unwrap();
        store
            .create_web_session(&format!("s-{token}"), who, "f", t0(), later)
            .await
            .unwrap();
    }
    let at = t0() + Duration::minutes(5);

    // A token leaked: a new one, and every other token and session of theirs ends.
    store.add_responder_token(&sato, "new", at).await.unwrap();
    let ended = store
        .revoke_other_responder_tokens(&sato, "new", at)
        .await
        .unwrap();
    assert_eq!(ended, (2, 2));
    for gone in ["old", "leaked"] {
        assert!(store.responder_by_token(gone).await.unwrap().is_none());
        let session = format!("s-{gone}");
        assert!(store.web_session(&session, at).await.unwrap().is_none());
    }
    assert_eq!(
        store.responder_by_token("new").await.unwrap().unwrap().0.id,
        sato
    );
    assert!(
        store.web_session("s-suzuki", at).await.unwrap().is_some(),
        "others keep theirs"
    );

    // 鈴木 leaves: her token and session end at once, and alerts no longer reach her.
    assert_eq!(
        store.deactivate_responder(&suzuki, at).await.unwrap(),
        (1, 1)
    );
    assert!(store.responder_by_token("suzuki").await.unwrap().is_none());
    assert!(store.web_session("s-suzuki", at).await.unwrap().is_none());
    let told: Vec<_> = store
        .team_responders(&team)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(told, vec![sato.clone()]);
    assert!(matches!(
        store
            .deactivate_responder(&ResponderId::parse("p-nobody").unwrap(), at)
            .await,
        Err(StorageError::NotFound { .. })
    ));
}
