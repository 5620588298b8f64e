//! Window slots kept for the rest of a package (M12 with M2's window).
//!
//! The receiver holds a package's members, uncommitted, until all of them
//! are there, so each member it holds pins a slot of the sender's window.
//! Two packages that each got part of their members into the window could
//! fill it and wait for each other's missing members forever (deep-sweep
//! seed 1000042: window 4, three members of one package and one of
//! another). So a package enters the window only when every member still to
//! come has a free slot, and those slots are kept for them: no other
//! message takes one. A package larger than the window is refused at send
//! time, so an empty window always takes a package whole.

use crate::message::{Message, StreamId};
use crate::snapshot::{Dec, Enc, SnapshotError};
use alloc::vec::Vec;
use hashbrown::HashMap;

/// Identifies a package in the window: its stream, its id, and whether
/// its copies answer a history request (a history copy and a live copy
/// of the same package are held apart by the receiver).
type Key = (StreamId, u64, bool);

/// Slots promised to the packages that have members in the window.
#[derive(Default)]
pub(crate) struct PackageSlots {
    /// Per open package: members in the window, the index the next member
    /// to come has, and the package's size. Members come in index order;
    /// a copy of one that came already (a resend, a sync answer of a live
    /// push) takes an ordinary slot, not one kept for the rest.
    open: HashMap<Key, Open>,
    /// The sum of members still to come: slots no other message may take.
    reserved: u64,
}

#[derive(Clone, Copy)]
struct Open {
    in_window: u32,
    next_index: u32,
    count: u32,
}

impl Open {
    fn still_to_come(self) -> u32 {
        self.count.saturating_sub(self.next_index)
    }
}

impl PackageSlots {
    /// Slots kept free for packages' members still to come.
    pub(crate) fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Whether `msg` takes a slot kept for it (a member of a package
    /// already in the window, not come yet).
    pub(crate) fn is_promised(&self, msg: &Message, history: bool) -> bool {
        msg.package.is_some_and(|p| {
            self.open
                .get(&(msg.stream, p.id, history))
                .is_some_and(|o| p.index >= o.next_index && o.still_to_come() > 0)
        })
    }

    /// The free slots `msg` needs to enter a window with `free` slots not
    /// yet taken or kept: one, or for the first member of a package to
    /// arrive, one for each member from it to the package's end.
    pub(crate) fn needed(&self, msg: &Message, history: bool) -> u64 {
        match msg.package {
            Some(p) if !self.open.contains_key(&(msg.stream, p.id, history)) => {
                u64::from(p.count.saturating_sub(p.index).max(1))
            }
            _ => 1,
        }
    }

    /// `msg` entered the window.
    pub(crate) fn admitted(&mut self, msg: &Message, history: bool) {
        let Some(p) = msg.package else {
            return;
        };
        let key = (msg.stream, p.id, history);
        match self.open.get_mut(&key) {
            Some(o) => {
                o.in_window += 1;
                if p.index >= o.next_index {
                    let before = o.still_to_come();
                    o.next_index = p.index.saturating_add(1).min(o.count);
                    self.reserved -= u64::from(before - o.still_to_come());
                }
            }
            None => {
                let o = Open {
                    in_window: 1,
                    next_index: p.index.saturating_add(1).min(p.count),
                    count: p.count,
                };
                self.reserved += u64::from(o.still_to_come());
                self.open.insert(key, o);
            }
        }
    }

    /// `msg` left the window (acked, skipped, given up). Once none of its
    /// package's members is left there, the package is over (complete, or
    /// given up by one side): its kept slots are freed.
    pub(crate) fn settled(&mut self, msg: &Message, history: bool) {
        let Some(p) = msg.package else {
            return;
        };
        let key = (msg.stream, p.id, history);
        let Some(o) = self.open.get_mut(&key) else {
            return;
        };
        o.in_window = o.in_window.saturating_sub(1);
        if o.in_window == 0 {
            self.reserved -= u64::from(o.still_to_come());
            self.open.remove(&key);
        }
    }

    /// Forgets every package (the window was handed back).
    pub(crate) fn clear(&mut self) {
        self.open.clear();
        self.reserved = 0;
    }

    /// Writes the open packages, sorted so equal states give equal bytes.
    pub(crate) fn encode(&self, s: &mut Enc) {
        let mut open: Vec<_> = self.open.iter().collect();
        open.sort_unstable_by_key(|(k, _)| **k);
        s.usize(open.len());
        for (&(stream, id, history), o) in open {
            s.u(stream.0);
            s.u(id);
            s.b(history);
            s.u(u64::from(o.in_window));
            s.u(u64::from(o.next_index));
            s.u(u64::from(o.count));
        }
    }

    /// Reads what `encode` wrote; at most `window` packages, each with a
    /// member in the window, and no more slots kept than the window has.
    pub(crate) fn decode(d: &mut Dec, window: u64) -> Result<PackageSlots, SnapshotError> {
        let n = d.count()?;
        let mut slots = PackageSlots::default();
        for _ in 0..n {
            let key = (StreamId(d.u()?), d.u()?, d.b()?);
            let o = Open {
                in_window: d.u32()?,
                next_index: d.u32()?,
                count: d.u32()?,
            };
            slots.reserved += u64::from(o.still_to_come());
            let fresh = slots.open.insert(key, o).is_none();
            let shape = o.in_window > 0 && o.next_index <= o.count;
            if !fresh || !shape || slots.open.len() as u64 > window {
                return Err(SnapshotError::Inconsistent("package slots"));
            }
        }
        if slots.reserved > window {
            return Err(SnapshotError::Inconsistent("package slots"));
        }
        Ok(slots)
    }
}
