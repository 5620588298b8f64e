//! The checker on hand-made histories: each planted fault — a lost, a
//! duplicated, a reordered delivery, a phantom, and their upstream
//! counterparts — is reported by kind, direction, client, stream and
//! version; a correct history gives nothing. Then the simulated apps are
//! made to misbehave on purpose, and the checker catches each mistake.

use ackwire::sim::*;
use ackwire::{StreamId, Version};
use std::time::Duration;

const ALICE: ClientId = ClientId(1);
const BOB: ClientId = ClientId(2);
const CHAT: StreamId = StreamId(7);

fn v(n: u64) -> Version {
    Version(n)
}

fn origin(client: ClientId, n: u64) -> Option<Origin> {
    Some(Origin {
        client,
        stream: outbox_stream(client),
        version: v(n),
    })
}

/// The store holds versions 10, 20, 30, 40 of CHAT: Alice sent the first
/// three (her outbox 1..=3), Bob the last (his outbox 1). Both are members.
fn store() -> Checker {
    let mut c = Checker::new();
    c.stored(CHAT, v(10), origin(ALICE, 1));
    c.stored(CHAT, v(20), origin(ALICE, 2));
    c.stored(CHAT, v(30), origin(ALICE, 3));
    c.stored(CHAT, v(40), origin(BOB, 1));
    for who in [ALICE, BOB] {
        c.member(who, CHAT);
    }
    for n in 1..=3 {
        c.acked(ALICE, outbox_stream(ALICE), v(n));
    }
    c.sent(BOB, outbox_stream(BOB), v(1));
    c
}

fn commit(c: &mut Checker, who: ClientId, versions: &[u64]) {
    for &n in versions {
        c.committed(who, CHAT, v(n));
    }
}

fn down(kind: ViolationKind, client: ClientId, version: u64) -> Violation {
    Violation {
        kind,
        direction: Direction::Down,
        client,
        stream: CHAT,
        version: v(version),
    }
}

fn up(kind: ViolationKind, client: ClientId, version: u64) -> Violation {
    Violation {
        kind,
        direction: Direction::Up,
        client,
        stream: outbox_stream(client),
        version: v(version),
    }
}

#[test]
fn a_correct_history_is_clean() {
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    commit(&mut c, BOB, &[10, 20, 30, 40]);
    assert_eq!(c.check(), vec![]);
    assert!(Tally::of(&c.check()).is_clean());
}

#[test]
fn a_lost_delivery_is_reported() {
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    commit(&mut c, BOB, &[10, 30, 40]);
    assert_eq!(c.check(), vec![down(ViolationKind::Lost, BOB, 20)]);
    // A member that has nothing at all lost everything.
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    assert_eq!(c.check().len(), 4);
}

#[test]
fn a_duplicated_delivery_is_reported() {
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 20, 30, 40]);
    commit(&mut c, BOB, &[10, 20, 30, 40]);
    assert_eq!(c.check(), vec![down(ViolationKind::Duplicated, ALICE, 20)]);
    // Even after later messages (a stream replayed from the start).
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    commit(&mut c, BOB, &[10, 20, 30, 40, 10]);
    assert_eq!(c.check(), vec![down(ViolationKind::Duplicated, BOB, 10)]);
}

#[test]
fn a_reordered_delivery_is_reported() {
    let mut c = store();
    commit(&mut c, ALICE, &[10, 30, 20, 40]);
    commit(&mut c, BOB, &[10, 20, 30, 40]);
    assert_eq!(c.check(), vec![down(ViolationKind::OutOfOrder, ALICE, 20)]);
}

#[test]
fn a_phantom_delivery_is_reported() {
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 25, 30, 40]);
    commit(&mut c, BOB, &[10, 20, 30, 40]);
    assert_eq!(c.check(), vec![down(ViolationKind::Unknown, ALICE, 25)]);
    // A non-member need not have everything, but what it has is checked.
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    commit(&mut c, BOB, &[10, 20, 30, 40]);
    c.committed(ClientId(3), CHAT, v(20));
    c.committed(ClientId(3), CHAT, v(20));
    let found = c.check();
    assert_eq!(
        found,
        vec![down(ViolationKind::Duplicated, ClientId(3), 20)]
    );
}

