//! The alert list, the home page after sign-in (`/alerts`), and its live stream
//! (`/alerts/live`, server-sent events).
//!
//! The list shows the team's alerts — by default those still to be handled (未対応 and 対応中),
//! with `?state=open|acknowledged|resolved|all` the others, so resolved alerts stay findable
//! (history) — with counts per state, filters (kind, state, district for a city-wide team) and a
//! search over what the list shows. Each line: severity (colour and word), kind, district,
//! elapsed time 「3分前」, state, who acknowledged, and who it is about — the resident's name,
//! since the signed-in team may see it (one audited view, `resident.names`, for the names a list
//! shows). For the coordinator (the role `coordinator` or `admin` on a city-wide team: a
//! city-wide team's responder without it gets 403 asking for it) the triage queue (alerts
//! without a district) comes first. On a
//! history list (any `state` but the default) related alerts are one group line — the same kind
//! about the same home within [`GROUP_SPAN`] of each other — with its members in a disclosure.
//!
//! Scope as everywhere: a district's team sees only its district; asking for another district
//! is answered as missing (404). Everything works without JavaScript; with it, `live.js` opens
//! `/alerts/live` with the same filters and replaces the list whenever an alert changes (the
//! store's [change marker](mimamori_core::storage::Store::alert_change_marker), read every
//! [`POLL`]), and on a new emergency shows a banner (and beeps, if the user switched sound on).

use super::{DashboardState, Session, not_found, server_error, session, signed_in};
use crate::page::{Choice, notice, page};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use mimamori_core::domain::{
    Alert, AlertKind, AlertState, DeviceId, DistrictId, ResidentId, ResponderId, Severity, Subject,
};
use mimamori_core::storage::{AlertFilter, StorageError};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::{Duration, Instant};

/// How often a live list asks the store whether any alert changed.
pub const POLL: Duration = Duration::from_millis(500);

/// How often a live list is rendered again even when nothing changed (elapsed times move on).
pub const REFRESH: Duration = Duration::from_secs(60);

/// Related alerts — of one kind, about one person or home (or one device or address) — opened
/// within this span of the next one are one group on a history list: four 通信途絶 of one home
/// in an afternoon are one line, whose members are a click away.
pub const GROUP_SPAN: chrono::Duration = chrono::Duration::hours(12);

/// At most this many alerts per state are read for one list.
const LIMIT: i64 = 500;

/// The longest search text.
const MAX_SEARCH: usize = 100;

/// The list's query: every field optional, unknown values refused.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    district: String,
    #[serde(default)]
    q: String,
}

/// The answer to a responder of a city-wide team asking for what is the coordinator's.
pub(super) fn coordinators_only() -> Response {
    notice(
        StatusCode::FORBIDDEN,
        "市の調整担当の機能です",
        "振り分け待ちの一覧・市の集計・地区への振り分けは、役割が「市の調整担当」または「管理者」の方が使えます。役割は管理者が変更できます。",
    )
}

/// Which states a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateFilter {
    /// 未対応 and 対応中: what is still to be handled (the default).
    Active,
    One(AlertState),
    All,
}

impl StateFilter {
    fn code(self) -> &'static str {
        match self {
            StateFilter::Active => "",
            StateFilter::One(s) => s.as_str(),
            StateFilter::All => "all",
        }
    }
}

/// Which districts a list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DistrictFilter {
    /// Everything the team covers.
    Team,
    One(DistrictId),
    /// Alerts without a district (the coordinator's: [`Session::triages`]).
    Triage,
}

/// A list's filters, checked against the team.
#[derive(Debug, Clone)]
struct Filters {
    state: StateFilter,
    kind: Option<AlertKind>,
    district: DistrictFilter,
    q: Option<String>,
}

