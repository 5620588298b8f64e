//! The sequencing components on their hot paths, in steady state: the
//! version allocator handing out versions (writes confirmed at once), the id
//! generator on an advancing clock, and the dedup cache at capacity with
//! entries expiring as fast as new ones arrive. Reported per operation.

use ackwire::*;
use core::time::Duration;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn allocator(c: &mut Criterion) {
    let mut g = c.benchmark_group("components");
    g.throughput(Throughput::Elements(1));
    let streams = 1024u64;
    let mut alloc = VersionAllocator::new(1024, streams as usize).unwrap();
    let mut store = vec![0u64; streams as usize];
    for s in 0..streams {
        alloc.load(StreamId(s), Version(0)).unwrap();
    }
    let mut i = 0u64;
    g.bench_function("allocator_allocate", |b| {
        b.iter(|| {
            while let Some(p) = alloc.poll_persist() {
                let s = &mut store[p.stream.0 as usize];
                *s = (*s).max(p.bound.0);
                alloc.confirm_persisted(p.stream, p.bound).unwrap();
            }
            i = i.wrapping_add(1);
            black_box(alloc.allocate(StreamId(i % streams)).unwrap())
        })
    });

    let mut ids = IdGenerator::new(IdLayout::default(), 17).unwrap();
    let mut now_ms = 1_750_000_000_000u64;
    let mut n = 0u64;
    g.bench_function("idgen_next_id", |b| {
        b.iter(|| {
            // About 1000 ids per millisecond: well within one tick's counter.
            n += 1;
            if n % 1000 == 0 {
                now_ms += 1;
            }
            black_box(ids.next_id(black_box(now_ms)).unwrap())
        })
    });

    // 100 000 entries, a 1 s TTL, one insert per 10 µs: at capacity, each
    // insert expires about one entry. One check in eight is a resend.
    let mut cache = DedupCache::new([9; 16], Duration::from_secs(1), 100_000);
    let mut t = 0u64;
    let mut k = 0u64;
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(b"client-7");
    for _ in 0..200_000 {
        t += 10;
        k += 1;
        key[8..16].copy_from_slice(&k.to_le_bytes());
        cache.check_or_insert(Instant::from_micros(t), &key, Version(k));
    }
    g.bench_function("dedup_check_or_insert", |b| {
        b.iter(|| {
            t += 10;
            k += 1;
            let id = if k % 8 == 0 { k - 50 } else { k };
            key[8..16].copy_from_slice(&id.to_le_bytes());
            let seen = cache.check_or_insert(Instant::from_micros(t), &key, Version(k));
            black_box(matches!(seen, Seen::New))
        })
    });
    g.finish();
    let stats = cache.stats();
    assert!(cache.len() <= 100_000 && stats.evicted_early == 0);
}

criterion_group!(benches, allocator);
criterion_main!(benches);
