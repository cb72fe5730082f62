//! The responders' dashboard: sign-in, and the page of an alert that chat and email messages link
//! to (`/alerts/{id}`), where a responder sees who the alert is about — the resident's name,
//! address, phone, contacts and notes, shown only here, behind sign-in, every view audited — with
//! its timeline, and acknowledges or resolves it; the coordinator routes triage alerts to a
//! district. `residents`: the team's residents, each one's page, and pauses recorded there.
//!
//! Sign-in is with the responder's access token (`mimamori admin responder token`, the same as the
//! API's), once per browser for 12 hours: a session cookie (`mimamori_session`: random, stored as
//! its SHA-256; `HttpOnly`; `SameSite=Lax`, so that a link opened from mail or chat arrives signed
//! in; `Secure` when `http.public_url` is `https`). The sign-in form itself carries a token of
//! its own, paired with a short-lived pre-session cookie ([`SIGNIN_COOKIE`], `SameSite=Strict`),
//! and `next` leads only to a path of ours. Every form that changes something carries the
//! session's form token (CSRF). Scope as in the API: a district's team sees that district, a
//! city-wide team everything; an alert out of scope is answered as missing.
//!
//! Here: the alert page and the frame every signed-in page shares ([`Me`]: the menu, who is
//! signed in, sign-out). `alert_list`: the alert list — the home page after sign-in, with history,
//! filters and counts — and its live stream (`/alerts/live`); `signin`: sessions and the sign-in form;
//! `alert_actions`: acknowledge, resolve, note; `triage`: routing out of triage and linking a
//! concern to a resident; `residents`: the residents' pages; `admin`: the admin pages (devices,
//! responders, partners, teams, the audit log), for a responder whose role is admin only.

mod activity;
mod admin;
mod alert_actions;
mod alert_list;
mod explain;
pub(crate) mod figures;
mod overview;
mod residents;
mod signin;
mod triage;

use crate::language;
pub use crate::language::LANG_COOKIE;
use alert_actions::{ActionForm, acknowledge, acting, add_note, forged, resolve};
pub use signin::SIGNIN_COOKIE;
use signin::{Session, login, login_page, logout, session, signed_in};
pub(crate) use signin::{cookie, safe_next, set_cookie, sign_in_with_held_token, signin_pair};
use triage::{district_options, link_to_resident, route_to_district};

use crate::page::{Choice, Notice, Row, notice, page};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mimamori_alerts::actions::{Actions, Note, NoteTooLong, Via};
use mimamori_alerts::notify::message::{self, Context};
use mimamori_core::clock::Clock;
use mimamori_core::domain::{
    Actor, Alert, AlertEvent, AlertId, AlertState, DistrictId, Observation, Outcome, PartnerId,
    Responder, Subject, Team,
};
use mimamori_core::secret::{generate, token_hash};
use mimamori_core::storage::{StorageError, Store};
use serde::Deserialize;
use std::sync::Arc;

/// The session cookie's name.
pub const COOKIE: &str = "mimamori_session";

/// How long a sign-in lasts.
#[derive(Clone)]
pub struct DashboardState {
    pub store: Store,
    pub ctx: Context,
    pub clock: Arc<dyn Clock>,
    /// Acknowledge, resolve, note, route out of triage, link: the same actions as every surface.
    pub actions: Actions,
    /// The city's districts and towns: where a newly registered resident's address belongs.
    pub registry: Arc<mimamori_core::registry::Registry>,
    /// The city's target for emergencies, which the figures measure against.
    pub target: figures::Target,
    /// Cancelled when the server stops: ends the live lists' streams, so that shutdown does not
    /// wait for browsers to close them.
    pub live_stop: tokio_util::sync::CancellationToken,
}

/// Who is signed in, as every signed-in page's frame shows them (`dashboard/frame.html`).
pub(super) struct Me {
    /// The responder's name, with their team's unless the name already says it.
    pub(super) name: String,
    pub(super) form_token: String,
    /// Which menu entry is the current page: `alerts`, `history`, `residents`, `figures`,
    /// `admin` or ``.
    pub(super) here: &'static str,
    /// A coordinator (or admin): the figures are in the menu.
    pub(super) city_wide: bool,
    /// An admin: the admin pages are in the menu.
    pub(super) admin: bool,
    /// The chrome's words, in the language this browser chose.
    pub(super) chrome: &'static language::Chrome,
    /// The link that switches the chrome to the other language and back to this page's section.
    pub(super) switch: String,
}

