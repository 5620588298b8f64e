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
use crate::message::{Message, Package, Qos, StreamId, Version};
use crate::packet::{self, ConnectionId, PacketWriter};
use crate::sid_ranges::SidRanges;
use crate::sid_set::{Membership, SidSet};
use crate::snapshot::{self, Dec, Enc, SnapshotError};
use crate::sync::{PageEnd, SyncRange, SyncRequest};
use crate::time::Instant;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};
use hashbrown::HashMap;
use timers::{Slot, Timer, Timers};

mod timers;

/// The receiver's SID sets as a [`Settlement`], borrowed field by field so
/// that a stream's state can stay borrowed beside it.
macro_rules! settlement {
    ($rx:ident) => {
        Settlement {
            remembered: &$rx.receipt_cache,
            aliases: &mut $rx.aliases,
            committed: &mut $rx.committed,
            skipped: &mut $rx.skipped,
            receipts_due: &mut $rx.receipts_due,
            max_skipped: max_skipped_ranges(&$rx.config),
        }
    };
}

/// What the receiver reports to the app.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiverEvent {
    /// The next message of its stream: in version order, never twice. Store
    /// it, then call [`Receiver::commit`]. The members of a package come
    /// one after another, only once all of them are here.
    Deliver(Message),
    /// A later message of `stream` has waited `Config::gap_wait` for its
    /// predecessor (at once on a contiguous stream, where arithmetic proves
    /// the hole): something after `after` is missing, not just late. The
    /// stream's position stays at `after`; the receiver fetches what
    /// follows it (sync). Reported once per position of the stream, and
    /// again if a finished sync did not fill the hole.
    Gap {
        /// The stream with the hole.
        stream: StreamId,
        /// The last version delivered; the next one is missing.
        after: Version,
        /// The `prev` of the earliest message waiting beyond the hole. On a
        /// contiguous stream, `waiting_after - after` versions are missing.
        waiting_after: Version,
    },
    /// A package stayed incomplete through `Config::package_timeout` and
    /// `Config::package_retries` re-fetches, and was given up: none of its
    /// members reached the app, and the stream moved on past `last`.
    PackageExpired {
        /// The package's stream.
        stream: StreamId,
        /// The producer's package id.
        id: u64,
        /// The last version delivered before the package.
        after: Version,
        /// The package's last version: versions in `(after, last]` are
        /// skipped. Keep the range with the stream and pass it to
        /// [`Receiver::pass_over`] on later connections: a resumed position
        /// past it does not say these were never stored.
        last: Version,
        /// Members that had arrived, of `count`.
        received: u32,
        /// Members in the package.
        count: u32,
    },
    /// A stream begun with [`Receiver::resume_latest`] starts after
    /// `after`: the live chain goes on from there, and what is older is
    /// history — page back with [`Receiver::fetch_history`] from
    /// `Version(after.0 + 1)`. Versions at or below `after` were never
    /// stored by this app; pushes of them are answered
    /// [`Skipped`](crate::SenderEvent::Skipped), not acked. Keep `after`
    /// with the stream and pass it to
    /// [`Receiver::resume_started`] on later connections.
    Started {
        /// The stream.
        stream: StreamId,
        /// The version just before the first message of the stream here
        /// (`Version::ZERO`: the stream has nothing older).
        after: Version,
    },
    /// The sending side's store no longer keeps `stream`'s versions up to
    /// `through` (retention trimmed them), and a request reached them.
    ///
    /// For a sync (catching up after a gap or a reconnect) the stream
    /// moved on from `after`, its position before, to `through` without
    /// the app storing versions in `(after, through]`: they are gone for
    /// good, not late; the messages kept after them follow. Show the gap
    /// ("older messages expired") and keep the range with the stream, like
    /// a [`PackageExpired`](Self::PackageExpired) one: pass it to
    /// [`Receiver::pass_over`] on later connections, so late pushes of
    /// them are answered skipped, never acked. Never more than what held
    /// no message here: the stream does not move past a message it holds.
    ///
    /// For a history page ([`Receiver::fetch_history`]) `after` equals
    /// `through`: nothing is passed over, and history older than
    /// `through + 1` is gone. Reported with the page that reaches it (the
    /// [`History`](Self::History) event that follows, with `more` false
    /// once it is the last): stop paging back there.
    Trimmed {
        /// The stream.
        stream: StreamId,
        /// The stream's position before the cut (a history page: `through`).
        after: Version,
        /// The last version no longer kept; what is kept starts after it.
        through: Version,
    },
    /// An at-most-once message ([`Qos::AtMostOnce`](crate::Qos)): shown
    /// or dropped, never twice, and nothing to commit.
    Datagram(Message),
    /// A resend of a message committed earlier wants its receipt, which
    /// this receiver no longer remembers (beyond `Config::max_receipts`, or
    /// committed on an earlier connection): look it up in the store and
    /// hand it to [`Receiver::provide_receipt`]. For an at-least-once
    /// message the receiver can not tell whether it was ever stored (its
    /// sender may have given it up): if the store does not have it, ignore
    /// the event.
    ReceiptWanted {
        /// The message's stream.
        stream: StreamId,
        /// The message's version.
        version: Version,
    },
    /// One page of history asked for with [`Receiver::fetch_history`]:
    /// the stored messages just before `before`, oldest first, each
    /// following the one before. History is apart from live delivery: it
    /// needs no commit and never moves the stream's position.
    History {
        /// The stream.
        stream: StreamId,
        /// The version the page ends before, as asked.
        before: Version,
        /// The page, oldest first (empty when nothing is older).
        messages: Vec<Message>,
        /// Whether older messages exist: ask again with the first
        /// message's version as `before`.
        more: bool,
    },
}

/// What a receiver holds right now, structure by structure: each is
/// bounded by the configuration (see the bounds table in `PROTOCOL.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverUsage {
    /// Streams tracked (`max_streams` for peer-created ones).
    pub streams: usize,
    /// Messages held in all (`max_held_messages`).
    pub held: usize,
    /// Messages waiting in reorder buffers (`max_reorder_per_stream` each).
    pub buffered: usize,
    /// Packages open at a stream's head (one per stream at most).
    pub open_packages: usize,
    /// History messages being collected (a page each, `max_reorder_per_stream`).
    pub history_messages: usize,
    /// Receipts remembered for resends (`max_receipts`).
    pub receipts_remembered: usize,
    /// Resends waiting for the app's receipt (`max_streams`).
    pub receipts_wanted: usize,
    /// At-least-once messages delivered and not committed (`max_held_messages`).
    pub unordered: usize,
    /// Receipts and requests waiting to be written.
    pub queued_frames: usize,
    /// Further SIDs of held messages (`max_held_messages`).
    pub aliases: usize,
    /// Ranges of SIDs settled without a commit, reported until the
    /// sender's FLOOR passes them (at most one per SID of
    /// `2 × max_in_flight`).
    pub skipped_ranges: usize,
    /// Version ranges streams moved past without the app storing them
    /// (8 per stream at most).
    pub passed_ranges: usize,
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
    /// Frames whose chain contradicts what the stream already holds (or,
    /// on a contiguous stream, skips a version).
    pub chain_conflicts: u64,
    /// Ack frames written.
    pub acks_sent: u64,
    /// Sync and history requests written (retries included).
    pub sync_requests: u64,
    /// Gaps reported.
    pub gaps: u64,
    /// Packages given up.
    pub packages_expired: u64,
    /// At-most-once messages delivered.
    pub datagrams: u64,
    /// At-most-once messages dropped as replays or too old to tell.
    pub datagrams_dropped: u64,
    /// RECEIPT frames written (first answers and repeats).
    pub receipts_sent: u64,
}

struct Held {
    version: Version,
    sid: Option<u64>,
    committed: bool,
    wants_receipt: bool,
}

/// Requests that wait to be written, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Sync,
    History,
}

/// A stream's state, split by how often it is touched: the map entry holds
/// only what the in-order deliver/commit path needs (one cache line with
/// its key), so that with many streams each message costs as few cache
/// misses as possible; the rest is behind `cold`.
#[derive(Default)]
struct StreamState {
    /// The last version delivered (or resumed): the chain's head.
    head: Version,
    /// Delivered and not yet committed, ascending by version.
    uncommitted: VecDeque<Held>,
    /// Versions are declared contiguous: holes are found by arithmetic
    /// and acks are sparse.
    contiguous: bool,
    /// Created the first time the stream needs any of it (a message out of
    /// order, a sync, a package, history, a timer) and kept after, so a
    /// lossy stream's holes coming and going allocate nothing.
    cold: Option<Box<Cold>>,
}

/// What a stream needs only once something is out of order or was asked
/// for; all of it empty by default.
#[derive(Default)]
struct Cold {
    /// Out-of-order messages keyed by the version they follow (and the
    /// members of an incomplete package at the head).
    buffered: HashMap<Version, (Message, Option<u64>)>,
    /// The stream's row of armed deadlines in `Receiver::timers`.
    slot: Option<Slot>,
    /// The head the gap timer was armed for.
    gap_armed_for: Version,
    /// The head a gap was last reported for: report once per position.
    gap_reported: Option<Version>,
    /// A sync in progress for this stream.
    sync: Option<SyncState>,
    /// The package at the head, waiting for its missing members.
    package: Option<OpenPackage>,
    /// A history request in progress (rare, so boxed).
    history: Option<Box<HistoryState>>,
    /// Versions the head moved past that the app never stored.
    passed: PassedOver,
}

impl StreamState {
    /// The cold part, if the stream ever needed it.
    fn cold(&self) -> Option<&Cold> {
        self.cold.as_deref()
    }

    /// The cold part, created on first need.
    fn cold_mut(&mut self) -> &mut Cold {
        self.cold.get_or_insert_with(Box::default)
    }

    fn buffered_len(&self) -> usize {
        self.cold().map_or(0, |c| c.buffered.len())
    }

    fn sync(&self) -> Option<&SyncState> {
        self.cold()?.sync.as_ref()
    }

    fn package(&self) -> Option<&OpenPackage> {
        self.cold()?.package.as_ref()
    }
}

impl Cold {
    /// Forgets the package at the head and its timer.
    fn close_package(&mut self, timers: &mut Timers) {
        self.package = None;
        timers.disarm(self.slot, Timer::Package);
    }
}

/// Fetching a stream's messages after its head, page by page.
#[derive(Clone, Copy)]
struct SyncState {
    /// A request waits to be written.
    due: bool,
    /// Started by a gap or a package (ends when the stream moves on)
    /// rather than by resume (ends only when nothing more follows).
    for_gap: bool,
    /// Asking for the latest messages of an empty stream (this many):
    /// the answer's end marker sets the stream's starting point.
    latest: Option<u32>,
    /// The `after` of the last request written, to ignore stale answers.
    asked_after: Version,
    /// Requests written so far, for the retry backoff.
    attempts: u32,
    /// The last page's end marker: its last version and whether more follow.
    end: Option<(Version, bool)>,
}

/// A package at the stream's head that is not complete yet.
#[derive(Clone, Copy)]
struct OpenPackage {
    id: u64,
    count: u32,
    last: Version,
    /// How far the package's members are held without a hole.
    reached: Version,
    /// Re-fetches so far.
    attempts: u32,
}

