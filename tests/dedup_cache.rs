//! The TTL dedup cache: first receipt wins within the TTL, keys are new again
//! after it, the capacity bound holds under a flood, the hash is keyed, and
//! random operations match a plain reference model.

use ackwire::*;
use core::time::Duration;
use proptest::prelude::*;

const SECRET: [u8; 16] = *b"not-a-real-key!!";

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

#[test]
fn a_duplicate_within_the_ttl_gets_the_first_receipt() {
    let mut cache = DedupCache::new(SECRET, Duration::from_secs(60), 1_000);
    assert_eq!(
        cache.check_or_insert(at(0), b"msg-1", Version(10)),
        Seen::New
    );
    assert_eq!(
        cache.check_or_insert(at(1), b"msg-2", Version(11)),
        Seen::New
    );
    assert_eq!(
        cache.check_or_insert(at(59_999), b"msg-1", Version(12)),
        Seen::Duplicate(&Version(10))
    );
    assert_eq!(cache.get(at(59_999), b"msg-2"), Some(&Version(11)));
    assert_eq!(cache.stats().duplicates, 1);
}

#[test]
fn after_the_ttl_a_key_is_new_again() {
    let mut cache = DedupCache::new(SECRET, Duration::from_secs(60), 1_000);
    cache.check_or_insert(at(0), b"msg-1", 1);
    // A duplicate does not extend the TTL.
    assert_eq!(
        cache.check_or_insert(at(30_000), b"msg-1", 2),
        Seen::Duplicate(&1)
    );
    assert_eq!(cache.check_or_insert(at(60_000), b"msg-1", 3), Seen::New);
    assert_eq!(
        cache.check_or_insert(at(60_001), b"msg-1", 4),
        Seen::Duplicate(&3)
    );
    assert_eq!(cache.stats().expired, 1);
}

#[test]
fn the_capacity_bound_holds_under_a_flood_of_distinct_keys() {
    let capacity = 1_000;
    let mut cache = DedupCache::new(SECRET, Duration::from_secs(3_600), capacity);
    for i in 0..100_000u64 {
        let seen = cache.check_or_insert(at(i / 10), &i.to_be_bytes(), i);
        assert_eq!(seen, Seen::New);
        assert!(cache.len() <= capacity);
    }
    assert_eq!(cache.len(), capacity);
    assert_eq!(cache.stats().evicted_early, 100_000 - capacity as u64);
    // The newest keys are still remembered; the oldest were cut short.
    assert_eq!(
        cache.get(at(10_000), &99_999u64.to_be_bytes()),
        Some(&99_999)
    );
    assert_eq!(cache.get(at(10_000), &0u64.to_be_bytes()), None);
}

#[test]
fn the_hash_depends_on_the_secret() {
    let a = DedupCache::<()>::new(SECRET, Duration::from_secs(1), 1);
    let b = DedupCache::<()>::new(*b"another-secret!!", Duration::from_secs(1), 1);
    let a2 = DedupCache::<()>::new(SECRET, Duration::from_secs(1), 1);
    for key in [&b""[..], b"x", b"client-42/msg-1"] {
        assert_ne!(a.key_hash(key), b.key_hash(key));
        assert_eq!(a.key_hash(key), a2.key_hash(key));
    }
    assert_ne!(a.key_hash(b"x"), a.key_hash(b"y"));
    // The secret never shows in debug output.
    let k0 = u64::from_le_bytes(SECRET[..8].try_into().unwrap());
    let debug = format!("{a:?}");
    assert!(!debug.contains(&k0.to_string()) && !debug.contains("110, 111, 116"));
}

#[test]
fn a_failed_store_can_forget_the_key() {
    let mut cache = DedupCache::new(SECRET, Duration::from_secs(60), 10);
    assert_eq!(cache.check_or_insert(at(0), b"k", None), Seen::New);
    // Storing failed: forget, so the resend is processed.
    assert_eq!(cache.remove(b"k"), Some(None));
    assert_eq!(cache.check_or_insert(at(1), b"k", None), Seen::New);
    // Stored: fill the pending receipt in.
    *cache.get_mut(at(2), b"k").unwrap() = Some(Version(7));
    assert_eq!(
        cache.check_or_insert(at(3), b"k", None),
        Seen::Duplicate(&Some(Version(7)))
    );
}

