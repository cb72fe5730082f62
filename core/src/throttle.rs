//! Throttling of failed authentication, per client: after `max` failures (a wrong token at
//! sign-in, on the report form or the APIs) within `window`, the client is refused until that
//! window ends. Tokens are long random strings, so guessing is hopeless anyway; this keeps a flood
//! of attempts from costing a database lookup each, and makes one visible. In memory, per process:
//! several web servers each count their own.
//!
//! Time comes from the caller (`now`), so tests drive it without waiting.

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Above this many clients, windows that have ended are dropped as new failures come.
const PRUNE_ABOVE: usize = 10_000;

/// See the module documentation.
#[derive(Debug)]
pub struct AuthThrottle {
    max: u32,
    window: Duration,
    clients: Mutex<HashMap<String, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: DateTime<Utc>,
    failures: u32,
}

impl AuthThrottle {
    /// `max` failures per `window`; `max == 0` never refuses.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds)` to wait when `client` has used up its failures; `None` to let it try.
    pub fn refused(&self, client: &str, now: DateTime<Utc>) -> Option<u64> {
        if self.max == 0 {
            return None;
        }
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let w = clients.get(client)?;
        let ends = w.started + self.window;
        (w.failures >= self.max && now < ends).then(|| (ends - now).num_seconds().max(1) as u64)
    }

    /// Counts a failure of `client`.
    pub fn failed(&self, client: &str, now: DateTime<Utc>) {
        if self.max == 0 {
            return;
        }
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if clients.len() > PRUNE_ABOVE {
            clients.retain(|_, w| now < w.started + self.window);
        }
        let w = clients.entry(client.to_string()).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= w.started + self.window {
            *w = Window {
                started: now,
                failures: 0,
            };
        }
        w.failures += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::seconds(s)
    }

    #[test]
    fn a_client_is_refused_after_its_failures_until_the_window_ends() {
        let th = AuthThrottle::new(3, Duration::minutes(10));
        for s in 0..3 {
            assert_eq!(th.refused("10.0.0.1", t(s)), None);
            th.failed("10.0.0.1", t(s));
        }
        assert_eq!(th.refused("10.0.0.1", t(5)), Some(595));
        assert_eq!(
            th.refused("10.0.0.2", t(5)),
            None,
            "others are not affected"
        );
        assert_eq!(th.refused("10.0.0.1", t(600)), None, "the window has ended");
        th.failed("10.0.0.1", t(601));
        assert_eq!(
            th.refused("10.0.0.1", t(602)),
            None,
            "a new window counts afresh"
        );
    }

    #[test]
    fn zero_means_no_limit() {
        let th = AuthThrottle::new(0, Duration::minutes(10));
        for s in 0..100 {
            th.failed("x", t(s));
        }
        assert_eq!(th.refused("x", t(100)), None);
    }
}
