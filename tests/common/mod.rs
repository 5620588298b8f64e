//! A deterministic two-endpoint driver: virtual clock, a lossy link, and an
//! app that commits deliveries after random delays in random order.
#![allow(dead_code)]

use ackwire::*;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// The connection the tests' endpoints belong to, unless a test is about
/// connection ids.
pub const CONN: ConnectionId = ConnectionId(0x6a09_e667_f3bc_c908);

/// A whole packet of connection [`CONN`] around a hand-written frame body.
pub fn seal(body: &[u8]) -> Bytes {
    seal_for(CONN, body)
}

/// A whole packet of connection `id` around a hand-written frame body
/// (PROTOCOL.md §2), sealed by the fuzz crate's codec, written
/// independently of the library.
pub fn seal_for(id: ConnectionId, body: &[u8]) -> Bytes {
    ackwire_fuzz::seal_for(id.0, body)
}

/// The simulator's seeded PRNG (splitmix64, its sequence defined in the
/// crate, not by an external crate that could change it).
pub use ackwire::sim::SimRng;

/// Chances in whole percent, as the tests' faults are given. Not
/// [`SimRng::chance`] (a probability): this draws `next_u64() % 100`, the
/// draw every seeded schedule here was written with.
pub trait Percent {
    /// True with probability `p` percent.
    fn percent(&mut self, p: u32) -> bool;
}

impl Percent for SimRng {
    fn percent(&mut self, p: u32) -> bool {
        self.next_u64() % 100 < u64::from(p)
    }
}

/// Link faults, in percent and milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    pub loss: u32,
    pub dup: u32,
    pub latency_ms: u64,
    pub jitter_ms: u64,
}

impl Faults {
    pub const NONE: Faults = Faults {
        loss: 0,
        dup: 0,
        latency_ms: 20,
        jitter_ms: 0,
    };
}

/// A config whose retry and liveness budgets outlast any schedule here, so
/// only a bug (never bad luck) can lose a message.
pub fn patient_config() -> Config {
    Config {
        max_retransmits: 60,
        peer_dead_after: Duration::from_secs(100_000),
        max_rto: Duration::from_secs(2),
        max_queued: 100_000,
        // Small packets: a few frames each, so loss hits individual messages.
        max_packet_size: 256,
        max_in_flight: 64,
        ..Config::default()
    }
}

/// Messages on `streams` streams with non-contiguous versions.
pub fn make_messages(rng: &mut SimRng, count: usize, streams: u64) -> Vec<Message> {
    let mut heads: HashMap<u64, u64> = HashMap::new();
    (0..count)
        .map(|i| {
            let s = rng.below(streams);
            let prev = *heads.get(&s).unwrap_or(&0);
            let version = prev + 1 + rng.below(5);
            heads.insert(s, version);
            Message::new(
                StreamId(s),
                Version(prev),
                Version(version),
                Bytes::from(format!("m{i}")),
            )
        })
        .collect()
}

/// What happened, for the checker.
#[derive(Default, Debug)]
pub struct Outcome {
    pub delivered: BTreeMap<u64, Vec<u64>>,
    pub committed: HashSet<(u64, u64)>,
    pub acked: Vec<(u64, u64)>,
    pub escalated: Vec<Message>,
    pub dead: Option<Vec<Unacked>>,
    pub steps: u64,
    pub end: Instant,
    pub sender_stats: Option<SenderStats>,
    pub receiver_stats: Option<ReceiverStats>,
}

