//! `sender_hostile`: acks and sync requests from a hostile receiver, checked
//! against a model of what the sender owes.

use super::*;

/// A SID a hostile receiver names: relative to what was sent, or anything.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sid {
    Below(u8),
    Above(u8),
    Any(Num),
}

impl Sid {
    fn get(self, sent_end: u64) -> u64 {
        match self {
            Sid::Below(x) => sent_end.saturating_sub(u64::from(x)),
            Sid::Above(x) => sent_end.saturating_add(u64::from(x)),
            Sid::Any(n) => n.get(),
        }
    }
    fn encode(self, e: &mut Enc) {
        match self {
            Sid::Below(x) => e.variant(0, 3).u8(x),
            Sid::Above(x) => e.variant(1, 3).u8(x),
            Sid::Any(n) => e.variant(2, 3).num(n),
        };
    }
}

/// A range list as a hostile receiver writes it.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct Ranges {
    pub floor: Sid,
    /// How many of `pairs` to write.
    pub n: u8,
    pub pairs: [(Num, Num); 4],
    /// A count that disagrees with the pairs written.
    pub count: Option<u16>,
}

impl Ranges {
    fn encode(&self, e: &mut Enc) {
        self.floor.encode(e);
        e.u8(self.n);
        for (a, b) in self.pairs {
            e.num(a).num(b);
        }
        e.bool(self.count.is_some());
        if let Some(c) = self.count {
            e.u16(c);
        }
    }

    /// Writes the list; returns the `[start, end)` ranges it means, or
    /// `None` if the count is off (any result allowed) and `Some(None)` if
    /// it must be rejected as `Inconsistent`.
    fn write(&self, buf: &mut Vec<u8>, sent_end: u64) -> Option<Option<RangeSet>> {
        let floor = self.floor.get(sent_end);
        let pairs: Vec<(u64, u64)> = self.pairs[..usize::from(self.n % 5)]
            .iter()
            .map(|(a, b)| (a.get(), b.get()))
            .collect();
        let count = self.count.map_or(pairs.len() as u64, u64::from);
        put_range_list(buf, floor, count, &pairs);
        if count != pairs.len() as u64 {
            return None;
        }
        Some(ranges_of(floor, count, &pairs).map(|r| (floor, r)))
    }
}

/// A skip list as a hostile receiver writes it (PROTOCOL.md §4.9).
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct Skips {
    /// How many of `pairs` to write.
    pub n: u8,
    /// `(gap, len - 1)`; a `Sid` gap for the first range, so it can name
    /// what was sent.
    pub first: (Sid, Num),
    pub pairs: [(Num, Num); 3],
    /// A count that disagrees with the pairs written.
    pub count: Option<u16>,
}

impl Skips {
    fn encode(&self, e: &mut Enc) {
        e.u8(self.n);
        self.first.0.encode(e);
        e.num(self.first.1);
        for (a, b) in self.pairs {
            e.num(a).num(b);
        }
        e.bool(self.count.is_some());
        if let Some(c) = self.count {
            e.u16(c);
        }
    }

    /// Writes the list; returns the `[start, end)` ranges it means, or
    /// `None` if the count is off (any result allowed) and `Some(None)` if
    /// it must be rejected as `Inconsistent`.
    fn write(&self, buf: &mut Vec<u8>, sent_end: u64) -> Option<Option<Vec<(u64, u64)>>> {
        let n = usize::from(self.n % 5);
        let mut pairs = Vec::new();
        if n > 0 {
            pairs.push((self.first.0.get(sent_end), self.first.1.get()));
        }
        pairs.extend(
            self.pairs[..n.saturating_sub(1)]
                .iter()
                .map(|(a, b)| (a.get(), b.get())),
        );
        let count = self.count.map_or(pairs.len() as u64, u64::from);
        put_skip_list(buf, count, &pairs);
        if count != pairs.len() as u64 {
            return None;
        }
        Some(skip_ranges_of(count, &pairs))
    }
}

