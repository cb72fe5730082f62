//! `mimamori admin …`: registration from the command line, for city IT administrators and
//! provisioning scripts. Every `add` takes `--json` and then prints one object with `id` (and
//! `secret`, where one is issued — shown this once, stored only as a hash).
//!
//! One module per subcommand of [`Admin`]; here only the dispatch and what they share: the
//! [`Context`] they run in, the audit entry each change writes, and how input errors and JSON
//! output look.

mod device;
mod districts;
mod import;
mod integration;
mod mosquitto_acl;
mod partner;
mod pause;
mod resident;
mod responder;
mod team;

use crate::Failure;
use crate::cli::Admin;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use mimamori_core::config::Config;
use mimamori_core::domain::{Actor, DistrictId, NewAuditEntry};
use mimamori_core::registry::Registry;
use mimamori_core::storage::Store;

pub async fn run(
    command: Admin,
    config: &Config,
    store: &Store,
    registry: &Registry,
    tz: Tz,
) -> Result<(), Failure> {
    let actor = Actor::cli();
    let cx = Context {
        config,
        store,
        registry,
        tz,
        actor: &actor,
        now: Utc::now(),
    };
    match command {
        Admin::Resident(c) => resident::run(c, cx).await,
        Admin::Team(c) => team::run(c, cx).await,
        Admin::Responder(c) => responder::run(c, cx).await,
        Admin::Device(c) => device::run(c, cx).await,
        Admin::Partner(c) => partner::run(c, cx).await,
        Admin::Integration(c) => integration::run(c, cx).await,
        Admin::Import(c) => import::run(c, cx).await,
        Admin::Pause(c) => pause::run(c, cx).await,
        Admin::Districts(output) => districts::run(output, cx).await,
        Admin::MosquittoAcl => mosquitto_acl::run(cx).await,
        Admin::NatsAuthorization { passwords } => mosquitto_acl::nats(cx, &passwords).await,
    }
}

/// What every admin subcommand runs with.
#[derive(Clone, Copy)]
struct Context<'a> {
    /// The configuration in effect (the MQTT service account, the zigbee2mqtt topic).
    config: &'a Config,
    store: &'a Store,
    /// The city's districts: names to show, and names or ids given on the command line.
    registry: &'a Registry,
    /// The city's zone: local times given and shown.
    tz: Tz,
    /// Who the audit log says acted: the command line.
    actor: &'a Actor,
    /// The one instant the command is recorded at.
    now: DateTime<Utc>,
}

impl Context<'_> {
    /// The one place each management action is done (the admin pages use it too), acting as
    /// the command line's user.
    fn admin(&self) -> mimamori_core::admin::Admin<'_> {
        mimamori_core::admin::Admin {
            store: self.store,
            registry: self.registry,
            actor: self.actor.clone(),
            now: self.now,
        }
    }

    /// Writes the audit entry of a change made from the command line.
    async fn audit(
        &self,
        action: &str,
        kind: &str,
        id: &str,
        detail: serde_json::Value,
    ) -> Result<(), Failure> {
        self.store
            .record_audit(&NewAuditEntry {
                actor: self.actor.clone(),
                action: action.into(),
                object_kind: kind.into(),
                object_id: Some(id.into()),
                detail,
                at: self.now,
            })
            .await?;
        Ok(())
    }

    /// A district given by id or name.
    fn find_district(&self, key: &str) -> Result<DistrictId, Failure> {
        self.registry
            .find_district(key)
            .map(|d| d.id.clone())
            .ok_or_else(|| {
                Failure::Input(format!(
                    "unknown district {key:?} (see `mimamori admin districts`)"
                ))
            })
    }

    /// A district's name, for people to read (its id if the registry does not know it).
    fn district_name(&self, id: &DistrictId) -> String {
        self.registry
            .district(id)
            .map(|d| d.name.clone())
            .unwrap_or_else(|| id.to_string())
    }
}

fn nonempty(field: &'static str, s: String) -> Result<String, Failure> {
    if s.trim().is_empty() {
        Err(Failure::Input(format!("{field}: must not be empty")))
    } else {
        Ok(s.trim().to_string())
    }
}

/// Bad input from the command line: a message for the person at the keyboard.
fn input(e: impl std::fmt::Display) -> Failure {
    Failure::Input(format!("mimamori: {e}"))
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    println!(
        "{}",
        serde_json::to_string(value).map_err(|e| Failure::Other(e.into()))?
    );
    Ok(())
}
