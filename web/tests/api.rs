//! The alerts API over real HTTP, with responder tokens and district scope.

use chrono::{DateTime, Utc};
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::{Routed, Store};
use mimamori_testapp::{Options, spawn_app};
use reqwest::StatusCode;

on_both_backends!(responders_handle_their_districts_alerts_through_the_api);

fn t0() -> DateTime<Utc> {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

async fn responder(store: &Store, id: &str, team: &str) -> String {
    store
        .add_responder(
            &NewResponder {
                id: ResponderId::parse(id).unwrap(),
                team: TeamId::parse(team).unwrap(),
                name: id.into(),
                email: None,
                telegram_chat_id: None,
                office_hours: None,
            },
            t0(),
        )
        .await
        .unwrap();
    let token = format!("mmr_{}", mimamori_core::secret::generate(33));
    store
        .add_responder_token(&ResponderId::parse(id).unwrap(), &token_hash(&token), t0())
        .await
        .unwrap();
    token
}

async fn alert(store: &Store, subject: &str, district: &str) -> AlertId {
    let new = NewAlert {
        subject: Subject::parse_key(subject).unwrap(),
        kind: AlertKind::Emergency,
        severity: Severity::Critical,
        district: Some(DistrictId::parse(district).unwrap()),
        summary: "緊急通報".into(),
        detail: serde_json::json!({}),
        at: t0(),
    };
    let routed = Routed {
        team: Some(TeamId::parse(format!("houkatsu-{district}")).unwrap()),
        escalate_at: Some(t0() + chrono::Duration::minutes(5)),
        cursor: None,
    };
    store
        .open_routed_alert(&new, &routed, &[], None)
        .await
        .unwrap()
        .alert
        .id
}

async fn responders_handle_their_districts_alerts_through_the_api(store: Store, _url: String) {
    let sato = responder(&store, "p-sato", "houkatsu-kugenuma").await;
    let suzuki = responder(&store, "p-suzuki", "houkatsu-kugenuma").await;
    let chogo = responder(&store, "p-chogo", "csw-chogo").await;
    let coordinator = responder(&store, "p-backup", "coordinator").await;
    let kugenuma_alert = alert(&store, "resident:r-1", "kugenuma").await;
    let chogo_alert = alert(&store, "resident:r-2", "chogo").await;

    let app = spawn_app(store.clone(), Options::at(t0()).mqtt_alerts()).await;
    let base = app.base.clone();
    let http = reqwest::Client::new();
    let get = |path: &str, token: &str| http.get(format!("{base}{path}")).bearer_auth(token).send();

    // No token, a wrong token: 401.
    assert_eq!(
        http.get(format!("{base}/api/v1/alerts"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get("/api/v1/alerts", "mmr_wrong").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    // Scope: 鵠沼's responder sees 鵠沼's alert only; the coordinator sees both.
    let list: Vec<serde_json::Value> = get("/api/v1/alerts", &sato)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["district"], "kugenuma");
    let list: Vec<serde_json::Value> = get("/api/v1/alerts?district=chogo", &sato)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list.is_empty(), "another district's alerts are not listed");
    assert_eq!(
        get(&format!("/api/v1/alerts/{chogo_alert}"), &sato)
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let list: Vec<serde_json::Value> = get("/api/v1/alerts", &coordinator)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    let shown: serde_json::Value = get(&format!("/api/v1/alerts/{kugenuma_alert}"), &sato)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["timeline"][0]["kind"], "created");
    assert_eq!(
        get("/api/v1/alerts?state=nonsense", &sato)
            .await
            .unwrap()
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Acknowledge: stops the escalation; the second responder learns who took it.
    let post = |path: String, token: &str| http.post(format!("{base}{path}")).bearer_auth(token);
    let acked = post(format!("/api/v1/alerts/{kugenuma_alert}/ack"), &sato)
        .send()
        .await
        .unwrap();
    assert_eq!(acked.status(), StatusCode::OK);
    let acked: serde_json::Value = acked.json().await.unwrap();
    assert_eq!(
        (acked["state"].as_str(), acked["acknowledged_by"].as_str()),
        (Some("acknowledged"), Some("responder:p-sato"))
    );
    assert!(acked["next_escalation_at"].is_null());
    let late = post(format!("/api/v1/alerts/{kugenuma_alert}/ack"), &suzuki)
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), StatusCode::CONFLICT);
    assert!(late.text().await.unwrap().contains("responder:p-sato"));
    assert_eq!(
        post(format!("/api/v1/alerts/{chogo_alert}/ack"), &sato)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // Note and resolve.
    let note = post(format!("/api/v1/alerts/{kugenuma_alert}/notes"), &sato)
        .json(&serde_json::json!({ "text": "訪問して無事を確認" }))
        .send()
        .await
        .unwrap();
    assert_eq!(note.status(), StatusCode::NO_CONTENT);
    let empty = post(format!("/api/v1/alerts/{kugenuma_alert}/notes"), &sato)
        .json(&serde_json::json!({ "text": " " }))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = post(format!("/api/v1/alerts/{kugenuma_alert}/resolve"), &sato)
        .json(&serde_json::json!({ "outcome": "fine" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let resolved = post(format!("/api/v1/alerts/{kugenuma_alert}/resolve"), &sato)
        .json(&serde_json::json!({ "outcome": "無事確認" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), StatusCode::OK);
    let resolved: serde_json::Value = resolved.json().await.unwrap();
    assert_eq!(
        (resolved["state"].as_str(), resolved["outcome"].as_str()),
        (Some("resolved"), Some("safe"))
    );
    let timeline: Vec<_> = store
        .alert_timeline(kugenuma_alert)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        timeline,
        [
            AlertEventKind::Created,
            AlertEventKind::Acknowledged,
            AlertEventKind::Note,
            AlertEventKind::Resolved
        ]
    );
    // Each state change is queued for the MQTT alerts topic.
    let events: Vec<_> = store
        .list_notifications(kugenuma_alert)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.body["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["acknowledged", "resolved"]);

    // The API describes itself.
    let doc: serde_json::Value = http
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/api/v1/alerts/{id}/ack"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/concerns"]["post"].is_object());
    // The partners' vocabulary as documented is the one intake understands.
    let documented: Vec<&str> = doc["components"]["schemas"]["ConcernReport"]["properties"]["seen"]
        ["items"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let understood: Vec<&str> = Observation::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(documented, understood);
    let _ = chogo;
}

mimamori_testkit::main!();