#[derive(Clone, Debug)]
enum Op {
    Check(u8, i64),
    Get(u8, i64),
    Remove(u8),
    Timeout(i64),
}

fn op() -> impl Strategy<Value = Op> {
    // Mostly forward, sometimes backwards: the cache must not reorder expiry.
    let dt = prop_oneof![6 => 0i64..40, 1 => -50i64..0];
    prop_oneof![
        6 => (0u8..24, dt.clone()).prop_map(|(k, d)| Op::Check(k, d)),
        2 => (0u8..24, dt.clone()).prop_map(|(k, d)| Op::Get(k, d)),
        1 => (0u8..24).prop_map(Op::Remove),
        1 => dt.prop_map(Op::Timeout),
    ]
}

/// The cache's rules, written plainly: a list of slots in insertion order;
/// a removed key leaves a dead slot that still takes room until it leaves.
struct Model {
    ttl: u64,
    capacity: usize,
    latest: u64,
    slots: Vec<(u8, u64, u32, bool)>,
}

impl Model {
    fn advance(&mut self, now: u64) {
        self.latest = self.latest.max(now);
        while self.slots.first().is_some_and(|s| s.1 <= self.latest) {
            self.slots.remove(0);
        }
    }

    fn find(&self, key: u8) -> Option<u32> {
        self.slots.iter().find(|s| s.3 && s.0 == key).map(|s| s.2)
    }

    fn check(&mut self, now: u64, key: u8, receipt: u32) -> Seen<u32> {
        self.advance(now);
        if let Some(r) = self.find(key) {
            return Seen::Duplicate(r);
        }
        if self.capacity == 0 {
            return Seen::New;
        }
        if self.slots.len() >= self.capacity {
            self.slots.remove(0);
        }
        self.slots
            .push((key, self.latest + self.ttl, receipt, true));
        Seen::New
    }

    fn remove(&mut self, key: u8) -> Option<u32> {
        let slot = self.slots.iter_mut().find(|s| s.3 && s.0 == key)?;
        slot.3 = false;
        Some(slot.2)
    }

    fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.3).count()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_a_reference_model(
        ttl in 1u64..200,
        capacity in 0usize..12,
        ops in proptest::collection::vec(op(), 0..300),
    ) {
        let mut cache = DedupCache::new(SECRET, Duration::from_millis(ttl), capacity);
        let mut model = Model { ttl, capacity, latest: 0, slots: Vec::new() };
        let mut clock: u64 = 1_000;
        for (i, op) in ops.into_iter().enumerate() {
            let receipt = i as u32;
            match op {
                Op::Check(k, d) => {
                    clock = clock.saturating_add_signed(d);
                    let got = cache.check_or_insert(at(clock), &[k], receipt).map(|r| *r);
                    prop_assert_eq!(got, model.check(clock, k, receipt));
                }
                Op::Get(k, d) => {
                    clock = clock.saturating_add_signed(d);
                    let got = cache.get(at(clock), &[k]).copied();
                    model.advance(clock);
                    prop_assert_eq!(got, model.find(k));
                }
                Op::Remove(k) => prop_assert_eq!(cache.remove(&[k]), model.remove(k)),
                Op::Timeout(d) => {
                    clock = clock.saturating_add_signed(d);
                    cache.handle_timeout(at(clock));
                    model.advance(clock);
                    prop_assert!(cache.poll_timeout().is_none_or(|t| t > at(model.latest)));
                }
            }
            prop_assert_eq!(cache.len(), model.live());
            prop_assert!(cache.len() <= capacity);
        }
    }
}

/// Maps a `Seen<&V>` to owned values for comparison.
trait SeenExt<R> {
    fn map<T>(self, f: impl FnOnce(R) -> T) -> Seen<T>;
}

impl<R> SeenExt<R> for Seen<R> {
    fn map<T>(self, f: impl FnOnce(R) -> T) -> Seen<T> {
        match self {
            Seen::New => Seen::New,
            Seen::Duplicate(r) => Seen::Duplicate(f(r)),
        }
    }
}