/// One history page being collected.
struct HistoryState {
    before: Version,
    limit: u32,
    due: bool,
    attempts: u32,
    /// Messages of the page so far, by version.
    messages: BTreeMap<Version, Message>,
    end: Option<PageEnd>,
}

enum Accepted {
    /// Held for the first time, on a stream that is (or not) `contiguous`
    /// (which paces the ack; carried here to spare a lookup).
    New { contiguous: bool },
    /// Held for the first time while the stream is syncing: check progress.
    NewWhileSyncing { contiguous: bool },
    /// Already held, not committed yet: ack receipt only.
    Pending,
    /// Already committed: ack receipt and commit.
    Committed,
    /// At or below the head, passed over without the app storing it: ack
    /// receipt and report it skipped.
    Skipped,
    /// Not held (a bound was reached or the chain contradicts): no ack.
    Dropped,
}

/// The receiving half of a connection. See the crate docs for the run loop.
pub struct Receiver {
    /// Shared with the other half of a [`Connection`](crate::Connection).
    config: Arc<Config>,
    /// This connection's id: written into every packet, required of every
    /// packet taken.
    id: ConnectionId,
    streams: HashMap<StreamId, StreamState>,
    /// Every armed per-stream timer, earliest first.
    timers: Timers,
    /// Requests waiting to be written.
    requests_due: VecDeque<(StreamId, Request)>,
    /// The stream whose history page is being collected. One page at a
    /// time: pages are held whole, and several at once could each take
    /// room the others need and drop what they collected in turn, for ever
    /// (deep-sweep seeds 1004825 and others: four pages, 78-180 retries).
    history_turn: Option<StreamId>,
    /// Streams whose history page waits for the turn, in order.
    history_waiting: VecDeque<StreamId>,
    received: SidSet,
    /// SIDs the app committed (or the sender's FLOOR passed).
    committed: SidSet,
    /// SIDs settled without a commit, reported in SKIPPED frames until the
    /// sender's FLOOR passes them; never in `committed` before that.
    skipped: SidRanges,
    held: usize,
    highest_arrival: Instant,
    ack_pending: bool,
    ack_immediate: bool,
    ack_deadline: Option<Instant>,
    ack_count: u32,
    /// The looser deadline and count for contiguous streams' news.
    sparse_deadline: Option<Instant>,
    sparse_count: u32,
    events: VecDeque<ReceiverEvent>,
    /// Receipts to write, each before the ack that reports its SID committed.
    receipts_due: VecDeque<(u64, Bytes)>,
    /// Receipts given for committed messages, for resends; oldest evicted first.
    receipt_cache: HashMap<(StreamId, Version), Bytes>,
    receipt_order: VecDeque<(StreamId, Version)>,
    /// Further SIDs of held messages, settled with them.
    aliases: Aliases,
    /// Resends waiting for the app to provide a forgotten receipt.
    receipts_wanted: HashMap<(StreamId, Version), Vec<u64>>,
    /// At-least-once messages delivered and not yet committed: their SID
    /// and whether the sender wants a receipt.
    unordered: HashMap<(StreamId, Version), (u64, bool)>,
    /// Replay window for at-most-once messages: one past the highest
    /// sequence seen, and a bitmap of the 128 below it.
    datagram_top: u64,
    datagram_seen: u128,
    writer: PacketWriter,
    /// Decoded frames of the packet being handled (capacity reused).
    scratch: alloc::vec::Vec<Frame>,
    stats: ReceiverStats,
}

impl Receiver {
    /// A receiver for the connection `id` (see [`ConnectionId`]: the peer's
    /// sender uses the same id, and every new connection a fresh one);
    /// `config` may be shared (see [`Config`]).
    pub fn new(config: impl Into<Arc<Config>>, id: ConnectionId) -> Receiver {
        let config = config.into();
        Receiver {
            id,
            streams: HashMap::new(),
            scratch: alloc::vec::Vec::new(),
            timers: Timers::default(),
            requests_due: VecDeque::new(),
            history_turn: None,
            history_waiting: VecDeque::new(),
            received: SidSet::new(config.max_in_flight),
            // Commits can trail receipts by a window while a FLOOR is in flight.
            committed: SidSet::new(config.max_in_flight.saturating_mul(2)),
            skipped: SidRanges::default(),
            held: 0,
            highest_arrival: Instant::ZERO,
            ack_pending: false,
            ack_immediate: false,
            ack_deadline: None,
            ack_count: 0,
            sparse_deadline: None,
            sparse_count: 0,
            events: VecDeque::new(),
            receipts_due: VecDeque::new(),
            receipt_cache: HashMap::new(),
            receipt_order: VecDeque::new(),
            receipts_wanted: HashMap::new(),
            aliases: Aliases::default(),
            unordered: HashMap::new(),
            datagram_top: 0,
            datagram_seen: 0,
            writer: PacketWriter::new(config.max_packet_size, id),
            stats: ReceiverStats::default(),
            config,
        }
    }

    /// Restores a stream's position from the app's store after a restart:
    /// `last_committed` is the highest version up to which every message of
    /// the stream is stored. Earlier versions are duplicates from now on.
    /// Positions only move forward; a lower value is ignored.
    ///
    /// It also starts an integrity check: the receiver asks the peer for
    /// whatever follows the position, page by page, until nothing more
    /// does — the app need not know whether it missed anything.
    pub fn resume(&mut self, stream: StreamId, last_committed: Version) {
        let st = self.streams.entry(stream).or_default();
        // The app says everything up to `last_committed` is stored: delivered
        // messages up to there count as committed.
        while let Some(h) = st.uncommitted.front() {
            if h.version > last_committed {
                break;
            }
            if !h.committed {
                // Owed to the sender now; resume has no clock, so send at once.
                // A wanted receipt comes from the app's store on a resend.
                let aliases = self.aliases.take(h.sid);
                for sid in h.sid.into_iter().chain(aliases) {
                    if self.committed.insert(sid) {
                        self.ack_pending = true;
                        self.ack_immediate = true;
                    }
                }
            }
            st.uncommitted.pop_front();
            self.held -= 1;
        }
        if last_committed > st.head {
            st.head = last_committed;
            if let Some(c) = st.cold.as_deref_mut() {
                // The app says these are stored: settled as committed.
                self.held -= skip_buffered(c, last_committed, PassOver::Stored, settlement!(self));
                c.close_package(&mut self.timers);
            }
        }
        // A passed-over range above the position is not passed: the app
        // takes those versions as they come (deep-sweep seed 1003943: a
        // package given up on one connection, delivered and stored on the
        // next, then answered "skipped" when resent for its receipt).
        let head = st.head;
        if let Some(c) = st.cold.as_deref_mut() {
            c.passed.clip(head);
        }
        self.start_sync(stream, SyncKind::Resume);
        self.advance(stream, None);
    }

    /// Starts a stream that has nothing local (a new device, a reinstall)
    /// from its `latest` stored messages rather than from the beginning of
    /// its history; older ones are there to page through with
    /// [`fetch_history`](Self::fetch_history). Live messages that arrive
    /// meanwhile wait for the starting point and follow on.
    ///
    /// On a stream that already has a position this is [`resume`](Self::resume)
    /// from there: nothing between is ever skipped.
    pub fn resume_latest(&mut self, stream: StreamId, latest: u32) {
        let st = self.streams.entry(stream).or_default();
        if st.head != Version::ZERO || !st.uncommitted.is_empty() {
            let head = st.head;
            self.resume(stream, head);
            return;
        }
        // The page waits in the reorder buffer until its end marker says
        // where it starts.
        let limit = latest.clamp(1, self.page_limit());
        self.start_sync(stream, SyncKind::Latest(limit));
    }

    /// [`resume`](Self::resume) for a stream whose local copy was begun by
    /// [`resume_latest`](Self::resume_latest) after `after` (its
    /// [`ReceiverEvent::Started`]): the app never stored versions at or
    /// below `after`, so pushes of them are reported
    /// [`Skipped`](crate::SenderEvent::Skipped) to the sender, never acked.
    /// `last_committed` is the highest version up to which every message
    /// *after* `after` is stored.
    pub fn resume_started(&mut self, stream: StreamId, after: Version, last_committed: Version) {
        self.pass_over(stream, Version::ZERO, after);
        self.resume(stream, last_committed.max(after));
    }

    /// Tells this connection what an earlier one passed over in `stream`
    /// without the app storing it: versions in `(after, last]`, as a
    /// [`ReceiverEvent::PackageExpired`] reported them. A position
    /// [`resume`](Self::resume)d past them is no proof they were stored,
    /// so pushes of them are then answered
    /// [`Skipped`](crate::SenderEvent::Skipped), never acked. Call it on
    /// every new connection for each such range the app keeps, before
    /// `resume` (a stream remembers 8; beyond that the oldest merge, and
    /// versions between them are answered skipped too — never acked for
    /// what was not stored). What lies above the position `resume` sets is
    /// dropped: the app did not move past it, and takes it as it comes.
    pub fn pass_over(&mut self, stream: StreamId, after: Version, last: Version) {
        if self.streams.len() >= self.config.max_streams && !self.streams.contains_key(&stream) {
            return;
        }
        let st = self.streams.entry(stream).or_default();
        st.cold_mut().passed.add(after, last);
    }

    /// Asks for one page of `stream`'s history: at most `limit` stored
    /// messages just before `before` (at most `Config::max_reorder_per_stream`
    /// and one less than `Config::max_held_messages`: the page is held until
    /// it is whole), reported as [`ReceiverEvent::History`]. Live delivery goes on
    /// untouched. One request per stream at a time: a new one replaces an
    /// unanswered one. Lost requests and answers are retried. Pages of
    /// different streams are fetched one after another, not at once (each
    /// is held whole, and together they could need more room than there is).
    pub fn fetch_history(&mut self, stream: StreamId, before: Version, limit: u32) {
        let limit = limit.clamp(1, self.page_limit());
        let c = self.streams.entry(stream).or_default().cold_mut();
        if let Some(old) = c.history.take() {
            self.held -= old.messages.len();
        }
        self.timers.disarm(c.slot, Timer::History);
        c.history = Some(Box::new(HistoryState {
            before,
            limit,
            due: true,
            attempts: 0,
            messages: BTreeMap::new(),
            end: None,
        }));
        self.requests_due.push_back((stream, Request::History));
        // The first page asked for while none is being collected has the
        // turn at once (its answers may come before the request is written
        // again); a later one waits for it when written.
        if !self.history_turn.is_some_and(|t| self.has_history(t)) {
            self.history_turn = Some(stream);
        }
    }

    /// Whether `stream` has a history page asked for and not reported.
    fn has_history(&self, stream: StreamId) -> bool {
        self.streams
            .get(&stream)
            .and_then(StreamState::cold)
            .is_some_and(|c| c.history.is_some())
    }

    /// Hands the history turn to the next waiting page once the page that
    /// held it is over (reported, or its stream's request gone).
    fn pass_history_turn(&mut self) {
        if self.history_turn.is_some_and(|t| self.has_history(t)) {
            return;
        }
        self.history_turn = None;
        while let Some(stream) = self.history_waiting.pop_front() {
            if self.has_history(stream) {
                self.history_turn = Some(stream);
                self.requests_due.push_back((stream, Request::History));
                return;
            }
        }
    }

