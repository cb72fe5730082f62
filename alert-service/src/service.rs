//! The engine fed from the store.
//!
//! On start the state is derived from the store (profiles, pauses, devices, the latest signals and
//! alerts), so after a crash or restart every deadline is rebuilt; a deadline that passed while the
//! service was down fires once on the first tick, and one that had already fired does not fire
//! again. New signals are followed by id from the store (the hand-off that works the same in one
//! process and across processes); an in-process gateway only wakes the loop early. The cursor is
//! saved in the store (with each alert it led to, in the alert's transaction, and otherwise about
//! once a second), so a signal stored while the service was down — an emergency press during a
//! restart — is applied when it comes back, and one that already led to an alert is not applied
//! again.

use crate::notify::Targets;
use crate::route::{Escalation, Routing};
use crate::rules::{Decision, DeviceProfile, Engine, EngineSettings, History, Profile};
use crate::schedule::Interval;
use chrono::Datelike;
use chrono::Duration;
use chrono_tz::Tz;
use mimamori_core::clock::Clock;
use mimamori_core::domain::{
    Alert, DeviceId, ResidentId, SignalId, SignalKind, SignalSource, Subject,
};
use mimamori_core::storage::{Routed, SignalCursor};
use mimamori_core::storage::{StorageError, Store};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

/// How often the store is read for new signals when nothing wakes the loop (signals written by
/// another process).
const POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Signals read per batch.
const BATCH: i64 = 1000;

/// This consumer's name in the store's cursors (and in the operators' lag figure).
pub const CONSUMER: &str = "alert-service";

/// The lease under which one of several alert services runs the rules and escalations.
pub const LEASE: &str = "alert-service";

/// Who this alert service is among several on one database, and how long its lease runs.
#[derive(Debug, Clone)]
pub struct Leadership {
    /// Names this process in the lease (`host-pid-random`), for the operators' log.
    pub holder: String,
    /// Renewed every third of it; a standby takes over once it lapsed.
    pub ttl: std::time::Duration,
}

impl Leadership {
    /// This process, with a lease of `ttl`.
    pub fn of_this_process(ttl: std::time::Duration) -> Self {
        Self {
            holder: format!(
                "{}-{}-{}",
                this_host(),
                std::process::id(),
                mimamori_core::secret::generate(6)
            ),
            ttl,
        }
    }
}

/// This machine's name as holders of leases carry it.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| *c != '-')
                .take(40)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// Whether `holder` (`host-pid-random`, as [`Leadership::of_this_process`] names it) is a process
