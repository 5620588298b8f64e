//! The full loop — send, transmit, receive, deliver, commit, ack, Acked —
//! for 64-byte messages, two endpoints back to back in memory on a fake
//! clock. Reported per message (criterion's throughput in elements).

use ackwire::*;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;

const BATCH: u64 = 1024;

struct Pair {
    tx: Sender,
    rx: Receiver,
    next: [u64; 8],
    now: u64,
    payload: Bytes,
    rng: u64,
}

impl Pair {
    fn new() -> Pair {
        let cfg = Config {
            max_in_flight: 4096,
            max_held_messages: 8192,
            ..Config::default()
        };
        Pair {
            tx: Sender::new(cfg.clone()),
            rx: Receiver::new(cfg),
            next: [0; 8],
            now: 0,
            payload: Bytes::from_static(&[0x5a; 64]),
            rng: 1,
        }
    }

    fn lost(&mut self, loss_pct: u64) -> bool {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % 100 < loss_pct
    }

    /// Sends `BATCH` messages and runs until every one is acked.
    fn round(&mut self, loss_pct: u64) {
        let mut acked = 0;
        for i in 0..BATCH {
            let s = (i % 8) as usize;
            let v = self.next[s];
            self.next[s] += 1;
            let m = Message::new(
                StreamId(s as u64),
                Version(v),
                Version(v + 1),
                self.payload.clone(),
            );
            self.tx.send(Instant::from_micros(self.now), m).unwrap();
        }
        while acked < BATCH {
            let now = Instant::from_micros(self.now);
            while let Some(p) = self.tx.poll_transmit(now) {
                if !self.lost(loss_pct) {
                    self.rx.handle_input(now, p).unwrap();
                }
            }
            while let Some(ReceiverEvent::Deliver(m)) = self.rx.poll_event() {
                black_box(&m.payload);
                self.rx.commit(now, m.stream, m.version).unwrap();
            }
            self.rx
                .handle_timeout(now + std::time::Duration::from_secs(1));
            while let Some(a) = self.rx.poll_transmit(now) {
                if !self.lost(loss_pct) {
                    self.tx.handle_input(now, a).unwrap();
                }
            }
            while let Some(e) = self.tx.poll_event() {
                if let SenderEvent::Acked { .. } = e {
                    acked += 1;
                }
            }
            // Let the virtual clock run to the next deadline when stuck.
            if acked < BATCH {
                if let Some(t) = self.tx.poll_timeout() {
                    self.now = self.now.max(t.as_micros());
                    self.tx.handle_timeout(Instant::from_micros(self.now));
                }
            }
            self.now += 1000;
        }
    }
}

fn full_loop(c: &mut Criterion) {
    let mut g = c.benchmark_group("full_loop_64B");
    g.throughput(Throughput::Elements(BATCH));
    for loss in [0u64, 10] {
        g.bench_function(format!("ackwire_loss_{loss}pct"), |b| {
            b.iter_batched_ref(
                || {
                    let mut p = Pair::new();
                    p.round(loss);
                    p
                },
                |p| p.round(loss),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, full_loop);
criterion_main!(benches);
