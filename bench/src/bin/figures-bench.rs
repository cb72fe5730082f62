//! The city's figures page on a year of alerts: `cargo run --release -p mimamori-bench --bin
//! figures-bench`.
//!
//! A store of the run's own (a temporary SQLite file; `--database postgres://USER@HOST/DB`: a
//! database created on that server for the run and dropped after it) holds the Fujisawa
//! registry (13 districts and their teams), a coordinator, one partner of each kind, and
//! `--residents` (1,000) residents spread over the districts — through the store's API — and
//! then, written in bulk (the store's API takes minutes for this), the 12 months before the
//! current one: two alerts a month per resident, their kinds in turn over every kind a resident
//! has (緊急通報 … 複合), each routed to its team as the alert service routes it, acknowledged
//! (telegram, dashboard or email) and resolved with an outcome its kind allows — except the last
//! month's newest, still open or being handled; partners' concerns, some about addresses no
//! district claims (triage), some joined by other partners' reports; a few delivery failures of
//! the operators'. Every alert has its timeline as the real code writes it: `created` with the
//! rule's detail, `joined` per further report, two `delivery` results, `escalated` for an
//! emergency taken after 5 minutes, `acknowledged`, `resolved`.
//!
//! Then the web server is built as `mimamori up` builds it (`mimamori_web::build`, served on
//! 127.0.0.1:0) over a store opened as `up` opens it, a coordinator signs in through `/login`,
//! and each round asks for (interleaved, so that all meet the machine's hiccups alike):
//!
//! - `/figures?month=…` of the year's middle month (about 2,000 alerts): the measured page;
//! - **baseline** `/figures?month=…` of a month two years back, without alerts: the page's own
//!   fixed cost (session, registry, template);
//! - **baseline** `/healthz`: the HTTP stack and one ping of the store;
//! - `/figures.csv?month=…` of the measured month;
//! - the store's two reads behind the page (`alert_times`, `concern_reports`), called directly:
//!   how much of the page is the database.
//!
//! The page's counts are checked against what was seeded — each district's alerts and partners'
//! reports, triage's, the city's, the empty month's zero, the CSV's city row — and the run fails
//! when one differs or a page is not 200.
//!
//! Options: `--requests 50` (rounds measured, after 3 of warm-up), `--residents 1000`,
//! `--database postgres://USER@HOST/DB`, `--keep` (the store is left in place and its URL
//! printed, to look at the query plans: `EXPLAIN QUERY PLAN` / `EXPLAIN ANALYZE`).
//!
//! Printed: what was seeded; the machine's load average before and after, and how busy the CPUs
//! were and how much the hypervisor stole while measuring; p50 / p90 / p99 / max of each request
//! (milliseconds, until the whole body is read), and the first request of the measured month
//! (cold); whether the page meets issue 17's goal (under 300 ms).

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use mimamori_alerts::route::Routing;
use mimamori_bench::database::{self, BenchDatabase};
use mimamori_bench::latency::percentile;
use mimamori_bench::machine::{CpuTimes, load_average};
use mimamori_core::clock::SystemClock;
use mimamori_core::config::Config;
use mimamori_core::domain::*;
use mimamori_core::registry::Registry;
use mimamori_core::secret::token_hash;
use mimamori_core::storage::Store;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Issue 17: the figures of a month of a 1,000-resident year in under this.
const GOAL_MS: f64 = 300.0;
/// Rounds before the measured ones (caches, connections, the template's first use).
const WARM_UP: usize = 3;
/// Alerts a resident has a month.
const PER_RESIDENT: usize = 2;
/// The operators' delivery failures a month.
const DELIVERY_FAILURES: usize = 6;
/// Rows per multi-row INSERT (18 values an alert: under SQLite's 32,766 parameters).
const CHUNK: usize = 500;

/// The kinds of a resident's alerts, taken in turn.
const RESIDENT_KINDS: [AlertKind; 9] = [
    AlertKind::Emergency,
    AlertKind::Inactivity,
    AlertKind::DailyWindow,
    AlertKind::CheckinMissed,
    AlertKind::Unmonitored,
    AlertKind::DeviceOffline,
    AlertKind::BatteryLow,
    AlertKind::Concern,
    AlertKind::Compound,
];

