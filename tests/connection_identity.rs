//! Every packet carries its connection's id (PROTOCOL.md §2): a packet of
//! an earlier connection, delayed arbitrarily on a datagram transport and
//! arriving at the new connection's endpoints (same addresses, SIDs from 0
//! again), is rejected with `InputError::OtherConnection` and changes
//! nothing.

use ackwire::sim::SimRng;
use ackwire::*;
use bytes::Bytes;
use proptest::prelude::*;
use std::collections::BTreeMap;

const OLD: ConnectionId = ConnectionId(0x0123_4567_89ab_cdef);
const NEW: ConnectionId = ConnectionId(0xfedc_ba98_7654_3210);
const S: StreamId = StreamId(7);

fn cfg() -> Config {
    Config {
        ack_every: 1,
        ..Config::default()
    }
}

fn msg(prev: u64, version: u64, payload: &'static str) -> Message {
    Message::new(S, Version(prev), Version(version), Bytes::from(payload))
}

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

/// Everything a sender shows without being driven.
fn tx_view(tx: &Sender) -> (SenderStats, SenderUsage, usize, Option<Instant>) {
    (tx.stats(), tx.usage(), tx.pending(), tx.poll_timeout())
}

/// Everything a receiver shows without being driven.
fn rx_view(
    rx: &Receiver,
) -> (
    ReceiverStats,
    ReceiverUsage,
    usize,
    Option<Version>,
    Option<Instant>,
) {
    (
        rx.stats(),
        rx.usage(),
        rx.usage().held,
        rx.head(S),
        rx.poll_timeout(),
    )
}

/// Connection 1's receiver acked a message it committed; the ack is held up
/// on the link. Connection 2 (same config, new sender: SIDs from 0 again)
/// sends a different message that its peer has not committed. The late ack
/// names SID 0 committed: taken as current, it would report connection 2's
/// message `Acked`, for a message nobody stored.
#[test]
fn a_stale_ack_does_not_ack_the_new_connections_message() {
    let t0 = ms(0);
    let mut tx1 = Sender::new(cfg(), OLD);
    let mut rx1 = Receiver::new(cfg(), OLD);
    tx1.send(t0, msg(0, 1, "old")).unwrap();
    while let Some(p) = tx1.poll_transmit(t0) {
        rx1.handle_input(t0, p).unwrap();
    }
    assert!(matches!(rx1.poll_event(), Some(ReceiverEvent::Deliver(_))));
    rx1.commit(t0, S, Version(1)).unwrap();
    let stale_ack = rx1.poll_transmit(t0).expect("an ack of SID 0, committed");

    let t1 = ms(50);
    let mut tx2 = Sender::new(cfg(), NEW);
    let mut rx2 = Receiver::new(cfg(), NEW);
    rx2.resume(S, Version(1));
    tx2.send(t1, msg(1, 2, "new")).unwrap();
    let data = tx2.poll_transmit(t1).expect("SID 0 of connection 2");
    let before = tx_view(&tx2);

    let t2 = ms(60);
    assert_eq!(
        tx2.handle_input(t2, stale_ack.clone()),
        Err(InputError::OtherConnection(OLD))
    );
    assert_eq!(
        tx2.poll_event(),
        None,
        "no Acked for an uncommitted message"
    );
    assert_eq!(tx_view(&tx2), before);
    // A Connection routes nothing of it either.
    let mut c2 = Connection::new(cfg(), NEW);
    c2.send(t1, msg(1, 2, "new")).unwrap();
    while c2.poll_transmit(t1).is_some() {}
    let timeout = c2.poll_timeout();
    assert_eq!(
        c2.handle_input(t2, stale_ack),
        Err(InputError::OtherConnection(OLD))
    );
    assert_eq!(c2.poll_event(), None);
    assert_eq!(c2.poll_timeout(), timeout);
    assert_eq!(c2.sender().usage(), tx2.usage());

    // Connection 2's own ack comes only after its own commit.
    rx2.handle_input(t2, data).unwrap();
    assert!(matches!(rx2.poll_event(), Some(ReceiverEvent::Deliver(m)) if m.payload == "new"));
    rx2.commit(t2, S, Version(2)).unwrap();
    let ack = rx2.poll_transmit(t2).unwrap();
    tx2.handle_input(t2, ack).unwrap();
    assert!(matches!(
        tx2.poll_event(),
        Some(SenderEvent::Acked {
            version: Version(2),
            ..
        })
    ));
}