    /// The most messages a latest or history page may ask for: what one
    /// stream may buffer, and what may be held beside the slot kept for
    /// in-order messages (a page's messages are held under the early rule
    /// until the page is whole, so a larger page could never complete).
    fn page_limit(&self) -> u32 {
        let held = self.config.max_held_messages.saturating_sub(1).max(1);
        clamp_u32(self.config.max_reorder_per_stream.min(held))
    }

    /// Declares `stream`'s versions contiguous (`version == prev + 1`), as
    /// a per-user queue with a counter produces them (M7). The receiver then
    /// rejects any message that skips a version, reports a hole the moment
    /// a later message proves it (no `gap_wait`) and fetches it at once, and
    /// acks the stream's messages sparsely: every `Config::sparse_ack_every`
    /// messages or after `Config::sparse_ack_delay`, unless another ack goes
    /// out first. The trade-off: fewer ack packets, more re-fetches (a
    /// merely reordered message costs a sync).
    pub fn set_contiguous(&mut self, stream: StreamId, contiguous: bool) {
        self.streams.entry(stream).or_default().contiguous = contiguous;
    }

    /// The app has durably stored exactly this delivered message: it may now
    /// be acknowledged. Commits may come in any order; committing again is a
    /// no-op. A message sent [`with_receipt`](Message::with_receipt) gets an
    /// empty receipt; use [`commit_with_receipt`](Self::commit_with_receipt).
    pub fn commit(
        &mut self,
        now: Instant,
        stream: StreamId,
        version: Version,
    ) -> Result<(), CommitError> {
        self.commit_with_receipt(now, stream, version, Bytes::new())
    }

