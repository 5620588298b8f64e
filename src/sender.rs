//! The sending half: a pending-ack retransmit queue keyed by SID.
//!
//! Each message gets a SID, unique on this connection and unchanged on
//! retransmit. The peer's acks say which SIDs it *received* (stop
//! retransmitting) and which its app *committed* (the message is safe:
//! [`SenderEvent::Acked`]). Keeping the two apart means a message waiting
//! behind a gap or a slow database write never burns its retry budget.

use crate::config::Config;
use crate::error::{InputError, SendError};
use crate::frame::{self, AckFrame, Frame};
use crate::message::{Message, Qos, StreamId, Version};
use crate::package_slots::PackageSlots;
use crate::packet::{self, ConnectionId, PacketWriter};
use crate::rtt::RttEstimator;
use crate::snapshot::{self, Dec, Enc, SnapshotError};
use crate::sync::{PageEnd, SyncRange, SyncRequest};
use crate::time::Instant;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use bytes::{BufMut, Bytes};
use core::time::Duration;

/// What happened to a message the sender could not confirm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnackedState {
    /// Never transmitted: certainly not delivered.
    NeverSent,
    /// Transmitted, receipt unknown: possibly delivered.
    Sent,
    /// The peer holds it but had not committed it: possibly delivered.
    Received,
}

/// A message handed back when the connection ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unacked {
    /// The message, as given to `send`.
    pub message: Message,
    /// How far it got.
    pub state: UnackedState,
}

impl Unacked {
    /// Whether the peer may have it: the app must treat it as maybe
    /// delivered (resend with the same identity; the receiver dedups).
    pub fn possibly_delivered(&self) -> bool {
        self.state != UnackedState::NeverSent
    }
}

/// What the sender reports to the app.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SenderEvent {
    /// The peer's app durably committed this message. If the app sent the
    /// same message more than once (a resend and a sync answer, say), each
    /// copy is acked: treat `Acked` as idempotent.
    Acked {
        /// The message's stream.
        stream: StreamId,
        /// The message's version.
        version: Version,
        /// For a message sent [`with_receipt`](Message::with_receipt): the
        /// receiving app's receipt (always present). `None` otherwise.
        receipt: Option<Bytes>,
    },
    /// The peer holds this message but its app did **not** store it: the
    /// receiver's own policy passed over it — a package given up
    /// ([`ReceiverEvent::PackageExpired`](crate::ReceiverEvent::PackageExpired)),
    /// a version before the point a [`resume_latest`](crate::Receiver::resume_latest)
    /// start chose, a history page (shown, never committed), or a message
    /// that contradicts the stream's chain. It is settled here (never
    /// retransmitted, never [`Acked`](SenderEvent::Acked)), but it is not
    /// delivered: a server keeps its stored or offline copy, where the peer
    /// can still fetch it (history, sync); it must not delete it as it
    /// would on `Acked`. A message sent [`with_receipt`](Message::with_receipt)
    /// gets no receipt: the peer's app never stored it.
    Skipped {
        /// The message's stream.
        stream: StreamId,
        /// The message's version.
        version: Version,
    },
    /// Retransmissions exhausted without the peer receiving it: store it for
    /// offline delivery (the peer fetches it by sync on reconnect).
    Escalated(Message),
    /// The peer was silent past `Config::peer_dead_after` with messages
    /// outstanding. The sender is closed; every unconfirmed message is here.
    PeerDead {
        /// Messages not acked, in send order.
        unacked: Vec<Unacked>,
    },
    /// The peer asks for a page of a stream's stored messages: read it from
    /// the store and hand it to [`Sender::answer_sync`] — an empty page if
    /// there is nothing (or the peer may not read the stream), or the peer
    /// keeps asking. Repeated or overlapping answers are harmless: the peer
    /// drops what it already has.
    SyncRequested(SyncRequest),
    /// [`Sender::close`] was called; every unconfirmed message is here.
    Closed {
        /// Messages not acked, in send order.
        unacked: Vec<Unacked>,
    },
}

/// What a sender holds right now, structure by structure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderUsage {
    /// SIDs between the oldest unsettled one and the next (`max_in_flight`).
    pub window: usize,
    /// Messages waiting beyond the window, live and sync answers (`max_queued`).
    pub queued: usize,
    /// At-most-once messages waiting to be written (`max_queued`).
    pub datagrams: usize,
    /// Sync requests the app has not taken yet (`max_streams`).
    pub sync_requests_unread: usize,
    /// Page end markers waiting to be written (`max_streams`).
    pub page_ends: usize,
}

/// Counters for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// DATA frames written for the first time.
    pub sent: u64,
    /// DATA frames written again (timer or fast retransmit).
    pub retransmits: u64,
    /// Of those, resent on gap evidence before the timer.
    pub fast_retransmits: u64,
    /// Messages given up on.
    pub escalated: u64,
    /// Of those, held by the peer but given up to unblock a full window
    /// (see `Config::window_stall_timeout`).
    pub stall_escalations: u64,
    /// Messages acked.
    pub acked: u64,
    /// Messages the peer settled without storing them
    /// ([`SenderEvent::Skipped`]).
    pub skipped: u64,
    /// Packets written.
    pub packets: u64,
    /// At-most-once messages written (each exactly once).
    pub datagrams: u64,
}

const NIL: u64 = u64::MAX;

/// Most messages one sync request expedites.
const EXPEDITE_MOST: usize = 8;

/// Sync requests of one packet that may expedite (each scans the window).
const EXPEDITE_SCANS: u32 = 16;

/// The entry for `sid` in a ring starting at `base`.
fn slot(ring: &mut VecDeque<Option<Entry>>, base: u64, sid: u64) -> Option<&mut Entry> {
    let i = sid.checked_sub(base)?;
    ring.get_mut(usize::try_from(i).ok()?)?.as_mut()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting in `tx_queue` to be written.
    Queued,
    /// Written; on the retransmission list.
    Outstanding,
    /// The peer holds it; waiting for its commit.
    Received,
}

struct Entry {
    msg: Message,
    state: State,
    tx_count: u32,
    last_sent: Instant,
    last_pn: u64,
    /// Queued by fast retransmit rather than by the timer.
    fast: bool,
    /// Answers a history request: outside the peer's live chain.
    history: bool,
    /// When the peer was first known to hold it.
    received_at: Instant,
    /// The peer's receipt, once its RECEIPT frame arrived.
    receipt: Option<Bytes>,
    /// The peer committed it, but its receipt has not arrived: it is
    /// resent (a duplicate makes the peer send the receipt again).
    awaiting_receipt: bool,
    /// Neighbours on the retransmission list, ordered by last transmission.
    prev: u64,
    next: u64,
}

