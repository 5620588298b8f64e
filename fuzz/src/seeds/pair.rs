//! Seeds for `pair_ops`.

use super::*;

/// Seeds for `pair_ops`.
pub fn pair_seeds() -> Seeds {
    use PairOp::*;
    let enc = |ops: &[PairOp]| ops_bytes(ops, PairOp::encode);
    let send = |stream| Send {
        stream,
        skip: 0,
        kind: 0,
    };
    let data = Transmit { acks: false };
    let acks = Transmit { acks: true };
    let commit = Commit {
        pick: 0,
        receipt: true,
    };
    let lose = Drop {
        acks: false,
        pick: 0,
    };
    vec![
        (
            "clean".into(),
            enc(&[
                send(0),
                send(0),
                send(1),
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                commit,
                commit,
                commit,
                Advance { ms: 20 },
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
            ]),
        ),
        (
            "loss-and-rto".into(),
            enc(&[
                send(0),
                send(1),
                data,
                lose,
                Timeout,
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                commit,
                Timeout,
                acks,
                Drop {
                    acks: true,
                    pick: 0,
                },
            ]),
        ),
        (
            "reorder-dup".into(),
            enc(&[
                send(0),
                data,
                send(0),
                data,
                send(0),
                data,
                Deliver {
                    acks: false,
                    pick: 2,
                },
                Duplicate {
                    acks: false,
                    pick: 0,
                },
                Deliver {
                    acks: false,
                    pick: 1,
                },
                Deliver {
                    acks: false,
                    pick: 0,
                },
                acks,
                Duplicate {
                    acks: true,
                    pick: 0,
                },
                Commit {
                    pick: 1,
                    receipt: false,
                },
                commit,
                Timeout,
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
            ]),
        ),
        (
            // One message escalates; the next one of its stream makes a gap,
            // and the sync brings the escalated one.
            "escalate-one-then-sync".into(),
            enc(&[
                send(0),
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
                send(0),
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                Advance { ms: 400 },
                Timeout,
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
            ]),
        ),
        (
            // Receipts: the ack with the receipt is lost, the resend gets it
            // from the receiver's memory (2 receipts) or from the app.
            "receipts".into(),
            enc(&[
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 1,
                },
                Send {
                    stream: 1,
                    skip: 0,
                    kind: 7,
                },
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 5,
                },
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                commit,
                Commit {
                    pick: 0,
                    receipt: false,
                },
                commit,
                Advance { ms: 20 },
                acks,
                Drop {
                    acks: true,
                    pick: 0,
                },
                Timeout,
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
            ]),
        ),
        (
            "qos".into(),
            enc(&[
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 4,
                },
                Send {
                    stream: 1,
                    skip: 0,
                    kind: 4,
                },
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 6,
                },
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 6,
                },
                data,
                Duplicate {
                    acks: false,
                    pick: 0,
                },
                Deliver {
                    acks: false,
                    pick: 0,
                },
                commit,
                Timeout,
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
            ]),
        ),
        (
            "packages".into(),
            enc(&[
                Package { stream: 2, n: 2 },
                Package { stream: 3, n: 1 },
                data,
                Drop {
                    acks: false,
                    pick: 0,
                },
                Timeout,
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                Advance { ms: 600 },
                Timeout,
                Timeout,
                Timeout,
            ]),
        ),
        (
            "history".into(),
            enc(&[
                send(1),
                Send {
                    stream: 1,
                    skip: 0,
                    kind: 1,
                },
                send(1),
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                FetchHistory {
                    stream: 1,
                    back: 0,
                    limit: 1,
                },
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
            ]),
        ),
        (
            // Bug 2 (fixed), minimized: two messages time out together; the
            // first escalated and the second was lost from the list.
            "bug-2-double-unlink".into(),
            enc(&[
                send(0),
                send(0),
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
                data,
                lose,
                Timeout,
            ]),
        ),
        (
            // Bug 5 (fixed), minimized: a history page holding a message sent
            // with a receipt never settles.
            "bug-5-history-receipt".into(),
            enc(&[
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 1,
                },
                send(0),
                FetchHistory {
                    stream: 0,
                    back: 0,
                    limit: 0,
                },
            ]),
        ),
        (
            // Bug 6 (fixed) (found by pair_ops): the at-least-once message's
            // retransmission reaches the receiver before the app commits.
            "bug-6-unordered-receipt-before-commit".into(),
            enc(&[
                Send {
                    stream: 0,
                    skip: 0,
                    kind: 5,
                },
                data,
                Advance { ms: 19660 },
            ]),
        ),
        (
            // Bug 8 (fixed): the answer to the replaced request (before 3)
            // fills the page of the new one (before 5).
            "bug-8-stale-history-page".into(),
            enc(&[
                send(0),
                Send {
                    stream: 0,
                    skip: 1,
                    kind: 0,
                },
                FetchHistory {
                    stream: 0,
                    back: 0,
                    limit: 0,
                },
                acks,
                Send {
                    stream: 0,
                    skip: 1,
                    kind: 0,
                },
                FetchHistory {
                    stream: 0,
                    back: 0,
                    limit: 0,
                },
            ]),
        ),
        (
            "window-full".into(),
            enc(&[
                send(0),
                send(1),
                send(2),
                send(3),
                send(0),
                send(1),
                send(2),
                send(3),
                send(0),
                send(1),
                data,
                Deliver {
                    acks: false,
                    pick: 0,
                },
                acks,
                Deliver {
                    acks: true,
                    pick: 0,
                },
                data,
            ]),
        ),
    ]
}