impl Filters {
    /// `query` for `session`'s team: a bad value is refused (400), another district is missing
    /// (404) for a district's team.
    #[allow(clippy::result_large_err)]
    fn parse(query: &ListQuery, session: &Session) -> Result<Filters, Response> {
        let bad = || {
            notice(
                StatusCode::BAD_REQUEST,
                "条件が正しくありません",
                "一覧の絞り込み条件を読み取れませんでした。メニューから一覧を開き直してください。",
            )
        };
        let state = match query.state.trim() {
            "" | "active" => StateFilter::Active,
            "all" => StateFilter::All,
            s => StateFilter::One(s.parse().map_err(|_| bad())?),
        };
        let kind = match query.kind.trim() {
            "" => None,
            k => Some(k.parse::<AlertKind>().map_err(|_| bad())?),
        };
        let district = match query.district.trim() {
            "" => DistrictFilter::Team,
            "triage" if session.triages() => DistrictFilter::Triage,
            // In scope, but the coordinator's: refused as such.
            "triage" if session.team.district.is_none() => return Err(coordinators_only()),
            "triage" => return Err(not_found()),
            d => {
                let d = DistrictId::parse(d).map_err(|_| not_found())?;
                if !session.team.covers(Some(&d)) {
                    return Err(not_found());
                }
                DistrictFilter::One(d)
            }
        };
        let q = mimamori_core::html::form_text(&query.q, MAX_SEARCH, false).map_err(|_| bad())?;
        Ok(Filters {
            state,
            kind,
            district,
            q,
        })
    }

    /// The query string of these filters with `state` replaced (empty values left out).
    fn query_with_state(&self, state: StateFilter) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !state.code().is_empty() {
            q.append_pair("state", state.code());
        }
        if let Some(k) = self.kind {
            q.append_pair("kind", k.as_str());
        }
        match &self.district {
            DistrictFilter::Team => {}
            DistrictFilter::One(d) => {
                q.append_pair("district", d.as_str());
            }
            DistrictFilter::Triage => {
                q.append_pair("district", "triage");
            }
        }
        if let Some(text) = &self.q {
            q.append_pair("q", text);
        }
        q.finish()
    }

    fn query(&self) -> String {
        self.query_with_state(self.state)
    }
}

/// What one rendering of the list is made of.
#[derive(Template)]
#[template(path = "dashboard/alert_items.html")]
pub(super) struct ItemsFragment {
    items: AlertItems,
}

/// The part of the list page that live updates replace: counts, the triage queue, the list.
pub(super) struct AlertItems {
    counts: Vec<CountLink>,
    /// For a city-wide team's list of what is still to be handled: alerts without a district.
    triage: Vec<ListedAlert>,
    alerts: Vec<ListedAlert>,
    /// What the list says when it is empty.
    empty: &'static str,
    /// The open emergencies' ids, space-separated: the live script's cue for a new one.
    emergencies: String,
    /// More than one page's worth: say that the list is cut.
    cut: bool,
}

/// A count per state, linking to the list of that state.
struct CountLink {
    label: &'static str,
    n: i64,
    href: String,
    current: bool,
}

/// A line of the alert list.
struct ListedAlert {
    id: i64,
    kind: &'static str,
    severity: &'static str,
    severity_label: &'static str,
    district: String,
    /// 「3分前」.
    elapsed: String,
    /// The time, for the `<time>` element and its title.
    opened: String,
    opened_iso: String,
    state: &'static str,
    state_label: &'static str,
    /// The resident's name (the team may see it), else the subject's label.
    subject: String,
    acknowledged_by: Option<String>,
    outcome: Option<&'static str>,
    evidence: i64,
    /// On a history list: the related alerts grouped under this one (the newest), newest first.
    members: Vec<ListedAlert>,
    /// A group's span, 「12月01日 09:00〜12月01日 13:00」 (empty when not a group).
    span: String,
}

/// 「たった今」「3分前」「2時間前」「4日前」: how long ago `then` was at `now`.
pub(crate) fn elapsed_ja(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let minutes = (now - then).num_minutes().max(0);
    match minutes {
        0 => "たった今".into(),
        1..=59 => format!("{minutes}分前"),
        60..=1439 => format!("{}時間前", minutes / 60),
        _ => format!("{}日前", minutes / 1440),
    }
}