/// The sending half of a connection. See the crate docs for the run loop.
pub struct Sender {
    /// Shared with the other half of a [`Connection`](crate::Connection).
    config: Arc<Config>,
    /// This connection's id: written into every packet, required of every
    /// packet taken.
    id: ConnectionId,
    rtt: RttEstimator,
    /// Pending messages by SID: `ring[sid - base]`; `None` once settled.
    ring: VecDeque<Option<Entry>>,
    base: u64,
    /// One past the highest SID ever transmitted: acks must stay below it.
    sent_end: u64,
    /// Messages beyond the window, not yet given a SID (with their history flag).
    backlog: VecDeque<(Message, bool)>,
    /// At-most-once messages waiting to be written once.
    datagrams: VecDeque<Message>,
    /// The next datagram's sequence number (for the peer's replay window).
    next_datagram: u64,
    /// Entries in the window the peer does not hold yet (queued or outstanding).
    in_transit: usize,
    /// When the peer last reported holding something new: a stall is
    /// counted from there, not from when the pinned message arrived.
    last_progress: Instant,
    /// Sync answers waiting for the window: they go before the backlog,
    /// because the peer may hold later messages that wait for them.
    answers: VecDeque<(Message, bool)>,
    /// SIDs to write next (may hold stale SIDs, skipped when popped).
    tx_queue: VecDeque<u64>,
    list_head: u64,
    list_tail: u64,
    /// Entries on the retransmission list: written and not known received.
    list_len: u64,
    /// The room the peer's last ack advertised: no more unreceived
    /// messages than this (but always one) are kept on the wire.
    peer_room: u64,
    next_pn: u64,
    largest_received_pn: Option<u64>,
    /// When the latest-sent message the peer received was sent.
    largest_received_sent: Instant,
    /// Lowest SID that might still be transmitted.
    resend_floor: u64,
    /// One past the highest SID settled without the peer's commit: given
    /// up on here, or skipped by the peer. The peer's floors must pass it.
    settled_alone_end: u64,
    peer_recv_floor: u64,
    peer_commit_floor: u64,
    backoff: u32,
    last_heard: Instant,
    busy_since: Instant,
    ping_due: bool,
    /// A FLOOR frame should go out with the next packet.
    floor_due: bool,
    last_ping: Instant,
    ping_count: u32,
    closed: bool,
    events: VecDeque<SenderEvent>,
    writer: PacketWriter,
    /// SyncRequested events not yet taken by the app.
    sync_requests_queued: usize,
    /// SYNC_END frames to write once the page's messages are out, each
    /// with the SID its page's messages end below (see `page_end_ready`).
    sync_ends: VecDeque<(PageEnd, u64)>,
    /// Decoded frames of the packet being handled (capacity reused).
    scratch: alloc::vec::Vec<Frame>,
    /// Versions on their way, while an answer is checked (capacity reused).
    scratch_versions: Vec<Version>,
    /// SIDs met while the transmit queue is compacted (capacity reused).
    scratch_seen: Vec<bool>,
    /// Entries at the front of `tx_queue` the peer asked for: they go
    /// out past flow control.
    expedited: usize,
    /// Window scans left to this packet's sync requests.
    expedite_scans: u32,
    /// Window slots kept for packages' members still to come.
    packages: PackageSlots,
    stats: SenderStats,
}

