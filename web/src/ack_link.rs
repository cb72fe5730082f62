//! The pages behind the acknowledgement links in alert emails (`/ack/{token}`).
//!
//! `GET` only shows a confirmation page — what the alert is (kind, district, time, state; no
//! personal data) and a 「対応します」 button — so that a link preview or a mail scanner that
//! fetches the link acknowledges nothing. The button `POST`s back to the same address, which
//! checks the token (signature, expiry), that the responder is still active and covers the
//! alert's district, and uses the link up (once, in the store) before it acknowledges as that
//! responder through the `email` channel. A second use, an expired or altered link: a clear page,
//! nothing changed. Every page here is in the browser's language (`crate::language`: Japanese
//! unless it switched to English); the alert itself as the email tells it.
//!
//! The same page lets the responder resolve the alert with an outcome instead (while it is open,
//! or taken by them): the outcomes of the alert's kind, a note, and the dashboard's resolve
//! ([`crate::resolution`], `Actions::resolve`, via `email`). The form is read and checked before
//! the link is used, so a refused outcome leaves the link as it was. Either action uses the link
//! up. A form posted from another site (`Origin` or `Sec-Fetch-Site` not ours) is refused before
//! anything happens: the token in the address is the credential, and a page elsewhere must not
//! spend it.

use crate::language::{Frame, Lang};
use crate::page::{Choice, notice_in, page};
use crate::resolution::{Resolution, outcome_choices};
use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use mimamori_alerts::actions::{Actions, Via};
use mimamori_alerts::notify::Event;
use mimamori_alerts::notify::link::{Claims, LinkError, LinkSigner};
use mimamori_alerts::notify::message::{self, AlertMessage, Context};
use mimamori_core::clock::Clock;
use mimamori_core::domain::{Actor, Alert, AlertState, Responder};
use mimamori_core::storage::{AckResult, ResolveResult, StorageError, Store};
use std::sync::Arc;

/// What the pages need.
#[derive(Clone)]
pub struct AckState {
    pub store: Store,
    pub signer: LinkSigner,
    pub ctx: Context,
    /// Acknowledging, as on every surface.
    pub actions: Actions,
    pub clock: Arc<dyn Clock>,
}

/// `GET` and `POST /ack/{token}`.
pub fn router(state: AckState) -> Router {
    Router::new()
        .route(
            &format!("{}/{{token}}", mimamori_alerts::notify::email::ACK_PATH),
            get(confirm_page).post(act),
        )
        .with_state(state)
}

fn refused(lang: Lang, e: LinkError) -> Response {
    match e {
        LinkError::Invalid => notice_in(
            lang,
            StatusCode::NOT_FOUND,
            ("このリンクは無効です", "This link is not valid"),
            (
                "リンクが正しくないか、途中で切れています。メールのリンクをそのまま開くか、ダッシュボードから対応してください。",
                "The link is wrong or cut short. Open the link in the email as it is, or respond on the dashboard.",
            ),
        ),
        LinkError::Expired => notice_in(
            lang,
            StatusCode::GONE,
            (
                "このリンクは有効期限が切れています",
                "This link has expired",
            ),
            (
                "対応の記録はされていません。ダッシュボードから対応してください。",
                "Nothing was recorded. Please respond on the dashboard.",
            ),
        ),
    }
}

fn used(lang: Lang) -> Response {
    notice_in(
        lang,
        StatusCode::GONE,
        ("このリンクは使用済みです", "This link has been used"),
        (
            "このリンクでの操作は既に記録されています。リンクは1回だけ使えます。状況はダッシュボードで確認してください。",
            "What was done with this link is already recorded: a link works once. See the dashboard for where things stand.",
        ),
    )
}

fn not_yours(lang: Lang) -> Response {
    notice_in(
        lang,
        StatusCode::FORBIDDEN,
        ("このリンクでは操作できません", "This link cannot be used"),
        (
            "担当者の登録が無効になっているか、担当範囲外のアラートです。対応の記録はされていません。",
            "Your registration is no longer active, or the alert is outside your area. Nothing was recorded.",
        ),
    )
}

fn server_error(lang: Lang, e: StorageError) -> Response {
    tracing::error!(error = %e, "Acknowledgement link: storage failed.");
    notice_in(
        lang,
        StatusCode::SERVICE_UNAVAILABLE,
        ("ただいま処理できません", "This cannot be done just now"),
        (
            "しばらくしてからもう一度お試しいただくか、ダッシュボードから対応してください。",
            "Please try again in a while, or respond on the dashboard.",
        ),
    )
}

