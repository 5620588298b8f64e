//! The TTL dedup cache: first receipt wins within the TTL, keys are new again
//! after it, the capacity bound holds under a flood, the hash is keyed, a
//! removed key frees its room, random operations match a plain reference
//! model, and an HTTP send path with failing store writes and retrying
//! clients stores each message once.

use ackwire::*;
use core::time::Duration;
use proptest::prelude::*;
use std::collections::VecDeque;

const SECRET: [u8; 16] = *b"not-a-real-key!!";

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

#[test]
fn a_duplicate_within_the_ttl_gets_the_first_receipt() {
    let mut cache = DedupCache::new(SECRET, Duration::from_secs(60), 1_000);
    assert_eq!(
        cache.check_or_insert(at(0), b"msg-1", Version(10)),
        Seen::New
    );
    assert_eq!(
        cache.check_or_insert(at(1), b"msg-2", Version(11)),
        Seen::New
    );
    assert_eq!(
        cache.check_or_insert(at(59_999), b"msg-1", Version(12)),
        Seen::Duplicate(&Version(10))
    );
    assert_eq!(cache.get(at(59_999), b"msg-2"), Some(&Version(11)));
    assert_eq!(cache.stats().duplicates, 1);
}

#[test]
fn after_the_ttl_a_key_is_new_again() {
    let mut cache = DedupCache::new(SECRET, Duration::from_secs(60), 1_000);
    cache.check_or_insert(at(0), b"msg-1", 1);
    // A duplicate does not extend the TTL.
    assert_eq!(
        cache.check_or_insert(at(30_000), b"msg-1", 2),
        Seen::Duplicate(&1)
    );
    assert_eq!(cache.check_or_insert(at(60_000), b"msg-1", 3), Seen::New);
    assert_eq!(
        cache.check_or_insert(at(60_001), b"msg-1", 4),
        Seen::Duplicate(&3)
    );
    assert_eq!(cache.stats().expired, 1);
}

#[test]
fn the_capacity_bound_holds_under_a_flood_of_distinct_keys() {
    let capacity = 1_000;
    let mut cache = DedupCache::new(SECRET, Duration::from_secs(3_600), capacity);
    for i in 0..100_000u64 {
        let seen = cache.check_or_insert(at(i / 10), &i.to_be_bytes(), i);
        assert_eq!(seen, Seen::New);
        assert!(cache.len() <= capacity);
    }
    assert_eq!(cache.len(), capacity);
    assert_eq!(cache.stats().evicted_early, 100_000 - capacity as u64);
    // The newest keys are still remembered; the oldest were cut short.
    assert_eq!(
        cache.get(at(10_000), &99_999u64.to_be_bytes()),
        Some(&99_999)
    );
    assert_eq!(cache.get(at(10_000), &0u64.to_be_bytes()), None);
}

#[test]
fn the_hash_depends_on_the_secret() {
    let a = DedupCache::<()>::new(SECRET, Duration::from_secs(1), 1);
    let b = DedupCache::<()>::new(*b"another-secret!!", Duration::from_secs(1), 1);
    let a2 = DedupCache::<()>::new(SECRET, Duration::from_secs(1), 1);
    for key in [&b""[..], b"x", b"client-42/msg-1"] {
        assert_ne!(a.key_hash(key), b.key_hash(key));
        assert_eq!(a.key_hash(key), a2.key_hash(key));
    }
    assert_ne!(a.key_hash(b"x"), a.key_hash(b"y"));
    // The secret never shows in debug output.
    let k0 = u64::from_le_bytes(SECRET[..8].try_into().unwrap());
    let debug = format!("{a:?}");
    assert!(!debug.contains(&k0.to_string()) && !debug.contains("110, 111, 116"));
}

#[test]
fn a_failed_store_can_forget_the_key() {
    let mut cache = DedupCache::new(SECRET, Duration::from_secs(60), 10);
    assert_eq!(cache.check_or_insert(at(0), b"k", None), Seen::New);
    // Storing failed: forget, so the resend is processed.
    assert_eq!(cache.remove(b"k"), Some(None));
    assert_eq!(cache.check_or_insert(at(1), b"k", None), Seen::New);
    // Stored: fill the pending receipt in.
    *cache.get_mut(at(2), b"k").unwrap() = Some(Version(7));
    assert_eq!(
        cache.check_or_insert(at(3), b"k", None),
        Seen::Duplicate(&Some(Version(7)))
    );
}

