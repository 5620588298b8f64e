//! SIDs a receiver settled without its app's commit, kept as ranges until
//! the sender's FLOOR says it has taken note of them.
//!
//! Unlike a [`SidSet`](crate::sid_set::SidSet), whose floor swallows every
//! SID that reaches it, every SID here stays reported until the sender
//! confirms it: a SID reported "settled" must never be taken for
//! "committed" because the report that said otherwise was lost.

use alloc::collections::VecDeque;

/// Disjoint, non-adjacent, ascending half-open ranges of SIDs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SidRanges {
    ranges: VecDeque<(u64, u64)>,
}

impl SidRanges {
    /// Adds `sid`; returns whether it was new. At most `max` ranges are
    /// kept: beyond that the SID is not added (the caller bounds `max` so
    /// that this never happens for SIDs inside its window).
    pub(crate) fn insert(&mut self, sid: u64, max: usize) -> bool {
        let Some(end) = sid.checked_add(1) else {
            return false;
        };
        // The first range that ends at or after `sid`.
        let i = self.ranges.partition_point(|&(_, e)| e < sid);
        match self.ranges.get(i).copied() {
            Some((s, e)) if s <= sid && sid < e => false,
            Some((s, e)) if e == sid => {
                // Extends range i upwards, maybe joining the next one.
                self.ranges[i] = (s, end);
                if let Some(&(ns, ne)) = self.ranges.get(i + 1) {
                    if ns == end {
                        self.ranges[i] = (s, ne);
                        self.ranges.remove(i + 1);
                    }
                }
                true
            }
            Some((s, e)) if s == end => {
                self.ranges[i] = (sid, e);
                true
            }
            _ if self.ranges.len() >= max => false,
            _ => {
                self.ranges.insert(i, (sid, end));
                true
            }
        }
    }

    /// Forgets every SID below `floor`.
    pub(crate) fn drop_below(&mut self, floor: u64) {
        while let Some(&(s, e)) = self.ranges.front() {
            if e <= floor {
                self.ranges.pop_front();
            } else {
                if s < floor {
                    self.ranges[0] = (floor, e);
                }
                break;
            }
        }
    }

    /// Whether `sid` is in the set.
    pub(crate) fn contains(&self, sid: u64) -> bool {
        let i = self.ranges.partition_point(|&(_, e)| e <= sid);
        self.ranges.get(i).is_some_and(|&(s, _)| s <= sid)
    }

    /// The ranges, ascending.
    pub(crate) fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + Clone + '_ {
        self.ranges.iter().copied()
    }

    /// How many ranges are kept.
    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// A set from ranges read back from a snapshot, if they are ascending,
    /// disjoint, non-adjacent and non-empty.
    pub(crate) fn from_ranges(ranges: impl IntoIterator<Item = (u64, u64)>) -> Option<SidRanges> {
        let mut out = SidRanges::default();
        for (s, e) in ranges {
            let after_last = out.ranges.back().is_none_or(|&(_, pe)| pe < s);
            if s >= e || !after_last {
                return None;
            }
            out.ranges.push_back((s, e));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    proptest! {
        /// Agrees with a plain set, ranges merged, below the floor dropped.
        #[test]
        fn matches_model(ops in proptest::collection::vec((any::<bool>(), 0u64..300), 0..200)) {
            let mut s = SidRanges::default();
            let mut model = BTreeSet::new();
            for (drop, v) in ops {
                if drop {
                    s.drop_below(v);
                    model.retain(|&x| x >= v);
                } else {
                    prop_assert_eq!(s.insert(v, usize::MAX), model.insert(v));
                }
                let mut expect: Vec<(u64, u64)> = Vec::new();
                for &x in &model {
                    match expect.last_mut() {
                        Some((_, e)) if *e == x => *e += 1,
                        _ => expect.push((x, x + 1)),
                    }
                }
                prop_assert_eq!(s.ranges().collect::<Vec<_>>(), expect);
                for x in 0..300 {
                    prop_assert_eq!(s.contains(x), model.contains(&x));
                }
            }
        }
    }

    #[test]
    fn bounded_in_ranges() {
        let mut s = SidRanges::default();
        assert!(s.insert(1, 2));
        assert!(s.insert(5, 2));
        assert!(!s.insert(9, 2), "a third range does not fit");
        assert!(s.insert(6, 2), "extending a range always fits");
        assert!(s.insert(0, 2));
        assert_eq!(s.ranges().collect::<Vec<_>>(), [(0, 2), (5, 7)]);
        assert!(!s.insert(u64::MAX, 9));
    }
}
