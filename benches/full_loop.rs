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

/// KCP's side of the same loop: its output callback queues datagrams in
/// reused buffers; "acked" means KCP's send buffer drained.
mod kcp_side {
    use super::BATCH;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::io::{self, Write};
    use std::rc::Rc;

    /// Datagrams in flight, and spent buffers to reuse.
    #[derive(Default)]
    pub struct Queue(VecDeque<Vec<u8>>, Vec<Vec<u8>>);

    #[derive(Clone, Default)]
    pub struct Wire {
        queue: Rc<RefCell<Queue>>,
    }

    impl Write for Wire {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut q = self.queue.borrow_mut();
            let mut v = q.1.pop().unwrap_or_default();
            v.clear();
            v.extend_from_slice(buf);
            q.0.push_back(v);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    pub struct Pair {
        a: kcp::Kcp<Wire>,
        b: kcp::Kcp<Wire>,
        a_out: Wire,
        b_out: Wire,
        now: u32,
        rng: u64,
        payload: [u8; 64],
        buf: Vec<u8>,
    }

    fn tuned(out: Wire) -> kcp::Kcp<Wire> {
        let mut k = kcp::Kcp::new(1, out);
        k.set_nodelay(true, 10, 2, true);
        k.set_wndsize(128, 128);
        k
    }

    impl Pair {
        pub fn new() -> Pair {
            let (a_out, b_out) = (Wire::default(), Wire::default());
            Pair {
                a: tuned(a_out.clone()),
                b: tuned(b_out.clone()),
                a_out,
                b_out,
                now: 0,
                rng: 1,
                payload: [0x5a; 64],
                buf: vec![0; 4096],
            }
        }

        fn lost(&mut self, loss_pct: u64) -> bool {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            self.rng % 100 < loss_pct
        }

        fn deliver(&mut self, from_a: bool, loss_pct: u64) {
            let wire = if from_a {
                self.a_out.clone()
            } else {
                self.b_out.clone()
            };
            loop {
                let Some(p) = wire.queue.borrow_mut().0.pop_front() else {
                    break;
                };
                if !self.lost(loss_pct) {
                    let to = if from_a { &mut self.b } else { &mut self.a };
                    to.input(&p).unwrap();
                }
                wire.queue.borrow_mut().1.push(p);
            }
        }

        pub fn round(&mut self, loss_pct: u64) {
            for _ in 0..BATCH {
                self.a.send(&self.payload).unwrap();
            }
            let mut received = 0;
            loop {
                self.a.update(self.now).unwrap();
                self.deliver(true, loss_pct);
                while let Ok(n) = self.b.recv(&mut self.buf) {
                    std::hint::black_box(&self.buf[..n]);
                    received += 1;
                }
                self.b.update(self.now).unwrap();
                self.deliver(false, loss_pct);
                if received == BATCH && self.a.wait_snd() == 0 {
                    break;
                }
                self.now += 10;
            }
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
        g.bench_function(format!("kcp_0.6_loss_{loss}pct"), |b| {
            b.iter_batched_ref(
                || {
                    let mut p = kcp_side::Pair::new();
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