/// An email link's page: the alert as in the email (no personal data; its words as the email
/// has them), with its dashboard link, and what the link can do, in the browser's language.
#[derive(Template)]
#[template(path = "ack/alert.html")]
struct AlertShown<'a> {
    frame: Frame,
    title: String,
    w: &'static AckWords,
    summary: AlertMessage,
    /// Still open: the 対応します button.
    confirm: bool,
    /// Open, or taken by this responder: the outcomes to resolve with (none: no form).
    outcomes: Vec<Choice>,
    /// Just acknowledged through the link, by this responder.
    acknowledged_by: Option<&'a str>,
    /// Just resolved through the link: how it ended.
    resolved_as: Option<&'static str>,
}

/// What a link's page says around the alert, in one language.
struct AckWords {
    take_intro: &'static str,
    take: &'static str,
    resolve_heading: &'static str,
    resolve_intro: &'static str,
    outcome: &'static str,
    note: &'static str,
    resolve: &'static str,
    /// Before and after the name of the responder who took it just now.
    acknowledged: (&'static str, &'static str),
    /// Before and after the outcome it was just resolved with.
    resolved: (&'static str, &'static str),
    details: &'static str,
}

const ACK_JA: AckWords = AckWords {
    take_intro: "このアラートの対応を引き受ける場合は、下のボタンを押してください。ほかの担当者に、あなたが対応中であることが伝わります。",
    take: "対応します",
    resolve_heading: "解決を記録する",
    resolve_intro: "対応が済んだ場合は、結果を選んで解決を記録できます。このリンクで行える操作は1回だけです。",
    outcome: "結果",
    note: "メモ（任意）",
    resolve: "解決を記録する",
    acknowledged: (
        "ほかの担当者には、",
        "さんが対応中であることが伝わります。解決したら、ダッシュボードで結果を記録してください。",
    ),
    resolved: (
        "結果「",
        "」で解決を記録しました。ほかの担当者と連携システムに伝わります。",
    ),
    details: "詳細を見る（要ログイン）",
};

const ACK_EN: AckWords = AckWords {
    take_intro: "To take this alert on, press the button below. The other responders will see that you are handling it.",
    take: "I'll respond",
    resolve_heading: "Record the resolution",
    resolve_intro: "When it is done, choose the outcome to record the resolution. This link can be used for one action only.",
    outcome: "Outcome",
    note: "Note (optional)",
    resolve: "Record the resolution",
    acknowledged: (
        "The other responders will see that ",
        " is handling it. When it is resolved, record the outcome on the dashboard.",
    ),
    resolved: (
        "Resolved as “",
        "”. The other responders and connected systems are told.",
    ),
    details: "See the details (sign-in required)",
};

impl AlertShown<'_> {
    fn new(
        lang: Lang,
        token: &str,
        title: impl Into<String>,
        ctx: &Context,
        alert: &Alert,
        who: Option<&str>,
    ) -> Self {
        AlertShown {
            frame: lang.frame(&format!(
                "{}/{token}",
                mimamori_alerts::notify::email::ACK_PATH
            )),
            title: title.into(),
            w: lang.pick(&ACK_JA, &ACK_EN),
            summary: message::render(ctx, alert, Event::Raised, None, who),
            confirm: false,
            outcomes: Vec::new(),
            acknowledged_by: None,
            resolved_as: None,
        }
    }
}

/// The outcomes of `kind` after a 「選んでください」 that is no outcome: a resolution is chosen,
/// never the first option by a hurried press.
fn choose(kind: mimamori_core::domain::AlertKind, lang: Lang) -> Vec<Choice> {
    let mut all = vec![Choice::new("", lang.pick("選んでください", "Choose"))];
    all.extend(outcome_choices(kind, lang));
    all
}

/// The title of the page of an alert someone else took.
fn taken(lang: Lang, who: Option<&str>) -> String {
    match lang {
        Lang::Ja => format!("既に{}さんが対応中です", who.unwrap_or("他の担当者")),
        Lang::En => format!(
            "{} is already handling this alert",
            who.unwrap_or("Another responder")
        ),
    }
}