/// of this machine that no longer runs: a `mimamori up` killed and restarted takes its own lease
/// back at once instead of waiting for it to lapse. False whenever it cannot tell.
fn is_dead_here(holder: &str) -> bool {
    let mut parts = holder.split('-');
    let (Some(host), Some(pid), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == this_host()
        && pid != std::process::id()
        && std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// How a term of leading ended.
enum TermEnd {
    Shutdown,
    LeaseLost,
}

pub struct AlertService {
    store: Store,
    engine: Engine,
    clock: Arc<dyn Clock>,
    tz: Tz,
    /// The last signal applied.
    cursor: SignalId,
    /// Decisions the store failed to take, with the signal they came from: carried out first.
    pending: Option<(Option<SignalId>, Vec<Decision>)>,
    /// The cursor as last saved in the store, and when.
    saved: (SignalId, chrono::DateTime<chrono::Utc>),
    wake: Arc<Notify>,
    reminders: broadcast::Sender<Decision>,
    routing: Routing,
    escalation: Escalation,
    targets: Targets,
    /// This process's outbox: rows of its channels are written claimed and handed to it.
    outbox: Option<crate::notify::Handoff>,
    /// Residents' birth years (routing by age), kept with the engine's profiles so that deciding
    /// an alert needs no read.
    birth_years: HashMap<ResidentId, i32>,
    /// When due escalations were last looked for.
    escalation_checked: Option<chrono::DateTime<chrono::Utc>>,
    /// What the engine was built with, to rebuild it when a lease is taken.
    settings: EngineSettings,
    /// With several alert services on one database: run only under the lease.
    leadership: Option<Leadership>,
}

impl AlertService {
    /// Sets routing, escalation chains and the integration channels (defaults: the built-in
    /// routing and chains, no channels).
    pub fn with_delivery(
        mut self,
        routing: Routing,
        escalation: Escalation,
        targets: Targets,
    ) -> Self {
        self.routing = routing;
        self.escalation = escalation;
        self.targets = targets;
        self
    }

    /// Rebuilds the engine from the store.
    pub async fn start(
        store: Store,
        tz: Tz,
        settings: EngineSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StorageError> {
        let now = clock.now();
        let cursor = match store.signal_cursor(CONSUMER).await? {
            Some(cursor) => cursor,
            None => {
                // The first start on this store: follow from here on.
                let cursor = store.max_signal_id().await?;
                store
                    .save_signal_cursor(&signal_cursor(cursor), now)
                    .await?;
                cursor
            }
        };
        let profiles = store.watch_profiles().await?;
        let birth_years = profiles
            .iter()
            .map(|p| (p.resident.clone(), p.birth_year))
            .collect();
        let profiles = profiles
            .into_iter()
            .map(|p| Profile {
                resident: p.resident,
                district: p.district,
                registered_at: p.registered_at,
                policies: p.policies,
            })
            .collect();
        let devices = store
            .list_devices(None)
            .await?
            .into_iter()
            .filter(|d| d.enabled)
            .map(device_profile)
            .collect();
        let mut history = History::default();
        for (subject, at) in store.latest_signal_times(SignalKind::Activity).await? {
            if let Ok(Subject::Resident(r)) = Subject::parse_key(&subject) {
                history.last_activity.insert(r, at);
            }
        }
        for (subject, at) in store.latest_signal_times(SignalKind::Checkin).await? {
            if let Ok(Subject::Resident(r)) = Subject::parse_key(&subject) {
                history.last_checkin.insert(r.clone(), at);
                let a = history.last_activity.entry(r).or_insert(at);
                *a = (*a).max(at);
            }
        }
        for (source, at) in store.latest_source_times().await? {
            if let Ok(SignalSource::Device(d)) = SignalSource::parse_key(&source) {
                history.device_last_seen.insert(d, at);
            }
        }
        for (source, status, at) in store.latest_device_status().await? {
            if let Ok(SignalSource::Device(d)) = SignalSource::parse_key(&source)
                && status == "offline"
                // Offline only if nothing came from the device after its last will.
                && history.device_last_seen.get(&d).is_none_or(|seen| *seen <= at)
            {
                history.device_offline.insert(d, at);
            }
        }
        for p in store.all_pauses().await? {
            history.pauses.push((
                p.resident,
                Interval {
                    start: p.starts_at,
                    end: p.ends_at,
                },
            ));
        }
        for (subject, kind, at) in store.latest_alert_times().await? {
            history.latest_alerts.insert((subject, kind), at);
        }
        let engine = Engine::new(tz, settings.clone(), profiles, devices, history, now);
        tracing::info!(
            residents = engine.residents(),
            armed = engine.queued(),
            after_signal = cursor.0,
            "Alert service state rebuilt from the store; applying signals from where it stopped."
        );
        let (reminders, _) = broadcast::channel(1024);
        Ok(Self {
            store,
            engine,
            clock,
            tz,
            cursor,
            saved: (cursor, now),
            pending: None,
            wake: Arc::new(Notify::new()),
            reminders,
            routing: Routing::default(),
            escalation: Escalation::default(),
            targets: Targets::default(),
            outbox: None,
            birth_years,
            escalation_checked: None,
            settings,
            leadership: None,
        })
    }

    /// Runs the rules only while holding the lease [`LEASE`] (see [`AlertService::run`]).
    pub fn with_leadership(mut self, leadership: Leadership) -> Self {
        self.leadership = Some(leadership);
        self
    }

    /// Derives the engine from the store again, as [`AlertService::start`] does, and writes
    /// through `store` from now on: what the previous leader applied and decided is taken as it
    /// stands, and the signals after its saved cursor are applied once.
    async fn rebuild(&mut self, store: Store) -> Result<(), StorageError> {
        let fresh =
            AlertService::start(store, self.tz, self.settings.clone(), self.clock.clone()).await?;
        self.store = fresh.store;
        self.engine = fresh.engine;
        self.cursor = fresh.cursor;
        self.saved = fresh.saved;
        self.pending = None;
        self.birth_years = fresh.birth_years;
        self.escalation_checked = None;
        Ok(())
    }

    /// Hands the notifications of this process's outbox to it as they are written (and wakes it
    /// for the rest), rather than leaving them to its poll.
    pub fn with_outbox(mut self, outbox: crate::notify::Handoff) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// Notify this when a signal is stored, to have it applied at once.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Check-in reminders as they are decided (delivery to the resident's devices or chat is the
    /// notifiers' job).
    pub fn reminders(&self) -> broadcast::Receiver<Decision> {
        self.reminders.subscribe()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Re-reads what a change signal names: a resident's profile and pauses, or a device.
    async fn reload(&mut self, signal: &mimamori_core::domain::Signal) -> Result<(), StorageError> {
        let now = self.clock.now();
        match &signal.subject {
            Some(Subject::Resident(resident)) => {
                let Some(profile) = self.store.watch_profile(resident).await? else {
                    return Ok(());
                };
                self.birth_years
                    .insert(profile.resident.clone(), profile.birth_year);
                let pauses = self
                    .store
                    .list_pauses(resident)
                    .await?
                    .into_iter()
                    .map(|p| Interval {
                        start: p.starts_at,
                        end: p.ends_at,
                    })
                    .collect();
                self.engine.update_resident(
                    Profile {
                        resident: profile.resident,
                        district: profile.district,
                        registered_at: profile.registered_at,
                        policies: profile.policies,
                    },
                    pauses,
                    now,
                );
                tracing::info!(resident_id = %resident, "Resident's watch settings reloaded.");
            }
            Some(Subject::Device(device)) => {
                if let Some(d) = self.store.get_device(device).await?.filter(|d| d.enabled) {
                    self.engine.update_device(device_profile(d), now);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// One step: apply new signals, then every deadline that has come; returns the alerts written.
    pub async fn tick(&mut self) -> Result<Vec<Alert>, StorageError> {
        let mut alerts = Vec::new();
        if let Some((signal, decisions)) = self.pending.take() {
            alerts.extend(self.carry_out(decisions, signal).await?);
            if let Some(id) = signal {
                self.cursor = id;
            }
        }
        loop {
            let batch = self.store.signals_after(self.cursor, BATCH).await?;
            if batch.is_empty() {
                break;
            }
            let now = self.clock.now();
            for signal in &batch {
                alerts.extend(self.apply_signal(signal, now).await?);
                // Only past a signal once it is carried out: after a failure (the store busy or
                // down) the next tick starts again at the signal that failed.
                self.cursor = signal.id;
            }
            if (batch.len() as i64) < BATCH {
                break;
            }
        }
        let decisions = self.engine.due(self.clock.now());
        alerts.extend(self.carry_out(decisions, None).await?);
        self.save_cursor().await?;
        // Escalation waits are minutes: the store is asked at most once a second, not per signal.
        let now = self.clock.now();
        let escalated = if self
            .escalation_checked
            .is_none_or(|t| now - t >= chrono::Duration::seconds(1))
        {
            self.escalation_checked = Some(now);
            self.escalate().await?
        } else {
            0
        };
        if (!alerts.is_empty() || escalated > 0)
            && let Some(outbox) = &self.outbox
        {
            outbox.wake();
        }
        Ok(alerts)
    }

    /// Applies one signal and carries out what it decides.
    async fn apply_signal(
        &mut self,
        signal: &mimamori_core::domain::Signal,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Alert>, StorageError> {
        if signal.kind == SignalKind::Change {
            self.reload(signal).await?;
            return Ok(Vec::new());
        }
        if let SignalSource::Device(d) = &signal.source
            && !self.engine.knows_device(d)
        {
            // Registered after start: learn it before its first signal is applied.
            if let Some(device) = self.store.get_device(d).await?.filter(|d| d.enabled) {
                self.engine.update_device(device_profile(device), now);
            }
        }
        let decisions = self.engine.apply(signal, now);
        self.carry_out(decisions, Some(signal.id)).await
    }

    /// Saves the cursor if it moved, at most about once a second (each alert saves its own).
    async fn save_cursor(&mut self) -> Result<(), StorageError> {
        let now = self.clock.now();
        let (saved, at) = self.saved;
        if self.cursor > saved && now - at >= chrono::Duration::seconds(1) {
            self.store
                .save_signal_cursor(&signal_cursor(self.cursor), now)
                .await?;
            self.saved = (self.cursor, now);
        }
        Ok(())
    }

    /// Carries out every escalation step that is due: the chain's team is told, with the alert's
    /// own team again, and the next reminder is scheduled — until someone acknowledges.
    pub async fn escalate(&mut self) -> Result<usize, StorageError> {
        let now = self.clock.now();
        let mut done = 0;
        for alert in self.store.due_escalations(now, 100).await? {
            let step = alert.escalation_step + 1;
            let Some(chain) = self.escalation.chain(alert.kind).cloned() else {
                // No chain (any more) for this kind: stop.
                self.store
                    .advance_escalation(
                        alert.id,
                        alert.escalation_step,
                        None,
                        &[],
                        &serde_json::json!({ "step": step, "stopped": "no chain" }),
                        now,
                    )
                    .await?;
                continue;
            };
            let to = mimamori_core::registry::Registry::default_team_id(chain.to, None);
            let mut teams = vec![to.as_str()];
            if let Some(own) = &alert.team
                && own != &to
            {
                teams.push(own.as_str());
            }
            let notify = self
                .targets
                .plan(
                    &self.store,
                    &crate::notify::Tell {
                        event: crate::notify::Event::Escalated,
                        teams: &teams,
                        step: Some(step),
                        subject: &alert.subject,
                        kind: alert.kind,
                    },
                    now,
                )
                .await?;
            let detail = serde_json::json!({
                "step": step,
                "to": to,
                "teams": teams,
                "unacknowledged_since": alert.opened_at,
                "next_in_minutes": chain.repeat_every.num_minutes(),
            });
            if self
                .store
                .advance_escalation(
                    alert.id,
                    alert.escalation_step,
                    Some(now + chain.repeat_every),
                    &notify,
                    &detail,
                    now,
                )
                .await?
            {
                tracing::warn!(alert_id = %alert.id, kind = %alert.kind, step, to = %to, "Alert escalated: not acknowledged.");
                done += 1;
            }
        }
        Ok(done)
    }

    /// Carries out what the engine decided, on `signal` (`None`: a deadline). If the store fails,
    /// what is left is kept and carried out first on the next tick: a decision the engine made once
    /// (a deadline that fired, a device that went offline) is not made again.
    async fn carry_out(
        &mut self,
        decisions: Vec<Decision>,
        signal: Option<SignalId>,
    ) -> Result<Vec<Alert>, StorageError> {
        let mut alerts = Vec::new();
        let mut decisions = decisions.into_iter();
        while let Some(d) = decisions.next() {
            match self.carry_out_one(&d, signal).await {
                Ok(alert) => alerts.extend(alert),
                Err(e) => {
                    self.pending = Some((signal, std::iter::once(d).chain(decisions).collect()));
                    return Err(e);
                }
            }
        }
        Ok(alerts)
    }

    async fn carry_out_one(
        &mut self,
        decision: &Decision,
        signal: Option<SignalId>,
    ) -> Result<Option<Alert>, StorageError> {
        match decision {
            Decision::Alert(new) => {
                let birth_year = match &new.subject {
                    Subject::Resident(r) => match self.birth_years.get(r) {
                        Some(year) => Some(*year),
                        None => self.store.watch_profile(r).await?.map(|p| p.birth_year),
                    },
                    _ => None,
                };
                let age = birth_year.map(|y| new.at.with_timezone(&self.tz).year() - y);
                let teams = self.routing.teams(
                    new.kind,
                    age,
                    new.district.as_ref(),
                    &new.at.with_timezone(&self.tz),
                );
                let escalate_at = self
                    .escalation
                    .chain(new.kind)
                    .map(|c| new.at + c.first_after);
                let names: Vec<&str> = teams.iter().map(|t| t.as_str()).collect();
                let notify = self
                    .targets
                    .plan(
                        &self.store,
                        &crate::notify::Tell {
                            event: crate::notify::Event::Raised,
                            teams: &names,
                            step: None,
                            subject: &new.subject,
                            kind: new.kind,
                        },
                        new.at,
                    )
                    .await?;
                let routed = Routed {
                    team: teams.first().cloned(),
                    escalate_at,
                    cursor: signal.map(signal_cursor),
                };
                let claim = self.outbox.as_ref().map(|o| o.claim(self.clock.now()));
                let opened = self
                    .store
                    .open_routed_alert(new, &routed, &notify, claim.as_ref())
                    .await?;
                if let Some(outbox) = &self.outbox {
                    outbox.hand(&opened);
                }
                tracing::info!(
                    alert_id = %opened.alert.id,
                    kind = %new.kind,
                    created = opened.created,
                    district = new.district.as_ref().map(|d| d.as_str()).unwrap_or("-"),
                    "Alert decided."
                );
                Ok(Some(opened.alert))
            }
            reminder @ Decision::Reminder { .. } => {
                let _ = self.reminders.send(reminder.clone());
                Ok(None)
            }
        }
    }

    /// Where the store can tell (PostgreSQL), wakes the loop when any process stores signals: a
    /// gateway in another process reaches the rules at once, not at the next poll.
    /// Its task is joined when the loop stops.
    async fn follow_other_processes(
        &self,
        shutdown: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let mut listener = match self.store.listen_for_signals().await {
            Ok(Some(listener)) => listener,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot listen for stored signals; polling every second.");
                return None;
            }
        };
        let wake = self.wake.clone();
        Some(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    r = listener.recv() => match r {
                        Ok(()) => wake.notify_one(),
                        Err(e) => {
                            // It reconnects on the next call; the poll covers the gap.
                            tracing::warn!(error = %e, "Listening for stored signals failed; retrying.");
                            tokio::select! {
                                () = shutdown.cancelled() => break,
                                () = tokio::time::sleep(POLL) => {}
                            }
                        }
                    },
                }
            }
        }))
    }

    /// Runs until `shutdown`: applies signals as they come and wakes for each deadline.
    ///
    /// With a [`Leadership`], only while this process holds the lease [`LEASE`]: it stands by
    /// (trying every third of the lease) until the lease is free or lapsed, takes it, rebuilds the
    /// engine from the store and the saved cursor, and leads, renewing the lease every third of
    /// it. Its writes go through a store fenced by the lease's token, so once another process has
    /// taken the lease over they fail and change nothing; it then stands by again. At shutdown it
    /// gives the lease up, so that a standby takes over at once.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let Some(leadership) = self.leadership.clone() else {
            self.lead(&shutdown, None).await;
            tracing::info!("Alert service stopped.");
            return;
        };
        let store = self.store.clone();
        let every = leadership.ttl / 3;
        loop {
            let fence = loop {
                if let Some(fence) = self.try_lead(&store, &leadership).await {
                    break fence;
                }
                tokio::select! {
                    () = shutdown.cancelled() => {
                        tracing::info!("Alert service stopped (standing by).");
                        return;
                    }
                    () = tokio::time::sleep(every) => {}
                }
            };
            tracing::info!(
                holder = %leadership.holder,
                token = fence.token,
                "Alert service leading: the rules' lease is ours; rebuilding from the store."
            );
            if let Err(e) = self.rebuild(store.fenced(fence.clone())).await {
                tracing::error!(error = %e, "Alert service could not rebuild its state; retrying.");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                continue;
            }
            match self
                .lead(&shutdown, Some((&store, &fence, &leadership)))
                .await
            {
                TermEnd::Shutdown => {
                    if let Err(e) = store.release_lease(&fence).await {
                        tracing::warn!(error = %e, "Could not give up the rules' lease; a standby takes over when it lapses.");
                    }
                    tracing::info!("Alert service stopped; lease given up.");
                    return;
                }
                TermEnd::LeaseLost => tracing::warn!(
                    holder = %leadership.holder,
                    "Alert service lost the rules' lease to another process; standing by."
                ),
            }
        }
    }

    /// Takes the rules' lease if it is free or lapsed, or held by a process of this machine that
    /// no longer runs.
    async fn try_lead(
        &self,
        store: &Store,
        leadership: &Leadership,
    ) -> Option<mimamori_core::storage::Fence> {
        let (now, ttl) = (self.clock.now(), ttl(leadership));
        let held = match store.try_lease(LEASE, &leadership.holder, now, ttl).await {
            Ok(Some(fence)) => return Some(fence),
            Ok(None) => store.lease_holder(LEASE, now).await,
            Err(e) => Err(e),
        };
        match held {
            Ok(Some(held)) if is_dead_here(&held.holder) => {
                tracing::info!(
                    dead = %held.holder,
                    "The rules' lease is held by a process of this machine that no longer runs; taking it over."
                );
                store
                    .take_lease_from(LEASE, &leadership.holder, &held.holder, now, ttl)
                    .await
                    .ok()
                    .flatten()
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read the rules' lease; retrying.");
                None
            }
        }
    }

    /// Applies signals and fires deadlines until `shutdown` or, under a lease, until it is lost:
    /// not renewed within its time, or taken over (a fenced write refused).
    async fn lead(
        &mut self,
        shutdown: &CancellationToken,
        lease: Option<(&Store, &mimamori_core::storage::Fence, &Leadership)>,
    ) -> TermEnd {
        let wake = self.wake.clone();
        let term = shutdown.child_token();
        let follower = self.follow_other_processes(term.clone()).await;
        let mut renewed = tokio::time::Instant::now();
        let end = loop {
            match self.tick().await {
                Err(StorageError::Fenced(_)) => break TermEnd::LeaseLost,
                Err(e) => tracing::error!(error = %e, "Alert service step failed; retrying."),
                Ok(_) => {}
            }
            let mut until = self
                .engine
                .next_deadline()
                .map(|d| (d - self.clock.now()).to_std().unwrap_or_default())
                .unwrap_or(POLL)
                .min(POLL);
            if let Some((store, fence, leadership)) = lease {
                let every = leadership.ttl / 3;
                if renewed.elapsed() >= every {
                    match store
                        .try_lease(LEASE, &leadership.holder, self.clock.now(), ttl(leadership))
                        .await
                    {
                        Ok(Some(f)) if f.token == fence.token => {
                            renewed = tokio::time::Instant::now()
                        }
                        Ok(_) => break TermEnd::LeaseLost,
                        Err(e) => {
                            tracing::warn!(error = %e, "Cannot renew the rules' lease; retrying.");
                            if renewed.elapsed() >= leadership.ttl {
                                break TermEnd::LeaseLost;
                            }
                        }
                    }
                }
                until = until.min(every.saturating_sub(renewed.elapsed()));
            }
            tokio::select! {
                () = shutdown.cancelled() => break TermEnd::Shutdown,
                () = wake.notified() => {}
                () = tokio::time::sleep(until) => {}
            }
        };
        term.cancel();
        if let Some(follower) = follower {
            let _ = follower.await;
        }
        end
    }
}

fn device_profile(d: mimamori_core::domain::Device) -> DeviceProfile {
    DeviceProfile {
        id: d.id,
        resident: d.resident,
        kind: d.kind,
        heartbeat_interval: Duration::seconds(d.heartbeat_interval_s),
        registered_at: d.created_at,
    }
}

/// The devices of a reminder, for callers that deliver it.
pub fn reminder_devices(d: &Decision) -> &[DeviceId] {
    match d {
        Decision::Reminder { devices, .. } => devices,
        Decision::Alert(_) => &[],
    }
}

fn signal_cursor(signal: SignalId) -> SignalCursor {
    SignalCursor {
        consumer: CONSUMER.into(),
        signal,
    }
}

fn ttl(leadership: &Leadership) -> chrono::Duration {
    chrono::Duration::from_std(leadership.ttl).unwrap_or(chrono::Duration::seconds(15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_dead_only_when_it_is_a_gone_process_of_this_machine() {
        let me = Leadership::of_this_process(std::time::Duration::from_secs(15));
        assert!(!is_dead_here(&me.holder), "this process runs");
        let host = this_host();
        // PIDs are below 2^22 on Linux.
        assert!(is_dead_here(&format!("{host}-4294967295-abcdef")));
        assert!(
            !is_dead_here("elsewhere-4294967295-abcdef"),
            "another machine"
        );
        assert!(
            !is_dead_here("alerts-a"),
            "not a name this tells anything of"
        );
        assert!(!is_dead_here(&format!("{host}-notapid-abcdef")));
    }
}
