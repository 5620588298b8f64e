//! Bugs the fuzz targets found, as plain API scenarios. Bugs 1-11 are fixed;
//! a bug not fixed yet stays `#[ignore]`d until the fix in `src/` lands. The
//! reproducers are also under `fuzz/artifacts/<target>/` (`bug-*` fixed,
//! `known-bug-*` not yet; see `tests/fuzz_corpus.rs`).

use ackwire::*;
use bytes::Bytes;
use std::time::Duration;

/// Bug 1 (fixed). A FLOOR frame may raise the receiver's SID floor to near
/// `u64::MAX`; a DATA frame with SID `u64::MAX` is then inside the window and
/// `SidSet::insert` (and `Receiver::on_data`) compute `sid + 1`, which
/// overflows: a panic on peer input with debug assertions, a wrapped `end`
/// without them.
#[test]
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
        let mut rx = Receiver::new(Config::default(), CONN);
        let now = Instant::from_millis(1);
        for body in packets {
            // Accepting or rejecting with a typed error are both fine; a
            // panic is not.
            let _ = rx.handle_input(now, seal(&body));
        }
        while rx.poll_transmit(now).is_some() {}
        assert!(rx.usage().held <= 1, "{name}");
    }
}

/// Bug 2 (fixed). `handle_timeout` (and fast retransmit) unlink an entry from
/// the retransmission list, then `retransmit_or_escalate` escalates it via
/// `settle`, which unlinks it again because its state is still
/// `Outstanding`. The second unlink of a detached entry sets the list's head
/// and tail to nil, so every other outstanding message drops off the list:
/// it is never resent nor escalated, and the sender pings for its commit
/// until the peer is declared dead.
#[test]
fn escalating_one_message_keeps_the_others_on_the_retransmission_list() {
    let cfg = Config {
        max_retransmits: 1,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg, CONN);
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

/// Bug 3 (fixed). A message buffered behind a missing predecessor stays
/// buffered when the stream's head moves past that predecessor by another
/// branch of the chain (here a peer that forks the chain; `resume` past a
/// buffered message's `prev` does the same). It can never be delivered, is
/// never evicted, keeps its `max_held_messages` slot for good (enough of
/// them wedge the receiver: every later message is dropped as "full"), and
/// the `Gap` it raises says `waiting_after` is below `after`.
#[test]
fn buffered_message_behind_the_head_is_evicted() {
    let mut rx = Receiver::new(Config::default(), CONN);
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
        rx.usage().held,
        0,
        "a message that can never be delivered is held"
    );
}

// ---------------------------------------------------------------------------
// Bugs 4-11, found by the second fuzzing round (against the receipt, QoS,
// package and history wire format); fixed in src/ by 326a1bf.

use ackwire_fuzz as harness;

use harness::{decode_packet, seal, WireFrame, CONN};

fn frames_of(p: &Bytes) -> Vec<WireFrame> {
    decode_packet(p, usize::MAX).expect("a packet PROTOCOL.md accepts")
}

/// Bug 4 (fixed). `Receiver::on_datagram` computes `seq - top + 1` and
/// `seq + 1`: a DATAGRAM with seq `u64::MAX` overflows (a panic with debug
/// assertions); without them `top` wraps to 0 and a replay of a seq already
/// seen is delivered again.
#[test]
fn datagram_with_seq_u64_max_neither_panics_nor_reopens_the_window() {
    let mut rx = Receiver::new(Config::default(), CONN);
    let now = Instant::from_millis(1);
    let dgram = |seq: u64| {
        let mut b = Vec::new();
        harness::put_datagram(&mut b, seq, 7, seq % 1000, b"t");
        seal(&b)
    };
    rx.handle_input(now, dgram(5)).unwrap();
    let _ = rx.handle_input(now, dgram(u64::MAX));
    rx.handle_input(now, dgram(5)).unwrap();
    let mut delivered = Vec::new();
    while let Some(e) = rx.poll_event() {
        if let ReceiverEvent::Datagram(m) = e {
            delivered.push(m.version.0);
        }
    }
    assert_eq!(
        delivered.iter().filter(|&&v| v == 5).count(),
        1,
        "seq 5 delivered twice: {delivered:?}"
    );
}