#[test]
fn a_removed_key_frees_its_slot() {
    // The first case: capacity 2, `b` removed, `c` takes its room.
    let mut cache = DedupCache::new(SECRET, Duration::from_secs(60), 2);
    assert_eq!(cache.check_or_insert(at(0), b"a", 1), Seen::New);
    assert_eq!(cache.check_or_insert(at(1), b"b", 2), Seen::New);
    assert_eq!(cache.remove(b"b"), Some(2));
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.check_or_insert(at(2), b"c", 3), Seen::New);
    assert_eq!(cache.len(), 2);
    // `a` was not evicted to make room for `c`: its resend is a duplicate.
    assert_eq!(cache.check_or_insert(at(3), b"a", 4), Seen::Duplicate(&1));
    assert_eq!(cache.check_or_insert(at(4), b"c", 5), Seen::Duplicate(&3));
    assert_eq!(cache.stats().evicted_early, 0);
    assert_eq!(cache.poll_timeout(), Some(at(60_000)));
}

#[test]
fn a_store_outage_does_not_push_stored_keys_out() {
    // The second case: 50 stored keys in a cache of 100, then 200
    // sends whose store write fails (each key removed right after).
    let mut cache = DedupCache::new(SECRET, Duration::from_secs(60), 100);
    for i in 0..50u64 {
        let key = format!("stored-{i}");
        assert_eq!(cache.check_or_insert(at(i), key.as_bytes(), i), Seen::New);
    }
    for i in 0..200u64 {
        let key = format!("failed-{i}");
        let now = at(100 + i);
        assert_eq!(
            cache.check_or_insert(now, key.as_bytes(), 1_000 + i),
            Seen::New
        );
        assert_eq!(cache.remove(key.as_bytes()), Some(1_000 + i));
        assert!(cache.len() <= 50);
    }
    // Every stored key's resend is still answered, not processed again.
    for i in 0..50u64 {
        let key = format!("stored-{i}");
        let seen = cache.check_or_insert(at(400), key.as_bytes(), 9_999);
        assert_eq!(seen, Seen::Duplicate(&i), "{key}");
    }
    assert_eq!(cache.stats().evicted_early, 0);
    assert_eq!(cache.len(), 50);
}

#[derive(Clone, Debug)]
enum Op {
    Check(u8, i64),
    Get(u8, i64),
    Remove(u8),
    Timeout(i64),
}

fn op() -> impl Strategy<Value = Op> {
    // Mostly forward, sometimes backwards: the cache must not reorder expiry.
    let dt = prop_oneof![6 => 0i64..40, 1 => -50i64..0];
    // Few keys against capacities up to 12, and removes about one op in
    // four: the cache is often full with removes interleaved.
    prop_oneof![
        6 => (0u8..24, dt.clone()).prop_map(|(k, d)| Op::Check(k, d)),
        2 => (0u8..24, dt.clone()).prop_map(|(k, d)| Op::Get(k, d)),
        3 => (0u8..24).prop_map(Op::Remove),
        1 => dt.prop_map(Op::Timeout),
    ]
}

/// The cache's rules, written plainly: the live keys in insertion order, each
/// with its deadline and receipt. A removed key is gone and takes no room;
/// only an insert with `capacity` live keys evicts, and it evicts the oldest
/// live key.
struct Model {
    ttl: u64,
    capacity: usize,
    latest: u64,
    /// (key, deadline, receipt), oldest first.
    live: VecDeque<(u8, u64, u32)>,
    stats: DedupStats,
}

impl Model {
    fn new(ttl: u64, capacity: usize) -> Model {
        Model {
            ttl,
            capacity,
            latest: 0,
            live: VecDeque::new(),
            stats: DedupStats::default(),
        }
    }

    fn advance(&mut self, now: u64) {
        self.latest = self.latest.max(now);
        while self.live.front().is_some_and(|e| e.1 <= self.latest) {
            self.live.pop_front();
            self.stats.expired += 1;
        }
    }