impl Session {
    /// The frame's view of this session, on the page `here`.
    pub(super) fn me(&self, here: &'static str) -> Me {
        let (name, team) = (&self.responder.name, &self.team.name);
        Me {
            name: if name.contains(team.as_str()) {
                name.clone()
            } else {
                format!("{name}（{team}）")
            },
            form_token: self.form_token.clone(),
            here,
            city_wide: self.coordinates(),
            admin: self.responder.role == mimamori_core::domain::Role::Admin,
            chrome: self.lang.chrome(),
            switch: self.lang.switch(language::path_of(here)),
        }
    }
}

/// `/login`, `/logout`, `/alerts` (the team's alerts), `/alerts/{id}` and its actions.
pub fn router(state: DashboardState) -> Router {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/lang", get(language::switch))
        .route("/alerts", get(alert_list::alert_list))
        .route("/alerts/live", get(alert_list::live))
        .route("/overview", get(overview::overview))
        .route("/figures", get(figures::figures_page))
        .route("/figures.csv", get(figures::figures_csv))
        .route("/alerts/{id}", get(alert_page))
        .route("/alerts/{id}/ack", post(acknowledge))
        .route("/alerts/{id}/resolve", post(resolve))
        .route("/alerts/{id}/notes", post(add_note))
        .route("/alerts/{id}/route", post(route_to_district))
        .route("/alerts/{id}/link", post(link_to_resident))
        .route("/residents", get(residents::list))
        .route(
            "/residents/new",
            get(residents::new_page).post(residents::create),
        )
        .route("/residents/{id}", get(residents::show))
        .route("/residents/{id}/edit", post(residents::edit))
        .route("/residents/{id}/policies", post(residents::set_policies))
        .route("/residents/{id}/contacts", post(residents::add_contact))
        .route(
            "/residents/{id}/contacts/{index}/remove",
            post(residents::remove_contact),
        )
        .route("/residents/{id}/pauses", post(residents::add_pause))
        .route(
            "/residents/{id}/pauses/{pause}/end",
            post(residents::end_pause),
        )
        .route("/admin", get(admin::index))
        .route(
            "/admin/devices",
            get(admin::devices).post(admin::add_device),
        )
        .route("/admin/devices/{id}/disable", post(admin::disable_device))
        .route("/admin/devices/{id}/enable", post(admin::enable_device))
        .route(
            "/admin/devices/{id}/secret",
            post(admin::rotate_device_secret),
        )
        .route(
            "/admin/responders",
            get(admin::responders).post(admin::add_responder),
        )
        .route("/admin/responders/{id}/token", post(admin::responder_token))
        .route(
            "/admin/responders/{id}/role",
            post(admin::set_responder_role),
        )
        .route(
            "/admin/responders/{id}/deactivate",
            post(admin::deactivate_responder),
        )
        .route(
            "/admin/partners",
            get(admin::partners).post(admin::add_partner),
        )
        .route("/admin/partners/{id}/token", post(admin::partner_token))
        .route("/admin/partners/{id}/revoke", post(admin::revoke_partner))
        .route("/admin/teams", get(admin::teams).post(admin::add_team))
        .route("/admin/audit", get(admin::audit_log))
        .with_state(state)
}

fn server_error(e: StorageError) -> Response {
    tracing::error!(error = %e, "Dashboard: storage failed.");
    notice(
        StatusCode::SERVICE_UNAVAILABLE,
        "ただいま表示できません",
        "しばらくしてからもう一度お試しください。",
    )
}

fn not_found() -> Response {
    notice(
        StatusCode::NOT_FOUND,
        "見つかりません",
        "このアラートはないか、あなたの担当範囲外です。",
    )
}