/// The title of the page of a resolved alert.
fn resolved_title(lang: Lang) -> &'static str {
    lang.pick(
        "このアラートは解決済みです",
        "This alert is already resolved",
    )
}

/// Checks a token and finds the responder it was issued to, still active and covering the alert.
async fn check(
    state: &AckState,
    lang: Lang,
    token: &str,
) -> Result<(Claims, Responder, Alert), Response> {
    let claims = state
        .signer
        .verify(token, state.clock.now())
        .map_err(|e| refused(lang, e))?;
    let responder = match state.store.get_responder(&claims.responder).await {
        Ok(r) if r.active => r,
        Ok(_) | Err(StorageError::NotFound { .. }) => return Err(not_yours(lang)),
        Err(e) => return Err(server_error(lang, e)),
    };
    let alert = match state.store.get_alert(claims.alert).await {
        Ok(a) => a,
        Err(StorageError::NotFound { .. }) => return Err(refused(lang, LinkError::Invalid)),
        Err(e) => return Err(server_error(lang, e)),
    };
    match state.store.get_team(&responder.team).await {
        Ok(team) if team.covers(alert.district.as_ref()) => Ok((claims, responder, alert)),
        Ok(_) | Err(StorageError::NotFound { .. }) => Err(not_yours(lang)),
        Err(e) => Err(server_error(lang, e)),
    }
}

async fn confirm_page(
    State(state): State<AckState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = Lang::of(&headers);
    let (claims, responder, alert) = match check(&state, lang, &token).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    match state.store.link_used(&claims.nonce).await {
        Ok(true) => return used(lang),
        Ok(false) => {}
        Err(e) => return server_error(lang, e),
    }
    let who = match message::acknowledger_name(&state.store, &alert).await {
        Ok(w) => w,
        Err(e) => return server_error(lang, e),
    };
    let shown =
        |title: String| AlertShown::new(lang, &token, title, &state.ctx, &alert, who.as_deref());
    let mine = alert.acknowledged_by == Some(Actor::responder(&responder.id).0);
    let shown = match alert.state {
        AlertState::Open => AlertShown {
            confirm: true,
            outcomes: choose(alert.kind, lang),
            ..shown(lang.pick("対応の確認", "Will you respond?").into())
        },
        AlertState::Acknowledged if mine => AlertShown {
            outcomes: choose(alert.kind, lang),
            ..shown(
                lang.pick("対応中のアラート", "An alert you are handling")
                    .into(),
            )
        },
        AlertState::Acknowledged => shown(taken(lang, who.as_deref())),
        AlertState::Resolved => shown(resolved_title(lang).into()),
    };
    page(StatusCode::OK, &shown)
}

/// Whether a form came from another site's page: a browser says where it was posted from in
/// `Sec-Fetch-Site` and `Origin`. Neither (a mail client, a script) or `Origin: null` is taken as
/// ours: the token in the address is the credential, this check is a second line.
fn from_elsewhere(headers: &HeaderMap, public_url: &str) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if matches!(text("sec-fetch-site"), Some("cross-site" | "same-site")) {
        return true;
    }
    // `null`: our pages send no referrer, and with that policy a browser posts `Origin: null`.
    let Some(origin) = text(header::ORIGIN.as_str()).filter(|o| *o != "null") else {
        return false;
    };
    let host = text(header::HOST.as_str()).unwrap_or("");
    let ours = |scheme: &str| !host.is_empty() && origin == format!("{scheme}://{host}");
    !(ours("http") || ours("https") || origin == public_url.trim_end_matches('/'))
}

fn forged(lang: Lang) -> Response {
    notice_in(
        lang,
        StatusCode::FORBIDDEN,
        ("操作を受け付けられません", "Not accepted"),
        (
            "ほかのサイトからの送信です。対応の記録はされていません。メールのリンクを開き直してください。",
            "The form was sent from another site. Nothing was recorded. Open the link in the email again.",
        ),
    )
}

/// What the page's buttons send: nothing (対応します), or `action=resolve` with an outcome and
/// a note (解決).
#[derive(Default)]
struct AckForm {
    resolve: bool,
    outcome: Option<String>,
    note: Option<String>,
}

