//! `mimamori admin partner …`: register partner organisations (見守り協定) and issue their API
//! tokens (shown once; optionally revoking the earlier ones), and list them. What each change
//! does is `mimamori_core::admin`'s, shared with the admin pages.

use super::{Context, print_json};
use crate::Failure;
use crate::cli::PartnerCommand;
use mimamori_core::admin::PartnerDraft;
use serde_json::json;

pub(super) async fn run(command: PartnerCommand, cx: Context<'_>) -> Result<(), Failure> {
    let Context { store, .. } = cx;
    match command {
        PartnerCommand::Add {
            name,
            kind,
            agreement,
            id,
            output,
        } => {
            let (p, token) = cx
                .admin()
                .add_partner(PartnerDraft {
                    id,
                    name,
                    kind,
                    agreement,
                })
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
            let issued = cx.admin().issue_partner_token(&id, revoke_others).await?;
            let (token, revoked) = (issued.token, issued.revoked);
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