#[allow(clippy::large_enum_variant)] // built and used one at a time
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub enum TxOp {
    /// The app sends the next message of a stream; `kind` picks the QoS and
    /// whether it wants a receipt.
    Send {
        stream: u8,
        len: u8,
        kind: u8,
    },
    /// The app sends a package of `n % 4 + 1` members.
    Package {
        stream: u8,
        n: u8,
    },
    /// Everything the sender has goes on the wire (and is read back).
    Transmit,
    Ack {
        delay: Num,
        received: Ranges,
        committed: Ranges,
        /// The receiver's room (§4.2; flow control).
        room: Num,
    },
    /// A packet of `n` SYNC frames (`mode` 3 and up are invalid).
    Sync {
        stream: Num,
        mode: u8,
        anchor: Num,
        limit: Num,
        n: u8,
    },
    /// The app answers a request it read (or one it made up) from its store;
    /// `bad` breaks the page's chain.
    AnswerSync {
        pick: u8,
        start: u8,
        count: u8,
        more: bool,
        bad: u8,
    },
    /// A packet of `n` RECEIPT frames for one SID.
    Receipt {
        sid: Sid,
        len: u8,
        n: u8,
    },
    Advance {
        ms: u16,
    },
    Timeout,
    Close,
    /// A SKIPPED frame (§4.9), alone or (`ack`) before an ACK of the SIDs
    /// sent, received and nothing committed, as a receiver writes them.
    Skipped {
        list: Skips,
        ack: bool,
    },
}

impl TxOp {
    pub fn encode(&self, e: &mut Enc) {
        const N: u32 = 11;
        match self {
            TxOp::Send { stream, len, kind } => {
                e.variant(0, N).u8(*stream).u8(*len).u8(*kind);
            }
            TxOp::Package { stream, n } => {
                e.variant(1, N).u8(*stream).u8(*n);
            }
            TxOp::Transmit => {
                e.variant(2, N);
            }
            TxOp::Ack {
                delay,
                received,
                committed,
                room,
            } => {
                e.variant(3, N).num(*delay);
                received.encode(e);
                committed.encode(e);
                e.num(*room);
            }
            TxOp::Sync {
                stream,
                mode,
                anchor,
                limit,
                n,
            } => {
                e.variant(4, N)
                    .num(*stream)
                    .u8(*mode)
                    .num(*anchor)
                    .num(*limit)
                    .u8(*n);
            }
            TxOp::AnswerSync {
                pick,
                start,
                count,
                more,
                bad,
            } => {
                e.variant(5, N)
                    .u8(*pick)
                    .u8(*start)
                    .u8(*count)
                    .bool(*more)
                    .u8(*bad);
            }
            TxOp::Receipt { sid, len, n } => {
                e.variant(6, N);
                sid.encode(e);
                e.u8(*len).u8(*n);
            }
            TxOp::Advance { ms } => {
                e.variant(7, N).u16(*ms);
            }
            TxOp::Timeout => {
                e.variant(8, N);
            }
            TxOp::Close => {
                e.variant(9, N);
            }
            TxOp::Skipped { list, ack } => {
                e.variant(10, N);
                list.encode(e);
                e.bool(*ack);
            }
        }
    }
}

pub fn sender_config() -> Config {
    Config {
        max_in_flight: 8,
        max_queued: 16,
        max_retransmits: 2,
        max_streams: 4,
        max_packet_size: 256 + ID_LEN,
        peer_dead_after: Duration::from_secs(20),
        ..Config::default()
    }
}

/// A page end the sender owes: the frame, and the page's messages not
/// written since the answer.
type OwedEnd = (WireFrame, HashSet<Key>);

