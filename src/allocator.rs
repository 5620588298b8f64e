//! Per-stream versions from memory, backed by a persisted upper bound
//! (seqsvr's segment allocation, M9).
//!
//! Writing every version to durable storage before handing it out would put a
//! disk write on every message. Instead the store holds, per stream, an upper
//! bound; versions up to it are handed out from memory, and the bound moves
//! up by `step` at a time. One write buys `step` versions.

use crate::message::{StreamId, Version};
use alloc::vec::Vec;
use hashbrown::HashMap;
use thiserror::Error;

/// A write the caller must make durable, then confirm: "`stream` may hand
/// out versions up to `bound`".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PersistBound {
    /// The stream whose bound moves up.
    pub stream: StreamId,
    /// The new upper bound; store it unless the store already holds more.
    pub bound: Version,
}

/// Why [`VersionAllocator::new`] refused its configuration.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllocatorConfigError {
    /// A step of zero would never let a version out.
    #[error("step must be at least 1")]
    ZeroStep,
    /// No stream could ever be loaded.
    #[error("max_streams must be at least 1")]
    ZeroStreams,
}

/// Why [`VersionAllocator::allocate`] handed out no version. Nothing changed.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllocError {
    /// The stream is not in memory: [`VersionAllocator::load`] it from the
    /// store first (it may have been evicted).
    #[error("stream not loaded")]
    NotLoaded,
    /// Every version up to the confirmed bound is used and the next bound is
    /// not confirmed yet. Retry after
    /// [`confirm_persisted`](VersionAllocator::confirm_persisted).
    #[error("segment used up; waiting for the next bound to be persisted")]
    AwaitingPersist,
    /// The stream handed out `u64::MAX`; there is no greater version.
    #[error("version space exhausted")]
    Exhausted,
}

/// Why [`VersionAllocator::load`] did not load a stream.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// `max_streams` are in memory and each has a write outstanding, so none
    /// can be evicted. Retry after confirmations arrive.
    #[error("allocator full: every stream has a persist outstanding")]
    Full,
}

/// Why [`VersionAllocator::confirm_persisted`] refused a confirmation.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfirmError {
    /// The stream is not in memory (evicted or removed since the request);
    /// the write is harmless, the next load reads it.
    #[error("stream not loaded")]
    UnknownStream,
    /// The bound is above the confirmed one but is not the outstanding
    /// request handed out by [`VersionAllocator::poll_persist`].
    #[error("bound was not requested")]
    NotRequested,
}

/// Counters for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocatorStats {
    /// Versions handed out.
    pub allocated: u64,
    /// Persist requests handed out by `poll_persist`.
    pub persist_requests: u64,
    /// `allocate` calls refused with [`AllocError::AwaitingPersist`]: the
    /// store is slower than allocation, or `step` is too small.
    pub stalls: u64,
    /// Streams evicted by `load` to stay within `max_streams`.
    pub evicted: u64,
}

/// Where a stream's next bound stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    /// No write outstanding: the stream sits in the LRU list, evictable.
    Settled,
    /// Requested, waiting in the persist queue for `poll_persist`.
    Queued(u64),
    /// Handed to the caller, waiting for `confirm_persisted`.
    InFlight(u64),
}

const NIL: usize = usize::MAX;

struct Slot {
    stream: StreamId,
    /// The last version handed out (the loaded bound before the first).
    last: u64,
    /// Versions up to this one are durably covered.
    confirmed: u64,
    request: Request,
    /// Links in the list `request` implies: the LRU list when settled, the
    /// persist queue when queued, none in flight; the free list when unused.
    prev: usize,
    next: usize,
}

