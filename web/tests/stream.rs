//! The alert stream over real HTTP: the published key verifies what the events API returns,
//! a consumer that missed messages gets exactly those, a district's integration sees its own,
//! and every hostile request gets a clear 4xx while the service carries on.

use chrono::{DateTime, Utc};
use mimamori_core::alert_stream::{PublicKey, StreamSigner, verify};
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::{Store, StreamMessage};
use mimamori_testapp::{Options, spawn_app};
use reqwest::StatusCode;

on_both_backends!(
    a_consumer_that_missed_messages_reads_exactly_those_signed_with_the_published_key,
    hostile_requests_get_a_clear_4xx_and_the_stream_carries_on,
);

fn t0() -> DateTime<Utc> {
    "2026-12-01T00:00:00Z".parse().unwrap()
}

async fn integration(store: &Store, id: &str, district: Option<&str>) -> String {
    let secret = Integration::generate_secret();
    store
        .add_integration(
            &NewIntegration {
                id: id.into(),
                name: id.into(),
                district: district.map(|d| DistrictId::parse(d).unwrap()),
                secret_hash: token_hash(&secret),
            },
            t0(),
        )
        .await
        .unwrap();
    secret
}

/// Stream messages for `count` alerts in turn in kugenuma, tsujido and triage, as the alert
/// service writes them (one MQTT notification each).
async fn stream_of(store: &Store, count: usize) {
    let signer = StreamSigner::from_store(store, t0()).await.unwrap();
    for i in 0..count {
        let district = ["kugenuma", "tsujido", ""][i % 3];
        let alert = store
            .open_alert(
                &NewAlert {
                    subject: Subject::parse_key(&format!("resident:r-{i}")).unwrap(),
                    kind: AlertKind::Emergency,
                    severity: Severity::Critical,
                    district: (!district.is_empty()).then(|| DistrictId::parse(district).unwrap()),
                    summary: "緊急通報".into(),
                    detail: serde_json::json!({}),
                    at: t0(),
                },
                &[NewNotification {
                    channel: Channel::Mqtt,
                    target: "alert-topic".into(),
                    body: serde_json::json!({ "event": "raised" }),
                    not_before: t0(),
                }],
            )
            .await
            .unwrap()
            .alert;
        let n = store.list_notifications(alert.id).await.unwrap()[0].clone();
        store
            .append_to_alert_stream(n.id, t0(), |a, position| StreamMessage {
                topic: mimamori_alerts::notify::alert_topic(a),
                message: signer.sign(&mimamori_alerts::notify::payload(&n, a), position),
            })
            .await
            .unwrap();
    }
}

