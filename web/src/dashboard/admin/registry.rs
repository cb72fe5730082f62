//! The four lists an admin keeps — devices, responders, partners, teams — each a page with its
//! list and a form to add one, and the buttons of what can be done to each (disable / enable a
//! device; a responder's sign-in token, deactivation; a partner's new token, revoking them all).
//! Each post answers with its page: a secret issued is shown on it once; refused input comes back
//! with what to fix (422) or what is missing (404), and nothing changed.

use super::{Issued, Section, SectionLink, admin_acting, admin_session, refused, sections};

/// The value of `result`, or — from the handler — the response it holds instead.
macro_rules! or_return {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

/// A refused action as its page shows it (what to mend), or the error page of a failed store.
/// (The error is the handler's answer, returned at once: not worth a box.)
#[allow(clippy::result_large_err)]
fn refusal(e: mimamori_core::admin::AdminError) -> Result<Outcome, Response> {
    refused(e)
        .map(|(status, m)| Outcome::Refused(status, m))
        .map_err(server_error)
}
use crate::dashboard::{DashboardState, Me, Session, see_other, server_error};
use crate::page::{Choice, Row, page};
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use mimamori_core::admin::{DeviceDraft, PartnerDraft, ResponderDraft, TeamDraft};
use mimamori_core::domain::{DeviceKind, PartnerKind, Role, TeamKind};
use serde::Deserialize;

/// What every admin page has around its list.
pub(super) struct Frame {
    section: Vec<SectionLink>,
    form_token: String,
    /// What was refused, to fix.
    error: Option<String>,
    /// A secret just issued: shown this once.
    issued: Option<Issued>,
}

impl Frame {
    fn new(session: &Session, here: Section) -> Self {
        Frame {
            section: sections(here),
            form_token: session.form_token.clone(),
            error: None,
            issued: None,
        }
    }
}

/// How a refused or accepted post is answered: the page again, with the message or the secret.
enum Outcome {
    Fine,
    Refused(StatusCode, String),
    Issued(Issued),
}

impl Outcome {
    fn apply(self, frame: &mut Frame) -> StatusCode {
        match self {
            Outcome::Fine => StatusCode::OK,
            Outcome::Refused(status, m) => {
                frame.error = Some(m);
                status
            }
            Outcome::Issued(i) => {
                frame.issued = Some(i);
                StatusCode::OK
            }
        }
    }
}

fn choices<T: Copy>(
    all: &[T],
    code: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
    chosen: &str,
) -> Vec<Choice> {
    all.iter()
        .map(|v| Choice {
            selected: code(*v) == chosen,
            ..Choice::new(code(*v), label(*v))
        })
        .collect()
}

// ---- devices ----

/// `/admin/devices`: every device, the form to register one, disable / enable.
#[derive(Template)]
#[template(path = "admin/devices.html")]
struct DevicesPage {
    title: &'static str,
    me: Me,
    frame: Frame,
    kinds: Vec<Choice>,
    f: DeviceForm,
    devices: Vec<DeviceLine>,
}

struct DeviceLine {
    id: String,
    kind: &'static str,
    resident: String,
    label: String,
    enabled: bool,
}

#[derive(Deserialize, Default)]
pub(in crate::dashboard) struct DeviceForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    resident: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    heartbeat: String,
    #[serde(default)]
    zigbee_name: String,
}

async fn devices_page(
    state: &DashboardState,
    session: &Session,
    outcome: Outcome,
    f: DeviceForm,
) -> Response {
    let devices = match state.store.list_devices(None).await {
        Ok(d) => d,
        Err(e) => return server_error(e),
    };
    let mut frame = Frame::new(session, Section::Devices);
    let status = outcome.apply(&mut frame);
    let f = DeviceForm {
        heartbeat: if f.heartbeat.is_empty() {
            "300".into()
        } else {
            f.heartbeat
        },
        ..f
    };
    page(
        status,
        &DevicesPage {
            title: "機器の管理",
            me: session.me("admin"),
            kinds: choices(
                DeviceKind::ALL,
                DeviceKind::as_str,
                DeviceKind::label_ja,
                &f.kind,
            ),
            frame,
            f,
            devices: devices
                .into_iter()
                .map(|d| DeviceLine {
                    id: d.id.to_string(),
                    kind: d.kind.label_ja(),
                    resident: d.resident.map(|r| r.to_string()).unwrap_or_default(),
                    label: d.label.unwrap_or_default(),
                    enabled: d.enabled,
                })
                .collect(),
        },
    )
}

