//! Seeds for `receiver_hostile`.

use super::*;

/// Seeds for `receiver_hostile`.
pub fn receiver_seeds() -> Seeds {
    use RxOp::*;
    let enc = |ops: &[RxOp]| ops_bytes(ops, RxOp::encode);
    let next = |stream, skip| Next {
        stream,
        skip,
        len: 3,
        receipt: false,
    };
    let data = |sid, prev, gap| Data {
        sid: Num::Small(sid),
        stream: 0,
        prev: Num::Small(prev),
        gap: Num::Small(gap),
        len: 0,
        flags: 0,
        pkg: [0; 3],
    };
    vec![
        (
            "in-order-commit".into(),
            enc(&[
                next(0, 0),
                next(0, 1),
                next(1, 0),
                Flush,
                CommitAll,
                Advance { ms: 20 },
            ]),
        ),
        (
            // Version 2 of stream 0 never comes: a gap, a sync, the answer.
            "gap-sync".into(),
            enc(&[
                next(0, 0),
                Data {
                    sid: Num::Small(9),
                    stream: 0,
                    prev: Num::Small(2),
                    gap: Num::Small(0),
                    len: 1,
                    flags: 0,
                    pkg: [0; 3],
                },
                Flush,
                Advance { ms: 400 },
                Timeout,
                Answer {
                    stream: 0,
                    limit: 7,
                    more: false,
                },
                Flush,
                Replay { pick: 0 },
                Timeout,
            ]),
        ),
        (
            "absurd-values".into(),
            enc(&[
                Data {
                    sid: Num::Top(0),
                    stream: 7,
                    prev: Num::Top(1),
                    gap: Num::Small(0),
                    len: 0,
                    flags: 0x0f,
                    pkg: [1, 2, 3],
                },
                Data {
                    sid: Num::Any(1 << 40),
                    stream: 6,
                    prev: Num::Small(0),
                    gap: Num::Top(0),
                    len: 15,
                    flags: 0x05,
                    pkg: [0, 0, 0],
                },
                SyncEnd {
                    stream: 7,
                    mode: 0,
                    anchor: Num::Top(0),
                    first_prev: Num::Top(0),
                    span: Num::Top(0),
                    count: 7,
                    more: false,
                },
                Datagram {
                    seq: Seq::Any(Num::Top(1)),
                    stream: 7,
                    version: 255,
                },
                Ping,
                Flush,
                CommitAll,
            ]),
        ),
        (
            "packages".into(),
            enc(&[
                // Complete; incomplete (member 1 of 3 missing); conflicting.
                Package {
                    stream: 1,
                    n: 2,
                    drop: 0,
                    conflict: 0xff,
                },
                Package {
                    stream: 2,
                    n: 2,
                    drop: 2,
                    conflict: 0xff,
                },
                Package {
                    stream: 3,
                    n: 3,
                    drop: 0,
                    conflict: 1,
                },
                Flush,
                CommitAll,
                Advance { ms: 600 },
                Answer {
                    stream: 2,
                    limit: 7,
                    more: false,
                },
                Flush,
                Timeout,
                Timeout,
                Timeout,
                Timeout,
                Timeout,
            ]),
        ),
        (
            "latest-and-history".into(),
            enc(&[
                next(4, 0),
                next(4, 1),
                next(4, 0),
                ResumeLatest { stream: 5, n: 2 },
                FetchHistory {
                    stream: 4,
                    before: Num::Small(4),
                    limit: 5,
                },
                Timeout,
                Flush,
                Answer {
                    stream: 4,
                    limit: 7,
                    more: false,
                },
                next(5, 0),
                next(5, 0),
                next(5, 0),
                Answer {
                    stream: 5,
                    limit: 1,
                    more: false,
                },
                Flush,
                CommitAll,
            ]),
        ),
        (
            "receipts".into(),
            enc(&[
                Next {
                    stream: 1,
                    skip: 0,
                    len: 1,
                    receipt: true,
                },
                Unordered {
                    stream: 2,
                    version: 4,
                    receipt: true,
                },
                Flush,
                Commit {
                    pick: 0,
                    receipt: true,
                },
                Commit {
                    pick: 0,
                    receipt: false,
                },
                Advance { ms: 20 },
                Replay { pick: 0 },
                Replay { pick: 1 },
                Flush,
                Resume {
                    stream: 3,
                    version: Num::Small(5),
                },
                Data {
                    sid: Num::Small(40),
                    stream: 3,
                    prev: Num::Small(1),
                    gap: Num::Small(0),
                    len: 0,
                    flags: flag::RECEIPT,
                    pkg: [0; 3],
                },
                Flush,
                ProvideReceipt { pick: 0 },
                Advance { ms: 20 },
            ]),
        ),
        (
            "datagrams".into(),
            enc(&[
                Datagram {
                    seq: Seq::Next,
                    stream: 1,
                    version: 1,
                },
                Datagram {
                    seq: Seq::Ahead(200),
                    stream: 1,
                    version: 2,
                },
                DatagramReplay { pick: 0 },
                DatagramReplay { pick: 1 },
                Datagram {
                    seq: Seq::Back(5),
                    stream: 1,
                    version: 3,
                },
                Flush,
                DatagramReplay { pick: 4 },
                Datagram {
                    seq: Seq::Back(129),
                    stream: 1,
                    version: 4,
                },
                Flush,
            ]),
        ),
        (
            "contiguous".into(),
            enc(&[
                SetContiguous {
                    stream: 1,
                    on: true,
                },
                next(1, 0),
                next(1, 1),
                next(1, 0),
                Flush,
                Timeout,
            ]),
        ),
        (
            // Bug 1 (fixed), minimized.
            "bug-1-sid-max-overflow".into(),
            enc(&[
                Floor {
                    resend: Num::Top(1),
                    settled: Num::Small(0),
                },
                Data {
                    sid: Num::Top(0),
                    stream: 0,
                    prev: Num::Small(0),
                    gap: Num::Small(0),
                    len: 0,
                    flags: 0,
                    pkg: [0; 3],
                },
            ]),
        ),
        (
            // Bug 3 (fixed), minimized: 1 -> 2 waits for 1, then 0 -> 2
            // arrives and is delivered; the first is stale for good.
            "bug-3-stale-buffered".into(),
            enc(&[data(0, 1, 0), data(1, 0, 1), Flush, Advance { ms: 400 }]),
        ),
        (
            // Bug 4 (fixed), minimized.
            "bug-4-datagram-seq-max".into(),
            enc(&[Datagram {
                seq: Seq::Any(Num::Top(0)),
                stream: 0,
                version: 0,
            }]),
        ),
        (
            // Bug 6 (fixed), minimized: a resend of an uncommitted at-least-once
            // message with a receipt raises ReceiptWanted.
            "bug-6-unordered-receipt-before-commit".into(),
            enc(&[
                Unordered {
                    stream: 3,
                    version: 0,
                    receipt: true,
                },
                Replay { pick: 0 },
            ]),
        ),
        (
            // Bug 10 (fixed), minimized: resume onto the prev of a waiting
            // member of an incomplete package; the old gap timer fires.
            "bug-10-gap-at-head-after-resume".into(),
            enc(&[
                next(3, 2),
                next(3, 0),
                Package {
                    stream: 3,
                    n: 2,
                    drop: 5,
                    conflict: 0xff,
                },
                Flush,
                Resume {
                    stream: 3,
                    version: Num::Small(5),
                },
                Timeout,
            ]),
        ),
        (
            // Bug 11 (fixed), minimized: member 0 names a later last; the walk
            // counts the message after the package too.
            "bug-11-package-received-above-count".into(),
            enc(&[
                Data {
                    sid: Num::Small(0),
                    stream: 0,
                    prev: Num::Small(2),
                    gap: Num::Small(5),
                    len: 0,
                    flags: 0,
                    pkg: [0; 3],
                },
                Package {
                    stream: 0,
                    n: 1,
                    drop: 0,
                    conflict: 8,
                },
                Flush,
                Timeout,
                Timeout,
                Timeout,
            ]),
        ),
        (
            "many-streams".into(),
            enc(&[
                next(0, 0),
                next(1, 0),
                next(2, 0),
                next(3, 0),
                next(4, 0),
                next(5, 0),
                next(6, 0),
                next(7, 0),
                Flush,
            ]),
        ),
        (
            "reorder-full".into(),
            enc(&[
                data(1, 1, 0),
                data(2, 2, 0),
                data(3, 3, 0),
                data(4, 4, 0),
                data(5, 5, 0),
                Flush,
                data(0, 0, 0),
                Flush,
                Commit {
                    pick: 0,
                    receipt: false,
                },
            ]),
        ),
        (
            "resume".into(),
            enc(&[
                next(2, 0),
                next(2, 0),
                Flush,
                Resume {
                    stream: 2,
                    version: Num::Small(1),
                },
                next(2, 0),
                Flush,
                Timeout,
            ]),
        ),
    ]
}
