//! The receiver's per-stream timers, earliest first, without an allocation
//! per arm.
//!
//! A `BTreeSet` of deadlines allocated and freed B-tree nodes as gap timers
//! came and went on lossy streams. Here the order is kept in a
//! [`BinaryHeap`] whose capacity is kept, with lazy deletion: disarming or
//! moving a deadline only changes the deadline table, and the heap entry it
//! leaves behind is recognised as stale (the table no longer says so) and
//! dropped when it reaches the top.
//!
//! The deadline table lives here rather than in the stream's state, indexed
//! by a [`Slot`] the stream is given on its first arm, so that checking an
//! entry needs no stream lookup. That lets every change pop stale entries
//! off the top at once: the top is always a live deadline, and
//! [`Timers::next`] (behind `Receiver::poll_timeout(&self)`) is exact
//! without mutating anything.
//!
//! Stale entries below the top are bounded: when they outnumber the live
//! ones (plus some slack) the heap is rebuilt in place from the live ones,
//! so a peer that makes timers move on every packet cannot grow it.

use crate::message::StreamId;
use crate::time::Instant;
use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Reverse;

/// The per-stream timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// A message waits beyond a hole: report the gap when this fires.
    Gap = 0,
    /// Retry the stream's sync request.
    Sync = 1,
    /// The package at the head is still incomplete.
    Package = 2,
    /// Retry the history request.
    History = 3,
}

impl Timer {
    /// Every timer, in the order of the deadline table (and snapshots).
    pub(super) const ALL: [Timer; 4] = [Timer::Gap, Timer::Sync, Timer::Package, Timer::History];
}

/// A stream's row in the deadline table: given on the stream's first arm
/// and kept for its lifetime (streams are never forgotten), so a row is
/// never reused by another stream while stale entries still name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Slot(usize);

/// Ordered like the `BTreeSet` it replaces, `(deadline, stream, timer)`,
/// so timers due together fire in the same order; the slot only locates
/// the deadline table's row.
type Entry = (Instant, StreamId, Timer, Slot);

/// Stale entries tolerated beyond the live ones before a rebuild, so a
/// handful of timers does not rebuild on every move.
const SLACK: usize = 32;

#[derive(Default)]
pub(super) struct Timers {
    /// Armed deadlines by slot, indexed by [`Timer`].
    deadlines: Vec<[Option<Instant>; 4]>,
    /// Every armed deadline, plus stale entries; the top is always live.
    heap: BinaryHeap<Reverse<Entry>>,
    /// Deadlines armed in the table (the live heap entries, duplicates aside).
    armed: usize,
}

impl Timers {
    /// The deadline armed for `timer` in `slot`'s row.
    pub(super) fn deadline(&self, slot: Option<Slot>, timer: Timer) -> Option<Instant> {
        let row = self.deadlines.get(slot?.0)?;
        row[timer as usize]
    }

    /// Arms (or moves) `timer` of `stream` to `at`, giving the stream a row
    /// in `slot` if it has none yet.
    pub(super) fn arm(
        &mut self,
        slot: &mut Option<Slot>,
        stream: StreamId,
        timer: Timer,
        at: Instant,
    ) {
        let s = *slot.get_or_insert_with(|| {
            self.deadlines.push([None; 4]);
            Slot(self.deadlines.len() - 1)
        });
        let Some(cell) = self.deadlines.get_mut(s.0).map(|r| &mut r[timer as usize]) else {
            return;
        };
        match cell.replace(at) {
            // Its entry is in the heap already.
            Some(old) if old == at => return,
            Some(_) => {}
            None => self.armed += 1,
        }
        self.heap.push(Reverse((at, stream, timer, s)));
        if self.heap.len() > 2 * self.armed + SLACK {
            self.compact();
        }
        // The moved deadline's old entry may have been the top.
        self.drop_stale_top();
    }

    /// Disarms `timer` in `slot`'s row; harmless if it is not armed.
    pub(super) fn disarm(&mut self, slot: Option<Slot>, timer: Timer) {
        let Some(row) = slot.and_then(|s| self.deadlines.get_mut(s.0)) else {
            return;
        };
        if row[timer as usize].take().is_some() {
            self.armed -= 1;
            self.drop_stale_top();
        }
    }

