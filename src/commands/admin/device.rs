//! `mimamori admin device …`: register a device in a resident's home — issuing its MQTT password
//! (shown once) and the key it signs messages with — list devices, disable and enable them, and
//! give one a new secret. Disabling and rotating drop the device's open MQTT connection (the
//! embedded broker reads the store's revocation feed). What each change does is
//! `mimamori_core::admin`'s, shared with the admin pages; here only the printing.

use super::{Context, input, print_json};
use crate::Failure;
use crate::cli::DeviceCommand;
use mimamori_core::admin::DeviceDraft;
use mimamori_core::domain::*;
use serde_json::json;

pub(super) async fn run(command: DeviceCommand, cx: Context<'_>) -> Result<(), Failure> {
    let Context { store, .. } = cx;
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
            let (d, password) = cx
                .admin()
                .add_device(DeviceDraft {
                    id,
                    resident,
                    kind,
                    label,
                    heartbeat_interval_s: heartbeat_interval,
                    zigbee_name,
                })
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
            print_secret(&d.id, &password);
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
        DeviceCommand::Disable { id, output } => set_enabled(cx, id, false, output.json).await?,
        DeviceCommand::Enable { id, output } => set_enabled(cx, id, true, output.json).await?,
        DeviceCommand::RotateSecret { id, output } => {
            let (id, password) = cx.admin().rotate_device_secret(&id).await?;
            if output.json {
                return print_json(&json!({ "id": id, "secret": password, "username": id }));
            }
            println!(
                "新しいパスワードを発行しました。古いパスワードは使えません / new secret for device {id}; the old one no longer works."
            );
            print_secret(&id, &password);
        }
    }
    Ok(())
}

/// Disables or enables a device; disabling drops its open connection.
async fn set_enabled(
    cx: Context<'_>,
    id: String,
    enabled: bool,
    json: bool,
) -> Result<(), Failure> {
    let id = cx.admin().set_device_enabled(&id, enabled).await?;
    if json {
        return print_json(&json!({ "id": id, "enabled": enabled }));
    }
    if enabled {
        println!("有効にしました / enabled: device {id}");
    } else {
        println!(
            "無効にしました。接続中なら切断されます / disabled: device {id}; its connection, if any, is dropped."
        );
    }
    Ok(())
}

/// How a device's MQTT login is shown, once.
fn print_secret(id: &DeviceId, password: &str) {
    println!("MQTT username: {id}");
    println!("MQTT password: {password}");
    println!(
        "このパスワードは再表示できません。機器に設定してください / shown once: set it on the device now."
    );
}
