//! `mimamori admin responder …`: add the people who receive alerts to teams, list them, and issue
//! their API tokens and Telegram link codes (each shown once).

use super::{Context, input, nonempty, print_json};
use crate::Failure;
use crate::cli::ResponderCommand;
use mimamori_core::domain::*;
use mimamori_core::secret;
use serde_json::json;

pub(super) async fn run(command: ResponderCommand, cx: Context<'_>) -> Result<(), Failure> {
    let Context { store, now, .. } = cx;
    match command {
        ResponderCommand::Add {
            team,
            name,
            email,
            telegram_chat_id,
            office_hours,
            id,
            output,
        } => {
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
            cx.audit(
                "responder.add",
                "responder",
                r.id.as_str(),
                json!({ "team": r.team }),
            )
            .await?;
            if output.json {
                return print_json(&json!({ "id": r.id, "team": r.team }));
            }
            println!("登録しました / added: responder {} (team {})", r.id, r.team);
        }
        ResponderCommand::List { team, output } => {
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
        ResponderCommand::Token {
            id,
            revoke_others,
            output,
        } => {
            let id = ResponderId::parse(id).map_err(input)?;
            store.get_responder(&id).await.map_err(input)?;
            let token = format!("mmr_{}", secret::generate(33));
            let hash = secret::token_hash(&token);
            store
                .add_responder_token(&id, &hash, now)
                .await
                .map_err(input)?;
            let (revoked, sessions) = if revoke_others {
                store.revoke_other_responder_tokens(&id, &hash, now).await?
            } else {
                (0, 0)
            };
            cx.audit(
                "responder.token",
                "responder",
                id.as_str(),
                json!({ "revoked": revoked, "sessions_ended": sessions }),
            )
            .await?;
            if output.json {
                return print_json(&json!({ "id": id, "secret": token, "revoked": revoked }));
            }
            println!("API token: {token}");
            println!("このトークンは再表示できません / shown once.");
            if revoke_others {
                println!(
                    "ほかのトークン {revoked} 件を無効にし、ログイン {sessions} 件を終了しました / revoked {revoked} other token(s), ended {sessions} session(s)."
                );
            }
        }
        ResponderCommand::Deactivate { id, output } => {
            let id = ResponderId::parse(id).map_err(input)?;
            let (revoked, sessions) = store.deactivate_responder(&id, now).await.map_err(input)?;
            cx.audit(
                "responder.deactivate",
                "responder",
                id.as_str(),
                json!({ "revoked": revoked, "sessions_ended": sessions }),
            )
            .await?;
            if output.json {
                return print_json(
                    &json!({ "id": id, "revoked": revoked, "sessions_ended": sessions }),
                );
            }
            println!(
                "{id} を無効にしました（トークン {revoked} 件・ログイン {sessions} 件を終了） / deactivated: {revoked} token(s) revoked, {sessions} session(s) ended."
            );
        }
        ResponderCommand::TelegramCode { id, hours, output } => {
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
            cx.audit(
                "responder.telegram_code",
                "responder",
                id.as_str(),
                json!({ "hours": hours }),
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
    }
    Ok(())
}
