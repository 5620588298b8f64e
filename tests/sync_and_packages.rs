//! Continuity features beyond the live chain: latest-N for an empty client,
//! history paging, contiguous streams, and packages.

mod common;

use ackwire::*;
use bytes::Bytes;
use common::{Percent, SimRng, CONN};
use std::collections::BTreeMap;
use std::time::Duration;

const S: StreamId = StreamId(7);

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

/// The server's stored stream: versions ascending, each following the one
/// before; `packages` tags some runs of versions as packages.
#[derive(Default, Clone)]
struct Store {
    versions: Vec<u64>,
    packages: BTreeMap<u64, Package>,
    /// Retention: versions up to this one are no longer kept (0: none).
    trimmed: u64,
}

impl Store {
    fn with_versions(versions: impl IntoIterator<Item = u64>) -> Store {
        Store {
            versions: versions.into_iter().collect(),
            ..Store::default()
        }
    }

    fn message(&self, i: usize) -> Message {
        let prev = if i == 0 { 0 } else { self.versions[i - 1] };
        let v = self.versions[i];
        let m = Message::new(S, Version(prev), Version(v), Bytes::from(format!("v{v}")));
        match self.packages.get(&v) {
            Some(&p) => m.with_package(p),
            None => m,
        }
    }

    fn append(&mut self, version: u64) -> Message {
        self.versions.push(version);
        self.message(self.versions.len() - 1)
    }

    /// One page for `req`, as a server app reads it from its store.
    fn answer(&self, req: &SyncRequest) -> (Vec<Message>, bool) {
        let limit = req.limit as usize;
        let n = self.versions.len();
        let kept = self.versions.partition_point(|&v| v <= self.trimmed);
        let (start, end, more) = match req.range {
            SyncRange::After(a) => {
                let s = self
                    .versions
                    .partition_point(|&v| v <= a.0.max(self.trimmed));
                let e = (s + limit).min(n);
                (s, e, e < n)
            }
            SyncRange::Latest => {
                let s = n.saturating_sub(limit).max(kept);
                (s, n, s > kept)
            }
            SyncRange::Before(b) => {
                let e = self.versions.partition_point(|&v| v < b.0).max(kept);
                let s = e.saturating_sub(limit).max(kept);
                (s, e, s > kept)
            }
        };
        ((start..end).map(|i| self.message(i)).collect(), more)
    }
}

/// A server (Sender + store) and a client (Receiver + app that commits
/// at once) over a link with loss and jitter, on a virtual clock.
struct Pair {
    tx: Sender,
    rx: Receiver,
    store: Store,
    /// Whether the server answers sync requests at all.
    serving: bool,
    rng: SimRng,
    loss: u32,
    now: Instant,
    wire: BTreeMap<(Instant, u64), (bool, Bytes)>,
    seq: u64,
    /// Live versions delivered to the app, in order.
    delivered: Vec<u64>,
    /// Every other receiver event, in order.
    events: Vec<ReceiverEvent>,
    requests: Vec<SyncRequest>,
    acked: Vec<u64>,
    /// Versions the receiver settled without its app storing them.
    skipped: Vec<u64>,
    escalated: Vec<u64>,
}

impl Pair {
    fn new(cfg: Config, store: Store, seed: u64, loss: u32) -> Pair {
        Pair {
            tx: Sender::new(cfg.clone(), CONN),
            rx: Receiver::new(cfg, CONN),
            store,
            serving: true,
            rng: SimRng::new(seed),
            loss,
            now: Instant::ZERO,
            wire: BTreeMap::new(),
            seq: 0,
            delivered: Vec::new(),
            events: Vec::new(),
            requests: Vec::new(),
            acked: Vec::new(),
            skipped: Vec::new(),
            escalated: Vec::new(),
        }
    }

