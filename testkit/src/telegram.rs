//! A local Telegram Bot API server: the calls mimamori makes, with the JSON shapes of the public
//! Bot API documentation (<https://core.telegram.org/bots/api>).
//!
//! Paths are `/bot<token>/<method>`, the method matched case-insensitively (teloxide sends
//! `SendMessage`); parameters come as a JSON body. A wrong token answers 401 like Telegram.
//! Tests act as the people on the other side — a user sends `/start CODE`
//! ([`BotApi::user_says`]) or presses a button ([`BotApi::press`]) — and read what the bot sent
//! ([`BotApi::sent`], [`BotApi::edits`], [`BotApi::answers`]). Failures are scripted per method:
//! 429 with `retry_after`, 403 bot blocked, 5xx, or the whole server unreachable.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The bot's own user id and name, as getMe answers.
pub const BOT_USER_ID: i64 = 7_000_000_001;
pub const BOT_USERNAME: &str = "mimamori_test_bot";

/// A scripted answer for the next call of a method.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// 429 Too Many Requests with `parameters.retry_after` seconds.
    TooMany { retry_after: u64 },
    /// 403 Forbidden: bot was blocked by the user.
    Blocked,
    /// A server error with this status and an HTML body (as a proxy in front of Telegram gives).
    Server(u16),
}

/// A message the bot sent or edited.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub chat_id: i64,
    pub message_id: i64,
    pub text: String,
    /// Inline keyboard buttons, row by row flattened: (label, callback data).
    pub buttons: Vec<(String, String)>,
    /// When the server received the call.
    pub at: Instant,
}

/// One call as received: method (lower case) and parameters.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    token: String,
    next_message_id: i64,
    next_update_id: i64,
    /// Updates not yet confirmed by a getUpdates offset.
    updates: Vec<Value>,
    sent: Vec<Sent>,
    edits: Vec<Sent>,
    answers: Vec<Value>,
    calls: Vec<Call>,
    failures: Vec<(String, VecDeque<Failure>)>,
    webhook: Option<Value>,
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    new_update: Arc<Notify>,
    /// Notified after every call the bot makes.
    called: Arc<Notify>,
}

/// A running Bot API server on 127.0.0.1.
pub struct BotApi {
    /// The base URL to give the bot (`notify.telegram.api_url`).
    pub url: String,
    shared: Shared,
    addr: std::net::SocketAddr,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl BotApi {
    /// Starts a server on a free port that accepts `token`.
    pub async fn start(token: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner {
                token: token.to_string(),
                next_message_id: 100,
                next_update_id: 5000,
                ..Default::default()
            })),
            new_update: Arc::new(Notify::new()),
            called: Arc::new(Notify::new()),
        };
        let mut api = Self {
            url: format!("http://{addr}"),
            shared,
            addr,
            server: None,
        };
        api.serve(listener);
        api
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/{bot}/{method}", post(call))
            .with_state(self.shared.clone());
        self.server = Some(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        }));
    }

    /// Stops answering: connections to the port are refused until [`BotApi::resume`].
    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }

    /// Answers again on the same port, with the same state.
    pub async fn resume(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    /// The next `count` calls of `method` (e.g. `sendMessage`) fail with `failure`.
    pub fn fail_next(&self, method: &str, failure: Failure, count: usize) {
        let mut inner = self.shared.inner.lock().unwrap();
        let method = method.to_ascii_lowercase();
        let queue = match inner.failures.iter_mut().find(|(m, _)| *m == method) {
            Some((_, q)) => q,
            None => {
                inner.failures.push((method, VecDeque::new()));
                &mut inner.failures.last_mut().unwrap().1
            }
        };
        queue.extend(std::iter::repeat_n(failure, count));
    }

    /// Calls fail no more: the failures queued by [`BotApi::fail_next`] are dropped.
    pub fn clear_failures(&self) {
        self.shared.inner.lock().unwrap().failures.clear();
    }

    /// A user writes to the bot in their private chat (chat id = user id).
    pub fn user_says(&self, user_id: i64, first_name: &str, text: &str) {
        let mut inner = self.shared.inner.lock().unwrap();
        let message_id = next(&mut inner.next_message_id);
        let message = json!({
            "message_id": message_id,
            "date": unix_now(),
            "chat": { "id": user_id, "type": "private", "first_name": first_name },
            "from": user(user_id, first_name),
            "text": text,
            "entities": if text.starts_with('/') {
                json!([{ "type": "bot_command", "offset": 0, "length": text.split(' ').next().unwrap().chars().count() }])
            } else { json!([]) },
        });
        push_update(&mut inner, "message", message);
        self.shared.new_update.notify_waiters();
    }

    /// A user presses an inline button with `data` under the bot's message `message_id` in
    /// `chat_id`. Returns the callback query id the bot must answer.
    pub fn press(&self, user_id: i64, chat_id: i64, message_id: i64, data: &str) -> String {
        let mut inner = self.shared.inner.lock().unwrap();
        let text = inner
            .sent
            .iter()
            .find(|s| s.chat_id == chat_id && s.message_id == message_id)
            .map(|s| s.text.clone())
            .unwrap_or_default();
        let id = format!("cbq-{}", inner.next_update_id);
        let query = json!({
            "id": id,
            "from": user(user_id, "押した人"),
            "chat_instance": format!("ci-{chat_id}"),
            "data": data,
            "message": {
                "message_id": message_id,
                "date": unix_now(),
                "chat": { "id": chat_id, "type": "private", "first_name": "相手" },
                "from": bot_user(),
                "text": text,
            },
        });
        push_update(&mut inner, "callback_query", query);
        self.shared.new_update.notify_waiters();
        id
    }

    /// Waits (up to 30 s, then panics naming `what`) until `check` finds what it looks for in
    /// the server's state; `check` runs now and after every call the bot makes.
    pub async fn wait_until<T>(&self, what: &str, mut check: impl FnMut(&Self) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let called = self.shared.called.notified();
            tokio::pin!(called);
            called.as_mut().enable();
            if let Some(found) = check(self) {
                return found;
            }
            if tokio::time::timeout_at(deadline, called).await.is_err() {
                panic!(
                    "Bot API server: waited 30 s for {what}; calls: {:?}",
                    self.calls()
                );
            }
        }
    }

    /// Every message sent, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.inner.lock().unwrap().sent.clone()
    }

    /// Every successful editMessageText / editMessageReplyMarkup, in order.
    pub fn edits(&self) -> Vec<Sent> {
        self.shared.inner.lock().unwrap().edits.clone()
    }

    /// Every answerCallbackQuery's parameters, in order.
    pub fn answers(&self) -> Vec<Value> {
        self.shared.inner.lock().unwrap().answers.clone()
    }

    /// Every call received (failed ones too), in order.
    pub fn calls(&self) -> Vec<Call> {
        self.shared.inner.lock().unwrap().calls.clone()
    }

    /// The last setWebhook parameters (`None` after deleteWebhook).
    pub fn webhook(&self) -> Option<Value> {
        self.shared.inner.lock().unwrap().webhook.clone()
    }

    /// Takes the waiting updates out of the queue, as Telegram does when it posts them to a
    /// webhook.
    pub fn take_updates(&self) -> Vec<Value> {
        std::mem::take(&mut self.shared.inner.lock().unwrap().updates)
    }

    /// Updates waiting for the bot (not yet confirmed by an offset).
    pub fn pending_updates(&self) -> usize {
        self.shared.inner.lock().unwrap().updates.len()
    }
}

