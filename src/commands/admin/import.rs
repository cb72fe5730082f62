//! `mimamori admin import residents FILE`: residents from a municipal CSV (UTF-8 or CP932), all or
//! nothing — one bad row imports none, and every error is listed with its line and column.

use super::{Context, print_json};
use crate::Failure;
use crate::cli::ImportCommand;
use mimamori_core::import::{self, Encoding};
use serde_json::json;

pub(super) async fn run(command: ImportCommand, cx: Context<'_>) -> Result<(), Failure> {
    let Context {
        store,
        registry,
        actor,
        now,
        ..
    } = cx;
    match command {
        ImportCommand::Residents {
            file,
            encoding,
            output,
        } => {
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
                .import_residents(&residents, actor, now)
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
