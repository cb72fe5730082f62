//! # mimamori-bench
//!
//! Benchmarks of the whole path, each a command that prints its figures beside a baseline
//! measured in the same run (see docs/BENCHMARKS.md):
//!
//! - `alert-bench`: press → alert on the alerts topic under device load, beside the bare broker.
//! - `reconnect-bench`: ten thousand devices reconnecting at once, and press → receipt while
//!   hundreds of connections guess a device's password; beside rumqttd without logins, Mosquitto,
//!   and the same presses without the attack.
//! - `ingest-bench`: how many signed device events a second the gateway stores, at saturation and
//!   at fixed rates, beside the bare brokers' publish → subscribe rate.
//! - `figures-bench`: the coordinator's figures page for a month of a 1,000-resident year of
//!   alerts, beside the same page of an empty month and `/healthz`, on SQLite or PostgreSQL.
//!
//! What the benchmarks share: [`wire`], the MQTT packets of a connecting client; [`machine`], CPU
//! time of the machine, of processes and of single threads; [`latency`], percentiles;
//! [`brokers`], Mosquitto as a baseline; [`fleet`], the devices stored before a run; [`database`],
//! the run's own store (a temporary SQLite file, or a PostgreSQL database created and dropped);
//! [`helper`], the binary started again as the load's own process; [`args`], the command line.
#![forbid(unsafe_code)]

/// The allocator of the `mimamori` binary (see its `main.rs`), so that every benchmark, which runs
/// the platform in its own process, measures what `mimamori up` does.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod args;
pub mod brokers;
pub mod database;
pub mod fleet;
pub mod helper;
pub mod latency;
pub mod machine;
pub mod wire;
