//! Continuity across connection drops, offline periods, server restarts and
//! client crashes: a server store pushes live messages and answers sync
//! requests; the client resumes from its own store after every reconnect.
//! When the link heals, the client's store equals the server's, every
//! stream exactly once and in order, and nothing was acked that the client
//! had not stored.
//!
//! The server's durable state is its store; its only in-memory state is the
//! connection's `Sender` (queued and unacked pushes), which a restart loses.
//! A client crash loses every delivered message not yet written to its DB.

mod common;

use ackwire::*;
use bytes::Bytes;
use common::{Percent, SimRng};
use proptest::prelude::*;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

const STREAMS: u64 = 3;

struct World {
    rng: SimRng,
    store: BTreeMap<u64, Vec<u64>>,
    db: BTreeMap<u64, Vec<u64>>,
    /// Delivered, waiting for the app's DB write: (stream, version, at).
    pending: VecDeque<(u64, u64, Instant)>,
    tx: Sender,
    rx: Receiver,
    epoch: u64,
    /// (arrival, seq) -> (epoch, to_client, packet)
    wire: BTreeMap<(Instant, u64), (u64, bool, Bytes)>,
    seq: u64,
    now: Instant,
    cfg: Config,
    /// Offline until then: nothing is pushed, packets are lost.
    offline_until: Option<Instant>,
}

impl World {
    /// The connection ends (its packets in flight are lost) for `offline`.
    fn disconnect(&mut self, client_crash: bool, offline: Duration) {
        // Deliveries the app already received go to its DB like any other.
        self.take_deliveries();
        if client_crash {
            self.pending.clear(); // not stored: lost with the process
        } else {
            // The client app finishes its DB writes.
            for (s, v, _) in self.pending.drain(..) {
                self.db.entry(s).or_default().push(v);
            }
        }
        self.epoch += 1;
        self.offline_until = Some(self.now + offline);
    }

    /// A new connection: a fresh server-side Sender (after a server restart
    /// it could not be anything else) and a client Receiver resumed from
    /// the client's DB.
    fn connect(&mut self) {
        self.offline_until = None;
        self.epoch += 1;
        self.tx = Sender::new(self.cfg.clone(), ConnectionId(self.epoch));
        self.rx = Receiver::new(self.cfg.clone(), ConnectionId(self.epoch));
        for s in 0..STREAMS {
            let last = self.db.get(&s).and_then(|v| v.last()).copied().unwrap_or(0);
            self.rx.resume(StreamId(s), Version(last));
        }
    }

    fn serve(&mut self) {
        while let Some(e) = self.tx.poll_event() {
            if let SenderEvent::Acked {
                stream, version, ..
            } = e
            {
                let stored = self
                    .db
                    .get(&stream.0)
                    .is_some_and(|d| d.contains(&version.0));
                assert!(
                    stored,
                    "{stream:?}/{version:?} acked before the client stored it"
                );
            }
            if let SenderEvent::SyncRequested(req) = e {
                let SyncRange::After(after) = req.range else {
                    panic!("unexpected request {req:?}");
                };
                let versions = self.store.get(&req.stream.0).cloned().unwrap_or_default();
                let later = versions.iter().filter(|&&v| v > after.0).count();
                let mut prev = 0;
                let mut page = Vec::new();
                for v in versions {
                    if v > after.0 && page.len() < req.limit as usize {
                        page.push(Message::new(
                            req.stream,
                            Version(prev),
                            Version(v),
                            Bytes::new(),
                        ));
                    }
                    prev = v;
                }
                let more = later > page.len();
                self.tx.answer_sync(self.now, &req, &page, more).unwrap();
            }
        }
    }

    fn take_deliveries(&mut self) {
        let now = self.now;
        while let Some(e) = self.rx.poll_event() {
            if let ReceiverEvent::Deliver(m) = e {
                let (s, v) = (m.stream.0, m.version.0);
                let stored = self.db.get(&s).is_some_and(|d| d.contains(&v));
                let waiting = self.pending.iter().any(|&(ps, pv, _)| (ps, pv) == (s, v));
                assert!(
                    !stored && !waiting,
                    "stream {s} version {v} reached the app twice"
                );
                let at = now + Duration::from_millis(self.rng.below(50));
                // FIFO: the app's DB writes complete in delivery order.
                let at = self.pending.back().map_or(at, |b| b.2.max(at));
                self.pending.push_back((s, v, at));
            }
        }
    }

