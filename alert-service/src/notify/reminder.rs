//! Check-in reminders to the resident's own devices: `mimamori/v1/devices/{id}/reminders`, signed
//! with the device's key (see docs/PROTOCOL.md). A reminder is a courtesy to the resident, not an
//! alert: it is published once (QoS 1), and the check-in alert follows after the grace period
//! whatever happened to it.

use crate::rules::Decision;
use mimamori_core::protocol::Reminder;
use mimamori_core::storage::{StorageError, Store};
use mimamori_core::topic;
use rumqttc::{AsyncClient, QoS};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The messages of a reminder decision: (topic, payload) for each of the resident's devices.
pub async fn messages(
    store: &Store,
    decision: &Decision,
) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
    let Decision::Reminder { devices, due, .. } = decision else {
        return Ok(Vec::new());
    };
    let due = due.to_rfc3339();
    let mut out = Vec::new();
    for id in devices {
        if let Some(device) = store.get_device(id).await?.filter(|d| d.enabled) {
            let reminder = Reminder::checkin(id.as_str(), &due, &device.mac_key);
            out.push((
                topic::device_reminders(id),
                serde_json::to_vec(&reminder).expect("reminder serialises"),
            ));
        }
    }
    Ok(out)
}

/// Publishes reminders as the alert service decides them, until `shutdown`.
pub async fn deliver(
    mut reminders: broadcast::Receiver<Decision>,
    store: Store,
    client: AsyncClient,
    shutdown: CancellationToken,
) {
    loop {
        let decision = tokio::select! {
            () = shutdown.cancelled() => break,
            d = reminders.recv() => match d {
                Ok(d) => d,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "Check-in reminders were dropped: the publisher fell behind.");
                    continue;
                }
                Err(_) => break,
            },
        };
        match messages(&store, &decision).await {
            Ok(messages) => {
                for (topic, payload) in messages {
                    if let Err(e) = client
                        .publish(topic, QoS::AtLeastOnce, false, payload)
                        .await
                    {
                        tracing::warn!(error = %e, "Cannot publish a check-in reminder.");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "Cannot prepare a check-in reminder."),
        }
    }
}