async fn a_consumer_that_missed_messages_reads_exactly_those_signed_with_the_published_key(
    store: Store,
    _url: String,
) {
    let city = integration(&store, "int-city", None).await;
    let kugenuma = integration(&store, "int-kugenuma", Some("kugenuma")).await;
    stream_of(&store, 10).await;
    let app = spawn_app(store.clone(), Options::at(t0())).await;

    // The key: no token needed, nothing secret in it.
    let key: serde_json::Value = app
        .http
        .get(app.url("/api/v1/alerts/key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(key["algorithm"], "Ed25519");
    assert_eq!(key.as_object().unwrap().len(), 3, "{key}");
    let public = PublicKey::from_hex(key["public_key"].as_str().unwrap()).unwrap();
    assert_eq!(key["kid"], public.kid);

    let events = |token: &str, query: &str| {
        let request = app
            .http
            .get(app.url(&format!("/api/v1/alerts/events{query}")))
            .bearer_auth(token);
        async move {
            let r = request.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["cache-control"], "no-store");
            r.json::<serde_json::Value>().await.unwrap()
        }
    };

    // A consumer that applied up to 6 reads 7, 8, 9, 10: exactly those, in order, each verified.
    let page = events(&city, "?after=6").await;
    let seqs: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let fields = verify(e["message"].as_str().unwrap().as_bytes(), &public).unwrap();
            assert_eq!(fields["seq"], e["seq"]);
            assert!(
                e["topic"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{}", fields["alert"]["id"])),
                "{e}"
            );
            e["seq"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(seqs, [7, 8, 9, 10]);
    assert_eq!(
        (&page["next_after"], &page["head"], &page["more"]),
        (
            &serde_json::json!(10),
            &serde_json::json!(10),
            &serde_json::json!(false)
        )
    );
    // Paging: 3 at a time from the start, following next_after, gives 1..=10 once.
    let (mut after, mut all) = (0, Vec::new());
    loop {
        let page = events(&city, &format!("?after={after}&limit=3")).await;
        for e in page["events"].as_array().unwrap() {
            all.push(e["seq"].as_i64().unwrap());
        }
        after = page["next_after"].as_i64().unwrap();
        if page["more"] != true {
            break;
        }
    }
    assert_eq!(all, (1..=10).collect::<Vec<_>>());
    // Up to date: nothing, the same place.
    let none = events(&city, "?after=10").await;
    assert_eq!(none["events"], serde_json::json!([]));
    assert_eq!(none["next_after"], 10);
    // Without after: from the start.
    assert_eq!(
        events(&city, "").await["events"].as_array().unwrap().len(),
        10
    );

    // 鵠沼's integration: its district's messages only, and past the others' numbers.
    let page = events(&kugenuma, "?after=0").await;
    let theirs: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let fields = verify(e["message"].as_str().unwrap().as_bytes(), &public).unwrap();
            assert_eq!(fields["alert"]["district"], "kugenuma");
            e["seq"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(theirs, [1, 4, 7, 10]);
    assert_eq!(page["next_after"], 10);
    let page = events(&kugenuma, "?after=4&limit=1").await;
    assert_eq!(page["events"][0]["seq"], 7);
    assert_eq!(
        (&page["next_after"], &page["more"]),
        (&serde_json::json!(7), &serde_json::json!(true))
    );

    // Both are described, with the page size this server caps at.
    let doc: serde_json::Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/alerts/key"]["get"].is_object());
    let events = &doc["paths"]["/api/v1/alerts/events"]["get"];
    assert_eq!(events["security"][0]["integration"], serde_json::json!([]));
    assert_eq!(
        events["parameters"][1]["schema"]["maximum"],
        mimamori_web::stream::MAX_LIMIT
    );
}

async fn hostile_requests_get_a_clear_4xx_and_the_stream_carries_on(store: Store, _url: String) {
    let city = integration(&store, "int-city", None).await;
    let disabled = integration(&store, "int-gone", None).await;
    store.disable_integration("int-gone", t0()).await.unwrap();
    // A responder's and a partner's tokens open other doors, not this one.
    mimamori_testapp::people::responder(&store, "p-sato", "houkatsu-kugenuma", "佐藤", None, None)
        .await;
    let responder = format!("mmr_{}", mimamori_core::secret::generate(33));
    store
        .add_responder_token(
            &ResponderId::parse("p-sato").unwrap(),
            &token_hash(&responder),
            t0(),
        )
        .await
        .unwrap();
    let partner = mimamori_core::secret::generate_partner_token();
    store
        .add_partner(
            &NewPartner {
                id: PartnerId::parse("pt-post").unwrap(),
                name: "藤沢郵便局".into(),
                kind: PartnerKind::Post,
                agreement: None,
            },
            &token_hash(&partner),
            t0(),
        )
        .await
        .unwrap();
    stream_of(&store, 3).await;
    let app = spawn_app(store.clone(), Options::at(t0())).await;

    let get = |token: Option<&str>, query: &str| {
        let mut request = app
            .http
            .get(app.url(&format!("/api/v1/alerts/events{query}")));
        if let Some(t) = token {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        async move {
            let r = request.send().await.unwrap();
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, body)
        }
    };

    let unauthorized = [
        None,
        Some(""),
        Some("mmi_not-a-real-secret"),
        Some(responder.as_str()),
        Some(partner.as_str()),
        Some(disabled.as_str()),
    ];
    for token in unauthorized {
        let (status, body) = get(token, "?after=0").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(
            body["error"].as_str().unwrap().contains("連携用トークン"),
            "{body}"
        );
        assert!(
            !body.to_string().contains("seq"),
            "nothing of the stream: {body}"
        );
    }
    for query in [
        "?after=-1",
        "?after=abc",
        "?after=1.5",
        "?after=99999999999999999999999",
        "?after=",
        "?after=0x10",
        "?limit=0",
        "?limit=-5",
        "?limit=many",
        "?after=0&limit=",
    ] {
        let (status, body) = get(Some(&city), query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(" / "), "Japanese and English: {message}");
    }
    // A huge page is capped, a huge after is simply past the head.
    let (status, body) = get(Some(&city), "?limit=100000").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["events"].as_array().unwrap().len(), 3);
    let (status, body) = get(Some(&city), &format!("?after={}", i64::MAX)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&body["events"], &body["head"]),
        (&serde_json::json!([]), &serde_json::json!(3))
    );

    // The service carries on: the right token still reads, health still answers.
    let (status, body) = get(Some(&city), "?after=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

mimamori_testkit::main!();