/// Bug 5 (fixed). A history answer holding a message sent `with_receipt`:
/// the receiver commits HISTORY data on arrival and writes no RECEIPT, so
/// the sender takes the entry for committed-without-receipt, resends it on
/// every timer (never escalates it) and it is never settled.
#[test]
fn history_answer_with_a_receipt_flag_settles() {
    let cfg = Config::default();
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    let mut now = Instant::from_millis(1);
    let m1 = Message::new(
        StreamId(1),
        Version(0),
        Version(1),
        Bytes::from_static(b"a"),
    )
    .with_receipt();
    rx.fetch_history(StreamId(1), Version(5), 10);
    let mut history = false;
    for _ in 0..200 {
        while let Some(p) = rx.poll_transmit(now) {
            tx.handle_input(now, p).unwrap();
        }
        while let Some(e) = tx.poll_event() {
            if let SenderEvent::SyncRequested(r) = e {
                tx.answer_sync(now, &r, std::slice::from_ref(&m1), false)
                    .unwrap();
            }
        }
        while let Some(p) = tx.poll_transmit(now) {
            rx.handle_input(now, p).unwrap();
        }
        while let Some(e) = rx.poll_event() {
            history |= matches!(e, ReceiverEvent::History { .. });
        }
        if history && tx.pending() == 0 {
            break;
        }
        let Some(t) = [tx.poll_timeout(), rx.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        now = now.max(t);
        tx.handle_timeout(now);
        rx.handle_timeout(now);
    }
    assert!(history);
    assert_eq!(
        tx.pending(),
        0,
        "the history copy is still pending after {} retransmits",
        tx.stats().retransmits
    );
}

/// Bug 6 (fixed). An at-least-once message with a receipt is delivered; a
/// retransmission of it arrives before the app commits. Its SID is below the
/// received floor, so `on_unordered_data` takes it for a resend of a
/// committed message and raises `ReceiptWanted` for a message the app has
/// not stored (and a `provide_receipt` answer would commit its SID).
#[test]
fn resend_of_an_uncommitted_at_least_once_message_wants_no_receipt() {
    let mut rx = Receiver::new(Config::default(), CONN);
    let now = Instant::from_millis(1);
    let m = Message::new(
        StreamId(3),
        Version(0),
        Version(1),
        Bytes::from_static(b"u"),
    )
    .with_qos(Qos::AtLeastOnce)
    .with_receipt();
    let mut b = Vec::new();
    harness::put_data(&mut b, 0, &m, false);
    rx.handle_input(now, seal(&b)).unwrap();
    rx.handle_input(now, seal(&b)).unwrap();
    let mut events = Vec::new();
    while let Some(e) = rx.poll_event() {
        events.push(e);
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ReceiverEvent::ReceiptWanted { .. })),
        "{events:?}"
    );
}

/// Bug 7 (fixed). With the window full, `answer_sync` queues the page's
/// messages in the answers queue, but `write_frames` writes the page's
/// SYNC_END as soon as `tx_queue` is empty: the end marker goes out before
/// its page (PROTOCOL.md §4.6: the page's DATA frames are written before
/// the SYNC_END).
#[test]
fn sync_end_waits_for_its_page_when_the_window_is_full() {
    let cfg = Config {
        max_in_flight: 2,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg, CONN);
    let now = Instant::from_millis(1);
    for v in 1..=2 {
        tx.send(
            now,
            Message::new(StreamId(1), Version(v - 1), Version(v), Bytes::new()),
        )
        .unwrap();
    }
    let req = SyncRequest {
        stream: StreamId(5),
        range: SyncRange::After(Version(0)),
        limit: 10,
    };
    let page = [Message::new(
        StreamId(5),
        Version(0),
        Version(1),
        Bytes::new(),
    )];
    tx.answer_sync(now, &req, &page, false).unwrap();
    let mut page_written = false;
    while let Some(p) = tx.poll_transmit(now) {
        for f in frames_of(&p) {
            match f {
                WireFrame::Data { msg, .. } if msg.stream == StreamId(5) => page_written = true,
                WireFrame::SyncEnd { stream: 5, .. } => {
                    assert!(page_written, "SYNC_END written before its page")
                }
                _ => {}
            }
        }
    }
}

