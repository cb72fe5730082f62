//! A resident's contacts (family, 民生委員, 協力員), added and removed on the resident's page; only
//! those with the resident's consent are ever told about alerts.

use super::super::{DashboardState, Session, see_other, server_error};
use super::{acting, audit, refused};
use crate::page::notice;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mimamori_core::domain::Resident;
use mimamori_core::html::form_text;
use serde::Deserialize;

/// At most this many contacts per resident.
const MAX_CONTACTS: usize = 10;

/// A contact on the resident's page (`residents/contacts.html`), with a button to remove it.
pub(super) struct ContactLine<'a> {
    /// Also sent back with the button: the contact must still be the one at that place.
    pub(super) name: &'a str,
    pub(super) relation: &'a str,
    /// Whether and how they are told about alerts.
    pub(super) consent: &'static str,
}

/// The resident's contacts, in order (their place is their address for removal).
pub(super) fn lines(r: &Resident) -> Vec<ContactLine<'_>> {
    r.contacts
        .iter()
        .map(|c| ContactLine {
            name: &c.name,
            relation: &c.relation,
            consent: if c.consent && c.email.is_some() {
                "アラートをメールで通知"
            } else if c.consent {
                "通知に同意（メールなし）"
            } else {
                "通知しない"
            },
        })
        .collect()
}

#[derive(Deserialize)]
pub(in crate::dashboard) struct ContactForm {
    form_token: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    relation: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    consent: String,
}

fn contact_of(f: &ContactForm) -> Result<mimamori_core::domain::Contact, String> {
    let text = |s: &str, max: usize| form_text(s, max, false).ok();
    let name = text(&f.name, 100)
        .flatten()
        .ok_or("連絡先の氏名を入力してください（100文字まで）。")?;
    let relation = text(&f.relation, 50)
        .flatten()
        .ok_or("続柄・立場を入力してください（50文字まで）。")?;
    let phone = text(&f.phone, 50).ok_or("電話は50文字までです。")?;
    let email = match f.email.trim() {
        "" => None,
        e => Some(
            mimamori_core::domain::Email::parse(e)
                .map_err(|_| "メールアドレスを確かめてください。".to_string())?
                .as_str()
                .to_string(),
        ),
    };
    Ok(mimamori_core::domain::Contact {
        name,
        relation,
        phone,
        email,
        consent: !f.consent.is_empty(),
    })
}

/// `POST /residents/{id}/contacts`: adds a contact (audited as `resident.contacts`).
pub(in crate::dashboard) async fn add_contact(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ContactForm>,
) -> Response {
    let (session, r) = match acting(&state, &headers, &id, &f.form_token).await {
        Ok(found) => found,
        Err(p) => return p,
    };
    let contact = match contact_of(&f) {
        Ok(c) => c,
        Err(message) => return refused(&message),
    };
    if r.contacts.len() >= MAX_CONTACTS {
        return refused("連絡先は10件までです。");
    }
    let mut contacts = r.contacts.clone();
    contacts.push(contact);
    save_contacts(&state, &session, &r, &contacts).await
}

#[derive(Deserialize)]
pub(in crate::dashboard) struct RemoveContactForm {
    form_token: String,
    /// The name shown beside the button: the contact must still be the one at that place.
    name: String,
}

/// `POST /residents/{id}/contacts/{index}/remove`.
pub(in crate::dashboard) async fn remove_contact(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path((id, index)): Path<(String, usize)>,
    Form(f): Form<RemoveContactForm>,
) -> Response {
    let (session, r) = match acting(&state, &headers, &id, &f.form_token).await {
        Ok(found) => found,
        Err(p) => return p,
    };
    if r.contacts.get(index).is_none_or(|c| c.name != f.name) {
        return notice(
            StatusCode::CONFLICT,
            "削除できません",
            "連絡先が変わっています。対象者のページを開き直してください。",
        );
    }
    let mut contacts = r.contacts.clone();
    contacts.remove(index);
    save_contacts(&state, &session, &r, &contacts).await
}

async fn save_contacts(
    state: &DashboardState,
    session: &Session,
    r: &Resident,
    contacts: &[mimamori_core::domain::Contact],
) -> Response {
    let now = state.clock.now();
    let done = async {
        state.store.set_contacts(&r.id, contacts, now).await?;
        // No change log: the rules do not read contacts; the outbox reads them when it tells.
        audit(
            state,
            session,
            "resident.contacts",
            &r.id,
            serde_json::json!({ "contacts": contacts.len() }),
        )
        .await
    };
    match done.await {
        Ok(()) => see_other(&format!("/residents/{}", r.id)),
        Err(e) => server_error(e),
    }
}
