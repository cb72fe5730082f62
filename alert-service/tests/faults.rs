//! The fault suite (issue 16), in process on an injected clock: emergencies keep coming while one
//! fault lasts ten minutes, and the suite counts, per case, what was pressed, raised, due,
//! delivered and delivered twice, and how long an emergency waited for its first notification.
//! Every case asserts: nothing lost, nothing delivered twice, and delivery back within 60 s of
//! the fault's end. The printed lines (`fault: …`) are the suite's report.
//!
//! The faults that need processes are in `tests/process_faults.rs`, with the same `fault: …`
//! lines, in real time: on a three-node NATS cluster with two `mimamori gateway` and two
//! `mimamori alerts` processes on PostgreSQL, a broker node, a gateway and the leading alert
//! service killed (kill -9) under load, each emergency's first notification asserted within 15 s;
//! PostgreSQL (a server of the test's own) stopped for 30 s under `mimamori up` and started again;
//! `mimamori up` killed (kill -9) under load and started again. Also `tests/crash.rs` (`up`
//! killed twice, the alert stream followed) and `alert-service/tests/failover.rs` (two services
//! through several escalation steps on an injected clock).

use chrono::{DateTime, Duration, Utc};
use mimamori_core::clock::Clock;
use mimamori_core::domain::*;
use mimamori_core::on_both_backends;
use mimamori_core::storage::Store;
use mimamori_testapp::{Options, TestApp, home, jst, people, spawn_app};
use mimamori_testkit::smtp::SmtpServer;
use mimamori_testkit::telegram::Failure;
use mimamori_testkit::tmpfs::Tmpfs;
use std::collections::HashMap;

on_both_backends!(
    the_mail_server_down_for_ten_minutes: [Smtp],
    the_clock_jumping_an_hour_ahead,
    telegram_answering_429_and_500_for_ten_minutes,
);

mimamori_testkit::case!(the_disk_full_under_sqlite: [Tmpfs] => || {
    mimamori_testkit::harness::multi_thread(the_disk_full_under_sqlite())
});

const TOKEN: &str = "123456:TEST-token";
const PUBLIC_URL: &str = "https://mimamori.example.jp";
/// One step of the service: the clock moves this far, then rules, escalation and outbox run.
const STEP: Duration = Duration::seconds(5);
/// How long each fault lasts.
const FAULT: Duration = Duration::minutes(10);
/// Within this of the fault's end, everything due has been delivered.
const RESUME_WITHIN: Duration = Duration::seconds(60);
const RESIDENTS: usize = 6;

/// 鵠沼's 包括 (two responders) and the coordinator, each with a chat and a mailbox; six
/// residents of 鵠沼 with a call button each.
async fn world(store: &Store, options: Options) -> (TestApp, Vec<ResidentId>) {
    let at = jst("2026-12-01T10:00:00");
    for (id, team, name, chat) in [
        ("p-suzuki", "houkatsu-kugenuma", "鈴木", 1001),
        ("p-tanaka", "houkatsu-kugenuma", "田中", 1002),
        ("p-coord", "coordinator", "佐藤", 2001),
    ] {
        let email = format!("{id}@example.jp");
        people::responder(store, id, team, name, Some(&email), Some(chat)).await;
    }
    let mut residents = Vec::new();
    for i in 0..RESIDENTS {
        let mut r = mimamori_core::testing::new_resident(&format!("r-fault-{i}"));
        r.id = ResidentId::parse(format!("r-fault-{i}")).unwrap();
        store.add_resident(&r, &Actor::system(), at).await.unwrap();
        home::device(
            store,
            &format!("btn-{i}"),
            &r.id,
            DeviceKind::CallButton,
            "k",
            at,
        )
        .await;
        residents.push(r.id);
    }
    // Telegram's pacing waits in real time (a second between two messages to one chat): a few
    // milliseconds here, so that hundreds of steps of injected time take seconds.
    let options = options.public_url(PUBLIC_URL).configure(|c| {
        c.notify.telegram.per_chat_interval_ms = 1;
        c.notify.telegram.max_per_second = 1000;
    });
    (spawn_app(store.clone(), options).await, residents)
}

