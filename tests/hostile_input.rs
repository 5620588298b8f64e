//! Arbitrary bytes, sealed in packets with a valid header and checksum so
//! they reach the frame decoders, never panic an endpoint; a rejected
//! packet leaves every observable piece of state as it was.

mod common;

use ackwire::*;
use bytes::Bytes;
use common::{seal, CONN};
use proptest::prelude::*;

/// A receiver with some state: delivered, buffered and uncommitted messages.
fn busy_pair() -> (Sender, Receiver) {
    let mut tx = Sender::new(Config::default(), CONN);
    let mut rx = Receiver::new(Config::default(), CONN);
    let now = Instant::from_millis(1);
    for v in [1u64, 2, 4] {
        let prev = if v == 4 { 3 } else { v - 1 };
        tx.send(
            now,
            Message::new(
                StreamId(1),
                Version(prev),
                Version(v),
                Bytes::from_static(b"x"),
            ),
        )
        .unwrap();
    }
    while let Some(p) = tx.poll_transmit(now) {
        rx.handle_input(now, p).unwrap();
    }
    rx.commit(now, StreamId(1), Version(1)).unwrap();
    (tx, rx)
}

fn rx_state(rx: &Receiver) -> (ReceiverStats, usize, Option<Instant>, Option<Version>) {
    (
        rx.stats(),
        rx.usage().held,
        rx.poll_timeout(),
        rx.head(StreamId(1)),
    )
}

fn tx_state(tx: &Sender) -> (SenderStats, usize, Option<Instant>) {
    (tx.stats(), tx.pending(), tx.poll_timeout())
}

fn frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    // Bias towards known frame kinds so decoders go deep.
    proptest::collection::vec(
        prop_oneof![4 => 0u8..6, 1 => any::<u8>(), 1 => Just(0x80u8), 1 => Just(0xffu8)],
        0..80,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn receiver_survives_any_body(body in frame_bytes()) {
        let (_tx, mut rx) = busy_pair();
        let now = Instant::from_millis(2);
        let before = rx_state(&rx);
        if rx.handle_input(now, seal(&body)).is_err() {
            prop_assert_eq!(rx_state(&rx), before);
        }
        rx.handle_timeout(Instant::from_millis(10_000));
        while rx.poll_transmit(Instant::from_millis(10_000)).is_some() {}
        prop_assert!(rx.poll_timeout().is_none_or(|t| t > Instant::from_millis(10_000)));
    }

    #[test]
    fn sender_survives_any_body(body in frame_bytes()) {
        let (mut tx, _rx) = busy_pair();
        let now = Instant::from_millis(2);
        let before = tx_state(&tx);
        if tx.handle_input(now, seal(&body)).is_err() {
            prop_assert_eq!(tx_state(&tx), before);
            prop_assert_eq!(tx.poll_event(), None);
        }
        tx.handle_timeout(Instant::from_millis(10_000));
        while tx.poll_transmit(Instant::from_millis(10_000)).is_some() {}
        prop_assert!(tx.poll_timeout().is_none_or(|t| t > Instant::from_millis(10_000)));
    }

    #[test]
    fn connection_survives_any_bytes(raw in proptest::collection::vec(any::<u8>(), 0..64), body in frame_bytes()) {
        let mut c = Connection::new(Config::default(), CONN);
        let now = Instant::from_millis(2);
        // Unsealed junk: always rejected. Sealed bodies: whatever they say, no panic.
        prop_assert!(c.handle_input(now, Bytes::from(raw)).is_err());
        let _ = c.handle_input(now, seal(&body));
        while c.poll_transmit(now).is_some() {}
        while c.poll_event().is_some() {}
    }

    /// Random bytes essentially never pass the packet checks.
    #[test]
    fn junk_is_rejected(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut rx = Receiver::new(Config::default(), CONN);
        prop_assert!(rx.handle_input(Instant::ZERO, Bytes::from(raw)).is_err());
    }
}

fn varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

fn frame(kind: u8, fields: &[u64], tail: &[u8]) -> Vec<u8> {
    let mut b = vec![kind];
    for &f in fields {
        varint(&mut b, f);
    }
    b.extend_from_slice(tail);
    b
}

/// DATA sid, stream 1, prev -> version, no flags, payload "x".
fn data(sid: u64, prev: u64, version: u64) -> Bytes {
    seal(&frame(0x01, &[sid, 1, prev, version], &[0, 1, b'x']))
}

