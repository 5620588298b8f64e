//! `receiver_hostile`: valid, sealed packets from a hostile sender, checked
//! against a model of what the receiver may deliver, ack and ask for.

use super::*;

fn hostile_stream(s: u8) -> StreamId {
    match s % 8 {
        7 => StreamId(u64::MAX),
        6 => StreamId(1 << 40),
        x => StreamId(u64::from(x)),
    }
}

/// A datagram seq a hostile sender picks, relative to the highest it wrote.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seq {
    Next,
    Back(u8),
    Ahead(u8),
    Any(Num),
}

impl Seq {
    fn get(self, top: u64) -> u64 {
        match self {
            Seq::Next => top,
            Seq::Back(x) => top.saturating_sub(u64::from(x)),
            Seq::Ahead(x) => top.saturating_add(u64::from(x)),
            Seq::Any(n) => n.get(),
        }
    }
    fn encode(self, e: &mut Enc) {
        match self {
            Seq::Next => e.variant(0, 4),
            Seq::Back(x) => e.variant(1, 4).u8(x),
            Seq::Ahead(x) => e.variant(2, 4).u8(x),
            Seq::Any(n) => e.variant(3, 4).num(n),
        };
    }
}

/// One step of a hostile sender (or of the receiving app).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxOp {
    /// A DATA frame with any SID, chain, stream and flags (package fields
    /// made to agree, so the packet stays valid).
    Data {
        sid: Num,
        stream: u8,
        prev: Num,
        gap: Num,
        len: u8,
        flags: u8,
        pkg: [u8; 3],
    },
    /// A DATA frame continuing the hostile sender's own chain for `stream`,
    /// with the next SID.
    Next {
        stream: u8,
        skip: u8,
        len: u8,
        receipt: bool,
    },
    /// A package continuing the own chain: `n` members, those in `drop`'s
    /// bits left out (incomplete), `conflict` naming a member whose id or
    /// last disagrees.
    Package {
        stream: u8,
        n: u8,
        drop: u8,
        conflict: u8,
    },
    /// An UNORDERED (at least once) DATA frame with the next SID.
    Unordered {
        stream: u8,
        version: u8,
        receipt: bool,
    },
    /// An earlier DATA frame again.
    Replay {
        pick: u8,
    },
    /// Answers the receiver's latest request for `stream` from the own
    /// chain: its DATA frames (HISTORY for `before`), then the SYNC_END.
    Answer {
        stream: u8,
        limit: u8,
        more: bool,
    },
    /// A SYNC_END with any mode and fields (made valid).
    SyncEnd {
        stream: u8,
        mode: u8,
        anchor: Num,
        first_prev: Num,
        span: Num,
        count: u8,
        more: bool,
    },
    Datagram {
        seq: Seq,
        stream: u8,
        version: u8,
    },
    /// An earlier DATAGRAM frame again.
    DatagramReplay {
        pick: u8,
    },
    Floor {
        resend: Num,
        settled: Num,
    },
    Ping,
    /// Seals the frames so far into a packet and hands it over.
    Flush,
    /// The app commits one delivered message, with a receipt or not.
    Commit {
        pick: u8,
        receipt: bool,
    },
    /// The app commits everything delivered.
    CommitAll,
    /// The app answers a `ReceiptWanted`.
    ProvideReceipt {
        pick: u8,
    },
    /// The app resumes a stream at a version.
    Resume {
        stream: u8,
        version: Num,
    },
    ResumeLatest {
        stream: u8,
        n: u8,
    },
    FetchHistory {
        stream: u8,
        before: Num,
        limit: u8,
    },
    SetContiguous {
        stream: u8,
        on: bool,
    },
    Advance {
        ms: u16,
    },
    /// Jump to the receiver's deadline.
    Timeout,
}

impl RxOp {
    pub fn encode(&self, e: &mut Enc) {
        const N: u32 = 21;
        match *self {
            RxOp::Data {
                sid,
                stream,
                prev,
                gap,
                len,
                flags,
                pkg,
            } => {
                e.variant(0, N)
                    .num(sid)
                    .u8(stream)
                    .num(prev)
                    .num(gap)
                    .u8(len)
                    .u8(flags)
                    .u8(pkg[0])
                    .u8(pkg[1])
                    .u8(pkg[2]);
            }
            RxOp::Next {
                stream,
                skip,
                len,
                receipt,
            } => {
                e.variant(1, N).u8(stream).u8(skip).u8(len).bool(receipt);
            }
            RxOp::Package {
                stream,
                n,
                drop,
                conflict,
            } => {
                e.variant(2, N).u8(stream).u8(n).u8(drop).u8(conflict);
            }
            RxOp::Unordered {
                stream,
                version,
                receipt,
            } => {
                e.variant(3, N).u8(stream).u8(version).bool(receipt);
            }
            RxOp::Replay { pick } => {
                e.variant(4, N).u8(pick);
            }
            RxOp::Answer {
                stream,
                limit,
                more,
            } => {
                e.variant(5, N).u8(stream).u8(limit).bool(more);
            }
            RxOp::SyncEnd {
                stream,
                mode,
                anchor,
                first_prev,
                span,
                count,
                more,
            } => {
                e.variant(6, N)
                    .u8(stream)
                    .u8(mode)
                    .num(anchor)
                    .num(first_prev)
                    .num(span)
                    .u8(count)
                    .bool(more);
            }
            RxOp::Datagram {
                seq,
                stream,
                version,
            } => {
                e.variant(7, N);
                seq.encode(e);
                e.u8(stream).u8(version);
            }
            RxOp::DatagramReplay { pick } => {
                e.variant(8, N).u8(pick);
            }
            RxOp::Floor { resend, settled } => {
                e.variant(9, N).num(resend).num(settled);
            }
            RxOp::Ping => {
                e.variant(10, N);
            }
            RxOp::Flush => {
                e.variant(11, N);
            }
            RxOp::Commit { pick, receipt } => {
                e.variant(12, N).u8(pick).bool(receipt);
            }
            RxOp::CommitAll => {
                e.variant(13, N);
            }
            RxOp::ProvideReceipt { pick } => {
                e.variant(14, N).u8(pick);
            }
            RxOp::Resume { stream, version } => {
                e.variant(15, N).u8(stream).num(version);
            }
            RxOp::ResumeLatest { stream, n } => {
                e.variant(16, N).u8(stream).u8(n);
            }
            RxOp::FetchHistory {
                stream,
                before,
                limit,
            } => {
                e.variant(17, N).u8(stream).num(before).u8(limit);
            }
            RxOp::SetContiguous { stream, on } => {
                e.variant(18, N).u8(stream).bool(on);
            }
            RxOp::Advance { ms } => {
                e.variant(19, N).u16(ms);
            }
            RxOp::Timeout => {
                e.variant(20, N);
            }
        }
    }
}