    fn step(&mut self) {
        let now = self.now;
        while let Some(e) = self.tx.poll_event() {
            match e {
                SenderEvent::SyncRequested(req) => {
                    self.requests.push(req);
                    if self.serving {
                        let (page, more) = self.store.answer(&req);
                        match self.tx.answer_sync_trimmed(
                            now,
                            &req,
                            Version(self.store.trimmed),
                            &page,
                            more,
                        ) {
                            // Asked again after `sync_retry`.
                            Ok(()) | Err(SendError::Backpressure) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                SenderEvent::Acked { version, .. } => self.acked.push(version.0),
                SenderEvent::Skipped { version, .. } => self.skipped.push(version.0),
                // In the store: the receiver fetches it by sync.
                SenderEvent::Escalated(m) => self.escalated.push(m.version.0),
                other => panic!("unexpected {other:?}"),
            }
        }
        for to_rx in [true, false] {
            loop {
                let p = if to_rx {
                    self.tx.poll_transmit(now)
                } else {
                    self.rx.poll_transmit(now)
                };
                let Some(p) = p else { break };
                if self.rng.percent(self.loss) {
                    continue;
                }
                self.seq += 1;
                let at = now + Duration::from_millis(5 + self.rng.below(20));
                self.wire.insert((at, self.seq), (to_rx, p));
            }
        }
        let next = [
            self.wire.keys().next().map(|k| k.0),
            self.tx.poll_timeout(),
            self.rx.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        self.now = next.unwrap_or(now + Duration::from_millis(10)).max(now);
        let now = self.now;
        while self.wire.first_key_value().is_some_and(|(k, _)| k.0 <= now) {
            let (_, (to_rx, p)) = self.wire.pop_first().unwrap();
            if to_rx {
                self.rx.handle_input(now, p).unwrap();
            } else {
                self.tx.handle_input(now, p).unwrap();
            }
        }
        self.tx.handle_timeout(now);
        self.rx.handle_timeout(now);
        while let Some(e) = self.rx.poll_event() {
            match e {
                ReceiverEvent::Deliver(m) => {
                    self.delivered.push(m.version.0);
                    self.rx.commit(now, m.stream, m.version).unwrap();
                }
                other => self.events.push(other),
            }
        }
    }

    fn run_until(&mut self, what: &str, mut done: impl FnMut(&Pair) -> bool) {
        for _ in 0..200_000 {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!("never reached: {what}");
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    fn history_pages(&mut self) -> Vec<(Version, Vec<u64>, bool)> {
        let mut out = Vec::new();
        self.events.retain(|e| match e {
            ReceiverEvent::History {
                before,
                messages,
                more,
                ..
            } => {
                out.push((
                    *before,
                    messages.iter().map(|m| m.version.0).collect(),
                    *more,
                ));
                false
            }
            _ => true,
        });
        out
    }
}

fn lossy_config() -> Config {
    Config {
        gap_wait: Duration::from_millis(50),
        sync_retry: Duration::from_millis(300),
        ..common::patient_config()
    }
}

#[test]
fn latest_n_then_paging_back_covers_history_without_overlap_or_holes() {
    for seed in 0..20 {
        // 57 stored messages with non-contiguous versions.
        let store = Store::with_versions((1..=57).map(|i| i * 5 + i % 4));
        let mut p = Pair::new(lossy_config(), store.clone(), seed, 20);
        p.rx.resume_latest(S, 10);
        // A live message stored and pushed before the latest page arrives.
        let live = p.store.append(500);
        p.tx.send(Instant::ZERO, live).unwrap();
        p.run_until("latest page", |p| p.delivered.len() == 10);
        // The page was read after the live message was stored: it is the
        // newest of the 10, and its live copy is a duplicate.
        let mut newest: Vec<u64> = store.versions[48..].to_vec();
        newest.push(500);
        assert_eq!(p.delivered, newest, "seed {seed}: the latest 10");
        assert!(
            p.events
                .iter()
                .all(|e| !matches!(e, ReceiverEvent::Gap { .. })),
            "seed {seed}: waiting for the starting point is not a gap"
        );

        // Page back through history while live messages keep coming.
        let mut history: Vec<u64> = Vec::new();
        let mut before = Version(p.delivered[0]);
        let mut live_version = 500;
        loop {
            p.rx.fetch_history(S, before, 8);
            live_version += 2;
            let m = p.store.append(live_version);
            p.tx.send(p.now, m).unwrap();
            let pages = loop {
                p.step();
                let pages = p.history_pages();
                if !pages.is_empty() {
                    break pages;
                }
            };
            assert_eq!(pages.len(), 1, "seed {seed}: one page per request");
            let (b, page, more) = pages.into_iter().next().unwrap();
            assert_eq!(b, before);
            assert!(page.len() <= 8);
            assert!(page.iter().all(|&v| v < before.0));
            let mut next = page.clone();
            next.extend(history);
            history = next;
            if !more {
                break;
            }
            before = Version(page[0]);
        }
        assert_eq!(history, store.versions[..48], "seed {seed}: history");
        p.run_until("live messages", |p| {
            p.delivered.last() == Some(&live_version)
        });
        let mut expected = newest.clone();
        expected.extend((502..=live_version).step_by(2));
        assert_eq!(
            p.delivered, expected,
            "seed {seed}: live delivery untouched"
        );
        assert_eq!(p.rx.head(S), Some(Version(live_version)));
        // History pages are shown, never committed: their sender hears
        // "skipped", never "acked".
        p.run_until("history settled", |p| p.tx.pending() == 0);
        p.step(); // the sender's last events
        for v in &store.versions[..48] {
            assert!(!p.acked.contains(v), "seed {seed}: history {v} acked");
        }
        assert!(p.acked.iter().all(|v| p.delivered.contains(v)));
        assert!(p.skipped.iter().all(|v| !p.delivered.contains(v)));
    }
}

#[test]
fn latest_on_a_stream_with_a_position_resumes_without_skipping() {
    let store = Store::with_versions(1..=30);
    let mut p = Pair::new(lossy_config(), store, 1, 0);
    p.rx.resume(S, Version(5));
    // Drain the resume sync first.
    p.run_until("caught up", |p| p.delivered.len() == 25);
    p.rx.resume_latest(S, 3);
    p.run_for(Duration::from_secs(2));
    assert_eq!(p.delivered, (6..=30).collect::<Vec<_>>());
    assert!(p
        .requests
        .iter()
        .all(|r| matches!(r.range, SyncRange::After(_))));
}

#[test]
fn latest_on_an_empty_server_stream_starts_from_the_beginning() {
    let mut p = Pair::new(lossy_config(), Store::default(), 3, 0);
    p.rx.resume_latest(S, 10);
    p.run_for(Duration::from_secs(1));
    assert_eq!(p.requests.len(), 1, "answered once: nothing stored");
    let m = p.store.append(4);
    p.tx.send(p.now, m).unwrap();
    p.run_until("first message", |p| p.delivered == [4]);
}

#[test]
fn late_message_within_the_wait_sends_no_sync() {
    let cfg = Config {
        gap_wait: Duration::from_millis(300),
        ..Config::default()
    };
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    tx.send(ms(0), Message::new(S, Version(0), Version(3), Bytes::new()))
        .unwrap();
    let late = tx.poll_transmit(ms(0)).unwrap();
    tx.send(ms(0), Message::new(S, Version(3), Version(7), Bytes::new()))
        .unwrap();
    rx.handle_input(ms(1), tx.poll_transmit(ms(0)).unwrap())
        .unwrap();
    rx.handle_timeout(ms(290));
    rx.handle_input(ms(299), late).unwrap();
    rx.handle_timeout(ms(1000));
    let mut delivered = Vec::new();
    while let Some(e) = rx.poll_event() {
        match e {
            ReceiverEvent::Deliver(m) => delivered.push(m.version.0),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(delivered, [3, 7]);
    while let Some(p) = rx.poll_transmit(ms(1000)) {
        tx.handle_input(ms(1000), p).unwrap();
    }
    assert_eq!(rx.stats().sync_requests, 0);
    assert_eq!(rx.stats().gaps, 0);
    assert_eq!(tx.poll_event(), None, "no sync request reached the server");
}

fn packet_per_message(tx: &mut Sender, msgs: &[Message]) -> Vec<Bytes> {
    msgs.iter()
        .map(|m| {
            tx.send(ms(0), m.clone()).unwrap();
            tx.poll_transmit(ms(0)).unwrap()
        })
        .collect()
}

fn take_events(rx: &mut Receiver) -> Vec<ReceiverEvent> {
    std::iter::from_fn(|| rx.poll_event()).collect()
}

fn versions(events: &[ReceiverEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| match e {
            ReceiverEvent::Deliver(m) => m.version.0,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn contiguous_stream_finds_a_hole_by_arithmetic_at_once() {
    let mut tx = Sender::new(Config::default(), CONN);
    let mut rx = Receiver::new(Config::default(), CONN);
    rx.set_contiguous(S, true);
    let msgs: Vec<Message> = (1..=4)
        .map(|v| Message::new(S, Version(v - 1), Version(v), Bytes::new()))
        .collect();
    let packets = packet_per_message(&mut tx, &msgs);
    for i in [0, 1, 3] {
        rx.handle_input(ms(1), packets[i].clone()).unwrap();
    }
    // No time passes: the hole is certain, so it is reported and fetched now.
    let events = take_events(&mut rx);
    assert_eq!(versions(&events[..2]), [1, 2]);
    assert_eq!(
        events[2],
        ReceiverEvent::Gap {
            stream: S,
            after: Version(2),
            waiting_after: Version(3)
        }
    );
    let out = rx.poll_transmit(ms(1)).expect("sync request");
    tx.handle_input(ms(1), out).unwrap();
    assert!(std::iter::from_fn(|| tx.poll_event()).any(|e| e
        == SenderEvent::SyncRequested(SyncRequest {
            stream: S,
            range: SyncRange::After(Version(2)),
            limit: 100,
        })));

    // The same arrival order on a chain stream waits for the late message.
    let mut tx = Sender::new(Config::default(), CONN);
    let mut rx = Receiver::new(Config::default(), CONN);
    let packets = packet_per_message(&mut tx, &msgs);
    for i in [0, 1, 3] {
        rx.handle_input(ms(1), packets[i].clone()).unwrap();
    }
    assert_eq!(versions(&take_events(&mut rx)), [1, 2]);
    assert_eq!(rx.stats().gaps, 0);
}

#[test]
fn contiguous_stream_rejects_a_skipped_version() {
    let mut tx = Sender::new(Config::default(), CONN);
    let mut rx = Receiver::new(Config::default(), CONN);
    rx.set_contiguous(S, true);
    let good = Message::new(S, Version(0), Version(1), Bytes::new());
    let skips = Message::new(S, Version(1), Version(3), Bytes::new());
    let packets = packet_per_message(&mut tx, &[good, skips]);
    for p in packets {
        rx.handle_input(ms(1), p).unwrap();
    }
    assert_eq!(versions(&take_events(&mut rx)), [1]);
    assert_eq!(rx.stats().chain_conflicts, 1);
    assert_eq!(rx.usage().held, 1, "the bad message is not held");
}

/// Acks a receiver writes for `n` in-order messages, one per millisecond,
/// each committed at once; also checks the sender saw every ack and never
/// resent anything.
fn acks_for(contiguous: bool, n: u64) -> u64 {
    let mut tx = Sender::new(Config::default(), CONN);
    let mut rx = Receiver::new(Config::default(), CONN);
    rx.set_contiguous(S, contiguous);
    let mut now = ms(0);
    for v in 1..=n {
        tx.send(
            now,
            Message::new(S, Version(v - 1), Version(v), Bytes::new()),
        )
        .unwrap();
        for _ in 0..2 {
            while let Some(p) = tx.poll_transmit(now) {
                rx.handle_input(now, p).unwrap();
            }
            while let Some(ReceiverEvent::Deliver(m)) = rx.poll_event() {
                rx.commit(now, m.stream, m.version).unwrap();
            }
            rx.handle_timeout(now);
            while let Some(p) = rx.poll_transmit(now) {
                tx.handle_input(now, p).unwrap();
            }
            tx.handle_timeout(now);
        }
        now = now + Duration::from_millis(1);
    }
    let end = now + Duration::from_secs(1);
    rx.handle_timeout(end);
    while let Some(p) = rx.poll_transmit(end) {
        tx.handle_input(end, p).unwrap();
    }
    let acked = std::iter::from_fn(|| tx.poll_event())
        .filter(|e| matches!(e, SenderEvent::Acked { .. }))
        .count();
    assert_eq!(acked as u64, n);
    assert_eq!(tx.stats().retransmits, 0);
    rx.stats().acks_sent
}

#[test]
fn contiguous_stream_acks_sparsely() {
    let dense = acks_for(false, 1000);
    let sparse = acks_for(true, 1000);
    // Dense: every ack_delay (10 ms) at one message per ms. Sparse: every
    // 64 messages or commits.
    assert!(dense >= 90, "dense {dense}");
    assert!(sparse <= 1000 * 2 / 64 + 2, "sparse {sparse}");
}

fn package(v: &[(u64, u64)], id: u64) -> Vec<Message> {
    let last = v.last().unwrap().1;
    v.iter()
        .enumerate()
        .map(|(i, &(p, ver))| {
            Message::new(S, Version(p), Version(ver), Bytes::new()).with_package(Package::new(
                id,
                i as u32,
                v.len() as u32,
                Version(last),
            ))
        })
        .collect()
}

#[test]
fn package_members_out_of_order_are_released_together_in_order() {
    let mut tx = Sender::new(Config::default(), CONN);
    let mut rx = Receiver::new(Config::default(), CONN);
    let mut msgs = vec![Message::new(S, Version(0), Version(10), Bytes::new())];
    msgs.extend(package(&[(10, 11), (11, 12), (12, 13)], 77));
    msgs.push(Message::new(S, Version(13), Version(14), Bytes::new()));
    let packets = packet_per_message(&mut tx, &msgs);
    for i in [0, 3, 1, 4] {
        rx.handle_input(ms(1), packets[i].clone()).unwrap();
    }
    assert_eq!(versions(&take_events(&mut rx)), [10], "package incomplete");
    // A duplicate member changes nothing.
    rx.handle_input(ms(2), packets[3].clone()).unwrap();
    assert_eq!(take_events(&mut rx), []);
    rx.handle_input(ms(3), packets[2].clone()).unwrap();
    assert_eq!(versions(&take_events(&mut rx)), [11, 12, 13, 14]);
    rx.handle_input(ms(4), packets[1].clone()).unwrap();
    assert_eq!(take_events(&mut rx), [], "duplicates never reach the app");
    assert_eq!(rx.stats().delivered, 5);
    assert_eq!(rx.stats().gaps, 0, "the package timer, not a gap, waits");
}

fn package_store() -> Store {
    let mut store = Store::with_versions([10, 11, 12, 13, 14]);
    for m in package(&[(10, 11), (11, 12), (12, 13)], 77) {
        store.packages.insert(m.version.0, m.package.unwrap());
    }
    store
}

fn package_config() -> Config {
    Config {
        package_timeout: Duration::from_secs(1),
        package_retries: 2,
        sync_retry: Duration::from_secs(10),
        ..Config::default()
    }
}

#[test]
fn incomplete_package_is_fetched_again() {
    let store = package_store();
    let mut p = Pair::new(package_config(), store.clone(), 5, 0);
    // Member 12 is lost on the way (and its sender gave up on it).
    for i in [0, 1, 3, 4] {
        p.tx.send(ms(0), store.message(i)).unwrap();
    }
    p.run_until("delivered", |p| p.delivered.len() == 5);
    assert_eq!(p.delivered, [10, 11, 12, 13, 14]);
    assert_eq!(
        p.requests.len(),
        1,
        "one re-fetch after the package timeout"
    );
    assert!(p.now >= ms(1000), "{:?}", p.now);
    assert!(p.events.is_empty(), "{:?}", p.events);
}

#[test]
fn incomplete_package_is_given_up_after_its_retries() {
    let store = package_store();
    let mut p = Pair::new(package_config(), store.clone(), 5, 0);
    p.serving = false; // the store cannot produce member 12 any more
    for i in [0, 1, 3, 4] {
        p.tx.send(ms(0), store.message(i)).unwrap();
    }
    p.run_until("expired", |p| !p.events.is_empty());
    assert_eq!(
        p.events,
        [ReceiverEvent::PackageExpired {
            stream: S,
            id: 77,
            after: Version(10),
            last: Version(13),
            received: 2,
            count: 3,
        }]
    );
    assert!(
        p.now >= ms(3000),
        "timeout, two retries, timeout: {:?}",
        p.now
    );
    // Each re-fetch asks after what is held without a hole (member 11).
    let retries = p
        .requests
        .iter()
        .filter(|r| r.range == SyncRange::After(Version(11)))
        .count();
    assert_eq!(retries, 2, "{:?}", p.requests);
    p.run_until("the stream moves on", |p| p.delivered == [10, 14]);
    // The sender is not left waiting for the abandoned members, and hears
    // that they were skipped, not stored.
    p.run_until("all settled", |p| p.tx.pending() == 0);
    p.step(); // the sender's last events
    assert_eq!(p.rx.usage().held, 0);
    p.skipped.sort_unstable();
    assert_eq!(p.skipped, [11, 13]);
    assert_eq!(p.acked, [10, 14]);
}

#[test]
fn hostile_package_can_not_grow_the_receiver_past_its_bounds() {
    let cfg = Config {
        max_reorder_per_stream: 16,
        max_held_messages: 64,
        max_in_flight: 4096,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    // A package that claims 1,000 members, all but the first sent.
    let versions: Vec<(u64, u64)> = (1..=1000).map(|v| (v - 1, v)).collect();
    let members = package(&versions, 1);
    for m in &members[1..] {
        tx.send(ms(0), m.clone()).unwrap();
    }
    while let Some(p) = tx.poll_transmit(ms(0)) {
        rx.handle_input(ms(1), p).unwrap();
    }
    assert!(rx.usage().held <= 16, "held {}", rx.usage().held);
    assert!(rx.stats().dropped_full >= 999 - 16);
    assert_eq!(rx.usage().streams, 1);
}

// ---- The promise on every path (items found by tests outside the project) ----

/// A store of `1..=n` where `members` form one package.
fn store_with_package(n: u64, members: std::ops::RangeInclusive<u64>) -> Store {
    let mut store = Store::with_versions(1..=n);
    let count = (members.end() - members.start() + 1) as u32;
    let last = Version(*members.end());
    for (i, v) in members.enumerate() {
        store
            .packages
            .insert(v, Package::new(42, i as u32, count, last));
    }
    store
}

fn expired(p: &Pair) -> bool {
    p.events
        .iter()
        .any(|e| matches!(e, ReceiverEvent::PackageExpired { .. }))
}

/// A package larger than a sync page: the receiver asked for the next page
/// only once its head reached the page's end, which a package at the head
/// never lets it reach, so the package expired although the store held all
/// of it. A page is done once all of it is held, delivered or not.
#[test]
fn a_package_larger_than_a_page_is_fetched_whole() {
    let store = store_with_package(122, 2..=121);
    let mut p = Pair::new(Config::default(), store, 1, 0);
    p.rx.resume(S, Version(1));
    p.run_until("everything", |p| p.delivered.len() == 121 || expired(p));
    assert!(!expired(&p), "{:?}", p.events);
    assert_eq!(p.delivered, (2..=122).collect::<Vec<_>>());
    assert!(p.now < ms(1000), "no waiting for a retry: {:?}", p.now);
}

/// A package straddling two pages: the second page is asked for as soon
/// as the first is held, not after `sync_retry`.
#[test]
fn a_package_straddling_pages_waits_for_no_retry() {
    let store = store_with_package(12, 3..=6);
    let cfg = Config {
        sync_page: 5,
        ..Config::default()
    };
    let mut p = Pair::new(cfg, store, 1, 0);
    p.rx.resume(S, Version(0));
    p.run_until("everything", |p| p.delivered.len() == 12);
    assert_eq!(p.delivered, (1..=12).collect::<Vec<_>>());
    assert!(p.now < ms(500), "{:?}", p.now);
    let afters: Vec<_> = p.requests.iter().map(|r| r.range).collect();
    assert_eq!(
        afters,
        [0, 5, 10].map(|v| SyncRange::After(Version(v))),
        "one request per page, none repeated"
    );
}

/// The same under loss: every package arrives whole, none expires.
#[test]
fn packages_across_pages_survive_loss() {
    for seed in 0..40 {
        let store = store_with_package(40, 8..=27);
        let cfg = Config {
            sync_page: 6,
            ..lossy_config()
        };
        let mut p = Pair::new(cfg, store, seed, 30);
        p.rx.resume(S, Version(0));
        p.run_until("everything", |p| p.delivered.len() == 40 || expired(p));
        assert!(!expired(&p), "seed {seed}: {:?}", p.events);
        assert_eq!(p.delivered, (1..=40).collect::<Vec<_>>(), "seed {seed}");
    }
}

/// Members of a package given up are skipped, not committed: a resend of
/// one (the server app pushing it again) is reported `Skipped`, never
/// `Acked`.
#[test]
fn a_resend_of_an_expired_member_is_skipped_not_acked() {
    let store = package_store();
    let mut p = Pair::new(package_config(), store.clone(), 5, 0);
    p.serving = false;
    for i in [0, 1, 3, 4] {
        p.tx.send(ms(0), store.message(i)).unwrap();
    }
    p.run_until("expired", expired);
    p.run_until("settled", |p| p.tx.pending() == 0);
    // The app pushes the missing member after all, and the others again.
    for i in 1..=3 {
        p.tx.send(p.now, store.message(i)).unwrap();
    }
    p.run_until("settled again", |p| p.tx.pending() == 0);
    p.step(); // the sender's last events
    assert_eq!(p.delivered, [10, 14]);
    assert_eq!(p.acked, [10, 14], "only what the app committed is acked");
    p.skipped.sort_unstable();
    assert_eq!(p.skipped, [11, 11, 12, 13, 13]);
}

/// Live messages pushed while a `resume_latest` start is on its way, older
/// than the start: the app never stores them, so their sender hears
/// `Skipped`; what the app committed is `Acked`. The start is reported.
#[test]
fn live_pushes_before_a_latest_start_are_skipped_not_acked() {
    for seed in 0..10 {
        let store = Store::with_versions(1..=30);
        let mut p = Pair::new(lossy_config(), store.clone(), seed, 0);
        p.rx.resume_latest(S, 5);
        for i in 19..30 {
            p.tx.send(Instant::ZERO, store.message(i)).unwrap();
        }
        p.run_until("settled", |p| p.delivered.len() == 5 && p.tx.pending() == 0);
        p.step(); // the sender's last events
        assert_eq!(p.delivered, [26, 27, 28, 29, 30]);
        assert!(p.events.contains(&ReceiverEvent::Started {
            stream: S,
            after: Version(25)
        }));
        let mut acked = p.acked.clone();
        acked.sort_unstable();
        acked.dedup();
        assert_eq!(acked, [26, 27, 28, 29, 30], "seed {seed}");
        p.skipped.sort_unstable();
        assert_eq!(p.skipped, (20..=25).collect::<Vec<_>>(), "seed {seed}");
    }
}

/// A stream resumed after a latest start on a later connection: pushes of
/// versions before the start are still skipped, not acked.
#[test]
fn resume_started_keeps_versions_before_the_start_skipped() {
    let store = Store::with_versions(1..=30);
    let mut p = Pair::new(lossy_config(), store.clone(), 1, 0);
    p.rx.resume_started(S, Version(25), Version(30));
    for i in [10, 24, 29] {
        p.tx.send(Instant::ZERO, store.message(i)).unwrap();
    }
    p.run_until("settled", |p| p.tx.pending() == 0);
    p.step(); // the sender's last events
    assert!(p.delivered.is_empty());
    assert_eq!(p.acked, [30], "30 is stored: a duplicate, acked");
    assert_eq!(p.skipped, [11, 25]);
}

/// A package given up on one connection, its stream resumed past it on the
/// next: pushes of its versions are skipped, not acked. The resumed
/// position used to count as proof that everything up to it was stored
/// (deep-sweep seed 1015254: `Acked` for two members no app committed).
#[test]
fn a_package_given_up_earlier_stays_skipped_on_a_later_connection() {
    let store = Store::with_versions(1..=30);
    let mut p = Pair::new(lossy_config(), store.clone(), 1, 0);
    // What an earlier connection's `PackageExpired { after: 20, last: 23 }` said.
    p.rx.pass_over(S, Version(20), Version(23));
    p.rx.resume(S, Version(30));
    for i in [19, 20, 21, 22, 23] {
        p.tx.send(Instant::ZERO, store.message(i)).unwrap();
    }
    p.run_until("settled", |p| p.tx.pending() == 0);
    p.step();
    assert!(p.delivered.is_empty());
    assert_eq!(
        p.acked,
        [20, 24],
        "stored before or after the package: acked"
    );
    assert_eq!(p.skipped, [21, 22, 23], "the package: skipped, never acked");
}

/// A range passed over above the position the stream resumes at is not
/// passed: the app did not move past it (the package may come again and be
/// stored), so its versions are delivered and acked as they come.
#[test]
fn a_passed_over_range_above_the_resumed_position_is_delivered() {
    let store = Store::with_versions(1..=30);
    let mut p = Pair::new(lossy_config(), store.clone(), 1, 0);
    p.rx.pass_over(S, Version(20), Version(23));
    p.rx.resume(S, Version(20));
    for i in 20..23 {
        p.tx.send(Instant::ZERO, store.message(i)).unwrap();
    }
    p.run_until("settled", |p| p.tx.pending() == 0);
    p.step();
    // (The resume's sync brings the rest of the store after them.)
    assert_eq!(p.delivered[..3], [21, 22, 23]);
    // A resend of one (its ack was lost, say) is a duplicate of something
    // stored: acked again, not skipped.
    p.tx.send(p.now, store.message(21)).unwrap();
    p.run_until("the resend settled", |p| p.tx.pending() == 0);
    p.step();
    assert_eq!(p.acked.iter().filter(|&&v| v == 22).count(), 2);
    for v in [21, 22, 23] {
        assert!(p.acked.contains(&v), "{v} not acked: {:?}", p.acked);
    }
    assert!(p.skipped.is_empty(), "skipped {:?}", p.skipped);
}

/// One hole on a contiguous stream is one gap and one sync: the page's
/// messages, as they arrive, do not report the hole again.
#[test]
fn one_hole_on_a_contiguous_stream_is_one_gap_and_one_sync() {
    let store = Store {
        versions: (1..=60).collect(),
        ..Store::default()
    };
    let big = |mut m: Message| {
        m.payload = Bytes::from(vec![7u8; 2048]);
        m
    };
    let mut p = Pair::new(Config::default(), store.clone(), 1, 0);
    p.rx.set_contiguous(S, true);
    p.tx.send(ms(0), big(store.message(0))).unwrap();
    p.tx.send(ms(0), big(store.message(59))).unwrap();
    // Only the first and the last reach the receiver's app at first.
    p.run_until("everything", |p| p.delivered.len() == 60);
    let gaps = p
        .events
        .iter()
        .filter(|e| matches!(e, ReceiverEvent::Gap { .. }))
        .count();
    assert_eq!(gaps, 1, "{:?}", p.events);
    assert_eq!(p.requests.len(), 1, "{:?}", p.requests);
    // One page: the 58 missing (60, which the receiver holds, is not sent
    // again), nothing twice.
    assert_eq!(p.tx.stats().sent, 2 + 58);
    assert_eq!(p.tx.stats().retransmits, 0);
}

/// Small receive bounds under loss, with a server app that pushes live
/// messages only while its sender has room and answers every sync from its
/// store. Returns the virtual time until everything is delivered, or
/// `None` past `limit`.
fn small_bounds_run(seed: u64, limit: Duration) -> (Option<Duration>, Pair) {
    let mut r = SimRng::new(seed ^ 0x5EED);
    let n = 150 + r.below(150);
    let store = Store::with_versions(1..=n);
    let held = 8 + r.below(17) as usize;
    let big: Option<usize> = std::env::var("HELD").ok().and_then(|v| v.parse().ok());
    let mut cfg = Config {
        max_held_messages: big.unwrap_or(held),
        max_in_flight: 8 + r.below(25),
        max_reorder_per_stream: 4 + r.below(20) as usize,
        gap_wait: Duration::from_millis(50),
        sync_page: 4 + r.below(30) as u32,
        peer_dead_after: Duration::from_secs(1_000_000),
        max_retransmits: 1000,
        max_packet_size: 300,
        ..Config::default()
    };
    if std::env::var("DEFAULTS").is_ok() {
        cfg = Config {
            max_held_messages: cfg.max_held_messages,
            max_in_flight: cfg.max_in_flight,
            peer_dead_after: cfg.peer_dead_after,
            max_retransmits: cfg.max_retransmits,
            ..Config::default()
        };
    }
    let loss = 20 + r.below(21) as u32;
    let mut p = Pair::new(cfg, store.clone(), seed, loss);
    let mut next = 0usize;
    let end = Instant::ZERO + limit;
    while p.delivered.len() < n as usize {
        // Beyond the window wait live pushes (at most the store) and sync
        // answers: never more than the store holds either (no copy of a
        // message is queued twice, however often a sync is retried).
        assert!(
            p.tx.usage().queued <= 2 * n as usize,
            "seed {seed}: {} queued",
            p.tx.usage().queued
        );
        while next < n as usize {
            match p.tx.send(p.now, store.message(next)) {
                Ok(()) => next += 1,
                Err(SendError::Backpressure) => break,
                Err(e) => panic!("{e}"),
            }
        }
        if p.now > end {
            return (None, p);
        }
        p.step();
    }
    assert_eq!(p.delivered, (1..=n).collect::<Vec<_>>());
    (Some(p.now - Instant::ZERO), p)
}

/// Small receive bounds (8–24 messages held, a window of 8–32, 20–40 %
/// loss): recovery takes time in proportion to the work, and the sender's
/// queue never holds more answers than the store has messages. Before:
/// early messages pinned the window, copies under new SIDs of what the
/// receiver held were dropped unacked and retransmitted under backoff, and
/// every sync retry queued another copy of its page.
#[test]
fn small_bounds_recover_in_proportion_to_the_work() {
    for seed in [3, 8, 16, 40, 57, 71, 96] {
        let (t, p) = small_bounds_run(seed, Duration::from_secs(600));
        assert!(
            t.is_some(),
            "seed {seed}: not done in 600 s: {:?}",
            p.rx.usage()
        );
    }
}

/// The distribution behind the test above, in release:
/// `cargo test --release --test sync_and_packages small_bounds_recovery_times
/// -- --ignored --nocapture` (`DEFAULTS=1`: every other setting at its
/// default, as the issue measured; `HELD=64`: the same links with a
/// 64-message receive buffer, for comparison).
#[test]
#[ignore = "measurement"]
fn small_bounds_recovery_times() {
    let mut times = Vec::new();
    for seed in 0..100 {
        let (t, p) = small_bounds_run(seed, Duration::from_secs(5000));
        println!(
            "seed {seed}: {:?} held {} window {} loss {} queued {}",
            t,
            p.rx.config().max_held_messages,
            p.rx.config().max_in_flight,
            p.loss,
            p.tx.usage().queued
        );
        times.push(t.map_or(u64::MAX, |d| d.as_secs()));
    }
    times.sort_unstable();
    println!("p50 {} p90 {} max {}", times[50], times[90], times[99]);
}

/// A *latest* page larger than the window: its messages are held,
/// uncommitted, until the page's end says where the stream starts, so they
/// pin the sender's window; the end marker, queued behind the rest of the
/// page, never came (the deep sweep's seed 1000018: a reinstalled device,
/// window 4, latest 15). A latest page's end now goes at once.
#[test]
fn a_latest_page_larger_than_the_window_starts_the_stream() {
    let cfg = Config {
        max_in_flight: 4,
        ..Config::default()
    };
    for seed in 0..5 {
        let store = Store::with_versions(1..=40);
        let mut p = Pair::new(cfg.clone(), store, seed, 10);
        p.rx.resume_latest(S, 15);
        p.run_until("the latest 15", |p| {
            p.delivered.len() >= 15 || p.now > ms(600_000)
        });
        assert_eq!(p.delivered, (26..=40).collect::<Vec<_>>(), "seed {seed}");
        assert!(p.events.contains(&ReceiverEvent::Started {
            stream: S,
            after: Version(25)
        }));
    }
}

/// A history page is held, under the early-message rule (never the last
/// free slot), until it is whole: one asking for `max_held_messages` or
/// more could never complete (the deep sweep's seed 1000459: 9 held, pages
/// of 9). Pages are capped one below the held bound.
#[test]
fn a_history_page_is_capped_below_the_held_bound() {
    let cfg = Config {
        max_held_messages: 9,
        ..Config::default()
    };
    let store = Store::with_versions(1..=30);
    let mut p = Pair::new(cfg, store.clone(), 1, 0);
    p.rx.resume(S, Version(30));
    p.run_until("resumed", |p| p.tx.pending() == 0 && p.now > ms(1000));
    let mut before = Version(31);
    let mut history: Vec<u64> = Vec::new();
    loop {
        p.rx.fetch_history(S, before, 9);
        p.run_until("a page", |p| {
            p.events
                .iter()
                .any(|e| matches!(e, ReceiverEvent::History { .. }))
                || p.now > ms(600_000)
        });
        let pages = p.history_pages();
        assert_eq!(pages.len(), 1, "no page in ten minutes");
        let (_, page, more) = pages.into_iter().next().unwrap();
        assert!(page.len() <= 8, "{page:?}");
        let mut next = page.clone();
        next.extend(history);
        history = next;
        if !more {
            break;
        }
        before = Version(page[0]);
    }
    assert_eq!(history, (1..=30).collect::<Vec<_>>());
}

/// A page's end marker waits for its own page only. It used to wait until
/// no sync answer at all was queued: with a small window and repeated
/// requests refilling that queue, a receiver holding a page whole never got
/// its marker (the deep sweep's seed 1019879: four streams, window 4, 336
/// markers queued after ten minutes). A repeated answer of the same page
/// adds no second marker.
#[test]
fn a_page_end_waits_for_its_own_page_only() {
    let cfg = Config {
        max_in_flight: 2,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg, CONN);
    let now = ms(0);
    let a = SyncRequest {
        stream: StreamId(1),
        range: SyncRange::After(Version::ZERO),
        limit: 50,
    };
    let page: Vec<Message> = (1..=6)
        .map(|v| {
            Message::new(
                StreamId(1),
                Version(v - 1),
                Version(v),
                Bytes::from_static(b"a"),
            )
        })
        .collect();
    tx.answer_sync(now, &a, &page, false).unwrap();
    let b = SyncRequest {
        stream: StreamId(2),
        range: SyncRange::After(Version(10)),
        limit: 50,
    };
    tx.answer_sync(now, &b, &[], false).unwrap();
    // The same two requests again (the peer retried): no new markers.
    tx.answer_sync(now, &a, &page, false).unwrap();
    tx.answer_sync(now, &b, &[], false).unwrap();
    assert_eq!(
        tx.usage().page_ends,
        2,
        "a repeated page queued a second marker"
    );
    while tx.poll_transmit(now).is_some() {}
    // Page A's messages beyond the window of 2 still wait; B's empty page
    // waits for nothing.
    assert!(tx.usage().queued > 0);
    assert_eq!(
        tx.usage().page_ends,
        1,
        "the empty page's marker waited for another page"
    );
}

/// A package enters the window only when all its members still to come
/// have a slot kept for them. Two packages interleaved on two streams used
/// to fill a window of 4 with three members of one and one of the other:
/// the receiver holds members until their package is whole, so each waited
/// for the other's slots until the stalled-window escape gave one up
/// (deep-sweep seed 1000042). Lossless: both arrive whole, nothing escalates.
#[test]
fn interleaved_packages_never_pin_the_window_waiting_for_each_other() {
    let cfg = Config {
        max_in_flight: 4,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    let member = |stream: u64, i: u32| {
        Message::new(
            StreamId(stream),
            Version(u64::from(i)),
            Version(u64::from(i) + 1),
            Bytes::from_static(b"p"),
        )
        .with_package(Package::new(stream, i, 4, Version(4)))
    };
    // A0 A1 A2 B0 A3 B1 B2 B3: the order a server pushing two
    // conversations' packages may well produce.
    let order = [
        (1, 0),
        (1, 1),
        (1, 2),
        (2, 0),
        (1, 3),
        (2, 1),
        (2, 2),
        (2, 3),
    ];
    let mut now = ms(0);
    for (s, i) in order {
        tx.send(now, member(s, i)).unwrap();
    }
    let mut delivered = Vec::new();
    let mut escalated = 0;
    while now < ms(60_000) {
        while let Some(p) = tx.poll_transmit(now) {
            rx.handle_input(now, p).unwrap();
        }
        while let Some(e) = rx.poll_event() {
            if let ReceiverEvent::Deliver(m) = e {
                rx.commit(now, m.stream, m.version).unwrap();
                delivered.push((m.stream.0, m.version.0));
            }
        }
        while let Some(p) = rx.poll_transmit(now) {
            tx.handle_input(now, p).unwrap();
        }
        while let Some(e) = tx.poll_event() {
            escalated += usize::from(matches!(e, SenderEvent::Escalated(_)));
        }
        now = now + Duration::from_millis(10);
        rx.handle_timeout(now);
        tx.handle_timeout(now);
    }
    delivered.sort_unstable();
    let all: Vec<(u64, u64)> = [1, 2]
        .into_iter()
        .flat_map(|s| (1..=4).map(move |v| (s, v)))
        .collect();
    assert_eq!(delivered, all);
    assert_eq!(escalated, 0, "a member was given up: the window was pinned");
    assert_eq!(tx.pending(), 0);
}

/// Retention trimmed versions up to 20 while the client was away at 5: the
/// sync's answer says so, the stream moves past the cut (the app is told,
/// with the range to keep), the retained messages follow, nothing stalls;
/// later pushes of trimmed versions are answered skipped, never acked.
#[test]
fn a_sync_into_trimmed_versions_moves_past_the_cut_and_says_so() {
    for seed in 0..10 {
        let mut store = Store::with_versions(1..=30);
        store.trimmed = 20;
        let mut p = Pair::new(lossy_config(), store.clone(), seed, 0);
        p.rx.resume(S, Version(5));
        p.run_until("synced", |p| p.delivered.len() == 10);
        assert_eq!(p.delivered, (21..=30).collect::<Vec<_>>(), "seed {seed}");
        let told: Vec<_> = p
            .events
            .iter()
            .filter(|e| matches!(e, ReceiverEvent::Trimmed { .. }))
            .collect();
        assert_eq!(
            told,
            [&ReceiverEvent::Trimmed {
                stream: S,
                after: Version(5),
                through: Version(20)
            }],
            "seed {seed}"
        );
        for i in [9, 14] {
            p.tx.send(Instant::ZERO, store.message(i)).unwrap();
        }
        p.run_until("settled", |p| p.tx.pending() == 0);
        p.step();
        assert!(
            !p.acked.contains(&10) && !p.acked.contains(&15),
            "seed {seed}"
        );
        assert_eq!(p.skipped, [10, 15], "seed {seed}");
    }
}

/// Paging back into trimmed history: the last page is what is kept, and
/// the app is told that older history is gone (not that the stream
/// begins there), before the page.
#[test]
fn history_ends_at_the_trimmed_cut_and_says_so() {
    let mut store = Store::with_versions(1..=30);
    store.trimmed = 20;
    let mut p = Pair::new(lossy_config(), store, 1, 0);
    p.rx.resume(S, Version(30));
    p.rx.fetch_history(S, Version(25), 10);
    p.run_until("history", |p| {
        p.events
            .iter()
            .any(|e| matches!(e, ReceiverEvent::History { .. }))
    });
    let at = p
        .events
        .iter()
        .position(|e| matches!(e, ReceiverEvent::History { .. }))
        .unwrap();
    let ReceiverEvent::History { messages, more, .. } = &p.events[at] else {
        unreachable!()
    };
    let versions: Vec<u64> = messages.iter().map(|m| m.version.0).collect();
    assert_eq!(versions, [21, 22, 23, 24]);
    assert!(!more);
    assert_eq!(
        p.events[at - 1],
        ReceiverEvent::Trimmed {
            stream: S,
            after: Version(20),
            through: Version(20)
        }
    );
}

/// A TRIMMED answer to an *after* request goes out while the window is
/// full of live messages past the cut: the peer holds those uncommitted
/// until it learns the versions before them are gone, so a marker waiting
/// for its page's messages (which need window room) would wait for ever
/// (deep-sweep seeds 1000937 and 1000938 with retention drawn: a window of
/// 4, hundreds of messages queued, no progress).
#[test]
fn a_trimmed_marker_is_not_held_behind_a_window_pinned_past_the_cut() {
    let cfg = Config {
        max_in_flight: 2,
        ..Config::default()
    };
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut rx = Receiver::new(cfg, CONN);
    rx.resume(S, Version(5));
    let sync: Vec<Bytes> = std::iter::from_fn(|| rx.poll_transmit(ms(0))).collect();
    // Live messages past the cut fill the window; the receiver holds them
    // behind the hole and commits nothing.
    for v in [25, 26] {
        tx.send(
            ms(0),
            Message::new(S, Version(v - 1), Version(v), Bytes::new()),
        )
        .unwrap();
    }
    while let Some(p) = tx.poll_transmit(ms(0)) {
        rx.handle_input(ms(1), p).unwrap();
    }
    for p in sync {
        tx.handle_input(ms(2), p).unwrap();
    }
    let req = std::iter::from_fn(|| tx.poll_event())
        .find_map(|e| match e {
            SenderEvent::SyncRequested(r) => Some(r),
            _ => None,
        })
        .expect("the sync request");
    assert_eq!(req.range, SyncRange::After(Version(5)));
    let page: Vec<Message> = (21..=24)
        .map(|v| Message::new(S, Version(v - 1), Version(v), Bytes::new()))
        .collect();
    tx.answer_sync_trimmed(ms(2), &req, Version(20), &page, false)
        .unwrap();
    while let Some(p) = tx.poll_transmit(ms(3)) {
        rx.handle_input(ms(4), p).unwrap();
    }
    assert!(
        take_events(&mut rx).contains(&ReceiverEvent::Trimmed {
            stream: S,
            after: Version(5),
            through: Version(20),
        }),
        "the TRIMMED marker waited behind the pinned window"
    );
}
