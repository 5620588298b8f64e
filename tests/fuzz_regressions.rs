//! Bugs the fuzz targets found, as plain API scenarios. Each stays
//! `#[ignore]`d until the fix in `src/` lands; the reproducers are also under
//! `fuzz/artifacts/<target>/known-bug-*` (see `tests/fuzz_corpus.rs`).

use ackwire::*;
use bytes::{BufMut, Bytes, BytesMut};
use std::time::Duration;

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

/// Known bug 1. A FLOOR frame may raise the receiver's SID floor to near
/// `u64::MAX`; a DATA frame with SID `u64::MAX` is then inside the window and
/// `SidSet::insert` (and `Receiver::on_data`) compute `sid + 1`, which
/// overflows: a panic on peer input with debug assertions, a wrapped `end`
/// without them.
#[test]
#[ignore = "bug: sid + 1 overflows for a DATA frame with SID u64::MAX after a FLOOR near u64::MAX"]
fn receiver_survives_data_with_sid_u64_max_after_a_floor_near_max() {
    let floor = [
        0x03, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00,
    ];
    let data = [
        0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x00, 0x01, 0x00,
        0x00,
    ];
    for (name, packets) in [
        ("one packet", vec![[&floor[..], &data[..]].concat()]),
        ("two packets", vec![floor.to_vec(), data.to_vec()]),
    ] {
        let mut rx = Receiver::new(Config::default());
        let now = Instant::from_millis(1);
        for body in packets {
            // Accepting or rejecting with a typed error are both fine; a
            // panic is not.
            let _ = rx.handle_input(now, seal(&body));
        }
        while rx.poll_transmit(now).is_some() {}
        assert!(rx.held() <= 1, "{name}");
    }
}

/// Known bug 2. `handle_timeout` (and fast retransmit) unlink an entry from
/// the retransmission list, then `retransmit_or_escalate` escalates it via
/// `settle`, which unlinks it again because its state is still
/// `Outstanding`. The second unlink of a detached entry sets the list's head
/// and tail to nil, so every other outstanding message drops off the list:
/// it is never resent nor escalated, and the sender pings for its commit
/// until the peer is declared dead.
#[test]
#[ignore = "bug: escalation unlinks the entry twice and empties the retransmission list"]
fn escalating_one_message_keeps_the_others_on_the_retransmission_list() {
    let cfg = Config {
        max_retransmits: 1,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg);
    let now = Instant::from_millis(0);
    for v in 1..=2 {
        let m = Message::new(
            StreamId(1),
            Version(v - 1),
            Version(v),
            Bytes::from_static(b"x"),
        );
        tx.send(now, m).unwrap();
    }
    // Every packet is lost: both messages must come back as escalated.
    while tx.poll_transmit(now).is_some() {}
    let mut escalated = Vec::new();
    let end = now + Duration::from_secs(50); // before peer_dead_after (60 s)
    while let Some(t) = tx.poll_timeout().filter(|&t| t < end) {
        tx.handle_timeout(t);
        while tx.poll_transmit(t).is_some() {}
        while let Some(e) = tx.poll_event() {
            if let SenderEvent::Escalated(m) = e {
                escalated.push(m.version.0);
            }
        }
    }
    assert_eq!(
        escalated,
        vec![1, 2],
        "the second message was never escalated"
    );
    assert_eq!(tx.pending(), 0);
}

/// Known bug 3. A message buffered behind a missing predecessor stays
/// buffered when the stream's head moves past that predecessor by another
/// branch of the chain (here a peer that forks the chain; `resume` past a
/// buffered message's `prev` does the same). It can never be delivered, is
/// never evicted, keeps its `max_held_messages` slot for good (enough of
/// them wedge the receiver: every later message is dropped as "full"), and
/// the `Gap` it raises says `waiting_after` is below `after`.
#[test]
#[ignore = "bug: a buffered message whose prev fell below the stream head is never evicted"]
fn buffered_message_behind_the_head_is_evicted() {
    let mut rx = Receiver::new(Config::default());
    let now = Instant::from_millis(1);
    // sid 0: stream 0, 1 -> 2 (waits for 1); sid 1: stream 0, 0 -> 2.
    let body = [
        0x01, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00,
    ];
    rx.handle_input(now, seal(&body)).unwrap();
    assert!(matches!(rx.poll_event(), Some(ReceiverEvent::Deliver(m)) if m.version == Version(2)));
    rx.commit(now, StreamId(0), Version(2)).unwrap();
    let later = now + Duration::from_secs(1);
    rx.handle_timeout(later);
    while let Some(e) = rx.poll_event() {
        if let ReceiverEvent::Gap {
            after,
            waiting_after,
            ..
        } = e
        {
            assert!(
                waiting_after > after,
                "gap waiting after {waiting_after:?}, below the head {after:?}"
            );
        }
    }
    assert_eq!(
        rx.held(),
        0,
        "a message that can never be delivered is held"
    );
}