/// The command line (see the module's documentation).
struct Options {
    requests: usize,
    residents: usize,
    database: Option<String>,
    /// Leave the store (its file, or its database) in place, to look at its query plans.
    keep: bool,
}

impl Options {
    fn from_args() -> Result<Self> {
        let args = mimamori_bench::args::Args::from_env();
        let text = |name: &str| args.text(name);
        let number = |name: &str, default: usize| args.number(name, default);
        let o = Self {
            requests: number("--requests", 50)?.max(1),
            residents: number("--residents", 1_000)?.max(1),
            database: text("--database"),
            keep: args.flag("--keep"),
        };
        if let Some(url) = &o.database {
            database::check_server(url)?;
        }
        Ok(o)
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let o = Options::from_args()?;
    let dir = tempfile::Builder::new()
        .prefix("mimamori-figures-bench-")
        .tempdir()
        .context("Failed to create a temporary directory")?;
    let database =
        BenchDatabase::create(o.database.as_deref(), dir.path(), "figures-bench").await?;
    let outcome = bench(&o, &database.url).await;
    if o.keep {
        let _ = dir.keep();
        println!("the store is kept (--keep): {}", database.url);
    } else if let Err(e) = database.remove().await {
        eprintln!("figures-bench: could not drop the run's database: {e:#}");
    }
    outcome
}

/// A month of the city's calendar, as the figures page takes it (`YYYY-MM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Month(NaiveDate);

impl Month {
    fn of(t: DateTime<Utc>, tz: Tz) -> Self {
        let d = t.with_timezone(&tz).date_naive();
        Month(NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("a month's first day"))
    }

    fn plus(self, months: i32) -> Self {
        let n = self.0.year() * 12 + self.0.month0() as i32 + months;
        Month(NaiveDate::from_ymd_opt(n.div_euclid(12), n.rem_euclid(12) as u32 + 1, 1).unwrap())
    }

    fn start(self, tz: Tz) -> DateTime<Utc> {
        tz.from_local_datetime(&self.0.and_hms_opt(0, 0, 0).unwrap())
            .earliest()
            .expect("midnight exists in the city's time zone")
            .with_timezone(&Utc)
    }

    fn code(self) -> String {
        self.0.format("%Y-%m").to_string()
    }
}

/// A well-mixed number from `i` (splitmix64): the seed's choices, the same in every run.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One alert to write, with its timeline.
struct Seed {
    subject: String,
    kind: AlertKind,
    severity: Severity,
    district: Option<DistrictId>,
    team: TeamId,
    detail: serde_json::Value,
    opened: DateTime<Utc>,
    /// When, by whom and how it was acknowledged.
    acked: Option<(DateTime<Utc>, String, &'static str)>,
    resolved: Option<(DateTime<Utc>, String, Outcome)>,
    /// Further partners' reports that joined it: when, and their detail.
    joined: Vec<(DateTime<Utc>, serde_json::Value)>,
}

impl Seed {
    fn state(&self) -> AlertState {
        match (&self.acked, &self.resolved) {
            (_, Some(_)) => AlertState::Resolved,
            (Some(_), None) => AlertState::Acknowledged,
            (None, None) => AlertState::Open,
        }
    }

