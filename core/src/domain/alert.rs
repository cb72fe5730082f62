//! Alerts: a decision that a person should look, with its lifecycle and timeline.

use super::kinds::vocabulary;
use super::{AlertId, DistrictId, Subject, TeamId};
use chrono::{DateTime, Utc};

vocabulary! {
    /// Why an alert was raised.
    AlertKind, "alert_kind" {
        Emergency => ("emergency", "緊急通報"),
        Inactivity => ("inactivity", "安否確認: 反応なし"),
        DailyWindow => ("daily_window", "安否確認: 朝の反応なし"),
        CheckinMissed => ("checkin_missed", "安否確認: 元気です未受信"),
        Unmonitored => ("unmonitored", "見守り不能: センサー停止"),
        DeviceOffline => ("device_offline", "機器の異常: 通信途絶"),
        BatteryLow => ("battery_low", "機器の異常: 電池残量低下"),
        Concern => ("concern", "見守り協力事業者からの連絡"),
        Compound => ("compound", "複合的な課題"),
        /// A notification channel failed for good (bad address, blocked bot): for the operators.
        DeliveryFailed => ("delivery_failed", "通知の配信エラー"),
    }
}

vocabulary! {
    /// Where an alert is in its life.
    AlertState, "alert_state" {
        Open => ("open", "未対応"),
        Acknowledged => ("acknowledged", "対応中"),
        Resolved => ("resolved", "解決"),
    }
}

vocabulary! {
    /// How an alert ended.
    Outcome, "outcome" {
        Safe => ("safe", "無事確認"),
        Transported => ("transported", "救急搬送"),
        FalseAlarm => ("false_alarm", "誤報"),
        Absent => ("absent", "不在"),
        Other => ("other", "その他"),
        /// Device outcomes: how a device alert (通信途絶, 電池残量低下) ended.
        BatteryReplaced => ("battery_replaced", "電池交換"),
        Reconnected => ("reconnected", "再接続"),
        DeviceReplaced => ("device_replaced", "機器交換"),
    }
}

impl AlertKind {
    /// An alert about a device rather than a person: it ends with a device outcome (電池交換,
    /// 再接続, 機器交換, その他), never with a person's (救急搬送).
    pub fn is_about_a_device(self) -> bool {
        matches!(self, AlertKind::DeviceOffline | AlertKind::BatteryLow)
    }

    /// The outcomes an alert of this kind may be resolved with, in the order offered.
    pub fn outcomes(self) -> &'static [Outcome] {
        if self.is_about_a_device() {
            &[
                Outcome::BatteryReplaced,
                Outcome::Reconnected,
                Outcome::DeviceReplaced,
                Outcome::Other,
            ]
        } else {
            &[
                Outcome::Safe,
                Outcome::Transported,
                Outcome::FalseAlarm,
                Outcome::Absent,
                Outcome::Other,
            ]
        }
    }

    /// Whether an alert of this kind may be resolved with `outcome`.
    pub fn allows(self, outcome: Outcome) -> bool {
        self.outcomes().contains(&outcome)
    }

    /// The outcomes of this kind in words, for a message that asks for one:
    /// 「無事確認・救急搬送・誤報・不在・その他」.
    pub fn outcomes_ja(self) -> String {
        self.outcomes()
            .iter()
            .map(|o| o.label_ja())
            .collect::<Vec<_>>()
            .join("・")
    }
}

vocabulary! {
    /// How urgent an alert is.
    Severity, "severity" {
        Critical => ("critical", "緊急"),
        High => ("high", "高"),
        Normal => ("normal", "通常"),
        Low => ("low", "低"),
    }
}

vocabulary! {
    /// What happened to an alert, for its timeline.
    AlertEventKind, "alert_event_kind" {
        Created => ("created", "発生"),
        Joined => ("joined", "追加の通報"),
        Notified => ("notified", "通知"),
        Delivery => ("delivery", "配信結果"),
        Acknowledged => ("acknowledged", "対応開始"),
        Escalated => ("escalated", "エスカレーション"),
        /// The coordinator sent an alert from the triage queue to a district's team.
        Routed => ("routed", "地区へ振り分け"),
        /// A responder found who an address's alert is about and linked it to the resident.
        Linked => ("linked", "対象者に結びつけ"),
        Note => ("note", "メモ"),
        Resolved => ("resolved", "解決"),
    }
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alert {
    pub id: AlertId,
    #[serde(serialize_with = "serialize_subject")]
    pub subject: Subject,
    pub kind: AlertKind,
    pub state: AlertState,
    pub severity: Severity,
    /// `None` when the subject could not be routed: the alert goes to city-wide triage.
    pub district: Option<DistrictId>,
    /// Short label safe for chat and mail (no names, addresses or health notes).
    pub summary: String,
    /// Why the rule fired (rule, last activity, deadline, pauses considered…).
    pub detail: serde_json::Value,
    pub opened_at: DateTime<Utc>,
    pub last_evidence_at: DateTime<Utc>,
    /// How many signals have joined this alert (1 at creation).
    pub evidence_count: i64,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub outcome: Option<Outcome>,
    /// The team it was routed to (`None`: not routed, e.g. opened outside the alert service).
    pub team: Option<TeamId>,
    /// Escalation steps carried out so far.
    pub escalation_step: i64,
    /// When the next escalation step is due; `None` once acknowledged or resolved.
    pub next_escalation_at: Option<DateTime<Utc>>,
}

fn serialize_subject<S: serde::Serializer>(s: &Subject, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&s.key())
}

/// An alert to open (or to join, when one is open for the same subject and kind).
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    pub subject: Subject,
    pub kind: AlertKind,
    pub severity: Severity,
    pub district: Option<DistrictId>,
    pub summary: String,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// One entry of an alert's timeline.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertEvent {
    pub id: i64,
    pub alert: AlertId,
    pub at: DateTime<Utc>,
    pub kind: AlertEventKind,
    /// Who did it: `responder:p-…`, `cli:…`, `system`.
    pub actor: Option<String>,
    pub detail: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_alert_ends_with_a_device_outcome_and_a_persons_with_a_persons() {
        assert!(AlertKind::DeviceOffline.allows(Outcome::Reconnected));
        assert!(AlertKind::BatteryLow.allows(Outcome::BatteryReplaced));
        assert!(!AlertKind::BatteryLow.allows(Outcome::Transported));
        assert!(!AlertKind::Emergency.allows(Outcome::DeviceReplaced));
        assert!(AlertKind::Emergency.allows(Outcome::Transported));
        for kind in AlertKind::ALL {
            assert!(kind.allows(Outcome::Other), "{kind}");
        }
        assert_eq!(
            AlertKind::DeviceOffline.outcomes_ja(),
            "電池交換・再接続・機器交換・その他"
        );
    }
}
