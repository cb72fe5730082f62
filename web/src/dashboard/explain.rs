//! Why an alert was raised, in plain Japanese, from what its rule recorded (`alert.detail`):
//! 「12時間反応なし（07:00–22:00に数えて）。最後の反応は 12月01日 06:40」. What the detail
//! does not say is left out rather than guessed.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use mimamori_core::domain::{Alert, AlertKind};
use serde_json::Value;

fn time_of(v: &Value, tz: Tz) -> Option<String> {
    let t: DateTime<Utc> = v.as_str()?.parse().ok()?;
    Some(t.with_timezone(&tz).format("%m月%d日 %H:%M").to_string())
}

fn minutes_ja(m: i64) -> String {
    match (m / 60, m % 60) {
        (0, m) => format!("{m}分"),
        (h, 0) => format!("{h}時間"),
        (h, m) => format!("{h}時間{m}分"),
    }
}

/// The alert's explanation: one or two sentences.
pub(super) fn explain(alert: &Alert, tz: Tz) -> String {
    let d = &alert.detail;
    let last = |key: &str, what: &str| {
        time_of(&d[key], tz)
            .map(|t| format!("{what}は {t}。"))
            .unwrap_or_else(|| format!("{what}の記録はありません。"))
    };
    let paused = if d["pauses_considered"]
        .as_array()
        .is_some_and(|p| !p.is_empty())
    {
        "一時停止の期間は除いて数えています。"
    } else {
        ""
    };
    match alert.kind {
        AlertKind::Emergency => {
            let mut s = String::from("ご本人が緊急通報ボタンを押しました。");
            if let Some(t) = time_of(&d["pressed_at"], tz) {
                s.push_str(&format!("押された時刻は {t}。"));
            }
            if d["during_pause"] == true {
                s.push_str("一時停止中でも緊急通報は届きます。");
            }
            s
        }
        AlertKind::Inactivity => {
            let minutes = d["max_silence_minutes"].as_i64().unwrap_or(0);
            let hours = d["active_hours"]
                .as_array()
                .map(|h| {
                    let h: Vec<&str> = h.iter().filter_map(Value::as_str).collect();
                    format!("（{}に数えて）", h.join("–"))
                })
                .unwrap_or_default();
            let mut s = format!("{}反応なし{hours}。", minutes_ja(minutes));
            s.push_str(&last("last_activity", "最後の生活反応"));
            if let Some(off) = d["sensors_offline"].as_array().filter(|o| !o.is_empty()) {
                s.push_str(&format!("応答のないセンサーが{}台あります。", off.len()));
            }
            s.push_str(paused);
            s
        }
        AlertKind::DailyWindow => {
            let window: Vec<&str> = d["window_local"]
                .as_array()
                .map(|w| w.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut s = if window.len() == 2 {
                format!("{}–{}の間に生活反応がありませんでした。", window[0], window[1])
            } else {
                "決めた時間帯に生活反応がありませんでした。".into()
            };
            s.push_str(&last("last_activity", "最後の生活反応"));
            s.push_str(paused);
            s
        }
        AlertKind::CheckinMissed => {
            let mut s = match d["due_local"].as_str() {
                Some(due) => format!("{due}までの「元気です」が届いていません"),
                None => "「元気です」が届いていません".into(),
            };
            if let Some(g) = d["grace_minutes"].as_i64().filter(|g| *g > 0) {
                s.push_str(&format!("（猶予{g}分を過ぎました）"));
            }
            s.push('。');
            s.push_str(&last("last_checkin", "最後の「元気です」"));
            s.push_str(paused);
            s
        }
        AlertKind::Unmonitored => {
            let n = d["sensors_offline"].as_array().map_or(0, Vec::len);
            let mut s = format!(
                "生活反応を拾うセンサーがすべて応答していません（{n}台）。反応がないことから、ご本人の様子は判断できません。"
            );
            if let Some(t) = time_of(&d["since"], tz) {
                s.push_str(&format!("{t}から。"));
            }
            s
        }
        AlertKind::DeviceOffline => {
            let mut s = String::from("機器からの定期連絡が途絶えています。");
            if let (Some(i), Some(m)) = (
                d["heartbeat_interval_s"].as_i64(),
                d["heartbeat_misses"].as_i64(),
            ) {
                s = format!(
                    "機器からの定期連絡（{}ごと）が{m}回続けて届いていません。",
                    minutes_ja(i / 60)
                );
            }
            s.push_str(&last("last_seen", "最後の連絡"));
            s.push_str("ご本人の異常とは限りません（電源・電池・通信を確認してください）。");
            s
        }
        AlertKind::BatteryLow => match (d["battery"].as_i64(), d["threshold"].as_i64()) {
            (Some(b), Some(t)) => {
                format!("機器の電池残量が{b}%です（{t}%を下回ると知らせます）。電池の交換をお願いします。")
            }
            _ => "機器の電池残量が少なくなっています。電池の交換をお願いします。".into(),
        },
        AlertKind::Concern => {
            "見守り協定の事業者から、気になる様子の連絡がありました（内容は下の「協力事業者からの連絡」）。".into()
        }
        AlertKind::Compound => {
            let days = d["window_days"].as_i64().unwrap_or(30);
            let troubles: Vec<&str> = d["troubles"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(Value::as_str)
                        .filter_map(|k| k.parse::<AlertKind>().ok())
                        .map(|k| k.label_ja())
                        .collect()
                })
                .unwrap_or_default();
            if troubles.is_empty() {
                format!("{days}日以内に複数の異変が重なりました。市の担当で全体を見てください。")
            } else {
                format!(
                    "{days}日以内に異変が重なりました（{}）。市の担当で全体を見てください。",
                    troubles.join("、")
                )
            }
        }
        AlertKind::DeliveryFailed => {
            "通知の配信が繰り返し失敗しました（宛先やボットの設定を確認してください）。".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mimamori_core::domain::*;

    fn alert(kind: AlertKind, detail: Value) -> Alert {
        Alert {
            id: AlertId(1),
            subject: Subject::Resident(ResidentId::parse("r-a").unwrap()),
            kind,
            state: AlertState::Open,
            severity: Severity::High,
            district: None,
            summary: String::new(),
            detail,
            opened_at: mimamori_core::testing::t0(),
            last_evidence_at: mimamori_core::testing::t0(),
            evidence_count: 1,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
            outcome: None,
            team: None,
            escalation_step: 0,
            next_escalation_at: None,
        }
    }

    #[test]
    fn an_inactivity_alert_says_how_long_and_in_which_hours() {
        let a = alert(
            AlertKind::Inactivity,
            serde_json::json!({
                "rule": "inactivity", "max_silence_minutes": 720,
                "active_hours": ["07:00", "22:00"],
                "last_activity": "2026-11-30T21:40:00Z", "pauses_considered": [],
                "sensors_offline": [],
            }),
        );
        assert_eq!(
            explain(&a, chrono_tz::Asia::Tokyo),
            "12時間反応なし（07:00–22:00に数えて）。最後の生活反応は 12月01日 06:40。"
        );
    }

    #[test]
    fn what_the_rule_did_not_record_is_not_made_up() {
        let a = alert(AlertKind::DailyWindow, serde_json::json!({}));
        assert_eq!(
            explain(&a, chrono_tz::Asia::Tokyo),
            "決めた時間帯に生活反応がありませんでした。最後の生活反応の記録はありません。"
        );
        let a = alert(
            AlertKind::BatteryLow,
            serde_json::json!({ "battery": 12, "threshold": 20 }),
        );
        assert!(explain(&a, chrono_tz::Asia::Tokyo).starts_with("機器の電池残量が12%です"));
    }
}