/// Connection 1 delivered version 1 (SID 0) and its copy is still on the
/// link. Connection 2's receiver resumes the stream at version 1 from the
/// app's store; connection 2's sender sends version 2 as SID 0. The late
/// copy of SID 0, taken as current, would be a duplicate by version — SID 0
/// received and committed — and connection 2's own SID 0 a duplicate by
/// SID: never delivered, yet acked. It must be rejected instead.
#[test]
fn a_stale_data_does_not_make_the_new_sid_a_duplicate() {
    let t0 = ms(0);
    let mut tx1 = Sender::new(cfg(), OLD);
    tx1.send(t0, msg(0, 1, "old")).unwrap();
    let stale_data = tx1.poll_transmit(t0).expect("SID 0 of connection 1");

    let t1 = ms(50);
    let mut tx2 = Sender::new(cfg(), NEW);
    let new_receiver = || {
        let mut rx = Receiver::new(cfg(), NEW);
        rx.resume(S, Version(1));
        rx
    };
    let mut rx2 = new_receiver();
    let mut twin = new_receiver();
    tx2.send(t1, msg(1, 2, "new")).unwrap();
    let data = tx2.poll_transmit(t1).expect("SID 0 of connection 2");

    let before = rx_view(&rx2);
    assert_eq!(
        rx2.handle_input(t1, stale_data.clone()),
        Err(InputError::OtherConnection(OLD))
    );
    assert_eq!(rx2.poll_event(), None);
    assert_eq!(rx_view(&rx2), before);
    // It writes what a receiver that never saw it writes (resume's sync
    // request, no ack).
    assert_eq!(rx2.poll_transmit(t1), twin.poll_transmit(t1));
    assert_eq!(rx2.poll_transmit(t1), None);

    rx2.handle_input(t1, data.clone()).unwrap();
    assert!(
        matches!(rx2.poll_event(), Some(ReceiverEvent::Deliver(m)) if m.version == Version(2) && m.payload == "new"),
        "connection 2's SID 0 is delivered, not taken for a duplicate"
    );
    assert_eq!(rx2.poll_event(), None);
    // The stale copy again, after the real one: still rejected.
    assert_eq!(
        rx2.handle_input(t1, stale_data),
        Err(InputError::OtherConnection(OLD))
    );

    // The same through a Connection.
    let mut c2 = Connection::new(cfg(), NEW);
    c2.resume(S, Version(1));
    let mut tx1 = Connection::new(cfg(), OLD);
    tx1.send(t0, msg(0, 1, "old")).unwrap();
    let stale = tx1.poll_transmit(t0).unwrap();
    assert_eq!(
        c2.handle_input(t1, stale),
        Err(InputError::OtherConnection(OLD))
    );
    c2.handle_input(t1, data).unwrap();
    assert!(matches!(
        c2.poll_event(),
        Some(Event::Receiver(ReceiverEvent::Deliver(m))) if m.version == Version(2)
    ));
}

/// The endpoints' ids, and a Connection's halves sharing its own.
#[test]
fn endpoints_report_their_connection_id() {
    assert_eq!(Sender::new(cfg(), OLD).id(), OLD);
    assert_eq!(Receiver::new(cfg(), NEW).id(), NEW);
    let c = Connection::new(cfg(), NEW);
    assert_eq!(c.id(), NEW);
    assert_eq!(c.sender().id(), NEW);
    assert_eq!(c.receiver().id(), NEW);
}

/// Two ends of one connection, each sending `n` messages on its own stream
/// (end 0 on stream 1, end 1 on stream 2, versions 1..=n, payloads tagged
/// with `tag`), over a link that loses `loss` percent. Every packet written
/// goes to `log`; the app commits every delivery at once.
struct Run {
    ends: [Connection; 2],
    delivered: [BTreeMap<u64, Vec<(u64, Bytes)>>; 2],
    acked: [Vec<u64>; 2],
    now: Instant,
}

fn payload(tag: &str, end: usize, v: u64) -> Bytes {
    Bytes::from(format!("{tag}:{end}:{v}"))
}

/// Retries and liveness that outlast any loss here: only a bug, never bad
/// luck, ends a message other than delivered and acked; and holes are
/// left to retransmission (no gap report, so no sync for an app without a
/// store to answer). Small packets and a small window, so there are many
/// packets to go stale.
fn patient() -> Config {
    Config {
        max_packet_size: 128,
        max_in_flight: 8,
        max_retransmits: 60,
        gap_wait: std::time::Duration::from_secs(100_000),
        peer_dead_after: std::time::Duration::from_secs(100_000),
        max_rto: std::time::Duration::from_secs(2),
        ..cfg()
    }
}

impl Run {
    fn new(id: ConnectionId, tag: &str, n: u64) -> Run {
        let mut ends = [
            Connection::new(patient(), id),
            Connection::new(patient(), id),
        ];
        for (e, c) in ends.iter_mut().enumerate() {
            for v in 1..=n {
                let m = Message::new(
                    StreamId(e as u64 + 1),
                    Version(v - 1),
                    Version(v),
                    payload(tag, e, v),
                );
                c.send(Instant::ZERO, m).unwrap();
            }
        }
        Run {
            ends,
            delivered: Default::default(),
            acked: Default::default(),
            now: Instant::ZERO,
        }
    }