    fn find(&self, key: u8) -> Option<u32> {
        self.live.iter().find(|e| e.0 == key).map(|e| e.2)
    }

    fn check(&mut self, now: u64, key: u8, receipt: u32) -> Seen<u32> {
        self.advance(now);
        if let Some(r) = self.find(key) {
            self.stats.duplicates += 1;
            return Seen::Duplicate(r);
        }
        self.stats.new += 1;
        if self.capacity == 0 {
            return Seen::New;
        }
        if self.live.len() == self.capacity {
            self.live.pop_front();
            self.stats.evicted_early += 1;
        }
        self.live.push_back((key, self.latest + self.ttl, receipt));
        Seen::New
    }

    fn remove(&mut self, key: u8) -> Option<u32> {
        let i = self.live.iter().position(|e| e.0 == key)?;
        self.live.remove(i).map(|e| e.2)
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.live.front().map(|e| at(e.1))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_a_reference_model(
        ttl in 1u64..200,
        capacity in 0usize..12,
        ops in proptest::collection::vec(op(), 0..300),
    ) {
        let mut cache = DedupCache::new(SECRET, Duration::from_millis(ttl), capacity);
        let mut model = Model::new(ttl, capacity);
        let mut clock: u64 = 1_000;
        for (i, op) in ops.into_iter().enumerate() {
            let receipt = i as u32;
            match op {
                Op::Check(k, d) => {
                    clock = clock.saturating_add_signed(d);
                    let got = cache.check_or_insert(at(clock), &[k], receipt).map(|r| *r);
                    prop_assert_eq!(got, model.check(clock, k, receipt), "op {}", i);
                }
                Op::Get(k, d) => {
                    clock = clock.saturating_add_signed(d);
                    let got = cache.get(at(clock), &[k]).copied();
                    model.advance(clock);
                    prop_assert_eq!(got, model.find(k), "op {}", i);
                }
                Op::Remove(k) => {
                    prop_assert_eq!(cache.remove(&[k]), model.remove(k), "op {}", i);
                }
                Op::Timeout(d) => {
                    clock = clock.saturating_add_signed(d);
                    cache.handle_timeout(at(clock));
                    model.advance(clock);
                }
            }
            prop_assert_eq!(cache.len(), model.live.len(), "op {}", i);
            prop_assert!(cache.len() <= capacity);
            // The next deadline is the oldest live key's, never a removed one's.
            prop_assert_eq!(cache.poll_timeout(), model.next_deadline(), "op {}", i);
            prop_assert_eq!(cache.stats(), model.stats, "op {}", i);
        }
    }
}

/// The coin flips of the simulated HTTP endpoint below: the simulator's
/// SplitMix64, from a seed proptest picks (and prints when a case fails).
struct Rng(ackwire::sim::SimRng);

impl Rng {
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.0.below(hi - lo + 1)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.0.next_u64() % 100 < p
    }
}

/// What the HTTP endpoint answers a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    /// 200: stored (now or by an earlier copy) under this version.
    Stored(u64),
    /// 503: the store write failed; the key was removed, retry.
    Failed,
    /// 409: an earlier copy is being stored right now; retry.
    InProgress,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The client (re)sends message `msg` unless it is done or gave up.
    Send { msg: usize },
    /// Attempt `attempt` of `msg` reaches the server.
    Arrive { msg: usize, attempt: u32 },
    /// The store write started by that attempt finishes.
    Written { msg: usize, attempt: u32, ok: bool },
    /// The server's answer to that attempt reaches the client.
    Reply {
        msg: usize,
        attempt: u32,
        answer: Answer,
    },
    /// The client's timer for that attempt fires.
    Timeout { msg: usize, attempt: u32 },
}

