//! `mimamori admin pause …`: pauses of monitoring (hospital stays, travel, short stays) — add one,
//! end one, list a resident's. Times are local to the city.

use super::{Context, input, print_json};
use crate::Failure;
use crate::cli::PauseCommand;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use mimamori_core::domain::*;
use serde_json::json;

pub(super) async fn run(command: PauseCommand, cx: Context<'_>) -> Result<(), Failure> {
    let Context { store, tz, now, .. } = cx;
    match command {
        PauseCommand::Add {
            resident,
            reason,
            from,
            to,
            note,
            output,
        } => {
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
            cx.audit(
                "pause.add",
                "resident",
                resident.as_str(),
                json!({ "pause": p.id, "reason": p.reason }),
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
        PauseCommand::End { id, resident, at } => {
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
            cx.audit(
                "pause.end",
                "resident",
                resident.as_str(),
                json!({ "pause": id }),
            )
            .await?;
            println!("一時停止を終了しました / pause {id} ended");
        }
        PauseCommand::List { resident, output } => {
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
    }
    Ok(())
}

/// A local date and time in the city's zone: "2026-12-01 09:00" (or RFC 3339).
fn local_time(s: &str, tz: Tz) -> Result<DateTime<Utc>, Failure> {
    use chrono::TimeZone;
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M")
        .map_err(|_| Failure::Input(format!("{s:?} is not a time like \"2026-12-01 09:00\"")))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| Failure::Input(format!("{s:?} does not exist in {tz}")))
}