pub fn receiver_config() -> Config {
    Config {
        max_streams: 4,
        max_held_messages: 12,
        max_reorder_per_stream: 4,
        max_in_flight: 64,
        ack_every: 4,
        sync_page: 5,
        max_packet_size: 1024 + ID_LEN,
        max_receipts: 3,
        package_timeout: Duration::from_millis(500),
        ..Config::default()
    }
}

pub(crate) fn payload(len: u8, tag: u64) -> Bytes {
    Bytes::from(
        (0..len % 16)
            .map(|i| (tag as u8).wrapping_add(i))
            .collect::<Vec<u8>>(),
    )
}

/// A message as the checker compares it (every field `Message` has).
type MsgKey = (
    StreamId,
    Version,
    Version,
    Bytes,
    Option<Package>,
    Qos,
    bool,
);

fn mkey(m: &Message) -> MsgKey {
    (
        m.stream,
        m.prev,
        m.version,
        m.payload.clone(),
        m.package,
        m.qos,
        m.wants_receipt,
    )
}

/// What the receiving app has seen, checked as events arrive.
#[derive(Default)]
struct RxModel {
    /// Per stream: the last version delivered, resumed or skipped.
    head: HashMap<StreamId, Version>,
    delivered: HashSet<Key>,
    /// Delivered, not yet committed by the app (`true`: at least once).
    uncommitted: Vec<(Key, bool)>,
    /// At-least-once messages delivered and not committed.
    unordered_held: HashSet<Key>,
    /// Keys some UNORDERED frame carried.
    unordered_keys: HashSet<Key>,
    /// Whether some SID carried two different messages.
    sid_reused: bool,
    /// The receiver's `ReceiptWanted` table was full at some point, so it
    /// may have dropped requests (and asks again).
    receipt_requests_full: bool,
    /// Known bug 15 seen: the input stops.
    stopped: bool,
    /// The lowest `prev` a frame gave each message.
    lowest_prev: HashMap<Key, Version>,

    sid_keys: HashMap<u64, (Key, bool)>,
    /// Every message some live (non-HISTORY) DATA frame carried.
    sent: HashSet<MsgKey>,
    /// Every message some HISTORY DATA frame carried.
    history_sent: HashSet<MsgKey>,
    /// The package being delivered: (stream, id, last).
    pkg_run: Option<(StreamId, u64, Version)>,
    /// Streams started with `resume_latest` that have not moved yet, with
    /// the `first_prev`s of latest pages written for them.
    latest: HashMap<StreamId, HashSet<Version>>,
    /// Open history requests: before, limit.
    history: HashMap<StreamId, (Version, u32)>,
    /// Receipts the app gave, per message.
    receipts: HashMap<Key, HashSet<Bytes>>,
    /// Keys the app committed.
    committed: HashSet<Key>,
    /// `ReceiptWanted` not answered yet.
    wanted: Vec<Key>,
    /// Datagrams the replay window lets through, in order, not yet seen.
    datagrams_due: VecDeque<(StreamId, Version, Bytes)>,
    /// Per stream, the highest version the app declared stored by
    /// `resume` (§5.2: a message dropped by `resume` is committed, with an
    /// empty receipt if one is wanted).
    resumed: HashMap<StreamId, Version>,
}

impl RxModel {
    fn head(&self, s: StreamId) -> Version {
        self.head.get(&s).copied().unwrap_or(Version::ZERO)
    }

    /// `v` is where `s` stands. (A latest start's jump is reported by
    /// `Started` since issue 13: no position moves without an event.)
    fn at_head(&mut self, s: StreamId, v: Version) -> bool {
        v == self.head(s)
    }