    /// Commits like [`commit`](Self::commit), and if the sender asked for a
    /// receipt, sends it `receipt` (at most `Config::max_receipt_len` bytes)
    /// with the ack: the version a server assigned to a client's message,
    /// say. The receipt is remembered (up to `Config::max_receipts`) so a
    /// resend of the message gets it again without reaching the app.
    pub fn commit_with_receipt(
        &mut self,
        now: Instant,
        stream: StreamId,
        version: Version,
        receipt: Bytes,
    ) -> Result<(), CommitError> {
        if receipt.len() > self.config.max_receipt_len {
            return Err(CommitError::ReceiptTooLarge);
        }
        if !self.unordered.is_empty() {
            if let Some((sid, wants)) = self.unordered.remove(&(stream, version)) {
                self.held -= 1;
                self.settle_commit(now, sid, wants, (stream, version), receipt, false);
                return Ok(());
            }
        }
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
                let newly = !h.committed;
                h.committed = true;
                let (sid, wants) = (h.sid, h.wants_receipt);
                while st.uncommitted.front().is_some_and(|h| h.committed) {
                    st.uncommitted.pop_front();
                    self.held -= 1;
                }
                let sparse = st.contiguous;
                let key = (stream, version);
                if !newly {
                    self.ack_later(now, sparse);
                    return Ok(());
                }
                for alias in self.aliases.take(sid) {
                    self.settle_commit(now, alias, wants, key, receipt.clone(), sparse);
                }
                match sid {
                    Some(sid) => self.settle_commit(now, sid, wants, key, receipt, sparse),
                    None => self.ack_later(now, sparse),
                }
                Ok(())
            }
            Err(_) if version <= st.head => Ok(()),
            Err(_) => Err(CommitError::NotDelivered),
        }
    }

    /// A message the app committed: its SID goes into the next ack, after
    /// its receipt if the sender wants one.
    fn settle_commit(
        &mut self,
        now: Instant,
        sid: u64,
        wants_receipt: bool,
        key: (StreamId, Version),
        receipt: Bytes,
        sparse: bool,
    ) {
        if wants_receipt {
            self.remember_receipt(key, receipt.clone());
            self.receipts_due.push_back((sid, receipt));
        } else {
            self.committed.insert(sid);
        }
        self.ack_later(now, sparse);
    }

    fn remember_receipt(&mut self, key: (StreamId, Version), receipt: Bytes) {
        if self.config.max_receipts == 0 {
            return;
        }
        if self.receipt_cache.insert(key, receipt).is_none() {
            if self.receipt_order.len() >= self.config.max_receipts {
                if let Some(old) = self.receipt_order.pop_front() {
                    self.receipt_cache.remove(&old);
                }
            }
            self.receipt_order.push_back(key);
        }
    }

    /// A resend of a committed message that wants a receipt: answer it from
    /// memory, or ask the app.
    /// Returns whether the resend will be answered (a receipt queued, or the
    /// app asked): if not, for want of room, the caller must not count its
    /// SID as received, or the sender would wait for a commit that never
    /// comes instead of sending it again.
    fn receipt_for_resend(&mut self, sid: u64, key: (StreamId, Version)) -> bool {
        if let Some(r) = self.receipt_cache.get(&key).cloned() {
            return self.repeat_receipt(sid, r);
        }
        // Bounded: beyond it the resend goes unanswered and comes again.
        let room = self.receipts_wanted.len() < self.config.max_streams
            || (!self.receipts_wanted.contains_key(&key) && self.evict_settled_receipt_request());
        if let Some(sids) = self.receipts_wanted.get_mut(&key) {
            // Every copy waits for the same answer; a peer resending one
            // message under ever new SIDs gets a few of them answered.
            if sids.contains(&sid) {
                return true;
            }
            if sids.len() < MAX_COPIES_AWAITING_RECEIPT {
                sids.push(sid);
                return true;
            }
            false
        } else if room {
            self.receipts_wanted.insert(key, alloc::vec![sid]);
            self.events.push_back(ReceiverEvent::ReceiptWanted {
                stream: key.0,
                version: key.1,
            });
            true
        } else {
            false
        }
    }

    /// Makes room among the outstanding `ReceiptWanted` requests by
    /// dropping one whose SIDs are all settled on this side (committed, or
    /// given up by their sender): nothing here waits for it, and if its
    /// sender still does, it resends and asks again. The app may never be
    /// able to answer such a request (a resend of a message its sender
    /// gave up on, which the app never got), and it must not hold a slot
    /// for ever. The lowest such key goes, so the choice is deterministic.
    fn evict_settled_receipt_request(&mut self) -> bool {
        let committed = &self.committed;
        let victim = self
            .receipts_wanted
            .iter()
            .filter(|(_, sids)| {
                sids.iter().all(|&sid| {
                    matches!(
                        committed.membership(sid),
                        Membership::Below | Membership::In
                    )
                })
            })
            .map(|(&key, _)| key)
            .min();
        match victim {
            Some(key) => {
                self.receipts_wanted.remove(&key);
                true
            }
            None => false,
        }
    }

    /// Queues a receipt again for a resend. Repeats are peer-driven, so they
    /// stop at a window's worth until an ack drains them; returns whether
    /// this one was queued.
    fn repeat_receipt(&mut self, sid: u64, receipt: Bytes) -> bool {
        if self.skipped.contains(sid) {
            // Settled as skipped: no receipt (nothing was stored); the
            // SKIPPED report answers the resend.
            return true;
        }
        let room = (self.receipts_due.len() as u64) < self.config.max_in_flight;
        if room {
            self.receipts_due.push_back((sid, receipt));
        }
        room
    }

    /// Answers a [`ReceiverEvent::ReceiptWanted`] with the receipt from the
    /// app's store; the resend is then acked with it. [`CommitError::NotAsked`] if no
    /// request for it is outstanding: a request whose resends are all
    /// settled here may be dropped to make room for a new one (its sender
    /// asks again if it still waits), so a late answer can meet this; it
    /// is harmless.
    pub fn provide_receipt(
        &mut self,
        stream: StreamId,
        version: Version,
        receipt: Bytes,
    ) -> Result<(), CommitError> {
        if receipt.len() > self.config.max_receipt_len {
            return Err(CommitError::ReceiptTooLarge);
        }
        let key = (stream, version);
        let sids = self
            .receipts_wanted
            .remove(&key)
            .ok_or(CommitError::NotAsked)?;
        self.remember_receipt(key, receipt.clone());
        for sid in sids {
            self.receipts_due.push_back((sid, receipt.clone()));
        }
        self.ack_now();
        Ok(())
    }

    /// Counters since creation.
    pub fn stats(&self) -> ReceiverStats {
        self.stats
    }

    /// The configuration this receiver runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The connection this receiver belongs to.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// What this receiver holds now, structure by structure.
    pub fn usage(&self) -> ReceiverUsage {
        let mut u = ReceiverUsage {
            streams: self.streams.len(),
            held: self.held,
            receipts_remembered: self.receipt_cache.len(),
            receipts_wanted: self.receipts_wanted.len(),
            unordered: self.unordered.len(),
            queued_frames: self.receipts_due.len() + self.requests_due.len(),
            skipped_ranges: self.skipped.len(),
            aliases: self.aliases.count,
            ..ReceiverUsage::default()
        };
        for st in self.streams.values() {
            let Some(c) = st.cold() else {
                continue;
            };
            u.buffered += c.buffered.len();
            u.open_packages += usize::from(c.package.is_some());
            u.history_messages += c.history.as_ref().map_or(0, |h| h.messages.len());
            u.passed_ranges += c.passed.ranges.len();
        }
        u
    }

    /// The last version delivered (or resumed) on `stream`.
    pub fn head(&self, stream: StreamId) -> Option<Version> {
        self.streams.get(&stream).map(|s| s.head)
    }

    /// Takes one packet from the peer's sender.
    pub fn handle_input(&mut self, now: Instant, packet: Bytes) -> Result<(), InputError> {
        let body = packet::open_own(&packet, self.config.max_packet_size, self.id)?;
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
            Frame::Sync(_) => Err(InputError::UnexpectedFrame(frame::kind::SYNC)),
            Frame::Receipt { .. } => Err(InputError::UnexpectedFrame(frame::kind::RECEIPT)),
            Frame::Skipped(_) => Err(InputError::UnexpectedFrame(frame::kind::SKIPPED)),
            _ => Ok(()),
        }
    }

    pub(crate) fn on_frame(&mut self, now: Instant, f: Frame) {
        match f {
            Frame::Data {
                sid,
                msg,
                history: false,
            } if msg.qos == Qos::AtLeastOnce => self.on_unordered_data(now, sid, msg),
            Frame::Data {
                sid,
                msg,
                history: false,
            } => self.on_data(now, sid, msg),
            Frame::Datagram { seq, msg } => self.on_datagram(seq, msg),
            Frame::Data {
                sid,
                msg,
                history: true,
            } => self.on_history_data(now, sid, msg),
            Frame::Floor { resend, settled } => {
                self.received.raise_floor(resend);
                self.committed.raise_floor(settled);
                // The sender has settled what lies below: no need to
                // report it skipped any more.
                self.skipped.drop_below(settled);
                self.ack_later(now, false);
            }
            Frame::Ping => self.ack_now(),
            Frame::SyncEnd(end) => self.on_page_end(now, end),
            Frame::Ack(_) | Frame::Sync(_) | Frame::Receipt { .. } | Frame::Skipped(_) => {}
        }
    }

    /// At most once: delivered unless the replay window has seen it (or it
    /// is too old to tell, which may lose it but never repeats it).
    fn on_datagram(&mut self, seq: u64, msg: Message) {
        const WINDOW: u64 = 128;
        if seq == u64::MAX {
            // One past it does not exist: the window could not move past it.
            self.stats.datagrams_dropped += 1;
            return;
        }
        if seq >= self.datagram_top {
            let shift = seq - self.datagram_top + 1;
            self.datagram_seen = if shift >= WINDOW {
                0
            } else {
                self.datagram_seen << shift
            };
            self.datagram_seen |= 1;
            self.datagram_top = seq + 1;
        } else {
            let age = self.datagram_top - 1 - seq;
            if age >= WINDOW || self.datagram_seen & (1 << age) != 0 {
                self.stats.datagrams_dropped += 1;
                return;
            }
            self.datagram_seen |= 1 << age;
        }
        self.stats.datagrams += 1;
        self.events.push_back(ReceiverEvent::Datagram(msg));
    }

    /// At least once: delivered on arrival, deduplicated by SID within the
    /// connection only, acked after its commit.
    fn on_unordered_data(&mut self, now: Instant, raw_sid: u64, msg: Message) {
        self.resend_wants_receipt(raw_sid, &msg);
        let Some(sid) = self.admit_sid(raw_sid) else {
            return;
        };
        let key = (msg.stream, msg.version);
        let Some(sid) = sid else {
            // Below the floor: received (or given up) before. If it still
            // waits for its commit, the receipt comes with that.
            // Below the floor says nothing about whether the app ever got it
            // (its sender may have given it up): the app is asked, and
            // answers only if its store has the message. Not asking would
            // leave a committed message whose receipt was lost resent for
            // ever.
            self.stats.duplicates += 1;
            if msg.wants_receipt && !self.unordered.contains_key(&key) {
                self.receipt_for_resend(raw_sid, key);
            }
            self.ack_now();
            return;
        };
        if self.unordered.contains_key(&key) {
            // The same message waits for its commit under another SID; this
            // copy comes again by retransmission.
            self.stats.duplicates += 1;
            return;
        }
        if self.held >= self.config.max_held_messages {
            self.stats.dropped_full += 1;
            return;
        }
        self.held += 1;
        self.unordered.insert(key, (sid, msg.wants_receipt));
        self.note_received(now, sid);
        self.ack_later(now, false);
        self.stats.delivered += 1;
        self.events.push_back(ReceiverEvent::Deliver(msg));
    }

    fn on_page_end(&mut self, now: Instant, end: PageEnd) {
        let stream = end.stream;
        let Some(st) = self.streams.get_mut(&stream) else {
            return;
        };
        // Pages answer a sync or a history request, both cold.
        let Some(c) = st.cold.as_deref_mut() else {
            return;
        };
        if let SyncRange::Before(before) = end.range {
            if let Some(h) = c.history.as_mut().filter(|h| h.before == before) {
                h.end = Some(end);
                // Drop what a replaced request's answer left here.
                let n = h.messages.len();
                h.messages
                    .retain(|&v, _| v > end.first_prev && v <= end.through);
                self.held -= n - h.messages.len();
                self.try_finish_history(stream);
            }
            return;
        }
        let Some(sync) = c.sync.as_mut() else {
            return;
        };
        if st.contiguous && end.through.0 - end.first_prev.0 != end.count {
            // The page itself has a hole: the peer's store is not contiguous.
            self.stats.chain_conflicts += 1;
            return;
        }
        match (end.range, sync.latest) {
            (SyncRange::Latest, Some(_)) => {
                sync.latest = None;
                // The forward sync ends at the page; live delivery goes on.
                sync.end = Some((end.through, false));
                let empty = st.head == Version::ZERO && st.uncommitted.is_empty();
                if empty {
                    self.events.push_back(ReceiverEvent::Started {
                        stream,
                        after: end.first_prev,
                    });
                }
                if empty && end.first_prev > Version::ZERO {
                    // The empty stream starts where the page starts.
                    st.head = end.first_prev;
                    // Live messages before the start were never stored.
                    self.held -=
                        skip_buffered(c, end.first_prev, PassOver::Skipped, settlement!(self));
                    c.passed.add(Version::ZERO, end.first_prev);
                    // A package opened at the old head is gone with it.
                    c.close_package(&mut self.timers);
                    self.ack_later(now, false);
                }
                self.advance(stream, Some(now));
            }
            (SyncRange::After(after), None) if after == sync.asked_after => {
                sync.end = Some((end.through, end.more));
                if let Some(cut) = end.trimmed {
                    // Never past a message held here: the stream moves no
                    // further than where the lowest one held chains on (it
                    // is delivered, not skipped). The keys are the `prev`s
                    // of held messages, all at or above the head.
                    let held_from = c.buffered.keys().copied().min().unwrap_or(cut);
                    let to = cut.min(held_from);
                    if to > st.head {
                        let from = st.head;
                        st.head = to;
                        c.passed.add(from, to);
                        // A package opened at the old head is gone with it.
                        c.close_package(&mut self.timers);
                        c.gap_reported = None;
                        self.events.push_back(ReceiverEvent::Trimmed {
                            stream,
                            after: from,
                            through: to,
                        });
                        self.ack_later(now, false);
                        self.advance(stream, Some(now));
                    }
                }
            }
            _ => return, // an answer to an older request
        }
        self.sync_progress(now, stream);
    }

    /// Starts (or restarts) fetching `stream`'s messages after its head.
    fn start_sync(&mut self, stream: StreamId, kind: SyncKind) {
        let Some(st) = self.streams.get_mut(&stream) else {
            return;
        };
        let c = st.cold_mut();
        let sync = c.sync.get_or_insert(SyncState {
            due: false,
            for_gap: true,
            latest: None,
            asked_after: Version::ZERO,
            attempts: 0,
            end: None,
        });
        match kind {
            SyncKind::UntilMovedOn => {}
            SyncKind::Resume => sync.for_gap = false,
            SyncKind::Latest(n) => {
                sync.for_gap = false;
                sync.latest = Some(n);
            }
        }
        sync.end = None;
        if !sync.due {
            sync.due = true;
            self.requests_due.push_back((stream, Request::Sync));
        }
        if matches!(kind, SyncKind::Latest(_)) {
            // Live messages that arrive meanwhile wait for the start.
            self.timers.disarm(c.slot, Timer::Gap);
        }
    }

    /// After a page end or a delivery: once the head reached the page's
    /// end, ask for the next page or finish.
    fn sync_progress(&mut self, now: Instant, stream: StreamId) {
        let Some(st) = self.streams.get_mut(&stream) else {
            return;
        };
        let head = st.head;
        let Some(c) = st.cold.as_deref_mut() else {
            return;
        };
        let Some(sync) = c.sync.as_mut() else {
            return;
        };
        // What the stream holds without a hole from its head: a page is
        // done once it is all here, delivered or not (a package at the
        // head may be waiting for the next page to complete).
        let reached = held_through(&c.buffered, head);
        if reached > sync.asked_after && sync.latest.is_none() && !sync.due {
            // The page is arriving: its end marker may be what was lost, so
            // the next retry comes one plain `sync_retry` after the last
            // progress, not after a long backoff.
            sync.attempts = 0;
            let soon = now + self.config.sync_retry;
            self.timers.arm(&mut c.slot, stream, Timer::Sync, soon);
        }
        let Some(sync) = c.sync else {
            return;
        };
        let next_page = match sync.end {
            // A gap closed by a late message needs no answer.
            None if sync.for_gap && c.buffered.is_empty() => false,
            None => return,
            // The page's messages may still be on their way.
            Some((through, _)) if reached < through => return,
            Some((_, more)) => more,
        };
        if next_page {
            // A fresh request, a fresh backoff.
            if let Some(sync) = c.sync.as_mut() {
                sync.attempts = 0;
            }
            self.start_sync(stream, SyncKind::UntilMovedOn);
        } else {
            c.sync = None;
            self.timers.disarm(c.slot, Timer::Sync);
            if !c.buffered.is_empty() {
                // Something still waits beyond a hole the sync did not fill.
                c.gap_reported = None;
                self.advance(stream, Some(now));
            }
        }
    }

    /// Whether a request waits to be written.
    pub(crate) fn wants_request(&self) -> bool {
        !self.requests_due.is_empty()
    }

    fn ack_now(&mut self) {
        self.ack_pending = true;
        self.ack_immediate = true;
    }

    /// Owes an ack, due within the ack delay — or, for a contiguous
    /// stream's news (`sparse`), within the looser sparse delay.
    fn ack_later(&mut self, now: Instant, sparse: bool) {
        self.ack_pending = true;
        let (count, every, deadline, delay) = if sparse {
            (
                &mut self.sparse_count,
                self.config.sparse_ack_every,
                &mut self.sparse_deadline,
                self.config.sparse_ack_delay,
            )
        } else {
            (
                &mut self.ack_count,
                self.config.ack_every,
                &mut self.ack_deadline,
                self.config.ack_delay,
            )
        };
        *count += 1;
        if *count >= every {
            self.ack_immediate = true;
        } else if deadline.is_none() {
            *deadline = Some(now + delay);
        }
    }

    /// SID bookkeeping shared by live and history data: `None` when the
    /// frame was handled here (a SID duplicate, or beyond the window).
    fn admit_sid(&mut self, sid: u64) -> Option<Option<u64>> {
        match self.received.membership(sid) {
            Membership::In => {
                self.stats.duplicates += 1;
                self.ack_now();
                None
            }
            Membership::Beyond => {
                self.stats.dropped_full += 1;
                None
            }
            Membership::Out => Some(Some(sid)),
            Membership::Below => Some(None),
        }
    }

    /// A resend of a message whose SID is already received: if it was
    /// committed and wants a receipt, the receipt was probably lost.
    fn resend_wants_receipt(&mut self, sid: u64, msg: &Message) {
        if msg.wants_receipt
            && self.received.membership(sid) == Membership::In
            && matches!(
                self.committed.membership(sid),
                Membership::In | Membership::Below
            )
        {
            self.receipt_for_resend(sid, (msg.stream, msg.version));
        }
    }

    fn on_data(&mut self, now: Instant, raw_sid: u64, msg: Message) {
        self.resend_wants_receipt(raw_sid, &msg);
        let Some(sid) = self.admit_sid(raw_sid) else {
            return;
        };
        let stream = msg.stream;
        let key = (msg.stream, msg.version);
        let wants_receipt = msg.wants_receipt;
        let accepted = self.accept(now, msg, sid);
        if matches!(accepted, Accepted::NewWhileSyncing { .. }) {
            self.sync_progress(now, stream);
        }
        match accepted {
            Accepted::Dropped => return,
            Accepted::New { .. } | Accepted::NewWhileSyncing { .. } => {}
            Accepted::Pending | Accepted::Committed => self.stats.duplicates += 1,
            Accepted::Skipped => {
                self.stats.duplicates += 1;
                if let Some(sid) = sid {
                    self.note_received(now, sid);
                    self.skipped.insert(sid, max_skipped_ranges(&self.config));
                }
                self.ack_now();
                return;
            }
        }
        let committed = matches!(accepted, Accepted::Committed);
        if committed && wants_receipt && !self.receipt_for_resend(raw_sid, key) && sid.is_some() {
            // No room to answer it now: not received, so it comes again.
            self.stats.dropped_full += 1;
            return;
        }
        let Some(sid) = sid else {
            // Below the floor: a resend of something acked before (the ack
            // was lost) or given up on. Either way the sender wants an ack.
            self.ack_now();
            return;
        };
        if committed && !wants_receipt {
            self.committed.insert(sid);
        }
        // A hole in the SIDs is acked at once (in `note_received`), so the
        // sender can fast-retransmit; so is a duplicate, so it stops resending.
        self.note_received(now, sid);
        match accepted {
            Accepted::New { contiguous } | Accepted::NewWhileSyncing { contiguous } => {
                self.ack_later(now, contiguous)
            }
            _ => self.ack_now(),
        }
    }

    fn note_received(&mut self, now: Instant, sid: u64) {
        let gap = sid > self.received.end();
        self.received.insert(sid);
        if sid + 1 == self.received.end() {
            self.highest_arrival = now;
        }
        if gap {
            self.ack_now();
        }
    }

    /// A message answering a history request: acknowledged on arrival (it
    /// needs no commit: the app can always ask again) and collected into
    /// its page.
    fn on_history_data(&mut self, now: Instant, raw_sid: u64, msg: Message) {
        // A copy of a history message settled before: skipped, it stays
        // listed in SKIPPED (no receipt: nothing was stored); committed
        // (the app gave its key a receipt through another copy), it gets
        // that receipt again — below the received floor too, since history
        // has no version path to answer it by.
        let committed = matches!(
            self.committed.membership(raw_sid),
            Membership::In | Membership::Below
        );
        let received = matches!(
            self.received.membership(raw_sid),
            Membership::In | Membership::Below
        );
        // Only a remembered receipt: a history copy is committed only
        // through one, and a SID below the floors may also be one its
        // sender settled long ago (the app is never asked for history).
        let remembered = self.receipt_cache.get(&(msg.stream, msg.version)).cloned();
        if let (true, true, true, Some(r)) = (msg.wants_receipt, received, committed, remembered) {
            self.repeat_receipt(raw_sid, r);
        }
        let Some(sid) = self.admit_sid(raw_sid) else {
            return;
        };
        if let Some(sid) = sid {
            self.note_received(now, sid);
            // History needs no commit; a wanted receipt is settled empty
            // unless the app gave this key one before.
            settle_unstored(Some(sid), &msg, PassOver::Skipped, settlement!(self));
        }
        self.ack_later(now, false);
        let stream = msg.stream;
        // Like an early message: pages and early messages together must not
        // lock out the live stream (and with it the room both wait for).
        let room = room_to_hold(self.held, self.config.max_held_messages, false);
        let Some(h) = self
            .streams
            .get_mut(&stream)
            .and_then(|st| st.cold.as_deref_mut())
            .and_then(|c| c.history.as_deref_mut())
        else {
            return;
        };
        // A replaced request's answer may still arrive: once the page's end
        // is known, only its range counts; before, the buffer's bound does.
        let in_page = h
            .end
            .is_none_or(|e| msg.version > e.first_prev && msg.version <= e.through);
        let cap = self.config.max_reorder_per_stream.max(h.limit as usize);
        let fits = msg.version < h.before && in_page && h.messages.len() < cap;
        if !fits || h.messages.contains_key(&msg.version) {
            self.stats.duplicates += 1;
            return;
        }
        if self.history_turn != Some(stream) {
            // Only the page holding the turn collects: a late answer to a
            // page that waits must not take the room the turn's page needs.
            self.stats.dropped_full += 1;
            return;
        }
        if !room {
            // Give up what this page collected so far: its retry fetches
            // the page again. Holding on to it could leave every page
            // waiting for room that other pages hold (they are committed
            // on arrival, so letting them go loses nothing).
            self.stats.dropped_full += 1 + h.messages.len() as u64;
            self.held -= h.messages.len();
            h.messages.clear();
            return;
        }
        h.messages.insert(msg.version, msg);
        self.held += 1;
        self.try_finish_history(stream);
    }

    /// Reports the stream's history page once every message between its
    /// end marker's bounds is here, chained without a hole.
    fn try_finish_history(&mut self, stream: StreamId) {
        let Some(c) = self
            .streams
            .get_mut(&stream)
            .and_then(|st| st.cold.as_deref_mut())
        else {
            return;
        };
        let Some(h) = c.history.as_deref() else {
            return;
        };
        let Some(end) = h.end else {
            return;
        };
        let mut at = end.first_prev;
        let mut n = 0u64;
        for m in h
            .messages
            .range(Version(end.first_prev.0.saturating_add(1))..)
        {
            if m.1.version > end.through || m.1.prev != at {
                break;
            }
            at = m.1.version;
            n += 1;
        }
        if at != end.through || n != end.count {
            return;
        }
        let Some(h) = c.history.take() else {
            return;
        };
        self.timers.disarm(c.slot, Timer::History);
        self.held -= h.messages.len();
        self.pass_history_turn();
        let messages = h
            .messages
            .into_values()
            .filter(|m| m.version > end.first_prev && m.version <= end.through)
            .collect();
        if let Some(through) = end.trimmed {
            self.events.push_back(ReceiverEvent::Trimmed {
                stream,
                after: through,
                through,
            });
        }
        self.events.push_back(ReceiverEvent::History {
            stream,
            before: h.before,
            messages,
            more: end.more,
        });
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
                        // Another SID already waits for this commit: this
                        // one is settled with it.
                        let max = self.config.max_held_messages;
                        match (h.sid, sid) {
                            (Some(primary), Some(sid)) if self.aliases.add(primary, sid, max) => {
                                Accepted::Pending
                            }
                            _ => Accepted::Dropped,
                        }
                    }
                }
                // Passed over without the app storing it: not a commit.
                Err(_) if st.cold().is_some_and(|c| c.passed.contains(msg.version)) => {
                    Accepted::Skipped
                }
                Err(_) => Accepted::Committed,
            };
        }
        if msg.prev < st.head || (st.contiguous && msg.version.0 != msg.prev.0 + 1) {
            self.stats.chain_conflicts += 1;
            return Accepted::Dropped;
        }
        if let Some((m, s)) = st
            .cold
            .as_deref_mut()
            .and_then(|c| c.buffered.get_mut(&msg.prev))
        {
            if m.version != msg.version {
                self.stats.chain_conflicts += 1;
                return Accepted::Dropped;
            }
            if s.is_none() || sid.is_none() || *s == sid {
                *s = s.or(sid);
                return Accepted::Pending;
            }
            let max = self.config.max_held_messages;
            return match (*s, sid) {
                (Some(primary), Some(sid)) if self.aliases.add(primary, sid, max) => {
                    Accepted::Pending
                }
                _ => Accepted::Dropped,
            };
        }
        let in_order = msg.prev == st.head;
        // A member of the package waiting at the head is as good as in
        // order: the package leaves only whole, so refusing its later
        // members for room that early messages took would keep it (and
        // everything behind it) waiting for ever.
        let completes_head = msg.package.is_some_and(|p| {
            st.package()
                .is_some_and(|open| open.id == p.id && open.last == p.last)
        });
        let drains = in_order || completes_head;
        if !room_to_hold(self.held, self.config.max_held_messages, drains)
            || (!drains && st.buffered_len() >= self.config.max_reorder_per_stream)
        {
            self.stats.dropped_full += 1;
            return Accepted::Dropped;
        }
        self.held += 1;
        if in_order && msg.package.is_none() && st.package().is_none() {
            deliver(
                &mut st.head,
                &mut st.uncommitted,
                msg,
                sid,
                &mut self.events,
                &mut self.stats,
            );
        } else {
            st.cold_mut().buffered.insert(msg.prev, (msg, sid));
        }
        let contiguous = st.contiguous;
        if st.cold.is_none() {
            // The in-order path of a stream that never needed its cold
            // part: nothing waits behind the head and no timer runs, so
            // `advance` would find nothing to do.
            return Accepted::New { contiguous };
        }
        let syncing = st.sync().is_some();
        self.advance(stream, Some(now));
        if syncing {
            Accepted::NewWhileSyncing { contiguous }
        } else {
            Accepted::New { contiguous }
        }
    }

    /// Delivers what now follows the stream's head — a plain message at
    /// once, a package only when all of it is here — then re-arms the
    /// stream's gap and package timers. `now` is `None` from calls without
    /// a clock (resume), which arm no new timers.
    fn advance(&mut self, stream: StreamId, now: Option<Instant>) {
        let Some(st) = self.streams.get_mut(&stream) else {
            return;
        };
        let StreamState {
            head,
            uncommitted,
            contiguous,
            cold,
        } = st;
        let Some(c) = cold.as_deref_mut() else {
            // Nothing buffered, no package, no timer armed.
            return;
        };
        while let Some((next, _)) = c.buffered.get(head) {
            if let Some(p) = next.package {
                if !package_complete(c, *head, p) {
                    break;
                }
            }
            let Some((msg, sid)) = c.buffered.remove(head) else {
                break;
            };
            deliver(
                head,
                uncommitted,
                msg,
                sid,
                &mut self.events,
                &mut self.stats,
            );
            if c.package.is_some_and(|o| *head >= o.last) {
                c.close_package(&mut self.timers);
            }
        }
        let Some(now) = now else {
            if c.buffered.is_empty() {
                self.timers.disarm(c.slot, Timer::Gap);
            }
            return;
        };
        if c.package.is_some() {
            // The package timer owns the recovery of a package at the head.
            self.timers.disarm(c.slot, Timer::Gap);
            if self.timers.deadline(c.slot, Timer::Package).is_none() {
                let at = now + self.config.package_timeout;
                self.timers.arm(&mut c.slot, stream, Timer::Package, at);
            }
            return;
        }
        // A sync in progress is already fetching what follows the head
        // (or the start of an empty stream): a hole it will fill is not
        // reported again at each message it brings. Once it ends with
        // something still waiting, the gap is reported anew.
        if c.buffered.is_empty() || c.sync.is_some() {
            self.timers.disarm(c.slot, Timer::Gap);
            return;
        }
        let armed = self.timers.deadline(c.slot, Timer::Gap).is_some() && c.gap_armed_for == *head;
        if armed || c.gap_reported == Some(*head) {
            return;
        }
        if *contiguous {
            // Arithmetic proves the hole: no need to wait for a late message.
            self.report_gap(now, stream);
            return;
        }
        c.gap_armed_for = *head;
        let at = now + self.config.gap_wait;
        self.timers.arm(&mut c.slot, stream, Timer::Gap, at);
    }

    fn report_gap(&mut self, now: Instant, stream: StreamId) {
        let Some(st) = self.streams.get_mut(&stream) else {
            return;
        };
        let head = st.head;
        let c = st.cold_mut();
        self.timers.disarm(c.slot, Timer::Gap);
        c.gap_reported = Some(head);
        // A message that follows a version below the head can never be
        // delivered (a forked chain: another message took its place). Drop
        // it, settling its SID so the sender stops waiting for it.
        let forked = skip_buffered(c, head, PassOver::Skipped, settlement!(self));
        self.held -= forked;
        self.stats.chain_conflicts += forked as u64;
        let next_here = c.buffered.contains_key(&head);
        let waiting = c.buffered.keys().min().copied();
        if forked > 0 {
            self.ack_later(now, false);
        }
        if next_here {
            // What follows the head is here (a package waiting for the rest
            // of its members, after a resume moved the head): no hole.
            self.advance(stream, Some(now));
            return;
        }
        let Some(waiting_after) = waiting else {
            return;
        };
        self.stats.gaps += 1;
        self.events.push_back(ReceiverEvent::Gap {
            stream,
            after: head,
            waiting_after,
        });
        self.start_sync(stream, SyncKind::UntilMovedOn);
    }

    /// The package at the head stayed incomplete: fetch it again, or give
    /// it up once the retries are spent.
    fn on_package_timeout(&mut self, now: Instant, stream: StreamId) {
        let Some(st) = self.streams.get_mut(&stream) else {
            return;
        };
        let after = st.head;
        let Some(c) = st.cold.as_deref_mut() else {
            return;
        };
        let Some(open) = c.package.as_mut() else {
            return;
        };
        if open.last <= after {
            // The head moved past it some other way: nothing to give up.
            c.package = None;
            return;
        }
        if open.attempts < self.config.package_retries {
            open.attempts += 1;
            let at = now + self.config.package_timeout;
            self.timers.arm(&mut c.slot, stream, Timer::Package, at);
            self.start_sync(stream, SyncKind::UntilMovedOn);
            return;
        }
        let open = *open;
        c.package = None;
        let members = c
            .buffered
            .values()
            .filter(|(m, _)| {
                m.package
                    .is_some_and(|p| p.id == open.id && p.last == open.last)
            })
            .count();
        self.held -= skip_buffered(c, open.last, PassOver::Skipped, settlement!(self));
        c.passed.add(after, open.last);
        let received = clamp_u32(members).min(open.count);
        st.head = open.last;
        self.stats.packages_expired += 1;
        self.events.push_back(ReceiverEvent::PackageExpired {
            stream,
            id: open.id,
            after,
            last: open.last,
            received,
            count: open.count,
        });
        self.ack_later(now, false);
        self.advance(stream, Some(now));
        self.sync_progress(now, stream);
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout)
    /// has work; `None` when nothing is waiting on time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ack = [self.ack_deadline, self.sparse_deadline]
            .into_iter()
            .flatten()
            .min()
            .filter(|_| !self.ack_immediate);
        let stream = self.timers.next();
        [ack, stream].into_iter().flatten().min()
    }

    /// Runs the timers due at `now`. Harmless when called early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        if due(self.ack_deadline) || due(self.sparse_deadline) {
            self.ack_deadline = None;
            self.sparse_deadline = None;
            self.ack_immediate = true;
        }
        while let Some((stream, timer)) = self.timers.pop_due(now) {
            let Some(c) = self
                .streams
                .get_mut(&stream)
                .and_then(|st| st.cold.as_deref_mut())
            else {
                continue;
            };
            match timer {
                Timer::Gap => self.report_gap(now, stream),
                Timer::Sync => {
                    if c.sync.is_some() {
                        self.start_sync(stream, SyncKind::UntilMovedOn);
                    }
                }
                Timer::Package => self.on_package_timeout(now, stream),
                Timer::History => {
                    if let Some(h) = c.history.as_mut().filter(|h| !h.due) {
                        h.due = true;
                        self.requests_due.push_back((stream, Request::History));
                    }
                }
            }
        }
    }

    /// Whether an ack is owed, due now or (with `piggyback`) at all.
    pub(crate) fn wants_ack(&self, now: Instant, piggyback: bool) -> bool {
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        self.ack_pending
            && (self.ack_immediate
                || piggyback
                || due(self.ack_deadline)
                || due(self.sparse_deadline))
    }

    /// Writes an owed ACK frame and due requests that fit under `limit`.
    pub(crate) fn write_frames(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
        limit: usize,
        piggyback: bool,
    ) {
        if self.wants_ack(now, piggyback) {
            // Each receipt goes before the ack that first reports its SID
            // committed, in the same packet: the sender never sees the
            // commit without the receipt unless this packet is lost.
            while let Some((sid, r)) = self.receipts_due.front() {
                if buf.len() + frame::receipt_len(*sid, r) + frame::ACK_MIN_LEN > limit {
                    break;
                }
                frame::put_receipt(buf, *sid, r);
                self.committed.insert(*sid);
                self.stats.receipts_sent += 1;
                self.receipts_due.pop_front();
            }
            self.write_skipped(buf, limit);
            self.write_ack(now, buf, limit);
        }
        self.pass_history_turn();
        while let Some(&(stream, request)) = self.requests_due.front() {
            if buf.len() + frame::SYNC_MAX_LEN > limit {
                break;
            }
            self.requests_due.pop_front();
            if request == Request::History {
                if self
                    .history_turn
                    .is_some_and(|t| t != stream && self.has_history(t))
                {
                    if !self.history_waiting.contains(&stream) {
                        self.history_waiting.push_back(stream);
                    }
                    // What it collected before waits elsewhere: let it go
                    // (its turn fetches the page again).
                    let c = self
                        .streams
                        .get_mut(&stream)
                        .and_then(|st| st.cold.as_deref_mut());
                    if let Some(h) = c.and_then(|c| c.history.as_deref_mut()) {
                        self.held -= h.messages.len();
                        h.messages.clear();
                    }
                    continue;
                }
                self.history_turn = Some(stream);
            }
            let Some(st) = self.streams.get_mut(&stream) else {
                continue;
            };
            let head = st.head;
            // A request is made only where the stream's cold part exists.
            let Some(c) = st.cold.as_deref_mut() else {
                continue;
            };
            let (req, attempts, timer) = match request {
                Request::Sync => {
                    let Some(sync) = c.sync.as_mut().filter(|s| s.due) else {
                        continue;
                    };
                    sync.due = false;
                    sync.attempts += 1;
                    let req = match sync.latest {
                        Some(limit) => SyncRequest {
                            stream,
                            range: SyncRange::Latest,
                            limit,
                        },
                        None => {
                            // After what is held without a hole, not after
                            // the head: a package (or anything waiting) at
                            // the head may need the next page to finish.
                            let after = held_through(&c.buffered, head);
                            sync.asked_after = after;
                            SyncRequest {
                                stream,
                                range: SyncRange::After(after),
                                limit: self.config.sync_page,
                            }
                        }
                    };
                    (req, sync.attempts, Timer::Sync)
                }
                Request::History => {
                    let Some(h) = c.history.as_mut().filter(|h| h.due) else {
                        continue;
                    };
                    h.due = false;
                    h.attempts += 1;
                    let req = SyncRequest {
                        stream,
                        range: SyncRange::Before(h.before),
                        limit: h.limit,
                    };
                    (req, h.attempts, Timer::History)
                }
            };
            frame::put_sync(buf, &req);
            self.stats.sync_requests += 1;
            let backoff = 1u32 << (attempts - 1).min(MAX_SYNC_BACKOFF);
            let at = now + self.config.sync_retry * backoff;
            self.timers.arm(&mut c.slot, stream, timer, at);
        }
    }

    /// Reports the SIDs settled without a commit, before the ack: as many
    /// ranges as fit beside an ack, the rest with later acks. (Nothing
    /// depends on the two arriving together: a skipped SID is never in
    /// the committed set, so a lost report only delays its settlement.)
    fn write_skipped(&mut self, buf: &mut BytesMut, limit: usize) {
        if self.skipped.is_empty() {
            return;
        }
        let mut n = self
            .config
            .max_ack_ranges
            .min(frame::MAX_WIRE_RANGES as usize);
        let room = limit.saturating_sub(frame::ACK_MIN_LEN);
        let len = |n: usize| frame::skipped_len(self.skipped.ranges().take(n));
        while n > 0 && buf.len() + len(n) > room {
            n -= 1;
        }
        if n > 0 {
            frame::put_skipped(buf, self.skipped.ranges().take(n));
        }
    }

    fn write_ack(&mut self, now: Instant, buf: &mut BytesMut, limit: usize) {
        let delay = crate::time::duration_micros(now - self.highest_arrival);
        let mut n = self
            .config
            .max_ack_ranges
            .min(frame::MAX_WIRE_RANGES as usize);
        // Flow control: what this receiver can still hold. The sender keeps
        // no more unreceived messages on the wire, so a receiver with small
        // bounds is not sent messages it must drop (which its sender would
        // take for loss, backing off while the one message that would let
        // the receiver move on waits behind them).
        let room = (self.config.max_held_messages.saturating_sub(self.held)) as u64;
        let fixed = 1 + crate::varint::len(delay) + crate::varint::len(room);
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
        crate::varint::put(buf, room);
        self.ack_pending = false;
        self.ack_immediate = false;
        self.ack_deadline = None;
        self.ack_count = 0;
        self.sparse_deadline = None;
        self.sparse_count = 0;
        self.stats.acks_sent += 1;
    }

    /// The next packet (an ack) to send to the peer's sender, until `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        if !self.wants_ack(now, false) && !self.wants_request() {
            return None;
        }
        let max = self.config.max_packet_size;
        let mut writer = core::mem::replace(&mut self.writer, PacketWriter::new(0, self.id));
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

