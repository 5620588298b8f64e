//! A sliding window of SIDs: everything below `floor` is in the set, and a
//! ring bitmap of fixed capacity covers the SIDs just above it.
//!
//! The receiver keeps two: the SIDs it holds (dedup and "received" acks) and
//! the SIDs its app committed. Memory is fixed at construction, so a peer
//! can not grow it; SIDs beyond the window are refused.

use alloc::vec;
use alloc::vec::Vec;

/// Where a SID stands relative to the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Membership {
    /// Below the floor: in the set (or given up on by the sender).
    Below,
    /// Inside the window and in the set.
    In,
    /// Inside the window, not in the set.
    Out,
    /// Past the window: can not be tracked.
    Beyond,
}

pub(crate) struct SidSet {
    floor: u64,
    /// One past the highest SID ever inserted, at least `floor`.
    end: u64,
    words: Vec<u64>,
    cap: u64,
}

impl SidSet {
    /// A set covering `window` SIDs above the floor (rounded up to a power
    /// of two, at least 64, so a SID's bit is found with a mask, not a
    /// division).
    pub(crate) fn new(window: u64) -> SidSet {
        let words = window.div_ceil(64).clamp(1, 1 << 20).next_power_of_two();
        SidSet {
            floor: 0,
            end: 0,
            words: vec![0; words as usize],
            cap: words * 64,
        }
    }

    pub(crate) fn floor(&self) -> u64 {
        self.floor
    }

    /// The raw state, for snapshots.
    pub(crate) fn parts(&self) -> (u64, u64, &[u64]) {
        (self.floor, self.end, &self.words)
    }

    /// This set's shape with a snapshot's state, if it is one this set
    /// could have reached: the same size, `floor <= end` within the
    /// window, no bit outside `[floor, end)`, the floor itself not set.
    pub(crate) fn with_parts(mut self, floor: u64, end: u64, words: Vec<u64>) -> Option<SidSet> {
        if words.len() != self.words.len() || end < floor || end - floor > self.cap {
            return None;
        }
        self.floor = floor;
        self.end = end;
        self.words = words;
        let mut check = SidSet {
            floor,
            end,
            words: vec![0; self.words.len()],
            cap: self.cap,
        };
        let mut sid = floor;
        while sid < end {
            check.set_bit(sid, self.bit(sid));
            sid += 1;
        }
        let floor_set = floor < end && self.bit(floor);
        (check.words == self.words && !floor_set).then_some(self)
    }

    /// One past the highest SID in the set.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    fn bit(&self, sid: u64) -> bool {
        let i = sid & (self.cap - 1);
        self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set_bit(&mut self, sid: u64, on: bool) {
        let i = sid & (self.cap - 1);
        let w = &mut self.words[(i / 64) as usize];
        if on {
            *w |= 1 << (i % 64);
        } else {
            *w &= !(1 << (i % 64));
        }
    }

    pub(crate) fn membership(&self, sid: u64) -> Membership {
        if sid < self.floor {
            Membership::Below
        } else if sid - self.floor >= self.cap || sid == u64::MAX {
            // u64::MAX can not be tracked: one past it does not exist.
            Membership::Beyond
        } else if self.bit(sid) {
            Membership::In
        } else {
            Membership::Out
        }
    }

    /// Adds `sid`; returns whether it was newly added. SIDs below the floor
    /// or beyond the window are not added.
    pub(crate) fn insert(&mut self, sid: u64) -> bool {
        if sid == self.floor && self.end <= sid && sid != u64::MAX {
            // In order with nothing above: the floor just moves (the
            // bitmap is all clear then).
            self.floor += 1;
            self.end = self.floor;
            return true;
        }
        if self.membership(sid) != Membership::Out {
            return false;
        }
        self.set_bit(sid, true);
        self.end = self.end.max(sid + 1);
        while self.floor < self.end && self.bit(self.floor) {
            self.set_bit(self.floor, false);
            self.floor += 1;
        }
        true
    }