/// `GET /admin/devices`.
pub(in crate::dashboard) async fn devices(
    State(state): State<DashboardState>,
    headers: HeaderMap,
) -> Response {
    match admin_session(&state, &headers, "/admin/devices").await {
        Ok(s) => devices_page(&state, &s, Outcome::Fine, DeviceForm::default()).await,
        Err(p) => p,
    }
}

/// `POST /admin/devices`: registers a device; its password is on the page this once.
pub(in crate::dashboard) async fn add_device(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Form(f): Form<DeviceForm>,
) -> Response {
    let session = or_return!(admin_acting(&state, &headers, "/admin/devices", &f.form_token).await);
    let Ok(heartbeat_interval_s) = f.heartbeat.trim().parse::<i64>() else {
        let m = "死活確認の間隔を秒で入力してください（例：300） / heartbeat: a number of seconds"
            .to_string();
        return devices_page(
            &state,
            &session,
            Outcome::Refused(StatusCode::UNPROCESSABLE_ENTITY, m),
            f,
        )
        .await;
    };
    let draft = DeviceDraft {
        id: Some(f.id.clone()),
        resident: Some(f.resident.clone()),
        kind: f.kind.clone(),
        label: Some(f.label.clone()),
        heartbeat_interval_s,
        zigbee_name: Some(f.zigbee_name.clone()),
    };
    match session.admin(&state).add_device(draft).await {
        Ok((d, password)) => {
            let issued = Issued {
                heading: format!("機器 {} を登録しました", d.id),
                lines: vec![
                    Row::new("MQTT ユーザー名", d.id.to_string()),
                    Row::new("MQTT パスワード", password),
                ],
            };
            devices_page(
                &state,
                &session,
                Outcome::Issued(issued),
                DeviceForm::default(),
            )
            .await
        }
        Err(e) => match refusal(e) {
            Ok(refused) => devices_page(&state, &session, refused, f).await,
            Err(page) => page,
        },
    }
}

/// A form of one button: only its form token.
#[derive(Deserialize)]
pub(in crate::dashboard) struct ButtonForm {
    #[serde(default)]
    form_token: String,
    /// A token's checkbox: revoke the others too.
    #[serde(default)]
    revoke_others: Option<String>,
}

/// `POST /admin/devices/{id}/disable` and `…/enable`.
async fn device_enabled(
    state: DashboardState,
    headers: HeaderMap,
    id: String,
    f: ButtonForm,
    enabled: bool,
) -> Response {
    let session = or_return!(admin_acting(&state, &headers, "/admin/devices", &f.form_token).await);
    match session.admin(&state).set_device_enabled(&id, enabled).await {
        Ok(_) => see_other("/admin/devices"),
        Err(e) => match refusal(e) {
            Ok(refused) => devices_page(&state, &session, refused, DeviceForm::default()).await,
            Err(page) => page,
        },
    }
}

pub(in crate::dashboard) async fn disable_device(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ButtonForm>,
) -> Response {
    device_enabled(state, headers, id, f, false).await
}

pub(in crate::dashboard) async fn enable_device(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ButtonForm>,
) -> Response {
    device_enabled(state, headers, id, f, true).await
}

/// `POST /admin/devices/{id}/secret`: a new MQTT password, shown this once; the old one stops
/// working and a device connected with it is dropped (as `mimamori admin device rotate-secret`).
pub(in crate::dashboard) async fn rotate_device_secret(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ButtonForm>,
) -> Response {
    let session = or_return!(admin_acting(&state, &headers, "/admin/devices", &f.form_token).await);
    let outcome = match session.admin(&state).rotate_device_secret(&id).await {
        Ok((id, password)) => Outcome::Issued(Issued {
            heading: format!(
                "機器 {id} のパスワードを再発行しました（古いパスワードは使えなくなり、接続中なら切断されます）"
            ),
            lines: vec![
                Row::new("MQTT ユーザー名", id.to_string()),
                Row::new("新しい MQTT パスワード", password),
            ],
        }),
        Err(e) => or_return!(refusal(e)),
    };
    devices_page(&state, &session, outcome, DeviceForm::default()).await
}

// ---- responders ----

/// `/admin/responders`: everyone, the form to add one, tokens and deactivation.
#[derive(Template)]
#[template(path = "admin/responders.html")]
struct RespondersPage {
    title: &'static str,
    me: Me,
    frame: Frame,
    teams: Vec<Choice>,
    roles: Vec<Choice>,
    f: ResponderForm,
    responders: Vec<ResponderLine>,
}