/// The CSS class of a severity.
pub(crate) fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "sev-critical",
        Severity::High => "sev-high",
        Severity::Normal => "sev-normal",
        Severity::Low => "sev-low",
    }
}

/// Names already shown (and audited) on one screen, so that a live list audits each name once.
#[derive(Default)]
struct ShownNames(HashMap<ResidentId, String>);

/// Reads and renders the list's items for `session` under `filters` at `now`.
async fn items(
    state: &DashboardState,
    session: &Session,
    filters: &Filters,
    names: &mut ShownNames,
) -> Result<AlertItems, StorageError> {
    let now = state.clock.now();
    let (district, triage_only) = match &filters.district {
        DistrictFilter::Team => (session.team.district.clone(), false),
        DistrictFilter::One(d) => (Some(d.clone()), false),
        DistrictFilter::Triage => (None, true),
    };
    let states: Vec<Option<AlertState>> = match filters.state {
        StateFilter::Active => vec![Some(AlertState::Open), Some(AlertState::Acknowledged)],
        StateFilter::One(s) => vec![Some(s)],
        StateFilter::All => vec![None],
    };
    let mut alerts = Vec::new();
    let mut cut = false;
    for s in states {
        let found = state
            .store
            .list_alerts(&AlertFilter {
                district: district.clone(),
                triage_only,
                state: s,
                kind: filters.kind,
                limit: LIMIT,
            })
            .await?;
        cut |= found.len() as i64 >= LIMIT;
        alerts.extend(found);
    }
    let counts = state
        .store
        .count_alerts_by_state(district.as_ref(), triage_only, filters.kind)
        .await?;

    // Who each alert is about: the resident, or the home a device is in.
    let devices: Vec<DeviceId> = alerts
        .iter()
        .filter_map(|a| match &a.subject {
            Subject::Device(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    let homes = state.store.device_homes(&devices).await?;
    let about = |a: &Alert| -> Option<ResidentId> {
        match &a.subject {
            Subject::Resident(r) => Some(r.clone()),
            Subject::Device(d) => homes.get(d).cloned(),
            _ => None,
        }
    };
    let mut unseen: Vec<ResidentId> = alerts
        .iter()
        .filter_map(&about)
        .filter(|r| !names.0.contains_key(r))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    unseen.sort();
    if !unseen.is_empty() {
        let read = state
            .store
            .resident_names(&unseen, &session.actor(), now)
            .await?;
        names.0.extend(read);
    }
    // Who took each one.
    let mut responders: HashMap<String, String> = HashMap::new();
    for by in alerts.iter().filter_map(|a| a.acknowledged_by.clone()) {
        if responders.contains_key(&by) {
            continue;
        }
        let name = match by
            .strip_prefix("responder:")
            .and_then(|id| ResponderId::parse(id).ok())
        {
            Some(id) => match state.store.get_responder(&id).await {
                Ok(r) => r.name,
                Err(StorageError::NotFound { .. }) => "担当者".into(),
                Err(e) => return Err(e),
            },
            None => "担当者".into(),
        };
        responders.insert(by, name);
    }

    let district_name = |d: Option<&DistrictId>| match d {
        Some(d) => state
            .ctx
            .districts
            .get(d)
            .map(|n| format!("{n}地区"))
            .unwrap_or_else(|| "地区不明".into()),
        None => "振り分け待ち".into(),
    };
    let tz = state.ctx.timezone;
    let mut listed: Vec<(&Alert, ListedAlert)> = alerts
        .iter()
        .map(|a| {
            let subject = match about(a).and_then(|r| names.0.get(&r).cloned()) {
                Some(name) => match &a.subject {
                    Subject::Device(d) => format!("{name}さん宅（機器 {d}）"),
                    _ => format!("{name}さん"),
                },
                None => mimamori_alerts::notify::message::subject_label(&a.subject),
            };
            let local = a.opened_at.with_timezone(&tz);
            (
                a,
                ListedAlert {
                    id: a.id.0,
                    kind: a.kind.label_ja(),
                    severity: severity_class(a.severity),
                    severity_label: a.severity.label_ja(),
                    district: district_name(a.district.as_ref()),
                    elapsed: elapsed_ja(now, a.opened_at),
                    opened: local.format("%Y年%m月%d日 %H:%M").to_string(),
                    opened_iso: local.to_rfc3339(),
                    state: match a.state {
                        AlertState::Open => "state-open",
                        AlertState::Acknowledged => "state-acknowledged",
                        AlertState::Resolved => "state-resolved",
                    },
                    state_label: a.state.label_ja(),
                    subject,
                    acknowledged_by: a
                        .acknowledged_by
                        .as_ref()
                        .and_then(|by| responders.get(by).cloned()),
                    outcome: a.outcome.map(|o| o.label_ja()),
                    evidence: a.evidence_count,
                    members: Vec::new(),
                    span: String::new(),
                },
            )
        })
        .collect();
    if let Some(q) = &filters.q {
        let q = q.to_lowercase();
        listed.retain(|(_, l)| {
            [
                format!("#{}", l.id),
                l.kind.to_string(),
                l.district.clone(),
                l.subject.clone(),
                l.state_label.to_string(),
                l.acknowledged_by.clone().unwrap_or_default(),
                l.outcome.unwrap_or_default().to_string(),
            ]
            .iter()
            .any(|field| field.to_lowercase().contains(&q))
        });
    }
    // Still to be handled: nobody on it first, the most severe first, then the newest. Else the
    // newest first.
    if filters.state == StateFilter::Active {
        listed.sort_by_key(|(a, _)| {
            (
                a.state != AlertState::Open,
                Severity::ALL.iter().position(|s| *s == a.severity),
                std::cmp::Reverse((a.opened_at, a.id.0)),
            )
        });
    } else {
        listed.sort_by_key(|(a, _)| std::cmp::Reverse((a.opened_at, a.id.0)));
    }
    let emergencies = listed
        .iter()
        .filter(|(a, _)| a.kind == AlertKind::Emergency && a.state == AlertState::Open)
        .map(|(a, _)| a.id.0.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let city_wide = session.triages();
    let (triage, alerts): (Vec<_>, Vec<_>) = listed.into_iter().partition(|(a, _)| {
        city_wide
            && filters.state == StateFilter::Active
            && filters.district == DistrictFilter::Team
            && a.district.is_none()
    });
    // History: related alerts as one group, so that a flapping device's four 通信途絶 are one
    // line. What is still to be handled stays one line each: each needs someone.
    let alerts = if filters.state == StateFilter::Active {
        alerts.into_iter().map(|(_, l)| l).collect()
    } else {
        grouped(
            alerts,
            |a| {
                about(a)
                    .map(|r| format!("resident:{r}"))
                    .unwrap_or_else(|| a.subject.key())
            },
            tz,
        )
    };
    let count = |s: AlertState| counts.get(&s).copied().unwrap_or(0);
    let count_links = [
        (
            "対応待ち",
            StateFilter::Active,
            count(AlertState::Open) + count(AlertState::Acknowledged),
        ),
        (
            "未対応",
            StateFilter::One(AlertState::Open),
            count(AlertState::Open),
        ),
        (
            "対応中",
            StateFilter::One(AlertState::Acknowledged),
            count(AlertState::Acknowledged),
        ),
        (
            "解決",
            StateFilter::One(AlertState::Resolved),
            count(AlertState::Resolved),
        ),
        ("すべて", StateFilter::All, counts.values().sum()),
    ]
    .into_iter()
    .map(|(label, s, n)| CountLink {
        label,
        n,
        href: format!("/alerts?{}", filters.query_with_state(s)),
        current: s == filters.state,
    })
    .collect();
    Ok(AlertItems {
        counts: count_links,
        triage: triage.into_iter().map(|(_, l)| l).collect(),
        alerts,
        empty: match (filters.state, &filters.q) {
            (_, Some(_)) => "条件に合うアラートはありません。",
            (StateFilter::Active, None) => "対応待ちのアラートはありません。",
            _ => "該当するアラートはありません。",
        },
        emergencies,
        cut,
    })
}

/// `listed` (newest first) with related alerts grouped: an alert joins the group of the same
/// kind and `about` (the person or home, else the subject) when it opened within
/// [`GROUP_SPAN`] before the group's oldest member so far. The group's line is its newest alert.
fn grouped(
    listed: Vec<(&Alert, ListedAlert)>,
    about: impl Fn(&Alert) -> String,
    tz: chrono_tz::Tz,
) -> Vec<ListedAlert> {
    // Each line with its group's newest and oldest times so far.
    let mut lines: Vec<(ListedAlert, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    // Per (about, kind): the line of its latest group.
    let mut latest: HashMap<(String, AlertKind), usize> = HashMap::new();
    for (a, line) in listed {
        let key = (about(a), a.kind);
        match latest.get(&key) {
            Some(&i) if lines[i].2 - a.opened_at <= GROUP_SPAN => {
                lines[i].0.members.push(line);
                lines[i].2 = a.opened_at;
            }
            _ => {
                latest.insert(key, lines.len());
                lines.push((line, a.opened_at, a.opened_at));
            }
        }
    }
    let local = |t: DateTime<Utc>| t.with_timezone(&tz).format("%m月%d日 %H:%M").to_string();
    lines
        .into_iter()
        .map(|(mut line, newest, oldest)| {
            if !line.members.is_empty() {
                line.span = format!("{}〜{}", local(oldest), local(newest));
            }
            line
        })
        .collect()
}

/// `/alerts`: the list page.
#[derive(Template)]
#[template(path = "dashboard/alerts.html")]
struct AlertList {
    title: String,
    me: super::Me,
    items: AlertItems,
    /// The filters' form.
    states: Vec<Choice>,
    kinds: Vec<Choice>,
    /// For a city-wide team: the districts (and the triage queue) to choose from.
    districts: Option<Vec<Choice>>,
    q: String,
    /// `/alerts/live?…` with the same filters.
    live: String,
}

/// `GET /alerts`.
pub(super) async fn alert_list(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let session = match signed_in(&state, &headers, "/alerts").await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let filters = match Filters::parse(&query, &session) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let items = match items(&state, &session, &filters, &mut ShownNames::default()).await {
        Ok(items) => items,
        Err(e) => return server_error(e),
    };
    let title = match filters.state {
        StateFilter::Active => "対応待ちのアラート",
        StateFilter::One(AlertState::Open) => "未対応のアラート",
        StateFilter::One(AlertState::Acknowledged) => "対応中のアラート",
        StateFilter::One(AlertState::Resolved) => "解決したアラート（履歴）",
        StateFilter::All => "すべてのアラート",
    };
    let choice = |value: &str, label: &str, selected: bool| Choice {
        selected,
        ..Choice::new(value, label)
    };
    let states = [
        ("", "対応待ち（未対応・対応中）", StateFilter::Active),
        ("open", "未対応", StateFilter::One(AlertState::Open)),
        (
            "acknowledged",
            "対応中",
            StateFilter::One(AlertState::Acknowledged),
        ),
        (
            "resolved",
            "解決（履歴）",
            StateFilter::One(AlertState::Resolved),
        ),
        ("all", "すべて", StateFilter::All),
    ]
    .into_iter()
    .map(|(v, l, s)| choice(v, l, s == filters.state))
    .collect();
    let kinds = std::iter::once(choice("", "すべての種別", filters.kind.is_none()))
        .chain(
            AlertKind::ALL
                .iter()
                .map(|k| choice(k.as_str(), k.label_ja(), filters.kind == Some(*k))),
        )
        .collect();
    let districts = session.team.district.is_none().then(|| {
        let selected = match &filters.district {
            DistrictFilter::One(d) => d.as_str(),
            DistrictFilter::Triage => "triage",
            DistrictFilter::Team => "",
        };
        let mut all = vec![choice("", "すべての地区", selected.is_empty())];
        if session.triages() {
            all.push(choice(
                "triage",
                "振り分け待ち（地区不明）",
                selected == "triage",
            ));
        }
        all.extend(super::triage::district_options(
            &state.registry,
            &session.team,
            selected,
        ));
        all
    });
    let here = if filters.state == StateFilter::One(AlertState::Resolved) {
        "history"
    } else {
        "alerts"
    };
    page(
        StatusCode::OK,
        &AlertList {
            title: title.into(),
            me: session.me(here),
            items,
            states,
            kinds,
            districts,
            q: filters.q.clone().unwrap_or_default(),
            live: format!("/alerts/live?{}", filters.query()),
        },
    )
}

/// What a live list keeps between two looks at the store.
struct Live {
    state: DashboardState,
    session: Session,
    filters: Filters,
    names: ShownNames,
    /// The change marker at the last rendering (`None`: not rendered yet).
    marker: Option<i64>,
    rendered_at: Instant,
    last: String,
}

impl Live {
    /// The next event to send: waits for a change (or [`REFRESH`]); `None` ends the stream — the
    /// server stops, the session ended, or the store failed (the browser reconnects).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.marker.is_some() {
                tokio::select! {
                    _ = self.state.live_stop.cancelled() => return None,
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
            let marker = match self.state.store.alert_change_marker().await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "Live alert list: the store failed.");
                    return None;
                }
            };
            if self.marker == Some(marker) && self.rendered_at.elapsed() < REFRESH {
                continue;
            }
            // Still signed in? A session ended elsewhere ends the stream.
            let now = self.state.clock.now();
            match self
                .state
                .store
                .web_session(&self.session.token_hash, now)
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(error = %e, "Live alert list: the store failed.");
                    return None;
                }
            }
            let rendered = match items(&self.state, &self.session, &self.filters, &mut self.names)
                .await
                .map(|items| ItemsFragment { items }.render())
            {
                Ok(Ok(html)) => html,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "Live alert list: rendering failed.");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Live alert list: the store failed.");
                    return None;
                }
            };
            self.marker = Some(marker);
            self.rendered_at = Instant::now();
            if rendered != self.last {
                self.last = rendered.clone();
                return Some(Event::default().event("alerts").data(rendered));
            }
        }
    }
}