/// What a case counted, printed as one line and asserted.
#[derive(Debug, Default)]
struct Counts {
    presses: usize,
    stored: usize,
    alerts: usize,
    alerts_twice: usize,
    due: usize,
    delivered: usize,
    delivered_twice: usize,
    /// The longest an emergency waited for its first notification to arrive.
    longest_first_wait: Duration,
    /// When everything due had arrived, after the fault's end (None: never).
    resumed_after_fault: Option<Duration>,
    /// Steps of the service that stopped at a storage failure (the store down or full).
    failed_steps: usize,
}

impl Counts {
    fn report(&self, case: &str) {
        println!(
            "fault: {case}: signals sent {} / stored {} / duplicated 0; alerts expected {} / raised {} / duplicated {}; \
             notifications due {} / delivered {} / delivered twice {}; longest wait for a first notification {} s; \
             delivery back {} after the fault; service steps refused by the store {}",
            self.presses,
            self.stored,
            RESIDENTS.min(self.presses),
            self.alerts,
            self.alerts_twice,
            self.due,
            self.delivered,
            self.delivered_twice,
            self.longest_first_wait.num_seconds(),
            self.resumed_after_fault
                .map(|d| format!("{} s", d.num_seconds()))
                .unwrap_or_else(|| "never".into()),
            self.failed_steps,
        );
        assert_eq!(self.stored, self.presses, "{case}: signals lost");
        assert_eq!(
            (self.alerts, self.alerts_twice),
            (RESIDENTS.min(self.presses), 0),
            "{case}: alerts"
        );
        assert_eq!(self.delivered, self.due, "{case}: notifications lost");
        assert_eq!(
            self.delivered_twice, 0,
            "{case}: notifications delivered twice"
        );
        let resumed = self.resumed_after_fault.expect("delivery never came back");
        assert!(
            resumed <= RESUME_WITHIN,
            "{case}: delivery back only {resumed} after the fault"
        );
    }
}

/// A message as its receiver got it: (recipient, the alert its dashboard link names — a family
/// contact's notice has none —, the whole text). Two messages alike in all three are one message
/// delivered twice.
type Delivery = (String, Option<AlertId>, String);

/// The alert a message is about, from its dashboard link.
fn alert_of(text: &str) -> Option<AlertId> {
    let tail = text.split(&format!("{PUBLIC_URL}/alerts/")).nth(1)?;
    let id: String = tail.chars().take_while(char::is_ascii_digit).collect();
    id.parse().ok().map(AlertId)
}

