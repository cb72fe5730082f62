//! `mimamori admin responder …`: add the people who receive alerts to teams, list them, and issue
//! their API tokens and Telegram link codes (each shown once), give them a role (`admin`: the admin
//! pages), deactivate them. Adding, roles, tokens and deactivation are `mimamori_core::admin`'s,
//! shared with the admin pages.

use super::{Context, input, print_json};
use crate::Failure;
use crate::cli::ResponderCommand;
use mimamori_core::admin::ResponderDraft;
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
            role,
            id,
            output,
        } => {
            let r = cx
                .admin()
                .add_responder(ResponderDraft {
                    id,
                    team,
                    name,
                    email,
                    telegram_chat_id,
                    office_hours,
                    role,
                })
                .await?;
            if output.json {
                return print_json(&json!({ "id": r.id, "team": r.team, "role": r.role }));
            }
            println!(
                "登録しました / added: responder {} (team {}, {})",
                r.id, r.team, r.role
            );
        }
        ResponderCommand::Role { id, role, output } => {
            let id = cx.admin().set_responder_role(&id, &role).await?;
            let r = store.get_responder(&id).await?;
            if output.json {
                return print_json(&json!({ "id": r.id, "role": r.role }));
            }
            println!(
                "役割を変更しました / role of {}: {} ({})",
                r.id,
                r.role,
                r.role.label_ja()
            );
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
                    "{:<14} {:<24} {:<12} {:<16} {}",
                    r.id,
                    r.team,
                    r.role,
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
            let issued = cx.admin().issue_responder_token(&id, revoke_others).await?;
            let (token, revoked, sessions) = (issued.token, issued.revoked, issued.sessions_ended);
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
            let (id, revoked, sessions) = cx.admin().deactivate_responder(&id).await?;
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
