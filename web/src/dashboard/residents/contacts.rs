//! A resident's contacts (family, 民生委員, 協力員), added and removed on the resident's page; only
//! those with the resident's consent are ever told about alerts.

use super::super::{DashboardState, Session, page, see_other, server_error};
use super::{acting, audit, refused};
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mimamori_core::domain::Resident;
use mimamori_core::html::{escape, form_text};
use serde::Deserialize;

/// At most this many contacts per resident.
const MAX_CONTACTS: usize = 10;

/// The contacts, each with a button to remove it, and a form to add one.
pub(super) fn contacts_form(r: &Resident, form_token: &str) -> String {
    let id = escape(r.id.as_str());
    let rows: String = r
        .contacts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "<tr><td>{name}（{relation}）</td><td>{consent}</td><td>\
                 <form method=\"post\" action=\"/residents/{id}/contacts/{i}/remove\" style=\"margin:0\">\
                 <input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
                 <input type=\"hidden\" name=\"name\" value=\"{name}\">\
                 <button type=\"submit\">削除</button></form></td></tr>",
                name = escape(&c.name),
                relation = escape(&c.relation),
                consent = if c.consent && c.email.is_some() {
                    "アラートをメールで通知"
                } else if c.consent {
                    "通知に同意（メールなし）"
                } else {
                    "通知しない"
                },
            )
        })
        .collect();
    format!(
        "<details><summary>連絡先を編集する（家族・民生委員・協力員）</summary>\
         {list}\
         <form method=\"post\" action=\"/residents/{id}/contacts\"><input type=\"hidden\" name=\"form_token\" value=\"{form_token}\">\
         <p><label>氏名<br><input type=\"text\" name=\"name\" required maxlength=\"100\"></label></p>\
         <p><label>続柄・立場<br><input type=\"text\" name=\"relation\" required maxlength=\"50\" placeholder=\"例：長女、民生委員\"></label></p>\
         <p><label>電話<br><input type=\"tel\" name=\"phone\" maxlength=\"50\"></label></p>\
         <p><label>メール<br><input type=\"email\" name=\"email\" maxlength=\"254\"></label></p>\
         <p><label><input type=\"checkbox\" name=\"consent\" value=\"1\"> ご本人が、この方にアラートを知らせることに同意している</label></p>\
         <p><button type=\"submit\">連絡先を追加</button></p></form></details>",
        list = if rows.is_empty() {
            String::new()
        } else {
            format!("<table>{rows}</table>")
        },
    )
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
        return page(
            StatusCode::CONFLICT,
            "削除できません",
            "<p>連絡先が変わっています。対象者のページを開き直してください。</p>",
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
