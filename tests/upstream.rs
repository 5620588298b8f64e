//! Idempotent sending from a client: an outbox stream whose versions are the
//! client's own counter, a server that stores each message once under a
//! version it assigns and answers with that version as the receipt — across
//! loss, duplication, reordering, dropped connections, client restarts and
//! server crashes.

mod common;

use ackwire::*;
use bytes::Bytes;
use common::{Percent, SimRng, CONN};
use proptest::prelude::*;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

const OUTBOX: StreamId = StreamId(42);

fn receipt_bytes(v: u64) -> Bytes {
    Bytes::copy_from_slice(&v.to_be_bytes())
}

fn outbox_message(v: u64) -> Message {
    Message::new(
        OUTBOX,
        Version(v - 1),
        Version(v),
        Bytes::from(format!("m{v}")),
    )
    .with_receipt()
}

#[derive(Clone, Copy, Debug)]
struct Faults {
    loss: u32,
    dup: u32,
    drops: u32,
    client_restarts: u32,
    server_crashes: u32,
}

struct World {
    rng: SimRng,
    cfg: Config,
    now: Instant,
    // Client, durable: its outbox (version -> receipt once acked).
    outbox: BTreeMap<u64, Option<u64>>,
    /// Sends the app saw fail (escalated) and retried by hand.
    manual_retries: u64,
    // Server, durable: conversation versions by outbox version.
    stored: BTreeMap<u64, u64>,
    next_conversation_version: u64,
    // Server, in memory: delivered, waiting for the DB write.
    pending: VecDeque<(u64, Instant)>,
    tx: Sender,
    rx: Receiver,
    epoch: u64,
    wire: BTreeMap<(Instant, u64), (u64, bool, Bytes)>,
    seq: u64,
}

impl World {
    /// A new connection: the server resumes the outbox stream from its
    /// store; the client resends everything not acked, in order.
    fn connect(&mut self) {
        self.epoch += 1;
        self.tx = Sender::new(self.cfg.clone(), ConnectionId(self.epoch));
        self.rx = Receiver::new(self.cfg.clone(), ConnectionId(self.epoch));
        let last = self.stored.keys().next_back().copied().unwrap_or(0);
        self.rx.resume(OUTBOX, Version(last));
        let unacked: Vec<u64> = self
            .outbox
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(&v, _)| v)
            .collect();
        for v in unacked {
            self.tx.send(self.now, outbox_message(v)).unwrap();
        }
    }

    fn server_crash(&mut self) {
        self.pending.clear(); // delivered, never stored
        self.connect();
    }

    /// The connection drops; the server app finishes its DB writes (there
    /// is no connection left to commit on: the client's resend will get
    /// the receipt from the store).
    fn drop_connection(&mut self) {
        while let Some((v, _)) = self.pending.pop_front() {
            self.store(v);
        }
        self.connect();
    }

    fn store(&mut self, v: u64) -> u64 {
        self.next_conversation_version += 1 + self.rng.below(3);
        let conv = self.next_conversation_version;
        self.stored.insert(v, conv);
        conv
    }

    fn client_sends(&mut self) {
        let v = self.outbox.keys().next_back().copied().unwrap_or(0) + 1;
        self.outbox.insert(v, None);
        self.tx.send(self.now, outbox_message(v)).unwrap();
    }

    fn step(&mut self, f: Faults) {
        let now = self.now;
        // Client app.
        while let Some(e) = self.tx.poll_event() {
            match e {
                SenderEvent::Acked {
                    stream,
                    version,
                    receipt,
                } => {
                    assert_eq!(stream, OUTBOX);
                    let stored = self.stored.get(&version.0).copied();
                    let Some(stored) = stored else {
                        panic!("{version:?} reported sent but the server does not have it");
                    };
                    assert_eq!(receipt, Some(receipt_bytes(stored)), "{version:?}");
                    let slot = self.outbox.get_mut(&version.0).unwrap();
                    assert!(slot.is_none_or(|r| r == stored));
                    *slot = Some(stored);
                }
                SenderEvent::Escalated(m) => {
                    // "Failed, tap to retry": the retry keeps the identity.
                    self.manual_retries += 1;
                    self.tx.send(now, m).unwrap();
                }
                SenderEvent::SyncRequested(req) => {
                    let SyncRange::After(after) = req.range else {
                        panic!("{req:?}");
                    };
                    let page: Vec<Message> = self
                        .outbox
                        .range(after.0 + 1..)
                        .take(req.limit as usize)
                        .map(|(&v, _)| outbox_message(v))
                        .collect();
                    let more = self.outbox.range(after.0 + 1..).count() > page.len();
                    self.tx.answer_sync(now, &req, &page, more).unwrap();
                }
                other => panic!("{other:?}"),
            }
        }
        // Server app.
        while let Some(e) = self.rx.poll_event() {
            match e {
                ReceiverEvent::Deliver(m) => {
                    let v = m.version.0;
                    assert!(!self.stored.contains_key(&v), "outbox {v} delivered again");
                    assert!(!self.pending.iter().any(|p| p.0 == v));
                    let at = now + Duration::from_millis(self.rng.below(40));
                    let at = self.pending.back().map_or(at, |p| p.1.max(at));
                    self.pending.push_back((v, at));
                }
                // The receiver fetches what is missing by itself.
                ReceiverEvent::Gap { .. } => {}
                ReceiverEvent::ReceiptWanted { stream, version } => {
                    let conv = self.stored[&version.0];
                    self.rx
                        .provide_receipt(stream, version, receipt_bytes(conv))
                        .unwrap();
                }
                other => panic!("{other:?}"),
            }
        }
        for to_server in [true, false] {
            loop {
                let p = if to_server {
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
                        .insert((at, self.seq), (self.epoch, to_server, p.clone()));
                }
            }
        }
        let next = [
            self.wire.keys().next().map(|k| k.0),
            self.pending.front().map(|p| p.1),
            self.tx.poll_timeout(),
            self.rx.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        self.now = next.unwrap_or(now + Duration::from_millis(10)).max(now);
        let now = self.now;
        while self.wire.first_key_value().is_some_and(|(k, _)| k.0 <= now) {
            let (_, (epoch, to_server, p)) = self.wire.pop_first().unwrap();
            if epoch != self.epoch {
                continue;
            }
            if to_server {
                self.rx.handle_input(now, p).unwrap();
            } else {
                self.tx.handle_input(now, p).unwrap();
            }
        }
        // The server's DB writes: store under a new conversation version,
        // then commit with that version as the receipt.
        while self.pending.front().is_some_and(|p| p.1 <= now) {
            let (v, _) = self.pending.pop_front().unwrap();
            let conv = self.store(v);
            self.rx
                .commit_with_receipt(now, OUTBOX, Version(v), receipt_bytes(conv))
                .unwrap();
        }
        self.tx.handle_timeout(now);
        self.rx.handle_timeout(now);
    }
}

