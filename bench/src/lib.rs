//! # mimamori-bench
//!
//! Benchmarks of the whole path, each a command that prints its figures beside a baseline
//! measured in the same run (see docs/BENCHMARKS.md):
//!
//! - `alert-bench`: press → alert on the alerts topic under device load, beside the bare broker.
//!
//! What the benchmarks share: [`machine`], CPU time of the machine, of processes and of single
//! threads; [`latency`], percentiles.
#![forbid(unsafe_code)]

pub mod latency;
pub mod machine;