/// Bug 8 (fixed). `fetch_history` replaces an unanswered request; the old
/// request's answer (a HISTORY message below the new `before`) is collected
/// into the new page, which then holds `limit` messages, so the new answer's
/// message is dropped as "page full" and the page never chains from its
/// SYNC_END's `first_prev`: no `History`, retried for ever.
#[test]
fn replaced_history_request_gets_its_own_page() {
    let mut rx = Receiver::new(Config::default(), CONN);
    let now = Instant::from_millis(1);
    let s = StreamId(4);
    rx.fetch_history(s, Version(3), 1);
    rx.fetch_history(s, Version(5), 1);
    let mut b = Vec::new();
    let v1 = Message::new(s, Version(0), Version(1), Bytes::from_static(b"1"));
    let v3 = Message::new(s, Version(1), Version(3), Bytes::from_static(b"3"));
    harness::put_data(&mut b, 0, &v1, true); // answers "before 3"
    harness::put_sync_end(&mut b, s.0, 2, 3, 0, 1, 1, false);
    harness::put_data(&mut b, 1, &v3, true); // answers "before 5"
    harness::put_sync_end(&mut b, s.0, 2, 5, 1, 3, 1, true);
    rx.handle_input(now, seal(&b)).unwrap();
    let mut pages = Vec::new();
    while let Some(e) = rx.poll_event() {
        if let ReceiverEvent::History {
            before, messages, ..
        } = e
        {
            pages.push((before, messages));
        }
    }
    assert_eq!(pages, vec![(Version(5), vec![v3])]);
}