impl Drop for BotApi {
    fn drop(&mut self) {
        self.stop();
    }
}

fn next(counter: &mut i64) -> i64 {
    *counter += 1;
    *counter
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn user(id: i64, first_name: &str) -> Value {
    json!({ "id": id, "is_bot": false, "first_name": first_name, "language_code": "ja" })
}

fn bot_user() -> Value {
    json!({ "id": BOT_USER_ID, "is_bot": true, "first_name": "見守り", "username": BOT_USERNAME })
}

fn push_update(inner: &mut Inner, kind: &str, value: Value) {
    let update_id = next(&mut inner.next_update_id);
    let mut update = json!({ "update_id": update_id });
    update[kind] = value;
    inner.updates.push(update);
}

fn ok(result: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({ "ok": true, "result": result })),
    )
        .into_response()
}

fn err(status: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({ "ok": false, "error_code": status, "description": description });
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn buttons(markup: &Value) -> Vec<(String, String)> {
    markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .map(|b| {
            (
                b["text"].as_str().unwrap_or_default().to_string(),
                b["callback_data"]
                    .as_str()
                    .or(b["url"].as_str())
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn message_json(chat_id: i64, message_id: i64, text: &str, markup: &Value) -> Value {
    let mut m = json!({
        "message_id": message_id,
        "date": unix_now(),
        "chat": { "id": chat_id, "type": "private", "first_name": "相手" },
        "from": bot_user(),
        "text": text,
    });
    if !markup.is_null() {
        m["reply_markup"] = markup.clone();
    }
    m
}

async fn call(
    State(shared): State<Shared>,
    path: Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    let called = shared.called.clone();
    let response = answer(shared, path, headers, body).await;
    called.notify_waiters();
    response
}

async fn answer(
    shared: Shared,
    Path((bot, method)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    let method = method.to_ascii_lowercase();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let params: Value = if let Some(boundary) = content_type.split("boundary=").nth(1) {
        multipart_fields(&body, boundary.trim_matches('"'))
    } else if body.trim().is_empty() {
        json!({})
    } else {
        match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(_) => return err(400, "Bad Request: invalid JSON", None),
        }
    };
    // getUpdates may wait for updates (long polling) without holding the lock; the waiter is
    // registered before looking, so an update pushed in between is not missed.
    let notified = shared.new_update.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let wait = {
        let inner = shared.inner.lock().unwrap();
        if bot != format!("bot{}", inner.token) {
            return err(401, "Unauthorized", None);
        }
        method == "getupdates"
            && params["timeout"].as_u64().unwrap_or(0) > 0
            && updates_from(&inner, &params).is_empty()
    };
    if wait {
        let timeout = Duration::from_secs(params["timeout"].as_u64().unwrap_or(0).min(30));
        let _ = tokio::time::timeout(timeout, notified).await;
    }
    let mut inner = shared.inner.lock().unwrap();
    inner.calls.push(Call {
        method: method.clone(),
        params: params.clone(),
        at: Instant::now(),
    });
    let scripted = inner
        .failures
        .iter_mut()
        .find(|(m, _)| *m == method)
        .and_then(|(_, q)| q.pop_front());
    match scripted {
        Some(Failure::TooMany { retry_after }) => {
            return err(
                429,
                &format!("Too Many Requests: retry after {retry_after}"),
                Some(json!({ "retry_after": retry_after })),
            );
        }
        Some(Failure::Blocked) => return err(403, "Forbidden: bot was blocked by the user", None),
        Some(Failure::Server(status)) => {
            return (
                StatusCode::from_u16(status).unwrap(),
                "<html><body>Bad Gateway</body></html>",
            )
                .into_response();
        }
        None => {}
    }
    match method.as_str() {
        "getme" => {
            let mut me = bot_user();
            me["can_join_groups"] = json!(false);
            me["can_read_all_group_messages"] = json!(false);
            me["supports_inline_queries"] = json!(false);
            me["has_main_web_app"] = json!(false);
            ok(me)
        }
        "getupdates" => {
            let offset = params["offset"].as_i64().unwrap_or(0);
            // An offset confirms every update before it, as on Telegram.
            inner
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            ok(Value::Array(updates_from(&inner, &params)))
        }
        "sendmessage" => {
            let Some(chat_id) = params["chat_id"].as_i64() else {
                return err(400, "Bad Request: chat not found", None);
            };
            let text = params["text"].as_str().unwrap_or_default().to_string();
            if text.is_empty() {
                return err(400, "Bad Request: message text is empty", None);
            }
            if text.chars().count() > 4096 {
                return err(400, "Bad Request: message is too long", None);
            }
            let message_id = next(&mut inner.next_message_id);
            let markup = params["reply_markup"].clone();
            inner.sent.push(Sent {
                chat_id,
                message_id,
                text: text.clone(),
                buttons: buttons(&markup),
                at: Instant::now(),
            });
            ok(message_json(chat_id, message_id, &text, &markup))
        }
        "editmessagetext" | "editmessagereplymarkup" => {
            let (Some(chat_id), Some(message_id)) =
                (params["chat_id"].as_i64(), params["message_id"].as_i64())
            else {
                return err(400, "Bad Request: message to edit not found", None);
            };
            let Some(original) = inner
                .sent
                .iter()
                .find(|s| s.chat_id == chat_id && s.message_id == message_id)
                .cloned()
            else {
                return err(400, "Bad Request: message to edit not found", None);
            };
            let current = inner
                .edits
                .iter()
                .rev()
                .find(|s| s.chat_id == chat_id && s.message_id == message_id)
                .cloned()
                .unwrap_or(original);
            let text = params["text"]
                .as_str()
                .map(str::to_string)
                .unwrap_or(current.text.clone());
            let markup = params["reply_markup"].clone();
            let edited = Sent {
                chat_id,
                message_id,
                text: text.clone(),
                buttons: buttons(&markup),
                at: Instant::now(),
            };
            if edited.text == current.text && edited.buttons == current.buttons {
                return err(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                    None,
                );
            }
            inner.edits.push(edited);
            ok(message_json(chat_id, message_id, &text, &markup))
        }
        "answercallbackquery" => {
            inner.answers.push(params);
            ok(json!(true))
        }
        "setwebhook" => {
            inner.webhook = Some(params);
            ok(json!(true))
        }
        "deletewebhook" => {
            inner.webhook = None;
            ok(json!(true))
        }
        _ => err(404, "Not Found: method not found", None),
    }
}

fn updates_from(inner: &Inner, params: &Value) -> Vec<Value> {
    let offset = params["offset"].as_i64().unwrap_or(0);
    let limit = params["limit"].as_u64().unwrap_or(100) as usize;
    inner
        .updates
        .iter()
        .filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
        .take(limit)
        .cloned()
        .collect()
}

/// The fields of a `multipart/form-data` body (teloxide sends setWebhook that way), values that
/// are JSON parsed as such.
fn multipart_fields(body: &str, boundary: &str) -> Value {
    let mut fields = serde_json::Map::new();
    for part in body.split(&format!("--{boundary}")) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split("name=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        let value = value.trim_end_matches("\r\n");
        let parsed = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        fields.insert(name.to_string(), parsed);
    }
    Value::Object(fields)
}