struct ResponderLine {
    id: String,
    name: String,
    team: String,
    role: &'static str,
    /// The role form's choices, this responder's selected.
    roles: Vec<Choice>,
    /// The signed-in admin: no form to change their own role.
    me: bool,
    active: bool,
}

#[derive(Deserialize, Default)]
pub(in crate::dashboard) struct ResponderForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

async fn responders_page(
    state: &DashboardState,
    session: &Session,
    outcome: Outcome,
    f: ResponderForm,
) -> Response {
    let (responders, teams) = match (
        state.store.list_responders(None).await,
        state.store.list_teams(None).await,
    ) {
        (Ok(r), Ok(t)) => (r, t),
        (Err(e), _) | (_, Err(e)) => return server_error(e),
    };
    let team_name = |id: &mimamori_core::domain::TeamId| {
        teams
            .iter()
            .find(|t| &t.id == id)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let mut frame = Frame::new(session, Section::Responders);
    let status = outcome.apply(&mut frame);
    page(
        status,
        &RespondersPage {
            title: "担当者の管理",
            me: session.me("admin"),
            frame,
            teams: teams
                .iter()
                .map(|t| Choice {
                    selected: t.id.as_str() == f.team,
                    ..Choice::new(t.id.as_str(), t.name.as_str())
                })
                .collect(),
            roles: choices(Role::ALL, Role::as_str, Role::label_ja, &f.role),
            responders: responders
                .iter()
                .map(|r| ResponderLine {
                    id: r.id.to_string(),
                    name: r.name.clone(),
                    team: team_name(&r.team),
                    role: r.role.label_ja(),
                    roles: choices(Role::ALL, Role::as_str, Role::label_ja, r.role.as_str()),
                    me: r.id == session.responder.id,
                    active: r.active,
                })
                .collect(),
            f,
        },
    )
}

/// The role form of a responder's line.
#[derive(Deserialize)]
pub(in crate::dashboard) struct RoleForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    role: String,
}

/// `POST /admin/responders/{id}/role`: gives a responder another role (as `mimamori admin
/// responder role`), audited with the role before and after.
pub(in crate::dashboard) async fn set_responder_role(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<RoleForm>,
) -> Response {
    let session =
        or_return!(admin_acting(&state, &headers, "/admin/responders", &f.form_token).await);
    match session.admin(&state).set_responder_role(&id, &f.role).await {
        Ok(_) => see_other("/admin/responders"),
        Err(e) => {
            let refused = or_return!(refusal(e));
            responders_page(&state, &session, refused, ResponderForm::default()).await
        }
    }
}

/// `GET /admin/responders`.
pub(in crate::dashboard) async fn responders(
    State(state): State<DashboardState>,
    headers: HeaderMap,
) -> Response {
    match admin_session(&state, &headers, "/admin/responders").await {
        Ok(s) => responders_page(&state, &s, Outcome::Fine, ResponderForm::default()).await,
        Err(p) => p,
    }
}

/// `POST /admin/responders`: adds a responder (a token is issued on its own button).
pub(in crate::dashboard) async fn add_responder(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Form(f): Form<ResponderForm>,
) -> Response {
    let session =
        or_return!(admin_acting(&state, &headers, "/admin/responders", &f.form_token).await);
    let draft = ResponderDraft {
        id: Some(f.id.clone()),
        team: f.team.clone(),
        name: f.name.clone(),
        email: Some(f.email.clone()),
        telegram_chat_id: None,
        office_hours: None,
        role: Some(f.role.clone()),
    };
    match session.admin(&state).add_responder(draft).await {
        Ok(r) => {
            let issued = Issued {
                heading: format!("{}さんを登録しました", r.name),
                lines: vec![
                    Row::new("ID", r.id.to_string()),
                    Row::new("役割", r.role.label_ja()),
                    Row::new(
                        "次に",
                        "一覧の「トークンを発行」で、ログイン用のトークンを渡してください。",
                    ),
                ],
            };
            responders_page(
                &state,
                &session,
                Outcome::Issued(issued),
                ResponderForm::default(),
            )
            .await
        }
        Err(e) => match refusal(e) {
            Ok(refused) => responders_page(&state, &session, refused, f).await,
            Err(page) => page,
        },
    }
}