impl AckForm {
    /// The form in `body` (URL-encoded; unknown fields ignored; an empty body: 対応します).
    fn parse(body: &[u8]) -> Self {
        let mut form = AckForm::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            match &*k {
                "action" => form.resolve = v == "resolve",
                "outcome" => form.outcome = Some(v.into_owned()),
                "note" => form.note = Some(v.into_owned()),
                _ => {}
            }
        }
        form
    }
}

async fn act(
    State(state): State<AckState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = Lang::of(&headers);
    if from_elsewhere(&headers, &state.ctx.public_url) {
        return forged(lang);
    }
    let form = AckForm::parse(&body);
    if form.resolve {
        resolve(state, lang, token, form).await
    } else {
        acknowledge(state, lang, token).await
    }
}

/// 解決 on the link's page: the outcome checked against the alert's kind before the link is
/// used, then the dashboard's resolve as the link's responder, via `email`.
async fn resolve(state: AckState, lang: Lang, token: String, form: AckForm) -> Response {
    let (claims, responder, alert) = match check(&state, lang, &token).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let storage = |e| server_error(lang, e);
    let resolution =
        match Resolution::read(alert.kind, form.outcome.as_deref(), form.note.as_deref()) {
            Ok(r) => r,
            Err(refused) => return refused.page(lang, storage),
        };
    let shown = |title: String, alert: &Alert, who: Option<&str>| {
        AlertShown::new(lang, &token, title, &state.ctx, alert, who)
    };
    let actor = Actor::responder(&responder.id);
    if alert.state == AlertState::Acknowledged && alert.acknowledged_by.as_ref() != Some(&actor.0) {
        let who = message::acknowledger_name(&state.store, &alert)
            .await
            .ok()
            .flatten();
        return page(
            StatusCode::OK,
            &shown(taken(lang, who.as_deref()), &alert, who.as_deref()),
        );
    }
    match state
        .store
        .use_link(&claims.nonce, alert.id, &responder.id, state.clock.now())
        .await
    {
        Ok(true) => {}
        Ok(false) => return used(lang),
        Err(e) => return server_error(lang, e),
    }
    match resolution
        .apply(&state.actions, &alert, &actor, Via::Email)
        .await
    {
        Ok(ResolveResult::Resolved(a)) => page(
            StatusCode::OK,
            &AlertShown {
                resolved_as: a.outcome.map(|o| lang.outcome(o)),
                ..shown(
                    lang.pick("解決を記録しました", "Resolution recorded")
                        .into(),
                    &a,
                    None,
                )
            },
        ),
        Ok(ResolveResult::AlreadyResolved(a)) => page(
            StatusCode::OK,
            &shown(resolved_title(lang).into(), &a, None),
        ),
        // `apply` answers a refused outcome as `Err`; read before the link was used anyway.
        Ok(ResolveResult::OutcomeNotAllowed(a)) => {
            crate::resolution::Refused::NotAllowed(a.kind).page(lang, storage)
        }
        Err(refused) => refused.page(lang, storage),
    }
}

async fn acknowledge(state: AckState, lang: Lang, token: String) -> Response {
    let (claims, responder, alert) = match check(&state, lang, &token).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let now = state.clock.now();
    match state
        .store
        .use_link(&claims.nonce, alert.id, &responder.id, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => return used(lang),
        Err(e) => return server_error(lang, e),
    }
    let actor = Actor::responder(&responder.id);
    let result = match state.actions.acknowledge(&alert, &actor, Via::Email).await {
        Ok(r) => r,
        Err(e) => return server_error(lang, e),
    };
    let shown = |title: String, alert: &Alert, who: Option<&str>| {
        AlertShown::new(lang, &token, title, &state.ctx, alert, who)
    };
    match result {
        AckResult::Acknowledged(a) => page(
            StatusCode::OK,
            &AlertShown {
                acknowledged_by: Some(&responder.name),
                ..shown(
                    lang.pick("対応開始を記録しました", "Recorded: you are responding")
                        .into(),
                    &a,
                    Some(&responder.name),
                )
            },
        ),
        AckResult::AlreadyAcknowledged(a) => {
            let who = message::acknowledger_name(&state.store, &a)
                .await
                .ok()
                .flatten();
            page(
                StatusCode::OK,
                &shown(taken(lang, who.as_deref()), &a, who.as_deref()),
            )
        }
        AckResult::AlreadyResolved(a) => page(
            StatusCode::OK,
            &shown(resolved_title(lang).into(), &a, None),
        ),
    }
}