/// An intrusive doubly linked list over the slab, so moving a stream between
/// the LRU list and the persist queue, or out of either, is O(1).
#[derive(Clone, Copy)]
struct List {
    head: usize,
    tail: usize,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };

    fn push_back(&mut self, slots: &mut [Slot], i: usize) {
        slots[i].prev = self.tail;
        slots[i].next = NIL;
        match self.tail {
            NIL => self.head = i,
            t => slots[t].next = i,
        }
        self.tail = i;
    }

    fn unlink(&mut self, slots: &mut [Slot], i: usize) {
        let (prev, next) = (slots[i].prev, slots[i].next);
        match prev {
            NIL => self.head = next,
            p => slots[p].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => slots[n].prev = prev,
        }
        slots[i].prev = NIL;
        slots[i].next = NIL;
    }
}

/// Hands out strictly increasing [`Version`]s per stream from memory, within
/// bounds the caller has persisted (seqsvr's segment allocation, M9).
///
/// ## Why a crash never repeats a version
/// A version is handed out only if it is at or below a bound the caller has
/// *confirmed* as durably stored. After a crash (or an eviction) the stream is
/// loaded again from the stored bound and continues strictly above it, so
/// every version handed out before the crash is below every version handed
/// out after it. The price is a skip: the versions between the last one
/// handed out and the stored bound are never used. One restart skips at most
/// `step + step / 2` versions (the next bound is requested when half of the
/// current segment is used, and may land just before the crash). Versions
/// only have to increase, not be contiguous (M6), so a skip is harmless.
///
/// ## The caller's side (sans-IO)
/// 1. [`VersionAllocator::load`] a stream with the bound read from the store
///    (`Version::ZERO` for a new stream) before its first
///    [`allocate`](VersionAllocator::allocate);
/// 2. after allocating or loading, drain [`VersionAllocator::poll_persist`]
///    and write each [`PersistBound`] to the store, **never lowering a stored
///    bound** (`bound = max(bound, new)`), then
///    [`confirm_persisted`](VersionAllocator::confirm_persisted) it.
///
/// A stream has at most one write outstanding, so its writes can not overtake
/// each other. A write that fails should be retried; a stream whose write
/// never lands stalls at its current bound
/// ([`AllocError::AwaitingPersist`]) until it is confirmed, or removed and
/// loaded again.
///
/// ## Bounded memory
/// At most `max_streams` streams are in memory. Loading one more evicts the
/// least recently used stream that has no write outstanding — safe, because
/// loading it again from its stored bound skips versions but never repeats
/// one. If every stream has a write outstanding, [`LoadError::Full`].
///
/// Every operation is O(1); memory grows with the streams loaded, up to
/// `max_streams`, and not per allocation.
///
/// ```
/// use ackwire::{PersistBound, StreamId, Version, VersionAllocator};
///
/// let mut alloc = VersionAllocator::new(100, 10_000).unwrap();
/// let stream = StreamId(7);
/// let mut store = 0; // the caller's durable bound for `stream`
/// alloc.load(stream, Version(store)).unwrap();
/// while let Some(PersistBound { stream, bound }) = alloc.poll_persist() {
///     store = store.max(bound.0); // a durable write in real life
///     alloc.confirm_persisted(stream, bound).unwrap();
/// }
/// assert_eq!(alloc.allocate(stream), Ok(Version(1)));
/// assert_eq!(alloc.allocate(stream), Ok(Version(2)));
/// ```
pub struct VersionAllocator {
    step: u64,
    max_streams: usize,
    index: HashMap<StreamId, usize>,
    slots: Vec<Slot>,
    /// Unused slots, linked through `next`.
    free: usize,
    /// Settled streams, least recently used first: eviction candidates.
    lru: List,
    /// Streams whose next bound waits for `poll_persist`, oldest first.
    queue: List,
    stats: AllocatorStats,
}

