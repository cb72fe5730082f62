//! Who is told about an alert event, on which channel: the integration channels (MQTT, webhooks)
//! and the people of the teams it is routed to (Telegram, email), plus residents' contacts who
//! consented. The result is notification rows, written by the caller in the same transaction as
//! the decision.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use mimamori_core::config::{NotifyConfig, WebhookConfig};
use mimamori_core::domain::{
    Alert, AlertKind, Channel, NewNotification, Responder, Subject, TeamId,
};
use mimamori_core::storage::{StorageError, Store};

/// The target of MQTT notifications: the topic is the alert's own, known once it has an id.
pub const MQTT_ALERT_TOPIC: &str = "alert-topic";

/// What happened to an alert, as the notification rows (`body.event`), the MQTT and webhook
/// payloads and the messages say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A new alert, or new evidence joining an open one.
    Raised,
    /// An escalation step (and every reminder after it).
    Escalated,
    /// The coordinator sent an alert from the triage queue to a district's team.
    Routed,
    Acknowledged,
    Resolved,
}

impl Event {
    /// The name in notification rows and payloads.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Raised => "raised",
            Event::Escalated => "escalated",
            Event::Routed => "routed",
            Event::Acknowledged => "acknowledged",
            Event::Resolved => "resolved",
        }
    }

    /// The event a stored name stands for; `None` for a name no version wrote.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Event::Raised,
            Event::Escalated,
            Event::Routed,
            Event::Acknowledged,
            Event::Resolved,
        ]
        .into_iter()
        .find(|e| e.as_str() == name)
    }
}

/// One alert event to tell people about.
#[derive(Debug, Clone, Copy)]
pub struct Tell<'a> {
    pub event: Event,
    /// The teams to tell, the alert's own among them.
    pub teams: &'a [&'a str],
    /// The escalation step, for escalations.
    pub step: Option<i64>,
    pub subject: &'a Subject,
    pub kind: AlertKind,
}

/// Which channels receive what: built from `[notify]`.
#[derive(Debug, Clone)]
pub struct Targets {
    pub mqtt_alerts: bool,
    pub webhooks: Vec<WebhookConfig>,
    /// Tell responders in their linked Telegram chats.
    pub telegram: bool,
    /// Tell responders, and consenting contacts of residents, by email.
    pub email: bool,
    /// The city's zone, for responders' office hours.
    pub timezone: Tz,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            mqtt_alerts: false,
            webhooks: Vec::new(),
            telegram: false,
            email: false,
            timezone: chrono_tz::Asia::Tokyo,
        }
    }
}

/// Alert kinds a resident's contacts may be told about (with consent): the person's wellbeing.
const FOR_CONTACTS: [AlertKind; 4] = [
    AlertKind::Emergency,
    AlertKind::Inactivity,
    AlertKind::DailyWindow,
    AlertKind::CheckinMissed,
];

impl Targets {
    pub fn from_config(notify: &NotifyConfig, timezone: Tz) -> Self {
        Self {
            mqtt_alerts: notify.mqtt_alerts,
            webhooks: notify.webhooks.clone(),
            telegram: notify.telegram.enabled,
            email: notify.email.enabled,
            timezone,
        }
    }

    /// The integration notifications (MQTT, webhooks) of one alert event for `teams`.
    pub fn notifications(
        &self,
        event: Event,
        teams: &[&str],
        step: Option<i64>,
        at: DateTime<Utc>,
    ) -> Vec<NewNotification> {
        let body = serde_json::json!({ "event": event.as_str(), "teams": teams, "step": step });
        let mut out = Vec::new();
        if self.mqtt_alerts {
            out.push(row(
                Channel::Mqtt,
                MQTT_ALERT_TOPIC.into(),
                body.clone(),
                at,
            ));
        }
        for w in &self.webhooks {
            if w.teams.is_empty() || w.teams.iter().any(|t| teams.contains(&t.as_str())) {
                out.push(row(Channel::Webhook, w.url.clone(), body.clone(), at));
            }
        }
        out
    }

