//! Seeds for `packet_decode`.

use super::*;

/// Seeds for `packet_decode`: real packets from a normal run (mode byte 0)
/// and frame bodies, valid and malformed, to be sealed (mode byte 1).
pub fn packet_seeds() -> Seeds {
    let mut out = Vec::new();
    let raw = |name: &str, p: &[u8]| (format!("raw-{name}"), [&[0u8][..], p].concat());
    let body = |name: &str, b: &[u8]| (format!("body-{name}"), [&[1u8][..], b].concat());
    // A normal run: data of every kind, acks, receipts and sync requests,
    // as the endpoints write them.
    let cfg = busy_config();
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    let t0 = Instant::from_millis(1_000);
    tx.send(t0, msg(1, 0, 1, b"hello").with_receipt()).unwrap();
    tx.send(t0, msg(1, 1, 2, b"world")).unwrap();
    tx.send(t0, msg(2, 0, 300, b"")).unwrap();
    tx.send(
        t0,
        msg(4, 0, 1, b"p").with_package(Package::new(3, 0, 2, Version(2))),
    )
    .unwrap();
    tx.send(
        t0,
        msg(4, 1, 2, b"q").with_package(Package::new(3, 1, 2, Version(2))),
    )
    .unwrap();
    tx.send(t0, msg(5, 0, 1, b"u").with_qos(Qos::AtLeastOnce))
        .unwrap();
    tx.send(t0, msg(6, 0, 1, b"t").with_qos(Qos::AtMostOnce))
        .unwrap();
    let data = tx.poll_transmit(t0).unwrap();
    out.push(raw("data-packet", &data));
    rx.handle_input(t0, data).unwrap();
    while let Some(e) = rx.poll_event() {
        if let ReceiverEvent::Deliver(m) = e {
            rx.commit_with_receipt(t0, m.stream, m.version, Bytes::from_static(b"ok"))
                .unwrap();
        }
    }
    rx.resume(StreamId(3), Version(7));
    rx.resume_latest(StreamId(8), 20);
    rx.fetch_history(StreamId(1), Version(2), 10);
    let ack = rx.poll_transmit(Instant::from_millis(1_050)).unwrap();
    out.push(raw("receipt-ack-and-syncs-packet", &ack));
    tx.handle_input(t0, ack).unwrap();
    while let Some(e) = tx.poll_event() {
        if let SenderEvent::SyncRequested(req) = e {
            let page = match req.range {
                SyncRange::Before(_) => vec![msg(1, 0, 1, b"hello")],
                _ => vec![],
            };
            tx.answer_sync(t0, &req, &page, false).unwrap();
        }
    }
    let answers = tx.poll_transmit(t0).unwrap();
    out.push(raw("sync-answers-packet", &answers));
    // The history copy is skipped on arrival (§5.2): SKIPPED before the ACK.
    let t1 = Instant::from_millis(1_100);
    rx.handle_input(t1, answers).unwrap();
    while rx.poll_event().is_some() {}
    let t2 = Instant::from_millis(1_200);
    rx.handle_timeout(t2);
    let skipped = rx.poll_transmit(t2).unwrap();
    assert!(
        well_formed(&skipped, busy_config().max_packet_size)
            .iter()
            .any(|f| matches!(f, WireFrame::Skipped { .. })),
        "seed: the receiver skipped no history copy"
    );
    out.push(raw("skipped-and-ack-packet", &skipped));
    let mut a = Connection::new(busy_config(), CONN);
    let mut b = Connection::new(busy_config(), CONN);
    a.send(t0, msg(4, 0, 1, b"a")).unwrap();
    b.send(t0, msg(5, 0, 1, b"b")).unwrap();
    let p = a.poll_transmit(t0).unwrap();
    b.handle_input(t0, p).unwrap();
    out.push(raw(
        "connection-ack-with-data",
        &b.poll_transmit(t0).unwrap(),
    ));
    // PROTOCOL.md §6.
    out.push(raw(
        "protocol-data-vector",
        &[
            0x41, 0x57, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
            0x08, 0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00, 0x02, 0x68, 0x69, 0x5c, 0xc2, 0x78,
            0x77,
        ],
    ));
    out.push(raw(
        "protocol-ping-vector",
        &[
            0x41, 0x57, 0x02, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
            0x08, 0x04, 0xaf, 0xce, 0xab, 0x08,
        ],
    ));
    out.push(raw(
        "protocol-data-vector-other-connection",
        &[
            0x41, 0x57, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
            0x09, 0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00, 0x02, 0x68, 0x69, 0x9d, 0x4c, 0xa7,
            0xb7,
        ],
    ));
    out.push(raw(
        "format-1-data-vector",
        &[
            0x41, 0x57, 0x01, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00,
            0x02, 0x68, 0x69, 0x5c, 0xbb, 0xa5, 0xd7,
        ],
    ));
    out.push(raw(
        "bad-magic",
        b"XW\x02\x00\x00\x00\x01\x01\x02\x03\x04\x05\x06\x07\x08\x04\x00\x00\x00\x00",
    ));
    out.push(raw(
        "oversize-length",
        &[0x41, 0x57, 0x02, 0xff, 0xff, 0xff, 0xff],
    ));
    for (name, b) in [
        (
            "data",
            &[0x01, 0x05, 0x07, 0x00, 0xac, 0x02, 0x00, 0x02, 0x68, 0x69][..],
        ),
        (
            "data-package",
            &[
                0x01, 0x06, 0x07, 0xac, 0x02, 0xad, 0x02, 0x01, 0x09, 0x00, 0x02, 0xae, 0x02, 0x00,
            ],
        ),
        ("data-history", &[0x01, 0x08, 0x07, 0x14, 0x19, 0x02, 0x00]),
        (
            "data-receipt-unordered",
            &[0x01, 0x09, 0x07, 0x00, 0x04, 0x0c, 0x00],
        ),
        (
            "ack",
            &[
                0x02, 0xe8, 0x07, 0x0a, 0x02, 0x01, 0x01, 0x05, 0x00, 0x03, 0x00, 0xc8, 0x01,
            ],
        ),
        ("ack-for-sent", &[0x02, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00]),
        // §4.9: SIDs 0, 1 and 5; SID 0 alone, before an ACK of all sent.
        ("skipped", &[0x09, 0x02, 0x00, 0x01, 0x02, 0x00]),
        (
            "skipped-sid-0-and-ack",
            &[
                0x09, 0x01, 0x00, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x05,
            ],
        ),
        ("ack-without-room", &[0x02, 0x00, 0x02, 0x00, 0x01, 0x00]),
        ("floor-ping", &[0x03, 0x09, 0x04, 0x04]),
        ("sync-after", &[0x05, 0x07, 0x00, 0xac, 0x02, 0x32]),
        ("sync-latest", &[0x05, 0x07, 0x01, 0x00, 0x14]),
        ("sync-before", &[0x05, 0x07, 0x02, 0xac, 0x02, 0x14]),
        (
            "sync-end",
            &[
                0x06, 0x07, 0x00, 0xac, 0x02, 0xac, 0x02, 0xb6, 0x02, 0x04, 0x01,
            ],
        ),
        (
            "sync-end-latest-for-stream-8",
            &[0x06, 0x08, 0x01, 0x00, 0x03, 0x05, 0x02, 0x00],
        ),
        (
            "sync-end-before-for-stream-1",
            &[0x06, 0x01, 0x02, 0x09, 0x00, 0x00, 0x00, 0x00],
        ),
        ("receipt", &[0x07, 0x05, 0x02, 0x01, 0x2c]),
        ("datagram", &[0x08, 0x03, 0x07, 0x09, 0x01, 0x74]),
        (
            "datagram-replay",
            &[
                0x08, 0x03, 0x07, 0x09, 0x01, 0x74, 0x08, 0x03, 0x07, 0x09, 0x01, 0x74,
            ],
        ),
        // PROTOCOL.md §6, rejected inputs.
        ("unknown-frame", &[0x0a]),
        ("skipped-truncated", &[0x09]),
        ("skipped-count-257", &[0x09, 0x81, 0x02]),
        (
            "skipped-overflow",
            &[
                0x09, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00,
            ],
        ),
        (
            "skipped-second-range-overflow",
            &[
                0x09, 0x02, 0x00, 0x00, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                0x00,
            ],
        ),
        (
            "version-not-above-prev",
            &[0x01, 0x05, 0x07, 0x05, 0x05, 0x00, 0x00],
        ),
        ("unknown-flags", &[0x01, 0x05, 0x07, 0x00, 0x01, 0x80, 0x00]),
        (
            "package-index-past-count",
            &[
                0x01, 0x06, 0x07, 0xac, 0x02, 0xad, 0x02, 0x01, 0x09, 0x02, 0x02, 0xae, 0x02, 0x00,
            ],
        ),
        (
            "package-first-at-last",
            &[
                0x01, 0x06, 0x07, 0xac, 0x02, 0xad, 0x02, 0x01, 0x09, 0x00, 0x02, 0xad, 0x02, 0x00,
            ],
        ),
        ("sync-latest-with-anchor", &[0x05, 0x07, 0x01, 0x05, 0x14]),
        ("sync-mode-3", &[0x05, 0x07, 0x03, 0x00, 0x14]),
        (
            "sync-end-more-2",
            &[
                0x06, 0x07, 0x00, 0xac, 0x02, 0xac, 0x02, 0xb6, 0x02, 0x04, 0x02,
            ],
        ),
        (
            "sync-end-count-past-span",
            &[
                0x06, 0x07, 0x00, 0xac, 0x02, 0xac, 0x02, 0xb6, 0x02, 0x0b, 0x01,
            ],
        ),
        (
            "sync-end-empty-spanning",
            &[
                0x06, 0x07, 0x00, 0xac, 0x02, 0xac, 0x02, 0xb6, 0x02, 0x00, 0x01,
            ],
        ),
        ("receipt-truncated", &[0x07, 0x05, 0x03, 0x01, 0x2c]),
        (
            "payload-truncated",
            &[0x01, 0x05, 0x07, 0x00, 0x01, 0x00, 0x05, 0x68, 0x69],
        ),
        ("floor-settled-above-resend", &[0x03, 0x01, 0x02]),
        ("count-513", &[0x02, 0x00, 0x00, 0x81, 0x04]),
        (
            "range-overflow",
            &[
                0x02, 0x00, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01, 0x00,
                0x00, 0x00, 0x00,
            ],
        ),
        ("non-canonical", &[0x03, 0x80, 0x00, 0x00]),
    ] {
        out.push(body(name, b));
    }
    // Bug 1 (fixed), minimized: SID u64::MAX after a FLOOR near it.
    let mut b = vec![1u8];
    b.push(kind::FLOOR);
    put_varint(&mut b, u64::MAX - 1);
    put_varint(&mut b, 0);
    put_data(&mut b, u64::MAX, &msg(0, 0, 1, b""), false);
    out.push(("bug-1-sid-max-overflow".into(), b));
    // Bug 4 (fixed), minimized.
    let mut b = vec![1u8];
    put_datagram(&mut b, u64::MAX, 7, 9, b"");
    out.push(("bug-4-datagram-seq-max".into(), b));
    out
}
