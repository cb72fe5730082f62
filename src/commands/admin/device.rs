//! `mimamori admin device …`: register a device in a resident's home — issuing its MQTT password
//! (shown once) and the key it signs messages with — and list devices.

use super::{Context, input, print_json};
use crate::Failure;
use crate::cli::DeviceCommand;
use mimamori_core::domain::*;
use mimamori_core::secret;
use serde_json::json;

pub(super) async fn run(command: DeviceCommand, cx: Context<'_>) -> Result<(), Failure> {
    let Context { store, now, .. } = cx;
    match command {
        DeviceCommand::Add {
            resident,
            kind,
            label,
            heartbeat_interval,
            zigbee_name,
            id,
            output,
        } => {
            let kind: DeviceKind = kind.parse().map_err(input)?;
            let resident = resident.map(ResidentId::parse).transpose().map_err(input)?;
            if heartbeat_interval <= 0 {
                return Err(Failure::Input(
                    "--heartbeat-interval must be a positive number of seconds".into(),
                ));
            }
            let id = match id {
                Some(id) => DeviceId::parse(id).map_err(input)?,
                None => DeviceId::generate(),
            };
            if id
                .as_str()
                .starts_with(mimamori_broker::SERVICE_CLIENT_PREFIX)
            {
                return Err(Failure::Input(format!(
                    "mimamori: device ids may not start with {:?}: it is reserved for the platform",
                    mimamori_broker::SERVICE_CLIENT_PREFIX
                )));
            }
            let external_id = match zigbee_name {
                Some(n) if n.trim().is_empty() || n.contains(['/', '+', '#']) => {
                    return Err(Failure::Input(format!(
                        "mimamori: {n:?} is not a zigbee2mqtt friendly name"
                    )));
                }
                Some(n) => Some(format!("z2m:{n}")),
                None => None,
            };
            let password = secret::generate_device_password();
            let secret_hash = secret::device_secret_hash(&password);
            let new = NewDevice {
                id,
                resident,
                kind,
                label,
                external_id,
                heartbeat_interval_s: heartbeat_interval,
                secret_hash,
                mac_key: secret::device_mac_key(&password),
            };
            let d = store.add_device(&new, now).await.map_err(input)?;
            store
                .record_change(&Subject::Device(d.id.clone()), "device", now)
                .await?;
            cx.audit(
                "device.add",
                "device",
                d.id.as_str(),
                json!({ "kind": d.kind, "resident": d.resident }),
            )
            .await?;
            if output.json {
                return print_json(
                    &json!({ "id": d.id, "secret": password, "username": d.id, "kind": d.kind, "resident": d.resident }),
                );
            }
            println!(
                "登録しました / added: device {} ({})",
                d.id,
                d.kind.label_ja()
            );
            println!("MQTT username: {}", d.id);
            println!("MQTT password: {password}");
            println!(
                "このパスワードは再表示できません。機器に設定してください / shown once: set it on the device now."
            );
        }
        DeviceCommand::List { resident, output } => {
            let resident = resident.map(ResidentId::parse).transpose().map_err(input)?;
            let devices = store.list_devices(resident.as_ref()).await?;
            if output.json {
                return print_json(&devices);
            }
            for d in devices {
                println!(
                    "{:<16} {:<12} {:<14} {}",
                    d.id,
                    d.kind,
                    d.resident.as_ref().map(ResidentId::as_str).unwrap_or("-"),
                    if d.enabled { "enabled" } else { "disabled" }
                );
            }
        }
    }
    Ok(())
}