    /// One round: both ends transmit (each packet logged, then lost or
    /// handed over), apps drain events and commit; then `inject` runs, and
    /// time moves to the next deadline. `false` once nothing is left to do.
    fn round(
        &mut self,
        rng: &mut SimRng,
        loss: u64,
        log: &mut Vec<Bytes>,
        mut inject: impl FnMut(&mut [Connection; 2], Instant),
    ) -> bool {
        let now = self.now;
        let mut moved = false;
        for from in 0..2 {
            while let Some(p) = self.ends[from].poll_transmit(now) {
                moved = true;
                log.push(p.clone());
                if rng.below(100) >= loss {
                    self.ends[1 - from].handle_input(now, p).unwrap();
                }
            }
        }
        for e in 0..2 {
            while let Some(ev) = self.ends[e].poll_event() {
                match ev {
                    Event::Receiver(ReceiverEvent::Deliver(m)) => {
                        self.delivered[e]
                            .entry(m.stream.0)
                            .or_default()
                            .push((m.version.0, m.payload.clone()));
                        self.ends[e].commit(now, m.stream, m.version).unwrap();
                    }
                    Event::Sender(SenderEvent::Acked { version, .. }) => {
                        self.acked[e].push(version.0)
                    }
                    other => panic!("unexpected event {other:?}"),
                }
            }
        }
        inject(&mut self.ends, now);
        if moved {
            return true;
        }
        let next = [self.ends[0].poll_timeout(), self.ends[1].poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) => {
                self.now = self.now.max(t);
                for c in &mut self.ends {
                    c.handle_timeout(self.now);
                }
                true
            }
            None => false,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Connection 1 runs for a while over a lossy link and is abandoned
    /// mid-flight; connection 2 (a fresh random id) carries new traffic.
    /// Every packet connection 1 ever wrote reaches connection 2's ends,
    /// at random moments and in random order, some more than once, some
    /// after connection 2 is done: each is rejected as `OtherConnection`,
    /// and connection 2 delivers everything exactly once, in order, with
    /// its own payloads, and every message is acked once.
    #[test]
    fn stale_packets_of_an_earlier_connection_never_reach_the_new_one(
        old_id in any::<u64>(),
        new_id in any::<u64>(),
        n_old in 1u64..40,
        old_rounds in 1usize..30,
        n_new in 1u64..40,
        loss in 0u64..30,
        seed in any::<u64>(),
    ) {
        prop_assume!(old_id != new_id);
        let (old, new) = (ConnectionId(old_id), ConnectionId(new_id));
        let mut rng = SimRng::new(seed);
        let mut stale = Vec::new();
        let mut first = Run::new(old, "old", n_old);
        for _ in 0..old_rounds {
            if !first.round(&mut rng, loss, &mut stale, |_, _| {}) {
                break;
            }
        }
        prop_assume!(!stale.is_empty());

        let mut second = Run::new(new, "new", n_new);
        let mut rng2 = SimRng::new(seed ^ 0x5555);
        let mut rounds = 0;
        let mut unused = Vec::new();
        loop {
            rounds += 1;
            prop_assert!(rounds < 100_000, "connection 2 did not finish");
            let mut inject = |ends: &mut [Connection; 2], now: Instant| {
                for _ in 0..rng2.below(3) {
                    let p = stale[rng2.below(stale.len() as u64) as usize].clone();
                    let to = rng2.below(2) as usize;
                    assert_eq!(
                        ends[to].handle_input(now, p),
                        Err(InputError::OtherConnection(old))
                    );
                }
            };
            if !second.round(&mut rng, loss, &mut unused, &mut inject) {
                break;
            }
        }
        // Arbitrarily late: after connection 2 went quiet, every one of them.
        let timeouts = [second.ends[0].poll_timeout(), second.ends[1].poll_timeout()];
        for p in &stale {
            for end in &mut second.ends {
                prop_assert_eq!(
                    end.handle_input(second.now, p.clone()),
                    Err(InputError::OtherConnection(old))
                );
                prop_assert!(end.poll_event().is_none());
                prop_assert!(end.poll_transmit(second.now).is_none());
            }
        }
        prop_assert_eq!(
            [second.ends[0].poll_timeout(), second.ends[1].poll_timeout()],
            timeouts
        );
        for e in 0..2 {
            // End `e` received the other end's stream.
            let from = 1 - e;
            let expected: Vec<(u64, Bytes)> =
                (1..=n_new).map(|v| (v, payload("new", from, v))).collect();
            let mut got = second.delivered[e].clone();
            prop_assert_eq!(got.remove(&(from as u64 + 1)), Some(expected));
            prop_assert!(got.is_empty(), "deliveries on other streams: {:?}", got);
            let mut acked = second.acked[e].clone();
            acked.sort_unstable();
            prop_assert_eq!(acked, (1..=n_new).collect::<Vec<_>>());
        }
    }
}
