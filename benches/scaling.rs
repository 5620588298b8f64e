//! How the per-message cost moves with scale (issue 8's scaling targets):
//!
//! - `in_flight/N`: a sliding window of N messages delivered and not yet
//!   committed (so N in flight for the sender), 10 new ones per step, 10
//!   commits per step, one ack per step. The same work per step at every
//!   N: only the size of the state differs.
//! - `streams/S`: the side-by-side full loop (1,024 messages per round)
//!   with messages spread round-robin over S streams.
//! - `sessions/100000`: 100,000 Sender+Receiver pairs in one process, each
//!   timer in one binary heap keyed by its `poll_timeout`; per tick of 1 ms
//!   1,000 sessions send a message, and every due timer fires. Reported
//!   per session per tick; the cost per timer fire is printed after it.
//!   `sessions_scan` is the other way to drive timers: every session's
//!   `poll_timeout` read once per tick.
//!
//! Lossless, 64-byte payloads, a fake clock.

mod common;

use ackwire::*;
use bytes::Bytes;
use common::{Pair, PAYLOAD};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::time::Duration;

const STEP: usize = 10;

fn in_flight(c: &mut Criterion) {
    let mut g = c.benchmark_group("scaling_in_flight");
    g.sample_size(10);
    g.throughput(Throughput::Elements(STEP as u64));
    for n in [10usize, 1_000, 100_000, 1_000_000] {
        let cfg = Config {
            max_in_flight: n as u64,
            max_queued: n,
            max_held_messages: n,
            ..Config::default()
        };
        let mut p = Pair::new(cfg, 8, 0);
        p.fill(n, STEP);
        for _ in 0..100 {
            p.slide(n, STEP);
        }
        g.bench_function(format!("{n}"), |b| {
            b.iter_custom(|iters| {
                let t = std::time::Instant::now();
                for _ in 0..iters {
                    p.slide(n, STEP);
                }
                t.elapsed()
            })
        });
    }
    g.finish();
}

fn streams(c: &mut Criterion) {
    const BATCH: u64 = 1024;
    let mut g = c.benchmark_group("scaling_streams");
    g.sample_size(20);
    g.throughput(Throughput::Elements(BATCH));
    for s in [1usize, 1_000, 100_000] {
        let cfg = Config {
            max_streams: s.max(10_000),
            ..Pair::full_loop_config()
        };
        let mut p = Pair::new(cfg, s, 0);
        // Every stream exists before measuring.
        for _ in 0..s as u64 / BATCH + 2 {
            p.round(BATCH);
        }
        g.bench_function(format!("{s}"), |b| {
            b.iter_custom(|iters| {
                let t = std::time::Instant::now();
                for _ in 0..iters {
                    p.round(BATCH);
                }
                t.elapsed()
            })
        });
    }
    g.finish();
}

/// Many sessions, one timer heap.
struct Sessions {
    tx: Vec<Sender>,
    rx: Vec<Receiver>,
    /// (deadline µs, session, receiver side?) — stale entries are skipped
    /// when popped: the endpoint's `poll_timeout` no longer says so.
    heap: BinaryHeap<Reverse<(u64, u32, bool)>>,
    next: Vec<u64>,
    now: u64,
    cursor: usize,
    payload: Bytes,
    fires: u64,
    stale: u64,
    timer_time: Duration,
}

const SESSIONS: usize = 100_000;
const SENDS_PER_TICK: usize = 1_000;

impl Sessions {
    fn new() -> Sessions {
        // A datagram-sized packet: the packet writer reserves 4 packets of
        // room per endpoint, which at the default 16 KiB would be 128 KiB a
        // session (see BENCHMARKS.md, memory).
        // One Config for every endpoint, as a server would share it.
        let cfg = std::sync::Arc::new(Config {
            max_packet_size: 1200,
            ..Config::default()
        });
        Sessions {
            tx: (0..SESSIONS as u64)
                .map(|i| Sender::new(cfg.clone(), ConnectionId(i)))
                .collect(),
            rx: (0..SESSIONS as u64)
                .map(|i| Receiver::new(cfg.clone(), ConnectionId(i)))
                .collect(),
            heap: BinaryHeap::new(),
            next: vec![0; SESSIONS],
            now: 0,
            cursor: 0,
            payload: Bytes::from_static(&PAYLOAD),
            fires: 0,
            stale: 0,
            timer_time: Duration::ZERO,
        }
    }

