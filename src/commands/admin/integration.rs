//! `mimamori admin integration …`: register the systems that follow the alert stream, issue and
//! replace their secrets (each shown once, stored as a hash), disable them, and print the public
//! key the stream is signed with.

use super::{Context, input, nonempty, print_json};
use crate::Failure;
use crate::cli::IntegrationCommand;
use mimamori_core::alert_stream::StreamSigner;
use mimamori_core::domain::{Integration, NewIntegration};
use mimamori_core::secret;
use serde_json::json;

pub(super) async fn run(command: IntegrationCommand, cx: Context<'_>) -> Result<(), Failure> {
    let Context { store, now, .. } = cx;
    match command {
        IntegrationCommand::Add {
            name,
            district,
            id,
            output,
        } => {
            let id = match id {
                Some(id) => Integration::parse_id(&id).map_err(input)?,
                None => Integration::generate_id(),
            };
            let district = district.map(|d| cx.find_district(&d)).transpose()?;
            let secret = Integration::generate_secret();
            let new = NewIntegration {
                id,
                name: nonempty("name", name)?,
                district,
                secret_hash: secret::token_hash(&secret),
            };
            let i = store.add_integration(&new, now).await.map_err(input)?;
            cx.audit(
                "integration.add",
                "integration",
                &i.id,
                json!({ "district": i.district }),
            )
            .await?;
            if output.json {
                return print_json(
                    &json!({ "id": i.id, "secret": secret, "district": i.district }),
                );
            }
            let scope = match &i.district {
                Some(d) => format!("{}地区のみ / district {d} only", cx.district_name(d)),
                None => "全地区とトリアージ / every district and triage".into(),
            };
            println!(
                "登録しました / added: integration {} ({}) — {scope}",
                i.id, i.name
            );
            println!("MQTT username: {}", i.id);
            println!("secret (MQTT password, API token): {secret}");
            println!(
                "この秘密情報は再表示できません。連携先に安全な方法で渡してください / shown once."
            );
        }
        IntegrationCommand::List { output } => {
            let integrations = store.list_integrations().await?;
            if output.json {
                return print_json(&integrations);
            }
            for i in integrations {
                println!(
                    "{:<20} {:<12} {:<8} {}",
                    i.id,
                    i.district.as_ref().map(|d| d.as_str()).unwrap_or("*"),
                    if i.enabled { "有効" } else { "無効" },
                    i.name
                );
            }
        }
        IntegrationCommand::Disable { id, output } => {
            let changed = store.disable_integration(&id, now).await.map_err(input)?;
            cx.audit(
                "integration.disable",
                "integration",
                &id,
                json!({ "changed": changed }),
            )
            .await?;
            if output.json {
                return print_json(&json!({ "id": id, "enabled": false, "changed": changed }));
            }
            if changed {
                println!(
                    "{id} を無効にしました。以後の接続と API は拒否されます / disabled: further logins and API calls are refused."
                );
            } else {
                println!("{id} は既に無効です / already disabled.");
            }
        }
        IntegrationCommand::Secret { id, output } => {
            let secret = Integration::generate_secret();
            store
                .set_integration_secret(&id, &secret::token_hash(&secret), now)
                .await
                .map_err(input)?;
            cx.audit("integration.secret", "integration", &id, json!({}))
                .await?;
            if output.json {
                return print_json(&json!({ "id": id, "secret": secret }));
            }
            println!("secret (MQTT password, API token): {secret}");
            println!(
                "以前の秘密情報は無効になりました。この秘密情報は再表示できません / the old secret no longer works; shown once."
            );
        }
        IntegrationCommand::Key { output } => {
            let signer = StreamSigner::from_store(store, now).await?;
            let key = signer.public_key();
            if output.json {
                return print_json(key);
            }
            println!("アラート配信の署名鍵（公開鍵） / the alert stream's public key:");
            println!("algorithm: {}", key.algorithm);
            println!("kid: {}", key.kid);
            println!("public_key: {}", key.public_key);
        }
    }
    Ok(())
}
