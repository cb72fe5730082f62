//! `mimamori admin districts`: the districts of the city registry, and whether their data is
//! confirmed.

use super::{Context, print_json};
use crate::Failure;
use crate::cli::Output;

pub(super) async fn run(out: Output, cx: Context<'_>) -> Result<(), Failure> {
    let districts = cx.store.list_districts().await?;
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
    Ok(())
}