/// Drives one Sender -> Receiver connection until quiet or `limit` elapses.
/// Asserts after every `handle_timeout` that the deadline moved past `now`.
pub fn run(
    seed: u64,
    cfg: Config,
    msgs: &[Message],
    fwd: Faults,
    back: Faults,
    max_commit_delay_ms: u64,
    limit: Duration,
) -> Outcome {
    let mut rng = SimRng::new(seed);
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    let mut now = Instant::from_millis(0);
    let deadline = now + limit;
    let mut out = Outcome::default();
    // (arrival, seq) -> (to_receiver, packet)
    let mut wire: BTreeMap<(Instant, u64), (bool, Bytes)> = BTreeMap::new();
    let mut commits: BTreeMap<(Instant, u64), (StreamId, Version)> = BTreeMap::new();
    let mut seq = 0u64;
    for m in msgs {
        tx.send(now, m.clone()).expect("send");
    }
    loop {
        out.steps += 1;
        assert!(out.steps < 5_000_000, "driver made no progress (livelock)");
        // Transmit everything both sides have, through the faulty link.
        for to_rx in [true, false] {
            loop {
                let p = if to_rx {
                    tx.poll_transmit(now)
                } else {
                    rx.poll_transmit(now)
                };
                let Some(p) = p else { break };
                let f = if to_rx { fwd } else { back };
                let copies = if rng.percent(f.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    if rng.percent(f.loss) {
                        continue;
                    }
                    let delay = f.latency_ms + rng.below(f.jitter_ms + 1);
                    seq += 1;
                    wire.insert(
                        (now + Duration::from_millis(delay), seq),
                        (to_rx, p.clone()),
                    );
                }
            }
        }
        while let Some(e) = rx.poll_event() {
            let ReceiverEvent::Deliver(m) = e else {
                continue;
            };
            out.delivered
                .entry(m.stream.0)
                .or_default()
                .push(m.version.0);
            seq += 1;
            let at = now + Duration::from_millis(rng.below(max_commit_delay_ms + 1));
            commits.insert((at, seq), (m.stream, m.version));
        }
        while let Some(e) = tx.poll_event() {
            match e {
                SenderEvent::Acked {
                    stream, version, ..
                } => {
                    assert!(
                        out.committed.contains(&(stream.0, version.0)),
                        "acked {stream:?}/{version:?} before the app committed it"
                    );
                    out.acked.push((stream.0, version.0));
                }
                SenderEvent::Escalated(m) => out.escalated.push(m),
                SenderEvent::PeerDead { unacked } => out.dead = Some(unacked),
                _ => {}
            }
        }
        let next = [
            wire.keys().next().map(|k| k.0),
            commits.keys().next().map(|k| k.0),
            tx.poll_timeout(),
            rx.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        if next > deadline {
            break;
        }
        now = now.max(next);
        while let Some(entry) = wire.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (to_rx, p) = entry.remove();
            let r = if to_rx {
                rx.handle_input(now, p)
            } else {
                tx.handle_input(now, p)
            };
            if !tx.is_closed() {
                r.expect("valid packet rejected");
            }
        }
        while let Some(entry) = commits.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (s, v) = entry.remove();
            out.committed.insert((s.0, v.0));
            rx.commit(now, s, v).expect("commit of a delivered message");
        }
        tx.handle_timeout(now);
        rx.handle_timeout(now);
        for t in [tx.poll_timeout(), rx.poll_timeout()].into_iter().flatten() {
            assert!(
                t > now,
                "deadline {t:?} still due after handle_timeout({now:?})"
            );
        }
    }
    out.end = now;
    out.sender_stats = Some(tx.stats());
    out.receiver_stats = Some(rx.stats());
    out
}

/// The independent check: per stream, the delivered versions are exactly
/// the sent ones, once each, in order; every message was acked.
pub fn check_exactly_once(msgs: &[Message], out: &Outcome) {
    let mut expected: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for m in msgs {
        expected.entry(m.stream.0).or_default().push(m.version.0);
    }
    assert_eq!(
        out.delivered, expected,
        "delivered != sent (loss, duplicate or reorder)"
    );
    let mut acked = out.acked.clone();
    acked.sort_unstable();
    let mut all: Vec<(u64, u64)> = msgs.iter().map(|m| (m.stream.0, m.version.0)).collect();
    all.sort_unstable();
    assert_eq!(acked, all, "every committed message is acked exactly once");
}
