//! A partner's webhook receiver, local: it answers the scripted statuses in turn (then 200) and
//! keeps what it got, headers and body.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use std::sync::{Arc, Mutex};

/// What the receiver got, and what it is yet to answer.
#[derive(Clone, Default)]
pub struct Receiver {
    /// The statuses still to answer, in turn; then 200.
    script: Arc<Mutex<Vec<u16>>>,
    /// Every request: the status answered, its headers, its JSON body.
    pub got: Arc<Mutex<Vec<(u16, HeaderMap, serde_json::Value)>>>,
    /// Notified at each request, for tests waiting on a running outbox.
    pub arrived: Arc<tokio::sync::Notify>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let status = {
        let mut s = r.script.lock().unwrap();
        if s.is_empty() { 200 } else { s.remove(0) }
    };
    r.got
        .lock()
        .unwrap()
        .push((status, headers, serde_json::from_str(&body).unwrap()));
    r.arrived.notify_one();
    StatusCode::from_u16(status).unwrap()
}

/// A receiver answering `script` first, on `127.0.0.1:0`: it and its URL.
pub async fn receiver(script: Vec<u16>) -> (Receiver, String) {
    let r = Receiver {
        script: Arc::new(Mutex::new(script)),
        ..Default::default()
    };
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (r, url)
}