impl Sender {
    /// A sender for the connection `id` (see [`ConnectionId`]: the peer's
    /// receiver uses the same id, and every new connection a fresh one);
    /// `config` may be shared (see [`Config`]).
    pub fn new(config: impl Into<Arc<Config>>, id: ConnectionId) -> Sender {
        let config = config.into();
        let rtt = RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto);
        let writer = PacketWriter::new(config.max_packet_size, id);
        Sender {
            id,
            rtt,
            writer,
            scratch: alloc::vec::Vec::new(),
            scratch_versions: Vec::new(),
            scratch_seen: Vec::new(),
            expedited: 0,
            expedite_scans: 0,
            packages: PackageSlots::default(),
            sync_requests_queued: 0,
            sync_ends: VecDeque::new(),
            ring: VecDeque::new(),
            base: 0,
            sent_end: 0,
            backlog: VecDeque::new(),
            answers: VecDeque::new(),
            in_transit: 0,
            last_progress: Instant::ZERO,
            datagrams: VecDeque::new(),
            next_datagram: 0,
            tx_queue: VecDeque::new(),
            list_head: NIL,
            list_tail: NIL,
            list_len: 0,
            peer_room: u64::MAX,
            next_pn: 0,
            largest_received_pn: None,
            largest_received_sent: Instant::ZERO,
            resend_floor: 0,
            settled_alone_end: 0,
            peer_recv_floor: 0,
            peer_commit_floor: 0,
            backoff: 0,
            last_heard: Instant::ZERO,
            busy_since: Instant::ZERO,
            ping_due: false,
            floor_due: false,
            last_ping: Instant::ZERO,
            ping_count: 0,
            closed: false,
            events: VecDeque::new(),
            stats: SenderStats::default(),
            config,
        }
    }

    /// Queues `msg` for delivery with its [`Qos`].
    ///
    /// Inside the window it is transmitted on the next `poll_transmit`;
    /// beyond it, it waits locally up to `Config::max_queued`. An
    /// at-most-once message is written once with the next packet and never
    /// tracked again (dropped unsent if the connection ends first).
    pub fn send(&mut self, now: Instant, msg: Message) -> Result<(), SendError> {
        self.check_sendable(&msg)?;
        if msg.qos == Qos::AtMostOnce {
            if self.datagrams.len() >= self.config.max_queued {
                return Err(SendError::Backpressure);
            }
            self.datagrams.push_back(msg);
            return Ok(());
        }
        if !self.has_room(1) {
            return Err(SendError::Backpressure);
        }
        self.enqueue(now, msg, false, false);
        Ok(())
    }

    /// Why `msg` cannot be sent at all, whatever the window.
    fn check_sendable(&self, msg: &Message) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        if msg.version <= msg.prev && msg.qos != Qos::AtMostOnce {
            return Err(SendError::BadChain);
        }
        // A package's members are held, uncommitted, until all of them are
        // there, so they pin the window: one with more members than the
        // window holds could never complete.
        let too_big = |count: u32| u64::from(count) > self.config.max_in_flight;
        if msg
            .package
            .is_some_and(|p| !p.fits(msg.version) || too_big(p.count))
        {
            return Err(SendError::BadPackage);
        }
        // Sized for the largest SID, so a message queued now still fits in
        // one packet (with a FLOOR and a PING) whatever SID it gets later.
        let room = packet::OVERHEAD + frame::FLOOR_MAX_LEN + 1;
        if frame::data_len_bound(msg) + room <= self.config.max_packet_size {
            return Ok(());
        }
        let needed = frame::data_len(u64::MAX, msg) + room;
        if needed > self.config.max_packet_size {
            return Err(SendError::TooLarge {
                needed,
                max: self.config.max_packet_size,
            });
        }
        Ok(())
    }

    /// Whether `n` more messages fit in the window plus the local queue.
    fn has_room(&self, n: usize) -> bool {
        let window = if self.backlog.is_empty() && self.answers.is_empty() {
            let free = self
                .config
                .max_in_flight
                .saturating_sub(self.ring.len() as u64);
            usize::try_from(free).unwrap_or(usize::MAX)
        } else {
            0
        };
        let queued = self.backlog.len() + self.answers.len();
        let queue = self.config.max_queued.saturating_sub(queued);
        n <= window.saturating_add(queue)
    }

    /// Admits a checked message into the window, or queues it behind it
    /// (sync answers ahead of live messages).
    fn enqueue(&mut self, now: Instant, msg: Message, history: bool, answer: bool) {
        if self.is_idle() {
            self.busy_since = now;
        }
        let ahead = if answer {
            self.answers.len()
        } else {
            self.answers.len() + self.backlog.len()
        };
        // A member of a package already in the window takes the slot kept
        // for it at once, past whatever waits (that may wait for it).
        let promised = self.packages.is_promised(&msg, history) && self.window_open();
        if promised || (ahead == 0 && self.admissible(&msg, history)) {
            self.admit(msg, history);
        } else if answer {
            self.answers.push_back((msg, history));
        } else {
            self.backlog.push_back((msg, history));
        }
    }

    /// Whether `msg` may enter the window now: into a slot kept for it, or
    /// into free slots that are not kept for another package's members —
    /// as many as its own package still needs (see [`PackageSlots`]).
    fn admissible(&self, msg: &Message, history: bool) -> bool {
        if self.packages.is_promised(msg, history) {
            return self.window_open();
        }
        let taken = (self.ring.len() as u64).saturating_add(self.packages.reserved());
        let free = self.config.max_in_flight.saturating_sub(taken);
        free >= self.packages.needed(msg, history)
    }

    /// Whether the next queued message may enter the window now.
    fn next_admissible(&self) -> bool {
        let next = self.answers.front().or_else(|| self.backlog.front());
        next.is_some_and(|(m, h)| self.admissible(m, *h))
    }

    /// Answers a [`SenderEvent::SyncRequested`] with one page read from the
    /// store: `page` holds at most `request.limit` messages of the stream in
    /// chain order (oldest first, each following the one before), and
    /// `more` says whether further messages lie beyond the page in the
    /// request's direction — older ones for `Latest` and `Before`, newer
    /// ones for `After`. An empty page is a valid answer.
    ///
    /// The page is sent whole or not at all; its end marker follows its
    /// messages. If the marker or a message is lost, the peer asks again.
    pub fn answer_sync(
        &mut self,
        now: Instant,
        request: &SyncRequest,
        page: &[Message],
        more: bool,
    ) -> Result<(), SendError> {
        self.answer_page(now, request, None, page, more)
    }

    /// [`answer_sync`](Self::answer_sync) from a store that trims (keeps
    /// only the newest messages of a stream): `trimmed_through` is the last
    /// version it no longer keeps (`Version::ZERO`: none), as the store
    /// read reports it, and `page` what it read after that.
    ///
    /// When the request reached into the trimmed versions — an *after*
    /// request below `trimmed_through`, or a *before* request for history
    /// older than what is kept — the page's end marker says where retained
    /// history starts (a TRIMMED frame), so the peer moves on past the cut
    /// (or stops paging back) instead of asking again for ever or showing
    /// a silent gap; its app is told with
    /// [`ReceiverEvent::Trimmed`](crate::ReceiverEvent::Trimmed). Otherwise
    /// (and for *latest*, whose page is what is kept) this is `answer_sync`.
    /// A page that starts below `trimmed_through` is `SendError::BadChain`.
    pub fn answer_sync_trimmed(
        &mut self,
        now: Instant,
        request: &SyncRequest,
        trimmed_through: Version,
        page: &[Message],
        more: bool,
    ) -> Result<(), SendError> {
        let t = trimmed_through;
        if page.first().is_some_and(|m| m.prev < t) {
            return Err(SendError::BadChain);
        }
        let trimmed = match request.range {
            SyncRange::After(a) if t > a => Some(t),
            // Nothing below `b` is kept at all when the cut reaches it.
            SyncRange::Before(b) if t > Version::ZERO && b > Version::ZERO => {
                Some(t.min(Version(b.0 - 1)))
            }
            SyncRange::After(_) | SyncRange::Before(_) | SyncRange::Latest => None,
        };
        self.answer_page(now, request, trimmed, page, more)
    }

    fn answer_page(
        &mut self,
        now: Instant,
        request: &SyncRequest,
        trimmed: Option<Version>,
        page: &[Message],
        more: bool,
    ) -> Result<(), SendError> {
        let mut prev = page.first().map(|m| m.prev);
        for m in page {
            self.check_sendable(m)?;
            if m.stream != request.stream || Some(m.prev) != prev {
                return Err(SendError::BadChain);
            }
            prev = Some(m.version);
        }
        if !self.has_room(page.len()) || self.sync_ends.len() >= self.config.max_streams {
            return Err(SendError::Backpressure);
        }
        let history = matches!(request.range, SyncRange::Before(_));
        if self.is_idle() {
            self.busy_since = now;
        }
        // A copy already in the window is on its way and not queued again:
        // repeated requests under loss would otherwise pile up copies.
        let mut in_window = core::mem::take(&mut self.scratch_versions);
        in_window.clear();
        in_window.extend(
            self.ring
                .iter()
                .flatten()
                .filter(|e| e.msg.stream == request.stream && e.history == history)
                .map(|e| e.msg.version),
        );
        in_window.sort_unstable();
        // The page goes to the front of the queue, ahead of earlier answers
        // (copies of its messages queued by them move with it): the latest
        // request says what the peer waits for now. Behind a window the
        // peer has no room for, an earlier answer's tail would otherwise
        // keep the one message it needs waiting (deep-sweep seed 1001301).
        let in_page = |m: &Message| {
            m.stream == request.stream
                && page.binary_search_by_key(&m.version, |p| p.version).is_ok()
        };
        self.answers.retain(|(m, h)| *h != history || !in_page(m));
        let sids_start = self.next_sid();
        let mut pushed = 0u64;
        for m in page.iter().rev() {
            if in_window.binary_search(&m.version).is_err() {
                self.answers.push_front((m.clone(), history));
                pushed += 1;
            }
        }
        self.scratch_versions = in_window;
        // Markers queued before wait for their pages' messages, now behind
        // (never past the last queued answer: a page whose copies just moved
        // to the front gets its SIDs sooner, not later).
        let last_queued = sids_start + self.answers.len() as u64;
        for (_, sids_end) in self.sync_ends.iter_mut() {
            if *sids_end > sids_start {
                *sids_end = (*sids_end + pushed).min(last_queued);
            }
        }
        self.fill_window();
        let empty_at = match request.range {
            SyncRange::After(v) => v,
            SyncRange::Latest | SyncRange::Before(_) => Version::ZERO,
        };
        let end = PageEnd {
            stream: request.stream,
            range: request.range,
            first_prev: page.first().map_or(empty_at, |m| m.prev),
            through: page.last().map_or(empty_at, |m| m.version),
            count: page.len() as u64,
            more,
            trimmed,
        };
        // A repeated request answered with the same page needs one marker:
        // the one queued already tells the peer all it needs.
        let after = if page.is_empty() {
            0
        } else {
            sids_start + pushed
        };
        match self.sync_ends.iter_mut().find(|(e, _)| *e == end) {
            Some((_, sids_end)) => *sids_end = after,
            None => self.sync_ends.push_back((end, after)),
        }
        Ok(())
    }

    /// Ends the connection from the app's side: every unconfirmed message is
    /// handed back in [`SenderEvent::Closed`].
    pub fn close(&mut self) {
        if !self.closed {
            let unacked = self.drain_unacked();
            self.events.push_back(SenderEvent::Closed { unacked });
        }
    }

    /// Whether the connection has ended (closed or peer dead).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Messages sent or queued and not yet acked or escalated.
    pub fn pending(&self) -> usize {
        self.ring.iter().filter(|e| e.is_some()).count() + self.backlog.len() + self.answers.len()
    }

    /// The configuration this sender runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The connection this sender belongs to.
    pub fn id(&self) -> ConnectionId {
        self.id
    }

    /// What this sender holds now, structure by structure.
    pub fn usage(&self) -> SenderUsage {
        SenderUsage {
            window: self.ring.len(),
            queued: self.backlog.len() + self.answers.len(),
            datagrams: self.datagrams.len(),
            sync_requests_unread: self.sync_requests_queued,
            page_ends: self.sync_ends.len(),
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> SenderStats {
        self.stats
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// The current retransmission timeout, backoff included.
    pub fn rto(&self) -> Duration {
        self.rtt.backed_off(self.backoff)
    }

    /// Takes one packet from the peer's receiver (acks).
    pub fn handle_input(&mut self, now: Instant, packet: Bytes) -> Result<(), InputError> {
        let body = packet::open_own(&packet, self.config.max_packet_size, self.id)?;
        let mut frames = core::mem::take(&mut self.scratch);
        let checked = frame::decode_all(&body, &mut frames, |f| self.check_frame(f));
        if let Err(e) = checked {
            self.scratch = frames;
            return Err(e);
        }
        self.begin_packet();
        for f in frames.drain(..) {
            self.on_frame(now, f);
        }
        self.scratch = frames;
        Ok(())
    }

    /// A packet's frames are about to be applied: its SYNC frames may
    /// expedite at most `EXPEDITE_SCANS` times (each scans the window), so
    /// a packet full of SYNCs costs no more than a few window scans.
    pub(crate) fn begin_packet(&mut self) {
        self.expedite_scans = EXPEDITE_SCANS;
    }

    /// Rejects what this sender can not accept, before anything is applied.
    pub(crate) fn check_frame(&self, f: &Frame) -> Result<(), InputError> {
        if self.closed {
            return Err(InputError::Closed);
        }
        match f {
            Frame::Ack(a) => {
                for set in [&a.received, &a.committed] {
                    let end = set.end().max(set.floor);
                    if end > self.sent_end {
                        return Err(InputError::AckForUnsentSid(end - 1));
                    }
                }
                Ok(())
            }
            Frame::Data { .. } => Err(InputError::UnexpectedFrame(frame::kind::DATA)),
            Frame::Floor { .. } => Err(InputError::UnexpectedFrame(frame::kind::FLOOR)),
            Frame::Ping => Err(InputError::UnexpectedFrame(frame::kind::PING)),
            Frame::SyncEnd(e) => Err(InputError::UnexpectedFrame(if e.trimmed.is_some() {
                frame::kind::TRIMMED
            } else {
                frame::kind::SYNC_END
            })),
            Frame::Datagram { .. } => Err(InputError::UnexpectedFrame(frame::kind::DATAGRAM)),
            Frame::Skipped(set) => {
                let end = set.end();
                if end > self.sent_end {
                    return Err(InputError::AckForUnsentSid(end - 1));
                }
                Ok(())
            }
            Frame::Receipt { sid, .. } if *sid >= self.sent_end => {
                Err(InputError::AckForUnsentSid(*sid))
            }
            Frame::Sync(_) | Frame::Receipt { .. } => Ok(()),
        }
    }

    /// Applies a frame that passed `check_frame`.
    pub(crate) fn on_frame(&mut self, now: Instant, f: Frame) {
        match f {
            Frame::Ack(a) => self.on_ack(now, &a),
            Frame::Skipped(set) => self.on_skipped(&set),
            Frame::Receipt { sid, receipt } => {
                // Comes before the ack that reports the commit, in one
                // packet. For a message whose commit was reported before
                // (the receipt was lost, the message resent for it) no new
                // ack may ever name it again — the peer's committed floor
                // is past it — so the receipt settles it (deep-sweep seed
                // 1003943: resent 162 times, each answered with its receipt).
                let Some(e) = self.entry(sid).filter(|e| e.msg.wants_receipt) else {
                    return;
                };
                e.receipt = Some(receipt);
                if e.awaiting_receipt {
                    self.settle_acked(sid);
                    self.fill_window();
                }
            }
            Frame::Sync(request) => {
                self.last_heard = now;
                self.expedite(now, &request);
                // A peer can ask faster than the app answers: beyond the
                // bound, requests are dropped and the peer asks again.
                if self.sync_requests_queued < self.config.max_streams {
                    self.sync_requests_queued += 1;
                    self.events.push_back(SenderEvent::SyncRequested(request));
                }
            }
            _ => {}
        }
    }

    /// A sync request is the peer saying what it lacks (M8 at the stream's
    /// level): what this sender still has on its way of it goes out again
    /// first, now, rather than after a backed-off timer or behind the
    /// queue — when the peer holds later messages and drops the rest for
    /// want of room, nothing else would bring the one it waits for soon.
    /// The few oldest (by SID) such messages go to the front of the queue
    /// and past flow control, which holds back only what the peer did not
    /// ask for. A copy sent less than a reordering window ago is left
    /// alone: it may still be on its way.
    fn expedite(&mut self, now: Instant, request: &SyncRequest) {
        let SyncRange::After(after) = request.range else {
            return;
        };
        if self.expedite_scans == 0 {
            return;
        }
        self.expedite_scans -= 1;
        let window = self.reorder_window();
        let most = (request.limit as usize).min(EXPEDITE_MOST);
        if most == 0 {
            return;
        }
        // The lowest versions the peer asked for, not the lowest SIDs: the
        // one it waits for may be a later copy (a sync answer, a resend)
        // behind older messages of the stream it has no room for yet
        // (deep-sweep seed 1000361: v6 at SID 61 behind v23 at SID 51).
        let mut picked = [(Version::ZERO, 0u64); EXPEDITE_MOST];
        let mut n = 0;
        let mut sid = self.resend_floor.max(self.base);
        while sid < self.next_sid() {
            let due = self.peek(sid).filter(|e| {
                let waiting = match e.state {
                    State::Queued => true,
                    State::Outstanding => e.last_sent + window <= now,
                    State::Received => false,
                };
                waiting && e.msg.stream == request.stream && e.msg.version > after && !e.history
            });
            if let Some(e) = due {
                let v = e.msg.version;
                if n < most || v < picked[n - 1].0 {
                    // Insert in version order; the highest falls off.
                    let mut i = n.min(most - 1);
                    while i > 0 && picked[i - 1].0 > v {
                        picked[i] = picked[i - 1];
                        i -= 1;
                    }
                    picked[i] = (v, sid);
                    n = (n + 1).min(most);
                }
            }
            sid += 1;
        }
        for &(_, sid) in picked[..n].iter().rev() {
            let Some(e) = self.entry(sid) else { continue };
            let was = e.state;
            e.fast = true;
            if was == State::Outstanding {
                self.unlink(sid);
                if let Some(e) = self.entry(sid) {
                    e.state = State::Queued;
                }
            }
            self.tx_queue.push_front(sid);
            self.expedited += 1;
        }
    }

    fn next_sid(&self) -> u64 {
        self.base + self.ring.len() as u64
    }

    /// The SID at the front of the transmit queue, once stale SIDs (settled,
    /// or written since they were queued) are dropped from it.
    fn queued_front(&mut self) -> Option<u64> {
        while let Some(&sid) = self.tx_queue.front() {
            if self.peek(sid).is_some_and(|e| e.state == State::Queued) {
                return Some(sid);
            }
            self.tx_queue.pop_front();
            self.expedited = self.expedited.saturating_sub(1);
        }
        None
    }

    /// The lowest queued SID at or above the resend floor (below it the
    /// peer holds everything; a message resent there only for its receipt
    /// is found at the queue's front instead). The scan passes only entries
    /// on the wire or settled.
    fn lowest_queued(&self) -> Option<u64> {
        let from = self.resend_floor.max(self.base) - self.base;
        let at = self
            .ring
            .iter()
            .skip(usize::try_from(from).unwrap_or(usize::MAX))
            .position(|e| e.as_ref().is_some_and(|e| e.state == State::Queued))?;
        Some(self.base + from + at as u64)
    }

    /// Drops stale SIDs from the transmit queue once they outnumber the
    /// window: SIDs written out of queue order (`lowest_queued`) stay
    /// behind as stale copies, and must not pile up.
    fn compact_tx_queue(&mut self) {
        if self.tx_queue.len() <= 2 * self.ring.len() + 64 {
            return;
        }
        let mut seen = core::mem::take(&mut self.scratch_seen);
        seen.clear();
        seen.resize(self.ring.len(), false);
        let (base, ring) = (self.base, &self.ring);
        let mut kept_front = 0;
        let mut i = 0;
        let expedited = self.expedited;
        self.tx_queue.retain(|&sid| {
            let at = usize::try_from(sid.wrapping_sub(base)).unwrap_or(usize::MAX);
            let keep = sid >= base
                && ring
                    .get(at)
                    .and_then(Option::as_ref)
                    .is_some_and(|e| e.state == State::Queued)
                && !core::mem::replace(&mut seen[at], true);
            if keep && i < expedited {
                kept_front += 1;
            }
            i += 1;
            keep
        });
        self.expedited = kept_front;
        self.scratch_seen = seen;
    }

    fn window_open(&self) -> bool {
        (self.ring.len() as u64) < self.config.max_in_flight
    }

    fn is_idle(&self) -> bool {
        self.ring.is_empty() && self.backlog.is_empty() && self.answers.is_empty()
    }

    fn entry(&mut self, sid: u64) -> Option<&mut Entry> {
        slot(&mut self.ring, self.base, sid)
    }

    fn admit(&mut self, msg: Message, history: bool) {
        let sid = self.next_sid();
        self.in_transit += 1;
        self.packages.admitted(&msg, history);
        self.ring.push_back(Some(Entry {
            msg,
            history,
            received_at: Instant::ZERO,
            receipt: None,
            awaiting_receipt: false,
            state: State::Queued,
            tx_count: 0,
            last_sent: Instant::ZERO,
            last_pn: 0,
            fast: false,
            prev: NIL,
            next: NIL,
        }));
        self.tx_queue.push_back(sid);
    }

    fn fill_window(&mut self) {
        while self.window_open() {
            let next = if self.next_admissible() {
                self.answers
                    .pop_front()
                    .or_else(|| self.backlog.pop_front())
            } else {
                self.take_promised()
            };
            let Some((msg, history)) = next else {
                break;
            };
            self.admit(msg, history);
        }
    }

    /// The first queued member of a package in the window, taken out of
    /// its queue: the message at the front may not enter (its package
    /// needs more free slots) while this one has a slot kept for it.
    /// Scans the queues, but only while a package has kept slots.
    fn take_promised(&mut self) -> Option<(Message, bool)> {
        if self.packages.reserved() == 0 {
            return None;
        }
        let promised = |(m, h): &(Message, bool)| self.packages.is_promised(m, *h);
        if let Some(i) = self.answers.iter().position(promised) {
            return self.answers.remove(i);
        }
        let i = self.backlog.iter().position(promised)?;
        self.backlog.remove(i)
    }

    fn link_tail(&mut self, sid: u64) {
        let tail = self.list_tail;
        if let Some(e) = self.entry(sid) {
            e.prev = tail;
            e.next = NIL;
        }
        match self.entry(tail) {
            Some(t) => t.next = sid,
            None => self.list_head = sid,
        }
        self.list_tail = sid;
        self.list_len += 1;
    }

    fn unlink(&mut self, sid: u64) {
        let Some(e) = self.entry(sid) else { return };
        let (prev, next) = (e.prev, e.next);
        e.prev = NIL;
        e.next = NIL;
        self.list_len = self.list_len.saturating_sub(1);
        match self.entry(prev) {
            Some(p) => p.next = next,
            None => self.list_head = next,
        }
        match self.entry(next) {
            Some(n) => n.prev = prev,
            None => self.list_tail = prev,
        }
    }

    /// Removes a settled entry and lets the window slide.
    fn settle(&mut self, sid: u64) -> Option<Entry> {
        self.settle_with(sid, Option::take).flatten()
    }

    /// Takes `sid` off the books and drops its entry in place, after `read`
    /// has taken what it needs from the slot (the entry is large: moving it
    /// out just to read three fields showed in profiles).
    fn settle_with<R>(
        &mut self,
        sid: u64,
        read: impl FnOnce(&mut Option<Entry>) -> R,
    ) -> Option<R> {
        let state = self.entry(sid)?.state;
        if state == State::Outstanding {
            self.unlink(sid);
        }
        if state != State::Received {
            self.in_transit -= 1;
        }
        let slot = self.ring.get_mut(usize::try_from(sid - self.base).ok()?)?;
        if let Some(e) = slot.as_ref() {
            self.packages.settled(&e.msg, e.history);
        }
        let out = read(slot);
        *slot = None;
        while matches!(self.ring.front(), Some(None)) {
            self.ring.pop_front();
            self.base += 1;
        }
        self.advance_resend_floor();
        Some(out)
    }

    fn advance_resend_floor(&mut self) {
        self.resend_floor = self.resend_floor.max(self.base);
        while self.resend_floor < self.next_sid() {
            let i = (self.resend_floor - self.base) as usize;
            match &self.ring[i] {
                Some(e) if e.state != State::Received => break,
                _ => self.resend_floor += 1,
            }
        }
    }

    fn mark_received(&mut self, now: Instant, sid: u64, newly: &mut Option<(u64, u32, Instant)>) {
        let srtt = self.rtt.srtt();
        let Some(e) = slot(&mut self.ring, self.base, sid) else {
            return;
        };
        // Never transmitted (flow control held it back while a later SID
        // went out): no peer can hold it; a claim that it does is ignored.
        if e.state == State::Received || e.awaiting_receipt || e.tx_count == 0 {
            return;
        }
        let was = e.state;
        e.state = State::Received;
        e.received_at = now;
        self.in_transit -= 1;
        self.last_progress = now;
        let info = (sid, e.tx_count, e.last_sent);
        // An ack for a resent message may be for the original copy: only
        // trust its send time if it came back no sooner than a round trip
        // could (RACK's rule), or the loss detector would race ahead.
        let plausible = e.tx_count == 1 || srtt.is_some_and(|srtt| now - e.last_sent >= srtt / 2);
        if e.tx_count > 0 && plausible {
            let (pn, sent) = (e.last_pn, e.last_sent);
            self.largest_received_pn = Some(self.largest_received_pn.map_or(pn, |l| l.max(pn)));
            self.largest_received_sent = self.largest_received_sent.max(sent);
        }
        if was == State::Outstanding {
            self.unlink(sid);
        }
        if newly.is_none_or(|(s, _, _)| s < sid) {
            *newly = Some(info);
        }
    }

    fn on_ack(&mut self, now: Instant, a: &AckFrame) {
        self.last_heard = now;
        self.peer_room = a.room;
        self.ping_count = 0;
        // Everything below the floor an earlier ack reported was marked
        // received then: start there, not at the window's base, so an ack
        // costs what is new in it rather than the whole window.
        let known = self.peer_recv_floor.max(self.base);
        self.peer_recv_floor = self.peer_recv_floor.max(a.received.floor);
        self.peer_commit_floor = self.peer_commit_floor.max(a.committed.floor);

        // "Received": stop retransmitting, keep waiting for the commit.
        let mut newest: Option<(u64, u32, Instant)> = None;
        let floor_ranges = core::iter::once((known, a.received.floor.max(known)));
        for (start, end) in floor_ranges.chain(a.received.ranges()) {
            for sid in start.max(self.base)..end.min(self.next_sid()) {
                self.mark_received(now, sid, &mut newest);
            }
        }
        if let Some((sid, tx_count, sent)) = newest {
            self.backoff = 0;
            // Karn's rule: only a message sent once gives an unambiguous
            // sample; and only the highest SID's ack delay is reported.
            if tx_count == 1 && a.received.end() == sid + 1 {
                let latest = now - sent;
                let delay = Duration::from_micros(a.ack_delay_us);
                let adjusted = latest
                    .checked_sub(delay)
                    .filter(|d| !d.is_zero())
                    .unwrap_or(latest);
                self.rtt.on_sample(adjusted);
            }
        }
        self.advance_resend_floor();

        // "Committed": the message is safe.
        let floor_ranges = core::iter::once((self.base, a.committed.floor.max(self.base)));
        for (start, end) in floor_ranges.chain(a.committed.ranges()) {
            for sid in start.max(self.base)..end.min(self.next_sid()) {
                self.on_committed(now, sid);
            }
        }

        // Fast retransmit: a message sent `threshold` packets *and* a
        // reordering window (SRTT/4, as in RACK) before one the peer received
        // is taken as lost without waiting for the timer. The time condition
        // keeps jitter-reordered packets from being resent spuriously.
        if let Some(largest) = self.largest_received_pn {
            let window = self.reorder_window();
            let threshold = self.config.fast_retransmit_threshold;
            while self.list_head != NIL {
                let sid = self.list_head;
                let newest_sent = self.largest_received_sent;
                let Some(e) = self.entry(sid) else { break };
                if e.last_pn.saturating_add(threshold) > largest
                    || e.last_sent + window > newest_sent
                {
                    break;
                }
                e.fast = true;
                self.unlink(sid);
                self.retransmit_or_escalate(sid);
            }
        }
        self.floor_due |= self.floor_needed();
        self.fill_window();
    }

    /// The peer's receiver settled these SIDs without its app storing them
    /// (its policy passed over them): settle each as
    /// [`SenderEvent::Skipped`], never as acked. The peer keeps reporting
    /// them until this sender's FLOOR passes them.
    fn on_skipped(&mut self, set: &frame::SkipList) {
        for (start, end) in set.ranges() {
            for sid in start.max(self.base)..end.min(self.next_sid()) {
                if self.peek(sid).is_none_or(|e| e.tx_count == 0) {
                    continue; // never transmitted: the peer can not have it
                }
                let read =
                    |slot: &mut Option<Entry>| slot.as_ref().map(|e| (e.msg.stream, e.msg.version));
                if let Some(Some((stream, version))) = self.settle_with(sid, read) {
                    self.stats.skipped += 1;
                    self.settled_alone_end = self.settled_alone_end.max(sid + 1);
                    self.events
                        .push_back(SenderEvent::Skipped { stream, version });
                }
            }
        }
        self.floor_due |= self.floor_needed();
        self.fill_window();
    }

    /// The peer committed `sid`: settle it, unless its receipt is missing.
    fn on_committed(&mut self, now: Instant, sid: u64) {
        let Some(e) = self.entry(sid).filter(|e| e.tx_count > 0) else {
            // Unknown, or never transmitted: nothing the peer can have.
            return;
        };
        if e.msg.wants_receipt && e.receipt.is_none() {
            if e.awaiting_receipt {
                return;
            }
            // The RECEIPT frame was lost: resend the message when the timer
            // fires, and the peer answers the duplicate with the receipt.
            e.awaiting_receipt = true;
            let state = e.state;
            if state == State::Queued {
                return; // about to be resent anyway
            }
            e.state = State::Outstanding;
            e.last_sent = now;
            if state == State::Outstanding {
                self.unlink(sid);
            } else {
                self.in_transit += 1;
            }
            self.link_tail(sid);
            return;
        }
        self.settle_acked(sid);
    }

    fn settle_acked(&mut self, sid: u64) {
        let read = |slot: &mut Option<Entry>| {
            slot.as_mut()
                .map(|e| (e.msg.stream, e.msg.version, e.receipt.take()))
        };
        if let Some(Some((stream, version, receipt))) = self.settle_with(sid, read) {
            self.stats.acked += 1;
            self.events.push_back(SenderEvent::Acked {
                stream,
                version,
                receipt,
            });
        }
    }

    /// How much later a received message must have been sent before an
    /// earlier one counts as lost: SRTT/4 (RACK's default) widened by the
    /// RTT's deviation, which is what jitter-induced reordering looks like.
    fn reorder_window(&self) -> Duration {
        let srtt = self.rtt.srtt().unwrap_or(self.rtt.rto());
        srtt / 4 + self.rtt.rttvar()
    }

    fn retransmit_or_escalate(&mut self, sid: u64) {
        let Some(e) = slot(&mut self.ring, self.base, sid) else {
            return;
        };
        // The caller took it off the retransmission list: it is no longer
        // outstanding (settling an "outstanding" entry would unlink it again
        // and cut the list).
        e.state = State::Queued;
        // A committed message only lacks its receipt: the peer is alive and
        // has it, so keep asking (never escalate what is stored).
        if e.tx_count > self.config.max_retransmits && !e.awaiting_receipt {
            if let Some(e) = self.settle(sid) {
                self.stats.escalated += 1;
                self.settled_alone_end = self.settled_alone_end.max(sid + 1);
                self.events.push_back(SenderEvent::Escalated(e.msg));
                self.floor_due = true;
            }
            self.fill_window();
        } else {
            self.tx_queue.push_back(sid);
        }
    }

    /// When the oldest message, held by the peer but uncommitted, has pinned
    /// a full window long enough while more messages wait to be sent and
    /// nothing in the window is on its way: the peer may be holding it for a
    /// predecessor that waits behind it here. Only a peer heard from well
    /// after it received the message counts as stalled; a silent one may
    /// just have lost its acks (probes and `peer_dead_after` handle that).
    fn stall_deadline(&self) -> Option<Instant> {
        let waiting = !self.backlog.is_empty() || !self.answers.is_empty();
        if self.next_admissible() || !waiting || self.in_transit > 0 {
            return None;
        }
        let e = self.ring.front()?.as_ref()?;
        let stall = self.config.window_stall_timeout;
        let since = e.received_at.max(self.last_progress);
        let heard_since = self.last_heard >= since + stall / 2;
        (e.state == State::Received && heard_since).then(|| since + stall)
    }

    /// The entry for `sid`, read-only.
    fn peek(&self, sid: u64) -> Option<&Entry> {
        let i = sid.checked_sub(self.base)?;
        self.ring.get(usize::try_from(i).ok()?)?.as_ref()
    }

    fn rto_deadline(&self) -> Option<Instant> {
        let e = self.peek(self.list_head)?;
        Some(e.last_sent + self.rtt.backed_off(self.backoff))
    }

    fn ping_deadline(&self) -> Option<Instant> {
        let waiting_for_commit =
            self.list_head == NIL && !self.ring.is_empty() && self.tx_queue.is_empty();
        if !waiting_for_commit || self.ping_due {
            return None;
        }
        Some(
            self.last_heard.max(self.last_ping).max(self.busy_since)
                + self.rtt.backed_off(self.ping_count),
        )
    }

    /// A tail-loss probe (TCP's TLP, QUIC's PTO): when the newest
    /// transmission's ack is overdue by the RTT's own measure, long before
    /// the RTO, a PING makes the peer ack at once. A lost *ack* then costs
    /// one tiny packet instead of resending the whole flight at the RTO,
    /// and a lost tail shows up in the ack's ranges. Once per transmission
    /// (any ping since it counts), without backoff and without touching
    /// any message's retry count; only with an RTT sample to go by.
    fn probe_deadline(&self) -> Option<Instant> {
        if self.ping_due {
            return None;
        }
        let newest = self.peek(self.list_tail)?;
        if self.last_ping >= newest.last_sent {
            return None;
        }
        let at = newest.last_sent + self.rtt.probe_timeout(self.config.ack_delay)?;
        // Pointless once the retransmission timer would fire first.
        (at < self.rto_deadline()?).then_some(at)
    }

    fn dead_deadline(&self) -> Option<Instant> {
        if self.is_idle() {
            return None;
        }
        Some(self.last_heard.max(self.busy_since) + self.config.peer_dead_after)
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout)
    /// has work; `None` when nothing is waiting on time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        [
            self.rto_deadline(),
            self.probe_deadline(),
            self.ping_deadline(),
            self.dead_deadline(),
            self.stall_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the timers due at `now`. Harmless when called early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.dead_deadline().is_some_and(|d| d <= now) {
            let unacked = self.drain_unacked();
            self.events.push_back(SenderEvent::PeerDead { unacked });
            return;
        }
        let rto = self.rtt.backed_off(self.backoff);
        let mut fired = false;
        while self.list_head != NIL {
            let sid = self.list_head;
            let Some(e) = self.entry(sid) else { break };
            if e.last_sent + rto > now {
                break;
            }
            fired = true;
            self.unlink(sid);
            self.retransmit_or_escalate(sid);
        }
        if fired {
            self.backoff = self.backoff.saturating_add(1);
        }
        // After the timer: an escalation there may leave nothing in transit.
        while self.stall_deadline().is_some_and(|d| d <= now) {
            let sid = self.base;
            if let Some(e) = self.settle(sid) {
                self.stats.escalated += 1;
                self.stats.stall_escalations += 1;
                self.settled_alone_end = self.settled_alone_end.max(sid + 1);
                self.events.push_back(SenderEvent::Escalated(e.msg));
                self.floor_due = true;
            }
            self.fill_window();
        }
        if self.ping_deadline().is_some_and(|d| d <= now) {
            self.ping_due = true;
            self.last_ping = now;
            self.ping_count = self.ping_count.saturating_add(1);
        }
        if self.probe_deadline().is_some_and(|d| d <= now) {
            self.ping_due = true;
            self.last_ping = now;
        }
    }

    fn drain_unacked(&mut self) -> Vec<Unacked> {
        self.closed = true;
        self.in_transit = 0;
        self.datagrams.clear();
        self.tx_queue.clear();
        self.expedited = 0;
        self.list_head = NIL;
        self.list_tail = NIL;
        self.list_len = 0;
        self.packages.clear();
        let queued = self.answers.len() + self.backlog.len();
        let mut out = Vec::with_capacity(self.ring.len() + queued);
        for e in self.ring.drain(..).flatten() {
            let state = match (e.state, e.tx_count) {
                (State::Received, _) => UnackedState::Received,
                (_, 0) => UnackedState::NeverSent,
                _ => UnackedState::Sent,
            };
            out.push(Unacked {
                message: e.msg,
                state,
            });
        }
        let answers = self.answers.drain(..);
        out.extend(
            answers
                .chain(self.backlog.drain(..))
                .map(|(message, _)| Unacked {
                    message,
                    state: UnackedState::NeverSent,
                }),
        );
        out
    }

    /// Whether a FLOOR frame must tell the peer to stop waiting for SIDs
    /// this sender gave up on.
    fn floor_needed(&self) -> bool {
        // Only while it would raise one of the peer's floors: with the
        // window's base pinned below an escalated SID, repeating it would
        // only make the peer ack it, round after round.
        self.settled_alone_end > self.peer_recv_floor.min(self.peer_commit_floor)
            && (self.resend_floor > self.peer_recv_floor || self.base > self.peer_commit_floor)
    }

    /// Writes this sender's frames into `buf` until `limit` bytes.
    pub(crate) fn write_frames(&mut self, now: Instant, buf: &mut bytes::BytesMut, limit: usize) {
        if self.closed {
            return;
        }
        if (self.floor_due || self.ping_due) && buf.len() + frame::FLOOR_MAX_LEN <= limit {
            frame::put_floor(buf, self.resend_floor, self.base);
            self.floor_due = false;
        }
        if self.ping_due && buf.len() < limit {
            buf.put_u8(frame::kind::PING);
            self.ping_due = false;
        }
        // At most once: written once, first (presence and typing want speed).
        while let Some(m) = self.datagrams.front() {
            if buf.len() + frame::datagram_len(self.next_datagram, m) > limit {
                break;
            }
            frame::put_datagram(buf, self.next_datagram, m);
            self.next_datagram += 1;
            self.stats.datagrams += 1;
            self.datagrams.pop_front();
        }
        let pn = self.next_pn;
        // Flow control: no more unreceived messages on the wire than the
        // peer has room for — but always one, which finds out when room
        // opens again (and is the one the peer waits for, oldest first).
        let allowed = self.peer_room.max(1);
        // More waits than the peer has room for: what goes out is what it
        // waits for, the lowest SIDs first, not whatever was queued first
        // (a timed-out message requeued behind newer ones would otherwise
        // wait while each newer one in turn is dropped for want of room and
        // times out: deep-sweep seed 1000751, one message per 4 s).
        let limited = self.in_transit as u64 > allowed;
        self.compact_tx_queue();
        let mut held_back = false;
        loop {
            // (An entry resent only for its receipt may lie below the
            // resend floor: the queue's front finds it.)
            let lowest = (self.expedited == 0 && limited)
                .then(|| self.lowest_queued())
                .flatten();
            let from_front = lowest.is_none();
            let Some(sid) = lowest.or_else(|| self.queued_front()) else {
                break;
            };
            if self.list_len >= allowed && self.expedited == 0 {
                held_back = true;
                break;
            }
            let Some(e) = slot(&mut self.ring, self.base, sid) else {
                break;
            };
            if buf.len() + frame::data_len_bound(&e.msg) > limit
                && buf.len() + frame::data_len(sid, &e.msg) > limit
            {
                break;
            }
            frame::put_data(buf, sid, &e.msg, e.history);
            if e.tx_count == 0 {
                self.stats.sent += 1;
                self.sent_end = self.sent_end.max(sid + 1);
            } else {
                self.stats.retransmits += 1;
                self.stats.fast_retransmits += u64::from(e.fast);
            }
            e.fast = false;
            e.tx_count += 1;
            e.last_sent = now;
            e.last_pn = pn;
            e.state = State::Outstanding;
            if from_front {
                self.tx_queue.pop_front();
                self.expedited = self.expedited.saturating_sub(1);
            }
            self.link_tail(sid);
        }
        // A page's end marker follows its own page's messages: it waits
        // until each has been written once — or, while flow control holds
        // DATA back, until each has a SID (the peer needs the marker to
        // move on). It never waits for other pages' answers: retries keep
        // refilling that queue, and a marker waiting for it to drain could
        // wait forever while the peer holds its page whole (deep-sweep seed
        // 1019879).
        // A *latest* page's marker goes at once: it tells the peer where
        // the stream starts, and the peer holds the page's messages
        // uncommitted until it knows — so they pin the window, and a page
        // larger than the window would otherwise never end. So does a
        // TRIMMED marker of an *after* page: the peer holds the live
        // messages past the cut uncommitted until it learns the versions
        // before them are gone, and they pin the window the page's own
        // messages need (deep-sweep seeds 1000937, 1000938: a window of 4,
        // hundreds queued, for ever). Its messages chain on from the cut,
        // so they may follow it.
        let numbered = self.next_sid();
        let mut i = 0;
        while let Some(&(end, sids_end)) = self.sync_ends.get(i) {
            let ready = end.range == SyncRange::Latest
                || (end.trimmed.is_some() && matches!(end.range, SyncRange::After(_)))
                || self.sent_end >= sids_end
                || (held_back && numbered >= sids_end);
            if !ready {
                i += 1;
                continue;
            }
            if buf.len() + frame::SYNC_END_MAX_LEN > limit {
                break;
            }
            frame::put_sync_end(buf, &end);
            self.sync_ends.remove(i);
        }
    }

    /// The next packet to send to the peer's receiver, until `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        // The drain loop's last call: do not even start a packet, so the
        // packet buffer is not reserved while the packets just sent may
        // still be referenced (that is what made it allocate anew).
        if !self.has_transmit() {
            return None;
        }
        let max = self.config.max_packet_size;
        let limit = max - packet::TRAILER_LEN;
        let mut writer = core::mem::replace(&mut self.writer, PacketWriter::new(0, self.id));
        let buf = writer.begin(max);
        self.write_frames(now, buf, limit);
        let out = writer.finish();
        self.writer = writer;
        if out.is_some() {
            self.note_packet_sent();
        }
        out
    }

    /// Whether `write_frames` has anything to write.
    pub(crate) fn has_transmit(&self) -> bool {
        !self.closed
            && (!self.tx_queue.is_empty()
                || !self.datagrams.is_empty()
                || self.ping_due
                || self.floor_due
                || !self.sync_ends.is_empty())
    }

    pub(crate) fn note_packet_sent(&mut self) {
        self.next_pn += 1;
        self.stats.packets += 1;
    }

    /// The next event for the app, until `None`.
    pub fn poll_event(&mut self) -> Option<SenderEvent> {
        let e = self.events.pop_front();
        if matches!(e, Some(SenderEvent::SyncRequested(_))) {
            self.sync_requests_queued -= 1;
        }
        e
    }
}

