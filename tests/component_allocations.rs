//! The sequencing components allocate nothing per operation in steady state:
//! the allocator's slab and index, the dedup cache's map and queue stay as
//! they grew during warm-up. Allocation counts are deterministic, so this
//! asserts zero exactly.

use ackwire::*;
use core::time::Duration;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; it only counts.
// (The library itself forbids unsafe code; a global allocator needs it.)
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f`.
fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.load(Ordering::Relaxed);
    f();
    ALLOCS.load(Ordering::Relaxed) - before
}

struct Sequencer {
    alloc: VersionAllocator,
    ids: IdGenerator,
    cache: DedupCache<Version>,
    clock_us: u64,
    key: u64,
}

impl Sequencer {
    /// One message: dedup check, id, version; streams churn through the
    /// allocator's bound so eviction and reloading run too.
    fn round(&mut self, n: u64) {
        for _ in 0..n {
            // Mostly a flood (the cache evicts early), now and then a lull
            // (entries expire).
            self.clock_us += if self.key % 5_000 == 0 { 100_000 } else { 10 };
            self.key += 1;
            let now = Instant::from_micros(self.clock_us);
            let id = self.ids.next_id(self.clock_us / 1000).unwrap();
            let stream = StreamId(self.key % 96);
            if !self.alloc.is_loaded(stream) {
                self.alloc.load(stream, Version(self.key * 1000)).unwrap();
            }
            while let Some(p) = self.alloc.poll_persist() {
                self.alloc.confirm_persisted(p.stream, p.bound).unwrap();
            }
            let version = self.alloc.allocate(stream).unwrap();
            // Every seventh message is a resend of an earlier one.
            let key = if self.key % 7 == 0 { self.key - 3 } else { id };
            self.cache.check_or_insert(now, &key.to_le_bytes(), version);
            if key % 11 == 0 {
                self.cache.remove(&key.to_le_bytes());
            }
        }
    }
}

#[test]
fn steady_state_allocates_nothing() {
    let mut s = Sequencer {
        alloc: VersionAllocator::new(64, 64).unwrap(),
        ids: IdGenerator::new(IdLayout::default(), 1).unwrap(),
        cache: DedupCache::new([3; 16], Duration::from_millis(50), 4_096),
        clock_us: 1_750_000_000_000_000,
        key: 0,
    };
    // Warm-up: every structure reaches its largest size.
    s.round(100_000);
    let n = allocations(|| s.round(100_000));
    assert_eq!(n, 0, "allocations in steady state");
    assert!(s.alloc.stats().evicted > 0);
    assert!(s.cache.stats().evicted_early > 0 && s.cache.stats().expired > 0);
}
