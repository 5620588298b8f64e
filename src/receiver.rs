//! The receiving half: SID dedup window, per-stream version chains with a
//! bounded reorder buffer, and acks that follow the app's commits.
//!
//! A message is *received* once it is held here (delivered or buffered):
//! the sender stops retransmitting. It is *committed* only when the app says
//! it is durably stored ([`Receiver::commit`]); only then does the ack tell
//! the sender it is safe.

use crate::config::Config;
use crate::error::{CommitError, InputError};
use crate::frame::{self, Frame};
use crate::message::{Message, StreamId, Version};
use crate::packet::{self, PacketWriter};
use crate::sid_set::{Membership, SidSet};
use crate::time::Instant;
use alloc::collections::BTreeSet;
use alloc::collections::VecDeque;
use bytes::{BufMut, Bytes, BytesMut};
use hashbrown::HashMap;

/// What the receiver reports to the app.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiverEvent {
    /// The next message of its stream: in version order, never twice. Store
    /// it, then call [`Receiver::commit`].
    Deliver(Message),
    /// A later message of `stream` has waited `Config::gap_wait` for its
    /// predecessor: something after `after` is missing, not just late. The
    /// stream's position stays at `after`; fetch what follows it (sync).
    /// Reported once per position of the stream.
    Gap {
        /// The stream with the hole.
        stream: StreamId,
        /// The last version delivered; the next one is missing.
        after: Version,
        /// The `prev` of the earliest message waiting beyond the hole.
        waiting_after: Version,
    },
}

/// Counters for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Messages delivered to the app.
    pub delivered: u64,
    /// Frames recognised as duplicates (by SID or by version) and not delivered.
    pub duplicates: u64,
    /// Frames dropped unacknowledged because a bound was reached.
    pub dropped_full: u64,
    /// Frames whose chain contradicts what the stream already holds.
    pub chain_conflicts: u64,
    /// Ack frames written.
    pub acks_sent: u64,
}

struct Held {
    version: Version,
    sid: Option<u64>,
    committed: bool,
}

#[derive(Default)]
struct StreamState {
    /// The last version delivered (or resumed): the chain's head.
    head: Version,
    /// Delivered and not yet committed, ascending by version.
    uncommitted: VecDeque<Held>,
    /// Out-of-order messages keyed by the version they follow.
    buffered: HashMap<Version, (Message, Option<u64>)>,
    /// The armed gap timer and the head it was armed for.
    gap_timer: Option<(Instant, Version)>,
    /// The head a gap was last reported for: report once per position.
    gap_reported: Option<Version>,
    /// A sync in progress for this stream.
    sync: Option<SyncState>,
    /// When the current sync request is retried.
    sync_timer: Option<Instant>,
}

/// Fetching a stream's messages after its head, page by page.
#[derive(Clone, Copy)]
struct SyncState {
    /// A request waits to be written.
    due: bool,
    /// Started by a gap (ends when the gap closes) rather than by resume
    /// (ends only when the sender says nothing more follows).
    for_gap: bool,
    /// Requests written so far, for the retry backoff.
    attempts: u32,
    /// The last page's end marker: its last version and whether more follow.
    end: Option<(Version, bool)>,
}

enum Accepted {
    /// Held for the first time.
    New,
    /// Held for the first time while the stream is syncing: check progress.
    NewWhileSyncing,
    /// Already held, not committed yet: ack receipt only.
    Pending,
    /// Already committed: ack receipt and commit.
    Committed,
    /// Not held (a bound was reached or the chain contradicts): no ack.
    Dropped,
}

/// The receiving half of a connection. See the crate docs for the run loop.
pub struct Receiver {
    config: Config,
    streams: HashMap<StreamId, StreamState>,
    /// Armed gap timers, earliest first (one per stream at most).
    gap_timers: BTreeSet<(Instant, StreamId)>,
    /// Armed sync retry timers, earliest first.
    sync_timers: BTreeSet<(Instant, StreamId)>,
    /// Streams whose sync request waits to be written.
    sync_due: VecDeque<StreamId>,
    received: SidSet,
    committed: SidSet,
    held: usize,
    highest_arrival: Instant,
    ack_pending: bool,
    ack_immediate: bool,
    ack_deadline: Option<Instant>,
    ack_count: u32,
    events: VecDeque<ReceiverEvent>,
    writer: PacketWriter,
    /// Decoded frames of the packet being handled (capacity reused).
    scratch: alloc::vec::Vec<Frame>,
    stats: ReceiverStats,
}