    /// The earliest armed deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.0)
    }

    /// Disarms and returns the earliest timer due at `now`, if any.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(StreamId, Timer)> {
        let &Reverse((at, stream, timer, slot)) = self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        self.disarm(Some(slot), timer);
        Some((stream, timer))
    }

    /// Heap entries, live and stale (for tests of the bound).
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.heap.len()
    }

    fn is_live(&self, &(at, _, timer, slot): &Entry) -> bool {
        self.deadline(Some(slot), timer) == Some(at)
    }

    /// Restores the invariant that the top is a live deadline.
    fn drop_stale_top(&mut self) {
        while let Some(Reverse(e)) = self.heap.peek() {
            if self.is_live(e) {
                break;
            }
            self.heap.pop();
        }
    }

    /// Rebuilds the heap from its live entries, in place: no allocation.
    /// Sorting first puts duplicates (a deadline disarmed and armed again
    /// at the same instant) side by side to drop them.
    fn compact(&mut self) {
        let mut entries = core::mem::take(&mut self.heap).into_vec();
        entries.retain(|Reverse(e)| self.is_live(e));
        entries.sort_unstable();
        entries.dedup();
        self.heap = BinaryHeap::from(entries);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(us: u64) -> Instant {
        Instant::from_micros(us)
    }

    #[test]
    fn fires_in_deadline_then_stream_then_timer_order() {
        let mut t = Timers::default();
        let (mut a, mut b) = (None, None);
        t.arm(&mut b, StreamId(2), Timer::Gap, at(5));
        t.arm(&mut a, StreamId(1), Timer::Sync, at(5));
        t.arm(&mut a, StreamId(1), Timer::Gap, at(5));
        t.arm(&mut a, StreamId(1), Timer::Package, at(3));
        assert_eq!(t.next(), Some(at(3)));
        assert_eq!(t.pop_due(at(2)), None);
        let fired: Vec<_> = core::iter::from_fn(|| t.pop_due(at(5))).collect();
        assert_eq!(
            fired,
            [
                (StreamId(1), Timer::Package),
                (StreamId(1), Timer::Gap),
                (StreamId(1), Timer::Sync),
                (StreamId(2), Timer::Gap),
            ]
        );
        assert_eq!(t.next(), None);
        assert_eq!(t.deadline(a, Timer::Gap), None);
    }

    #[test]
    fn next_is_exact_after_disarm_and_move() {
        let mut t = Timers::default();
        let (mut a, mut b) = (None, None);
        t.arm(&mut a, StreamId(1), Timer::Gap, at(1));
        t.arm(&mut b, StreamId(2), Timer::Gap, at(2));
        t.arm(&mut b, StreamId(2), Timer::Sync, at(9));
        t.disarm(a, Timer::Gap);
        assert_eq!(t.next(), Some(at(2)));
        // Moving the earliest later leaves a stale entry behind, never shown.
        t.arm(&mut b, StreamId(2), Timer::Gap, at(20));
        assert_eq!(t.next(), Some(at(9)));
        assert_eq!(t.pop_due(at(100)), Some((StreamId(2), Timer::Sync)));
        assert_eq!(t.pop_due(at(100)), Some((StreamId(2), Timer::Gap)));
        assert_eq!(t.pop_due(at(100)), None);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn rearming_at_the_same_instant_fires_once() {
        let mut t = Timers::default();
        let mut a = None;
        t.arm(&mut a, StreamId(1), Timer::Gap, at(4));
        t.arm(&mut a, StreamId(1), Timer::Sync, at(8));
        t.disarm(a, Timer::Gap);
        t.arm(&mut a, StreamId(1), Timer::Gap, at(4));
        t.disarm(a, Timer::Sync);
        t.arm(&mut a, StreamId(1), Timer::Sync, at(8));
        assert_eq!(t.pop_due(at(8)), Some((StreamId(1), Timer::Gap)));
        assert_eq!(t.pop_due(at(8)), Some((StreamId(1), Timer::Sync)));
        assert_eq!(t.pop_due(at(8)), None);
    }

    #[test]
    fn stale_entries_stay_bounded_and_capacity_is_kept() {
        let mut t = Timers::default();
        let mut slots = [None; 4];
        for (i, s) in slots.iter_mut().enumerate() {
            t.arm(s, StreamId(i as u64), Timer::Package, at(1));
        }
        let mut cap = 0;
        for round in 0..10_000u64 {
            // Every arm moves a deadline later: one stale entry each time.
            let i = (round % 4) as usize;
            t.arm(
                &mut slots[i],
                StreamId(i as u64),
                Timer::Gap,
                at(10 + round),
            );
            t.arm(
                &mut slots[i],
                StreamId(i as u64),
                Timer::Gap,
                at(10 + round),
            );
            assert!(t.entries() <= 2 * t.armed + SLACK + 1);
            if round == 100 {
                cap = t.heap.capacity();
            }
            if round > 100 {
                assert_eq!(t.heap.capacity(), cap, "no allocation after warm-up");
            }
        }
        assert_eq!(t.next(), Some(at(1)));
    }
}
