//! Snapshot and restore: a pair restored from snapshots taken at any point
//! continues exactly as the original would — the same packets, byte for
//! byte, and the same events — and a damaged snapshot restores nothing.

mod common;

use ackwire::*;
use bytes::Bytes;
use common::{Percent, SimRng, CONN};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

struct Run {
    /// Everything observable, in order: packets (as bytes) and events.
    transcript: Vec<String>,
    snapshots_taken: u32,
}

fn cfg() -> Config {
    Config {
        max_packet_size: 200,
        max_in_flight: 32,
        max_retransmits: 30,
        gap_wait: Duration::from_millis(40),
        ..Config::default()
    }
}

/// A server pushing to a client (some messages with receipts, some at
/// least once, a package, a contiguous stream) over a faulty link; the
/// server answers syncs from its store. With `snapshot_at`, both ends are
/// snapshotted and replaced by restored copies at those steps.
fn run(seed: u64, loss: u32, snapshot_at: &[u64]) -> Run {
    let mut rng = SimRng::new(seed);
    let mut tx = Sender::new(cfg(), CONN);
    let mut rx = Receiver::new(cfg(), CONN);
    rx.set_contiguous(StreamId(2), true);
    let mut store: BTreeMap<u64, Vec<Message>> = BTreeMap::new();
    let mut heads = [0u64; 3];
    let mut now = Instant::ZERO;
    let mut wire: BTreeMap<(Instant, u64), (bool, Bytes)> = BTreeMap::new();
    let mut commits: BTreeMap<(Instant, u64), (StreamId, Version)> = BTreeMap::new();
    let mut seq = 0;
    let mut delivered: BTreeMap<u64, u64> = BTreeMap::new();
    let mut out = Run {
        transcript: Vec::new(),
        snapshots_taken: 0,
    };
    for step in 0..3000u64 {
        if snapshot_at.contains(&step) {
            // Events are drained at the end of every step.
            let (s, r) = (tx.snapshot().unwrap(), rx.snapshot().unwrap());
            tx = Sender::restore(cfg(), s).unwrap();
            rx = Receiver::restore(cfg(), r).unwrap();
            out.snapshots_taken += 1;
        }
        if step < 600 && rng.percent(30) {
            let s = rng.below(3);
            let prev = heads[s as usize];
            let v = if s == 2 {
                prev + 1
            } else {
                prev + 1 + rng.below(3)
            };
            heads[s as usize] = v;
            let mut m = Message::new(
                StreamId(s),
                Version(prev),
                Version(v),
                Bytes::from(format!("{v}")),
            );
            match rng.below(4) {
                0 => m = m.with_receipt(),
                1 if s == 0 => {
                    // A two-member package: this one and the next.
                    let p = Package::new(v, 0, 2, Version(v + 1));
                    let second =
                        Message::new(StreamId(s), Version(v), Version(v + 1), Bytes::new())
                            .with_package(Package::new(v, 1, 2, Version(v + 1)));
                    heads[0] = v + 1;
                    let first = m.clone().with_package(p);
                    store.entry(s).or_default().push(first.clone());
                    store.entry(s).or_default().push(second.clone());
                    let r = (tx.send(now, first), tx.send(now, second));
                    out.transcript.push(format!("{now:?} send {r:?}"));
                    continue;
                }
                _ => {}
            }
            store.entry(s).or_default().push(m.clone());
            if rng.percent(10) {
                continue; // stored, never pushed: only sync brings it
            }
            let r = tx.send(now, m);
            out.transcript.push(format!("{now:?} send {r:?}"));
        }
        if step % 97 == 50 && rng.percent(50) {
            let m = Message::new(StreamId(9), Version(0), Version(step), Bytes::new())
                .with_qos(Qos::AtMostOnce);
            let r = tx.send(now, m);
            out.transcript.push(format!("{now:?} send {r:?}"));
        }
        for to_rx in [true, false] {
            loop {
                let p = if to_rx {
                    tx.poll_transmit(now)
                } else {
                    rx.poll_transmit(now)
                };
                let Some(p) = p else { break };
                out.transcript.push(format!("{now:?} {to_rx} {p:x}"));
                let copies = if rng.percent(5) { 2 } else { 1 };
                for _ in 0..copies {
                    if rng.percent(loss) {
                        continue;
                    }
                    seq += 1;
                    let at = now + Duration::from_millis(5 + rng.below(25));
                    wire.insert((at, seq), (to_rx, p.clone()));
                }
            }
        }
        let next = [
            wire.keys().next().map(|k| k.0),
            commits.keys().next().map(|k| k.0),
            tx.poll_timeout(),
            rx.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        now = next.unwrap_or(now + Duration::from_millis(10)).max(now);
        while wire.first_key_value().is_some_and(|(k, _)| k.0 <= now) {
            let (_, (to_rx, p)) = wire.pop_first().unwrap();
            let r = if to_rx {
                rx.handle_input(now, p)
            } else {
                tx.handle_input(now, p)
            };
            out.transcript.push(format!("{now:?} input {r:?}"));
        }
        while commits.first_key_value().is_some_and(|(k, _)| k.0 <= now) {
            let (_, (s, v)) = commits.pop_first().unwrap();
            let receipt = Bytes::from(format!("r{}", v.0));
            rx.commit_with_receipt(now, s, v, receipt).unwrap();
        }
        tx.handle_timeout(now);
        rx.handle_timeout(now);
        while let Some(e) = tx.poll_event() {
            out.transcript.push(format!("{now:?} tx {e:?}"));
            if let SenderEvent::Acked {
                version,
                receipt: Some(r),
                ..
            } = &e
            {
                // The receipt the app committed, or empty for a message the
                // receiver skipped (an expired package).
                let expected = format!("r{}", version.0);
                assert!(r.is_empty() || r == expected.as_bytes(), "{e:?}");
            }
            if let SenderEvent::SyncRequested(req) = e {
                let stored = store.get(&req.stream.0).cloned().unwrap_or_default();
                let SyncRange::After(after) = req.range else {
                    unreachable!()
                };
                let later: Vec<Message> =
                    stored.into_iter().filter(|m| m.version > after).collect();
                let page = &later[..later.len().min(req.limit as usize)];
                let r = tx.answer_sync(now, &req, page, later.len() > page.len());
                out.transcript.push(format!("{now:?} answer {r:?}"));
            }
        }
        while let Some(e) = rx.poll_event() {
            out.transcript.push(format!("{now:?} rx {e:?}"));
            match e {
                ReceiverEvent::Deliver(m) => {
                    let last = delivered.entry(m.stream.0).or_insert(0);
                    assert!(
                        m.version.0 > *last,
                        "{m:?} after {last}: repeated or out of order"
                    );
                    *last = m.version.0;
                    seq += 1;
                    let at = now + Duration::from_millis(rng.below(60));
                    commits.insert((at, seq), (m.stream, m.version));
                }
                ReceiverEvent::ReceiptWanted { stream, version } => {
                    let receipt = Bytes::from(format!("r{}", version.0));
                    rx.provide_receipt(stream, version, receipt).unwrap();
                }
                _ => {}
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_restored_pair_continues_exactly_as_the_original(
        seed: u64,
        loss in 0u32..=30,
        points in proptest::collection::vec(0u64..3000, 1..4),
    ) {
        let original = run(seed, loss, &[]);
        let restored = run(seed, loss, &points);
        prop_assert!(restored.snapshots_taken >= 1);
        prop_assert_eq!(original.transcript.len(), restored.transcript.len());
        for (a, b) in original.transcript.iter().zip(&restored.transcript) {
            prop_assert_eq!(a, b);
        }
    }
}

fn busy_pair() -> (Sender, Receiver) {
    let mut tx = Sender::new(cfg(), CONN);
    let mut rx = Receiver::new(cfg(), CONN);
    let now = Instant::from_millis(5);
    for v in 1..=6 {
        let m =
            Message::new(StreamId(1), Version(v - 1), Version(v), Bytes::from("x")).with_receipt();
        tx.send(now, m).unwrap();
    }
    // Deliver half of the packets, out of order.
    let packets: Vec<Bytes> = std::iter::from_fn(|| tx.poll_transmit(now)).collect();
    for p in packets.iter().rev().step_by(2) {
        rx.handle_input(now, p.clone()).unwrap();
    }
    while rx.poll_event().is_some() {}
    (tx, rx)
}

#[test]
fn snapshots_refuse_pending_events() {
    let (tx, mut rx) = busy_pair();
    let p = Message::new(StreamId(3), Version(0), Version(1), Bytes::new());
    let mut tx2 = Sender::new(cfg(), CONN);
    tx2.send(Instant::ZERO, p).unwrap();
    rx.handle_input(Instant::ZERO, tx2.poll_transmit(Instant::ZERO).unwrap())
        .unwrap();
    assert_eq!(rx.snapshot(), Err(SnapshotError::EventsPending));
    assert!(tx.snapshot().is_ok());
}

#[test]
fn damaged_snapshots_restore_nothing() {
    let (tx, rx) = busy_pair();
    let s = tx.snapshot().unwrap();
    let r = rx.snapshot().unwrap();
    assert!(Sender::restore(cfg(), s.clone()).is_ok());
    assert!(Receiver::restore(cfg(), r.clone()).is_ok());
    assert_eq!(
        Receiver::restore(cfg(), s.clone()).err(),
        Some(SnapshotError::WrongKind)
    );
    assert_eq!(
        Sender::restore(cfg(), r.clone()).err(),
        Some(SnapshotError::WrongKind)
    );
    // Every truncation and every single-bit flip is refused.
    for snap in [&s, &r] {
        for cut in 0..snap.len() {
            let t = snap.slice(..cut);
            assert!(Sender::restore(cfg(), t.clone()).is_err());
            assert!(Receiver::restore(cfg(), t).is_err());
        }
        for i in 0..snap.len() {
            for bit in 0..8 {
                let mut v = snap.to_vec();
                v[i] ^= 1 << bit;
                let v = Bytes::from(v);
                assert!(Sender::restore(cfg(), v.clone()).is_err());
                assert!(Receiver::restore(cfg(), v).is_err());
            }
        }
    }
    // A snapshot that does not fit a smaller configuration is refused.
    let small = Config {
        max_in_flight: 2,
        ..cfg()
    };
    assert!(matches!(
        Sender::restore(small, s),
        Err(SnapshotError::Inconsistent(_))
    ));
}

/// A restored endpoint belongs to its snapshot's connection: it writes
/// that id, takes packets of it and rejects any other; a Connection's two
/// halves must belong to the same one.
#[test]
fn snapshot_and_restore_keep_the_connection_id() {
    let (a, b) = (ConnectionId(0xa11c_e000_0000_0001), ConnectionId(0xb0b));
    let t = Instant::from_millis(5);
    let mut tx = Sender::new(cfg(), a);
    let mut rx = Receiver::new(cfg(), a);
    let m = |v: u64| Message::new(StreamId(1), Version(v - 1), Version(v), Bytes::from("x"));
    tx.send(t, m(1)).unwrap();
    rx.handle_input(t, tx.poll_transmit(t).unwrap()).unwrap();
    while rx.poll_event().is_some() {}

    let mut tx = Sender::restore(cfg(), tx.snapshot().unwrap()).unwrap();
    let mut rx = Receiver::restore(cfg(), rx.snapshot().unwrap()).unwrap();
    assert_eq!((tx.id(), rx.id()), (a, a));
    tx.send(t, m(2)).unwrap();
    let p = tx.poll_transmit(t).unwrap();
    let mut other = Receiver::new(cfg(), b);
    assert_eq!(
        other.handle_input(t, p.clone()),
        Err(InputError::OtherConnection(a))
    );
    rx.handle_input(t, p).unwrap();
    assert!(matches!(rx.poll_event(), Some(ReceiverEvent::Deliver(d)) if d.version == Version(2)));
    let mut stranger = Sender::new(cfg(), b);
    stranger.send(t, m(3)).unwrap();
    assert_eq!(
        rx.handle_input(t, stranger.poll_transmit(t).unwrap()),
        Err(InputError::OtherConnection(b))
    );

    // Connections: the id survives, and halves of two connections do not
    // make one.
    let c = Connection::new(cfg(), b);
    let (s, r) = c.snapshot().unwrap();
    let restored = Connection::restore(cfg(), s.clone(), r).unwrap();
    assert_eq!(restored.id(), b);
    assert_eq!(restored.receiver().id(), b);
    let (_, r_a) = Connection::new(cfg(), a).snapshot().unwrap();
    assert!(matches!(
        Connection::restore(cfg(), s, r_a),
        Err(SnapshotError::Inconsistent(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes, sealed with a valid envelope and checksum, never
    /// panic and never restore into a state that breaks its bounds.
    #[test]
    fn forged_snapshots_are_decoded_defensively(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        receiver: bool,
    ) {
        let mut v = b"AWS\x02".to_vec();
        v.push(if receiver { b'R' } else { b'S' });
        v.extend_from_slice(&body);
        let crc = crc32(&v);
        v.extend_from_slice(&crc.to_be_bytes());
        let v = Bytes::from(v);
        if receiver {
            if let Ok(rx) = Receiver::restore(cfg(), v) {
                prop_assert!(rx.usage().held <= cfg().max_held_messages);
            }
        } else if let Ok(tx) = Sender::restore(cfg(), v) {
            prop_assert!(tx.pending() <= cfg().max_queued + cfg().max_in_flight as usize);
        }
    }
}

/// CRC-32 (IEEE), bit by bit: independent of the library's implementation.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