/// What the sending app has seen, checked as events arrive.
#[derive(Default)]
struct TxModel {
    /// Every message given to `send` or `answer_sync`, by key.
    sent: HashMap<Key, Message>,
    /// How often each was given (sends and answers).
    sends: HashMap<Key, usize>,
    total_sends: usize,
    /// Per chained stream (0..3), the app's store.
    store: BTreeMap<u64, Vec<Message>>,
    /// Messages that went out in some DATA frame; the SID each DATA frame
    /// had.
    transmitted: HashSet<Key>,
    /// Keys written as DATA, with the HISTORY flag they carried: the
    /// sender dedups a sync answer against copies of the same flag.
    transmitted_as: HashSet<(Key, bool)>,
    sid_key: HashMap<u64, Key>,
    /// Keys answered in a `before` page (sent with HISTORY).
    history: HashSet<Key>,
    /// RECEIPT frames accepted, by the key of their SID.
    receipts: HashMap<Key, HashSet<Bytes>>,
    acked: HashMap<Key, usize>,
    escalated: HashMap<Key, usize>,
    /// `Skipped` events per key, and the keys of SIDs some accepted SKIPPED
    /// frame named (§5.3 *On SKIPPED*).
    skipped: HashMap<Key, usize>,
    skip_named: HashSet<Key>,
    n_acked: usize,
    n_escalated: usize,
    n_skipped: usize,
    /// At-most-once: given, written (in seq order), queued.
    datagrams: HashSet<Key>,
    datagrams_written: HashSet<Key>,
    next_seq: u64,
    /// SYNC_ENDs owed, in answer order.
    owed_ends: VecDeque<OwedEnd>,
    /// The `room` of the last ACK accepted (§5.3 flow control; `None`:
    /// no ACK yet, nothing limited).
    room: Option<u64>,
    /// Requests read and not answered.
    requests: Vec<SyncRequest>,
    handed_back: usize,
    closed: bool,
}

impl TxModel {
    fn settled(&self) -> usize {
        self.n_acked + self.n_escalated + self.n_skipped
    }

    /// How often `k` was settled, by any outcome.
    fn settled_key(&self, k: &Key) -> usize {
        [&self.acked, &self.escalated, &self.skipped]
            .iter()
            .map(|m| m.get(k).copied().unwrap_or(0))
            .sum()
    }

    fn gave(&mut self, m: &Message) {
        let k = key(m);
        if let Some(old) = self.sent.get(&k) {
            assert_eq!(old, m, "harness: two messages with one key");
        }
        self.sent.insert(k, m.clone());
        *self.sends.entry(k).or_default() += 1;
        self.total_sends += 1;
    }

    fn on_event(&mut self, e: SenderEvent, sync_requests: &mut usize) {
        match e {
            SenderEvent::Acked {
                stream,
                version,
                receipt,
            } => {
                let k = (stream, version);
                assert!(self.transmitted.contains(&k), "acked {k:?}, never sent");
                *self.acked.entry(k).or_default() += 1;
                assert!(
                    self.settled_key(&k) <= self.sends[&k],
                    "acked {k:?} more often than sent (or after escalating or skipping it)"
                );
                self.n_acked += 1;
                if self.sent[&k].wants_receipt {
                    let r = receipt.unwrap_or_else(|| panic!("{k:?} acked without its receipt"));
                    assert!(
                        self.receipts.get(&k).is_some_and(|rs| rs.contains(&r)),
                        "{k:?} acked with receipt {r:?}, which no RECEIPT frame carried"
                    );
                } else {
                    assert_eq!(receipt, None, "{k:?} acked with a receipt nobody asked");
                }
            }
            SenderEvent::Escalated(m) => {
                let k = key(&m);
                assert!(self.transmitted.contains(&k), "escalated {k:?}, never sent");
                assert_eq!(self.sent.get(&k), Some(&m), "escalated a different message");
                *self.escalated.entry(k).or_default() += 1;
                assert!(
                    self.settled_key(&k) <= self.sends[&k],
                    "escalated {k:?} too often"
                );
                self.n_escalated += 1;
            }
            SenderEvent::Skipped { stream, version } => {
                // §5.3 *On SKIPPED*: only for a SID a SKIPPED frame named,
                // never more often than sent; no receipt (none to carry).
                let k = (stream, version);
                assert!(self.transmitted.contains(&k), "skipped {k:?}, never sent");
                assert!(
                    self.skip_named.contains(&k),
                    "skipped {k:?}, which no SKIPPED frame named"
                );
                *self.skipped.entry(k).or_default() += 1;
                assert!(
                    self.settled_key(&k) <= self.sends[&k],
                    "skipped {k:?} more often than sent (or after acking or escalating it)"
                );
                self.n_skipped += 1;
            }
            SenderEvent::PeerDead { unacked } | SenderEvent::Closed { unacked } => {
                assert!(!self.closed, "closed twice");
                self.closed = true;
                for u in &unacked {
                    let k = key(&u.message);
                    assert_eq!(
                        self.sent.get(&k),
                        Some(&u.message),
                        "handed back a stranger"
                    );
                    assert_ne!(u.message.qos, Qos::AtMostOnce, "handed back a datagram");
                    if u.state != UnackedState::NeverSent {
                        assert!(
                            self.transmitted.contains(&k),
                            "{k:?} handed back as {:?}, never sent",
                            u.state
                        );
                    }
                }
                self.handed_back = unacked.len();
                assert_eq!(
                    self.settled() + self.handed_back,
                    self.total_sends,
                    "messages lost on close"
                );
            }
            SenderEvent::SyncRequested(req) => {
                *sync_requests += 1;
                self.requests.push(req);
                if self.requests.len() > 16 {
                    self.requests.remove(0);
                }
            }
            other => panic!("unexpected event {other:?}"),
        }
    }