    /// Moves the floor up to at least `to` (the sender gave up on what lies
    /// below). A lower `to` is ignored: floors never go backwards.
    pub(crate) fn raise_floor(&mut self, to: u64) {
        if to <= self.floor {
            return;
        }
        if to - self.floor >= self.cap {
            self.words.iter_mut().for_each(|w| *w = 0);
            self.floor = to;
        } else {
            while self.floor < to {
                self.set_bit(self.floor, false);
                self.floor += 1;
            }
        }
        self.end = self.end.max(self.floor);
        while self.floor < self.end && self.bit(self.floor) {
            self.set_bit(self.floor, false);
            self.floor += 1;
        }
    }

    /// The first SID at or after `from` (below `self.end`) whose bit is `on`.
    fn next_with(&self, mut from: u64, on: bool) -> Option<u64> {
        while from < self.end {
            let i = from & (self.cap - 1);
            let word = self.words[(i / 64) as usize];
            let word = if on { word } else { !word };
            let shifted = word >> (i % 64);
            if shifted != 0 {
                let found = from + u64::from(shifted.trailing_zeros());
                return (found < self.end).then_some(found);
            }
            from += 64 - (i % 64);
        }
        None
    }

    /// The set's ranges above the floor, ascending, as `[start, end)`.
    pub(crate) fn ranges(&self) -> Ranges<'_> {
        Ranges {
            set: self,
            at: self.floor,
        }
    }
}

#[derive(Clone)]
pub(crate) struct Ranges<'a> {
    set: &'a SidSet,
    at: u64,
}

impl Iterator for Ranges<'_> {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        let start = self.set.next_with(self.at, true)?;
        let end = self.set.next_with(start, false).unwrap_or(self.set.end);
        self.at = end;
        Some((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use proptest::prelude::*;

    #[test]
    fn floor_advances_and_ranges_report_holes() {
        let mut s = SidSet::new(128);
        assert!(s.insert(0));
        assert!(!s.insert(0));
        assert_eq!(s.floor(), 1);
        s.insert(3);
        s.insert(4);
        s.insert(70);
        assert_eq!(s.ranges().collect::<Vec<_>>(), vec![(3, 5), (70, 71)]);
        assert_eq!(s.membership(0), Membership::Below);
        assert_eq!(s.membership(3), Membership::In);
        assert_eq!(s.membership(2), Membership::Out);
        assert_eq!(s.membership(1 + 128), Membership::Beyond);
        assert!(!s.insert(500));
        s.raise_floor(3);
        assert_eq!(s.floor(), 5, "raising the floor absorbs the range above it");
        s.raise_floor(1_000_000);
        assert_eq!(s.floor(), 1_000_000);
        assert_eq!(s.ranges().count(), 0);
        s.raise_floor(10);
        assert_eq!(s.floor(), 1_000_000, "floors never go backwards");
    }

    proptest! {
        /// The bitmap window agrees with a plain set model.
        #[test]
        fn matches_model(ops in proptest::collection::vec((any::<bool>(), 0u64..400), 0..200)) {
            let mut s = SidSet::new(64);
            let mut model = BTreeSet::new();
            let mut floor = 0u64;
            for (raise, v) in ops {
                if raise {
                    s.raise_floor(v);
                    floor = floor.max(v);
                } else if v >= floor && v - floor < 64 {
                    prop_assert_eq!(s.insert(v), !model.contains(&v));
                    model.insert(v);
                } else {
                    prop_assert!(!s.insert(v));
                }
                while model.contains(&floor) { floor += 1; }
                model.retain(|&x| x >= floor);
                prop_assert_eq!(s.floor(), floor);
                let mut expect = Vec::new();
                for &x in &model {
                    match expect.last_mut() {
                        Some((_, e)) if *e == x => *e += 1,
                        _ => expect.push((x, x + 1)),
                    }
                }
                prop_assert_eq!(s.ranges().collect::<Vec<_>>(), expect);
            }
        }
    }
}