/// Bug 9 (fixed). Two resends of a committed message that wants a receipt
/// (the receiver no longer remembers it) arrive under two SIDs before the
/// app answers `ReceiptWanted`: `receipts_wanted` keeps the later SID only,
/// so `provide_receipt` commits that one, and the earlier SID stays
/// received and never committed. The sender never settles it (not
/// escalated: received; not peer dead: acks keep coming) and pings for it
/// for good. Found by `pair_ops` (a live resend and a sync answer's copy).
#[test]
fn provide_receipt_answers_every_resend_that_wanted_it() {
    let cfg = Config {
        max_receipts: 0,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    let now = Instant::from_millis(1);
    let m = Message::new(
        StreamId(3),
        Version(0),
        Version(1),
        Bytes::from_static(b"m"),
    )
    .with_receipt();
    let data = |sids: &[u64]| {
        let mut b = Vec::new();
        for &sid in sids {
            harness::put_data(&mut b, sid, &m, false);
        }
        seal(&b)
    };
    rx.handle_input(now, data(&[0])).unwrap();
    while rx.poll_event().is_some() {}
    rx.commit_with_receipt(now, StreamId(3), Version(1), Bytes::from_static(b"r"))
        .unwrap();
    let later = now + Duration::from_millis(50);
    rx.handle_timeout(later);
    while rx.poll_transmit(later).is_some() {}
    rx.handle_input(later, data(&[1, 2])).unwrap();
    let mut wanted = 0;
    while let Some(e) = rx.poll_event() {
        wanted += usize::from(matches!(e, ReceiverEvent::ReceiptWanted { .. }));
    }
    assert_eq!(wanted, 1);
    rx.provide_receipt(StreamId(3), Version(1), Bytes::from_static(b"r"))
        .unwrap();
    let mut committed_floor = 0;
    while let Some(p) = rx.poll_transmit(later) {
        for f in frames_of(&p) {
            if let WireFrame::Ack { committed, .. } = f {
                committed_floor = committed.0;
            }
        }
    }
    assert_eq!(committed_floor, 3, "SID 1 or 2 never committed");
}

/// Bug 10 (fixed). A package member waits beyond a hole (the gap timer is
/// armed); `resume` then moves the head onto the member's `prev`, so nothing
/// is missing any more, only the rest of the package. The old gap timer
/// still fires: `Gap { after: 5, waiting_after: 5 }`, which says a hole
/// after the head that is not there (and starts a needless sync).
#[test]
fn no_gap_at_the_head_after_resume_onto_a_waiting_package() {
    let mut rx = Receiver::new(Config::default(), CONN);
    let now = Instant::from_millis(1);
    let s = StreamId(3);
    let mut b = Vec::new();
    let plain = |p, v| Message::new(s, Version(p), Version(v), Bytes::new());
    harness::put_data(&mut b, 0, &plain(0, 3), false);
    harness::put_data(&mut b, 1, &plain(3, 4), false);
    let member = plain(5, 6).with_package(Package::new(0, 1, 3, Version(7)));
    harness::put_data(&mut b, 2, &member, false);
    rx.handle_input(now, seal(&b)).unwrap();
    rx.resume(s, Version(5));
    rx.handle_timeout(now + Duration::from_secs(1));
    while let Some(e) = rx.poll_event() {
        if let ReceiverEvent::Gap {
            after,
            waiting_after,
            ..
        } = e
        {
            assert!(
                waiting_after > after,
                "Gap after {after:?} waiting after {waiting_after:?}"
            );
        }
    }
}

/// Bug 11 (fixed). `PackageExpired.received` ("members that had arrived, of
/// `count`") counts the buffered chain walked from the head: with a member
/// that names a later `last` than the package's, the message after the
/// package is counted too, and `received` exceeds `count`.
#[test]
fn package_expired_counts_members_only() {
    let mut rx = Receiver::new(Config::default(), CONN);
    let mut now = Instant::from_millis(1);
    let s = StreamId(0);
    let mut b = Vec::new();
    let m = |p, v| Message::new(s, Version(p), Version(v), Bytes::new());
    harness::put_data(
        &mut b,
        0,
        &m(0, 1).with_package(Package::new(1, 0, 2, Version(3))),
        false,
    );
    harness::put_data(
        &mut b,
        1,
        &m(1, 2).with_package(Package::new(1, 1, 2, Version(2))),
        false,
    );
    harness::put_data(&mut b, 2, &m(2, 8), false);
    rx.handle_input(now, seal(&b)).unwrap();
    let mut expired = None;
    for _ in 0..20 {
        let Some(t) = rx.poll_timeout() else { break };
        now = now.max(t);
        rx.handle_timeout(now);
        while rx.poll_transmit(now).is_some() {}
        while let Some(e) = rx.poll_event() {
            if let ReceiverEvent::PackageExpired {
                received, count, ..
            } = e
            {
                expired = Some((received, count));
            }
        }
    }
    let (received, count) = expired.expect("the package expired");
    assert!(received <= count, "received {received} of {count}");
}

/// Find 18 (fixed). A peer sent one key twice, at least once (SID 0) and
/// chained behind a hole (SID 1), both wanting a receipt. The app commits
/// the first copy with its receipt, then resumes past the second, which is
/// skipped: its SID used to be settled with an empty receipt although the
/// app had given this key one. Now it gets the remembered receipt.
#[test]
fn skipped_copy_of_a_committed_key_gets_its_receipt() {
    let mut rx = Receiver::new(Config::default(), CONN);
    let now = Instant::from_millis(1);
    let s = StreamId(7);
    let m = Message::new(s, Version(15), Version(16), Bytes::from_static(b"x")).with_receipt();
    let mut b = Vec::new();
    harness::put_data(&mut b, 0, &m.clone().with_qos(Qos::AtLeastOnce), false);
    harness::put_data(&mut b, 1, &m, false);
    rx.handle_input(now, seal(&b)).unwrap();
    assert_eq!(
        rx.usage().held,
        2,
        "one copy delivered, one behind the hole"
    );
    let receipt = Bytes::from_static(b"stored as 42");
    rx.commit_with_receipt(now, s, Version(16), receipt.clone())
        .unwrap();
    rx.resume(s, Version(20));
    let mut receipts = Vec::new();
    let mut now = now;
    for _ in 0..3 {
        rx.handle_timeout(now);
        while let Some(p) = rx.poll_transmit(now) {
            for f in frames_of(&p) {
                if let WireFrame::Receipt { sid, receipt } = f {
                    receipts.push((sid, receipt));
                }
            }
        }
        now = now + Duration::from_millis(100);
    }
    receipts.sort();
    assert_eq!(
        receipts,
        vec![(0, receipt.clone()), (1, receipt)],
        "both copies settle with the app's receipt"
    );
}

/// The stream the receipt scenarios use.
const RS: StreamId = StreamId(3);

/// One packet of DATA frames `(sid, version)` on `RS`, each following the
/// version before it and wanting a receipt.
fn receipt_packet(frames: &[(u64, u64)]) -> Bytes {
    let mut b = Vec::new();
    for &(sid, v) in frames {
        let m = Message::new(RS, Version(v - 1), Version(v), Bytes::new()).with_receipt();
        harness::put_data(&mut b, sid, &m, false);
    }
    seal(&b)
}

/// Everything the receiver writes once its ack is due (50 ms on).
fn flush_acks(rx: &mut Receiver, now: &mut Instant) -> Vec<WireFrame> {
    *now = *now + Duration::from_millis(50);
    rx.handle_timeout(*now);
    let mut frames = Vec::new();
    while let Some(p) = rx.poll_transmit(*now) {
        frames.extend(frames_of(&p));
    }
    frames
}

/// Delivers versions 1..=3 on `RS` (SIDs 0..=2) and commits each with
/// receipt `r<v>`.
fn three_committed_with_receipts(rx: &mut Receiver, now: &mut Instant) {
    rx.handle_input(*now, receipt_packet(&[(0, 1), (1, 2), (2, 3)]))
        .unwrap();
    for v in 1..=3 {
        assert!(matches!(rx.poll_event(), Some(ReceiverEvent::Deliver(_))));
        rx.commit_with_receipt(*now, RS, Version(v), Bytes::from(format!("r{v}")))
            .unwrap();
    }
    flush_acks(rx, now);
}

/// Whether a range set (floor, ranges) holds `sid`.
fn holds(set: &(u64, Vec<(u64, u64)>), sid: u64) -> bool {
    sid < set.0 || set.1.iter().any(|&(s, e)| (s..e).contains(&sid))
}

/// Find 23 (fixed). Resends of committed messages wanting receipts, under
/// new SIDs, beyond the bound on repeated receipts: the receiver dropped
/// the receipt but still counted the SID as received, so the sender took
/// it for "held, waiting for the commit", never resent it, and pinged for
/// ever. A resend that can not be answered now is not received: it comes
/// again.
#[test]
fn a_resend_whose_receipt_has_no_room_comes_again() {
    let cfg = Config {
        max_in_flight: 4,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    let mut now = Instant::from_millis(1);
    three_committed_with_receipts(&mut rx, &mut now);
    // Five resends under new SIDs (a reconnected sender, say): four
    // repeated receipts fit (max_in_flight), the fifth does not.
    let resends = [(4, 1), (5, 2), (6, 3), (7, 1), (8, 2)];
    rx.handle_input(now, receipt_packet(&resends)).unwrap();
    let frames = flush_acks(&mut rx, &mut now);
    let receipts: Vec<u64> = frames
        .iter()
        .filter_map(|f| match f {
            WireFrame::Receipt { sid, .. } => Some(*sid),
            _ => None,
        })
        .collect();
    assert_eq!(receipts, [4, 5, 6, 7]);
    let received = frames
        .iter()
        .rev()
        .find_map(|f| match f {
            WireFrame::Ack { received, .. } => Some(received.clone()),
            _ => None,
        })
        .expect("an ack");
    assert!(
        !holds(&received, 8),
        "SID 8 acked as received without its receipt: {received:?}"
    );
    // Sent again, it is answered.
    rx.handle_input(now, receipt_packet(&[(8, 2)])).unwrap();
    let frames = flush_acks(&mut rx, &mut now);
    assert!(frames
        .iter()
        .any(|f| matches!(f, WireFrame::Receipt { sid: 8, receipt } if &receipt[..] == b"r2")));
}

/// History pages hold their messages until the page is whole. Two pages
/// that each filled part of the room would wait for ever for the rest:
/// each needs a slot the other holds (their requests are retried, and the
/// answers dropped again). A page that finds no room gives up what it
/// collected (committed on arrival, so nothing is lost) and its retry
/// fetches it again, letting the other finish.
#[test]
fn history_pages_do_not_wait_on_each_other_for_room() {
    let cfg = Config {
        max_held_messages: 4,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    let now = Instant::from_millis(1);
    let (a, b) = (StreamId(1), StreamId(2));
    rx.fetch_history(a, Version(10), 3);
    rx.fetch_history(b, Version(10), 3);
    let m = |s: StreamId, v: u64| Message::new(s, Version(v - 1), Version(v), Bytes::new());
    let mut sid = 0;
    let mut send = |rx: &mut Receiver, s: StreamId, v: u64| {
        let mut p = Vec::new();
        harness::put_data(&mut p, sid, &m(s, v), true);
        sid += 1;
        rx.handle_input(now, seal(&p)).unwrap();
    };
    // Page a gets two of its three, page b one; the room left is the slot
    // kept for live messages.
    send(&mut rx, a, 1);
    send(&mut rx, a, 2);
    send(&mut rx, b, 1);
    // Page b's next finds no room: b lets go of what it holds.
    send(&mut rx, b, 2);
    // Page a's last message now fits, and its end completes it.
    send(&mut rx, a, 3);
    let mut end = Vec::new();
    harness::put_sync_end(&mut end, a.0, 2, 10, 0, 3, 3, false);
    rx.handle_input(now, seal(&end)).unwrap();
    let pages: Vec<(StreamId, Vec<u64>)> = std::iter::from_fn(|| rx.poll_event())
        .filter_map(|e| match e {
            ReceiverEvent::History {
                stream, messages, ..
            } => Some((stream, messages.iter().map(|m| m.version.0).collect())),
            _ => None,
        })
        .collect();
    assert_eq!(pages, [(a, vec![1, 2, 3])]);
}

/// Find 28 (fixed). `ReceiptWanted` requests the app can not answer (a
/// resend of a message its sender gave up on, which the app never got)
/// held their slots for ever; once `max_streams` of them were outstanding,
/// every later resend wanting a receipt was refused, for ever. A request
/// whose SIDs are all settled here now gives way to a new one.
#[test]
fn unanswered_receipt_requests_do_not_block_new_ones() {
    let cfg = Config {
        max_streams: 2,
        max_receipts: 0,
        ..Config::default()
    };
    let mut rx = Receiver::new(cfg, CONN);
    let mut now = Instant::from_millis(1);
    let wanted = |rx: &mut Receiver| -> Vec<u64> {
        std::iter::from_fn(|| rx.poll_event())
            .filter_map(|e| match e {
                ReceiverEvent::ReceiptWanted { version, .. } => Some(version.0),
                _ => None,
            })
            .collect()
    };
    three_committed_with_receipts(&mut rx, &mut now);
    // Two resends below the floor; nothing remembers their receipts, so
    // the app is asked, and never answers.
    rx.handle_input(now, receipt_packet(&[(0, 1), (1, 2)]))
        .unwrap();
    assert_eq!(wanted(&mut rx), [1, 2]);
    flush_acks(&mut rx, &mut now);
    // A third, under a new SID, still gets its request.
    rx.handle_input(now, receipt_packet(&[(5, 3)])).unwrap();
    assert_eq!(wanted(&mut rx), [3]);
    rx.provide_receipt(RS, Version(3), Bytes::from_static(b"r3"))
        .unwrap();
    let frames = flush_acks(&mut rx, &mut now);
    assert!(frames
        .iter()
        .any(|f| matches!(f, WireFrame::Receipt { sid: 5, receipt } if &receipt[..] == b"r3")));
}

/// Bug 32 (issue 13's rules; fixed: receipts are only repeated for committed SIDs). A history copy of a message
/// the app committed with a receipt is settled with that remembered receipt
/// (§5.2: a skipped copy whose key has a remembered receipt is settled as
/// committed with it). If the packet carrying that RECEIPT and ACK is lost,
/// the sender retransmits the copy under the same SID; `on_history_data`
/// answers the duplicate with an *empty* receipt (`repeat_receipt(raw_sid,
/// Bytes::new())`, from the rule before issue 13), and the sender reports
/// `Acked { receipt: Some("") }` — not the receipt the app committed.
#[test]
fn history_copy_resent_gets_the_remembered_receipt() {
    let cfg = Config::default();
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    let mut now = Instant::from_millis(1);
    let m1 = Message::new(
        StreamId(1),
        Version(0),
        Version(1),
        Bytes::from_static(b"a"),
    )
    .with_receipt();
    let receipt = Bytes::from_static(b"r1");
    // Live: delivered, committed with its receipt, acked.
    tx.send(now, m1.clone()).unwrap();
    while let Some(p) = tx.poll_transmit(now) {
        rx.handle_input(now, p).unwrap();
    }
    while rx.poll_event().is_some() {}
    rx.commit_with_receipt(now, StreamId(1), Version(1), receipt.clone())
        .unwrap();
    now = now + Duration::from_millis(200);
    rx.handle_timeout(now);
    while let Some(p) = rx.poll_transmit(now) {
        tx.handle_input(now, p).unwrap();
    }
    let mut acked = Vec::new();
    while let Some(e) = tx.poll_event() {
        if let SenderEvent::Acked { receipt, .. } = e {
            acked.push(receipt);
        }
    }
    assert_eq!(acked, vec![Some(receipt.clone())], "the live copy");
    // History: the page holds m1 again (a new SID, HISTORY).
    rx.fetch_history(StreamId(1), Version(5), 10);
    while let Some(p) = rx.poll_transmit(now) {
        tx.handle_input(now, p).unwrap();
    }
    while let Some(e) = tx.poll_event() {
        if let SenderEvent::SyncRequested(r) = e {
            tx.answer_sync(now, &r, std::slice::from_ref(&m1), false)
                .unwrap();
        }
    }
    while let Some(p) = tx.poll_transmit(now) {
        rx.handle_input(now, p).unwrap();
    }
    while rx.poll_event().is_some() {}
    // The receiver's answer (RECEIPT r1 and the ACK) is lost.
    for _ in 0..3 {
        now = now + Duration::from_millis(100);
        rx.handle_timeout(now);
        while rx.poll_transmit(now).is_some() {}
    }
    // The sender's timer resends the copy; the answer now arrives.
    let mut outcome = Vec::new();
    for _ in 0..50 {
        if tx.pending() == 0 {
            break;
        }
        let Some(t) = tx.poll_timeout() else { break };
        now = now.max(t);
        tx.handle_timeout(now);
        while let Some(p) = tx.poll_transmit(now) {
            rx.handle_input(now, p).unwrap();
        }
        while rx.poll_event().is_some() {}
        now = now + Duration::from_millis(20);
        rx.handle_timeout(now);
        while let Some(p) = rx.poll_transmit(now) {
            tx.handle_input(now, p).unwrap();
        }
        while let Some(e) = tx.poll_event() {
            match e {
                SenderEvent::Acked { receipt, .. } => outcome.push(Some(receipt)),
                SenderEvent::Skipped { .. } => outcome.push(None),
                _ => {}
            }
        }
    }
    assert_eq!(
        outcome,
        vec![Some(Some(receipt))],
        "the history copy of a message committed with receipt r1"
    );
}