    /// The timeline as the store writes it: (at, kind, actor, detail).
    fn events(&self, notification: &mut i64) -> Vec<(i64, AlertEventKind, Option<String>, String)> {
        let mut out = vec![(
            self.opened.timestamp_millis(),
            AlertEventKind::Created,
            None,
            self.detail.to_string(),
        )];
        for (i, channel) in ["telegram", "email"].into_iter().enumerate() {
            *notification += 1;
            out.push((
                self.opened.timestamp_millis() + 1_000 * (i as i64 + 1),
                AlertEventKind::Delivery,
                None,
                serde_json::json!({ "notification": *notification, "channel": channel, "attempt": 1, "result": "sent", "error": null })
                    .to_string(),
            ));
        }
        for (at, detail) in &self.joined {
            out.push((
                at.timestamp_millis(),
                AlertEventKind::Joined,
                None,
                detail.to_string(),
            ));
        }
        let target = self.opened + Duration::minutes(5);
        if self.kind == AlertKind::Emergency && self.acked.as_ref().is_none_or(|a| a.0 > target) {
            out.push((
                target.timestamp_millis(),
                AlertEventKind::Escalated,
                None,
                serde_json::json!({ "step": 1, "to": "coordinator", "teams": ["coordinator", self.team.as_str()], "unacknowledged_since": self.opened, "next_in_minutes": 5 })
                    .to_string(),
            ));
        }
        if let Some((at, by, via)) = &self.acked {
            out.push((
                at.timestamp_millis(),
                AlertEventKind::Acknowledged,
                Some(by.clone()),
                serde_json::json!({ "via": via }).to_string(),
            ));
        }
        if let Some((at, by, outcome)) = &self.resolved {
            out.push((
                at.timestamp_millis(),
                AlertEventKind::Resolved,
                Some(by.clone()),
                serde_json::json!({ "outcome": outcome.as_str(), "note": null, "cancelled_notifications": 0 })
                    .to_string(),
            ));
        }
        out.sort_by_key(|e| e.0);
        out
    }
}

/// What the figures page must show for one month: alerts and partners' reports per district
/// (`None`: triage).
#[derive(Debug, Default)]
struct Expected {
    alerts: BTreeMap<Option<DistrictId>, u64>,
    reports: BTreeMap<Option<DistrictId>, u64>,
}

/// The rule's detail of a new alert, as the rules write it (`source`: the partner of a concern).
fn rule_detail(
    kind: AlertKind,
    g: u64,
    at: DateTime<Utc>,
    partner: Option<&str>,
) -> serde_json::Value {
    use serde_json::json;
    match kind {
        AlertKind::Emergency => {
            json!({ "rule": "emergency", "signal": g, "source": format!("device:btn-{g}"), "pressed_at": at, "during_pause": false })
        }
        AlertKind::Inactivity => {
            json!({ "rule": "inactivity", "max_silence_minutes": 720, "active_hours": ["07:00", "22:00"], "last_activity": at - Duration::hours(12), "deadline": at, "pauses_considered": [], "sensors": 2, "sensors_offline": [] })
        }
        AlertKind::DailyWindow => {
            json!({ "rule": "daily_window", "window": [at - Duration::hours(4), at], "window_local": ["06:00", "10:00"], "last_activity": at - Duration::hours(15), "pauses_considered": [] })
        }
        AlertKind::CheckinMissed => {
            json!({ "rule": "checkin", "due_local": "09:00", "grace_minutes": 60, "deadline": at, "last_checkin": at - Duration::days(1), "pauses_considered": [] })
        }
        AlertKind::Unmonitored => {
            json!({ "rule": "unmonitored", "sensors_offline": ["pir-1", "door-1"], "since": at, "note": "every activity sensor is offline: silence says nothing about the resident" })
        }
        AlertKind::DeviceOffline => {
            json!({ "rule": "device_health", "reason": "heartbeat_missed", "device_kind": "motion", "last_seen": at - Duration::hours(3), "heartbeat_interval_s": 3600, "heartbeat_misses": 3, "offline_since": at })
        }
        AlertKind::BatteryLow => {
            json!({ "rule": "device_health", "reason": "battery_low", "battery": 12, "threshold": 20, "device_kind": "call_button" })
        }
        AlertKind::Concern => {
            json!({ "rule": "concern", "signal": g, "source": format!("partner:{}", partner.unwrap_or("pt-post")), "observed_at": at, "urgent": g.is_multiple_of(5), "seen": ["mail"], "route": "district", "address": null, "note": null, "reporter": null })
        }
        AlertKind::Compound => {
            json!({ "rule": "compound", "troubles": ["inactivity", "concern"], "window_days": 30, "completed_by": "concern" })
        }
        AlertKind::DeliveryFailed => {
            json!({ "channel": "email", "notification": g, "alert": g, "reason": "550 mailbox unavailable" })
        }
    }
}

fn severity(kind: AlertKind, urgent: bool) -> Severity {
    match kind {
        AlertKind::Emergency => Severity::Critical,
        AlertKind::DeviceOffline => Severity::Normal,
        AlertKind::BatteryLow => Severity::Low,
        AlertKind::Concern if !urgent => Severity::Normal,
        _ => Severity::High,
    }
}

/// The year of alerts: the 12 months before `this_month`, for `residents` (id, district, age).
fn plan(
    this_month: Month,
    tz: Tz,
    residents: &[(ResidentId, DistrictId, i32)],
    partners: &[PartnerId],
) -> Vec<Seed> {
    let routing = Routing::default();
    let mut seeds = Vec::new();
    for m in 0..12 {
        let month = this_month.plus(m - 12);
        let (start, end) = (month.start(tz), month.plus(1).start(tz));
        let span_s = (end - start).num_seconds() as u64;
        let last = m == 11;
        let alert = |g: u64,
                     subject: Subject,
                     kind: AlertKind,
                     district: Option<DistrictId>,
                     age: Option<i32>| {
            let h = mix(g);
            let opened = start
                + Duration::seconds((h % span_s) as i64)
                + Duration::milliseconds(((h >> 40) % 1000) as i64);
            let partner = partners[(h >> 8) as usize % partners.len()].as_str();
            let detail = rule_detail(kind, g, opened, Some(partner));
            let team = routing.team(kind, age, district.as_ref());
            let responder = format!("responder:p-{team}");
            // Emergencies: nine in ten taken within 1–4 minutes, the rest after 6–20; the other
            // kinds within 5 minutes to 3 hours.
            let to_ack = match kind {
                AlertKind::Emergency if !h.is_multiple_of(10) => 60 + (h >> 16) % 180,
                AlertKind::Emergency => 360 + (h >> 16) % 840,
                _ => 300 + (h >> 16) % 10_500,
            };
            let acked_at = opened + Duration::seconds(to_ack as i64);
            let resolved_at = acked_at + Duration::seconds(600 + ((h >> 24) % 259_200) as i64);
            let via =
                ["telegram", "telegram", "dashboard", "email", "telegram"][(h >> 4) as usize % 5];
            let outcomes = kind.outcomes();
            let outcome = outcomes[(h >> 32) as usize % outcomes.len()];
            // The last month's newest: still open, or being handled.
            let (acked, resolved) = if last && resolved_at >= end {
                if acked_at < end && h.is_multiple_of(2) {
                    (Some((acked_at, responder.clone(), via)), None)
                } else {
                    (None, None)
                }
            } else {
                (
                    Some((acked_at, responder.clone(), via)),
                    Some((resolved_at, responder, outcome)),
                )
            };
            // A concern: up to two more reports of other partners within the day.
            let joined = if kind == AlertKind::Concern {
                (0..(h >> 48) % 3)
                    .map(|k| {
                        let at = opened + Duration::hours(2 + 5 * k as i64);
                        let other = partners[((h >> 8) as usize + 1 + k as usize) % partners.len()]
                            .as_str();
                        (at, rule_detail(kind, g * 10 + k, at, Some(other)))
                    })
                    .collect()
            } else {
                Vec::new()
            };
            Seed {
                subject: subject.key(),
                kind,
                severity: severity(kind, g.is_multiple_of(5)),
                district,
                team,
                detail,
                opened,
                acked,
                resolved,
                joined,
            }
        };
        for (r, (id, district, age)) in residents.iter().enumerate() {
            for n in 0..PER_RESIDENT {
                let g = ((m as usize * residents.len() + r) * PER_RESIDENT + n) as u64;
                let kind =
                    RESIDENT_KINDS[(r * PER_RESIDENT + n + m as usize) % RESIDENT_KINDS.len()];
                let subject = match kind {
                    AlertKind::DeviceOffline | AlertKind::BatteryLow => {
                        Subject::Device(DeviceId::parse(format!("dev-{id}")).expect("a device id"))
                    }
                    // One concern in eight is about an address no district claims: triage.
                    AlertKind::Concern if mix(g).is_multiple_of(8) => {
                        seeds.push(alert(
                            g,
                            Subject::Address(format!("不明町{g}丁目")),
                            kind,
                            None,
                            None,
                        ));
                        continue;
                    }
                    _ => Subject::Resident(id.clone()),
                };
                seeds.push(alert(g, subject, kind, Some(district.clone()), Some(*age)));
            }
        }
        for f in 0..DELIVERY_FAILURES {
            let g = (1u64 << 40) + (m as u64) * 100 + f as u64;
            let subject = Subject::Channel(format!("email:{:016x}", mix(g)));
            seeds.push(alert(g, subject, AlertKind::DeliveryFailed, None, None));
        }
    }
    seeds
}

/// What the page must show, per month, from the seeds.
fn expected(seeds: &[Seed], tz: Tz) -> BTreeMap<Month, Expected> {
    let mut out: BTreeMap<Month, Expected> = BTreeMap::new();
    for s in seeds {
        *out.entry(Month::of(s.opened, tz))
            .or_default()
            .alerts
            .entry(s.district.clone())
            .or_default() += 1;
        if s.kind == AlertKind::Concern {
            for at in std::iter::once(s.opened).chain(s.joined.iter().map(|j| j.0)) {
                *out.entry(Month::of(at, tz))
                    .or_default()
                    .reports
                    .entry(s.district.clone())
                    .or_default() += 1;
            }
        }
    }
    out
}

/// `$1, $2, …` placeholders for `rows` rows of `columns` values.
fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes the alerts and their timelines in multi-row INSERTs, in one transaction: how many
/// timeline events.
async fn write(url: &str, seeds: &[Seed]) -> Result<usize> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .context("Failed to open the store for the bulk writes")?;
    let mut tx = pool.begin().await?;
    let mut ids: HashMap<(String, String, i64), i64> = HashMap::with_capacity(seeds.len());
    for chunk in seeds.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO alerts (subject, kind, state, severity, district_id, summary, detail, opened_at, last_evidence_at, evidence_count, acknowledged_at, acknowledged_by, resolved_at, resolved_by, outcome, team_id, escalation_step, next_escalation_at)
             VALUES {} RETURNING id, subject, kind, opened_at",
            placeholders(chunk.len(), 18)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in chunk {
            let last_evidence = s.joined.last().map_or(s.opened, |j| j.0);
            let escalated = s.kind == AlertKind::Emergency
                && s.acked
                    .as_ref()
                    .is_none_or(|a| a.0 > s.opened + Duration::minutes(5));
            q = q
                .bind(s.subject.clone())
                .bind(s.kind.as_str())
                .bind(s.state().as_str())
                .bind(s.severity.as_str())
                .bind(s.district.as_ref().map(|d| d.as_str().to_string()))
                .bind(s.kind.label_ja())
                .bind(s.detail.to_string())
                .bind(s.opened.timestamp_millis())
                .bind(last_evidence.timestamp_millis())
                .bind(1 + s.joined.len() as i64)
                .bind(s.acked.as_ref().map(|a| a.0.timestamp_millis()))
                .bind(s.acked.as_ref().map(|a| a.1.clone()))
                .bind(s.resolved.as_ref().map(|r| r.0.timestamp_millis()))
                .bind(s.resolved.as_ref().map(|r| r.1.clone()))
                .bind(s.resolved.as_ref().map(|r| r.2.as_str()))
                .bind(s.team.as_str().to_string())
                .bind(escalated as i64)
                .bind(None::<i64>);
        }
        for row in q.fetch_all(&mut *tx).await? {
            ids.insert(
                (
                    row.try_get("subject")?,
                    row.try_get("kind")?,
                    row.try_get("opened_at")?,
                ),
                row.try_get("id")?,
            );
        }
    }
    ensure!(
        ids.len() == seeds.len(),
        "{} alerts written, {} planned (two seeds alike?)",
        ids.len(),
        seeds.len()
    );
    let mut notification = 0;
    let mut events = Vec::new();
    for s in seeds {
        let id = ids[&(
            s.subject.clone(),
            s.kind.as_str().to_string(),
            s.opened.timestamp_millis(),
        )];
        for e in s.events(&mut notification) {
            events.push((id, e));
        }
    }
    for chunk in events.chunks(CHUNK * 3) {
        let sql = format!(
            "INSERT INTO alert_events (alert_id, at, kind, actor, detail) VALUES {}",
            placeholders(chunk.len(), 5)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, (at, kind, actor, detail)) in chunk {
            q = q
                .bind(*id)
                .bind(*at)
                .bind(kind.as_str())
                .bind(actor.clone())
                .bind(detail.clone());
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    // Fresh statistics for the planner, as a database that has lived a year has.
    sqlx::raw_sql("ANALYZE").execute(&pool).await?;
    pool.close().await;
    Ok(events.len())
}

/// The registry, a coordinator (its token returned), the partners and the residents, through the
/// store's API.
async fn people(
    store: &Store,
    registry: &Registry,
    residents: usize,
) -> Result<(String, Vec<(ResidentId, DistrictId, i32)>, Vec<PartnerId>)> {
    let now = Utc::now();
    store.seed_registry(registry, now).await?;
    let coordinator = ResponderId::parse("p-bench-coordinator")?;
    store
        .add_responder(
            &NewResponder {
                id: coordinator.clone(),
                team: Registry::default_team_id(TeamKind::Coordinator, None),
                name: "市 調整担当".into(),
                email: None,
                telegram_chat_id: None,
                office_hours: None,
            },
            now,
        )
        .await?;
    let token = format!("mmr_{}", mimamori_core::secret::generate(33));
    store
        .add_responder_token(&coordinator, &token_hash(&token), now)
        .await?;
    let mut partners = Vec::new();
    for kind in PartnerKind::ALL {
        let id = PartnerId::parse(format!("pt-{}", kind.as_str()))?;
        store
            .add_partner(
                &NewPartner {
                    id: id.clone(),
                    name: format!("{} ベンチ", kind.label_ja()),
                    kind: *kind,
                    agreement: None,
                },
                &token_hash(&format!("mmp_{id}")),
                now,
            )
            .await?;
        partners.push(id);
    }
    let mut out = Vec::new();
    for r in 0..residents {
        let d = &registry.districts[r % registry.districts.len()];
        let birth = 1930 + (mix(r as u64) % 36) as i32;
        let resident = NewResident {
            id: ResidentId::parse(format!("r-{r:05}"))?,
            name: format!("ベンチ {r}"),
            name_kana: None,
            birth_year: BirthYear::parse(birth, now)?,
            district: d.id.clone(),
            address: Address::from_parts(
                &d.name,
                Some(&format!("{}", r % 5 + 1)),
                Some(&format!("{}-1", r % 40 + 1)),
                None,
            )?,
            living: LivingSituation::Alone,
            phone: None,
            contacts: vec![],
            policies: vec![],
            notes: None,
        };
        store.add_resident(&resident, &Actor::system(), now).await?;
        out.push((resident.id, d.id.clone(), now.year() - birth));
    }
    Ok((token, out, partners))
}

/// Signs in through `/login` as a browser does: the session cookie.
async fn sign_in(base: &str, token: &str) -> Result<String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let form = http.get(format!("{base}/login")).send().await?;
    let cookie = form
        .headers()
        .get("set-cookie")
        .context("/login set no cookie")?
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    let page = form.text().await?;
    let marker = "name=\"signin_token\" value=\"";
    let at = page.find(marker).context("/login has no sign-in form")? + marker.len();
    let signin_token = page[at..].split('"').next().unwrap_or_default();
    let signed_in = http
        .post(format!("{base}/login"))
        .header("cookie", cookie)
        .form(&[
            ("token", token),
            ("next", "/figures"),
            ("signin_token", signin_token),
        ])
        .send()
        .await?;
    let session = signed_in
        .headers()
        .get("set-cookie")
        .with_context(|| format!("sign-in refused ({})", signed_in.status()))?
        .to_str()?;
    Ok(session.split(';').next().unwrap_or_default().to_string())
}

/// What was asked for and how long each took.
struct Timed {
    label: String,
    samples: Vec<f64>,
}

/// A GET, signed in: milliseconds until the whole body was read, and the body. Anything but 200
/// fails the run.
async fn get(http: &reqwest::Client, url: &str, cookie: &str) -> Result<(f64, String)> {
    let started = Instant::now();
    let r = http.get(url).header("cookie", cookie).send().await?;
    let status = r.status();
    let body = r.text().await?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if status != reqwest::StatusCode::OK {
        bail!(
            "{url} answered {status}: {}",
            body.chars().take(300).collect::<String>()
        );
    }
    Ok((ms, body))
}

/// The page's alert and report rows say what was seeded for the month.
fn check_page(page: &str, expected: &Expected, registry: &Registry, what: &str) -> Result<()> {
    let marker = "<h2>協力事業者からの連絡";
    let split = page
        .find(marker)
        .with_context(|| format!("{what}: no partners' table on the page"))?;
    let (alerts, reports) = page.split_at(split);
    let mut rows: Vec<(String, Option<DistrictId>)> = registry
        .districts
        .iter()
        .map(|d| (format!("{}地区", d.name), Some(d.id.clone())))
        .collect();
    rows.push(("地区不明（振り分け待ちだったもの）".into(), None));
    let total = |m: &BTreeMap<Option<DistrictId>, u64>| m.values().sum::<u64>();
    for (table, counts, name) in [
        (alerts, &expected.alerts, "alerts"),
        (reports, &expected.reports, "partners' reports"),
    ] {
        for (label, district) in &rows {
            let n = counts.get(district).copied().unwrap_or(0);
            // Triage's row is shown only when it has something.
            if district.is_none() && n == 0 && !table.contains(label.as_str()) {
                continue;
            }
            let shown = format!("{label}</th><td>{n}</td>");
            ensure!(
                table.contains(&shown),
                "{what}: {name} of {label} should be {n}; the page: {}",
                excerpt(table, label)
            );
        }
        let shown = format!("市全体</th><td>{}</td>", total(counts));
        ensure!(
            table.contains(&shown),
            "{what}: the city's {name} should be {}; the page: {}",
            total(counts),
            excerpt(table, "市全体")
        );
    }
    Ok(())
}

fn excerpt(page: &str, around: &str) -> String {
    match page.find(around) {
        Some(at) => page[at..].chars().take(120).collect(),
        None => format!("no {around:?} row"),
    }
}

async fn bench(o: &Options, url: &str) -> Result<()> {
    let config = Config::default();
    let tz = config.timezone().map_err(anyhow::Error::msg)?;
    let (store, backend) = database::open(url, config.storage.max_connections).await?;
    let registry = Arc::new(Registry::fujisawa());
    let seeding = Instant::now();
    let (token, residents, partners) = people(&store, &registry, o.residents).await?;
    let this_month = Month::of(Utc::now(), tz);
    let seeds = plan(this_month, tz, &residents, &partners);
    let events = write(url, &seeds).await?;
    let seeded_s = seeding.elapsed().as_secs_f64();
    let expected = expected(&seeds, tz);
    let (first, last) = (this_month.plus(-12), this_month.plus(-1));
    let measured = this_month.plus(-6);
    let empty = measured.plus(-24);
    let want = expected
        .get(&measured)
        .context("the measured month has no alerts")?;
    let reports: u64 = expected
        .values()
        .map(|e| e.reports.values().sum::<u64>())
        .sum();
    println!(
        "figures benchmark: {backend}; {} residents in {} districts; {} to {}: {} alerts, {events} timeline events, {reports} partners' reports (seeded in {seeded_s:.1} s, not measured)",
        residents.len(),
        registry.districts.len(),
        first.code(),
        last.code(),
        seeds.len(),
    );
    // A bulk-written alert reads back through the store as any other.
    let sample = store
        .list_alerts(&Default::default())
        .await
        .context("the written alerts do not read back")?;
    let timeline = store.alert_timeline(sample[0].id).await?;
    ensure!(
        timeline.first().map(|e| e.kind) == Some(AlertEventKind::Created),
        "alert {}'s timeline does not start with its creation",
        sample[0].id
    );

    // The web server as `mimamori up` builds it.
    mimamori_alerts::notify::install_crypto_provider();
    let web = mimamori_web::build(
        &config,
        store.clone(),
        registry.clone(),
        Arc::new(SystemClock),
        mimamori_web::Parts::default(),
    )
    .await
    .context("Failed to build the web server")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    tokio::spawn(web.serve(listener, shutdown.clone()));
    let cookie = sign_in(&base, &token).await?;
    let http = reqwest::Client::new();

    let full = format!("{base}/figures?month={}", measured.code());
    let blank = format!("{base}/figures?month={}", empty.code());
    let health = format!("{base}/healthz");
    let csv = format!("{base}/figures.csv?month={}", measured.code());
    let (from, to) = (measured.start(tz), measured.plus(1).start(tz));

    // The first request (cold), then the counts checked once.
    let (cold_ms, page) = get(&http, &full, &cookie).await?;
    check_page(&page, want, &registry, &full)?;
    let (_, page) = get(&http, &blank, &cookie).await?;
    check_page(&page, &Expected::default(), &registry, &blank)?;
    let (_, file) = get(&http, &csv, &cookie).await?;
    let city = format!(
        "{},市全体,すべて,{},",
        measured.code(),
        want.alerts.values().sum::<u64>()
    );
    ensure!(
        file.lines()
            .any(|l| l.trim_start_matches('\u{feff}').starts_with(&city)),
        "{csv}: no row starting {city:?}"
    );

    let mut timed: Vec<Timed> = [
        format!("/figures?month={} (a full month)", measured.code()),
        format!("baseline: /figures?month={} (no alerts)", empty.code()),
        "baseline: /healthz (HTTP, one store ping)".to_string(),
        format!("/figures.csv?month={}", measured.code()),
        "  of which: the store's two reads, direct".to_string(),
    ]
    .into_iter()
    .map(|label| Timed {
        label,
        samples: Vec::new(),
    })
    .collect();
    let load_before = load_average();
    let mut cpu_before = None;
    for round in 0..WARM_UP + o.requests {
        if round == WARM_UP {
            cpu_before = CpuTimes::now();
        }
        let mut took = Vec::new();
        for url in [&full, &blank, &health, &csv] {
            took.push(get(&http, url, &cookie).await?.0);
        }
        let started = Instant::now();
        let alerts = store.alert_times(from, to).await?;
        let reports = store.concern_reports(from, to).await?;
        took.push(started.elapsed().as_secs_f64() * 1e3);
        ensure!(
            alerts.len() as u64 == want.alerts.values().sum::<u64>()
                && reports.len() as u64 == want.reports.values().sum::<u64>(),
            "the store read {} alerts and {} reports for {}",
            alerts.len(),
            reports.len(),
            measured.code()
        );
        if round >= WARM_UP {
            for (t, ms) in timed.iter_mut().zip(took) {
                t.samples.push(ms);
            }
        }
    }
    let cpu = CpuTimes::now().zip(cpu_before).map(|(a, b)| a.since(&b));
    let load_after = load_average();

    println!(
        "{}: {} alerts, {} partners' reports — the page's counts checked against the seed (each district, triage, the city; the empty month; the CSV's city row)",
        measured.code(),
        want.alerts.values().sum::<u64>(),
        want.reports.values().sum::<u64>(),
    );
    let load = |l: Option<f64>| l.map_or("?".into(), |l| format!("{l:.2}"));
    match cpu {
        Some((busy, stolen)) => println!(
            "machine: load average {} before, {} after; while measuring {busy:.0} % of the CPUs busy, {stolen:.1} % stolen by the hypervisor",
            load(load_before),
            load(load_after)
        ),
        None => println!(
            "machine: load average {} before, {} after; /proc/stat not readable",
            load(load_before),
            load(load_after)
        ),
    }
    println!(
        "{} rounds, each request once a round, interleaved ({WARM_UP} rounds of warm-up not counted); the first request of the full month (cold): {cold_ms:.1} ms",
        o.requests
    );
    println!(
        "{:<48} | {:>4} | {:>9} | {:>9} | {:>9} | {:>9}",
        "", "n", "p50", "p90", "p99", "max"
    );
    for t in &mut timed {
        let v = &mut t.samples;
        println!(
            "{:<48} | {:>4} | {:>6.1} ms | {:>6.1} ms | {:>6.1} ms | {:>6.1} ms",
            t.label,
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99),
            percentile(v, 1.0),
        );
    }
    let page = &mut timed[0].samples;
    let (p50, p99) = (percentile(page, 0.5), percentile(page, 0.99));
    println!(
        "goal (issue 17): the figures of a month of a {}-resident year under {GOAL_MS:.0} ms: {} (p50 {p50:.1} ms, p99 {p99:.1} ms)",
        residents.len(),
        if p99 < GOAL_MS { "met" } else { "NOT MET" }
    );
    shutdown.cancel();
    store.close().await;
    Ok(())
}