fn run(seed: u64, f: Faults, max_receipts: usize) -> World {
    let cfg = Config {
        max_receipts,
        max_retransmits: 4,
        max_rto: Duration::from_secs(2),
        max_packet_size: 256,
        max_in_flight: 32,
        ..Config::default()
    };
    let mut w = World {
        rng: SimRng::new(seed),
        tx: Sender::new(cfg.clone(), ConnectionId(0)),
        rx: Receiver::new(cfg.clone(), ConnectionId(0)),
        cfg,
        now: Instant::ZERO,
        outbox: BTreeMap::new(),
        manual_retries: 0,
        stored: BTreeMap::new(),
        next_conversation_version: 0,
        pending: VecDeque::new(),
        epoch: 0,
        wire: BTreeMap::new(),
        seq: 0,
    };
    w.connect();
    for _ in 0..300 {
        if w.rng.percent(25) {
            w.client_sends();
        }
        if w.rng.percent(f.server_crashes) {
            w.server_crash();
        } else if w.rng.percent(f.drops) || w.rng.percent(f.client_restarts) {
            // A client restart loses only memory: its outbox is durable.
            w.drop_connection();
        }
        w.step(f);
    }
    let healed = Faults {
        loss: 0,
        dup: 0,
        ..f
    };
    for _ in 0..100_000 {
        if w.outbox.values().all(Option::is_some) {
            break;
        }
        w.step(healed);
    }
    w
}

fn check(w: &World) {
    // Every message the client sent is stored exactly once (the map is
    // keyed by outbox version; a second store would have panicked) and the
    // client holds the version the server assigned to it.
    assert_eq!(w.stored.len(), w.outbox.len());
    for (v, r) in &w.outbox {
        assert_eq!(*r, Some(w.stored[v]), "outbox {v}");
    }
    let mut convs: Vec<u64> = w.stored.values().copied().collect();
    convs.dedup();
    assert_eq!(convs.len(), w.stored.len(), "conversation versions unique");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_send_ends_with_the_stored_version_as_its_receipt(
        seed: u64,
        loss in 0u32..=40,
        dup in 0u32..=20,
        drops in 0u32..=3,
        client_restarts in 0u32..=2,
        server_crashes in 0u32..=2,
        max_receipts in prop_oneof![Just(0usize), Just(4), Just(4096)],
    ) {
        let f = Faults { loss, dup, drops, client_restarts, server_crashes };
        let w = run(seed, f, max_receipts);
        check(&w);
    }
}

