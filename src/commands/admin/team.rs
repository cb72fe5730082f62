//! `mimamori admin team …`: create teams (包括, CSW, coordinator, operators) and list them.
//! Creating is `mimamori_core::admin`'s, shared with the admin pages.

use super::{Context, print_json};
use crate::Failure;
use crate::cli::TeamCommand;
use mimamori_core::admin::TeamDraft;

pub(super) async fn run(command: TeamCommand, cx: Context<'_>) -> Result<(), Failure> {
    let Context { store, .. } = cx;
    match command {
        TeamCommand::Add {
            kind,
            district,
            name,
            id,
            output,
        } => {
            let team = cx
                .admin()
                .add_team(TeamDraft {
                    id,
                    kind,
                    district,
                    name,
                })
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
