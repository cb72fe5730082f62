//! `mimamori admin resident …`: register residents, list and show them (both audited by the
//! store), and set how each is watched.

use super::{Context, input, print_json};
use crate::Failure;
use crate::cli::{PolicyArgs, ResidentAdd, ResidentCommand};
use chrono::{NaiveTime, Utc};
use mimamori_core::domain::*;
use mimamori_core::registry::Registry;
use serde_json::json;

pub(super) async fn run(command: ResidentCommand, cx: Context<'_>) -> Result<(), Failure> {
    let Context {
        store,
        registry,
        actor,
        now,
        ..
    } = cx;
    match command {
        ResidentCommand::Add(args) => {
            let out = args.output;
            let new = resident_from_args(args, registry)?;
            let r = store.add_resident(&new, actor, now).await.map_err(input)?;
            if out.json {
                return print_json(&json!({ "id": r.id, "district": r.district }));
            }
            println!(
                "登録しました / added: resident {} ({} 地区)",
                r.id,
                cx.district_name(&r.district)
            );
        }
        ResidentCommand::List { district, output } => {
            let district = district.map(|d| cx.find_district(&d)).transpose()?;
            let residents = store.list_residents(district.as_ref(), actor, now).await?;
            if output.json {
                return print_json(&residents);
            }
            for r in &residents {
                println!(
                    "{:<14} {:<10} {:<16} {} {}",
                    r.id,
                    cx.district_name(&r.district),
                    r.name,
                    r.birth_year.year(),
                    r.address.area()
                );
            }
            println!("{} 件 / residents", residents.len());
        }
        ResidentCommand::Show { id, output } => {
            let id = ResidentId::parse(id).map_err(input)?;
            let r = store.get_resident(&id, actor, now).await.map_err(input)?;
            if output.json {
                return print_json(&r);
            }
            println!("id        {}", r.id);
            println!(
                "氏名      {}{}",
                r.name,
                r.name_kana
                    .as_ref()
                    .map(|k| format!(" ({k})"))
                    .unwrap_or_default()
            );
            println!("生年      {}", r.birth_year.year());
            println!("地区      {}", cx.district_name(&r.district));
            println!("住所      {}", r.address);
            println!("世帯      {}", r.living.label_ja());
            if let Some(p) = &r.phone {
                println!("電話      {p}");
            }
            if let Some(n) = &r.notes {
                println!("備考      {n}");
            }
        }
        ResidentCommand::Policy(args) => {
            let out = args.output;
            let id = ResidentId::parse(&args.id).map_err(input)?;
            let policies = policies_from_args(&args)?;
            store
                .set_policies(&id, &policies, now)
                .await
                .map_err(input)?;
            store
                .record_change(&Subject::Resident(id.clone()), "policies", now)
                .await?;
            cx.audit(
                "resident.policy",
                "resident",
                id.as_str(),
                json!({ "policies": policies.len() }),
            )
            .await?;
            if out.json {
                return print_json(&json!({ "id": id, "policies": policies }));
            }
            println!(
                "見守り設定を更新しました / policies set for {id}: {}",
                serde_json::to_string(&policies).unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn resident_from_args(a: ResidentAdd, registry: &Registry) -> Result<NewResident, Failure> {
    let now = Utc::now();
    let address = registry.parse_address(&a.address).map_err(input)?;
    let district = registry
        .resolve_district(&address, a.district.as_deref())
        .map_err(input)?;
    Ok(NewResident {
        id: match a.id {
            Some(id) => ResidentId::parse(id).map_err(input)?,
            None => ResidentId::generate(),
        },
        name: NewResident::check_name(&a.name).map_err(input)?,
        name_kana: a.kana,
        birth_year: BirthYear::parse_text(&a.birth_year, now).map_err(input)?,
        district,
        address,
        living: a.living.parse().map_err(input)?,
        phone: a.phone,
        contacts: Vec::new(),
        policies: Vec::new(),
        notes: a.notes,
    })
}

fn policies_from_args(a: &PolicyArgs) -> Result<Vec<CheckinPolicy>, Failure> {
    let mut policies = Vec::new();
    if let Some(hours) = a.inactivity_hours {
        let silence = SilenceHours::parse(hours).map_err(|_| {
            Failure::Input(format!(
                "--inactivity-hours must be between {} and {}",
                SilenceHours::MIN,
                SilenceHours::MAX
            ))
        })?;
        let (active_from, active_to) = span(&a.active, "--active")?;
        policies.push(CheckinPolicy::inactivity(silence, active_from, active_to));
    }
    if let Some(w) = &a.window {
        let (from, to) = span(w, "--window")?;
        policies.push(CheckinPolicy::DailyWindow { from, to });
    }
    if let Some(due) = &a.checkin_by {
        let due = time_of_day(due, "--checkin-by")?;
        policies.push(CheckinPolicy::Checkin {
            due,
            remind_minutes_before: a.remind_minutes,
            grace_minutes: a.grace_minutes,
        });
    }
    Ok(policies)
}

fn time_of_day(s: &str, flag: &str) -> Result<NaiveTime, Failure> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| Failure::Input(format!("{flag}: {s:?} is not a time like 09:00")))
}

fn span(s: &str, flag: &str) -> Result<(NaiveTime, NaiveTime), Failure> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| Failure::Input(format!("{flag}: {s:?} is not like 07:00-22:00")))?;
    Ok((time_of_day(a, flag)?, time_of_day(b, flag)?))
}