/// Copies of one message (under different SIDs) that wait for the same
/// receipt from the app; more are left unanswered and come again.
const MAX_COPIES_AWAITING_RECEIPT: usize = 8;

/// A request's retry interval doubles up to `sync_retry << MAX_SYNC_BACKOFF`.
/// Each try is one unacknowledged frame: at a 64× cap and 50 % loss, ten
/// minutes brought only some 15 tries, all lost about once in 2^15 (deep
/// sweep seed 1000628); at 8× they are some 75.
const MAX_SYNC_BACKOFF: u32 = 3;

/// Why a sync starts.
#[derive(Clone, Copy)]
enum SyncKind {
    /// What follows the head, until the stream moves on: a reported gap,
    /// an incomplete package's re-fetch, the next page, a retry. Done once
    /// the hole closes.
    UntilMovedOn,
    /// The integrity check after resume: done when nothing more follows.
    Resume,
    /// An empty stream starting from its latest messages.
    Latest(u32),
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Drops buffered messages that follow a version below `through` (the
/// stream moves past them without delivering them) and settles their SIDs
/// as `how` says, so the sender stops waiting for them (see
/// [`settle_unstored`]). Returns how many were dropped.
fn skip_buffered(c: &mut Cold, through: Version, how: PassOver, mut to: Settlement<'_>) -> usize {
    let before = c.buffered.len();
    // What follows a version below `through` can never chain on again.
    c.buffered.retain(|&prev, (m, sid)| {
        if prev >= through {
            return true;
        }
        settle_unstored(*sid, m, how, to.reborrow());
        false
    });
    before - c.buffered.len()
}

/// Ranges of skipped SIDs kept at most: every skipped SID lies in the
/// committed set's window (twice `max_in_flight`), so this never refuses one.
fn max_skipped_ranges(config: &Config) -> usize {
    usize::try_from(config.max_in_flight.saturating_mul(2)).unwrap_or(usize::MAX)
}

/// The last version held without a hole after `head`: the head itself, or
/// the end of the chain of buffered messages that follows it.
fn held_through(buffered: &HashMap<Version, (Message, Option<u64>)>, head: Version) -> Version {
    let mut at = head;
    while let Some((m, _)) = buffered.get(&at) {
        at = m.version;
    }
    at
}

/// Whether one more message may be held (`max_held_messages` is `max`).
/// One that lets a stream's head move (`drains`: it follows the head, or
/// completes the package there) may take any free slot; anything else —
/// an early message, a history page's — leaves the last one. Else those
/// could fill the receiver, and the message filling their hole would be
/// dropped for good.
fn room_to_hold(held: usize, max: usize, drains: bool) -> bool {
    let room = if drains { max } else { max.saturating_sub(1) };
    held < room
}

/// Settles the SID of a message the receiver will never deliver. If the
/// app gave this message's key a receipt through another copy (still
/// remembered), it is stored: committed with that receipt. Otherwise `how`
/// decides: `Stored` (the app said so) is committed, with an empty receipt
/// where one is wanted; `Skipped` goes to the SKIPPED report, never to the
/// committed set, so its sender learns it was not stored.
fn settle_unstored(sid: Option<u64>, m: &Message, how: PassOver, mut to: Settlement<'_>) {
    for alias in to.aliases.take(sid) {
        settle_unstored_sid(alias, m, how, to.reborrow());
    }
    if let Some(sid) = sid {
        settle_unstored_sid(sid, m, how, to);
    }
}

fn settle_unstored_sid(sid: u64, m: &Message, how: PassOver, to: Settlement<'_>) {
    let remembered = m
        .wants_receipt
        .then(|| to.remembered.get(&(m.stream, m.version)).cloned())
        .flatten();
    match (remembered, how) {
        (Some(receipt), _) => to.receipts_due.push_back((sid, receipt)),
        (None, PassOver::Stored) if m.wants_receipt => {
            to.receipts_due.push_back((sid, Bytes::new()))
        }
        (None, PassOver::Stored) => {
            to.committed.insert(sid);
        }
        (None, PassOver::Skipped) => {
            to.skipped.insert(sid, to.max_skipped);
        }
    }
}

/// More SIDs for a message already held under another: a sync answer or a
/// resend that reached the receiver while the first copy waited (behind a
/// hole, or for its commit). Each is acked as received and settled with
/// the message, so its sender stops retransmitting it — dropped instead,
/// such copies stayed in flight under backoff and pinned the sender's
/// window. Bounded: `max_held_messages` SIDs in all, a few per message.
///
/// Keyed by the SID the message is held under (its *primary*), so that only
/// that message's own settlement takes them — never another copy of the
/// same version (a history page's, a fork's).
#[derive(Default)]
struct Aliases {
    by_primary: HashMap<u64, Vec<u64>>,
    count: usize,
}

impl Aliases {
    /// Records `sid` for the message held under `primary`; false (not
    /// received: it comes again) when the bound is reached.
    fn add(&mut self, primary: u64, sid: u64, max: usize) -> bool {
        if self.count >= max {
            return false;
        }
        let sids = self.by_primary.entry(primary).or_default();
        if sids.contains(&sid) {
            return true;
        }
        if sids.len() >= MAX_COPIES_AWAITING_RECEIPT {
            return false;
        }
        sids.push(sid);
        self.count += 1;
        true
    }

    /// Takes every SID recorded for the message held under `primary`.
    fn take(&mut self, primary: Option<u64>) -> Vec<u64> {
        let Some(primary) = primary.filter(|_| self.count > 0) else {
            return Vec::new();
        };
        let sids = self.by_primary.remove(&primary).unwrap_or_default();
        self.count -= sids.len();
        sids
    }
}

/// How a message the stream moves past without delivering it is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PassOver {
    /// The app says its store has it ([`Receiver::resume`]): committed.
    Stored,
    /// The receiver's policy passes over it (a package given up, a
    /// `resume_latest` start, a history page, a forked chain): skipped.
    Skipped,
}

/// The SID sets a settled message goes into, borrowed from the receiver
/// beside a stream's state (see `settlement!`).
struct Settlement<'a> {
    remembered: &'a HashMap<(StreamId, Version), Bytes>,
    aliases: &'a mut Aliases,
    committed: &'a mut SidSet,
    skipped: &'a mut SidRanges,
    receipts_due: &'a mut VecDeque<(u64, Bytes)>,
    max_skipped: usize,
}

