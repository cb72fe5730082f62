//! The people who respond: responders of the city's teams, and the alerts they are shown.

use mimamori_core::domain::*;
use mimamori_core::storage::{AlertFilter, Store};

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