#[test]
fn upstream_faults_are_reported() {
    // Acked but not stored: lost. Sent (history complete) but not stored: lost.
    let mut c = Checker::new();
    c.stored(CHAT, v(10), origin(ALICE, 1));
    c.acked(ALICE, outbox_stream(ALICE), v(1));
    c.acked(ALICE, outbox_stream(ALICE), v(2));
    c.sent(BOB, outbox_stream(BOB), v(1));
    assert_eq!(
        c.check(),
        vec![
            up(ViolationKind::Lost, ALICE, 2),
            up(ViolationKind::Lost, BOB, 1)
        ]
    );
    // Stored twice.
    let mut c = Checker::new();
    c.stored(CHAT, v(10), origin(ALICE, 1));
    c.stored(CHAT, v(20), origin(ALICE, 1));
    assert_eq!(c.check(), vec![up(ViolationKind::Duplicated, ALICE, 1)]);
    // Stored in a different order than the author sent them.
    let mut c = Checker::new();
    c.stored(CHAT, v(10), origin(ALICE, 2));
    c.stored(CHAT, v(20), origin(ALICE, 1));
    c.stored(CHAT, v(30), origin(BOB, 1));
    assert_eq!(c.check(), vec![up(ViolationKind::OutOfOrder, ALICE, 1)]);
}

#[test]
fn violations_read_well() {
    let text = down(ViolationKind::Lost, BOB, 20).to_string();
    assert_eq!(
        text,
        "Lost stream 7 version 20: never committed by client 2"
    );
}

/// Runs a few small, faulty simulations whose apps make `bugs`, and
/// returns the kinds of violations found (and whether some run failed to
/// settle).
fn with_bugs(bugs: AppBugs) -> (Tally, u32) {
    let mut total = Tally::default();
    let mut unsettled = 0;
    for seed in 0..8 {
        let cfg = SimConfig {
            seed,
            clients: 3,
            conversations: 2,
            members: 3,
            messages: 40,
            duration: Duration::from_secs(4),
            client_crashes: 3,
            server_crashes: 0,
            partitions: 0,
            commit_delay: Duration::from_millis(300),
            max_downtime: Duration::from_millis(500),
            stall_timeout: Duration::from_secs(30),
            app_bugs: bugs,
            ..SimConfig::default()
        };
        match Simulation::new(cfg).unwrap().run() {
            Ok(o) => {
                let t = o.report.violations;
                total.lost += t.lost;
                total.duplicated += t.duplicated;
                total.out_of_order += t.out_of_order;
                total.unknown += t.unknown;
                unsettled += u32::from(!o.report.settled);
            }
            Err(SimError::Stalled { .. }) => unsettled += 1,
            Err(e) => panic!("{e}"),
        }
    }
    (total, unsettled)
}

#[test]
fn correct_apps_are_clean() {
    let (t, unsettled) = with_bugs(AppBugs::default());
    assert!(t.is_clean() && unsettled == 0, "{t:?} {unsettled}");
}

#[test]
fn an_app_that_skips_resume_shows_duplicates() {
    let bugs = AppBugs {
        skip_resume: true,
        ..AppBugs::default()
    };
    let (t, _) = with_bugs(bugs);
    assert!(t.duplicated > 0, "{t:?}");
}

#[test]
fn an_app_that_saves_its_cursor_before_the_message_loses_messages() {
    let bugs = AppBugs {
        cursor_before_store: true,
        ..AppBugs::default()
    };
    let (t, _) = with_bugs(bugs);
    assert!(t.lost > 0, "{t:?}");
}

#[test]
fn an_app_whose_writes_overtake_each_other_shows_reordering() {
    let bugs = AppBugs {
        unordered_writes: true,
        ..AppBugs::default()
    };
    let (t, _) = with_bugs(bugs);
    assert!(t.out_of_order > 0, "{t:?}");
}

