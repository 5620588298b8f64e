//! What a connection costs in memory: the inline size of each endpoint,
//! the heap of an idle pair, the heap per message in flight and per
//! stream. Measured with a global allocator that tracks live bytes;
//! allocation is deterministic, so the bounds below are asserted (with
//! headroom: they guard against a per-message cost creeping up, not the
//! exact figure). `cargo test --test memory -- --nocapture` prints the
//! numbers BENCHMARKS.md reports.

use ackwire::*;
use bytes::Bytes;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

struct Live;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; it only
// keeps a running total of the bytes allocated and not yet freed.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

fn live() -> i64 {
    LIVE.load(Ordering::Relaxed)
}

/// Heap bytes `f` leaves allocated, and its result.
fn heap_of<T>(f: impl FnOnce() -> T) -> (i64, T) {
    let before = live();
    let t = f();
    (live() - before, t)
}

/// A pair and its app's bookkeeping, allocated up front so that only the
/// library's allocations move the count.
struct Pair {
    tx: Sender,
    rx: Receiver,
    /// The last version per stream.
    next: Vec<u64>,
    /// Delivered, not committed.
    held: Vec<(StreamId, Version)>,
    now: u64,
}

impl Pair {
    fn new(cfg: Config) -> Pair {
        let most = cfg.max_streams.max(cfg.max_in_flight as usize);
        Pair {
            tx: Sender::new(cfg.clone(), ConnectionId(1)),
            rx: Receiver::new(cfg, ConnectionId(1)),
            next: vec![0; most],
            held: Vec::with_capacity(most),
            now: 0,
        }
    }

    /// Sends `n` messages round-robin on `streams` streams and delivers
    /// them; the app takes them (and drops their payloads) but commits
    /// none yet.
    fn in_flight(&mut self, n: u64, streams: u64) {
        let now = Instant::from_micros(self.now);
        let payload = Bytes::from_static(&[0x5a; 64]);
        for i in 0..n {
            let s = (i % streams) as usize;
            let v = self.next[s];
            self.next[s] += 1;
            let m = Message::new(
                StreamId(s as u64),
                Version(v),
                Version(v + 1),
                payload.clone(),
            );
            self.tx.send(now, m).unwrap();
        }
        while let Some(p) = self.tx.poll_transmit(now) {
            self.rx.handle_input(now, p).unwrap();
        }
        while let Some(e) = self.rx.poll_event() {
            if let ReceiverEvent::Deliver(m) = e {
                self.held.push((m.stream, m.version));
            }
        }
        assert_eq!(self.held.len() as u64, n);
    }

    /// Commits, acks, and lets the sender settle them.
    fn settle(&mut self) {
        let now = Instant::from_micros(self.now);
        for (s, v) in self.held.drain(..) {
            self.rx.commit(now, s, v).unwrap();
        }
        let later = now + std::time::Duration::from_secs(1);
        self.rx.handle_timeout(later);
        while let Some(a) = self.rx.poll_transmit(later) {
            self.tx.handle_input(later, a).unwrap();
        }
        let mut acked = 0;
        while let Some(e) = self.tx.poll_event() {
            acked += u64::from(matches!(e, SenderEvent::Acked { .. }));
        }
        assert!(acked > 0);
        self.now += 2_000_000;
    }
}

/// Heap bytes per message in flight: a pair's heap with `n` messages in
/// flight (sent, delivered, uncommitted) less its heap with one, over
/// `n - 1`. The queues keep their capacity afterwards (they do not
/// shrink), so this is also what an idle pair retains per message of the
/// largest window it has seen.
fn per_in_flight(cfg: Config, n: u64, streams: u64) -> (f64, i64) {
    let mut p = Pair::new(cfg);
    let base = live();
    p.in_flight(1, 1);
    let one = live() - base;
    p.settle();
    p.in_flight(n, streams);
    let busy = live() - base;
    p.settle();
    let grown = busy - one;
    (grown as f64 / (n - 1) as f64, grown)
}