    /// Checks one frame the sender wrote.
    fn written(&mut self, f: WireFrame, sent_end: &mut u64) {
        match f {
            WireFrame::Data { sid, msg, history } => {
                let k = key(&msg);
                assert_eq!(
                    self.sent.get(&k),
                    Some(&msg),
                    "DATA SID {sid} is no message the app gave (flags or fields differ)"
                );
                assert!(
                    !history || self.history.contains(&k),
                    "{k:?} written as HISTORY, never in a before page"
                );
                if let Some(old) = self.sid_key.insert(sid, k) {
                    assert_eq!(old, k, "SID {sid} carried two messages");
                }
                *sent_end = (*sent_end).max(sid + 1);
                self.transmitted.insert(k);
                self.transmitted_as.insert((k, history));
                for (_, keys) in self.owed_ends.iter_mut() {
                    keys.remove(&k);
                }
            }
            WireFrame::Datagram {
                seq,
                stream,
                version,
                payload,
            } => {
                assert_eq!(seq, self.next_seq, "datagram seqs not consecutive");
                self.next_seq += 1;
                let k = (StreamId(stream), Version(version));
                assert!(self.datagrams.contains(&k), "datagram {k:?} never sent");
                assert_eq!(self.sent[&k].payload, payload);
                assert!(
                    self.datagrams_written.insert(k),
                    "datagram {k:?} written twice"
                );
            }
            end @ WireFrame::SyncEnd { .. } => {
                // Markers of different pages may pass each other (each
                // waits for its own page only), so find the one it answers.
                let at = self
                    .owed_ends
                    .iter()
                    .position(|(owed, _)| *owed == end)
                    .unwrap_or_else(|| {
                        panic!("{end:?} answers nothing owed: {:?}", self.owed_ends)
                    });
                let Some((owed, unwritten)) = self.owed_ends.remove(at) else {
                    unreachable!("position found above")
                };
                // §5.1: once none of the page's messages waits for the
                // window. Flow control may still hold them (they have SIDs);
                // without it (no ACK yet, or room for a whole window) they
                // are all written first, as before issue 13.
                let limited = self.room.is_some_and(|r| r < sender_config().max_in_flight);
                // A latest page's end goes at once (it says where the
                // stream starts; the peer holds the page until it knows).
                let latest =
                    matches!(owed, WireFrame::SyncEnd { mode, .. } if mode == mode::LATEST);
                assert!(
                    unwritten.is_empty() || limited || latest,
                    "SYNC_END written before its page's {unwritten:?}"
                );
            }
            WireFrame::Floor { .. } | WireFrame::Ping => {}
            other => panic!("sender wrote {other:?}"),
        }
    }
}