impl Receiver {
    /// A receiver for one connection.
    pub fn new(config: Config) -> Receiver {
        Receiver {
            streams: HashMap::new(),
            scratch: alloc::vec::Vec::new(),
            gap_timers: BTreeSet::new(),
            sync_timers: BTreeSet::new(),
            sync_due: VecDeque::new(),
            received: SidSet::new(config.max_in_flight),
            // Commits can trail receipts by a window while a FLOOR is in flight.
            committed: SidSet::new(config.max_in_flight.saturating_mul(2)),
            held: 0,
            highest_arrival: Instant::ZERO,
            ack_pending: false,
            ack_immediate: false,
            ack_deadline: None,
            ack_count: 0,
            events: VecDeque::new(),
            writer: PacketWriter::new(config.max_packet_size),
            stats: ReceiverStats::default(),
            config,
        }
    }

    /// Restores a stream's position from the app's store after a restart:
    /// `last_committed` is the highest version up to which every message of
    /// the stream is stored. Earlier versions are duplicates from now on.
    /// Positions only move forward; a lower value is ignored.
    pub fn resume(&mut self, stream: StreamId, last_committed: Version) {
        let st = self.streams.entry(stream).or_default();
        // The app says everything up to `last_committed` is stored: delivered
        // messages up to there count as committed.
        while let Some(h) = st.uncommitted.front() {
            if h.version > last_committed {
                break;
            }
            if let (Some(sid), false) = (h.sid, h.committed) {
                // Owed to the sender now; resume has no clock, so send at once.
                if self.committed.insert(sid) {
                    self.ack_pending = true;
                    self.ack_immediate = true;
                }
            }
            st.uncommitted.pop_front();
            self.held -= 1;
        }
        // Integrity check: whatever the app missed while away comes by sync.
        self.start_sync(stream, false);
        let Some(st) = self.streams.get_mut(&stream) else {
            return;
        };
        if last_committed <= st.head {
            return;
        }
        st.head = last_committed;
        let before = st.buffered.len();
        st.buffered.retain(|_, (m, _)| m.version > last_committed);
        self.held -= before - st.buffered.len();
        drain_buffered(st, &mut self.events, &mut self.stats);
        if st.buffered.is_empty() {
            disarm_gap(st, stream, &mut self.gap_timers);
        }
    }