#[test]
fn a_receipt_naming_another_message_is_reported() {
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    commit(&mut c, BOB, &[10, 20, 30, 40]);
    // Right: Alice's outbox 2 is at 20. Wrong: Bob's outbox 1 is at 40, not
    // 30 (Alice's); and nothing is at 50.
    c.receipt(ALICE, outbox_stream(ALICE), v(2), CHAT, v(20));
    c.receipt(BOB, outbox_stream(BOB), v(1), CHAT, v(30));
    c.receipt(ALICE, outbox_stream(ALICE), v(3), CHAT, v(50));
    assert_eq!(
        c.check(),
        vec![
            up(ViolationKind::WrongReceipt, ALICE, 3),
            up(ViolationKind::WrongReceipt, BOB, 1)
        ]
    );
    assert_eq!(Tally::of(&c.check()).wrong_receipts, 2);
}

// ---- The promise on every path: acks, skips, history, QoS ----

#[test]
fn an_ack_without_a_commit_is_reported() {
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    commit(&mut c, BOB, &[10, 20, 30, 40]);
    c.acked_down(BOB, CHAT, v(20)); // committed: fine
    c.acked_down(BOB, CHAT, v(50)); // never committed
    assert_eq!(
        c.check(),
        vec![down(ViolationKind::AckedNotCommitted, BOB, 50)]
    );
    // An ack for what an earlier life of a wiped database committed holds.
    let mut c = store();
    commit(&mut c, BOB, &[10]);
    c.acked_down(BOB, CHAT, v(10));
    c.wiped(BOB);
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    commit(&mut c, BOB, &[10, 20, 30, 40]);
    assert_eq!(c.check(), vec![]);
    // A history page is never committed: its ack is a violation.
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    c.started(BOB, CHAT, v(20));
    for n in [10, 20] {
        c.history(BOB, CHAT, v(n));
    }
    commit(&mut c, BOB, &[30, 40]);
    c.acked_down(BOB, CHAT, v(10));
    assert_eq!(
        c.check(),
        vec![down(ViolationKind::AckedNotCommitted, BOB, 10)]
    );
}

#[test]
fn history_counts_only_where_the_policy_passed_messages_over() {
    // Before a start, and in a package given up: fine.
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    c.started(BOB, CHAT, v(10));
    c.gave_up(BOB, CHAT, v(20), v(30));
    c.skipped(BOB, CHAT, v(30));
    for n in [10, 30] {
        c.history(BOB, CHAT, v(n));
    }
    commit(&mut c, BOB, &[20, 40]);
    assert_eq!(c.check(), vec![]);
    // Not passed over: it should have come live.
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    c.started(BOB, CHAT, v(10));
    c.history(BOB, CHAT, v(10));
    c.history(BOB, CHAT, v(30));
    commit(&mut c, BOB, &[20, 40]);
    assert_eq!(c.check(), vec![down(ViolationKind::Unexplained, BOB, 30)]);
    // Both live and from history: twice. Neither: lost.
    let mut c = store();
    commit(&mut c, ALICE, &[10, 20, 30, 40]);
    c.started(BOB, CHAT, v(20));
    c.history(BOB, CHAT, v(20));
    commit(&mut c, BOB, &[20, 30, 40]);
    assert_eq!(
        c.check(),
        vec![
            down(ViolationKind::Lost, BOB, 10),
            down(ViolationKind::Duplicated, BOB, 20)
        ]
    );
}