pub(crate) fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// The signed-in responder and the alert, if they may see it; else the page to answer with.
async fn signed_in_alert(
    state: &DashboardState,
    headers: &HeaderMap,
    id: i64,
) -> Result<(Session, Alert), Response> {
    let Some(session) = session(state, headers).await? else {
        return Err(see_other(&format!("/login?next=/alerts/{id}")));
    };
    match state.store.get_alert(AlertId(id)).await {
        Ok(alert) if session.team.covers(alert.district.as_ref()) => Ok((session, alert)),
        Ok(_) | Err(StorageError::NotFound { .. }) => Err(not_found()),
        Err(e) => Err(server_error(e)),
    }
}

async fn alert_page(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let (session, alert) = match signed_in_alert(&state, &headers, id).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    match alert_view(&state, &session, &alert).await {
        Ok(view) => page(StatusCode::OK, &view),
        Err(e) => server_error(e),
    }
}

/// `/alerts/{id}`: the alert, who it is about, and what the responder can do about it.
#[derive(Template)]
#[template(path = "dashboard/alert.html")]
struct AlertPage<'a> {
    title: String,
    id: AlertId,
    me: Me,
    /// The severity's CSS class, and the severity and state in words.
    severity: &'static str,
    severity_label: &'static str,
    state_class: &'static str,
    state_label: &'static str,
    form_token: &'a str,
    /// Kind, district, when, who, where it stands.
    facts: Vec<Row>,
    /// Why the rule raised it, in plain Japanese.
    explanation: String,
    /// What happens next if nobody takes it.
    next_step: Option<String>,
    /// The device that raised it.
    device: Option<Vec<Row>>,
    /// The person it is about (a view of their record, audited).
    resident: Option<ResidentShown>,
    /// Partners' reports behind a concern.
    concerns: Vec<Vec<Row>>,
    /// Linking a concern about an address to a resident.
    link: Option<triage::LinkChoice>,
    /// Routing out of triage: the districts to choose from.
    route: Option<Vec<Choice>>,
    /// Not acknowledged yet: the 対応します button.
    open: bool,
    /// Not resolved yet: the outcomes to resolve with (none: no form).
    outcomes: Vec<Choice>,
    timeline: Vec<TimelineLine>,
}

/// The resident an alert is about, on its page.
struct ResidentShown {
    id: String,
    name: String,
    record: Vec<Row>,
    /// Who to call: the resident, then their contacts.
    calls: Vec<CallLine>,
    /// Their last 48 hours.
    strip: activity::Chart,
}

/// A person to call about the alert.
struct CallLine {
    who: String,
    /// `tel:` number (digits, `+`, `-`), when there is a phone.
    tel: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    note: &'static str,
}

impl CallLine {
    fn new(who: String, phone: Option<&str>, email: Option<&str>, note: &'static str) -> Self {
        let phone = phone.map(str::to_string);
        CallLine {
            who,
            tel: phone.as_ref().map(|p| {
                p.chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+' || *c == '-')
                    .collect()
            }),
            phone,
            email: email.map(str::to_string),
            note,
        }
    }
}