impl Settlement<'_> {
    fn reborrow(&mut self) -> Settlement<'_> {
        Settlement {
            remembered: self.remembered,
            aliases: self.aliases,
            committed: self.committed,
            skipped: self.skipped,
            receipts_due: self.receipts_due,
            max_skipped: self.max_skipped,
        }
    }
}

/// Version ranges `(after, through]` a stream's head moved past without the
/// app storing them (a package given up, the versions before a
/// `resume_latest` start): resends of them are skipped, not acked as
/// duplicates of something the app has.
#[derive(Default)]
struct PassedOver {
    ranges: Vec<(Version, Version)>,
}

/// Passed-over ranges one stream remembers; past this the two oldest are
/// merged (the versions between are then also answered "skipped": never
/// "acked" for something not stored, at worst "skipped" for something
/// stored, which makes its sender keep a copy it could have dropped).
const MAX_PASSED_RANGES: usize = 8;

impl PassedOver {
    fn add(&mut self, after: Version, through: Version) {
        if through <= after {
            return;
        }
        match self.ranges.last_mut() {
            Some((_, t)) if *t >= after => *t = (*t).max(through),
            _ => self.ranges.push((after, through)),
        }
        if self.ranges.len() > MAX_PASSED_RANGES {
            let (a, _) = self.ranges.remove(0);
            self.ranges[0].0 = a;
        }
    }