/// `GET /alerts/live`: the list's items as server-sent events (`text/event-stream`), one
/// `alerts` event with the new HTML whenever they change. Signed in only (401 otherwise, which
/// an `EventSource` does not retry); the same filters and scope as the list.
pub(super) async fn live(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let session = match session(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return (
                StatusCode::UNAUTHORIZED,
                "ログインが必要です / sign-in required",
            )
                .into_response();
        }
        Err(page) => return page,
    };
    let filters = match Filters::parse(&query, &session) {
        Ok(f) => f,
        Err(page) => return page,
    };
    let live = Live {
        state,
        session,
        filters,
        names: ShownNames::default(),
        marker: None,
        rendered_at: Instant::now(),
        last: String::new(),
    };
    let stream = futures_util::stream::unfold(live, |mut live| async move {
        let event = live.next().await?;
        Some((Ok::<_, Infallible>(event), live))
    });
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Sse::new(stream).keep_alive(KeepAlive::default()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_time_reads_as_a_person_says_it() {
        let t = mimamori_core::testing::t0();
        let after = |m: i64| elapsed_ja(t + chrono::Duration::minutes(m), t);
        assert_eq!(after(0), "たった今");
        assert_eq!(after(3), "3分前");
        assert_eq!(after(59), "59分前");
        assert_eq!(after(125), "2時間前");
        assert_eq!(after(60 * 24 * 3 + 5), "3日前");
        assert_eq!(elapsed_ja(t, t + chrono::Duration::minutes(5)), "たった今");
    }
}
