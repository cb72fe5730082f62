//! `mimamori admin …`: registration from the command line, for city IT administrators and
//! provisioning scripts. Every `add` takes `--json` and then prints one object with `id` (and
//! `secret`, where one is issued — shown this once, stored only as a hash).

use crate::Failure;
use crate::cli::{
    Admin, DeviceCommand, ImportCommand, PartnerCommand, PauseCommand, PolicyArgs, ResidentAdd,
    ResidentCommand, ResponderCommand, TeamCommand,
};
use chrono::Utc;
use mimamori_core::domain::*;
use mimamori_core::import::{self, Encoding};
use mimamori_core::registry::Registry;
use mimamori_core::secret::{self, PasswordHasherConfig};
use mimamori_core::storage::Store;
use serde_json::json;

pub async fn run(
    command: Admin,
    store: &Store,
    registry: &Registry,
    tz: chrono_tz::Tz,
) -> Result<(), Failure> {
    let actor = Actor::cli();
    let now = Utc::now();
    match command {
        Admin::Resident(ResidentCommand::Policy(args)) => {
            let out = args.output;
            let id = ResidentId::parse(&args.id).map_err(input)?;
            let policies = policies_from_args(&args)?;
            store
                .set_policies(&id, &policies, now)
                .await
                .map_err(input)?;
            store
                .record_change(&Subject::Resident(id.clone()), "policies", now)
                .await?;
            audit(
                store,
                &actor,
                "resident.policy",
                "resident",
                id.as_str(),
                json!({ "policies": policies.len() }),
                now,
            )
            .await?;
            if out.json {
                return print_json(&json!({ "id": id, "policies": policies }));
            }
            println!(
                "見守り設定を更新しました / policies set for {id}: {}",
                serde_json::to_string(&policies).unwrap_or_default()
            );
        }
        Admin::Responder(ResponderCommand::Token { id, output }) => {
            let id = ResponderId::parse(id).map_err(input)?;
            store.get_responder(&id).await.map_err(input)?;
            let token = format!("mmr_{}", secret::generate(33));
            store
                .add_responder_token(&id, &secret::token_hash(&token), now)
                .await
                .map_err(input)?;
            audit(
                store,
                &actor,
                "responder.token",
                "responder",
                id.as_str(),
                json!({}),
                now,
            )
            .await?;
            if output.json {
                return print_json(&json!({ "id": id, "secret": token }));
            }
            println!("API token: {token}");
            println!("このトークンは再表示できません / shown once.");
        }
        Admin::Responder(ResponderCommand::TelegramCode { id, hours, output }) => {
            let id = ResponderId::parse(id).map_err(input)?;
            store.get_responder(&id).await.map_err(input)?;
            let hours = LinkCodeHours::parse(hours)
                .map_err(|_| {
                    input(format!(
                        "--hours: between {} and {}",
                        LinkCodeHours::MIN,
                        LinkCodeHours::MAX
                    ))
                })?
                .hours();
            let code = secret::generate(16);
            let expires = now + chrono::Duration::hours(hours);
            store
                .add_link_code(&id, &secret::token_hash(&code), expires, now)
                .await
                .map_err(input)?;
            audit(
                store,
                &actor,
                "responder.telegram_code",
                "responder",
                id.as_str(),
                json!({ "hours": hours }),
                now,
            )
            .await?;
            if output.json {
                return print_json(
                    &json!({ "id": id, "secret": code, "command": format!("/start {code}"), "expires_at": expires }),
                );
            }
            println!("Telegram でボットに次のメッセージを送ってください / send the bot:");
            println!("  /start {code}");
            println!(
                "{hours}時間有効・1回限り / valid {hours} h, once. このコードは再表示できません / shown once."
            );
        }
        Admin::Pause(PauseCommand::Add {
            resident,
            reason,
            from,
            to,
            note,
            output,
        }) => {
            let resident = ResidentId::parse(resident).map_err(input)?;
            let reason: PauseReason = reason.parse().map_err(input)?;
            let starts_at = from
                .as_deref()
                .map(|f| local_time(f, tz))
                .transpose()?
                .unwrap_or(now);
            let ends_at = to.as_deref().map(|t| local_time(t, tz)).transpose()?;
            let pause = NewPause {
                resident: resident.clone(),
                reason,
                starts_at,
                ends_at,
                note,
            };
            pause.validate().map_err(input)?;
            let p = store.add_pause(&pause, now).await.map_err(input)?;
            store
                .record_change(&Subject::Resident(resident.clone()), "pause", now)
                .await?;
            audit(
                store,
                &actor,
                "pause.add",
                "resident",
                resident.as_str(),
                json!({ "pause": p.id, "reason": p.reason }),
                now,
            )
            .await?;
            if output.json {
                return print_json(&json!({ "id": p.id, "resident": resident }));
            }
            println!(
                "一時停止を登録しました / pause {} added ({})",
                p.id,
                p.reason.label_ja()
            );
        }
        Admin::Pause(PauseCommand::End { id, resident, at }) => {
            let resident = ResidentId::parse(resident).map_err(input)?;
            let at = at
                .as_deref()
                .map(|a| local_time(a, tz))
                .transpose()?
                .unwrap_or(now);
            store.end_pause(id, at).await.map_err(input)?;
            store
                .record_change(&Subject::Resident(resident.clone()), "pause", now)
                .await?;
            audit(
                store,
                &actor,
                "pause.end",
                "resident",
                resident.as_str(),
                json!({ "pause": id }),
                now,
            )
            .await?;
            println!("一時停止を終了しました / pause {id} ended");
        }
        Admin::Pause(PauseCommand::List { resident, output }) => {
            let resident = ResidentId::parse(resident).map_err(input)?;
            let pauses = store.list_pauses(&resident).await?;
            if output.json {
                return print_json(&pauses);
            }
            for p in pauses {
                let end = p
                    .ends_at
                    .map(|e| e.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| "(未定 / open)".into());
                println!(
                    "{:<6} {:<12} {} → {}",
                    p.id,
                    p.reason.label_ja(),
                    p.starts_at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
                    end
                );
            }
        }
        Admin::Districts(out) => {
            let districts = store.list_districts().await?;
            if out.json {
                return print_json(&districts);
            }
            for d in districts {
                println!(
                    "{:<12} {}{}",
                    d.id,
                    d.name,
                    if d.confirmed {
                        ""
                    } else {
                        "  (未確認 / unconfirmed data)"
                    }
                );
            }
        }
        Admin::Resident(ResidentCommand::Add(args)) => {
            let out = args.output;
            let new = resident_from_args(args, registry)?;
            let r = store.add_resident(&new, &actor, now).await.map_err(input)?;
            if out.json {
                return print_json(&json!({ "id": r.id, "district": r.district }));
            }
            println!(
                "登録しました / added: resident {} ({} 地区)",
                r.id,
                district_name(registry, &r.district)
            );
        }
        Admin::Resident(ResidentCommand::List { district, output }) => {
            let district = district.map(|d| find_district(registry, &d)).transpose()?;
            let residents = store.list_residents(district.as_ref(), &actor, now).await?;
            if output.json {
                return print_json(&residents);
            }
            for r in &residents {
                println!(
                    "{:<14} {:<10} {:<16} {} {}",
                    r.id,
                    district_name(registry, &r.district),
                    r.name,
                    r.birth_year.year(),
                    r.address.area()
                );
            }
            println!("{} 件 / residents", residents.len());
        }
        Admin::Resident(ResidentCommand::Show { id, output }) => {
            let id = ResidentId::parse(id).map_err(input)?;
            let r = store.get_resident(&id, &actor, now).await.map_err(input)?;
            if output.json {
                return print_json(&r);
            }
            println!("id        {}", r.id);
            println!(
                "氏名      {}{}",
                r.name,
                r.name_kana
                    .as_ref()
                    .map(|k| format!(" ({k})"))
                    .unwrap_or_default()
            );
            println!("生年      {}", r.birth_year.year());
            println!("地区      {}", district_name(registry, &r.district));
            println!("住所      {}", r.address);
            println!("世帯      {}", r.living.label_ja());
            if let Some(p) = &r.phone {
                println!("電話      {p}");
            }
            if let Some(n) = &r.notes {
                println!("備考      {n}");
            }
        }
        Admin::Team(TeamCommand::Add {
            kind,
            district,
            name,
            id,
            output,
        }) => {
            let kind: TeamKind = kind.parse().map_err(input)?;
            let district = district.map(|d| find_district(registry, &d)).transpose()?;
            let id = match id {
                Some(id) => TeamId::parse(id).map_err(input)?,
                None => TeamId::generate(),
            };
            let new = NewTeam {
                id,
                kind,
                district,
                name,
            };
            new.validate().map_err(input)?;
            let team = store.add_team(&new, now).await.map_err(input)?;
            audit(
                store,
                &actor,
                "team.add",
                "team",
                team.id.as_str(),
                json!({ "kind": team.kind }),
                now,
            )
            .await?;
            if output.json {
                return print_json(&team);
            }
            println!("登録しました / added: team {} ({})", team.id, team.name);
        }
        Admin::Team(TeamCommand::List { district, output }) => {
            let district = district.map(|d| find_district(registry, &d)).transpose()?;
            let teams = store.list_teams(district.as_ref()).await?;
            if output.json {
                return print_json(&teams);
            }
            for t in teams {
                println!(
                    "{:<24} {:<12} {:<10} {}",
                    t.id,
                    t.kind,
                    t.district
                        .as_ref()
                        .map(|d| district_name(registry, d))
                        .unwrap_or_else(|| "市全域".into()),
                    t.name
                );
            }
        }
        Admin::Responder(ResponderCommand::Add {
            team,
            name,
            email,
            telegram_chat_id,
            office_hours,
            id,
            output,
        }) => {
            let new = NewResponder {
                id: match id {
                    Some(id) => ResponderId::parse(id).map_err(input)?,
                    None => ResponderId::generate(),
                },
                team: TeamId::parse(team).map_err(input)?,
                name: nonempty("name", name)?,
                email: email.map(Email::parse).transpose().map_err(input)?,
                telegram_chat_id,
                office_hours: office_hours
                    .as_deref()
                    .map(OfficeHours::parse)
                    .transpose()
                    .map_err(input)?,
            };
            store.get_team(&new.team).await.map_err(input)?;
            let r = store.add_responder(&new, now).await.map_err(input)?;
            audit(
                store,
                &actor,
                "responder.add",
                "responder",
                r.id.as_str(),
                json!({ "team": r.team }),
                now,
            )
            .await?;
            if output.json {
                return print_json(&json!({ "id": r.id, "team": r.team }));
            }
            println!("登録しました / added: responder {} (team {})", r.id, r.team);
        }
        Admin::Responder(ResponderCommand::List { team, output }) => {
            let team = team.map(TeamId::parse).transpose().map_err(input)?;
            let responders = store.list_responders(team.as_ref()).await?;
            if output.json {
                return print_json(&responders);
            }
            for r in responders {
                let channels = [
                    r.email.as_ref().map(|_| "email"),
                    r.telegram_chat_id.map(|_| "telegram"),
                ];
                let channels: Vec<_> = channels.into_iter().flatten().collect();
                println!(
                    "{:<14} {:<24} {:<16} {}",
                    r.id,
                    r.team,
                    r.name,
                    channels.join(",")
                );
            }
        }
        Admin::Device(DeviceCommand::Add {
            resident,
            kind,
            label,
            heartbeat_interval,
            zigbee_name,
            id,
            output,
        }) => {
            let kind: DeviceKind = kind.parse().map_err(input)?;
            let resident = resident.map(ResidentId::parse).transpose().map_err(input)?;
            if heartbeat_interval <= 0 {
                return Err(Failure::Input(
                    "--heartbeat-interval must be a positive number of seconds".into(),
                ));
            }
            let id = match id {
                Some(id) => DeviceId::parse(id).map_err(input)?,
                None => DeviceId::generate(),
            };
            if id
                .as_str()
                .starts_with(mimamori_broker::SERVICE_CLIENT_PREFIX)
            {
                return Err(Failure::Input(format!(
                    "mimamori: device ids may not start with {:?}: it is reserved for the platform",
                    mimamori_broker::SERVICE_CLIENT_PREFIX
                )));
            }
            let external_id = match zigbee_name {
                Some(n) if n.trim().is_empty() || n.contains(['/', '+', '#']) => {
                    return Err(Failure::Input(format!(
                        "mimamori: {n:?} is not a zigbee2mqtt friendly name"
                    )));
                }
                Some(n) => Some(format!("z2m:{n}")),
                None => None,
            };
            let password = secret::generate_device_password();
            let secret_hash = PasswordHasherConfig::default()
                .hash(&password)
                .map_err(|e| Failure::Other(e.into()))?;
            let new = NewDevice {
                id,
                resident,
                kind,
                label,
                external_id,
                heartbeat_interval_s: heartbeat_interval,
                secret_hash,
                mac_key: secret::device_mac_key(&password),
            };
            let d = store.add_device(&new, now).await.map_err(input)?;
            store
                .record_change(&Subject::Device(d.id.clone()), "device", now)
                .await?;
            audit(
                store,
                &actor,
                "device.add",
                "device",
                d.id.as_str(),
                json!({ "kind": d.kind, "resident": d.resident }),
                now,
            )
            .await?;
            if output.json {
                return print_json(
                    &json!({ "id": d.id, "secret": password, "username": d.id, "kind": d.kind, "resident": d.resident }),
                );
            }
            println!(
                "登録しました / added: device {} ({})",
                d.id,
                d.kind.label_ja()
            );
            println!("MQTT username: {}", d.id);
            println!("MQTT password: {password}");
            println!(
                "このパスワードは再表示できません。機器に設定してください / shown once: set it on the device now."
            );
        }
        Admin::Device(DeviceCommand::List { resident, output }) => {
            let resident = resident.map(ResidentId::parse).transpose().map_err(input)?;
            let devices = store.list_devices(resident.as_ref()).await?;
            if output.json {
                return print_json(&devices);
            }
            for d in devices {
                println!(
                    "{:<16} {:<12} {:<14} {}",
                    d.id,
                    d.kind,
                    d.resident.as_ref().map(ResidentId::as_str).unwrap_or("-"),
                    if d.enabled { "enabled" } else { "disabled" }
                );
            }
        }
        Admin::Partner(PartnerCommand::Add {
            name,
            kind,
            agreement,
            id,
            output,
        }) => {
            let kind: PartnerKind = kind.parse().map_err(input)?;
            let id = match id {
                Some(id) => PartnerId::parse(id).map_err(input)?,
                None => PartnerId::generate(),
            };
            let token = secret::generate_partner_token();
            let new = NewPartner {
                id,
                name: nonempty("name", name)?,
                kind,
                agreement,
            };
            let p = store
                .add_partner(&new, &secret::token_hash(&token), now)
                .await
                .map_err(input)?;
            audit(
                store,
                &actor,
                "partner.add",
                "partner",
                p.id.as_str(),
                json!({ "kind": p.kind }),
                now,
            )
            .await?;
            if output.json {
                return print_json(&json!({ "id": p.id, "secret": token, "kind": p.kind }));
            }
            println!("登録しました / added: partner {} ({})", p.id, p.name);
            println!("API token: {token}");
            println!(
                "このトークンは再表示できません。事業者に安全な方法で渡してください / shown once."
            );
        }
        Admin::Partner(PartnerCommand::Token {
            id,
            revoke_others,
            output,
        }) => {
            let id = PartnerId::parse(id).map_err(input)?;
            store.get_partner(&id).await.map_err(input)?;
            let token = secret::generate_partner_token();
            let hash = secret::token_hash(&token);
            store
                .add_partner_token(&id, &hash, now)
                .await
                .map_err(input)?;
            let revoked = if revoke_others {
                store.revoke_other_partner_tokens(&id, &hash, now).await?
            } else {
                0
            };
            audit(
                store,
                &actor,
                "partner.token",
                "partner",
                id.as_str(),
                json!({ "revoked": revoked }),
                now,
            )
            .await?;
            if output.json {
                return print_json(&json!({ "id": id, "secret": token, "revoked": revoked }));
            }
            println!("API token: {token}");
            if revoke_others {
                println!(
                    "以前のトークン {revoked} 件を無効にしました / revoked {revoked} earlier token(s)."
                );
            }
            println!(
                "このトークンは再表示できません。事業者に安全な方法で渡してください / shown once."
            );
        }
        Admin::Partner(PartnerCommand::List { output }) => {
            let partners = store.list_partners().await?;
            if output.json {
                return print_json(&partners);
            }
            for p in partners {
                println!("{:<20} {:<10} {}", p.id, p.kind, p.name);
            }
        }
        Admin::Import(ImportCommand::Residents {
            file,
            encoding,
            output,
        }) => {
            let encoding: Encoding = encoding.parse().map_err(Failure::Input)?;
            let name = file.display().to_string();
            let bytes = std::fs::read(&file)
                .map_err(|e| Failure::Input(format!("{name}: cannot read: {e}")))?;
            let text = import::decode(&bytes, encoding)
                .map_err(|e| Failure::Input(format!("{name}: {e}")))?;
            let residents = match import::parse_residents(&text, registry, now) {
                Ok(r) => r,
                Err(errors) => {
                    if output.json {
                        let list: Vec<_> = errors.iter().map(|e| json!({ "line": e.line, "column": e.column, "message": e.message })).collect();
                        println!("{}", json!({ "imported": 0, "errors": list }));
                    }
                    let lines: Vec<String> =
                        errors.iter().map(|e| format!("{name}: {e}")).collect();
                    return Err(Failure::Input(format!(
                        "{}\n取り込みませんでした / nothing imported: {} error(s)",
                        lines.join("\n"),
                        errors.len()
                    )));
                }
            };
            let n = store
                .import_residents(&residents, &actor, now)
                .await
                .map_err(|e| Failure::Input(format!("{name}: nothing imported: {e}")))?;
            if output.json {
                return print_json(&json!({ "imported": n, "errors": [] }));
            }
            println!("{n} 件を取り込みました / imported {n} residents from {name}");
        }
    }
    Ok(())
}