/// Target `sender_hostile`: every `Acked` is for a message transmitted,
/// never more often than it was given (nor after its escalation), and
/// carries exactly a receipt some RECEIPT frame gave when the message asked
/// for one (`None` otherwise); `pending()` is exactly what was given and not
/// settled; every DATA frame is a message the app gave, flags included, and
/// one SID always names one message; datagrams go out once each with
/// consecutive seqs; each SYNC_END follows its whole page and says what
/// `answer_sync` was given; a bad page is `BadChain`; an ACK, SYNC or
/// RECEIPT is accepted or rejected exactly as PROTOCOL.md §4/§5.1 says, and
/// a rejected packet changes nothing; at most `max_streams` unread sync
/// requests; `min_rto <= rto() <= max_rto`; close hands back everything
/// unsettled.
pub fn sender_hostile(data: &[u8]) {
    let ops: Vec<TxOp> = read_ops(data);
    let cfg = sender_config();
    let mut tx = Sender::new(cfg.clone(), CONN);
    let mut model = TxModel::default();
    let mut now = Instant::from_millis(1_000);
    // Next version per stream (chained 0..3, at least once 10.., datagrams 20..).
    let mut heads: HashMap<u64, u64> = HashMap::new();
    let mut next_package = 0u64;
    let mut sent_end = 0u64;
    // A few messages in flight before the hostile part starts.
    let setup = [
        TxOp::Send {
            stream: 0,
            len: 1,
            kind: 0,
        },
        TxOp::Send {
            stream: 1,
            len: 2,
            kind: 2,
        },
        TxOp::Send {
            stream: 0,
            len: 3,
            kind: 3,
        },
        TxOp::Transmit,
    ];
    for op in setup.iter().chain(ops.iter()) {
        let mut sync_requests = 0;
        match op {
            TxOp::Send { stream, len, kind } => {
                let (qos, receipt) = match kind % 6 {
                    0 | 1 => (Qos::ExactlyOnce, false),
                    2 => (Qos::ExactlyOnce, true),
                    3 => (Qos::AtLeastOnce, false),
                    4 => (Qos::AtLeastOnce, true),
                    _ => (Qos::AtMostOnce, false),
                };
                let s = u64::from(stream % 3)
                    + match qos {
                        Qos::ExactlyOnce => 0,
                        Qos::AtLeastOnce => 10,
                        Qos::AtMostOnce => 20,
                    };
                let prev = heads.get(&s).copied().unwrap_or(0);
                let mut m = Message::new(
                    StreamId(s),
                    Version(prev),
                    Version(prev + 1),
                    payload(*len, prev),
                )
                .with_qos(qos);
                if receipt {
                    m = m.with_receipt();
                }
                send_checked(&mut tx, now, m, &mut model, &mut heads);
            }
            TxOp::Package { stream, n } => {
                let s = u64::from(stream % 3);
                let count = u32::from(n % 4) + 1;
                let first = heads.get(&s).copied().unwrap_or(0) + 1;
                let last = Version(first + u64::from(count) - 1);
                for index in 0..count {
                    let v = first + u64::from(index);
                    let m = Message::new(StreamId(s), Version(v - 1), Version(v), payload(1, v))
                        .with_package(Package::new(next_package, index, count, last));
                    if !send_checked(&mut tx, now, m, &mut model, &mut heads) {
                        break;
                    }
                }
                next_package += 1;
            }
            TxOp::Transmit => {
                while let Some(p) = tx.poll_transmit(now) {
                    for f in well_formed(&p, cfg.max_packet_size) {
                        model.written(f, &mut sent_end);
                    }
                }
            }
            TxOp::Ack {
                delay,
                received,
                committed,
                room,
            } => {
                let mut body = vec![kind::ACK];
                put_varint(&mut body, delay.get());
                let r = received.write(&mut body, sent_end);
                let c = committed.write(&mut body, sent_end);
                put_varint(&mut body, room.get());
                // §5.1: decode errors first, then a closed sender, then SIDs
                // never transmitted (received list before committed).
                let expected = match (r, c) {
                    (Some(Some(r)), Some(Some(c))) => Some(if model.closed {
                        Err(InputError::Closed)
                    } else {
                        let unsent = [r, c].into_iter().find_map(|(floor, ranges)| {
                            let end = ranges.last().map_or(floor, |x| x.1).max(floor);
                            (end > sent_end).then(|| InputError::AckForUnsentSid(end - 1))
                        });
                        unsent.map_or(Ok(()), Err)
                    }),
                    (Some(None), _) | (Some(Some(_)), Some(None)) => {
                        Some(Err(InputError::Malformed(CodecError::Inconsistent)))
                    }
                    _ => None,
                };
                let result = input_checked(&mut tx, now, &body, &mut model);
                if let Some(expected) = expected {
                    assert_eq!(result, expected, "ACK handled against PROTOCOL.md §5.1");
                }
                if result.is_ok() {
                    model.room = Some(room.get());
                }
            }
            TxOp::Sync {
                stream,
                mode,
                anchor,
                limit,
                n,
            } => {
                let m = match mode % 8 {
                    x @ 0..=2 => x,
                    3..=5 => mode % 3,
                    6 => 3,
                    _ => *mode,
                };
                let mut f = vec![kind::SYNC];
                put_varint(&mut f, stream.get());
                f.push(m);
                // Latest takes anchor 0, mostly.
                let anchor = if m == mode::LATEST && mode & 0x80 == 0 {
                    0
                } else {
                    anchor.get()
                };
                put_varint(&mut f, anchor);
                put_varint(&mut f, limit.get());
                let range = match (m, anchor) {
                    (mode::AFTER, a) => Some(SyncRange::After(Version(a))),
                    (mode::LATEST, 0) => Some(SyncRange::Latest),
                    (mode::BEFORE, a) => Some(SyncRange::Before(Version(a))),
                    _ => None,
                };
                let valid = range.is_some() && limit.get() <= u64::from(u32::MAX);
                // As many as fit in one packet.
                let fit = (cfg.max_packet_size - wire::OVERHEAD) / f.len();
                let body = f.repeat(usize::from(n % 16 + 1).min(fit));
                let result = input_checked(&mut tx, now, &body, &mut model);
                let expected = if !valid {
                    Err(InputError::Malformed(CodecError::Inconsistent))
                } else if model.closed {
                    Err(InputError::Closed)
                } else {
                    Ok(())
                };
                assert_eq!(result, expected, "SYNC handled against PROTOCOL.md");
                while let Some(e) = tx.poll_event() {
                    if let SenderEvent::SyncRequested(req) = &e {
                        let want = SyncRequest {
                            stream: StreamId(stream.get()),
                            range: range.unwrap(),
                            limit: limit.get() as u32,
                        };
                        assert_eq!(*req, want, "SyncRequested differs from the SYNC frame");
                    }
                    model.on_event(e, &mut sync_requests);
                }
                assert!(
                    sync_requests <= cfg.max_streams,
                    "{sync_requests} sync requests unread"
                );
            }
            TxOp::AnswerSync {
                pick,
                start,
                count,
                more,
                bad,
            } => {
                let req = if model.requests.is_empty() {
                    SyncRequest {
                        stream: StreamId(u64::from(*pick % 4)),
                        range: SyncRange::After(Version(u64::from(*start % 4))),
                        limit: 5,
                    }
                } else {
                    model
                        .requests
                        .remove(usize::from(*pick) % model.requests.len())
                };
                let stored = model.store.get(&req.stream.0).cloned().unwrap_or_default();
                let from = usize::from(*start) % (stored.len() + 1);
                let to = (from + usize::from(count % 6)).min(stored.len());
                let mut page = stored[from..to].to_vec();
                let bad = bad % 6 == 0;
                let broken = bad
                    && if page.len() >= 2 {
                        page.swap(0, 1);
                        true
                    } else if let Some(m) = model.store.values().flatten().next() {
                        if m.stream != req.stream {
                            page.push(m.clone());
                            true
                        } else {
                            false
                        }
                    } else {
                        false
                    };
                let before = tx.pending();
                let r = tx.answer_sync(now, &req, &page, *more);
                if model.closed && !page.is_empty() {
                    assert_eq!(r, Err(SendError::Closed), "answer_sync on a closed sender");
                } else if broken {
                    assert_eq!(
                        r,
                        Err(SendError::BadChain),
                        "answer_sync took a broken page"
                    );
                } else if r == Err(SendError::Backpressure) {
                    assert_eq!(tx.pending(), before, "a refused answer changed the sender");
                } else {
                    assert_eq!(r, Ok(()), "answer_sync");
                }
                if r.is_ok() {
                    let history = matches!(req.range, SyncRange::Before(_));
                    let on_way: HashSet<Key> = page
                        .iter()
                        .map(key)
                        .filter(|k| {
                            model.transmitted_as.contains(&(*k, history))
                                && model.settled_key(k) < model.sends.get(k).copied().unwrap_or(0)
                        })
                        .collect();
                    for m in &page {
                        model.gave(m);
                        if history {
                            model.history.insert(key(m));
                        }
                    }
                    // §5.1: a page message already on its way (unsettled in
                    // the window, or queued by an earlier answer, with the
                    // same HISTORY flag) is not queued twice. Per key,
                    // `sends` counts what was given (a bound); the total is
                    // what was queued.
                    if !model.closed {
                        let queued = tx.pending() - before;
                        assert!(
                            queued <= page.len(),
                            "answer_sync queued more than its page"
                        );
                        model.total_sends -= page.len() - queued;
                    }
                    let (mode, anchor, empty_at) = match req.range {
                        SyncRange::After(v) => (mode::AFTER, v.0, v.0),
                        SyncRange::Latest => (mode::LATEST, 0, 0),
                        SyncRange::Before(v) => (mode::BEFORE, v.0, 0),
                    };
                    let end = WireFrame::SyncEnd {
                        stream: req.stream.0,
                        mode,
                        anchor,
                        first_prev: page.first().map_or(empty_at, |m| m.prev.0),
                        through: page.last().map_or(empty_at, |m| m.version.0),
                        count: page.len() as u64,
                        more: *more,
                        // This target answers with `answer_sync`: never a
                        // TRIMMED frame.
                        trimmed: None,
                    };
                    if !model.closed {
                        // A message already on its way (transmitted, a copy
                        // unsettled, same HISTORY flag) is not queued again.
                        let owed = page
                            .iter()
                            .map(key)
                            .filter(|k| !on_way.contains(k))
                            .collect();
                        // The same page answered again while its marker
                        // is still queued gets no second marker.
                        if !model.owed_ends.iter().any(|(e, _)| *e == end) {
                            model.owed_ends.push_back((end, owed));
                        }
                    }
                }
            }
            TxOp::Receipt { sid, len, n } => {
                let sid = sid.get(sent_end);
                let receipt = payload(*len, sid).repeat(usize::from(*len / 16) + 1);
                let mut f = Vec::new();
                put_receipt(&mut f, sid, &receipt);
                let fit = ((cfg.max_packet_size - wire::OVERHEAD) / f.len()).max(1);
                let body = f.repeat(usize::from(n % 4 + 1).min(fit));
                let expected = if body.len() + wire::OVERHEAD > cfg.max_packet_size {
                    None
                } else if model.closed {
                    Some(Err(InputError::Closed))
                } else if sid >= sent_end {
                    Some(Err(InputError::AckForUnsentSid(sid)))
                } else {
                    Some(Ok(()))
                };
                let result = input_checked(&mut tx, now, &body, &mut model);
                if let Some(expected) = expected {
                    assert_eq!(result, expected, "RECEIPT handled against PROTOCOL.md");
                }
                if result.is_ok() {
                    if let Some(k) = model.sid_key.get(&sid) {
                        model
                            .receipts
                            .entry(*k)
                            .or_default()
                            .insert(Bytes::from(receipt));
                    }
                }
            }
            TxOp::Advance { ms } => {
                now = now + Duration::from_millis(u64::from(*ms));
                sender_timeout(&mut tx, now);
            }
            TxOp::Timeout => {
                if let Some(t) = tx.poll_timeout() {
                    now = now.max(t);
                }
                sender_timeout(&mut tx, now);
            }
            TxOp::Close => tx.close(),
            TxOp::Skipped { list, ack } => {
                let mut body = vec![kind::SKIPPED];
                let ranges = list.write(&mut body, sent_end);
                if *ack {
                    // What a receiver writes after it: everything sent
                    // received, nothing more committed, room to spare.
                    body.push(kind::ACK);
                    put_varint(&mut body, 0);
                    put_range_list(&mut body, sent_end, 0, &[]);
                    put_range_list(&mut body, 0, 0, &[]);
                    put_varint(&mut body, 64);
                }
                // §5.1: decode errors, a closed sender, then a last `end`
                // past one beyond the highest SID sent.
                let expected = match &ranges {
                    Some(None) => Some(Err(InputError::Malformed(CodecError::Inconsistent))),
                    Some(Some(_)) if model.closed => Some(Err(InputError::Closed)),
                    Some(Some(r)) => Some(match r.last() {
                        Some(&(_, end)) if end > sent_end => {
                            Err(InputError::AckForUnsentSid(end - 1))
                        }
                        _ => Ok(()),
                    }),
                    None => None,
                };
                let result = input_checked(&mut tx, now, &body, &mut model);
                if let Some(expected) = expected {
                    assert_eq!(result, expected, "SKIPPED handled against PROTOCOL.md §5.1");
                }
                if result.is_ok() && *ack {
                    model.room = Some(64);
                }
                if result.is_ok() {
                    // The keys the frame named, as the independent decoder
                    // reads it (a count that disagrees with the pairs
                    // written is read as whatever it decodes to), before
                    // their events are taken.
                    let frames = decode_packet(&seal(&body), usize::MAX).unwrap_or_default();
                    for f in frames {
                        if let WireFrame::Skipped { ranges } = f {
                            for (sid, k) in &model.sid_key {
                                if ranges.iter().any(|&(a, b)| a <= *sid && *sid < b) {
                                    model.skip_named.insert(*k);
                                }
                            }
                        }
                    }
                }
            }
        }
        while let Some(e) = tx.poll_event() {
            trace(&e);
            model.on_event(e, &mut sync_requests);
        }
        trace(&(op, now, tx.poll_timeout(), tx.pending(), tx.stats()));
        if model.closed {
            model.owed_ends.clear();
        }
        assert_eq!(tx.stats().acked as usize, model.n_acked);
        assert_eq!(tx.stats().escalated as usize, model.n_escalated);
        assert_eq!(tx.stats().skipped as usize, model.n_skipped);
        assert_eq!(tx.stats().datagrams as usize, model.datagrams_written.len());
        if model.closed {
            assert!(tx.is_closed());
            assert_eq!(tx.pending(), 0);
        } else {
            assert_eq!(
                tx.pending(),
                model.total_sends - model.settled(),
                "pending() != sent - settled"
            );
        }
        assert!(tx.pending() <= cfg.max_in_flight as usize + cfg.max_queued);
        let rto = tx.rto();
        assert!(
            rto >= cfg.min_rto && rto <= cfg.max_rto,
            "rto {rto:?} out of bounds"
        );
    }
}

