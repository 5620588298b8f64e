//! Idempotent send for clients without an outbox stream (M1, second form):
//! remember each message id (or content hash) for a time-to-live, and answer
//! a resend with the receipt of the first copy.
//!
//! HTTP APIs and bots resend on a timeout with the same message id but have
//! no connection state or version chain to dedup against, so the server keeps
//! a short-lived map from id to receipt (typically the version it assigned).

use crate::time::Instant;
use alloc::collections::VecDeque;
use core::hash::{BuildHasher, Hasher};
use core::time::Duration;
use hashbrown::hash_map::Entry;
use hashbrown::HashMap;
use siphasher::sip128::SipHasher24;

/// What [`DedupCache::check_or_insert`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen<R> {
    /// The key was not remembered; it is now, with the given receipt. Process
    /// the message.
    New,
    /// A copy with this key arrived within the TTL: drop this one and answer
    /// with the first copy's receipt.
    Duplicate(R),
}

/// Counters for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DedupStats {
    /// Keys remembered as new.
    pub new: u64,
    /// Lookups that found a remembered key.
    pub duplicates: u64,
    /// Entries dropped after their TTL.
    pub expired: u64,
    /// Entries dropped before their TTL because the cache was full: each one
    /// a key whose dedup window was cut short.
    pub evicted_early: u64,
}

/// The map's keys are SipHash outputs under a secret key, already uniform
/// and unpredictable; hashing them again would only cost time.
#[derive(Clone, Copy, Debug, Default)]
struct Prehashed;

#[derive(Default)]
struct PrehashedHasher(u64);

impl BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;
    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u128(&mut self, i: u128) {
        self.0 = (i as u64) ^ ((i >> 64) as u64);
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `u128` keys are hashed here; fold anything else anyway.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }
}

struct Remembered<V> {
    /// Where its queue entry is: at index `seq - front_seq`.
    seq: u64,
    receipt: V,
}

struct Expiry {
    hash: u128,
    at: Instant,
    /// False once its key was removed: the entry is stale, it expires and
    /// evicts nothing (a later insertion of the key has an entry of its own).
    live: bool,
}

/// Remembers keys for a TTL, with a receipt each; bounded by `capacity`.
///
/// ## Hostile keys
/// Keys come from clients. They are hashed with 128-bit SipHash-2-4 under a
/// secret key the caller chooses at random per process, and only the hash is
/// kept. Without the secret, a client can not craft two keys with the same
/// hash (which would make the server drop another client's message as a
/// duplicate), nor keys that pile into one hash-table bucket. Two distinct
/// keys collide by chance with probability about n²/2¹²⁹ for n keys.
///
/// ## Expiry and the capacity bound
/// Every entry lives for the same TTL, so insertion order is expiry order: a
/// FIFO queue beside the hash map expires entries in O(1) amortized, driven
/// by the caller's clock. An entry is a key remembered now: one inserted
/// within the TTL and neither removed nor evicted since. Inserting a new key
/// with `capacity` entries evicts the oldest entry early to make room, and
/// counts it in [`DedupStats::evicted_early`]: under a flood the dedup window
/// is shorter than the TTL, and a resend that arrives after its entry was
/// evicted is taken as new. Size `capacity` for the peak rate times the TTL,
/// and watch that counter. Nothing else evicts: a new key evicts only when
/// `capacity` keys, each inserted within the last TTL and not removed, are
/// remembered.
///
/// A server that learns the receipt only after storing the message inserts a
/// pending receipt, fills it in with [`get_mut`](DedupCache::get_mut) once
/// stored, and [`remove`](DedupCache::remove)s the key if storing failed, so
/// the resend is processed rather than answered. A removed key takes no room:
/// failed writes, however many, never push a stored key out.
///
/// ## Cost
/// Besides hashing the key, every operation is O(1) amortized and, once the
/// map and the queue have grown to their largest, allocates nothing. The
/// queue holds one entry (32 bytes) per key remembered, plus one per removed
/// key until that entry reaches the front or the queue is compacted (when
/// such stale entries outnumber live ones): at most `2 × capacity` entries
/// whatever the mix of inserts and removes, `capacity` without removes.
///
/// Time is the caller's: every call that can expire entries takes `now`.
/// A `now` earlier than one seen before counts as the latest seen, so a
/// clock going backwards can not reorder expiry.
///
/// ```
/// use ackwire::{DedupCache, Instant, Seen, Version};
/// use core::time::Duration;
///
/// let secret = [7u8; 16]; // from a CSPRNG at startup in real life
/// let mut cache = DedupCache::new(secret, Duration::from_secs(60), 100_000);
/// let now = Instant::from_millis(0);
/// assert_eq!(cache.check_or_insert(now, b"client-42/msg-1", Version(10)), Seen::New);
/// // The client timed out and resent: same id, same answer as the first time.
/// let later = Instant::from_millis(5_000);
/// assert_eq!(
///     cache.check_or_insert(later, b"client-42/msg-1", Version(11)),
///     Seen::Duplicate(&Version(10))
/// );
/// ```
pub struct DedupCache<V> {
    hasher: SipHasher24,
    ttl: Duration,
    capacity: usize,
    receipts: HashMap<u128, Remembered<V>, Prehashed>,
    /// Oldest first; with one TTL for all, also soonest to expire first.
    /// Every key in `receipts` has exactly one live entry here, at index
    /// `seq - front_seq`; the other entries are stale, left by `remove`. The
    /// front is never stale, and at most `capacity` entries are: a `remove`
    /// leaving more stale entries than live ones compacts the queue.
    expiries: VecDeque<Expiry>,
    /// The `seq` of the front entry: entries are numbered consecutively
    /// from it (compaction renumbers).
    front_seq: u64,
    latest: Instant,
    stats: DedupStats,
}