    /// Checks one event; `rx_head` is the receiver's position of a stream
    /// now (at or past where it stood at the event).
    fn on_event(&mut self, e: ReceiverEvent, rx_head: impl Fn(StreamId) -> Version) {
        if self.stopped {
            return;
        }
        if let Some((s, id, last)) = self.pkg_run {
            let next = matches!(&e, ReceiverEvent::Deliver(m)
                if m.stream == s && m.package.is_some_and(|p| p.id == id && p.last == last));
            assert!(next, "package {id} on {s:?} interrupted by {e:?}");
        }
        match e {
            ReceiverEvent::Deliver(m) if m.qos == Qos::AtLeastOnce => {
                assert!(
                    self.sent.contains(&mkey(&m)),
                    "delivered {m:?}, which no UNORDERED frame carried"
                );
                let k = key(&m);
                assert!(
                    self.unordered_held.insert(k),
                    "at-least-once {k:?} delivered again before its commit"
                );
                self.uncommitted.push((k, true));
            }
            ReceiverEvent::Deliver(m) => {
                assert!(
                    self.at_head(m.stream, m.prev),
                    "delivered {m:?} does not follow the stream's head {:?}",
                    self.head(m.stream)
                );
                assert!(m.version > m.prev, "delivered {m:?}: version <= prev");
                assert!(
                    self.delivered.insert(key(&m)),
                    "delivered {:?} twice",
                    key(&m)
                );
                assert!(
                    self.sent.contains(&mkey(&m)),
                    "delivered {m:?}, which no frame carried"
                );
                self.latest.remove(&m.stream);
                self.head.insert(m.stream, m.version);
                self.uncommitted.push((key(&m), false));
                self.pkg_run = m
                    .package
                    .filter(|p| m.version < p.last)
                    .map(|p| (m.stream, p.id, p.last));
            }
            ReceiverEvent::Gap {
                stream,
                after,
                waiting_after,
            } => {
                assert!(
                    self.at_head(stream, after),
                    "gap on {stream:?} reported after {after:?}, head is {:?}",
                    self.head(stream)
                );
                assert!(
                    waiting_after > after,
                    "gap on {stream:?}: waiting after {waiting_after:?} <= head {after:?}"
                );
            }
            ReceiverEvent::PackageExpired { after, last, .. } if avoiding(15) && last <= after => {
                // Known bug 15: a stale package moves the head back; the
                // input stops here.
                self.stopped = true;
            }
            ReceiverEvent::PackageExpired {
                stream,
                after,
                last,
                received,
                count,
                ..
            } => {
                assert!(
                    self.at_head(stream, after),
                    "package on {stream:?} expired after {after:?}, head is {:?}",
                    self.head(stream)
                );
                assert!(
                    last > after,
                    "package expired through {last:?} <= {after:?}"
                );
                // `received` counts members that arrived, agreeing or not
                // (a member with another id or last is counted).
                assert!(received <= count, "package expired with {received}/{count}");
                self.latest.remove(&stream);
                self.head.insert(stream, last);
            }
            ReceiverEvent::History {
                stream,
                before,
                messages,
                ..
            } => {
                let (b, limit) = self
                    .history
                    .remove(&stream)
                    .unwrap_or_else(|| panic!("history for {stream:?}, never asked"));
                assert_eq!(before, b, "history for the wrong request");
                // PROTOCOL.md §5.1: a page collects up to
                // max(limit, max_reorder_per_stream) messages.
                assert!(
                    messages.len()
                        <= (limit as usize).max(receiver_config().max_reorder_per_stream),
                    "history past its bound"
                );
                for w in messages.windows(2) {
                    assert_eq!(w[1].prev, w[0].version, "history page not one chain");
                }
                for m in &messages {
                    assert!(m.version < before, "history {m:?} not before {before:?}");
                    assert!(
                        self.history_sent.contains(&mkey(m)),
                        "history {m:?}, which no HISTORY frame carried"
                    );
                }
            }
            ReceiverEvent::Started { stream, after } => {
                // §5.1 *Latest*: only for a stream `resume_latest` began
                // with no position, once a latest page's SYNC_END came: the
                // head jumps to that page's `first_prev`.
                let named = self.latest.get(&stream);
                assert!(
                    named.is_some_and(|a| a.contains(&after)),
                    "Started {{ {stream:?}, after {after:?} }}: no latest page of a latest start \
                     named it ({named:?})"
                );
                assert_eq!(
                    self.head(stream),
                    Version::ZERO,
                    "Started on {stream:?}, which has a position"
                );
                self.latest.remove(&stream);
                self.head.insert(stream, after);
            }
            ReceiverEvent::Datagram(m) => {
                let due = self.datagrams_due.pop_front();
                assert_eq!(
                    due,
                    Some((m.stream, m.version, m.payload.clone())),
                    "datagram delivered against the replay window"
                );
            }
            ReceiverEvent::ReceiptWanted { stream, version }
                if avoiding(14)
                    && self.unordered_keys.contains(&(stream, version))
                    && !self.committed.contains(&(stream, version)) =>
            {
                // Known bug 14: an at-least-once resend below the floors
                // (a FLOOR passed its SID) asks for a receipt never given.
            }
            ReceiverEvent::ReceiptWanted { stream, version } => {
                let k = (stream, version);
                // §5.2: committed by SID, or by version (at or below the
                // head: skipped versions too, by a latest start or an
                // expired package). A hostile sender that reuses a committed
                // SID for another message makes the receiver ask for that
                // one's receipt (it keeps no key per SID): not checked then.
                // A message whose chain forked below the head (dropped as
                // stale, its SID settled) is asked for too.
                let head = self.head(stream).max(rx_head(stream));
                let stale = self.lowest_prev.get(&k).is_some_and(|&p| p < head);
                assert!(
                    version <= head || stale || self.committed.contains(&k) || self.sid_reused,
                    "receipt wanted for {k:?}, never committed"
                );
                // Twice only once requests were dropped for room (the
                // table was full): the sender asked again.
                assert!(
                    !self.wanted.contains(&k) || self.receipt_requests_full,
                    "receipt wanted twice for {k:?}"
                );
                if !self.wanted.contains(&k) {
                    self.wanted.push(k);
                }
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// The hostile sender's own chain of a stream: what `Answer` pages from.
type Chain = Vec<Message>;

struct RxHarness {
    rx: Receiver,
    cfg: Config,
    now: Instant,
    model: RxModel,
    body: Vec<u8>,
    frames_sent: Vec<(u64, Message, bool)>,
    datagrams_sent: Vec<(u64, StreamId, u64, Bytes)>,
    /// One past the highest datagram seq written, and the receiver's window
    /// as PROTOCOL.md §5.2 describes it: top and the seqs let through.
    dgram_written: u64,
    dgram_top: u64,
    dgram_seen: HashSet<u64>,
    chains: HashMap<StreamId, Chain>,
    next_sid: u64,
    next_package: u64,
    /// The receiver's latest SYNC per stream: mode, anchor, limit.
    requests: HashMap<StreamId, (u8, u64, u32)>,
    /// SIDs sent with the RECEIPT flag, and the messages they carried;
    /// those of them sent as HISTORY.
    receipt_sids: HashMap<u64, HashSet<Key>>,
    /// Every key each SID carried, with or without the RECEIPT flag.
    carried: HashMap<u64, HashSet<Key>>,
    /// SIDs that carried a HISTORY copy with the RECEIPT flag (known bug
    /// 32).
    history_receipt_sids: HashSet<u64>,
    /// SIDs a hostile sender reused for another message (or for a history
    /// copy and a live one): the receiver keeps one state per SID, so one
    /// copy may be skipped and another committed (find 24's input).
    reused_sids: HashSet<u64>,
    /// Streams the app named (these may exceed `max_streams`).
    app_streams: BTreeSet<StreamId>,
    streams_seen: BTreeSet<StreamId>,
    /// The highest `settled` of a FLOOR handed over: the receiver forgets
    /// skipped SIDs below it (§5.2, *On FLOOR*).
    floor_settled: u64,
    /// SIDs some SKIPPED frame listed: settled without the app storing
    /// them, so never in a committed list (until the FLOOR passes them).
    skipped: BTreeSet<u64>,
}

impl RxHarness {
    fn new() -> RxHarness {
        let cfg = receiver_config();
        RxHarness {
            rx: Receiver::new(cfg.clone(), CONN),
            cfg,
            now: Instant::from_millis(1_000),
            model: RxModel::default(),
            body: Vec::new(),
            frames_sent: Vec::new(),
            datagrams_sent: Vec::new(),
            dgram_written: 0,
            dgram_top: 0,
            dgram_seen: HashSet::new(),
            chains: HashMap::new(),
            next_sid: 0,
            next_package: 0,
            requests: HashMap::new(),
            receipt_sids: HashMap::new(),
            carried: HashMap::new(),
            history_receipt_sids: HashSet::new(),
            reused_sids: HashSet::new(),
            app_streams: BTreeSet::new(),
            streams_seen: BTreeSet::new(),
            floor_settled: 0,
            skipped: BTreeSet::new(),
        }
    }

    /// Adds a frame to the packet being built, sending the packet first if
    /// the frame would not fit.
    fn push(&mut self, frame: Vec<u8>) {
        if self.body.len() + frame.len() > self.cfg.max_packet_size - wire::OVERHEAD {
            self.flush();
        }
        self.body.extend_from_slice(&frame);
    }

    fn data(&mut self, sid: u64, m: Message, history: bool) {
        trace(&(
            "DATA",
            sid,
            m.stream,
            m.prev,
            m.version,
            m.qos,
            m.wants_receipt,
            history,
        ));
        let mut f = Vec::new();
        put_data(&mut f, sid, &m, history);
        if m.qos == Qos::AtLeastOnce {
            self.model.unordered_keys.insert(key(&m));
        }
        let low = self.model.lowest_prev.entry(key(&m)).or_insert(m.prev);
        *low = (*low).min(m.prev);
        // A SID reused for another message, or for a history copy (which is
        // committed on arrival) and a live one.
        let id = (key(&m), history);
        if *self.model.sid_keys.entry(sid).or_insert(id) != id {
            self.model.sid_reused = true;
            self.reused_sids.insert(sid);
        }
        if history {
            self.model.history_sent.insert(mkey(&m));
        } else {
            self.model.sent.insert(mkey(&m));
        }
        self.carried.entry(sid).or_default().insert(key(&m));
        if m.wants_receipt {
            self.receipt_sids.entry(sid).or_default().insert(key(&m));
            if history {
                self.history_receipt_sids.insert(sid);
            }
        }
        self.streams_seen.insert(m.stream);
        self.frames_sent.push((sid, m, history));
        self.push(f);
    }

    fn next_sid(&mut self) -> u64 {
        self.next_sid += 1;
        self.next_sid - 1
    }

    fn datagram(&mut self, seq: u64, stream: StreamId, version: u64, payload: Bytes) {
        let mut f = Vec::new();
        put_datagram(&mut f, seq, stream.0, version, &payload);
        self.dgram_written = self.dgram_written.max(seq.saturating_add(1));
        self.datagrams_sent.push((seq, stream, version, payload));
        self.push(f);
    }

    /// Seals the frames so far and hands the packet over; a valid packet
    /// must be accepted.
    fn flush(&mut self) {
        if self.body.is_empty() {
            return;
        }
        let p = seal(&std::mem::take(&mut self.body));
        let frames = decode_packet(&p, self.cfg.max_packet_size).expect("harness wrote junk");
        for f in frames {
            match f {
                WireFrame::Datagram {
                    seq,
                    stream,
                    version,
                    payload,
                } => {
                    // §5.2: a replay window of 128 below `top`. Seq
                    // `u64::MAX` is dropped: one past it does not exist.
                    let fresh = seq != u64::MAX
                        && (seq >= self.dgram_top
                            || (self.dgram_top - seq <= 128 && !self.dgram_seen.contains(&seq)));
                    if fresh {
                        self.dgram_seen.insert(seq);
                        self.dgram_top = self.dgram_top.max(seq + 1);
                        self.model.datagrams_due.push_back((
                            StreamId(stream),
                            Version(version),
                            payload,
                        ));
                    }
                }
                WireFrame::SyncEnd {
                    stream,
                    mode: mode::LATEST,
                    first_prev,
                    ..
                } => {
                    if let Some(a) = self.model.latest.get_mut(&StreamId(stream)) {
                        a.insert(Version(first_prev));
                    }
                }
                WireFrame::Floor { settled, .. } => {
                    self.floor_settled = self.floor_settled.max(settled);
                }
                _ => {}
            }
        }
        self.rx
            .handle_input(self.now, p)
            .expect("valid packet rejected");
    }

    fn commit(&mut self, i: usize, with_receipt: bool) {
        let (k, _) = self.model.uncommitted.remove(i);
        // `commit(stream, version)` takes an at-least-once message of that
        // key first, whichever delivery the app meant.
        self.model.unordered_held.remove(&k);
        let receipt = if with_receipt {
            receipt_of(k)
        } else {
            Bytes::new()
        };
        self.model
            .receipts
            .entry(k)
            .or_default()
            .insert(receipt.clone());
        self.model.committed.insert(k);
        self.rx
            .commit_with_receipt(self.now, k.0, k.1, receipt)
            .expect("commit of a delivered message");
    }

    /// An `Answer` page from the own chain for the receiver's request.
    fn answer(&mut self, stream: StreamId, cap: u8, more_anyway: bool) {
        let Some(&(mode, anchor, limit)) = self.requests.get(&stream) else {
            return;
        };
        let chain = self.chains.get(&stream).cloned().unwrap_or_default();
        let n = (limit as usize).min(usize::from(cap % 8) + 1);
        let (page, more): (Vec<Message>, bool) = match mode {
            mode::AFTER => {
                let after: Vec<_> = chain.into_iter().filter(|m| m.version.0 > anchor).collect();
                let more = after.len() > n;
                (after.into_iter().take(n).collect(), more)
            }
            _ => {
                let below: Vec<_> = chain
                    .into_iter()
                    .filter(|m| mode == mode::LATEST || m.version.0 < anchor)
                    .collect();
                let more = below.len() > n;
                (below[below.len().saturating_sub(n)..].to_vec(), more)
            }
        };
        let empty_at = if mode == mode::AFTER { anchor } else { 0 };
        let first_prev = page.first().map_or(empty_at, |m| m.prev.0);
        let through = page.last().map_or(empty_at, |m| m.version.0);
        for m in &page {
            let sid = self.next_sid();
            self.data(sid, m.clone(), mode == mode::BEFORE);
        }
        let mut f = Vec::new();
        put_sync_end(
            &mut f,
            stream.0,
            mode,
            anchor,
            first_prev,
            through,
            page.len() as u64,
            more || more_anyway,
        );
        self.push(f);
    }

    /// Continues the own chain of `s` with `m`'s payload and flags.
    fn chain_next(&mut self, s: StreamId, skip: u64) -> (Version, Version) {
        let prev = self
            .chains
            .get(&s)
            .and_then(|c| c.last())
            .map_or(0, |m| m.version.0)
            .min(u64::MAX - 4);
        (Version(prev), Version(prev.saturating_add(1 + skip)))
    }

    fn apply(&mut self, i: usize, op: RxOp) {
        let now = self.now;
        match op {
            RxOp::Data {
                sid,
                stream,
                prev,
                gap,
                len,
                flags,
                pkg,
            } => {
                let prev = prev.get().min(u64::MAX - 1);
                let version = prev.saturating_add(1).saturating_add(gap.get());
                let s = hostile_stream(stream);
                let mut m =
                    Message::new(s, Version(prev), Version(version), payload(len, i as u64));
                if flags & flag::PACKAGE != 0 {
                    let count = u64::from(pkg[1] % 4) + 1;
                    let index = u64::from(pkg[2]) % count;
                    let after = count - 1 - index;
                    let last = version.checked_add(after + u64::from(pkg[0] % 2));
                    let last = if after == 0 { Some(version) } else { last };
                    if let Some(last) = last.filter(|&l| package_fits(version, index, count, l)) {
                        m = m.with_package(Package::new(
                            u64::from(pkg[0] / 2),
                            index as u32,
                            count as u32,
                            Version(last),
                        ));
                    }
                }
                if flags & flag::RECEIPT != 0 {
                    m = m.with_receipt();
                }
                if flags & flag::UNORDERED != 0 {
                    m = m.with_qos(Qos::AtLeastOnce);
                }
                self.data(sid.get(), m, flags & flag::HISTORY != 0);
            }
            RxOp::Next {
                stream,
                skip,
                len,
                receipt,
            } => {
                let s = hostile_stream(stream);
                let (prev, version) = self.chain_next(s, u64::from(skip % 3));
                let mut m = Message::new(s, prev, version, payload(len, i as u64));
                if receipt {
                    m = m.with_receipt();
                }
                self.chains.entry(s).or_default().push(m.clone());
                let sid = self.next_sid();
                self.data(sid, m, false);
            }
            RxOp::Package {
                stream,
                n,
                drop,
                conflict,
            } => {
                let s = hostile_stream(stream);
                let count = u32::from(n % 4) + 1;
                let (mut prev, first) = self.chain_next(s, 0);
                let last = Version(first.0 + u64::from(count) - 1);
                let id = self.next_package;
                self.next_package += 1;
                for index in 0..count {
                    let version = Version(prev.0 + 1);
                    let mut p = Package::new(id, index, count, last);
                    if u32::from(conflict % 8) == index {
                        if index + 1 < count && conflict & 8 != 0 {
                            p.last = Version(last.0 + 1);
                        } else {
                            p.id = id + 1_000;
                        }
                    }
                    let m = Message::new(s, prev, version, payload(1, u64::from(index)))
                        .with_package(p);
                    self.chains.entry(s).or_default().push(m.clone());
                    if drop & (1 << index) == 0 {
                        let sid = self.next_sid();
                        self.data(sid, m, false);
                    }
                    prev = version;
                }
            }
            RxOp::Unordered {
                stream,
                version,
                receipt,
            } => {
                let s = hostile_stream(stream);
                let v = u64::from(version) + 1;
                let mut m = Message::new(s, Version(v - 1), Version(v), payload(3, v))
                    .with_qos(Qos::AtLeastOnce);
                if receipt {
                    m = m.with_receipt();
                }
                let sid = self.next_sid();
                self.data(sid, m, false);
            }
            RxOp::Replay { pick } => {
                if !self.frames_sent.is_empty() {
                    let (sid, m, h) =
                        self.frames_sent[usize::from(pick) % self.frames_sent.len()].clone();
                    self.data(sid, m, h);
                }
            }
            RxOp::Answer {
                stream,
                limit,
                more,
            } => self.answer(hostile_stream(stream), limit, more),
            RxOp::SyncEnd {
                stream,
                mode,
                anchor,
                first_prev,
                span,
                count,
                more,
            } => {
                let m = mode % 3;
                let anchor = if m == mode::LATEST { 0 } else { anchor.get() };
                let count = u64::from(count % 8);
                let fp = first_prev.get().min(u64::MAX - 8);
                let through = if count == 0 {
                    fp
                } else {
                    fp.saturating_add(span.get().max(count))
                };
                let s = hostile_stream(stream);
                let mut f = Vec::new();
                put_sync_end(&mut f, s.0, m, anchor, fp, through, count, more);
                self.streams_seen.insert(s);
                self.push(f);
            }
            RxOp::Datagram {
                seq,
                stream,
                version,
            } => {
                let seq = seq.get(self.dgram_written);
                let p = Bytes::from(seq.to_le_bytes().to_vec());
                self.datagram(seq, hostile_stream(stream), u64::from(version), p);
            }
            RxOp::DatagramReplay { pick } => {
                if !self.datagrams_sent.is_empty() {
                    let (seq, s, v, p) =
                        self.datagrams_sent[usize::from(pick) % self.datagrams_sent.len()].clone();
                    self.datagram(seq, s, v, p);
                }
            }
            RxOp::Floor { resend, settled } => {
                let mut f = vec![kind::FLOOR];
                put_varint(&mut f, resend.get());
                put_varint(&mut f, settled.get().min(resend.get()));
                self.push(f);
            }
            RxOp::Ping => self.push(vec![kind::PING]),
            RxOp::Flush => self.flush(),
            RxOp::Commit { pick, receipt } => {
                if !self.model.uncommitted.is_empty() {
                    self.commit(usize::from(pick) % self.model.uncommitted.len(), receipt);
                }
            }
            RxOp::CommitAll => {
                while !self.model.uncommitted.is_empty() {
                    self.commit(0, true);
                }
            }
            RxOp::ProvideReceipt { pick } => {
                if !self.model.wanted.is_empty() {
                    let k = self
                        .model
                        .wanted
                        .remove(usize::from(pick) % self.model.wanted.len());
                    let r = receipt_of(k);
                    self.model.receipts.entry(k).or_default().insert(r.clone());
                    // Dropped for room meanwhile only once the table was
                    // full (see bug 28): then the late answer is refused.
                    match self.rx.provide_receipt(k.0, k.1, r) {
                        Ok(()) => {}
                        Err(CommitError::NotAsked) if self.model.receipt_requests_full => {}
                        Err(e) => panic!("receipt for a ReceiptWanted: {e:?}"),
                    }
                }
            }
            RxOp::Resume { stream, version } => {
                let s = hostile_stream(stream);
                // The app's store holds everything delivered: it may resume
                // at any version at or above what it committed.
                let v = Version(version.get());
                self.rx.resume(s, v);
                self.app_streams.insert(s);
                let r = self.model.resumed.entry(s).or_default();
                *r = (*r).max(v);
                self.model
                    .uncommitted
                    .retain(|&((us, uv), unordered)| unordered || us != s || uv > v);
                let head = self.model.head.entry(s).or_default();
                *head = (*head).max(v);
            }
            RxOp::ResumeLatest { stream, n } => {
                let s = hostile_stream(stream);
                if self.rx.head(s).unwrap_or_default() == Version::ZERO {
                    self.model.latest.entry(s).or_default();
                }
                self.app_streams.insert(s);
                self.rx.resume_latest(s, u32::from(n));
            }
            RxOp::FetchHistory {
                stream,
                before,
                limit,
            } => {
                let s = hostile_stream(stream);
                let limit = u32::from(limit).clamp(1, self.cfg.max_reorder_per_stream as u32);
                self.model.history.insert(s, (Version(before.get()), limit));
                self.app_streams.insert(s);
                self.rx.fetch_history(s, Version(before.get()), limit);
            }
            RxOp::SetContiguous { stream, on } => {
                let s = hostile_stream(stream);
                self.app_streams.insert(s);
                self.rx.set_contiguous(s, on);
            }
            RxOp::Advance { ms } => {
                self.now = now + Duration::from_millis(u64::from(ms));
                self.rx.handle_timeout(self.now);
                assert_deadline_after(self.rx.poll_timeout(), self.now, "Receiver");
            }
            RxOp::Timeout => {
                if let Some(t) = self.rx.poll_timeout() {
                    self.now = now.max(t);
                }
                self.rx.handle_timeout(self.now);
                assert_deadline_after(self.rx.poll_timeout(), self.now, "Receiver");
            }
        }
    }

    /// Takes the receiver's events and packets; checks them and the bounds.
    fn check(&mut self) {
        if self.rx.usage().receipts_wanted >= self.cfg.max_streams {
            self.model.receipt_requests_full = true;
        }
        while let Some(e) = self.rx.poll_event() {
            trace(&("EVENT", &e));
            let rx = &self.rx;
            self.model
                .on_event(e, |s| rx.head(s).unwrap_or(Version::ZERO));
        }
        assert!(
            self.model.datagrams_due.is_empty(),
            "datagrams the window lets through were not delivered: {:?}",
            self.model.datagrams_due
        );
        while let Some(p) = self.rx.poll_transmit(self.now) {
            for f in well_formed(&p, self.cfg.max_packet_size) {
                trace(&("WROTE", &f));
                self.check_written(f);
            }
        }
        let cfg = &self.cfg;
        assert!(
            self.rx.usage().held <= cfg.max_held_messages,
            "held {} > bound",
            self.rx.usage().held
        );
        let tracked = self
            .streams_seen
            .iter()
            .filter(|s| !self.app_streams.contains(s) && self.rx.head(**s).is_some())
            .count();
        assert!(
            tracked <= cfg.max_streams,
            "{tracked} streams tracked > bound"
        );
        if self.model.stopped {
            return;
        }
        // A stream's position moves only by delivery, package expiry, resume
        // or a latest start.
        let streams: BTreeSet<StreamId> = (self.model.head.keys())
            .chain(self.model.latest.keys())
            .copied()
            .collect();
        for s in streams {
            let Some(h) = self.rx.head(s) else { continue };
            if !self.model.at_head(s, h) {
                panic!(
                    "{s:?} stands at {h:?} without an event (model {:?})",
                    self.model.head(s)
                );
            }
        }
    }

    /// Whether live DATA frames sent for `s` chain from `head` to `to`
    /// (`prev` → `version`, every step above `head`): `to` can be the last
    /// version the receiver holds without a hole (§5.1, *Sync*).
    fn chain_reaches(&self, s: StreamId, head: Version, to: Version) -> bool {
        let mut next: HashMap<Version, Vec<Version>> = HashMap::new();
        for (_, m, history) in &self.frames_sent {
            if !history && m.stream == s && m.qos != Qos::AtLeastOnce && m.prev >= head {
                next.entry(m.prev).or_default().push(m.version);
            }
        }
        let mut seen = HashSet::new();
        let mut todo = vec![head];
        while let Some(v) = todo.pop() {
            if v == to {
                return true;
            }
            if seen.insert(v) {
                todo.extend(next.get(&v).into_iter().flatten().copied());
            }
        }
        false
    }

    fn check_written(&mut self, f: WireFrame) {
        match f {
            WireFrame::Skipped { ranges } => {
                // §4.9/§5.2: SIDs the receiver received (some DATA frame
                // carried them) and settled by its own policy, listed until
                // the FLOOR's `settled` passes them.
                for &(start, end) in &ranges {
                    for sid in start..end.min(start.saturating_add(4_096)) {
                        assert!(
                            self.carried.contains_key(&sid),
                            "SKIPPED lists SID {sid}, which no DATA frame carried"
                        );
                        assert!(
                            sid >= self.floor_settled,
                            "SKIPPED lists SID {sid}, below the FLOOR's settled {}",
                            self.floor_settled
                        );
                        self.skipped.insert(sid);
                    }
                }
                for w in ranges.windows(2) {
                    assert!(w[0].1 < w[1].0, "SKIPPED ranges adjacent or unordered");
                }
            }
            WireFrame::Ack {
                committed, room, ..
            } => {
                // §4.2: a skipped SID is never committed (the committed
                // floor stays below it until the FLOOR passes it).
                let (floor, ranges) = committed;
                let in_committed =
                    |sid: u64| sid < floor || ranges.iter().any(|&(a, b)| a <= sid && sid < b);
                if let Some(sid) = self.skipped.range(self.floor_settled..).find(|&&sid| {
                    in_committed(sid)
                            && !self.reused_sids.contains(&sid)
                            // Known bug 32: the empty RECEIPT for a history
                            // copy received again also commits its SID.
                            && !(avoiding(32) && self.history_receipt_sids.contains(&sid))
                }) {
                    panic!("SID {sid} was SKIPPED, then acked as committed");
                }
                // §4.2: room = max_held_messages − held.
                assert_eq!(
                    room,
                    self.cfg
                        .max_held_messages
                        .saturating_sub(self.rx.usage().held) as u64,
                    "ACK room"
                );
            }
            WireFrame::Sync {
                stream,
                mode,
                anchor,
                limit,
            } => {
                let s = StreamId(stream);
                match mode {
                    mode::AFTER => {
                        // §5.1: after the last version held without a hole
                        // from the head (the head, then buffered messages
                        // keyed by prev): a chain of frames sent leads there.
                        let head = self.rx.head(s).expect("sync for a stream not tracked");
                        assert!(
                            self.chain_reaches(s, head, Version(anchor)),
                            "sync for {s:?} after {anchor}: no chain of messages sent leads \
                             there from the head {head:?}"
                        );
                        assert_eq!(limit, self.cfg.sync_page);
                    }
                    mode::LATEST => {
                        assert!(self.app_streams.contains(&s), "latest sync unasked");
                        assert!(
                            (1..=self.cfg.max_reorder_per_stream as u32).contains(&limit),
                            "latest limit {limit}"
                        );
                    }
                    _ => {
                        let asked = self.model.history.get(&s).copied();
                        assert_eq!(
                            asked,
                            Some((Version(anchor), limit)),
                            "history sync for {s:?} not as asked"
                        );
                    }
                }
                self.requests.insert(s, (mode, anchor, limit));
            }
            WireFrame::Receipt { sid, receipt } => {
                let keys = self.receipt_sids.get(&sid);
                // §5.2 *Receipts* (issue 13): a receipt the app gave for a
                // key this SID carried — by commit, `provide_receipt`, or
                // remembered for the key when a copy of it was skipped or
                // dropped (settled as committed with it). A hostile peer
                // reusing a SID for copies of one key with and without the
                // flag may get it on the copy that did not ask (find 19;
                // the sender ignores it). Else only an empty one for a
                // message dropped by `resume` (the app says it is stored).
                // A skipped copy (expired package, latest start, HISTORY,
                // fork, passed-over version) gets none: its sender hears
                // `Skipped`.
                let given = self.carried.get(&sid).is_some_and(|ks| {
                    ks.iter().any(|k| {
                        self.model
                            .receipts
                            .get(k)
                            .is_some_and(|rs| rs.contains(&receipt))
                            || (receipt.is_empty()
                                && self.model.resumed.get(&k.0).is_some_and(|&r| k.1 <= r))
                    })
                });
                // Known bug 32: a HISTORY copy received again is answered
                // with an empty receipt.
                let bug_32 =
                    avoiding(32) && receipt.is_empty() && self.history_receipt_sids.contains(&sid);
                assert!(
                    given || bug_32,
                    "RECEIPT {receipt:?} for SID {sid}: not a receipt the app gave for {keys:?}"
                );
            }
            other => panic!("receiver wrote {other:?}"),
        }
    }
}

/// Target `receiver_hostile`: held messages and tracked streams stay within
/// the configured bounds; every delivery follows its stream's head (so no
/// (stream, version) twice and versions strictly increase) and was carried
/// by some frame, package members come together and in order; a stream's
/// position moves only by an event, resume or a latest start; gaps,
/// package expiries and history pages are consistent with what was sent and
/// asked; datagrams pass exactly as PROTOCOL.md's replay window says;
/// at-least-once messages are not delivered again while uncommitted; every
/// RECEIPT written carries a receipt the app gave for that SID's message;
/// SYNC requests are from the head (after) or as asked (latest, before);
/// valid packets are accepted; deadlines clear.
pub fn receiver_hostile(data: &[u8]) {
    let ops: Vec<RxOp> = read_ops(data);
    let mut h = RxHarness::new();
    for (i, op) in ops.iter().chain([RxOp::Flush].iter()).enumerate() {
        h.apply(i, *op);
        h.check();
        if h.model.stopped {
            break;
        }
    }
}