#[test]
fn a_skipped_upstream_message_must_be_resent_and_stored_once() {
    // Alice's outbox 4 was skipped by the server and resent as 5, stored.
    let base = || {
        let mut c = store();
        commit(&mut c, ALICE, &[10, 20, 30, 40]);
        commit(&mut c, BOB, &[10, 20, 30, 40]);
        c.sent(ALICE, outbox_stream(ALICE), v(4));
        c.sent(ALICE, outbox_stream(ALICE), v(5));
        c
    };
    let mut c = base();
    c.stored(StreamId(8), v(1), origin(ALICE, 5));
    c.skipped_up(ALICE, outbox_stream(ALICE), v(4), Some(v(5)));
    assert_eq!(c.check(), vec![]);
    // Never resent.
    let mut c = base();
    c.stored(StreamId(8), v(1), origin(ALICE, 5));
    c.skipped_up(ALICE, outbox_stream(ALICE), v(4), None);
    assert_eq!(
        c.check(),
        vec![
            up(ViolationKind::Lost, ALICE, 4),
            up(ViolationKind::Unexplained, ALICE, 4)
        ]
    );
    // Skipped, yet stored after all (a write on its way): the resend is
    // then a duplicate of it, answered with its receipt.
    let mut c = base();
    c.stored(StreamId(8), v(1), origin(ALICE, 4));
    c.skipped_up(ALICE, outbox_stream(ALICE), v(4), Some(v(5)));
    c.receipt(ALICE, outbox_stream(ALICE), v(5), StreamId(8), v(1));
    assert_eq!(c.check(), vec![]);
    // Both stored: the message is there twice.
    let mut c = base();
    c.stored(StreamId(8), v(1), origin(ALICE, 4));
    c.stored(StreamId(8), v(2), origin(ALICE, 5));
    c.skipped_up(ALICE, outbox_stream(ALICE), v(4), Some(v(5)));
    assert_eq!(c.check(), vec![up(ViolationKind::Duplicated, ALICE, 4)]);
    // Neither stored: lost.
    let mut c = base();
    c.skipped_up(ALICE, outbox_stream(ALICE), v(4), Some(v(5)));
    assert_eq!(c.check(), vec![up(ViolationKind::Lost, ALICE, 4)]);
}

#[test]
fn qos_rules_are_checked() {
    let marker = |n| Origin {
        client: ALICE,
        stream: marker_stream(ALICE),
        version: v(n),
    };
    let typing = |n| Origin {
        client: ALICE,
        stream: typing_stream(ALICE),
        version: v(n),
    };
    let mut c = Checker::new();
    // At least once: received twice is fine; never received is lost; acked
    // without being received is a false ack.
    c.at_least_once_sent(ALICE, marker_stream(ALICE), v(1));
    c.at_least_once_received(marker(1));
    c.at_least_once_received(marker(1));
    c.at_least_once_sent(ALICE, marker_stream(ALICE), v(2));
    c.at_least_once_acked(ALICE, marker_stream(ALICE), v(3));
    // At most once: lost is fine, twice or unsent is not.
    c.datagram_sent(typing(1));
    c.datagram_sent(typing(2));
    c.datagram_received(None, typing(2));
    c.datagram_received(Some(BOB), typing(2));
    c.datagram_received(Some(BOB), typing(2));
    c.datagram_received(None, typing(9));
    let found = c.check();
    let kinds: Vec<_> = found.iter().map(|x| (x.kind, x.version.0)).collect();
    assert_eq!(
        kinds,
        vec![
            (ViolationKind::Lost, 2),
            (ViolationKind::Duplicated, 2),
            (ViolationKind::Unknown, 9),
            (ViolationKind::AckedNotCommitted, 3),
        ],
        "{found:?}"
    );
    assert_eq!(found[1].client, BOB);
    assert_eq!(found[1].direction, Direction::Down);
}

/// The simulated apps with every mechanism on: clean.
#[test]
fn every_mechanism_on_is_clean() {
    for seed in 0..6 {
        let cfg = SimConfig {
            seed,
            clients: 4,
            conversations: 2,
            members: 3,
            messages: 40,
            duration: Duration::from_secs(4),
            client_crashes: 2,
            server_crashes: 0,
            partitions: 1,
            max_downtime: Duration::from_millis(800),
            package_share: 0.3,
            max_package: 5,
            reinstalls: 2,
            latest: 3,
            history_page: 2,
            contiguous_conversations: true,
            datagrams: 20,
            markers: 10,
            resend_escalated: true,
            ..SimConfig::default()
        };
        let o = Simulation::new(cfg).unwrap().run().unwrap();
        assert!(
            o.is_clean(),
            "seed {seed}: {}\n{:?}",
            o.report,
            o.violations
        );
        let r = &o.report;
        assert!(
            r.packages > 0 && r.history_pages > 0 && r.datagrams_received > 0,
            "{r}"
        );
    }
}
