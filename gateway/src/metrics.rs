//! Counters of ingestion, rendered in the Prometheus text format, and a rate limiter for the log
//! lines of dropped messages (a misbehaving device must not flood the log).

use crate::drop_reason::DropReason;
use mimamori_core::metrics::{Exposition, metric};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Ingestion counters; shared by every task of a gateway.
#[derive(Debug, Default)]
pub struct Metrics {
    pub received: AtomicU64,
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub receipts: AtomicU64,
    /// Device and partner records held by the ingestor's caches now (a gauge: capped).
    pub cached_records: AtomicU64,
    /// Senders whose security events are being counted now (a gauge: capped).
    pub security_windows: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    /// When each reason was last logged, and how many were not logged since.
    log_gate: Mutex<HashMap<DropReason, (Instant, u64)>>,
}

/// At most one log line per drop reason in this interval.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Metrics {
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize].load(Ordering::Relaxed)
    }

    /// Counts a dropped message and logs it, at most once per reason every 10 seconds.
    pub fn record_drop(&self, reason: DropReason, topic: &str) {
        self.dropped[reason as usize].fetch_add(1, Ordering::Relaxed);
        let mut gate = self.log_gate.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let entry = gate.entry(reason).or_insert((now - LOG_INTERVAL, 0));
        if now.duration_since(entry.0) >= LOG_INTERVAL {
            tracing::warn!(
                reason = reason.as_str(),
                topic,
                suppressed = entry.1,
                "Message dropped."
            );
            *entry = (now, 0);
        } else {
            entry.1 += 1;
        }
    }

    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl Exposition for Metrics {
    /// The Prometheus text exposition.
    fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "mimamori_gateway_messages_received_total",
                "Messages received from the broker.",
                &self.received,
            ),
            (
                "mimamori_gateway_signals_stored_total",
                "Signals stored.",
                &self.stored,
            ),
            (
                "mimamori_gateway_duplicates_total",
                "Messages already stored (same device and seq).",
                &self.duplicates,
            ),
            (
                "mimamori_gateway_receipts_sent_total",
                "Receipts published to devices.",
                &self.receipts,
            ),
        ];
        for (name, help, value) in counters {
            metric(
                &mut out,
                "counter",
                name,
                help,
                value.load(Ordering::Relaxed),
            );
        }
        let gauges = [
            (
                "mimamori_gateway_cached_records",
                "Device and partner records held in memory (capped; expired ones are swept).",
                &self.cached_records,
            ),
            (
                "mimamori_gateway_security_windows",
                "Senders whose security events are being counted in the current interval.",
                &self.security_windows,
            ),
        ];
        for (name, help, value) in gauges {
            metric(&mut out, "gauge", name, help, value.load(Ordering::Relaxed));
        }
        let name = "mimamori_gateway_messages_dropped_total";
        out.push_str(&format!(
            "# HELP {name} Messages refused, by reason.\n# TYPE {name} counter\n"
        ));
        for reason in DropReason::ALL {
            out.push_str(&format!(
                "{name}{{reason=\"{}\"}} {}\n",
                reason.as_str(),
                self.dropped(*reason)
            ));
        }
        out
    }
}
