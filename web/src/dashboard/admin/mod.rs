//! The admin pages (`/admin/…`): devices, responders, partners and teams — list, add, and what
//! the command line's `mimamori admin` does to them — and the audit log, read and filtered.
//!
//! Only a responder whose role is admin sees them: anyone else signed in gets 403 on every page
//! and every post (and no link in the menu). Every change goes through `mimamori_core::admin`, the
//! one place the command line uses too — the same checks, the same revocation (a disabled device
//! is dropped from the broker at once), the same audit entry, with the signed-in admin as its
//! actor. Every post carries the session's form token. A secret issued (a device's password, a
//! token) is shown once, on the page the post answers with, and never again.
//!
//! [`registry`]: the four lists and their forms; [`audit`]: the audit log.

mod audit;
mod registry;

pub(super) use audit::audit_log;
pub(super) use registry::*;

use super::{DashboardState, Session, see_other, signed_in};
use crate::page::{Row, notice};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mimamori_core::admin::{Admin, AdminError};
use mimamori_core::domain::Role;
use mimamori_core::storage::StorageError;

/// Which admin page is open, for the section menu.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Devices,
    Responders,
    Partners,
    Teams,
    Audit,
}

impl Section {
    const ALL: [Section; 5] = [
        Section::Devices,
        Section::Responders,
        Section::Partners,
        Section::Teams,
        Section::Audit,
    ];

    fn path(self) -> &'static str {
        match self {
            Section::Devices => "/admin/devices",
            Section::Responders => "/admin/responders",
            Section::Partners => "/admin/partners",
            Section::Teams => "/admin/teams",
            Section::Audit => "/admin/audit",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Section::Devices => "機器",
            Section::Responders => "担当者",
            Section::Partners => "協力事業者",
            Section::Teams => "チーム",
            Section::Audit => "監査ログ",
        }
    }
}

/// A link of the section menu.
pub(super) struct SectionLink {
    href: &'static str,
    label: &'static str,
    current: bool,
}

fn sections(here: Section) -> Vec<SectionLink> {
    Section::ALL
        .iter()
        .map(|s| SectionLink {
            href: s.path(),
            label: s.label(),
            current: *s == here,
        })
        .collect()
}

/// A secret just issued, shown this once.
pub(super) struct Issued {
    pub(super) heading: String,
    pub(super) lines: Vec<Row>,
}

/// The page for anyone signed in but not an admin.
fn not_admin() -> Response {
    notice(
        StatusCode::FORBIDDEN,
        "この画面は使えません",
        "管理の画面は管理者だけが使えます。必要なときは市の管理者に連絡してください。",
    )
}

/// The signed-in admin, or the page to answer with: sign-in for nobody, 403 for anyone else.
pub(super) async fn admin_session(
    state: &DashboardState,
    headers: &HeaderMap,
    next: &str,
) -> Result<Session, Response> {
    let session = signed_in(state, headers, next).await?;
    if session.responder.role != Role::Admin {
        tracing::warn!(responder_id = %session.responder.id, path = next, "Admin page refused: not an admin.");
        return Err(not_admin());
    }
    Ok(session)
}

/// The signed-in admin for a post that changes something: an admin, with the session's form
/// token, or nothing happens.
pub(super) async fn admin_acting(
    state: &DashboardState,
    headers: &HeaderMap,
    next: &str,
    form_token: &str,
) -> Result<Session, Response> {
    let session = admin_session(state, headers, next).await?;
    if !mimamori_core::secret::constant_time_eq(
        form_token.as_bytes(),
        session.form_token.as_bytes(),
    ) {
        return Err(super::forged());
    }
    Ok(session)
}

impl Session {
    /// The one place of each management action, acting as this admin.
    pub(super) fn admin<'a>(&self, state: &'a DashboardState) -> Admin<'a> {
        Admin {
            store: &state.store,
            registry: &state.registry,
            actor: self.actor(),
            now: state.clock.now(),
        }
    }
}

/// What a refused action answers: the message (422 for input to correct, 404 for something
/// missing), or the store's failure (the error page: `server_error`).
pub(super) fn refused(e: AdminError) -> Result<(StatusCode, String), StorageError> {
    match e {
        AdminError::Invalid(m) => Ok((StatusCode::UNPROCESSABLE_ENTITY, m)),
        AdminError::NotFound(m) => Ok((StatusCode::NOT_FOUND, m)),
        AdminError::Storage(e) => Err(e),
    }
}

/// `/admin`: the first admin page.
pub(super) async fn index(
    axum::extract::State(state): axum::extract::State<DashboardState>,
    headers: HeaderMap,
) -> Response {
    match admin_session(&state, &headers, "/admin").await {
        Ok(_) => see_other(Section::Devices.path()),
        Err(p) => p,
    }
}
