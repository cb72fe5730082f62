//! Telegram: responders' chats as a channel of the outbox, and the bot's side of the
//! conversation — `/start CODE` links a chat to a responder, the buttons 対応します (acknowledge)
//! and 解決 (resolve, then the outcome) act on the alert as that responder.
//!
//! - Sending ([`Sender`]): one message per notification row, rendered at send time; its id is
//!   kept so that acknowledgement and resolution edit every recipient's message to show who took
//!   it. Telegram's limits are honoured: about one message a second per chat and
//!   `max_per_second` in all ([`Pacer`]), 429 `retry_after` passed to the outbox, 403 (blocked,
//!   deactivated) a permanent failure that the outbox flags to the operators.
//! - Receiving: long polling (`getUpdates`, the offset kept in the store) by default, or a
//!   webhook route (`POST /telegram/webhook`, checked against the secret token header).
//!   Button presses from Telegram users who are not linked responders are refused, audited and
//!   logged; a responder acts only on alerts of their own district (city-wide teams on all).

use super::message::{self, Context};
use super::{Event, SendError, Sender, Told, retry_storage};
use crate::actions::{Actions, Via};
use mimamori_core::clock::Clock;
use mimamori_core::config::TelegramConfig;
use mimamori_core::domain::{
    Actor, Alert, AlertId, AlertKind, AlertState, NewAuditEntry, Notification, Outcome, Responder,
};
use mimamori_core::secret::{constant_time_eq, token_hash};
use mimamori_core::storage::{
    AckResult, LinkCodeResult, ResolveResult, StorageError, Store, TelegramMessage,
};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::prelude::Requester;
use teloxide::types::{
    AllowedUpdate, CallbackQuery, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, Message,
    Seconds, Update, UpdateKind,
};
use tokio_util::sync::CancellationToken;

/// Where the offset of the next update to fetch is kept.
const OFFSET_KEY: &str = "telegram_update_offset";

/// How long a getUpdates call waits for updates (under the HTTP client's 17 s timeout).
const LONG_POLL_SECONDS: u32 = 10;

/// The path Telegram posts updates to in webhook mode.
pub const WEBHOOK_PATH: &str = "/telegram/webhook";