impl<V> DedupCache<V> {
    /// A cache hashing keys under `secret` (16 random bytes, kept private),
    /// remembering each for `ttl`, holding at most `capacity` entries.
    /// Memory grows with use up to a bound set by `capacity` (see the type's
    /// docs); a capacity of 0 remembers nothing.
    pub fn new(secret: [u8; 16], ttl: Duration, capacity: usize) -> DedupCache<V> {
        DedupCache {
            hasher: SipHasher24::new_with_key(&secret),
            ttl,
            capacity,
            receipts: HashMap::with_hasher(Prehashed),
            expiries: VecDeque::new(),
            front_seq: 0,
            latest: Instant::ZERO,
            stats: DedupStats::default(),
        }
    }

    /// How long a key is remembered.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Most entries held at once: [`len`](DedupCache::len) never exceeds
    /// it, and only an insert at `capacity` entries evicts early. Removed
    /// keys do not count.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keys remembered now, the entries that count towards `capacity` (some
    /// may be past their TTL until the next call that takes `now`).
    pub fn len(&self) -> usize {
        self.receipts.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.receipts.is_empty()
    }

    /// Counters since construction.
    pub fn stats(&self) -> DedupStats {
        self.stats
    }

    /// The 128-bit keyed hash a key is remembered by.
    pub fn key_hash(&self, key: &[u8]) -> u128 {
        self.hasher.hash(key).as_u128()
    }

    /// Remembers `key` with `receipt` if it is not remembered already;
    /// otherwise returns the receipt stored with it first (`receipt` is then
    /// dropped). A duplicate does not extend the TTL. A new key, with
    /// `capacity` keys remembered, evicts the oldest of them first.
    pub fn check_or_insert(&mut self, now: Instant, key: &[u8], receipt: V) -> Seen<&V> {
        let now = self.advance(now);
        let hash = self.key_hash(key);
        if self.capacity == 0 {
            self.stats.new += 1;
            return Seen::New;
        }
        if self.receipts.len() >= self.capacity && !self.receipts.contains_key(&hash) {
            self.evict_oldest();
        }
        match self.receipts.entry(hash) {
            Entry::Occupied(entry) => {
                self.stats.duplicates += 1;
                Seen::Duplicate(&entry.into_mut().receipt)
            }
            Entry::Vacant(entry) => {
                let seq = self.front_seq.wrapping_add(self.expiries.len() as u64);
                self.expiries.push_back(Expiry {
                    hash,
                    at: now + self.ttl,
                    live: true,
                });
                self.stats.new += 1;
                entry.insert(Remembered { seq, receipt });
                Seen::New
            }
        }
    }

    /// The receipt remembered for `key`, if any.
    pub fn get(&mut self, now: Instant, key: &[u8]) -> Option<&V> {
        self.get_mut(now, key).map(|r| &*r)
    }

    /// The receipt remembered for `key`, to fill in one inserted as pending
    /// before the message was stored.
    pub fn get_mut(&mut self, now: Instant, key: &[u8]) -> Option<&mut V> {
        self.advance(now);
        let hash = self.key_hash(key);
        self.receipts.get_mut(&hash).map(|r| &mut r.receipt)
    }