    fn contains(&self, v: Version) -> bool {
        self.ranges.iter().any(|&(a, t)| v > a && v <= t)
    }

    /// Drops what lies above `head`.
    fn clip(&mut self, head: Version) {
        self.ranges.retain_mut(|(a, t)| {
            *t = (*t).min(head);
            *t > *a
        });
    }
}

/// Whether the package starting at the head is held without a hole up to
/// its last member. The walk resumes where it stopped, so each member is
/// visited once however the members trickle in.
fn package_complete(c: &mut Cold, head: Version, p: Package) -> bool {
    let open = match c.package.as_mut() {
        Some(o) if o.id == p.id && o.last == p.last => o,
        _ => c.package.insert(OpenPackage {
            id: p.id,
            count: p.count,
            last: p.last,
            reached: head,
            attempts: 0,
        }),
    };
    while open.reached < open.last {
        match c.buffered.get(&open.reached) {
            Some((m, _))
                if m.package
                    .is_some_and(|q| q.id == open.id && q.last == open.last) =>
            {
                open.reached = m.version;
            }
            _ => break,
        }
    }
    open.reached == open.last
}

fn deliver(
    head: &mut Version,
    uncommitted: &mut VecDeque<Held>,
    msg: Message,
    sid: Option<u64>,
    events: &mut VecDeque<ReceiverEvent>,
    stats: &mut ReceiverStats,
) {
    *head = msg.version;
    uncommitted.push_back(Held {
        version: msg.version,
        sid,
        committed: false,
        wants_receipt: msg.wants_receipt,
    });
    stats.delivered += 1;
    events.push_back(ReceiverEvent::Deliver(msg));
}

/// Snapshots (see `SnapshotError` for the format's guarantees).
impl Receiver {
    /// The receiver's whole state as bytes, for [`restore`](Self::restore)
    /// after a process restart. Take it after `poll_event` returned `None`.
    /// Commits the app made after the snapshot must be made again after
    /// restoring (the messages are still delivered and uncommitted there).
    pub fn snapshot(&self) -> Result<Bytes, SnapshotError> {
        if !self.events.is_empty() {
            return Err(SnapshotError::EventsPending);
        }
        let mut s = Enc::new(snapshot::RECEIVER, self.id);
        let mut streams: Vec<_> = self.streams.iter().collect();
        streams.sort_unstable_by_key(|(id, _)| **id);
        s.usize(streams.len());
        // A stream without a cold part is written as its defaults, as before
        // the split: the format does not change.
        let idle = Cold::default();
        for (id, st) in streams {
            let c = st.cold().unwrap_or(&idle);
            s.u(id.0);
            s.u(st.head.0);
            s.usize(st.uncommitted.len());
            for h in &st.uncommitted {
                s.u(h.version.0);
                s.opt_u(h.sid);
                s.b(h.committed);
                s.b(h.wants_receipt);
            }
            let mut buffered: Vec<_> = c.buffered.iter().collect();
            buffered.sort_unstable_by_key(|(prev, _)| **prev);
            s.usize(buffered.len());
            for (_, (m, sid)) in buffered {
                s.message(m);
                s.opt_u(*sid);
            }
            s.b(st.contiguous);
            for t in Timer::ALL {
                s.opt_instant(self.timers.deadline(c.slot, t));
            }
            s.u(c.gap_armed_for.0);
            s.opt_u(c.gap_reported.map(|v| v.0));
            s.b(c.sync.is_some());
            if let Some(y) = c.sync {
                s.b(y.due);
                s.b(y.for_gap);
                s.opt_u(y.latest.map(u64::from));
                s.u(y.asked_after.0);
                s.u(u64::from(y.attempts));
                s.b(y.end.is_some());
                if let Some((v, more)) = y.end {
                    s.u(v.0);
                    s.b(more);
                }
            }
            s.b(c.package.is_some());
            if let Some(p) = c.package {
                s.u(p.id);
                s.u(u64::from(p.count));
                s.u(p.last.0);
                s.u(p.reached.0);
                s.u(u64::from(p.attempts));
            }
            s.b(c.history.is_some());
            if let Some(h) = &c.history {
                s.u(h.before.0);
                s.u(u64::from(h.limit));
                s.b(h.due);
                s.u(u64::from(h.attempts));
                s.usize(h.messages.len());
                for m in h.messages.values() {
                    s.message(m);
                }
                s.b(h.end.is_some());
                if let Some(e) = &h.end {
                    s.page_end(e);
                }
            }
            s.usize(c.passed.ranges.len());
            for &(a, t) in &c.passed.ranges {
                s.u(a.0);
                s.u(t.0);
            }
        }
        s.usize(self.requests_due.len());
        for (id, r) in &self.requests_due {
            s.u(id.0);
            s.b(*r == Request::History);
        }
        s.opt_u(self.history_turn.map(|t| t.0));
        s.usize(self.history_waiting.len());
        for id in &self.history_waiting {
            s.u(id.0);
        }
        s.sid_set(&self.received);
        s.sid_set(&self.committed);
        s.usize(self.skipped.len());
        for (a, b) in self.skipped.ranges() {
            s.u(a);
            s.u(b);
        }
        s.instant(self.highest_arrival);
        s.b(self.ack_pending);
        s.b(self.ack_immediate);
        s.opt_instant(self.ack_deadline);
        s.u(u64::from(self.ack_count));
        s.opt_instant(self.sparse_deadline);
        s.u(u64::from(self.sparse_count));
        s.usize(self.receipts_due.len());
        for (sid, r) in &self.receipts_due {
            s.u(*sid);
            s.bytes(r);
        }
        s.usize(self.receipt_order.len());
        for key in &self.receipt_order {
            s.u(key.0 .0);
            s.u(key.1 .0);
            s.bytes(self.receipt_cache.get(key).map_or(&[][..], |r| &r[..]));
        }
        let mut wanted: Vec<_> = self.receipts_wanted.iter().collect();
        wanted.sort_unstable();
        s.usize(wanted.len());
        for (key, sids) in wanted {
            s.u(key.0 .0);
            s.u(key.1 .0);
            s.usize(sids.len());
            for &sid in sids {
                s.u(sid);
            }
        }
        let mut unordered: Vec<_> = self.unordered.iter().collect();
        unordered.sort_unstable();
        s.usize(unordered.len());
        for (key, (sid, wants)) in unordered {
            s.u(key.0 .0);
            s.u(key.1 .0);
            s.u(*sid);
            s.b(*wants);
        }
        let mut aliases: Vec<_> = self.aliases.by_primary.iter().collect();
        aliases.sort_unstable();
        s.usize(aliases.len());
        for (primary, sids) in aliases {
            s.u(*primary);
            s.usize(sids.len());
            for &sid in sids {
                s.u(sid);
            }
        }
        s.u(self.datagram_top);
        s.u(self.datagram_seen as u64);
        s.u((self.datagram_seen >> 64) as u64);
        let st = &self.stats;
        for v in [
            st.delivered,
            st.duplicates,
            st.dropped_full,
            st.chain_conflicts,
            st.acks_sent,
            st.sync_requests,
            st.gaps,
            st.packages_expired,
            st.datagrams,
            st.datagrams_dropped,
            st.receipts_sent,
        ] {
            s.u(v);
        }
        Ok(s.finish())
    }