impl VersionAllocator {
    /// An allocator whose bounds move up `step` versions per write, holding at
    /// most `max_streams` streams in memory.
    pub fn new(step: u64, max_streams: usize) -> Result<Self, AllocatorConfigError> {
        if step == 0 {
            return Err(AllocatorConfigError::ZeroStep);
        }
        if max_streams == 0 {
            return Err(AllocatorConfigError::ZeroStreams);
        }
        Ok(VersionAllocator {
            step,
            max_streams,
            index: HashMap::new(),
            slots: Vec::new(),
            free: NIL,
            lru: List::EMPTY,
            queue: List::EMPTY,
            stats: AllocatorStats::default(),
        })
    }

    /// Versions one persisted write covers.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// Most streams held in memory at once.
    pub fn max_streams(&self) -> usize {
        self.max_streams
    }

    /// Streams in memory.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no stream is in memory.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Whether `stream` is in memory.
    pub fn is_loaded(&self, stream: StreamId) -> bool {
        self.index.contains_key(&stream)
    }

    /// The last version `stream` handed out (or the bound it was loaded from).
    pub fn last(&self, stream: StreamId) -> Option<Version> {
        self.index
            .get(&stream)
            .map(|&i| Version(self.slots[i].last))
    }

    /// The confirmed bound of `stream`: it may hand out versions up to this.
    pub fn confirmed_bound(&self, stream: StreamId) -> Option<Version> {
        self.index
            .get(&stream)
            .map(|&i| Version(self.slots[i].confirmed))
    }

    /// Counters since construction.
    pub fn stats(&self) -> AllocatorStats {
        self.stats
    }