#[derive(Clone, Debug)]
struct Endpoint {
    capacity: usize,
    ttl: u64,
    /// Clients stop retrying this long after a message's first send.
    give_up: u64,
    /// One-way latency is 1..=max_latency ms.
    max_latency: u64,
    /// A store write takes 1..=max_write ms.
    max_write: u64,
    /// The client's timeout per attempt.
    timeout: u64,
    fail_percent: u64,
    loss_percent: u64,
    messages: usize,
    max_gap: u64,
    seed: u64,
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    (
        (1usize..=8, 60u64..400, 1u64..=10, 1u64..=20, 5u64..=40),
        (0u64..=80, 0u64..=40, 1usize..=80, 0u64..=60, any::<u64>()),
        0u64..=100,
    )
        .prop_map(
            |(
                (capacity, ttl, max_latency, max_write, timeout),
                (fail_percent, loss_percent, messages, max_gap, seed),
                give_up_percent,
            )| {
                // Retries must reach the server within the TTL of the
                // first copy: give_up + max_latency < ttl.
                let ttl = ttl.max(max_write + 1);
                let longest = ttl - max_latency - 1;
                Endpoint {
                    capacity,
                    ttl,
                    give_up: longest * give_up_percent / 100,
                    max_latency,
                    max_write,
                    timeout,
                    fail_percent,
                    loss_percent,
                    messages,
                    max_gap,
                    seed,
                }
            },
        )
        .prop_filter("TTL long enough for a retry", |e| e.ttl > e.max_latency + 1)
}