    /// Forgets `key`, returning its receipt: call it when storing the message
    /// failed, so the client's resend is processed instead of answered. Its
    /// room is free at once: the next new key evicts nothing for it.
    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let hash = self.key_hash(key);
        let removed = self.receipts.remove(&hash)?;
        // Its queue entry is stale now: dropped here if at the front, else
        // when it gets there or the queue is compacted.
        let index = removed.seq.wrapping_sub(self.front_seq) as usize;
        if let Some(expiry) = self.expiries.get_mut(index) {
            debug_assert!(expiry.live && expiry.hash == hash);
            expiry.live = false;
        }
        self.drop_stale_front();
        if self.expiries.len() > 2 * self.receipts.len() {
            self.compact();
        }
        Some(removed.receipt)
    }

    /// Drops every entry whose TTL has passed by `now`. Calling it is
    /// optional (every call taking `now` expires first); it frees receipts
    /// sooner on an idle cache. Harmless when called early.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// When the oldest entry expires, if any (a removed key's deadline is
    /// gone with it): after `handle_timeout(now)` this is later than `now`,
    /// or `None`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiries.front().map(|e| e.at)
    }

    /// Moves the cache's clock to `now` (never backwards) and expires what
    /// is due; returns the clock.
    fn advance(&mut self, now: Instant) -> Instant {
        self.latest = self.latest.max(now);
        // The front is never stale, so each pop here expires a key.
        while self.expiries.front().is_some_and(|e| e.at <= self.latest) {
            self.pop_live_front();
            self.stats.expired += 1;
        }
        self.latest
    }

    /// Evicts the oldest key (the front: never stale) to make room.
    fn evict_oldest(&mut self) {
        if !self.expiries.is_empty() {
            self.pop_live_front();
            self.stats.evicted_early += 1;
        }
    }

    /// Forgets the front entry's key, then drops the stale entries behind
    /// it, so the front is live again (or the queue empty).
    fn pop_live_front(&mut self) {
        if let Some(expiry) = self.expiries.pop_front() {
            debug_assert!(expiry.live);
            // (Through the entry: hashbrown inlines this, not `remove`.)
            if let Entry::Occupied(entry) = self.receipts.entry(expiry.hash) {
                debug_assert_eq!(entry.get().seq, self.front_seq);
                entry.remove();
            }
            self.front_seq = self.front_seq.wrapping_add(1);
        }
        self.drop_stale_front();
    }

    /// Pops stale entries off the front. Each queue entry is popped once, so
    /// this is O(1) amortized; it reads only the queue.
    fn drop_stale_front(&mut self) {
        while self.expiries.front().is_some_and(|e| !e.live) {
            self.expiries.pop_front();
            self.front_seq = self.front_seq.wrapping_add(1);
        }
    }

    /// Drops every stale entry, keeping the order (and the allocation), and
    /// renumbers the live ones. Runs only when stale entries outnumber live
    /// ones, so its O(queue) cost is paid for by more removes than live
    /// entries since the last one: O(1) amortized per `remove`.
    fn compact(&mut self) {
        // The front is live: it keeps its number, the rest follow it.
        let mut seq = self.front_seq;
        let receipts = &mut self.receipts;
        self.expiries.retain(|e| {
            if e.live {
                if let Some(r) = receipts.get_mut(&e.hash) {
                    r.seq = seq;
                }
                seq = seq.wrapping_add(1);
            }
            e.live
        });
    }
}