/// A well-formed packet whose connection id differs from the endpoint's in
/// one bit (any of the 64) is rejected as another connection's, before any
/// frame is looked at, and changes nothing.
#[test]
fn a_packet_of_a_connection_one_bit_away_is_rejected() {
    let t = Instant::from_millis(2);
    // Frames each endpoint would take from its own connection.
    let to_receiver = frame(0x01, &[3, 1, 2, 3], &[0, 1, b'x']);
    let to_sender = frame(0x02, &[0, 3, 0, 1, 0, 100], &[]);
    for bit in 0..64 {
        let other = ConnectionId(CONN.0 ^ (1 << bit));
        let (mut tx, mut rx) = busy_pair();
        while rx.poll_event().is_some() {}
        let before = rx_state(&rx);
        assert_eq!(
            rx.handle_input(t, common::seal_for(other, &to_receiver)),
            Err(InputError::OtherConnection(other)),
            "bit {bit}"
        );
        assert_eq!(rx_state(&rx), before);
        assert_eq!(rx.usage(), busy_pair().1.usage());
        assert_eq!(rx.poll_event(), None);
        let before = tx_state(&tx);
        assert_eq!(
            tx.handle_input(t, common::seal_for(other, &to_sender)),
            Err(InputError::OtherConnection(other)),
            "bit {bit}"
        );
        assert_eq!(tx_state(&tx), before);
        assert_eq!(tx.poll_event(), None);
        let mut c = Connection::new(Config::default(), CONN);
        for body in [&to_receiver, &to_sender] {
            assert_eq!(
                c.handle_input(t, common::seal_for(other, body)),
                Err(InputError::OtherConnection(other))
            );
        }
        assert_eq!(c.poll_event(), None);
        assert_eq!(c.poll_timeout(), None);
        // From its own connection, the same frames are taken.
        rx.handle_input(t, seal(&to_receiver)).unwrap();
        tx.handle_input(t, seal(&to_sender)).unwrap();
    }
    // A checksum failure is reported as such, whatever the id says.
    let mut p = common::seal_for(ConnectionId(!CONN.0), &to_receiver).to_vec();
    let last = p.len() - 1;
    p[last] ^= 1;
    let (_, mut rx) = busy_pair();
    assert_eq!(
        rx.handle_input(t, Bytes::from(p)),
        Err(InputError::Malformed(CodecError::BadChecksum))
    );
}

#[test]
fn chain_conflicts_are_dropped_unacknowledged() {
    let mut rx = Receiver::new(Config::default(), CONN);
    let t = Instant::from_millis(1);
    rx.handle_input(t, data(0, 0, 5)).unwrap();
    rx.handle_input(t, data(1, 9, 12)).unwrap(); // buffered after 9
    let before = rx.usage();
    // Same predecessor, another version: a fork.
    rx.handle_input(t, data(2, 9, 13)).unwrap();
    // A predecessor below the head.
    rx.handle_input(t, data(3, 2, 7)).unwrap();
    assert_eq!(rx.stats().chain_conflicts, 2);
    assert_eq!(rx.usage(), before, "nothing held");
    // A message that forks below the head after it was buffered is
    // dropped when the gap timer looks at the stream.
    rx.handle_input(t, data(4, 5, 9)).unwrap(); // delivers 9, then 12
    rx.handle_input(t, data(5, 6, 20)).unwrap(); // follows 6 < head 12: a conflict now
    assert_eq!(rx.stats().chain_conflicts, 3);
}

#[test]
fn stale_or_foreign_sync_ends_are_ignored() {
    let mut rx = Receiver::new(Config::default(), CONN);
    let t = Instant::from_millis(1);
    rx.resume(StreamId(1), Version(10));
    while rx.poll_transmit(t).is_some() {}
    let before = (rx.usage(), rx.stats(), rx.poll_timeout());
    // An end for a stream nobody syncs, and one for a request never made.
    let unknown = frame(0x06, &[77], &[0, 0, 0, 0, 0, 0]);
    let stale = frame(0x06, &[1], &[0, 3, 3, 5, 2, 1]);
    for body in [unknown, stale] {
        rx.handle_input(t, seal(&body)).unwrap();
    }
    assert_eq!((rx.usage(), rx.stats(), rx.poll_timeout()), before);
    assert_eq!(rx.poll_event(), None);
}

#[test]
fn receipts_for_unknown_or_unsent_sids() {
    let mut tx = Sender::new(Config::default(), CONN);
    let t = Instant::from_millis(1);
    let m = Message::new(StreamId(1), Version(0), Version(1), Bytes::new()).with_receipt();
    tx.send(t, m).unwrap();
    tx.poll_transmit(t).unwrap();
    // SID 0 was sent: a receipt for it is kept; SID 5 was not: rejected.
    let unsent = seal(&frame(0x07, &[5, 1], b"r"));
    assert_eq!(
        tx.handle_input(t, unsent),
        Err(InputError::AckForUnsentSid(5))
    );
    let before = (tx.usage(), tx.stats(), tx.poll_timeout());
    let ok = seal(&frame(0x07, &[0, 1], b"r"));
    tx.handle_input(t, ok).unwrap();
    assert_eq!(
        (tx.usage(), tx.stats(), tx.poll_timeout()),
        before,
        "no event until the ack"
    );
    assert_eq!(tx.poll_event(), None);
}

#[test]
fn frames_for_the_other_endpoint_are_typed_errors() {
    let t = Instant::from_millis(1);
    let (mut tx, mut rx) = busy_pair();
    let sync = seal(&frame(0x05, &[1], &[0, 0, 5]));
    let receipt = seal(&frame(0x07, &[0, 0], &[]));
    let datagram = seal(&frame(0x08, &[0, 1, 1, 0], &[]));
    let ping = seal(&[0x04]);
    let before = rx_state(&rx);
    assert_eq!(
        rx.handle_input(t, sync),
        Err(InputError::UnexpectedFrame(0x05))
    );
    assert_eq!(
        rx.handle_input(t, receipt),
        Err(InputError::UnexpectedFrame(0x07))
    );
    assert_eq!(rx_state(&rx), before);
    let before = tx_state(&tx);
    assert_eq!(
        tx.handle_input(t, datagram),
        Err(InputError::UnexpectedFrame(0x08))
    );
    assert_eq!(
        tx.handle_input(t, ping.clone()),
        Err(InputError::UnexpectedFrame(0x04))
    );
    assert_eq!(tx_state(&tx), before);
    // A PING to the receiver asks for an ack now.
    while rx.poll_transmit(t).is_some() {}
    rx.handle_input(t, ping).unwrap();
    assert!(rx.poll_transmit(t).is_some());
}
