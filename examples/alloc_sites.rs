//! Where the full loop allocates in steady state: a counting global
//! allocator that, once armed after the warm-up, captures a backtrace at
//! every allocation, then groups them by the library frames they pass
//! through.
//!
//! ```sh
//! cargo run --example alloc_sites            # the loop of tests/allocations.rs (lossless)
//! cargo run --example alloc_sites -- 10      # the bench loop at 10 % loss
//! ```
//! Run it in the dev profile (full symbols); allocation counts are the
//! same as in release, since they follow the same capacities.

#[path = "../benches/common/mod.rs"]
mod common;

use ackwire::*;
use bytes::Bytes;
use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

struct Sampling;

static ARMED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
    static SITES: RefCell<Vec<(usize, Backtrace)>> = const { RefCell::new(Vec::new()) };
}

fn record(size: usize) {
    if !ARMED.load(Ordering::Relaxed) || IN_HOOK.with(|h| h.replace(true)) {
        return;
    }
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(size as u64, Ordering::Relaxed);
    let bt = Backtrace::force_capture();
    SITES.with_borrow_mut(|s| s.push((size, bt)));
    IN_HOOK.with(|h| h.set(false));
}

// SAFETY: forwards every call unchanged to the system allocator; it only
// records (the hook's own allocations are not recorded: IN_HOOK).
unsafe impl GlobalAlloc for Sampling {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Sampling = Sampling;

/// The loop of tests/allocations.rs: 64 messages on 4 streams per round,
/// ack_every 8, everything on one instant per round.
fn lossless_round(tx: &mut Sender, rx: &mut Receiver, now: Instant, next: &mut [u64; 4]) {
    let payload = Bytes::from_static(&[7u8; 64]);
    for i in 0..64 {
        let s = i % 4;
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
    while tx.poll_event().is_some() {}
}

/// The significant frames of a backtrace: the library's and `bytes`'.
fn signature(bt: &Backtrace) -> String {
    let text = bt.to_string();
    let mut frames: Vec<String> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some((_, name)) = line.split_once(": ") else {
            continue;
        };
        let keep = name.starts_with("ackwire::")
            || name.starts_with("bytes::")
            || name.starts_with("<bytes::")
            || name.starts_with("alloc_sites::")
            || name.starts_with("hashbrown::")
            || name.starts_with("alloc::collections");
        if keep && !name.contains("alloc_sites::record") && !name.contains("GlobalAlloc") {
            let short: String = name.split("::h").next().unwrap_or(name).to_string();
            if frames.last() != Some(&short) {
                frames.push(short);
            }
        }
        if frames.len() >= 6 {
            break;
        }
    }
    frames.join("\n      <- ")
}

fn main() {
    let loss: Option<u64> = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("loss percent"));
    let (messages, rounds) = match loss {
        None => {
            let cfg = Config {
                ack_every: 8,
                ..Config::default()
            };
            let mut tx = Sender::new(cfg.clone(), ConnectionId(1));
            let mut rx = Receiver::new(cfg, ConnectionId(1));
            let mut next = [0u64; 4];
            for r in 0..50 {
                lossless_round(&mut tx, &mut rx, Instant::from_millis(r), &mut next);
            }
            ARMED.store(true, Ordering::Relaxed);
            for r in 50..1050 {
                lossless_round(&mut tx, &mut rx, Instant::from_millis(r), &mut next);
            }
            ARMED.store(false, Ordering::Relaxed);
            (64_000u64, 1000)
        }
        Some(loss) => {
            let mut p = common::Pair::new(common::Pair::full_loop_config(), 8, loss);
            for _ in 0..50 {
                p.round(1024);
            }
            ARMED.store(true, Ordering::Relaxed);
            for _ in 0..200 {
                p.round(1024);
            }
            ARMED.store(false, Ordering::Relaxed);
            (200 * 1024, 200)
        }
    };
    let sites = SITES.with_borrow_mut(std::mem::take);
    let mut by: HashMap<String, (u64, u64)> = HashMap::new();
    for (size, bt) in &sites {
        let e = by.entry(signature(bt)).or_default();
        e.0 += 1;
        e.1 += *size as u64;
    }
    let mut by: Vec<_> = by.into_iter().collect();
    by.sort_by_key(|b| std::cmp::Reverse(b.1 .0));
    println!(
        "{} allocations ({} bytes) for {messages} messages in {rounds} rounds, after warm-up",
        ALLOCS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed)
    );
    for (sig, (n, bytes)) in by {
        println!("{n:6} allocations, {bytes:9} bytes:\n      {sig}");
    }
}