#[test]
fn a_lost_ack_is_answered_with_the_same_receipt() {
    let cfg = Config {
        ack_every: 1,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    let t = Instant::from_millis;
    tx.send(t(0), outbox_message(1)).unwrap();
    rx.handle_input(t(1), tx.poll_transmit(t(0)).unwrap())
        .unwrap();
    let Some(ReceiverEvent::Deliver(m)) = rx.poll_event() else {
        panic!()
    };
    assert!(m.wants_receipt);
    rx.commit_with_receipt(t(2), OUTBOX, Version(1), receipt_bytes(700))
        .unwrap();
    let lost = rx.poll_transmit(t(2)).expect("receipt and ack");
    drop(lost);
    // The sender resends; the receiver answers from memory, the app is
    // not involved, and nothing is delivered twice.
    let resend_at = tx.poll_timeout().unwrap();
    tx.handle_timeout(resend_at);
    rx.handle_input(resend_at, tx.poll_transmit(resend_at).unwrap())
        .unwrap();
    assert_eq!(rx.poll_event(), None);
    tx.handle_input(resend_at, rx.poll_transmit(resend_at).unwrap())
        .unwrap();
    assert_eq!(
        tx.poll_event(),
        Some(SenderEvent::Acked {
            stream: OUTBOX,
            version: Version(1),
            receipt: Some(receipt_bytes(700)),
        })
    );
    assert_eq!(rx.stats().receipts_sent, 2);
}

#[test]
fn a_resend_on_a_new_connection_asks_the_app_for_the_receipt() {
    let mut tx = Sender::new(Config::default(), CONN);
    // The server stored outbox 1..=3 on an earlier connection.
    let mut rx = Receiver::new(Config::default(), CONN);
    rx.resume(OUTBOX, Version(3));
    let t = Instant::from_millis;
    tx.send(t(0), outbox_message(3)).unwrap();
    tx.send(t(0), outbox_message(4)).unwrap();
    rx.handle_input(t(1), tx.poll_transmit(t(0)).unwrap())
        .unwrap();
    assert_eq!(
        rx.poll_event(),
        Some(ReceiverEvent::ReceiptWanted {
            stream: OUTBOX,
            version: Version(3)
        })
    );
    let Some(ReceiverEvent::Deliver(m)) = rx.poll_event() else {
        panic!()
    };
    assert_eq!(m.version, Version(4));
    // Until the app answers, the resend is held, not acked as committed.
    rx.handle_timeout(t(100));
    while let Some(p) = rx.poll_transmit(t(100)) {
        tx.handle_input(t(100), p).unwrap();
    }
    assert!(
        std::iter::from_fn(|| tx.poll_event()).all(|e| matches!(e, SenderEvent::SyncRequested(_)))
    );
    rx.provide_receipt(OUTBOX, Version(3), receipt_bytes(30))
        .unwrap();
    rx.commit_with_receipt(t(100), OUTBOX, Version(4), receipt_bytes(31))
        .unwrap();
    rx.handle_timeout(t(200));
    while let Some(p) = rx.poll_transmit(t(200)) {
        tx.handle_input(t(200), p).unwrap();
    }
    let acked: Vec<_> = std::iter::from_fn(|| tx.poll_event())
        .filter_map(|e| match e {
            SenderEvent::Acked {
                version, receipt, ..
            } => Some((version.0, receipt)),
            _ => None,
        })
        .collect();
    assert_eq!(
        acked,
        [(3, Some(receipt_bytes(30))), (4, Some(receipt_bytes(31)))]
    );
    assert_eq!(
        rx.provide_receipt(OUTBOX, Version(3), receipt_bytes(30)),
        Err(CommitError::NotAsked),
        "answered already"
    );
    assert_eq!(
        rx.commit_with_receipt(t(300), OUTBOX, Version(4), Bytes::from(vec![0; 65])),
        Err(CommitError::ReceiptTooLarge)
    );
}

#[test]
fn retries_exhausted_is_a_failure_the_app_can_retry_with_the_same_identity() {
    let cfg = Config {
        max_retransmits: 1,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    let t = Instant::from_millis;
    tx.send(t(0), outbox_message(1)).unwrap();
    // The link is down: both transmissions are lost.
    let mut now = t(0);
    let failed = loop {
        while tx.poll_transmit(now).is_some() {}
        now = tx.poll_timeout().unwrap();
        tx.handle_timeout(now);
        if let Some(e) = tx.poll_event() {
            break e;
        }
    };
    assert_eq!(failed, SenderEvent::Escalated(outbox_message(1)));
    // "Tap to retry": the same message again; the server stores it once.
    let SenderEvent::Escalated(m) = failed else {
        unreachable!()
    };
    tx.send(now, m.clone()).unwrap();
    tx.send(now, m).unwrap(); // an impatient double tap
    while let Some(p) = tx.poll_transmit(now) {
        rx.handle_input(now, p).unwrap();
    }
    let delivered: Vec<_> = std::iter::from_fn(|| rx.poll_event()).collect();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    rx.commit_with_receipt(now, OUTBOX, Version(1), receipt_bytes(9))
        .unwrap();
    for _ in 0..4 {
        now = now + Duration::from_millis(300);
        rx.handle_timeout(now);
        while let Some(p) = rx.poll_transmit(now) {
            tx.handle_input(now, p).unwrap();
        }
        tx.handle_timeout(now);
        while let Some(p) = tx.poll_transmit(now) {
            rx.handle_input(now, p).unwrap();
        }
    }
    let acked: Vec<_> = std::iter::from_fn(|| tx.poll_event()).collect();
    let receipts: Vec<_> = acked
        .iter()
        .map(|e| match e {
            SenderEvent::Acked { receipt, .. } => receipt.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(receipts, [Some(receipt_bytes(9)), Some(receipt_bytes(9))]);
}