/// Runs the scenario: a press every 2 minutes on the next resident for 12 minutes; the fault
/// from minute 1 for [`FAULT`] (`begin`, `end`); steps of [`STEP`] until everything due arrived
/// or 5 minutes after the fault. `received` lists what the channel's receiver got so far.
async fn scenario<'a>(
    w: &'a mut TestApp,
    residents: &[ResidentId],
    channel: Channel,
    mut begin: impl AsyncFnMut(&mut TestApp),
    mut end: impl AsyncFnMut(&mut TestApp),
    received: impl Fn(&TestApp) -> Vec<Delivery>,
) -> Counts {
    let start = w.clock.now();
    let fault_start = start + Duration::minutes(1);
    let fault_end = fault_start + FAULT;
    // When the fault ended, by the clock (a jump of the clock ends its fault at once).
    let mut ended_at: Option<DateTime<Utc>> = None;
    let (mut faulty, mut presses, mut counts) = (false, 0usize, Counts::default());
    let mut unstored: Vec<(String, ResidentId, i64, DateTime<Utc>)> = Vec::new();
    let mut step = 0usize;
    let mut first_seen: HashMap<Delivery, DateTime<Utc>> = HashMap::new();
    let mut resumed_at = None;
    loop {
        let now = w.clock.now();
        if !faulty && now >= fault_start && now < fault_end {
            begin(w).await;
            faulty = true;
        }
        if faulty && now >= fault_end {
            end(w).await;
            faulty = false;
            ended_at = Some(now);
        }
        // A press every 2 minutes of steps (24 steps), for 12 minutes of steps; the button sends
        // it again each step until it is stored (the store may be down or full).
        if step.is_multiple_of(24) && step < 144 {
            let i = presses % residents.len();
            unstored.push((
                format!("btn-{i}"),
                residents[i].clone(),
                presses as i64 + 1,
                now,
            ));
            presses += 1;
        }
        let mut still = Vec::new();
        for (device, r, seq, at) in unstored.drain(..) {
            if home::try_press_on(&w.store, &device, &r, seq, at)
                .await
                .is_err()
            {
                still.push((device, r, seq, at));
            }
        }
        unstored = still;
        if w.try_step().await.is_err() {
            counts.failed_steps += 1;
        }
        let got = received(w);
        for d in &got {
            first_seen.entry(d.clone()).or_insert(w.clock.now());
        }
        counts.delivered_twice = got.len() - first_seen.len();
        if let Some(ended) = ended_at
            && resumed_at.is_none()
        {
            let due = due(&w.store, channel).await;
            if due > 0 && first_seen.len() >= due {
                resumed_at = Some(now - ended);
            }
        }
        if let Some(ended) = ended_at
            && step >= 144
            && unstored.is_empty()
            && (now >= ended + Duration::minutes(5)
                || (resumed_at.is_some() && now >= ended + RESUME_WITHIN))
        {
            break;
        }
        w.clock.advance(STEP);
        step += 1;
        assert!(
            step < 1_000,
            "the scenario did not settle within 1,000 steps"
        );
    }
    let alerts = people::alerts_of(&w.store, AlertKind::Emergency).await;
    let mut subjects: Vec<&Subject> = alerts.iter().map(|a| &a.subject).collect();
    subjects.sort_by_key(|s| s.key());
    subjects.dedup();
    counts.presses = presses;
    counts.stored = stored_presses(&w.store, residents).await;
    counts.alerts = alerts.len();
    counts.alerts_twice = alerts.len() - subjects.len();
    counts.due = due(&w.store, channel).await;
    counts.delivered = first_seen.len();
    counts.resumed_after_fault = resumed_at;
    for a in &alerts {
        let first = first_seen
            .iter()
            .filter(|(d, _)| d.1 == Some(a.id))
            .map(|(_, at)| *at)
            .min();
        if let Some(first) = first {
            counts.longest_first_wait = counts.longest_first_wait.max(first - a.opened_at);
        }
    }
    counts
}

async fn stored_presses(store: &Store, residents: &[ResidentId]) -> usize {
    let mut n = 0;
    for r in residents {
        n += store
            .signals_for_subject(
                &Subject::Resident(r.clone()),
                jst("2026-01-01T00:00:00"),
                jst("2028-01-01T00:00:00"),
                1000,
            )
            .await
            .unwrap()
            .iter()
            .filter(|s| s.kind == SignalKind::Emergency)
            .count();
    }
    n
}

/// Notifications of `channel` for the emergencies, as the store has them.
async fn due(store: &Store, channel: Channel) -> usize {
    let mut n = 0;
    for a in people::alerts_of(store, AlertKind::Emergency).await {
        n += store
            .list_notifications(a.id)
            .await
            .unwrap()
            .iter()
            .filter(|x| x.channel == channel)
            .count();
    }
    n
}

fn telegram_received(w: &TestApp) -> Vec<Delivery> {
    w.bot_api()
        .sent()
        .into_iter()
        .map(|m| (m.chat_id.to_string(), alert_of(&m.text), m.text.clone()))
        .collect()
}

