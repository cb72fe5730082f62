//! What the machine was doing during a measurement, read from `/proc` (Linux; elsewhere the
//! figures are simply missing): CPU time of the whole machine and of single threads and processes,
//! where a thread was waiting, and the open-files limit a benchmark must fit in.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc`'s CPU times (`_SC_CLK_TCK`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// The machine's CPU time counters (`/proc/stat`): total, idle (with I/O wait), stolen.
pub struct CpuTimes {
    total: u64,
    idle: u64,
    steal: u64,
}

impl CpuTimes {
    /// The counters now.
    pub fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let f: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal …
        Some(CpuTimes {
            total: f.iter().take(8).sum(),
            idle: f.get(3)? + f.get(4)?,
            steal: *f.get(7)?,
        })
    }

    /// Busy and stolen time since `before`, in % of all CPU time (stolen: taken by the hypervisor
    /// for other guests, the usual cause of a virtual machine's latency spikes).
    pub fn since(&self, before: &CpuTimes) -> (f64, f64) {
        let total = (self.total - before.total).max(1) as f64;
        let idle = (self.idle - before.idle) as f64;
        let steal = (self.steal - before.steal) as f64;
        (
            100.0 * (total - idle - steal) / total,
            100.0 * steal / total,
        )
    }
}

/// The soft limit on open files of this process (`ulimit -n`).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Connection attempts the kernel has dropped so far because a listener's queue of connections
/// waiting for `accept` was full (`TcpExt: ListenDrops`, all of the machine's listeners): each
/// such client waits for its retransmission, 1 s, then 3, 7, 15 s after its first try.
pub fn listen_drops() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut tcp_ext = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next()?, tcp_ext.next()?);
    let at = names.split_whitespace().position(|n| n == "ListenDrops")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// The resident set of a process (`VmRSS`), in bytes.
pub fn process_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The machine's load average over the last minute (`/proc/loadavg`).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU seconds (user + system) a process has used so far.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// State and CPU seconds of a `/proc/…/stat` line.
fn stat_fields(stat: &str) -> Option<(char, f64)> {
    // "pid (name) S ppid …": the name may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let state = f.first()?.chars().next()?;
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((state, ticks as f64 / TICKS_PER_SECOND))
}

fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    stat_fields(stat).map(|(_, cpu)| cpu)
}

/// Where a thread was, over the samples taken.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadStates {
    /// On a CPU or waiting for one.
    pub running: u32,
    /// Asleep on a futex: a lock, or a blocking channel receive such as a reply from another
    /// thread.
    pub blocked: u32,
    /// Asleep in epoll: an idle event loop waiting for the network.
    pub idle: u32,
    /// Asleep elsewhere in the kernel.
    pub other: u32,
    /// CPU seconds used while sampled.
    pub cpu_seconds: f64,
}

impl ThreadStates {
    pub fn samples(&self) -> u32 {
        self.running + self.blocked + self.idle + self.other
    }

    /// `part` in % of the samples.
    pub fn share(&self, part: u32) -> f64 {
        100.0 * part as f64 / self.samples().max(1) as f64
    }
}

/// Samples, about once a millisecond, where the named threads of this process are (running,
/// blocked on a futex, idle in epoll) and how much CPU they use: the evidence of which thread a
/// measurement waited for.
pub struct ThreadSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<HashMap<String, ThreadStates>>,
}

impl ThreadSampler {
    /// Starts sampling the threads whose names start with one of `names` (Linux thread names
    /// are cut at 15 characters), counted under that prefix.
    pub fn start(names: &[&str]) -> Self {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || {
            let threads = named_threads(&names);
            let cpu_at_start: Vec<f64> = threads.iter().map(|(_, tid)| cpu_of(*tid)).collect();
            let mut states: HashMap<String, ThreadStates> = HashMap::new();
            let mut next = Instant::now();
            while !stopped.load(Ordering::Relaxed) {
                for (name, tid) in &threads {
                    let s = states.entry(name.clone()).or_default();
                    match sample(*tid) {
                        Some(Where::Running) => s.running += 1,
                        Some(Where::Blocked) => s.blocked += 1,
                        Some(Where::Idle) => s.idle += 1,
                        Some(Where::Other) => s.other += 1,
                        None => {}
                    }
                }
                next += Duration::from_millis(1);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            for ((name, tid), start) in threads.iter().zip(cpu_at_start) {
                states.entry(name.clone()).or_default().cpu_seconds += cpu_of(*tid) - start;
            }
            states
        });
        Self { stop, handle }
    }

    /// Stops sampling; the states per thread name.
    pub fn finish(self) -> HashMap<String, ThreadStates> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

enum Where {
    Running,
    Blocked,
    Idle,
    Other,
}

fn named_threads(names: &[String]) -> Vec<(String, u32)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| {
            let tid: u32 = t.ok()?.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).ok()?;
            let name = name.trim_end();
            names
                .iter()
                .find(|n| name.starts_with(n.as_str()))
                .map(|n| (n.clone(), tid))
        })
        .collect()
}

fn cpu_of(tid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
        .ok()
        .and_then(|s| stat_cpu_seconds(&s))
        .unwrap_or(0.0)
}

fn sample(tid: u32) -> Option<Where> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let (state, _) = stat_fields(&stat)?;
    if state == 'R' {
        return Some(Where::Running);
    }
    // The kernel function the thread sleeps in.
    let wchan = std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan")).ok()?;
    Some(if wchan.contains("futex") {
        Where::Blocked
    } else if wchan.contains("ep_poll") || wchan.contains("epoll") {
        Where::Idle
    } else if wchan == "0" {
        Where::Running
    } else {
        Where::Other
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(stat_fields(line), Some(('S', 3.0)));
    }
}