/// Snapshots (see `SnapshotError` for the format's guarantees).
impl Sender {
    /// The sender's whole state as bytes, for [`restore`](Self::restore)
    /// after a process restart. Take it after `poll_event` returned `None`
    /// (pending events are not part of a snapshot), and send any packet
    /// written after it only once the snapshot is stored, or the restored
    /// sender will repeat it (harmless: the peer dedups).
    pub fn snapshot(&self) -> Result<Bytes, SnapshotError> {
        if !self.events.is_empty() {
            return Err(SnapshotError::EventsPending);
        }
        let mut s = Enc::new(snapshot::SENDER, self.id);
        s.opt_u(self.rtt.srtt().map(crate::time::duration_micros));
        s.duration(self.rtt.rttvar());
        s.u(self.base);
        s.u(self.sent_end);
        s.usize(self.ring.len());
        for slot in &self.ring {
            s.b(slot.is_some());
            let Some(e) = slot else { continue };
            s.message(&e.msg);
            s.u(match e.state {
                State::Queued => 0,
                State::Outstanding => 1,
                State::Received => 2,
            });
            s.u(u64::from(e.tx_count));
            s.instant(e.last_sent);
            s.u(e.last_pn);
            s.b(e.fast);
            s.b(e.history);
            s.instant(e.received_at);
            s.b(e.receipt.is_some());
            if let Some(r) = &e.receipt {
                s.bytes(r);
            }
            s.b(e.awaiting_receipt);
            s.u(e.prev);
            s.u(e.next);
        }
        for queue in [&self.backlog, &self.answers] {
            s.usize(queue.len());
            for (m, history) in queue {
                s.message(m);
                s.b(*history);
            }
        }
        s.usize(self.datagrams.len());
        for m in &self.datagrams {
            s.message(m);
        }
        s.u(self.next_datagram);
        s.usize(self.tx_queue.len());
        for &sid in &self.tx_queue {
            s.u(sid);
        }
        for v in [self.list_head, self.list_tail, self.next_pn] {
            s.u(v);
        }
        s.opt_u(self.largest_received_pn);
        s.instant(self.largest_received_sent);
        for v in [
            self.resend_floor,
            self.settled_alone_end,
            self.peer_recv_floor,
            self.peer_commit_floor,
            u64::from(self.backoff),
        ] {
            s.u(v);
        }
        s.instant(self.last_heard);
        s.instant(self.last_progress);
        s.instant(self.busy_since);
        s.b(self.ping_due);
        s.b(self.floor_due);
        s.instant(self.last_ping);
        s.u(u64::from(self.ping_count));
        s.b(self.closed);
        s.usize(self.sync_ends.len());
        for (end, sids_end) in &self.sync_ends {
            s.page_end(end);
            s.u(*sids_end);
        }
        let st = &self.stats;
        for v in [
            st.sent,
            st.retransmits,
            st.fast_retransmits,
            st.escalated,
            st.stall_escalations,
            st.acked,
            st.packets,
            st.datagrams,
            st.skipped,
        ] {
            s.u(v);
        }
        s.u(self.peer_room);
        s.usize(self.expedited);
        self.packages.encode(&mut s);
        Ok(s.finish())
    }