fn mail_received(w: &TestApp) -> Vec<Delivery> {
    w.smtp()
        .messages()
        .into_iter()
        .map(|m| {
            let text = m.text.unwrap_or_default();
            (
                m.rcpt_to.join(","),
                alert_of(&text),
                format!("{}\n{text}", m.subject),
            )
        })
        .collect()
}

async fn the_mail_server_down_for_ten_minutes(store: Store, _: String) {
    let smtp = SmtpServer::start().await;
    let (mut w, residents) =
        world(&store, Options::at(jst("2026-12-01T10:00:00")).email(smtp)).await;
    let counts = scenario(
        &mut w,
        &residents,
        Channel::Email,
        async |w: &mut TestApp| w.smtp_mut().stop().await,
        async |w: &mut TestApp| w.smtp_mut().start_again().await,
        mail_received,
    )
    .await;
    counts.report("mail server down 10 min");
}

async fn telegram_answering_429_and_500_for_ten_minutes(store: Store, _: String) {
    let (mut w, residents) = world(
        &store,
        Options::at(jst("2026-12-01T10:00:00")).telegram(TOKEN),
    )
    .await;
    let counts = scenario(
        &mut w,
        &residents,
        Channel::Telegram,
        // Every send and edit answered, in turn, "429 retry after 30 s" and a proxy's 500 page,
        // until the fault ends: more answers than the ten minutes can ask for (a few hundred).
        async |w: &mut TestApp| {
            for _ in 0..2_000 {
                for method in ["sendMessage", "editMessageText"] {
                    w.bot_api()
                        .fail_next(method, Failure::TooMany { retry_after: 30 }, 1);
                    w.bot_api().fail_next(method, Failure::Server(500), 1);
                }
            }
        },
        async |w: &mut TestApp| w.bot_api().clear_failures(),
        telegram_received,
    )
    .await;
    counts.report("Telegram 429 and 500 for 10 min");
}

/// The SQLite file's disk (a 32 MB tmpfs of the test's own) is filled up by another file for ten
/// minutes, then freed. Every write of the platform fails meanwhile (the WAL is emptied first,
/// so that no write finds room in pages it already had).
async fn the_disk_full_under_sqlite() {
    use sqlx::Connection;
    let disk = Tmpfs::mount(32).expect("a tmpfs: the case declares the Tmpfs need");
    let url = format!("sqlite://{}/mimamori.db", disk.path().display());
    let store = Store::connect(&url, 8).await.unwrap();
    store.migrate().await.unwrap();
    store
        .seed_registry(
            &mimamori_core::registry::Registry::fujisawa(),
            mimamori_core::testing::t0(),
        )
        .await
        .unwrap();
    let (mut w, residents) = world(
        &store,
        Options::at(jst("2026-12-01T10:00:00")).telegram(TOKEN),
    )
    .await;
    let counts = scenario(
        &mut w,
        &residents,
        Channel::Telegram,
        async |_: &mut TestApp| {
            let mut c = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut c)
                .await
                .unwrap();
            c.close().await.unwrap();
            disk.fill("filler");
        },
        async |_: &mut TestApp| std::fs::remove_file(disk.path().join("filler")).unwrap(),
        telegram_received,
    )
    .await;
    counts.report("disk full under SQLite 10 min");
    assert!(
        counts.failed_steps > 0,
        "the full disk refused the service's writes"
    );
    store.close().await;
}

async fn the_clock_jumping_an_hour_ahead(store: Store, _: String) {
    let (mut w, residents) = world(
        &store,
        Options::at(jst("2026-12-01T10:00:00")).telegram(TOKEN),
    )
    .await;
    let counts = scenario(
        &mut w,
        &residents,
        Channel::Telegram,
        // The rules' clock jumps an hour ahead (a corrected host clock): escalations due in
        // that hour are taken once each, not once per missed repeat.
        async |w: &mut TestApp| w.clock.advance(Duration::hours(1)),
        async |_: &mut TestApp| {},
        telegram_received,
    )
    .await;
    counts.report("clock jump +1 h");
}

mimamori_testkit::main!();