/// An HTTP send endpoint over a `DedupCache`, used as its docs say: insert a
/// pending receipt, write to the store, fill the receipt in on success and
/// `remove` the key on failure. Clients resend on a timeout or an error
/// answer, with the same message id, until answered or `give_up` after the
/// first send. Requests and answers are lost at random, store writes fail
/// at random.
///
/// First sends are spaced so that at most `capacity` messages start within
/// any `ttl + give_up + max_latency` window: then at most `capacity` keys
/// are live at once (a key is inserted at most `give_up + max_latency`
/// after its first send, and lives `ttl`), the cache never evicts early,
/// and every message is stored at most once — however many store writes
/// failed and were removed.
///
/// Returns (messages stored, messages answered).
fn run_endpoint(e: &Endpoint) -> Result<(usize, usize), TestCaseError> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    let mut rng = Rng(ackwire::sim::SimRng::new(e.seed));
    let mut cache: DedupCache<Option<u64>> =
        DedupCache::new(SECRET, Duration::from_millis(e.ttl), e.capacity);
    let window = e.ttl + e.give_up + e.max_latency;
    let mut first_send = Vec::with_capacity(e.messages);
    for i in 0..e.messages {
        let mut t = first_send.last().copied().unwrap_or(0) + rng.range(0, e.max_gap);
        if i >= e.capacity {
            t = t.max(first_send[i - e.capacity] + window + 1);
        }
        first_send.push(t);
    }
    let mut attempts = vec![0u32; e.messages];
    let mut answered: Vec<Option<u64>> = vec![None; e.messages];
    let mut stored: Vec<Option<u64>> = vec![None; e.messages];
    let mut next_version = 1u64;
    // Pending receipts gone before their write finished.
    let mut lost_pending = 0u32;

    let mut events = BinaryHeap::new();
    let mut order = 0u64;
    let mut schedule = |events: &mut BinaryHeap<_>, t: u64, ev: Event| {
        order += 1;
        events.push(Reverse((t, order, ev)));
    };
    for (msg, &t) in first_send.iter().enumerate() {
        schedule(&mut events, t, Event::Send { msg });
    }
    let key = |msg: usize| format!("client-{}/msg-{msg}", msg % 3);

    while let Some(Reverse((now, _, ev))) = events.pop() {
        // The endpoint's answer to a send, if this event makes one.
        let reply = match ev {
            Event::Send { msg } => {
                if answered[msg].is_some() || now > first_send[msg] + e.give_up {
                    continue;
                }
                attempts[msg] += 1;
                let attempt = attempts[msg];
                if !rng.percent(e.loss_percent) {
                    let arrive = now + rng.range(1, e.max_latency);
                    schedule(&mut events, arrive, Event::Arrive { msg, attempt });
                }
                schedule(
                    &mut events,
                    now + e.timeout,
                    Event::Timeout { msg, attempt },
                );
                None
            }
            Event::Arrive { msg, attempt } => {
                let answer = match cache.check_or_insert(at(now), key(msg).as_bytes(), None) {
                    Seen::New => {
                        let ok = !rng.percent(e.fail_percent);
                        let done = now + rng.range(1, e.max_write);
                        schedule(&mut events, done, Event::Written { msg, attempt, ok });
                        None
                    }
                    Seen::Duplicate(Some(version)) => Some(Answer::Stored(*version)),
                    Seen::Duplicate(None) => Some(Answer::InProgress),
                };
                answer.map(|answer| (msg, attempt, answer))
            }
            Event::Written { msg, attempt, ok } => {
                let answer = if ok {
                    prop_assert!(
                        stored[msg].is_none(),
                        "message {} stored twice (at {} ms)",
                        msg,
                        now
                    );
                    let version = next_version;
                    next_version += 1;
                    stored[msg] = Some(version);
                    match cache.get_mut(at(now), key(msg).as_bytes()) {
                        Some(receipt) => *receipt = Some(version),
                        // Evicted while the write ran: the next copy will
                        // be stored again (caught above).
                        None => lost_pending += 1,
                    }
                    Answer::Stored(version)
                } else {
                    // As the docs invite: forget the key, so the resend is
                    // processed instead of answered.
                    if cache.remove(key(msg).as_bytes()).is_none() {
                        lost_pending += 1;
                    }
                    Answer::Failed
                };
                Some((msg, attempt, answer))
            }
            Event::Reply {
                msg,
                attempt,
                answer,
            } => {
                match answer {
                    Answer::Stored(version) => {
                        prop_assert_eq!(stored[msg], Some(version), "message {}", msg);
                        prop_assert!(answered[msg].is_none_or(|v| v == version));
                        answered[msg] = Some(version);
                    }
                    Answer::Failed | Answer::InProgress => {
                        if attempt == attempts[msg] {
                            let t = now + rng.range(1, 5);
                            schedule(&mut events, t, Event::Send { msg });
                        }
                    }
                }
                None
            }
            Event::Timeout { msg, attempt } => {
                if attempt == attempts[msg] {
                    schedule(&mut events, now, Event::Send { msg });
                }
                None
            }
        };
        // On its way back, unless the link loses it.
        if let Some((msg, attempt, answer)) = reply {
            if !rng.percent(e.loss_percent) {
                let t = now + rng.range(1, e.max_latency);
                schedule(
                    &mut events,
                    t,
                    Event::Reply {
                        msg,
                        attempt,
                        answer,
                    },
                );
            }
        }
        prop_assert!(cache.len() <= e.capacity);
    }
    // Within capacity and TTL nothing is cut short.
    prop_assert_eq!(lost_pending, 0);
    prop_assert_eq!(cache.stats().evicted_early, 0);
    let stored_count = stored.iter().flatten().count();
    let answered_count = answered.iter().flatten().count();
    Ok((stored_count, answered_count))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Store failures and retries, as an HTTP send path sees them: within
    /// the capacity and the TTL, no message is stored twice, and every
    /// answer a client gets is the version its message was stored under.
    #[test]
    fn an_http_send_path_with_failing_writes_stores_each_message_once(e in endpoint()) {
        run_endpoint(&e)?;
    }
}

#[test]
fn the_http_send_path_model_stores_and_answers() {
    // The property's model is not vacuous: with some writes failing and
    // some packets lost, most messages get stored and answered.
    let e = Endpoint {
        capacity: 4,
        ttl: 300,
        give_up: 250,
        max_latency: 5,
        max_write: 10,
        timeout: 20,
        fail_percent: 50,
        loss_percent: 20,
        messages: 200,
        max_gap: 5,
        seed: 42,
    };
    let (stored, answered) = run_endpoint(&e).unwrap();
    assert!(
        stored >= 190 && answered >= 180,
        "{stored} stored, {answered} answered"
    );
}

/// Maps a `Seen<&V>` to owned values for comparison.
trait SeenExt<R> {
    fn map<T>(self, f: impl FnOnce(R) -> T) -> Seen<T>;
}

impl<R> SeenExt<R> for Seen<R> {
    fn map<T>(self, f: impl FnOnce(R) -> T) -> Seen<T> {
        match self {
            Seen::New => Seen::New,
            Seen::Duplicate(r) => Seen::Duplicate(f(r)),
        }
    }
}