    fn schedule(&mut self, i: usize) {
        if let Some(t) = self.tx[i].poll_timeout() {
            self.heap.push(Reverse((t.as_micros(), i as u32, false)));
        }
        if let Some(t) = self.rx[i].poll_timeout() {
            self.heap.push(Reverse((t.as_micros(), i as u32, true)));
        }
    }

    /// Moves packets both ways until quiet; the app commits what arrives.
    fn drive(&mut self, i: usize) {
        let now = Instant::from_micros(self.now);
        let (tx, rx) = (&mut self.tx[i], &mut self.rx[i]);
        loop {
            let mut moved = false;
            while let Some(p) = tx.poll_transmit(now) {
                rx.handle_input(now, p).unwrap();
                moved = true;
            }
            while let Some(e) = rx.poll_event() {
                if let ReceiverEvent::Deliver(m) = e {
                    rx.commit(now, m.stream, m.version).unwrap();
                }
            }
            while let Some(a) = rx.poll_transmit(now) {
                tx.handle_input(now, a).unwrap();
                moved = true;
            }
            while let Some(e) = tx.poll_event() {
                black_box(e);
            }
            if !moved {
                break;
            }
        }
    }

    fn tick(&mut self) {
        let now = Instant::from_micros(self.now);
        for _ in 0..SENDS_PER_TICK {
            let i = self.cursor;
            self.cursor = (self.cursor + 1) % SESSIONS;
            let v = self.next[i];
            self.next[i] += 1;
            let m = Message::new(
                StreamId(7),
                Version(v),
                Version(v + 1),
                self.payload.clone(),
            );
            self.tx[i].send(now, m).unwrap();
            self.drive(i);
            self.schedule(i);
        }
        let t = std::time::Instant::now();
        while let Some(&Reverse((at, i, is_rx))) = self.heap.peek() {
            if at > self.now {
                break;
            }
            self.heap.pop();
            let i = i as usize;
            let due = Some(Instant::from_micros(at));
            let live = if is_rx {
                self.rx[i].poll_timeout() == due
            } else {
                self.tx[i].poll_timeout() == due
            };
            if !live {
                self.stale += 1;
                continue;
            }
            self.fires += 1;
            if is_rx {
                self.rx[i].handle_timeout(now);
            } else {
                self.tx[i].handle_timeout(now);
            }
            self.drive(i);
            self.schedule(i);
        }
        self.timer_time += t.elapsed();
        self.now += 1000;
    }
}

fn sessions(c: &mut Criterion) {
    let mut g = c.benchmark_group("scaling_sessions");
    g.sample_size(10);
    g.throughput(Throughput::Elements(SESSIONS as u64));
    let mut s = Sessions::new();
    // Every session has sent at least once (buffers at working size).
    for _ in 0..SESSIONS / SENDS_PER_TICK + 50 {
        s.tick();
    }
    let (f0, st0, t0) = (s.fires, s.stale, s.timer_time);
    g.bench_function(format!("{SESSIONS}_tick"), |b| {
        b.iter_custom(|iters| {
            let t = std::time::Instant::now();
            for _ in 0..iters {
                s.tick();
            }
            t.elapsed()
        })
    });
    let fires = s.fires - f0;
    let per_fire = (s.timer_time - t0).as_nanos() as f64 / fires as f64;
    println!(
        "sessions: {fires} timer fires, {} stale heap entries skipped; \
         {per_fire:.0} ns per fire (handle_timeout + the ack it sends + \
         the sender taking it + rescheduling), heap len {}",
        s.stale - st0,
        s.heap.len()
    );
    g.bench_function(format!("{SESSIONS}_scan"), |b| {
        b.iter(|| {
            let mut earliest = u64::MAX;
            for i in 0..SESSIONS {
                for t in [s.tx[i].poll_timeout(), s.rx[i].poll_timeout()]
                    .into_iter()
                    .flatten()
                {
                    earliest = earliest.min(t.as_micros());
                }
            }
            black_box(earliest)
        })
    });
    g.finish();
}

criterion_group!(benches, in_flight, streams, sessions);
criterion_main!(benches);
