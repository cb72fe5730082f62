//! Managing the platform: the one place each administrator's action is done — by the command line
//! (`mimamori admin …`) and by the admin pages of the dashboard (`/admin/…`) alike — so that both
//! check input the same way, revoke the same way (a disabled device or a revoked partner token is
//! dropped from the broker at once: the store writes the revocation in the same transaction) and
//! write the same audit entry, with whoever acted as its actor.
//!
//! Messages for people (refused input, something missing) are Japanese first, then English:
//! the CLI prints them, the pages show them.

use crate::domain::*;
use crate::html::{TextProblem, form_text};
use crate::registry::Registry;
use crate::secret;
use crate::storage::{StorageError, Store};
use chrono::{DateTime, Utc};
use serde_json::json;

/// The longest name (of a responder, partner or team) and device label.
pub const NAME_MAX: usize = 100;

/// The longest text of a partner's agreement.
pub const AGREEMENT_MAX: usize = 200;

/// Client ids starting with this belong to the platform's own services (the broker's
/// `SERVICE_CLIENT_PREFIX`): no device may take one.
pub const RESERVED_PREFIX: &str = "mimamori-";

/// An administrator's action was not done.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Input the person must correct (Japanese, then English).
    #[error("{0}")]
    Invalid(String),
    /// What the action names does not exist.
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Storage(StorageError),
}

impl From<StorageError> for AdminError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { what, id } => {
                AdminError::NotFound(format!("見つかりません / {what} {id} not found"))
            }
            StorageError::Conflict(m) => AdminError::Invalid(format!(
                "登録できません（重複しているか、存在しないものを指しています） / {m}"
            )),
            e => AdminError::Storage(e),
        }
    }
}

fn invalid(ja: &str, e: impl std::fmt::Display) -> AdminError {
    AdminError::Invalid(format!("{ja} / {e}"))
}

/// A text field: trimmed, `None` when empty (refused when `required`), at most `max`
/// characters, no control characters, no `<` or `>` (no name needs them; markup pasted into a
/// name is refused, not stored).
fn text(
    field: &'static str,
    ja: &str,
    value: Option<&str>,
    max: usize,
    required: bool,
) -> Result<Option<String>, AdminError> {
    match form_text(value.unwrap_or(""), max, false) {
        Ok(None) if required => Err(AdminError::Invalid(format!(
            "{ja}を入力してください / {field}: must not be empty"
        ))),
        Ok(Some(t)) if t.contains(['<', '>']) => Err(AdminError::Invalid(format!(
            "{ja}に < や > は使えません / {field}: '<' and '>' are not allowed"
        ))),
        Ok(t) => Ok(t),
        Err(TextProblem::TooLong) => Err(AdminError::Invalid(format!(
            "{ja}は{max}文字までです / {field}: at most {max} characters"
        ))),
        Err(TextProblem::ControlCharacter) => Err(AdminError::Invalid(format!(
            "{ja}に使えない文字があります / {field}: control characters are not allowed"
        ))),
    }
}

/// An id given by a person: `None` when empty.
fn given(id: Option<&str>) -> Option<&str> {
    id.map(str::trim).filter(|s| !s.is_empty())
}

/// Who acts, on what, when: every action below is audited with `actor` at `now`.
pub struct Admin<'a> {
    pub store: &'a Store,
    /// The city's districts: a team's district given by id or name.
    pub registry: &'a Registry,
    /// The command line's user (`cli:…`) or the signed-in admin (`responder:…`).
    pub actor: Actor,
    pub now: DateTime<Utc>,
}

/// A device to register, as typed.
#[derive(Debug, Clone, Default)]
pub struct DeviceDraft {
    /// Its id (a serial number); generated when empty.
    pub id: Option<String>,
    /// The resident whose home it is in.
    pub resident: Option<String>,
    pub kind: String,
    pub label: Option<String>,
    pub heartbeat_interval_s: i64,
    /// Its friendly name in zigbee2mqtt.
    pub zigbee_name: Option<String>,
}

/// A responder to add, as typed.
#[derive(Debug, Clone, Default)]
pub struct ResponderDraft {
    pub id: Option<String>,
    pub team: String,
    pub name: String,
    pub email: Option<String>,
    pub telegram_chat_id: Option<i64>,
    /// e.g. `mon-fri 08:30-17:15`.
    pub office_hours: Option<String>,
    /// Empty: coordinator on a city-wide team, responder on a district's.
    pub role: Option<String>,
}

/// A partner to register, as typed.
#[derive(Debug, Clone, Default)]
pub struct PartnerDraft {
    pub id: Option<String>,
    pub name: String,
    pub kind: String,
    pub agreement: Option<String>,
}

