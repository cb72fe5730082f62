//! `mimamori admin mosquitto-acl`: the Mosquitto `acl_file` for an external broker, with the same
//! topic rights as the embedded one, made from the configuration and the store (hubs and
//! integrations have rules of their own). The rules themselves live in `mimamori_broker`.

use super::Context;
use crate::Failure;
use mimamori_core::domain::DeviceKind;

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