fn resident_from_args(a: ResidentAdd, registry: &Registry) -> Result<NewResident, Failure> {
    let now = Utc::now();
    let address = registry.parse_address(&a.address).map_err(input)?;
    let district = registry
        .resolve_district(&address, a.district.as_deref())
        .map_err(input)?;
    Ok(NewResident {
        id: match a.id {
            Some(id) => ResidentId::parse(id).map_err(input)?,
            None => ResidentId::generate(),
        },
        name: NewResident::check_name(&a.name).map_err(input)?,
        name_kana: a.kana,
        birth_year: BirthYear::parse_text(&a.birth_year, now).map_err(input)?,
        district,
        address,
        living: a.living.parse().map_err(input)?,
        phone: a.phone,
        contacts: Vec::new(),
        policies: Vec::new(),
        notes: a.notes,
    })
}

fn policies_from_args(a: &PolicyArgs) -> Result<Vec<CheckinPolicy>, Failure> {
    let mut policies = Vec::new();
    if let Some(hours) = a.inactivity_hours {
        let silence = SilenceHours::parse(hours).map_err(|_| {
            Failure::Input(format!(
                "--inactivity-hours must be between {} and {}",
                SilenceHours::MIN,
                SilenceHours::MAX
            ))
        })?;
        let (active_from, active_to) = span(&a.active, "--active")?;
        policies.push(CheckinPolicy::inactivity(silence, active_from, active_to));
    }
    if let Some(w) = &a.window {
        let (from, to) = span(w, "--window")?;
        policies.push(CheckinPolicy::DailyWindow { from, to });
    }
    if let Some(due) = &a.checkin_by {
        let due = time_of_day(due, "--checkin-by")?;
        policies.push(CheckinPolicy::Checkin {
            due,
            remind_minutes_before: a.remind_minutes,
            grace_minutes: a.grace_minutes,
        });
    }
    Ok(policies)
}