    /// Everything to send when an alert is raised or escalated: the integrations, the people of
    /// the teams on duty (everyone of a team when nobody is), and — for a new alert about a
    /// resident's wellbeing — the contacts who consented.
    pub async fn plan(
        &self,
        store: &Store,
        tell: &Tell<'_>,
        at: DateTime<Utc>,
    ) -> Result<Vec<NewNotification>, StorageError> {
        let Tell {
            event,
            teams,
            step,
            subject,
            kind,
        } = *tell;
        let mut out = self.notifications(event, teams, step, at);
        if self.telegram || self.email {
            for team in teams {
                let Ok(team) = team.parse::<TeamId>() else {
                    continue;
                };
                for r in self.on_duty(store.team_responders(&team).await?, at) {
                    let body = serde_json::json!({
                        "event": event.as_str(), "teams": teams, "step": step, "responder": r.id,
                    });
                    if self.telegram
                        && let Some(chat) = r.telegram_chat_id
                    {
                        out.push(row(Channel::Telegram, chat.to_string(), body.clone(), at));
                    }
                    if self.email
                        && let Some(email) = &r.email
                    {
                        out.push(row(Channel::Email, email.as_str().to_string(), body, at));
                    }
                }
            }
        }
        if self.email
            && event == Event::Raised
            && FOR_CONTACTS.contains(&kind)
            && let Subject::Resident(resident) = subject
        {
            for c in store
                .consenting_contacts(resident, "alert email", at)
                .await?
            {
                let Some(email) = c.email.filter(|e| e.contains('@')) else {
                    continue;
                };
                let body = serde_json::json!({
                    "event": event.as_str(), "teams": teams, "step": step, "contact": true,
                });
                out.push(row(Channel::Email, email, body, at));
            }
        }
        // One row per channel and address, even if a person is in two of the teams.
        let mut seen = std::collections::HashSet::new();
        out.retain(|n| seen.insert((n.channel, n.target.clone())));
        Ok(out)
    }

    /// Everything to send when an alert is acknowledged or resolved: the integrations, and an
    /// update of every Telegram message sent about it (everyone sees who took it).
    pub async fn plan_update(
        &self,
        store: &Store,
        alert: &Alert,
        event: Event,
        at: DateTime<Utc>,
    ) -> Result<Vec<NewNotification>, StorageError> {
        let teams: Vec<&str> = alert.team.iter().map(|t| t.as_str()).collect();
        let mut out = self.notifications(event, &teams, None, at);
        if self.telegram {
            let mut chats = std::collections::BTreeSet::new();
            for m in store.telegram_messages(alert.id).await? {
                chats.insert(m.chat_id);
            }
            for chat in chats {
                let body = serde_json::json!({ "event": event.as_str(), "teams": teams });
                out.push(row(Channel::Telegram, chat.to_string(), body, at));
            }
        }
        Ok(out)
    }

    /// Responders on duty now; all of them when nobody is (an alert never reaches no one).
    fn on_duty(&self, responders: Vec<Responder>, at: DateTime<Utc>) -> Vec<Responder> {
        use chrono::Datelike;
        let local = at.with_timezone(&self.timezone);
        let (on, off): (Vec<_>, Vec<_>) = responders.into_iter().partition(|r| {
            r.office_hours
                .as_ref()
                .is_none_or(|h| h.contains(local.weekday(), local.time()))
        });
        if on.is_empty() { off } else { on }
    }
}

/// What a notification row for a person says: the body [`Targets::plan`] and
/// [`Targets::plan_update`] write, read back by the Telegram and email channels.
#[derive(Debug, Clone, PartialEq)]
pub struct Told {
    pub event: Event,
    pub step: Option<i64>,
    /// The responder the row is for; `None` for a contact or an update of a chat.
    pub responder: Option<mimamori_core::domain::ResponderId>,
    /// A resident's contact, not a responder.
    pub contact: bool,
}

impl Told {
    pub fn of(n: &mimamori_core::domain::Notification) -> Self {
        Self {
            event: n
                .body
                .get("event")
                .and_then(|e| e.as_str())
                .and_then(Event::parse)
                .unwrap_or(Event::Raised),
            step: n.body.get("step").and_then(|s| s.as_i64()),
            responder: n
                .body
                .get("responder")
                .and_then(|r| r.as_str())
                .and_then(|r| mimamori_core::domain::ResponderId::parse(r).ok()),
            contact: n.body.get("contact").and_then(|c| c.as_bool()) == Some(true),
        }
    }
}

fn row(
    channel: Channel,
    target: String,
    body: serde_json::Value,
    at: DateTime<Utc>,
) -> NewNotification {
    NewNotification {
        channel,
        target,
        body,
        not_before: at,
    }
}