    /// The app has durably stored exactly this delivered message: it may now
    /// be acknowledged. Commits may come in any order; committing again is a
    /// no-op.
    pub fn commit(
        &mut self,
        now: Instant,
        stream: StreamId,
        version: Version,
    ) -> Result<(), CommitError> {
        let st = self
            .streams
            .get_mut(&stream)
            .ok_or(CommitError::UnknownStream)?;
        // Apps usually commit in delivery order: try the front first.
        let found = match st.uncommitted.front() {
            Some(h) if h.version == version => Ok(0),
            _ => st.uncommitted.binary_search_by_key(&version, |h| h.version),
        };
        match found {
            Ok(i) => {
                let h = &mut st.uncommitted[i];
                if !h.committed {
                    h.committed = true;
                    if let Some(sid) = h.sid {
                        self.committed.insert(sid);
                    }
                }
                while st.uncommitted.front().is_some_and(|h| h.committed) {
                    st.uncommitted.pop_front();
                    self.held -= 1;
                }
                self.ack_later(now);
                Ok(())
            }
            Err(_) if version <= st.head => Ok(()),
            Err(_) => Err(CommitError::NotDelivered),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> ReceiverStats {
        self.stats
    }

    /// Messages held: buffered out of order plus delivered and uncommitted.
    pub fn held(&self) -> usize {
        self.held
    }

    /// The last version delivered (or resumed) on `stream`.
    pub fn head(&self, stream: StreamId) -> Option<Version> {
        self.streams.get(&stream).map(|s| s.head)
    }

    /// Takes one packet from the peer's sender.
    pub fn handle_input(&mut self, now: Instant, packet: Bytes) -> Result<(), InputError> {
        let body = packet::open(&packet, self.config.max_packet_size)?;
        let mut frames = core::mem::take(&mut self.scratch);
        let checked = frame::decode_all(&body, &mut frames, Self::check_frame);
        if let Err(e) = checked {
            self.scratch = frames;
            return Err(e);
        }
        for f in frames.drain(..) {
            self.on_frame(now, f);
        }
        self.scratch = frames;
        Ok(())
    }

    pub(crate) fn check_frame(f: &Frame) -> Result<(), InputError> {
        match f {
            Frame::Ack(_) => Err(InputError::UnexpectedFrame(frame::kind::ACK)),
            Frame::Sync { .. } => Err(InputError::UnexpectedFrame(frame::kind::SYNC)),
            _ => Ok(()),
        }
    }

    pub(crate) fn on_frame(&mut self, now: Instant, f: Frame) {
        match f {
            Frame::Data { sid, msg } => self.on_data(now, sid, msg),
            Frame::Floor { resend, settled } => {
                self.received.raise_floor(resend);
                self.committed.raise_floor(settled);
                self.ack_later(now);
            }
            Frame::Ping => self.ack_now(),
            Frame::SyncEnd {
                stream,
                through,
                more,
            } => {
                if let Some(st) = self.streams.get_mut(&stream) {
                    if let Some(sync) = st.sync.as_mut() {
                        sync.end = Some((through, more));
                        self.sync_progress(stream);
                    }
                }
            }
            Frame::Ack(_) | Frame::Sync { .. } => {}
        }
    }

    /// Starts (or restarts) fetching `stream`'s messages after its head.
    fn start_sync(&mut self, stream: StreamId, for_gap: bool) {
        let Some(st) = self.streams.get_mut(&stream) else {
            return;
        };
        let sync = st.sync.get_or_insert(SyncState {
            due: false,
            for_gap,
            attempts: 0,
            end: None,
        });
        sync.for_gap &= for_gap;
        sync.end = None;
        if !sync.due {
            sync.due = true;
            self.sync_due.push_back(stream);
        }
    }

    /// After a page end or a delivery: once the head reached the page's
    /// end, ask for the next page or finish.
    fn sync_progress(&mut self, stream: StreamId) {
        let Some(st) = self.streams.get_mut(&stream) else {
            return;
        };
        let Some(sync) = st.sync else {
            return;
        };
        let next_page = match sync.end {
            // A gap closed by a late message needs no answer.
            None if sync.for_gap && st.buffered.is_empty() => false,
            None => return,
            // The page's messages may still be on their way.
            Some((through, _)) if st.head < through => return,
            Some((_, more)) => more,
        };
        if next_page {
            // A fresh request, a fresh backoff.
            if let Some(sync) = st.sync.as_mut() {
                sync.attempts = 0;
            }
            self.start_sync(stream, sync.for_gap);
        } else {
            st.sync = None;
            if let Some(at) = st.sync_timer.take() {
                self.sync_timers.remove(&(at, stream));
            }
        }
    }

    /// Whether a sync request waits to be written.
    pub(crate) fn wants_sync(&self) -> bool {
        !self.sync_due.is_empty()
    }

    fn ack_now(&mut self) {
        self.ack_pending = true;
        self.ack_immediate = true;
    }

    fn ack_later(&mut self, now: Instant) {
        self.ack_pending = true;
        self.ack_count += 1;
        if self.ack_count >= self.config.ack_every {
            self.ack_immediate = true;
        } else if self.ack_deadline.is_none() {
            self.ack_deadline = Some(now + self.config.ack_delay);
        }
    }

    fn on_data(&mut self, now: Instant, sid: u64, msg: Message) {
        let sid = match self.received.membership(sid) {
            Membership::In => {
                self.stats.duplicates += 1;
                self.ack_now();
                return;
            }
            Membership::Beyond => {
                self.stats.dropped_full += 1;
                return;
            }
            Membership::Out => Some(sid),
            Membership::Below => None,
        };
        let stream = msg.stream;
        let accepted = self.accept(now, msg, sid);
        if matches!(accepted, Accepted::NewWhileSyncing) {
            self.sync_progress(stream);
        }
        match accepted {
            Accepted::Dropped => return,
            Accepted::New | Accepted::NewWhileSyncing => {}
            Accepted::Pending | Accepted::Committed => self.stats.duplicates += 1,
        }
        let Some(sid) = sid else {
            // Below the floor: a resend of something acked before (the ack
            // was lost) or given up on. Either way the sender wants an ack.
            self.ack_now();
            return;
        };
        if matches!(accepted, Accepted::Committed) {
            self.committed.insert(sid);
        }
        let gap = sid > self.received.end();
        self.received.insert(sid);
        if sid + 1 == self.received.end() {
            self.highest_arrival = now;
        }
        if gap || !matches!(accepted, Accepted::New | Accepted::NewWhileSyncing) {
            // Out of order or a duplicate: tell the sender at once, so it
            // can fast-retransmit or stop resending.
            self.ack_now();
        } else {
            self.ack_later(now);
        }
    }

    fn accept(&mut self, now: Instant, msg: Message, sid: Option<u64>) -> Accepted {
        let stream = msg.stream;
        let full = self.streams.len() >= self.config.max_streams;
        let st = match self.streams.entry(msg.stream) {
            hashbrown::hash_map::Entry::Occupied(o) => o.into_mut(),
            hashbrown::hash_map::Entry::Vacant(_) if full => {
                self.stats.dropped_full += 1;
                return Accepted::Dropped;
            }
            hashbrown::hash_map::Entry::Vacant(v) => v.insert(StreamState::default()),
        };
        if msg.version <= st.head {
            return match st
                .uncommitted
                .binary_search_by_key(&msg.version, |h| h.version)
            {
                Ok(i) => {
                    let h = &mut st.uncommitted[i];
                    if h.committed {
                        Accepted::Committed
                    } else if h.sid.is_none() || sid.is_none() || h.sid == sid {
                        h.sid = h.sid.or(sid);
                        Accepted::Pending
                    } else {
                        // Another SID already waits for this commit; this
                        // copy is acked as a duplicate once it is committed.
                        Accepted::Dropped
                    }
                }
                Err(_) => Accepted::Committed,
            };
        }
        if msg.prev < st.head {
            self.stats.chain_conflicts += 1;
            return Accepted::Dropped;
        }
        if let Some((m, s)) = st.buffered.get_mut(&msg.prev) {
            if m.version != msg.version {
                self.stats.chain_conflicts += 1;
                return Accepted::Dropped;
            }
            if s.is_none() || sid.is_none() || *s == sid {
                *s = s.or(sid);
                return Accepted::Pending;
            }
            return Accepted::Dropped;
        }
        let in_order = msg.prev == st.head;
        if self.held >= self.config.max_held_messages
            || (!in_order && st.buffered.len() >= self.config.max_reorder_per_stream)
        {
            self.stats.dropped_full += 1;
            return Accepted::Dropped;
        }
        self.held += 1;
        if in_order {
            deliver(st, msg, sid, &mut self.events, &mut self.stats);
            drain_buffered(st, &mut self.events, &mut self.stats);
        } else {
            st.buffered.insert(msg.prev, (msg, sid));
        }
        update_gap(st, stream, now, self.config.gap_wait, &mut self.gap_timers);
        if st.sync.is_some() {
            Accepted::NewWhileSyncing
        } else {
            Accepted::New
        }
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout)
    /// has work; `None` when nothing is waiting on time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ack = self.ack_deadline.filter(|_| !self.ack_immediate);
        let gap = self.gap_timers.first().map(|&(at, _)| at);
        let sync = self.sync_timers.first().map(|&(at, _)| at);
        [ack, gap, sync].into_iter().flatten().min()
    }

    /// Runs the timers due at `now`. Harmless when called early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ack_deadline.is_some_and(|d| d <= now) {
            self.ack_deadline = None;
            self.ack_immediate = true;
        }
        while let Some(&(at, stream)) = self.gap_timers.first() {
            if at > now {
                break;
            }
            self.gap_timers.pop_first();
            let Some(st) = self.streams.get_mut(&stream) else {
                continue;
            };
            st.gap_timer = None;
            st.gap_reported = Some(st.head);
            if let Some(waiting_after) = st.buffered.keys().min().copied() {
                self.events.push_back(ReceiverEvent::Gap {
                    stream,
                    after: st.head,
                    waiting_after,
                });
                self.start_sync(stream, true);
            }
        }
        while let Some(&(at, stream)) = self.sync_timers.first() {
            if at > now {
                break;
            }
            self.sync_timers.pop_first();
            if let Some(st) = self.streams.get_mut(&stream) {
                st.sync_timer = None;
                if let Some(sync) = st.sync {
                    self.start_sync(stream, sync.for_gap);
                }
            }
        }
    }

    /// Whether an ack is owed, due now or (with `piggyback`) at all.
    pub(crate) fn wants_ack(&self, now: Instant, piggyback: bool) -> bool {
        self.ack_pending
            && (self.ack_immediate || piggyback || self.ack_deadline.is_some_and(|d| d <= now))
    }

    /// Writes an owed ACK frame and due SYNC requests that fit under `limit`.
    pub(crate) fn write_frames(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
        limit: usize,
        piggyback: bool,
    ) {
        if self.wants_ack(now, piggyback) {
            self.write_ack(now, buf, limit);
        }
        while let Some(&stream) = self.sync_due.front() {
            if buf.len() + frame::SYNC_MAX_LEN > limit {
                break;
            }
            self.sync_due.pop_front();
            let Some(st) = self.streams.get_mut(&stream) else {
                continue;
            };
            let Some(sync) = st.sync.as_mut().filter(|s| s.due) else {
                continue;
            };
            sync.due = false;
            let backoff = 1u32 << sync.attempts.min(6);
            sync.attempts += 1;
            frame::put_sync(buf, stream, st.head, u64::from(self.config.sync_page));
            if let Some(at) = st.sync_timer.take() {
                self.sync_timers.remove(&(at, stream));
            }
            let at = now + self.config.sync_retry * backoff;
            st.sync_timer = Some(at);
            self.sync_timers.insert((at, stream));
        }
    }

    fn write_ack(&mut self, now: Instant, buf: &mut BytesMut, limit: usize) {
        let delay = crate::time::duration_micros(now - self.highest_arrival);
        let mut n = self
            .config
            .max_ack_ranges
            .min(frame::MAX_WIRE_RANGES as usize);
        let fixed = 1 + crate::varint::len(delay);
        let size = |n: usize| {
            fixed
                + frame::ranges_len(self.received.floor(), self.received.ranges().take(n))
                + frame::ranges_len(self.committed.floor(), self.committed.ranges().take(n))
        };
        // Fewer ranges rather than no ack: the floors carry the most news.
        while n > 0 && buf.len() + size(n) > limit {
            n -= 1;
        }
        if buf.len() + size(n) > limit {
            return;
        }
        buf.put_u8(frame::kind::ACK);
        crate::varint::put(buf, delay);
        frame::put_ranges(buf, self.received.floor(), self.received.ranges().take(n));
        frame::put_ranges(buf, self.committed.floor(), self.committed.ranges().take(n));
        self.ack_pending = false;
        self.ack_immediate = false;
        self.ack_deadline = None;
        self.ack_count = 0;
        self.stats.acks_sent += 1;
    }

    /// The next packet (an ack) to send to the peer's sender, until `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        if !self.wants_ack(now, false) && !self.wants_sync() {
            return None;
        }
        let max = self.config.max_packet_size;
        let mut writer = core::mem::replace(&mut self.writer, PacketWriter::new(0));
        let buf = writer.begin(max);
        self.write_frames(now, buf, max - packet::TRAILER_LEN, false);
        let out = writer.finish();
        self.writer = writer;
        out
    }

    /// The next event for the app, until `None`.
    pub fn poll_event(&mut self) -> Option<ReceiverEvent> {
        self.events.pop_front()
    }
}