/// An entry of an alert's timeline: something that happened to it, or a message sent about it.
struct TimelineLine {
    at: String,
    /// `` / `failed` / `pending`: how the dot is drawn.
    class: &'static str,
    title: String,
    text: String,
    /// How the delivery went, when this is a message: 届きました / 届きませんでした / 送信待ち.
    delivery: Option<(&'static str, String)>,
}

/// Who an actor (`responder:p-…`, `system`, `cli:…`) is, in words.
async fn actor_name(
    state: &DashboardState,
    names: &mut std::collections::HashMap<String, String>,
    actor: Option<&str>,
) -> Result<String, StorageError> {
    let Some(actor) = actor else {
        return Ok("システム".into());
    };
    if let Some(name) = names.get(actor) {
        return Ok(name.clone());
    }
    let name = match actor.split_once(':') {
        Some(("responder", id)) => match mimamori_core::domain::ResponderId::parse(id) {
            Ok(id) => match state.store.get_responder(&id).await {
                Ok(r) => r.name,
                Err(StorageError::NotFound { .. }) => "担当者".into(),
                Err(e) => return Err(e),
            },
            Err(_) => "担当者".into(),
        },
        Some(("cli", _)) => "管理者".into(),
        Some(("partner", _)) => "協力事業者".into(),
        _ if actor == "system" => "システム".into(),
        _ => "担当者".into(),
    };
    names.insert(actor.to_string(), name.clone());
    Ok(name)
}

/// The alert's timeline: what happened (but the raw delivery rows) and, for each message sent
/// about it, to whom, on which channel, and whether it arrived.
async fn timeline_lines(
    state: &DashboardState,
    alert: &Alert,
    events: &[AlertEvent],
) -> Result<Vec<TimelineLine>, StorageError> {
    use mimamori_alerts::notify::{Event as Told, Told as Body};
    use mimamori_core::domain::{AlertEventKind, Channel, NotificationStatus};
    let tz = state.ctx.timezone;
    let local = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&tz).format("%m/%d %H:%M:%S").to_string()
    };
    let mut names = std::collections::HashMap::new();
    let mut lines: Vec<(chrono::DateTime<chrono::Utc>, i64, TimelineLine)> = Vec::new();
    for e in events {
        if matches!(e.kind, AlertEventKind::Delivery | AlertEventKind::Notified) {
            continue;
        }
        let who = actor_name(state, &mut names, e.actor.as_deref()).await?;
        let mut text = e
            .detail
            .get("text")
            .or_else(|| e.detail.get("note"))
            .and_then(|t| t.as_str())
            .unwrap_or("")
            .to_string();
        let title = match e.kind {
            AlertEventKind::Created => "発生".to_string(),
            AlertEventKind::Joined => "追加の通報".to_string(),
            AlertEventKind::Escalated => {
                format!(
                    "エスカレーション（{}段目）",
                    e.detail["step"].as_i64().unwrap_or(1)
                )
            }
            AlertEventKind::Resolved => {
                let outcome = e.detail["outcome"]
                    .as_str()
                    .and_then(|o| o.parse::<Outcome>().ok())
                    .or(alert.outcome)
                    .map(|o| format!("（{}）", o.label_ja()))
                    .unwrap_or_default();
                format!("{who}さんが解決{outcome}")
            }
            AlertEventKind::Acknowledged => format!("{who}さんが対応開始"),
            AlertEventKind::Note => format!("{who}さんのメモ"),
            AlertEventKind::Routed => {
                let to = e.detail["district"]
                    .as_str()
                    .and_then(|d| DistrictId::parse(d).ok())
                    .and_then(|d| state.ctx.districts.get(&d).cloned())
                    .map(|d| format!("{d}地区へ"))
                    .unwrap_or_default();
                format!("{who}さんが{to}振り分け")
            }
            AlertEventKind::Linked => format!("{who}さんが対象者に結びつけ"),
            AlertEventKind::Delivery | AlertEventKind::Notified => unreachable!(),
        };
        if e.kind == AlertEventKind::Created && text.is_empty() {
            text = alert.summary.clone();
        }
        lines.push((
            e.at,
            e.id,
            TimelineLine {
                at: local(e.at),
                class: "",
                title,
                text,
                delivery: None,
            },
        ));
    }
    for n in state.store.list_notifications(alert.id).await? {
        let body = Body::of(&n);
        let what = match body.event {
            Told::Raised => "発生",
            Told::Escalated => "エスカレーション",
            Told::Routed => "振り分け",
            Told::Acknowledged => "対応開始",
            Told::Resolved => "解決",
        };
        let to = match (n.channel, &body.responder, body.contact) {
            (Channel::Mqtt, _, _) => "連携システム".to_string(),
            (Channel::Webhook, _, _) => "連携システム（Webhook）".to_string(),
            (_, Some(r), _) => {
                let name = actor_name(state, &mut names, Some(&format!("responder:{r}"))).await?;
                format!("{name}さん")
            }
            (_, None, true) => "ご家族など（同意のある連絡先）".to_string(),
            (Channel::Telegram, None, false) => "担当チームのチャット".to_string(),
            _ => "担当者".to_string(),
        };
        let (class, delivery) = match n.status {
            NotificationStatus::Sent => (
                "",
                (
                    "delivery-ok",
                    format!(
                        "届きました{}",
                        n.sent_at
                            .map(|t| format!("（{}）", local(t)))
                            .unwrap_or_default()
                    ),
                ),
            ),
            NotificationStatus::Failed => (
                "failed",
                (
                    "delivery-failed",
                    format!(
                        "届きませんでした（{}回試行。運用担当に知らせました）",
                        n.attempts
                    ),
                ),
            ),
            NotificationStatus::Pending | NotificationStatus::Sending if n.attempts > 0 => (
                "pending",
                ("", format!("再送を待っています（{}回失敗）", n.attempts)),
            ),
            NotificationStatus::Pending | NotificationStatus::Sending => {
                ("pending", ("", "送信待ち".to_string()))
            }
            NotificationStatus::Cancelled => {
                ("pending", ("", "送る前に解決したため取り消し".to_string()))
            }
        };
        lines.push((
            n.created_at,
            i64::MAX / 2 + n.id,
            TimelineLine {
                at: local(n.created_at),
                class,
                title: format!("{what}の知らせ → {to}（{}）", n.channel.label_ja()),
                text: String::new(),
                delivery: Some(delivery),
            },
        ));
    }
    lines.sort_by_key(|(at, order, _)| (*at, *order));
    Ok(lines.into_iter().map(|(_, _, l)| l).collect())
}