impl<V> core::fmt::Debug for DedupCache<V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret key.
        f.debug_struct("DedupCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("len", &self.receipts.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 16] = *b"0123456789abcdef";

    #[test]
    fn a_removed_key_leaves_a_stale_slot_that_does_not_expire_its_successor() {
        let ttl = Duration::from_secs(10);
        let mut c = DedupCache::new(SECRET, ttl, 4);
        let t0 = Instant::from_millis(0);
        assert_eq!(c.check_or_insert(t0, b"a", 0), Seen::New);
        assert_eq!(c.check_or_insert(t0, b"k", 1), Seen::New);
        assert_eq!(c.check_or_insert(t0, b"z", 9), Seen::New);
        assert_eq!(c.remove(b"k"), Some(1));
        // Not at the front: the stale entry stays (no compaction yet).
        assert_eq!((c.len(), c.expiries.len()), (2, 3));
        let t1 = Instant::from_millis(5_000);
        assert_eq!(c.check_or_insert(t1, b"k", 2), Seen::New);
        // The first insertion's queue entry goes with `a` and `z`; the
        // second entry for `k` stays.
        c.handle_timeout(Instant::from_millis(10_000));
        assert_eq!(c.get(Instant::from_millis(10_000), b"k"), Some(&2));
        assert_eq!(c.stats().expired, 2);
        assert_eq!(c.expiries.len(), 1);
        c.handle_timeout(Instant::from_millis(15_000));
        assert_eq!(c.get(Instant::from_millis(15_000), b"k"), None);
        assert_eq!(c.stats().expired, 3);
    }

    /// The queue's invariants: one live entry per key, where its `seq` says,
    /// a live front, and at most `capacity` stale entries.
    fn check_queue<V>(c: &DedupCache<V>) {
        let live = c.expiries.iter().filter(|e| e.live).count();
        assert_eq!(live, c.receipts.len());
        for (hash, r) in &c.receipts {
            let e = &c.expiries[r.seq.wrapping_sub(c.front_seq) as usize];
            assert!(e.live && e.hash == *hash);
        }
        assert!(c.expiries.front().is_none_or(|e| e.live));
        assert!(c.expiries.len() - live <= c.capacity);
        assert!(c.expiries.len() <= 2 * c.capacity);
    }

    #[test]
    fn an_insert_remove_loop_keeps_the_queue_bounded() {
        let capacity = 64;
        let mut c = DedupCache::new(SECRET, Duration::from_secs(3_600), capacity);
        let now = Instant::ZERO;
        // Half full of keys that stay, then a hostile loop of new keys, each
        // removed three inserts later (behind the keys that stay, so the
        // stale entries pile up in the middle of the queue).
        for i in 0..32u64 {
            c.check_or_insert(now, &i.to_le_bytes(), i);
        }
        let mut grown = 0;
        for i in 1_000..50_000u64 {
            assert_eq!(c.check_or_insert(now, &i.to_le_bytes(), i), Seen::New);
            if i >= 1_003 {
                assert_eq!(c.remove(&(i - 3).to_le_bytes()), Some(i - 3));
            }
            check_queue(&c);
            if i == 10_000 {
                grown = c.expiries.capacity();
            }
        }
        // The queue stopped growing early on, and no stored key was pushed
        // out: the loop never held `capacity` keys.
        assert_eq!(c.expiries.capacity(), grown);
        assert!(grown <= 4 * capacity, "{grown}");
        assert_eq!(c.stats().evicted_early, 0);
        for i in 0..32u64 {
            assert_eq!(c.get(now, &i.to_le_bytes()), Some(&i));
        }
    }

    #[test]
    fn eviction_skips_removed_keys_and_takes_the_oldest_live_one() {
        let mut c = DedupCache::new(SECRET, Duration::from_secs(60), 3);
        let now = Instant::ZERO;
        for k in [b"a", b"b", b"c"] {
            c.check_or_insert(now, k, ());
        }
        c.remove(b"a");
        c.remove(b"b");
        check_queue(&c);
        c.check_or_insert(now, b"d", ());
        c.check_or_insert(now, b"e", ());
        assert_eq!(c.stats().evicted_early, 0);
        // Full: `c` is the oldest live key.
        c.check_or_insert(now, b"f", ());
        assert_eq!(c.stats().evicted_early, 1);
        assert_eq!(c.get(now, b"c"), None);
        for k in [b"d", b"e", b"f"] {
            assert_eq!(c.get(now, k), Some(&()));
        }
        check_queue(&c);
    }

    #[test]
    fn a_clock_going_back_does_not_reorder_expiry() {
        let ttl = Duration::from_secs(1);
        let mut c = DedupCache::new(SECRET, ttl, 8);
        c.check_or_insert(Instant::from_millis(5_000), b"a", ());
        c.check_or_insert(Instant::from_millis(1_000), b"b", ());
        // "b" counts as inserted at 5 s, not 1 s.
        c.handle_timeout(Instant::from_millis(5_999));
        assert_eq!(c.len(), 2);
        c.handle_timeout(Instant::from_millis(6_000));
        assert!(c.is_empty());
    }

    #[test]
    fn poll_timeout_is_later_than_now_after_handle_timeout() {
        let mut c = DedupCache::new(SECRET, Duration::from_millis(100), 16);
        for i in 0..10u64 {
            c.check_or_insert(Instant::from_millis(i * 30), &i.to_le_bytes(), i);
        }
        let mut now = Instant::ZERO;
        while let Some(deadline) = c.poll_timeout() {
            now = deadline;
            c.handle_timeout(now);
            assert!(c.poll_timeout().is_none_or(|d| d > now));
        }
        assert_eq!(now, Instant::from_millis(370));
        assert_eq!(c.stats().expired, 10);
    }

    #[test]
    fn capacity_zero_remembers_nothing() {
        let mut c = DedupCache::new(SECRET, Duration::from_secs(1), 0);
        assert_eq!(c.check_or_insert(Instant::ZERO, b"k", ()), Seen::New);
        assert_eq!(c.check_or_insert(Instant::ZERO, b"k", ()), Seen::New);
        assert!(c.is_empty());
    }
}
