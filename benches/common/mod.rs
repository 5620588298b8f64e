//! Shared by the benches: the loss RNG every peer uses, and ackwire's side
//! of the full loop (send, transmit, receive, deliver, commit, ack, Acked)
//! on a fake clock, two endpoints back to back in memory.
#![allow(dead_code)] // each bench uses part of it

use ackwire::*;
use bytes::Bytes;
use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Duration;

/// The same xorshift64 stream, seed 1, for every peer: packet `i` of a run
/// is lost or not by the same draw whoever sends it.
pub struct Loss {
    state: u64,
    pct: u64,
}

impl Loss {
    pub fn new(pct: u64) -> Loss {
        Loss { state: 1, pct }
    }

    pub fn lost(&mut self) -> bool {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state % 100 < self.pct
    }
}

/// The 64-byte payload every peer sends.
pub const PAYLOAD: [u8; 64] = [0x5a; 64];

/// ackwire's Sender and Receiver on a fake clock.
pub struct Pair {
    pub tx: Sender,
    pub rx: Receiver,
    next: Vec<u64>,
    cursor: usize,
    pub now: u64,
    payload: Bytes,
    loss: Loss,
    /// Delivered, not yet committed (the app's write queue), oldest first.
    delivered: VecDeque<(StreamId, Version)>,
}

impl Pair {
    /// A pair whose messages go round-robin over `streams` streams.
    pub fn new(cfg: Config, streams: usize, loss_pct: u64) -> Pair {
        Pair {
            tx: Sender::new(cfg.clone(), ConnectionId(1)),
            rx: Receiver::new(cfg, ConnectionId(1)),
            next: vec![0; streams],
            cursor: 0,
            now: 0,
            payload: Bytes::from_static(&PAYLOAD),
            loss: Loss::new(loss_pct),
            delivered: VecDeque::new(),
        }
    }

    /// The config of the side-by-side loop: a window of 4096.
    pub fn full_loop_config() -> Config {
        Config {
            max_in_flight: 4096,
            max_held_messages: 8192,
            ..Config::default()
        }
    }

    fn send_one(&mut self) {
        let s = self.cursor;
        self.cursor = (self.cursor + 1) % self.next.len();
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

    /// One pass of the link: data over, deliveries, commits of all but the
    /// newest `keep` delivered messages, the ack back, the sender's events.
    /// Returns the messages acked and the packets written (lost or not).
    fn exchange(&mut self, keep: usize) -> (u64, u64) {
        let now = Instant::from_micros(self.now);
        let mut packets = 0;
        while let Some(p) = self.tx.poll_transmit(now) {
            packets += 1;
            if !self.loss.lost() {
                self.rx.handle_input(now, p).unwrap();
            }
        }
        while let Some(e) = self.rx.poll_event() {
            if let ReceiverEvent::Deliver(m) = e {
                black_box(&m.payload);
                self.delivered.push_back((m.stream, m.version));
            }
        }
        while self.delivered.len() > keep {
            let (s, v) = self.delivered.pop_front().unwrap();
            self.rx.commit(now, s, v).unwrap();
        }
        // Acks go at once rather than after `ack_delay` (KCP acks at every
        // update too).
        self.rx.handle_timeout(now + Duration::from_secs(1));
        while let Some(a) = self.rx.poll_transmit(now) {
            packets += 1;
            if !self.loss.lost() {
                if let Err(e) = self.tx.handle_input(now, a) {
                    let events: Vec<_> = std::iter::from_fn(|| self.tx.poll_event())
                        .map(|e| format!("{e:?}").chars().take(300).collect::<String>())
                        .collect();
                    panic!(
                        "at {} µs: {e}; {events:?}\n{:?}\n{:?}\n{:?}",
                        self.now,
                        self.tx.stats(),
                        self.rx.stats(),
                        self.tx.usage()
                    );
                }
            }
        }
        let mut acked = 0;
        while let Some(e) = self.tx.poll_event() {
            match e {
                SenderEvent::Acked { .. } => acked += 1,
                // The app would answer from its store; here retransmission
                // fills every hole, so requests are left unanswered.
                SenderEvent::SyncRequested(_) => {}
                e => panic!(
                    "at {} µs: {e:?}\n{:?}\n{:?}\n{:?}",
                    self.now,
                    self.tx.stats(),
                    self.rx.stats(),
                    self.tx.usage()
                ),
            }
        }
        (acked, packets)
    }

    /// Sends `batch` messages and runs until every one is acked: all of
    /// them are in flight at once.
    pub fn round(&mut self, batch: u64) {
        for _ in 0..batch {
            self.send_one();
        }
        let mut acked = 0;
        while acked < batch {
            let (newly, packets) = self.exchange(0);
            acked += newly;
            // Only once a pass moved nothing (the run loop's "sleep until
            // poll_timeout"): let the virtual clock run to the sender's next
            // deadline. An ack may have queued fast retransmits, which the
            // next pass sends.
            if acked < batch && packets == 0 {
                if let Some(t) = self.tx.poll_timeout() {
                    self.now = self.now.max(t.as_micros());
                    self.tx.handle_timeout(Instant::from_micros(self.now));
                }
            }
            self.now += 1000;
        }
    }

    /// Fills a sliding window: `in_flight - step` messages sent, received
    /// and delivered, none committed.
    pub fn fill(&mut self, in_flight: usize, step: usize) {
        for _ in 0..in_flight - step {
            self.send_one();
        }
        self.exchange(in_flight - step);
        self.now += 1000;
    }

    /// One step of a sliding window of `in_flight` messages: `step` new
    /// ones sent; the app commits the oldest so that `in_flight - step`
    /// stay delivered and uncommitted (in flight for the sender); the acks
    /// settle as many. Lossless.
    pub fn slide(&mut self, in_flight: usize, step: usize) {
        for _ in 0..step {
            self.send_one();
        }
        let (acked, _) = self.exchange(in_flight - step);
        debug_assert_eq!(acked, step as u64);
        black_box(acked);
        self.now += 1000;
    }
}
