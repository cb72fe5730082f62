//! Records read from the store (devices, partners' access), kept for a short while so that a busy
//! sender costs one query per expiry rather than one per message — and bounded, because the keys
//! come from topics: anyone connected to the broker can name a million ids that do not exist.
//!
//! - Every entry expires: found records after their time (a disabled device or a revoked partner
//!   takes effect within it), ids not found ("negative" entries) sooner, so a device registered
//!   just now is seen quickly.
//! - At most `cap` entries, in two generations: new entries go into the young one; when it holds
//!   half the cap it becomes the old one, and the previous old generation — the oldest half — is
//!   dropped whole. A flood of new ids therefore evicts the oldest entries and never grows the
//!   cache past the cap, at a constant cost per insert.
//! - [`Cache::sweep`] drops what has expired and shrinks the maps, so that the memory of a flood is
//!   given back once it is over.
//!
//! Time is the caller's (`now`, from the injected clock), so tests drive expiry without waiting.

use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// See the module documentation.
#[derive(Debug)]
pub struct Cache<V> {
    /// Most entries held, both generations together.
    cap: usize,
    generations: Mutex<Generations<V>>,
}

#[derive(Debug)]
struct Generations<V> {
    /// Where new entries go; at `cap / 2` entries it becomes `old`.
    young: HashMap<String, Entry<V>>,
    /// The generation before: still read, dropped whole when `young` fills again.
    old: HashMap<String, Entry<V>>,
}

#[derive(Debug, Clone)]
struct Entry<V> {
    value: V,
    read_at: DateTime<Utc>,
    expires: DateTime<Utc>,
}

impl<V: Clone> Cache<V> {
    /// A cache of at most `cap` entries (at least 2).
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(2),
            generations: Mutex::new(Generations {
                young: HashMap::new(),
                old: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations<V>> {
        self.generations.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of `key` and when it was read, unless it has expired at `now`.
    pub fn get(&self, key: &str, now: DateTime<Utc>) -> Option<(V, DateTime<Utc>)> {
        let g = self.lock();
        g.young
            .get(key)
            .or_else(|| g.old.get(key))
            .filter(|e| now < e.expires)
            .map(|e| (e.value.clone(), e.read_at))
    }

    /// Keeps `value`, read at `now`, for `ttl`.
    pub fn insert(&self, key: String, value: V, now: DateTime<Utc>, ttl: Duration) {
        let mut g = self.lock();
        g.old.remove(&key);
        if g.young.len() >= self.cap / 2 && !g.young.contains_key(&key) {
            g.old = std::mem::take(&mut g.young);
        }
        g.young.insert(
            key,
            Entry {
                value,
                read_at: now,
                expires: now + ttl,
            },
        );
    }

    /// Forgets `key`: it is read from the store next time.
    pub fn remove(&self, key: &str) {
        let mut g = self.lock();
        g.young.remove(key);
        g.old.remove(key);
    }

    /// How many entries are held, expired or not.
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.young.len() + g.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the entries expired at `now` and gives their memory back.
    pub fn sweep(&self, now: DateTime<Utc>) {
        let mut guard = self.lock();
        let g = &mut *guard;
        for map in [&mut g.young, &mut g.old] {
            map.retain(|_, e| now < e.expires);
            // A map keeps its largest size unless told: shrink it where the flood has passed.
            if map.capacity() > 2 * map.len() + 16 {
                map.shrink_to_fit();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        "2026-12-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::seconds(s)
    }

    #[test]
    fn entries_expire_after_their_own_time() {
        let c = Cache::new(10);
        c.insert("known".into(), Some(1), t(0), Duration::seconds(30));
        c.insert("unknown".into(), None::<i32>, t(0), Duration::seconds(5));
        assert_eq!(c.get("known", t(4)), Some((Some(1), t(0))));
        assert_eq!(c.get("unknown", t(4)), Some((None, t(0))));
        assert_eq!(c.get("unknown", t(5)), None, "negative entries go first");
        assert_eq!(c.get("known", t(29)), Some((Some(1), t(0))));
        assert_eq!(c.get("known", t(30)), None);
        assert_eq!(c.len(), 2, "expired entries are held until a sweep");
        c.sweep(t(30));
        assert!(c.is_empty());
    }

    #[test]
    fn a_flood_of_new_keys_never_passes_the_cap_and_evicts_the_oldest() {
        let c = Cache::new(1000);
        c.insert("first".into(), 0, t(0), Duration::hours(1));
        for i in 0..100_000 {
            c.insert(format!("id-{i}"), i, t(0), Duration::hours(1));
            assert!(c.len() <= 1000);
        }
        assert_eq!(c.get("first", t(1)), None, "the oldest were evicted");
        assert_eq!(c.get("id-99999", t(1)), Some((99_999, t(0))));
        assert!(c.len() > 500, "the newest half at least is kept");
    }

    #[test]
    fn a_key_read_again_is_held_once() {
        let c = Cache::new(4);
        c.insert("a".into(), 1, t(0), Duration::hours(1));
        c.insert("b".into(), 2, t(0), Duration::hours(1));
        // "a" and "b" are now the old generation.
        c.insert("a".into(), 3, t(1), Duration::hours(1));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("a", t(2)), Some((3, t(1))));
        c.remove("a");
        assert_eq!(c.get("a", t(2)), None);
        assert_eq!(c.get("b", t(2)), Some((2, t(0))));
    }

    #[test]
    fn a_sweep_after_a_flood_gives_the_memory_back() {
        let c = Cache::new(10_000);
        for i in 0..10_000 {
            c.insert(format!("id-{i}"), i, t(0), Duration::seconds(5));
        }
        let full = {
            let g = c.lock();
            g.young.capacity() + g.old.capacity()
        };
        assert!(full >= 10_000);
        c.sweep(t(5));
        let g = c.lock();
        assert_eq!(g.young.len() + g.old.len(), 0);
        assert!(
            g.young.capacity() + g.old.capacity() < 64,
            "shrunk, not just emptied"
        );
    }
}
