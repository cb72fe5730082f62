//! The deadline queue: one entry per armed rule, earliest first, and the typed slot that says
//! which deadline of which rule an entry is.
//!
//! Entries are never removed when a rule is re-armed: each slot has a generation number, bumped
//! on every re-arm, and an entry whose generation is no longer current is skipped when it comes
//! up.

use chrono::{DateTime, Utc};
use mimamori_core::domain::CheckinPolicy;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Which deadline of which of a resident's rules an entry is. The number is the index of the
/// rule's policy in the resident's policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// An inactivity policy: when the silence reaches its limit.
    Inactivity(u16),
    /// A daily-window policy: the end of the window.
    DailyWindow(u16),
    /// A check-in policy: the end of its grace.
    Checkin(u16),
    /// A check-in policy: the reminder before it is due.
    CheckinReminder(u16),
}

impl Slot {
    /// The deadline that policy `index` always keeps armed.
    pub(super) fn deadline(index: usize, policy: &CheckinPolicy) -> Self {
        let index = index as u16;
        match policy {
            CheckinPolicy::Inactivity { .. } => Self::Inactivity(index),
            CheckinPolicy::DailyWindow { .. } => Self::DailyWindow(index),
            CheckinPolicy::Checkin { .. } => Self::Checkin(index),
        }
    }

    /// The reminder of policy `index`, for a check-in that asks for one.
    pub(super) fn reminder(index: usize, policy: &CheckinPolicy) -> Option<Self> {
        matches!(
            policy,
            CheckinPolicy::Checkin {
                remind_minutes_before: Some(_),
                ..
            }
        )
        .then_some(Self::CheckinReminder(index as u16))
    }

    /// How many slots (and generation numbers) a resident with `policies` policies has.
    pub(super) fn count(policies: usize) -> usize {
        policies * 2
    }

    /// Where the slot's generation number is kept: two per policy, the reminder's second.
    pub(super) fn index(self) -> usize {
        let (policy, _) = self.key();
        usize::from(policy) * 2 + usize::from(matches!(self, Self::CheckinReminder(_)))
    }

    /// The policy index, then the kind of deadline.
    fn key(self) -> (u16, u8) {
        match self {
            Self::Inactivity(p) => (p, 0),
            Self::DailyWindow(p) => (p, 1),
            Self::Checkin(p) => (p, 2),
            Self::CheckinReminder(p) => (p, 3),
        }
    }
}

/// By policy first: deadlines that come at the same instant are decided in the order of the
/// resident's policies, a check-in's before its reminder.
impl Ord for Slot {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Whose deadline an entry is (indexes into the engine's residents and devices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Owner {
    /// One rule of a resident.
    Resident(u32, Slot),
    /// A device's heartbeat.
    Device(u32),
}

/// One armed deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Entry {
    /// When it comes up; first, so the queue is ordered by it.
    pub(super) at: DateTime<Utc>,
    /// Whose deadline it is, and which.
    pub(super) owner: Owner,
    /// The owner's generation when it was armed: stale if the owner's has moved on since.
    pub(super) generation: u32,
}

/// Armed deadlines, earliest first; stale entries included until they come up.
#[derive(Debug)]
pub(super) struct DeadlineQueue {
    heap: BinaryHeap<Reverse<Entry>>,
}

impl DeadlineQueue {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Self {
            heap: BinaryHeap::with_capacity(capacity),
        }
    }

    pub(super) fn push(&mut self, at: DateTime<Utc>, owner: Owner, generation: u32) {
        self.heap.push(Reverse(Entry {
            at,
            owner,
            generation,
        }));
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<DateTime<Utc>> {
        self.heap.peek().map(|Reverse(e)| e.at)
    }

    /// Takes the earliest entry if it has come by `now`.
    pub(super) fn pop_due(&mut self, now: DateTime<Utc>) -> Option<Entry> {
        match self.heap.peek() {
            Some(Reverse(entry)) if entry.at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_come_in_the_order_of_the_policies_a_reminder_after_its_checkin() {
        let mut slots = vec![
            Slot::CheckinReminder(1),
            Slot::DailyWindow(2),
            Slot::Checkin(1),
            Slot::Inactivity(0),
        ];
        slots.sort();
        assert_eq!(
            slots,
            [
                Slot::Inactivity(0),
                Slot::Checkin(1),
                Slot::CheckinReminder(1),
                Slot::DailyWindow(2)
            ]
        );
        let indexes: Vec<usize> = slots.iter().map(|s| s.index()).collect();
        assert_eq!(indexes, [0, 2, 3, 4]);
        assert!(indexes.iter().all(|i| *i < Slot::count(3)));
    }

    #[test]
    fn the_typed_slot_costs_no_memory_per_entry() {
        // The same size as the `(resident, u16)` pair it replaced: a heap of millions of entries.
        assert_eq!(std::mem::size_of::<Owner>(), 8);
    }
}