async fn alert_view<'a>(
    state: &DashboardState,
    session: &'a Session,
    alert: &Alert,
) -> Result<AlertPage<'a>, StorageError> {
    let now = state.clock.now();
    let tz = state.ctx.timezone;
    let who = message::acknowledger_name(&state.store, alert).await?;
    // The person — the alert's subject, or the resident whose home a device is in — behind
    // sign-in only: reading it is audited as this responder.
    let mut device = None;
    let resident = match &alert.subject {
        Subject::Resident(id) => Some(id.clone()),
        Subject::Device(d) => {
            let found = state.store.get_device(d).await?;
            if let Some(found) = &found {
                device = Some(vec![
                    Row::new("機器", format!("{} {}", found.id, found.kind.label_ja())),
                    Row::new("設置場所", found.label.as_deref().unwrap_or("")),
                ]);
            }
            found.and_then(|d| d.resident)
        }
        _ => None,
    };
    let resident = match &resident {
        Some(id) => {
            let r = state.store.get_resident(id, &session.actor(), now).await?;
            let mut calls = vec![CallLine::new(
                format!("{}さんご本人", r.name),
                r.phone.as_deref(),
                None,
                "",
            )];
            calls.extend(r.contacts.iter().map(|c| {
                CallLine::new(
                    format!("{}（{}）", c.name, c.relation),
                    c.phone.as_deref(),
                    c.email.as_deref(),
                    if c.consent {
                        ""
                    } else {
                        "通知の同意なし"
                    },
                )
            }));
            Some(ResidentShown {
                id: r.id.to_string(),
                name: r.name.clone(),
                record: residents::record_rows(&r),
                calls,
                strip: activity::strip_48h(state, &r.id, now).await?,
            })
        }
        None => None,
    };
    let events = state.store.alert_timeline(alert.id).await?;
    // An address and a partner's words about a household: a view of personal data, audited.
    let concerns =
        if crate::api::audit_concern_view(&state.store, &session.actor(), alert.id, &events, now)
            .await?
        {
            concern_reports(state, &events).await?
        } else {
            Vec::new()
        };
    let link = triage::link_choice(state, session, alert).await?;
    let route =
        (alert.district.is_none() && alert.state != AlertState::Resolved && session.triages())
            .then(|| district_options(&state.registry, &session.team, ""));
    let outcomes = if alert.state == AlertState::Resolved {
        Vec::new()
    } else {
        crate::resolution::outcome_choices(alert.kind, language::Lang::Ja)
    };
    let local = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&tz)
            .format("%Y年%m月%d日 %H:%M")
            .to_string()
    };
    let district = match &alert.district {
        Some(d) => state
            .ctx
            .districts
            .get(d)
            .map(|n| format!("{n}地区"))
            .unwrap_or_else(|| "地区不明".into()),
        None => "地区不明（市の振り分け待ち）".into(),
    };
    let mut facts = vec![
        Row::new("種別", alert.kind.label_ja()),
        Row::new("地区", district),
        Row::new(
            "発生",
            format!(
                "{}（{}）",
                local(alert.opened_at),
                alert_list::elapsed_ja(now, alert.opened_at)
            ),
        ),
        Row::new(
            "対象",
            match &resident {
                Some(r) => format!("{}さん", r.name),
                None => message::subject_label(&alert.subject),
            },
        ),
    ];
    if alert.evidence_count > 1 {
        facts.push(Row::new(
            "通報回数",
            format!(
                "{}回（最新 {}）",
                alert.evidence_count,
                local(alert.last_evidence_at)
            ),
        ));
    }
    facts.push(Row::new(
        "状況",
        match alert.state {
            AlertState::Open => "未対応（まだ誰も対応していません）".to_string(),
            AlertState::Acknowledged => format!(
                "対応中：{}さん（{}から）",
                who.as_deref().unwrap_or("担当者"),
                alert.acknowledged_at.map(local).unwrap_or_default()
            ),
            AlertState::Resolved => format!(
                "解決：{}（{}）",
                alert.outcome.map(|o| o.label_ja()).unwrap_or("その他"),
                alert.resolved_at.map(local).unwrap_or_default()
            ),
        },
    ));
    let next_step = match (alert.state, alert.next_escalation_at) {
        (AlertState::Open, Some(at)) => Some(format!(
            "{}までに誰も対応しなければ、次の担当へエスカレーションします（{}段目）。",
            local(at),
            alert.escalation_step + 1
        )),
        _ => None,
    };
    Ok(AlertPage {
        title: format!("{} #{}", alert.kind.label_ja(), alert.id),
        id: alert.id,
        me: session.me(""),
        severity: alert_list::severity_class(alert.severity),
        severity_label: alert.severity.label_ja(),
        state_class: match alert.state {
            AlertState::Open => "state-open",
            AlertState::Acknowledged => "state-acknowledged",
            AlertState::Resolved => "state-resolved",
        },
        state_label: alert.state.label_ja(),
        form_token: &session.form_token,
        facts,
        explanation: explain::explain(alert, tz),
        next_step,
        device,
        resident,
        concerns,
        link,
        route,
        open: alert.state == AlertState::Open,
        outcomes,
        timeline: timeline_lines(state, alert, &events).await?,
    })
}

