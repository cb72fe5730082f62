//! `mimamori simulate --devices N`: simulated homes living through accelerated days against a
//! running broker (`mimamori up` in another terminal, or the broker of `mqtt.url`). Its homes are
//! its own (`r-load-…`, `load-…` devices): run beside `mimamori up --demo`, it never re-keys the
//! demo's devices.

use crate::Failure;
use mimamori_core::config::Config;
use mimamori_devices::routine::Routine;
use mimamori_devices::simulate::{self, Settings};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(config: Config, devices: usize, speed: f64) -> Result<(), Failure> {
    crate::telemetry::init(&config.log);
    if devices == 0 || !(speed > 0.0 && speed <= 100_000.0) {
        return Err(Failure::Input(
            "--devices must be at least 1 and --speed between 0 and 100000".into(),
        ));
    }
    let (store, registry) = super::open(&config).await?;
    let households = devices.div_ceil(4);
    let homes = crate::simulation::provision(
        &store,
        &registry,
        crate::simulation::Fleet::SIMULATE,
        households,
    )
    .await?;
    let broker = mimamori_core::endpoint::MqttEndpoint::resolve(&config, None, String::new())
        .map_err(Failure::Config)?;
    println!(
        "mimamori simulate: {households} homes, {} devices, {speed}× real time, broker {}",
        households * 4,
        broker.brokers_text()
    );
    let shutdown = CancellationToken::new();
    let settings = Settings {
        brokers: broker.brokers,
        speed,
        timezone: config.timezone().map_err(Failure::Config)?,
        routine: Routine::default(),
        heartbeat: chrono::Duration::minutes(5),
        opening_emergency: false,
    };
    let sim = tokio::spawn(simulate::run(homes, settings, shutdown.clone()));
    let report = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => println!("mimamori simulate: running (Ctrl+C to stop)"),
                }
            }
        }
    });
    let _ = tokio::signal::ctrl_c().await;
    shutdown.cancel();
    let totals = sim.await.map_err(|e| Failure::Other(e.into()))?;
    let _ = report.await;
    println!(
        "mimamori simulate: {} events sent ({} emergencies)",
        totals.events.load(Ordering::Relaxed),
        totals.emergencies.load(Ordering::Relaxed)
    );
    store.close().await;
    Ok(())
}
