//! The sequencing components on their hot paths, in steady state: the
//! version allocator handing out versions (writes confirmed at once), the id
//! generator on an advancing clock, and the dedup cache at capacity with
//! entries expiring as fast as new ones arrive, alone and through an HTTP
//! send path (pending receipts, failed writes removed). Reported per
//! operation.
//!
//! And the receiver's reorder buffer, through the public API: 64 messages
//! of one stream, one per packet, arriving in order, with the first one
//! last (63 wait for it, then drain), and in reverse. The difference to
//! the in-order case is what holding and draining out-of-order messages
//! costs. Reported per message (each includes its packet's checksum and
//! decoding, its delivery and its commit).

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

    // The same rate and TTL through an HTTP send path: a pending receipt per
    // new key, filled in once stored; one store write in eight fails and
    // its key is removed, and its resend (three sends later) is processed
    // again. One send in eight is a resend of a stored message.
    let mut http = DedupCache::new([9; 16], Duration::from_secs(1), 100_000);
    let (mut t, mut k) = (0u64, 0u64);
    for _ in 0..200_000 {
        t += 10;
        k += 1;
        http_send(&mut http, Instant::from_micros(t), &mut key, k);
    }
    g.bench_function("dedup_http_send", |b| {
        b.iter(|| {
            t += 10;
            k += 1;
            black_box(http_send(&mut http, Instant::from_micros(t), &mut key, k))
        })
    });
    g.finish();
    let stats = cache.stats();
    assert!(cache.len() <= 100_000 && stats.evicted_early == 0);
    assert!(http.len() <= 100_000 && http.stats().evicted_early == 0);
}

/// Send number `k` of the HTTP path above; returns whether it was processed
/// (a new key) rather than answered from the cache.
fn http_send(
    cache: &mut DedupCache<Option<Version>>,
    now: Instant,
    key: &mut [u8; 24],
    k: u64,
) -> bool {
    let id = match k % 8 {
        0 => k - 50,
        4 => k - 3,
        _ => k,
    };
    key[8..16].copy_from_slice(&id.to_le_bytes());
    match cache.check_or_insert(now, key, None) {
        Seen::Duplicate(receipt) => {
            black_box(receipt);
            false
        }
        Seen::New => {
            if k % 8 == 1 {
                cache.remove(key);
            } else if let Some(receipt) = cache.get_mut(now, key) {
                *receipt = Some(Version(k));
            }
            true
        }
    }
}

/// A receiver fed prepared packets; the packets come from a sender that
/// gets the receiver's acks back (outside the timed part).
struct Reorder {
    tx: Sender,
    rx: Receiver,
    next: u64,
    now: u64,
    packets: Vec<bytes::Bytes>,
}

#[derive(Clone, Copy)]
enum Arrival {
    InOrder,
    FirstLast,
    Reversed,
}

const RUN: u64 = 64;

impl Reorder {
    fn new() -> Reorder {
        Reorder {
            tx: Sender::new(Config::default(), ConnectionId(1)),
            rx: Receiver::new(Config::default(), ConnectionId(1)),
            next: 0,
            now: 0,
            packets: Vec::new(),
        }
    }

    /// One run of `RUN` messages; returns the time the receiver took.
    fn run(&mut self, arrival: Arrival) -> Duration {
        let now = Instant::from_micros(self.now);
        let payload = bytes::Bytes::from_static(&[0x5a; 64]);
        for _ in 0..RUN {
            let v = self.next;
            self.next += 1;
            let m = Message::new(StreamId(1), Version(v), Version(v + 1), payload.clone());
            self.tx.send(now, m).unwrap();
            self.packets.push(self.tx.poll_transmit(now).unwrap());
        }
        match arrival {
            Arrival::InOrder => {}
            Arrival::FirstLast => self.packets.rotate_left(1),
            Arrival::Reversed => self.packets.reverse(),
        }
        let t = std::time::Instant::now();
        for p in self.packets.drain(..) {
            self.rx.handle_input(now, p).unwrap();
        }
        let mut delivered = 0;
        while let Some(e) = self.rx.poll_event() {
            if let ReceiverEvent::Deliver(m) = e {
                self.rx.commit(now, m.stream, m.version).unwrap();
                delivered += 1;
            }
        }
        let spent = t.elapsed();
        assert_eq!(delivered, RUN);
        let later = now + Duration::from_secs(1);
        self.rx.handle_timeout(later);
        while let Some(a) = self.rx.poll_transmit(later) {
            self.tx.handle_input(later, a).unwrap();
        }
        while self.tx.poll_event().is_some() {}
        self.now += 2_000_000;
        spent
    }
}

fn reorder(c: &mut Criterion) {
    let mut g = c.benchmark_group("reorder_buffer");
    g.throughput(Throughput::Elements(RUN));
    for (arrival, name) in [
        (Arrival::InOrder, "in_order_64"),
        (Arrival::FirstLast, "first_last_64"),
        (Arrival::Reversed, "reversed_64"),
    ] {
        let mut r = Reorder::new();
        for _ in 0..100 {
            r.run(arrival);
        }
        g.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| r.run(arrival)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, allocator, reorder);
criterion_main!(benches);
