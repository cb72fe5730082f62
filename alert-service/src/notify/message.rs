//! The words responders read: one Japanese message per alert event, rendered at send time from
//! the alert's current state, for Telegram (plain text) and email (text and HTML).
//!
//! Minimum data: the kind, the district, the time, the state and a short label of the subject
//! (an id, never a name, address or health note). Details are behind login.

use super::Event;
use chrono_tz::Tz;
use mimamori_core::domain::{Alert, AlertState, DistrictId, Subject};
use std::collections::HashMap;

/// What every rendering needs besides the alert.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where responders reach the dashboard (`http.public_url`), without a trailing slash.
    pub public_url: String,
    /// District names (鵠沼, 辻堂…) by id.
    pub districts: HashMap<DistrictId, String>,
    pub timezone: Tz,
}

impl Context {
    pub fn new(
        public_url: &str,
        registry: &mimamori_core::registry::Registry,
        timezone: Tz,
    ) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_string(),
            districts: registry
                .districts
                .iter()
                .map(|d| (d.id.clone(), d.name.clone()))
                .collect(),
            timezone,
        }
    }

    /// The alert's page on the dashboard (behind login).
    pub fn alert_url(&self, alert: &Alert) -> String {
        format!("{}/alerts/{}", self.public_url, alert.id)
    }
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertMessage {
    /// One line: `【緊急通報】鵠沼地区 #12`; the subject of an email.
    pub title: String,
    /// `(label, value)` lines.
    pub lines: Vec<(String, String)>,
    /// The alert on the dashboard.
    pub url: String,
}

/// What the message is about, for its title.
fn headline(alert: &Alert, event: Event, step: Option<i64>) -> String {
    let kind = alert.kind.label_ja();
    match (alert.state, event) {
        (AlertState::Resolved, _) => format!("【解決】{kind}"),
        (AlertState::Acknowledged, _) => format!("【対応中】{kind}"),
        (_, Event::Escalated) => match step {
            Some(n) if n > 1 => format!("【再通知・未対応 {n}回目】{kind}"),
            _ => format!("【エスカレーション・未対応】{kind}"),
        },
        (_, Event::Routed) => format!("【{kind}・市から振り分け】"),
        _ if alert.evidence_count > 1 => format!("【{kind}・再通報】"),
        _ => format!("【{kind}】"),
    }
}

/// A short label of the subject: an id, never a name or an address.
pub fn subject_label(subject: &Subject) -> String {
    match subject {
        Subject::Resident(id) => format!("見守り対象者 {id}"),
        Subject::Device(id) => format!("機器 {id}"),
        Subject::Address(_) => "住所による連絡（詳細はダッシュボード）".into(),
        Subject::Channel(_) => "通知チャネル（詳細はダッシュボード）".into(),
    }
}

/// Renders an alert for an event. `acknowledged_by`: the name of the responder who took it.
pub fn render(
    ctx: &Context,
    alert: &Alert,
    event: Event,
    step: Option<i64>,
    acknowledged_by: Option<&str>,
) -> AlertMessage {
    let district = match &alert.district {
        Some(d) => ctx
            .districts
            .get(d)
            .map(|n| format!("{n}地区"))
            .unwrap_or_else(|| d.to_string()),
        None => "地区不明（全市の振り分け）".into(),
    };
    let local = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&ctx.timezone)
            .format("%Y年%m月%d日 %H:%M")
            .to_string()
    };
    let mut lines = vec![
        ("種別".to_string(), alert.kind.label_ja().to_string()),
        ("地区".to_string(), district.clone()),
        ("発生".to_string(), local(alert.opened_at)),
        ("対象".to_string(), subject_label(&alert.subject)),
    ];
    if alert.evidence_count > 1 {
        lines.push((
            "通報回数".into(),
            format!(
                "{}回（最新 {}）",
                alert.evidence_count,
                local(alert.last_evidence_at)
            ),
        ));
    }
    let state = match alert.state {
        AlertState::Open => "未対応".to_string(),
        AlertState::Acknowledged => format!(
            "対応中（{}{}）",
            acknowledged_by.unwrap_or("担当者"),
            alert
                .acknowledged_at
                .map(|t| format!(" {}", local(t)))
                .unwrap_or_default()
        ),
        AlertState::Resolved => format!(
            "解決（{}）",
            alert.outcome.map(|o| o.label_ja()).unwrap_or("その他")
        ),
    };
    lines.push(("状態".into(), state));
    AlertMessage {
        title: format!("{} {district} #{}", headline(alert, event, step), alert.id),
        lines,
        url: ctx.alert_url(alert),
    }
}

impl AlertMessage {
    /// Plain text: the title, the lines, and the dashboard link.
    pub fn text(&self) -> String {
        let mut out = self.title.clone();
        out.push('\n');
        for (label, value) in &self.lines {
            out.push_str(&format!("\n{label}: {value}"));
        }
        out.push_str(&format!("\n\n詳細（要ログイン）: {}", self.url));
        out
    }