    /// A sender that continues exactly where the one that wrote `snapshot`
    /// stopped. `config` must bound the snapshot's state (its window, queue
    /// and packet size); anything malformed, inconsistent or out of bounds
    /// is an error and nothing is returned.
    pub fn restore(
        config: impl Into<Arc<Config>>,
        snapshot: Bytes,
    ) -> Result<Sender, SnapshotError> {
        let mut d = Dec::open(snapshot, snapshot::SENDER)?;
        let mut tx = Sender::new(config, d.connection_id());
        let srtt = d.opt_u()?.map(Duration::from_micros);
        let rttvar = d.duration()?;
        tx.rtt.restore(srtt, rttvar);
        tx.base = d.u()?;
        tx.sent_end = d.u()?;
        let ring_len = d.count()?;
        if ring_len as u64 > tx.config.max_in_flight
            || tx.base.checked_add(ring_len as u64).is_none()
        {
            return Err(SnapshotError::Inconsistent("window"));
        }
        for _ in 0..ring_len {
            if !d.b()? {
                tx.ring.push_back(None);
                continue;
            }
            let msg = d.message()?;
            let state = match d.u()? {
                0 => State::Queued,
                1 => State::Outstanding,
                2 => State::Received,
                _ => return Err(SnapshotError::Inconsistent("entry state")),
            };
            let tx_count = d.u32()?;
            let last_sent = d.instant()?;
            let last_pn = d.u()?;
            let fast = d.b()?;
            let history = d.b()?;
            let received_at = d.instant()?;
            let receipt = if d.b()? { Some(d.bytes()?) } else { None };
            let awaiting_receipt = d.b()?;
            let prev = d.u()?;
            let next = d.u()?;
            tx.ring.push_back(Some(Entry {
                msg,
                state,
                tx_count,
                last_sent,
                last_pn,
                fast,
                history,
                received_at,
                receipt,
                awaiting_receipt,
                prev,
                next,
            }));
        }
        for answers in [false, true] {
            let n = d.count()?;
            for _ in 0..n {
                let m = d.message()?;
                let history = d.b()?;
                if answers {
                    tx.answers.push_back((m, history));
                } else {
                    tx.backlog.push_back((m, history));
                }
            }
        }
        let n = d.count()?;
        for _ in 0..n {
            tx.datagrams.push_back(d.message()?);
        }
        tx.next_datagram = d.u()?;
        let n = d.count()?;
        for _ in 0..n {
            tx.tx_queue.push_back(d.u()?);
        }
        tx.list_head = d.u()?;
        tx.list_tail = d.u()?;
        tx.next_pn = d.u()?;
        tx.largest_received_pn = d.opt_u()?;
        tx.largest_received_sent = d.instant()?;
        tx.resend_floor = d.u()?;
        tx.settled_alone_end = d.u()?;
        tx.peer_recv_floor = d.u()?;
        tx.peer_commit_floor = d.u()?;
        tx.backoff = d.u32()?;
        tx.last_heard = d.instant()?;
        tx.last_progress = d.instant()?;
        tx.busy_since = d.instant()?;
        tx.ping_due = d.b()?;
        tx.floor_due = d.b()?;
        tx.last_ping = d.instant()?;
        tx.ping_count = d.u32()?;
        tx.closed = d.b()?;
        let n = d.count()?;
        for _ in 0..n {
            let end = d.page_end()?;
            tx.sync_ends.push_back((end, d.u()?));
        }
        let st = &mut tx.stats;
        for v in [
            &mut st.sent,
            &mut st.retransmits,
            &mut st.fast_retransmits,
            &mut st.escalated,
            &mut st.stall_escalations,
            &mut st.acked,
            &mut st.packets,
            &mut st.datagrams,
            &mut st.skipped,
        ] {
            *v = d.u()?;
        }
        tx.peer_room = d.u()?;
        tx.expedited = usize::try_from(d.u()?)
            .unwrap_or(usize::MAX)
            .min(tx.tx_queue.len());
        tx.packages = PackageSlots::decode(&mut d, tx.config.max_in_flight)?;
        tx.list_len = tx
            .ring
            .iter()
            .flatten()
            .filter(|e| e.state == State::Outstanding)
            .count() as u64;
        d.close()?;
        tx.check_restored()?;
        Ok(tx)
    }