/// `POST /admin/responders/{id}/token`: a sign-in token, shown once.
pub(in crate::dashboard) async fn responder_token(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ButtonForm>,
) -> Response {
    let session =
        or_return!(admin_acting(&state, &headers, "/admin/responders", &f.form_token).await);
    let revoke = f.revoke_others.is_some();
    let outcome = match session
        .admin(&state)
        .issue_responder_token(&id, revoke)
        .await
    {
        Ok(t) => {
            let mut lines = vec![Row::new("トークン", t.token)];
            if revoke {
                lines.push(Row::new(
                    "無効にしたもの",
                    format!(
                        "トークン {} 件・ログイン {} 件",
                        t.revoked, t.sessions_ended
                    ),
                ));
            }
            Outcome::Issued(Issued {
                heading: format!("{id} のトークンを発行しました"),
                lines,
            })
        }
        Err(e) => or_return!(refusal(e)),
    };
    responders_page(&state, &session, outcome, ResponderForm::default()).await
}

/// `POST /admin/responders/{id}/deactivate`: tokens and sessions end at once.
pub(in crate::dashboard) async fn deactivate_responder(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ButtonForm>,
) -> Response {
    let session =
        or_return!(admin_acting(&state, &headers, "/admin/responders", &f.form_token).await);
    match session.admin(&state).deactivate_responder(&id).await {
        Ok(_) => see_other("/admin/responders"),
        Err(e) => match refusal(e) {
            Ok(refused) => {
                responders_page(&state, &session, refused, ResponderForm::default()).await
            }
            Err(page) => page,
        },
    }
}

// ---- partners ----

/// `/admin/partners`: every partner, the form to register one, their tokens.
#[derive(Template)]
#[template(path = "admin/partners.html")]
struct PartnersPage {
    title: &'static str,
    me: Me,
    frame: Frame,
    kinds: Vec<Choice>,
    f: PartnerForm,
    partners: Vec<PartnerLine>,
}

struct PartnerLine {
    id: String,
    name: String,
    kind: &'static str,
    agreement: String,
}

#[derive(Deserialize, Default)]
pub(in crate::dashboard) struct PartnerForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    agreement: String,
}

async fn partners_page(
    state: &DashboardState,
    session: &Session,
    outcome: Outcome,
    f: PartnerForm,
) -> Response {
    let partners = match state.store.list_partners().await {
        Ok(p) => p,
        Err(e) => return server_error(e),
    };
    let mut frame = Frame::new(session, Section::Partners);
    let status = outcome.apply(&mut frame);
    page(
        status,
        &PartnersPage {
            title: "協力事業者の管理",
            me: session.me("admin"),
            frame,
            kinds: choices(
                PartnerKind::ALL,
                PartnerKind::as_str,
                PartnerKind::label_ja,
                &f.kind,
            ),
            f,
            partners: partners
                .into_iter()
                .map(|p| PartnerLine {
                    id: p.id.to_string(),
                    name: p.name,
                    kind: p.kind.label_ja(),
                    agreement: p.agreement.unwrap_or_default(),
                })
                .collect(),
        },
    )
}

/// `GET /admin/partners`.
pub(in crate::dashboard) async fn partners(
    State(state): State<DashboardState>,
    headers: HeaderMap,
) -> Response {
    match admin_session(&state, &headers, "/admin/partners").await {
        Ok(s) => partners_page(&state, &s, Outcome::Fine, PartnerForm::default()).await,
        Err(p) => p,
    }
}

fn partner_issued(heading: String, token: String) -> Issued {
    Issued {
        heading,
        lines: vec![
            Row::new("API トークン（報告フォームのコード）", token),
            Row::new("渡し方", "事業者に安全な方法で渡してください。"),
        ],
    }
}

/// `POST /admin/partners`: registers a partner; its first token is on the page this once.
pub(in crate::dashboard) async fn add_partner(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Form(f): Form<PartnerForm>,
) -> Response {
    let session =
        or_return!(admin_acting(&state, &headers, "/admin/partners", &f.form_token).await);
    let draft = PartnerDraft {
        id: Some(f.id.clone()),
        name: f.name.clone(),
        kind: f.kind.clone(),
        agreement: Some(f.agreement.clone()),
    };
    match session.admin(&state).add_partner(draft).await {
        Ok((p, token)) => {
            let issued = partner_issued(format!("{}（{}）を登録しました", p.name, p.id), token);
            partners_page(
                &state,
                &session,
                Outcome::Issued(issued),
                PartnerForm::default(),
            )
            .await
        }
        Err(e) => match refusal(e) {
            Ok(refused) => partners_page(&state, &session, refused, f).await,
            Err(page) => page,
        },
    }
}

