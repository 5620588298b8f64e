//! Every structure a peer can grow hits its configured bound, and stays
//! there, with the documented behaviour (the bounds table in PROTOCOL.md
//! §9). The hostile peer here writes frames by hand from PROTOCOL.md.

mod common;

use ackwire::*;
use bytes::Bytes;
use common::{seal, CONN};

fn varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push((v as u8) | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

const PACKAGE: u8 = 0x01;
const HISTORY: u8 = 0x02;
const RECEIPT: u8 = 0x04;
const UNORDERED: u8 = 0x08;

/// One DATA frame; `package` is (id, index, count, last).
fn data(
    sid: u64,
    stream: u64,
    prev: u64,
    version: u64,
    flags: u8,
    package: Option<(u64, u64, u64, u64)>,
) -> Bytes {
    let mut b = vec![0x01];
    for v in [sid, stream, prev, version] {
        varint(&mut b, v);
    }
    b.push(flags | if package.is_some() { PACKAGE } else { 0 });
    if let Some((id, index, count, last)) = package {
        for v in [id, index, count, last] {
            varint(&mut b, v);
        }
    }
    varint(&mut b, 1);
    b.push(b'x');
    seal(&b)
}

fn now() -> Instant {
    Instant::from_millis(1)
}

fn feed(rx: &mut Receiver, packets: impl IntoIterator<Item = Bytes>) {
    for p in packets {
        rx.handle_input(now(), p).unwrap();
    }
}

#[test]
fn streams_a_peer_creates_stop_at_max_streams() {
    let cfg = Config {
        max_streams: 8,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    feed(&mut rx, (0..100).map(|s| data(s, s, 0, 1, 0, None)));
    assert_eq!(rx.usage().streams, 8);
    assert_eq!(
        rx.stats().dropped_full,
        92,
        "the rest are dropped unacknowledged"
    );
}

#[test]
fn reorder_buffer_stops_at_max_reorder_per_stream() {
    let cfg = Config {
        max_reorder_per_stream: 4,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    feed(
        &mut rx,
        (1..100).map(|i| data(i, 1, 10 * i, 10 * i + 1, 0, None)),
    );
    assert_eq!(rx.usage().buffered, 4);
    assert_eq!(rx.stats().dropped_full, 95);
}

#[test]
fn held_messages_stop_at_max_held_across_streams() {
    let cfg = Config {
        max_held_messages: 10,
        max_reorder_per_stream: 5,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    feed(&mut rx, (0..50).map(|s| data(s, s, 5, 6, 0, None)));
    let u = rx.usage();
    // Early messages stop one short: the last slot is kept for a message
    // that follows a head (see the next test).
    assert_eq!(u.held, 9);
    assert_eq!(u.buffered, 9);
    // That one still gets in, up to the bound.
    feed(&mut rx, [data(50, 100, 0, 1, 0, None)]);
    assert_eq!(rx.usage().held, 10);
    feed(&mut rx, [data(51, 101, 0, 1, 0, None)]);
    assert_eq!(rx.usage().held, 10);
}

/// Early messages (waiting beyond a hole) filled every `max_held_messages`
/// slot, so the message filling their hole was dropped as "full" on every
/// retransmission and sync answer: nothing behind the hole could ever be
/// delivered (deep sweep seed 1017873: a 95-message sync page reordered on
/// a receiver holding 16). The last slot is now kept for a message that
/// follows its stream's head.
#[test]
fn early_messages_leave_room_for_the_message_filling_their_hole() {
    let cfg = Config {
        max_held_messages: 4,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    // Versions 2..=7, each after the one before: all wait for version 1.
    feed(&mut rx, (2..=7).map(|v| data(v, 1, v - 1, v, 0, None)));
    assert_eq!(rx.usage().buffered, 3);
    assert_eq!(rx.poll_event(), None);
    // Version 1 follows the head (0): it gets in and unblocks 2..=4.
    feed(&mut rx, [data(1, 1, 0, 1, 0, None)]);
    let delivered: Vec<u64> = std::iter::from_fn(|| rx.poll_event())
        .map(|e| match e {
            ReceiverEvent::Deliver(m) => m.version.0,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(delivered, [1, 2, 3, 4]);
    assert_eq!(rx.usage().held, 4);
    assert_eq!(rx.usage().buffered, 0);
}

/// Fuzz find 21 (`pair_ops`). Early messages filled a stream's reorder
/// buffer; the package at the head got its first member in (it follows the
/// head) but every later member was refused for room, so the package, and
/// everything behind it, waited for ever. Members of the package at the
/// head now count as in order.
#[test]
fn the_package_at_the_head_completes_past_a_full_reorder_buffer() {
    let cfg = Config {
        max_reorder_per_stream: 2,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    // Two early messages fill the stream's buffer (a hole at 4).
    feed(
        &mut rx,
        [data(10, 1, 5, 6, 0, None), data(11, 1, 6, 7, 0, None)],
    );
    assert_eq!(rx.usage().buffered, 2);
    // The package 1..=3, in order.
    let member = |sid, v| data(sid, 1, v - 1, v, 0, Some((9, v - 1, 3, 3)));
    feed(&mut rx, [member(1, 1), member(2, 2), member(3, 3)]);
    let delivered: Vec<u64> = std::iter::from_fn(|| rx.poll_event())
        .map(|e| match e {
            ReceiverEvent::Deliver(m) => m.version.0,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(delivered, [1, 2, 3]);
    assert_eq!(rx.usage().buffered, 2, "the early ones still wait for 4");
}

/// Fuzz find 22 (`pair_ops`). History messages could take the free slot
/// kept for a message that follows a head: with early messages in every
/// other slot, the live stream's hole filler was dropped for ever, and
/// the history page waited for room that only the live stream could free.
#[test]
fn history_pages_leave_room_for_the_message_filling_a_hole() {
    let cfg = Config {
        max_held_messages: 4,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    rx.fetch_history(StreamId(2), Version(10), 5);
    // Two early messages on stream 1 (waiting for version 1)...
    feed(
        &mut rx,
        [data(1, 1, 1, 2, 0, None), data(2, 1, 2, 3, 0, None)],
    );
    // ... and a history page for stream 2 arriving.
    feed(
        &mut rx,
        [
            data(3, 2, 6, 7, HISTORY, None),
            data(4, 2, 7, 8, HISTORY, None),
        ],
    );
    assert!(rx.usage().held < 4, "{:?}", rx.usage());
    feed(&mut rx, [data(5, 1, 0, 1, 0, None)]);
    let delivered: Vec<u64> = std::iter::from_fn(|| rx.poll_event())
        .filter_map(|e| match e {
            ReceiverEvent::Deliver(m) => Some(m.version.0),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [1, 2, 3]);
}

#[test]
fn sids_beyond_the_window_are_dropped() {
    let cfg = Config {
        max_in_flight: 64,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    feed(
        &mut rx,
        [
            data(64 * 10, 1, 0, 1, 0, None),
            data(u64::MAX, 1, 0, 1, 0, None),
        ],
    );
    assert_eq!(rx.usage().held, 0);
    assert_eq!(rx.stats().dropped_full, 2);
}

#[test]
fn one_open_package_per_stream() {
    let mut rx = Receiver::new(Config::default(), CONN);
    // Two packages on one stream, each missing a member; on another
    // stream a third.
    feed(
        &mut rx,
        [
            data(0, 1, 0, 1, 0, Some((7, 0, 3, 3))),
            data(1, 1, 3, 4, 0, Some((8, 0, 2, 5))),
            data(2, 2, 0, 1, 0, Some((9, 0, 2, 2))),
        ],
    );
    assert_eq!(rx.usage().open_packages, 2);
    assert_eq!(rx.poll_event(), None, "nothing released");
}

#[test]
fn history_nobody_asked_for_is_not_held_and_a_page_stops_at_its_bound() {
    let cfg = Config {
        max_reorder_per_stream: 8,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    feed(
        &mut rx,
        (0..10).map(|i| data(i, 1, i, i + 1, HISTORY, None)),
    );
    assert_eq!(rx.usage().history_messages, 0);
    assert_eq!(rx.usage().held, 0);
    rx.fetch_history(StreamId(1), Version(100), 3);
    feed(
        &mut rx,
        (10..30).map(|i| data(i, 1, i, i + 1, HISTORY, None)),
    );
    assert_eq!(rx.usage().history_messages, 8);
}

#[test]
fn receipt_memory_stops_at_max_receipts() {
    let cfg = Config {
        max_receipts: 4,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    feed(
        &mut rx,
        (1..=20).map(|v| data(v, 1, v - 1, v, RECEIPT, None)),
    );
    for v in 1..=20 {
        rx.commit_with_receipt(now(), StreamId(1), Version(v), Bytes::from("r"))
            .unwrap();
    }
    assert_eq!(rx.usage().receipts_remembered, 4);
}

#[test]
fn receipt_requests_stop_at_max_streams() {
    let cfg = Config {
        max_streams: 4,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    rx.resume(StreamId(1), Version(1000));
    // Resends of committed messages, each wanting a receipt nobody has.
    feed(
        &mut rx,
        (1..=50).map(|v| data(v, 1, v - 1, v, RECEIPT, None)),
    );
    assert_eq!(rx.usage().receipts_wanted, 4);
    let wanted = std::iter::from_fn(|| rx.poll_event())
        .filter(|e| matches!(e, ReceiverEvent::ReceiptWanted { .. }))
        .count();
    assert_eq!(wanted, 4);
}

#[test]
fn at_least_once_messages_stop_at_max_held() {
    let cfg = Config {
        max_held_messages: 5,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    feed(
        &mut rx,
        (0..20).map(|i| data(i, 1, 0, i + 1, UNORDERED, None)),
    );
    assert_eq!(rx.usage().unordered, 5);
    assert_eq!(rx.stats().dropped_full, 15);
}

#[test]
fn datagrams_hold_nothing_and_never_repeat() {
    let mut rx = Receiver::new(Config::default(), CONN);
    let mut seen = std::collections::HashSet::new();
    let mut x = 12345u64;
    for _ in 0..5000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let seq = (x >> 33) % 600;
        let mut b = vec![0x08];
        for v in [seq, 1, seq] {
            varint(&mut b, v);
        }
        varint(&mut b, 0);
        rx.handle_input(now(), seal(&b)).unwrap();
        while let Some(e) = rx.poll_event() {
            let ReceiverEvent::Datagram(m) = e else {
                panic!("{e:?}")
            };
            assert!(
                seen.insert(m.version.0),
                "seq {} delivered twice",
                m.version.0
            );
        }
    }
    assert_eq!(rx.usage(), ReceiverUsage::default());
}

#[test]
fn sync_request_flood_stops_at_max_streams() {
    let cfg = Config {
        max_streams: 4,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg, CONN);
    for s in 0..100 {
        let mut b = vec![0x05];
        varint(&mut b, s);
        b.push(0);
        varint(&mut b, 0);
        varint(&mut b, 1_000_000);
        tx.handle_input(now(), seal(&b)).unwrap();
    }
    assert_eq!(tx.usage().sync_requests_unread, 4);
    let events = std::iter::from_fn(|| tx.poll_event()).count();
    assert_eq!(events, 4, "the rest are dropped; the peer asks again");
    assert_eq!(tx.usage().sync_requests_unread, 0);
}

#[test]
fn page_end_markers_stop_at_max_streams() {
    let cfg = Config {
        max_streams: 2,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg, CONN);
    let req = |s| SyncRequest {
        stream: StreamId(s),
        range: SyncRange::After(Version(0)),
        limit: 10,
    };
    tx.answer_sync(now(), &req(1), &[], false).unwrap();
    tx.answer_sync(now(), &req(2), &[], false).unwrap();
    assert_eq!(
        tx.answer_sync(now(), &req(3), &[], false),
        Err(SendError::Backpressure)
    );
    assert_eq!(tx.usage().page_ends, 2);
}

#[test]
fn copies_waiting_for_one_receipt_stop_at_eight() {
    let mut rx = Receiver::new(Config::default(), CONN);
    rx.resume(StreamId(1), Version(1000));
    // One committed message resent under 50 SIDs before the app answers.
    feed(
        &mut rx,
        (1..=50).map(|sid| data(sid, 1, 4, 5, RECEIPT, None)),
    );
    let wanted = std::iter::from_fn(|| rx.poll_event())
        .filter(|e| matches!(e, ReceiverEvent::ReceiptWanted { .. }))
        .count();
    assert_eq!(wanted, 1);
    rx.provide_receipt(StreamId(1), Version(5), Bytes::from("r"))
        .unwrap();
    while rx.poll_transmit(now()).is_some() {}
    assert_eq!(rx.stats().receipts_sent, 8);
}

/// The message `Config::max_payload` is exact for: every field at its
/// longest (SID `u64::MAX` is what `send` sizes for) — stream, prev,
/// version and package id of 10 bytes, index and count of 5, a receipt.
fn longest_message(payload: usize) -> Message {
    Message::new(
        StreamId(u64::MAX),
        Version(u64::MAX - 1),
        Version(u64::MAX),
        Bytes::from(vec![b'p'; payload]),
    )
    .with_package(Package::new(
        u64::MAX,
        u32::MAX - 1,
        u32::MAX,
        Version(u64::MAX),
    ))
    .with_receipt()
}

/// `max_payload()` always fits, even in the longest message, and is exact:
/// one byte more does not fit that message.
#[test]
fn max_payload_is_exact() {
    for max_packet_size in [115, 128, 129, 240, 241, 300, 1200, 16_384, 16_513, 65_536] {
        // A window as large as a package can be, so that the longest
        // package fields are allowed (a package must fit the window).
        let cfg = Config {
            max_packet_size,
            max_in_flight: u64::from(u32::MAX),
            ..Config::default()
        };
        let max = cfg.max_payload();
        assert!(max > 0, "{max_packet_size}");
        for qos in [Qos::ExactlyOnce, Qos::AtLeastOnce, Qos::AtMostOnce] {
            let mut tx = Sender::new(cfg.clone(), CONN);
            assert_eq!(
                tx.send(now(), longest_message(max).with_qos(qos)),
                Ok(()),
                "{max_packet_size}: payload {max}"
            );
            assert!(
                matches!(
                    tx.send(now(), longest_message(max + 1).with_qos(qos)),
                    Err(SendError::TooLarge { needed, max: m })
                        if needed > max_packet_size && m == max_packet_size
                ),
                "{max_packet_size}: payload {}",
                max + 1
            );
        }
        // And it is written, FLOOR and PING included, in one packet.
        let mut tx = Sender::new(cfg.clone(), CONN);
        tx.send(now(), longest_message(max)).unwrap();
        let p = tx.poll_transmit(now()).unwrap();
        assert!(p.len() <= max_packet_size);
        let mut rx = Receiver::new(cfg, CONN);
        rx.handle_input(now(), p).unwrap();
    }
    // The values the docs quote.
    let at = |max_packet_size| {
        Config {
            max_packet_size,
            ..Config::default()
        }
        .max_payload()
    };
    assert_eq!(at(128), 14);
    assert_eq!(at(114), 0);
    assert_eq!(at(1200), 1085);
    assert_eq!(at(16_384), 16_269);
    // Where the payload's length varint grows to 3 bytes.
    assert_eq!(at(16_513), 16_397);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// Any message whose payload is at most `max_payload()` is accepted.
    #[test]
    fn any_message_within_max_payload_is_accepted(
        max_packet_size in 115usize..20_000,
        stream: u64,
        prev: u64,
        step in 1u64..=u64::MAX,
        package in proptest::option::of((proptest::prelude::any::<u64>(), 1u32..=u32::MAX, proptest::prelude::any::<u32>(), proptest::prelude::any::<u64>())),
        receipt: bool,
        qos in 0u8..3,
        short in 0usize..=20,
    ) {
        let cfg = Config { max_packet_size, max_in_flight: u64::from(u32::MAX), ..Config::default() };
        let max = cfg.max_payload();
        let version = prev.saturating_add(step).max(1);
        let prev = prev.min(version - 1);
        let mut m = Message::new(
            StreamId(stream),
            Version(prev),
            Version(version),
            Bytes::from(vec![0u8; max.saturating_sub(short)]),
        );
        if let Some((id, count, index, extra)) = package {
            // Fields that agree: the last member at `version`, or an
            // earlier one with room for the members after it.
            let index = index % count;
            let after = u64::from(count - 1 - index);
            let last = if after == 0 {
                Some(version)
            } else {
                version.checked_add(after).and_then(|l| l.checked_add(extra % 1000))
            };
            if let Some(last) = last {
                m = m.with_package(Package::new(id, index, count, Version(last)));
            }
        }
        if receipt {
            m = m.with_receipt();
        }
        m = m.with_qos([Qos::ExactlyOnce, Qos::AtLeastOnce, Qos::AtMostOnce][usize::from(qos)]);
        let mut tx = Sender::new(cfg, CONN);
        proptest::prop_assert_eq!(tx.send(now(), m), Ok(()));
    }
}
