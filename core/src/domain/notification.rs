//! Notifications: the delivery outbox. A row is written in the same transaction as the decision
//! to notify, then claimed and sent by a worker.

use super::AlertId;
use super::kinds::vocabulary;
use chrono::{DateTime, Utc};

vocabulary! {
    /// The channel a notification goes out on.
    Channel, "channel" {
        Telegram => ("telegram", "Telegram"),
        Email => ("email", "メール"),
        Mqtt => ("mqtt", "MQTT"),
        Webhook => ("webhook", "Webhook"),
    }
}

vocabulary! {
    /// Where a notification is in delivery.
    NotificationStatus, "notification_status" {
        /// Waiting for its `next_attempt_at`.
        Pending => ("pending", "送信待ち"),
        /// Claimed by a worker until `claimed_until`.
        Sending => ("sending", "送信中"),
        Sent => ("sent", "送信済み"),
        /// Failed permanently (bad address, blocked bot): flagged to operators.
        Failed => ("failed", "送信失敗"),
        /// The alert was resolved before it went out.
        Cancelled => ("cancelled", "取消"),
    }
}

/// A notification to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub channel: Channel,
    /// Channel address: chat id, email address, topic, URL.
    pub target: String,
    pub body: serde_json::Value,
    pub not_before: DateTime<Utc>,
}

/// A notification row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Notification {
    pub id: i64,
    pub alert: AlertId,
    pub channel: Channel,
    pub target: String,
    pub body: serde_json::Value,
    pub status: NotificationStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub claimed_by: Option<String>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}