    /// A receiver that continues exactly where the one that wrote
    /// `snapshot` stopped. `config` must bound the snapshot's state;
    /// anything malformed, inconsistent or out of bounds is an error and
    /// nothing is returned.
    pub fn restore(
        config: impl Into<Arc<Config>>,
        snapshot: Bytes,
    ) -> Result<Receiver, SnapshotError> {
        let bad = SnapshotError::Inconsistent;
        let mut d = Dec::open(snapshot, snapshot::RECEIVER)?;
        let mut rx = Receiver::new(config, d.connection_id());
        let n = d.count()?;
        let mut held = 0usize;
        for _ in 0..n {
            let id = StreamId(d.u()?);
            let mut st = StreamState {
                head: Version(d.u()?),
                ..StreamState::default()
            };
            let mut c = Cold::default();
            let k = d.count()?;
            for _ in 0..k {
                let h = Held {
                    version: Version(d.u()?),
                    sid: d.opt_u()?,
                    committed: d.b()?,
                    wants_receipt: d.b()?,
                };
                let ascending = st.uncommitted.back().is_none_or(|b| b.version < h.version);
                if !ascending || h.version > st.head {
                    return Err(bad("delivered versions"));
                }
                st.uncommitted.push_back(h);
            }
            if st.uncommitted.front().is_some_and(|h| h.committed) {
                return Err(bad("committed message still held"));
            }
            let k = d.count()?;
            for _ in 0..k {
                let m = d.message()?;
                let sid = d.opt_u()?;
                if m.stream != id || c.buffered.contains_key(&m.prev) {
                    return Err(bad("buffered message"));
                }
                c.buffered.insert(m.prev, (m, sid));
            }
            st.contiguous = d.b()?;
            let mut deadlines = [None; 4];
            for at in &mut deadlines {
                *at = d.opt_instant()?;
            }
            c.gap_armed_for = Version(d.u()?);
            c.gap_reported = d.opt_u()?.map(Version);
            if d.b()? {
                let due = d.b()?;
                let for_gap = d.b()?;
                let latest = d
                    .opt_u()?
                    .map(u32::try_from)
                    .transpose()
                    .map_err(|_| bad("latest"))?;
                let asked_after = Version(d.u()?);
                let attempts = d.u32()?;
                let end = if d.b()? {
                    Some((Version(d.u()?), d.b()?))
                } else {
                    None
                };
                c.sync = Some(SyncState {
                    due,
                    for_gap,
                    latest,
                    asked_after,
                    attempts,
                    end,
                });
            }
            if d.b()? {
                c.package = Some(OpenPackage {
                    id: d.u()?,
                    count: d.u32()?,
                    last: Version(d.u()?),
                    reached: Version(d.u()?),
                    attempts: d.u32()?,
                });
            }
            if d.b()? {
                let before = Version(d.u()?);
                let limit = d.u32()?;
                let due = d.b()?;
                let attempts = d.u32()?;
                let k = d.count()?;
                let mut messages = BTreeMap::new();
                for _ in 0..k {
                    let m = d.message()?;
                    if m.stream != id || m.version >= before || messages.contains_key(&m.version) {
                        return Err(bad("history message"));
                    }
                    messages.insert(m.version, m);
                }
                if messages.len() > limit as usize {
                    return Err(bad("history page past its limit"));
                }
                let end = if d.b()? { Some(d.page_end()?) } else { None };
                held += messages.len();
                c.history = Some(Box::new(HistoryState {
                    before,
                    limit,
                    due,
                    attempts,
                    messages,
                    end,
                }));
            }
            let k = d.count()?;
            if k > MAX_PASSED_RANGES {
                return Err(bad("passed-over ranges past their bound"));
            }
            for _ in 0..k {
                let (a, t) = (Version(d.u()?), Version(d.u()?));
                let ascending = c.passed.ranges.last().is_none_or(|&(_, pt)| pt < a);
                if t <= a || !ascending || t > st.head {
                    return Err(bad("passed-over range"));
                }
                c.passed.ranges.push((a, t));
            }
            held += st.uncommitted.len() + c.buffered.len();
            for (timer, at) in Timer::ALL.into_iter().zip(deadlines) {
                if let Some(at) = at {
                    rx.timers.arm(&mut c.slot, id, timer, at);
                }
            }
            // Only streams that had a cold part get one back.
            let idle = c.buffered.is_empty()
                && c.slot.is_none()
                && c.gap_armed_for == Version::ZERO
                && c.gap_reported.is_none()
                && c.sync.is_none()
                && c.package.is_none()
                && c.history.is_none()
                && c.passed.ranges.is_empty();
            if !idle {
                st.cold = Some(Box::new(c));
            }
            if rx.streams.insert(id, st).is_some() {
                return Err(bad("stream twice"));
            }
        }
        let n = d.count()?;
        for _ in 0..n {
            let id = StreamId(d.u()?);
            let r = if d.b()? {
                Request::History
            } else {
                Request::Sync
            };
            rx.requests_due.push_back((id, r));
        }
        rx.history_turn = d.opt_u()?.map(StreamId);
        let n = d.count()?;
        for _ in 0..n {
            let id = StreamId(d.u()?);
            if !rx.has_history(id) {
                return Err(bad("history turn"));
            }
            rx.history_waiting.push_back(id);
        }
        let mut ids: Vec<u64> = rx.history_waiting.iter().map(|id| id.0).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != rx.history_waiting.len() {
            return Err(bad("history turn"));
        }
        let received = core::mem::replace(&mut rx.received, SidSet::new(0));
        rx.received = d.sid_set(received)?;
        let committed = core::mem::replace(&mut rx.committed, SidSet::new(0));
        rx.committed = d.sid_set(committed)?;
        let n = d.count()?;
        let mut ranges = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            ranges.push((d.u()?, d.u()?));
        }
        let max_skipped = max_skipped_ranges(&rx.config);
        rx.skipped = SidRanges::from_ranges(ranges)
            .filter(|r| {
                r.len() <= max_skipped
                    && r.ranges()
                        .all(|(a, _)| rx.committed.membership(a) != Membership::Below)
            })
            .ok_or(bad("skipped SIDs"))?;
        rx.highest_arrival = d.instant()?;
        rx.ack_pending = d.b()?;
        rx.ack_immediate = d.b()?;
        rx.ack_deadline = d.opt_instant()?;
        rx.ack_count = d.u32()?;
        rx.sparse_deadline = d.opt_instant()?;
        rx.sparse_count = d.u32()?;
        let n = d.count()?;
        for _ in 0..n {
            let sid = d.u()?;
            let r = d.bytes()?;
            rx.receipts_due.push_back((sid, r));
        }
        let n = d.count()?;
        if n > rx.config.max_receipts {
            return Err(bad("receipt memory past its bound"));
        }
        for _ in 0..n {
            let key = (StreamId(d.u()?), Version(d.u()?));
            let r = d.bytes()?;
            if rx.receipt_cache.insert(key, r).is_some() {
                return Err(bad("receipt twice"));
            }
            rx.receipt_order.push_back(key);
        }
        let n = d.count()?;
        if n > rx.config.max_streams {
            return Err(bad("receipt requests past their bound"));
        }
        for _ in 0..n {
            let key = (StreamId(d.u()?), Version(d.u()?));
            let k = d.count()?;
            let mut sids = Vec::with_capacity(k);
            for _ in 0..k {
                sids.push(d.u()?);
            }
            let too_many = sids.len() > MAX_COPIES_AWAITING_RECEIPT;
            if sids.is_empty() || too_many || rx.receipts_wanted.insert(key, sids).is_some() {
                return Err(bad("receipt request"));
            }
        }
        let n = d.count()?;
        for _ in 0..n {
            let key = (StreamId(d.u()?), Version(d.u()?));
            let v = (d.u()?, d.b()?);
            if rx.unordered.insert(key, v).is_some() {
                return Err(bad("unordered message twice"));
            }
        }
        held += rx.unordered.len();
        let n = d.count()?;
        for _ in 0..n {
            let primary = d.u()?;
            let k = d.count()?;
            let mut sids = Vec::with_capacity(k.min(MAX_COPIES_AWAITING_RECEIPT));
            for _ in 0..k {
                sids.push(d.u()?);
            }
            rx.aliases.count += sids.len();
            let bad_len = sids.is_empty() || sids.len() > MAX_COPIES_AWAITING_RECEIPT;
            if bad_len || rx.aliases.by_primary.insert(primary, sids).is_some() {
                return Err(bad("aliases"));
            }
        }
        if rx.aliases.count > rx.config.max_held_messages {
            return Err(bad("aliases past their bound"));
        }
        rx.datagram_top = d.u()?;
        rx.datagram_seen = u128::from(d.u()?) | (u128::from(d.u()?) << 64);
        let st = &mut rx.stats;
        for v in [
            &mut st.delivered,
            &mut st.duplicates,
            &mut st.dropped_full,
            &mut st.chain_conflicts,
            &mut st.acks_sent,
            &mut st.sync_requests,
            &mut st.gaps,
            &mut st.packages_expired,
            &mut st.datagrams,
            &mut st.datagrams_dropped,
            &mut st.receipts_sent,
        ] {
            *v = d.u()?;
        }
        d.close()?;
        if held > rx.config.max_held_messages {
            return Err(bad("held messages past their bound"));
        }
        rx.held = held;
        Ok(rx)
    }
}