    fn step(&mut self, f: Faults) {
        if let Some(until) = self.offline_until {
            self.now = until.min(self.now + Duration::from_millis(10));
            return;
        }
        let now = self.now;
        self.take_deliveries();
        self.serve();
        // After the app's commands (sync answers), so what they queued goes out now.
        for to_client in [true, false] {
            loop {
                let p = if to_client {
                    self.tx.poll_transmit(now)
                } else {
                    self.rx.poll_transmit(now)
                };
                let Some(p) = p else { break };
                let copies = if self.rng.percent(f.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    if self.rng.percent(f.loss) {
                        continue;
                    }
                    self.seq += 1;
                    let at = now + Duration::from_millis(5 + self.rng.below(30));
                    self.wire
                        .insert((at, self.seq), (self.epoch, to_client, p.clone()));
                }
            }
        }
        let next = [
            self.wire.keys().next().map(|k| k.0),
            self.pending.front().map(|p| p.2),
            self.tx.poll_timeout(),
            self.rx.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        self.now = next.unwrap_or(now + Duration::from_millis(10)).max(now);
        let now = self.now;
        while let Some(e) = self.wire.first_entry() {
            if e.key().0 > now {
                break;
            }
            let (epoch, to_client, p) = e.remove();
            if epoch != self.epoch {
                continue; // belongs to a dropped connection
            }
            if to_client {
                self.rx.handle_input(now, p).unwrap();
            } else {
                self.tx.handle_input(now, p).unwrap();
            }
        }
        while self.pending.front().is_some_and(|p| p.2 <= now) {
            let (s, v, _) = self.pending.pop_front().unwrap();
            self.db.entry(s).or_default().push(v);
            self.rx.commit(now, StreamId(s), Version(v)).unwrap();
        }
        self.tx.handle_timeout(now);
        self.rx.handle_timeout(now);
    }
}

/// Percent chances per step of each fault.
#[derive(Clone, Copy, Debug)]
struct Faults {
    loss: u32,
    dup: u32,
    drops: u32,
    restarts: u32,
    crashes: u32,
}

fn run(seed: u64, f: Faults) -> World {
    let cfg = Config {
        gap_wait: Duration::from_millis(50),
        ..common::patient_config()
    };
    let mut w = World {
        rng: SimRng::new(seed),
        store: BTreeMap::new(),
        db: BTreeMap::new(),
        pending: VecDeque::new(),
        tx: Sender::new(cfg.clone(), ConnectionId(0)),
        rx: Receiver::new(cfg.clone(), ConnectionId(0)),
        epoch: 0,
        wire: BTreeMap::new(),
        seq: 0,
        now: Instant::ZERO,
        cfg,
        offline_until: None,
    };
    w.connect();
    for _ in 0..400 {
        // The server stores a new message and, when connected, pushes it.
        if w.rng.percent(30) {
            let s = w.rng.below(STREAMS);
            let prev = w.store.get(&s).and_then(|v| v.last()).copied().unwrap_or(0);
            let v = prev + 1 + w.rng.below(3);
            w.store.entry(s).or_default().push(v);
            if w.offline_until.is_none() {
                let m = Message::new(StreamId(s), Version(prev), Version(v), Bytes::new());
                w.tx.send(w.now, m).unwrap();
            }
        }
        if w.offline_until.is_none() {
            let offline = Duration::from_millis(w.rng.below(2000));
            if w.rng.percent(f.crashes) {
                w.disconnect(true, offline);
            } else if w.rng.percent(f.restarts) || w.rng.percent(f.drops) {
                // A server restart ends the connection like a drop does; the
                // next connection gets a fresh Sender either way.
                w.disconnect(false, offline);
            }
        } else if w.offline_until.is_some_and(|t| t <= w.now) {
            w.connect();
        }
        w.step(f);
    }
    if w.offline_until.is_some() {
        w.connect();
    }
    // The link heals; run until everything is stored.
    for _ in 0..200_000 {
        let caught_up = w.store.iter().all(|(s, v)| w.db.get(s) == Some(v));
        if caught_up && w.pending.is_empty() {
            break;
        }
        w.step(Faults {
            loss: 0,
            dup: 0,
            ..f
        });
    }
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn client_store_converges_to_server_store(
        seed: u64,
        loss in 0u32..=30,
        dup in 0u32..=10,
        drops in 0u32..=3,
        restarts in 0u32..=2,
        crashes in 0u32..=3,
    ) {
        let w = run(seed, Faults { loss, dup, drops, restarts, crashes });
        for (s, versions) in &w.store {
            prop_assert_eq!(w.db.get(s), Some(versions), "stream {}", s);
        }
    }
}
