//! `pair_ops`: a Sender and a Receiver over a link the fuzzer controls, with
//! the sending app answering sync and history requests from its store.

use super::*;

#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairOp {
    /// The sending app sends a message: `kind` picks exactly once (chained
    /// streams 0..3), at least once (streams 10, 11) or at most once
    /// (stream 20), and whether it wants a receipt.
    Send {
        stream: u8,
        skip: u8,
        kind: u8,
    },
    /// The sending app sends a package of `n % 4 + 1` members.
    Package {
        stream: u8,
        n: u8,
    },
    /// One side (`acks`: the receiver) writes everything it has onto the link.
    Transmit {
        acks: bool,
    },
    /// A packet on one direction's link arrives (any of them: reordering).
    Deliver {
        acks: bool,
        pick: u8,
    },
    Drop {
        acks: bool,
        pick: u8,
    },
    /// A copy arrives; the original stays on the link.
    Duplicate {
        acks: bool,
        pick: u8,
    },
    /// The receiving app commits one delivered message (with a receipt or
    /// an empty one, decided once per message).
    Commit {
        pick: u8,
        receipt: bool,
    },
    /// The receiving app asks for history before a stored version.
    FetchHistory {
        stream: u8,
        back: u8,
        limit: u8,
    },
    Advance {
        ms: u16,
    },
    /// Jump to the earliest deadline of either endpoint.
    Timeout,
}

impl PairOp {
    pub fn encode(&self, e: &mut Enc) {
        const N: u32 = 10;
        match *self {
            PairOp::Send { stream, skip, kind } => {
                e.variant(0, N).u8(stream).u8(skip).u8(kind);
            }
            PairOp::Package { stream, n } => {
                e.variant(1, N).u8(stream).u8(n);
            }
            PairOp::Transmit { acks } => {
                e.variant(2, N).bool(acks);
            }
            PairOp::Deliver { acks, pick } => {
                e.variant(3, N).bool(acks).u8(pick);
            }
            PairOp::Drop { acks, pick } => {
                e.variant(4, N).bool(acks).u8(pick);
            }
            PairOp::Duplicate { acks, pick } => {
                e.variant(5, N).bool(acks).u8(pick);
            }
            PairOp::Commit { pick, receipt } => {
                e.variant(6, N).u8(pick).bool(receipt);
            }
            PairOp::FetchHistory {
                stream,
                back,
                limit,
            } => {
                e.variant(7, N).u8(stream).u8(back).u8(limit);
            }
            PairOp::Advance { ms } => {
                e.variant(8, N).u16(ms);
            }
            PairOp::Timeout => {
                e.variant(9, N);
            }
        }
    }
}

pub fn pair_config() -> Config {
    Config {
        max_in_flight: 8,
        max_queued: 10_000,
        max_retransmits: 3,
        max_packet_size: 200 + ID_LEN,
        max_rto: Duration::from_secs(2),
        peer_dead_after: Duration::from_secs(1_000_000),
        max_streams: 8,
        max_held_messages: 24,
        max_reorder_per_stream: 8,
        max_receipts: 2,
        package_timeout: Duration::from_millis(500),
        ..Config::default()
    }
}

/// Prints `x` when `FUZZ_TRACE` is set (for reading finds; never in
/// libFuzzer runs).
pub(crate) fn trace(x: &dyn core::fmt::Debug) {
    thread_local! {
        static ON: bool = std::env::var_os("FUZZ_TRACE").is_some();
    }
    if ON.with(|on| *on) {
        eprintln!("{x:?}");
    }
}

