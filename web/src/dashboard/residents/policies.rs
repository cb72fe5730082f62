//! The watch-over settings (inactivity, daily window, 元気です check-in), changed on the resident's
//! page.

use super::super::{DashboardState, see_other, server_error};
use super::{acting, changed, refused};
use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use mimamori_core::domain::{Resident, SilenceHours};
use serde::Deserialize;

/// The watch-over settings' form (`residents/policies.html`) as filled: the current ones, empty
/// where none is set.
pub(super) struct Settings {
    pub(super) hours: String,
    pub(super) active_from: String,
    pub(super) active_to: String,
    pub(super) window_from: String,
    pub(super) window_to: String,
    pub(super) checkin_by: String,
    pub(super) remind: String,
    pub(super) grace: String,
}

impl Settings {
    pub(super) fn of(r: &Resident) -> Self {
        use mimamori_core::domain::CheckinPolicy;
        let hm = |t: &chrono::NaiveTime| t.format("%H:%M").to_string();
        let mut s = Settings {
            hours: String::new(),
            active_from: "07:00".into(),
            active_to: "22:00".into(),
            window_from: String::new(),
            window_to: String::new(),
            checkin_by: String::new(),
            remind: String::new(),
            grace: "60".into(),
        };
        for p in &r.policies {
            match p {
                CheckinPolicy::Inactivity {
                    max_silence_minutes,
                    active_from,
                    active_to,
                } => {
                    s.hours = (max_silence_minutes / 60).to_string();
                    (s.active_from, s.active_to) = (hm(active_from), hm(active_to));
                }
                CheckinPolicy::DailyWindow { from, to } => {
                    (s.window_from, s.window_to) = (hm(from), hm(to))
                }
                CheckinPolicy::Checkin {
                    due,
                    remind_minutes_before,
                    grace_minutes,
                } => {
                    s.checkin_by = hm(due);
                    s.remind = remind_minutes_before
                        .map(|m| m.to_string())
                        .unwrap_or_default();
                    s.grace = grace_minutes.to_string();
                }
            }
        }
        s
    }
}

#[derive(Deserialize)]
pub(in crate::dashboard) struct PoliciesForm {
    form_token: String,
    #[serde(default)]
    inactivity_hours: String,
    #[serde(default)]
    pub(super) active_from: String,
    #[serde(default)]
    pub(super) active_to: String,
    #[serde(default)]
    pub(super) window_from: String,
    #[serde(default)]
    pub(super) window_to: String,
    #[serde(default)]
    pub(super) checkin_by: String,
    #[serde(default)]
    remind_minutes: String,
    #[serde(default)]
    grace_minutes: String,
}

/// The settings a form describes, or what to fix (in Japanese).
fn policies_of(f: &PoliciesForm) -> Result<Vec<mimamori_core::domain::CheckinPolicy>, String> {
    use mimamori_core::domain::CheckinPolicy;
    let time = |s: &str, what: &str| {
        chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .map_err(|_| format!("{what}の時刻を 09:00 のように入力してください。"))
    };
    let number = |s: &str, range: std::ops::RangeInclusive<u32>, what: &str| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                format!(
                    "{what}は{}〜{}で入力してください。",
                    range.start(),
                    range.end()
                )
            })
    };
    let mut policies = Vec::new();
    if !f.inactivity_hours.trim().is_empty() {
        let silence = f
            .inactivity_hours
            .trim()
            .parse()
            .ok()
            .and_then(|h| SilenceHours::parse(h).ok())
            .ok_or_else(|| {
                format!(
                    "反応なしの時間は{}〜{}で入力してください。",
                    SilenceHours::MIN,
                    SilenceHours::MAX
                )
            })?;
        policies.push(CheckinPolicy::inactivity(
            silence,
            time(&f.active_from, "数え始め")?,
            time(&f.active_to, "数え終わり")?,
        ));
    }
    match (f.window_from.trim(), f.window_to.trim()) {
        ("", "") => {}
        (from, to) => {
            let (from, to) = (time(from, "時間帯の始め")?, time(to, "時間帯の終わり")?);
            if from == to {
                return Err("時間帯の始めと終わりを別の時刻にしてください。".into());
            }
            policies.push(CheckinPolicy::DailyWindow { from, to });
        }
    }
    if !f.checkin_by.trim().is_empty() {
        policies.push(CheckinPolicy::Checkin {
            due: time(&f.checkin_by, "元気です")?,
            remind_minutes_before: match f.remind_minutes.trim() {
                "" => None,
                m => Some(number(m, 1..=720, "お知らせ")?),
            },
            grace_minutes: match f.grace_minutes.trim() {
                "" => 0,
                g => number(g, 0..=720, "猶予")?,
            },
        });
    }
    Ok(policies)
}

/// `POST /residents/{id}/policies`: replaces the resident's watch-over settings (audited as
/// `resident.policies`, told to the running alert service).
pub(in crate::dashboard) async fn set_policies(
    State(state): State<DashboardState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<PoliciesForm>,
) -> Response {
    let (session, r) = match acting(&state, &headers, &id, &f.form_token).await {
        Ok(found) => found,
        Err(p) => return p,
    };
    let policies = match policies_of(&f) {
        Ok(p) => p,
        Err(message) => return refused(&message),
    };
    let now = state.clock.now();
    let done = async {
        state.store.set_policies(&r.id, &policies, now).await?;
        changed(
            &state,
            &session,
            "policies",
            "resident.policies",
            &r.id,
            serde_json::json!({ "policies": policies.len() }),
        )
        .await
    };
    match done.await {
        Ok(()) => see_other(&format!("/residents/{}", r.id)),
        Err(e) => server_error(e),
    }
}
