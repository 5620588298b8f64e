//! Seeds for `sender_hostile`.

use super::*;

/// Seeds for `sender_hostile` (three messages are in flight before these run).
pub fn sender_seeds() -> Seeds {
    use TxOp::*;
    let enc = |ops: &[TxOp]| ops_bytes(ops, TxOp::encode);
    let z = (Num::Small(0), Num::Small(0));
    let list = |floor, n, count| Ranges {
        floor,
        n,
        pairs: [z; 4],
        count,
    };
    let send = |stream, kind| Send {
        stream,
        len: 1,
        kind,
    };
    vec![
        (
            "ack-all".into(),
            enc(&[Ack {
                delay: Num::Small(5),
                received: list(Sid::Below(0), 0, None),
                committed: list(Sid::Below(0), 0, None),
                room: Num::Top(0),
            }]),
        ),
        (
            "received-then-committed".into(),
            enc(&[
                Send {
                    stream: 2,
                    len: 4,
                    kind: 0,
                },
                Transmit,
                Ack {
                    delay: Num::Small(0),
                    received: list(Sid::Below(0), 0, None),
                    committed: list(Sid::Any(Num::Small(0)), 0, None),
                    room: Num::Top(0),
                },
                Advance { ms: 1500 },
                Ack {
                    delay: Num::Small(0),
                    received: list(Sid::Below(0), 0, None),
                    committed: list(Sid::Below(1), 0, None),
                    room: Num::Top(0),
                },
            ]),
        ),
        (
            "ack-unsent".into(),
            enc(&[Ack {
                delay: Num::Top(0),
                received: list(Sid::Above(1), 0, None),
                committed: list(Sid::Any(Num::Top(0)), 0, None),
                room: Num::Top(0),
            }]),
        ),
        (
            "ranges-overflow".into(),
            enc(&[Ack {
                delay: Num::Small(0),
                received: Ranges {
                    floor: Sid::Any(Num::Top(2)),
                    n: 2,
                    pairs: [(Num::Small(0), Num::Top(0)); 4],
                    count: None,
                },
                committed: list(Sid::Below(0), 0, None),
                room: Num::Top(0),
            }]),
        ),
        (
            "count-off".into(),
            enc(&[Ack {
                delay: Num::Small(0),
                received: list(Sid::Below(0), 1, Some(300)),
                committed: list(Sid::Below(0), 0, Some(1)),
                room: Num::Top(0),
            }]),
        ),
        (
            "sync-burst-and-answers".into(),
            enc(&[
                Sync {
                    stream: Num::Small(0),
                    mode: 0,
                    anchor: Num::Small(0),
                    limit: Num::Small(5),
                    n: 15,
                },
                Sync {
                    stream: Num::Small(1),
                    mode: 2,
                    anchor: Num::Small(9),
                    limit: Num::Small(5),
                    n: 0,
                },
                Sync {
                    stream: Num::Top(0),
                    mode: 6,
                    anchor: Num::Top(0),
                    limit: Num::Top(0),
                    n: 3,
                },
                AnswerSync {
                    pick: 0,
                    start: 0,
                    count: 5,
                    more: true,
                    bad: 1,
                },
                AnswerSync {
                    pick: 0,
                    start: 0,
                    count: 5,
                    more: false,
                    bad: 1,
                },
                AnswerSync {
                    pick: 0,
                    start: 0,
                    count: 2,
                    more: false,
                    bad: 0,
                },
                Transmit,
            ]),
        ),
        (
            "receipts".into(),
            enc(&[
                Receipt {
                    sid: Sid::Below(2),
                    len: 2,
                    n: 2,
                },
                Receipt {
                    sid: Sid::Below(1),
                    len: 200,
                    n: 0,
                },
                Receipt {
                    sid: Sid::Above(0),
                    len: 1,
                    n: 0,
                },
                Receipt {
                    sid: Sid::Any(Num::Top(0)),
                    len: 1,
                    n: 3,
                },
                Ack {
                    delay: Num::Small(0),
                    received: list(Sid::Below(0), 0, None),
                    committed: list(Sid::Below(0), 0, None),
                    room: Num::Top(0),
                },
                Timeout,
                Transmit,
                Receipt {
                    sid: Sid::Below(2),
                    len: 3,
                    n: 0,
                },
                Ack {
                    delay: Num::Small(0),
                    received: list(Sid::Below(0), 0, None),
                    committed: list(Sid::Below(0), 0, None),
                    room: Num::Top(0),
                },
            ]),
        ),
        (
            "qos-and-packages".into(),
            enc(&[
                send(0, 3),
                send(1, 4),
                send(2, 5),
                send(2, 5),
                Package { stream: 1, n: 2 },
                Transmit,
                Close,
                Transmit,
            ]),
        ),
        (
            // Bug 7 (fixed), minimized: the window is full, the page waits,
            // its SYNC_END does not.
            "bug-7-sync-end-before-page".into(),
            enc(&[
                Send {
                    stream: 1,
                    len: 51,
                    kind: 51,
                },
                Package { stream: 51, n: 51 },
                AnswerSync {
                    pick: 0,
                    start: 0,
                    count: 5,
                    more: false,
                    bad: 1,
                },
                Transmit,
            ]),
        ),
        (
            "escalate-then-dead".into(),
            enc(&[
                Timeout,
                Transmit,
                Timeout,
                Transmit,
                Timeout,
                Transmit,
                Timeout,
                Transmit,
                Timeout,
                Timeout,
                send(1, 0),
            ]),
        ),
        (
            "window-full-close".into(),
            enc(&[
                send(0, 0),
                send(0, 0),
                send(0, 0),
                send(0, 0),
                send(0, 0),
                Transmit,
                Close,
                Transmit,
            ]),
        ),
        (
            // Bug 12 (fixed), the fuzzer's reproducer as its operations,
            // written again when the ACK gained its room (issue 13): room
            // u64::MAX, so nothing waits for flow control, as before.
            "bug-12-stall-due-after-timeout".into(),
            enc(&[
                Ack {
                    delay: Num::Small(4),
                    received: Ranges {
                        floor: Sid::Below(0),
                        n: 0,
                        pairs: [z, z, (Num::Small(0), Num::Small(49)), z],
                        count: None,
                    },
                    committed: list(Sid::Any(Num::Small(0)), 0, None),
                    room: Num::Top(0),
                },
                Package {
                    stream: 139,
                    n: 162,
                },
                Send {
                    stream: 0,
                    len: 255,
                    kind: 253,
                },
                Transmit,
                Advance { ms: 2816 },
                Send {
                    stream: 0,
                    len: 0,
                    kind: 171,
                },
                send(0, 0),
                Transmit,
                Timeout,
                Transmit,
                Timeout,
                Transmit,
                Sync {
                    stream: Num::Small(76),
                    mode: 51,
                    anchor: Num::Small(4),
                    limit: Num::Small(51),
                    n: 205,
                },
                Timeout,
                send(0, 0),
            ]),
        ),
        (
            // Flow control (§5.3): room 0 after the first message, more
            // sends, then a SYNC after 0 on stream 0 expedites past it.
            "room-zero-then-sync".into(),
            enc(&[
                send(0, 0),
                Transmit,
                Ack {
                    delay: Num::Small(0),
                    received: list(Sid::Below(1), 0, None),
                    committed: list(Sid::Any(Num::Small(0)), 0, None),
                    room: Num::Small(0),
                },
                send(0, 0),
                send(0, 0),
                send(1, 0),
                Transmit,
                Sync {
                    stream: Num::Small(0),
                    mode: 0,
                    anchor: Num::Small(0),
                    limit: Num::Small(5),
                    n: 0,
                },
                Transmit,
                Advance { ms: 1500 },
                Transmit,
            ]),
        ),
        (
            // SKIPPED (§4.9): SIDs 0 and 1 skipped, with the ACK after it;
            // then one past what was sent; then an inconsistent count.
            "skipped".into(),
            enc(&[
                Skipped {
                    list: Skips {
                        n: 1,
                        first: (Sid::Any(Num::Small(0)), Num::Small(1)),
                        pairs: [z; 3],
                        count: None,
                    },
                    ack: true,
                },
                Transmit,
                Skipped {
                    list: Skips {
                        n: 2,
                        first: (Sid::Any(Num::Small(0)), Num::Small(0)),
                        pairs: [(Num::Small(1), Num::Small(0)); 3],
                        count: None,
                    },
                    ack: false,
                },
                Skipped {
                    list: Skips {
                        n: 1,
                        first: (Sid::Below(0), Num::Small(0)),
                        pairs: [z; 3],
                        count: None,
                    },
                    ack: false,
                },
                Skipped {
                    list: Skips {
                        n: 0,
                        first: (Sid::Below(0), Num::Small(0)),
                        pairs: [z; 3],
                        count: Some(257),
                    },
                    ack: false,
                },
                Skipped {
                    list: Skips {
                        n: 2,
                        first: (Sid::Any(Num::Top(0)), Num::Small(0)),
                        pairs: [z; 3],
                        count: None,
                    },
                    ack: true,
                },
                Close,
                Skipped {
                    list: Skips {
                        n: 1,
                        first: (Sid::Below(1), Num::Small(0)),
                        pairs: [z; 3],
                        count: None,
                    },
                    ack: false,
                },
            ]),
        ),
    ]
}
