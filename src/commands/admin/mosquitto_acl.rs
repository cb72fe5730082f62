//! `mimamori admin mosquitto-acl` and `mimamori admin nats-authorization`: the configuration of an
//! external broker (Mosquitto's `acl_file`, NATS's `authorization` block) with the same topic
//! rights as the embedded one, made from the configuration and the store. The rules themselves
//! live in `mimamori_broker`.

use super::Context;
use crate::Failure;
use mimamori_broker::{ExternalLogin, Login};
use mimamori_core::domain::DeviceKind;
use std::collections::HashMap;

pub(super) async fn run(cx: Context<'_>) -> Result<(), Failure> {
    let hubs: Vec<String> = cx
        .store
        .list_devices(None)
        .await?
        .into_iter()
        .filter(|d| d.kind == DeviceKind::Hub && d.enabled)
        .map(|d| d.id.to_string())
        .collect();
    let integrations: Vec<(String, Option<String>)> = cx
        .store
        .list_integrations()
        .await?
        .into_iter()
        .filter(|i| i.enabled)
        .map(|i| (i.id, i.district.map(|d| d.to_string())))
        .collect();
    print!(
        "{}",
        mimamori_broker::mosquitto_acl(
            &cx.config.mqtt.username,
            &cx.config.gateway.zigbee2mqtt_topic,
            &hubs,
            &integrations,
        )
    );
    Ok(())
}

pub(super) async fn nats(cx: Context<'_>, passwords: &std::path::Path) -> Result<(), Failure> {
    let text = std::fs::read_to_string(passwords)
        .map_err(|e| Failure::Input(format!("--passwords {}: {e}", passwords.display())))?;
    let mut known: HashMap<&str, &str> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(char::is_whitespace) {
            Some((user, password)) if !password.trim().is_empty() => {
                known.insert(user, password.trim());
            }
            _ => {
                return Err(Failure::Input(format!(
                    "--passwords {} line {}: expected `USERNAME PASSWORD`",
                    passwords.display(),
                    n + 1
                )));
            }
        }
    }
    let service_password = cx.config.mqtt.password.expose_secret();
    if service_password.is_empty() {
        return Err(Failure::Config(
            "mqtt.password: the platform's own login on NATS needs it (MIMAMORI__MQTT__PASSWORD)"
                .into(),
        ));
    }
    let mut logins: Vec<(String, Login)> = cx
        .store
        .list_devices(None)
        .await?
        .into_iter()
        .filter(|d| d.enabled)
        .map(|d| {
            let id = d.id.to_string();
            let login = Login::Device {
                id: id.clone(),
                hub: d.kind == DeviceKind::Hub,
            };
            (id, login)
        })
        .collect();
    logins.extend(cx.store.list_partners().await?.into_iter().map(|p| {
        let id = p.id.to_string();
        (id.clone(), Login::Partner { id })
    }));
    logins.extend(
        cx.store
            .list_integrations()
            .await?
            .into_iter()
            .filter(|i| i.enabled)
            .map(|i| {
                let district = i.district.map(|d| d.to_string());
                (i.id, Login::Integration { district })
            }),
    );
    let mut missing = Vec::new();
    let external: Vec<ExternalLogin> = logins
        .into_iter()
        .filter_map(|(username, login)| match known.get(username.as_str()) {
            Some(password) => Some(ExternalLogin {
                password: password.to_string(),
                username,
                login,
            }),
            None => {
                missing.push(username);
                None
            }
        })
        .collect();
    print!(
        "{}",
        mimamori_broker::nats_authorization(
            &cx.config.mqtt.username,
            service_password,
            &cx.config.gateway.zigbee2mqtt_topic,
            &external,
        )
    );
    for m in &missing {
        println!(
            "# not in {}: {m} (it cannot log in to NATS)",
            passwords.display()
        );
    }
    if !missing.is_empty() {
        eprintln!(
            "{} login(s) have no password in {} and were left out: {}",
            missing.len(),
            passwords.display(),
            missing.join(", ")
        );
    }
    Ok(())
}
