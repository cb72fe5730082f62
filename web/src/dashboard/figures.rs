//! The city's own figures (`/figures`, `/figures.csv?month=YYYY-MM`), for the coordinator (the
//! role `coordinator` or `admin`, whatever the team): per district and month, alerts by kind and outcome, the time to acknowledge and
//! to resolve (median and 90th percentile), and how often emergencies were acknowledged within
//! the city's target ([`Target`]: `city.ack_target_minutes`, `city.ack_target_percent`), and the partners' reports by the
//! partner's kind (郵便局, 新聞販売店, 生協, …: who notices what). No personal data: counts and
//! durations only, so neither the page nor the file is an audited view. Anyone else of a
//! district's team gets 404, as for anything out of its scope; of a city-wide team, 403.
//!
//! The CSV opens correctly in Excel: UTF-8 with a byte order mark, CRLF line ends, a Japanese
//! header row. No month: the current one (in the city's time zone).

use super::{DashboardState, not_found, see_other, server_error, session};
use crate::page::{notice, page};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use mimamori_core::domain::{AlertKind, AlertState, DistrictId, Outcome, PartnerKind};
use mimamori_core::storage::AlertTimes;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The city's target for emergencies, as configured (`[city]`): acknowledged within `minutes`
/// of the press in at least `percent` % of cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub minutes: u32,
    pub percent: u32,
}

impl Target {
    pub fn of(city: &mimamori_core::config::CityConfig) -> Target {
        Target {
            minutes: city.ack_target_minutes,
            percent: city.ack_target_percent,
        }
    }