    /// The invariants the sender's own operations keep, checked on a
    /// restored state so that no snapshot can make it misbehave.
    fn check_restored(&mut self) -> Result<(), SnapshotError> {
        let bad = SnapshotError::Inconsistent;
        if matches!(self.ring.front(), Some(None)) {
            return Err(bad("settled entry at the window's base"));
        }
        let next = self.next_sid();
        let marks_past = self.sent_end > next || self.resend_floor > next;
        // (A closed sender handed its window back and keeps its marks.)
        if (marks_past && !self.closed) || self.settled_alone_end > self.sent_end {
            return Err(bad("SID marks past the window"));
        }
        let queued = self.backlog.len() + self.answers.len();
        if queued
            > self
                .config
                .max_queued
                .saturating_add(self.config.max_in_flight as usize)
            || self.datagrams.len() > self.config.max_queued
            || self.sync_ends.len() > self.config.max_streams
        {
            return Err(bad("queues past their bounds"));
        }
        // A page end waits for SIDs that the queued answers will take.
        let last_queued = self.next_sid() + self.answers.len() as u64;
        if self.sync_ends.iter().any(|&(_, end)| end > last_queued) {
            return Err(bad("page end waiting past the queue"));
        }
        let all = self.ring.iter().flatten().map(|e| &e.msg);
        let waiting = self
            .backlog
            .iter()
            .chain(self.answers.iter())
            .map(|(m, _)| m);
        for m in all.chain(waiting).chain(self.datagrams.iter()) {
            let closed = core::mem::replace(&mut self.closed, false);
            let ok = self.check_sendable(m);
            self.closed = closed;
            ok.map_err(|_| bad("a message this configuration can not send"))?;
        }
        // The retransmission list holds exactly the outstanding entries,
        // linked both ways, in a chain that ends.
        let outstanding = self
            .ring
            .iter()
            .flatten()
            .filter(|e| e.state == State::Outstanding)
            .count();
        let mut seen = 0;
        let mut prev = NIL;
        let mut at = self.list_head;
        while at != NIL {
            seen += 1;
            if seen > outstanding {
                return Err(bad("retransmission list"));
            }
            let e = self.entry(at).ok_or(bad("retransmission list"))?;
            if e.state != State::Outstanding || e.prev != prev {
                return Err(bad("retransmission list"));
            }
            prev = at;
            at = e.next;
        }
        if seen != outstanding || self.list_tail != prev {
            return Err(bad("retransmission list"));
        }
        // Every queued entry is in the transmit queue.
        let mut in_queue = alloc::vec![false; self.ring.len()];
        for &sid in &self.tx_queue {
            if let Some(i) = sid
                .checked_sub(self.base)
                .filter(|&i| i < self.ring.len() as u64)
            {
                in_queue[i as usize] = true;
            }
        }
        for (i, e) in self.ring.iter().enumerate() {
            if e.as_ref().is_some_and(|e| e.state == State::Queued) && !in_queue[i] {
                return Err(bad("queued entry not in the transmit queue"));
            }
        }
        self.in_transit = self
            .ring
            .iter()
            .flatten()
            .filter(|e| e.state != State::Received)
            .count();
        Ok(())
    }
}