/// Why a bot step failed.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error("Telegram request failed: {0}")]
    Telegram(#[from] RequestError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The bot: sends alert messages and handles what responders send back.
pub struct Telegram {
    bot: teloxide::Bot,
    /// Delivery's own HTTP client and the methods' base URL (`{api_url}/bot{token}/`): see
    /// [`Telegram::call`].
    http: reqwest::Client,
    methods_url: String,
    store: Store,
    ctx: Context,
    /// What a button does: acknowledge or resolve, as on every surface.
    actions: Actions,
    clock: Arc<dyn Clock>,
    pacer: Pacer,
}

impl Telegram {
    pub fn new(
        config: &TelegramConfig,
        store: Store,
        ctx: Context,
        actions: Actions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, url::ParseError> {
        super::install_crypto_provider();
        let api_url = url::Url::parse(config.api_url.trim_end_matches('/'))?;
        let methods_url = format!(
            "{}/bot{}/",
            api_url.as_str().trim_end_matches('/'),
            config.token.expose_secret()
        );
        Ok(Self {
            bot: teloxide::Bot::new(config.token.expose_secret()).set_api_url(api_url),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(17))
                .build()
                .unwrap_or_default(),
            methods_url,
            store,
            ctx,
            actions,
            clock,
            pacer: Pacer::new(
                Duration::from_millis(config.per_chat_interval_ms),
                config.max_per_second,
            ),
        })
    }

    /// Checks the token with `getMe`; returns the bot's username (for `t.me/NAME?start=CODE`).
    pub async fn check(&self) -> Result<String, BotError> {
        let me = self.bot.get_me().await?;
        Ok(me.user.username.clone().unwrap_or_default())
    }

    /// Fetches and handles one batch of updates (waiting up to `timeout` seconds for them);
    /// returns how many were handled. The offset is saved after each update, so an update is
    /// handled again only if the process stops in the middle of it.
    pub async fn poll_once(&self, timeout: u32) -> Result<usize, BotError> {
        let offset: i32 = self
            .store
            .platform_value(OFFSET_KEY)
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut request = self.bot.get_updates();
        request.offset = Some(offset);
        request.timeout = Some(timeout);
        request.allowed_updates = Some(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        let updates = request.await?;
        let mut handled = 0;
        for update in updates {
            let next = update.id.0 as i64 + 1;
            self.handle(update).await?;
            self.store
                .set_platform_value(OFFSET_KEY, &next.to_string(), self.clock.now())
                .await?;
            handled += 1;
        }
        Ok(handled)
    }

    /// Long polling until `shutdown`. Removes a webhook first: Telegram refuses getUpdates
    /// while one is set.
    pub async fn run_polling(self: Arc<Self>, shutdown: CancellationToken) {
        if let Err(e) = self.bot.delete_webhook().await {
            tracing::warn!(error = %e, "Telegram: could not remove a webhook before polling.");
        }
        let mut backoff = Duration::from_secs(1);
        loop {
            let step = tokio::select! {
                () = shutdown.cancelled() => break,
                r = self.poll_once(LONG_POLL_SECONDS) => r,
            };
            match step {
                Ok(_) => backoff = Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(error = %e, "Telegram polling failed; retrying.");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
        tracing::info!("Telegram polling stopped.");
    }

    /// Tells Telegram to post updates to `public_url` + [`WEBHOOK_PATH`] with `secret`.
    pub async fn set_webhook(&self, public_url: &str, secret: &str) -> Result<(), BotError> {
        let url = url::Url::parse(&format!(
            "{}{WEBHOOK_PATH}",
            public_url.trim_end_matches('/')
        ))
        .map_err(|e| BotError::Storage(StorageError::Conflict(format!("webhook URL: {e}"))))?;
        let mut request = self.bot.set_webhook(url);
        request.secret_token = Some(secret.to_string());
        request.allowed_updates = Some(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
        request.await?;
        Ok(())
    }

    /// The webhook route, to merge into the application's router. Calls without the secret
    /// token header are refused (401) and not handled.
    pub fn webhook_router(self: Arc<Self>, secret: String) -> axum::Router {
        use axum::http::{HeaderMap, StatusCode};
        let secret = Arc::new(secret);
        axum::Router::new().route(
            WEBHOOK_PATH,
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let bot = self.clone();
                let secret = secret.clone();
                async move {
                    let given = headers
                        .get("x-telegram-bot-api-secret-token")
                        .map(|v| v.as_bytes())
                        .unwrap_or_default();
                    if !constant_time_eq(given, secret.as_bytes()) {
                        tracing::warn!("Telegram webhook call without the right secret; refused.");
                        return StatusCode::UNAUTHORIZED;
                    }
                    let update: Update = match serde_json::from_str(&body) {
                        Ok(u) => u,
                        Err(_) => return StatusCode::BAD_REQUEST,
                    };
                    match bot.handle(update).await {
                        Ok(()) => StatusCode::OK,
                        // Telegram sends it again later.
                        Err(e) => {
                            tracing::error!(error = %e, "Telegram update failed.");
                            StatusCode::SERVICE_UNAVAILABLE
                        }
                    }
                }
            }),
        )
    }

    /// Handles one update: a message (`/start CODE`) or a button press.
    pub async fn handle(&self, update: Update) -> Result<(), BotError> {
        match update.kind {
            UpdateKind::Message(m) => self.on_message(&m).await,
            UpdateKind::CallbackQuery(q) => self.on_button(&q).await,
            _ => Ok(()),
        }
    }

    async fn on_message(&self, m: &Message) -> Result<(), BotError> {
        let Some(text) = m.text() else {
            return Ok(());
        };
        let Some(user) = m.from.as_ref() else {
            return Ok(());
        };
        let reply = match text.trim().strip_prefix("/start") {
            Some(code) if !m.chat.is_private() => {
                let _ = code;
                "見守りの通知は個人チャットでのみ受け取れます。ボットとの個人チャットで /start コード を送ってください。".to_string()
            }
            Some(code) if !code.trim().is_empty() => {
                let now = self.clock.now();
                match self
                    .store
                    .use_link_code(&token_hash(code.trim()), m.chat.id.0, user.id.0 as i64, now)
                    .await?
                {
                    LinkCodeResult::Linked(r) => {
                        tracing::info!(responder_id = %r.id, "Telegram chat linked to a responder.");
                        let team = self.store.get_team(&r.team).await?;
                        format!(
                            "連携しました。{}のアラートをこのチャットでお知らせします。\n通知のボタン「対応します」「解決」で対応を記録できます。",
                            team.name
                        )
                    }
                    LinkCodeResult::Refused => {
                        tracing::warn!(telegram_user_id = user.id.0, "Telegram link code refused (unknown, used or expired).");
                        self.audit_refusal(user.id.0 as i64, "link_code", None).await?;
                        "このコードは無効です（使用済み・期限切れを含みます）。管理者に新しいコードを発行してもらってください。".to_string()
                    }
                }
            }
            _ => "見守り mimamori の通知用ボットです。管理者から受け取ったコードを「/start コード」の形で送ると、アラートを受け取れるようになります。".to_string(),
        };
        self.pacer.wait(m.chat.id.0).await;
        self.bot.send_message(m.chat.id, reply).await?;
        Ok(())
    }

    async fn on_button(&self, q: &CallbackQuery) -> Result<(), BotError> {
        let data = q.data.as_deref().unwrap_or_default();
        let Some(action) = Action::parse(data) else {
            self.answer(q, "この操作は使えません。", false).await?;
            return Ok(());
        };
        let user_id = q.from.id.0 as i64;
        let Some(responder) = self.store.responder_by_telegram_user(user_id).await? else {
            tracing::warn!(
                telegram_user_id = user_id,
                alert_id = %action.alert(),
                "Telegram button pressed by a user who is not a linked responder; refused."
            );
            self.audit_refusal(user_id, "button", Some(action.alert()))
                .await?;
            self.answer(
                q,
                "登録されていない利用者です。操作は記録されませんでした。",
                true,
            )
            .await?;
            return Ok(());
        };
        let alert = match self.store.get_alert(action.alert()).await {
            Ok(a) if self.may_handle(&responder, &a).await? => a,
            Ok(_) | Err(StorageError::NotFound { .. }) => {
                self.answer(q, "このアラートは担当範囲外です。", true)
                    .await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let actor = Actor::responder(&responder.id);
        match action {
            Action::Ack(_) => match self
                .actions
                .acknowledge(&alert, &actor, Via::Telegram)
                .await?
            {
                AckResult::Acknowledged(_) => {
                    self.answer(q, "対応開始を記録しました。", false).await?;
                }
                AckResult::AlreadyAcknowledged(a) => {
                    let who = self.acknowledger(&a).await?;
                    self.answer(
                        q,
                        &format!(
                            "既に{}さんが対応中です。",
                            who.as_deref().unwrap_or("他の担当者")
                        ),
                        true,
                    )
                    .await?;
                }
                AckResult::AlreadyResolved(_) => {
                    self.answer(q, "既に解決済みです。", true).await?;
                }
            },
            Action::Resolve(id) => {
                if alert.state == AlertState::Resolved {
                    self.answer(q, "既に解決済みです。", true).await?;
                } else {
                    self.set_keyboard(q, outcome_keyboard(id, alert.kind))
                        .await?;
                    self.answer(q, "結果を選んでください。", false).await?;
                }
            }
            Action::Back(_) => {
                self.set_keyboard(q, keyboard(&alert)).await?;
                self.answer(q, "", false).await?;
            }
            Action::Outcome(_, outcome) => match self
                .actions
                .resolve(&alert, &actor, outcome, None, Via::Telegram)
                .await?
            {
                ResolveResult::Resolved(_) => {
                    self.answer(
                        q,
                        &format!("解決を記録しました（{}）。", outcome.label_ja()),
                        false,
                    )
                    .await?;
                }
                ResolveResult::AlreadyResolved(_) => {
                    self.answer(q, "既に解決済みです。", true).await?;
                }
                ResolveResult::OutcomeNotAllowed(a) => {
                    self.answer(
                        q,
                        &format!(
                            "この種別には使えない結果です。{}から選んでください。",
                            a.kind.outcomes_ja()
                        ),
                        true,
                    )
                    .await?;
                }
            },
        }
        Ok(())
    }

    /// A responder of a district team acts on that district's alerts; city-wide teams on all.
    async fn may_handle(&self, responder: &Responder, alert: &Alert) -> Result<bool, StorageError> {
        let team = self.store.get_team(&responder.team).await?;
        Ok(team.covers(alert.district.as_ref()))
    }

    async fn audit_refusal(
        &self,
        telegram_user_id: i64,
        what: &str,
        alert: Option<AlertId>,
    ) -> Result<(), StorageError> {
        self.store
            .record_audit(&NewAuditEntry {
                actor: Actor(format!("telegram:{telegram_user_id}")),
                action: "telegram.refused".into(),
                object_kind: "alert".into(),
                object_id: alert.map(|a| a.to_string()),
                detail: serde_json::json!({ "what": what }),
                at: self.clock.now(),
            })
            .await
    }

    async fn answer(&self, q: &CallbackQuery, text: &str, alert: bool) -> Result<(), BotError> {
        let mut request = self.bot.answer_callback_query(q.id.clone());
        if !text.is_empty() {
            request.text = Some(text.to_string());
        }
        request.show_alert = Some(alert);
        request.await?;
        Ok(())
    }

    async fn set_keyboard(
        &self,
        q: &CallbackQuery,
        markup: InlineKeyboardMarkup,
    ) -> Result<(), BotError> {
        let Some(m) = &q.message else {
            return Ok(());
        };
        self.pacer.wait(m.chat().id.0).await;
        let mut request = self.bot.edit_message_reply_markup(m.chat().id, m.id());
        request.reply_markup = Some(markup);
        match request.await {
            Ok(_) | Err(RequestError::Api(ApiError::MessageNotModified)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The name of the responder who acknowledged an alert, for messages to colleagues.
    async fn acknowledger(&self, alert: &Alert) -> Result<Option<String>, StorageError> {
        message::acknowledger_name(&self.store, alert).await
    }

    async fn deliver(&self, n: &Notification, alert: &Alert) -> Result<(), SendError> {
        let chat: i64 = n
            .target
            .parse()
            .map_err(|_| SendError::Permanent("not a Telegram chat id".into()))?;
        let told = Told::of(n);
        let who = self.acknowledger(alert).await.map_err(retry_storage)?;
        let text = message::render(&self.ctx, alert, told.event, told.step, who.as_deref()).text();
        match told.event {
            Event::Acknowledged | Event::Resolved => {
                // Everyone's message about the alert shows who took it, or how it ended.
                for m in self
                    .store
                    .telegram_messages(alert.id)
                    .await
                    .map_err(retry_storage)?
                    .into_iter()
                    .filter(|m| m.chat_id == chat)
                {
                    self.pacer.wait(chat).await;
                    let edited = self
                        .call(
                            "editMessageText",
                            serde_json::json!({
                                "chat_id": chat,
                                "message_id": m.message_id,
                                "text": text,
                                "reply_markup": keyboard(alert),
                            }),
                        )
                        .await;
                    match edited {
                        Ok(_) => {}
                        Err(RequestError::Api(
                            ApiError::MessageNotModified
                            | ApiError::MessageToEditNotFound
                            | ApiError::MessageCantBeEdited,
                        )) => {}
                        Err(e) => return Err(send_error(e)),
                    }
                }
                Ok(())
            }
            _ => {
                self.pacer.wait(chat).await;
                let sent = self
                    .call(
                        "sendMessage",
                        serde_json::json!({
                            "chat_id": chat,
                            "text": text,
                            "reply_markup": keyboard(alert),
                        }),
                    )
                    .await
                    .map_err(send_error)?;
                let message_id = sent["message_id"].as_i64().unwrap_or_default();
                self.store
                    .record_telegram_message(&TelegramMessage {
                        chat_id: chat,
                        message_id,
                        alert: alert.id,
                        responder: told.responder,
                        sent_at: self.clock.now(),
                    })
                    .await
                    // The message went out; not being able to edit it later is no reason to send
                    // it twice.
                    .unwrap_or_else(|e| tracing::error!(error = %e, alert_id = %alert.id, "Telegram message sent but not recorded."));
                Ok(())
            }
        }
    }
}

impl Telegram {
    /// A Bot API call of delivery (`sendMessage`, `editMessageText`): its `result`, or the
    /// failure as teloxide reports it, for [`send_error`]. Made here rather than through
    /// teloxide's `Bot`, which after any 5xx answer waits 10 s in real time before it returns
    /// (teloxide-core's `DELAY_ON_SERVER_ERROR`): while the API answered 500, every attempt held
    /// the channel's one outbox loop for 10 s, and on the fault suite's injected clock ten
    /// minutes of 500s took more than ten real minutes. The outbox backs off by itself.
    async fn call(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, RequestError> {
        let io = |e: &dyn std::fmt::Display| {
            RequestError::Io(Arc::new(std::io::Error::other(without_token(
                &e.to_string(),
            ))))
        };
        let response = self
            .http
            .post(format!("{}{method}", self.methods_url))
            .json(&params)
            .send()
            .await
            .map_err(|e| io(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| io(&e))?;
        let Ok(body) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Err(io(&format!("HTTP {status}, not a Bot API answer")));
        };
        if body["ok"].as_bool() == Some(true) {
            return Ok(body["result"].clone());
        }
        if let Some(after) = body["parameters"]["retry_after"].as_u64() {
            return Err(RequestError::RetryAfter(Seconds::from_seconds(
                after.min(u64::from(u32::MAX)) as u32,
            )));
        }
        if let Some(chat) = body["parameters"]["migrate_to_chat_id"].as_i64() {
            return Err(RequestError::MigrateToChatId(ChatId(chat)));
        }
        let description = body["description"].as_str().unwrap_or_default();
        Err(RequestError::Api(
            serde_json::from_value(serde_json::Value::String(description.into()))
                .unwrap_or_else(|_| ApiError::Unknown(description.into())),
        ))
    }
}

impl Sender for Telegram {
    fn send<'a>(
        &'a self,
        n: &'a Notification,
        alert: &'a Alert,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>> {
        Box::pin(self.deliver(n, alert))
    }
}

/// What a button asks for. Callback data: `ack:ID`, `resolve:ID`, `outcome:ID:safe`, `back:ID`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Ack(AlertId),
    Resolve(AlertId),
    Outcome(AlertId, Outcome),
    Back(AlertId),
}

impl Action {
    fn parse(data: &str) -> Option<Self> {
        let mut parts = data.split(':');
        let verb = parts.next()?;
        let id = AlertId(parts.next()?.parse().ok()?);
        let action = match verb {
            "ack" => Action::Ack(id),
            "resolve" => Action::Resolve(id),
            "back" => Action::Back(id),
            "outcome" => Action::Outcome(id, parts.next()?.parse().ok()?),
            _ => return None,
        };
        parts.next().is_none().then_some(action)
    }

    fn alert(&self) -> AlertId {
        match *self {
            Action::Ack(id) | Action::Resolve(id) | Action::Back(id) | Action::Outcome(id, _) => id,
        }
    }
}

/// The buttons under an alert message, by the alert's state.
fn keyboard(alert: &Alert) -> InlineKeyboardMarkup {
    let id = alert.id;
    let buttons = match alert.state {
        AlertState::Open => vec![
            InlineKeyboardButton::callback("対応します", format!("ack:{id}")),
            InlineKeyboardButton::callback("解決", format!("resolve:{id}")),
        ],
        AlertState::Acknowledged => {
            vec![InlineKeyboardButton::callback(
                "解決",
                format!("resolve:{id}"),
            )]
        }
        AlertState::Resolved => Vec::new(),
    };
    InlineKeyboardMarkup::new(if buttons.is_empty() {
        Vec::new()
    } else {
        vec![buttons]
    })
}

/// The outcomes to choose from when resolving an alert of `kind` (a device alert: the device's),
/// two or three a row.
fn outcome_keyboard(id: AlertId, kind: AlertKind) -> InlineKeyboardMarkup {
    let b = |o: &Outcome| {
        InlineKeyboardButton::callback(o.label_ja(), format!("outcome:{id}:{}", o.as_str()))
    };
    let outcomes = kind.outcomes();
    let (first, rest) = outcomes.split_at(2);
    InlineKeyboardMarkup::new(vec![
        first.iter().map(b).collect(),
        rest.iter().map(b).collect(),
        vec![InlineKeyboardButton::callback("戻る", format!("back:{id}"))],
    ])
}

/// How a failed Bot API call is retried, or not.
fn send_error(e: RequestError) -> SendError {
    match e {
        RequestError::RetryAfter(s) => SendError::Retry {
            reason: "Telegram: too many requests".into(),
            after: Some(s.duration()),
        },
        RequestError::Api(api) => {
            let permanent = matches!(
                api,
                ApiError::BotBlocked
                    | ApiError::UserDeactivated
                    | ApiError::ChatNotFound
                    | ApiError::CantInitiateConversation
                    | ApiError::BotKicked
                    | ApiError::BotKickedFromSupergroup
                    | ApiError::InvalidToken
            ) || matches!(&api, ApiError::Unknown(d) if d.starts_with("Forbidden") || d.starts_with("Unauthorized"));
            if permanent {
                SendError::Permanent(format!("Telegram: {api}"))
            } else {
                SendError::Retry {
                    reason: format!("Telegram: {api}"),
                    after: None,
                }
            }
        }
        RequestError::MigrateToChatId(_) => {
            SendError::Permanent("Telegram: the group became a supergroup (new chat id)".into())
        }
        // Unreachable, timed out, or a 5xx page instead of JSON.
        other => SendError::Retry {
            reason: format!(
                "Telegram unreachable: {}",
                without_token(&other.to_string())
            ),
            after: None,
        },
    }
}

/// Error texts of the HTTP client can carry the request URL, which holds the bot token.
fn without_token(s: &str) -> String {
    match s.find("/bot") {
        Some(i) => {
            let rest = &s[i + 4..];
            let end = rest.find('/').unwrap_or(rest.len());
            format!("{}/bot***{}", &s[..i], &rest[end..])
        }
        None => s.to_string(),
    }
}

/// Keeps sends within Telegram's limits: at least `per_chat` between two messages to one chat,
/// and at most `per_second` messages in all. Sends wait their turn (the Telegram channel's
/// outbox loop is one task, so waiting here delays only Telegram).
pub struct Pacer {
    per_chat: Duration,
    gap: Duration,
    last: tokio::sync::Mutex<(
        HashMap<i64, tokio::time::Instant>,
        Option<tokio::time::Instant>,
    )>,
}

impl Pacer {
    pub fn new(per_chat: Duration, per_second: u32) -> Self {
        Self {
            per_chat,
            gap: Duration::from_secs(1) / per_second.max(1),
            last: tokio::sync::Mutex::new((HashMap::new(), None)),
        }
    }

    /// Waits until a message to `chat` may go out, and counts it.
    pub async fn wait(&self, chat: i64) {
        let mut last = self.last.lock().await;
        let now = tokio::time::Instant::now();
        let mut at = now;
        if let Some(t) = last.0.get(&chat) {
            at = at.max(*t + self.per_chat);
        }
        if let Some(t) = last.1 {
            at = at.max(t + self.gap);
        }
        tokio::time::sleep_until(at).await;
        last.0.insert(chat, at);
        last.1 = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_data() {
        assert_eq!(Action::parse("ack:12"), Some(Action::Ack(AlertId(12))));
        assert_eq!(
            Action::parse("outcome:12:transported"),
            Some(Action::Outcome(AlertId(12), Outcome::Transported))
        );
        for bad in [
            "",
            "ack",
            "ack:x",
            "ack:1:2",
            "outcome:1",
            "outcome:1:nope",
            "drop:1",
        ] {
            assert_eq!(Action::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_device_alert_offers_the_devices_outcomes() {
        let labels = |kind: AlertKind| -> Vec<String> {
            outcome_keyboard(AlertId(3), kind)
                .inline_keyboard
                .iter()
                .flatten()
                .map(|b| b.text.clone())
                .collect()
        };
        assert_eq!(
            labels(AlertKind::BatteryLow),
            ["電池交換", "再接続", "機器交換", "その他", "戻る"]
        );
        assert_eq!(
            labels(AlertKind::Emergency),
            ["無事確認", "救急搬送", "誤報", "不在", "その他", "戻る"]
        );
    }

    #[test]
    fn failures_are_retried_or_flagged_like_telegram_means_them() {
        assert!(matches!(
            send_error(RequestError::RetryAfter(teloxide::types::Seconds::from_seconds(7))),
            SendError::Retry { after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        assert!(matches!(
            send_error(RequestError::Api(ApiError::BotBlocked)),
            SendError::Permanent(_)
        ));
        assert!(matches!(
            send_error(RequestError::Api(ApiError::Unknown("Bad Gateway".into()))),
            SendError::Retry { .. }
        ));
    }

    #[test]
    fn the_token_never_reaches_an_error_text() {
        assert_eq!(
            without_token(
                "error sending request for url (http://127.0.0.1:9/bot123:ABC/SendMessage)"
            ),
            "error sending request for url (http://127.0.0.1:9/bot***/SendMessage)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_message_a_second_per_chat() {
        let pacer = Pacer::new(Duration::from_secs(1), 30);
        let start = tokio::time::Instant::now();
        pacer.wait(1).await;
        pacer.wait(2).await;
        pacer.wait(1).await;
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1100), "{elapsed:?}");
    }
}
