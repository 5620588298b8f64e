//! The hot path (send, transmit, receive, deliver, commit, ack) allocates
//! nothing per message in steady state beyond what the caller hands in.
//! Allocation counts are deterministic, so this asserts them exactly.

use ackwire::*;
use bytes::Bytes;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Only the measuring test's own thread counts: the test harness
    /// allocates on other threads (output capture of a finished test) at
    /// any time.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTING.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Allocations on this thread while `f` runs.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.load(Ordering::Relaxed) - before
}

// SAFETY: forwards every call unchanged to the system allocator; it only counts.
// (The library itself forbids unsafe code; a global allocator needs it.)
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter is global: the tests here take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One round of the full loop for `batch` messages on 4 streams.
fn round(
    tx: &mut Sender,
    rx: &mut Receiver,
    now: Instant,
    next: &mut [u64; 4],
    payload: &Bytes,
    batch: u64,
) {
    for i in 0..batch {
        let s = (i % 4) as usize;
        let m = Message::new(
            StreamId(s as u64),
            Version(next[s]),
            Version(next[s] + 1),
            payload.clone(),
        );
        next[s] += 1;
        tx.send(now, m).unwrap();
    }
    while let Some(p) = tx.poll_transmit(now) {
        rx.handle_input(now, p).unwrap();
    }
    while let Some(ReceiverEvent::Deliver(m)) = rx.poll_event() {
        rx.commit(now, m.stream, m.version).unwrap();
    }
    while let Some(a) = rx.poll_transmit(now) {
        tx.handle_input(now, a).unwrap();
    }
    let mut acked = 0;
    while let Some(e) = tx.poll_event() {
        assert!(matches!(e, SenderEvent::Acked { .. }));
        acked += 1;
    }
    assert_eq!(acked, batch);
}

#[test]
fn steady_state_full_loop_allocates_nothing_per_message() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = Config {
        ack_every: 8,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg.clone(), ConnectionId(1));
    let mut rx = Receiver::new(cfg, ConnectionId(1));
    let payload = Bytes::from_static(&[7u8; 64]);
    let mut next = [0u64; 4];
    // Warm up: buffers, maps and queues reach their working capacity.
    for r in 0..50 {
        round(
            &mut tx,
            &mut rx,
            Instant::from_millis(r),
            &mut next,
            &payload,
            64,
        );
    }
    let allocs = allocations_in(|| {
        for r in 50..1050 {
            round(
                &mut tx,
                &mut rx,
                Instant::from_millis(r),
                &mut next,
                &payload,
                64,
            );
        }
    });
    let messages = 1000 * 64;
    // Each packet is written into a reusable region that is reclaimed
    // once the previous packets' payload slices are dropped, as they are
    // here before the next send: nothing is allocated at all.
    assert_eq!(allocs, 0, "{allocs} allocations for {messages} messages");
    println!("{allocs} allocations for {messages} messages");
}

/// The side-by-side bench loop (benches/common: 1,024 messages a round on
/// 8 streams, a window of 4,096), lossless and at 10 % loss, in steady
/// state. What the few allocations are is in BENCHMARKS.md
/// (`cargo run --example alloc_sites [-- LOSS]` lists them).
#[path = "../benches/common/mod.rs"]
mod bench_loop;

fn bench_loop_allocations(loss: u64, rounds: u64) -> (u64, u64) {
    let mut p = bench_loop::Pair::new(bench_loop::Pair::full_loop_config(), 8, loss);
    for _ in 0..50 {
        p.round(1024);
    }
    let allocs = allocations_in(|| {
        for _ in 0..rounds {
            p.round(1024);
        }
    });
    (allocs, rounds * 1024)
}

#[test]
fn steady_state_bench_loop_allocates_almost_nothing_per_message() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for loss in [0, 10] {
        let (allocs, messages) = bench_loop_allocations(loss, 200);
        println!("{loss}% loss: {allocs} allocations for {messages} messages");
        // A round's five 16 KiB packets are all still referenced (by the
        // receiver's undelivered payloads) when the fifth is written: the
        // packet region (4 packets) is refilled once a round, two
        // allocations (the region, its shared header). Lossy rounds also
        // grow timer and hash tables now and then. Never one per message.
        if loss == 0 {
            assert!(
                allocs <= 2 * 200,
                "{allocs} allocations for {messages} messages"
            );
        }
        assert!(
            allocs * 100 < messages,
            "{loss}% loss: {allocs} allocations for {messages} messages"
        );
    }
}