    /// Brings `stream` into memory from `persisted`, the bound the store
    /// holds for it (`Version::ZERO` if none). Versions continue strictly
    /// above it once the next bound, requested at once, is confirmed.
    ///
    /// A stream already in memory is left as it is: its state is at least as
    /// recent as the store. Returns the stream evicted to make room, if any.
    pub fn load(
        &mut self,
        stream: StreamId,
        persisted: Version,
    ) -> Result<Option<StreamId>, LoadError> {
        if self.index.contains_key(&stream) {
            return Ok(None);
        }
        let mut evicted = None;
        if self.index.len() >= self.max_streams {
            let victim = self.lru.head;
            if victim == NIL {
                return Err(LoadError::Full);
            }
            let victim_stream = self.slots[victim].stream;
            self.remove(victim_stream);
            self.stats.evicted += 1;
            evicted = Some(victim_stream);
        }
        let slot = Slot {
            stream,
            last: persisted.0,
            confirmed: persisted.0,
            request: Request::Settled,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free {
            NIL => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
            i => {
                self.free = self.slots[i].next;
                self.slots[i] = slot;
                i
            }
        };
        self.index.insert(stream, i);
        self.lru.push_back(&mut self.slots, i);
        self.request_if_due(i);
        Ok(evicted)
    }

    /// The next version of `stream`: greater than every version it handed
    /// out before, even across restarts, and at most its confirmed bound.
    pub fn allocate(&mut self, stream: StreamId) -> Result<Version, AllocError> {
        let Some(&i) = self.index.get(&stream) else {
            return Err(AllocError::NotLoaded);
        };
        let slot = &self.slots[i];
        if slot.last >= slot.confirmed {
            if slot.last == u64::MAX {
                return Err(AllocError::Exhausted);
            }
            self.stats.stalls += 1;
            return Err(AllocError::AwaitingPersist);
        }
        let slot = &mut self.slots[i];
        slot.last += 1;
        let version = Version(slot.last);
        if slot.request == Request::Settled {
            // Most recently used: the last to be evicted.
            self.lru.unlink(&mut self.slots, i);
            self.lru.push_back(&mut self.slots, i);
        }
        self.stats.allocated += 1;
        self.request_if_due(i);
        Ok(version)
    }

    /// The next bound to persist, oldest request first; `None` when none is
    /// due. Each bound is handed out once: write it, then confirm it.
    pub fn poll_persist(&mut self) -> Option<PersistBound> {
        let i = self.queue.head;
        if i == NIL {
            return None;
        }
        self.queue.unlink(&mut self.slots, i);
        let slot = &mut self.slots[i];
        let Request::Queued(bound) = slot.request else {
            // Only queued slots are linked into the queue.
            return None;
        };
        slot.request = Request::InFlight(bound);
        self.stats.persist_requests += 1;
        Some(PersistBound {
            stream: slot.stream,
            bound: Version(bound),
        })
    }

    /// The store now durably holds `bound` (or more) for `stream`: versions up
    /// to it may be handed out. Confirming a bound at or below the confirmed
    /// one again is harmless.
    pub fn confirm_persisted(
        &mut self,
        stream: StreamId,
        bound: Version,
    ) -> Result<(), ConfirmError> {
        let Some(&i) = self.index.get(&stream) else {
            return Err(ConfirmError::UnknownStream);
        };
        let slot = &mut self.slots[i];
        match slot.request {
            Request::InFlight(requested) if requested == bound.0 => {
                slot.confirmed = requested;
                slot.request = Request::Settled;
                self.lru.push_back(&mut self.slots, i);
                self.request_if_due(i);
                Ok(())
            }
            _ if bound.0 <= slot.confirmed => Ok(()),
            _ => Err(ConfirmError::NotRequested),
        }
    }

    /// Drops `stream` from memory, whatever its state; returns whether it was
    /// loaded. Safe at any time: loading it again from the store skips
    /// versions but never repeats one. A confirmation for a write still
    /// outstanding is then refused as [`ConfirmError::UnknownStream`].
    pub fn remove(&mut self, stream: StreamId) -> bool {
        let Some(i) = self.index.remove(&stream) else {
            return false;
        };
        match self.slots[i].request {
            Request::Settled => self.lru.unlink(&mut self.slots, i),
            Request::Queued(_) => self.queue.unlink(&mut self.slots, i),
            Request::InFlight(_) => {}
        }
        self.slots[i].next = self.free;
        self.free = i;
        true
    }

    /// Queues the next bound once half of the confirmed segment is used, so
    /// the write normally lands before allocation reaches the bound. At most
    /// one request per stream is outstanding, which makes it one per step.
    fn request_if_due(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if slot.request != Request::Settled || slot.confirmed == u64::MAX {
            return;
        }
        if slot.confirmed - slot.last > self.step / 2 {
            return;
        }
        slot.request = Request::Queued(slot.confirmed.saturating_add(self.step));
        self.lru.unlink(&mut self.slots, i);
        self.queue.push_back(&mut self.slots, i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Confirms everything requested; returns the highest bound written.
    fn persist_all(a: &mut VersionAllocator, store: &mut u64) {
        while let Some(p) = a.poll_persist() {
            *store = (*store).max(p.bound.0);
            a.confirm_persisted(p.stream, p.bound).unwrap();
        }
    }

    #[test]
    fn requests_the_next_bound_at_half_a_segment() {
        let mut a = VersionAllocator::new(10, 4).unwrap();
        let s = StreamId(1);
        let mut store = 0;
        a.load(s, Version(0)).unwrap();
        assert_eq!(a.allocate(s), Err(AllocError::AwaitingPersist));
        persist_all(&mut a, &mut store);
        assert_eq!(store, 10);
        for v in 1..=4 {
            assert_eq!(a.allocate(s), Ok(Version(v)));
            assert_eq!(a.poll_persist(), None);
        }
        assert_eq!(a.allocate(s), Ok(Version(5)));
        assert_eq!(
            a.poll_persist(),
            Some(PersistBound {
                stream: s,
                bound: Version(20)
            })
        );
        // Unconfirmed: the segment runs out, then allocation stalls.
        for v in 6..=10 {
            assert_eq!(a.allocate(s), Ok(Version(v)));
        }
        assert_eq!(a.allocate(s), Err(AllocError::AwaitingPersist));
        assert_eq!(a.poll_persist(), None, "one request per step");
        a.confirm_persisted(s, Version(20)).unwrap();
        assert_eq!(a.allocate(s), Ok(Version(11)));
        assert_eq!(a.stats().stalls, 2);
    }

    #[test]
    fn a_restart_skips_less_than_two_steps() {
        let step = 10;
        let mut a = VersionAllocator::new(step, 4).unwrap();
        let s = StreamId(1);
        let mut store = 0;
        a.load(s, Version(0)).unwrap();
        persist_all(&mut a, &mut store);
        let mut last = 0;
        while a.poll_persist().is_none() {
            last = a.allocate(s).unwrap().0;
        }
        // The write of the next bound lands, then the process dies.
        store = 20;
        let mut b = VersionAllocator::new(step, 4).unwrap();
        b.load(s, Version(store)).unwrap();
        persist_all(&mut b, &mut store);
        let first = b.allocate(s).unwrap().0;
        assert!(first > last);
        assert_eq!(first - last - 1, step + step / 2);
    }

    #[test]
    fn evicts_the_least_recently_used_settled_stream() {
        let mut a = VersionAllocator::new(4, 2).unwrap();
        let mut store = 0;
        for s in [StreamId(1), StreamId(2)] {
            a.load(s, Version(0)).unwrap();
        }
        persist_all(&mut a, &mut store);
        a.allocate(StreamId(1)).unwrap();
        assert_eq!(a.load(StreamId(3), Version(0)), Ok(Some(StreamId(2))));
        // Stream 3 has its first request outstanding; stream 1 is evictable.
        assert_eq!(a.load(StreamId(4), Version(0)), Ok(Some(StreamId(1))));
        assert_eq!(a.load(StreamId(5), Version(0)), Err(LoadError::Full));
        assert_eq!(a.allocate(StreamId(1)), Err(AllocError::NotLoaded));
        assert_eq!(a.stats().evicted, 2);
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn refuses_unrequested_bounds_and_ignores_stale_ones() {
        let mut a = VersionAllocator::new(4, 2).unwrap();
        let s = StreamId(1);
        a.load(s, Version(8)).unwrap();
        assert_eq!(
            a.confirm_persisted(s, Version(12)),
            Err(ConfirmError::NotRequested),
            "queued but not yet handed out"
        );
        let p = a.poll_persist().unwrap();
        assert_eq!(p.bound, Version(12));
        assert_eq!(
            a.confirm_persisted(s, Version(99)),
            Err(ConfirmError::NotRequested)
        );
        assert_eq!(a.confirm_persisted(s, Version(8)), Ok(()));
        assert_eq!(a.confirm_persisted(s, Version(12)), Ok(()));
        assert_eq!(a.confirm_persisted(s, Version(12)), Ok(()));
        assert_eq!(
            a.confirm_persisted(StreamId(2), Version(1)),
            Err(ConfirmError::UnknownStream)
        );
    }

    #[test]
    fn stops_at_the_end_of_the_version_space() {
        let mut a = VersionAllocator::new(4, 1).unwrap();
        let s = StreamId(1);
        a.load(s, Version(u64::MAX - 2)).unwrap();
        let p = a.poll_persist().unwrap();
        assert_eq!(p.bound, Version(u64::MAX));
        a.confirm_persisted(s, p.bound).unwrap();
        assert_eq!(a.allocate(s), Ok(Version(u64::MAX - 1)));
        assert_eq!(a.allocate(s), Ok(Version(u64::MAX)));
        assert_eq!(a.allocate(s), Err(AllocError::Exhausted));
        assert_eq!(a.poll_persist(), None);
    }

    #[test]
    fn rejects_degenerate_configs() {
        assert_eq!(
            VersionAllocator::new(0, 1).err(),
            Some(AllocatorConfigError::ZeroStep)
        );
        assert_eq!(
            VersionAllocator::new(1, 0).err(),
            Some(AllocatorConfigError::ZeroStreams)
        );
    }
}