    /// An HTML fragment of the same.
    pub fn html(&self) -> String {
        let rows: String = self
            .lines
            .iter()
            .map(|(l, v)| {
                format!(
                    "<tr><th style=\"text-align:left;padding-right:1em\">{}</th><td>{}</td></tr>",
                    escape(l),
                    escape(v)
                )
            })
            .collect();
        format!(
            "<h2>{}</h2><table>{rows}</table><p><a href=\"{url}\">詳細を見る（要ログイン）</a></p>",
            escape(&self.title),
            url = escape(&self.url),
        )
    }
}

/// The name of the responder who acknowledged an alert (staff, not a resident), for the
/// messages colleagues see; `None` when nobody has or it was not a responder.
pub async fn acknowledger_name(
    store: &mimamori_core::storage::Store,
    alert: &Alert,
) -> Result<Option<String>, mimamori_core::storage::StorageError> {
    let Some(id) = alert
        .acknowledged_by
        .as_deref()
        .and_then(|a| a.strip_prefix("responder:"))
        .and_then(|id| mimamori_core::domain::ResponderId::parse(id).ok())
    else {
        return Ok(None);
    };
    match store.get_responder(&id).await {
        Ok(r) => Ok(Some(r.name)),
        Err(mimamori_core::storage::StorageError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

pub use mimamori_core::html::escape;

#[cfg(test)]
mod tests {
    use super::*;
    use mimamori_core::domain::*;

    fn alert(kind: AlertKind, state: AlertState) -> Alert {
        let t: chrono::DateTime<chrono::Utc> = "2026-12-01T13:05:00Z".parse().unwrap();
        Alert {
            id: AlertId(12),
            subject: Subject::Resident(ResidentId::parse("r-elder").unwrap()),
            kind,
            state,
            severity: Severity::Critical,
            district: Some(DistrictId::parse("kugenuma").unwrap()),
            summary: kind.label_ja().into(),
            detail: serde_json::json!({}),
            opened_at: t,
            last_evidence_at: t,
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

    fn ctx() -> Context {
        Context::new(
            "https://mimamori.example.jp/",
            &mimamori_core::registry::Registry::fujisawa(),
            chrono_tz::Asia::Tokyo,
        )
    }

    #[test]
    fn an_emergency_reads_in_japanese_with_city_time() {
        let m = render(
            &ctx(),
            &alert(AlertKind::Emergency, AlertState::Open),
            Event::Raised,
            None,
            None,
        );
        assert_eq!(m.title, "【緊急通報】 鵠沼地区 #12");
        let text = m.text();
        assert!(text.contains("発生: 2026年12月01日 22:05"), "{text}");
        assert!(text.contains("対象: 見守り対象者 r-elder"), "{text}");
        assert!(text.contains("状態: 未対応"), "{text}");
        assert!(
            text.contains("https://mimamori.example.jp/alerts/12"),
            "{text}"
        );
    }

    #[test]
    fn escalations_reminders_and_who_took_it() {
        let open = alert(AlertKind::Inactivity, AlertState::Open);
        assert!(
            render(&ctx(), &open, Event::Escalated, Some(1), None)
                .title
                .starts_with("【エスカレーション・未対応】")
        );
        assert!(
            render(&ctx(), &open, Event::Escalated, Some(3), None)
                .title
                .starts_with("【再通知・未対応 3回目】")
        );
        let mut taken = alert(AlertKind::Inactivity, AlertState::Acknowledged);
        taken.acknowledged_at = Some(taken.opened_at);
        let m = render(&ctx(), &taken, Event::Acknowledged, None, Some("鈴木"));
        assert!(m.title.starts_with("【対応中】"));
        assert!(
            m.text()
                .contains("状態: 対応中（鈴木 2026年12月01日 22:05）")
        );
        let mut done = alert(AlertKind::Inactivity, AlertState::Resolved);
        done.outcome = Some(Outcome::Safe);
        assert!(
            render(&ctx(), &done, Event::Resolved, None, None)
                .text()
                .contains("解決（無事確認）")
        );
    }

    #[test]
    fn a_routed_alert_says_it_came_from_the_city() {
        let mut a = alert(AlertKind::Concern, AlertState::Open);
        a.subject = Subject::Address("石川1234".into());
        let m = render(&ctx(), &a, Event::Routed, None, None);
        assert!(
            m.title
                .starts_with("【見守り協力事業者からの連絡・市から振り分け】"),
            "{}",
            m.title
        );
        assert!(!m.text().contains("石川"), "{}", m.text());
    }

    #[test]
    fn an_address_subject_is_not_shown() {
        let mut a = alert(AlertKind::Concern, AlertState::Open);
        a.subject = Subject::Address("鵠沼海岸2丁目".into());
        a.district = None;
        let m = render(&ctx(), &a, Event::Raised, None, None);
        assert!(!m.text().contains("鵠沼海岸"), "{}", m.text());
        assert!(m.text().contains("地区不明"));
        assert!(!m.html().contains("鵠沼海岸"));
    }
}