fn time_of_day(s: &str, flag: &str) -> Result<chrono::NaiveTime, Failure> {
    chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| Failure::Input(format!("{flag}: {s:?} is not a time like 09:00")))
}

fn span(s: &str, flag: &str) -> Result<(chrono::NaiveTime, chrono::NaiveTime), Failure> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| Failure::Input(format!("{flag}: {s:?} is not like 07:00-22:00")))?;
    Ok((time_of_day(a, flag)?, time_of_day(b, flag)?))
}

/// A local date and time in the city's zone: "2026-12-01 09:00" (or RFC 3339).
fn local_time(s: &str, tz: chrono_tz::Tz) -> Result<chrono::DateTime<Utc>, Failure> {
    use chrono::TimeZone;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M")
        .map_err(|_| Failure::Input(format!("{s:?} is not a time like \"2026-12-01 09:00\"")))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| Failure::Input(format!("{s:?} does not exist in {tz}")))
}

fn find_district(registry: &Registry, key: &str) -> Result<DistrictId, Failure> {
    registry
        .find_district(key)
        .map(|d| d.id.clone())
        .ok_or_else(|| {
            Failure::Input(format!(
                "unknown district {key:?} (see `mimamori admin districts`)"
            ))
        })
}

fn district_name(registry: &Registry, id: &DistrictId) -> String {
    registry
        .district(id)
        .map(|d| d.name.clone())
        .unwrap_or_else(|| id.to_string())
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

async fn audit(
    store: &Store,
    actor: &Actor,
    action: &str,
    kind: &str,
    id: &str,
    detail: serde_json::Value,
    now: chrono::DateTime<Utc>,
) -> Result<(), Failure> {
    store
        .record_audit(&NewAuditEntry {
            actor: actor.clone(),
            action: action.into(),
            object_kind: kind.into(),
            object_id: Some(id.into()),
            detail,
            at: now,
        })
        .await?;
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    println!(
        "{}",
        serde_json::to_string(value).map_err(|e| Failure::Other(e.into()))?
    );
    Ok(())
}