/// A team to create, as typed.
#[derive(Debug, Clone, Default)]
pub struct TeamDraft {
    pub id: Option<String>,
    pub kind: String,
    /// A district's id or name; none: city-wide.
    pub district: Option<String>,
    pub name: String,
}

/// A token issued to a responder or a partner (shown once), and what it replaced. Its `Debug`
/// leaves the token out.
pub struct IssuedToken {
    pub token: String,
    /// Earlier tokens revoked.
    pub revoked: u64,
    /// Dashboard sessions ended (responders).
    pub sessions_ended: u64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"[REDACTED]")
            .field("revoked", &self.revoked)
            .field("sessions_ended", &self.sessions_ended)
            .finish()
    }
}

impl Admin<'_> {
    async fn audit(
        &self,
        action: &str,
        kind: &str,
        id: &str,
        detail: serde_json::Value,
    ) -> Result<(), AdminError> {
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

    /// Registers a device and issues its MQTT password: the device and the password, which is
    /// stored only as a hash and must be shown this once.
    pub async fn add_device(&self, d: DeviceDraft) -> Result<(Device, String), AdminError> {
        let kind: DeviceKind = d
            .kind
            .parse()
            .map_err(|e| invalid("機器の種類を選んでください", e))?;
        let resident = match given(d.resident.as_deref()) {
            Some(r) => {
                let id = ResidentId::parse(r)
                    .map_err(|e| invalid("見守り対象者のIDが正しくありません", e))?;
                if self.store.resident_district(&id).await?.is_none() {
                    return Err(AdminError::Invalid(format!(
                        "その見守り対象者はいません / no resident {id}"
                    )));
                }
                Some(id)
            }
            None => None,
        };
        if d.heartbeat_interval_s <= 0 {
            return Err(AdminError::Invalid(
                "死活確認の間隔は1秒以上にしてください / the heartbeat interval must be a positive number of seconds".into(),
            ));
        }
        let id = match given(d.id.as_deref()) {
            Some(id) => DeviceId::parse(id).map_err(|e| invalid("機器IDが正しくありません", e))?,
            None => DeviceId::generate(),
        };
        if id.as_str().starts_with(RESERVED_PREFIX) {
            return Err(AdminError::Invalid(format!(
                "機器IDは {RESERVED_PREFIX:?} で始められません（システム用） / device ids may not start with {RESERVED_PREFIX:?}: it is reserved for the platform"
            )));
        }
        let label = text("label", "設置場所", d.label.as_deref(), NAME_MAX, false)?;
        let external_id = match given(d.zigbee_name.as_deref()) {
            Some(n) if n.contains(['/', '+', '#']) || n.chars().any(char::is_control) => {
                return Err(AdminError::Invalid(format!(
                    "zigbee2mqtt の名前に使えない文字があります / {n:?} is not a zigbee2mqtt friendly name"
                )));
            }
            Some(n) => Some(format!("z2m:{n}")),
            None => None,
        };
        let password = secret::generate_device_password();
        let new = NewDevice {
            id,
            resident,
            kind,
            label,
            external_id,
            heartbeat_interval_s: d.heartbeat_interval_s,
            secret_hash: secret::device_secret_hash(&password),
            mac_key: secret::device_mac_key(&password),
        };
        let device = self.store.add_device(&new, self.now).await?;
        self.store
            .record_change(&Subject::Device(device.id.clone()), "device", self.now)
            .await?;
        self.audit(
            "device.add",
            "device",
            device.id.as_str(),
            json!({ "kind": device.kind, "resident": device.resident }),
        )
        .await?;
        Ok((device, password))
    }

    /// Disables a device (its logins refused, its open connection dropped at once) or enables
    /// it again.
    pub async fn set_device_enabled(
        &self,
        id: &str,
        enabled: bool,
    ) -> Result<DeviceId, AdminError> {
        let id = DeviceId::parse(id.trim()).map_err(|e| invalid("機器IDが正しくありません", e))?;
        self.store
            .set_device_enabled(&id, enabled, self.now)
            .await?;
        let action = if enabled {
            "device.enable"
        } else {
            "device.disable"
        };
        self.audit(action, "device", id.as_str(), json!({})).await?;
        Ok(id)
    }

    /// Gives a device a new password (shown once); the old one stops working and a device
    /// connected with it is dropped.
    pub async fn rotate_device_secret(&self, id: &str) -> Result<(DeviceId, String), AdminError> {
        let id = DeviceId::parse(id.trim()).map_err(|e| invalid("機器IDが正しくありません", e))?;
        let password = secret::generate_device_password();
        self.store
            .update_device_secret(
                &id,
                &secret::device_secret_hash(&password),
                &secret::device_mac_key(&password),
                self.now,
            )
            .await?;
        self.audit("device.rotate_secret", "device", id.as_str(), json!({}))
            .await?;
        Ok((id, password))
    }

    /// Adds a responder to a team.
    pub async fn add_responder(&self, r: ResponderDraft) -> Result<Responder, AdminError> {
        let new = NewResponder {
            id: match given(r.id.as_deref()) {
                Some(id) => {
                    ResponderId::parse(id).map_err(|e| invalid("担当者IDが正しくありません", e))?
                }
                None => ResponderId::generate(),
            },
            team: TeamId::parse(r.team.trim()).map_err(|e| invalid("チームを選んでください", e))?,
            name: text("name", "氏名", Some(&r.name), NAME_MAX, true)?.unwrap_or_default(),
            email: given(r.email.as_deref())
                .map(Email::parse)
                .transpose()
                .map_err(|e| invalid("メールアドレスが正しくありません", e))?,
            telegram_chat_id: r.telegram_chat_id,
            office_hours: given(r.office_hours.as_deref())
                .map(OfficeHours::parse)
                .transpose()
                .map_err(|e| invalid("勤務時間が読み取れません（例：mon-fri 08:30-17:15）", e))?,
        };
        let role = given(r.role.as_deref())
            .map(str::parse::<Role>)
            .transpose()
            .map_err(|e| invalid("役割を選んでください", e))?;
        match self.store.get_team(&new.team).await {
            Err(StorageError::NotFound { .. }) => {
                return Err(AdminError::Invalid(format!(
                    "そのチームはありません / team {} not found",
                    new.team
                )));
            }
            other => other?,
        };
        let mut added = self.store.add_responder(&new, self.now).await?;
        if let Some(role) = role.filter(|role| *role != added.role) {
            self.store.set_responder_role(&added.id, role).await?;
            added.role = role;
        }
        self.audit(
            "responder.add",
            "responder",
            added.id.as_str(),
            json!({ "team": added.team, "role": added.role }),
        )
        .await?;
        Ok(added)
    }

    /// Gives a responder another role.
    pub async fn set_responder_role(
        &self,
        id: &str,
        role: &str,
    ) -> Result<ResponderId, AdminError> {
        let id =
            ResponderId::parse(id.trim()).map_err(|e| invalid("担当者IDが正しくありません", e))?;
        let role: Role = role
            .parse()
            .map_err(|e| invalid("役割を選んでください", e))?;
        // An admin taking away their own role could leave the city without one.
        if self.actor == Actor::responder(&id) {
            return Err(AdminError::Invalid(
                "自分の役割は変更できません。ほかの管理者に依頼してください / an admin cannot change their own role".into(),
            ));
        }
        let before = self.store.get_responder(&id).await?.role;
        self.store.set_responder_role(&id, role).await?;
        self.audit(
            "responder.role",
            "responder",
            id.as_str(),
            json!({ "from": before, "to": role }),
        )
        .await?;
        Ok(id)
    }

    /// Issues a responder's sign-in and API token (shown once); with `revoke_others` every
    /// other token of theirs is revoked and their sessions end, in one transaction.
    pub async fn issue_responder_token(
        &self,
        id: &str,
        revoke_others: bool,
    ) -> Result<IssuedToken, AdminError> {
        let id =
            ResponderId::parse(id.trim()).map_err(|e| invalid("担当者IDが正しくありません", e))?;
        if !self.store.get_responder(&id).await?.active {
            return Err(AdminError::Invalid(format!(
                "無効にした担当者にはトークンを発行できません / responder {id} is deactivated"
            )));
        }
        let token = format!("mmr_{}", secret::generate(33));
        let hash = secret::token_hash(&token);
        self.store.add_responder_token(&id, &hash, self.now).await?;
        let (revoked, sessions_ended) = if revoke_others {
            self.store
                .revoke_other_responder_tokens(&id, &hash, self.now)
                .await?
        } else {
            (0, 0)
        };
        self.audit(
            "responder.token",
            "responder",
            id.as_str(),
            json!({ "revoked": revoked, "sessions_ended": sessions_ended }),
        )
        .await?;
        Ok(IssuedToken {
            token,
            revoked,
            sessions_ended,
        })
    }

    /// Deactivates a responder (someone who left): tokens and sessions end at once, no alert
    /// reaches them any more. Returns how many tokens and sessions ended.
    pub async fn deactivate_responder(
        &self,
        id: &str,
    ) -> Result<(ResponderId, u64, u64), AdminError> {
        let id =
            ResponderId::parse(id.trim()).map_err(|e| invalid("担当者IDが正しくありません", e))?;
        let (revoked, sessions) = self.store.deactivate_responder(&id, self.now).await?;
        self.audit(
            "responder.deactivate",
            "responder",
            id.as_str(),
            json!({ "revoked": revoked, "sessions_ended": sessions }),
        )
        .await?;
        Ok((id, revoked, sessions))
    }

    /// Registers a partner with its first API token (shown once).
    pub async fn add_partner(&self, p: PartnerDraft) -> Result<(Partner, String), AdminError> {
        let kind: PartnerKind = p
            .kind
            .parse()
            .map_err(|e| invalid("事業者の種類を選んでください", e))?;
        let new = NewPartner {
            id: match given(p.id.as_deref()) {
                Some(id) => {
                    PartnerId::parse(id).map_err(|e| invalid("事業者IDが正しくありません", e))?
                }
                None => PartnerId::generate(),
            },
            name: text("name", "名称", Some(&p.name), NAME_MAX, true)?.unwrap_or_default(),
            kind,
            agreement: text(
                "agreement",
                "協定",
                p.agreement.as_deref(),
                AGREEMENT_MAX,
                false,
            )?,
        };
        let token = secret::generate_partner_token();
        let partner = self
            .store
            .add_partner(&new, &secret::token_hash(&token), self.now)
            .await?;
        self.audit(
            "partner.add",
            "partner",
            partner.id.as_str(),
            json!({ "kind": partner.kind }),
        )
        .await?;
        Ok((partner, token))
    }

    /// Issues another API token of a partner (shown once); with `revoke_others` every earlier
    /// one stops working at once, and a connection made with one is dropped.
    pub async fn issue_partner_token(
        &self,
        id: &str,
        revoke_others: bool,
    ) -> Result<IssuedToken, AdminError> {
        let id =
            PartnerId::parse(id.trim()).map_err(|e| invalid("事業者IDが正しくありません", e))?;
        self.store.get_partner(&id).await?;
        let token = secret::generate_partner_token();
        let hash = secret::token_hash(&token);
        self.store.add_partner_token(&id, &hash, self.now).await?;
        let revoked = if revoke_others {
            self.store
                .revoke_other_partner_tokens(&id, &hash, self.now)
                .await?
        } else {
            0
        };
        self.audit(
            "partner.token",
            "partner",
            id.as_str(),
            json!({ "revoked": revoked }),
        )
        .await?;
        Ok(IssuedToken {
            token,
            revoked,
            sessions_ended: 0,
        })
    }

    /// Revokes every token of a partner (a system retired, a token leaked and no new one yet):
    /// its reports and connections stop at once. Returns how many were revoked.
    pub async fn revoke_partner_tokens(&self, id: &str) -> Result<(PartnerId, u64), AdminError> {
        let id =
            PartnerId::parse(id.trim()).map_err(|e| invalid("事業者IDが正しくありません", e))?;
        self.store.get_partner(&id).await?;
        // No token hash is empty: every token goes.
        let revoked = self
            .store
            .revoke_other_partner_tokens(&id, "", self.now)
            .await?;
        self.audit(
            "partner.revoke",
            "partner",
            id.as_str(),
            json!({ "revoked": revoked }),
        )
        .await?;
        Ok((id, revoked))
    }

    /// Creates a team (a district's, or city-wide).
    pub async fn add_team(&self, t: TeamDraft) -> Result<Team, AdminError> {
        let kind: TeamKind = t
            .kind
            .parse()
            .map_err(|e| invalid("チームの種類を選んでください", e))?;
        let district = match given(t.district.as_deref()) {
            Some(key) => Some(
                self.registry
                    .find_district(key)
                    .map(|d| d.id.clone())
                    .ok_or_else(|| {
                        AdminError::Invalid(format!(
                            "その地区はありません / unknown district {key:?} (see `mimamori admin districts`)"
                        ))
                    })?,
            ),
            None => None,
        };
        let new = NewTeam {
            id: match given(t.id.as_deref()) {
                Some(id) => {
                    TeamId::parse(id).map_err(|e| invalid("チームIDが正しくありません", e))?
                }
                None => TeamId::generate(),
            },
            kind,
            district,
            name: text("name", "チーム名", Some(&t.name), NAME_MAX, true)?.unwrap_or_default(),
        };
        new.validate()
            .map_err(|e| invalid("地区のチーム（包括・CSW）には地区を選んでください", e))?;
        let team = self.store.add_team(&new, self.now).await?;
        self.audit(
            "team.add",
            "team",
            team.id.as_str(),
            json!({ "kind": team.kind }),
        )
        .await?;
        Ok(team)
    }
}