/// `POST /admin/partners/{id}/token`: a new token (shown once), every earlier one revoked.
pub(in crate::dashboard) async fn partner_token(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ButtonForm>,
) -> Response {
    let session =
        or_return!(admin_acting(&state, &headers, "/admin/partners", &f.form_token).await);
    let outcome = match session.admin(&state).issue_partner_token(&id, true).await {
        Ok(t) => Outcome::Issued(partner_issued(
            format!(
                "{id} の新しいトークンを発行しました（以前のトークン {} 件は無効）",
                t.revoked
            ),
            t.token,
        )),
        Err(e) => or_return!(refusal(e)),
    };
    partners_page(&state, &session, outcome, PartnerForm::default()).await
}

/// `POST /admin/partners/{id}/revoke`: every token of the partner stops working at once.
pub(in crate::dashboard) async fn revoke_partner(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ButtonForm>,
) -> Response {
    let session =
        or_return!(admin_acting(&state, &headers, "/admin/partners", &f.form_token).await);
    match session.admin(&state).revoke_partner_tokens(&id).await {
        Ok(_) => see_other("/admin/partners"),
        Err(e) => match refusal(e) {
            Ok(refused) => partners_page(&state, &session, refused, PartnerForm::default()).await,
            Err(page) => page,
        },
    }
}

// ---- teams ----

/// `/admin/teams`: every team and the form to create one.
#[derive(Template)]
#[template(path = "admin/teams.html")]
struct TeamsPage {
    title: &'static str,
    me: Me,
    frame: Frame,
    kinds: Vec<Choice>,
    districts: Vec<Choice>,
    f: TeamForm,
    teams: Vec<TeamLine>,
}

struct TeamLine {
    id: String,
    name: String,
    kind: &'static str,
    district: String,
}

#[derive(Deserialize, Default)]
pub(in crate::dashboard) struct TeamForm {
    #[serde(default)]
    form_token: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    district: String,
}

async fn teams_page(
    state: &DashboardState,
    session: &Session,
    outcome: Outcome,
    f: TeamForm,
) -> Response {
    let teams = match state.store.list_teams(None).await {
        Ok(t) => t,
        Err(e) => return server_error(e),
    };
    let district_name = |d: &mimamori_core::domain::DistrictId| {
        state
            .ctx
            .districts
            .get(d)
            .cloned()
            .unwrap_or_else(|| d.to_string())
    };
    let mut frame = Frame::new(session, Section::Teams);
    let status = outcome.apply(&mut frame);
    page(
        status,
        &TeamsPage {
            title: "チームの管理",
            me: session.me("admin"),
            frame,
            kinds: choices(TeamKind::ALL, TeamKind::as_str, TeamKind::label_ja, &f.kind),
            districts: state
                .registry
                .districts
                .iter()
                .map(|d| Choice {
                    selected: d.id.as_str() == f.district,
                    ..Choice::new(d.id.as_str(), d.name.as_str())
                })
                .collect(),
            f,
            teams: teams
                .into_iter()
                .map(|t| TeamLine {
                    district: t
                        .district
                        .as_ref()
                        .map(district_name)
                        .unwrap_or_else(|| "市全域".into()),
                    id: t.id.to_string(),
                    name: t.name,
                    kind: t.kind.label_ja(),
                })
                .collect(),
        },
    )
}

/// `GET /admin/teams`.
pub(in crate::dashboard) async fn teams(
    State(state): State<DashboardState>,
    headers: HeaderMap,
) -> Response {
    match admin_session(&state, &headers, "/admin/teams").await {
        Ok(s) => teams_page(&state, &s, Outcome::Fine, TeamForm::default()).await,
        Err(p) => p,
    }
}

/// `POST /admin/teams`: creates a team.
pub(in crate::dashboard) async fn add_team(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Form(f): Form<TeamForm>,
) -> Response {
    let session = or_return!(admin_acting(&state, &headers, "/admin/teams", &f.form_token).await);
    let draft = TeamDraft {
        id: Some(f.id.clone()),
        kind: f.kind.clone(),
        district: Some(f.district.clone()),
        name: f.name.clone(),
    };
    match session.admin(&state).add_team(draft).await {
        Ok(t) => {
            let issued = Issued {
                heading: format!("チーム「{}」を作りました", t.name),
                lines: vec![Row::new("ID", t.id.to_string())],
            };
            teams_page(
                &state,
                &session,
                Outcome::Issued(issued),
                TeamForm::default(),
            )
            .await
        }
        Err(e) => match refusal(e) {
            Ok(refused) => teams_page(&state, &session, refused, f).await,
            Err(page) => page,
        },
    }
}