/// The partners' reports behind a concern alert (the first and each that joined it): where, what
/// was seen, their words and who to call back — behind sign-in, like the resident's record.
async fn concern_reports(
    state: &DashboardState,
    timeline: &[AlertEvent],
) -> Result<Vec<Vec<Row>>, StorageError> {
    let mut reports = Vec::new();
    for e in timeline.iter().filter(|e| e.detail["rule"] == "concern") {
        let d = &e.detail;
        let text = |k: &str| d[k].as_str().unwrap_or("").to_string();
        let partner = match d["source"]
            .as_str()
            .and_then(|s| s.strip_prefix("partner:"))
            .and_then(|id| PartnerId::parse(id).ok())
        {
            Some(id) => match state.store.get_partner(&id).await {
                Ok(p) => format!("{}（{}）", p.name, p.kind.label_ja()),
                Err(StorageError::NotFound { .. }) => id.to_string(),
                Err(e) => return Err(e),
            },
            None => String::new(),
        };
        let seen: Vec<&str> = d["seen"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str()?.parse::<Observation>().ok())
            .map(Observation::label_ja)
            .collect();
        let observed = d["observed_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| {
                t.with_timezone(&state.ctx.timezone)
                    .format("%Y年%m月%d日 %H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        let mut rows = vec![
            Row::new("事業者", partner),
            Row::new("場所", text("address")),
            Row::new("気づいたこと", seen.join("、")),
        ];
        if d["urgent"] == true {
            rows.push(Row::new("至急", "すぐに様子を確認してほしい"));
        }
        rows.push(Row::new("気づいた日時", observed));
        for (label, key) in [("詳しく", "note"), ("報告者", "reporter")] {
            if !text(key).is_empty() {
                rows.push(Row::new(label, text(key)));
            }
        }
        if d["route"] != "district" {
            rows.push(Row::new(
                "振り分け",
                "住所から地区を決められませんでした（市全体の振り分け待ち）",
            ));
        }
        reports.push(rows);
    }
    Ok(reports)
}