/// Both endpoints, both apps and the link, with the checker's records.
struct Pair {
    tx: Sender,
    rx: Receiver,
    now: Instant,
    /// Per chained stream, the messages the sending app sent (its store).
    store: BTreeMap<u64, Vec<Message>>,
    /// Every message sent, by key; `send` calls per key.
    sent: HashMap<Key, Message>,
    sends: HashMap<Key, usize>,
    total_sends: usize,
    /// Copies sent in answer to history requests (acked without a commit).
    history_copies: HashMap<Key, usize>,
    acked: HashMap<Key, usize>,
    /// `Skipped` per key: copies the receiver's policy passed over (§5.2).
    skipped: HashMap<Key, usize>,
    escalated: usize,
    escalated_keys: HashSet<Key>,
    /// At-least-once messages escalated: the app sends them again.
    resend: Vec<Message>,
    handed_back: usize,
    dead: bool,
    next_version: HashMap<u64, u64>,
    next_package: u64,
    /// Per chained stream, the receiving app's position and the versions
    /// delivered to it, in order; versions given up with a package.
    head: BTreeMap<u64, u64>,
    delivered: BTreeMap<u64, Vec<u64>>,
    expired: HashSet<Key>,
    pkg_run: Option<(StreamId, u64, Version)>,
    /// At least once: deliveries per key; at most once: deliveries per key.
    alo_delivered: HashMap<Key, usize>,
    datagrams: HashMap<Key, usize>,
    uncommitted: Vec<Key>,
    /// The receipt the receiving app committed each message with.
    committed: HashMap<Key, Bytes>,
    /// Open history requests: before, limit; the largest limit asked.
    history: HashMap<u64, (u64, u32)>,
    history_limit_max: u32,
    /// Packets in flight: data towards the receiver, acks towards the sender.
    to_rx: Vec<Bytes>,
    to_tx: Vec<Bytes>,
    healed: bool,
    /// `ReceiptWanted` before the app committed (known bug 14).
    wanted_early: HashSet<Key>,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            tx: Sender::new(pair_config(), CONN),
            rx: Receiver::new(pair_config(), CONN),
            now: Instant::from_millis(1_000),
            store: BTreeMap::new(),
            sent: HashMap::new(),
            sends: HashMap::new(),
            total_sends: 0,
            history_copies: HashMap::new(),
            acked: HashMap::new(),
            skipped: HashMap::new(),
            escalated: 0,
            escalated_keys: HashSet::new(),
            resend: Vec::new(),
            handed_back: 0,
            dead: false,
            next_version: HashMap::new(),
            next_package: 0,
            head: BTreeMap::new(),
            delivered: BTreeMap::new(),
            expired: HashSet::new(),
            pkg_run: None,
            alo_delivered: HashMap::new(),
            datagrams: HashMap::new(),
            uncommitted: Vec::new(),
            committed: HashMap::new(),
            history: HashMap::new(),
            history_limit_max: 0,
            to_rx: Vec::new(),
            to_tx: Vec::new(),
            healed: false,
            wanted_early: HashSet::new(),
        }
    }

    /// How often `k` was settled by the peer (acked or skipped).
    fn settled_key(&self, k: &Key) -> usize {
        self.acked.get(k).copied().unwrap_or(0) + self.skipped.get(k).copied().unwrap_or(0)
    }

    fn send(&mut self, m: Message) -> bool {
        let k = key(&m);
        match self.tx.send(self.now, m.clone()) {
            Ok(()) => {
                if m.qos != Qos::AtMostOnce {
                    *self.sends.entry(k).or_default() += 1;
                    self.total_sends += 1;
                }
                self.sent.insert(k, m);
                true
            }
            Err(SendError::Closed) => {
                assert!(self.dead);
                false
            }
            Err(e) => panic!("send: {e:?}"),
        }
    }

    /// The next message of a chained stream, into the store.
    fn send_chained(&mut self, s: u64, skip: u64, f: impl FnOnce(Message) -> Message) -> bool {
        let prev = self
            .store
            .get(&s)
            .and_then(|v| v.last())
            .map_or(0, |m| m.version.0);
        let v = prev + 1 + skip;
        let m = f(Message::new(
            StreamId(s),
            Version(prev),
            Version(v),
            payload(skip as u8 + 1, v),
        ));
        if self.send(m.clone()) {
            self.store.entry(s).or_default().push(m);
            true
        } else {
            false
        }
    }

    fn transmit(&mut self, acks: bool) {
        let max = pair_config().max_packet_size;
        loop {
            let p = if acks {
                self.rx.poll_transmit(self.now)
            } else {
                self.tx.poll_transmit(self.now)
            };
            let Some(p) = p else { break };
            let frames = well_formed(&p, max);
            trace(&(if acks { "rx->" } else { "tx->" }, frames));
            if acks {
                self.to_tx.push(p);
            } else {
                self.to_rx.push(p);
            }
        }
    }

    fn arrive(&mut self, acks: bool, p: Bytes) {
        let r = if acks {
            self.tx.handle_input(self.now, p)
        } else {
            self.rx.handle_input(self.now, p)
        };
        if acks && self.dead {
            assert_eq!(r, Err(InputError::Closed));
        } else {
            r.expect("a packet from the peer was rejected");
        }
    }

    fn commit(&mut self, i: usize, receipt: bool) {
        let k = self.uncommitted.remove(i);
        let r = self
            .committed
            .entry(k)
            .or_insert_with(|| if receipt { receipt_of(k) } else { Bytes::new() })
            .clone();
        self.rx
            .commit_with_receipt(self.now, k.0, k.1, r.clone())
            .expect("commit of a delivered message");
        if self.wanted_early.remove(&k) {
            // The request may have been dropped for room meanwhile (its
            // SIDs all settled here): the sender asks again if it waits.
            match self.rx.provide_receipt(k.0, k.1, r) {
                Ok(()) | Err(CommitError::NotAsked) => {}
                Err(e) => panic!("provide_receipt after ReceiptWanted: {e:?}"),
            }
        }
    }

    fn timeout(&mut self) {
        sender_timeout(&mut self.tx, self.now);
        self.rx.handle_timeout(self.now);
        assert_deadline_after(self.rx.poll_timeout(), self.now, "Receiver");
    }

    fn on_rx_event(&mut self, e: ReceiverEvent) {
        trace(&e);
        if let Some((s, id, last)) = self.pkg_run {
            let next = matches!(&e, ReceiverEvent::Deliver(m)
                if m.stream == s && m.package.is_some_and(|p| p.id == id && p.last == last));
            assert!(next, "package {id} on {s:?} interrupted by {e:?}");
        }
        match e {
            ReceiverEvent::Deliver(m) => {
                let k = key(&m);
                assert_eq!(
                    self.sent.get(&k),
                    Some(&m),
                    "delivered a message never sent"
                );
                if m.qos == Qos::AtLeastOnce {
                    let n = self.alo_delivered.entry(k).or_default();
                    *n += 1;
                    assert!(
                        *n <= self.sends[&k],
                        "at-least-once {k:?} delivered {n} times, sent {}",
                        self.sends[&k]
                    );
                } else {
                    let head = self.head.get(&m.stream.0).copied().unwrap_or(0);
                    assert_eq!(m.prev.0, head, "delivered {m:?} out of order (head {head})");
                    self.head.insert(m.stream.0, m.version.0);
                    self.delivered
                        .entry(m.stream.0)
                        .or_default()
                        .push(m.version.0);
                    self.pkg_run = m
                        .package
                        .filter(|p| m.version < p.last)
                        .map(|p| (m.stream, p.id, p.last));
                }
                self.uncommitted.push(k);
            }
            ReceiverEvent::Datagram(m) => {
                let k = key(&m);
                assert_eq!(self.sent.get(&k).map(|s| &s.payload), Some(&m.payload));
                let n = self.datagrams.entry(k).or_default();
                *n += 1;
                assert_eq!(*n, 1, "at-most-once {k:?} delivered twice");
            }
            ReceiverEvent::PackageExpired {
                stream,
                after,
                last,
                ..
            } => {
                let head = self.head.get(&stream.0).copied().unwrap_or(0);
                assert_eq!(
                    after.0, head,
                    "package expired after {after:?}, head {head}"
                );
                for m in self.store.get(&stream.0).into_iter().flatten() {
                    if m.version > after && m.version <= last {
                        self.expired.insert(key(m));
                    }
                }
                self.head.insert(stream.0, last.0);
            }
            ReceiverEvent::Gap {
                stream,
                after,
                waiting_after,
            } => {
                let head = self.head.get(&stream.0).copied().unwrap_or(0);
                assert_eq!(after.0, head, "gap after {after:?}, head {head}");
                assert!(waiting_after > after, "gap waiting after {waiting_after:?}");
            }
            ReceiverEvent::History {
                stream,
                before,
                messages,
                more,
            } => {
                let (b, limit) = self
                    .history
                    .remove(&stream.0)
                    .unwrap_or_else(|| panic!("history for {stream:?}, never asked"));
                assert_eq!(before.0, b);
                let older: Vec<&Message> = self
                    .store
                    .get(&stream.0)
                    .into_iter()
                    .flatten()
                    .filter(|m| m.version < before)
                    .collect();
                // The newest messages before `before`, as many as some
                // request for this `before` asked (a replaced request's
                // answer may finish the page: same `before`).
                let n = messages.len();
                assert!(n <= limit.max(self.history_limit_max) as usize);
                assert!(
                    n > 0 || older.is_empty(),
                    "empty history page, older stored"
                );
                let want = &older[older.len() - n.min(older.len())..];
                let got: Vec<_> = messages
                    .iter()
                    .map(|m| (m.prev, m.version, &m.payload))
                    .collect();
                let want_: Vec<_> = want
                    .iter()
                    .map(|m| (m.prev, m.version, &m.payload))
                    .collect();
                assert_eq!(got, want_, "history page differs from the store");
                assert_eq!(more, older.len() > n, "history `more`");
            }
            ReceiverEvent::ReceiptWanted { stream, version }
                if avoiding(14)
                    && !self.committed.contains_key(&(stream, version))
                    && self.sent[&(stream, version)].qos == Qos::AtLeastOnce =>
            {
                // Known bug 14 (see `avoiding_known_bugs`): the app has no
                // receipt yet; it answers once it commits the message.
                self.wanted_early.insert((stream, version));
            }
            ReceiverEvent::ReceiptWanted { stream, version } => {
                let k = (stream, version);
                let r = self
                    .committed
                    .get(&k)
                    .unwrap_or_else(|| panic!("receipt wanted for {k:?}, never committed"))
                    .clone();
                // A later request in the same input may have made the
                // receiver drop this one for room (all its SIDs settled):
                // the sender asks again if it still waits.
                match self.rx.provide_receipt(stream, version, r) {
                    Ok(()) | Err(CommitError::NotAsked) => {}
                    Err(e) => panic!("provide_receipt after ReceiptWanted: {e:?}"),
                }
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    fn on_tx_event(&mut self, e: SenderEvent) {
        trace(&e);
        match e {
            SenderEvent::Acked {
                stream,
                version,
                receipt,
            } => {
                let k = (stream, version);
                *self.acked.entry(k).or_default() += 1;
                assert!(
                    self.settled_key(&k) <= self.sends.get(&k).copied().unwrap_or(0),
                    "acked {k:?} more often than sent"
                );
                // The promise (§1, §4.2): `Acked` only once the
                // receiving app committed the message — history copies and
                // expired package members included (they are `Skipped`).
                let committed = self.committed.get(&k).cloned().unwrap_or_else(|| {
                    panic!("acked {k:?}, which the receiving app never committed")
                });
                if self.sent[&k].wants_receipt {
                    // Exactly the receipt the app committed (a skipped copy
                    // settled with the remembered receipt included). Known
                    // bug 32: a history copy received again gets an empty
                    // one.
                    let bug_32 = avoiding(32)
                        && self.history_copies.contains_key(&k)
                        && receipt == Some(Bytes::new());
                    assert!(
                        receipt == Some(committed.clone()) || bug_32,
                        "{k:?} acked with receipt {receipt:?}, committed {committed:?}"
                    );
                } else {
                    assert_eq!(receipt, None, "{k:?} acked with a receipt nobody asked");
                }
            }
            SenderEvent::Skipped { stream, version } => {
                // §5.2 *Skipped*: the receiver's policy passed it over. In
                // this pair (no latest start, an honest store: no forks)
                // that is a member of an expired package or a history copy.
                let k = (stream, version);
                *self.skipped.entry(k).or_default() += 1;
                assert!(
                    self.settled_key(&k) <= self.sends.get(&k).copied().unwrap_or(0),
                    "skipped {k:?} more often than sent"
                );
                assert!(
                    self.expired.contains(&k) || self.history_copies.contains_key(&k),
                    "skipped {k:?}: neither an expired package's member nor a history copy"
                );
                assert!(
                    self.skipped[&k]
                        <= self.history_copies.get(&k).copied().unwrap_or(0)
                            + if self.expired.contains(&k) {
                                self.sends[&k]
                            } else {
                                0
                            },
                    "skipped {k:?} more often than it was copied into history pages"
                );
            }
            SenderEvent::Escalated(m) => {
                let k = key(&m);
                assert!(self.sends.contains_key(&k));
                self.escalated += 1;
                self.escalated_keys.insert(k);
                if m.qos == Qos::AtLeastOnce {
                    self.resend.push(m);
                }
            }
            SenderEvent::PeerDead { unacked } | SenderEvent::Closed { unacked } => {
                self.dead = true;
                self.handed_back += unacked.len();
            }
            SenderEvent::SyncRequested(req) => self.answer_sync(req),
            other => panic!("unexpected event {other:?}"),
        }
    }

    /// Both apps take their events: the receiving app stores deliveries, the
    /// sending app answers sync requests from its store. Returns whether
    /// anything happened.
    fn drain_events(&mut self) -> bool {
        let mut any = false;
        while let Some(e) = self.rx.poll_event() {
            any = true;
            self.on_rx_event(e);
        }
        while let Some(e) = self.tx.poll_event() {
            any = true;
            self.on_tx_event(e);
        }
        if self.healed && !self.dead {
            for m in std::mem::take(&mut self.resend) {
                any = true;
                self.send(m);
            }
        }
        any
    }

    /// The sending app reads a page from its store (PROTOCOL.md §4.5).
    fn answer_sync(&mut self, req: SyncRequest) {
        if self.dead {
            return;
        }
        let stored = self.store.get(&req.stream.0).cloned().unwrap_or_default();
        let limit = req.limit as usize;
        let (mut page, more): (Vec<Message>, bool) = match req.range {
            SyncRange::After(a) => {
                let after: Vec<_> = stored.into_iter().filter(|m| m.version > a).collect();
                (
                    after.iter().take(limit).cloned().collect(),
                    after.len() > limit,
                )
            }
            SyncRange::Latest | SyncRange::Before(_) => {
                let b = match req.range {
                    SyncRange::Before(b) => b,
                    _ => Version(u64::MAX),
                };
                let below: Vec<_> = stored.into_iter().filter(|m| m.version < b).collect();
                let from = below.len().saturating_sub(limit);
                (below[from..].to_vec(), from > 0)
            }
        };
        let history = matches!(req.range, SyncRange::Before(_));
        if history && avoiding(16) {
            // Known bug 16: a late history copy that wants a receipt is
            // never settled.
            for m in &mut page {
                m.wants_receipt = false;
            }
        }
        let pending = self.tx.pending();
        match self.tx.answer_sync(self.now, &req, &page, more) {
            Ok(()) => {
                // §5.1: a page message already on its way (unsettled in the
                // window, or queued by an earlier answer, same HISTORY flag)
                // is not queued twice: `sends` counts what was given (at
                // most what was queued per key), the total what was queued.
                let queued = self.tx.pending() - pending;
                assert!(
                    queued <= page.len(),
                    "answer_sync queued more than its page"
                );
                self.total_sends += queued;
                for m in &page {
                    let k = key(m);
                    *self.sends.entry(k).or_default() += 1;
                    if history {
                        *self.history_copies.entry(k).or_default() += 1;
                    }
                }
            }
            // The peer asks again.
            Err(SendError::Backpressure) => {
                trace(&("answer_sync: backpressure", &req, self.tx.usage()))
            }
            Err(e) => panic!("answer_sync: {e:?}"),
        }
    }

    fn apply(&mut self, op: &PairOp) {
        let pick =
            |link: &Vec<Bytes>, p: u8| (!link.is_empty()).then(|| usize::from(p) % link.len());
        match *op {
            PairOp::Send { stream, skip, kind } => {
                let skip = u64::from(skip % 3);
                match kind % 8 {
                    k @ 0..=3 => {
                        self.send_chained(u64::from(stream % 4), skip, |m| {
                            if k == 1 {
                                m.with_receipt()
                            } else {
                                m
                            }
                        });
                    }
                    k @ 4..=6 => {
                        let (s, qos) = if k == 6 {
                            (20, Qos::AtMostOnce)
                        } else {
                            (10 + u64::from(stream % 2), Qos::AtLeastOnce)
                        };
                        let n = self.next_version.entry(s).or_insert(0);
                        *n += 1;
                        let v = *n;
                        let mut m =
                            Message::new(StreamId(s), Version(v - 1), Version(v), payload(3, v))
                                .with_qos(qos);
                        if k == 5 {
                            m = m.with_receipt();
                        }
                        self.send(m);
                    }
                    _ => {
                        self.send_chained(u64::from(stream % 4), skip, Message::with_receipt);
                    }
                }
            }
            PairOp::Package { stream, n } => {
                let s = u64::from(stream % 4);
                let count = u32::from(n % 4) + 1;
                let first = self
                    .store
                    .get(&s)
                    .and_then(|v| v.last())
                    .map_or(0, |m| m.version.0)
                    + 1;
                let last = Version(first + u64::from(count) - 1);
                let id = self.next_package;
                self.next_package += 1;
                for index in 0..count {
                    let p = Package::new(id, index, count, last);
                    if !self.send_chained(s, 0, |m| m.with_package(p)) {
                        break;
                    }
                }
            }
            PairOp::Transmit { acks } => self.transmit(acks),
            PairOp::Deliver { acks, pick: p } | PairOp::Duplicate { acks, pick: p } => {
                let link = if acks {
                    &mut self.to_tx
                } else {
                    &mut self.to_rx
                };
                if let Some(i) = pick(link, p) {
                    let packet = if matches!(op, PairOp::Deliver { .. }) {
                        link.remove(i)
                    } else {
                        link[i].clone()
                    };
                    self.arrive(acks, packet);
                }
            }
            PairOp::Drop { acks, pick: p } => {
                let link = if acks {
                    &mut self.to_tx
                } else {
                    &mut self.to_rx
                };
                if let Some(i) = pick(link, p) {
                    link.remove(i);
                }
            }
            PairOp::Commit { pick: p, receipt } => {
                if !self.uncommitted.is_empty() {
                    self.commit(usize::from(p) % self.uncommitted.len(), receipt);
                }
            }
            PairOp::FetchHistory {
                stream,
                back,
                limit,
            } => {
                let s = u64::from(stream % 4);
                let versions: Vec<u64> = self
                    .store
                    .get(&s)
                    .into_iter()
                    .flatten()
                    .map(|m| m.version.0)
                    .collect();
                if !versions.is_empty() {
                    // A stored version: newer sends never fall below it.
                    let before = versions[versions.len() - 1 - usize::from(back) % versions.len()];
                    let limit = u32::from(limit % 6) + 1;
                    self.history.insert(s, (before, limit));
                    self.history_limit_max = self.history_limit_max.max(limit);
                    self.rx.fetch_history(StreamId(s), Version(before), limit);
                }
            }
            PairOp::Advance { ms } => {
                self.now = self.now + Duration::from_millis(u64::from(ms));
                self.timeout();
            }
            PairOp::Timeout => {
                let next = [self.tx.poll_timeout(), self.rx.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min();
                if let Some(t) = next {
                    self.now = self.now.max(t);
                }
                self.timeout();
            }
        }
        self.drain_events();
    }

    /// The link heals (what is in flight still arrives, nothing more is
    /// lost), the apps commit at once and resend escalated at-least-once
    /// messages, and the receiver resumes every stream (a reconnect's
    /// integrity check fetches tails that were escalated). Then both run
    /// until nothing is left to do. Returns false if a known bug stopped it
    /// (see [`avoiding_known_bugs`]).
    fn heal(&mut self) -> bool {
        self.healed = true;
        while !self.uncommitted.is_empty() {
            self.commit(0, true);
        }
        let streams: Vec<u64> = self.store.keys().copied().collect();
        for s in streams {
            let head = self.head.get(&s).copied().unwrap_or(0);
            self.rx.resume(StreamId(s), Version(head));
        }
        for round in 0.. {
            if round == HEAL_ROUNDS {
                panic!(
                    "no quiescence after healing (livelock): {} pending, {} held ({:?}, heads {:?}), deadlines {:?} {:?}, now {:?}, {:?}, {:?}",
                    self.tx.pending(),
                    self.rx.usage().held,
                    self.rx.usage(),
                    self.store.keys().map(|&s| (s, self.rx.head(StreamId(s)))).collect::<Vec<_>>(),
                    self.tx.stats(),
                    self.rx.stats(),
                    self.tx.poll_timeout(),
                    self.rx.poll_timeout(),
                    self.now,
                );
            }
            let mut busy = self.drain_events();
            if self.dead {
                // The connection is over (peer dead, e.g. after a long time
                // jump): nothing will answer the receiver's sync requests,
                // which it retries by design. `check_end` checks what is left.
                return true;
            }
            while !self.uncommitted.is_empty() {
                self.commit(0, true);
                busy = true;
            }
            for acks in [false, true] {
                self.transmit(acks);
                let link = std::mem::take(if acks {
                    &mut self.to_tx
                } else {
                    &mut self.to_rx
                });
                busy |= !link.is_empty();
                for p in link {
                    if round + 2 >= HEAL_ROUNDS {
                        trace(&decode_packet(&p, usize::MAX));
                    }
                    self.arrive(acks, p);
                }
            }
            if busy {
                continue;
            }
            let next = [self.tx.poll_timeout(), self.rx.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { break };
            self.now = self.now.max(next);
            self.timeout();
        }
        true
    }

    fn check_end(&self) {
        let acked: usize = self.acked.values().sum();
        let skipped: usize = self.skipped.values().sum();
        assert_eq!(
            acked + skipped + self.escalated + self.handed_back,
            self.total_sends,
            "a send neither acked, skipped, escalated nor handed back"
        );
        if self.dead {
            return;
        }
        assert_eq!(self.tx.pending(), 0);
        for (s, stored) in &self.store {
            let want: Vec<u64> = stored
                .iter()
                .filter(|m| !self.expired.contains(&key(m)))
                .map(|m| m.version.0)
                .collect();
            let got = self.delivered.get(s).cloned().unwrap_or_default();
            assert_eq!(
                got, want,
                "stream {s}: delivered != sent (less expired packages)"
            );
        }
        for (k, m) in &self.sent {
            match m.qos {
                // Each message is acked at least once, unless it was
                // escalated: a message the receiver got while its acks were
                // lost may escalate, and the sync after the head then has no
                // reason to send it again.
                // A member of an expired package ends `Skipped` instead:
                // the receiving app never stored it.
                Qos::ExactlyOnce => assert!(
                    self.acked.contains_key(k)
                        || self.escalated_keys.contains(k)
                        || (self.expired.contains(k) && self.skipped.contains_key(k)),
                    "{k:?} neither acked, escalated nor (expired) skipped"
                ),
                Qos::AtLeastOnce => {
                    assert!(
                        self.alo_delivered.contains_key(k),
                        "at-least-once {k:?} lost"
                    );
                    assert!(
                        self.acked.contains_key(k),
                        "at-least-once {k:?} never acked"
                    );
                }
                Qos::AtMostOnce => {}
            }
        }
    }
}

/// Target `pair_ops`: a Sender and a Receiver over a link that loses,
/// duplicates and reorders at the fuzzer's choice, with commits in any order,
/// time jumps, packages, receipts, all three QoS levels and history fetches;
/// the sending app answers every sync request from its store. After the
/// operations the link heals and both run to quiescence. Checked: every
/// delivery is a message sent; chained ones follow their stream's head
/// (exactly once, in order), package members come one after another to
/// their last; at the end each stream delivered exactly what was sent but
/// for expired packages; at least once is delivered at least once and never
/// more often than the app sent it; at most once never twice; history pages
/// equal the store's; no `Acked` before the app committed (history copies
/// aside), nor more often than sent, and a message sent with a receipt is
/// acked with exactly the receipt the app committed; every send ends acked,
/// escalated or handed back; valid packets are accepted; deadlines clear.
pub fn pair_ops(data: &[u8]) {
    let ops: Vec<PairOp> = read_ops(data);
    let mut pair = Pair::new();
    for op in &ops {
        pair.apply(op);
    }
    if pair.heal() {
        pair.check_end();
    }
}
