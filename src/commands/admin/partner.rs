//! `mimamori admin partner …`: register partner organisations (見守り協定) and issue their API
//! tokens (shown once; optionally revoking the earlier ones), and list them.

use super::{Context, input, nonempty, print_json};
use crate::Failure;
use crate::cli::PartnerCommand;
use mimamori_core::domain::*;
use mimamori_core::secret;
use serde_json::json;

pub(super) async fn run(command: PartnerCommand, cx: Context<'_>) -> Result<(), Failure> {
    let Context { store, now, .. } = cx;
    match command {
        PartnerCommand::Add {
            name,
            kind,
            agreement,
            id,
            output,
        } => {
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
            cx.audit(
                "partner.add",
                "partner",
                p.id.as_str(),
                json!({ "kind": p.kind }),
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
        PartnerCommand::Token {
            id,
            revoke_others,
            output,
        } => {
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
            cx.audit(
                "partner.token",
                "partner",
                id.as_str(),
                json!({ "revoked": revoked }),
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
        PartnerCommand::List { output } => {
            let partners = store.list_partners().await?;
            if output.json {
                return print_json(&partners);
            }
            for p in partners {
                println!("{:<20} {:<10} {}", p.id, p.kind, p.name);
            }
        }
    }
    Ok(())
}