    /// Whether `in_target` of `emergencies` meet it (no emergency: nothing missed).
    fn met(self, in_target: u64, emergencies: u64) -> bool {
        in_target * 100 >= u64::from(self.percent) * emergencies
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct MonthQuery {
    #[serde(default)]
    month: String,
}

/// A month of the city's calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Month {
    first: NaiveDate,
}

impl Month {
    /// `YYYY-MM` exactly (2000–2100; nothing around it); empty: the month of `now`.
    fn parse(text: &str, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<Month> {
        if text.is_empty() {
            let today = now.with_timezone(&tz).date_naive();
            return NaiveDate::from_ymd_opt(today.year(), today.month(), 1)
                .map(|first| Month { first });
        }
        let (y, m) = text.split_once('-')?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
        if !(2000..=2100).contains(&y) {
            return None;
        }
        NaiveDate::from_ymd_opt(y, m, 1).map(|first| Month { first })
    }

    fn next(self) -> Month {
        let (y, m) = if self.first.month() == 12 {
            (self.first.year() + 1, 1)
        } else {
            (self.first.year(), self.first.month() + 1)
        };
        Month {
            first: NaiveDate::from_ymd_opt(y, m, 1).unwrap(),
        }
    }

    fn previous(self) -> Month {
        let (y, m) = if self.first.month() == 1 {
            (self.first.year() - 1, 12)
        } else {
            (self.first.year(), self.first.month() - 1)
        };
        Month {
            first: NaiveDate::from_ymd_opt(y, m, 1).unwrap(),
        }
    }

    fn start(self, tz: chrono_tz::Tz) -> DateTime<Utc> {
        tz.from_local_datetime(&self.first.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn code(self) -> String {
        self.first.format("%Y-%m").to_string()
    }

    fn label(self) -> String {
        self.first.format("%Y年%m月").to_string()
    }
}

/// The `p`th percentile (0–1) of `sorted` minutes, nearest rank; `None` when empty.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn minutes(m: Option<f64>) -> String {
    m.map(|m| format!("{m:.1}")).unwrap_or_default()
}

/// The figures of one group of alerts (a district, a kind, or all).
#[derive(Debug, Default, Clone)]
struct Tally {
    alerts: u64,
    resolved: u64,
    outcomes: BTreeMap<Outcome, u64>,
    to_ack: Vec<f64>,
    to_resolve: Vec<f64>,
    emergencies: u64,
    emergencies_in_target: u64,
}

impl Tally {
    fn add(&mut self, a: &AlertTimes, target: Target) {
        self.alerts += 1;
        if a.state == AlertState::Resolved {
            self.resolved += 1;
        }
        if let Some(o) = a.outcome {
            *self.outcomes.entry(o).or_default() += 1;
        }
        let since = |t: DateTime<Utc>| (t - a.opened_at).num_seconds().max(0) as f64 / 60.0;
        if let Some(t) = a.acknowledged_at {
            self.to_ack.push(since(t));
        }
        if let Some(t) = a.resolved_at {
            self.to_resolve.push(since(t));
        }
        if a.kind == AlertKind::Emergency {
            self.emergencies += 1;
            if a.acknowledged_at.is_some_and(|t| {
                (t - a.opened_at) <= chrono::Duration::minutes(target.minutes.into())
            }) {
                self.emergencies_in_target += 1;
            }
        }
    }

    fn sorted(mut self) -> Self {
        self.to_ack.sort_by(f64::total_cmp);
        self.to_resolve.sort_by(f64::total_cmp);
        self
    }
}

/// A line of the figures: a district (or the whole city) and its tally.
struct Line {
    district: String,
    tally: Tally,
    by_kind: BTreeMap<AlertKind, Tally>,
    /// The partners' reports that reached the district's alerts, by the partner's kind.
    reports: BTreeMap<PartnerKind, u64>,
}

/// The month's figures per district, the city's total last.
async fn figures(
    state: &DashboardState,
    month: Month,
) -> Result<Vec<Line>, mimamori_core::storage::StorageError> {
    let tz = state.ctx.timezone;
    let alerts = state
        .store
        .alert_times(month.start(tz), month.next().start(tz))
        .await?;
    let mut districts: Vec<&mimamori_core::domain::District> =
        state.registry.districts.iter().collect();
    districts.sort_by_key(|d| (d.position, d.reading.clone()));
    let mut per: BTreeMap<Option<DistrictId>, (Tally, BTreeMap<AlertKind, Tally>)> =
        BTreeMap::new();
    let mut city = (Tally::default(), BTreeMap::<AlertKind, Tally>::new());
    let mut reports: BTreeMap<Option<DistrictId>, BTreeMap<PartnerKind, u64>> = BTreeMap::new();
    let mut city_reports = BTreeMap::new();
    for (district, kind) in state
        .store
        .concern_reports(month.start(tz), month.next().start(tz))
        .await?
    {
        *reports
            .entry(district)
            .or_default()
            .entry(kind)
            .or_default() += 1;
        *city_reports.entry(kind).or_default() += 1;
    }
    for d in reports.keys() {
        per.entry(d.clone()).or_default();
    }
    let target = state.target;
    for a in &alerts {
        let entry = per.entry(a.district.clone()).or_default();
        entry.0.add(a, target);
        entry.1.entry(a.kind).or_default().add(a, target);
        city.0.add(a, target);
        city.1.entry(a.kind).or_default().add(a, target);
    }
    let line = |district: String,
                (tally, by_kind): (Tally, BTreeMap<AlertKind, Tally>),
                reports: BTreeMap<PartnerKind, u64>| Line {
        district,
        tally: tally.sorted(),
        by_kind: by_kind.into_iter().map(|(k, t)| (k, t.sorted())).collect(),
        reports,
    };
    let mut lines: Vec<Line> = districts
        .iter()
        .map(|d| {
            let id = Some(d.id.clone());
            line(
                format!("{}地区", d.name),
                per.remove(&id).unwrap_or_default(),
                reports.remove(&id).unwrap_or_default(),
            )
        })
        .collect();
    if let Some(triage) = per.remove(&None) {
        lines.push(line(
            "地区不明（振り分け待ちだったもの）".into(),
            triage,
            reports.remove(&None).unwrap_or_default(),
        ));
    }
    for (d, rest) in per {
        let partners = reports.remove(&d).unwrap_or_default();
        lines.push(line(
            d.map(|d| d.to_string()).unwrap_or_default(),
            rest,
            partners,
        ));
    }
    lines.push(line("市全体".into(), city, city_reports));
    Ok(lines)
}

/// A row of the figures' table, as shown.
struct Shown {
    district: String,
    alerts: u64,
    kinds: String,
    outcomes: String,
    ack: String,
    resolve: String,
    /// 「100%（3/3件）」 and whether it meets the target.
    target: String,
    met: bool,
    total: bool,
    /// The partners' reports: in all, and per partner kind (in [`PartnerKind::ALL`]'s order).
    reports: u64,
    by_partner: Vec<u64>,
}

/// `/figures`: the month's figures.
#[derive(Template)]
#[template(path = "dashboard/figures.html")]
struct FiguresPage {
    title: String,
    me: super::Me,
    month: String,
    previous: String,
    next: String,
    rows: Vec<Shown>,
    /// The partner kinds, the report table's columns.
    partner_kinds: Vec<&'static str>,
    target_minutes: u32,
    target_share: u32,
}

/// The signed-in city-wide team and the month asked for; else the page to answer with.
#[allow(clippy::result_large_err)]
async fn allowed(
    state: &DashboardState,
    headers: &HeaderMap,
    query: &MonthQuery,
    next: &str,
) -> Result<(super::Session, Month), Response> {
    let session = match session(state, headers).await? {
        Some(s) => s,
        None => return Err(see_other(&format!("/login?next={next}"))),
    };
    if !session.coordinates() {
        // A district's team: out of its scope, as missing; a city-wide team's responder: the
        // coordinator's, refused as such.
        return Err(if session.team.district.is_some() {
            not_found()
        } else {
            super::alert_list::coordinators_only()
        });
    }
    let month =
        Month::parse(&query.month, state.clock.now(), state.ctx.timezone).ok_or_else(|| {
            notice(
                StatusCode::BAD_REQUEST,
                "月の指定が正しくありません",
                "month=2026-12 のように、西暦4桁と月2桁で指定してください。",
            )
        })?;
    Ok((session, month))
}

/// `GET /figures`.
pub(super) async fn figures_page(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Query(query): Query<MonthQuery>,
) -> Response {
    let (session, month) = match allowed(&state, &headers, &query, "/figures").await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let lines = match figures(&state, month).await {
        Ok(l) => l,
        Err(e) => return server_error(e),
    };
    let rows = lines
        .into_iter()
        .map(|l| {
            let t = &l.tally;
            let met = state.target.met(t.emergencies_in_target, t.emergencies);
            Shown {
                total: l.district == "市全体",
                district: l.district,
                alerts: t.alerts,
                kinds: l
                    .by_kind
                    .iter()
                    .map(|(k, t)| format!("{} {}", k.label_ja(), t.alerts))
                    .collect::<Vec<_>>()
                    .join("、"),
                outcomes: t
                    .outcomes
                    .iter()
                    .map(|(o, n)| format!("{} {n}", o.label_ja()))
                    .collect::<Vec<_>>()
                    .join("、"),
                ack: match (percentile(&t.to_ack, 0.5), percentile(&t.to_ack, 0.9)) {
                    (Some(a), Some(b)) => format!("{a:.1}分 / {b:.1}分"),
                    _ => "—".into(),
                },
                resolve: match (
                    percentile(&t.to_resolve, 0.5),
                    percentile(&t.to_resolve, 0.9),
                ) {
                    (Some(a), Some(b)) => format!("{a:.1}分 / {b:.1}分"),
                    _ => "—".into(),
                },
                target: match (t.emergencies_in_target * 100).checked_div(t.emergencies) {
                    None => "—".into(),
                    Some(share) => format!(
                        "{share}%（{}/{}件）",
                        t.emergencies_in_target, t.emergencies
                    ),
                },
                met,
                reports: l.reports.values().sum(),
                by_partner: PartnerKind::ALL
                    .iter()
                    .map(|k| l.reports.get(k).copied().unwrap_or(0))
                    .collect(),
            }
        })
        .collect();
    page(
        StatusCode::OK,
        &FiguresPage {
            title: format!("市の集計（{}）", month.label()),
            me: session.me("figures"),
            month: month.code(),
            previous: month.previous().code(),
            next: month.next().code(),
            rows,
            partner_kinds: PartnerKind::ALL.iter().map(|k| k.label_ja()).collect(),
            target_minutes: state.target.minutes,
            target_share: state.target.percent,
        },
    )
}

/// `GET /figures.csv`: the same, one row per district and kind (and 「すべて」), for Excel.
pub(super) async fn figures_csv(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Query(query): Query<MonthQuery>,
) -> Response {
    let (_, month) = match allowed(&state, &headers, &query, "/figures").await {
        Ok(ok) => ok,
        Err(page) => return page,
    };
    let lines = match figures(&state, month).await {
        Ok(l) => l,
        Err(e) => return server_error(e),
    };
    let mut header = vec![
        "月".to_string(),
        "地区".into(),
        "種別".into(),
        "件数".into(),
        "解決済み".into(),
    ];
    header.extend(
        Outcome::ALL
            .iter()
            .map(|o| format!("結果:{}", o.label_ja())),
    );
    header.extend([
        "対応開始までの中央値(分)".into(),
        "対応開始までの90%値(分)".into(),
        "解決までの中央値(分)".into(),
        "解決までの90%値(分)".into(),
        format!("緊急通報のうち{}分以内に対応開始", state.target.minutes),
        "緊急通報".into(),
        "協力事業者からの連絡".into(),
    ]);
    header.extend(
        PartnerKind::ALL
            .iter()
            .map(|k| format!("連絡:{}", k.label_ja())),
    );
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::from("\u{feff}".as_bytes()));
    let mut write = |row: Vec<String>| out.write_record(&row);
    let mut result = write(header);
    for l in &lines {
        let groups = std::iter::once(("すべて", &l.tally))
            .chain(l.by_kind.iter().map(|(k, t)| (k.label_ja(), t)));
        for (kind, t) in groups {
            let mut row = vec![
                month.code(),
                l.district.clone(),
                kind.to_string(),
                t.alerts.to_string(),
                t.resolved.to_string(),
            ];
            row.extend(
                Outcome::ALL
                    .iter()
                    .map(|o| t.outcomes.get(o).copied().unwrap_or(0).to_string()),
            );
            row.extend([
                minutes(percentile(&t.to_ack, 0.5)),
                minutes(percentile(&t.to_ack, 0.9)),
                minutes(percentile(&t.to_resolve, 0.5)),
                minutes(percentile(&t.to_resolve, 0.9)),
                t.emergencies_in_target.to_string(),
                t.emergencies.to_string(),
            ]);
            // The partners' reports: on the district's 「すべて」 row and its concerns' row
            // (the reports behind those alerts); not a figure of the other kinds.
            let reports = kind == "すべて" || kind == AlertKind::Concern.label_ja();
            let count = |n: u64| {
                if reports {
                    n.to_string()
                } else {
                    String::new()
                }
            };
            row.push(count(l.reports.values().sum()));
            row.extend(
                PartnerKind::ALL
                    .iter()
                    .map(|k| count(l.reports.get(k).copied().unwrap_or(0))),
            );
            result = result.and_then(|()| write(row));
        }
    }
    let bytes = result.and_then(|()| out.into_inner().map_err(|e| e.into_error().into()));
    match bytes {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"mimamori-figures-{}.csv\"",
                        month.code()
                    ),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "Figures: the CSV could not be written.");
            notice(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ただいま表示できません",
                "しばらくしてからもう一度お試しください。",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_four_digits_and_two() {
        let tz = chrono_tz::Asia::Tokyo;
        let now = mimamori_core::testing::t0(); // 2026-12-01 09:00 JST
        assert_eq!(Month::parse("", now, tz).unwrap().code(), "2026-12");
        assert_eq!(
            Month::parse("2026-02", now, tz).unwrap().next().code(),
            "2026-03"
        );
        assert_eq!(
            Month::parse("2026-01", now, tz).unwrap().previous().code(),
            "2025-12"
        );
        for bad in [
            "2026-13",
            " 2026-12",
            "26-12",
            "2026-1",
            "2026/12",
            "２０２６-１２",
            "1999-12",
            "2026-12-01",
            "'; DROP",
        ] {
            assert!(Month::parse(bad, now, tz).is_none(), "{bad}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(5.0));
        assert_eq!(percentile(&v, 0.9), Some(9.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[3.0], 0.9), Some(3.0));
    }
}