fn deliver(
    st: &mut StreamState,
    msg: Message,
    sid: Option<u64>,
    events: &mut VecDeque<ReceiverEvent>,
    stats: &mut ReceiverStats,
) {
    st.head = msg.version;
    st.uncommitted.push_back(Held {
        version: msg.version,
        sid,
        committed: false,
    });
    stats.delivered += 1;
    events.push_back(ReceiverEvent::Deliver(msg));
}

/// Arms the stream's gap timer when messages wait beyond its head (once
/// per head position), and disarms it when nothing waits any more.
fn update_gap(
    st: &mut StreamState,
    stream: StreamId,
    now: Instant,
    wait: core::time::Duration,
    timers: &mut BTreeSet<(Instant, StreamId)>,
) {
    if st.buffered.is_empty() {
        disarm_gap(st, stream, timers);
        return;
    }
    if st.gap_timer.is_some_and(|(_, head)| head == st.head) || st.gap_reported == Some(st.head) {
        return;
    }
    disarm_gap(st, stream, timers);
    let at = now + wait;
    st.gap_timer = Some((at, st.head));
    timers.insert((at, stream));
}

fn disarm_gap(st: &mut StreamState, stream: StreamId, timers: &mut BTreeSet<(Instant, StreamId)>) {
    if let Some((at, _)) = st.gap_timer.take() {
        timers.remove(&(at, stream));
    }
}

/// Delivers buffered messages that now follow the head. Moving a message
/// from buffered to uncommitted leaves the held count unchanged.
fn drain_buffered(
    st: &mut StreamState,
    events: &mut VecDeque<ReceiverEvent>,
    stats: &mut ReceiverStats,
) {
    while let Some((msg, sid)) = st.buffered.remove(&st.head) {
        deliver(st, msg, sid, events, stats);
    }
}
