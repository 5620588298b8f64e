//! Arbitrary bytes, sealed in packets with a valid header and checksum so
//! they reach the frame decoders, never panic an endpoint; a rejected
//! packet leaves every observable piece of state as it was.

use ackwire::*;
use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

fn seal(body: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_slice(&MAGIC);
    b.put_u8(FORMAT_VERSION);
    b.put_u32(body.len() as u32);
    b.put_slice(body);
    let crc = crc32fast::hash(&b);
    b.put_u32(crc);
    b.freeze()
}

/// A receiver with some state: delivered, buffered and uncommitted messages.
fn busy_pair() -> (Sender, Receiver) {
    let mut tx = Sender::new(Config::default());
    let mut rx = Receiver::new(Config::default());
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
        rx.held(),
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
        let mut c = Connection::new(Config::default());
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
        let mut rx = Receiver::new(Config::default());
        prop_assert!(rx.handle_input(Instant::ZERO, Bytes::from(raw)).is_err());
    }
}