#[test]
fn memory_per_pair_per_message_and_per_stream() {
    println!(
        "size_of: Sender {} B, Receiver {} B, Connection {} B (Config {} B, Message {} B)",
        std::mem::size_of::<Sender>(),
        std::mem::size_of::<Receiver>(),
        std::mem::size_of::<Connection>(),
        std::mem::size_of::<Config>(),
        std::mem::size_of::<Message>(),
    );

    let cfg = Config::default();
    // A server shares one `Config` between all its endpoints (`Arc`): its
    // heap is not the pair's.
    let shared = std::sync::Arc::new(cfg.clone());
    let (new_pair, _) = heap_of(|| {
        (
            Sender::new(shared.clone(), ConnectionId(1)),
            Receiver::new(shared.clone(), ConnectionId(1)),
        )
    });
    println!("heap of a new pair (default Config, shared): {new_pair} B");
    let mut pair = Pair::new(cfg.clone());
    // One message there and its ack back: the packet writers have their
    // reserve (4 x max_packet_size each) and the queues a first capacity.
    let (first, ()) = heap_of(|| {
        pair.in_flight(1, 1);
        pair.settle();
    });
    println!(
        "heap of an idle pair after one message (default Config, 16 KiB packets): {} B",
        new_pair + first
    );
    drop(pair);

    let small = Config {
        max_packet_size: 1200,
        ..Config::default()
    };
    let shared_small = std::sync::Arc::new(small.clone());
    let (new_small, _) = heap_of(|| {
        (
            Sender::new(shared_small.clone(), ConnectionId(1)),
            Receiver::new(shared_small.clone(), ConnectionId(1)),
        )
    });
    let mut pair = Pair::new(small.clone());
    let (first_small, ()) = heap_of(|| {
        pair.in_flight(1, 1);
        pair.settle();
    });
    println!(
        "heap of an idle pair after one message (1200-byte packets): {} B",
        new_small + first_small
    );
    drop(pair);

    let (per_1k, busy_1k) = per_in_flight(cfg.clone(), 1000, 8);
    println!(
        "heap per message in flight, 1,000 in flight (default Config): {per_1k:.0} B ({busy_1k} B)"
    );
    let big = |n: u64| Config {
        max_in_flight: n,
        max_queued: n as usize,
        max_held_messages: n as usize,
        ..Config::default()
    };
    let (per_100k, busy_100k) = per_in_flight(big(100_000), 100_000, 8);
    println!("heap per message in flight, 100,000 in flight: {per_100k:.0} B ({busy_100k} B)");

    // The receiver's fixed SID windows grow with max_in_flight.
    for n in [1_024u64, 100_000, 1_000_000] {
        let config = std::sync::Arc::new(big(n));
        let (rx, _r) = heap_of(|| Receiver::new(config.clone(), ConnectionId(1)));
        println!("heap of a new Receiver, max_in_flight {n}: {rx} B");
    }

    // Per stream: 10,000 streams each with one message committed.
    let streams = 10_000u64;
    let cfg_s = Config {
        max_in_flight: streams,
        max_queued: streams as usize,
        max_held_messages: streams as usize,
        max_streams: streams as usize,
        ..Config::default()
    };
    let mut p = Pair::new(cfg_s);
    // Warm-up: the sender's window and the receiver's queues at 10,000.
    p.in_flight(streams, 8);
    p.settle();
    let (per_stream_bytes, ()) = heap_of(|| {
        p.in_flight(streams, streams);
        p.settle();
    });
    let per_stream = per_stream_bytes as f64 / streams as f64;
    println!("heap per stream (receiver, idle streams): {per_stream:.0} B");

    // Bounds (documented in BENCHMARKS.md), with headroom.
    assert!(new_pair <= 4 * 1024, "new pair: {new_pair} B");
    assert!(per_1k <= 512.0, "per in-flight message: {per_1k} B");
    assert!(per_100k <= 512.0, "per in-flight message: {per_100k} B");
    assert!(per_stream <= 512.0, "per stream: {per_stream} B");
}