/// Sends `m` as the app would; returns whether the sender took it.
fn send_checked(
    tx: &mut Sender,
    now: Instant,
    m: Message,
    model: &mut TxModel,
    heads: &mut HashMap<u64, u64>,
) -> bool {
    let cfg = sender_config();
    let s = m.stream.0;
    let v = m.version.0;
    match tx.send(now, m.clone()) {
        Ok(()) => {
            heads.insert(s, v);
            if m.qos == Qos::AtMostOnce {
                model.datagrams.insert(key(&m));
                model.sent.insert(key(&m), m);
            } else {
                model.gave(&m);
                if m.qos == Qos::ExactlyOnce {
                    model.store.entry(s).or_default().push(m);
                }
            }
            true
        }
        Err(SendError::Backpressure) => {
            if m.qos == Qos::AtMostOnce {
                let queued = model.datagrams.len() - model.datagrams_written.len();
                assert!(
                    queued >= cfg.max_queued,
                    "datagram backpressure at {queued}"
                );
            } else {
                // The local queue is full (settled SIDs may still hold
                // window slots below the oldest unsettled one).
                assert!(
                    tx.pending() >= cfg.max_queued,
                    "backpressure at {}",
                    tx.pending()
                );
            }
            false
        }
        Err(SendError::Closed) => {
            assert!(model.closed);
            false
        }
        Err(e) => panic!("send: {e:?}"),
    }
}

/// Hands `body` to the sender; a rejected packet must change nothing.
fn input_checked(
    tx: &mut Sender,
    now: Instant,
    body: &[u8],
    model: &mut TxModel,
) -> Result<(), InputError> {
    let mut ignored = 0;
    while let Some(e) = tx.poll_event() {
        model.on_event(e, &mut ignored);
    }
    let before = tx_view(tx);
    let result = tx.handle_input(now, seal(body));
    if result.is_err() {
        assert_eq!(
            tx_view(tx),
            before,
            "rejected packet ({result:?}) changed the sender"
        );
        assert_eq!(
            tx.poll_event(),
            None,
            "rejected packet ({result:?}) raised an event"
        );
    }
    result
}
