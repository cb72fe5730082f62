//! `mimamori admin team …`: create teams (包括, CSW, coordinator, operators) and list them.

use super::{Context, input, print_json};
use crate::Failure;
use crate::cli::TeamCommand;
use mimamori_core::domain::*;
use serde_json::json;

pub(super) async fn run(command: TeamCommand, cx: Context<'_>) -> Result<(), Failure> {
    let Context { store, now, .. } = cx;
    match command {
        TeamCommand::Add {
            kind,
            district,
            name,
            id,
            output,
        } => {
            let kind: TeamKind = kind.parse().map_err(input)?;
            let district = district.map(|d| cx.find_district(&d)).transpose()?;
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
            cx.audit(
                "team.add",
                "team",
                team.id.as_str(),
                json!({ "kind": team.kind }),
            )
            .await?;
            if output.json {
                return print_json(&team);
            }
            println!("登録しました / added: team {} ({})", team.id, team.name);
        }
        TeamCommand::List { district, output } => {
            let district = district.map(|d| cx.find_district(&d)).transpose()?;
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
                        .map(|d| cx.district_name(d))
                        .unwrap_or_else(|| "市全域".into()),
                    t.name
                );
            }
        }
    }
    Ok(())
}
